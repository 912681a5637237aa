# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The half-normal initialisation anchor across families
#
# Before training, a transformer's matrices are filled with i.i.d. draws
# $w \sim \mathcal N(0, \sigma_\text{init}^2)$, so $|w|$ is half-normal. The
# middle-80 % probability-plot fit then returns, in the continuum limit,
# $k_0 = 1.2054$ and $\lambda_0 = 0.8875\,\sigma$ whatever the matrix
# {cite:p}`ding2026weibull`: the anchor from which training moves $k$ and
# $\lambda$ ({doc}`measuring_stick` computes it by quadrature). The
# two-parameter paper reports the anchor verified at step 0 on five Pythia
# sizes to within 0.13 %.
#
# This chapter asks whether that holds, kind by kind, for the random
# initialisation of every family in {mod}`npmk.zoo` (built from transformers
# config classes, no download), and explains every place it does not:
#
# 1. Does each kind's $k$ sit on $k_0$ within the sampling noise of its size?
# 2. Does $\lambda/\sigma_\text{init}$ sit on $\lambda_0/\sigma$, with
#    $\sigma_\text{init}$ the config's `initializer_range`?
# 3. What does pooling matrices of different $\sigma$ do to the skeleton's $k$?

# %% tags=["parameters"]
zoo_size = "small"  # zoo size: "tiny" (hidden 64) or "small" (hidden 256)
seed = 0  # family i is built with seed + i, so the families are independent draws
families = []  # families to measure (empty: all 14)
per_tensor = True  # also fit every matrix on its own
dtype = "float16"  # storage dtype of the measured models (float32 is exact but ~7x slower to measure)
trim = 0.8  # body fraction of the fit
mc_repeats = 12  # half-normal samples per size for the sampling-noise calibration
mc_sizes = [4096, 16384, 65536, 262144]
hub_models = []  # full profile: [repo_id, revision] step-0 checkpoints measured from the Hub

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display
from myst_nb import glue

import npmk.style
from npmk import data, sweep, weibull, zoo
from npmk.ledger import verdict
from npmk.measure import measure

# %matplotlib inline
npmk.style.use()
families = list(families) or zoo.FAMILIES
K0_PAPER, LAM0_PAPER = 1.2054, 0.8875  # Ding (2026), two-parameter framework
PAPER_TOL = 0.0013  # "within 0.13 %" at step 0, five Pythia sizes (relative)
k0, lam0 = weibull.halfnormal_anchor(trim)
glue("init_k0", k0, display=False)
glue("init_lam0", lam0, display=False)
display(pd.DataFrame({"k": [k0, K0_PAPER], "λ/σ": [lam0, LAM0_PAPER]}, index=["quadrature", "paper"]).round(5))

# %% [markdown]
# ## How far a finite matrix may stray
#
# A matrix of $n$ values gives a sample fit whose $k$ and $\lambda/\sigma$
# scatter around the anchor with a standard deviation close to $c/\sqrt n$. We
# calibrate the two constants on half-normal draws, then judge every fit below
# by its $z$-score $z = (\hat k - k_0)\sqrt n / c_k$ (and likewise for $\lambda$).

# %%
rng = np.random.default_rng(seed)
cal = []
for n in mc_sizes:
    for _ in range(mc_repeats):
        f = weibull.fit(np.abs(rng.standard_normal(n)), trim=trim)
        cal.append({"n": n, "k": f.k, "lam": f.lam})
cal = pd.DataFrame(cal)
noise = cal.groupby("n").agg(sd_k=("k", "std"), sd_lam=("lam", "std"))
noise["c_k = sd·√n"] = noise.sd_k * np.sqrt(noise.index)
noise["c_λ = sd·√n"] = noise.sd_lam * np.sqrt(noise.index)
# pooled over sizes: c^2 = mean of sd^2 * n
c_k, c_lam = (float(np.sqrt((noise[col] ** 2).mean())) for col in ("c_k = sd·√n", "c_λ = sd·√n"))
display(noise.round(5))
glue("init_c_k", c_k, display=False)
glue("init_c_lam", c_lam, display=False)

