"""Change points, emergence and the lead–lag tests on synthetic curves with known answers."""

import numpy as np
import pytest

from npmk.emergence import change_point, emergence, lead_lag_test, rate_correlation, smooth

STEPS = np.unique(np.r_[2 ** np.arange(0, 10), np.geomspace(1000, 143000, 20).round()])


def _sigmoid(mid, width=0.2, lo=0.1, hi=0.7, noise=0.005, seed=0):
    u = np.log10(STEPS)
    rng = np.random.default_rng(seed)
    return lo + (hi - lo) / (1 + np.exp(-(u - mid) / width)) + rng.normal(0, noise, u.size)


@pytest.mark.parametrize("mid", [1.5, 2.5, 3.5, 4.5])
def test_change_point_and_emergence_on_sigmoid(mid):
    y = _sigmoid(mid)
    assert change_point(STEPS, y).u == pytest.approx(mid, abs=0.15)
    e = emergence(STEPS, y)
    assert e.emerged and e.u == pytest.approx(mid, abs=0.15) and e.gain > 0.5


def test_falling_curve_and_flat_curve():
    loss = 5.0 - _sigmoid(3.0, lo=0.0, hi=3.0)
    e = emergence(STEPS, loss, direction=-1)
    assert e.emerged and e.u == pytest.approx(3.0, abs=0.15)
    assert not emergence(STEPS, loss, direction=1).emerged
    flat = 0.25 + np.random.default_rng(1).normal(0, 0.01, STEPS.size)
    assert not emergence(STEPS, flat).emerged


def test_smooth_derivative_of_a_line():
    s = smooth(STEPS, 2.0 * np.log10(STEPS) + 1.0)
    np.testing.assert_allclose(s.dy, 2.0, atol=1e-6)


def test_bad_steps_rejected():
    with pytest.raises(ValueError, match="≥ 1"):
        smooth(np.arange(0, 10), np.arange(10.0))


def test_planted_lead_lag_is_significant():
    mids = [2.2, 3.0, 3.8]  # three "sizes", capability emergence at different steps
    u_cap = [emergence(STEPS, _sigmoid(m, seed=i)).u for i, m in enumerate(mids)]
    # statistic changes 0.05 decades earlier at every size
    u_stat = [change_point(STEPS, _sigmoid(m - 0.05, width=0.3, seed=10 + i)).u for i, m in enumerate(mids)]
    u = np.log10(STEPS)
    t = lead_lag_test(u_stat, u_cap, [u[0]] * 3, [u[-1]] * 3, n_perm=5000, seed=0)
    assert t.observed < 0.2
    assert t.p_value < 0.01


def test_independent_curves_not_significant():
    u = np.log10(STEPS)
    rng = np.random.default_rng(7)
    ps = []
    for trial in range(20):
        mids_cap, mids_stat = rng.uniform(1, 4.5, 3), rng.uniform(1, 4.5, 3)
        u_cap = [emergence(STEPS, _sigmoid(m, seed=trial)).u for m in mids_cap]
        u_stat = [change_point(STEPS, _sigmoid(m, seed=100 + trial)).u for m in mids_stat]
        ps.append(lead_lag_test(u_stat, u_cap, [u[0]] * 3, [u[-1]] * 3, n_perm=2000, seed=trial).p_value)
    # under independence p is roughly uniform: few small values, median well above 0.05
    assert np.median(ps) > 0.2
    assert np.mean(np.array(ps) < 0.05) <= 0.2


def test_rate_correlation_planted_and_independent():
    a = _sigmoid(3.0, seed=1)
    b = 2.0 * _sigmoid(3.0, seed=2)
    planted = rate_correlation(STEPS, a, STEPS, b, n_perm=500, seed=0)
    assert planted.r > 0.9 and planted.p_value < 0.05
    c = _sigmoid(1.5, width=0.1, seed=3)
    d = _sigmoid(4.3, width=0.1, seed=4)
    far = rate_correlation(STEPS, c, STEPS, d, n_perm=500, seed=0)
    assert far.p_value > 0.05


def test_lead_lag_table_separates_planted_from_decoy():
    import pandas as pd

    from npmk.emergence import lead_lag_table

    rows_s, rows_c = [], []
    for i, mid in enumerate([2.0, 3.0, 4.0]):  # three "sizes" emerging a decade apart
        model = f"m{i}"
        for stat, smid in [("planted", mid), ("decoy", 1.2)]:
            y = _sigmoid(smid, width=0.25, seed=20 + i)
            rows_s += [{"model": model, "statistic": stat, "step": s, "value": v} for s, v in zip(STEPS, y)]
        y = _sigmoid(mid, seed=30 + i)
        rows_c += [{"model": model, "capability": "cap", "step": s, "value": v, "stderr": 0.005,
                    "direction": 1} for s, v in zip(STEPS, y)]
    t = lead_lag_table(pd.DataFrame(rows_s), pd.DataFrame(rows_c), n_perm=2000, n_perm_rate=50, seed=0)
    summary = t.summary.set_index("statistic")
    assert summary.loc["planted", "n_models"] == 3
    assert summary.loc["planted", "p_lag"] < 0.01 and summary.loc["planted", "max_abs_lag"] < 0.2
    assert summary.loc["decoy", "p_lag"] > 0.2
    assert len(t.detail) == 6


def test_change_point_on_the_last_step_is_flagged():
    u = np.log10(STEPS)
    rising = np.exp(3 * (u - u[-1]))  # still accelerating where the data end
    assert change_point(STEPS, rising).at_edge
    assert not change_point(STEPS, _sigmoid(3.0)).at_edge


def test_emergence_at_an_absolute_level():
    y = _sigmoid(3.0, lo=0.0, hi=0.9)  # crosses 0.5 a little after its midpoint
    e = emergence(STEPS, y, level=0.5)
    assert e.emerged and 3.0 < e.u < 3.2
    stalled = _sigmoid(3.0, lo=0.0, hi=0.3)  # a clear gain that never reaches the level
    s = emergence(STEPS, stalled, level=0.5)
    assert not s.emerged and s.u == pytest.approx(np.log10(STEPS[-1]))
    assert emergence(STEPS, stalled).emerged  # the relative (halfway) definition would count it
