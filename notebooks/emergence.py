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
# # Do weight statistics predict when capabilities emerge?
#
# Heavy-tailed self-regularisation {cite:p}`martin2021implicit` reads the quality of
# a trained network off the spectra of its weight matrices, without data. This
# chapter asks a sharper, temporal question: during training, does any summary
# statistic of the weights *change* at the step where a capability appears? If it
# did, one could watch the weights to know when a model learns to do something.
#
# **The trap.** Almost every weight statistic and almost every capability is close
# to monotone in training step, so any statistic correlates strongly with any
# capability in *level* — because both depend on time. We therefore never
# correlate levels. We compare *events* on the log-step axis (the step where a
# statistic changes fastest against the step where a capability crosses halfway
# to its final level) and the *rates of change* per decade of training, and we
# judge both against null distributions that keep each curve's own shape.
#
# **Statistics** (per matrix, then the median over a component class; the
# Transmission class is the attention output and MLP, Selection the query/key
# projections, as in the skeleton chapter):
#
# * *spectral norm* σ₁ — the largest gain of the map; grows as the matrix picks
#   out a few directions;
# * *stable rank* ‖W‖²_F/σ₁² and *effective rank* exp(H(σ/Σσ))
#   {cite:p}`roy2007effective` — how many
#   directions carry the energy; a capability that needs a new low-rank circuit
#   (an induction head) might show up as a drop;
# * *top-10 variance fraction* — the same from the other side;
# * *α*, the power-law exponent of the tail of the eigenvalue spectrum of WᵀW,
#   fitted as weightwatcher does with the x_min choice of {cite:t}`clauset2009powerlaw`
#   (smaller α = heavier tail, in Martin & Mahoney's reading better-trained layers);
# * *drift per decade* ‖W_t − W_s‖_F/‖W_s‖_F / log₁₀(t/s) between consecutive
#   checkpoints — how fast the weights move;
# * the *Weibull shape k* of the pooled magnitudes, the book's own statistic.
#
# **Capabilities.** Whether an ability "emerges" or merely crosses a threshold of
# a discontinuous metric is itself debated {cite:p}`schaeffer2023mirage`; we use
# continuous scores (accuracies, log-perplexity, losses) and define emergence by
# the curve's own levels. For real Pythia, the published zero-shot evaluations at every
# checkpoint {cite:p}`biderman2023pythia`: LAMBADA (accuracy and log-perplexity,
# last-word prediction that needs long context), PIQA, ARC-easy/-challenge, SciQ
# and WinoGrande. For the book's own small runs, the two probes the training lab
# logs at every snapshot: the *in-context copying* accuracy (repeat a random token
# sequence — the signature of induction heads, which appear abruptly) and the
# validation loss.
#
# **Method.** Curves live on u = log₁₀(step) (step 0, the initialisation, is shown
# but not analysed). Each curve is smoothed with a cubic smoothing spline whose
# penalty is chosen by generalised cross-validation ({func}`npmk.emergence.smooth`),
# and differentiated analytically. A statistic's *change point* is where |dy/du| is
# largest; a capability's *emergence* is where its smoothed curve first reaches
# halfway from its initial to its final level, provided the net gain exceeds three
# noise levels. The *lag* is u(change point) − u(emergence) in decades; negative
# means the statistic moved first. Significance: the mean |lag| across models
# (sizes, or seeds and architectures of our runs) against change points drawn
# uniformly over the analysed range — the null a circular shift of the rate series
# produces for an argmax detector — and, for rates, Pearson r of the two
# derivatives against circular shifts of one of them
# ({func}`npmk.emergence.lead_lag_table`).

# %% tags=["parameters"]
# the training lab's runs whose snapshots we analyse: the small model on the copying
# task (preset "copying"; why these settings: npmk.runconfig.PRESETS)
runs = [
    {"preset": "copying", "arch": "pythia", "seed": 0},
    {"preset": "copying", "arch": "pythia", "seed": 1},
    {"preset": "copying", "arch": "llama", "seed": 0},
]
pythia_sizes = ["70m", "160m", "410m", "1b-deduped", "1.4b"]  # published eval curves
hub_sizes = []  # full: spectral statistics of EleutherAI/pythia-<size> at every eval step
n_perm = 10_000  # null draws of the lead–lag test
n_perm_rate = 500  # circular shifts of the rate-correlation test
seed = 0

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import Markdown, display
from myst_nb import glue