# %% [markdown]
# So $c_k \approx$ {glue:text}`init_c_k:.2f` and $c_\lambda \approx$
# {glue:text}`init_c_lam:.2f`: a 256 × 256 matrix (65,536 values) fixes $k$ only to
# about ±{glue:text}`init_sd_k_65k:.4f`, so a single small matrix cannot test
# the anchor to 0.13 %; a kind pooled over layers, or the median over many
# fits, can.

# %%
glue("init_sd_k_65k", c_k / math.sqrt(65536), display=False)

# %% [markdown]
# ## Every family, kind by kind
#
# Each model is initialised in float32 and stored in `dtype`, as a checkpoint
# would be, then measured with {func}`npmk.measure` on its state dict (a tied
# output head counted once), per kind, per matrix and pooled.
# $\sigma_\text{init}$ is the config's `initializer_range` (0.02 for every
# family here). Half precision keeps 11 significant bits; first, what that
# rounding does to the fits of one family:

# %%
ref = zoo.unique_state_dict(zoo.build(families[0], size=zoo_size, seed=seed))
fits = {dt: measure({n: t.to(getattr(torch, dt)) for n, t in ref.items()}, by="kind", family=families[0],
                    trim=trim, progress=False).set_index("name")
        for dt in ("float32", dtype)}
rounding = (fits[dtype][["k", "lam"]] - fits["float32"][["k", "lam"]]).abs().max()
glue("init_dtype_dk", float(rounding["k"]), display=False)
display(Markdown(f"Largest change from float32 to {dtype} over the kinds of {families[0]}: "
                 f"|Δk| = {rounding['k']:.1e}, |Δλ| = {rounding['lam']:.1e}."))
del ref

# %% [markdown]
# The rounding moves $k$ by {glue:text}`init_dtype_dk:.1e` at most, far below the
# sampling noise of any matrix here, so the measurements below use `dtype`.

# %%
kinds, tensors, pooled = [], [], []
for i, fam in enumerate(families):
    model = zoo.build(fam, size=zoo_size, seed=seed + i, dtype=getattr(torch, dtype))
    sigma = zoo.sigma_init(model)
    state = zoo.unique_state_dict(model)
    n_layer = model.config.num_hidden_layers
    for by, sink in (("kind", kinds), ("pooled", pooled)) + ((("tensor", tensors),) if per_tensor else ()):
        df = measure(state, by=by, family=fam, trim=trim, progress=False)
        sink.append(df.assign(family=fam, sigma_init=sigma, n_layer=n_layer))
    del model, state
kinds, pooled = pd.concat(kinds, ignore_index=True), pd.concat(pooled, ignore_index=True)
tensors = pd.concat(tensors, ignore_index=True) if per_tensor else None


def annotate(df: pd.DataFrame) -> pd.DataFrame:
    """λ/σ_init, RMS/σ_init, RMS/λ and z-scores against the anchor."""
    out = df.assign(lam_over_sigma=df.lam / df.sigma_init, rms_over_sigma=df.rms / df.sigma_init,
                    rms_over_lam=df.rms / df.lam)
    out["z_k"] = (out.k - k0) * np.sqrt(out.n) / c_k
    out["z_lam"] = (out.lam_over_sigma - lam0) * np.sqrt(out.n) / c_lam
    return out


kinds = annotate(kinds)
tensors = annotate(tensors) if per_tensor else None
order = [k for k in ["embed", "q", "k", "v", "qkv", "o", "ffn_in", "ffn_out", "gate", "up", "down", "gate_up",
                     "router", "head", "other"] if k in set(kinds.kind)]
