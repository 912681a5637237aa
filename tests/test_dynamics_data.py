"""npmk.dynamics_data: the readers of the dynamics paper's shipped files return tidy,
self-consistent tables, read through the data registry."""

from __future__ import annotations

import numpy as np
import pytest

from npmk import dynamics_data as dd

pytestmark = pytest.mark.usefixtures("needs_data")  # every test reads the shipped files


@pytest.mark.parametrize("run", list(dd.FORCE_LOGS))
def test_force_logs_load_tidy_and_consistent(run):
    df = dd.load_force_log(run)
    assert {"run", "arch", "step", "group", "align", "inject", "decay", "rms", "lr"} <= set(df.columns)
    cfg = dd.load_config(dd.FORCE_LOGS[run][1])
    for group, part in df.groupby("group"):
        assert part["step"].is_monotonic_increasing and part["step"].is_unique
        assert (part["inject"] > 0).all() and (part["decay"] > 0).all() and (part["rms"] > 0).all()
        # D = 2 η λ_wd N rms²: the class size implied by the decay force is the config's
        n_implied = part["decay"] / (2 * part["lr"] * dd.PAPER_WD * part["rms"] ** 2)
        np.testing.assert_allclose(n_implied, dd.class_params(cfg, group.removeprefix("class:")), rtol=1e-6)


def test_trajectories_and_per_block_load():
    for run in dd.TRAJECTORIES:
        t = dd.load_trajectory(run)
        assert list(t.columns) == ["step", "k", "lam", "rms", "lam_over_rms"]
        np.testing.assert_allclose(t["lam"] / t["rms"], t["lam_over_rms"], rtol=1e-9)
    pl = dd.load_per_layer("baseline")
    pb = dd.load_per_block("baseline")
    assert sorted(pl["block"].unique()) == list(range(6))
    # the per-block file's pb_k is the median over blocks of the per-layer fits
    med = pl.groupby("step")["k"].median()
    np.testing.assert_allclose(pb.set_index("step")["pb_k"].loc[med.index], med, atol=6e-5)


def test_baseline_rms_is_the_trajectory_rms():
    f = dd.load_force_log("baseline").set_index("step")["rms"]
    t = dd.load_trajectory("baseline").set_index("step")["rms"]
    common = f.index.intersection(t.index)
    assert len(common) >= 20
    np.testing.assert_allclose(f.loc[common], t.loc[common], rtol=2e-4)  # fp32 RMS of the same weights


def test_loop_inputs_bundle_one_class_of_a_run():
    inp = dd.load_loop_inputs("llama")
    assert set(inp.forces["group"]) == {"class:Transmission"} and inp.forces["run"].eq("llama").all()
    assert inp.trajectory.equals(dd.load_trajectory("llama"))
    # six blocks of W_o (512²) and gate/up/down (512 × 1376 each)
    assert inp.n_params == dd.class_params(dd.load_config("llama")) == 6 * (512**2 + 3 * 512 * 1376)
    sel = dd.load_loop_inputs("seed3", "Selection")
    assert sel.n_params == 6 * 3 * 512**2 and set(sel.forces["group"]) <= {"class:Selection"}
    with pytest.raises(KeyError, match="lacks a force log or a λ trajectory"):
        dd.load_loop_inputs("llama_qk")  # a force log without a trajectory


def test_real_pythia_files_agree():
    k_by_step = dd.load_real_k_by_step()
    assert k_by_step["step"].is_monotonic_increasing and len(k_by_step) >= 20
    closure = dd.load_real_closure()
    assert (closure["rms_obs"] > closure["lam_obs"]).all()


def test_bad_inputs_raise():
    with pytest.raises(KeyError, match="unknown published run"):
        dd.load_force_log("seed9")
    with pytest.raises(KeyError, match="no published λ trajectory"):
        dd.load_trajectory("seed9")
    with pytest.raises(ValueError, match="class must be"):
        dd.class_params(dd.load_config("pythia"), "Embedding")
