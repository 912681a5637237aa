"""Phases of a weight-scale trajectory λ(step) and the AdamW equilibrium they end in.

Paper 003 describes the Weibull scale λ of Transmission matrices as rising
from its initial value, overshooting to a peak, relaxing, and settling on a
floor.  :func:`detect_lambda_phases` turns a sampled trajectory into those phases by
one fixed rule (thresholds are fractions, so the rule is scale-free):

* ``init``  — steps before the *onset*, the first step where λ has covered
  ``onset_frac`` of its rise, λ − λ_0 ≥ onset_frac · (λ_peak − λ_0);
* ``rise``  — onset up to the step before the peak;
* ``peak``  — the step of the largest λ (the sampled maximum, not a fit);
* ``relax`` — after the peak, until the floor starts;
* ``floor`` — the longest final stretch over which λ stays within
  ``floor_tol`` (relative) of its last value, λ ≤ (1 + floor_tol) · λ_end,
  provided it spans at least two snapshots; with fewer, the run stopped
  mid-relaxation, the relaxation runs to the end and there is no floor.

A trajectory *relaxes* only if λ_end is below λ_peak by at least
``relax_min`` (relative); otherwise the peak is terminal (still rising, or a
plateau) and no step is labelled relax or floor.

Equilibrium.  Summed over a set of matrices, Δ‖W‖² ≈ −A + I − D with
alignment A = 2η⟨W, û⟩, injection I = η²‖û‖² and decay D = 2ηλ_wd‖W‖²
(paper 003, §3).  The floor is where the net force vanishes, (−A + I)/D = 1:
alignment plus injection balance decay.  Decay acts on the timescale
τ = 1/(η λ_wd) steps; a run of T steps has seen T/τ = Σ_t η_t λ_wd of it
(schedule-aware), and a floor can only be reached when T/τ is of order one or
more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from npmk.dynamics import class_forces

__all__ = [
    "peak_summary",
    "LAMBDA_PHASES",
    "LambdaPhases",
    "detect_lambda_phases",
    "lambda_phase_table",
    "decay_timescale",
    "decay_horizon",
    "equilibrium_ratio",
    "loglog_slope",
]

LAMBDA_PHASES = ("init", "rise", "peak", "relax", "floor")


@dataclass(frozen=True)
class LambdaPhases:
    """Phases of one trajectory (see module doc for the rule); λ in the units given."""

    steps: np.ndarray
    values: np.ndarray
    labels: np.ndarray  #: one of LAMBDA_PHASES per step
    initial_value: float
    onset_step: int | None  #: None when λ never rises
    peak_step: int
    peak_value: float
    end_value: float
    relaxed: bool  #: λ_end < (1 − relax_min) λ_peak
    floor_step: int | None  #: first step of the floor, None without one
    floor_value: float  #: median λ over the floor (NaN without one)

    @property
    def floor_reached(self) -> bool:
        """Whether the trajectory ends on a floor of ≥ 2 snapshots."""
        return self.floor_step is not None

    @property
    def overshoot(self) -> float:
        """λ_peak / λ_floor (NaN without a floor); 1 means no overshoot."""
        return self.peak_value / self.floor_value


def detect_lambda_phases(
    steps: np.ndarray,
    values: np.ndarray,
    *,
    onset_frac: float = 0.05,
    relax_min: float = 0.02,
    floor_tol: float = 0.02,
) -> LambdaPhases:
    """Split a trajectory λ(step) into init / rise / peak / relax / floor (module doc).

    ``steps`` strictly increasing; ``values`` positive and finite, same length ≥ 3.
    """
    s = np.asarray(steps, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if s.shape != v.shape or s.ndim != 1 or len(s) < 3:
        raise ValueError(f"need ≥ 3 (step, value) pairs of equal length, got {s.shape} and {v.shape}")
    if np.any(np.diff(s) <= 0):
        raise ValueError("steps must be strictly increasing")
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError("trajectory values must be positive and finite")
    for name, frac in (("onset_frac", onset_frac), ("relax_min", relax_min), ("floor_tol", floor_tol)):
        if not 0 < frac < 1:
            raise ValueError(f"{name} must lie in (0, 1), got {frac}")

    p = int(np.argmax(v))
    v0, vp, ve = float(v[0]), float(v[p]), float(v[-1])
    labels = np.full(len(s), "init", dtype=object)
    onset = None
    if vp > v0:
        onset = int(np.argmax(v - v0 >= onset_frac * (vp - v0)))
        labels[onset:p] = "rise"
    labels[p] = "peak"
    relaxed = ve < (1 - relax_min) * vp
    floor_step, floor_value = None, float("nan")
    if relaxed:
        inside = v[p + 1 :] <= (1 + floor_tol) * ve
        # the floor is the final run of in-tolerance points after the peak
        out = np.flatnonzero(~inside)
        first = p + 1 + (out[-1] + 1 if out.size else 0)
        labels[p + 1 :] = "relax"
        if len(s) - first >= 2:
            labels[first:] = "floor"
            floor_step = int(s[first])
            floor_value = float(np.median(v[first:]))
    else:
        labels[p + 1 :] = "peak"  # within relax_min of the peak: a plateau, not a relaxation
    return LambdaPhases(
        steps=s, values=v, labels=labels.astype(str), initial_value=v0,
        onset_step=None if onset is None else int(s[onset]), peak_step=int(s[p]), peak_value=vp,
        end_value=ve, relaxed=bool(relaxed), floor_step=floor_step, floor_value=floor_value,
    )


def lambda_phase_table(traj: pd.DataFrame, by: str | list[str] = "name", **rule: float) -> pd.DataFrame:
    """:func:`detect_lambda_phases` per group of a long table with columns step, lam and ``by``.

    Returns one row per group: onset_step, peak_step, peak_lam, end_lam, relaxed,
    floor_step, floor_lam, floor_reached, overshoot (= peak / floor).
    """
    rows = []
    for key, g in traj.sort_values("step").groupby(by, sort=False):
        ph = detect_lambda_phases(g["step"].to_numpy(), g["lam"].to_numpy(), **rule)
        keys = key if isinstance(key, tuple) else (key,)
        rows.append(
            dict(zip([by] if isinstance(by, str) else by, keys))
            | dict(onset_step=ph.onset_step, peak_step=ph.peak_step, peak_lam=ph.peak_value,
                   init_lam=ph.initial_value, end_lam=ph.end_value, relaxed=ph.relaxed,
                   floor_step=ph.floor_step, floor_lam=ph.floor_value,
                   floor_reached=ph.floor_reached, overshoot=ph.overshoot)
        )
    return pd.DataFrame(rows)


def decay_timescale(lr: float, wd: float) -> float:
    """τ = 1 / (η λ_wd), in optimizer steps: the e-folding time of decoupled weight decay alone."""
    if lr <= 0 or wd <= 0:
        raise ValueError(f"decay timescale needs lr > 0 and wd > 0, got lr={lr}, wd={wd}")
    return 1.0 / (lr * wd)


def decay_horizon(lr_schedule: np.ndarray, wd: float) -> float:
    """T/τ = Σ_t η_t λ_wd over a run's per-step learning rates (the schedule-aware T/τ)."""
    lr_schedule = np.asarray(lr_schedule, dtype=np.float64)
    if lr_schedule.ndim != 1 or np.any(lr_schedule < 0):
        raise ValueError("lr_schedule must be a 1-D array of non-negative learning rates")
    return float(lr_schedule.sum() * wd)


