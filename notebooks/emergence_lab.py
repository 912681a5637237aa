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
# # Does a weight statistic tell *when* copying will emerge?
#
# **Question.** Across training runs whose in-context copying score jumps at
# different steps, does the step at which some weight statistic changes fastest
# tell, ahead of time, the step at which the copying score jumps — better than
# the run's own validation-loss curve, and better than the step count alone?
#
# The companion chapter {doc}`emergence_pythia` asks this of real Pythia, where
# every capability comes in the same decade right after warm-up and there is no
# variation in *when* to predict. Here the training lab makes that variation: a
# grid of small runs on the copying task (windows of random ids from a 64-token
# alphabet, tiled with a random period; {mod}`npmk.runconfig`, preset "copying") whose
# batch size, seed, learning rate, weight decay, architecture and share of copying
# windows among natural-text windows move the jump (by how much:
# {numref}`tab-lab-grid`). Runs where copying never emerges stay in the table and
# the figures.

# %% tags=["parameters"]
# the runs: each the run spec `base` (preset "copying": the small model on copying windows, npmk.runconfig)
# updated by one grid entry.  Batch size moves the jump most (seeds at batch 32 near step 370, at batch 8
# near 900; batch 4 stays near chance through 2000 steps), so the grid spans batch 32 to 4 with the run
# length and snapshot spacing scaled to keep ~25 snapshots; seeds, η, λ_wd, architecture and the share of
# copying windows vary around each batch size (measurements: book/lab.md)
base = {"preset": "copying", "arch": "pythia", "seed": 0, "steps": 500, "snap_every": 25}
grid = [
    {"seed": 0}, {"seed": 1}, {"seed": 2}, {"wd": 0.5}, {"lr": 1.5e-3}, {"lr": 1.5e-3, "wd": 0.5}, {"arch": "llama"},
    {"repeat_frac": 0.9},
    {"batch": 16, "steps": 800, "snap_every": 40}, {"batch": 16, "steps": 800, "snap_every": 40, "seed": 1},
    {"batch": 16, "steps": 800, "snap_every": 40, "seed": 2},
    {"batch": 16, "steps": 800, "snap_every": 40, "repeat_frac": 0.75},
    {"batch": 8, "steps": 1200, "snap_every": 50}, {"batch": 8, "steps": 1200, "snap_every": 50, "seed": 1},
    {"batch": 8, "steps": 1200, "snap_every": 50, "seed": 2}, {"batch": 8, "steps": 1200, "snap_every": 50, "wd": 0.5},
    {"batch": 8, "steps": 1200, "snap_every": 50, "lr": 1.5e-3},
    {"batch": 8, "steps": 1200, "snap_every": 50, "repeat_frac": 0.5},
    {"batch": 4, "steps": 2000, "snap_every": 80},
]
copy_level = 0.5  # copying accuracy at which copying counts as emerged (chance: 1/64)
alpha = 0.05  # family-wise error of the verdicts (Bonferroni over the candidates)
n_boot = 20_000  # bootstrap resamples of the runs
n_perm = 10_000  # sign flips of the paired error differences
workers = 2  # runs trained and measured at once on a local Dask cluster (one single-threaded worker each)
scheduler: str | None = None  # or the address of a running Dask scheduler whose workers share NPMK_CACHE with this kernel
seed = 0

# %% tags=["remove-cell"]
import math
from contextlib import nullcontext

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from distributed import Client
from IPython.display import Markdown, display
from myst_nb import glue

import npmk.style
from npmk import ledger, page, sweep
from npmk.emergence import change_point, emergence, smooth
from npmk.prediction import prediction_table
from npmk.runconfig import RunConfig, overrides_label
from npmk.runstats import run_statistics

npmk.style.use()

