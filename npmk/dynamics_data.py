"""Readers of the AdamW dynamics paper's shipped files (Ding 2026, paper 003; CC BY 4.0).

Every function returns a tidy :class:`pandas.DataFrame` (or a dict for a
config) read through :func:`npmk.data.fetch`, so the files resolve from the
registry or its mirror and are hash-checked.  Nothing here computes physics:
the force budget and the closed loop live in :mod:`npmk.dynamics`.

Units: forces in ‖W‖² per optimizer step (class totals), except the real
Pythia-70M closure, whose forces are per matrix element; λ and RMS in weight
units; steps are optimizer steps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from . import data

__all__ = [
    "PREFIX",
    "FORCE_LOGS",
    "TRAJECTORIES",
    "PAPER_FORCE_TABLE",
    "PAPER_WARMUP",
    "PAPER_STEPS",
    "PAPER_WD",
    "read_force_log_raw",
    "load_config",
    "class_params",
    "load_force_log",
    "published_forces",
    "load_trajectory",
    "LoopInputs",
    "load_loop_inputs",
    "load_per_block",
    "load_per_layer",
    "load_real_closure",
    "load_real_perblock_k",
    "load_real_k_by_step",
    "load_real_statistics",
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

#: the paper's force-budget table, ``data/published/dynamics_force_table.csv`` (cited there)
FORCE_TABLE_CSV = Path(__file__).resolve().parent.parent / "data" / "published" / "dynamics_force_table.csv"


def _read_force_table(path: Path = FORCE_TABLE_CSV) -> dict[int, tuple[float, float, float, float]]:
    table = pd.read_csv(path, comment="#")
    return {int(r.step): (r.col2, r.align_pct, r.inj_pct, r.decay_pct) for r in table.itertuples()}


#: ding2026dynamics §4.1 force-budget table (self-trained Pythia-70M): step -> (second
#: column, align %, inj %, decay %).  The second column is printed under the λ
#: heading but equals the Transmission RMS of baseline_force.jsonl, not λ.
PAPER_FORCE_TABLE: dict[int, tuple[float, float, float, float]] = _read_force_table()

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


def read_force_log_raw(run: str) -> pd.DataFrame:
    """One published force log exactly as shipped (the paper's own column names), in file order."""
    if run not in FORCE_LOGS:
        raise KeyError(f"unknown published run {run!r}; expected one of {tuple(FORCE_LOGS)}")
    return _read_jsonl(FORCE_LOGS[run][0])


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
    raw = read_force_log_raw(run).sort_values("step", kind="stable")
    rel, arch = FORCE_LOGS[run]
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


class LoopInputs(NamedTuple):
    """What the closed loop (:func:`npmk.dynamics.closed_loop`) of one published run reads."""

    forces: pd.DataFrame  #: the class's rows of :func:`load_force_log` (‖W‖² per step, class totals)
    trajectory: pd.DataFrame  #: :func:`load_trajectory` of the run (λ and RMS in weight units)
    n_params: int  #: :func:`class_params` of the run's architecture (elements of the class)


def load_loop_inputs(run: str, cls: str = "Transmission") -> LoopInputs:
    """The force log of class ``cls``, the λ trajectory and the class size of a run that ships both files."""
    if run not in FORCE_LOGS or run not in TRAJECTORIES:
        both = tuple(r for r in FORCE_LOGS if r in TRAJECTORIES)
        raise KeyError(f"run {run!r} lacks a force log or a λ trajectory; runs with both: {both}")
    forces = load_force_log(run)
    return LoopInputs(forces[forces["group"] == f"class:{cls}"], load_trajectory(run),
                      class_params(load_config(FORCE_LOGS[run][1]), cls))


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


def load_real_statistics() -> pd.DataFrame:
    """Real Pythia-70M's pooled Transmission Weibull shape and scale per checkpoint, in the long
    layout of :mod:`npmk.runstats`: model ("pythia-70m"), statistic ("weibull_k", "weibull_lam"),
    step, value (λ in weight units).  k from :func:`load_real_k_by_step`, λ = ``lam_obs`` of
    :func:`load_real_closure` (both files list the same 23 checkpoints, steps 1 to 143,000).
    """
    k_by_step, closure = load_real_k_by_step(), load_real_closure()
    return pd.concat([
        pd.DataFrame({"model": "pythia-70m", "statistic": "weibull_k", "step": k_by_step["step"].astype(int),
                      "value": k_by_step["k"]}),
        pd.DataFrame({"model": "pythia-70m", "statistic": "weibull_lam", "step": closure["step"].astype(int),
                      "value": closure["lam_obs"]}),
    ], ignore_index=True)
