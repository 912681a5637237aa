"""Does an event of one curve predict *when* another curve's event happens, across runs?

The rule (stated before looking at results, and the same for every candidate):

    For run i, the candidate's event is u_S(i) = log10(step) of the change point of
    statistic S (:func:`npmk.emergence.change_point`), and the target is u_E(i), the
    emergence of the capability (:func:`npmk.emergence.emergence`).  Leave-one-out:
    the offset b₋ᵢ = median over the other runs j of u_E(j) − u_S(j) is fitted without
    run i, and run i is predicted at û_E(i) = u_S(i) + b₋ᵢ.  Error e_S(i) = |û_E(i) − u_E(i)|
    in decades.

Baselines use no weight statistic:

* ``median``: û_E(i) = median over j ≠ i of u_E(j) — the step count alone;
* any other event series (e.g. the validation loss's own change point) run
  through the same offset rule.

Verdict for a candidate S against baselines B₁…B_q, over n runs and m candidates:

* d_B = mean_i (e_S(i) − e_B(i)) < 0 — S predicts better — with the upper end of a
  paired bootstrap percentile interval (runs resampled with replacement) below 0;
* lead L = mean_i (u_E(i) − u_S(i)) > 0 — S changes *before* the capability — with
  the lower end of the bootstrap interval above 0;
* every interval is at confidence 1 − α/m (Bonferroni over the m candidates tried),
  so the family-wise error of any "predicts" in the table is at most α.
* ``predicts`` = beats every baseline and leads.

The one-sided sign-flip permutation p-value of d_B (H₀: e_S − e_B symmetric about 0)
is reported beside each interval, Bonferroni-adjusted (× m, capped at 1).  When no
permutation reaches the observed mean, p is reported as "< 1/n_perm"
(:func:`p_text`), not as zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Interval", "loo_offset", "loo_median", "bootstrap_mean", "sign_flip_p", "p_text",
           "prediction_table"]


@dataclass(frozen=True)
class Interval:
    """Mean of per-run values with a bootstrap percentile interval at confidence ``level``."""

    mean: float
    lo: float
    hi: float
    level: float


def _arr(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1 or not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: need a 1-D array of finite numbers")
    return a


def loo_offset(u_event, u_target) -> np.ndarray:
    """Leave-one-out prediction û(i) = u_event(i) + median_{j≠i}(u_target(j) − u_event(j))."""
    e, t = _arr(u_event, "u_event"), _arr(u_target, "u_target")
    if e.shape != t.shape or e.size < 3:
        raise ValueError(f"loo_offset: need ≥ 3 runs with one event and one target each, got {e.size}, {t.size}")
    off = t - e
    return np.array([e[i] + np.median(np.delete(off, i)) for i in range(e.size)])


def loo_median(u_target) -> np.ndarray:
    """Leave-one-out prediction û(i) = median_{j≠i} u_target(j): the step count alone."""
    t = _arr(u_target, "u_target")
    if t.size < 3:
        raise ValueError(f"loo_median: need ≥ 3 runs, got {t.size}")
    return np.array([np.median(np.delete(t, i)) for i in range(t.size)])


def bootstrap_mean(x, *, level: float, n_boot: int = 20_000, seed: int = 0) -> Interval:
    """Mean of ``x`` and its bootstrap percentile interval at confidence ``level`` (fixed seed)."""
    x = _arr(x, "x")
    if not 0 < level < 1:
        raise ValueError(f"bootstrap_mean: level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    a = (1 - level) / 2
    lo, hi = np.quantile(means, [a, 1 - a])
    return Interval(mean=float(x.mean()), lo=float(lo), hi=float(hi), level=level)


def sign_flip_p(d, *, n_perm: int = 10_000, seed: int = 0) -> float:
    """One-sided sign-flip test that mean(d) < 0.

    p = (1 + #{random sign patterns s with mean(s·d) ≤ mean(d)}) / (1 + n_perm).
    """
    d = _arr(d, "d")
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(n_perm, d.size))
    return (1 + int(np.sum((signs * d).mean(axis=1) <= d.mean()))) / (1 + n_perm)


def p_text(p: float, n_perm: int, m: int = 1) -> str:
    """A permutation p-value p = (1 + count)/(1 + n_perm) for print, Bonferroni-adjusted by ``m``.

    When no permutation reached the observed value (count 0) the truth is only
    p < 1/n_perm, so that is what is printed ('< 1/10,000', or '< m/10,000' adjusted).
    """
    if not 0 < p <= 1:
        raise ValueError(f"p_text: p must be in (0, 1], got {p}")
    if round(p * (1 + n_perm)) - 1 == 0:
        return f"< {m}/{n_perm:,}"
    return f"{min(1.0, p * m):.3g}"


def prediction_table(events: pd.DataFrame, target: pd.Series, baselines: dict[str, pd.Series], *,
                     alpha: float = 0.05, n_boot: int = 20_000, n_perm: int = 10_000,
                     seed: int = 0) -> pd.DataFrame:
    """The rule of the module docstring for every candidate, one row each.

    ``events``: columns run, candidate, u (the candidate's event in log10 steps);
    ``target``: u_E by run (only runs where the capability emerged); ``baselines``:
    name → event series by run (run through the offset rule), or the string
    ``"median"`` in place of a series for the step-count baseline.  Runs missing
    from a candidate's or baseline's events are an error, not silently dropped.

    Columns: candidate, n, mae (mean error, decades), and per baseline b:
    mae_b, d_b / d_b_lo / d_b_hi (mean error difference and its interval), p_b
    (text, Bonferroni-adjusted) and p_b_adj (the same number, min(1, m·p)); lead / lead_lo /
    lead_hi; beats (every d_b_hi < 0), leads (lead_lo > 0), predicts (both).
    """
    runs = list(target.index)
    u_t = target.to_numpy(dtype=np.float64)
    m = events["candidate"].nunique()
    if m == 0:
        raise ValueError("prediction_table: no candidates")
    level = 1 - alpha / m
    base_err = {}
    for name, ev in baselines.items():
        if isinstance(ev, str) and ev == "median":
            base_err[name] = np.abs(loo_median(u_t) - u_t)
            continue
        missing = [r for r in runs if r not in ev.index]
        if missing:
            raise ValueError(f"prediction_table: baseline {name!r} has no event for runs {missing}")
        base_err[name] = np.abs(loo_offset(ev.loc[runs], u_t) - u_t)
    rows = []
    for cand, g in events.groupby("candidate", sort=False):
        u = g.set_index("run")["u"]
        missing = [r for r in runs if r not in u.index]
        if missing:
            raise ValueError(f"prediction_table: candidate {cand!r} has no event for runs {missing}")
        u_s = u.loc[runs].to_numpy(dtype=np.float64)
        err = np.abs(loo_offset(u_s, u_t) - u_t)
        rec = {"candidate": cand, "n": len(runs), "mae": float(err.mean())}
        beats = True
        for name, be in base_err.items():
            diff = bootstrap_mean(err - be, level=level, n_boot=n_boot, seed=seed)
            p = sign_flip_p(err - be, n_perm=n_perm, seed=seed)
            rec.update({f"mae_{name}": float(be.mean()), f"d_{name}": diff.mean, f"d_{name}_lo": diff.lo,
                        f"d_{name}_hi": diff.hi, f"p_{name}": p_text(p, n_perm, m),
                        f"p_{name}_adj": min(1.0, p * m)})
            beats &= diff.hi < 0
        lead = bootstrap_mean(u_t - u_s, level=level, n_boot=n_boot, seed=seed)
        rec.update(lead=lead.mean, lead_lo=lead.lo, lead_hi=lead.hi, beats=bool(beats),
                   leads=bool(lead.lo > 0), level=level)
        rec["predicts"] = rec["beats"] and rec["leads"]
        rows.append(rec)
    return pd.DataFrame(rows)
