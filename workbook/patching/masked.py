"""The edge-masked forward: the clean run with a set of edges corrupted jointly (circuit semantics).

For K boolean masks ``[K, n_src, n_dst]`` over the edge :class:`~workbook.arch.graph.Graph`,
one forward of the K stacked copies of the batch gives every destination ``v`` of copy ``k``
the input

    in_v(k) = in_v(clean run of copy k) + sum_{u : mask[k, u, v]} (z_u(corrupt) - z_u(copy k)),

where ``z_u(copy k)`` is source ``u``'s write *in this patched run* (Hanna et al.'s
``evaluate_graph``; TL's ``faithfulness``). Patching every edge reproduces the corrupt run,
patching none the clean run (up to float32 rounding: the sum above is added in another order
than the model's own residual stream sums, see :func:`workbook.analysis.circuits.faithfulness`).

Cost: one forward of the K copies plus the "mixing" of sources into destinations. Each source's
difference ``z_u(corrupt) - z_u(copy k)`` is written once, when the source is computed, and
added to a running total ``S = sum_u (z_u(corrupt) - z_u(copy k))`` over the sources computed so
far. A destination hook then takes the cheaper of two exact forms of the same sum:

* direct: ``sum_{u : mask} diff_u``, one batched matrix product over the ``n_up`` sources
  upstream of it (``[K, n_dst_hook, n_up] @ [K, n_up, B*P*D]``: every upstream difference is
  read, for every destination hook);
* complement: ``S - sum_{u computed, not masked} diff_u`` (one product over the sources *not*
  patched into this hook, plus sources with no edge to it), which for a circuit's usual mask
  (nearly every edge patched, since a circuit keeps few edges) reads a handful of rows.

The two differ only in float32 rounding (another summation order). Logits are computed only at
the positions the metric reads when the task allows it (:meth:`~workbook.core.task.Task.logit_positions`),
which on a large vocabulary is most of the saving over full logits; the corrupt run
(:func:`corrupt_run`) likewise computes logits only there, and gives ``M(corrupt)`` with the sources.
"""

from __future__ import annotations

import torch
from jaxtyping import Bool, Float

from workbook.arch.graph import Graph
from workbook.core.runs import cache_activations, run_model
from workbook.core.task import Logits, Task

__all__ = ["corrupt_run", "corrupt_sources", "masked_forward"]


def corrupt_run(
    model, run: Task, graph: Graph
) -> tuple[Float[torch.Tensor, "n_src batch seq d_model"], Float[torch.Tensor, " batch"]]:
    """One no-grad forward of the corrupt prompts: every source's write stacked in graph order, and
    the per-example metric ``M(corrupt)`` (logits only where the metric reads them). Sources are
    head results and block writes, so attention reads one shared q/k/v input here (no per-head
    input copies: faster, equal up to float32 rounding)."""
    P = run.logit_positions()
    split = model.cfg.use_split_qkv_input
    model.set_use_split_qkv_input(False)
    try:
        logits, corr = cache_activations(model, run.corrupt, list(graph.source_hooks),
                                         attention_mask=run.attention_mask, positions=P)
    finally:
        model.set_use_split_qkv_input(split)
    return graph.stack_sources(corr), run.per_example(logits, P)


def corrupt_sources(model, run: Task, graph: Graph) -> Float[torch.Tensor, "n_src batch seq d_model"]:
    """Every source's write on the corrupt prompts (one no-grad forward), stacked in graph order."""
    return corrupt_run(model, run, graph)[0]


def _source_rows(graph: Graph) -> dict[str, tuple[int, int]]:
    """Source hook -> ``(first row, number of rows)`` in the stacked source order."""
    rows: dict[str, tuple[int, int]] = {}
    for i, src in enumerate(graph.sources):
        hook = graph.source_hook(src)[0]
        first, n = rows.get(hook, (i, 0))
        rows[hook] = (first, n + 1)
    return rows


