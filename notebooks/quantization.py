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
# # What quantization does to k
#
# Most language models that fit on a laptop arrive as GGUF files whose weight
# matrices are stored in 4 to 8 bits per value {cite:p}`gerganov2023ggml`. A fit
# of such a file measures the dequantized values: every block of 32 or 256
# weights snapped to a grid of a few levels, and, in the symmetric formats, the
# smallest magnitudes rounded to exactly zero. The NPM-K band
# {glue:text}`quant_band` {cite:p}`ding2026npmk` is {glue:text}`quant_band_width:.2f`
# wide. **How far does each GGUF type move the
# Weibull shape $k$ and scale $\lambda$ of a network's skeleton, and at which bit
# widths can a quantized file still say whether a network's $k$ lies in the
# band?**
#
# We quantize full-precision networks with every GGUF type that has a
# quantizer, read them back through llama.cpp's reference dequantizer, and fit
# both versions of the same weights with the probability-plot fit of
# {doc}`../../book/methods`.

# %% tags=["parameters"]
real = ["all-MiniLM-L6-v2", "all-mpnet-base-v2", "whisper-base"]  # full-precision networks of npmk.realnets
runs = [{"preset": "base", "arch": "pythia", "seed": 0}, {"preset": "base", "arch": "llama", "seed": 0}]  # lab run specs
lms = ["smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b"]  # 4-bit GGUF LMs of npmk.realnets, read with the bias band
types = ["F16", "BF16", "Q8_0", "Q6_K", "Q5_1", "Q5_0", "Q4_1", "Q4_K", "Q4_0", "MXFP4"]  # GGUF types
n_values: int | None = 262144  # values quantized per network (chunks of 256, stratified by tensor); None: all
groups = 8  # disjoint chunk groups for the standard errors
trim = 0.8
seed = 42

# %% tags=["remove-cell"]
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

import npmk.style
from npmk import ledger, measure, page, realnets
from npmk.quant_shift import (
    band_verdict,
    bias_bands,
    corrected_interval,
    direction,
    lowest_type,
    resolution,
    sample_chunks,
    shift_table,
    shift_text,
)
from npmk.quantize import TYPES, roundtrip
from npmk.runs import RunConfig, get_run
from npmk.weibull import body_bounds, plotting_y

npmk.style.use()
_band = ledger.claim("terminal_k_band")
BAND = (_band.lo, _band.hi)
WIDTH = BAND[1] - BAND[0]
glue("quant_band", _band.published, display=False)
glue("quant_band_width", WIDTH, display=False)

# %% [markdown]
# ## The formats
#
# Each GGUF type stores a block of values as small integers and one or two
# scales per block (table below). The legacy types (`Q8_0`, `Q5_0`, `Q4_0`) are
# symmetric: $w \approx d\,q$ with one scale $d$ per 32 values, so every $|w|$
# below $d/2$ becomes 0. `Q5_1` and `Q4_1` add a per-block minimum,
# $w \approx d\,q + m$, and leave almost no exact zeros. The K-quants group 256
# values into sub-blocks with their own 6- or 8-bit scales; `Q4_K` is
# asymmetric, `Q6_K` symmetric. `MXFP4` stores 4-bit floats (e2m1) with a
# power-of-two scale. The `gguf` package quantizes the first group; for `Q4_K`
# and `Q6_K`, which it can only read, {mod}`npmk.quantize` implements
# llama.cpp's reference quantizer, and the test suite checks its bytes against
# the C reference block by block. The ternary types `TQ1_0` and `TQ2_0` also
# have a quantizer; they are made for networks trained to be ternary and zero
# nearly nine in ten weights of a float network, so no body is left to fit and
# they stay out of the default table.

# %% tags=["remove-input"]
fmt = pd.DataFrame([{"type": t.name, "bits per weight": t.bits, "values per block": t.block,
                     "quantizer": "gguf" if t.quantizer == "gguf" else "npmk port of llama.cpp"}
                    for t in TYPES.values() if t.name in types])
page.table(fmt, {"bits per weight": ".4g"})

# %% [markdown]
# ## The networks and the sample
#
# The full-precision networks at hand offline ({mod}`npmk.realnets`) are two
# sentence encoders, all-MiniLM-L6-v2 (BERT, fp32) {cite:p}`wang2020minilm` and
# all-mpnet-base-v2 (MPNet, fp32), the speech model Whisper base
# (encoder–decoder, stored in fp16), and the final snapshots of the book's own
# lab runs. Each skeleton is cut into chunks of 256 consecutive values, the
# K-quants' super-block, which every other block size divides; a sample of
# `n_values` values' worth of chunks, drawn within each tensor in proportion to
# its size, goes through every type. Both fits use the same chunks, so the shift $\Delta k$
# is a paired difference; its standard error comes from
# {glue:text}`groups` disjoint groups of chunks.

