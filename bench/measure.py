"""Benchmark: Weibull fit of a Pythia-1B-shaped fp16 checkpoint by four routes.

    python bench/measure.py [--out bench/out] [--routes read,npmk] [--repeat 3]

Builds (once) a random-init checkpoint with Pythia-1B's shapes and names
(GPT-NeoX, hidden 2048, 16 layers, 8 heads, FFN 8192, vocab 50304; weights
N(0, 0.02^2), norms 1, biases 0; seed 0) as one fp16 ``model.safetensors``, then
runs each route in its own subprocess, after one warm-up read of the file:

  (a) read      read the file's bytes (warm page cache), 64 MiB at a time
  (b) naive     concatenate the skeleton's |W| as float64, sort, probability-plot fit
  (c) npm-hist  npm-weibull-py 0.4.0: 1024-bin log10 histogram per tensor, summed, its weibull_fit
  (d) npmk      npmk.measure(path) -- per-value counts, exact

Each subprocess first imports what its route needs (timed apart: a fixed cost
of ~2-6 s, torch and scipy, that does not grow with the checkpoint), then times
the work. The routes run in turn ``--repeat`` times (read, npmk, read, npmk...)
so that both see the same load; the table gives the median of each column and
"x read" is the median of the per-round ratios to the read of the same round.
Peak RSS is VmHWM of the subprocess. Wall times on a shared machine depend on
its load: the load average before and after is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HIDDEN, LAYERS, HEADS, FFN, VOCAB = 2048, 16, 8, 8192, 50304
STD, SEED = 0.02, 0


def _shapes() -> dict[str, tuple[int, ...]]:
    """Pythia-1B tensor names (as on the Hub) and shapes."""
    out = {"gpt_neox.embed_in.weight": (VOCAB, HIDDEN)}
    for i in range(LAYERS):
        p = f"gpt_neox.layers.{i}."
        for norm in ("input_layernorm", "post_attention_layernorm"):
            out[p + norm + ".weight"] = (HIDDEN,)
            out[p + norm + ".bias"] = (HIDDEN,)
        for mod, (rows, cols) in {
            "attention.query_key_value": (3 * HIDDEN, HIDDEN),
            "attention.dense": (HIDDEN, HIDDEN),
            "mlp.dense_h_to_4h": (FFN, HIDDEN),
            "mlp.dense_4h_to_h": (HIDDEN, FFN),
        }.items():
            out[p + mod + ".weight"] = (rows, cols)
            out[p + mod + ".bias"] = (rows,)
    out["gpt_neox.final_layer_norm.weight"] = (HIDDEN,)
    out["gpt_neox.final_layer_norm.bias"] = (HIDDEN,)
    out["embed_out.weight"] = (VOCAB, HIDDEN)
    return out


def build(directory: Path) -> Path:
    """Write config.json + model.safetensors into ``directory`` unless already there."""
    import torch
    from safetensors.torch import save_file
    from transformers import GPTNeoXConfig

    target = directory / "model.safetensors"
    if target.is_file():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(SEED)
    tensors = {}
    for name, shape in _shapes().items():
        if len(shape) == 2:  # drawn per tensor in fp32, kept in fp16: never the whole model in fp32
            tensors[name] = (torch.randn(shape, generator=gen) * STD).to(torch.float16)
        else:
            fill = 1.0 if name.endswith("layernorm.weight") or name.endswith("layer_norm.weight") else 0.0
            tensors[name] = torch.full(shape, fill, dtype=torch.float16)
    cfg = GPTNeoXConfig(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                        intermediate_size=FFN, vocab_size=VOCAB, initializer_range=STD, torch_dtype="float16")
    tmp = directory / "model.safetensors.tmp"
    save_file(tensors, tmp, metadata={"format": "pt"})
    (directory / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    os.replace(tmp, target)
    return directory


def _read(path: Path) -> dict:
    buf = bytearray(64 << 20)
    total = 0
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            total += n
    return {"bytes": total}


def _skeleton(directory: Path):
    from npmk import skeleton
    from npmk.checkpoints import open_checkpoint

    ckpt = open_checkpoint(directory)
    infos = [i for i in ckpt.infos() if skeleton.classify(i.name, i.shape, "gpt_neox").include]
    return ckpt, infos


def _naive(directory: Path) -> dict:
    import numpy as np

    from npmk.weibull import fit

    ckpt, infos = _skeleton(directory)
    x = np.empty(sum(i.numel for i in infos))  # float64
    at = 0
    for info in infos:
        t = ckpt.tensor(info).reshape(-1)
        np.abs(t.numpy(), out=x[at : at + t.numel()], casting="unsafe")
        at += t.numel()
    x.sort()  # in place: a sorted copy would double the 8 GB
    return {"k": fit(x, presorted=True).k}


def _npm_hist(directory: Path) -> dict:
    import numpy as np
    from npm_weibull import extract_to_histogram

    from npmk.weibull import histogram_npm_result

    ckpt, infos = _skeleton(directory)
    edges, hist = None, 0
    for info in infos:
        h = extract_to_histogram(ckpt.tensor(info))
        edges, hist = h["edges"], hist + h["hist"]
    return {"k": histogram_npm_result(edges, np.asarray(hist)).k}


def _npmk(directory: Path) -> dict:
    import npmk

    return {"k": float(npmk.measure(directory, progress=False).k[0])}


ROUTES = {
    "read": ("(a) read bytes (warm)", _read),
    "naive": ("(b) naive: concat float64 + sort fit", _naive),
    "npm-hist": ("(c) npm-weibull-py 1024-bin histogram", _npm_hist),
    "npmk": ("(d) npmk measure (exact counts)", _npmk),
}
#: Modules each route imports before its clock starts.
_IMPORTS = {
    "read": [],
    "naive": ["numpy", "npmk.weibull", "npmk.skeleton", "npmk.checkpoints"],
    "npm-hist": ["numpy", "npm_weibull", "npmk.weibull", "npmk.skeleton", "npmk.checkpoints"],
    "npmk": ["npmk._measure"],
}


def _peak_rss_kib() -> int:
    """VmHWM of this process. Not ru_maxrss: that survives exec and so would report
    the parent's peak (which built the 2 GB checkpoint in memory)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _child(route: str, directory: Path) -> None:
    import importlib

    target = directory / "model.safetensors" if route == "read" else directory
    t0 = time.perf_counter()
    for module in _IMPORTS[route]:
        importlib.import_module(module)
    imported = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    result = ROUTES[route][1](target)
    result["seconds"] = time.perf_counter() - t0
    result["cpu_seconds"] = time.process_time() - c0
    result["import_seconds"] = imported
    result["peak_rss_gib"] = _peak_rss_kib() / 2**20
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--routes", default=",".join(ROUTES), help="comma-separated subset of " + ",".join(ROUTES))
    parser.add_argument("--repeat", type=int, default=3, help="rounds over the routes (default 3; medians reported)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    directory = args.out / "pythia-1b-shaped-fp16"
    if args.child:
        _child(args.child, directory)
        return 0
    t0 = time.perf_counter()
    build(directory)
    print(f"checkpoint: {directory} ({(directory / 'model.safetensors').stat().st_size / 2**30:.2f} GiB, "
          f"ready in {time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    _read(directory / "model.safetensors")  # warm the page cache
    load_before = os.getloadavg()
    routes = args.routes.split(",")
    runs: dict[str, list[dict]] = {route: [] for route in routes}
    for rnd in range(args.repeat):
        for route in routes:
            proc = subprocess.run([sys.executable, __file__, "--out", str(args.out), "--child", route],
                                  capture_output=True, text=True, check=True)
            runs[route].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"round {rnd + 1} {route}: {runs[route][-1]}", file=sys.stderr)
    load_after = os.getloadavg()
    ref = statistics.median([r["k"] for r in runs["naive"]]) if "naive" in runs else None
    reads = runs.get("read")

    def load(avg) -> str:
        return ", ".join(f"{v:.1f}" for v in avg)

    print(f"\nPythia-1B-shaped fp16 checkpoint, {len(os.sched_getaffinity(0))} CPU cores, {args.repeat} rounds, "
          f"load average (1, 5, 15 min) before {load(load_before)}, after {load(load_after)}\n")
    print("| route | wall (s) | × read | CPU (s) | import (s) | peak RSS (GiB) | k | k − k_sort |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for route, rs in runs.items():
        k = rs[0].get("k")
        if any(r.get("k") != k for r in rs):
            raise RuntimeError(f"{route}: k differs between rounds: {[r.get('k') for r in rs]}")
        ratios = [r["seconds"] / b["seconds"] for r, b in zip(rs, reads)] if reads else []
        ratio = f"{statistics.median(ratios):.2f}" if ratios else "–"
        diff = "(reference)" if route == "naive" else f"{k - ref:+.2e}" if (k is not None and ref is not None) else "–"
        kstr = f"{k:.12f}" if k is not None else "–"
        wall, cpu, imported = (statistics.median([r[c] for r in rs])
                               for c in ("seconds", "cpu_seconds", "import_seconds"))
        print(f"| {ROUTES[route][0]} | {wall:.2f} | {ratio} | {cpu:.2f} | {imported:.2f} | "
              f"{max(r['peak_rss_gib'] for r in rs):.2f} | {kstr} | {diff} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
