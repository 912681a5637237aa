"""Benchmark: a lab run's snapshot fits in this process against the same fits as sweep tasks on the cluster.

    python bench/snapshots.py RUN_DIR [--steps N]

``RUN_DIR`` is a finished run (``$NPMK_CACHE/runs/<key>``). For its first ``--steps``
snapshots (default all) and the three levels of :func:`npmk.snapshots.snapshot_fits`
(tensor, layer, class; Transmission and Selection), it times

* **in-process**: :func:`npmk.snapshots.weight_fits` of each snapshot, one after another;
* **cold sweep**: :func:`npmk.snapshots.snapshot_fits` into an empty cache (a temporary
  ``NPMK_CACHE``), one task per snapshot and level on the shared LocalCluster: once
  right after the cluster starts (its workers import torch and npmk on their first
  task), once more into another empty cache;
* **warm**: the same call again, every task read back from the Parquet dataset;

and prints a markdown table with the per-task cost of each route. The two routes'
rows must agree to 1e-12 (a worker's BLAS may add in another order).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ["NPMK_CACHE"] = tempfile.mkdtemp(prefix="npmk-bench-")  # before any worker starts
    import pandas as pd

    from npmk import sweep
    from npmk.runs import load_run
    from npmk.snapshots import COLUMNS, LEVELS, snapshot_fits, weight_fits

    run = load_run(args.run)
    steps = run.snapshot_steps[: args.steps]
    classes = ("Transmission", "Selection")
    tasks = len(steps) * len(LEVELS)
    t = time.perf_counter()
    local = pd.concat([weight_fits(run.snapshot(s), run.family, classes=classes).assign(step=s) for s in steps],
                      ignore_index=True)[COLUMNS]
    t_local = time.perf_counter() - t
    t = time.perf_counter()
    sweep.shared_client()
    t_start = time.perf_counter() - t
    t = time.perf_counter()
    first = snapshot_fits(run, steps, classes=classes)
    t_first = time.perf_counter() - t
    os.environ["NPMK_CACHE"] = tempfile.mkdtemp(prefix="npmk-bench-")  # the client's cache: empty again
    t = time.perf_counter()
    cold = snapshot_fits(run, steps, classes=classes)
    t_cold = time.perf_counter() - t
    t = time.perf_counter()
    warm = snapshot_fits(run, steps, classes=classes)
    t_warm = time.perf_counter() - t
    pd.testing.assert_frame_equal(cold, local, check_exact=False, rtol=1e-12, atol=0)
    pd.testing.assert_frame_equal(first, cold)
    pd.testing.assert_frame_equal(warm, cold)
    workers = len(sweep.shared_client().scheduler_info()["workers"])
    print(f"run {args.run.name} ({run.config.arch}-{run.config.size}): {len(steps)} snapshots x {len(LEVELS)} "
          f"levels = {tasks} tasks; {workers} workers; load average {os.getloadavg()[0]:.1f}\n")
    print("| route | wall (s) | per task (ms) |\n|---|---:|---:|")
    for name, sec in [("in-process, one after another", t_local), ("cluster start", t_start),
                      ("first sweep (workers import torch, npmk)", t_first),
                      ("cold sweep (workers warm, empty cache)", t_cold), ("warm (read back)", t_warm)]:
        print(f"| {name} | {sec:.1f} | {1000 * sec / tasks:.0f} |")
    print("\nrows: sweep = in-process to 1e-12: yes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
