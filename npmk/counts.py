"""Streaming Weibull fits from per-value counts of |w|, in memory independent of model size.

fp16 and bf16 have 2^15 magnitudes each, so a histogram over the bit pattern
with the sign cleared is the whole sorted sample: the value v_j with count c_j
occupies the rank block [a_j, b_j] = [C_{j-1} + 1, C_j] (C = cumulative counts).
The probability-plot OLS of :func:`npmk.weibull.fit` then needs, over the body
ranks [i_lo, i_hi] (the same :func:`npmk.weibull.body_ranks`):

    sum over the body of ln x      = sum_j m_j ln v_j          (m_j = block ∩ body)
    sum over the body of y         = T(i_hi) - T(i_lo - 1)
    sum over the body of ln x * y  = sum_j ln v_j [T(b'_j) - T(a'_j - 1)]

where T(m) = sum_{i<=m} g(i) (up to a constant), g(i) = phi((i - 1/2)/n) and
phi(u) = ln(-ln(1 - u)). T is never built rank by rank (n may be 1e9): the
midpoint Euler-Maclaurin formula gives

    sum_{i=a}^{b} g(i) = n [Phi(b/n) - Phi((a-1)/n)]
                         - [phi'(b/n) - phi'((a-1)/n)] / (24 n)
                         + 7 [phi'''(b/n) - phi'''((a-1)/n)] / (5760 n^3) + O(phi^(5)/n^5)

with Phi(u) = -(1 - u) ln(-ln(1 - u)) - E1(-ln(1 - u)), an antiderivative of
phi. Near u = 0 and u = 1, where phi's derivatives blow up, the first and last
``_EDGE`` ranks are summed directly. The result equals a full sort to ~1e-13
in k. sum y^2 (needed only for r2) uses quadrature of phi^2 with the same
corrections.

fp32 has too many values for exact counts; its magnitudes are bucketed on the
top 21 bits of the bit pattern (8 exponent + 13 mantissa bits, relative width
2^-13); each bucket stands at the exact mean of its values (from the per-bucket
sum of the 10 dropped low bits). Trained fp32 checkpoints often hold values on a
coarser grid (fp16/bf16 round trips), so a fixed point such as the bucket
midpoint would be biased; the mean is not. On all-MiniLM-L6-v2 (fp32) this
moves k by ~1e-9 relative to a full sort (tests/test_counts.py checks <= 1e-7).
RMS and max|w| stay exact for every dtype.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import integrate, special

from npmk.weibull import (
    MIN_BODY,
    FitError,
    WeibullFit,
    body_ranks,
    ols_from_centered,
    plotting_y,
    weibull_cdf,
)

__all__ = ["ValueCounts", "UnsupportedDtypeError", "SUPPORTED_DTYPES", "check_dtype", "quantile_from_counts",
           "fit_from_counts"]

#: Elements counted per call: small enough to stay in cache and bound temporaries.
_CHUNK = 1 << 20
#: Ranks at each end summed directly instead of by Euler-Maclaurin.
_EDGE = 4096
#: fp32 magnitudes keep this many top bits (of 31) as the bucket index.
_FP32_BITS = 21
_FP32_SHIFT = 31 - _FP32_BITS


class UnsupportedDtypeError(TypeError):
    """A tensor's dtype has no magnitude histogram here (int8, 4-bit, complex...)."""


#: dtype names (torch spelling) that can be counted; float64 is bucketed like float32.
SUPPORTED_DTYPES = ("float16", "bfloat16", "float32", "float64")


def check_dtype(dtype: str, what: str) -> None:
    """Raise UnsupportedDtypeError naming ``what`` (a tensor, with its file) unless ``dtype`` can be counted."""
    if dtype not in SUPPORTED_DTYPES:
        raise UnsupportedDtypeError(
            f"{what} has dtype {dtype}; npmk measures float16, bfloat16 and float32 weights "
            "(dequantize int8/4-bit checkpoints first)"
        )


