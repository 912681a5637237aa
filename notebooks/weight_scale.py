# ---
# jupyter:
#   jupytext:
#     text_representation:
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # From ‖W‖² to λ
#
# The three forces of the previous chapter move the squared norm ‖W‖², not the
# Weibull scale λ that the papers track.  The dynamics paper {cite:p}`ding2026dynamics`
# connects the two through the *k-lock*: if the shape k of the Transmission
# matrices stays near its initialisation anchor (≈1.2), λ is a nearly fixed
# multiple of RMS = √(‖W‖²/N), and integrating the force recurrence forward
# should reproduce the fitted λ trajectory.  Three questions:
#
# 1. Does k stay locked per block (median over Transmission matrices per snapshot)?
# 2. How good is the Weibull closed form RMS/λ = √Γ(1 + 2/k) against the measured RMS/λ?
# 3. Integrating Δ‖W‖² ≈ −A + I − D from the first logged step and mapping RMS → λ,
#    how close is the result to the fitted λ (logRMSE), and does the offset come
#    from the integration or from the RMS → λ mapping (the *bridge*)?
#
# The closed loop is run with the paper's own procedure, taken from its released
# analysis code: the bridge factor is the trajectory's mean λ/RMS, and λ is
# compared at every logged step.  The Weibull closed form at the locked k is
# shown beside it as a variant.  Answered on the paper's published derived data
# and on the book's own runs.

# %% tags=["parameters"]
# the own runs: a preset of npmk.runconfig.PRESETS, an architecture and a seed each
runs = [{"preset": "base", "arch": "pythia", "seed": 0}, {"preset": "base", "arch": "pythia", "seed": 1},
        {"preset": "base", "arch": "llama", "seed": 0}]
max_snapshots = 10  # fit at most this many snapshots per run (evenly thinned)
dt_sweep = [50, 100, 250, 500]  # logging intervals (steps) for the paper's Δt robustness check

# %% tags=["remove-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from myst_nb import glue

import npmk.style
from npmk import dynamics as dy
from npmk import dynamics_data, ledger, page
from npmk.data import MissingDataError, note_missing
from npmk.page import glue_number
from npmk.runs import RunConfig, get_run
from npmk.snapshots import snapshot_fits
from npmk.weibull import halfnormal_anchor, rms_over_lambda

npmk.style.use()


# %% [markdown]
# ## Published data: k-lock, peaks, bridge
#
# Per-block fits ship as `per_layer_lambda_{pythia2,llama}.json` (six blocks, the
# Transmission matrices of each block) and, for the final real Pythia-70M
# checkpoint, `realpythia_perblock_k.json` (one fit per matrix).  The k-lock value
# is the median over blocks at the last snapshot ({numref}`fig-ws-klock-published`).

# %% tags=["remove-input"]
try:  # per self-trained run: Transmission forces, trajectory, class size; per-block fits; the real-Pythia files
    pub = {run: dynamics_data.load_loop_inputs(run) for run in ("baseline", "seed3", "seed4", "llama")}
    per_layer = {arch: dynamics_data.load_per_layer(run) for arch, run in (("pythia", "baseline"), ("llama", "llama"))}
    real, real_blocks = dynamics_data.load_real_closure(), dynamics_data.load_real_perblock_k()
    cont = dynamics_data.load_trajectory("continue")