def equilibrium_ratio(align: Any, inject: Any, decay: Any) -> np.ndarray:
    """(−A + I) / D: 1 at the AdamW steady state, > 1 while ‖W‖ grows, < 1 while it shrinks.

    Sign convention of paper 003 (PyTorch): A = 2η⟨W, û⟩ is negative while
    the update pushes the norm up; I and D are non-negative.
    """
    a, i, d = (np.asarray(x, dtype=np.float64) for x in (align, inject, decay))
    if np.any(d <= 0):
        raise ValueError("decay force must be positive (weight decay off?) for the equilibrium ratio")
    return (-a + i) / d


def loglog_slope(x: Any, y: Any) -> float:
    """The exponent a of a power law y ∝ x^a: least-squares slope of ln y on ln x.

    >>> round(loglog_slope([1, 2, 4], [3, 12, 48]), 6)
    2.0
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.size < 2:
        raise ValueError(f"loglog_slope: need two equal-length series of 2+ points, got {x.shape}, {y.shape}")
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("loglog_slope: x and y must be positive (a log-log fit)")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def peak_summary(run, lam: pd.DataFrame, cls: str = "Transmission") -> dict[str, float]:
    """The peak of a lab run's λ(step) and what drove it.

    ``lam`` has columns step and lam (one class's pooled λ per snapshot, e.g.
    from :func:`npmk.snapshots.snapshot_fits`).  Returns peak_lam, peak_step,
    end_lam, relaxed (from :func:`detect_lambda_phases`), mean_minus_align_q1
    (mean −A of the class over the first quarter of the steps, ‖W‖² units per
    step), T_over_tau (:func:`decay_horizon`) and final_val_loss (nats, the
    run's last probe).
    """
    ph = detect_lambda_phases(lam.step.to_numpy(), lam.lam.to_numpy())
    f = class_forces(run.forces, cls)
    early = f[f.step < run.config.steps // 4]
    return {"peak_lam": ph.peak_value, "peak_step": ph.peak_step, "end_lam": ph.end_value, "relaxed": ph.relaxed,
            "mean_minus_align_q1": float(-early["align"].mean()),
            "T_over_tau": decay_horizon(f["lr"].to_numpy(), run.config.wd),
            "final_val_loss": float(run.probes.sort_values("step").val_loss.iloc[-1])}
