"""Fits and spectra of the registered real networks, computed once and kept on disk.

Three chapters read the same networks (pooled, per kind, per tensor, at three
trims); reading and dequantizing a 0.5B-parameter GGUF takes minutes on two
cores, so each result is stored as CSV under ``$NPMK_CACHE/real/fits/<name>/``
and reused. The file name carries a key made of the weights' sha256 and a
hash of the code of every npmk module that shapes the numbers (readers,
skeleton, counting, fitting, spectra; docstrings and comments left out), so a
code change or another weights file never reuses a stale result, while a
documentation edit keeps it. Files are written atomically.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
from collections.abc import Sequence
from functools import cache

import pandas as pd

from npmk import realnets
from npmk.data import cache_dir

__all__ = ["fits", "spectra_of", "result_key"]

_MODULES = ("npmk.tensorfile", "npmk.checkpoints", "npmk.gguf_checkpoint", "npmk.ctranslate2_checkpoint",
            "npmk.skeleton", "npmk.counts", "npmk.weibull", "npmk._measure", "npmk.spectra")


def _without_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


@cache
def _code_hash() -> str:
    """sha256 of the syntax trees of ``_MODULES`` without docstrings (comments are not in a tree),
    so an edit of documentation or doctests keeps the cached results and a code change drops them."""
    h = hashlib.sha256()
    for mod in _MODULES:
        tree = _without_docstrings(ast.parse(inspect.getsource(importlib.import_module(mod))))
        h.update(ast.dump(tree).encode())
    return h.hexdigest()


def result_key(name: str) -> str:
    """16 hex digits identifying (weights file, npmk code) for network ``name``."""
    return hashlib.sha256((realnets.get(name).sha256 + _code_hash()).encode()).hexdigest()[:16]


def _cached(name: str, what: str, compute) -> pd.DataFrame:
    from npmk._files import write_atomic

    path = cache_dir() / "real" / "fits" / name / f"{what}-{result_key(name)}.csv"
    if path.is_file():
        return pd.read_csv(path)
    df = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, df.to_csv(index=False).encode())
    return df


def fits(name: str, by: str = "pooled", trims: Sequence[float] = (0.8,)) -> pd.DataFrame:
    """``measure("real:<name>", by=by, trim=trims)``, cached (see the module docstring).

    One block of rows per trim (column ``trim``), as :func:`npmk.measure` returns them.
    """
    from npmk._measure import measure

    tag = f"{by}-" + "-".join(f"{t:g}" for t in trims)
    return _cached(name, tag, lambda: measure(f"real:{name}", by=by, trim=list(trims), progress=False))


def spectra_of(name: str, *, kinds: Sequence[str] | None = None) -> pd.DataFrame:
    """Spectral statistics (:func:`npmk.spectra.spectra`, float32 singular values) of every 2-D
    block matrix in the network's skeleton: embeddings and heads are left out (their
    vocabulary-sized dimension dominates the cost and they are no block's map), and
    ``kinds``, when given, narrows the set further. Quantized matrices are dequantized
    first. Read one block at a time, so memory holds one block's matrices.
    """
    import torch

    from npmk import skeleton
    from npmk.checkpoints import open_checkpoint
    from npmk.spectra import spectra

    def compute() -> pd.DataFrame:
        ckpt = open_checkpoint(f"real:{name}")
        fam = realnets.get(name).skeleton
        by_layer: dict[int | None, list] = {}
        for info in ckpt.infos():
            d = skeleton.classify(info.name, info.shape, fam)
            if d.include and len(info.shape) == 2 and d.kind not in ("embed", "head") and (
                    kinds is None or d.kind in kinds):
                by_layer.setdefault(d.layer, []).append(info)
        parts = [spectra({i.name: ckpt.tensor(i) for i in infos}, family=fam, dtype=torch.float32, progress=False)
                 for _, infos in sorted(by_layer.items(), key=lambda kv: -1 if kv[0] is None else kv[0])]
        return pd.concat(parts, ignore_index=True)

    tag = "spectra" + ("" if kinds is None else "-" + "-".join(sorted(kinds)))
    return _cached(name, tag, compute)