# %% tags=["remove-cell"]
sources = [(name, f"real:{name}", None) for name in real]
for cfg in runs:
    run = get_run(RunConfig.from_spec(cfg), progress=False)
    step = run.snapshot_steps[-1]
    sources.append((f"lab {cfg['arch']} ({cfg['preset']})", run.snapshot(step), run.family))

samples, parts, noise = {}, [], []
for label, src, family in sources:
    s = sample_chunks(src, family=family, n_values=n_values, seed=seed, label=label)
    samples[label] = s
    t = shift_table(s, types, trim=trim, groups=groups, seed=seed, progress=False)
    parts.append(t.assign(network=label))
    full = measure(src, by="pooled", family=family, trim=trim, progress=False).iloc[0]
    noise.append({"network": label, "skeleton values": s.n_skeleton, "sampled": s.n,
                  "k, all values": full["k"], "k, sample": float(t["k_ref"].iloc[0]),
                  "rows not a multiple of 256": len(s.misaligned)})
shifts = pd.concat(parts, ignore_index=True)
noise = pd.DataFrame(noise)
noise["sample − all"] = noise["k, sample"] - noise["k, all values"]
nets = list(samples)
pooled = shifts[shifts["population"] == "pooled"]

# %% tags=["remove-input"]
page.table(noise, {"k, all values": ".4f", "k, sample": ".4f", "sample − all": "+.4f"})

# %% [markdown]
# The sample's own $k$ differs from the fit of every value by up to
# {glue:text}`sample_dev:.4f` (table above): the sample's own noise. That offset
# is common to both sides of $\Delta k$ and largely cancels in it; what remains
# is the standard error quoted with every shift. Where a tensor's rows are not a
# multiple of 256 values (MiniLM's width is 384), a K-quant super-block here
# spans two rows; llama.cpp would store such a tensor in a fallback type
# instead (`Q5_0` for `Q4_K`, `Q8_0` for `Q6_K`), so for those tensors the
# K-quant rows describe the format, not the file llama.cpp would write.
#
# ## The shift, type by network
#
# The headline table gives, for the pooled skeleton, $\Delta k$ (± one standard
# error) and the relative change of $\lambda$. {numref}`fig-quant-dk` plots
# $\Delta k$ against the storage cost.

# %% tags=["remove-input"]
head = pooled.assign(cell_k=[shift_text(r.dk, r.se_dk, r.method) for r in pooled.itertuples()],
                     cell_l=pooled["dlam"].map(lambda v: page.number(v, "+.2%")))
table = head.pivot(index="type", columns="network", values=["cell_k", "cell_l"]).reindex(types)
table = table.reorder_levels([1, 0], axis=1).reindex(columns=pd.MultiIndex.from_product([nets, ["cell_k", "cell_l"]]))
table = table.rename(columns={"cell_k": "Δk", "cell_l": "Δλ"}, level=1)
table.index = pd.Index([f"{t} ({TYPES[t].bits:.3g} bits)" for t in table.index], name="type")
page.table(table, index=True)

# %% [markdown]
# \* the zeros reach into the 80% body, so the fit is left-censored at zero (see
# {ref}`quant-zeros`).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Shift of the pooled Weibull shape by GGUF type, ordered by storage cost, one colour per network (error bars: two standard errors). The grey band is a quarter of the NPM-K band's width on either side of zero: inside it, a quantized reading can be taken as is.", "name": "fig-quant-dk"}}
fig, ax = plt.subplots(figsize=(7.0, 4.0))
ax.axhspan(-WIDTH / 4, WIDTH / 4, color="0.88", zorder=0)
ax.axhline(0, color="0.5", lw=0.8)
xpos = {t: i for i, t in enumerate(types)}
for i, net in enumerate(nets):
    p = pooled[pooled["network"] == net]
    ax.errorbar(p["type"].map(xpos) + 0.12 * (i - (len(nets) - 1) / 2), p["dk"], yerr=2 * p["se_dk"].fillna(0),
                fmt="o", ms=4, capsize=2, color=f"C{i}", label=net)
ax.set_xticks(range(len(types)), [f"{t}\n{TYPES[t].bits:.3g}" for t in types], fontsize=8)
ax.set_xlabel("GGUF type and bits per weight")
ax.set_ylabel("Δk (pooled skeleton)")
ax.legend(fontsize=8, loc="lower right")
plt.show()

