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
# # Spline displacement recovery of the alignment force
#
# Public checkpoints carry weights, not AdamW moments, so the alignment force
# A_t = 2η_t⟨W_t, û_t⟩ cannot be read off a released model. Paper 003 (§5.2,
# Appendix A) recovers it from the weights alone: the displacement identity
# û_t = −(W_{t+1} − W_t)/η_t − λ_wd W_t is exact for PyTorch's AdamW, and
# between sparse checkpoints the missing W_t, W_{t+1} are read off a cubic
# spline through the snapshots. The paper reports that this recovers 92–94% of
# the true alignment at checkpoint gaps of 250–1000 steps, about twice a naive
# two-point estimate (0.41–0.51).
#
# **Question.** On the book's own runs, where every step's true alignment is
# logged from the optimizer state, how much of it does the spline recover from
# snapshots thinned to a given gap, and how much does the naive estimate? And
# do the paper's shipped recovery files give its medians?
#
# Method ({mod}`npmk.spline`): per matrix, scipy's `CubicSpline` (not-a-knot)
# through the snapshots at steps 0, g, 2g, …, T; A_t from the spline at t and
# t + 1, summed over the Transmission matrices (o + FFN), as the paper sums.
# The naive estimate divides each gap's displacement by the learning rate
# integrated over the gap and takes W_t on the straight line between the two
# snapshots. Recovery rate = median over steps of recovered / true.

# %% tags=["parameters"]
# the book's shared base runs (npmk.runconfig.PRESETS); a spec may set snap_every, the smallest gap available
runs = [{"preset": "base", "arch": "pythia", "seed": 0}, {"preset": "base", "arch": "llama", "seed": 0}]
gaps = [50, 100, 200, 400]  # snapshot gaps to thin to (multiples of the run's snap_every)
every = 5  # evaluate the recovery at every `every`-th step
group = "class:Transmission"  # forces group whose matrices are summed
scatter_gap = 200  # gap shown in the recovered-vs-true scatter
published = True  # also recompute the paper's medians from its shipped files

# %%
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from IPython.display import display
from myst_nb import glue

import npmk.data
from npmk.data import load_or_note_missing
import npmk.style
from npmk.ledger import verdict
from npmk.runs import RunConfig, get_run
from npmk.spline import alignment_exact, load_stack, naive_alignment, recover_alignment, recovery_rate
from npmk.skeleton import classify

npmk.style.use()
PAPER_SPLINE = (0.92, 0.94)  # §5.2, self-trained validation, Δ = 250/500/1000
PAPER_NAIVE = (0.41, 0.51)

# %% [markdown]
# ## The runs and their ground truth
#
# Each run logs, per optimizer step, the forces of that update from the
# optimizer's own m̂, v̂. In the lab's forces table a row at step t is the update
# that takes snapshot t to snapshot t + 1 (the same convention as
# {mod}`npmk.spline`), with its learning rate; the schedule the spline needs is
# read from the same log. The identity check below would fail loudly if that
# convention changed.

# %%
runs = {spec["arch"]: get_run(RunConfig.from_spec(spec)) for spec in runs}


def matrices_of(run, group):
    """Names of the logged matrices summed in a forces group."""
    f = run.forces
    names = [n for n in f["group"].unique() if not n.startswith("class:") and n != "all"]
    if group == "all":
        return names
    cls = group.removeprefix("class:")
    snap = run.snapshot(0)
    return [n for n in names if classify(n, tuple(snap[n].shape), run.family).cls == cls]


def schedule(run):
    """lr[t] = η of the update from snapshot t to t + 1 (npmk.spline's convention)."""
    f = run.forces[run.forces["group"] == "all"].sort_values("step")
    lr = np.zeros(int(f["step"].max()) + 1)
    lr[f["step"].to_numpy()] = f["lr"].to_numpy()
    return lr


def truth(run, group):
    """True alignment A per step t (update snapshot t → t + 1), from the forces log."""
    f = run.forces[run.forces["group"] == group].sort_values("step")
    return pd.Series(f["align"].to_numpy(), index=f["step"].to_numpy())


