"""How far GGUF quantization moves the Weibull fit of a network's skeleton.

For a full-precision checkpoint, each skeleton tensor (:mod:`npmk.skeleton`) is
flattened row-major and cut into chunks of ``CHUNK`` = 256 consecutive values
(the K-quants' super-block; every other GGUF block divides it, so each chunk is
quantized exactly as the same 256 values would be in a file). A uniform sample
of chunks (or all of them) is quantized and dequantized with each type
(:func:`npmk.quantize.roundtrip`), and the probability-plot fit
(:func:`npmk.weibull.fit`, sort-based, exact) of |w| before and after gives,
per population (the pooled skeleton and each component kind),

    dk = k(quantized) - k(reference),   dlam = lam(quantized) / lam(reference) - 1

on the *same* chunks, so the sample's own noise largely cancels in the
difference. Its standard error comes from ``groups`` disjoint random groups of
chunks: se = sd(d_g) / sqrt(groups), with d_g the shift measured on group g.

Exact zeros: symmetric types (Q4_0, Q5_0, Q8_0, Q6_K, MXFP4, TQ*) round every
|w| below half a step to 0, and Q4_0 zeroes ~10% of a Gaussian block, which is
where the 80% body starts. Zeros keep their ranks; when they reach into the body
the fit is left-censored (``zeros="censor"``: the regression starts at the first
positive rank, plotting positions over all n values) and the row says so. The
zero fraction is reported for every row. Ties (a quantized tensor holds few
distinct values per block) take consecutive ranks, as in any sort.

Where a tensor's rows are not a multiple of 256 values (e.g. width 384), the
K-quant chunks here span two rows; llama.cpp would store such a tensor in a
fallback type instead (Q4_K -> Q5_0, Q6_K -> Q8_0), so ``ChunkSample.misaligned``
lists them.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from npmk import skeleton
from npmk.checkpoints import open_checkpoint
from npmk.quantize import TYPES, roundtrip
from npmk.weibull import FitError, fit

__all__ = [
    "CHUNK",
    "SHIFT_COLUMNS",
    "ChunkSample",
    "band_verdict",
    "bias_bands",
    "corrected_interval",
    "direction",
    "lowest_type",
    "resolution",
    "sample_chunks",
    "shift_table",
    "shift_text",
]

CHUNK = 256

SHIFT_COLUMNS = [
    "type", "bits", "population", "cls", "n", "k_ref", "lam_ref", "k", "lam", "dk", "se_dk",
    "dlam", "se_dlam", "zero_frac_ref", "zero_frac", "method", "note",
]


@dataclass
class ChunkSample:
    """Chunks of 256 skeleton values with their component kind.

    chunks: (m, 256) float32; kinds: (m,) kind of each chunk; classes: kind ->
    class; n_skeleton: skeleton values in the checkpoint; n_tail: values left
    out because a tensor's size is not a multiple of 256; misaligned: tensors
    whose rows are not a multiple of 256 values.
    """

    label: str
    family: str
    chunks: np.ndarray
    kinds: np.ndarray
    classes: dict[str, str]
    n_skeleton: int
    n_tail: int
    misaligned: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.chunks.size)


def sample_chunks(source, *, family: str | None = None, n_values: int | None = None, seed: int = 42,
                  label: str | None = None) -> ChunkSample:
    """Skeleton chunks of ``source`` (anything :func:`npmk.checkpoints.open_checkpoint` reads).

    n_values: keep about this many values, n_values // 256 chunks shared
    among the tensors in proportion to their size (stratified, so the mix of
    kinds is the skeleton's) and drawn uniformly without replacement within
    each tensor (seeded); None keeps every chunk. A tied head counts as its own
    tensor, as in :func:`npmk.measure`'s default (``tied="state_dict"``).
    family: skeleton rule table when the source has no config.
    """
    if n_values is not None and (int(n_values) != n_values or n_values < CHUNK):
        raise ValueError(f"n_values must be an integer >= {CHUNK} (one chunk), got {n_values!r}")
    ckpt = open_checkpoint(source)
    if family is None:
        if ckpt.config is None:
            raise ValueError(f"{ckpt.label}: no config to tell the architecture; pass family=")
        family = skeleton.family_of(ckpt.config)
    members = []
    for info in ckpt.infos() + ckpt.alias_infos():
        d = skeleton.classify(info.name, info.shape, family)
        if d.include:
            members.append((info, d))
    if not members:
        raise ValueError(f"{ckpt.label}: no tensor is in the {family} skeleton; nothing to quantize")
    counts = np.array([info.numel // CHUNK for info, _ in members])
    total = int(counts.sum())
    if total == 0:
        raise ValueError(f"{ckpt.label}: no skeleton tensor holds {CHUNK} values")
    take = counts
    if n_values is not None and n_values // CHUNK < total:
        take = np.minimum(counts, np.rint(counts * (int(n_values) // CHUNK) / total).astype(int))
    rng = np.random.default_rng(seed)
    chunks, kinds = [], []
    for (info, d), c, m in zip(members, counts, take):
        if m == 0:
            continue
        sel = np.arange(c) if m == c else np.sort(rng.choice(c, size=m, replace=False))
        flat = ckpt.tensor(info).detach().float().numpy().ravel()
        chunks.append(flat[: c * CHUNK].reshape(-1, CHUNK)[sel])
        kinds.append(np.full(sel.size, d.kind, dtype=object))
    return ChunkSample(
        label=label or ckpt.label,
        family=family,
        chunks=np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32),
        kinds=np.concatenate(kinds),
        classes={d.kind: d.cls for _, d in members},
        n_skeleton=int(sum(info.numel for info, _ in members)),
        n_tail=int(sum(info.numel % CHUNK for info, _ in members)),
        misaligned=[info.name for info, _ in members if info.shape[-1] % CHUNK],
    )


def _fit(mag: np.ndarray, trim: float, name: str):
    """(k, lam, method, note) of the body fit; NaN and the reason when it is refused."""
    try:
        f = fit(mag, trim, name=name, zeros="censor")
        return f.k, f.lam, f.method, ""
    except FitError as exc:
        return math.nan, math.nan, "refused", str(exc)


def shift_table(sample: ChunkSample, types=None, *, trim: float = 0.8, groups: int = 8, seed: int = 42,
                by_kind: bool = True, progress: bool = True) -> pd.DataFrame:
    """One row per (type, population): the shift of (k, lam) by quantization (see the module docstring).

    types: GGUF type names (default every type in :data:`npmk.quantize.TYPES`).
    groups: disjoint chunk groups for the standard errors (0 or 1: none).
    Columns: :data:`SHIFT_COLUMNS`; dlam is relative; zero fractions are of |w| == 0.
    """
    types = list(TYPES) if types is None else list(types)
    unknown = [t for t in types if t not in TYPES]
    if unknown:
        raise ValueError(f"unknown GGUF type(s) {unknown}; choose from {', '.join(TYPES)}")
    if groups < 0 or int(groups) != groups:
        raise ValueError(f"groups must be a non-negative integer, got {groups!r}")
    pops = [("pooled", None, np.ones(len(sample.chunks), dtype=bool))]
    if by_kind:
        pops += [(k, sample.classes[k], sample.kinds == k) for k in dict.fromkeys(sample.kinds)]
    group_of = np.random.default_rng(seed).permutation(len(sample.chunks)) % groups if groups > 1 else None
    # (population, group) -> mask; group None is the whole population
    cells = {}
    for pop, _, mask in pops:
        cells[pop, None] = mask
        for g in range(groups if group_of is not None else 0):
            cells[pop, g] = mask & (group_of == g)
    ref_mag = np.abs(sample.chunks)
    ref = {key: _fit(ref_mag[m], trim, f"{sample.label} {key[0]} [reference]") for key, m in cells.items()}
    rows = []
    for t in tqdm(types, desc=f"quantize {sample.label}", disable=not progress, leave=False, file=sys.stderr):
        q_mag = np.abs(roundtrip(sample.chunks, t, name=f"{sample.label} [{t}]"))
        for pop, cls, mask in pops:
            (k0, l0, _, note0) = ref[pop, None]
            k1, l1, method, note1 = _fit(q_mag[mask], trim, f"{sample.label} {pop} [{t}]")
            se_dk = se_dl = math.nan
            if group_of is not None and math.isfinite(k1):
                d = []
                for g in range(groups):
                    gk0, gl0, _, _ = ref[pop, g]
                    gk1, gl1, _, _ = _fit(q_mag[cells[pop, g]], trim, f"{sample.label} {pop} [{t}] group {g}")
                    d.append((gk1 - gk0, gl1 / gl0 - 1))
                d = np.array(d)
                if np.isfinite(d).all():
                    se_dk, se_dl = (d.std(axis=0, ddof=1) / math.sqrt(groups)).tolist()
            rows.append({
                "type": t, "bits": TYPES[t].bits, "population": pop, "cls": cls, "n": int(mask.sum()) * CHUNK,
                "k_ref": k0, "lam_ref": l0, "k": k1, "lam": l1, "dk": k1 - k0, "se_dk": se_dk,
                "dlam": l1 / l0 - 1, "se_dlam": se_dl,
                "zero_frac_ref": float((ref_mag[mask] == 0).mean()), "zero_frac": float((q_mag[mask] == 0).mean()),
                "method": method, "note": note0 or note1,
            })
    return pd.DataFrame(rows, columns=SHIFT_COLUMNS)


def bias_bands(shifts: pd.DataFrame, population: str = "pooled", z: float = 2.0) -> pd.DataFrame:
    """Per type, the band of k shifts seen over the networks measured: [min(dk - z·se), max(dk + z·se)].

    shifts: :func:`shift_table` rows of several networks, with a ``network``
    column. A refused fit (NaN) makes the type's band NaN: no bound is known.
    Columns: lo, hi, spread = hi - lo, worst = max(|lo|, |hi|), n_networks.
    """
    rows = shifts[shifts["population"] == population]
    se = rows["se_dk"].fillna(0.0)
    out = pd.DataFrame({"type": rows["type"], "lo": rows["dk"] - z * se, "hi": rows["dk"] + z * se,
                        "network": rows["network"]})
    g = out.groupby("type", sort=False)
    band = pd.DataFrame({"lo": g["lo"].agg(lambda v: v.min(skipna=False)),
                         "hi": g["hi"].agg(lambda v: v.max(skipna=False)),
                         "n_networks": g["network"].nunique()})
    band["spread"] = band["hi"] - band["lo"]
    band["worst"] = np.maximum(band["lo"].abs(), band["hi"].abs())
    return band


def resolution(band: pd.DataFrame, width: float) -> pd.Series:
    """Whether a type's bias band lets a reading resolve a k band of ``width`` (the NPM-K band: 0.06).

    "as is": every shift is within width/4 of zero, so the quantized k can be
    read directly; "after correction": the shifts vary by at most width/4
    between networks, so subtracting the band recovers k to that precision;
    "no": the shift is larger and varies more; "unknown": some fit was refused.
    """
    tol = width / 4
    return pd.Series(np.select(
        [band["worst"].isna(), band["worst"] <= tol, band["spread"] <= tol],
        ["unknown", "as is", "after correction"], "no"), index=band.index, name="resolves")


def lowest_type(band: pd.DataFrame, levels: set[str]) -> str | None:
    """The type with the fewest bits per weight whose ``resolves`` (:func:`resolution`) is in ``levels``.

    ``band``: :func:`bias_bands` rows (indexed by type) with a ``resolves``
    column; None when no type qualifies.
    """
    ok = list(band.index[band["resolves"].isin(levels)])
    return min(ok, key=lambda t: TYPES[t].bits) if ok else None


def direction(dk: pd.Series) -> str:
    """Which way a type moves k over the networks: 'up on every network', 'down on every network',
    'in both directions' (a zero shift counts as neither up nor down), or an em dash for no networks."""
    if not len(dk):
        return "—"
    if (dk > 0).all():
        return "up on every network"
    if (dk < 0).all():
        return "down on every network"
    return "in both directions"


def shift_text(dk: float, se: float, method: str) -> str:
    """A shift as the headline table shows it: '+0.0123 ± 0.0004', with ' *' when the fit was censored.

    A shift below half the last digit with no larger standard error shows as
    '< 0.0001'; a refused fit (NaN) as '— (not fitted)'.
    """
    if not math.isfinite(dk):
        return "— (not fitted)"
    star = " *" if method == "sort-censored" else ""
    if abs(dk) < 5e-5 and not se >= 5e-5:
        return "< 0.0001" + star
    text = f"{round(dk, 4) + 0.0:+.4f}"  # + 0.0: a shift that rounds to zero shows +0, never -0
    return text + (f" ± {se:.4f}" if math.isfinite(se) else "") + star


def corrected_interval(k: float, lo: float, hi: float) -> tuple[float, float]:
    """The unquantized k compatible with a quantized reading ``k`` and a bias band [lo, hi]: [k - hi, k - lo]."""
    return k - hi, k - lo


def band_verdict(interval: tuple[float, float], band: tuple[float, float]) -> str:
    """'inside', 'outside' or 'undecided' (the interval straddles an edge of ``band``)."""
    a, b = interval
    if not (math.isfinite(a) and math.isfinite(b)):
        return "undecided"
    if band[0] <= a and b <= band[1]:
        return "inside"
    if b < band[0] or a > band[1]:
        return "outside"
    return "undecided"
