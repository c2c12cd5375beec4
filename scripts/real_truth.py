#!/usr/bin/env python
"""Exact activation patching on the real model, once, for the chapters' real-model sections and the main job.

    python scripts/real_truth.py                 # SmolLM2-135M, IOI, 8 prompt pairs, seed 0
    python scripts/real_truth.py --n 16 --seed 1 # another batch (the sections use n=8, seed 0)

Writes ``workbook/patching/data/smollm2_<task>_<n>.json`` (:mod:`workbook.patching.shipped_truth`): the exact
noising effect of every head, MLP, query, key and value node, and of a pool of edges — the
union of the top ``--pool`` edges by |EAP|, |EAP-IG| (m=5) and |EAP-GP| (k=5) — with the time
each took. A section loads it only for the same model weights and the same prompt pairs
(fingerprint), re-patches a live sample, and otherwise patches live; ``python -m workbook``
seeds its truth cache from it (its SmolLM2 run uses these 8 pairs). One torch thread.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import torch

import workbook as wb
from workbook.models import zoo
from workbook.patching import shipped_truth as T


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2")
    p.add_argument("--task", default="ioi")
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pool", type=int, default=60, help="top edges taken from each edge method")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model, task = zoo.load(args.model, task=args.task, n=args.n, seed=args.seed)
    truths, seconds = {}, {}
    for kind in ("head", "mlp", "q", "k", "v"):
        t0 = time.perf_counter()
        truths[kind] = wb.patch_nodes(model, task, kind)
        seconds[kind] = time.perf_counter() - t0
        print(f"{kind}: {len(truths[kind])} nodes in {seconds[kind]:.0f} s", flush=True)
    t0 = time.perf_counter()
    estimates = [wb.eap(model, task), wb.eap_ig(model, task, steps=5), wb.eap_gp(model, task, steps=5)]
    pool = list(dict.fromkeys(n for e in estimates for n in e.order()[: args.pool]))
    truths["edges"] = wb.patch_edges(model, task, edges=pool)
    seconds["edges"] = time.perf_counter() - t0
    print(f"edges: pool of {len(pool)} in {seconds['edges']:.0f} s", flush=True)
    meta = {"model": zoo.PRETRAINED[args.model].description,
            "task": args.task, "n": args.n, "seed": args.seed, "pool": f"top {args.pool} by |EAP|, |EAP-IG|, |EAP-GP|",
            "seconds": seconds, "torch": torch.__version__, "machine": platform.machine(),
            "made": datetime.date.today().isoformat()}
    path = T.save_truth(T.truth_path(args.model, task), model, task, truths, meta)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
