"""DATABASE_v9_1 (paper 001): the 12-entry table of per-kind Weibull fits, and the
one diagnostic scheme npmk applies to it and to our own models alike.

The table is read from the data registry (``npmk.data.fetch``), never from the
reference library's hand-typed dictionary, whose ranges and T/τ values disagree
with the CSV (e.g. Pythia-160M T/τ 1.0 there, 0.858 in the CSV).

Definitions (each reproduces the published figure from the CSV; see the tests):

* **per-kind k, λ** of an entry: the CSV's ``k_median_<kind>`` / ``lambda_median_<kind>``,
  the median over blocks of the middle-80% probability-plot fit of each matrix.
* **FFN band**: per entry, the median k over the FFN kinds it has
  (``ffn_in, ffn_out`` for GeLU Pythia; ``gate, up, down`` for SwiGLU); the band is
  [min, max] of those 12 medians and its CV is their sample standard deviation
  (ddof = 1) over their mean.  W_o and W_v are not in the band (paper 001 §3).
* **λ scaling**: within the Pythia family (``family == "Pythia"``, 5 entries),
  y = mean of λ over the three Transmission kinds ``o, ffn_in, ffn_out``,
  x = √(η_peak / λ_wd); Pearson r of (x, y) and the least-squares slope through
  the origin, Σxy / Σx².
* **τ = 1 / (η · λ_wd)** in optimizer steps (η the peak learning rate, λ_wd the
  decoupled weight decay); T/τ with T the number of training steps.
* **saturation state** from T/τ alone, with the thresholds published in
  DATABASE_v9_1.md (:func:`saturation_state`).
* **Selection k-drift** = k₀ − k_Selection, with k₀ the half-normal anchor
  (:func:`npmk.weibull.halfnormal_anchor`) and k_Selection the median k over the
  Selection kinds present (q, k or merged qkv); severity by :func:`drift_severity`
  (the book's own labels, not published).
* **nearest entry**: :func:`nearest` (more shared kinds first, then the
  root-mean-square k difference over every kind both sides have).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from npmk import data, skeleton

__all__ = [
    "DATABASE_KEY", "DATABASE_DOC_KEY", "DB_KINDS", "FFN_KINDS", "TRANSMISSION_KINDS", "SELECTION_KINDS",
    "SATURATION_THRESHOLDS", "DRIFT_THRESHOLDS",
    "load", "per_kind", "ffn_band", "FFNBand", "lambda_scaling", "LambdaScaling",
    "tau", "t_over_tau", "saturation_state", "drift_severity", "attention_of_entry",
    "Diagnosis", "diagnose", "diagnose_entries", "kind_medians", "nearest",
    "PUBLISHED_DIR", "published_table",
]

DATABASE_KEY = "NPM-Weibull-public/database_v9_1/DATABASE_v9_1.csv"
#: the project's typed-in tables of published figures (``data/published/``)
PUBLISHED_DIR = Path(__file__).resolve().parents[1] / "data" / "published"

#: every component kind the DATABASE CSV has a column for (skeleton.KINDS names every kind npmk knows)
DB_KINDS = ("qkv", "q", "k", "v", "o", "ffn_in", "ffn_out", "gate", "up", "down")
FFN_KINDS = ("ffn_in", "ffn_out", "gate", "up", "down")
#: class membership is the skeleton's (npmk.skeleton.TRANSMISSION / SELECTION)
TRANSMISSION_KINDS = tuple(k for k in skeleton.KINDS if k in skeleton.TRANSMISSION)
SELECTION_KINDS = tuple(k for k in skeleton.KINDS if k in skeleton.SELECTION)

#: key of the DATABASE's description, which states the Physical State thresholds
DATABASE_DOC_KEY = "NPM-Weibull-public/database_v9_1/DATABASE_v9_1.md"

#: lower T/τ edge of each state, highest first, as published in DATABASE_v9_1.md
#: ("Physical State thresholds", after the Wang–Aitchison 2024 cycle ratio; Ding
#: 2026, NPM-Weibull-public database_v9_1): Saturated T/τ ≥ 1.20, Near-saturated
#: [0.80, 1.20), Approaching [0.40, 0.80), Partial [0.25, 0.40), Transition below 0.25.
SATURATION_THRESHOLDS = (("Saturated", 1.20), ("Near-saturated", 0.80), ("Approaching", 0.40), ("Partial", 0.25))

#: lower drift edge (k₀ − k_Selection) of each severity, highest first: ≥ 0.20
#: deep, [0.10, 0.20) moderate, [0.03, 0.10) mild, below 0.03 none.  These edges
#: are this book's own labels, not published ones: they were placed between the
#: DATABASE's OLMo (separate Q/K), merged-qkv Pythia and GQA entries, so on those
#: entries they describe the data rather than test it.
DRIFT_THRESHOLDS = (("deep", 0.20), ("moderate", 0.10), ("mild", 0.03))


def published_table(name: str) -> pd.DataFrame:
    """A typed-in table of published figures, ``data/published/<name>`` ('#' lines are its citation)."""
    path = PUBLISHED_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no published table {path} (the repository's data/published/)")
    return pd.read_csv(path, comment="#")


def load(path: str | Path | None = None) -> pd.DataFrame:
    """DATABASE_v9_1 as a DataFrame indexed by ``entry_id`` (12 rows).

    ``path`` defaults to the registry file (set ``NPMK_MIRROR`` offline).  Adds
    ``attention`` (MHA / GQA / MQA, parsed from the published ``arch``),
    ``merged_qkv`` (bool) and ``tau`` (recomputed from η and λ_wd).
    """
    src = Path(path) if path is not None else data.fetch(DATABASE_KEY)
    db = pd.read_csv(src).set_index("entry_id")
    missing = [f"k_median_{kind}" for kind in DB_KINDS if f"k_median_{kind}" not in db.columns]
    if missing:
        raise ValueError(f"{src} is not a DATABASE_v9_1 table: no columns {missing}")
    db["attention"] = [attention_of_entry(a) for a in db["arch"]]
    db["merged_qkv"] = db["arch"].str.endswith("merged")
    db["tau"] = tau(db["eta_peak"], db["lambda_wd"])
    return db


def attention_of_entry(arch: str) -> str:
    """MHA / GQA / MQA from a DATABASE_v9_1 ``arch`` label ('MHA-merged', 'GQA-4:1', ...)."""
    m = re.fullmatch(r"(MHA|GQA|MQA)(?:-.*)?", str(arch))
    if m is None:
        raise ValueError(f"unrecognised DATABASE_v9_1 arch label {arch!r}")
    return m.group(1)


def per_kind(db: pd.DataFrame) -> pd.DataFrame:
    """Long table (entry_id, kind, cls, k, lam) of every kind an entry has."""
    rows = []
    for entry, row in db.iterrows():
        for kind in DB_KINDS:
            k = row[f"k_median_{kind}"]
            if pd.notna(k):
                rows.append({"entry_id": entry, "kind": kind, "cls": skeleton.class_of(kind), "k": float(k),
                             "lam": float(row[f"lambda_median_{kind}"])})
    return pd.DataFrame(rows)


def _kind_values(row: pd.Series, prefix: str, kinds: tuple[str, ...]) -> list[float]:
    return [float(row[f"{prefix}_{kind}"]) for kind in kinds if pd.notna(row[f"{prefix}_{kind}"])]


@dataclass(frozen=True)
class FFNBand:
    """Cross-entry band of the per-entry median FFN k."""

    lo: float
    hi: float
    cv: float  #: sample std (ddof=1) / mean, as a fraction (0.0048 = 0.48%)
    n: int
    per_entry: pd.Series  #: entry_id → median FFN k


def ffn_band(db: pd.DataFrame) -> FFNBand:
    """FFN band: per-entry median k over its FFN kinds; [min, max] and CV over entries."""
    med = {}
    for entry, row in db.iterrows():
        ks = _kind_values(row, "k_median", FFN_KINDS)
        if not ks:
            raise ValueError(f"DATABASE entry {entry!r} has no FFN kind")
        med[entry] = float(np.median(ks))
    s = pd.Series(med, name="k_ffn")
    return FFNBand(lo=float(s.min()), hi=float(s.max()), cv=float(s.std(ddof=1) / s.mean()),
                   n=len(s), per_entry=s)


@dataclass(frozen=True)
class LambdaScaling:
    """Terminal Transmission λ against √(η/λ_wd) within one family."""

    r: float  #: Pearson correlation
    slope: float  #: least squares through the origin, Σxy/Σx² (λ per unit √(η/λ_wd))
    n: int
    x: pd.Series  #: √(η_peak/λ_wd)
    y: pd.Series  #: mean λ over o, ffn_in, ffn_out


def lambda_scaling(db: pd.DataFrame, family: str = "Pythia") -> LambdaScaling:
    """λ vs √(η/λ_wd) over the entries of ``family`` (mean λ of o, ffn_in, ffn_out)."""
    sub = db[db["family"] == family]
    if len(sub) < 3:
        raise ValueError(f"family {family!r} has {len(sub)} DATABASE entries; need ≥ 3")
    kinds = ("o", "ffn_in", "ffn_out")
    y = sub[[f"lambda_median_{k}" for k in kinds]]
    if y.isna().any().any():
        raise ValueError(f"family {family!r} lacks λ for one of {kinds}")
    y = y.mean(axis=1).rename("lam_transmission")
    x = np.sqrt(sub["eta_peak"] / sub["lambda_wd"]).rename("sqrt_eta_over_wd")
    r = float(stats.pearsonr(x, y).statistic)
    slope = float((x * y).sum() / (x * x).sum())
    return LambdaScaling(r=r, slope=slope, n=len(sub), x=x, y=y)


def tau(eta: float | pd.Series, weight_decay: float | pd.Series) -> float | pd.Series:
    """τ = 1/(η·λ_wd), the AdamW weight-decay timescale in steps (η: peak learning rate)."""
    return 1.0 / (eta * weight_decay)


def t_over_tau(steps: float, eta: float, weight_decay: float) -> float:
    """Training budget in units of τ: T·η·λ_wd (dimensionless; 0 without weight decay, τ = ∞)."""
    if eta <= 0 or weight_decay < 0 or steps < 0:
        raise ValueError(f"T/τ needs T ≥ 0, η > 0 and λ_wd ≥ 0, got T={steps}, η={eta}, λ_wd={weight_decay}")
    return float(steps) * eta * weight_decay


def saturation_state(ratio: float) -> str:
    """Saturated / Near-saturated / Approaching / Partial / Transition from T/τ
    (the published edges 1.20, 0.80, 0.40, 0.25; :data:`SATURATION_THRESHOLDS`)."""
    if not math.isfinite(ratio) or ratio < 0:
        raise ValueError(f"T/τ must be a finite non-negative number, got {ratio}")
    for name, edge in SATURATION_THRESHOLDS:
        if ratio >= edge:
            return name
    return "Transition"


def drift_severity(drift: float) -> str:
    """deep / moderate / mild / none from the Selection drift k₀ − k_S (the book's own edges 0.20, 0.10, 0.03)."""
    if not math.isfinite(drift):
        return "unknown"
    for name, edge in DRIFT_THRESHOLDS:
        if drift >= edge:
            return name
    return "none"


@lru_cache(maxsize=1)
def _k0() -> float:
    from npmk.weibull import halfnormal_anchor

    return float(halfnormal_anchor(0.8)[0])


@dataclass(frozen=True)
class Diagnosis:
    """The one scheme npmk uses for DATABASE entries and our models alike."""

    k_transmission: float  #: median k over Transmission kinds present (o + FFN)
    k_selection: float  #: median k over Selection kinds present (q, k, qkv); NaN if none
    lam_transmission: float  #: mean λ over Transmission kinds present
    drift: float  #: k₀ − k_selection
    severity: str  #: drift_severity(drift)
    t_over_tau: float  #: NaN when the training budget is unknown
    state: str  #: saturation_state(t_over_tau), or 'unknown'


def diagnose(k_by_kind: Mapping[str, float], lam_by_kind: Mapping[str, float] | None = None, *,
             steps: float | None = None, eta: float | None = None,
             weight_decay: float | None = None) -> Diagnosis:
    """Class medians, Selection drift and saturation state of one model.

    ``k_by_kind`` maps kind → median k over that kind's matrices (kinds of
    class 'other', e.g. embed/head/v, are ignored).  T/τ needs all of ``steps``,
    ``eta`` (peak learning rate) and ``weight_decay``.
    """
    ks = {kd: float(v) for kd, v in k_by_kind.items() if pd.notna(v)}
    kt = [ks[kd] for kd in TRANSMISSION_KINDS if kd in ks]
    kss = [ks[kd] for kd in SELECTION_KINDS if kd in ks]
    if not kt:
        raise ValueError(f"no Transmission kind among {sorted(k_by_kind)}")
    lams = {kd: float(v) for kd, v in (lam_by_kind or {}).items() if pd.notna(v)}
    lt = [lams[kd] for kd in TRANSMISSION_KINDS if kd in lams]
    k_sel = float(np.median(kss)) if kss else math.nan
    drift = _k0() - k_sel
    known = None not in (steps, eta, weight_decay)
    ratio = t_over_tau(steps, eta, weight_decay) if known else math.nan
    return Diagnosis(
        k_transmission=float(np.median(kt)), k_selection=k_sel,
        lam_transmission=float(np.mean(lt)) if lt else math.nan,
        drift=drift, severity=drift_severity(drift), t_over_tau=ratio,
        state=saturation_state(ratio) if known else "unknown",
    )


def diagnose_entries(db: pd.DataFrame) -> pd.DataFrame:
    """:func:`diagnose` applied to every DATABASE entry, with its published state beside."""
    rows = {}
    for entry, row in db.iterrows():
        ks = {kd: row[f"k_median_{kd}"] for kd in DB_KINDS}
        lams = {kd: row[f"lambda_median_{kd}"] for kd in DB_KINDS}
        d = diagnose(ks, lams, steps=row["T_steps"], eta=row["eta_peak"],
                     weight_decay=row["lambda_wd"])
        rows[entry] = {**d.__dict__, "attention": row["attention"],
                       "published_state": row["Physical_State"],
                       "published_t_over_tau": row["T_over_tau"]}
    return pd.DataFrame.from_dict(rows, orient="index")


def kind_medians(per_tensor: pd.DataFrame, value: str = "k") -> dict[str, float]:
    """kind → median of ``value`` over the matrices of that kind (rows of ``measure(by="tensor")``),
    for the Transmission and Selection kinds and v (embed, head, router... are left out)."""
    if "kind" not in per_tensor or value not in per_tensor:
        raise ValueError(f"per-tensor table needs columns 'kind' and {value!r}")
    sub = per_tensor[per_tensor["kind"].isin(TRANSMISSION_KINDS + SELECTION_KINDS + ("v",))]
    return {str(kd): float(v) for kd, v in sub.groupby("kind")[value].median().items()}


def nearest(k_by_kind: Mapping[str, float], db: pd.DataFrame) -> pd.DataFrame:
    """Every DATABASE entry ranked by closeness to a model's per-kind median k.

    For each entry, S = the kinds both sides have (NaN on either side = absent)
    and distance = √( mean over S of (k_model[kind] − k_entry[kind])² ): a kind
    is only ever compared with the same kind, never with a range, another kind,
    or nothing.  Ranking is lexicographic: more shared kinds first (an entry
    that matches on one kind must not beat one that matches on all of the
    model's kinds merely because fewer differences were summed), then smaller
    distance, then ``entry_id`` alphabetically; distances equal after rounding
    to 1e-12 are ties, so the order never depends on the table's row order.
    Entries sharing no kind get distance NaN and rank last.
    Returns columns entry_id, distance, n_shared, shared, rank (1 = nearest).
    """
    mine = {kd: float(v) for kd, v in k_by_kind.items() if kd in DB_KINDS and pd.notna(v)}
    if not mine:
        raise ValueError(f"no DATABASE kind among {sorted(k_by_kind)}; kinds are {DB_KINDS}")
    rows = []
    for entry, row in db.iterrows():
        shared = [kd for kd in DB_KINDS if kd in mine and pd.notna(row[f"k_median_{kd}"])]
        diffs = [mine[kd] - float(row[f"k_median_{kd}"]) for kd in shared]
        dist = math.sqrt(float(np.mean(np.square(diffs)))) if diffs else math.nan
        rows.append({"entry_id": str(entry), "distance": dist, "n_shared": len(shared),
                     "shared": ",".join(shared)})
    out = pd.DataFrame(rows)
    out["_key"] = out["distance"].round(12).fillna(np.inf)
    out = out.sort_values(["n_shared", "_key", "entry_id"], ascending=[False, True, True],
                          kind="mergesort").drop(columns="_key").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out
