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
# Weibull scale λ that the papers track.  Paper 003 connects the two through the
# *k-lock*: if the shape k of the Transmission matrices stays near its
# initialisation anchor (≈1.2), then RMS = λ·√Γ(1 + 2/k) with a nearly fixed
# factor, and integrating the force recurrence forward should reproduce the
# fitted λ trajectory.  Three questions:
#
# 1. Does k stay locked per block (median over Transmission matrices per snapshot)?
# 2. How good is the Γ bridge √Γ(1 + 2/k) against the measured RMS/λ?
# 3. Integrating Δ‖W‖² ≈ −A + I − D from the first logged step and mapping RMS → λ
#    at the locked k, how close is the result to the fitted λ (logRMSE), and how
#    does the offset split into a bridge part and an integration part?
#
# Answered on the paper's published derived data and on the book's own runs.

# %% tags=["parameters"]
size = "small"  # training-lab size of the own runs: tiny | small | pythia-70m
runs = ["pythia:0", "pythia:1", "llama:0"]  # arch:seed of the own runs
max_snapshots = 10  # fit at most this many snapshots per run (evenly thinned)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from myst_nb import glue

import npmk.style
from npmk import dynamics as dy
from npmk.data import load_or_note_missing
from npmk.ledger import verdict
from npmk.runs import RunConfig, get_run
from npmk.snapshots import snapshot_fits
from npmk.weibull import halfnormal_anchor, rms_over_lambda

npmk.style.use()


def glue_num(key, value, published=None, tol=0.0):
    """Glue a number and, with a published value, its ledger verdict."""
    glue(key, float(value), display=False)
    if published is not None:
        glue(key + "_verdict", verdict(float(value), published, tol), display=False)


# %% [markdown]
# ## Published data: k-lock, peaks, bridge
#
# Per-block fits ship as `per_layer_lambda_{pythia2,llama}.json` (six blocks, the
# Transmission matrices of each block) and, for the final real Pythia-70M
# checkpoint, `realpythia_perblock_k.json` (one fit per matrix).  The k-lock value
# is the median over blocks at the last snapshot.

# %%
def load_published():
    """The self-trained runs (by architecture), real Pythia-70M's trajectory and per-matrix k, the continuation."""
    runs = {
        "pythia": (dy.load_force_log("baseline"), dy.load_trajectory("baseline"), dy.load_per_layer("baseline"),
                   dy.class_params(dy.load_config("pythia"))),
        "llama": (dy.load_force_log("llama"), dy.load_trajectory("llama"), dy.load_per_layer("llama"),
                  dy.class_params(dy.load_config("llama"))),
    }
    return runs, dy.load_real_closure(), dy.load_real_perblock_k(), dy.load_trajectory("continue")


pub, real, real_blocks, cont = load_or_note_missing(load_published) or (None, None, None, None)

# %%
if pub is not None:
    k_locks = {arch: dy.k_lock(per_layer) for arch, (_, _, per_layer, _) in pub.items()}
    k_locks["real"] = dy.k_lock(real_blocks)
    glue_num("pub_klock_pythia", k_locks["pythia"], 1.200, 0.0005)
    glue_num("pub_klock_llama", k_locks["llama"], 1.203, 0.0005)
    glue_num("pub_klock_real", k_locks["real"], 1.190, 0.0005)
    peaks = {"pythia": pub["pythia"][1]["lam"].max(), "continue": cont["lam"].max(), "real": real["lam_obs"].max()}
    glue_num("pub_peak_pythia", peaks["pythia"], 0.076, 0.0005)
    glue_num("pub_peak_continue", peaks["continue"], 0.060, 0.0005)
    glue_num("pub_peak_real", peaks["real"], 0.035, 0.0005)
    fig, ax = plt.subplots()
    for arch, (_, _, per_layer, _) in pub.items():
        med = per_layer.groupby("step")["k"].median()
        ax.semilogx(med.index, med.to_numpy(), marker="o", ms=3, label=f"self-trained {arch}: median over blocks")
    ax.axhline(k_locks["real"], color="k", ls=":", label="real Pythia-70M final, median over matrices")
    ax.axhspan(1.186, 1.204, color="k", alpha=0.07, label="band [1.186, 1.204]")
    ax.set_xlabel("training step")
    ax.set_ylabel("Weibull shape k")
    ax.set_title("k-lock per block (published fits)")
    ax.legend(fontsize=8)
    plt.show()