# %% [markdown]
# ## Per component kind
#
# Pooling mixes matrices of different scales, and the per-block grid acts on
# each block's own scale, so the shift per kind can differ from the pooled one
# ({numref}`fig-quant-kinds`).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Shift of k per component kind for each GGUF type, all networks together; colour gives the kind's class (Transmission, Selection, other), the marker the network. Grey: a quarter of the NPM-K band's width either side of zero.", "name": "fig-quant-kinds"}}
kinds = shifts[shifts["population"] != "pooled"]
markers = dict(zip(nets, "os^Dv"))
fig, ax = plt.subplots(figsize=(7.0, 4.2))
ax.axhspan(-WIDTH / 4, WIDTH / 4, color="0.88", zorder=0)
ax.axhline(0, color="0.5", lw=0.8)
rng = np.random.default_rng(0)
for (net, cls), sub in kinds.groupby(["network", "cls"]):
    x = sub["type"].map(xpos) + rng.uniform(-0.25, 0.25, len(sub))
    ax.scatter(x, sub["dk"], s=18, marker=markers[net], color=npmk.style.CLASS_COLORS.get(cls, "0.5"), alpha=0.8)
ax.set_xticks(range(len(types)), types, rotation=45, fontsize=8)
ax.set_ylabel("Δk per kind")
handles = [plt.Line2D([], [], ls="", marker="o", color=c, label=k) for k, c in npmk.style.CLASS_COLORS.items()]
handles += [plt.Line2D([], [], ls="", marker=m, color="0.3", label=n) for n, m in markers.items()]
ax.legend(handles=handles, fontsize=7, ncol=2, loc="upper left")
plt.show()

# %% [markdown]
# The table below, folded away, gives every kind's $\Delta k$ and $\Delta\lambda$ for
# each network and type.

# %% tags=["remove-input", "hide-output"]
per_kind = kinds.assign(cell=[f"{page.number(r.dk, '+.4f')} / {page.number(r.dlam, '+.2%')}" if math.isfinite(r.dk)
                              else "—" for r in kinds.itertuples()])
per_kind = per_kind.pivot_table(index=["network", "population"], columns="type", values="cell", aggfunc="first")
page.table(per_kind.reindex(columns=types).rename_axis(index=["network", "kind"]), index=True)

# %% [markdown]
# (quant-zeros)=
# ## Exact zeros
#
# A symmetric type writes 0 for every $|w| < d/2$. For `Q4_0`, with
# $d = \max|w| / 8$ per block of 32, that is about a tenth of a Gaussian block,
# right where the 80% body begins at the 10% quantile. The fit keeps every zero
# at its rank (a zero *is* the dequantized value) but cannot take $\ln 0$; when
# zeros reach into the body, it is left-censored: the plotting positions
# $(i - 0.5)/n$ still count all $n$ values, and the regression starts at the
# first positive rank (`weibull.fit(..., zeros="censor")`). Tied values, which
# a quantized tensor holds many of within each block, take consecutive ranks
# as in any sort. {numref}`fig-quant-probplot` shows what the grid does to the
# probability plot.

# %% tags=["remove-input"]
zeros = pooled.pivot(index="type", columns="network", values="zero_frac").reindex(types)[nets]
censored = pooled.pivot(index="type", columns="network", values="method").reindex(types)[nets]
page.table(zeros.map(lambda v: page.number(v, ".2%")) + censored.map(lambda m: " *" if m == "sort-censored" else ""),
           index=True)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Weibull probability plot of the first network's sampled skeleton before and after quantization (every 200th order statistic). Dashed: the 80% body. Q4_0's zeros, which have no logarithm, occupy the ranks below the dotted line.", "name": "fig-quant-probplot"}}
first = samples[nets[0]]
lo, hi = body_bounds(trim)
fig, ax = plt.subplots(figsize=(7.0, 4.2))
show = [t for t in ("Q8_0", "Q4_K", "Q4_0") if t in types]
for i, t in enumerate([None, *show]):
    mag = np.sort(np.abs(first.chunks if t is None else roundtrip(first.chunks, t)).ravel())
    n = mag.size
    idx = np.arange(1, n + 1, 200)
    keep = mag[idx - 1] > 0
    ax.plot(np.log(mag[idx - 1][keep]), plotting_y(idx[keep], n), lw=1.2, color=f"C{i}",
            label="reference" if t is None else t)
    if t == "Q4_0":
        ax.axhline(float(plotting_y(np.searchsorted(mag, 0, side="right") + 0.5, n)), color=f"C{i}", ls=":", lw=1)