# %% [markdown]
# ## The rule, stated before the results
#
# For every run we compute eight statistics of the weights at every snapshot —
# spectral norm, stable rank, effective rank, the ESD tail exponent α, cosine
# to the previous snapshot, relative change per decade of steps, and the Weibull
# shape k and scale λ of the pooled magnitudes ({mod}`npmk.runstats`) — for four
# groups of matrices: the Transmission class, the Selection class, and the
# Selection matrices of each of the two blocks alone (an induction circuit
# needs a head in each block). That is 32 candidates.
#
# 1. **Events.** Every curve is analysed from the end of warm-up to the last
#    step, on u = log₁₀(step), smoothed by a cubic smoothing spline with its
#    penalty chosen by generalised cross-validation and differentiated
#    analytically ({func}`npmk.emergence.smooth`). A candidate's event is its
#    *change point*, the step of largest |dS/du|; change points on the first or
#    last analysed step are flagged. Copying *emerges* at the first step where
#    the smoothed copying accuracy reaches `copy_level`; runs that never reach it
#    are reported and left out of the fit (there is no step to predict).
# 2. **Prediction, leave-one-out.** Run i's emergence is predicted as its own
#    change point plus the median offset (emergence − change point) of the other
#    runs; the error is |predicted − observed| in decades
#    ({mod}`npmk.prediction`).
# 3. **Baselines that use no weight statistic.** (a) the validation loss's own
#    change point, through the same rule; (b) the median emergence step of the
#    other runs.
# 4. **Verdict.** A candidate *predicts* only if its mean error is below each
#    baseline's, with the whole paired bootstrap interval of the difference below
#    zero, **and** its change comes first: lead = emergence − change point > 0 with
#    the whole interval above zero. Every interval is taken at confidence
#    1 − α/32 (Bonferroni over the 32 candidates), so the chance that any "predicts"
#    in the table is a fluke is at most α.

# %% tags=["remove-cell"]
configs = [RunConfig.from_spec({**base, **g}) for g in grid]
# runs cached by config come back at once; the others train on the cluster, one run per worker
local = nullcontext() if scheduler else sweep.local_cluster(workers, threads=1)
with local as cluster, Client(scheduler or cluster) as client:
    done = client.gather(client.map(run_statistics, configs, pure=False))

probes, stats, runs = [], [], []
for g, (run, st) in zip(grid, done):
    name = overrides_label(g)
    warm = run.config.warmup
    p = run.probes.assign(run=name)
    probes.append(p)
    stats.append(st.assign(run=name))
    a = p[p.step >= warm]
    em = emergence(a["step"], a["copy_acc"], level=copy_level)
    cp = change_point(a["step"], a["val_loss"])
    runs.append({"run": name, "arch": run.config.arch, "batch": run.config.batch, "lr": run.config.lr,
                 "wd": run.config.wd, "repeat_frac": run.config.repeat_frac, "seed": run.config.seed,
                 "steps": run.config.steps, "warmup": warm, "final_copy_acc": float(p["copy_acc"].iloc[-1]),
                 "emerged": em.emerged, "emergence_step": em.step if em.emerged else np.nan,
                 "u_em": em.u, "u_loss": cp.u, "loss_cp_at_edge": cp.at_edge,
                 "train_s": run.manifest.get("timings", {}).get("train_s", np.nan)})
probes = pd.concat(probes, ignore_index=True)
stats = pd.concat(stats, ignore_index=True)
runs = pd.DataFrame(runs)
emerged = runs[runs.emerged]

# %% [markdown]
# ## The grid of runs
#
# {numref}`fig-lab-copying` shows the copying score of every run and
# {numref}`tab-lab-grid` lists when it crossed `copy_level`. Copying emerged in
# {glue:text}`lab_n_emerged` of {glue:text}`lab_n_runs` runs.

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Copying accuracy of every run by training step (log axis); dotted: the level at which copying counts as emerged; circles: the emergence step of each run that reaches it. Runs that never reach it are drawn grey.", "name": "fig-lab-copying"}}
fig, ax = plt.subplots(figsize=(8, 4))
order = runs.sort_values("emergence_step")["run"]
palette = dict(zip(order, sns.color_palette("viridis", len(order))))
for name in order:
    p = probes[(probes.run == name) & (probes.step >= 1)]
    r = runs.set_index("run").loc[name]
    ax.plot(p["step"], p["copy_acc"], color=palette[name] if r.emerged else "0.6", lw=1.2, label=name)
    if r.emerged:
        ax.plot(r.emergence_step, copy_level, "o", color=palette[name], ms=5)