cfgs = pd.DataFrame(
    [dict(arch=a, steps=r.config.steps, lr=r.config.lr, wd=r.config.wd, snap_every=r.config.snap_every,
          matrices=len(matrices_of(r, group))) for a, r in runs.items()]
)
cfgs

# %% [markdown]
# ## The identity is exact on consecutive snapshots
#
# Snapshots 1 and 2 are consecutive states, so the identity alone (no spline)
# must give the logged alignment of the update between them. Snapshots are stored in float32
# and the second update of the warm-up is tiny (η_2 = η/50 for the `small` run), so float32
# rounding of the weights limits the agreement to the percent level here; the identity itself
# is exact (float64 test in `tests/test_spline.py`).

# %%
rows = []
for a, run in runs.items():
    lr = schedule(run)
    s1, s2 = run.snapshot(1), run.snapshot(2)
    rec = sum(alignment_exact(s1[n].double().numpy(), s2[n].double().numpy(), lr[1], run.config.wd)
              for n in matrices_of(run, group))
    logged = truth(run, group)
    # the neighbouring rows must match worse, or the forces table's step convention has shifted
    off = {k: abs(rec / logged.loc[k] - 1) for k in (0, 1, 2)}
    if min(off, key=off.get) != 1 or off[1] > 0.1:
        raise RuntimeError(
            f"{a}: the displacement identity on snapshots 1 → 2 matches forces row {min(off, key=off.get)} "
            f"(relative differences {off}), not row 1: the forces table's step convention is not the one "
            "this chapter assumes"
        )
    rows.append(dict(arch=a, logged=logged.loc[1], from_identity=rec))
exact = pd.DataFrame(rows).assign(rel_diff=lambda d: d.from_identity / d.logged - 1)
glue("sr_identity_maxdiff", float(exact["rel_diff"].abs().max()), display=False)
exact

# %% [markdown]
# ## Recovery versus checkpoint gap

# %%
recs = []
for a, run in runs.items():
    lr, wd = schedule(run), run.config.wd
    true = truth(run, group)
    names = matrices_of(run, group)
    T = run.config.steps
    for g in gaps:
        if g % run.config.snap_every:
            raise ValueError(f"gap {g} is not a multiple of the run's snap_every={run.config.snap_every}")
        snaps = sorted(set(range(0, T + 1, g)) | {T})
        paths = [run.snapshot_path(s) for s in snaps]
        at = np.arange(0, T, every)
        df = recover_alignment(lambda n: load_stack(paths, n), names, snaps, at, lr, wd)
        recs.append(df.assign(arch=a, gap=g, true=true.loc[at].to_numpy(), frac_of_run=g / T))
rec = pd.concat(recs, ignore_index=True)
rates = (
    rec.groupby(["arch", "gap"])
    .apply(lambda d: pd.Series(dict(spline=recovery_rate(d.spline, d.true), naive=recovery_rate(d.naive, d.true),
                                    spline_err=float(np.median(np.abs(d.spline / d.true - 1))),
                                    naive_err=float(np.median(np.abs(d.naive / d.true - 1))),
                                    frac_of_run=d.frac_of_run.iloc[0], n_steps=len(d))), include_groups=False)
    .reset_index()
)
rates

# %%
fig, ax = plt.subplots()
for a, d in rates.groupby("arch"):
    ax.plot(d.gap, d.spline, "o-", label=f"{a}: spline")
    ax.plot(d.gap, d.naive, "s--", label=f"{a}: naive two-point")
ax.axhspan(*PAPER_SPLINE, color="0.6", alpha=0.25, label="paper: spline 0.92–0.94")
ax.axhspan(*PAPER_NAIVE, color="0.85", alpha=0.4, label="paper: naive 0.41–0.51")
ax.axhline(1, color="k", lw=0.8)
ax.set_xscale("log")
ax.set_xticks(gaps, [str(g) for g in gaps])
ax.minorticks_off()
ax.set_xlabel("checkpoint gap g (optimizer steps)")
ax.set_ylabel("recovery rate: median recovered / true A")
ax.set_title("Alignment recovered from thinned snapshots")
ax.legend(fontsize=8)
plt.show()

