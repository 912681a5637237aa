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
‖W‖², integrate the recurrence by forward Euler on the logged grid,

    ‖W‖²_{i+1} = ‖W‖²_i + (−A_i + I_i − D_i)(s_{i+1} − s_i),

convert RMS = √(‖W‖²/N) (N matrix elements) to λ through the Weibull bridge
λ = RMS / √Γ(1 + 2/k) at the locked shape k, and compare with the fitted λ of the
checkpoints: logRMSE = √mean(ln(λ_pred/λ_obs)²).  The offset splits into a
*bridge* part, λ_RMS = RMS_obs/√Γ(1+2/k_fixed) against λ_obs, and an
*integration* part, λ_pred against λ_RMS (mean absolute relative errors).
This integrator reproduces the ``lambda_pred`` column the paper ships for real
Pythia-70M to 2·10⁻⁴ relative.

Two data sources share one tidy layout (columns ``step, group, align, inject,
decay, rms, lr``; group ``class:Transmission`` or ``class:Selection``): the
paper's published derived data (:func:`published_forces`, registry keys under
:data:`PREFIX`) and the book's own training runs (``Run.forces``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from . import data
from .forces import shares
from .weibull import rms_over_lambda

__all__ = [
    "PREFIX",
    "FORCE_LOGS",
    "TRAJECTORIES",
    "PAPER_FORCE_TABLE",
    "PAPER_WARMUP",
    "PAPER_STEPS",
    "load_config",
    "class_params",
    "load_force_log",
    "published_forces",
    "load_trajectory",
    "load_per_block",
    "load_per_layer",
    "load_real_closure",
    "load_real_perblock_k",
    "load_real_k_by_step",
    "with_shares",
    "rise_phase",
    "rise_share_summary",
    "force_table",
    "superweight_effect",
    "integrate_w2",
    "log_rmse",
    "ClosedLoop",
    "closed_loop",
    "ErrorSplit",
    "error_split",
    "k_lock",
    "bridge_gap",
    "rms_units",
    "higher_order_share",
]

#: registry prefix of the paper's published derived data (Ding 2026, CC BY 4.0)
PREFIX = "NPM-Weibull-public/Weibull_WeightScale_dynamics/"
_DERIVED = PREFIX + "derived_data/"

#: the paper's self-training schedule: 200 warmup steps, 20,000 steps (App. C.1)
PAPER_WARMUP = 200
PAPER_STEPS = 20_000
#: decoupled weight decay of every published self-trained run except the high-decay one
PAPER_WD = 0.01

#: run name -> (file under derived_data/, architecture).  "seed1".."seed4" are the four
#: Pythia seeds of §4.1; "baseline" is the run behind the force table and the closed
#: loop (its RMS equals lambda_trajectory_pythia2's sigma); "llama_qk" is a LLaMA run
#: that also logs the Selection class (Q and K; its N_sel = 6·2·512² checks out).
FORCE_LOGS: dict[str, tuple[str, str]] = {
    "baseline": ("self_train/baseline_force.jsonl", "pythia"),
    "seed1": ("self_train/v1b_budget_seed1.jsonl", "pythia"),
    "seed2": ("self_train/v1b_budget_seed2.jsonl", "pythia"),
    "seed3": ("revision/seed_3/v1b_spline_true.jsonl", "pythia"),
    "seed4": ("revision/seed_4/v1b_spline_true.jsonl", "pythia"),
    "llama": ("self_train/v1b_spline_true_llama.jsonl", "llama"),
    "llama_qk": ("revision/bsel/v1b_spline_true.jsonl", "llama"),
    "eta_3e3": ("revision/eta_3e3/v1b_spline_true.jsonl", "pythia"),
    "eta_3e4": ("revision/eta_3e4/v1b_spline_true.jsonl", "pythia"),
}

