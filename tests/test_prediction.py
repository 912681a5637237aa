"""The leave-one-out prediction rule on event series with known answers."""

import numpy as np
import pandas as pd
import pytest

from npmk.prediction import bootstrap_mean, loo_median, loo_offset, p_text, prediction_table, sign_flip_p

RUNS = [f"r{i}" for i in range(14)]


def _target(seed=0):
    rng = np.random.default_rng(seed)
    return pd.Series(rng.uniform(2.3, 2.9, len(RUNS)), index=RUNS)  # emergence spread over 4x in steps


def test_loo_offset_is_exact_for_a_constant_offset_and_leaves_each_run_out():
    u_t = np.array([2.0, 2.5, 3.0, 2.2])
    np.testing.assert_allclose(loo_offset(u_t - 0.3, u_t), u_t)
    # one outlying offset moves the predictions of the others by the median, not the mean
    e = u_t - np.array([0.3, 0.3, 0.3, 2.0])
    pred = loo_offset(e, u_t)
    assert pred[0] == pytest.approx(e[0] + 0.3)  # median of (0.3, 0.3, 2.0)
    assert pred[3] == pytest.approx(e[3] + 0.3)  # its own offset is left out


def test_loo_median_leaves_one_out_and_rejects_too_few_runs():
    np.testing.assert_allclose(loo_median([1.0, 2.0, 3.0, 10.0]), [3.0, 3.0, 2.0, 2.0])
    with pytest.raises(ValueError, match="≥ 3 runs"):
        loo_median([1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        loo_offset([1.0, np.nan, 2.0], [1.0, 2.0, 3.0])


def test_bootstrap_interval_covers_the_mean_and_widens_with_level():
    x = np.random.default_rng(3).normal(1.0, 0.5, 30)
    narrow, wide = bootstrap_mean(x, level=0.9), bootstrap_mean(x, level=0.999)
    assert narrow.lo < x.mean() < narrow.hi
    assert wide.lo < narrow.lo and wide.hi > narrow.hi


def test_sign_flip_p_and_its_text():
    p = sign_flip_p(-np.ones(12), n_perm=2000, seed=0)  # every run better: only all-minus patterns tie
    assert p < 0.01
    p0 = sign_flip_p(np.random.default_rng(1).normal(0, 1, 12), n_perm=2000, seed=0)
    assert 0.05 < p0 < 0.95
    assert p_text(1 / 2001, 2000) == "< 1/2,000"
    assert p_text(1 / 2001, 2000, m=8) == "< 8/2,000"
    assert p_text(20 / 2001, 2000, m=8) == "0.08"
    with pytest.raises(ValueError, match="p must be"):
        p_text(0.0, 2000)


def _events(target, rows):
    return pd.DataFrame([{"run": r, "candidate": c, "u": u} for c, us in rows.items() for r, u in zip(RUNS, us)])


def test_planted_leading_statistic_predicts_and_decoys_do_not():
    u_t = _target()
    rng = np.random.default_rng(5)
    rows = {
        "planted": u_t.to_numpy() - 0.15 + rng.normal(0, 0.01, len(RUNS)),  # 0.15 decades ahead, tight
        "lagging": u_t.to_numpy() + 0.10 + rng.normal(0, 0.01, len(RUNS)),  # tight, but after
        "unrelated": rng.uniform(2.0, 3.0, len(RUNS)),
    }
    loss = pd.Series(rng.uniform(1.5, 2.5, len(RUNS)), index=RUNS)
    t = prediction_table(_events(u_t, rows), u_t, {"loss": loss, "median": "median"},
                         n_boot=4000, n_perm=4000).set_index("candidate")
    assert t.loc["planted", "predicts"] and t.loc["planted", "lead_lo"] > 0.1
    assert t.loc["lagging", "beats"] and not t.loc["lagging", "leads"] and not t.loc["lagging", "predicts"]
    assert not t.loc["unrelated", "beats"] and not t.loc["unrelated", "predicts"]
    assert t.loc["planted", "level"] == pytest.approx(1 - 0.05 / 3)  # Bonferroni over the 3 candidates
    assert t.loc["planted", "mae"] < 0.05 < t.loc["planted", "mae_median"]
    # the permutation test agrees on the planted statistic, and its adjusted p is m times the raw one
    assert t.loc["planted", "p_median_adj"] < 0.05 and t.loc["planted", "p_loss_adj"] < 0.05
    assert float(t.loc["unrelated", "p_median"]) == pytest.approx(t.loc["unrelated", "p_median_adj"], rel=1e-2)
    assert t[["p_loss_adj", "p_median_adj"]].gt(0).all().all() and t[["p_loss_adj", "p_median_adj"]].le(1).all().all()


def test_missing_run_is_named():
    u_t = _target()
    ev = _events(u_t, {"s": u_t.to_numpy()}).iloc[1:]
    with pytest.raises(ValueError, match="r0"):
        prediction_table(ev, u_t, {"median": "median"}, n_boot=100, n_perm=100)
