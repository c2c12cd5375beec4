"""Tasks from prompt strings: the model's tokenizer, BOS, padding, and the answer tokens.

>>> task = wb.task_from_strings(
...     model,
...     clean=["When Mary and John went to the store, John gave a drink to"],
...     corrupt=["When Mary and John went to the store, Mary gave a drink to"],
...     answer=[" Mary"],      # answers carry their leading space, as the model would write them
...     wrong=[" John"],
... )

The rules, in the order they are applied:

* **Tokenizer**: ``tokenizer=`` if given, else ``model.tokenizer`` (a bridge built with a
  tokenizer, e.g. by :func:`workbook.load_pretrained`). Prompts are encoded *without* the
  tokenizer's special tokens; the BOS is added here, so there is never a second one.
* **BOS** (``prepend_bos=None``): what the model expects as TransformerLens runs it, i.e.
  ``model.cfg.default_prepend_bos`` — True for GPT-2, Llama and Gemma, False for
  GPT-NeoX/Pythia and Qwen2 in TL 4.3. GPT-2-style tokenizers never insert a BOS themselves
  and Llama-style ones always do; this rule gives both the same single leading BOS. Without a
  model, the tokenizer decides (BOS iff it inserts one itself). The BOS id is the tokenizer's
  ``bos_token_id``, else its ``eos_token_id`` (as TL does; GPT-2's BOS *is* ``<|endoftext|>``).
  Pass ``prepend_bos=True/False`` to override.
* **Pairs**: ``clean[i]`` and ``corrupt[i]`` must have the same number of tokens (patching
  swaps activations position by position); different pairs may differ in length.
* **Padding**: shorter pairs are padded on ``padding_side`` (``"right"`` or ``"left"``) with
  the tokenizer's pad id (else EOS, else 0); ``Task.attention_mask`` marks real tokens with 1.
  When no pair needs padding the mask is ``None``.
* **Reading position**: ``pos`` is each example's last real token.
* **Answers**: the single token that continues the *clean* prompt with the answer text:
  ``encode(prompt + answer) = encode(prompt) + [answer id]``. Reading it in context gets
  SentencePiece-style tokenizers right (``" Mary"`` after a prompt is ``"▁Mary"``). An answer
  of several tokens, or one that merges with the prompt's last token, is a named
  :class:`~workbook.core.errors.TaskError` quoting the string.
* **Vocabulary**: every id must be below ``model.cfg.d_vocab``; ``Task.vocab`` shows the
  tokenizer's strings (``" Mary"``), so labels are readable.
"""

from __future__ import annotations

from typing import Sequence

import torch

from workbook.core.errors import TaskError
from workbook.core.task import Metric, Task

__all__ = ["task_from_strings", "TokenizerVocab", "tokenizer_adds_bos"]


class TokenizerVocab(Sequence):
    """``vocab[i]`` = the text of token ``i`` (``" Mary"``), decoded lazily from a tokenizer.

    ``len`` is the model's vocabulary size (which may exceed the tokenizer's: ids beyond it
    read ``"t<id>"``). SentencePiece word-start tokens keep their leading space.
    """

    def __init__(self, tokenizer, size: int | None = None):
        self.tokenizer = tokenizer
        self.size = int(size if size is not None else len(tokenizer))
        self._cache: dict[int, str] = {}

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.size))]
        i = int(i)
        if i < 0:
            i += self.size
        if not 0 <= i < self.size:
            raise IndexError(f"token id {i} outside the vocabulary of {self.size}")
        if i not in self._cache:
            if i >= len(self.tokenizer):
                self._cache[i] = f"t{i}"
            else:
                text = self.tokenizer.decode([i])
                raw = self.tokenizer.convert_ids_to_tokens(i) or ""
                if raw.startswith("\u2581") and not text.startswith(" "):
                    text = " " + text  # SentencePiece strips the word-start space when decoding alone
                self._cache[i] = text
        return self._cache[i]

    def __repr__(self) -> str:
        return f"TokenizerVocab({self.size} tokens, {type(self.tokenizer).__name__})"