ax.axhline(copy_level, color="k", ls=":", lw=1)
ax.set(xscale="log", xlabel="training step (log)", ylabel="copying accuracy")
ax.legend(fontsize=6, ncol=2, loc="upper left")
plt.show()

# %% tags=["remove-input"]
shown = runs[["run", "arch", "batch", "lr", "wd", "repeat_frac", "seed", "steps", "final_copy_acc",
              "emergence_step"]].copy()
shown["emergence_step"] = [f"{s:,.0f}" if e else "never" for s, e in zip(runs.emergence_step, runs.emerged)]
shown = shown.rename(columns={"arch": "architecture", "lr": "η", "wd": "λ_wd", "repeat_frac": "copying share",
                              "final_copy_acc": "final copying accuracy", "emergence_step": "emergence step"})
glue("tab-lab-grid", Markdown(page.table_markdown(
    shown, {"η": "g", "λ_wd": "g", "copying share": "g", "final copying accuracy": ".2f"})), display=False)

# %% [markdown]
# ```{glue:figure} tab-lab-grid
# :name: tab-lab-grid
# The runs: what each changes from the base config, its final copying accuracy and its emergence step
# ("never": the smoothed score stays below the level).
# ```

# %% tags=["remove-cell"]
glue("lab_n_runs", len(runs), display=False)
glue("lab_copy_level", copy_level, display=False)
glue("lab_n_emerged", len(emerged), display=False)
glue("lab_n_never", int((~runs.emerged).sum()), display=False)
glue("lab_em_min", float(emerged.emergence_step.min()) if len(emerged) else math.nan, display=False)
glue("lab_em_max", float(emerged.emergence_step.max()) if len(emerged) else math.nan, display=False)
glue("lab_em_spread", float(emerged.emergence_step.max() / emerged.emergence_step.min())
     if len(emerged) else math.nan, display=False)
glue("lab_em_median", float(emerged.emergence_step.median()) if len(emerged) else math.nan, display=False)

# %% tags=["remove-input"]
# prose quoting emergence steps exists only where a run emerged (nb_render_markdown_format: myst)
if len(emerged):
    display(Markdown("The runs where it emerged did so between steps {glue:text}`lab_em_min:,.0f` and "
                     "{glue:text}`lab_em_max:,.0f`, a factor of {glue:text}`lab_em_spread:.1f` in steps."))
else:
    display(Markdown("No run of this profile reached the level, so there is no emergence step to time; "
                     "the rest of the chapter says so instead of quoting one."))

# %% [markdown]
# ## Weight statistics and their change points
#
# {numref}`fig-lab-rates` shows, for four of the candidates, the smoothed rate of
# change per decade in each run, with the run's emergence step marked: a
# predictor would show its largest rate a fixed distance before each mark.

# %% tags=["remove-cell"]
events = []
for (name, group, statistic), s in stats.groupby(["run", "group", "statistic"], sort=True):
    warm = int(runs.set_index("run").loc[name, "warmup"])
    s = s[(s.step >= warm)].dropna(subset=["value"])
    cp = change_point(s["step"], s["value"])
    events.append({"run": name, "candidate": f"{statistic} · {group}", "u": cp.u, "step": cp.step,
                   "at_edge": cp.at_edge})
events = pd.DataFrame(events)
edge = events[events.run.isin(emerged.run)].groupby("candidate")["at_edge"].sum()
glue("lab_n_candidates", int(events.candidate.nunique()), display=False)
glue("lab_edge_share", float(events.loc[events.run.isin(emerged.run), "at_edge"].mean()) if len(emerged)
     else math.nan, display=False)
glue("lab_loss_edge", int(emerged.loss_cp_at_edge.sum()), display=False)

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Smoothed rate of change per decade of four candidates, one line per run where copying emerged (colour: emergence step, early to late as in the first figure); circles mark each run's emergence step on its own curve.", "name": "fig-lab-rates"}}
show = ["effective_rank · Selection L1", "spectral_norm · Selection L1", "weibull_lam · Transmission",
        "rel_change · Selection"]
