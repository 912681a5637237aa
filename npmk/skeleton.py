"""The weight skeleton: which tensors of a checkpoint are fitted, and what each one is.

Canonical SKIP (NPM-K, paper 000): the skeleton is every ``*.weight`` tensor with
at least two dimensions -- attention and MLP projections, embeddings, output
heads.  Norms, biases, 1-D tensors and rotary/positional caches are out.

Component kinds (two-parameter framework, paper 001) come from ONE explicit rule
table per architecture family, keyed by the transformers ``model_type``.  A rule
matches a whole dotted suffix of the tensor name (any prefix such as ``model.``,
``transformer.``, ``gpt_neox.`` or none is allowed), so ``attention.dense`` can
never be confused with ``mlp.dense_4h_to_h`` and ``q_proj.bias`` never reaches a
kind rule (biases are excluded first).  Classes:

* Transmission: ``o`` and the FFN kinds ``ffn_in ffn_out gate up down gate_up``;
* Selection: ``q k qkv``;
* other: ``v embed head router other``.

``gate_up`` is the merged SwiGLU input projection (Phi-3 ``mlp.gate_up_proj``,
transformers-5 Mixtral ``mlp.experts.gate_up_proj``, native OLMo ``ff_proj``): one
matrix holding the gate and up projections stacked along the output dimension
(the order of the halves is given in each rule's note).  It is Transmission, like
both of its halves.

Besides the transformers ``model_type`` families there are tables for names
written by other tools, keyed ``<format>:<architecture>``: llama.cpp's GGUF
names (``gguf:llama``, ``gguf:qwen2``, ``gguf:gemma3``: ``blk.N.attn_q.weight``,
``ffn_gate``, ``token_embd``, ``output``...) and CTranslate2's Whisper names
(``ct2:whisper``: ``encoder/layer_N/self_attention/linear_0/weight``...; a fused
projection split by :mod:`npmk.ctranslate2_checkpoint` carries its part,
``.../linear_0/weight[q]``). A suffix matches after a ``.`` or a ``/``.

A tensor no rule of its family recognises is never guessed: the generic SKIP rule
still decides whether it is in (>= 2-D ``*.weight``), its kind is ``"unknown"``
and the decision is ``flagged`` so audits and tests surface it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pandas as pd

#: every component kind a rule can assign; "unknown" marks an included tensor no rule knows
KINDS = ("q", "k", "v", "qkv", "o", "ffn_in", "ffn_out", "gate", "up", "down", "gate_up",
         "embed", "head", "router", "other", "unknown")
TRANSMISSION = frozenset({"o", "ffn_in", "ffn_out", "gate", "up", "down", "gate_up"})
SELECTION = frozenset({"q", "k", "qkv"})
CLASSES = ("Transmission", "Selection", "other")


class UnknownArchitectureError(ValueError):
    """The architecture family (transformers ``model_type``) has no rule table."""


@dataclass(frozen=True)
class Decision:
    """What canonical SKIP decides for one tensor.

    include: in the skeleton (fitted) or not.
    kind: component kind (one of ``KINDS``) for included tensors, None for excluded ones.
    cls: "Transmission", "Selection" or "other" for included tensors, None otherwise.
    reason: the rule that decided, in words.
    flagged: no rule of the family recognised the name (the generic SKIP rule decided).
    layer: the block index parsed from the name (first integer component), None outside blocks.
    transposed: the tensor is stored (in_features, out_features) -- GPT-2 ``Conv1D`` --
        rather than torch.nn.Linear's (out_features, in_features).  Element-wise
        magnitude statistics do not care; row/column analyses must transpose it.
    """

    include: bool
    kind: str | None
    cls: str | None
    reason: str
    flagged: bool = False
    layer: int | None = None
    transposed: bool = False


@dataclass(frozen=True)
class Rule:
    """One kind rule: a name suffix (``{n}`` = any integer) and the kind it means.

    The suffix matches whole components: it starts the name or follows a ``.`` or ``/``.
    """

    suffix: str
    kind: str
    note: str

    @cached_property
    def regex(self) -> re.Pattern[str]:
        body = re.escape(self.suffix).replace(r"\{n\}", r"\d+")
        return re.compile(rf"(?:^|[./]){body}$")


@dataclass(frozen=True)
class FamilyTable:
    """The rule table of one architecture family.

    merged_qkv: Q, K and V are stored as one matrix (attention-architecture label).
    conv1d: 2-D projection weights are stored transposed (GPT-2 ``Conv1D``).
    excluded: family-specific exclusions, (name suffix, reason), checked after the
        shared ones (e.g. a fixed sinusoidal table stored like a weight).
    """

    family: str
    rules: tuple[Rule, ...]
    merged_qkv: bool = False
    conv1d: bool = False
    excluded: tuple[Rule, ...] = ()


def _rules(*rows: tuple[str, str, str]) -> tuple[Rule, ...]:
    return tuple(Rule(s, k, n) for s, k, n in rows)


# The decoder blocks of LLaMA-style models (LLaMA, Mistral, Qwen2/2.5, Qwen3, OLMo-hf,
# OLMo-2, Gemma) share these names; each family still gets its own table below.
_LLAMA_STYLE = (
    ("embed_tokens.weight", "embed", "token embedding"),
    ("self_attn.q_proj.weight", "q", "query projection W_q"),
    ("self_attn.k_proj.weight", "k", "key projection W_k"),
    ("self_attn.v_proj.weight", "v", "value projection W_v"),
    ("self_attn.o_proj.weight", "o", "attention output W_o"),
    ("mlp.gate_proj.weight", "gate", "SwiGLU gate projection"),
    ("mlp.up_proj.weight", "up", "SwiGLU up projection"),
    ("mlp.down_proj.weight", "down", "SwiGLU down projection"),
    ("lm_head.weight", "head", "output head (LM unembedding)"),
)

# llama.cpp's tensor names (gguf-py TENSOR_NAMES) of the decoder blocks it shares across
# LLaMA-style architectures; the head is ``output.weight`` (absent when tied to token_embd).
_LLAMACPP = (
    ("token_embd.weight", "embed", "token embedding (llama.cpp name)"),
    ("blk.{n}.attn_q.weight", "q", "query projection W_q (llama.cpp name)"),
    ("blk.{n}.attn_k.weight", "k", "key projection W_k (llama.cpp name)"),
    ("blk.{n}.attn_v.weight", "v", "value projection W_v (llama.cpp name)"),
    ("blk.{n}.attn_output.weight", "o", "attention output W_o (llama.cpp name)"),
    ("blk.{n}.ffn_gate.weight", "gate", "SwiGLU/GeGLU gate projection (llama.cpp name)"),
    ("blk.{n}.ffn_up.weight", "up", "SwiGLU/GeGLU up projection (llama.cpp name)"),
    ("blk.{n}.ffn_down.weight", "down", "SwiGLU/GeGLU down projection (llama.cpp name)"),
    ("output.weight", "head", "output head (llama.cpp name; absent when tied to token_embd)"),
)

FAMILIES: dict[str, FamilyTable] = {t.family: t for t in (
    FamilyTable("gpt_neox", _rules(
        ("embed_in.weight", "embed", "token embedding"),
        ("attention.query_key_value.weight", "qkv", "merged Q/K/V projection (per-head interleaved)"),
        ("attention.dense.weight", "o", "attention output W_o"),
        ("mlp.dense_h_to_4h.weight", "ffn_in", "MLP input projection (GeLU)"),
        ("mlp.dense_4h_to_h.weight", "ffn_out", "MLP output projection"),
        ("embed_out.weight", "head", "output head (Pythia checkpoint name)"),
        ("lm_head.weight", "head", "output head (transformers-5 name)"),
    ), merged_qkv=True),
    FamilyTable("llama", _rules(*_LLAMA_STYLE)),
    FamilyTable("mistral", _rules(*_LLAMA_STYLE)),
    FamilyTable("mixtral", _rules(
        *[r for r in _LLAMA_STYLE if not r[0].startswith("mlp.")],
        ("block_sparse_moe.gate.weight", "router", "MoE router (expert logits), not the SwiGLU gate"),
        ("block_sparse_moe.experts.{n}.w1.weight", "gate", "expert SwiGLU gate projection w1"),
        ("block_sparse_moe.experts.{n}.w3.weight", "up", "expert SwiGLU up projection w3"),
        ("block_sparse_moe.experts.{n}.w2.weight", "down", "expert SwiGLU down projection w2"),
        ("mlp.gate.weight", "router", "MoE router, transformers-5 name (not the SwiGLU gate)"),
        ("mlp.experts.gate_up_proj", "gate_up",
         "all experts' fused gate|up (experts, 2*ffn, hidden): gate rows first, then up"),
        ("mlp.experts.down_proj", "down", "all experts' fused down projections (experts, hidden, ffn)"),
    )),
    FamilyTable("qwen2", _rules(*_LLAMA_STYLE)),
    FamilyTable("qwen3", _rules(*_LLAMA_STYLE)),
    FamilyTable("olmo", _rules(
        *_LLAMA_STYLE,
        # native OLMo checkpoints (allenai/OLMo-1B, hf_olmo): model.transformer.blocks.N.*
        ("transformer.wte.weight", "embed", "token embedding (native OLMo)"),
        ("blocks.{n}.att_proj.weight", "qkv", "merged Q/K/V projection (native OLMo)"),
        ("blocks.{n}.attn_out.weight", "o", "attention output W_o (native OLMo)"),
        ("blocks.{n}.ff_proj.weight", "gate_up",
         "fused SwiGLU input (native OLMo): up rows first, then gate"),
        ("blocks.{n}.ff_out.weight", "down", "SwiGLU down projection (native OLMo)"),
        ("transformer.ff_out.weight", "head", "output head (native OLMo, untied)"),
    )),
    FamilyTable("olmo2", _rules(*_LLAMA_STYLE)),
    FamilyTable("gemma", _rules(*_LLAMA_STYLE)),
    FamilyTable("phi", _rules(
        ("embed_tokens.weight", "embed", "token embedding"),
        ("self_attn.q_proj.weight", "q", "query projection W_q"),
        ("self_attn.k_proj.weight", "k", "key projection W_k"),
        ("self_attn.v_proj.weight", "v", "value projection W_v"),
        ("self_attn.dense.weight", "o", "attention output W_o"),
        ("mlp.fc1.weight", "ffn_in", "MLP input projection (GeLU)"),
        ("mlp.fc2.weight", "ffn_out", "MLP output projection"),
        ("lm_head.weight", "head", "output head"),
    )),
    FamilyTable("phi3", _rules(
        ("embed_tokens.weight", "embed", "token embedding"),
        ("self_attn.qkv_proj.weight", "qkv", "merged Q/K/V projection: Q rows, then K, then V"),
        ("self_attn.o_proj.weight", "o", "attention output W_o"),
        ("mlp.gate_up_proj.weight", "gate_up", "fused SwiGLU input: gate rows first, then up"),
        ("mlp.down_proj.weight", "down", "SwiGLU down projection"),
        ("lm_head.weight", "head", "output head"),
    ), merged_qkv=True),
    FamilyTable("falcon", _rules(
        ("word_embeddings.weight", "embed", "token embedding"),
        ("self_attention.query_key_value.weight", "qkv", "merged Q/K/V projection"),
        ("self_attention.dense.weight", "o", "attention output W_o"),
        ("mlp.dense_h_to_4h.weight", "ffn_in", "MLP input projection (GeLU)"),
        ("mlp.dense_4h_to_h.weight", "ffn_out", "MLP output projection"),
        ("lm_head.weight", "head", "output head"),
    ), merged_qkv=True),
    FamilyTable("gpt2", _rules(
        ("wte.weight", "embed", "token embedding"),
        ("wpe.weight", "embed", "learned position embedding (a trained matrix, not a cache)"),
        ("attn.c_attn.weight", "qkv", "merged Q/K/V projection (Conv1D, stored in x out)"),
        ("attn.c_proj.weight", "o", "attention output W_o (Conv1D, stored in x out)"),
        ("mlp.c_fc.weight", "ffn_in", "MLP input projection (Conv1D, stored in x out)"),
        ("mlp.c_proj.weight", "ffn_out", "MLP output projection (Conv1D, stored in x out)"),
        ("lm_head.weight", "head", "output head (nn.Linear, usually tied to wte)"),
    ), merged_qkv=True, conv1d=True),
    FamilyTable("bert", _rules(
        ("embeddings.word_embeddings.weight", "embed", "token embedding"),
        ("embeddings.position_embeddings.weight", "embed", "learned position embedding"),
        ("embeddings.token_type_embeddings.weight", "embed", "segment (token-type) embedding"),
        ("attention.self.query.weight", "q", "query projection W_q"),
        ("attention.self.key.weight", "k", "key projection W_k"),
        ("attention.self.value.weight", "v", "value projection W_v"),
        ("attention.output.dense.weight", "o", "attention output W_o"),
        ("intermediate.dense.weight", "ffn_in", "MLP input projection (GeLU)"),
        ("layer.{n}.output.dense.weight", "ffn_out", "MLP output projection"),
        ("pooler.dense.weight", "other", "pooler ([CLS] projection), outside the blocks"),
        ("cls.predictions.transform.dense.weight", "other", "MLM head transform"),
        ("cls.predictions.decoder.weight", "head", "MLM output head (usually tied)"),
        ("cls.seq_relationship.weight", "head", "next-sentence head"),
    )),
    FamilyTable("mpnet", _rules(
        ("embeddings.word_embeddings.weight", "embed", "token embedding"),
        ("embeddings.position_embeddings.weight", "embed", "learned position embedding"),
        ("attention.attn.q.weight", "q", "query projection W_q"),
        ("attention.attn.k.weight", "k", "key projection W_k"),
        ("attention.attn.v.weight", "v", "value projection W_v"),
        ("attention.attn.o.weight", "o", "attention output W_o"),
        ("intermediate.dense.weight", "ffn_in", "MLP input projection (GeLU)"),
        ("layer.{n}.output.dense.weight", "ffn_out", "MLP output projection"),
        ("encoder.relative_attention_bias.weight", "other",
         "learned relative-position bias table (buckets x heads), shared by the blocks"),
        ("pooler.dense.weight", "other", "pooler ([CLS] projection), outside the blocks"),
        ("lm_head.dense.weight", "other", "MLM head transform"),
        ("lm_head.decoder.weight", "head", "MLM output head (usually tied)"),
    )),
    FamilyTable("gguf:llama", _rules(*_LLAMACPP)),
    FamilyTable("gguf:qwen2", _rules(*_LLAMACPP)),
    FamilyTable("gguf:gemma3", _rules(*_LLAMACPP)),
    FamilyTable("ct2:whisper", _rules(
        ("encoder/conv1/weight", "other", "audio front end: conv over 80 mel channels (kernel 3)"),
        ("encoder/conv2/weight", "other", "audio front end: strided conv (kernel 3)"),
        ("self_attention/linear_0/weight[q]", "q", "query rows of the fused self-attention Q|K|V"),
        ("self_attention/linear_0/weight[k]", "k", "key rows of the fused self-attention Q|K|V"),
        ("self_attention/linear_0/weight[v]", "v", "value rows of the fused self-attention Q|K|V"),
        ("self_attention/linear_0/weight", "qkv", "fused self-attention Q|K|V (not split: unequal parts)"),
        ("self_attention/linear_1/weight", "o", "self-attention output W_o"),
        ("attention/linear_0/weight", "q", "cross-attention query projection"),
        ("attention/linear_1/weight[k]", "k", "key rows of the fused cross-attention K|V"),
        ("attention/linear_1/weight[v]", "v", "value rows of the fused cross-attention K|V"),
        ("attention/linear_2/weight", "o", "cross-attention output W_o"),
        ("ffn/linear_0/weight", "ffn_in", "MLP input projection (GeLU)"),
        ("ffn/linear_1/weight", "ffn_out", "MLP output projection"),
        ("decoder/embeddings/weight", "embed", "token embedding (also the output projection, by alias)"),
        ("decoder/position_encodings/encodings", "embed", "learned decoder position embedding"),
        ("decoder/projection/weight", "head", "output projection (an alias of the token embedding)"),
    ), excluded=_rules(
        ("encoder/position_encodings/encodings", "excluded",
         "fixed sinusoidal encoder position table (a buffer in Whisper, never trained)"),
    )),
)}

# Exclusions shared by every family, checked before the kind rules, most specific first:
# (pattern, reason, which tensors it applies to by number of dims: "any", "2d+" or "1d").
# Norm scales are matched only when 1-D, so a 2-D matrix whose name merely contains
# "norm" reaches the kind rules and, if none knows it, is flagged rather than dropped.
_EXCLUDE: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"(?:^|\.)masked_bias$"), "masked-bias constant (attention buffer)", "any"),
    (re.compile(r"(?:^|\.)(?:attn|attention)\.bias$"), "causal-mask buffer named attention.bias", "2d+"),
    (re.compile(r"[./]bias$"), "bias", "any"),
    (re.compile(r"/(?:gamma|beta)$"), "norm scale or shift (CTranslate2 name)", "1d"),
    (re.compile(r"(?:^|\.)(?:inv_freq|original_inv_freq|cos_cached|sin_cached)$|rotary_emb\."),
     "rotary cache (buffer)", "any"),
    (re.compile(r"(?:^|\.)(?:position_ids|token_type_ids)$"), "index buffer", "any"),
    (re.compile(r"(?:^|\.)[^.]*(?:norm|ln_f|ln_\d+|ln_attn|ln_mlp)[^.]*\.weight$", re.IGNORECASE),
     "norm scale", "1d"),
)

_LAYER = re.compile(r"(?:\.|/layer_)(\d+)[./]")


def table(family: str) -> FamilyTable:
    """The rule table of ``family``; UnknownArchitectureError if there is none."""
    try:
        return FAMILIES[family]
    except KeyError:
        raise UnknownArchitectureError(
            f"no skeleton rule table for architecture family {family!r}; "
            f"supported model_type values: {', '.join(sorted(FAMILIES))}"
        ) from None


def family_of(config: Any) -> str:
    """The family (transformers ``model_type``) of a config object or config.json mapping.

    Raises UnknownArchitectureError naming the model_type when no rule table exists,
    or when the config carries no model_type at all.
    """
    model_type = config.get("model_type") if isinstance(config, Mapping) else getattr(config, "model_type", None)
    if not model_type:
        raise UnknownArchitectureError(f"config has no model_type, cannot choose skeleton rules: {config!r:.200}")
    return table(str(model_type)).family


def class_of(kind: str) -> str:
    """Component class of a kind: Transmission (o, FFN), Selection (q, k, qkv) or other."""
    if kind not in KINDS:
        raise ValueError(f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}")
    if kind in TRANSMISSION:
        return "Transmission"
    if kind in SELECTION:
        return "Selection"
    return "other"


def classify(name: str, shape: Iterable[int], family: str) -> Decision:
    """Canonical SKIP decision and component kind of one tensor of a ``family`` checkpoint.

    Order: shared exclusions (mask buffers, biases, rotary caches, index buffers,
    norms, tensors with fewer than 2 dims), then the family's kind rules (exactly
    one may match), then the generic rule for names no rule knows (flagged).
    """
    tab = table(family)
    ndim = len(tuple(shape))
    m = _LAYER.search(name)
    layer = int(m.group(1)) if m else None
    for pattern, reason, dims in _EXCLUDE:
        if pattern.search(name) and (dims == "any" or (dims == "2d+") == (ndim >= 2)):
            return Decision(False, None, None, f"excluded: {reason}", layer=layer)
    if ndim < 2:
        return Decision(False, None, None, f"excluded: {ndim}-D tensor", layer=layer)
    for rule in tab.excluded:
        if rule.regex.search(name):
            return Decision(False, None, None, f"excluded: {rule.note}", layer=layer)
    hits = [r for r in tab.rules if r.regex.search(name)]
    if len(hits) > 1:
        raise RuntimeError(f"{family} rule table is ambiguous for {name!r}: "
                           + ", ".join(r.suffix for r in hits))
    if hits:
        rule = hits[0]
        return Decision(True, rule.kind, class_of(rule.kind),
                        f"{family} rule '{rule.suffix}' -> {rule.kind}: {rule.note}",
                        layer=layer, transposed=tab.conv1d and ndim == 2 and rule.kind not in {"embed", "head"})
    if re.search(r"[./]weight$", name):
        return Decision(True, "unknown", "other",
                        f"UNRECOGNISED by the {family} rules; included by the generic rule "
                        f"(>= 2-D *.weight or */weight), kind unknown", flagged=True, layer=layer)
    return Decision(False, None, None,
                    f"UNRECOGNISED by the {family} rules; excluded by the generic rule "
                    f"(>= 2-D but not a *.weight tensor)", flagged=True, layer=layer)


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(value.shape) if hasattr(value, "shape") else tuple(value)


def audit(named_shapes: Mapping[str, Any] | Iterable[tuple[str, Any]], family: str) -> pd.DataFrame:
    """Every tensor with its SKIP decision and reason, one row per tensor, in input order.

    ``named_shapes``: a mapping or (name, value) pairs whose value is a tensor (anything
    with ``.shape``) or a shape tuple -- e.g. ``model.state_dict()`` or a safetensors
    header.  Columns: name, shape, n (number of elements), include, kind, cls, reason,
    flagged, layer, transposed.
    """
    items = named_shapes.items() if isinstance(named_shapes, Mapping) else named_shapes
    rows = []
    for name, value in items:
        shape = _shape(value)
        d = classify(name, shape, family)
        rows.append({"name": name, "shape": shape, "n": math.prod(shape), "include": d.include, "kind": d.kind,
                     "cls": d.cls, "reason": d.reason, "flagged": d.flagged, "layer": d.layer,
                     "transposed": d.transposed})
    cols = ["name", "shape", "n", "include", "kind", "cls", "reason", "flagged", "layer", "transposed"]
    return pd.DataFrame(rows, columns=cols)


@dataclass(frozen=True)
class AttentionArch:
    """Attention architecture from a config's head counts.

    arch: "MHA" (n_kv == n_q, Q/K/V stored separately), "MHA-merged" (n_kv == n_q, one
    fused QKV matrix), "GQA" (1 < n_kv < n_q) or "MQA" (n_kv == 1 < n_q).
    """

    arch: str
    n_q: int
    n_kv: int
    merged_qkv: bool


def attention_arch(config: Any) -> AttentionArch:
    """MHA / MHA-merged / GQA / MQA of a transformers config (object or config.json mapping).

    Query heads: ``num_attention_heads`` (``n_head`` for GPT-2).  Key/value heads:
    ``num_key_value_heads`` where the family has it; Falcon: 1 when ``multi_query``
    (old decoder), else ``num_kv_heads``; otherwise equal to the query heads.
    """
    family = family_of(config)

    def get(key: str, default: Any = None) -> Any:
        return config.get(key, default) if isinstance(config, Mapping) else getattr(config, key, default)

    n_q = get("num_attention_heads") or get("n_head")
    if not n_q:
        raise ValueError(f"{family} config has no num_attention_heads / n_head")
    if family == "falcon":
        if get("new_decoder_architecture", False):
            n_kv = get("num_kv_heads") or n_q
        else:
            n_kv = 1 if get("multi_query", True) else n_q
    else:
        n_kv = get("num_key_value_heads") or n_q
    n_q, n_kv = int(n_q), int(n_kv)
    merged = table(family).merged_qkv
    if n_kv == n_q:
        arch = "MHA-merged" if merged else "MHA"
    elif n_kv == 1:
        arch = "MQA"
    else:
        arch = "GQA"
    return AttentionArch(arch, n_q, n_kv, merged)


#: kinds the reference library names differently but means the same (GeLU MLP matrices)
REFERENCE_SYNONYMS = {"ffn_in": "up", "ffn_out": "down"}


def reference_disagreements(table: pd.DataFrame) -> pd.DataFrame:
    """Where npm-weibull-py 0.4.0's name matcher disagrees with the rule tables.

    ``table`` is an :func:`audit` (any columns added).  The reference infers a
    kind from a name by substring tests (its private
    ``_infer_kind_from_param_name``); its ``up``/``down`` for a GeLU MLP count
    as our ``ffn_in``/``ffn_out``.  Returns the rows that disagree, with
    ``reference_kind`` and a ``disagreement`` in words: a kind for an excluded
    tensor, no kind for a skeleton matrix, or a different kind.
    """
    from npm_weibull.workflow.diagnose import _infer_kind_from_param_name as reference_kind

    def why(name: str, include: bool, kind: str | None) -> str | None:
        ref, ours = reference_kind(name), (kind if include else None)
        if ref == REFERENCE_SYNONYMS.get(ours, ours):
            return None
        if ours is None:
            return f"reference gives {ref!r} to an excluded tensor"
        if ref is None:
            return f"reference has no kind for {ours}"
        return f"reference says {ref!r}, rule says {ours!r}"

    out = table.assign(reference_kind=[reference_kind(n) for n in table.name],
                       disagreement=[why(n, i, k) for n, i, k in zip(table.name, table.include, table.kind)])
    return out[out.disagreement.notna()].reset_index(drop=True)