import npmk.style
from npmk import data, ledger
from npmk.capabilities import pythia_eval_keys, pythia_evals, run_probes
from npmk.checkpoints import open_checkpoint
from npmk.emergence import change_point, emergence, lead_lag_table, lead_lag_test, smooth
from npmk.runs import RunConfig, get_run
from npmk.spectra import snapshot_spectra
from npmk.weibull import fit as weibull_fit

npmk.style.use()
torch.manual_seed(seed)
STATS = ["spectral_norm", "stable_rank", "effective_rank", "topk_var", "alpha", "drift_per_decade", "weibull_k"]
CLASSES = ["Transmission", "Selection"]


def missing(exc: Exception) -> None:
    display(Markdown(f"**Data missing** — {exc}"))

# %% [markdown]
# ## Capabilities of real Pythia across training
#
# The published curves, on a log-step axis. LAMBADA perplexity is shown as
# log₁₀(ppl), lower is better.

# %%
try:
    evals = pythia_evals(pythia_sizes)
except data.MissingDataError as exc:
    missing(exc)
    evals = pd.DataFrame(columns=["model", "step", "task", "metric", "value", "stderr"])

ppl = evals["metric"] == "ppl"
evals.loc[ppl, "stderr"] = evals.loc[ppl, "stderr"] / (evals.loc[ppl, "value"] * math.log(10))
evals.loc[ppl, "value"] = np.log10(evals.loc[ppl, "value"])
evals.loc[ppl, "metric"] = "log10_ppl"
evals["capability"] = evals["task"] + " " + evals["metric"]
evals["direction"] = np.where(evals["metric"] == "log10_ppl", -1, 1)

if len(evals):
    plot = evals[evals["step"] >= 1]
    g = sns.relplot(data=plot, x="step", y="value", hue="model", col="capability", col_wrap=4,
                    kind="line", marker="o", markersize=3, height=2.4, aspect=1.25,
                    facet_kws={"sharey": False})
    g.set(xscale="log")
    g.set_titles("{col_name}")
    g.set_axis_labels("training step (log)", "score")
    g.figure.suptitle("Pythia zero-shot evaluations by checkpoint (Biderman et al. 2023)", y=1.02)
    plt.show()

# %%
em_rows = []
for (model, cap), c in evals[evals["step"] >= 1].groupby(["model", "capability"]):
    e = emergence(c["step"], c["value"], stderr=c["stderr"], direction=int(c["direction"].iloc[0]))
    em_rows.append({"model": model, "capability": cap, "emergence step": e.step if e.emerged else np.nan,
                    "emerged": e.emerged, "gain": e.gain})
pythia_emergence = pd.DataFrame(em_rows, columns=["model", "capability", "emergence step", "emerged", "gain"])
if len(pythia_emergence):
    display(pythia_emergence.pivot(index="capability", columns="model", values="emergence step").round(0))
    lam = pythia_emergence[(pythia_emergence.capability == "lambada_openai acc") & pythia_emergence.emerged]
    glue("lambada_em_min", float(lam["emergence step"].min()), display=False)
    glue("lambada_em_max", float(lam["emergence step"].max()), display=False)
else:
    glue("lambada_em_min", math.nan, display=False)
    glue("lambada_em_max", math.nan, display=False)

# %% [markdown]
# Most capabilities that rise above noise cross halfway between steps ~1,000 and
# ~5,000 — LAMBADA accuracy between steps {glue:text}`lambada_em_min:,.0f` and
# {glue:text}`lambada_em_max:,.0f` across sizes — with LAMBADA perplexity a little
# earlier and WinoGrande, barely above chance, the late exception (empty cells: no
# gain in the right direction above three noise levels, e.g. ARC-challenge, which
# first *falls* from its initial level). The checkpoint grid is the
# first limit of this analysis: Pythia publishes evaluations at steps 1000, 3000
# and 13000, so "emergence at step 2,000" means "between 1,000 and 3,000".

