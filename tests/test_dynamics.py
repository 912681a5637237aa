"""npmk.dynamics: loaders on the paper's published derived data, the numbers recomputed
from it (GUIDE §4, to their printed precision), and the closed loop / bridge / shares
on synthetic inputs with known answers.  The data tests fetch the files through the registry."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from npmk import dynamics as dy
from npmk.weibull import rms_over_lambda

W, T = dy.PAPER_WARMUP, dy.PAPER_STEPS


@pytest.mark.parametrize("run", list(dy.FORCE_LOGS))
def test_force_logs_load_tidy_and_consistent(run, needs_data):
    df = dy.load_force_log(run)
    assert {"run", "arch", "step", "group", "align", "inject", "decay", "rms", "lr"} <= set(df.columns)
    arch = dy.FORCE_LOGS[run][1]
    cfg = dy.load_config(arch)
    for group, part in df.groupby("group"):
        assert part["step"].is_monotonic_increasing and part["step"].is_unique
        assert (part["inject"] > 0).all() and (part["decay"] > 0).all() and (part["rms"] > 0).all()
        # D = 2 η λ_wd N rms²: the class size implied by the decay force is the config's
        n_implied = part["decay"] / (2 * part["lr"] * dy.PAPER_WD * part["rms"] ** 2)
        n_cfg = dy.class_params(cfg, group.removeprefix("class:"))
        np.testing.assert_allclose(n_implied, n_cfg, rtol=1e-6)


def test_trajectories_and_per_block_load(needs_data):
    for run in dy.TRAJECTORIES:
        t = dy.load_trajectory(run)
        assert list(t.columns) == ["step", "k", "lam", "rms", "lam_over_rms"]
        np.testing.assert_allclose(t["lam"] / t["rms"], t["lam_over_rms"], rtol=1e-9)
    pl = dy.load_per_layer("baseline")
    pb = dy.load_per_block("baseline")
    assert sorted(pl["block"].unique()) == list(range(6))
    # the per-block file's pb_k is the median over blocks of the per-layer fits
    med = pl.groupby("step")["k"].median()
    np.testing.assert_allclose(pb.set_index("step")["pb_k"].loc[med.index], med, atol=6e-5)


def test_baseline_rms_is_the_trajectory_rms(needs_data):
    f = dy.load_force_log("baseline").set_index("step")["rms"]
    t = dy.load_trajectory("baseline").set_index("step")["rms"]
    common = f.index.intersection(t.index)
    assert len(common) >= 20
    np.testing.assert_allclose(f.loc[common], t.loc[common], rtol=2e-4)  # fp32 RMS of the same weights


def test_rise_phase_shares_reproduce_paper(needs_data):
    seeds = dy.published_forces(["seed1", "seed2", "seed3", "seed4"])
    s = dy.rise_share_summary(seeds[seeds["group"] == "class:Transmission"], W, T)
    assert round(100 * s["share_min"].min(), 2) == 88.32
    assert round(100 * s["share_max"].max(), 2) == 93.78
    ll = dy.rise_share_summary(dy.load_force_log("llama"), W, T)
    assert round(100 * ll["share_min"].min(), 2) == 87.99
    assert round(100 * ll["share_max"].max(), 2) == 93.40


def test_superweight_removal(needs_data):
    step, share, no_sw = dy.superweight_effect(dy.load_force_log("seed1"), W, T)
    assert (round(100 * share, 2), round(100 * no_sw, 2)) == (93.78, 93.45)
    # the published percentage column agrees with shares computed from the forces
    s1 = dy.with_shares(dy.load_force_log("seed1"))
    raw = pd.read_json(dy.data.fetch(dy._DERIVED + dy.FORCE_LOGS["seed1"][0]), lines=True)
    np.testing.assert_allclose(100 * s1["share_align"].to_numpy(), raw["align_pct"].to_numpy(), rtol=1e-9)


def test_force_table_matches_paper_to_printed_digits(needs_data):
    table = dy.force_table(dy.load_force_log("baseline"))
    for _, row in table.iterrows():
        rms, a, i, d = dy.PAPER_FORCE_TABLE[int(row["step"])]
        assert round(row["rms"], 3) == rms
        assert (round(row["align_pct"], 1), round(row["inj_pct"], 1), round(row["decay_pct"], 1)) == (a, i, d)


def test_k_lock_and_peaks(needs_data):
    assert round(dy.k_lock(dy.load_per_layer("baseline")), 4) == 1.2002
    assert round(dy.k_lock(dy.load_per_layer("llama")), 4) == 1.2033
    assert round(dy.k_lock(dy.load_real_perblock_k()), 4) == 1.1904
    assert round(dy.load_trajectory("baseline")["lam"].max(), 4) == 0.0763
    assert round(dy.load_trajectory("continue")["lam"].max(), 4) == 0.0598
    assert round(dy.load_real_closure()["lam_obs"].max(), 4) == 0.0352


def _real_closed_loop():
    c = dy.load_real_closure()
    k = dy.k_lock(dy.load_real_perblock_k())
    w2_0 = (c["lam_pred"].iloc[0] * rms_over_lambda(k)) ** 2
    loop = dy.closed_loop(c.assign(rms=c["rms_obs"]), c.rename(columns={"lam_obs": "lam", "rms_obs": "rms"}),
                          n_params=1, k=k, w2_0=w2_0)
    return c, loop


def test_real_pythia_closed_loop_and_error_split(needs_data):
    c, loop = _real_closed_loop()
    # our Euler integrator reproduces the paper's own lambda_pred column
    np.testing.assert_allclose(loop.lam_pred, c["lam_pred"], rtol=5e-4)
    dense = loop.steps <= 20_000
    split = dy.error_split(loop.lam_pred[dense], loop.lam_obs[dense], loop.rms_obs[dense], k_fixed=1.2)
    assert (round(100 * split.bridge, 2), round(100 * split.integration, 2)) == (4.65, 1.87)


def test_integrator_exact_on_synthetic_recurrence():
    # pure decay on a unit grid: ‖W‖²_{t+1} = (1 − 2ηλ)‖W‖²_t exactly
    eta, wd, n, w0 = 1e-2, 0.1, 400, 3.0
    steps = np.arange(n)
    exact = w0 * (1 - 2 * eta * wd) ** steps
    got = dy.integrate_w2(steps, -2 * eta * wd * exact, w0)
    np.testing.assert_allclose(got, exact, rtol=1e-12)
    # constant net force on an uneven grid is integrated exactly as well
    s = np.array([0.0, 3.0, 10.0, 11.0, 50.0])
    np.testing.assert_allclose(dy.integrate_w2(s, np.full(5, 0.5), 1.0), 1.0 + 0.5 * s)


def test_closed_loop_recovers_lambda_of_a_weibull_trajectory():
    k, n_params = 1.2, 1000
    steps = np.arange(0, 101)
    lam = 0.02 * (1 + 0.5 * np.sin(steps / 30))
    rms = lam * rms_over_lambda(k)
    w2 = n_params * rms**2
    net = np.append(np.diff(w2), 0.0)  # the exact per-step change, put into alignment
    forces = pd.DataFrame({"step": steps, "align": -net, "inject": 0.0, "decay": 0.0, "rms": rms})
    loop = dy.closed_loop(forces, pd.DataFrame({"step": steps[::10], "lam": lam[::10], "rms": rms[::10]}), n_params, k)
    assert loop.log_rmse < 1e-12
    split = dy.error_split(loop.lam_pred, loop.lam_obs, loop.rms_obs, k)
    assert split.bridge < 1e-12 and split.integration < 1e-12
    # a 2% bias in λ_pred shows up as integration error, not as bridge error
    biased = dy.error_split(1.02 * loop.lam_pred, loop.lam_obs, loop.rms_obs, k)
    assert math.isclose(biased.integration, 0.02, rel_tol=1e-9) and biased.bridge < 1e-12


def test_bridge_formula_against_sampled_weibull():
    rng = np.random.default_rng(0)
    k, lam = 1.2, 0.05
    x = lam * rng.weibull(k, 2_000_000)
    gap = dy.bridge_gap(k, lam, np.sqrt(np.mean(x**2)))
    assert abs(gap["rel_gap"].iloc[0]) < 2e-3
    from scipy.stats import weibull_min
    assert math.isclose(rms_over_lambda(k), math.sqrt(weibull_min(k).moment(2)), rel_tol=1e-12)


def test_shares_sum_to_one(needs_data):
    df = dy.with_shares(dy.published_forces(["baseline", "llama_qk"]))
    total = df["share_align"] + df["share_inject"] + df["share_decay"]
    np.testing.assert_allclose(total, 1.0, rtol=1e-12)
    assert (df[["share_align", "share_inject", "share_decay"]] >= 0).all().all()


def test_bad_inputs_raise(needs_data):
    with pytest.raises(KeyError, match="unknown published run"):
        dy.load_force_log("seed9")
    with pytest.raises(ValueError, match="increasing"):
        dy.integrate_w2([0, 2, 1], [1, 1, 1], 1.0)
    with pytest.raises(ValueError, match="rise phase is empty"):
        dy.rise_phase(dy.load_force_log("baseline"), 6000, T)
