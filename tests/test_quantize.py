"""GGUF round trips: the Q4_K / Q6_K ports against llama.cpp's reference bytes and the format's grid,
every type's error against its bit width, determinism and bad input."""

from pathlib import Path

import numpy as np
import pytest
from gguf.quants import Q4_K

from npmk import quantize as Q

REF = Path(__file__).parent / "data" / "ggml_kquant_ref.npz"
#: Bits of each type's grid per block (mantissa bits for the float types, ~1.6 for ternary).
GRID_BITS = {"F16": 11, "BF16": 8, "Q8_0": 8, "Q6_K": 6, "Q5_1": 5, "Q5_0": 5, "Q4_1": 4, "Q4_0": 4,
             "Q4_K": 4, "MXFP4": 4, "TQ2_0": 1, "TQ1_0": 1}


def gaussian(rows: int = 64, cols: int = 1024, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((rows, cols)) * 0.02).astype(np.float32)


@pytest.mark.parametrize("qtype", ["Q4_K", "Q6_K"])
def test_kquant_bytes_equal_ggml_reference(qtype):
    """Bytes written by ggml's quantize_row_{q4,q6}_K_ref (see tests/data/make_ggml_kquant_ref.py)."""
    ref = np.load(REF)
    for key in [k for k in ref.files if k.startswith("x_")]:
        ours = Q.quantize_bytes(ref[key], qtype)
        theirs = ref[f"{qtype}_{key[2:]}"]
        bad = np.flatnonzero((ours != theirs).any(axis=1))
        assert bad.size == 0, f"{qtype} {key[2:]}: blocks {bad.tolist()} differ from ggml's reference bytes"


def _grid_check(x, y, step, lo_q, hi_q, offset):
    """Inside its block's grid a value is within half a step of the input; outside, it sits at the grid's end."""
    q = (x + offset) / step
    inside = (q >= lo_q) & (q <= hi_q)
    err = np.abs(y - x)
    assert np.all(err[inside] <= 0.5 * np.abs(step)[inside] * (1 + 1e-5) + 1e-12)
    ends = np.where(q < lo_q, lo_q, hi_q) * step - offset
    np.testing.assert_allclose(y[~inside], ends[~inside], rtol=1e-5, atol=1e-9)
    return inside.mean()


def test_q4_k_values_on_the_grid_within_half_a_step():
    heavy = np.random.default_rng(2).standard_t(3, (32, 256)) * 0.01
    x = np.concatenate([gaussian(32, 256, 1), heavy]).astype(np.float32)
    b = Q.quantize_bytes(x, "Q4_K")
    y = Q.roundtrip(x, "Q4_K")
    d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
    dmin = b[:, 2:4].copy().view(np.float16).astype(np.float32)
    sc, m = Q4_K.get_scale_min(b[:, 4:16].copy())
    step = np.repeat(d * sc, 32, axis=1)
    offset = np.repeat(dmin * m, 32, axis=1)
    assert _grid_check(x, y, step, 0, 15, offset) > 0.9  # the weighted fit clips a few % of outliers


def test_q6_k_values_on_the_grid_within_half_a_step():
    heavy = np.random.default_rng(4).standard_t(3, (32, 256)) * 0.01
    x = np.concatenate([gaussian(32, 256, 3), heavy]).astype(np.float32)
    b = Q.quantize_bytes(x, "Q6_K")
    y = Q.roundtrip(x, "Q6_K")
    d = b[:, 208:210].copy().view(np.float16).astype(np.float32)
    sc = b[:, 192:208].view(np.int8).astype(np.float32)
    step = np.repeat(d * sc, 16, axis=1)
    # value = step * (q - 32), q in 0..63: the grid is step * [-32, 31] (step may be negative)
    lo, hi = np.where(step > 0, -32, -31), np.where(step > 0, 31, 32)
    s = np.abs(step)
    assert _grid_check(x, y, s, lo, hi, 0.0) > 0.9


@pytest.mark.parametrize("qtype", list(Q.TYPES))
def test_roundtrip_error_below_the_bit_width_bound(qtype):
    """rms(error)/rms(x) <= 2^(1 - b) on Gaussian rows, b the bits of the type's grid."""
    x = gaussian()
    y = Q.roundtrip(x, qtype)
    assert y.shape == x.shape and y.dtype == np.float32
    rel = np.sqrt(np.mean((y - x) ** 2) / np.mean(x**2))
    assert rel <= 2.0 ** (1 - GRID_BITS[qtype]), f"{qtype}: relative rms error {rel:.4g}"
    assert rel > 0  # a lossless round trip would mean the quantizer was skipped


def test_types_cover_every_gguf_quantizer_and_order_by_bits():
    bits = [t.bits for t in Q.TYPES.values()]
    assert bits == sorted(bits, reverse=True)
    assert {"Q8_0", "Q6_K", "Q5_1", "Q5_0", "Q4_K", "Q4_1", "Q4_0"} <= set(Q.TYPES)
    assert Q.TYPES["Q4_K"].bits == 4.5 and Q.TYPES["Q6_K"].bits == 6.5625


@pytest.mark.parametrize("qtype", ["Q4_K", "Q6_K", "Q4_0"])
def test_deterministic_and_torch_input(qtype):
    import torch

    x = gaussian(8, 512, 5)
    a = Q.quantize_bytes(x, qtype)
    assert np.array_equal(a, Q.quantize_bytes(x.copy(), qtype))
    assert np.array_equal(a, Q.quantize_bytes(torch.from_numpy(x), qtype))


def test_bad_input_is_named():
    x = gaussian(4, 256)
    with pytest.raises(Q.QuantizeError, match="Q3_K"):
        Q.roundtrip(x, "Q3_K")
    with pytest.raises(Q.QuantizeError, match="w.q: rows of 384 .* Q4_K block of 256"):
        Q.roundtrip(gaussian(4, 384), "Q4_K", name="w.q")
    bad = x.copy()
    bad[1, 3] = np.nan
    with pytest.raises(Q.QuantizeError, match="w.k: 1 NaN/Inf"):
        Q.roundtrip(bad, "Q8_0", name="w.k")
    with pytest.raises(Q.QuantizeError, match="floating-point"):
        Q.roundtrip(np.ones((2, 32), dtype=np.int32), "Q8_0")
    with pytest.raises(Q.QuantizeError, match="nothing to quantize"):
        Q.roundtrip(np.zeros((0, 32), dtype=np.float32), "Q8_0")


def test_all_zero_blocks_stay_zero():
    x = np.zeros((2, 256), dtype=np.float32)
    for t in Q.TYPES:
        assert not Q.roundtrip(x, t).any(), t
