"""NPM-dk (paper 000): k against log(step), its derivative, and the three phases
formation → anchor → bifurcation, found by one explicit rule.

Smoothing and derivative
    u = log10(step).  At each checkpoint u0, a Gaussian-weighted straight-line
    least-squares fit k ≈ a + b·(u − u0) with weights exp(−(u − u0)²/(2h²)),
    h = ``bandwidth`` in decades, gives the smoothed k (= a) and
    dk/dlog10(step) (= b, units: k per decade of steps).  Local-linear weights
    handle the uneven spacing of checkpoint steps on the log axis and do not
    bias the slope at the ends of the series as a centred difference would.

Phase rule (:func:`detect_phases`)
    Each checkpoint is labelled ``rise`` (b > ε), ``fall`` (b < −ε) or ``flat``
    (|b| ≤ ε), ε = ``eps`` per decade; consecutive equal labels form runs.
    * formation   = the first rise/fall run (k first moves away from its initial value);
    * anchor      = the flat run right after formation; if formation runs straight
      into a run of the opposite sign, the anchor is the turning point itself,
      the step (log-interpolated) where b crosses zero, a zero-length interval;
    * bifurcation = the first rise/fall run after the anchor (k leaves the
      value it held).
    A phase the series does not reach is ``None``.  Steps must be > 0 (step 0
    has no place on a log axis; drop it before calling).

Null model (:func:`null_test`)
    The rule finds three phases in any curve that moves, pauses or turns, and
    moves again, so noise can pass it.  The null model runs the same rule on
    series of the same length and start with no phase structure (the observed
    increments shuffled, or a Gaussian random walk of the same step size) and
    reports how often they pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["npm_dk", "Phase", "Phases", "detect_phases", "PHASE_NAMES", "has_published_order", "anchor_by",
           "NullTest",
           "null_series", "null_test"]

PHASE_NAMES = ("formation", "anchor", "bifurcation")


def _validate(steps, k) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(steps, dtype=float)
    y = np.asarray(k, dtype=float)
    if s.ndim != 1 or s.shape != y.shape:
        raise ValueError(f"steps and k must be 1-D of equal length, got {s.shape} and {y.shape}")
    if len(s) < 3:
        raise ValueError(f"NPM-dk needs at least 3 checkpoints, got {len(s)}")
    if np.any(s <= 0) or not np.all(np.isfinite(s)):
        raise ValueError("steps must be finite and > 0 (drop step 0 before taking log(step))")
    if not np.all(np.isfinite(y)):
        raise ValueError("k contains NaN or inf")
    if np.any(np.diff(s) <= 0):
        raise ValueError("steps must be strictly increasing")
    return s, y


def npm_dk(steps, k, bandwidth: float = 0.25) -> pd.DataFrame:
    """Smoothed k and dk/dlog10(step) at each checkpoint (local-linear, Gaussian kernel).

    Returns columns step, log10_step, k, k_smooth, dk (k per decade).
    """
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be > 0 decades, got {bandwidth}")
    s, y = _validate(steps, k)
    u = np.log10(s)
    k_smooth = np.empty_like(y)
    dk = np.empty_like(y)
    for i, u0 in enumerate(u):
        w = np.exp(-0.5 * ((u - u0) / bandwidth) ** 2)
        du = u - u0
        sw, swx, swxx = w.sum(), (w * du).sum(), (w * du * du).sum()
        swy, swxy = (w * y).sum(), (w * du * y).sum()
        det = sw * swxx - swx * swx
        if det <= 1e-12 * sw * sw:
            raise ValueError(f"bandwidth {bandwidth} too small: no neighbour of step {s[i]:g} within reach")
        dk[i] = (sw * swxy - swx * swy) / det
        k_smooth[i] = (swy - dk[i] * swx) / sw
    return pd.DataFrame({"step": s, "log10_step": u, "k": y, "k_smooth": k_smooth, "dk": dk})


@dataclass(frozen=True)
class Phase:
    """One phase: first and last checkpoint step (equal for the turning-point anchor)."""

    name: str
    start: float
    end: float
    direction: str  #: 'rise', 'fall' or 'flat'
    k_start: float  #: smoothed k at start
    k_end: float  #: smoothed k at end


@dataclass(frozen=True)
class Phases:
    """Result of :func:`detect_phases`: the three phases and the labelled curve."""

    formation: Phase | None
    anchor: Phase | None
    bifurcation: Phase | None
    curve: pd.DataFrame  #: npm_dk output plus a 'label' column
    bandwidth: float
    eps: float

    def table(self) -> pd.DataFrame:
        """One row per phase found: phase, start, end, direction, k_start, k_end."""
        rows = [p.__dict__ for p in (self.formation, self.anchor, self.bifurcation) if p]
        return pd.DataFrame(rows, columns=["name", "start", "end", "direction", "k_start", "k_end"])


def _runs(labels: list[str]) -> list[tuple[str, int, int]]:
    runs: list[tuple[str, int, int]] = []
    for i, lab in enumerate(labels):
        if runs and runs[-1][0] == lab:
            runs[-1] = (lab, runs[-1][1], i)
        else:
            runs.append((lab, i, i))
    return runs


def detect_phases(steps, k, bandwidth: float = 0.25, eps: float = 0.01) -> Phases:
    """Formation, anchor and bifurcation of a k(step) series by the module's rule.

    ``bandwidth`` in decades of step, ``eps`` in k per decade.
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0 (k per decade), got {eps}")
    curve = npm_dk(steps, k, bandwidth)
    b = curve["dk"].to_numpy()
    labels = ["rise" if v > eps else "fall" if v < -eps else "flat" for v in b]
    curve["label"] = labels
    runs = _runs(labels)
    ks = curve["k_smooth"].to_numpy()
    st = curve["step"].to_numpy()
    u = curve["log10_step"].to_numpy()

    def phase(name: str, run: tuple[str, int, int]) -> Phase:
        lab, i, j = run
        return Phase(name, float(st[i]), float(st[j]), lab, float(ks[i]), float(ks[j]))

    moving = [r for r in runs if r[0] != "flat"]
    if not moving:
        return Phases(None, None, None, curve, bandwidth, eps)
    f_idx = runs.index(moving[0])
    formation = phase("formation", runs[f_idx])
    anchor = bifurcation = None
    if f_idx + 1 < len(runs):
        nxt = runs[f_idx + 1]
        if nxt[0] == "flat":
            anchor = phase("anchor", nxt)
            later = [r for r in runs[f_idx + 2:] if r[0] != "flat"]
            bifurcation = phase("bifurcation", later[0]) if later else None
        else:
            # formation turns straight round: the anchor is the zero crossing of dk
            i, j = runs[f_idx][2], nxt[1]
            t = b[i] / (b[i] - b[j])
            u0 = u[i] + t * (u[j] - u[i])
            k0 = ks[i] + t * (ks[j] - ks[i])
            anchor = Phase("anchor", float(10**u0), float(10**u0), "flat", float(k0), float(k0))
            bifurcation = phase("bifurcation", nxt)
    return Phases(formation, anchor, bifurcation, curve, bandwidth, eps)