#: run name -> aggregate Weibull trajectory file (k, λ and RMS of the Transmission class)
TRAJECTORIES: dict[str, str] = {
    "baseline": "self_train/lambda_trajectory_pythia2.json",
    "llama": "self_train/lambda_trajectory_llama.json",
    "continue": "self_train/lambda_trajectory_continue.json",
    "relax": "self_train/lambda_trajectory_relax.json",
    "relax2": "self_train/lambda_trajectory_relax2.json",
    "relax3": "self_train/lambda_trajectory_relax3.json",
    "seed3": "revision/seed_3/lambda_trajectory_seed_3.json",
    "seed4": "revision/seed_4/lambda_trajectory_seed_4.json",
    "eta_3e3": "revision/eta_3e3/lambda_trajectory_eta_3e3.json",
    "eta_3e4": "revision/eta_3e4/lambda_trajectory_eta_3e4.json",
}

_PER_BLOCK = {"baseline": "self_train/per_block_lambda_traj_pythia2.json",
              "llama": "self_train/per_block_lambda_traj_llama.json"}
_PER_LAYER = {"baseline": "self_train/per_layer_lambda_pythia2.json",
              "llama": "self_train/per_layer_lambda_llama.json"}
_CONFIGS = {"pythia": "pythia70m_config.json", "llama": "llama70m_config.json"}

#: Paper 003, §4.1 force-budget table (self-trained Pythia-70M): step -> (second
#: column, align %, inj %, decay %).  The second column is printed under the λ
#: heading but equals the Transmission RMS of baseline_force.jsonl, not λ.
PAPER_FORCE_TABLE: dict[int, tuple[float, float, float, float]] = {
    250: (0.021, 93.1, 4.7, 2.2),
    1250: (0.031, 93.1, 4.5, 2.4),
    2500: (0.045, 92.1, 4.5, 3.4),
    5000: (0.066, 88.7, 4.3, 7.0),
    10000: (0.084, 78.9, 3.7, 17.5),
    20000: (0.087, 49.9, 1.5, 48.6),
}

# published column names -> tidy names, per component class
_TRANSMISSION_COLS = {
    "true_align_full": "align", "inj_full": "inject", "dec_full": "decay",  # force logs
    "align": "align", "inj": "inject", "dec": "decay",  # budget logs
}
_SELECTION_COLS = {"sel_align": "align", "sel_inj": "inject", "sel_dec": "decay", "sel_rms": "rms"}


def _read_json(rel: str):
    with open(data.fetch(_DERIVED + rel)) as fh:
        return json.load(fh)


def _read_jsonl(rel: str) -> pd.DataFrame:
    with open(data.fetch(_DERIVED + rel)) as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    if not rows:
        raise ValueError(f"{rel} holds no records")
    return pd.DataFrame(rows)


def load_config(arch: str) -> dict:
    """The transformers config the paper's self-trained ``arch`` ("pythia"/"llama") used."""
    if arch not in _CONFIGS:
        raise KeyError(f"no published config for arch {arch!r}; expected one of {tuple(_CONFIGS)}")
    with open(data.fetch(PREFIX + _CONFIGS[arch])) as fh:
        return json.load(fh)


def class_params(config: Mapping, cls: str = "Transmission") -> int:
    """Number of elements N in a component class of a decoder config (counts, no units).

    Transmission = W_o + FFN matrices (GPT-NeoX: 2 FFN, LLaMA: gate/up/down);
    Selection = Q and K (GPT-NeoX's merged QKV counts whole, as the class is defined).
    """
    h, f, n_layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    llama = config["model_type"] != "gpt_neox"
    if cls == "Transmission":
        return n_layers * (h * h + (3 if llama else 2) * h * f)
    if cls == "Selection":
        return n_layers * (2 if llama else 3) * h * h
    raise ValueError(f"class must be 'Transmission' or 'Selection', got {cls!r}")


