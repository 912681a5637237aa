"""Weibull fits of weight magnitudes x = |w| and the closed forms around them.

The measuring stick of the papers is a probability-plot fit: sort the n
magnitudes, give the i-th smallest the plotting position F_i = (i - 0.5)/n,
keep the body lo <= F_i <= hi with lo = (1 - trim)/2, hi = 1 - lo, and regress
y = ln(-ln(1 - F)) on ln x by ordinary least squares (each value weight 1):

    y = k ln x - k ln lam   =>   k = slope,  lam = exp(mean(ln x) - mean(y)/k).

``fit`` does this on a sample by sorting; :mod:`npmk.counts` does the same sums
from per-value counts, using the same ``body_ranks``, so both select identical
ranks. Units: lam has the units of x; k, r2 and ks are dimensionless.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import integrate, special, stats

__all__ = [
    "WeibullFit",
    "FitError",
    "body_bounds",
    "body_ranks",
    "plotting_y",
    "fit",
    "fit_mle",
    "fit_histogram_npm",
    "histogram_npm_result",
    "ols_from_centered",
    "halfnormal_anchor",
    "weibull_mean",
    "weibull_rms",
    "rms_over_lambda",
    "weibull_quantile",
    "weibull_cdf",
]

#: Fewest body points a probability-plot fit accepts.
MIN_BODY = 3


class FitError(ValueError):
    """The data cannot give a meaningful Weibull fit (the message says why)."""


@dataclass(frozen=True)
class WeibullFit:
    """Result of a Weibull fit of magnitudes.

    k: shape; lam: scale (units of x); r2: coefficient of determination of the
    probability-plot regression (NaN for MLE); ks: max |F_emp - F_weibull| over
    the fitted values (the empirical CDF evaluated on both sides of each step);
    n: number of values; n_body: values in the fitted body (bins for
    ``npm-histogram``); trim: body fraction; method: how it was computed.

    Examples
    --------
    >>> from npmk import fit
    >>> fit([0.5, 1.0, 1.5, 2.0, 2.5] * 20, trim=1.0).as_dict()["n"]
    100
    """

    k: float
    lam: float
    r2: float
    ks: float
    n: int
    n_body: int
    trim: float
    method: str

    def as_dict(self) -> dict:
        return asdict(self)


def body_bounds(trim: float) -> tuple[float, float]:
    """Plotting-position bounds (lo, hi) = ((1 - trim)/2, 1 - lo) of the body; checks trim in (0, 1]."""
    if not (isinstance(trim, (int, float)) and 0.0 < float(trim) <= 1.0):
        raise ValueError(f"trim must be a number in (0, 1], got {trim!r}")
    # Rounded so that trim=0.8 gives exactly the float 0.1 (1 - 0.8 is 0.19999999999999996).
    lo = round((1.0 - float(trim)) / 2.0, 12)
    return lo, 1.0 - lo


def body_ranks(n: int, trim: float) -> tuple[int, int]:
    """1-based inclusive ranks (i_lo, i_hi) with lo <= (i - 0.5)/n <= hi.

    lo = (1 - trim)/2, hi = 1 - lo. Returns i_lo > i_hi when the body is empty.
    """
    lo, hi = body_bounds(trim)
    n = int(n)
    if n <= 0:
        return 1, 0

    def pos(i: int) -> float:
        return (i - 0.5) / n

    i_lo = max(1, math.ceil(lo * n + 0.5))
    while i_lo > 1 and pos(i_lo - 1) >= lo:
        i_lo -= 1
    while i_lo <= n and pos(i_lo) < lo:
        i_lo += 1
    i_hi = min(n, math.floor(hi * n + 0.5))
    while i_hi < n and pos(i_hi + 1) <= hi:
        i_hi += 1
    while i_hi >= 1 and pos(i_hi) > hi:
        i_hi -= 1
    return i_lo, i_hi


def plotting_y(i: np.ndarray, n: int) -> np.ndarray:
    """y_i = ln(-ln(1 - F_i)) at the plotting positions F_i = (i - 0.5)/n."""
    u = (np.asarray(i, dtype=np.float64) - 0.5) / n
    return np.log(-np.log1p(-u))


def weibull_cdf(x: np.ndarray | float, k: float, lam: float) -> np.ndarray:
    """F(x) = 1 - exp(-(x/lam)^k)."""
    return -np.expm1(-np.power(np.asarray(x, dtype=np.float64) / lam, k))


def _as_magnitudes(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor: numpy has no bfloat16, so widen on the torch side
        x = x.detach().cpu()
        if x.is_floating_point():
            x = x.double()
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False).ravel()
    if arr.size == 0:
        return arr
    lo, hi = arr.min(), arr.max()  # reductions: no n-sized temporaries on the good path
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise FitError(f"{name}: {int((~np.isfinite(arr)).sum())} NaN/Inf values; a fit needs finite magnitudes")
    if lo < 0:
        raise FitError(f"{name}: negative values; pass magnitudes |w|, not signed weights")
    return arr


def ols_from_centered(sxx: float, sxy: float, syy: float, xbar: float, ybar: float,
                      what: str) -> tuple[float, float, float]:
    """(k, lam, r2) from centered sums of the regression of y on x = ln(values)."""
    if not sxx > 0:
        raise FitError(f"{what}: all values in the fitted body are equal; k is undefined for constant data")
    k = sxy / sxx
    if not k > 0:
        raise FitError(f"{what}: non-positive slope k={k:.4g}; the data are not a magnitude distribution")
    lam = math.exp(xbar - ybar / k)
    r2 = sxy * sxy / (sxx * syy) if syy > 0 else float("nan")
    return k, lam, r2


def fit(x, trim: float = 0.8, *, name: str = "x", presorted: bool = False, zeros: str = "refuse") -> WeibullFit:
    """Probability-plot Weibull fit of magnitudes ``x`` by sorting (the reference).

    x: nonnegative finite values (any shape; numpy array, list or torch tensor).
    Zeros count as values (they take ranks). Tied values take consecutive ranks,
    each its own plotting position, as in a sort. zeros: what to do when zeros
    reach into the body, where ln 0 is undefined: "refuse" (FitError) or
    "censor": treat them as left-censored below the smallest positive value, so
    the body keeps its plotting positions (i - 0.5)/n over all n values but the
    regression starts at the first positive rank (method "sort-censored").
    presorted: x is already ascending (checked), so no sorted copy is made.
    Beyond the float64 values (and their sorted copy unless presorted), memory
    is O(block): the sums run over blocks of ranks.

    Examples
    --------
    Half-normal magnitudes land on the anchor (1.2054) within sampling noise:

    >>> import numpy as np
    >>> from npmk import fit
    >>> res = fit(np.abs(np.random.default_rng(0).standard_normal(1_000_000)))
    >>> round(res.k, 2), round(res.lam, 2), res.n_body
    (1.21, 0.89, 800000)
    """
    if zeros not in ("refuse", "censor"):
        raise ValueError(f"zeros must be 'refuse' or 'censor', got {zeros!r}")
    v = _as_magnitudes(x, name)
    if not presorted:
        v = np.sort(v)
    elif any((v[a - 1 : b] < v[a - 2 : b - 1]).any() for a, b in _blocks(2, v.size)):
        raise ValueError(f"{name}: presorted=True but the values are not in ascending order")
    n = v.size
    i_lo, i_hi = body_ranks(n, trim)
    method = "sort"
    if n > 0 and i_lo <= n and v[i_lo - 1] == 0.0:
        n_zero = int(np.searchsorted(v, 0.0, side="right"))
        if zeros == "refuse":
            raise FitError(
                f"{name}: {n_zero} of {n} values are zero and reach into the fitted body (ranks {i_lo}..{i_hi}); "
                "ln 0 is undefined, so the body must hold positive values only (zeros='censor' fits above them)"
            )
        i_lo, method = n_zero + 1, "sort-censored"
    n_body = i_hi - i_lo + 1
    if n_body < MIN_BODY:
        raise FitError(f"{name}: {n} values leave {max(n_body, 0)} positive ones in the {trim:.0%} body; "
                       f"a fit needs at least {MIN_BODY}")
    # Sums about a centre inside the body (the middle rank) keep the centering exact enough.
    mid = (i_lo + i_hi) // 2
    cx, cy = math.log(v[mid - 1]), float(plotting_y(mid, n))
    sx = sy = sxx = sxy = syy = 0.0
    for a, b in _blocks(i_lo, i_hi):
        dx = np.log(v[a - 1 : b]) - cx
        dy = plotting_y(np.arange(a, b + 1), n) - cy
        sx, sy = sx + float(dx.sum()), sy + float(dy.sum())
        sxx, sxy, syy = sxx + float(dx @ dx), sxy + float(dx @ dy), syy + float(dy @ dy)
    mx, my = sx / n_body, sy / n_body
    k, lam, r2 = ols_from_centered(
        sxx - n_body * mx * mx, sxy - n_body * mx * my, syy - n_body * my * my, cx + mx, cy + my, name
    )
    ks = 0.0
    for a, b in _blocks(i_lo, i_hi):
        cdf = weibull_cdf(v[a - 1 : b], k, lam)
        ranks = np.arange(a, b + 1)
        ks = max(ks, float(np.max(np.maximum(ranks / n - cdf, cdf - (ranks - 1) / n))))
    return WeibullFit(k, lam, r2, ks, n, n_body, float(trim), method)


_BLOCK = 1 << 22


def _blocks(first: int, last: int):
    """Consecutive inclusive rank ranges [a, b] of at most _BLOCK ranks covering [first, last]."""
    for a in range(first, last + 1, _BLOCK):
        yield a, min(last, a + _BLOCK - 1)


def fit_mle(x, *, name: str = "x") -> WeibullFit:
    """Maximum-likelihood two-parameter Weibull (location fixed at 0) via scipy.stats.weibull_min.

    A cross-check of the probability-plot fit over all values (trim = 1);
    r2 is NaN and ks is the full-sample Kolmogorov-Smirnov statistic.

    Examples
    --------
    >>> import numpy as np
    >>> from npmk import fit_mle
    >>> x = np.random.default_rng(0).weibull(1.5, 100_000) * 2.0
    >>> res = fit_mle(x)
    >>> round(res.k, 1), round(res.lam, 1), res.method
    (1.5, 2.0, 'mle')
    """
    v = _as_magnitudes(x, name)
    if v.size < MIN_BODY:
        raise FitError(f"{name}: {v.size} values; an MLE fit needs at least {MIN_BODY}")
    if (v == 0).any():
        raise FitError(f"{name}: contains zeros; the Weibull likelihood is degenerate at 0 for k != 1")
    if v.min() == v.max():
        raise FitError(f"{name}: all values are equal; k is undefined for constant data")
    k, _, lam = stats.weibull_min.fit(v, floc=0.0)
    ks = float(stats.kstest(v, stats.weibull_min(k, scale=lam).cdf).statistic)
    return WeibullFit(float(k), float(lam), float("nan"), ks, v.size, v.size, 1.0, "mle")


def fit_histogram_npm(x, *, name: str = "x") -> WeibullFit:
    """npm-weibull-py 0.4.0's estimator, for comparison: a count-weighted fit of
    the 1024-bin log10|w| histogram on [-12, 2] at bin-midpoint CDF, 80% body.

    Calls the reference library itself (``npm_weibull``). It carries a binning
    bias of ~1e-3 in k relative to ``fit``; n_body counts bins, not values.
    """
    from npm_weibull import extract_to_histogram

    v = _as_magnitudes(x, name)
    hist = extract_to_histogram(v.astype(np.float32))
    return histogram_npm_result(hist["edges"], hist["hist"], name=name)


def histogram_npm_result(edges: np.ndarray, hist: np.ndarray, *, name: str = "x") -> WeibullFit:
    """npm-weibull-py's ``weibull_fit`` on a (log10 edges, counts) histogram, as a WeibullFit."""
    from npm_weibull import weibull_fit

    res = weibull_fit((edges, hist), trim="mid_80")
    if not res["ok"]:
        raise FitError(f"{name}: npm-weibull-py fit failed: {res.get('reason')}")
    n = int(np.sum(hist))
    return WeibullFit(res["k"], res["lambda"], res["R2"], res["KS"], n, int(res["n_used"]), 0.8, "npm-histogram")