except MissingDataError as err:  # the cells below that need these files test pub for None
    note_missing(err)
    pub = None

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Median Weibull shape k over the six blocks of the paper's self-trained runs, by training step (published per-block fits); dotted: the final real Pythia-70M checkpoint, median over its Transmission matrices; grey band: the paper's FFN band.", "name": "fig-ws-klock-published"}}
if pub is not None:
    k_locks = {arch: dy.k_lock(pl) for arch, pl in per_layer.items()}
    k_locks["real"] = dy.k_lock(real_blocks)
    glue_number("pub_klock_pythia", k_locks["pythia"], "klock_pythia")
    glue_number("pub_klock_llama", k_locks["llama"], "klock_llama")
    glue_number("pub_klock_real", k_locks["real"], "klock_real")
    peaks = {"pythia": pub["baseline"][1]["lam"].max(), "continue": cont["lam"].max(), "real": real["lam_obs"].max()}
    glue_number("pub_peak_pythia", peaks["pythia"])
    glue_number("pub_peak_continue", peaks["continue"])
    # the peaks are data_coherence's claims: quote their published values without checking them twice
    for key, cid in (("pythia", "peak_wikitext_8m"), ("continue", "peak_continue"), ("real", "peak_pile"),
                     ("118m", "peak_wikitext_118m")):
        glue(f"pub_peak_{key}_paper", ledger.claim(cid).published, display=False)
    glue_number("pub_peak_real", peaks["real"])
    fig, ax = plt.subplots()
    for arch, pl in per_layer.items():
        med = pl.groupby("step")["k"].median()
        ax.semilogx(med.index, med.to_numpy(), marker="o", ms=3, label=f"self-trained {arch}: median over blocks")
    ax.axhline(k_locks["real"], color="k", ls=":", label="real Pythia-70M final, median over matrices")
    ffn_band = ledger.claim("ffn_band")
    ax.axhspan(ffn_band.lo, ffn_band.hi, color="k", alpha=0.07, label=f"band {ffn_band.published}")
    ax.set_xlabel("training step")
    ax.set_ylabel("Weibull shape k")
    ax.legend(fontsize=8)
    plt.show()

# %% [markdown]
# Per-block median k at the end of training: {glue:text}`pub_klock_pythia:.4f` (Pythia-style,
# paper {glue:text}`ledger.klock_pythia.published`), {glue:text}`pub_klock_llama:.4f` (LLaMA-style, paper {glue:text}`ledger.klock_llama.published`) and
# {glue:text}`pub_klock_real:.4f` for real Pythia-70M (paper {glue:text}`ledger.klock_real.published`).  Peak λ:
# {glue:text}`pub_peak_pythia:.4f` (self-trained, paper {glue:text}`pub_peak_pythia_paper`),
# {glue:text}`pub_peak_continue:.4f` (Pile checkpoint continued on wikitext, paper {glue:text}`pub_peak_continue_paper`),
# {glue:text}`pub_peak_real:.4f` (real Pythia, paper {glue:text}`pub_peak_real_paper`).  The paper's {glue:text}`pub_peak_118m_paper`
# peak (a 118M-token run) has no file among the published data, so it cannot be
# recomputed.
#
# The measured RMS/λ of the published trajectories against the Γ formula at the
# fitted k:

# %% tags=["remove-input"]
if pub is not None:
    gaps = pd.concat([dy.bridge_gap(t["k"], t["lam"], t["rms"]).assign(step=t["step"].to_numpy(), model=arch)
                      for arch, (_, t, _) in ((a, pub[r]) for a, r in (("pythia", "baseline"), ("llama", "llama")))])
    late = gaps[gaps["step"] >= 5000]
    glue_number("pub_bridge_measured", late["measured"].median())
    glue_number("pub_bridge_gamma", late["gamma"].median())
    k0, lam0 = halfnormal_anchor()
    glue_number("anchor_k0", k0)
    glue_number("anchor_rms_over_lam", 1 / lam0)
    glue_number("anchor_gamma", rms_over_lambda(k0))
    bridge_table = late.groupby("model")[["measured", "gamma", "rel_gap"]].median()
    page.table(bridge_table.rename(columns={"measured": "RMS/λ measured", "gamma": "√Γ(1 + 2/k)",
                                            "rel_gap": "relative gap"}),
               dict.fromkeys(["RMS/λ measured", "√Γ(1 + 2/k)", "relative gap"], ".4f"), index=True)