@dataclass(frozen=True)
class _Codec:
    """How one storage dtype maps magnitudes to bucket indices and back."""

    name: str
    size: int  # number of buckets
    first_invalid: int  # buckets from here on hold Inf/NaN
    exact: bool

    def values(self) -> np.ndarray:
        """float64 value of each finite 16-bit pattern (indices below ``first_invalid``)."""
        idx = np.arange(self.first_invalid, dtype=np.uint32)
        if self.name == "float16":
            return idx.astype(np.uint16).view(np.float16).astype(np.float64)
        return (idx << 16).view(np.float32).astype(np.float64)  # bfloat16: the top half of a float32


_CODECS = {
    "float16": _Codec("float16", 1 << 15, 0x7C00, True),
    "bfloat16": _Codec("bfloat16", 1 << 15, 0x7F80, True),
    "float32": _Codec("float32", 1 << _FP32_BITS, 0x7F800000 >> _FP32_SHIFT, False),
}
_VALUES: dict[str, np.ndarray] = {}


def _codec_values(name: str) -> np.ndarray:
    if name not in _VALUES:
        _VALUES[name] = _CODECS[name].values()
    return _VALUES[name]


@dataclass
class _Bins:
    """Counts over the bucket range [start, start + len(counts)); for fp32 also the
    per-bucket sum of the dropped low bits. Ranges keep fp32 (2^21 buckets) small."""

    start: int
    counts: np.ndarray  # int64
    lowsum: np.ndarray | None = None  # float64, fp32 only

    @property
    def stop(self) -> int:
        return self.start + self.counts.size

    def add(self, other: _Bins) -> None:
        lo, hi = min(self.start, other.start), max(self.stop, other.stop)
        if (lo, hi) != (self.start, self.stop):
            grown = _Bins(lo, np.zeros(hi - lo, dtype=np.int64),
                          None if self.lowsum is None else np.zeros(hi - lo))
            grown.counts[self.start - lo : self.stop - lo] = self.counts
            if self.lowsum is not None:
                grown.lowsum[self.start - lo : self.stop - lo] = self.lowsum
            self.start, self.counts, self.lowsum = grown.start, grown.counts, grown.lowsum
        sl = slice(other.start - self.start, other.stop - self.start)
        self.counts[sl] += other.counts
        if other.lowsum is not None:
            self.lowsum[sl] += other.lowsum

    def copy(self) -> _Bins:
        return _Bins(self.start, self.counts.copy(), None if self.lowsum is None else self.lowsum.copy())


def _count_chunks(chunks: Iterable[torch.Tensor], dtype: torch.dtype, name: str) -> tuple[str, _Bins, float, float]:
    """Bucket counts of |w| over flat chunks of one tensor.

    For fp32 also the per-bucket sum of the dropped low bits (so each bucket can
    stand at the mean of its values) and the exact sum of squares and max.
    """
    check_dtype(str(dtype).removeprefix("torch."), f"tensor {name!r}")
    if dtype in (torch.float16, torch.bfloat16):
        codec, bits, mask = _CODECS[str(dtype).removeprefix("torch.")], torch.int16, 0x7FFF
    else:
        codec, bits, mask = _CODECS["float32"], torch.int32, 0x7FFFFFFF
    counts16 = torch.zeros(codec.size, dtype=torch.int64) if codec.exact else None
    bins32: _Bins | None = None
    sumsq, mx = 0.0, 0.0
    scratch = torch.empty(0, dtype=bits)  # reused for the masked bit patterns: no allocation per chunk
    for chunk in chunks:
        if not chunk.numel():
            continue
        chunk = chunk.detach().cpu()  # a model on an accelerator: the counts live on the CPU
        if not codec.exact:
            c64 = chunk.double()  # before any narrowing: RMS and max of float64 input stay exact too
            sumsq += float(torch.dot(c64, c64))
            mx = max(mx, float(c64.abs().max()))
            chunk = chunk.to(torch.float32)  # float64 is bucketed at float32 resolution
        if scratch.numel() < chunk.numel():
            scratch = torch.empty(chunk.numel(), dtype=bits)
        raw = torch.bitwise_and(chunk.contiguous().view(bits), mask, out=scratch[: chunk.numel()])
        if codec.exact:
            counts16 += torch.bincount(raw, minlength=codec.size)
            continue
        idx = raw >> _FP32_SHIFT
        lo, hi = int(idx.min()), int(idx.max())
        idx -= lo
        low = (raw & ((1 << _FP32_SHIFT) - 1)).double()
        piece = _Bins(lo, torch.bincount(idx, minlength=hi - lo + 1).numpy(),
                      torch.bincount(idx, weights=low, minlength=hi - lo + 1).numpy())
        if bins32 is None:
            bins32 = piece
        else:
            bins32.add(piece)
    bins = _Bins(0, counts16.numpy()) if codec.exact else bins32 or _Bins(0, np.zeros(0, dtype=np.int64), np.zeros(0))
    bad = int(bins.counts[max(codec.first_invalid - bins.start, 0) :].sum())
    if bad:
        raise FitError(f"tensor {name!r}: {bad} NaN/Inf values; a fit needs finite weights")
    return codec.name, bins, sumsq, mx


