"""snapshot_fits on snapshots of known scale, and Run.thinned_steps."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from npmk.lambda_phases import detect_lambda_phases
from npmk.runs import Run, RunConfig
from npmk.snapshots import COLUMNS, class_lambda, snapshot_fits, weight_fits
from npmk.weibull import fit


class _FakeRun:
    """Snapshots whose matrices are fresh N(0, σ_t²) draws with a known rise-peak-relax σ_t."""

    family = "gpt_neox"
    dir = "fake-run"
    snapshot_steps = [1, 10, 100, 300, 1000, 3000]
    sigma = {1: 0.02, 10: 0.021, 100: 0.03, 300: 0.05, 1000: 0.04, 3000: 0.035}

    def __init__(self):
        import torch

        from npmk.zoo import build

        self._names = {k: tuple(v.shape) for k, v in build("gpt_neox", "tiny").state_dict().items()}
        self._torch = torch

    def snapshot(self, step):
        g = self._torch.Generator().manual_seed(step)
        return {k: self._torch.randn(shape, generator=g) * self.sigma[step] for k, shape in self._names.items()}


def test_class_level_follows_the_known_scale_and_finds_the_peak():
    run = _FakeRun()
    fits = snapshot_fits(run, classes=("Transmission", "Selection"))
    assert set(fits.level) == {"tensor", "layer", "class"}
    cls = fits[(fits.level == "class") & (fits.cls == "Transmission")].sort_values("step")
    # half-normal magnitudes: λ = 0.8875 σ for the middle-80% fit (GUIDE §1), RMS = σ
    np.testing.assert_allclose(cls.lam / [run.sigma[s] for s in cls.step], 0.8875, rtol=0.03)
    np.testing.assert_allclose(cls.rms / [run.sigma[s] for s in cls.step], 1.0, rtol=0.03)
    ph = detect_lambda_phases(cls.step.to_numpy(), cls.lam.to_numpy())
    assert ph.peak_step == 300 and ph.relaxed
    layers = fits[(fits.level == "layer") & (fits.cls == "Transmission")]
    tensors = fits[(fits.level == "tensor") & (fits.cls == "Transmission")]
    assert sorted(layers.layer.unique()) == sorted(tensors.layer.dropna().unique())
    assert list(layers.name.unique()[:1]) == ["Transmission/L0"]


def test_pooled_rows_add_up_the_tensor_rows_and_equal_a_direct_fit():
    run = _FakeRun()
    fits = snapshot_fits(run, [300], classes=("Selection",))
    tensors, cls = fits[fits.level == "tensor"], fits[fits.level == "class"].iloc[0]
    assert set(tensors.cls) == {"Selection"} and cls["name"] == "Selection"
    assert cls["n"] == tensors["n"].sum()
    np.testing.assert_allclose(cls["w2"], tensors["w2"].sum(), rtol=1e-12)
    snap = run.snapshot(300)
    x = np.concatenate([snap[n].abs().double().ravel().numpy() for n in tensors["name"]])
    direct = fit(x, trim=0.8)
    # the engine buckets float32 magnitudes on 21 bits (npmk.counts), within 1e-7 of a full sort
    np.testing.assert_allclose([cls["k"], cls["lam"]], [direct.k, direct.lam], rtol=1e-7)
    # a level left out is not computed; an unknown one is refused by name
    only = snapshot_fits(run, [300], levels=("class",))
    assert list(only.level) == ["class"]
    with pytest.raises(ValueError, match="levels"):
        snapshot_fits(run, [300], levels=("block",))
    with pytest.raises(ValueError, match="snapshot 300 of fake-run: no gpt_neox matrices of classes"):
        snapshot_fits(run, [300], classes=("Nonsense",))
    with pytest.raises(ValueError, match="no steps"):
        snapshot_fits(run, [])


def test_weight_fits_is_one_snapshot_of_the_table():
    run = _FakeRun()
    one = weight_fits(run.snapshot(10), "gpt_neox", classes=("Transmission", "Selection"), levels=("layer", "class"))
    table = snapshot_fits(run, [10], classes=("Transmission", "Selection"), levels=("layer", "class"))
    assert list(table.columns) == COLUMNS and list(one.columns) == COLUMNS[1:]
    assert one.equals(table.drop(columns="step"))
    assert set(one[one.level == "layer"].name) >= {"Selection/L0", "Transmission/L1"}


def _run_with_steps(steps: list[int]) -> Run:
    return Run(dir=Path("nowhere"), config=RunConfig(), data={}, manifest={"snapshot_steps": steps})


def test_thinned_steps_log_linear_and_step_zero():
    run = _run_with_steps([0, 1, 2, 4, 8, 16, 32, 50, 100, 150, 200])
    log = run.thinned_steps(4)
    assert log[0] == 0 and log[-1] == 200 and len(log) == 4
    assert log == sorted(log) and set(log) <= set(run.snapshot_steps)
    no_zero = run.thinned_steps(4, keep_zero=False)
    assert no_zero[0] == 1 and no_zero[-1] == 200 and len(no_zero) == 4
    lin = run.thinned_steps(3, spacing="linear")
    assert lin == [0, 16, 200]  # indices 0, 5, 10
    # log spacing is denser early than linear spacing
    assert log[1] < run.thinned_steps(4, spacing="linear")[1]
    assert run.thinned_steps(50) == run.snapshot_steps
    assert run.thinned_steps(50, keep_zero=False) == run.snapshot_steps[1:]
    with pytest.raises(ValueError, match="spacing"):
        run.thinned_steps(3, spacing="cubic")
    with pytest.raises(ValueError, match="n ≥ 1"):
        run.thinned_steps(0)


def test_class_lambda_is_the_class_row_per_step():
    run = _FakeRun()
    lam = class_lambda(run)
    fits = snapshot_fits(run, levels=("class",))
    assert list(lam.columns) == ["step", "lam"] and list(lam.step) == run.snapshot_steps
    np.testing.assert_array_equal(lam.lam.to_numpy(), fits.sort_values("step").lam.to_numpy())


def _run_on_disk(tmp_path, steps=(0, 5, 10)) -> Run:
    """A finished-run directory whose snapshots are tiny GPT-NeoX models of different seeds (float32)."""
    import hashlib

    from safetensors.torch import save_file

    from npmk.zoo import build

    files = {}
    for step in steps:
        path = tmp_path / "run" / "snapshots" / f"step_{step:07d}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in build("gpt_neox", "tiny", seed=step).state_dict().items()}, path)
        files[f"snapshots/{path.name}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return Run(dir=tmp_path / "run", config=RunConfig(arch="pythia"), data={},
               manifest={"snapshot_steps": list(steps), "files": files, "status": "complete"})


@pytest.fixture
def local_cluster(tmp_path, monkeypatch):
    """The library's own LocalCluster (worker processes), closed after the test; sweeps cached under tmp_path."""
    from npmk import sweep

    monkeypatch.setenv("NPMK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(sweep.SCHEDULER_ENV, raising=False)
    sweep.use_scheduler(None)
    yield sweep.shared_client()
    sweep.use_scheduler(None)


def test_a_runs_snapshots_are_sweep_tasks_read_back_from_the_cache(tmp_path, local_cluster, monkeypatch):
    from npmk import snapshots, sweep

    run = _run_on_disk(tmp_path)
    classes = ("Transmission", "Selection")
    fits = snapshot_fits(run, classes=classes)
    # the numbers of the in-process engine on the weights of each snapshot (a worker's BLAS threads
    # may add in another order: 1e-15)
    want = pd.concat([weight_fits(run.snapshot(s), "gpt_neox", classes=classes).assign(step=s)
                      for s in run.snapshot_steps], ignore_index=True)[COLUMNS]
    pd.testing.assert_frame_equal(fits, want, check_exact=False, rtol=1e-12, atol=0)
    out = snapshots.sweep_dir(run)
    assert len(list(out.glob("part-*.parquet"))) == 3 * 3  # a task per snapshot and level
    assert len(local_cluster.scheduler_info()["workers"]) >= 1

    def refuse():
        raise AssertionError("sent to the cluster again although every task is finished")

    monkeypatch.setattr(sweep, "shared_client", refuse)
    pd.testing.assert_frame_equal(snapshot_fits(run, classes=classes), fits)
    only = snapshot_fits(run, [10], levels=("class",))  # a subset of the finished tasks, other classes
    pd.testing.assert_frame_equal(only.reset_index(drop=True),
                                  fits[(fits.step == 10) & (fits.level == "class") & (fits.cls == "Transmission")]
                                  .reset_index(drop=True))
    # other snapshot files, or other measuring code, make another cache
    run.manifest["files"]["snapshots/step_0000010.safetensors"] = "0" * 64
    assert snapshots.sweep_dir(run) != out
