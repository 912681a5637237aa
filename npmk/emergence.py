"""When does a curve change, and does a weight statistic change when a capability emerges?

Everything happens on the log-step axis u = log10(step) (steps ≥ 1): checkpoints are
spaced roughly geometrically early and linearly late, and emergence is usually
described per decade of training.

Why rates, not levels: nearly every weight statistic and every capability is close
to monotone in training step, so any two of them correlate strongly in level for no
reason but shared time.  The analysis therefore compares *when* curves change
(events on the u axis) and *how* their rates of change co-vary.

Smoothing.  A cubic smoothing spline on u (:func:`scipy.interpolate.make_smoothing_spline`),
its penalty λ chosen by generalised cross-validation, so no bandwidth is hand-tuned;
it takes irregular spacing in u as it comes (Savitzky–Golay would need a uniform
grid) and its first and second derivatives are exact derivatives of the fitted
spline rather than differences of noisy points.  Derivatives are per decade of steps.

Events.
* change point of a curve: the u where |dy/du| of the smoothed curve is largest
  (the fastest change per decade; for a sigmoid in u this is its inflection);
* emergence of a capability: the first u where the smoothed curve reaches halfway
  between its initial and final smoothed levels (for a sigmoid in u: its midpoint,
  the same point as the inflection).  A curve whose net gain is under
  ``min_gain_sigmas`` noise levels is reported as not emerged.

Lead–lag = u(change point of the statistic) − u(emergence of the capability), in
decades; negative means the statistic changes first.

Significance.  :func:`lead_lag_test`: the mean |lead–lag| over a set of pairs
(typically one per model size — the cross-size check) against the same mean when
each statistic's change point is replaced by a random one.  Circularly shifting a
rate series on a uniform u grid moves its argmax to a uniformly random grid point,
so the null draws change points uniformly over each pair's analysed u range.
:func:`rate_correlation`: Pearson r between the two smoothed rates on a common u
grid, with a circular-shift null on one of them (which keeps each series'
autocorrelation, unlike shuffling points).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.interpolate import make_smoothing_spline

__all__ = ["Smoothed", "Event", "LeadLagTest", "RateCorrelation", "log_steps", "smooth",
           "noise_level", "change_point", "emergence", "lead_lag_test", "rate_correlation",
           "LeadLagTables", "lead_lag_table"]

#: points of the uniform u grid derivatives and events are evaluated on
GRID = 400


@dataclass(frozen=True)
class Smoothed:
    """A curve smoothed on the log-step axis.

    u: uniform grid of log10(step) over the data's range; y, dy, d2y: the spline
    and its first and second derivatives with respect to u (per decade) on that grid;
    noise: the curve's noise level (see :func:`noise_level`).
    """

    u: np.ndarray
    y: np.ndarray
    dy: np.ndarray
    d2y: np.ndarray
    noise: float


@dataclass(frozen=True)
class Event:
    """A point on the step axis: step, u = log10(step), rate = dy/du there.

    For :func:`emergence`, ``emerged`` says whether the curve reached its level
    (see there) and ``gain`` is final − initial smoothed level; for a change point
    ``emerged`` is True, ``gain`` is NaN and ``at_edge`` flags a change point on the
    first or last analysed step, where the fastest change may lie beyond the data.
    """

    step: float
    u: float
    rate: float
    emerged: bool = True
    gain: float = float("nan")
    at_edge: bool = False


@dataclass(frozen=True)
class LeadLagTest:
    """Observed mean |lead–lag| (decades) over the pairs, its null distribution and p-value."""

    lags: np.ndarray
    observed: float
    null: np.ndarray
    p_value: float


@dataclass(frozen=True)
class RateCorrelation:
    """Pearson r of two smoothed rates on a common u grid, circular-shift null and p-value."""

    r: float
    null: np.ndarray
    p_value: float
    u: np.ndarray


def log_steps(step) -> np.ndarray:
    """u = log10(step); every step must be ≥ 1 (drop step 0 before calling)."""
    s = np.asarray(step, dtype=np.float64)
    if np.any(~np.isfinite(s)) or np.any(s < 1):
        raise ValueError(f"log_steps: steps must be finite and ≥ 1 (got min {np.nanmin(s)})")
    return np.log10(s)


def noise_level(y: np.ndarray, stderr: np.ndarray | None = None) -> float:
    """Noise of a curve: the larger of the median reported stderr and the Rice estimate.

    Rice (difference-based): σ ≈ MAD(Δy) / (0.6745·√2) over successive points, robust
    to the few large differences where the curve truly changes.
    """
    diffs = np.diff(np.asarray(y, dtype=np.float64))
    rice = float(np.median(np.abs(diffs - np.median(diffs))) / (0.6745 * np.sqrt(2.0)))
    reported = float(np.nanmedian(stderr)) if stderr is not None and np.any(np.isfinite(stderr)) else 0.0
    return max(rice, reported)


def smooth(step, y, *, stderr=None, grid: int = GRID) -> Smoothed:
    """Cubic smoothing spline of y on u = log10(step), penalty by GCV, on a uniform grid.

    Needs at least 5 distinct steps; duplicate steps are averaged.  ``stderr``
    (optional, same length) only feeds the noise level, not the fit weights: the
    harness's stderr is nearly constant along a curve.
    """
    u = log_steps(step)
    y = np.asarray(y, dtype=np.float64)
    if u.shape != y.shape:
        raise ValueError(f"smooth: step and y differ in length ({u.size} vs {y.size})")
    if not np.all(np.isfinite(y)):
        raise ValueError("smooth: y contains NaN or Inf")
    uniq, inv = np.unique(u, return_inverse=True)
    if uniq.size < 5:
        raise ValueError(f"smooth: need at least 5 distinct steps ≥ 1, got {uniq.size}")
    ym = np.bincount(inv, weights=y) / np.bincount(inv)
    spline = make_smoothing_spline(uniq, ym)
    g = np.linspace(uniq[0], uniq[-1], grid)
    return Smoothed(u=g, y=spline(g), dy=spline.derivative(1)(g), d2y=spline.derivative(2)(g),
                    noise=noise_level(ym, stderr))


def change_point(step, y, *, stderr=None) -> Event:
    """The step where the smoothed curve changes fastest per decade (max |dy/du|).

    ``at_edge`` is set when that is the first or last grid point: the curve may still
    be speeding up where the data end, so the event is a bound, not a location.
    """
    s = smooth(step, y, stderr=stderr)
    i = int(np.argmax(np.abs(s.dy)))
    return Event(step=float(10 ** s.u[i]), u=float(s.u[i]), rate=float(s.dy[i]),
                 at_edge=i in (0, s.u.size - 1))


def emergence(step, y, *, stderr=None, direction: int = 1, n_level: int = 3,
              min_gain_sigmas: float = 3.0, level: float | None = None) -> Event:
    """The first step where the smoothed curve reaches halfway from its initial to final level.

    Initial and final levels are the means of the smoothed curve at the first and
    last ``n_level`` data steps.  ``direction`` is +1 when higher is better (accuracy)
    and −1 when lower is better (loss, log-perplexity).  The capability counts as
    emerged when the gain has that sign and |final − initial| > ``min_gain_sigmas`` ×
    noise; the halfway step is reported either way.

    With an absolute ``level`` (e.g. accuracy 0.5) the event is instead the first step
    where the smoothed curve reaches ``level`` in ``direction``, and it counts as
    emerged only if it does (as well as clearing the noise threshold); otherwise the
    last step is reported with ``emerged`` False.
    """
    if direction not in (1, -1):
        raise ValueError(f"emergence: direction must be +1 or -1, got {direction!r}")
    u = np.unique(log_steps(step))
    s = smooth(step, y, stderr=stderr)
    at = np.interp(u, s.u, s.y)
    start, end = at[:n_level].mean(), at[-n_level:].mean()
    gain = float(end - start)
    half = start + 0.5 * gain if level is None else float(level)
    sign = (np.sign(gain) if gain != 0 else 1.0) if level is None else float(direction)
    crossed = np.nonzero(sign * (s.y - half) >= 0)[0]
    i = int(crossed[0]) if crossed.size else s.u.size - 1
    if crossed.size and i > 0:  # linear interpolation between the grid points around the crossing
        y0, y1 = s.y[i - 1], s.y[i]
        frac = (half - y0) / (y1 - y0) if y1 != y0 else 0.0
        u_cross = s.u[i - 1] + frac * (s.u[i] - s.u[i - 1])
    else:
        u_cross = s.u[i]
    emerged = direction * gain > min_gain_sigmas * s.noise and (level is None or crossed.size > 0)
    return Event(step=float(10 ** u_cross), u=float(u_cross), rate=float(np.interp(u_cross, s.u, s.dy)),
                 emerged=bool(emerged), gain=gain)


def lead_lag_test(u_stat, u_cap, lo, hi, *, n_perm: int = 10_000, seed: int = 0) -> LeadLagTest:
    """Is the statistic's change point closer to the capability's emergence than chance?

    Arrays (one entry per pair, e.g. per model size): ``u_stat`` change points,
    ``u_cap`` emergence points, ``lo``/``hi`` the analysed u range of each pair.
    Statistic: mean |u_stat − u_cap|.  Null: u_stat replaced by independent uniform
    draws on [lo, hi] (the circular-shift null of an argmax detector), ``n_perm``
    times with a fixed seed.  p = (1 + #{null ≤ observed}) / (1 + n_perm), one-sided
    (small p: closer than chance).
    """
    u_stat, u_cap, lo, hi = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (u_stat, u_cap, lo, hi))
    if not (u_stat.shape == u_cap.shape == lo.shape == hi.shape):
        raise ValueError("lead_lag_test: u_stat, u_cap, lo, hi must have one entry per pair")
    if np.any(hi <= lo):
        raise ValueError("lead_lag_test: every range needs hi > lo")
    lags = u_stat - u_cap
    observed = float(np.mean(np.abs(lags)))
    rng = np.random.default_rng(seed)
    draws = lo + (hi - lo) * rng.random((n_perm, lags.size))
    null = np.mean(np.abs(draws - u_cap), axis=1)
    p = (1 + int(np.sum(null <= observed))) / (1 + n_perm)
    return LeadLagTest(lags=lags, observed=observed, null=null, p_value=float(p))


def rate_correlation(step_a, a, step_b, b, *, n_perm: int = 2_000, seed: int = 0,
                     min_shift: float = 0.1) -> RateCorrelation:
    """Pearson r of d a/du and d b/du over the u range both curves cover.

    Null: the rate of ``b`` circularly shifted by a random offset of at least
    ``min_shift`` of the grid (so the null never re-uses near-aligned series), with a
    fixed seed.  Two-sided p = (1 + #{|r_null| ≥ |r|}) / (1 + n_perm).
    """
    sa, sb = smooth(step_a, a), smooth(step_b, b)
    lo, hi = max(sa.u[0], sb.u[0]), min(sa.u[-1], sb.u[-1])
    if hi - lo <= 0:
        raise ValueError("rate_correlation: the two curves share no step range")
    u = np.linspace(lo, hi, GRID)
    da, db = np.interp(u, sa.u, sa.dy), np.interp(u, sb.u, sb.dy)
    if np.std(da) == 0 or np.std(db) == 0:
        raise ValueError("rate_correlation: a rate is constant over the shared range")
    r = float(np.corrcoef(da, db)[0, 1])
    rng = np.random.default_rng(seed)
    k0 = max(1, int(min_shift * GRID))
    shifts = rng.integers(k0, GRID - k0 + 1, size=n_perm)
    null = np.array([np.corrcoef(da, np.roll(db, k))[0, 1] for k in shifts])
    p = (1 + int(np.sum(np.abs(null) >= abs(r)))) / (1 + n_perm)
    return RateCorrelation(r=r, null=null, p_value=float(p), u=u)


@dataclass(frozen=True)
class LeadLagTables:
    """detail: one row per (statistic, capability, model); summary: one row per
    (statistic, capability) pooled over the models where the capability emerged."""

    detail: pd.DataFrame
    summary: pd.DataFrame


def lead_lag_table(stats: pd.DataFrame, caps: pd.DataFrame, *, n_perm: int = 10_000,
                   n_perm_rate: int = 500, seed: int = 0) -> LeadLagTables:
    """Every statistic against every capability, per model and pooled across models.

    ``stats``: columns model, statistic, step, value.  ``caps``: columns model,
    capability, step, value, direction (+1 higher is better, −1 lower is better).
    Steps < 1 are dropped (no log).  Per (statistic, capability, model): the
    statistic's change point (cp_at_edge: on the first or last step), the capability's emergence, lag = u_stat − u_cap
    (decades), level_r (Pearson r of the two smoothed *levels* on their shared u
    range — the number the monotone-trend trap inflates), rate_r and rate_p
    (:func:`rate_correlation`).  Summary per (statistic, capability) over the models
    where the capability emerged: n_models, mean_abs_lag and p_lag
    (:func:`lead_lag_test`, the cross-model check), same_sign (every lag has one
    sign), max_abs_lag, median level_r and rate_r.
    """
    stats = stats[stats["step"] >= 1]
    caps = caps[caps["step"] >= 1]
    rows = []
    for (model, statistic), s in stats.groupby(["model", "statistic"], sort=True):
        s = s.sort_values("step")
        cp = change_point(s["step"], s["value"])
        su = smooth(s["step"], s["value"])
        for capability, c in caps[caps["model"] == model].groupby("capability", sort=True):
            c = c.sort_values("step")
            direction = int(c["direction"].iloc[0])
            em = emergence(c["step"], c["value"], stderr=c.get("stderr"), direction=direction)
            cu = smooth(c["step"], c["value"])
            lo, hi = max(su.u[0], cu.u[0]), min(su.u[-1], cu.u[-1])
            grid = np.linspace(lo, hi, GRID)
            level_r = float(np.corrcoef(np.interp(grid, su.u, su.y), np.interp(grid, cu.u, cu.y))[0, 1])
            rc = rate_correlation(s["step"], s["value"], c["step"], c["value"], n_perm=n_perm_rate, seed=seed)
            rows.append({"statistic": statistic, "capability": capability, "model": model,
                         "u_stat": cp.u, "step_stat": cp.step, "cp_at_edge": cp.at_edge,
                         "u_cap": em.u, "step_cap": em.step,
                         "emerged": em.emerged, "lag": cp.u - em.u, "lo": lo, "hi": hi,
                         "level_r": level_r, "rate_r": rc.r, "rate_p": rc.p_value})
    detail = pd.DataFrame(rows)
    summary = []
    for (statistic, capability), g in detail.groupby(["statistic", "capability"], sort=True):
        e = g[g["emerged"]]
        rec = {"statistic": statistic, "capability": capability, "n_models": int(len(e)),
               "mean_abs_lag": np.nan, "max_abs_lag": np.nan, "same_sign": False, "p_lag": np.nan,
               "level_r": float(g["level_r"].median()), "rate_r": float(g["rate_r"].median())}
        if len(e):
            t = lead_lag_test(e["u_stat"], e["u_cap"], e["lo"], e["hi"], n_perm=n_perm, seed=seed)
            rec.update(mean_abs_lag=t.observed, max_abs_lag=float(np.abs(t.lags).max()),
                       same_sign=bool(np.all(t.lags < 0) or np.all(t.lags > 0)), p_lag=t.p_value)
        summary.append(rec)
    return LeadLagTables(detail=detail, summary=pd.DataFrame(summary))