def halfnormal_anchor(trim: float = 0.8) -> tuple[float, float]:
    """Continuum limit (k0, lam0/sigma) of the probability-plot fit on half-normal |w|.

    With w ~ N(0, sigma^2), the body quantiles are x(F) = sigma * Phi^-1((1 + F)/2).
    Regressing y(F) = ln(-ln(1 - F)) on X(F) = ln x(F) with F uniform on [lo, hi]
    gives k0 = cov(X, y)/var(X) and lam0 = exp(E X - E y / k0), computed by
    adaptive quadrature (sigma = 1). At trim 0.8: (1.20543, 0.88749).

    Examples
    --------
    >>> from npmk import halfnormal_anchor
    >>> k0, lam0 = halfnormal_anchor(0.8)
    >>> round(k0, 5), round(lam0, 5)
    (1.20543, 0.88749)
    """
    lo, hi = body_bounds(trim)
    width = hi - lo

    def X(F: float) -> float:
        return math.log(special.ndtri(0.5 + 0.5 * F)) if F > 0 else -math.inf

    def Y(F: float) -> float:
        return math.log(-math.log1p(-F))

    def mean(f) -> float:
        val, _ = integrate.quad(f, lo, hi, epsabs=0.0, epsrel=1e-12, limit=500)
        return val / width

    mx, my = mean(X), mean(Y)
    cxx = mean(lambda F: (X(F) - mx) ** 2)
    cxy = mean(lambda F: (X(F) - mx) * (Y(F) - my))
    k0 = cxy / cxx
    return k0, math.exp(mx - my / k0)


def weibull_mean(k: float, lam: float) -> float:
    """E[x] = lam * Gamma(1 + 1/k)."""
    return lam * math.gamma(1.0 + 1.0 / k)


def rms_over_lambda(k: float) -> float:
    """RMS/lam = sqrt(Gamma(1 + 2/k)) for a Weibull (the RMS-lambda bridge)."""
    return math.sqrt(math.gamma(1.0 + 2.0 / k))


def weibull_rms(k: float, lam: float) -> float:
    """sqrt(E[x^2]) = lam * sqrt(Gamma(1 + 2/k))."""
    return lam * rms_over_lambda(k)


def weibull_quantile(p, k: float, lam: float):
    """Q(p) = lam * (-ln(1 - p))^(1/k), for p in [0, 1)."""
    return lam * np.power(-np.log1p(-np.asarray(p, dtype=np.float64)), 1.0 / k)