class ValueCounts:
    """Counts of |w| per representable magnitude, accumulated tensor by tensor.

    ``of(tensor, name)`` / ``of_chunks(...)`` count one tensor (O(2^15) memory
    for fp16/bf16, at most O(2^21) for fp32); ``update(other)`` pools accumulators;
    ``fit(trim)`` gives the probability-plot fit, ``quantiles``/``rms``/``max_abs`` the
    distribution-free summaries. Zeros are counted (they take ranks). Pooling is
    order-independent to the last bit: counts and the fp32 low-bit sums are integers
    (exact in int64/float64), the fp32 sums of squares are added by ``math.fsum``.
    """

    def __init__(self) -> None:
        self._bins: dict[str, _Bins] = {}
        # One partial sum of squares per counted fp32 tensor, added by math.fsum (exactly
        # rounded), so pooling tensors in any order gives the same RMS to the last bit.
        self._fp32_sumsq: list[float] = []
        self._fp32_max = 0.0
        self._table: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def of(cls, tensor, name: str = "tensor") -> ValueCounts:
        """Counts of one tensor (torch tensor or numpy array)."""
        t = torch.from_numpy(np.ascontiguousarray(tensor)) if isinstance(tensor, np.ndarray) else tensor
        flat = t.detach().reshape(-1)
        return cls.of_chunks((flat[i : i + _CHUNK] for i in range(0, flat.numel(), _CHUNK)), t.dtype, name)

    @classmethod
    def of_chunks(cls, chunks: Iterable[torch.Tensor], dtype: torch.dtype, name: str = "tensor") -> ValueCounts:
        """Counts of one tensor given as consecutive flat chunks of ``dtype``."""
        vc = cls()
        codec, bins, sumsq, mx = _count_chunks(chunks, dtype, name)
        vc._bins[codec] = bins
        vc._fp32_sumsq, vc._fp32_max = [sumsq], mx
        return vc

    def update(self, other: ValueCounts) -> None:
        """Pool another accumulator's counts into this one."""
        for codec, bins in other._bins.items():
            if codec in self._bins:
                self._bins[codec].add(bins)
            else:
                self._bins[codec] = bins.copy()
        self._fp32_sumsq += other._fp32_sumsq  # list concatenation
        self._fp32_max = max(self._fp32_max, other._fp32_max)
        self._table = None

    @property
    def n(self) -> int:
        return int(sum(int(b.counts.sum()) for b in self._bins.values()))

    @property
    def exact(self) -> bool:
        """True when every value was counted exactly (no fp32 buckets)."""
        return all(_CODECS[c].exact for c in self._bins)

    @property
    def dtypes(self) -> list[str]:
        return sorted(self._bins)

    @property
    def method(self) -> str:
        return "counts" if self.exact else "counts-fp32-buckets"

    def _occupied(self, codec: str) -> tuple[np.ndarray, np.ndarray]:
        """(value, count) of each occupied bucket: exact for 16-bit, the bucket mean for fp32."""
        bins = self._bins[codec]
        local = np.flatnonzero(bins.counts)
        cnt = bins.counts[local]
        nz = local + bins.start
        if _CODECS[codec].exact:
            return _codec_values(codec)[nz], cnt
        edge = nz.astype(np.uint32) << _FP32_SHIFT
        base = edge.view(np.float32).astype(np.float64)
        ulp = (edge + 1).view(np.float32).astype(np.float64) - base
        return base + ulp * (bins.lowsum[local] / cnt), cnt

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """(distinct values ascending as float64, their counts) over all dtypes pooled."""
        if self._table is None:
            pairs = [self._occupied(codec) for codec in self._bins]
            if not pairs:
                self._table = (np.empty(0), np.empty(0, dtype=np.int64))
            else:
                v = np.concatenate([p[0] for p in pairs])
                c = np.concatenate([p[1] for p in pairs])
                order = np.argsort(v, kind="stable")
                v, c = v[order], c[order]
                starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
                self._table = (v[starts], np.add.reduceat(c, starts))
        return self._table

    def rms(self) -> float:
        """sqrt(mean |w|^2): exact sum for fp32 data, exact counts for 16-bit."""
        n = self.n
        parts = list(self._fp32_sumsq)
        for codec in self._bins:
            if _CODECS[codec].exact:
                v, c = self._occupied(codec)
                parts.append(float(c @ np.square(v)))
        return math.sqrt(math.fsum(parts) / n) if n else float("nan")

    def max_abs(self) -> float:
        mx = self._fp32_max
        for codec in self._bins:
            if _CODECS[codec].exact:
                v, _ = self._occupied(codec)
                if v.size:
                    mx = max(mx, float(v[-1]))
        return mx

    def quantiles(self, ps) -> np.ndarray:
        """Quantiles of |w| with numpy's default 'linear' interpolation."""
        v, c = self.table()
        return quantile_from_counts(v, c, ps)

    def fit(self, trim: float = 0.8, name: str = "population") -> WeibullFit:
        """The probability-plot fit of :func:`npmk.weibull.fit`, from counts."""
        v, c = self.table()
        return fit_from_counts(v, c, trim, name=name, method=self.method)