# %% [markdown]
# ## Real Pythia-70M: the Weibull shape and scale against its capabilities
#
# The dynamics paper {cite:p}`ding2026dynamics` ships the pooled Weibull k and λ of
# the real Pythia-70M checkpoints (23 steps). We take its two curves as weight
# statistics and ask whether their change points sit at the 70M model's emergence
# steps. Offline this is one size only; the `full` profile adds the spectral
# statistics of every size from the hub.

# %%
root = "NPM-Weibull-public/Weibull_WeightScale_dynamics/derived_data/real_pythia/"
try:
    k_by_step = pd.read_json(data.fetch(root + "realpythia_k_by_step.json"), typ="series")
    closure = pd.read_json(data.fetch(root + "realpythia_closure.json"))
    perblock = pd.read_json(data.fetch(root + "realpythia_perblock_k.json"), typ="series")
    real_stats = pd.concat([
        pd.DataFrame({"model": "pythia-70m", "statistic": "weibull_k (pooled)",
                      "step": k_by_step.index.astype(int), "value": k_by_step.to_numpy()}),
        pd.DataFrame({"model": "pythia-70m", "statistic": "weibull_lambda (pooled)",
                      "step": closure["step"].astype(int), "value": closure["lambda_obs"]}),
    ], ignore_index=True)
except data.MissingDataError as exc:
    missing(exc)
    real_stats, perblock = pd.DataFrame(columns=["model", "statistic", "step", "value"]), None

caps70 = evals[evals["model"] == "pythia-70m"][["model", "capability", "step", "value", "stderr", "direction"]]
if len(real_stats) and len(caps70):
    real = lead_lag_table(real_stats, caps70, n_perm=n_perm, n_perm_rate=n_perm_rate, seed=seed)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (stat, s) in zip(axes, real_stats.groupby("statistic")):
        s = s.sort_values("step")
        sm = smooth(s["step"], s["value"])
        ax.plot(s["step"], s["value"], "o", ms=3, label="derived data")
        ax.plot(10 ** sm.u, sm.y, "-", label="smoothing spline")
        cp = change_point(s["step"], s["value"])
        ax.axvline(cp.step, color="k", ls="--", label=f"change point ≈ step {cp.step:,.0f}")
        for _, r in real.detail[(real.detail.statistic == stat) & real.detail.emerged].iterrows():
            ax.axvline(r["step_cap"], color="C3", alpha=0.25, lw=1)
        ax.set(xscale="log", xlabel="training step (log)", ylabel=stat, title=f"Pythia-70M {stat}")
        ax.legend(fontsize=7)
    fig.suptitle("red lines: emergence steps of the 70M model's capabilities", fontsize=9)
    plt.show()
    display(real.detail[["statistic", "capability", "step_stat", "step_cap", "emerged", "lag", "level_r",
                         "rate_r", "rate_p"]].round(3))
    k_row = real.summary[(real.summary.statistic == "weibull_k (pooled)")
                         & (real.summary.capability == "lambada_openai acc")].iloc[0]
    glue("real_k_cp", float(real.detail.loc[real.detail.statistic == "weibull_k (pooled)", "step_stat"].iloc[0]),
         display=False)
    glue("real_k_lag", float(k_row["mean_abs_lag"]), display=False)
    glue("real_k_p", float(k_row["p_lag"]), display=False)
    glue("real_level_r", float(real.detail["level_r"].abs().median()), display=False)
    best = real.detail[real.detail.emerged].sort_values("rate_p").iloc[0]
    glue("real_rate_best", f"{best['statistic']} against {best['capability']}", display=False)
    glue("real_rate_best_r", float(best["rate_r"]), display=False)
    glue("real_rate_best_p", float(best["rate_p"]), display=False)
    flat = real.detail[~real.detail.emerged].sort_values("rate_p")
    glue("real_rate_decoy", f"{flat.iloc[0]['statistic']} against {flat.iloc[0]['capability']}"
         if len(flat) else "none (every capability emerged)", display=False)
    glue("real_rate_decoy_r", float(flat.iloc[0]["rate_r"]) if len(flat) else math.nan, display=False)
    glue("real_rate_decoy_p", float(flat.iloc[0]["rate_p"]) if len(flat) else math.nan, display=False)
