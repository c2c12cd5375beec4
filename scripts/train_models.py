"""Train the small GPT-2 models of the zoo on the synthetic tasks and ship them.

    python scripts/train_models.py              # train every model in CONFIGS
    python scripts/train_models.py --only ioi   # retrain one model

Each model is an HF ``GPT2LMHeadModel`` (LayerNorm, GELU MLPs, learned positions, no dropout)
trained with AdamW on cross-entropy at the positions :func:`workbook.datasets.train_batch` marks
(IOI: the answer at the last position; induction: every copied token),
seeded and single-threaded, so a rerun reproduces the shipped weights. Training stops early
once held-out accuracy has reached ``target_acc`` at two consecutive evaluations. The trained
model is wrapped with :func:`workbook.models.bridge_from_hf` and written to
``workbook/weights/<name>.safetensors`` + ``.json`` with accuracy and settings in ``info``.
Accuracy = argmax over the whole vocabulary at the last position equals the answer, on
prompts from a held-out seed (``EVAL_SEED``) never used for training batches.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import GPT2LMHeadModel

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workbook import datasets  # noqa: E402
from workbook.models import bridge_from_hf, gpt2_config, save_model  # noqa: E402

WEIGHTS = ROOT / "workbook" / "weights"
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
        loss="cross-entropy on the targets of workbook.datasets.train_batch",
        script="scripts/train_models.py",
    )
    log(f"{name}: accuracy {summary['accuracy']:.3f} (held-out seed {EVAL_SEED}, n={EVAL_N}), "
        f"logit diff {summary['clean_logit_diff']:.2f}, {summary['steps']} steps, "
        f"{summary['train_seconds']}s -> {path}")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CONFIGS), help="train just this model")
    parser.add_argument("--out-dir", default=str(WEIGHTS))
    parser.add_argument("--max-steps", type=int, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for name in [args.only] if args.only else list(CONFIGS):
        train_and_save(name, Path(args.out_dir), max_steps=args.max_steps)


if __name__ == "__main__":
    main()
