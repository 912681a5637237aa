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


@pytest.mark.parametrize("sigma", [1.0, 0.02])
def test_sample_fit_on_halfnormal_draws_matches_anchor(sigma):
    x = np.abs(np.random.default_rng(42).standard_normal(1_000_000)) * sigma
    f = W.fit(x)
    k0, lam0 = W.halfnormal_anchor(0.8)
    assert abs(f.k - k0) < 5e-4
    assert abs(f.lam / sigma - lam0) < 5e-4
    assert f.n == 1_000_000 and f.n_body == 800_000 and f.method == "sort" and f.trim == 0.8
    assert 0.99 < f.r2 < 1.0 and 0 < f.ks < 0.05


def test_fit_recovers_true_weibull_and_agrees_with_mle():
    k, lam = 1.5, 0.3
    x = stats.weibull_min(k, scale=lam).rvs(200_000, random_state=np.random.default_rng(3))
    for f in (W.fit(x), W.fit(x, trim=1.0), W.fit_mle(x)):
        assert abs(f.k / k - 1) < 0.01, f
        assert abs(f.lam / lam - 1) < 0.01, f
    assert math.isnan(W.fit_mle(x).r2) and W.fit_mle(x).method == "mle"


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


def test_zeros_are_ranked_not_dropped():
    rng = np.random.default_rng(0)
    x = np.abs(rng.standard_normal(10_000))
    x[:500] = 0.0  # 5% zeros stay below the 10% body edge
    f = W.fit(x)
    assert f.n == 10_000
    assert f.k != pytest.approx(W.fit(x[500:]).k, rel=1e-6)


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