def has_published_order(ph: Phases) -> bool:
    """True when all three phases were found.  The rule defines them in the order
    formation → anchor → bifurcation, so "in order" adds nothing beyond "found"."""
    return all(p is not None for p in (ph.formation, ph.anchor, ph.bifurcation))


def anchor_by(step: float):
    """A null-test criterion: an anchor was found and it starts at or before ``step``.

    For :func:`null_test`, e.g. ``anchor_by(0.25 * 143_000)`` for "the anchor
    falls in the first quarter of a 143k-step run".
    """

    def criterion(ph: Phases) -> bool:
        return ph.anchor is not None and ph.anchor.start <= step

    return criterion


@dataclass(frozen=True)
class NullTest:
    """How often the phase rule passes ``criterion`` on series with no phase structure.

    observed: whether the real series passes; rate: fraction of the ``n`` null
    series that pass (the chance of a "reproduced" verdict from noise alone);
    method: 'shuffle' (the observed increments in random order) or 'walk'
    (Gaussian increments with the observed increments' standard deviation).
    """

    observed: bool
    rate: float
    n: int
    method: str


def null_series(k, method: str, rng: np.random.Generator) -> np.ndarray:
    """One null series of the same length and start as ``k``.

    'shuffle': k₀ + cumulative sum of the observed increments Δk in a random
    order (same increments, same end point, order destroyed); 'walk': k₀ plus a
    Gaussian random walk whose steps have the standard deviation of Δk (ddof 1).
    """
    y = np.asarray(k, dtype=float)
    inc = np.diff(y)
    if method == "shuffle":
        steps = rng.permutation(inc)
    elif method == "walk":
        steps = rng.normal(0.0, inc.std(ddof=1), size=inc.size)
    else:
        raise ValueError(f"null method must be 'shuffle' or 'walk', got {method!r}")
    return y[0] + np.concatenate([[0.0], np.cumsum(steps)])


def null_test(steps, k, method: str = "shuffle", n: int = 1000, seed: int = 0, bandwidth: float = 0.25,
              eps: float = 0.01, criterion=has_published_order) -> NullTest:
    """Run :func:`detect_phases` on ``n`` null series on the same steps (:func:`null_series`).

    ``criterion`` maps a :class:`Phases` to pass/fail (default: all three phases
    found).  The rate is the fraction of null series that pass; a check whose
    rate is near 1 cannot tell the published phases from noise.
    """
    if n < 1:
        raise ValueError(f"n must be a positive number of null series, got {n}")
    s, y = _validate(steps, k)
    rng = np.random.default_rng(seed)
    hits = sum(bool(criterion(detect_phases(s, null_series(y, method, rng), bandwidth, eps))) for _ in range(n))
    return NullTest(bool(criterion(detect_phases(s, y, bandwidth, eps))), hits / n, n, method)