else:
    for key in ["real_k_cp", "real_k_lag", "real_k_p", "real_level_r", "real_rate_best_r", "real_rate_best_p",
                "real_rate_decoy_r", "real_rate_decoy_p"]:
        glue(key, math.nan, display=False)
    glue("real_rate_best", "not computed (data missing)", display=False)
    glue("real_rate_decoy", "not computed (data missing)", display=False)

# %% [markdown]
# The pooled k of Pythia-70M sits at its initialisation value until step 1000 and
# moves fastest around step {glue:text}`real_k_cp:,.0f` — in the same decade in
# which LAMBADA, SciQ and ARC-easy emerge (|lag| {glue:text}`real_k_lag:.2f`
# decades to LAMBADA; p = {glue:text}`real_k_p:.3f` against change points drawn
# uniformly over the log-step range). That coincidence is real but hardly
# informative: Pythia warms its learning rate up over the first 1% of training
# (1,430 steps), nothing in the weights or the evaluations moves much before, and
# *every* curve here — k, λ and all capabilities — has its fastest change right
# after warm-up. One statistic with one change point cannot tell apart
# capabilities that emerge a decade apart. Levels correlate strongly (median
# |r| of levels {glue:text}`real_level_r:.2f`), as the trap predicts. Rates
# discriminate little better: the strongest rate correlation with an emerged
# capability, {glue:text}`real_rate_best`, has r = {glue:text}`real_rate_best_r:.2f`
# (circular-shift p = {glue:text}`real_rate_best_p:.3f`, before correcting for the
# 14 pairs), while the strongest with a capability that never emerges at this
# size, {glue:text}`real_rate_decoy`, has r = {glue:text}`real_rate_decoy_r:.2f`
# (p = {glue:text}`real_rate_decoy_p:.3f`). When every rate is one broad bump in
# the same decade, a rate correlation measures that shared timing, not a link.

# %% [markdown]
# ## The book's own runs: spectra of every snapshot against the copying probe
#
# The training lab logs an in-context copying probe whose accuracy jumps when
# induction heads form — a textbook emergent capability on a scale we can
# recompute. On the stdlib alone our CPU-sized runs never reach it (the lab's
# notes in {mod}`npmk.runconfig` give the tuning record), so these runs train the small
# model on the copying task itself: windows of random ids from a 64-token
# alphabet, tiled with a random period, at η = 1e-3 (at the default 3e-3 the
# jump does not come). Their validation loss is measured on stdlib text the
# model never trains on: a curve of the same run that has nothing to do with
# copying, which makes it a fair control for "something changed then". For each run we compute every statistic of every skeleton matrix
# at every snapshot, take the median per component class, and test the lead–lag of
# each statistic's change point against the copying score's emergence, across
# runs (seeds and two architectures: the cross-run check).

# %%
def run_label(cfg: dict) -> str:
    cfg = RunConfig.from_spec(cfg)
    return f"{cfg.arch}-{cfg.size}-s{cfg.seed}"


def add_drift_rate(df: pd.DataFrame) -> pd.DataFrame:
    """drift_per_decade = rel_change / log10(step / previous step); NaN where the previous step is 0."""
    steps = sorted(df["step"].unique())
    prev_step = dict(zip(steps[1:], steps[:-1]))
    df["drift_per_decade"] = [
        r / math.log10(s / prev_step[s]) if s in prev_step and prev_step[s] >= 1 else np.nan
        for s, r in zip(df["step"], df["rel_change"])]
    return df


