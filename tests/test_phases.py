"""NPM-dk phase rule on synthetic k(log step) curves with known boundaries."""

import numpy as np
import pytest

from npmk.phases import detect_phases, npm_dk


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