display(Markdown("Shape $k$ per kind:"))
display(kinds.pivot(index="family", columns="kind", values="k").reindex(index=families, columns=order).round(4))
display(Markdown("Scale $\\lambda/\\sigma_\\text{init}$ per kind:"))
display(kinds.pivot(index="family", columns="kind", values="lam_over_sigma")
        .reindex(index=families, columns=order).round(4))

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
source = tensors if per_tensor else kinds
for cls, color in npmk.style.CLASS_COLORS.items():
    sel = source[source.cls == cls]
    axes[0].scatter(sel.n, sel.k, s=10, alpha=0.6, color=color, label=cls)
    axes[1].scatter(sel.n, sel.lam_over_sigma, s=10, alpha=0.6, color=color, label=cls)
grid = np.geomspace(source.n.min() * 0.8, source.n.max() * 1.25, 100)
for ax, centre, c, label in ((axes[0], k0, c_k, "$k_0$"), (axes[1], lam0, c_lam, r"$\lambda_0/\sigma$")):
    ax.axhline(centre, color="black", lw=1, label=f"anchor {label} = {centre:.4f}")
    ax.fill_between(grid, centre - 3 * c / np.sqrt(grid), centre + 3 * c / np.sqrt(grid), color="0.85",
                    label="±3 sd of a half-normal sample", zorder=0)
    ax.set_xscale("log")
    ax.set_xlabel("values in the fitted population n")
axes[0].set_ylabel("shape k (middle 80 %)")
axes[1].set_ylabel(r"scale $\lambda / \sigma_\mathrm{init}$")
axes[0].set_title("Shape at initialisation, every matrix")
axes[1].set_title("Scale at initialisation, every matrix")
axes[0].legend(fontsize=8, loc="upper right")
low = source[source.lam_over_sigma < 0.6]
if len(low):
    axes[1].annotate("GPT-2 c_proj: σ/√(2L)", (low.n.median(), low.lam_over_sigma.median()),
                     xytext=(10, 12), textcoords="offset points", fontsize=8)
plt.show()

# %%
if per_tensor:
    glue("init_n_tensors", len(tensors), display=False)
    glue("init_n_tensor_outliers", int((tensors.z_k.abs() > 3).sum()), display=False)
    glue("init_n_tensor_expected", f"{len(tensors) * 0.0027:.1f}", display=False)

# %% [markdown]
# Left: {glue:text}`init_n_tensor_outliers` of {glue:text}`init_n_tensors`
# matrices have a $k$ outside ±3 sd of $k_0$ (about
# {glue:text}`init_n_tensor_expected` would be by chance alone), in every family
# and every kind, embeddings and heads included: at initialisation the shape
# is the anchor. Right: the scale is $\lambda_0\,\sigma_\text{init}$ for every
# matrix except one group, which sits a factor of about three lower.

# %% [markdown]
# ## Where the anchor does not hold, and why
#
# Fits whose $|z| > 3$ on either parameter, per kind:

# %%
dev = kinds[(kinds.z_k.abs() > 3) | (kinds.z_lam.abs() > 3)]
glue("init_dev_list", ", ".join(f"{f} {k}" for f, k in zip(dev.family, dev.kind)) or "none", display=False)
display(dev.set_index(["family", "kind"])[["n", "k", "z_k", "lam_over_sigma", "z_lam", "rms_over_sigma"]].round(4))

gpt2 = kinds[(kinds.family == "gpt2") & kinds.kind.isin(["o", "ffn_out"])]
if len(gpt2):
    L = int(gpt2.n_layer.iloc[0])
    glue("init_gpt2_lam", float(gpt2.lam_over_sigma.mean()), display=False)
    glue("init_gpt2_pred", lam0 / math.sqrt(2 * L), display=False)
    glue("init_gpt2_L", L, display=False)