# %% [markdown]
# Per-block median k at the end of training: {glue:text}`pub_klock_pythia:.4f` (Pythia-style,
# paper 1.200), {glue:text}`pub_klock_llama:.4f` (LLaMA-style, paper 1.203) and
# {glue:text}`pub_klock_real:.4f` for real Pythia-70M (paper 1.190).  Peak λ:
# {glue:text}`pub_peak_pythia:.4f` (self-trained, paper 0.076),
# {glue:text}`pub_peak_continue:.4f` (Pile checkpoint continued on wikitext, paper 0.060),
# {glue:text}`pub_peak_real:.4f` (real Pythia, paper 0.035).  The paper's 0.069
# peak (a 118M-token run) has no file among the published data, so it cannot be
# recomputed.
#
# The measured RMS/λ of the published trajectories against the Γ formula at the
# fitted k:

# %%
if pub is not None:
    gaps = pd.concat([dy.bridge_gap(t["k"], t["lam"], t["rms"]).assign(step=t["step"].to_numpy(), model=arch)
                      for arch, (_, t, _, _) in pub.items()])
    late = gaps[gaps["step"] >= 5000]
    glue_num("pub_bridge_measured", late["measured"].median())
    glue_num("pub_bridge_gamma", late["gamma"].median())
    display(late.groupby("model")[["measured", "gamma", "rel_gap"]].median().round(4))

# %% [markdown]
# After step 5,000 the fitted trajectories have RMS/λ ≈ {glue:text}`pub_bridge_measured:.3f`
# while a true Weibull at the same k would have √Γ(1 + 2/k) ≈ {glue:text}`pub_bridge_gamma:.3f`:
# the magnitudes are not Weibull outside the fitted middle 80%, so the Γ bridge
# is biased by several percent.  That bias is the *bridge error*.  It is there
# from step 0: half-normal initial weights fit k₀ = 1.2054 and λ₀ = 0.8875σ,
# so RMS/λ = 1/0.8875 = 1.127, while √Γ(1 + 2/k₀) = 1.223.
#
# ## Published data: the closed loop
#
# Forward Euler on the logged grid, from the first logged ‖W‖² = N·RMS², then
# λ = RMS/√Γ(1 + 2/k_lock).  On real Pythia-70M the same integrator, fed the
# spline-recovered forces shipped in `realpythia_closure.json`, reproduces the
# paper's own `lambda_pred` column (checked below); there the error split over
# the densely sampled region (steps ≤ 20k) uses the nominal k = 1.2.

# %%
if pub is not None:
    loops = {arch: dy.closed_loop(f, t, n, k_locks[arch]) for arch, (f, t, _, n) in pub.items()}
    glue_num("pub_logrmse_pythia", loops["pythia"].log_rmse, 0.053, 0.0005)
    glue_num("pub_logrmse_llama", loops["llama"].log_rmse, 0.056, 0.0005)
    splits = {arch: dy.error_split(lp.lam_pred, lp.lam_obs, lp.rms_obs, k_locks[arch]) for arch, lp in loops.items()}
    glue_num("pub_self_bridge_pct", 100 * splits["pythia"].bridge)
    glue_num("pub_self_integration_pct", 100 * splits["pythia"].integration)

    w2_0 = (real["lam_pred"].iloc[0] * rms_over_lambda(k_locks["real"])) ** 2
    real_loop = dy.closed_loop(real.assign(rms=real["rms_obs"]),
                               real.rename(columns={"lam_obs": "lam", "rms_obs": "rms"}),
                               n_params=1, k=k_locks["real"], w2_0=w2_0)
    reproduce = float(np.max(np.abs(real_loop.lam_pred / real["lam_pred"].to_numpy() - 1)))
    glue_num("pub_real_reproduce", reproduce)
    dense = real_loop.steps <= 20_000
    real_split = dy.error_split(real_loop.lam_pred[dense], real_loop.lam_obs[dense], real_loop.rms_obs[dense], 1.2)
    glue_num("pub_real_bridge_pct", 100 * real_split.bridge, 4.6, 0.05)
    glue_num("pub_real_integration_pct", 100 * real_split.integration, 1.9, 0.05)
    glue_num("pub_real_total_pct", 100 * np.mean(np.abs(real_loop.lam_pred / real_loop.lam_obs - 1)), 8.0, 0.5)
    glue_num("pub_real_logrmse", real_loop.log_rmse)

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, (name, lp) in zip(axes, [("self-trained Pythia", loops["pythia"]), ("self-trained LLaMA", loops["llama"]),
                                     ("real Pythia-70M", real_loop)]):
        ax.plot(lp.steps, lp.lam_obs, "o", ms=4, label="fitted λ")
        ax.plot(lp.steps, lp.lam_pred, "-", label="closed loop λ")
        ax.plot(lp.steps, lp.rms_obs / rms_over_lambda(lp.k), ":", label="observed RMS / √Γ(1+2/k)")
        ax.set_title(f"{name}: logRMSE {lp.log_rmse:.3f}")
        ax.set_xlabel("training step")
        ax.set_ylabel("λ (weight units)")
    axes[0].legend(fontsize=8)
    plt.show()

