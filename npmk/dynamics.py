"""AdamW weight-scale dynamics (paper 003): force budget, closed loop, RMS/λ bridge, k-lock.

Forces (summed over a set of matrices W, per optimizer step t, PyTorch sign
convention W ← W − η(û + λ_wd W); units of ‖W‖² per step):

    A = 2η_t⟨W, û⟩  (alignment; negative while ‖W‖ grows)
    I = η_t²‖û‖²     (injection)
    D = 2η_t λ_wd ‖W‖²  (decay)
    Δ‖W‖² ≈ −A + I − D,      share_X = |X| / (|A| + I + D).

The *rise phase* is warmup < step ≤ 0.25·T (the paper's "steps ≤ 5,000" of a
20,000-step run with 200 warmup steps); during warmup η ramps from zero and the
shares are dominated by the first noisy updates.

Closed loop (paper 003 §5.1 and App. B): starting from the first logged
‖W‖² = N·RMS², integrate the recurrence by forward Euler on the logged grid,

    ‖W‖²_{i+1} = ‖W‖²_i + (−A_i + I_i − D_i)(s_{i+1} − s_i),

map RMS = √(‖W‖²/N) to λ through a *bridge* factor and compare with the
fitted λ: logRMSE = √mean(ln(λ_pred/λ_obs)²).  The paper's released code uses
the trajectory's mean λ/RMS as the factor and compares at every logged step
(λ_obs interpolated); with it, the shipped real-Pythia ``lambda_pred`` column
is reproduced exactly.  The Weibull closed form 1/√Γ(1 + 2/k) at the locked k
is kept as a variant.  The offset splits into an *integration* part (RMS_pred
against RMS_obs) and a *bridge* part (factor·RMS_obs against λ_obs).

Inputs share one tidy layout (columns ``step, group, align, inject, decay,
rms, lr``): the paper's shipped files (read by :mod:`npmk.dynamics_data`) and the
book's own training runs (``Run.forces``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .dynamics_data import PAPER_FORCE_TABLE
from .forces import shares
from .weibull import rms_over_lambda

__all__ = [
    "with_shares",
    "rise_phase",
    "rise_share_summary",
    "force_table",
    "superweight_effect",
    "integrate_w2",
    "log_rmse",
    "thin_log",
    "force_excess",
    "bridge_factor",
    "ClosedLoop",
    "closed_loop",
    "ErrorSplit",
    "error_split",
    "k_lock",
    "bridge_gap",
    "rms_units",
    "higher_order_share",
    "class_forces",
]


def class_forces(forces: pd.DataFrame, cls: str = "Transmission") -> pd.DataFrame:
    """The rows of a lab run's force log (``run.forces``) for one component class, in step order.

    A lab run logs each class under the group ``"class:<cls>"``; an unknown
    class is refused, naming the classes the log has.
    """
    out = forces[forces["group"] == f"class:{cls}"]
    if out.empty:
        groups = forces["group"].astype(str).unique()
        have = sorted(g.removeprefix("class:") for g in groups if g.startswith("class:"))
        raise ValueError(f"class_forces: no rows for class {cls!r}; the force log has classes {have}")
    return out.sort_values("step")


def with_shares(forces: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``forces`` with share_align, share_inject, share_decay = |X|/(|A|+I+D) (fractions)."""
    out = forces.copy()
    a, i, d = shares(out["align"], out["inject"], out["decay"])
    out["share_align"], out["share_inject"], out["share_decay"] = a, i, d
    return out


def rise_phase(forces: pd.DataFrame, warmup: int, total_steps: int, end_frac: float = 0.25) -> pd.DataFrame:
    """Rows with warmup < step ≤ end_frac·total_steps (the rise phase; see module doc)."""
    end = end_frac * total_steps
    if not warmup < end:
        raise ValueError(f"rise phase is empty: warmup {warmup} ≥ end {end:g} (= {end_frac}·{total_steps})")
    return forces[(forces["step"] > warmup) & (forces["step"] <= end)]


def rise_share_summary(forces: pd.DataFrame, warmup: int, total_steps: int,
                       by: str | list[str] = "run") -> pd.DataFrame:
    """Per ``by``: min, median and max alignment share (fraction) over the rise phase, and rows used."""
    rise = with_shares(rise_phase(forces, warmup, total_steps))
    return (rise.groupby(by, sort=False)["share_align"]
            .agg(share_min="min", share_median="median", share_max="max", n="size").reset_index())