# %% [markdown]
# After step 5,000 the fitted trajectories have RMS/λ ≈ {glue:text}`pub_bridge_measured:.3f`
# while a true Weibull at the same k would have √Γ(1 + 2/k) ≈ {glue:text}`pub_bridge_gamma:.3f`:
# the magnitudes are not Weibull outside the fitted middle 80%, so the Γ formula
# misjudges λ by several percent.  The gap is there from step 0: half-normal
# initial weights fit k₀ = {glue:text}`anchor_k0:.4f` and RMS/λ = {glue:text}`anchor_rms_over_lam:.3f`,
# while √Γ(1 + 2/k₀) = {glue:text}`anchor_gamma:.3f`.
#
# ## Published data: the closed loop
#
# The paper's procedure, as its released analysis code runs it: forward Euler on
# the logged grid from the first logged ‖W‖² = N·RMS², then
# λ_pred = RMS_pred × mean(λ/RMS) of the fitted trajectory, compared with λ_obs
# interpolated linearly onto every logged step inside the trajectory.  Seeds 3
# and 4 log every 50 steps, so they also give the paper's robustness check:
# the same loop on logs thinned to Δt = 50–500 steps.  The *Γ variant* maps
# RMS → λ with 1/√Γ(1 + 2/k_lock) instead and compares only at the fitted
# checkpoints.

# %% tags=["remove-input"]
if pub is not None:
    k_of = {"baseline": k_locks["pythia"], "seed3": k_locks["pythia"], "seed4": k_locks["pythia"],
            "llama": k_locks["llama"]}
    loops = {run: dy.closed_loop(f, t, n) for run, (f, t, n) in pub.items()}
    gamma_loops = {run: dy.closed_loop(f, t, n, bridge="gamma", grid="checkpoints", k=k_of[run])
                   for run, (f, t, n) in pub.items()}
    sweep = pd.DataFrame([{"run": run, "Δt": dt, "logRMSE": dy.closed_loop(dy.thin_log(pub[run][0], dt), pub[run][1],
                                                                           pub[run][2]).log_rmse}
                          for run in ("seed3", "seed4") for dt in dt_sweep])
    summary = pd.DataFrame({
        "logRMSE (paper's procedure)": {r: lp.log_rmse for r, lp in loops.items()},
        "compared steps": {r: len(lp.steps) for r, lp in loops.items()},
        "RMS/λ used (1/mean λ/RMS)": {r: 1 / lp.lam_per_rms for r, lp in loops.items()},
        "logRMSE (Γ variant)": {r: lp.log_rmse for r, lp in gamma_loops.items()},
    })
    page.table(summary.rename_axis("run"), dict.fromkeys(["logRMSE (paper's procedure)", "RMS/λ used (1/mean λ/RMS)",
                                                          "logRMSE (Γ variant)"], ".4f"), index=True)
    by_dt = sweep.pivot(index="Δt", columns="run", values="logRMSE").rename(columns=lambda r: f"logRMSE, {r}")
    page.table(by_dt, dict.fromkeys(by_dt.columns, ".4f"), index=True)
    glue_number("pub_logrmse_pythia", loops["baseline"].log_rmse, "logrmse_pythia")
    glue_number("pub_logrmse_seed3", loops["seed3"].log_rmse, "logrmse_seed3")
    glue_number("pub_logrmse_seed4", loops["seed4"].log_rmse, "logrmse_seed4")
    glue_number("pub_logrmse_llama", loops["llama"].log_rmse, "logrmse_llama")
    glue_number("pub_seed_logrmse_min", min(loops["seed3"].log_rmse, loops["seed4"].log_rmse))
    glue_number("pub_seed_logrmse_max", max(loops["seed3"].log_rmse, loops["seed4"].log_rmse))
    glue_number("pub_dt_min", sweep["logRMSE"].min())
    glue_number("pub_dt_max", sweep["logRMSE"].max())
    ledger.check("logrmse_dt_sweep", (float(sweep["logRMSE"].min()), float(sweep["logRMSE"].max())))
    glue_number("pub_ratio_pythia", 1 / loops["baseline"].lam_per_rms)
    glue_number("pub_gamma_factor_pythia", 1 / gamma_loops["baseline"].lam_per_rms)
    glue_number("pub_gamma_logrmse_pythia", gamma_loops["baseline"].log_rmse)
    glue_number("pub_gamma_logrmse_llama", gamma_loops["llama"].log_rmse)
    ledger.check("logrmse_gamma_variant", float(gamma_loops["baseline"].log_rmse),
                 shown=f"{gamma_loops['baseline'].log_rmse:.4f} / {gamma_loops['llama'].log_rmse:.4f}")
    glue("pub_n_log_pythia", len(loops["baseline"].steps), display=False)

