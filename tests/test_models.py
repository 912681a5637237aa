"""The lab's model builders: Pythia-style GPT-NeoX and LLaMA-style configs and sizes."""

import pytest
import torch

from npmk.models import SIZES, build, model_config


def test_pythia_recipe():
    cfg = model_config("pythia", "pythia-70m", 50304, 2048)
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size) == (512, 6, 8, 2048)
    assert cfg.rope_parameters["partial_rotary_factor"] == 0.25
    assert cfg.use_parallel_residual and not cfg.tie_word_embeddings
    assert cfg.initializer_range == 0.02


def test_pythia_model_untied_and_init_std():
    m = build("pythia", "small", 512, 64, seed=0)
    assert m.gpt_neox.embed_in.weight.data_ptr() != m.lm_head.weight.data_ptr()
    w = m.gpt_neox.layers[0].mlp.dense_h_to_4h.weight
    assert float(w.detach().std()) == pytest.approx(0.02, rel=0.05)
    assert m.gpt_neox.layers[0].attention.query_key_value.bias is not None


def test_llama_recipe():
    m = build("llama", "tiny", 256, 32, seed=0)
    cfg = m.config
    assert cfg.hidden_act == "silu" and not cfg.attention_bias and not cfg.mlp_bias
    assert cfg.rope_parameters.get("partial_rotary_factor", 1.0) == 1.0
    assert not any(n.endswith(".bias") for n, _ in m.named_parameters())
    assert type(m.model.norm).__name__ == "LlamaRMSNorm"
    assert {"gate_proj", "up_proj", "down_proj"} <= {n.split(".")[-2] for n, _ in m.named_parameters()}
    assert m.model.embed_tokens.weight.data_ptr() != m.lm_head.weight.data_ptr()


def test_init_depends_only_on_seed():
    a, b, c = (build("pythia", "tiny", 128, 16, seed=s) for s in (1, 1, 2))
    for (n, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(pa, pb), n
    assert not torch.equal(a.lm_head.weight, c.lm_head.weight)


def test_sizes_and_bad_names():
    assert set(SIZES) == {"tiny", "small", "pythia-70m"}
    with pytest.raises(ValueError, match="unknown arch"):
        model_config("gpt2", "tiny", 10, 10)
    with pytest.raises(ValueError, match="unknown size"):
        model_config("llama", "huge", 10, 10)
