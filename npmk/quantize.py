"""GGUF quantization round trips: float weights -> GGUF block bytes -> float weights.

Every GGUF type with a quantizer is covered. The `gguf` package (llama.cpp's
Python library) quantizes F16, BF16, Q8_0, Q5_1, Q5_0, Q4_1, Q4_0, MXFP4, TQ2_0
and TQ1_0; it only *de*quantizes the K-quants, so this module implements
llama.cpp's reference quantizers for Q4_K and Q6_K from their published
algorithm (``quantize_row_q4_K_ref`` / ``quantize_row_q6_K_ref``). Every byte
string is turned back into floats by gguf's own reference dequantizer, so the
round trip reads the bytes exactly as llama.cpp would.

Q4_K: super-blocks of 256 = 8 sub-blocks of 32; value = d·s_j·q − dmin·m_j with
q in 0..15, 6-bit s_j and m_j and two fp16 super scales (4.5 bits per weight).
Each sub-block's (scale, min) minimises sum_i w_i (scale·q_i + min − x_i)^2 with
w_i = rms(sub-block) + |x_i| over 21 trial grids (``make_qkx2_quants``).

Q6_K: 256 = 16 sub-blocks of 16; value = d·s_j·(q − 32) with q in 0..63, int8
s_j and one fp16 d (6.5625 bits per weight). Each sub-block's scale maximises
(sum w x l)^2 / sum w l^2 with w = x^2 over 19 trial grids (``make_qx_quants``).

Rounding follows ggml: ``nearest_int`` rounds half to even (``np.rint``), fp16
conversion rounds to nearest even (numpy's float16 cast). The arithmetic runs
in float32 like the C code, but sums in numpy's order, so a rare tie between two
trial grids may resolve differently from llama.cpp; the bytes always decode to
a valid tensor within the format's step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
from gguf import quants as gq

__all__ = ["TYPES", "QuantType", "QuantizeError", "q4_k_bytes", "q6_k_bytes", "quantize_bytes", "roundtrip"]

QK_K = 256
#: ggml's threshold below which a group counts as all-zero.
_GROUP_MAX_EPS = 1e-15


class QuantizeError(ValueError):
    """A tensor cannot be quantized to the requested type (the message says why)."""


@dataclass(frozen=True)
class QuantType:
    """One GGUF tensor type: ``block`` values stored in ``type_size`` bytes."""

    name: str
    block: int
    type_size: int
    quantizer: str  # "gguf" (the package's numpy quantizer) or "npmk" (the port in this module)

    @property
    def bits(self) -> float:
        """Storage bits per weight, scales included: 8·type_size/block."""
        return 8.0 * self.type_size / self.block

    @property
    def ggml(self) -> GGMLQuantizationType:
        return GGMLQuantizationType[self.name]


def _type(name: str, quantizer: str) -> QuantType:
    block, size = GGML_QUANT_SIZES[GGMLQuantizationType[name]]
    return QuantType(name, block, size, quantizer)


#: Types with a quantizer, widest first.
TYPES: dict[str, QuantType] = {
    t.name: t
    for t in sorted(
        [_type(n, "gguf") for n in ("F16", "BF16", "Q8_0", "Q5_1", "Q5_0", "Q4_1", "Q4_0", "MXFP4", "TQ2_0", "TQ1_0")]
        + [_type("Q6_K", "npmk"), _type("Q4_K", "npmk")],
        key=lambda t: -t.bits,
    )
}


def _check(x, qtype: str, name: str) -> tuple[np.ndarray, QuantType]:
    if qtype not in TYPES:
        raise QuantizeError(f"{name}: unknown or unquantizable GGUF type {qtype!r}; choose one of {', '.join(TYPES)}")
    t = TYPES[qtype]
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().float().numpy()
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise QuantizeError(f"{name}: expected a floating-point tensor, got dtype {arr.dtype}")
    if arr.ndim == 0 or arr.size == 0:
        raise QuantizeError(f"{name}: nothing to quantize (shape {arr.shape})")
    if arr.shape[-1] % t.block:
        raise QuantizeError(
            f"{name}: rows of {arr.shape[-1]} values are not a multiple of the {qtype} block of {t.block}"
        )
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise QuantizeError(f"{name}: {int((~np.isfinite(arr)).sum())} NaN/Inf values cannot be quantized")
    return arr, t


def quantize_bytes(x, qtype: str, *, name: str = "tensor") -> np.ndarray:
    """GGUF bytes of float tensor ``x`` as type ``qtype`` (uint8, shape (*x.shape[:-1], row bytes)).

    Rows (the last axis) must be a multiple of the type's block (32 or 256).
    """
    arr, t = _check(x, qtype, name)
    if t.quantizer == "npmk":
        port = q4_k_bytes if qtype == "Q4_K" else q6_k_bytes
        out = port(arr.reshape(-1, t.block))
    else:
        out = gq.quantize(arr, t.ggml)
    return out.reshape(*arr.shape[:-1], -1).view(np.uint8)


def roundtrip(x, qtype: str, *, name: str = "tensor") -> np.ndarray:
    """The float32 tensor llama.cpp would compute with: ``x`` quantized to ``qtype``, dequantized by gguf."""
    arr, t = _check(x, qtype, name)
    return gq.dequantize(quantize_bytes(arr, qtype, name=name), t.ggml).reshape(arr.shape)


def _sum(v: np.ndarray) -> np.ndarray:
    """Row sums accumulated left to right in float32, the order of ggml's loops (numpy's pairwise
    summation would differ in the last bits and flip near-ties between trial grids)."""
    return np.cumsum(v, axis=-1, dtype=np.float32)[..., -1]


def _make_qkx2(x: np.ndarray, w: np.ndarray, nmax: int, rmin: float, rdelta: float, nstep: int):
    """Weighted asymmetric grid per row: value ≈ scale·L + min, L in 0..nmax, min <= 0.

    Rows of ``x``/``w`` are independent groups. Start from the min–max grid, then
    try iscale = (rmin + rdelta·s + nmax)/(max − min) for s = 0..nstep; each trial
    rounds L, solves the weighted least squares for (scale, min) (min clamped to
    0 from above) and is kept if its weighted squared error is lower. As in ggml,
    a kept trial's min becomes the origin of the later trials.
    Returns (scale, -min, L) with scale, -min >= 0.
    """
    x = x.astype(np.float32)
    w = w.astype(np.float32)
    lo = np.minimum(x.min(axis=1), 0.0)
    hi = x.max(axis=1)
    flat = hi == lo
    sum_w = _sum(w)
    sum_x = _sum(w * x)
    span = np.where(flat, 1.0, hi - lo).astype(np.float32)
    iscale = np.float32(nmax) / span
    scale = np.where(flat, 0.0, 1.0 / iscale).astype(np.float32)
    L = np.clip(np.rint(iscale[:, None] * (x - lo[:, None])), 0, nmax)
    diff = scale[:, None] * L + lo[:, None] - x
    best = _sum(w * diff * diff)
    cur_min = lo.copy()
    for s in range(nstep + 1):
        iscale = ((np.float32(rmin) + np.float32(rdelta) * np.float32(s) + np.float32(nmax))
                  / np.where(flat, 1.0, hi - cur_min).astype(np.float32))
        La = np.clip(np.rint(iscale[:, None] * (x - cur_min[:, None])), 0, nmax)
        sum_l = _sum(w * La)
        sum_l2 = _sum(w * La * La)
        sum_xl = _sum(w * La * x)
        D = sum_w * sum_l2 - sum_l * sum_l
        ok = D > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            t_scale = (sum_w * sum_xl - sum_x * sum_l) / D
            t_min = (sum_l2 * sum_x - sum_l * sum_xl) / D
            pos = t_min > 0  # the grid must reach down to 0: refit the scale with min = 0
            t_scale = np.where(pos, sum_xl / sum_l2, t_scale)
        t_min = np.where(pos, 0.0, t_min).astype(np.float32)
        diff = t_scale[:, None] * La + t_min[:, None] - x
        err = _sum(w * diff * diff)
        better = ok & ~flat & (err < best)
        L = np.where(better[:, None], La, L)
        best = np.where(better, err, best)
        scale = np.where(better, t_scale, scale).astype(np.float32)
        cur_min = np.where(better, t_min, cur_min).astype(np.float32)
    L = np.where(flat[:, None], 0, L)
    return scale, -cur_min, L.astype(np.int32)


def _make_qx(x: np.ndarray, nmax: int):
    """Weighted symmetric grid per row: value ≈ scale·l, l in −nmax..nmax−1, weights w = x^2.

    The first grid puts the largest-|x| value at −nmax (iscale = −nmax/x_max);
    the trials iscale = −(nmax + 0.1·s)/x_max, s = ±1..±9, keep the one that
    maximises (sum w·x·l)^2 / sum w·l^2, i.e. minimises the weighted error at
    its optimal scale. Returns (scale, L = l + nmax) with scale signed.
    """
    x = x.astype(np.float32)
    idx = np.abs(x).argmax(axis=1)
    xmax = np.take_along_axis(x, idx[:, None], axis=1)[:, 0]
    zero = np.abs(xmax) < _GROUP_MAX_EPS
    xmax = np.where(zero, 1.0, xmax).astype(np.float32)
    w = x * x

    def trial(iscale):
        lv = np.clip(np.rint(iscale[:, None] * x), -nmax, nmax - 1)
        return lv, _sum(w * x * lv), _sum(w * lv * lv)

    lv, sumlx, suml2 = trial(np.float32(-nmax) / xmax)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(suml2 > 0, sumlx / suml2, 0.0).astype(np.float32)
    L = lv + nmax
    best = scale * sumlx
    for s in (*range(-9, 0), *range(1, 10)):
        lv, sumlx, suml2 = trial(-(np.float32(nmax) + np.float32(0.1) * np.float32(s)) / xmax)
        better = (suml2 > 0) & (sumlx * sumlx > best * suml2)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(better, sumlx / suml2, scale).astype(np.float32)
        L = np.where(better[:, None], lv + nmax, L)
        best = np.where(better, scale * sumlx, best)
    scale = np.where(zero, 0.0, scale).astype(np.float32)
    L = np.where(zero[:, None], 0, L)
    return scale, L.astype(np.int32)


def q4_k_bytes(blocks: np.ndarray) -> np.ndarray:
    """Q4_K bytes (n, 144) of float blocks (n, 256): d, dmin (fp16), 12 bytes of 6-bit scales/mins, 128 of nibbles."""
    x = np.asarray(blocks, dtype=np.float32).reshape(-1, 8, 32)
    n = x.shape[0]
    av = np.sqrt(_sum(x * x)[..., None] / np.float32(32))
    sc, mn, L = _make_qkx2(x.reshape(-1, 32), (av + np.abs(x)).reshape(-1, 32), 15, -1.0, 0.1, 20)
    sc, mn, L = sc.reshape(n, 8), mn.reshape(n, 8), L.reshape(n, 8, 32)
    max_sc, max_mn = sc.max(axis=1) + np.float32(0), mn.max(axis=1) + np.float32(0)  # + 0 turns -0 into +0
    with np.errstate(divide="ignore"):
        inv_sc = np.where(max_sc > 0, 63 / max_sc, 0).astype(np.float32)
        inv_mn = np.where(max_mn > 0, 63 / max_mn, 0).astype(np.float32)
    ls = np.minimum(63, np.rint(inv_sc[:, None] * sc)).astype(np.uint8)
    lm = np.minimum(63, np.rint(inv_mn[:, None] * mn)).astype(np.uint8)
    d = (max_sc / 63).astype(np.float32).astype(np.float16)
    dmin = (max_mn / 63).astype(np.float32).astype(np.float16)
    # 6-bit packing read back by gguf's Q4_K.get_scale_min: bytes 0-3 scales 0-3 (+ top bits of 4-7),
    # bytes 4-7 mins 0-3 (+ top bits of 4-7), bytes 8-11 low nibbles of scales / mins 4-7.
    packed = np.concatenate(
        [ls[:, :4] | ((ls[:, 4:] >> 4) << 6), lm[:, :4] | ((lm[:, 4:] >> 4) << 6),
         (ls[:, 4:] & 0xF) | ((lm[:, 4:] & 0xF) << 4)],
        axis=1,
    )
    dsub = (d.astype(np.float32)[:, None] * ls).astype(np.float32)[:, :, None]
    dm = (dmin.astype(np.float32)[:, None] * lm).astype(np.float32)[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        requant = np.clip(np.rint((x + dm) / dsub), 0, 15)
    L = np.where(dsub != 0, requant, L).astype(np.uint8)
    # byte g·32 + l holds sub-block 2g (low nibble) and 2g + 1 (high nibble) at position l
    q = L.reshape(n, 4, 2, 32)
    qs = (q[:, :, 0] | (q[:, :, 1] << 4)).reshape(n, 128)
    return np.concatenate([d.view(np.uint8).reshape(n, 2), dmin.view(np.uint8).reshape(n, 2), packed, qs], axis=1)


def q6_k_bytes(blocks: np.ndarray) -> np.ndarray:
    """Q6_K bytes (n, 210) of float blocks (n, 256): 128 bytes low nibbles, 64 high 2-bit pairs,
    16 int8 scales, fp16 d."""
    x = np.asarray(blocks, dtype=np.float32).reshape(-1, 16, 16)
    n = x.shape[0]
    sc, L = _make_qx(x.reshape(-1, 16), 32)
    sc, L = sc.reshape(n, 16), L.reshape(n, 16, 16)
    pick = np.abs(sc).argmax(axis=1)
    max_sc = np.take_along_axis(sc, pick[:, None], axis=1)[:, 0]
    zero = np.abs(max_sc) < _GROUP_MAX_EPS
    with np.errstate(divide="ignore"):
        iscale = np.where(zero, 0.0, np.float32(-128) / np.where(zero, 1.0, max_sc)).astype(np.float32)
        d = np.where(zero, 0.0, 1.0 / np.where(zero, 1.0, iscale)).astype(np.float32).astype(np.float16)
    scales = np.minimum(127, np.rint(iscale[:, None] * sc)).astype(np.int8)
    dsub = (d.astype(np.float32)[:, None] * scales).astype(np.float32)[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        requant = np.clip(np.rint(x / dsub), -32, 31) + 32
    L = np.where(dsub != 0, requant, L)
    L = np.where(zero[:, None, None], 0, L).astype(np.uint8).reshape(n, 2, 4, 32)
    scales = np.where(zero[:, None], 0, scales).astype(np.int8)
    # per half of 128 values: ql byte l (l < 64) holds values l (low nibble) and l + 64 (high);
    # qh byte l (l < 32) holds the top 2 bits of values l, l + 32, l + 64, l + 96
    ql = (L[:, :, :2].reshape(n, 2, 64) & 0xF) | ((L[:, :, 2:].reshape(n, 2, 64) & 0xF) << 4)
    qh = (L[:, :, 0] >> 4) | ((L[:, :, 1] >> 4) << 2) | ((L[:, :, 2] >> 4) << 4) | ((L[:, :, 3] >> 4) << 6)
    return np.concatenate(
        [ql.reshape(n, 128), qh.reshape(n, 64), scales.view(np.uint8), d.view(np.uint8).reshape(n, 2)], axis=1
    )