# %% [markdown]
# The kinds off the anchor are: {glue:text}`init_dev_list`. In the default
# build these are GPT-2's two residual-output projections, off in $\lambda$
# only (`attn.c_proj` → `o`, `mlp.c_proj` → `ffn_out`). GPT-2 scales
# the initialisation of the projections that write into the residual stream
# by $1/\sqrt{2L}$ ($L$ = {glue:text}`init_gpt2_L` blocks here, two residual
# writes per block), and transformers reproduces that rule. Their values are
# still $\mathcal N(0, \sigma^2)$, only with $\sigma = \sigma_\text{init}/\sqrt{2L}$,
# so $k$ stays on the anchor while $\lambda/\sigma_\text{init}$ =
# {glue:text}`init_gpt2_lam:.4f` against $\lambda_0/\sqrt{2L}$ =
# {glue:text}`init_gpt2_pred:.4f`. $\lambda/\sigma_\text{init}$ measures the
# initialisation *convention* as much as the distribution: the ratio is the
# anchor only where the matrix was drawn with `initializer_range` itself.
#
# Things that could have moved the anchor and did not, here:
#
# * **Biases and norms** are zero- or one-initialised in most families, which
#   would wreck a fit, but canonical SKIP excludes them ({doc}`skip_audit`).
# * **Embeddings and output heads** are drawn like the other matrices in every
#   family here (no scaling by the width); a padding row would be
#   zeroed (`padding_idx`), but the zoo sets no padding token. A real
#   checkpoint with a zeroed row puts $1/V$ of its embedding values at 0,
#   below the body, which barely moves $k$.
# * **BERT and GPT-2 positional / segment embeddings** are ordinary Gaussian
#   matrices too.
# * **Pretraining code is not transformers.** Real step-0 checkpoints follow
#   their own training code: Pythia's GPT-NeoX configs (in the data mirror) use
#   `small_init` ($\sigma = \sqrt{2/5d}$) and `wang_init`
#   ($\sigma = 2/(L\sqrt d)$) for the output layers, not 0.02; OLMo uses its
#   own scheme. Each matrix is still Gaussian, so its $k$ is the anchor, but
#   $\lambda/\sigma_\text{init}$ must be taken against that matrix's own $\sigma$.

# %% [markdown]
# ## Pooling matrices of different σ
#
# A pooled skeleton mixes matrices. When they share one $\sigma$ the mixture is
# still half-normal; when they do not, it is a scale mixture, whose tails are
# heavier than any one component's, and the pooled $k$ falls below $k_0$.

# %%
pooled = annotate(pooled)
display(pooled.set_index("family")[["n", "k", "z_k", "lam_over_sigma", "rms_over_lam"]].round(4))
same_sigma = pooled[pooled.family != "gpt2"]
glue("init_pooled_k_median", float(same_sigma.k.median()), display=False)
glue("init_pooled_on_anchor", int((same_sigma.z_k.abs() <= 3).sum()), display=False)
glue("init_pooled_same_sigma", len(same_sigma), display=False)
if "gpt2" in set(pooled.family):
    glue("init_gpt2_pooled_k", float(pooled.set_index("family").loc["gpt2", "k"]), display=False)
glue("init_rms_over_lam", float(same_sigma.rms_over_lam.median()), display=False)
glue("init_rms_over_lam_theory", 1 / lam0, display=False)
glue("init_rms_over_lam_weibull", weibull.rms_over_lambda(k0), display=False)

# %% [markdown]
# {glue:text}`init_pooled_on_anchor` of the {glue:text}`init_pooled_same_sigma`
# single-$\sigma$ families pool to the anchor within ±3 sd (median pooled $k$ =
# {glue:text}`init_pooled_k_median:.4f`); GPT-2's pooled skeleton, a mixture of
# $\sigma_\text{init}$ and $\sigma_\text{init}/\sqrt{2L}$ matrices, gives
# $k$ = {glue:text}`init_gpt2_pooled_k:.4f`. The same happens at Pythia's step 0,
# where embeddings, inner and output layers are drawn with three different
# $\sigma$: the anchor is a statement about each matrix, and a pooled $k$ is the
# anchor only when the initialisation has one scale.
#
# The last column is a by-product worth noting: at initialisation
# RMS/$\lambda$ = {glue:text}`init_rms_over_lam:.4f`, i.e. $1/(\lambda_0/\sigma)$ =
# {glue:text}`init_rms_over_lam_theory:.4f`, not the
# {glue:text}`init_rms_over_lam_weibull:.4f` a true Weibull with $k_0$ would have.
# The half-normal is not a Weibull: the fit describes its body, and the tails
# differ — the same gap the dynamics paper bridges for trained matrices
# {cite:p}`ding2026dynamics`.