for F in (lo, hi):
    ax.axhline(math.log(-math.log1p(-F)), color="0.4", ls="--", lw=0.8)
ax.set_xlabel("ln |w|")
ax.set_ylabel("ln(−ln(1 − F))")
ax.set_xlim(np.log(np.quantile(np.abs(first.chunks), 0.005)), None)
ax.set_ylim(math.log(-math.log1p(-0.005)), None)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Which bit widths resolve the band
#
# For each type, the bias band is the range of pooled shifts seen over the
# networks, each widened by two standard errors. A type resolves the NPM-K band
# *as is* when every shift is within a quarter of the band's width of zero
# (±{glue:text}`tol:.3f`); *after correction* when the shift is larger but
# varies by less than that between networks, so subtracting it recovers $k$;
# otherwise not.

# %% tags=["remove-input"]
bands = bias_bands(shifts).reindex(types)
bands["resolves"] = resolution(bands, WIDTH)
btab = bands.assign(**{"bias band": [page.span(a, b, "+.4f", brackets=True) for a, b in zip(bands["lo"], bands["hi"])]})
btab.index = pd.Index([f"{t} ({TYPES[t].bits:.3g} bits)" for t in btab.index], name="type")
page.table(btab[["bias band", "resolves"]], index=True)

# %% [markdown]
# ## Reading the 4-bit language models
#
# The registry's decoder LMs exist here only as quantized GGUF files:
# SmolLM2-135M in `Q4_1` (its embedding in `Q8_0`), Gemma 3 270M and
# Qwen2.5-Coder-0.5B in llama.cpp's `Q4_K_M` mix, where most matrices fall back
# to `Q5_0` because their rows (640 and 896 values) are not a multiple of 256.
# Their measured $k$ includes the quantization's shift. For each file, the bias
# band is the union of the bands of the types it holds, and subtracting it from
# the measured pooled $k$ leaves the interval where the unquantized network's
# $k$ lies, provided the shifts measured above carry over to these networks
# (table and figure below).

# %% tags=["remove-cell"]
lm_rows = []
for name in lms:
    r = measure(f"real:{name}", by="pooled", trim=trim, progress=False).iloc[0]
    held = sorted(set((r["quantized"] or "").split(",")) - {""})
    known = [t for t in held if t in bands.index and math.isfinite(bands.loc[t, "lo"])]
    lo_b, hi_b = ((bands.loc[known, "lo"].min(), bands.loc[known, "hi"].max()) if known == held and held
                  else (math.nan, math.nan))
    k_lo, k_hi = corrected_interval(float(r["k"]), lo_b, hi_b)
    lm_rows.append({"network": realnets.get(name).model.split("/")[-1], "types": ", ".join(held),
                    "k (file)": float(r["k"]), "bias band": (lo_b, hi_b), "k unquantized": (k_lo, k_hi),
                    "band": band_verdict((k_lo, k_hi), BAND), "in band as read": BAND[0] <= r["k"] <= BAND[1]})
lm = pd.DataFrame(lm_rows, columns=["network", "types", "k (file)", "bias band", "k unquantized", "band",
                                    "in band as read"])

# %% tags=["remove-input"]
if len(lm):
    page.table(lm.assign(**{"bias band": lm["bias band"].map(lambda p: page.span(*p, "+.4f", brackets=True)),
                            "k unquantized": lm["k unquantized"].map(lambda p: page.span(*p, brackets=True))}),
               {"k (file)": ".4f"})
else:
    display(Markdown("No 4-bit language model is read in this profile (`lms` is empty), "
                     "so there is no table and no figure of them."))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Pooled k of the 4-bit GGUF language models as read from the file (dots) and the interval left for the unquantized network once the bias band of the file's types is subtracted (bars), against the NPM-K band (grey).", "name": "fig-quant-lms"}}