per_matrix, probes = [], []
for cfg in runs:
    run = get_run(RunConfig.from_spec(cfg), progress=False)
    label = run_label(cfg)
    steps = run.snapshot_steps
    df = add_drift_rate(snapshot_spectra(((s, run.snapshot(s)) for s in steps), family=run.family, progress=False))
    df["model"] = label
    per_matrix.append(df)
    for s in steps:  # Weibull shape of the pooled class magnitudes at each snapshot
        snap = run.snapshot(s)
        for cls in CLASSES:
            names = df.loc[(df.step == s) & (df.cls == cls), "name"]
            x = torch.cat([snap[n].abs().flatten() for n in names]).double().numpy()
            per_matrix.append(pd.DataFrame([{"model": label, "step": s, "cls": cls, "name": f"pooled {cls}",
                                             "weibull_k": weibull_fit(x).k}]))
    pr = run_probes(run.probes, label)
    # binomial standard error of the copying accuracy over its probe_batch × (copy_len − 1)
    # predictions, with p kept off 0 and 1 so a single lucky token is not "emergence"
    n_pred = run.config.probe_batch * (run.config.copy_len - 1)
    acc = (pr.task == "in_context_copy") & (pr.metric == "acc")
    p_hat = pr.loc[acc, "value"].clip(1 / n_pred, 1 - 1 / n_pred)
    pr.loc[acc, "stderr"] = np.sqrt(p_hat * (1 - p_hat) / n_pred)
    probes.append(pr)
per_matrix = pd.concat(per_matrix, ignore_index=True)
probes = pd.concat(probes, ignore_index=True)

own_stats = (per_matrix[per_matrix.cls.isin(CLASSES)]
             .melt(id_vars=["model", "step", "cls", "name"], value_vars=STATS, var_name="stat")
             .dropna(subset=["value"])
             .groupby(["model", "step", "cls", "stat"], as_index=False)["value"].median())
own_stats["statistic"] = own_stats["stat"] + " · " + own_stats["cls"]
probes["capability"] = probes["task"] + " " + probes["metric"]
probes = probes[probes.capability.isin(["in_context_copy acc", "validation loss"])].copy()
probes["direction"] = np.where(probes["metric"] == "loss", -1, 1)

# %%
plot = own_stats[own_stats.step >= 1]
g = sns.relplot(data=plot, x="step", y="value", hue="cls", style="model", col="stat", col_wrap=4,
                kind="line", height=2.4, aspect=1.2, facet_kws={"sharey": False},
                palette={c: npmk.style.CLASS_COLORS[c] for c in CLASSES})
g.set(xscale="log")
g.set_titles("{col_name}")
g.set_axis_labels("training step (log)", "median over the class")
init = own_stats[own_stats.step == 0].groupby(["stat", "cls"])["value"].median()
for stat, ax in g.axes_dict.items():
    for cls in CLASSES:
        if (stat, cls) in init.index:
            ax.axhline(init[(stat, cls)], color=npmk.style.CLASS_COLORS[cls], ls=":", lw=1)
g.figure.suptitle("Weight statistics of the own runs (dotted: value at initialisation, step 0)", y=1.02)
plt.show()

fig, ax = plt.subplots(figsize=(7, 3.4))
sns.lineplot(data=probes[probes.step >= 1], x="step", y="value", hue="capability", style="model",
             marker="o", markersize=3, ax=ax)
ax.set(xscale="log", xlabel="training step (log)", ylabel="probe value (acc; loss in nats)",
       title="Capabilities of the own runs")
plt.show()

# %%
own = lead_lag_table(own_stats[["model", "statistic", "step", "value"]],
                     probes[["model", "capability", "step", "value", "stderr", "direction"]],
                     n_perm=n_perm, n_perm_rate=n_perm_rate, seed=seed)
