"""Fits and spectra of the registered real networks, computed once and kept on disk.

Three chapters read the same networks (pooled, per kind, per tensor, at three
trims); reading and dequantizing a 0.5B-parameter GGUF takes minutes on two
cores. The fits are :mod:`npmk.sweep` tasks (one per network and ``by``, all its
trims from one reading) run on the process's shared Dask cluster, and their
Parquet dataset under ``$NPMK_CACHE/real/sweep/<name>/<key>/`` is the cache: a
later call, in this process or another, reads the finished tasks back. The key
is made of the weights' sha256 and a hash of the code of every npmk module that
shapes the numbers (:func:`npmk._codehash.code_hash`; docstrings and comments
left out), so a code change or another weights file never reuses a stale
result, while a documentation edit keeps it. The spectra are cached as CSV in
``$NPMK_CACHE/real/fits/<name>/`` under the same key. Files are written atomically.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from npmk import realnets
from npmk._codehash import code_hash
from npmk.data import cache_dir

__all__ = ["fits", "spectra_of", "result_key"]


def result_key(name: str) -> str:
    """16 hex digits identifying (weights file, npmk code) for network ``name``."""
    return hashlib.sha256((realnets.get(name).sha256 + code_hash()).encode()).hexdigest()[:16]


def _cached(name: str, what: str, compute) -> pd.DataFrame:
    from npmk._files import write_atomic

    path = cache_dir() / "real" / "fits" / name / f"{what}-{result_key(name)}.csv"
    if path.is_file():
        return pd.read_csv(path)
    df = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, df.to_csv(index=False).encode())
    return df


def sweep_dir(name: str) -> Path:
    """The Parquet dataset of network ``name``'s fits: one file per (by, trims) task."""
    return cache_dir() / "real" / "sweep" / name / result_key(name)


def fits(name: str, by: str = "pooled", trims: Sequence[float] = (0.8,)) -> pd.DataFrame:
    """``measure("real:<name>", by=by, trim=trims)``, as a cached sweep task (see the module docstring).

    One block of rows per trim (column ``trim``), in the columns of :func:`npmk.measure`;
    a fit the engine refuses is a row with NaN fit columns and the reason in ``error``.
    """
    from npmk import sweep

    realnets.weights_path(name)  # fetched and checked here: a missing network raises RealNetMissing in this process
    spec = sweep.Spec(pairs=((f"real:{name}", None),), by=(by,), trim=tuple(float(t) for t in trims))
    return sweep.measure_frame(sweep.cached(spec, sweep_dir(name)))


def spectra_of(name: str, *, kinds: Sequence[str] | None = None) -> pd.DataFrame:
    """Spectral statistics (:func:`npmk.spectra.spectra`, float32 singular values) of every 2-D
    block matrix in the network's skeleton: embeddings and heads are left out (their
    vocabulary-sized dimension dominates the cost and they are no block's map), and
    ``kinds``, when given, narrows the set further. Quantized matrices are dequantized
    first. The per-matrix table the sweep's ``spectral`` medians come from
    (:func:`npmk.sweep.matrix_spectra`), computed in this process and cached as CSV.
    """
    import torch

    from npmk import skeleton
    from npmk.checkpoints import open_checkpoint
    from npmk.sweep import matrix_spectra

    blocks = set(kinds or skeleton.KINDS) - {"embed", "head"}

    def compute() -> pd.DataFrame:
        return matrix_spectra(open_checkpoint(f"real:{name}"), realnets.get(name).skeleton, kinds=blocks,
                              dtype=torch.float32)

    tag = "spectra" + ("" if kinds is None else "-" + "-".join(sorted(kinds)))
    return _cached(name, tag, compute)
