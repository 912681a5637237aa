"""npmk.weibull: the sort-based probability-plot fit, the anchor, MLE and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from npmk import weibull as W


def test_halfnormal_anchor_by_quadrature():
    k0, lam0 = W.halfnormal_anchor(0.8)
    assert abs(k0 - 1.20543) < 1e-5
    assert abs(lam0 - 0.88749) < 1e-5
    # Wider bodies reach further into the half-normal's non-Weibull tails: k falls.
    assert W.halfnormal_anchor(1.0)[0] < W.halfnormal_anchor(0.9)[0] < k0


def test_sample_fits_on_halfnormal_draws_scatter_around_the_anchor():
    # the tolerance is the estimator's own spread, measured here over independent seeds:
    # the mean of m fits must lie within 4 standard errors of the continuum anchor
    n, m = 1_000_000, 6
    fits = [W.fit(np.abs(np.random.default_rng(seed).standard_normal(n))) for seed in range(m)]
    k0, lam0 = W.halfnormal_anchor(0.8)
    for values, anchor in (([f.k for f in fits], k0), ([f.lam for f in fits], lam0)):
        sd = np.std(values, ddof=1)
        assert 0 < sd < 5e-3  # about 1.4/√n for k: a single fit cannot pin the third decimal
        assert abs(np.mean(values) - anchor) < 4 * sd / math.sqrt(m)
    f = fits[0]
    assert f.n == n and f.n_body == 800_000 and f.method == "sort" and f.trim == 0.8
    assert 0.99 < f.r2 < 1.0 and 0 < f.ks < 0.05


def test_sample_fit_is_scale_equivariant():
    x = np.abs(np.random.default_rng(42).standard_normal(200_000))
    a, b = W.fit(x), W.fit(0.02 * x)
    assert math.isclose(a.k, b.k, rel_tol=1e-9) and math.isclose(0.02 * a.lam, b.lam, rel_tol=1e-9)


def test_fit_recovers_true_weibull_and_agrees_with_mle():
    k, lam = 1.5, 0.3
    x = stats.weibull_min(k, scale=lam).rvs(200_000, random_state=np.random.default_rng(3))
    mle = W.fit_mle(x)
    for f in (W.fit(x), W.fit(x, trim=1.0), mle):
        assert abs(f.k / k - 1) < 0.01, f
        assert abs(f.lam / lam - 1) < 0.01, f
    assert math.isnan(mle.r2) and mle.method == "mle" and mle.n == x.size


def test_histogram_route_is_npm_weibull_and_biased_by_binning():
    x = np.abs(np.random.default_rng(42).standard_normal(1_000_000))
    h = W.fit_histogram_npm(x)
    assert h.method == "npm-histogram" and h.n == x.size
    k0 = W.halfnormal_anchor(0.8)[0]
    assert 5e-4 < h.k - k0 < 3e-3  # the reference library's ~1e-3 binning bias


def test_body_ranks_match_their_definition():
    for trim in (0.8, 0.9, 1.0, 0.5):
        lo = round((1 - trim) / 2, 12)
        for n in range(1, 400):
            i = np.arange(1, n + 1)
            F = (i - 0.5) / n
            inside = i[(F >= lo) & (F <= 1 - lo)]
            assert W.body_ranks(n, trim) == (inside[0], inside[-1]), (n, trim)


def test_closed_forms_agree_with_scipy():
    k, lam = 1.2, 0.05
    dist = stats.weibull_min(k, scale=lam)
    assert W.weibull_mean(k, lam) == pytest.approx(dist.mean(), rel=1e-12)
    assert W.weibull_rms(k, lam) == pytest.approx(math.sqrt(dist.moment(2)), rel=1e-12)
    assert W.rms_over_lambda(k) == pytest.approx(W.weibull_rms(k, lam) / lam, rel=1e-14)
    p = np.array([0.1, 0.5, 0.9, 0.99])
    np.testing.assert_allclose(W.weibull_quantile(p, k, lam), dist.ppf(p), rtol=1e-12)
    np.testing.assert_allclose(W.weibull_cdf(dist.ppf(p), k, lam), p, rtol=1e-12)


def _direct_fit(x, trim):
    """The protocol written out with scipy: sort, F = (i - 0.5)/n, keep lo <= F <= hi, regress."""
    v = np.sort(x)
    n = v.size
    F = (np.arange(1, n + 1) - 0.5) / n
    lo = (1 - trim) / 2
    body = (F >= lo - 1e-12) & (F <= 1 - lo + 1e-12)
    reg = stats.linregress(np.log(v[body]), np.log(-np.log(1 - F[body])))
    k = reg.slope
    lam = math.exp(-reg.intercept / k)
    # KS over the body: the empirical CDF on both sides of each value's step (ties share one step)
    cdf = 1 - np.exp(-((v[body] / lam) ** k))
    upper = np.searchsorted(v, v[body], side="right") / n
    lower = np.searchsorted(v, v[body], side="left") / n
    ks = np.max(np.maximum(np.minimum(upper, F[body][-1] + 0.5 / n) - cdf,
                           cdf - np.maximum(lower, F[body][0] - 0.5 / n)))
    return k, lam, reg.rvalue**2, ks, int(body.sum())


@pytest.mark.parametrize("trim", [0.8, 0.9, 1.0])
def test_fit_is_the_protocol_written_out(trim):
    # zeros below the body (ranked, not dropped) and ties (values rounded to a grid)
    rng = np.random.default_rng(0)
    x = np.maximum(np.round(np.abs(rng.standard_normal(10_001)), 3), 1e-4)
    if trim < 1.0:
        x[:400] = 0.0
    f = W.fit(x, trim)
    k, lam, r2, ks, n_body = _direct_fit(x, trim)
    assert (f.n, f.n_body) == (x.size, n_body)
    assert f.k == pytest.approx(k, rel=1e-12) and f.lam == pytest.approx(lam, rel=1e-12)
    assert f.r2 == pytest.approx(r2, rel=1e-12) and f.ks == pytest.approx(ks, rel=1e-9)
    # dropping the zeros instead would give another fit
    assert trim == 1.0 or abs(W.fit(x[x > 0], trim).k - f.k) > 1e-3


def test_anchor_is_the_limit_of_the_fit_on_exact_quantiles():
    # the fit on the exact half-normal quantiles at the plotting positions converges to the anchor
    n = 400_000
    x = stats.halfnorm.ppf((np.arange(1, n + 1) - 0.5) / n)
    for trim in (0.8, 0.9):
        f = W.fit(x, trim, presorted=True)
        k0, lam0 = W.halfnormal_anchor(trim)
        assert abs(f.k - k0) < 1e-5 and abs(f.lam - lam0) < 1e-5, (trim, f, k0, lam0)


def test_fit_takes_torch_tensors_of_any_float_dtype():
    import torch

    w = torch.randn(20_000, generator=torch.Generator().manual_seed(0)) * 0.02
    for dt in (torch.float32, torch.float16, torch.bfloat16):
        t = w.to(dt).abs()
        assert W.fit(t) == W.fit(t.double().numpy())


@pytest.mark.parametrize(
    "x, message",
    [
        (np.array([0.1, np.nan, 0.3, 0.4]), "NaN/Inf"),
        (np.array([0.1, np.inf, 0.3, 0.4]), "NaN/Inf"),
        (np.array([0.1, -0.2, 0.3, 0.4]), "negative"),
        (np.array([0.1, 0.2]), "at least 3"),
        (np.full(100, 0.7), "equal"),
        (np.r_[np.zeros(300), np.arange(1.0, 701.0)], "zero"),
    ],
)
def test_bad_input_raises_naming_the_problem(x, message):
    with pytest.raises(W.FitError, match=message) as err:
        W.fit(x, name="layer.7.w")
    assert "layer.7.w" in str(err.value)


def test_presorted_skips_the_sort_but_checks_it():
    x = np.sort(np.abs(np.random.default_rng(1).standard_normal(1000)))
    assert W.fit(x, presorted=True) == W.fit(x[::-1])
    with pytest.raises(ValueError, match="ascending"):
        W.fit(x[::-1], presorted=True)


def test_bad_trim_and_mle_inputs():
    with pytest.raises(ValueError, match="trim"):
        W.fit(np.arange(1.0, 10.0), trim=0.0)
    with pytest.raises(W.FitError, match="zeros"):
        W.fit_mle(np.r_[0.0, np.arange(1.0, 10.0)])


def test_censored_fit_regresses_the_positive_body_at_full_sample_plotting_positions():
    rng = np.random.default_rng(7)
    pos = np.sort(rng.weibull(1.2, 1800) * 0.03)
    x = np.r_[np.zeros(300), pos]  # zeros take ranks 1..300; the 80% body starts at rank 211
    got = W.fit(rng.permutation(x), zeros="censor", name="q4_0 tensor")
    n = x.size
    i_lo, i_hi = W.body_ranks(n, 0.8)
    ranks = np.arange(301, i_hi + 1)  # positive ranks of the body only
    slope, intercept = np.polyfit(np.log(np.sort(x)[ranks - 1]), W.plotting_y(ranks, n), 1)
    assert got.method == "sort-censored" and got.n == n and got.n_body == ranks.size
    assert got.k == pytest.approx(slope, rel=1e-10)
    assert got.lam == pytest.approx(math.exp(-intercept / slope), rel=1e-9)
    # zeros below the body change nothing: the same call is the plain fit
    plain = np.r_[np.zeros(100), pos]
    assert W.fit(plain, zeros="censor") == W.fit(plain)
    with pytest.raises(ValueError, match="zeros must be"):
        W.fit(x, zeros="drop")
    with pytest.raises(W.FitError, match="positive ones"):
        W.fit(np.r_[np.zeros(95), 1.0, 2.0, 3.0, 4.0, 5.0], zeros="censor")