def force_table(forces: pd.DataFrame, steps: Iterable[int] = tuple(PAPER_FORCE_TABLE)) -> pd.DataFrame:
    """The paper's §4.1 table recomputed from one run's Transmission forces: step, rms, shares in %."""
    tr = with_shares(forces[forces["group"] == "class:Transmission"]).set_index("step")
    missing = sorted(set(steps) - set(tr.index))
    if missing:
        raise KeyError(f"force log has no rows at steps {missing}")
    rows = tr.loc[list(steps)]
    return pd.DataFrame({
        "step": rows.index, "rms": rows["rms"].to_numpy(),
        "align_pct": 100 * rows["share_align"].to_numpy(), "inj_pct": 100 * rows["share_inject"].to_numpy(),
        "decay_pct": 100 * rows["share_decay"].to_numpy(),
    })


def superweight_effect(forces: pd.DataFrame, warmup: int, total_steps: int) -> tuple[int, float, float]:
    """(step, share, share without super-weights) at the rise-phase step of largest alignment share.

    Needs the published ``align_share_no_sw`` column (a budget log).
    """
    if "align_share_no_sw" not in forces:
        raise KeyError("force log has no align_share_no_sw column (only the v1b_budget_seed* logs do)")
    rise = with_shares(rise_phase(forces[forces["group"] == "class:Transmission"], warmup, total_steps))
    best = rise.loc[rise["share_align"].idxmax()]
    return int(best["step"]), float(best["share_align"]), float(best["align_share_no_sw"])


def integrate_w2(steps, net, w2_0: float) -> np.ndarray:
    """Forward-Euler ‖W‖² on the grid ``steps``: w2_0 at steps[0], then w2_{i+1} = w2_i + net_i·(s_{i+1} − s_i).

    ``net`` is the per-step rate −A + I − D at each grid step (‖W‖² units per step).
    """
    s = np.asarray(steps, dtype=float)
    r = np.asarray(net, dtype=float)
    if s.ndim != 1 or s.shape != r.shape or len(s) < 1:
        raise ValueError(f"steps and net must be 1-D of equal length, got {s.shape} and {r.shape}")
    if np.any(np.diff(s) <= 0):
        raise ValueError("steps must be strictly increasing")
    return w2_0 + np.concatenate([[0.0], np.cumsum(r[:-1] * np.diff(s))])


def log_rmse(pred, obs) -> float:
    """√mean(ln(pred/obs)²), natural log (≈ relative error for small errors)."""
    p, o = np.asarray(pred, dtype=float), np.asarray(obs, dtype=float)
    if p.shape != o.shape or p.size == 0:
        raise ValueError(f"pred and obs must be non-empty and equal in shape, got {p.shape}, {o.shape}")
    if np.any(p <= 0) or np.any(o <= 0):
        raise ValueError("logRMSE needs positive values")
    return float(np.sqrt(np.mean(np.log(p / o) ** 2)))


def thin_log(forces: pd.DataFrame, every: int) -> pd.DataFrame:
    """The rows of a force log at steps that are multiples of ``every`` (a log with Δt = ``every``).

    This is how the paper tests the closed loop's robustness to the logging
    interval: the Δt = 50 revision logs thinned to Δt = 100, 250, 500.
    """
    if every < 1:
        raise ValueError(f"thinning interval must be a positive number of steps, got {every}")
    steps = forces["step"].to_numpy()
    if len(steps) > 1 and every < np.diff(np.unique(steps)).min():
        raise ValueError(f"cannot thin to Δt = {every}: the log is already spaced wider")
    out = forces[forces["step"] % every == 0]
    if out["step"].nunique() < 2:
        raise ValueError(f"thinning to Δt = {every} leaves fewer than two logged steps")
    return out


def force_excess(forces: pd.DataFrame, n_params: int) -> pd.DataFrame:
    """Per logged interval, the net force's ‖W‖² change against the logged one.

    ratio_i = (−A_i + I_i − D_i)(s_{i+1} − s_i) / (N·(rms²_{i+1} − rms²_i)):
    1 when the recurrence reproduces the log exactly, above 1 when the logged
    forces over-predict the growth.  Columns step (interval start), step_end,
    predicted, logged (‖W‖² units), ratio.  Near a peak of ‖W‖ the logged
    change is small and the ratio is large or negative.
    """
    f = forces.sort_values("step")
    s = f["step"].to_numpy(dtype=float)
    net = (-f["align"] + f["inject"] - f["decay"]).to_numpy(dtype=float)
    w2 = n_params * f["rms"].to_numpy(dtype=float) ** 2
    predicted, logged = net[:-1] * np.diff(s), np.diff(w2)
    return pd.DataFrame({"step": s[:-1], "step_end": s[1:], "predicted": predicted, "logged": logged,
                         "ratio": predicted / logged})


