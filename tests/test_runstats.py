"""Per-group weight statistics of a checkpoint series, on snapshots with known relations."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from npmk.runstats import STATISTICS, weight_statistics


def _state(scale: float, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for layer in range(2):
        p = f"gpt_neox.layers.{layer}"
        out[f"{p}.attention.query_key_value.weight"] = torch.randn(96, 32, generator=g) * 0.02 * scale
        out[f"{p}.attention.dense.weight"] = torch.randn(32, 32, generator=g) * 0.02 * scale
        out[f"{p}.mlp.dense_h_to_4h.weight"] = torch.randn(128, 32, generator=g) * 0.02 * scale
        out[f"{p}.mlp.dense_4h_to_h.weight"] = torch.randn(32, 128, generator=g) * 0.02 * scale
        out[f"{p}.input_layernorm.weight"] = torch.ones(32)
    return out


def test_scaling_the_weights_moves_only_the_scale_statistics():
    df = weight_statistics([(0, _state(1.0)), (10, _state(1.0)), (20, _state(2.0))], family="gpt_neox")
    assert set(df.group) == {"Transmission", "Selection", "Selection L0", "Selection L1"}
    assert set(df.statistic) == set(STATISTICS)
    v = df.pivot_table(index="step", columns=["group", "statistic"], values="value")
    for g in ["Transmission", "Selection L1"]:
        assert v.loc[20, (g, "spectral_norm")] == pytest.approx(2 * v.loc[10, (g, "spectral_norm")], rel=1e-9)
        assert v.loc[20, (g, "weibull_lam")] == pytest.approx(2 * v.loc[10, (g, "weibull_lam")], rel=1e-6)
        for s in ["stable_rank", "effective_rank", "weibull_k", "alpha"]:
            assert v.loc[20, (g, s)] == pytest.approx(v.loc[10, (g, s)], rel=1e-6)
        assert v.loc[20, (g, "cosine")] == pytest.approx(1.0)
        # ‖2W − W‖/‖W‖ = 1 over log10(20/10) decades
        assert v.loc[20, (g, "rel_change")] == pytest.approx(1 / math.log10(2))
        assert v.loc[10, (g, "rel_change")] != v.loc[10, (g, "rel_change")]  # after step 0: no log, NaN
    assert np.isnan(v.loc[0, ("Selection", "cosine")])


def test_steps_must_increase_and_input_must_hold_the_skeleton():
    with pytest.raises(ValueError, match="increase"):
        weight_statistics([(10, _state(1.0)), (5, _state(1.0))], family="gpt_neox")
    with pytest.raises(ValueError, match="no snapshots"):
        weight_statistics([], family="gpt_neox")
    with pytest.raises(ValueError, match="no Transmission or Selection"):
        weight_statistics([(0, {"x.weight": torch.ones(4, 4)})], family="gpt_neox")


@pytest.mark.usefixtures("needs_data")
def test_real_pythia_statistics_are_the_dynamics_data_in_the_long_layout():
    from npmk import dynamics_data

    stats = dynamics_data.load_real_statistics()
    assert list(stats.columns) == ["model", "statistic", "step", "value"] and set(stats.model) == {"pythia-70m"}
    k = stats[stats.statistic == "weibull_k"].set_index("step")["value"]
    lam = stats[stats.statistic == "weibull_lam"].set_index("step")["value"]
    by_step, closure = dynamics_data.load_real_k_by_step(), dynamics_data.load_real_closure()
    assert k.to_dict() == dict(zip(by_step.step, by_step.k))
    assert lam.to_dict() == dict(zip(closure.step.astype(int), closure.lam_obs))
    assert k.index.is_monotonic_increasing and 1.0 < k.iloc[-1] < 1.4  # a trained model's k, near the anchor
    assert (lam > 0).all()


def test_run_statistics_are_kept_beside_the_run_and_read_back(tmp_path, monkeypatch):
    from npmk import runstats
    from npmk.runconfig import RunConfig
    from npmk.runs import get_run

    monkeypatch.setenv("NPMK_CACHE", str(tmp_path))
    cfg = RunConfig(arch="pythia", size="tiny", steps=12, seed=0, snap_every=6)
    run, first = runstats.run_statistics(cfg)
    snaps = ((s, run.snapshot(s)) for s in run.snapshot_steps)
    pd.testing.assert_frame_equal(first, weight_statistics(snaps, family=run.family))
    [kept] = (run.dir / "statistics").glob("*.parquet")
    assert not [p for p in kept.parent.iterdir() if p != kept]  # written atomically: no temp file left

    def fail(*args, **kwargs):
        raise AssertionError("recomputed although the statistics are kept")

    monkeypatch.setattr(runstats, "weight_statistics", fail)
    again_run, again = runstats.run_statistics(cfg)
    assert again_run.dir == get_run(cfg, progress=False).dir
    pd.testing.assert_frame_equal(again, first)
