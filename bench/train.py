"""Benchmark: training steps/s of the lab with and without force logging, in one run.

One :class:`npmk.train.Trainer` (default: the ``small`` size) alternates blocks
of ``--block`` updates with force logging on and off, so both arms see the same
model state, data and machine load; the table reports steps/s from wall-clock
and from process CPU time (the latter is robust to other processes on a shared
machine) and the logging overhead = t_logged / t_plain − 1.

    python bench/train.py [--arch pythia] [--size small] [--blocks 6] [--block 20] [--threads 1]

Writes the table to stdout and ``bench/out/train.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from npmk.runconfig import RunConfig
from npmk.train import Trainer, prepare


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="pythia")
    ap.add_argument("--size", default="small")
    ap.add_argument("--blocks", type=int, default=6, help="blocks per arm")
    ap.add_argument("--block", type=int, default=20, help="updates per block")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    cfg, data = prepare(RunConfig(arch=args.arch, size=args.size))
    trainer = Trainer(cfg, data)
    for _ in range(5):  # warm up allocator and Adam state
        trainer.update(log=True)
    wall = {True: 0.0, False: 0.0}
    cpu = {True: 0.0, False: 0.0}
    n = {True: 0, False: 0}
    for b in range(2 * args.blocks):
        log = b % 2 == 0
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(args.block):
            trainer.update(log=log)
        wall[log] += time.perf_counter() - w0
        cpu[log] += time.process_time() - c0
        n[log] += args.block

    rows = []
    for log in (False, True):
        rows.append(
            {
                "force_logging": log,
                "steps": n[log],
                "steps_per_s_wall": n[log] / wall[log],
                "steps_per_s_cpu": n[log] / cpu[log],
                "tokens_per_s_wall": n[log] * cfg.batch * cfg.seq_len / wall[log],
            }
        )
    overhead_wall = wall[True] / wall[False] - 1
    overhead_cpu = cpu[True] / cpu[False] - 1
    print(f"{cfg.arch}-{cfg.size}: batch {cfg.batch} x {cfg.seq_len} tokens, {args.threads} thread(s), "
          f"{len(trainer.matrix_names)} logged matrices")
    print("| force logging | steps | steps/s (wall) | steps/s (CPU) | tokens/s (wall) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {'on' if r['force_logging'] else 'off'} | {r['steps']} | {r['steps_per_s_wall']:.2f} | "
              f"{r['steps_per_s_cpu']:.2f} | {r['tokens_per_s_wall']:.0f} |")
    print(f"overhead: {100 * overhead_wall:+.1f}% (wall), {100 * overhead_cpu:+.1f}% (CPU); target <= 10%")
    out = Path(__file__).parent / "out" / "train.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"config": cfg.__dict__, "threads": args.threads, "rows": rows,
                               "overhead_wall": overhead_wall, "overhead_cpu": overhead_cpu}, indent=2))


if __name__ == "__main__":
    main()