copy = own.summary[own.summary.capability == "in_context_copy acc"].sort_values("mean_abs_lag")
display(copy.round(3))
copy_em = own.detail[(own.detail.capability == "in_context_copy acc")].drop_duplicates("model")
n_emerged = int(copy_em["emerged"].sum())
glue("copy_n_emerged", n_emerged, display=False)
glue("n_runs", len(runs), display=False)
glue("copy_em_step", float(copy_em.loc[copy_em.emerged, "step_cap"].median()) if n_emerged else math.nan,
     display=False)

# %% [markdown]
# The copying score emerged (gain above three noise levels) in
# {glue:text}`copy_n_emerged` of {glue:text}`n_runs` runs, at a median step of
# {glue:text}`copy_em_step:,.0f`. Below, the smoothed rate of change of each
# statistic with its change point (×), the copying score's emergence (red band:
# the range over runs) and the validation loss's own change point as a control —
# a weight statistic that predicts emergence no better than the loss curve's
# change point adds nothing.

# %%
det = own.detail[own.detail.capability == "in_context_copy acc"]
stats_order = list(copy["statistic"])
n = len(stats_order)
ncol = 4
fig, axes = plt.subplots(math.ceil(n / ncol), ncol, figsize=(12, 2.4 * math.ceil(n / ncol)), squeeze=False)
for ax, stat in zip(axes.flat, stats_order):
    for i, (model, s) in enumerate(own_stats[(own_stats.statistic == stat) & (own_stats.step >= 1)]
                                   .groupby("model")):
        sm = smooth(s["step"], s["value"])
        ax.plot(10 ** sm.u, sm.dy, color=f"C{i}", lw=1.2, label=model)
        cp = det[(det.statistic == stat) & (det.model == model)]
        if len(cp):
            ax.plot(cp["step_stat"], np.interp(cp["u_stat"], sm.u, sm.dy), "x", color=f"C{i}", ms=8)
    em = det[(det.statistic == stat) & det.emerged]
    if len(em):
        ax.axvspan(em["step_cap"].min(), em["step_cap"].max() * 1.001, color="C3", alpha=0.2)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xscale="log", title=stat, xlabel="step (log)", ylabel="d/d log10(step)")
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.title.set_fontsize(8)
for ax in list(axes.flat)[n:]:
    ax.remove()
axes.flat[0].legend(fontsize=6)
fig.suptitle("Rates of change per decade, change points (×) and copying emergence (red)", fontsize=10)
plt.show()

# %%
lagplot = det[det.emerged].copy()
loss_cp = own.detail[(own.detail.capability == "in_context_copy acc") & own.detail.emerged][
    ["model", "u_cap"]].drop_duplicates()
ctrl = []
for model, p in probes[(probes.capability == "validation loss") & (probes.step >= 1)].groupby("model"):
    cu = loss_cp.loc[loss_cp.model == model, "u_cap"]
    if len(cu):
        ctrl.append({"statistic": "control: validation-loss change point", "model": model,
                     "lag": change_point(p["step"], p["value"]).u - float(cu.iloc[0])})
