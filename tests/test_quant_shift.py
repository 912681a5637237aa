"""The quantization shift of (k, lambda): paired on the same chunks, honest about zeros, bad input named."""

import math

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
    # 64 of 1408 chunks, shared in proportion (stratified): 6 per FFN/embedding matrix, 3 per attention matrix
    sub = sample_chunks(sd, family="llama", n_values=64 * CHUNK + 17, seed=1)
    assert sub.n == 66 * CHUNK and sub.n_skeleton == n_skel
    kinds, counts = np.unique(sub.kinds.astype(str), return_counts=True)
    assert dict(zip(kinds, counts)) == {"embed": 6, "q": 6, "k": 6, "v": 6, "o": 6, "gate": 12, "up": 12, "down": 12}
    assert not np.array_equal(sub.chunks, sample_chunks(sd, family="llama", n_values=64 * CHUNK, seed=2).chunks)


def test_tied_head_counts_as_its_own_tensor_like_measure():
    sd = llama_like()
    sd["lm_head.weight"] = sd["model.embed_tokens.weight"]  # one matrix under two names
    s = sample_chunks(sd, family="llama")
    head = s.chunks[s.kinds == "head"]
    assert np.array_equal(head, s.chunks[s.kinds == "embed"])


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


def test_bias_band_resolution_and_reading():
    import pandas as pd

    from npmk.quant_shift import (
        band_verdict,
        bias_bands,
        corrected_interval,
        resolution,
    )

    rows = []
    for net, dks in {"a": (0.001, 0.030, 0.050, np.nan), "b": (0.002, 0.036, 0.090, 0.01)}.items():
        for t, dk in zip(("Q8_0", "Q4_K", "Q4_0", "TQ2_0"), dks):
            rows.append({"network": net, "type": t, "population": "pooled", "dk": dk, "se_dk": 0.001})
    bands = bias_bands(pd.DataFrame(rows))
    assert bands.loc["Q4_K", "lo"] == pytest.approx(0.028) and bands.loc["Q4_K", "hi"] == pytest.approx(0.038)
    assert bands.loc["Q8_0", "worst"] == pytest.approx(0.004)
    assert np.isnan(bands.loc["TQ2_0", "lo"])  # one refused fit: no bound
    verdicts = resolution(bands, width=0.06).to_dict()
    assert verdicts == {"Q8_0": "as is", "Q4_K": "after correction", "Q4_0": "no", "TQ2_0": "unknown"}
    lo, hi = corrected_interval(1.20, 0.028, 0.038)
    assert (lo, hi) == pytest.approx((1.162, 1.172))
    assert band_verdict((lo, hi), (1.13, 1.19)) == "inside"
    assert band_verdict((1.18, 1.21), (1.13, 1.19)) == "undecided"
    assert band_verdict((1.20, 1.21), (1.13, 1.19)) == "outside"
    assert band_verdict((math.nan, 1.2), (1.13, 1.19)) == "undecided"


def test_lowest_type_direction_and_shift_text():
    import pandas as pd

    from npmk.quant_shift import direction, lowest_type, shift_text

    bands = pd.DataFrame({"resolves": ["as is", "after correction", "as is", "no"]},
                         index=["Q8_0", "Q4_K", "Q6_K", "Q4_0"])
    assert lowest_type(bands, {"as is"}) == "Q6_K"  # 6.56 bits beat Q8_0's 8.5
    assert lowest_type(bands, {"as is", "after correction"}) == "Q4_K"
    assert lowest_type(bands, {"unknown"}) is None
    assert direction(pd.Series([0.01, 0.02])) == "up on every network"
    assert direction(pd.Series([-0.01, -0.02])) == "down on every network"
    assert direction(pd.Series([-0.01, 0.0])) == "in both directions"
    assert direction(pd.Series([], dtype=float)) == "—"
    assert shift_text(0.01234, 0.0005, "sort") == "+0.0123 ± 0.0005"
    assert shift_text(-0.04, math.nan, "sort-censored") == "-0.0400 *"
    assert shift_text(-0.00003, 0.00001, "sort") == "< 0.0001"
    assert shift_text(-0.00003, 0.0002, "sort") == "+0.0000 ± 0.0002"
    assert shift_text(math.nan, math.nan, "sort") == "— (not fitted)"