def quantile_from_counts(values: np.ndarray, counts: np.ndarray, ps) -> np.ndarray:
    """np.quantile(sample, ps) ('linear' method) of the sample given as (values, counts)."""
    cum = np.cumsum(counts)
    n = int(cum[-1]) if cum.size else 0
    if n == 0:
        raise FitError("quantiles of an empty population")
    ps = np.atleast_1d(np.asarray(ps, dtype=np.float64))
    if not ((ps >= 0) & (ps <= 1)).all():
        raise ValueError(f"quantile levels must be in [0, 1], got {ps.tolist()}")
    h = (n - 1) * ps
    r0 = np.floor(h).astype(np.int64)
    r1 = np.minimum(r0 + 1, n - 1)

    def at(r):  # value of 0-based rank r
        return values[np.searchsorted(cum, r, side="right")]

    a, b, t = at(r0), at(r1), h - r0
    diff = b - a
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def fit_from_counts(values: np.ndarray, counts: np.ndarray, trim: float, *, name: str, method: str) -> WeibullFit:
    """Probability-plot fit of the sample given as distinct ascending values and their counts."""
    cum = np.cumsum(counts, dtype=np.int64)
    n = int(cum[-1]) if cum.size else 0
    i_lo, i_hi = body_ranks(n, trim)
    n_body = i_hi - i_lo + 1
    if n_body < MIN_BODY:
        raise FitError(f"{name}: {n} values leave {max(n_body, 0)} in the {trim:.0%} body; "
                       f"a fit needs at least {MIN_BODY}")
    a = np.maximum(cum - counts + 1, i_lo)
    b = np.minimum(cum, i_hi)
    sel = b >= a
    v, a, b = values[sel], a[sel], b[sel]
    if v[0] == 0.0:
        zeros = int(counts[values == 0.0].sum())
        raise FitError(
            f"{name}: {zeros} of {n} values are zero and reach into the fitted body (ranks {i_lo}..{i_hi}); "
            "ln 0 is undefined, so the body must hold positive values only"
        )
    m = (b - a + 1).astype(np.float64)
    lx = np.log(v)
    xbar = float(m @ lx) / n_body
    dx = lx - xbar
    # The blocks tile the body (a_{j+1} = b_j + 1), so one T per block end gives every block's sum.
    t = _cum_y(n, np.r_[i_lo - 1, b])
    block_y = np.diff(t)
    sum_y = float(t[-1] - t[0])
    ybar = sum_y / n_body
    sxx = float(m @ (dx * dx))
    sxy = float(dx @ block_y)
    syy = _sum_y2(n, i_lo, i_hi) - sum_y * ybar
    k, lam, r2 = ols_from_centered(sxx, sxy, syy, xbar, ybar, name)
    cdf = weibull_cdf(v, k, lam)
    ks = float(np.max(np.maximum(b / n - cdf, cdf - (a - 1) / n)))
    return WeibullFit(k, lam, r2, ks, n, n_body, float(trim), method)