# %% [markdown]
# On real Pythia-70M our integrator reproduces the published `lambda_pred` to
# {glue:text}`pub_real_reproduce:.1e` (relative), and the offset over steps ≤ 20k splits
# into a bridge error of {glue:text}`pub_real_bridge_pct:.2f`% and an integration
# error of {glue:text}`pub_real_integration_pct:.2f`% (paper 4.6% + 1.9%); over all
# checkpoints the mean error is {glue:text}`pub_real_total_pct:.1f`% (paper ≈ 8%).
#
# On the self-trained runs the same pipeline gives logRMSE
# {glue:text}`pub_logrmse_pythia:.4f` (Pythia) and {glue:text}`pub_logrmse_llama:.4f` (LLaMA)
# against the paper's 0.053 and 0.056 — a **miss**.  The two parts have opposite
# signs here: the Γ bridge puts λ {glue:text}`pub_self_bridge_pct:.1f`% low, while the
# logged forces over-predict the growth of ‖W‖² (the logged net force exceeds the
# logged Δ‖W‖² by about 11% per interval), putting the integrated RMS
# {glue:text}`pub_self_integration_pct:.1f`% high, and they partly cancel.  No choice
# among start point, integrator, bridge k or comparison set we tried lands on the
# paper's values (see the ledger).
#
# ## The book's own runs
#
# Every snapshot of each run is fitted per matrix with {func}`npmk.measure.measure`
# (the k-lock and the per-matrix bridge) and pooled over the Transmission class
# (the λ trajectory).  The logged forces are exact per step (rec = 1), so the
# closed loop integrates with unit steps.

# %%
own = {}
for spec in runs:
    arch, seed = spec.split(":")
    run = get_run(RunConfig(arch=arch, size=size, seed=int(seed)), progress=False)
    fits = snapshot_fits(run, run.thinned_steps(max_snapshots, spacing="linear"), levels=("tensor", "class"))
    per_tensor, pooled = fits[fits.level == "tensor"], fits[fits.level == "class"]
    own[spec] = (run, per_tensor, pooled)
cfg0 = next(iter(own.values()))[0].config.resolved()

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
rows = []
for spec, (run, per_tensor, pooled) in own.items():
    trans = per_tensor[per_tensor["cls"] == "Transmission"]
    k_med = trans.groupby("step")["k"].median()
    axes[0].plot(k_med.index, k_med.to_numpy(), marker="o", ms=3, label=spec)
    gap = dy.bridge_gap(trans["k"], trans["lam"], trans["rms"]).assign(step=trans["step"].to_numpy())
    g = gap.groupby("step")[["measured", "gamma"]].median()
    l, = axes[1].plot(g.index, g["measured"], marker="o", ms=3, label=f"{spec} measured RMS/λ")
    axes[1].plot(g.index, g["gamma"], ls="--", color=l.get_color(), label=f"{spec} √Γ(1+2/k)")
    last = trans["step"].max()
    rows.append({"run": spec, "k_lock": dy.k_lock(trans), "k_min": k_med.min(), "k_max": k_med.max(),
                 "measured": g.loc[last, "measured"], "gamma": g.loc[last, "gamma"]})