# %%
d = rec[rec.gap == scatter_gap]
fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.8), squeeze=False)
for ax, (a, da) in zip(axes[0], d.groupby("arch")):
    lim = [min(da.true.min(), da.spline.min(), da.naive.min()), max(da.true.max(), da.spline.max(), da.naive.max())]
    ax.plot(lim, lim, "k-", lw=0.8)
    ax.scatter(da.true, da.naive, s=6, alpha=0.5, label="naive")
    ax.scatter(da.true, da.spline, s=6, alpha=0.7, label="spline")
    ax.set_xlabel("true A_t (logged, ‖W‖² units per step)")
    ax.set_ylabel("recovered A_t")
    ax.set_title(f"{a}, gap {scatter_gap}")
    ax.legend(fontsize=8)
plt.show()

# %%
own = {}
for a in runs:
    r = rates[rates.arch == a]
    own[a] = dict(spline_lo=float(r.spline.min()), spline_hi=float(r.spline.max()),
                  naive_lo=float(r.naive.min()), naive_hi=float(r.naive.max()),
                  spline_med=float(r.spline.median()), naive_med=float(r.naive.median()))
    for k, v in own[a].items():
        glue(f"sr_own_{a}_{k}", v, display=False)
    glue(f"sr_own_{a}_verdict", verdict(own[a]["spline_med"], PAPER_SPLINE), display=False)
    glue(f"sr_own_{a}_naive_verdict", verdict(own[a]["naive_med"], PAPER_NAIVE), display=False)
    glue(f"sr_own_{a}_gaps", ", ".join(str(g) for g in gaps), display=False)
pd.DataFrame(own).T

# %% [markdown]
# On the own runs the spline recovers a median
# {glue:text}`sr_own_pythia_spline_lo:.3f`–{glue:text}`sr_own_pythia_spline_hi:.3f`
# of the Pythia-style alignment across the gaps above (paper: 0.92–0.94), the
# naive estimate {glue:text}`sr_own_pythia_naive_lo:.3f`–{glue:text}`sr_own_pythia_naive_hi:.3f`
# (paper: 0.41–0.51). The gaps are not the paper's: its 250–1000 steps are
# 1.25–5% of a 20k-step run, the book's are the fractions in the table above
# (column `frac_of_run`), on a much smaller model and corpus.
#
# The columns `spline_err` and `naive_err` give the typical per-step error,
# median |recovered / true − 1|, which a median ratio near one can hide.
#
# What the figure shows: the spline and the two-point estimate both estimate the
# *drift* of W over the gap; neither sees the part of ⟨W_t, û_t⟩ that comes from
# step-to-step fluctuation. Whatever separates the two estimators is curvature
# of the trajectory within a gap (warm-up, the turn at the peak), which the
# spline follows and the chord does not. On the book's short CPU runs the
# trajectories are smooth enough between snapshots that the two-point estimate
# is not the factor-of-two underestimate the paper reports, and the spline's
# median ratio sits slightly *above* one; the paper's 6–8% underestimate and its
# 0.41–0.51 naive baseline are therefore not reproduced here (see the ledger).

# %% [markdown]
# ## The paper's shipped recovery files
#
# The companion repository ships, for the self-trained Pythia-style and
# LLaMA-style runs, the per-step true alignment (from optimizer moments) and the
# spline-recovered one (`derived_data/spline_from_ckpt_*.json`, with the local
# checkpoint gap), plus a gap sweep on a relaxation run (`gap_sweep_relax05.json`).
# The weights themselves are not shipped, so the spline cannot be rerun here;
# what can be recomputed is the median ratio from the two columns.

# %%
KEY = "NPM-Weibull-public/Weibull_WeightScale_dynamics/derived_data/"