fig, axes = plt.subplots(1, len(show), figsize=(13, 3), squeeze=False)
for ax, cand in zip(axes.flat, show):
    statistic, group = cand.split(" · ")
    for name in emerged.sort_values("emergence_step").run:
        s = stats[(stats.run == name) & (stats.statistic == statistic) & (stats.group == group)]
        s = s[s.step >= int(runs.set_index("run").loc[name, "warmup"])].dropna(subset=["value"])
        sm = smooth(s["step"], s["value"])
        ax.plot(10 ** sm.u, sm.dy, color=palette[name], lw=1)
        u_em = float(runs.set_index("run").loc[name, "u_em"])
        ax.plot(10 ** u_em, np.interp(u_em, sm.u, sm.dy), "o", color=palette[name], ms=4)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xscale="log", xlabel="step (log)", ylabel="d/d log10(step)", title=cand)
    ax.title.set_fontsize(8)
plt.show()

# %% [markdown]
# ## Leave-one-out prediction
#
# {numref}`tab-lab-prediction` applies the rule to every candidate over the
# {glue:text}`lab_n_emerged` runs where copying emerged; the rule needs at least
# three of them to leave one out.

# %% tags=["remove-cell"]
PREDICTION_KEYS = ["lab_best_mae", "lab_mae_loss", "lab_mae_median", "lab_best_lead", "lab_best_lead_lo",
                   "lab_best_lead_hi", "lab_level"]
if len(emerged) >= 3:
    target = emerged.set_index("run")["u_em"]
    table = prediction_table(events[events.run.isin(target.index)], target,
                             {"loss": emerged.set_index("run")["u_loss"], "median": "median"},
                             alpha=alpha, n_boot=n_boot, n_perm=n_perm, seed=seed)
    table = table.sort_values("mae", ignore_index=True)
    table["edge"] = table.candidate.map(edge).astype(int)
    best = table.iloc[0]
    for key, col in zip(PREDICTION_KEYS, ["mae", "mae_loss", "mae_median", "lead", "lead_lo", "lead_hi", "level"]):
        glue(key, float(best[col]), display=False)
    glue("lab_best", best.candidate, display=False)
    glue("lab_n_beat", int(table.beats.sum()), display=False)
    glue("lab_n_lead", int(table.leads.sum()), display=False)
    glue("lab_n_predict", int(table.predicts.sum()), display=False)
    # the verdict reads the intervals (the rule); the permutation test beside them is reported, not voted
    glue("lab_n_predict_perm", int((table.predicts & (table.p_loss_adj < alpha) & (table.p_median_adj < alpha)).sum()),
         display=False)
    glue("lab_predictors", ", ".join(table.loc[table.predicts, "candidate"]) or "none", display=False)
    glue("lab_verdict", "yes" if table.predicts.any() else "no", display=False)
else:  # fewer than three runs to leave one out of: the rule cannot be applied
    table = pd.DataFrame(columns=["candidate", "mae", "mae_loss", "mae_median", "d_loss", "d_loss_lo", "d_loss_hi",
                                  "p_loss", "d_median", "d_median_lo", "d_median_hi", "p_median", "lead",
                                  "lead_lo", "lead_hi", "edge", "predicts"])
    for key in PREDICTION_KEYS:
        glue(key, math.nan, display=False)
    glue("lab_best", "none (too few runs emerged)", display=False)
    for key in ["lab_n_beat", "lab_n_lead", "lab_n_predict", "lab_n_predict_perm"]:
        glue(key, 0, display=False)
    glue("lab_predictors", "none", display=False)
    glue("lab_verdict", "untested", display=False)
cols = {"candidate": "candidate", "mae": "error", "mae_loss": "error, loss baseline",
        "mae_median": "error, median baseline", "d_loss_hi": "Δ vs loss, upper", "p_loss": "p vs loss",
        "d_median_hi": "Δ vs median, upper", "p_median": "p vs median", "lead": "lead",
        "lead_lo": "lead, lower", "lead_hi": "lead, upper", "edge": "change points at an edge",
        "predicts": "predicts"}
