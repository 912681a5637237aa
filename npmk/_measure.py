"""``npmk.measure``: Weibull (k, lambda) of a checkpoint's skeleton: pooled, per kind, class, block or tensor.

Tensors are read in pieces and reduced to per-value counts (:mod:`npmk.counts`)
on as many threads as torch may use cores (``torch.get_num_threads()``); torch's
kernels release the GIL, so reading one tensor overlaps with counting another.
The largest tensors go first, so that no core idles at the end, and each is
pooled as it finishes (pooling is order-independent). The fit of the pooled
counts equals the sort-based fit of all skeleton magnitudes concatenated
(exactly for fp16/bf16, to ~1e-8 in k for fp32). Which tensors are in the
skeleton and what kind each is comes from :mod:`npmk.skeleton`.

Columns of the result (one row per population):
    name      tensor name, kind, class, "<class>/L<block>" ("<class>/outside" for a class's
              matrices outside the blocks), or "pooled"
    kind, cls component kind and class (kind None for pooled, class and block rows; cls None
              for the pooled row)
    layer     block index of a tensor or block row (None elsewhere and outside the blocks)
    k, lam    Weibull shape and scale (lam in weight units) of the body fit
    r2, ks    fit quality: R^2 of the probability plot, max CDF gap over the body
    n         number of magnitudes; n_body: those in the fitted body
    rms       sqrt(mean w^2); max_abs: max |w|
    q10, q50, q90, q99    quantiles of |w| (numpy 'linear')
    q90_q10, q99_q50      tail ratios
    trim, method, dtype, n_tensors, family, source, subsample, seed
    quantized the storage types of quantized members (e.g. "Q4_K,Q6_K"), whose values
              were dequantized to float32 (``dtype``) before counting; None if none
    error     why the fit was refused (only with a sequence of trims), else None
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from npmk import skeleton
from npmk.checkpoints import Checkpoint, TensorInfo, open_checkpoint
from npmk.counts import UnsupportedDtypeError, ValueCounts, check_dtype
from npmk.weibull import FitError, body_bounds

__all__ = ["measure", "cli", "MeasureError", "COLUMNS", "TIED"]

BY = ("pooled", "kind", "tensor", "class", "layer")
TIED = ("state_dict", "once")
_QUANTILES = (0.10, 0.50, 0.90, 0.99)
#: Tensors in flight beyond one per thread (bounds memory: each holds a read buffer and,
#: once done, its counts until pooled).
_AHEAD = 2

COLUMNS = [
    "name", "kind", "cls", "layer", "k", "lam", "r2", "ks", "n", "n_body", "rms", "max_abs",
    "q10", "q50", "q90", "q99", "q90_q10", "q99_q50", "trim", "method", "dtype",
    "n_tensors", "family", "source", "subsample", "seed", "quantized", "error",
]


class MeasureError(ValueError):
    """The request cannot be measured (no skeleton tensor, unknown family...)."""


@dataclass
class _Population:
    name: str
    kind: str | None
    cls: str | None
    members: list[TensorInfo]
    layer: int | None = None
    counts: ValueCounts | None = None
    sample_idx: np.ndarray | None = None  # sorted positions to keep, when subsampling


def _resolve_family(ckpt: Checkpoint, family: str | None) -> str:
    if family is not None:
        return skeleton.table(family).family
    if ckpt.config is None:
        raise MeasureError(
            f"{ckpt.label}: no config.json to tell the architecture; pass family= "
            f"(one of {', '.join(sorted(skeleton.FAMILIES))})"
        )
    try:
        return skeleton.family_of(ckpt.config)
    except skeleton.UnknownArchitectureError as exc:
        raise skeleton.UnknownArchitectureError(f"{ckpt.label}: {exc}; pass family= to choose a rule table") from None


def _populations(ckpt: Checkpoint, fam: str, by: str, tied: str = "state_dict") -> list[_Population]:
    eligible: list[tuple[TensorInfo, skeleton.Decision]] = []
    for info in ckpt.infos() + (ckpt.alias_infos() if tied == "state_dict" else []):
        d = skeleton.classify(info.name, info.shape, fam)
        if d.include:
            eligible.append((info, d))
    flagged = [i.name for i, d in eligible if d.flagged]
    if flagged:
        warnings.warn(
            f"{ckpt.label}: {len(flagged)} tensor(s) that no {fam} rule recognises are included by the generic "
            f"rule with kind 'unknown' (see npmk.skeleton.audit): {', '.join(flagged[:5])}"
            + (" ..." if len(flagged) > 5 else ""),
            stacklevel=3,
        )
    if not eligible:
        raise MeasureError(f"{ckpt.label}: no tensor is in the {fam} skeleton (>= 2-D *.weight); nothing to measure")
    for info, _ in eligible:  # before any data is read
        check_dtype(info.dtype, f"tensor {info.name!r} ({info.file or ckpt.label})")
    if by == "pooled":
        return [_Population("pooled", None, None, [i for i, _ in eligible])]
    if by == "tensor":
        return [_Population(i.name, d.kind, d.cls, [i], d.layer) for i, d in eligible]
    groups: dict[tuple, _Population] = {}  # in order of first appearance
    for info, d in eligible:
        if by == "kind":
            key, pop = d.kind, _Population(d.kind, d.kind, d.cls, [])
        elif by == "class":
            key, pop = d.cls, _Population(d.cls, None, d.cls, [])
        else:  # layer: one population per (class, block)
            label = f"{d.cls}/outside" if d.layer is None else f"{d.cls}/L{d.layer}"
            key, pop = (d.cls, d.layer), _Population(label, None, d.cls, [], d.layer)
        groups.setdefault(key, pop).members.append(info)
    return list(groups.values())


def _count(ckpt: Checkpoint, info: TensorInfo, keep: np.ndarray | None) -> ValueCounts:
    """Counts of one tensor, or of the elements at sorted flat positions ``keep``.

    The whole tensor is counted either way, so a NaN/Inf or a constant tensor is
    reported even when a subsample would miss it.
    """
    picked: list[torch.Tensor] = []

    def chunks():
        start = 0
        for chunk in ckpt.chunks(info):
            if keep is not None:
                lo, hi = np.searchsorted(keep, [start, start + chunk.numel()])
                if hi > lo:  # indexing copies, so the reused read buffer may be overwritten
                    picked.append(chunk[torch.from_numpy(keep[lo:hi] - start)])
                start += chunk.numel()
            yield chunk

    dtype = getattr(torch, info.dtype)
    vc = ValueCounts.of_chunks(chunks(), dtype, info.name)
    values = vc.table()[0]
    if values.size == 1:  # all-zero or constant: an init or export bug, never a weight distribution
        raise FitError(f"tensor {info.name!r}: all {info.numel} magnitudes equal {values[0]:g}; "
                       "a constant tensor has no Weibull shape")
    if keep is None:
        return vc
    return ValueCounts.of(torch.cat(picked) if picked else torch.empty(0, dtype=dtype), info.name)


def measure(
    source,
    *,
    revision: str | None = None,
    trim: float | Sequence[float] = 0.8,
    by: str = "pooled",
    family: str | None = None,
    subsample: int | None = None,
    seed: int = 42,
    tied: str = "state_dict",
    progress: bool = True,
) -> pd.DataFrame:
    """Weibull fits of a checkpoint's skeleton (see the module docstring for columns).

    source: Hub id (with ``revision``), local directory, .safetensors file(s),
    .bin, GGUF file, CTranslate2 model.bin, ``real:NAME`` (:mod:`npmk.realnets`),
    nn.Module or state dict. trim: body fraction (0.8 = middle 80%); a sequence of
    fractions gives one block of rows per trim, in that order, from one reading; then
    a fit the engine refuses (e.g. exact zeros inside a 100% body) is a row with NaN
    fit columns and the reason in ``error`` rather than an exception.
    by: "pooled" (one row), "kind" (one row per component kind), "class" (one per
    component class), "layer" (one per class and block: the class's matrices in that
    block pooled) or "tensor".
    family: skeleton rule table (transformers model_type) when the source has
    no config or an unrecognised one. subsample: draw this many magnitudes
    uniformly without replacement from each population (NPM-K used 10M, seed
    42) instead of using all of them; recorded in the result.
    tied: how a tied output head (one matrix under two names, e.g. ``lm_head``
    sharing the token embedding) is counted.  "state_dict" (default, NPM-K's
    counting: its code iterates ``model.state_dict()``, which lists the matrix
    under both names, so the pooled fit holds its values twice and by="tensor"
    has a row for each name); "once" counts it once, as ``save_pretrained``
    stores it.  For a file source the alias is known from the config
    (``tie_word_embeddings: true`` on a causal LM whose files hold no
    ``lm_head.weight``).

    Examples
    --------
    A randomly initialised Pythia-style model sits on the half-normal anchor:

    >>> from npmk import measure, zoo
    >>> model = zoo.build("gpt_neox", size="tiny", seed=0)
    >>> row = measure(model, progress=False).iloc[0]
    >>> row["family"], bool(abs(row["k"] - 1.2054) < 0.02)
    ('gpt_neox', True)
    """
    if by not in BY:
        raise ValueError(f"by must be one of {BY}, got {by!r}")
    if tied not in TIED:
        raise ValueError(f"tied must be one of {TIED}, got {tied!r}")
    if subsample is not None and (int(subsample) != subsample or subsample < 1):
        raise ValueError(f"subsample must be a positive integer, got {subsample!r}")
    trims = [trim] if isinstance(trim, (int, float)) else list(trim)
    for t in trims:
        body_bounds(t)  # a bad trim fails now, not after reading the whole checkpoint
    ckpt = open_checkpoint(source, revision)
    fam = _resolve_family(ckpt, family)
    pops = _populations(ckpt, fam, by, tied)

    owner: dict[str, tuple[_Population, int]] = {}  # tensor -> (population, its offset in it)
    for pop in pops:
        offset = 0
        for info in pop.members:
            owner[info.name] = (pop, offset)
            offset += info.numel
        if subsample is not None and subsample < offset:
            rng = np.random.default_rng(seed)
            pop.sample_idx = np.sort(rng.choice(offset, size=int(subsample), replace=False))
    order = [info for pop in pops for info in pop.members]

    def task(info: TensorInfo) -> ValueCounts:
        pop, offset = owner[info.name]
        keep = None
        if pop.sample_idx is not None:
            lo, hi = np.searchsorted(pop.sample_idx, [offset, offset + info.numel])
            keep = pop.sample_idx[lo:hi] - offset
        return _count(ckpt, info, keep)

    # As many counting threads as torch may use cores (torch.set_num_threads, OMP_NUM_THREADS: 1 in a
    # Dask worker), each running single-threaded torch kernels on its own tensor; torch's intra-op
    # threads on 1M-element pieces would only add synchronisation.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _count_all(order, owner, task, threads, progress)
    finally:
        torch.set_num_threads(threads)
    rows = [_row(pop, t, fam, ckpt.label, subsample, seed, keep_going=not isinstance(trim, (int, float)))
            for t in trims for pop in pops]
    return pd.DataFrame(rows, columns=COLUMNS)


def _count_all(order: list[TensorInfo], owner, task, workers: int, progress: bool) -> None:
    """Count every tensor on ``workers`` threads and pool each into its population as it finishes.

    Largest tensors go first (longest-processing-time order), so the last, small
    tensors fill both cores at the end instead of one embedding matrix running alone.
    """
    queue = sorted(order, key=lambda info: -info.numel)  # stable: storage order among equals
    with tqdm(total=sum(i.numel for i in order), unit="w", unit_scale=True, desc="npmk measure",
              file=sys.stderr, disable=not progress, leave=False) as bar, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        running: dict = {}
        for info in queue:
            if len(running) >= workers + _AHEAD:
                _pool_done(running, owner, bar)
            running[pool.submit(task, info)] = info
        while running:
            _pool_done(running, owner, bar)


def _pool_done(running: dict, owner, bar) -> None:
    """Wait for at least one running count and pool every finished one into its population."""
    done, _ = wait(running, return_when=FIRST_COMPLETED)
    for future in done:
        info = running.pop(future)
        vc = future.result()
        pop = owner[info.name][0]
        if pop.counts is None:
            pop.counts = vc
        else:
            pop.counts.update(vc)
        bar.update(info.numel)


def _row(pop: _Population, trim: float, fam: str, label: str, subsample: int | None, seed: int,
         keep_going: bool = False) -> dict:
    vc = pop.counts
    try:
        f = vc.fit(trim, name=pop.name)
        fitted, error = {"k": f.k, "lam": f.lam, "r2": f.r2, "ks": f.ks, "n": f.n, "n_body": f.n_body}, None
    except FitError as exc:
        if not keep_going:
            raise
        fitted = {"k": math.nan, "lam": math.nan, "r2": math.nan, "ks": math.nan, "n": vc.n, "n_body": 0}
        error = str(exc)
    q10, q50, q90, q99 = vc.quantiles(_QUANTILES)
    return {
        "name": pop.name, "kind": pop.kind, "cls": pop.cls, "layer": pop.layer, **fitted,
        "rms": vc.rms(), "max_abs": vc.max_abs(),
        "q10": q10, "q50": q50, "q90": q90, "q99": q99,
        "q90_q10": q90 / q10 if q10 > 0 else math.inf, "q99_q50": q99 / q50 if q50 > 0 else math.inf,
        "trim": trim, "method": vc.method, "dtype": ",".join(vc.dtypes), "n_tensors": len(pop.members),
        "family": fam, "source": label,
        "subsample": subsample if pop.sample_idx is not None else None,
        "seed": seed if pop.sample_idx is not None else None,
        "quantized": ",".join(sorted({i.quant for i in pop.members if i.quant})) or None,
        "error": error,
    }


# --- command line --------------------------------------------------------------------------

# Every npmk input error (SourceError, FitError, MeasureError, UnknownArchitectureError, a bad
# trim) is a ValueError; an unsupported dtype is a TypeError.
_ERRORS = (ValueError, UnsupportedDtypeError)


def _records(df: pd.DataFrame) -> list[dict]:
    out = []
    for rec in df.rename(columns={"lam": "lambda"}).to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in rec.items()})
    return out


def cli(argv: list[str]) -> int:
    """``npmk measure SOURCE... [--revision R] [--trim 0.8] [--by pooled|kind|tensor] [--format table|csv|json]``."""
    parser = argparse.ArgumentParser(
        prog="npmk measure",
        description="Weibull shape k and scale lambda of the body of |W| over a checkpoint's skeleton\n"
        "(every >= 2-D *.weight: attention, MLP, embeddings, head) by the probability-plot fit;\n"
        "exact for fp16/bf16 checkpoints. Tensors are read one at a time.",
        epilog="examples:\n"
        "  npmk measure path/to/model_dir\n"
        "  npmk measure path/to/model_dir --by kind --format json\n"
        "  npmk measure shard-00001.safetensors shard-00002.safetensors --by tensor --format csv\n"
        "  npmk measure EleutherAI/pythia-70m --revision step3000   (needs the Hub or its local cache)\n"
        "  npmk measure model.Q4_K_M.gguf --by kind     (quantized tensors are dequantized to float32)\n"
        "  npmk measure faster-whisper-base/             (CTranslate2 model.bin)\n"
        "  npmk measure real:all-mpnet-base-v2           (a registered real network; see npmk.realnets)\n\n"
        "Errors (unreadable file, NaN/Inf or constant tensor, unsupported dtype, unknown architecture)\n"
        "print one line on stderr and exit with status 1.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", nargs="+",
                        help="Hub id, local directory (config.json + weights), .safetensors file(s), a .bin, "
                        "a .gguf, a CTranslate2 model.bin, or real:NAME")
    parser.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit); default main")
    parser.add_argument("--trim", type=float, default=0.8,
                        help="body fraction fitted, in (0, 1] (default 0.8 = middle 80%%; 1 = all values)")
    parser.add_argument("--by", choices=BY, default="pooled",
                        help="one row for the whole skeleton (default), one per component kind, one per "
                        "class, one per class and block (layer), or one per tensor")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table",
                        help="table (default); csv with every column; json: an object for --by pooled, "
                        "else a list of objects (lam is spelled lambda)")
    parser.add_argument("--family", default=None,
                        help="skeleton rule table (transformers model_type, e.g. gpt_neox, llama) when "
                        "config.json is missing or names an unknown architecture")
    parser.add_argument("--subsample", type=int, default=None,
                        help="fit this many magnitudes drawn without replacement per row (NPM-K: 10000000); "
                        "default: all values")
    parser.add_argument("--seed", type=int, default=42, help="seed of --subsample (default 42)")
    parser.add_argument("--tied", choices=TIED, default="state_dict",
                        help="a tied output head: listed under both names as model.state_dict() does "
                        "(NPM-K's counting, default) or counted once")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    args = parser.parse_args(argv[1:])
    source = args.source[0] if len(args.source) == 1 else args.source
    try:
        df = measure(source, revision=args.revision, trim=args.trim, by=args.by, family=args.family,
                     subsample=args.subsample, seed=args.seed, tied=args.tied, progress=not args.no_progress)
    except _ERRORS as exc:
        print(f"npmk measure: error: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        records = _records(df)
        print(json.dumps(records[0] if args.by == "pooled" else records, indent=2))
    elif args.format == "csv":
        print(df.to_csv(index=False), end="")
    else:
        cols = ["name", "kind", "cls", "k", "lam", "r2", "n", "rms", "max_abs", "q90_q10", "q99_q50"]
        if args.by == "kind":  # a kind's row is named by its kind: one column says it
            cols.remove("name")
        elif args.by == "pooled":
            cols = ["name", "k", "lam", "r2", "ks", "n", "rms", "max_abs", "q90_q10", "q99_q50", "method"]
        if df["quantized"].notna().any():
            cols.append("quantized")
        print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    return 0
