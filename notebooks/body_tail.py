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
# # Body–tail ablation
#
# **Question.** NPM-K {cite:p}`ding2026npmk` fits $k$ to the middle 80 % of the
# sorted magnitudes. Its README reports a body–tail ablation, fits over the middle
# 90 % and over all values (100 %), *run on 7 of its 10 models*, and states that
# full-range fits mask the cross-family convergence: the band is a property of the
# body. Does opening the body to 90 % and 100 % widen the spread of $k$ across the
# trained networks this machine can read, and how does the trim move $k$ along
# training?
#
# At 100 % the body reaches the smallest magnitude. A population holding exact
# zeros (pruned or padding rows, fp16 underflow, or a quantization level at zero)
# then puts ln 0 in the regression; the engine refuses that fit with the reason
# instead of returning a number, and such cells show "not fitted".

# %% tags=["parameters"]
real_networks: str | list = "default"  # registry profile ("default" or "full") or a list of npmk.realnets names
# run specs: a preset of npmk.runconfig.PRESETS, an architecture and a seed each
runs = [{"preset": "base", "arch": "pythia", "seed": 0}, {"preset": "base", "arch": "llama", "seed": 0}]
models = []  # extra sources: hub ids, local dirs, .safetensors / .gguf files, CTranslate2 model.bin
revisions = {}
subsample = None  # values drawn per user model, None keeps all
trims = [0.8, 0.9, 1.0]
max_snapshots = 12  # checkpoints per run in the series (log-spaced subset of run.snapshot_steps)
seed = 42

# %% tags=["remove-input"]
import math

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

import npmk.style
from npmk import measure, page, realfits, realnets
from npmk.data import MissingDataError, note_missing
from npmk.ledger import check
from npmk.runs import RunConfig, get_run

npmk.style.use()
BAND = npmk.style.K_BAND
nets = realnets.names(real_networks) if isinstance(real_networks, str) else list(real_networks)
LABEL = {t: f"k at {int(round(100 * t))} %" for t in trims}


# %% [markdown]
# ## Final models at three trims
#
# One reading per network gives all three fits ({func}`npmk.measure` with a
# list of trims); the registry networks' results are cached on disk
# ({mod}`npmk.realfits`). {numref}`fig-bt-final` shows how each network's pooled $k$
# moves as the body opens.

# %% tags=["remove-input"]
parts, missing = [], []  # one multi-trim measurement per network (model, group, trim, k, error)
for n in nets:
    try:
        parts.append(realfits.fits(n, "pooled", tuple(trims)).assign(
            model=n, group="real decoder LM" if realnets.get(n).decoder_lm else "real encoder / speech"))
    except MissingDataError as err:
        missing.append(err)
run_objs = {}
for spec in runs:
    run = get_run(RunConfig.from_spec(spec))
    name = f"lab {run.config.arch}-{run.config.size}"
    run_objs[name] = run
    last = run.snapshot_steps[-1]
    parts.append(measure(run.snapshot(last), family=run.family, trim=trims, progress=False)
                 .assign(model=f"{name} @ {last}", group="lab run"))
for src in models:
    parts.append(measure(src, revision=revisions.get(src), subsample=subsample, seed=seed, trim=trims,
                         progress=False).assign(model=str(src), group="user"))

long = pd.concat(parts, ignore_index=True)[["model", "group", "trim", "k", "error"]]
errors = long[long["error"].notna()]  # fits the engine refused, with its reason
order = pd.MultiIndex.from_frame(long[["model", "group"]].drop_duplicates())
final = long.pivot(index=["model", "group"], columns="trim", values="k").reindex(index=order, columns=trims)
final = final.rename(columns=LABEL).reset_index()
for err in missing:
    note_missing(err)
# a refused fit shows as a dash; the list below gives the reason
page.table(final, dict.fromkeys(LABEL.values(), ".4f"))
if len(errors):
    display(Markdown("Fits the engine refused:"))
    page.table(errors.assign(reason=errors["error"].str[:160])[["model", "trim", "reason"]], {"trim": ".0%"})

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Pooled k of each final network at the three trims: middle 80 %, middle 90 % and all values. A missing point at 100 % is a refused fit (exact zeros in the body). Grey band: NPM-K's band, stated for the 80 % body.", "name": "fig-bt-final"}}
fig, ax = plt.subplots(figsize=(7.0, 3.8))
ax.axhspan(*BAND, color="0.87", label="NPM-K band (80 % body)")
for i, (label, d) in enumerate(long.groupby("model", sort=False)):
    ax.plot([100 * t for t in d["trim"]], d["k"], marker="o", ms=4, color=f"C{i % 10}", label=label)
ax.set_xticks([100 * t for t in trims])
ax.set_xlabel("body fitted (% of the sorted magnitudes, centred)")
ax.set_ylabel("pooled Weibull shape k")
ax.legend(fontsize=7, ncol=2)
plt.show()

# %% [markdown]
# ## Along the training series
#
# The lab runs' snapshots, each fitted at the three trims ({numref}`fig-bt-series`).

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Pooled k of the lab runs' snapshots at the three trims, by training step (log axis). Grey band: NPM-K's band for the 80 % body.", "name": "fig-bt-series"}}
series = []
for name, run in run_objs.items():
    for step in run.thinned_steps(max_snapshots, keep_zero=False):
        df = measure(run.snapshot(step), family=run.family, trim=trims, progress=False)
        series += [{"run": name, "step": step, "trim": r.trim, "k": r.k} for r in df.itertuples()]
