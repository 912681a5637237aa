"""The quantization shift of (k, lambda): paired on the same chunks, honest about zeros, bad input named."""

import numpy as np
import pytest
import torch

from npmk.quant_shift import CHUNK, sample_chunks, shift_table


def llama_like(seed: int = 0, hidden: int = 128, ffn: int = 256) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {"model.embed_tokens.weight": torch.randn(256, hidden, generator=g) * 0.02}
    for i in range(2):
        p = f"model.layers.{i}."
        for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
            sd[p + f"self_attn.{n}.weight"] = torch.randn(hidden, hidden, generator=g) * 0.02
        sd[p + "mlp.gate_proj.weight"] = torch.randn(ffn, hidden, generator=g) * 0.02
        sd[p + "mlp.up_proj.weight"] = torch.randn(ffn, hidden, generator=g) * 0.02
        sd[p + "mlp.down_proj.weight"] = torch.randn(hidden, ffn, generator=g) * 0.02
        sd[p + "input_layernorm.weight"] = torch.ones(hidden)
    return sd


def test_sample_keeps_whole_chunks_of_the_skeleton_only():
    sd = llama_like()
    s = sample_chunks(sd, family="llama")
    n_skel = sum(v.numel() for k, v in sd.items() if v.dim() == 2)
    assert s.n == s.n_skeleton == n_skel and s.n_tail == 0
    # rows of 128 values: a K-quant super-block spans two rows (only down_proj has rows of 256)
    assert s.misaligned == [k for k, v in sd.items() if v.dim() == 2 and "down_proj" not in k]
    assert set(s.kinds) == {"embed", "q", "k", "v", "o", "gate", "up", "down"}
    first = sd["model.embed_tokens.weight"].numpy().ravel()[:CHUNK]
    assert np.array_equal(s.chunks[0], first)
    sub = sample_chunks(sd, family="llama", n_values=40 * CHUNK + 17, seed=1)
    assert sub.n == 40 * CHUNK
    assert sub.n_skeleton == n_skel
    assert not np.array_equal(sub.chunks, sample_chunks(sd, family="llama", n_values=40 * CHUNK, seed=2).chunks)


def test_shift_is_paired_and_zeros_are_reported():
    s = sample_chunks(llama_like(), family="llama")
    df = shift_table(s, ["F16", "Q8_0", "Q4_0"], groups=4, progress=False)
    pooled = df[df.population == "pooled"].set_index("type")
    assert (pooled.k_ref == pooled.k_ref.iloc[0]).all()  # one reference for every type
    # fp16 rounds to ~5e-4 relative: no visible shift
    assert abs(pooled.loc["F16", "dk"]) < 1e-4 and pooled.loc["F16", "zero_frac"] < 1e-5  # underflow only
    assert abs(pooled.loc["Q8_0", "dk"]) < 5 * pooled.loc["Q8_0", "se_dk"] + 1e-3
    # Q4_0 zeroes |w| < d/2 with d = max/8: ~10% of a Gaussian block of 32 reaches the body
    assert 0.08 < pooled.loc["Q4_0", "zero_frac"] < 0.16
    assert pooled.loc["Q4_0", "method"] in {"sort", "sort-censored"}
    assert np.isfinite(df.se_dk).all() and (df.se_dk > 0).all()
    assert set(df.population) == {"pooled", *s.kinds}


def test_bad_requests_are_named():
    sd = llama_like()
    with pytest.raises(ValueError, match="n_values"):
        sample_chunks(sd, family="llama", n_values=10)
    with pytest.raises(ValueError, match="Q9_9"):
        shift_table(sample_chunks(sd, family="llama", n_values=CHUNK * 8), ["Q9_9"])
    with pytest.raises(ValueError, match="no tensor is in the llama skeleton"):
        sample_chunks({"model.norm.weight": torch.ones(8)}, family="llama")