# %% [markdown]
# With the paper's procedure the shipped files give logRMSE
# {glue:text}`pub_logrmse_pythia:.4f` for the Pythia-style baseline run (paper {glue:text}`ledger.logrmse_pythia.published`),
# {glue:text}`pub_logrmse_seed3:.4f` and {glue:text}`pub_logrmse_seed4:.4f` for seeds 3 and 4,
# and {glue:text}`pub_logrmse_llama:.4f` for the LLaMA-style run (paper {glue:text}`ledger.logrmse_llama.published`).  The
# printed {glue:text}`ledger.logrmse_seed3.published` is what seed 3 gives; the baseline run behind the force table
# gives the lower value.  Thinned to Δt = 50–500 steps, the seed logs give
# {glue:text}`pub_dt_min:.4f`–{glue:text}`pub_dt_max:.4f` (paper {glue:text}`ledger.logrmse_dt_sweep.published`).  The
# comparison runs over {glue:text}`pub_n_log_pythia:d` logged steps of the baseline run.
#
# The Γ variant gives {glue:text}`pub_gamma_logrmse_pythia:.4f` and
# {glue:text}`pub_gamma_logrmse_llama:.4f`: its factor RMS/λ = {glue:text}`pub_gamma_factor_pythia:.4f`
# is far from the trajectory's own {glue:text}`pub_ratio_pythia:.4f`, and that
# difference happens to offset most of the integration error (below).  The ratio
# bridge, on the other hand, is calibrated on the same λ_obs it is compared with,
# so the paper's closed loop is not fully independent of the trajectory it
# predicts.
#
# ### Real Pythia-70M
#
# `realpythia_closure.json` ships per-element forces recovered by the spline
# method and the paper's own `lambda_pred`.  The same integrator, started from
# the first observed RMS² with the factor 1/mean(λ_obs/RMS_obs), recomputes that
# column; the paper's App. B.1 split over the densely sampled steps ≤ 20k uses
# the nominal Γ bridge at k = 1.2 ({numref}`fig-ws-closed-loop-published`).

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Fitted λ (points) and closed-loop λ (line, the paper's procedure) for the paper's self-trained Pythia-style and LLaMA-style runs and for real Pythia-70M; dotted: the observed RMS times the same bridge factor, which isolates the bridge's share of the offset.", "name": "fig-ws-closed-loop-published"}}
if pub is not None:
    real_loop = dy.closed_loop(real.assign(rms=real["rms_obs"]),
                               real.rename(columns={"lam_obs": "lam", "rms_obs": "rms"}), n_params=1)
    reproduce = float(np.max(np.abs(real_loop.lam_pred / real["lam_pred"].to_numpy() - 1)))
    glue_number("pub_real_reproduce", reproduce, "real_lambda_pred")
    glue_number("pub_real_factor", 1 / real_loop.lam_per_rms)
    dense = real_loop.steps <= 20_000
    real_split = dy.error_split(real_loop.lam_pred[dense], real_loop.lam_obs[dense], real_loop.rms_obs[dense],
                                1 / rms_over_lambda(1.2))
    glue_number("pub_real_bridge_pct", 100 * real_split.bridge, "real_bridge_pct")
    glue_number("pub_real_integration_pct", 100 * real_split.integration, "real_integration_pct")
    real_total = dy.error_split(real_loop.lam_pred, real_loop.lam_obs, real_loop.rms_obs, real_loop.lam_per_rms)
    glue_number("pub_real_total_pct", 100 * real_total.total, "real_total_pct")
    glue_number("pub_real_logrmse", real_loop.log_rmse)

    # two by two, so that each panel stays legible at the page width; the fourth holds the legend
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    for ax, (name, lp) in zip(axes.flat, [("self-trained Pythia", loops["baseline"]), ("self-trained LLaMA", loops["llama"]),
                                     ("real Pythia-70M", real_loop)]):
        ax.plot(lp.steps, lp.lam_obs, "o", ms=3, label="fitted λ (interpolated)")
        ax.plot(lp.steps, lp.lam_pred, "-", label="closed loop λ")
        ax.plot(lp.steps, lp.rms_obs * lp.lam_per_rms, ":", label="observed RMS × mean(λ/RMS)")
        ax.set_title(f"{name}: logRMSE {lp.log_rmse:.4f}")
        ax.set_xlabel("training step")
        ax.set_ylabel("λ (weight units)")
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))  # real Pythia's 143,000 steps crowd the default ticks
    axes[1, 1].axis("off")
    axes[1, 1].legend(*axes[0, 0].get_legend_handles_labels(), loc="center")
    plt.show()