# an empty profile (no LM read) draws nothing: the cell above says so
if len(lm):
    fig, ax = plt.subplots(figsize=(7.0, 0.55 * len(lm) + 1.4))
    ax.axvspan(*BAND, color="0.88", label=f"NPM-K band [{BAND[0]}, {BAND[1]}]")
    for i, r in enumerate(lm.itertuples()):
        a, b = r[5]
        if math.isfinite(a):
            ax.plot([a, b], [i, i], lw=5, color="C0", alpha=0.5, solid_capstyle="butt")
        ax.plot(r[3], i, "o", color="C3")
    ax.set_yticks(range(len(lm)), lm["network"], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("pooled Weibull shape k")
    ax.plot([], [], "o", color="C3", label="as read from the file")
    ax.plot([], [], lw=5, color="C0", alpha=0.5, label="unquantized, after the bias band")
    ax.legend(fontsize=7, loc="best")
    plt.show()

# %% [markdown]
# ## What it shows
#
# - At 8 bits and above the shift is invisible at the band's scale: `Q8_0`
#   moves the pooled $k$ by at most {glue:text}`worst_q8:.4f`, `Q6_K` by
#   {glue:text}`worst_q6k:.4f`.
# - The asymmetric types, which write almost no exact zeros, stay small down to
#   4 bits: at most {glue:text}`worst_q41:.4f` for `Q4_1` and
#   {glue:text}`worst_q4k:.4f` for `Q4_K`.
# - `Q5_0` moves $k$ {glue:text}`q50_dir`, by {glue:text}`q50_lo:+.4f` to
#   {glue:text}`q50_hi:+.4f`: its zeros ({glue:text}`zero_q50:.1%` of the values) stay
#   below the body, so the shift comes from its coarse steps near zero, which
#   reshape the lower body. `Q4_0` moves $k$ by up to {glue:text}`worst_q40:.4f`,
#   {glue:text}`q40_dir`, once its zeros ({glue:text}`zero_q40:.1%` of the values on
#   average) reach into the body and the fit has to be censored.
# - The lowest bit width that resolves the band as is, on these networks:
#   {glue:text}`lowest_asis`; after correction: {glue:text}`lowest_corr`.
#   Types that do not: {glue:text}`not_resolving`.
# - Per kind, shifts are larger than pooled: up to {glue:text}`worst_kind:.3f`
#   for {glue:text}`worst_kind_type` ({numref}`fig-quant-kinds`), so per-kind
#   readings of a 4-bit file need the correction more than the pooled one.
# - The bias band comes from {glue:text}`nets_phrase` of the headline
#   table; none is a large decoder LM.

# %% tags=["remove-cell"]
glue("groups", groups, display=False)
glue("sample_dev", float(noise["sample − all"].abs().max()), display=False)
glue("tol", WIDTH / 4, display=False)
for key, t in {"q8": "Q8_0", "q6k": "Q6_K", "q4k": "Q4_K", "q41": "Q4_1", "q40": "Q4_0"}.items():
    glue(f"worst_{key}", float(bands["worst"].get(t, math.nan)), display=False)
q50 = pooled.loc[pooled["type"] == "Q5_0", "dk"]
glue("q50_lo", float(q50.min()) if len(q50) else math.nan, display=False)
glue("q50_hi", float(q50.max()) if len(q50) else math.nan, display=False)
glue("nets_phrase", "the one network" if len(nets) == 1 else f"the {len(nets)} networks", display=False)
glue("q50_dir", direction(q50), display=False)
glue("q40_dir", direction(pooled.loc[pooled["type"] == "Q4_0", "dk"]), display=False)
z50 = pooled.loc[pooled["type"] == "Q5_0", "zero_frac"]
glue("zero_q50", float(z50.mean()) if len(z50) else math.nan, display=False)
z40 = pooled.loc[pooled["type"] == "Q4_0", "zero_frac"]
glue("zero_q40", float(z40.mean()) if len(z40) else math.nan, display=False)
for key, levels in (("lowest_asis", {"as is"}), ("lowest_corr", {"as is", "after correction"})):
    t = lowest_type(bands, levels)
    glue(key, f"{t} ({TYPES[t].bits:.3g} bits)" if t else "none", display=False)
glue("not_resolving", ", ".join(bands.index[bands["resolves"].isin({"no", "unknown"})]) or "none", display=False)
kk = kinds.loc[kinds["dk"].abs().idxmax()]
glue("worst_kind", float(abs(kk["dk"])), display=False)
glue("worst_kind_type", f"{kk['type']} ({kk['population']}, {kk['network']})", display=False)
# one reading per LM read; a profile that reads none says so
glue("lm_readings", "; ".join(f"{r.network} has k = {r[3]:.4f} as read, {page.span(*r[5], brackets=True)} "
                              f"unquantized ({r.band})" for r in lm.itertuples())
     or "none in this profile (it reads no 4-bit language model)", display=False)

# %% [markdown]
# Read from their 4-bit files, with respect to the NPM-K band:
# {glue:text}`lm_readings`. These readings assume that the shift of a type
# depends on the format more than on the network, which the spread between the
# networks measured here supports only as far as the band's width.