def masked_forward(
    model,
    run: Task,
    masks: Bool[torch.Tensor, "k n_src n_dst"],
    graph: Graph,
    corr_src: Float[torch.Tensor, "n_src batch seq d_model"] | None = None,
    metric_only: bool = False,
) -> Logits | Float[torch.Tensor, " rows"]:
    """The K stacked copies of ``run``'s clean batch with ``masks[k]``'s edges corrupted (module doc).

    ``masks`` must already be on the model's device and inside ``graph.edge_mask``; ``run`` is
    the oriented task on the model's device. ``corr_src`` (from :func:`corrupt_sources`) may be
    passed to reuse one corrupt forward across calls. Returns logits ``[K*B, S, V]`` (copy-major),
    or with ``metric_only`` the per-example metric ``[K*B]`` (logits only where the metric reads).
    """
    if corr_src is None:
        corr_src = corrupt_sources(model, run, graph)
    K, B = masks.shape[0], run.batch_size
    n_src = corr_src.shape[0]
    act_shape = tuple(corr_src.shape[2:])  # (P, D)
    flat = B * act_shape[0] * act_shape[1]
    corr_flat = corr_src.reshape(n_src, flat)
    diff = corr_flat.new_zeros((K, n_src, flat))  # z_u(corrupt) - z_u(copy k), filled as sources run
    total = corr_flat.new_zeros((K, flat))  # the sum of diff over the sources computed so far
    done = torch.zeros(n_src, dtype=torch.bool, device=masks.device)
    weights = masks.to(corr_src.dtype)

    def save(hook_name: str, first: int, n: int):
        def fn(t, hook):
            if n == 1 and t.ndim == 3:  # [K*B, P, D]
                live = t.reshape(K, 1, flat)
            else:  # per-head result [K*B, P, H, D]
                live = t.reshape(K, B, act_shape[0], n, act_shape[1]).permute(0, 3, 1, 2, 4).reshape(K, n, flat)
            diff[:, first : first + n] = corr_flat[first : first + n][None] - live
            total.add_(diff[:, first : first + n].sum(1))
            done[first : first + n] = True

        return fn

    def mix(w: torch.Tensor, up: int) -> torch.Tensor:
        """``[K, n_cols, B*P*D]``: ``sum_u w[k, u, c] diff[k, u]`` in the cheaper form (module doc)."""
        rest = (done & ((w != 1).any(0).any(1))).nonzero().flatten()  # computed sources not patched everywhere
        if bool(done[:up].all()) and rest.numel() < up:
            comp = torch.bmm((1 - w[:, rest]).transpose(1, 2), diff[:, rest])  # [K, n_cols, flat]
            return total[:, None] - comp
        return torch.bmm(w[:, :up].transpose(1, 2), diff[:, :up])

    def patch(hook_name: str, cols: list[int], heads: list[int | None]):
        w = weights[:, :, cols]  # [K, n_src, n_cols]
        used = w.any(0).any(1).nonzero()
        if used.numel() == 0:
            return None
        up = int(used.max()) + 1  # edges only come from sources computed before this hook
        every = heads[0] is not None and heads == list(range(len(heads)))

        def fn(act, hook):
            delta = mix(w, up).reshape((K, len(cols), B) + act_shape).to(act.dtype)
            if heads[0] is None:  # the MLP input or the logits' residual: one destination
                return act + delta[:, 0].reshape(act.shape)
            if every and act.shape[2] == len(heads):  # every head of the hook, in order: one add
                return act + delta.permute(0, 2, 3, 1, 4).reshape(act.shape)
            act = act.clone()
            view = act.view((K, B, act_shape[0], act.shape[2], act_shape[1]))
            view[:, :, :, heads] += delta.permute(0, 2, 3, 1, 4)
            return act

        return fn

    fwd = [(h, save(h, first, n)) for h, (first, n) in _source_rows(graph).items()]
    groups: dict[str, list[tuple[int, int | None]]] = {h: [] for h in graph.dest_hooks}
    for j, d in enumerate(graph.destinations):  # one pass: destination columns and heads per hook
        hook_name, head = graph.dest_hook(d)
        groups.setdefault(hook_name, []).append((j, head))
    for hook_name, members in groups.items():
        if members and (fn := patch(hook_name, [j for j, _ in members], [h for _, h in members])) is not None:
            fwd.append((hook_name, fn))
    positions = run.logit_positions() if metric_only else None
    with torch.no_grad(), model.hooks(fwd_hooks=fwd):
        logits = run_model(model, run.clean.repeat(K, 1), run.attention_mask, positions)
    return run.per_example(logits, positions) if metric_only else logits
