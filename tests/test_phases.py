"""NPM-dk phase rule on synthetic k(log step) curves with known boundaries, and its null model."""

import numpy as np
import pytest

from npmk.phases import anchor_by, detect_phases, npm_dk, null_series, null_test


def _piecewise(u, knots, values):
    return np.interp(u, knots, values)


STEPS = np.unique(np.round(np.logspace(0, 5, 81)))


def test_derivative_of_a_line_in_log_step_is_its_slope():
    u = np.log10(STEPS)
    curve = npm_dk(STEPS, 1.2 - 0.03 * u, bandwidth=0.3)
    assert np.allclose(curve["dk"], -0.03, atol=1e-10)
    assert np.allclose(curve["k_smooth"], 1.2 - 0.03 * u, atol=1e-10)


def test_rise_plateau_fall_boundaries():
    u = np.log10(STEPS)
    # flat 1.15 to 10^2, rise to 1.20 at 10^3, plateau to 10^4, fall to 1.16 at 10^5
    k = _piecewise(u, [0, 2, 3, 4, 5], [1.15, 1.15, 1.20, 1.20, 1.16])
    ph = detect_phases(STEPS, k, bandwidth=0.1, eps=0.01)
    assert ph.formation.direction == "rise" and ph.bifurcation.direction == "fall"
    tol = 0.3  # decades: the kernel smears each corner over about 2-3 bandwidths
    assert abs(np.log10(ph.formation.start) - 2) < tol
    assert abs(np.log10(ph.formation.end) - 3) < tol
    assert abs(np.log10(ph.anchor.start) - 3) < tol
    assert abs(np.log10(ph.anchor.end) - 4) < tol
    assert abs(np.log10(ph.bifurcation.start) - 4) < tol
    assert ph.bifurcation.end == STEPS[-1]
    assert ph.anchor.k_start == pytest.approx(1.20, abs=3e-3)


def test_turning_point_anchor_without_plateau():
    u = np.log10(STEPS)
    k = _piecewise(u, [0, 1, 3, 5], [1.15, 1.15, 1.21, 1.17])  # peak at 10^3
    ph = detect_phases(STEPS, k, bandwidth=0.15, eps=0.005)
    assert ph.formation.direction == "rise"
    assert ph.anchor.start == ph.anchor.end
    assert abs(np.log10(ph.anchor.start) - 3) < 0.1
    assert ph.bifurcation.direction == "fall"


def test_flat_series_has_no_phase_and_monotone_has_only_formation():
    flat = detect_phases(STEPS, np.full(len(STEPS), 1.2))
    assert flat.formation is None and flat.anchor is None and flat.bifurcation is None
    mono = detect_phases(STEPS, 1.1 + 0.02 * np.log10(STEPS), eps=0.01)
    assert mono.formation is not None and mono.anchor is None and mono.bifurcation is None


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="step 0"):
        detect_phases([0, 1, 2, 4], [1.2, 1.2, 1.2, 1.2])
    with pytest.raises(ValueError, match="increasing"):
        detect_phases([1, 4, 2], [1.2, 1.2, 1.2])
    with pytest.raises(ValueError, match="NaN"):
        detect_phases([1, 2, 4], [1.2, np.nan, 1.2])


def test_null_series_keep_length_start_and_step_size():
    rng = np.random.default_rng(1)
    k = 1.2 + np.cumsum(rng.normal(0, 0.01, 40))
    shuffled = null_series(k, "shuffle", np.random.default_rng(0))
    assert shuffled[0] == k[0] and shuffled[-1] == pytest.approx(k[-1], abs=1e-12)
    assert np.allclose(np.sort(np.diff(shuffled)), np.sort(np.diff(k)), atol=1e-12)
    walks = np.stack([np.diff(null_series(k, "walk", np.random.default_rng(s))) for s in range(200)])
    assert walks.std() == pytest.approx(np.diff(k).std(ddof=1), rel=0.05)
    with pytest.raises(ValueError, match="null method"):
        null_series(k, "bootstrap", rng)


def test_null_of_a_monotone_line_never_passes():
    # equal increments: every shuffle is the line itself, which has formation only
    line = 1.1 + np.linspace(0, 0.1, len(STEPS))
    res = null_test(STEPS, line, "shuffle", n=20)
    assert res.observed is False and res.rate == 0.0 and res.n == 20


def test_null_rate_counts_passing_series_reproducibly():
    u = np.log10(STEPS)
    k = _piecewise(u, [0, 2, 3, 4, 5], [1.15, 1.15, 1.20, 1.20, 1.16])
    a = null_test(STEPS, k, "walk", n=50, seed=3)
    b = null_test(STEPS, k, "walk", n=50, seed=3)
    assert a == b and a.observed is True
    assert 0.0 <= a.rate <= 1.0 and (a.rate * 50).is_integer()
    with pytest.raises(ValueError, match="positive number"):
        null_test(STEPS, k, n=0)


def test_real_pythia_phases_are_indistinguishable_from_noise(needs_data):
    # the published-order check passes on almost every shuffled or random-walk series of the same length
    from npmk.dynamics_data import load_real_k_by_step

    d = load_real_k_by_step()
    d = d[d["step"] > 0]
    for method in ("shuffle", "walk"):
        res = null_test(d["step"], d["k"], method, n=200, seed=0)
        assert res.observed is True and res.rate >= 0.95, (method, res.rate)


def test_anchor_by_tests_where_the_anchor_starts():
    u = np.log10(STEPS)
    ph = detect_phases(STEPS, _piecewise(u, [0, 2, 3, 4, 5], [1.15, 1.15, 1.20, 1.20, 1.16]), bandwidth=0.1)
    assert anchor_by(ph.anchor.start)(ph) and not anchor_by(0.99 * ph.anchor.start)(ph)
    flat = detect_phases(STEPS, np.full(len(STEPS), 1.2))
    assert not anchor_by(STEPS[-1])(flat)  # no anchor found