# %% [markdown]
# ## Hub step-0 checkpoints (full profile)

# %%
hub = []
if hub_models:  # one npmk.sweep task per checkpoint, on a local Dask cluster; a failure is an error row
    hub_spec = sweep.Spec(pairs=tuple((repo_id, revision) for repo_id, revision in hub_models), by=("kind",),
                          trim=trim)
    hub_out = data.cache_dir() / "sweeps" / "init_anchor"
    sweep.sweep(hub_spec, hub_out, progress=False)
    rows = sweep.load(hub_out, hub_spec)
    for r in rows[rows.error != ""].itertuples():  # an unreachable model must not stop the others
        display(Markdown(f"**{r.source}@{r.revision}**: {r.error}"))
    if (rows.error == "").any():
        hub = rows[rows.error == ""].rename(columns={"source": "model", "lambda": "lam"}).reset_index(drop=True)
        hub["k_dev_pct"] = 100 * (hub.k - K0_PAPER) / K0_PAPER
        display(hub.pivot(index="model", columns="kind", values="k").round(4))
        worst = float(hub.k_dev_pct.abs().max())
        glue("init_hub_k_maxdev_pct", f"{worst:.3f} %", display=False)
        glue("init_hub_verdict", verdict(worst, (0.0, 100 * PAPER_TOL)), display=False)
else:
    display(Markdown("No hub checkpoints in this profile; the `full` profile measures Pythia at `step0`."))
if not len(hub):
    glue("init_hub_k_maxdev_pct", "not measured (needs the Hugging Face Hub: full profile)", display=False)
    glue("init_hub_verdict", "not measured offline", display=False)

# %% [markdown]
# ## Against the published anchor

# %%
conv = kinds[~((kinds.family == "gpt2") & kinds.kind.isin(["o", "ffn_out"]))]
k_med, lam_med = float(kinds.k.median()), float(conv.lam_over_sigma.median())
glue("init_n_fits", len(kinds), display=False)
glue("init_k_median", k_med, display=False)
glue("init_k_min", float(kinds.k.min()), display=False)
glue("init_k_max", float(kinds.k.max()), display=False)
glue("init_lam_median", lam_med, display=False)
glue("init_k_verdict", verdict(k_med, K0_PAPER, tol=PAPER_TOL * K0_PAPER), display=False)
glue("init_lam_verdict", verdict(lam_med, LAM0_PAPER, tol=PAPER_TOL * LAM0_PAPER), display=False)
glue("init_n_outliers_k", int((kinds.z_k.abs() > 3).sum()), display=False)
glue("init_families_n", len(families), display=False)
display(pd.DataFrame({
    "published": [K0_PAPER, LAM0_PAPER],
    "ours (median over kinds)": [k_med, lam_med],
    "deviation %": [100 * (k_med / K0_PAPER - 1), 100 * (lam_med / LAM0_PAPER - 1)],
}, index=["k at init", "λ/σ_init at init"]).round(5))

# %% [markdown]
# Over {glue:text}`init_n_fits` per-kind fits in {glue:text}`init_families_n`
# families, the median $k$ is {glue:text}`init_k_median:.4f` (range
# {glue:text}`init_k_min:.4f`–{glue:text}`init_k_max:.4f`, with
# {glue:text}`init_n_outliers_k` fits outside ±3 sd) against the published
# 1.2054: {glue:text}`init_k_verdict` at the paper's 0.13 %. The median
# $\lambda/\sigma_\text{init}$ over the matrices drawn with `initializer_range`
# is {glue:text}`init_lam_median:.4f` against 0.8875:
# {glue:text}`init_lam_verdict`.