def load_force_log(run: str) -> pd.DataFrame:
    """One published force log as tidy rows: run, arch, step, group, align, inject, decay, rms, lr.

    Forces are totals over the class, per step, in ‖W‖² units (A negative while
    ‖W‖ grows).  Budget logs also carry the paper's ``align_share_no_sw``
    (alignment share with the top 0.1% magnitudes removed, as a fraction).
    """
    if run not in FORCE_LOGS:
        raise KeyError(f"unknown published run {run!r}; expected one of {tuple(FORCE_LOGS)}")
    rel, arch = FORCE_LOGS[run]
    raw = _read_jsonl(rel).sort_values("step", kind="stable")
    tr_cols = {c: n for c, n in _TRANSMISSION_COLS.items() if c in raw.columns}
    if sorted(tr_cols.values()) != ["align", "decay", "inject"]:
        raise ValueError(f"{rel}: expected alignment/injection/decay columns, found {list(raw.columns)}")
    tr = raw[["step", "eta", "rms", *tr_cols]].rename(columns={**tr_cols, "eta": "lr"})
    tr.insert(1, "group", "class:Transmission")
    if "align_pct_no_superweight" in raw:
        tr["align_share_no_sw"] = raw["align_pct_no_superweight"] / 100.0
    parts = [tr]
    if "sel_align" in raw:
        sel = raw[["step", "eta", *_SELECTION_COLS]].rename(columns={**_SELECTION_COLS, "eta": "lr"})
        sel.insert(1, "group", "class:Selection")
        parts.append(sel)
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "arch", arch)
    out.insert(0, "run", run)
    return out


def published_forces(runs: Iterable[str] | None = None) -> pd.DataFrame:
    """:func:`load_force_log` of several runs (all of :data:`FORCE_LOGS` by default), stacked."""
    return pd.concat([load_force_log(r) for r in (runs or FORCE_LOGS)], ignore_index=True)


def load_trajectory(run: str) -> pd.DataFrame:
    """Aggregate Transmission Weibull trajectory: step, k, lam, rms, lam_over_rms (λ, RMS in weight units)."""
    if run not in TRAJECTORIES:
        raise KeyError(f"no published λ trajectory for {run!r}; expected one of {tuple(TRAJECTORIES)}")
    df = pd.DataFrame(_read_json(TRAJECTORIES[run]))
    df = df.rename(columns={"lambda": "lam", "sigma": "rms", "lambda_over_sigma": "lam_over_rms"})
    return df[["step", "k", "lam", "rms", "lam_over_rms"]].sort_values("step", ignore_index=True)


def load_per_block(run: str) -> pd.DataFrame:
    """Per-block summary trajectory: step, pb_lam, pb_k (medians over blocks), agg_lam, first/deepest block λ."""
    if run not in _PER_BLOCK:
        raise KeyError(f"no per-block file for {run!r}; expected one of {tuple(_PER_BLOCK)}")
    df = pd.DataFrame(_read_json(_PER_BLOCK[run]))
    return df.rename(columns={"pb_lambda": "pb_lam", "agg_lambda": "agg_lam",
                              "L0_lam": "first_block_lam", "Ldeep_lam": "deepest_block_lam"})


def load_per_layer(run: str) -> pd.DataFrame:
    """Per-block Weibull fits, long form: step, block, k, lam, rms."""
    if run not in _PER_LAYER:
        raise KeyError(f"no per-layer file for {run!r}; expected one of {tuple(_PER_LAYER)}")
    rows = [
        {"step": rec["step"], "block": int(block), "k": fit["k"], "lam": fit["lambda"], "rms": fit["sigma"]}
        for rec in _read_json(_PER_LAYER[run])
        for block, fit in rec["layers"].items()
    ]
    return pd.DataFrame(rows).sort_values(["step", "block"], ignore_index=True)


def load_real_closure() -> pd.DataFrame:
    """Real Pythia-70M checkpoint closure: step, lam_obs, rms_obs, align, inject, decay, lam_pred.

    Forces here are per matrix element (‖W‖²/N per step), recovered by the spline
    method; ``align`` is converted to the sign convention above (negative = growth).
    """
    df = pd.DataFrame(_read_json("real_pythia/realpythia_closure.json"))
    return pd.DataFrame({
        "step": df["step"], "lam_obs": df["lambda_obs"], "rms_obs": df["sigma_obs"],
        "align": -df["align_force"], "inject": df["inj_force"], "decay": df["decay_force"],
        "lam_pred": df["lambda_pred"],
    })


def load_real_perblock_k() -> pd.DataFrame:
    """Per-matrix fits of the final real Pythia-70M checkpoint (Transmission): name, k, lam, n."""
    raw = _read_json("real_pythia/realpythia_perblock_k.json")
    return pd.DataFrame(raw["per_matrix"], columns=["name", "k", "lam", "n"])