lagplot = pd.concat([lagplot[["statistic", "model", "lag"]], pd.DataFrame(ctrl)], ignore_index=True)
if len(det[det.emerged]):
    fig, ax = plt.subplots(figsize=(7, 0.32 * lagplot.statistic.nunique() + 1.4))
    sns.stripplot(data=lagplot, y="statistic", x="lag", hue="model", order=stats_order + [
        "control: validation-loss change point"], ax=ax, size=6, jitter=False)
    ax.axvline(0, color="k", lw=1)
    ax.set(xlabel="lag = log10(change-point step) − log10(emergence step)  [decades; < 0: statistic first]",
           ylabel="", title="Lead–lag against the copying score's emergence")
    plt.show()

    best = copy.iloc[0]
    rows = det[(det.statistic == best["statistic"]) & det.emerged]
    t = lead_lag_test(rows["u_stat"], rows["u_cap"], rows["lo"], rows["hi"], n_perm=n_perm, seed=seed)
    fig, ax = plt.subplots(figsize=(6, 3))
    sns.histplot(t.null, bins=60, stat="density", ax=ax, color="0.6")
    ax.axvline(t.observed, color="C3", lw=2, label=f"observed {t.observed:.3f} (p = {t.p_value:.3f})")
    ax.set(xlabel="mean |lag| over runs (decades)", title=f"Null for the closest statistic: {best['statistic']}")
    ax.title.set_fontsize(9)
    ax.legend()
    plt.show()
    glue("own_best_lag", float(best["mean_abs_lag"]), display=False)
    glue("own_best_p", float(best["p_lag"]), display=False)
    glue("own_n_tests", int(len(copy)), display=False)
    ctrl_lag = float(np.mean(np.abs([c["lag"] for c in ctrl]))) if ctrl else math.nan
    predictors = copy[(copy["p_lag"] < 0.05 / len(copy)) & copy["same_sign"] & (copy["max_abs_lag"] < 0.3)
                      & (copy["mean_abs_lag"] < ctrl_lag) & (copy["n_models"] >= 2)]
    glue("own_summary",
         f"The statistic whose change point lies closest to the copying score's emergence is "
         f"{best['statistic']} (mean |lag| {best['mean_abs_lag']:.3f} decades, p = {best['p_lag']:.4f} "
         f"against uniformly placed change points); {int((copy['p_lag'] < 0.05 / len(copy)).sum())} of "
         f"{len(copy)} statistic × class pairs pass a Bonferroni-corrected 5% level, and "
         f"{int((copy['same_sign'] & (copy['max_abs_lag'] < 0.3)).sum())} keep one sign and stay within "
         f"0.3 decades in every run; the validation loss's own change point lies {ctrl_lag:.3f} decades "
         f"from the emergence on average. The trap shows in the same table: the median |r| of levels is "
         f"{copy['level_r'].abs().median():.2f}, that of rates {copy['rate_r'].abs().median():.2f}.",
         display=False)
    glue("own_answer", "none of them meets all five" if predictors.empty else
         "only " + ", ".join(predictors["statistic"]) + " meet(s) all five", display=False)
    glue("headline", "No weight statistic we tried predicts when a capability emerges, beyond the "
         "trivial fact that weights and capabilities both change once training gets going."
         if predictors.empty else
         "On our runs " + ", ".join(predictors["statistic"]) + " changes when the copying score "
         "emerges, in every run; on real Pythia no statistic does more than coincide with the warm-up.",
         display=False)
else:
    display(Markdown("**The copying score did not emerge in any run** — no lead–lag to test."))
    for key in ["own_best_lag", "own_best_p"]:
        glue(key, math.nan, display=False)
    glue("own_n_tests", 0, display=False)
    glue("own_answer", "none can be tested, because the copying score never emerged", display=False)
    glue("own_summary", "The copying score did not rise above its noise level in any run of this profile, "
         "so there is no emergence step to lead or lag; the figures above still show how each statistic "
         "moves during training.", display=False)
    glue("headline", "Undecided on our runs (the copying score never emerged); on real Pythia no "
         "statistic does more than coincide with the warm-up.", display=False)

# %% [markdown]
# {glue:text}`own_summary`
#
# A statistic counts as a predictor of the copying score's emergence only if it
# passes five criteria: Bonferroni-corrected p < 0.05, one sign of the lag in every
# run, |lag| < 0.3 decades in every run, a mean |lag| smaller than the
# validation-loss control's, and emergence in at least two runs. Of the
# {glue:text}`own_n_tests` statistic × class pairs, {glue:text}`own_answer`.

# %% [markdown]
# ## Real Pythia at every size (`full` profile)
#
# With hub access, the `full` profile computes every statistic on the Pythia
# checkpoints of each size at the evaluation steps and repeats the lead–lag test
# across sizes — the check that a relationship holds for 70M, 160M, 410M, 1B and
# 1.4B alike. Offline this section is skipped.

# %%
def hub_snapshots(size: str):
    """(step, 2-D tensors) of EleutherAI/pythia-<size> at each evaluated step, one checkpoint at a time."""
    for step in pythia_eval_keys(size):
        ckpt = open_checkpoint(f"EleutherAI/pythia-{size}", revision=f"step{step}")
        yield step, {i.name: ckpt.tensor(i) for i in ckpt.infos() if len(i.shape) == 2}


