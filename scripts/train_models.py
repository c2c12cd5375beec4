"""Train the small GPT-2 models of the zoo on the synthetic tasks and ship them.

    python scripts/train_models.py                  # train every model in CONFIGS and MIXTURES
    python scripts/train_models.py --only ioi       # retrain one model
    python scripts/train_models.py --only mixture   # the 6-layer model of the six-task mixture

Each model is an HF ``GPT2LMHeadModel`` (LayerNorm, GELU MLPs, learned positions, no dropout)
trained with AdamW on cross-entropy at the positions :func:`workbook.tasks.synthetic.train_batch` marks
(IOI: the answer at the last position; induction: every copied token),
seeded and single-threaded, so a rerun reproduces the shipped weights. Training stops early
once held-out accuracy has reached ``target_acc`` at two consecutive evaluations. The trained
model is wrapped with :func:`workbook.models.loading.bridge_from_hf` and written to
``workbook/models/weights/<name>.safetensors`` + ``.json`` with accuracy and settings in ``info``.
Accuracy = argmax over the whole vocabulary at the last position equals the answer, on
prompts from a held-out seed (``EVAL_SEED``) never used for training batches.

The ``mixture`` model (:data:`MIXTURES`, :func:`train_mixture`) is one deeper GPT-2 trained on
the six tasks of :mod:`workbook.tasks.mixture` plus filler text: rows of
:func:`workbook.tasks.mixture.training_rows`, loss = cross-entropy on the task answers +
``lm_weight`` x next-token cross-entropy on the filler, AdamW with warm-up and cosine decay,
gradient clipping, a fixed number of steps. Accuracy per task (top-1 over the whole vocabulary
is a correct answer, :func:`workbook.tasks.mixture.accuracy`) on ``EVAL_N`` held-out prompts.
Single-threaded (``torch.set_num_threads(1)``) and seeded, so a rerun on the same machine and
torch build reproduces the shipped weights bit for bit.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import GPT2LMHeadModel

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workbook.models.loading import bridge_from_hf, gpt2_config, save_model  # noqa: E402
from workbook.tasks import mixture as mixture_tasks
from workbook.tasks import synthetic as datasets  # noqa: E402

WEIGHTS = ROOT / "workbook" / "models" / "weights"
EVAL_SEED = 12345
EVAL_N = 512


@dataclass(frozen=True)
class TrainConfig:
    """Architecture and optimiser settings of one zoo model."""

    task: str
    n_layers: int = 2
    d_model: int = 64
    n_heads: int = 4
    n_ctx: int = 16
    max_steps: int = 4000
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: int = 100
    eval_every: int = 200
    target_acc: float = 0.995
    seed: int = 0


CONFIGS: dict[str, TrainConfig] = {
    "ioi": TrainConfig(task="ioi", n_layers=2, d_model=64, n_heads=4),
    "induction": TrainConfig(task="induction", n_layers=2, d_model=64, n_heads=4),
}


def build_hf(cfg: TrainConfig) -> GPT2LMHeadModel:
    """A freshly initialised HF GPT-2 for ``cfg`` (seeded by ``cfg.seed``)."""
    hf_cfg = gpt2_config(
        n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads,
        d_vocab=len(datasets.VOCABS[cfg.task]), n_ctx=cfg.n_ctx,
    )
    torch.manual_seed(cfg.seed)
    return GPT2LMHeadModel(hf_cfg)


@torch.no_grad()
def accuracy(hf: GPT2LMHeadModel, task_name: str, n: int = EVAL_N, seed: int = EVAL_SEED) -> tuple[float, float]:
    """``(accuracy, mean clean logit diff)`` of an HF model on ``n`` held-out prompts."""
    was_training = hf.training
    hf.eval()
    task = datasets.make(task_name, n=n, seed=seed)
    logits = hf(task.clean).logits
    acc = float((logits[:, -1].argmax(-1) == task.answer).float().mean())
    ld = float(task.metric_value(logits))
    hf.train(was_training)
    return acc, ld


def train_hf(cfg: TrainConfig, max_steps: int | None = None, log=print) -> tuple[GPT2LMHeadModel, dict]:
    """Train an HF GPT-2 on ``cfg.task``; returns the model (eval mode) and a summary dict."""
    steps_cap = cfg.max_steps if max_steps is None else max_steps
    hf = build_hf(cfg)
    hf.train()
    opt = torch.optim.AdamW(hf.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / cfg.warmup))
    g = torch.Generator().manual_seed(cfg.seed + 1)
    hits, step, t0 = 0, 0, time.time()
    acc, ld = 0.0, 0.0
    for step in range(1, steps_cap + 1):
        tokens, target = datasets.train_batch(cfg.task, cfg.batch_size, g)
        logits = hf(tokens).logits
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % cfg.eval_every == 0 or step == steps_cap:
            acc, ld = accuracy(hf, cfg.task)
            log(f"  [{cfg.task}] step {step:5d}  loss {loss.item():.3f}  held-out acc {acc:.3f}  logit diff {ld:.2f}  ({time.time() - t0:.0f}s)")
            hits = hits + 1 if acc >= cfg.target_acc else 0
            if hits >= 2:
                break
    hf.eval()
    acc, ld = accuracy(hf, cfg.task)
    return hf, {"steps": step, "accuracy": acc, "clean_logit_diff": ld, "train_seconds": round(time.time() - t0, 1)}


def train_and_save(name: str, out_dir: Path = WEIGHTS, max_steps: int | None = None, log=print) -> Path:
    """Train the zoo model ``name`` and write ``<out_dir>/<name>.safetensors`` + ``.json``."""
    if name not in CONFIGS:
        raise KeyError(f"unknown model {name!r}; choose from {sorted(CONFIGS)}.")
    cfg = CONFIGS[name]
    hf, summary = train_hf(cfg, max_steps=max_steps, log=log)
    bridge = bridge_from_hf(hf)
    path = save_model(
        bridge, Path(out_dir) / name,
        task=cfg.task, accuracy=summary["accuracy"], clean_logit_diff=summary["clean_logit_diff"],
        eval_seed=EVAL_SEED, eval_n=EVAL_N, seed=cfg.seed, steps=summary["steps"],
        train_seconds=summary["train_seconds"], config=asdict(cfg),
        loss="cross-entropy on the targets of workbook.tasks.synthetic.train_batch",
        script="scripts/train_models.py",
    )
    log(f"{name}: accuracy {summary['accuracy']:.3f} (held-out seed {EVAL_SEED}, n={EVAL_N}), "
        f"logit diff {summary['clean_logit_diff']:.2f}, {summary['steps']} steps, "
        f"{summary['train_seconds']}s -> {path}")
    return path


# --------------------------------------------------------------------------- the mixture model
@dataclass(frozen=True)
class MixtureConfig:
    """Architecture and optimiser settings of a model trained on the six-task mixture."""

    n_layers: int = 6
    d_model: int = 128
    n_heads: int = 8
    d_mlp: int = 512
    n_ctx: int = 32
    row_len: int = 32
    batch_size: int = 64
    steps: int = 3000
    lr: float = 2e-3
    final_lr_frac: float = 0.05
    weight_decay: float = 0.05
    warmup: int = 100
    grad_clip: float = 1.0
    lm_weight: float = 0.3
    task_share: float = 0.75
    eval_every: int = 250
    seed: int = 0


MIXTURES: dict[str, MixtureConfig] = {"mixture": MixtureConfig()}
MIXTURE_EVAL_N = 256


def build_mixture_hf(cfg: MixtureConfig) -> GPT2LMHeadModel:
    hf_cfg = gpt2_config(n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads, d_mlp=cfg.d_mlp,
                         d_vocab=len(mixture_tasks.VOCAB), n_ctx=cfg.n_ctx)
    torch.manual_seed(cfg.seed)
    return GPT2LMHeadModel(hf_cfg)


@torch.no_grad()
def mixture_accuracy(hf: GPT2LMHeadModel, n: int = MIXTURE_EVAL_N, seed: int = EVAL_SEED) -> dict[str, float]:
    """Held-out accuracy of an HF model on every mixture task (``n`` prompts from ``seed``)."""
    was_training = hf.training
    hf.eval()
    dev = next(hf.parameters()).device
    out = {name: mixture_tasks.accuracy(lambda x: hf(x.to(dev)).logits.cpu(), mixture_tasks.make(name, n=n, seed=seed))
           for name in mixture_tasks.TASK_NAMES}
    hf.train(was_training)
    return out


def _lr_factor(cfg: MixtureConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to ``final_lr_frac`` at ``cfg.steps``."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.final_lr_frac + (1 - cfg.final_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def train_mixture(cfg: MixtureConfig, steps: int | None = None, log=print, eval_n: int = MIXTURE_EVAL_N,
                  device: str = "cpu") -> tuple[GPT2LMHeadModel, dict]:
    """Train an HF GPT-2 on the mixture; returns the model (eval mode, on CPU) and a summary dict.

    ``steps`` stops early (the schedule is still that of ``cfg.steps``), for smoke tests.
    ``device`` other than ``"cpu"`` is for quick experiments only: the shipped weights are
    reproducible on CPU with one thread, not on a GPU.
    """
    n_steps = cfg.steps if steps is None else steps
    hf = build_mixture_hf(cfg).to(device)
    hf.train()
    decay = [p for n, p in hf.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in hf.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(cfg, s))
    rng = random.Random(f"mixture-train:{cfg.seed}")
    ce = torch.nn.functional.cross_entropy
    t0, cpu0 = time.time(), time.process_time()
    acc: dict[str, float] = {}
    for step in range(1, n_steps + 1):
        tokens, task_t, lm_t = mixture_tasks.training_rows(cfg.batch_size, cfg.row_len, rng, cfg.task_share)
        logits = hf(tokens.to(device)).logits.flatten(0, 1)
        task_loss = ce(logits, task_t.flatten().to(device), ignore_index=-100)
        lm_loss = ce(logits, lm_t.flatten().to(device), ignore_index=-100)
        loss = task_loss + cfg.lm_weight * lm_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(hf.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        if step % cfg.eval_every == 0 or step == n_steps:
            acc = mixture_accuracy(hf, n=eval_n)
            accs = " ".join(f"{k} {v:.2f}" for k, v in acc.items())
            log(f"  [mixture] step {step:5d}  task loss {task_loss.item():.3f}  lm loss {lm_loss.item():.3f}  "
                f"acc: {accs}  ({time.time() - t0:.0f}s)")
    hf = hf.cpu().eval()
    if not acc:
        acc = mixture_accuracy(hf, n=eval_n)
    return hf, {"steps": n_steps, "accuracy": acc, "train_seconds": round(time.time() - t0, 1),
                "train_cpu_seconds": round(time.process_time() - cpu0, 1)}


def train_and_save_mixture(name: str, out_dir: Path = WEIGHTS, steps: int | None = None, log=print) -> Path:
    """Train the mixture model ``name`` and write ``<out_dir>/<name>.safetensors`` + ``.json``."""
    cfg = MIXTURES[name]
    hf, summary = train_mixture(cfg, steps=steps, log=log)
    bridge = bridge_from_hf(hf)
    baselines = {}
    for task_name in mixture_tasks.TASK_NAMES:
        clean, corrupt = mixture_tasks.make(task_name, n=MIXTURE_EVAL_N, seed=EVAL_SEED).baselines(bridge)
        baselines[task_name] = {"clean": clean, "corrupt": corrupt}
    path = save_model(
        bridge, Path(out_dir) / name,
        tasks=list(mixture_tasks.TASK_NAMES), accuracy=summary["accuracy"], baselines=baselines,
        metrics=mixture_tasks.METRIC_NAME, eval_seed=EVAL_SEED, eval_n=MIXTURE_EVAL_N, seed=cfg.seed,
        steps=summary["steps"], train_seconds=summary["train_seconds"],
        train_cpu_seconds=summary["train_cpu_seconds"], config=asdict(cfg),
        torch_threads=torch.get_num_threads(), torch_version=torch.__version__,
        loss="cross-entropy on the task answers + lm_weight x next-token cross-entropy on filler "
             "(workbook.tasks.mixture.training_rows)",
        script="scripts/train_models.py",
    )
    accs = ", ".join(f"{k} {v:.3f}" for k, v in summary["accuracy"].items())
    log(f"{name}: held-out accuracy (seed {EVAL_SEED}, n={MIXTURE_EVAL_N} per task): {accs}; "
        f"{summary['steps']} steps, {summary['train_seconds']}s wall, {summary['train_cpu_seconds']}s CPU -> {path}")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CONFIGS) + sorted(MIXTURES), help="train just this model")
    parser.add_argument("--out-dir", default=str(WEIGHTS))
    parser.add_argument("--max-steps", type=int, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for name in [args.only] if args.only else list(CONFIGS) + list(MIXTURES):
        if name in MIXTURES:
            train_and_save_mixture(name, Path(args.out_dir), steps=args.max_steps)
        else:
            train_and_save(name, Path(args.out_dir), max_steps=args.max_steps)


if __name__ == "__main__":
    main()