glue("tab-lab-prediction", Markdown(page.table_markdown(
    table[list(cols)].rename(columns=cols),
    {c: ".3f" for c in ["error", "error, loss baseline", "error, median baseline", "Δ vs loss, upper",
                        "Δ vs median, upper", "lead", "lead, lower", "lead, upper"]})), display=False)

# %% [markdown]
# ```{glue:figure} tab-lab-prediction
# :name: tab-lab-prediction
# Every candidate under the rule, best first. Errors are mean |predicted − observed| emergence in decades
# (leave-one-out); Δ is the candidate's error minus a baseline's, with the upper end of its interval (below 0: the
# candidate is better); lead is emergence − change point in decades (above 0: the statistic moved first), with its
# interval; all intervals at the Bonferroni level; p: one-sided sign-flip test of Δ < 0, Bonferroni-adjusted
# ("< m/n": no sign pattern reached the observed value); change points at an edge: runs whose change point is on the
# first or last analysed step.
# ```

# %% tags=["remove-input"] mystnb={"figure": {"caption": "The verdict's three intervals for the eight candidates with the smallest error: the error difference to each baseline (left two panels; left of 0: better than the baseline) and the lead (right; right of 0: the statistic changes first). Bars: Bonferroni-level bootstrap intervals over runs; dots: means.", "name": "fig-lab-forest"}}
top = table.head(8).iloc[::-1]
# no candidate under the rule (too few runs emerged): no figure, and the next cell says why
if len(top):
    fig, axes = plt.subplots(1, 3, figsize=(12, 0.35 * len(top) + 1.2), sharey=True)
    for ax, (key, title) in zip(axes, [("d_loss", "error − loss baseline"), ("d_median", "error − median baseline"),
                                       ("lead", "lead (decades)")]):
        lo, hi = top[f"{key}_lo"], top[f"{key}_hi"]
        y = np.arange(len(top))
        ax.hlines(y, lo, hi, color="C0", lw=2)
        ax.plot(top[key], y, "o", color="C0")
        ax.axvline(0, color="k", lw=1)
        ax.set(title=title, xlabel="decades")
    axes[0].set_yticks(np.arange(len(top)), top.candidate, fontsize=7)
    plt.show()

# %% tags=["remove-input"]
if len(top):
    display(Markdown("{numref}`fig-lab-forest` shows the intervals the verdict reads."))
else:
    display(Markdown("With fewer than three runs where copying emerged the rule is not applied: the table "
                     "is empty and there are no intervals to draw."))

# %% [markdown]
# ## What it shows
#
# - Counted over the {glue:text}`lab_n_candidates` candidates: beating both
#   baselines {glue:text}`lab_n_beat`, changing first {glue:text}`lab_n_lead`,
#   both {glue:text}`lab_n_predict` (predictors: {glue:text}`lab_predictors`).

# %% tags=["remove-input"]
# findings that quote emergence steps and the rule's errors exist only where the rule ran
if len(emerged) >= 3:
    display(Markdown("""
- Copying emerged in {glue:text}`lab_n_emerged` of {glue:text}`lab_n_runs` runs,
  spread over a factor of {glue:text}`lab_em_spread:.1f` in steps (steps
  {glue:text}`lab_em_min:,.0f` to {glue:text}`lab_em_max:,.0f`); the runs that
  never reached the level ({glue:text}`lab_n_never`) are listed, not dropped.
- The most accurate candidate, {glue:text}`lab_best`, places the emergence step
  with a mean error of {glue:text}`lab_best_mae:.3f` decades, against
  {glue:text}`lab_mae_loss:.3f` for the validation loss's change point and
  {glue:text}`lab_mae_median:.3f` for the median step; its lead is
  {glue:text}`lab_best_lead:.3f` decades (interval {glue:text}`lab_best_lead_lo:.3f`
  to {glue:text}`lab_best_lead_hi:.3f`, confidence {glue:text}`lab_level:.4f`).
- Predictors whose Bonferroni-adjusted sign-flip p-values are also below α
  against both baselines: {glue:text}`lab_n_predict_perm` of
  {glue:text}`lab_n_predict`. With so few runs a percentile bootstrap at the
  Bonferroni level can be narrower than the spread of the runs warrants; where
  the two disagree, the verdict still follows the rule stated above.
- {glue:text}`lab_edge_share:.2f` of the candidates' change points fall on the
  first or last analysed step (flagged in the table); the validation loss's
  change point does in {glue:text}`lab_loss_edge` runs."""))