def load_real_k_by_step() -> pd.DataFrame:
    """Pooled Transmission k of real Pythia-70M per checkpoint: step, k."""
    raw = _read_json("real_pythia/realpythia_k_by_step.json")
    return pd.DataFrame({"step": [int(s) for s in raw], "k": list(raw.values())}).sort_values("step", ignore_index=True)


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


def rise_share_summary(forces: pd.DataFrame, warmup: int, total_steps: int, by: str | list[str] = "run") -> pd.DataFrame:
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


@dataclass(frozen=True)
class ClosedLoop:
    """Closed-loop reconstruction of λ at the checkpoints (arrays share ``steps``).

    rms_pred from the integrated ‖W‖²; lam_pred = rms_pred/√Γ(1+2/k); k is the
    locked shape used by the bridge; log_rmse compares lam_pred with lam_obs.
    """

    steps: np.ndarray
    rms_pred: np.ndarray
    rms_obs: np.ndarray
    lam_pred: np.ndarray
    lam_obs: np.ndarray
    k: float
    log_rmse: float

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"step": self.steps, "rms_pred": self.rms_pred, "rms_obs": self.rms_obs,
                             "lam_pred": self.lam_pred, "lam_obs": self.lam_obs})


def closed_loop(forces: pd.DataFrame, checkpoints: pd.DataFrame, n_params: int, k: float,
                w2_0: float | None = None) -> ClosedLoop:
    """Integrate one class's forces from their first row and compare λ at the checkpoints.

    ``forces``: step, align, inject, decay (class totals per step, ‖W‖² units) and
    rms (used for the start, ‖W‖²_0 = N·rms², unless ``w2_0`` is given).
    ``checkpoints``: step, lam, rms of the fitted snapshots; those inside the
    logged span are compared (‖W‖² interpolated linearly between logged steps).
    """
    f = forces.sort_values("step")
    s = f["step"].to_numpy(dtype=float)
    w2 = integrate_w2(s, (-f["align"] + f["inject"] - f["decay"]).to_numpy(),
                      n_params * float(f["rms"].iloc[0]) ** 2 if w2_0 is None else w2_0)
    if np.any(w2 <= 0):
        raise ValueError("integrated ‖W‖² went non-positive: forces and start are inconsistent")
    cp = checkpoints[(checkpoints["step"] >= s[0]) & (checkpoints["step"] <= s[-1])].sort_values("step")
    if cp.empty:
        raise ValueError(f"no checkpoint inside the logged span [{s[0]:g}, {s[-1]:g}]")
    rms_pred = np.sqrt(np.interp(cp["step"].to_numpy(dtype=float), s, w2) / n_params)
    lam_pred = rms_pred / rms_over_lambda(k)
    lam_obs = cp["lam"].to_numpy(dtype=float)
    return ClosedLoop(cp["step"].to_numpy(), rms_pred, cp["rms"].to_numpy(dtype=float), lam_pred, lam_obs,
                      float(k), log_rmse(lam_pred, lam_obs))


@dataclass(frozen=True)
class ErrorSplit:
    """Mean absolute relative errors (fractions): bridge = λ_RMS vs λ_obs, integration = λ_pred vs λ_RMS,
    total = λ_pred vs λ_obs, with λ_RMS = RMS_obs/√Γ(1+2/k_fixed); n checkpoints."""

    bridge: float
    integration: float
    total: float
    k_fixed: float
    n: int


def error_split(lam_pred, lam_obs, rms_obs, k_fixed: float) -> ErrorSplit:
    """Split the closed-loop offset into its bridge and integration parts (App. B.1)."""
    lp, lo, ro = (np.asarray(x, dtype=float) for x in (lam_pred, lam_obs, rms_obs))
    if not lp.shape == lo.shape == ro.shape or lp.size == 0:
        raise ValueError("lam_pred, lam_obs and rms_obs must be non-empty and equal in shape")
    lam_rms = ro / rms_over_lambda(k_fixed)
    return ErrorSplit(
        bridge=float(np.mean(np.abs(lam_rms / lo - 1))),
        integration=float(np.mean(np.abs(lp / lam_rms - 1))),
        total=float(np.mean(np.abs(lp / lo - 1))),
        k_fixed=float(k_fixed),
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