pub = {}
if published:
    for arch, fname in (("pythia", "spline_from_ckpt_pythia2.json"), ("llama", "spline_from_ckpt_llama.json")):
        path = load_or_note_missing(npmk.data.fetch, KEY + fname)
        if path is not None:
            pub[arch] = pd.read_json(path).assign(arch=arch, ratio_re=lambda d: d.spline / d.true)
pub_rec = pd.concat(pub.values(), ignore_index=True) if pub else pd.DataFrame()
if pub:
    by_gap = pub_rec.groupby(["arch", "local_gap"]).ratio_re.agg(["median", "count"]).reset_index()
    display(by_gap)

# %%
PAPER_PUB = {"pythia": (0.917, 0.938), "llama": (0.900, 0.928)}
GUIDE_PUB = {"pythia": 0.935, "llama": 0.912}
for arch, d in pub.items():
    med = recovery_rate(d.spline, d.true)
    glue(f"sr_pub_{arch}", med, display=False)
    glue(f"sr_pub_{arch}_n", len(d), display=False)
    glue(f"sr_pub_{arch}_verdict", verdict(med, PAPER_PUB[arch]), display=False)
    glue(f"sr_pub_{arch}_guide_verdict", verdict(med, GUIDE_PUB[arch], tol=5e-4), display=False)
if pub:
    fig, axes = plt.subplots(1, len(pub), figsize=(4.2 * len(pub), 3.8), squeeze=False)
    for ax, (arch, d) in zip(axes[0], pub.items()):
        lim = [min(d.true.min(), d.spline.min()), max(d.true.max(), d.spline.max())]
        ax.plot(lim, lim, "k-", lw=0.8)
        sc = ax.scatter(d.true, d.spline, s=6, c=np.log2(d.local_gap), cmap="viridis")
        fig.colorbar(sc, ax=ax, label="log₂ local checkpoint gap")
        ax.set_xlabel("true A_t (shipped)")
        ax.set_ylabel("spline A_t (shipped)")
        ax.set_title(f"paper's self-trained {arch}: median {recovery_rate(d.spline, d.true):.3f}")
    plt.show()

# %%
if published:
    path = load_or_note_missing(npmk.data.fetch, KEY + "gap_sweep_relax05.json")
    if path is not None:
        display(pd.read_json(path))

# %% [markdown]
# The shipped Pythia-style file gives a median recovery of
# {glue:text}`sr_pub_pythia:.4f` over {glue:text}`sr_pub_pythia_n` steps and the
# LLaMA-style file {glue:text}`sr_pub_llama:.4f` over {glue:text}`sr_pub_llama_n`
# steps, inside the paper's ranges (0.917–0.938 and 0.900–0.928). The gap sweep on
# the relaxation run is shipped only as medians (0.957, 0.950, 0.961 at gaps 1000,
# 2000, 5000), so it is shown, not recomputed. The naive baseline's 0.41–0.51 is
# **not recomputable**: no shipped file holds the naive estimates or the weights
# they came from.
#
# ## Ledger
#
# | quantity | published | ours | verdict |
# |---|---|---|---|
# | spline recovery, paper's Pythia-style file | 0.917–0.938 | {glue:text}`sr_pub_pythia:.4f` | {glue:text}`sr_pub_pythia_verdict` |
# | spline recovery, paper's LLaMA-style file | 0.900–0.928 | {glue:text}`sr_pub_llama:.4f` | {glue:text}`sr_pub_llama_verdict` |
# | spline recovery, own Pythia-style run (median over gaps) | 0.92–0.94 | {glue:text}`sr_own_pythia_spline_med:.3f` | {glue:text}`sr_own_pythia_verdict` |
# | spline recovery, own LLaMA-style run (median over gaps) | 0.92–0.94 | {glue:text}`sr_own_llama_spline_med:.3f` | {glue:text}`sr_own_llama_verdict` |
# | naive two-point, own Pythia-style run | 0.41–0.51 | {glue:text}`sr_own_pythia_naive_med:.3f` | {glue:text}`sr_own_pythia_naive_verdict` |
# | naive two-point, from the paper's files | 0.41–0.51 | not recomputable | no shipped data |