# --- sums of y = phi((i - 1/2)/n) over rank ranges -------------------------------------------


def _phi_derivs(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """phi, phi', phi'', phi''' at u, with s = -ln(1 - u), w = 1 - u."""
    s = -np.log1p(-u)
    w = 1.0 - u
    ws = w * s
    return (
        np.log(s),
        1.0 / ws,
        (s - 1.0) / ws**2,
        (s + 2.0 * (s - 1.0) ** 2) / (w**3 * s**3),
    )


def _em_cum_y(n: int, m: np.ndarray) -> np.ndarray:
    """Euler-Maclaurin cumulative sum of g up to rank m (valid for _EDGE <= m <= n - _EDGE)."""
    u = m / n
    s = -np.log1p(-u)
    big_phi = -(1.0 - u) * np.log(s) - special.exp1(s)
    _, d1, _, d3 = _phi_derivs(u)
    return n * big_phi - d1 / (24.0 * n) + 7.0 * d3 / (5760.0 * n**3)


def _cum_y(n: int, m: np.ndarray) -> np.ndarray:
    """T(m) with T(b) - T(a - 1) = sum_{i=a}^{b} y_i for 0 <= a - 1 <= b <= n (T has an arbitrary offset)."""
    m = np.asarray(m, dtype=np.int64)
    if n <= 2 * _EDGE:
        return np.r_[0.0, np.cumsum(plotting_y(np.arange(1, n + 1), n))][m]
    head = np.r_[0.0, np.cumsum(plotting_y(np.arange(1, _EDGE + 1), n))]  # sums over ranks 1..j
    tail = np.r_[0.0, np.cumsum(plotting_y(np.arange(n - _EDGE + 1, n + 1), n))]  # ranks n-EDGE+1..
    e_head, e_tail = _em_cum_y(n, np.array([_EDGE, n - _EDGE], dtype=np.float64))
    out = _em_cum_y(n, np.clip(m, _EDGE, n - _EDGE).astype(np.float64))
    low, high = m < _EDGE, m > n - _EDGE
    out[low] = e_head - (head[_EDGE] - head[m[low]])
    out[high] = e_tail + tail[m[high] - (n - _EDGE)]
    return out


def _direct_y2(n: int, a: int, b: int) -> float:
    y = plotting_y(np.arange(a, b + 1), n)
    return float(y @ y)


def _sum_y2(n: int, a: int, b: int) -> float:
    """sum_{i=a}^{b} y_i^2: directly within _EDGE ranks of either end, else quadrature + Euler-Maclaurin.

    The quadrature route agrees with math.fsum of the direct sum to ~1e-15 for every n
    above 2 * _EDGE, so it is used for all longer ranges (direct sums cost O(n) logs).
    """
    if b - a + 1 <= 2 * _EDGE:
        return _direct_y2(n, a, b)
    total = 0.0
    if a <= _EDGE:
        total += _direct_y2(n, a, _EDGE)
        a = _EDGE + 1
    if b > n - _EDGE:
        total += _direct_y2(n, n - _EDGE + 1, b)
        b = n - _EDGE
    u0, u1 = (a - 1) / n, b / n
    integral, _ = integrate.quad(
        lambda u: math.log(-math.log1p(-u)) ** 2, u0, u1, epsabs=0.0, epsrel=1e-13, limit=500
    )
    p, d1, d2, d3 = _phi_derivs(np.array([u0, u1]))
    dsq1 = 2.0 * p * d1
    dsq3 = 2.0 * (p * d3 + 3.0 * d1 * d2)
    total += n * integral - (dsq1[1] - dsq1[0]) / (24.0 * n) + 7.0 * (dsq3[1] - dsq3[0]) / (5760.0 * n**3)
    return total
