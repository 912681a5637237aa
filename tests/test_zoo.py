"""The zoo: random-init models of every family, from config classes, no download."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

from npmk import zoo
from npmk.skeleton import UnknownArchitectureError, family_of


def test_families_match_skeleton_tables():
    from npmk.skeleton import FAMILIES as TABLES

    # tables keyed <format>:<architecture> name tensors in files of other tools (GGUF,
    # CTranslate2): no transformers config class builds them
    model_types = [f for f in TABLES if ":" not in f]
    assert sorted(zoo.FAMILIES) == sorted(model_types)


@pytest.mark.parametrize("family", zoo.FAMILIES)
def test_build_is_deterministic_and_of_its_family(family):
    a, b, c = zoo.build(family, seed=0), zoo.build(family, seed=0), zoo.build(family, seed=1)
    assert family_of(a.config) == family
    assert zoo.sigma_init(a) == a.config.initializer_range > 0
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    name = next(n for n, t in sa.items() if t.ndim == 2 and t.is_floating_point())
    assert torch.equal(sa[name], sb[name])
    assert not torch.equal(sa[name], sc[name])
    n = sum(p.numel() for p in a.parameters())
    assert 5e4 < n < 5e5


def test_small_is_larger_and_dtype_is_honoured():
    tiny = zoo.build("llama")
    small = zoo.build("llama", "small", dtype=torch.bfloat16)
    assert small.config.hidden_size > tiny.config.hidden_size
    assert all(p.dtype == torch.bfloat16 for p in small.parameters())
    assert min(p.numel() for p in small.parameters() if p.ndim >= 2) >= 16_384


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_every_family_has_a_config_at_every_size(size):
    for family in zoo.FAMILIES:
        cfg = zoo.config(family, size)
        assert cfg.model_type == family
        assert zoo.sigma_init(cfg) == 0.02
    assert zoo.build("mixtral", size).config.hidden_size == zoo.ZOO_SIZES[size]["hidden"]


def test_bad_family_or_size():
    with pytest.raises(UnknownArchitectureError, match="mamba"):
        zoo.build("mamba")
    with pytest.raises(ValueError, match="huge"):
        zoo.build("llama", "huge")


def test_unique_state_dict_drops_tied_aliases():
    gemma, llama = zoo.build("gemma"), zoo.build("llama")
    assert gemma.config.tie_word_embeddings and "lm_head.weight" in gemma.state_dict()
    assert "lm_head.weight" not in zoo.unique_state_dict(gemma)
    assert zoo.unique_state_dict(llama).keys() == llama.state_dict().keys()


def test_save_writes_a_loadable_directory(tmp_path):
    out = zoo.save("gpt_neox", tmp_path / "pythia-tiny", dtype=torch.float16)
    assert (out / "config.json").exists()
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        saved = sum(torch.Size(f.get_slice(k).get_shape()).numel() for k in f.keys())
        t = f.get_tensor("gpt_neox.layers.0.attention.dense.weight")
    assert t.dtype == torch.float16
    model = zoo.build("gpt_neox", dtype=torch.float16)
    assert torch.equal(t, model.state_dict()["gpt_neox.layers.0.attention.dense.weight"])
    assert saved == sum(p.numel() for p in model.parameters())  # every parameter, once
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dir left
    with pytest.raises(FileExistsError, match="pythia-tiny"):
        zoo.save("gpt_neox", out)