else:
    display(Markdown("""
- Copying emerged in {glue:text}`lab_n_emerged` of {glue:text}`lab_n_runs` runs
  ({glue:text}`lab_n_never` never reached the level; all are listed), too few to
  leave one out: no candidate's error or lead is measured in this profile."""))

# %% [markdown]
# ## Answer

# %% tags=["remove-input"]
# the limits quote the number of runs the rule ran on, so they belong to the answer only where it ran
limits = """ *Limits:* one capability on one synthetic task, which in most runs is itself the training
data (with 10-50 % natural text mixed in, copying did not emerge within these run lengths); {glue:text}`lab_n_emerged` runs give wide
intervals (and percentile intervals at the Bonferroni level that may be too narrow: the permutation
p-values stand beside them), and a Bonferroni correction over {glue:text}`lab_n_candidates` candidates
can miss a real but modest predictor; each curve contributes one event (its fastest change after warm-up), so a signal in a
second, smaller bump is not credited; "emerged" means a smoothed copying accuracy of
{glue:text}`lab_copy_level:.2f`."""
if len(emerged) >= 3:
    display(Markdown("""
In {glue:text}`lab_n_emerged` of {glue:text}`lab_n_runs` runs of a two-layer transformer learning
in-context copying, copying emerged between steps {glue:text}`lab_em_min:,.0f` and
{glue:text}`lab_em_max:,.0f`. We asked whether the step at which a weight statistic changes fastest
tells a left-out run's emergence step better than that run's validation-loss change point and better
than the median emergence step, and ahead of it. Does one? **{glue:text}`lab_verdict`**. Candidates
that pass with Bonferroni-corrected intervals: {glue:text}`lab_n_predict` of
{glue:text}`lab_n_candidates`. The most accurate, {glue:text}`lab_best`, misses by
{glue:text}`lab_best_mae:.3f` decades on average, against {glue:text}`lab_mae_loss:.3f` for the loss
and {glue:text}`lab_mae_median:.3f` for the median step, and its change comes
{glue:text}`lab_best_lead:.3f` decades before the jump (interval {glue:text}`lab_best_lead_lo:.3f` to
{glue:text}`lab_best_lead_hi:.3f`; to predict, the whole interval must lie above 0).""" + limits))
else:
    display(Markdown("""
We asked whether the step at which a weight statistic changes fastest tells a left-out run's emergence
step better than that run's validation-loss change point and better than the median emergence step,
and ahead of it. In this profile the question is **{glue:text}`lab_verdict`**: copying emerged in
{glue:text}`lab_n_emerged` of {glue:text}`lab_n_runs` runs, and the rule needs three."""))

# %% [markdown]
# ## Ledger
#
# No paper states when copying should emerge or which statistic should
# announce it; heavy-tailed self-regularisation
# {cite:p}`martin2021predicting` reads *quality* off the weights, across
# trained models. The ledger shows our count of candidates that predict the
# emergence step for context: {glue:text}`ledger.emergence_timing.ours`
# ({glue:text}`ledger.emergence_timing.verdict`).

# %% tags=["remove-cell"]
if len(emerged) >= 3:
    ledger.check("emergence_timing", int(table.predicts.sum()),
                 shown=f"{int(table.predicts.sum())} of {table.candidate.nunique()} candidates")
else:
    ledger.check("emergence_timing", None, why="fewer than three runs of this profile learned to copy")