@dataclass(frozen=True)
class ClosedLoop:
    """Closed-loop reconstruction of λ (arrays share ``steps``).

    rms_pred = √(‖W‖²_pred/N) from the integrated recurrence; lam_pred =
    lam_per_rms·rms_pred; rms_obs and lam_obs are the observed values on the
    same steps; ``bridge`` and ``grid`` name the procedure (see
    :func:`closed_loop`); log_rmse compares lam_pred with lam_obs.
    """

    steps: np.ndarray
    rms_pred: np.ndarray
    rms_obs: np.ndarray
    lam_pred: np.ndarray
    lam_obs: np.ndarray
    lam_per_rms: float
    bridge: str
    grid: str
    log_rmse: float

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"step": self.steps, "rms_pred": self.rms_pred, "rms_obs": self.rms_obs,
                             "lam_pred": self.lam_pred, "lam_obs": self.lam_obs})


def bridge_factor(trajectory: pd.DataFrame, bridge: str = "ratio", k: float | None = None) -> float:
    """λ per unit RMS used to turn a predicted RMS into λ.

    ``"ratio"`` (the paper's released code): mean(λ/RMS) over the fitted
    trajectory, so it is calibrated on the observations it is later compared
    with.  ``"gamma"`` (the Weibull closed form): 1/√Γ(1 + 2/k) at a locked
    shape ``k``, independent of the observed λ.
    """
    if bridge == "ratio":
        ratio = trajectory["lam"].to_numpy(dtype=float) / trajectory["rms"].to_numpy(dtype=float)
        if ratio.size == 0 or not np.all(np.isfinite(ratio)):
            raise ValueError("trajectory needs finite lam and rms for the ratio bridge")
        return float(np.mean(ratio))
    if bridge == "gamma":
        if k is None:
            raise ValueError("the gamma bridge needs the locked shape k")
        return 1.0 / rms_over_lambda(k)
    raise ValueError(f"bridge must be 'ratio' or 'gamma', got {bridge!r}")


def closed_loop(forces: pd.DataFrame, trajectory: pd.DataFrame, n_params: int, *, bridge: str = "ratio",
                grid: str = "log", k: float | None = None) -> ClosedLoop:
    """Integrate one class's forces from their first logged row and compare λ with the trajectory.

    ``forces``: step, align, inject, decay (class totals per step, ‖W‖² units)
    and rms; the start is ‖W‖²_0 = N·rms² at the first logged step.
    ``trajectory``: step, lam, rms of the fitted snapshots.

    The default is the paper's procedure (its released analysis code, which
    reproduces its printed logRMSE): ``bridge="ratio"`` (λ = RMS·mean(λ/RMS)
    of the trajectory) compared on ``grid="log"``, every logged step inside the
    trajectory's span, with λ_obs and RMS_obs interpolated linearly onto it.
    ``bridge="gamma"`` (λ = RMS/√Γ(1 + 2/k), needs ``k``) and
    ``grid="checkpoints"`` (the trajectory's steps inside the logged span,
    ‖W‖²_pred interpolated) are the book's sensitivity variant.
    """
    if grid not in ("log", "checkpoints"):
        raise ValueError(f"grid must be 'log' or 'checkpoints', got {grid!r}")
    factor = bridge_factor(trajectory, bridge, k)
    f = forces.sort_values("step")
    s = f["step"].to_numpy(dtype=float)
    w2 = integrate_w2(s, (-f["align"] + f["inject"] - f["decay"]).to_numpy(), n_params * float(f["rms"].iloc[0]) ** 2)
    if np.any(w2 <= 0):
        raise ValueError("integrated ‖W‖² went non-positive: forces and start are inconsistent")
    t = trajectory.sort_values("step")
    ts = t["step"].to_numpy(dtype=float)
    if grid == "log":
        keep = (s >= ts[0]) & (s <= ts[-1])
        steps, w2_at = s[keep], w2[keep]
        lam_obs, rms_obs = np.interp(steps, ts, t["lam"]), np.interp(steps, ts, t["rms"])
    else:
        t = t[(ts >= s[0]) & (ts <= s[-1])]
        steps = t["step"].to_numpy(dtype=float)
        w2_at = np.interp(steps, s, w2)
        lam_obs, rms_obs = t["lam"].to_numpy(dtype=float), t["rms"].to_numpy(dtype=float)
    if steps.size == 0:
        raise ValueError(f"the trajectory [{ts[0]:g}, {ts[-1]:g}] and the logged span [{s[0]:g}, {s[-1]:g}] "
                         "do not overlap")
    rms_pred = np.sqrt(w2_at / n_params)
    lam_pred = factor * rms_pred
    return ClosedLoop(steps, rms_pred, rms_obs, lam_pred, lam_obs, factor, bridge, grid, log_rmse(lam_pred, lam_obs))