series = pd.DataFrame(series, columns=["run", "step", "trim", "k"])
fig, axes = plt.subplots(1, max(1, len(run_objs)), figsize=(7.0, 3.6), sharey=True, squeeze=False)
for ax, (name, sub) in zip(axes[0], series.groupby("run", sort=False)):
    ax.axhspan(*BAND, color="0.88", label="NPM-K band")
    for i, (t, st) in enumerate(sub.groupby("trim")):
        ax.plot(st["step"], st["k"], marker="o", ms=3, color=f"C{i}", label=f"{int(round(100 * t))} % body")
    ax.set_xscale("log")
    ax.set_xlabel("training step")
    ax.set_title(name, fontsize=10)
axes[0][0].set_ylabel("pooled Weibull shape k")
axes[0][0].legend(fontsize=8)
plt.show()

# %% [markdown]
# ## What our networks can and cannot test
#
# The paper's statement is about its own decoder LMs: on them, the 80 % fits agree
# across families and the 100 % fits do not. Here the spread is taken over a
# small, mixed set: two sentence encoders, a speech model, three small decoder LMs
# shipped as 4- to 6-bit GGUF files and the lab's minute-long runs. A wider spread
# at 100 % than at 80 % on this set is consistent with the statement (the tails
# differ more between networks than the bodies do), but it cannot confirm it for
# the paper's ten models, and a quantized network's tails are partly the
# quantizer's: rounding onto a few levels per block reshapes the smallest
# magnitudes and clips nothing at the top. The `full` profile runs the same
# ablation on the paper's models from the Hub.
#
# ## What it shows
#
# - Over all {glue:text}`n_models_all` networks the spread (max − min) of $k$ is
#   {glue:text}`spread_80:.4f` with the 80 % body and {glue:text}`spread_90:.4f` at
#   90 % ({numref}`fig-bt-final`); opening the body to 90 % moves $k$ by
#   {glue:text}`shift_90:+.4f` on average.
# - {glue:text}`n_refused` fits were refused for exact zeros in the 100 % body, among
#   them {glue:text}`n_real_refused` of the {glue:text}`n_real` registry networks: a
#   4- to 6-bit code puts whole blocks' smallest levels at exactly zero, and even the
#   float encoders hold a few hundred exact zeros. Only {glue:text}`n_models` networks
#   have all three fits; over them the spread is {glue:text}`spread_80_common:.4f` at
#   80 % and {glue:text}`spread_100:.4f` at 100 %.
# - Ledger verdict on "full-range fits mask the convergence":
#   {glue:text}`ledger.body_tail_masking.verdict` (tested only when at least three
#   networks, registry networks among them, have a 100 % fit).
# - Along the lab runs, $k_{80} > k_{90} > k_{100}$ holds at {glue:text}`n_ordered` of
#   {glue:text}`n_checkpoints` snapshots ({numref}`fig-bt-series`): the trim sets
#   the level of $k$, so values compare only at one fixed trim.

# %% tags=["remove-input"]
common = final.dropna()  # networks fitted at every trim; spreads over different sets would mislead
both = final.dropna(subset=[LABEL[0.8], LABEL[0.9]]) if {0.8, 0.9} <= set(trims) else final


# spread (max − min) of k over the networks, by trim column
spread_both = (both[list(LABEL.values())].max() - both[list(LABEL.values())].min()).to_dict()
spread_common = (common[list(LABEL.values())].max() - common[list(LABEL.values())].min()).to_dict()
glue("n_models", int(len(common)), display=False)
glue("n_models_all", int(len(final)), display=False)
glue("n_refused", len(errors), display=False)
real = final[final["model"].isin(nets)]
glue("n_real", int(len(real)), display=False)
glue("n_real_refused", int(real[LABEL[max(trims)]].isna().sum()), display=False)
if {0.8, 0.9, 1.0} <= set(trims):
    glue("spread_80", spread_both[LABEL[0.8]], display=False)
    glue("spread_90", spread_both[LABEL[0.9]], display=False)
    glue("shift_90", float((both[LABEL[0.9]] - both[LABEL[0.8]]).mean()) if len(both) else math.nan, display=False)
    glue("spread_80_common", spread_common[LABEL[0.8]], display=False)
    glue("spread_100", spread_common[LABEL[1.0]], display=False)
    testable = len(common) >= 3 and common["model"].isin(nets).any()
    _ = check("body_tail_masking", bool(spread_common[LABEL[1.0]] > spread_common[LABEL[0.8]]) if testable else None,
              shown=f"spread {spread_common[LABEL[0.8]]:.4f} at 80 %, {spread_common[LABEL[1.0]]:.4f} at 100 %" if testable else None,
              why="exact zeros leave fewer than three networks, registry networks among them, with a 100 % fit")
wide = series.pivot_table(index=["run", "step"], columns="trim", values="k").dropna()
if {0.8, 0.9, 1.0} <= set(wide.columns):
    glue("n_ordered", int(((wide[0.8] > wide[0.9]) & (wide[0.9] > wide[1.0])).sum()), display=False)
else:
    glue("n_ordered", "—", display=False)
glue("n_checkpoints", int(len(wide)), display=False)