# %% [markdown]
# The recomputed real-Pythia `lambda_pred` differs from the shipped column by at
# most {glue:text}`pub_real_reproduce:.1g` (relative), with RMS/λ =
# {glue:text}`pub_real_factor:.4f`.  The offset over steps ≤ 20k splits into a bridge
# error of {glue:text}`pub_real_bridge_pct:.2f`% and an integration error of
# {glue:text}`pub_real_integration_pct:.2f`% (paper {glue:text}`ledger.real_bridge_pct.published` +
# {glue:text}`ledger.real_integration_pct.published`); over all checkpoints the mean error is
# {glue:text}`pub_real_total_pct:.1f`% (paper ≈ {glue:text}`ledger.real_total_pct.published`).
#
# ### Where the self-trained offset comes from
#
# The paper attributes its 4–6% offset mainly to the RMS → λ bridge (§5.1).
# Splitting it at the fitted checkpoints, with each bridge: the integration part
# compares RMS_pred with RMS_obs, the bridge part compares factor × RMS_obs with
# λ_obs.  Beside it, each logged interval's net force times its length against
# the logged change of ‖W‖².

# %% tags=["remove-input"]
if pub is not None:
    rows = []
    for run in ("baseline", "llama"):
        f, t, n = pub[run]
        for bridge in ("ratio", "gamma"):
            lp = dy.closed_loop(f, t, n, bridge=bridge, grid="checkpoints", k=k_of[run])
            sp = dy.error_split(lp.lam_pred, lp.lam_obs, lp.rms_obs, lp.lam_per_rms)
            rows.append({"run": run, "bridge": bridge, "checkpoints": sp.n, "integration %": 100 * sp.integration,
                         "bridge %": 100 * sp.bridge, "total %": 100 * sp.total})
    pub_split = pd.DataFrame(rows).set_index(["run", "bridge"])
    page.table(pub_split, dict.fromkeys(["integration %", "bridge %", "total %"], ".2f"), index=True)
    excess = pd.concat([dy.force_excess(pub[run][0], pub[run][2]).assign(run=run) for run in ("baseline", "llama")])
    excess_summary = excess.groupby("run").agg(
        median_ratio=("ratio", "median"), min_ratio=("ratio", "min"), max_ratio=("ratio", "max"),
        cumulative=("predicted", "sum"), logged=("logged", "sum"))
    excess_summary["cumulative"] /= excess_summary.pop("logged")
    page.table(excess_summary.rename(columns={"median_ratio": "median ratio", "min_ratio": "lowest",
                                              "max_ratio": "highest", "cumulative": "cumulative ratio"}),
               dict.fromkeys(["median ratio", "lowest", "highest", "cumulative ratio"], ".3f"), index=True)
    ratio_split = pub_split.xs("ratio", level="bridge")
    gamma_split = pub_split.xs("gamma", level="bridge")
    glue_number("pub_self_integration_pct", ratio_split.loc["baseline", "integration %"])
    glue_number("pub_self_bridge_pct", ratio_split.loc["baseline", "bridge %"])
    glue_number("pub_self_integration_pct_llama", ratio_split.loc["llama", "integration %"])
    glue_number("pub_self_bridge_pct_llama", ratio_split.loc["llama", "bridge %"])
    glue_number("pub_self_gamma_bridge_pct", gamma_split.loc["baseline", "bridge %"])
    glue("pub_self_dominant", "integration" if (ratio_split["integration %"] > ratio_split["bridge %"]).all()
         else "bridge", display=False)
    glue_number("pub_excess_median_lo", excess_summary["median_ratio"].min())
    glue_number("pub_excess_median_hi", excess_summary["median_ratio"].max())
    glue_number("pub_excess_min", excess_summary["min_ratio"].min())
    glue_number("pub_excess_max", excess_summary["max_ratio"].max())
    glue_number("pub_excess_cum_lo", excess_summary["cumulative"].min())
    glue_number("pub_excess_cum_hi", excess_summary["cumulative"].max())