hub_frames = []
for size in hub_sizes:
    df = add_drift_rate(snapshot_spectra(hub_snapshots(size), family="gpt_neox"))
    df["model"] = f"pythia-{size}"
    hub_frames.append(df)
if hub_frames:
    hub = pd.concat(hub_frames, ignore_index=True)
    hub_stats = (hub[hub.cls.isin(CLASSES)]
                 .melt(id_vars=["model", "step", "cls"], value_vars=[s for s in STATS if s in hub],
                       var_name="stat").dropna(subset=["value"])
                 .groupby(["model", "step", "cls", "stat"], as_index=False)["value"].median())
    hub_stats["statistic"] = hub_stats["stat"] + " · " + hub_stats["cls"]
    sizes = lead_lag_table(hub_stats[["model", "statistic", "step", "value"]],
                           evals[["model", "capability", "step", "value", "stderr", "direction"]],
                           n_perm=n_perm, n_perm_rate=n_perm_rate, seed=seed)
    display(sizes.summary.sort_values("p_lag").round(3).head(20))
else:
    display(Markdown("*Hub statistics not computed in this profile (`hub_sizes` is empty).*"))

# %% [markdown]
# ## Answer
#
# **{glue:text}`headline`** On real Pythia-70M the Weibull shape moves in the same decade as
# LAMBADA, SciQ and ARC-easy emerge — but so does everything, right after the
# learning-rate warm-up, and a single change point cannot distinguish
# capabilities that emerge a decade apart. On our own runs, where the copying
# score jumps at a well-defined step, the five-criterion test above is the
# verdict: of the statistic × class pairs, {glue:text}`own_answer`. A
# coincidence in one run is easy to find among fourteen candidates; holding in
# every run, closer than the loss curve's own change point, is what a predictor
# would need.
#
# **Limits.** (1) Checkpoint spacing: Pythia's evaluations jump from step 1,000
# to 3,000 to 13,000, which bounds the resolution of any lag to about half a
# decade there; our runs snapshot every 50 steps after step 64. (2) Few models:
# one real size offline, a handful of runs; the `full` profile adds four sizes.
# (3) The null places change points uniformly on the log axis, but real training
# concentrates change right after warm-up; a stricter null (change points of
# unrelated curves) would make the weak coincidences weaker still. (4) At
# initialisation (dotted lines) the statistics sit at their random-matrix values —
# near-full effective rank, large α (no heavy tail in a Marchenko–Pastur bulk) —
# so their early movement is departure from randomness, common to all runs,
# not a signature of any one capability.

# %% [markdown]
# ## Ledger
#
# The published counterpart here is the dynamics paper's per-block k of the real
# Pythia-70M: median 1.190, inside the band [1.186, 1.204]. Recomputed from its
# derived data: median {glue:text}`perblock_k_median:.4f`
# ({glue:text}`perblock_k_median_verdict`); the pooled aggregate
# {glue:text}`aggregate_k_final:.4f` at step 143,000 against the paper's 1.162
# ({glue:text}`aggregate_k_final_verdict`). The lead–lag results have no published
# value — new analysis.

# %%
if perblock is not None and len(real_stats):
    ks = [row[1] for row in perblock["per_matrix"]]
    glue("perblock_k_median", float(np.median(ks)), display=False)
    glue("perblock_k_median_verdict", ledger.verdict(float(np.median(ks)), 1.190, tol=5e-4), display=False)
    final_k = float(real_stats[(real_stats.statistic == "weibull_k (pooled)")]
                    .sort_values("step")["value"].iloc[-1])
    glue("aggregate_k_final", final_k, display=False)
    glue("aggregate_k_final_verdict", ledger.verdict(final_k, 1.162, tol=5e-4), display=False)
else:
    for key in ["perblock_k_median", "aggregate_k_final"]:
        glue(key, math.nan, display=False)
        glue(key + "_verdict", "miss (not computed: data missing)", display=False)