def tokenizer_adds_bos(tokenizer) -> bool:
    """True when ``tokenizer("a")`` starts with a BOS the text did not contain (Llama-style)."""
    with_special = tokenizer("a")["input_ids"]
    without = tokenizer("a", add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    return bos is not None and len(with_special) > len(without) and with_special[0] == bos


def _strings(x, what: str) -> list[str]:
    if isinstance(x, str):
        x = [x]
    try:
        out = list(x)
    except TypeError:
        raise TaskError(f"{what} must be a list of strings, got {type(x).__name__}.") from None
    for i, s in enumerate(out):
        if not isinstance(s, str):
            raise TaskError(f"{what}[{i}] must be a string, got {type(s).__name__} ({s!r}).")
    return out


def _pick_tokenizer(model, tokenizer):
    if tokenizer is not None:
        return tokenizer
    tok = getattr(model, "tokenizer", None)
    if tok is None:
        raise TaskError(
            "no tokenizer: the model has none (models from build_gpt2 and the shipped zoo use "
            "integer tokens; use workbook.make_task for those). Load the model with its tokenizer "
            "(workbook.load_pretrained(folder)) or pass tokenizer=AutoTokenizer.from_pretrained(folder)."
        )
    return tok


def _bos_id(tokenizer, model, prepend_bos: bool | None) -> int | None:
    if prepend_bos is None:
        cfg = getattr(model, "cfg", None)
        if cfg is not None:
            prepend_bos = bool(getattr(cfg, "default_prepend_bos", True))
        else:
            prepend_bos = tokenizer_adds_bos(tokenizer)
        explicit = False
    else:
        explicit = True
    if not prepend_bos:
        return None
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if bos is None:
        if explicit:
            raise TaskError("prepend_bos=True but the tokenizer has neither a BOS nor an EOS token to use.")
        return None
    return int(bos)


def _shown(tokenizer, ids: list[int]) -> list[str]:
    return [tokenizer.decode([i]) for i in ids]


def _continuation(tokenizer, prompt: str, prompt_ids: list[int], text: str, what: str) -> int:
    """The single token id that ``text`` adds after ``prompt`` (see the module rules)."""
    if text == "":
        raise TaskError(f"{what} is an empty string; give the answer text, e.g. ' Mary'.")
    full = tokenizer(prompt + text, add_special_tokens=False)["input_ids"]
    if full[: len(prompt_ids)] != prompt_ids:
        raise TaskError(
            f"{what} {text!r} merges with the end of its prompt {prompt[-30:]!r} when tokenized "
            f"(prompt ends in {_shown(tokenizer, prompt_ids[-2:])}, prompt+answer in "
            f"{_shown(tokenizer, full[max(0, len(prompt_ids) - 2) :])}); start the answer with a space or "
            "end the prompt on a word boundary."
        )
    rest = full[len(prompt_ids) :]
    if len(rest) != 1:
        alone = tokenizer(text, add_special_tokens=False)["input_ids"]
        raise TaskError(
            f"{what} {text!r} is {len(rest)} tokens after its prompt ({_shown(tokenizer, rest)}; "
            f"alone it is {_shown(tokenizer, alone)}): metrics read one next-token logit, so pick "
            "an answer that is a single token (mind the leading space: ' Mary' vs 'Mary')."
        )
    return int(rest[0])


def _token_rows(tok, clean, corrupt, answer, wrong, head: list[int], d_vocab: int):
    """Per example: clean and corrupt token rows (``head`` + prompt) and the answer / wrong ids, checked."""
    rows_c, rows_r, ans, wro = [], [], [], []
    for i, (c, r, a, w) in enumerate(zip(clean, corrupt, answer, wrong)):
        ic = tok(c, add_special_tokens=False)["input_ids"]
        ir = tok(r, add_special_tokens=False)["input_ids"]
        if len(ic) != len(ir):
            raise TaskError(
                f"example {i}: clean and corrupt prompts have different token lengths ({len(ic)} vs "
                f"{len(ir)}): {c!r} -> {_shown(tok, ic)} vs {r!r} -> {_shown(tok, ir)}. Patching swaps "
                "activations position by position, so each pair needs equal length (e.g. swap in "
                "names that are single tokens)."
            )
        if not head + ic:
            raise TaskError(f"example {i}: the clean prompt {c!r} has no tokens (and no BOS is prepended).")
        ans.append(_continuation(tok, c, ic, a, f"answer[{i}]"))
        wro.append(_continuation(tok, c, ic, w, f"wrong[{i}]"))
        rows_c.append(head + ic)
        rows_r.append(head + ir)
        for what, text, ids in (("clean", c, ic), ("corrupt", r, ir), ("answer", a, ans[-1:]), ("wrong", w, wro[-1:])):
            bad = [t for t in ids if t >= d_vocab]
            if bad:
                raise TaskError(
                    f"{what}[{i}] {text!r} uses token id {bad[0]} ({tok.decode([bad[0]])!r}), outside the "
                    f"model's vocabulary (d_vocab={d_vocab}): is this the model's own tokenizer?"
                )
    return rows_c, rows_r, ans, wro


def _padded(tok, rows_c: list[list[int]], rows_r: list[list[int]], padding_side: str, d_vocab: int,
            n_ctx: int | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clean and corrupt ``[B, S]`` padded on ``padding_side``, the mask ``[B, S]`` and read positions ``[B]``."""
    B, S = len(rows_c), max(len(x) for x in rows_c)
    if n_ctx is not None and S > int(n_ctx):
        raise TaskError(f"the longest prompt has {S} tokens, more than the model's context n_ctx={int(n_ctx)}.")
    pad = next((t for t in (tok.pad_token_id, tok.eos_token_id) if t is not None and t < d_vocab), 0)
    clean_t = torch.full((B, S), int(pad), dtype=torch.long)
    corrupt_t = clean_t.clone()
    mask = torch.zeros((B, S), dtype=torch.long)
    pos = torch.empty(B, dtype=torch.long)
    for i, (rc, rr) in enumerate(zip(rows_c, rows_r)):
        n = len(rc)
        sl = slice(0, n) if padding_side == "right" else slice(S - n, S)
        clean_t[i, sl] = torch.tensor(rc)
        corrupt_t[i, sl] = torch.tensor(rr)
        mask[i, sl] = 1
        pos[i] = sl.stop - 1
    return clean_t, corrupt_t, mask, pos


def task_from_strings(
    model=None,
    clean: Sequence[str] = (),
    corrupt: Sequence[str] = (),
    answer: Sequence[str] = (),
    wrong: Sequence[str] = (),
    metric: str | Metric = "logit_diff",
    *,
    padding_side: str = "right",
    prepend_bos: bool | None = None,
    tokenizer=None,
    name: str = "custom",
    description: str = "",
) -> Task:
    """Build a :class:`~workbook.core.task.Task` from prompt strings and answer strings.

    Args:
        model: the bridge the task is for (its tokenizer, ``cfg.default_prepend_bos``,
            ``cfg.d_vocab`` and ``cfg.n_ctx`` are used); may be ``None`` if ``tokenizer`` is given.
        clean, corrupt: prompt strings, paired by index; each pair must tokenize to the same length.
        answer, wrong: per example, the clean prompt's answer and the competing answer, each one
            token with its leading space (``" Mary"``).
        metric: a name in :data:`workbook.core.task.METRICS` or a per-example function.
        padding_side: ``"right"`` or ``"left"``; scores do not depend on it once methods honour
            ``Task.attention_mask``.
        prepend_bos: ``None`` = what the model expects (module doc), or force True/False.
        tokenizer: overrides ``model.tokenizer``.

    Returns:
        A task with ``clean``/``corrupt`` ``[B, S]``, ``answer``/``wrong``/``pos`` ``[B]``,
        ``attention_mask`` ``[B, S]`` (or ``None`` when nothing is padded) and a readable ``vocab``.

    Raises:
        TaskError: empty batch, lists of different lengths, a pair of different token lengths
            (quoting it), a multi-token answer (quoting it), an id outside the model's
            vocabulary, prompts longer than the context, an unknown ``padding_side``.
    """
    tok = _pick_tokenizer(model, tokenizer)
    clean, corrupt = _strings(clean, "clean"), _strings(corrupt, "corrupt")
    answer, wrong = _strings(answer, "answer"), _strings(wrong, "wrong")
    if not clean:
        raise TaskError("the task has no examples (empty batch): pass at least one clean/corrupt prompt pair.")
    lengths = {"clean": len(clean), "corrupt": len(corrupt), "answer": len(answer), "wrong": len(wrong)}
    if len(set(lengths.values())) != 1:
        raise TaskError(f"clean, corrupt, answer and wrong need one entry per example; got lengths {lengths}.")
    if padding_side not in ("right", "left"):
        raise TaskError(f"padding_side must be 'right' or 'left', got {padding_side!r}.")
    cfg = getattr(model, "cfg", None)
    d_vocab = int(cfg.d_vocab) if cfg is not None else len(tok)
    bos = _bos_id(tok, model, prepend_bos)
    head = [] if bos is None else [bos]

    rows_c, rows_r, ans, wro = _token_rows(tok, clean, corrupt, answer, wrong, head, d_vocab)
    clean_t, corrupt_t, mask, pos = _padded(tok, rows_c, rows_r, padding_side, d_vocab, getattr(cfg, "n_ctx", None))
    return Task(
        clean_t, corrupt_t, torch.tensor(ans), torch.tensor(wro), pos, metric, name, description,
        TokenizerVocab(tok, d_vocab), None if bool(mask.all()) else mask,
    )