# %% [markdown]
# With the paper's bridge the integration part is {glue:text}`pub_self_integration_pct:.2f`%
# (Pythia-style) and {glue:text}`pub_self_integration_pct_llama:.2f`% (LLaMA-style),
# the bridge part only {glue:text}`pub_self_bridge_pct:.2f`% and
# {glue:text}`pub_self_bridge_pct_llama:.2f`%: the larger part is the
# **{glue:text}`pub_self_dominant`**, not the bridge the paper names.  Its source is the
# logs themselves: the logged net force over-predicts the logged change of ‖W‖²,
# with a median ratio of {glue:text}`pub_excess_median_lo:.3f`–{glue:text}`pub_excess_median_hi:.3f`
# per interval and {glue:text}`pub_excess_cum_lo:.2f`–{glue:text}`pub_excess_cum_hi:.2f` over the
# whole run; near the peak of ‖W‖, where the logged change is small, single
# intervals range from {glue:text}`pub_excess_min:.1f` to {glue:text}`pub_excess_max:.1f`.
# Under the Γ variant the bridge part grows to {glue:text}`pub_self_gamma_bridge_pct:.1f`%
# with the opposite sign and cancels much of the integration excess, which is
# why that variant lands at {glue:text}`pub_gamma_logrmse_pythia:.4f`.
#
# ## The book's own runs
#
# Every snapshot of each run is fitted per matrix with {func}`npmk.measure`
# (the k-lock and the per-matrix bridge) and pooled over the Transmission class
# (the λ trajectory).  The logged forces are exact per step (rec = 1), so the
# closed loop integrates with unit steps.

# %% tags=["remove-input"]
own = {}
for spec in runs:
    run = get_run(RunConfig.from_spec(spec), progress=False)
    fits = snapshot_fits(run, run.thinned_steps(max_snapshots, spacing="linear"), levels=("tensor", "class"))
    per_tensor, pooled = fits[fits.level == "tensor"], fits[fits.level == "class"]
    own[f"{run.config.arch}:{run.config.seed}"] = (run, per_tensor, pooled)
cfg0 = next(iter(own.values()))[0].config.resolved()

# %% tags=["remove-input"] mystnb={"figure": {"caption": "The book's own runs. Left: median k of the Transmission matrices per snapshot, against the half-normal anchor. Right: measured RMS/λ (median over matrices, solid) against the Weibull value √Γ(1+2/k) (dashed).", "name": "fig-ws-klock-own"}}
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
rows = []
for spec, (_, per_tensor, _) in own.items():
    trans = per_tensor[per_tensor["cls"] == "Transmission"]
    k_med = trans.groupby("step")["k"].median()
    axes[0].plot(k_med.index, k_med.to_numpy(), marker="o", ms=3, label=spec)
    gap = dy.bridge_gap(trans["k"], trans["lam"], trans["rms"]).assign(step=trans["step"].to_numpy())
    g = gap.groupby("step")[["measured", "gamma"]].median()
    (line,) = axes[1].plot(g.index, g["measured"], marker="o", ms=3, label=f"{spec} measured RMS/λ")
    axes[1].plot(g.index, g["gamma"], ls="--", color=line.get_color(), label=f"{spec} √Γ(1+2/k)")
    last = trans["step"].max()
    rows.append({"run": spec, "k_lock": dy.k_lock(trans), "k_min": k_med.min(), "k_max": k_med.max(),
                 "measured": g.loc[last, "measured"], "gamma": g.loc[last, "gamma"]})
