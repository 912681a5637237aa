"""Benchmark: ``npmk.sweep`` over 16 local checkpoints on a LocalCluster of 1 and of 2 workers.

    python bench/sweep.py [--out bench/out] [--models 16] [--workers 1,2]

Builds (once) ``--models`` random-init GPT-NeoX checkpoints of the lab's reference
shape (hidden 512, 6 layers, 8 heads, FFN 2048, vocabulary 8192; 25M values, fp16,
seeds 0, 1, ...) under ``OUT/sweep-models/``, reads them once to warm the page cache,
then for each worker count starts a LocalCluster (one single-threaded worker process
per worker), sweeps every checkpoint by pooled and by kind into a fresh Parquet
dataset and prints a markdown table: cluster start-up, sweep wall time, the
workers' CPU seconds during the sweep, tasks per second, MiB read per second
(each task reads its checkpoint) and each worker's peak RSS (VmHWM, read on the worker
before the cluster closes). Every run's rows must equal the first run's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HIDDEN, LAYERS, HEADS, FFN, VOCAB = 512, 6, 8, 2048, 8192


def build(directory: Path, count: int) -> list[Path]:
    """``count`` fp16 GPT-NeoX checkpoints (config.json + model.safetensors), built unless present."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    paths = []
    for seed in range(count):
        target = directory / f"neox-512x6-seed{seed}"
        paths.append(target)
        if (target / "model.safetensors").is_file():
            continue
        torch.manual_seed(seed)
        cfg = GPTNeoXConfig(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                            intermediate_size=FFN, vocab_size=VOCAB, max_position_embeddings=512)
        tmp = directory / f".{target.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        GPTNeoXForCausalLM(cfg).to(torch.float16).save_pretrained(tmp)
        os.replace(tmp, target)
    return paths


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _import_npmk() -> None:
    import npmk._measure  # noqa: F401


def run(paths: list[Path], out: Path, workers: int) -> dict:
    from distributed import Client, LocalCluster

    from npmk.sweep import Spec, load, sweep

    shutil.rmtree(out, ignore_errors=True)
    spec = Spec.grid([str(p) for p in paths], by=("pooled", "kind"))
    t0 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        client.run(_import_npmk)  # worker start-up includes the imports
        started = time.perf_counter() - t0
        cpu0 = client.run(time.process_time)
        result = sweep(spec, out, client=client, progress=False)
        cpu = sum(c - cpu0[w] for w, c in client.run(time.process_time).items())
        rss = sorted(client.run(_peak_rss_mib).values())
    if not result.ok:
        raise RuntimeError(f"{len(result.failed)} task(s) failed: {result.failed[:3]}")
    return {"workers": workers, "start": started, "seconds": result.seconds, "tasks": result.ran,
            "bytes": result.bytes, "cpu": cpu, "rss": rss, "rows": load(out, spec)}


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--models", type=int, default=16)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    paths = build(args.out / "sweep-models", args.models)
    size = sum((p / "model.safetensors").stat().st_size for p in paths)
    print(f"{len(paths)} checkpoints, {size / 2**20:.0f} MiB, ready in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    for p in paths:  # warm the page cache
        (p / "model.safetensors").read_bytes()
    load_before = os.getloadavg()
    runs = [run(paths, args.out / f"sweep-{w}-workers", int(w)) for w in args.workers.split(",")]
    load_after = os.getloadavg()
    for r in runs[1:]:
        pd.testing.assert_frame_equal(r["rows"], runs[0]["rows"])

    def load(avg) -> str:
        return ", ".join(f"{v:.1f}" for v in avg)

    print(f"\n{len(paths)} fp16 GPT-NeoX checkpoints ({size / 2**20:.0f} MiB), by pooled and by kind "
          f"({runs[0]['tasks']} tasks), {len(os.sched_getaffinity(0))} CPU cores, load average (1, 5, 15 min) "
          f"before {load(load_before)}, after {load(load_after)}; rows identical across runs: yes\n")
    print("| workers | cluster start (s) | sweep (s) | workers' CPU (s) | tasks/s | MiB/s "
          "| peak RSS per worker (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for r in runs:
        print(f"| {r['workers']} | {r['start']:.1f} | {r['seconds']:.1f} | {r['cpu']:.1f} | "
              f"{r['tasks'] / r['seconds']:.2f} | {r['bytes'] / 2**20 / r['seconds']:.0f} | "
              f"{', '.join(f'{m:.0f}' for m in r['rss'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