k0, _ = halfnormal_anchor()
axes[0].axhline(k0, color="k", ls=":", label=f"half-normal anchor {k0:.4f}")
axes[0].set_xlabel("optimizer step")
axes[0].set_ylabel("median k, Transmission matrices")
axes[0].set_title("k-lock per snapshot (own runs)")
axes[0].legend(fontsize=8)
axes[1].set_xlabel("optimizer step")
axes[1].set_ylabel("RMS/λ (median over matrices)")
axes[1].set_title("RMS/λ bridge (own runs)")
axes[1].legend(fontsize=7)
plt.show()
klock_own = pd.DataFrame(rows).set_index("run")
display(klock_own.round(4))
glue_num("own_klock_min", klock_own["k_lock"].min(), (1.186, 1.204))
glue_num("own_klock_max", klock_own["k_lock"].max(), (1.186, 1.204))
glue_num("own_bridge_measured", klock_own["measured"].median())
glue_num("own_bridge_gamma", klock_own["gamma"].median())

# %% [markdown]
# At the last snapshot the per-matrix median k of the own runs lies in
# {glue:text}`own_klock_min:.4f`–{glue:text}`own_klock_max:.4f` (paper band 1.186–1.204; these
# small models, trained with a per-step decay η·λ_wd two orders of magnitude above
# the paper's so that they peak and relax within CPU minutes, need not stay in it);
# the measured RMS/λ is {glue:text}`own_bridge_measured:.3f` against
# √Γ(1 + 2/k) = {glue:text}`own_bridge_gamma:.3f`.
#
# Closed loop on the own runs, with the error split at each run's own k-lock:

# %%
loop_rows = []
fig, axes = plt.subplots(1, len(own), figsize=(4.3 * len(own), 4), squeeze=False)
for ax, (spec, (run, per_tensor, pooled)) in zip(axes[0], own.items()):
    f = run.forces
    f = f[f["group"] == "class:Transmission"]
    n = int(pooled["n"].iloc[0])
    k = klock_own.loc[spec, "k_lock"]
    loop = dy.closed_loop(f, pooled, n, k)
    split = dy.error_split(loop.lam_pred, loop.lam_obs, loop.rms_obs, k)
    loop_rows.append({"run": spec, "logRMSE": loop.log_rmse, "bridge %": 100 * split.bridge,
                      "integration %": 100 * split.integration, "total %": 100 * split.total})
    ax.plot(loop.steps, loop.lam_obs, "o", ms=4, label="fitted λ (pooled)")
    ax.plot(loop.steps, loop.lam_pred, "-", label="closed loop λ")
    ax.plot(loop.steps, loop.rms_obs / rms_over_lambda(k), ":", label="RMS / √Γ(1+2/k)")
    ax.set_title(f"{spec}: logRMSE {loop.log_rmse:.3f}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("λ, Transmission class")
axes[0, 0].legend(fontsize=8)
plt.show()
loops_own = pd.DataFrame(loop_rows).set_index("run")
display(loops_own.round(4))
glue_num("own_logrmse_max", loops_own["logRMSE"].max())
glue_num("own_bridge_pct", loops_own["bridge %"].median())
glue_num("own_integration_pct", loops_own["integration %"].median())

# %% [markdown]
# With the exact per-step forces of the own runs the integration part is
# {glue:text}`own_integration_pct:.3f`% (median over runs): only the dropped
# higher-order terms separate the recurrence from the true ‖W‖².  What is left,
# {glue:text}`own_bridge_pct:.2f`%, is the bridge — the difference between
# RMS/√Γ(1 + 2/k) and the probability-plot λ; the closed-loop logRMSE stays below
# {glue:text}`own_logrmse_max:.3f`.  The paper's 4–6% offset is therefore, as it
# says, a property of the RMS → λ mapping rather than of the force recurrence.