k0, _ = halfnormal_anchor()
axes[0].axhline(k0, color="k", ls=":", label=f"half-normal anchor {k0:.4f}")
axes[0].set_xlabel("optimizer step")
axes[0].set_ylabel("median k, Transmission matrices")
axes[0].legend(fontsize=8)
axes[1].set_xlabel("optimizer step")
axes[1].set_ylabel("RMS/λ (median over matrices)")
axes[1].legend(fontsize=7)
plt.show()

# %% tags=["remove-input"]
klock_own = pd.DataFrame(rows).set_index("run")
page.table(klock_own.rename(columns={"k_lock": "k-lock", "k_min": "lowest median k", "k_max": "highest median k",
                                    "measured": "RMS/λ measured", "gamma": "√Γ(1 + 2/k)"}),
           dict.fromkeys(["k-lock", "lowest median k", "highest median k", "RMS/λ measured", "√Γ(1 + 2/k)"], ".4f"),
           index=True)
glue_number("own_klock_min", klock_own["k_lock"].min(), "own_klock_min")
glue_number("own_klock_max", klock_own["k_lock"].max(), "own_klock_max")
ledger.check("own_bridge_ratio", float(klock_own["measured"].median()),
             shown=f"{klock_own['measured'].median():.3f} (√Γ(1+2/k): {klock_own['gamma'].median():.3f})")
glue_number("own_bridge_measured", klock_own["measured"].median())
glue_number("own_bridge_gamma", klock_own["gamma"].median())