@dataclass(frozen=True)
class ErrorSplit:
    """Mean absolute relative errors (fractions) of a closed loop over n steps, with
    λ_RMS = lam_per_rms·RMS_obs: bridge = λ_RMS vs λ_obs, integration = λ_pred vs
    λ_RMS, total = λ_pred vs λ_obs."""

    bridge: float
    integration: float
    total: float
    lam_per_rms: float
    n: int


def error_split(lam_pred, lam_obs, rms_obs, lam_per_rms: float) -> ErrorSplit:
    """Split a closed loop's offset into a bridge and an integration part (paper 003, App. B.1).

    With the loop's own factor (``ClosedLoop.lam_per_rms``) the integration
    part is RMS_pred against RMS_obs, the force recurrence alone.  The paper's
    App. B.1 split of real Pythia-70M uses the nominal Γ bridge,
    ``lam_per_rms = 1/√Γ(1 + 2/1.2)``, against its ratio-bridged λ_pred, so its
    integration part also holds the gap between the two factors.
    """
    lp, lo, ro = (np.asarray(x, dtype=float) for x in (lam_pred, lam_obs, rms_obs))
    if not lp.shape == lo.shape == ro.shape or lp.size == 0:
        raise ValueError("lam_pred, lam_obs and rms_obs must be non-empty and equal in shape")
    if not lam_per_rms > 0:
        raise ValueError(f"lam_per_rms must be positive, got {lam_per_rms}")
    lam_rms = lam_per_rms * ro
    return ErrorSplit(
        bridge=float(np.mean(np.abs(lam_rms / lo - 1))),
        integration=float(np.mean(np.abs(lp / lam_rms - 1))),
        total=float(np.mean(np.abs(lp / lo - 1))),
        lam_per_rms=float(lam_per_rms),
        n=int(lp.size),
    )


def k_lock(per_block: pd.DataFrame, step: int | None = None) -> float:
    """Median over blocks (rows) of k at ``step`` (the last step by default); no ``step`` column: all rows."""
    if "step" in per_block:
        at = per_block["step"].max() if step is None else step
        per_block = per_block[per_block["step"] == at]
    if per_block.empty:
        raise ValueError(f"no per-block fits at step {step}")
    return float(per_block["k"].median())


def bridge_gap(k, lam, rms) -> pd.DataFrame:
    """RMS/λ measured against the Weibull value √Γ(1+2/k): columns k, measured, gamma, rel_gap."""
    k_a = np.atleast_1d(np.asarray(k, dtype=float))
    measured = np.atleast_1d(np.asarray(rms, dtype=float)) / np.atleast_1d(np.asarray(lam, dtype=float))
    gamma = np.array([rms_over_lambda(x) for x in k_a])
    return pd.DataFrame({"k": k_a, "measured": measured, "gamma": gamma, "rel_gap": measured / gamma - 1})


def rms_units(forces: pd.DataFrame, n_params: int) -> pd.DataFrame:
    """Forces expressed as the change of RMS per step each one causes: X/(2·N·RMS).

    Since RMS = √(‖W‖²/N), d RMS = d‖W‖²/(2·N·RMS); alignment keeps its sign
    convention (negative = growth), so the RMS rate is −A + I − D in these units.
    """
    out = forces.copy()
    scale = 2.0 * n_params * out["rms"].to_numpy()
    for col in ("align", "inject", "decay"):
        out[col] = out[col].to_numpy() / scale
    return out


def higher_order_share(forces: pd.DataFrame) -> pd.DataFrame:
    """Size of the dropped terms h1 = η²λ²‖W‖², h2 = 2η²λ⟨W,û⟩ against the budget |A| + I + D (fractions)."""
    budget = forces["align"].abs() + forces["inject"] + forces["decay"]
    return pd.DataFrame({"step": forces["step"].to_numpy(),
                         "h1_share": (forces["h1"].abs() / budget).to_numpy(),
                         "h2_share": (forces["h2"].abs() / budget).to_numpy()})