# %% [markdown]
# At the last snapshot the per-matrix median k of the own runs lies in
# {glue:text}`own_klock_min:.4f`–{glue:text}`own_klock_max:.4f` (paper band {glue:text}`ledger.own_klock_min.published`; these
# small models, trained with a per-step decay η·λ_wd two orders of magnitude above
# the paper's so that they peak and relax within CPU minutes, need not stay in it);
# the measured RMS/λ is {glue:text}`own_bridge_measured:.3f` against
# √Γ(1 + 2/k) = {glue:text}`own_bridge_gamma:.3f` ({numref}`fig-ws-klock-own`).
#
# Closed loop on the own runs with the paper's procedure
# ({numref}`fig-ws-closed-loop-own`), and its split at the fitted snapshots with
# the paper's bridge and with the Γ bridge at each run's k-lock:

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Closed loop on the book's own runs with the paper's procedure: pooled Transmission λ of the snapshots (points), closed-loop λ (line) and observed RMS times the bridge factor (dotted).", "name": "fig-ws-closed-loop-own"}}
loop_rows = []
fig, axes = plt.subplots(1, len(own), figsize=(4.3 * len(own), 4), squeeze=False)
for ax, (spec, (run, _, pooled)) in zip(axes[0], own.items()):
    f = run.forces
    f = f[f["group"] == "class:Transmission"]
    n = int(pooled["n"].iloc[0])
    k = klock_own.loc[spec, "k_lock"]
    loop = dy.closed_loop(f, pooled, n)
    at_snap = dy.closed_loop(f, pooled, n, grid="checkpoints")
    split = dy.error_split(at_snap.lam_pred, at_snap.lam_obs, at_snap.rms_obs, at_snap.lam_per_rms)
    gamma_split = dy.error_split(at_snap.rms_pred / rms_over_lambda(k), at_snap.lam_obs, at_snap.rms_obs,
                                 1 / rms_over_lambda(k))
    loop_rows.append({"run": spec, "logRMSE": loop.log_rmse, "logRMSE at snapshots": at_snap.log_rmse,
                      "snapshots": len(at_snap.steps), "integration %": 100 * split.integration,
                      "bridge % (ratio)": 100 * split.bridge, "bridge % (Γ)": 100 * gamma_split.bridge,
                      "RMS/λ used": 1 / loop.lam_per_rms})
    ax.plot(loop.steps, loop.lam_obs, ".", ms=2, label="fitted λ (pooled, interpolated)")
    ax.plot(loop.steps, loop.lam_pred, "-", label="closed loop λ")
    ax.plot(loop.steps, loop.rms_obs * loop.lam_per_rms, ":", label="RMS × mean(λ/RMS)")
    ax.set_title(f"{spec}: logRMSE {loop.log_rmse:.3f}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("λ, Transmission class")
axes[0, 0].legend(fontsize=8)
plt.show()

# %% tags=["remove-input"]
loops_own = pd.DataFrame(loop_rows).set_index("run")
page.table(loops_own, {"logRMSE": ".4f", "logRMSE at snapshots": ".4f", "integration %": ".2f",
                       "bridge % (ratio)": ".2f", "bridge % (Γ)": ".2f", "RMS/λ used": ".4f"}, index=True)
glue_number("own_logrmse_max", loops_own["logRMSE"].max())
glue_number("own_logrmse_snap_max", loops_own["logRMSE at snapshots"].max())
glue("own_n_snapshots_min", int(loops_own["snapshots"].min()), display=False)
glue_number("own_integration_pct", loops_own["integration %"].median())
glue_number("own_bridge_pct", loops_own["bridge % (ratio)"].median())
glue_number("own_gamma_bridge_pct", loops_own["bridge % (Γ)"].median())
ledger.check("own_error_split", float(loops_own["integration %"].median()),
             shown=f"{loops_own['integration %'].median():.3f}% / {loops_own['bridge % (ratio)'].median():.2f}%")
glue("own_dominant", "integration" if (loops_own["integration %"] > loops_own["bridge % (ratio)"]).all()
     else "bridge", display=False)

# %% [markdown]
# With the exact per-step forces of the own runs the integration part is
# {glue:text}`own_integration_pct:.3f`% (median over runs): only the dropped
# higher-order terms separate the recurrence from the true ‖W‖².  What remains
# is the bridge: one mean λ/RMS for the whole run misses the snapshots by
# {glue:text}`own_bridge_pct:.2f`% (median), because λ/RMS itself changes during
# training as k drifts, so the larger part here is the **{glue:text}`own_dominant`**.
# The closed-loop logRMSE is at most {glue:text}`own_logrmse_snap_max:.4f` at the
# snapshots and {glue:text}`own_logrmse_max:.4f` on the every-step grid of the
# paper's procedure, where λ_obs is interpolated linearly between as few as
# {glue:text}`own_n_snapshots_min:d` fitted snapshots.  The Γ bridge would put λ {glue:text}`own_gamma_bridge_pct:.1f`% off.
#
# The two error sources therefore separate: on the paper's logged forces the
# larger part is the **{glue:text}`pub_self_dominant`**, because the logged forces
# do not add up to the logged ‖W‖²; with exact forces the integration part
# vanishes and the bridge sets the error, by as much as k moves during the run.
#
# ## What it shows
#
# - The paper's closed-loop procedure, rerun on its shipped files, gives logRMSE
#   {glue:text}`pub_logrmse_pythia:.4f` (Pythia-style baseline; seeds
#   {glue:text}`pub_seed_logrmse_min:.4f`–{glue:text}`pub_seed_logrmse_max:.4f`, paper {glue:text}`ledger.logrmse_pythia.published`) and
#   {glue:text}`pub_logrmse_llama:.4f` (LLaMA-style, paper {glue:text}`ledger.logrmse_llama.published`); the Δt sweep gives
#   {glue:text}`pub_dt_min:.4f`–{glue:text}`pub_dt_max:.4f` (paper {glue:text}`ledger.logrmse_dt_sweep.published`).
# - Its bridge is the trajectory's own mean λ/RMS, not the Weibull √Γ(1 + 2/k);
#   with it the real-Pythia `lambda_pred` column is recomputed (largest relative
#   difference {glue:text}`pub_real_reproduce:.1g`).
# - On the paper's logs the larger part of the offset is the {glue:text}`pub_self_dominant`
#   ({glue:text}`pub_self_integration_pct:.2f`% integration against a
#   {glue:text}`pub_self_bridge_pct:.2f`% bridge part); on the book's runs, with exact
#   forces, it is the {glue:text}`own_dominant` ({glue:text}`own_integration_pct:.3f`% against
#   {glue:text}`own_bridge_pct:.2f`%).
