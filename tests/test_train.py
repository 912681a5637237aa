"""The training lab end to end on the tiny size: products, exactness, resume, reuse, refusal."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from npmk import skeleton
from npmk.runconfig import PRESETS, RunConfig, RunConfigMismatch, lr_at, snapshot_schedule
from npmk.runs import cli, get_run, load_run, runs_dir
from npmk.train import train

TINY = RunConfig(arch="pythia", size="tiny", steps=40, seed=3)


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("NPMK_CACHE", str(tmp_path_factory.mktemp("npmk-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    return load_run(train(TINY, tmp_path_factory.mktemp("runs") / "full", progress=False))


def test_run_model_config_is_the_trained_models(full_run):
    # the config a chapter reads the attention layout from is the one the snapshots were trained with
    cfg, model = full_run.model_config, full_run.model(full_run.snapshot_steps[-1])
    assert cfg.to_diff_dict() == {**model.config.to_diff_dict(), "use_cache": cfg.use_cache}
    assert skeleton.attention_arch(cfg) == skeleton.AttentionArch("MHA-merged", cfg.num_attention_heads,
                                                                  cfg.num_attention_heads, True)


def test_run_products(full_run):
    run = full_run
    cfg = run.config
    assert run.family == "gpt_neox" and cfg.steps == 40 and cfg.lr == 3e-3  # size default filled in
    assert run.snapshot_steps == snapshot_schedule(40, cfg.snap_log_until, cfg.snap_every) == [0, 1, 2, 4, 8, 20, 40]
    for name in run.manifest["files"]:
        assert (run.dir / name).exists(), name
    assert not (run.dir / "checkpoint.pt").exists()
    assert json.loads((run.dir / "config.json").read_text())["data"]["sha256"] == run.data["sha256"]
    f = run.forces
    assert {"class:Transmission", "class:Selection", "all"} <= set(f.group)
    assert sorted(f.step.unique()) == list(range(40))
    assert list(run.probes.step) == run.snapshot_steps
    assert run.probes[["val_loss", "copy_loss"]].notna().all().all()
    # training lowers the validation loss
    assert run.probes.val_loss.iloc[-1] < run.probes.val_loss.iloc[0] - 0.3
    snap = run.snapshot(40)
    assert all(v.dtype.is_floating_point for v in snap.values())


def test_forces_match_snapshots_and_identity(full_run):
    run = full_run
    f = run.forces.set_index(["step", "group"])
    # Δ‖W‖² = −A + I − D + h1 + h2 up to float32 rounding of the update
    pred = -f["align"] + f["inject"] - f["decay"] + f["h1"] + f["h2"]
    err = (pred - f["delta_w2"]).abs() / f["w2"]
    assert err.max() < 1e-5
    # ‖W_t‖² in the forces table is the norm of snapshot t; lr follows the schedule
    name = "gpt_neox.layers.1.mlp.dense_4h_to_h.weight"
    for t in (0, 1, 4, 20):
        w = run.snapshot(t)[name].double()
        assert f.loc[(t, name), "w2"] == pytest.approx(float((w**2).sum()), rel=1e-5)
        assert f.loc[(t, name), "lr"] == pytest.approx(lr_at(t + 1, run.config))
    # consecutive snapshots: the displacement identity reproduces the logged alignment
    from npmk.forces import forces_from_displacement

    w0, w1 = run.snapshot(0)[name], run.snapshot(1)[name]
    fd = forces_from_displacement(w0, w1, lr_at(1, run.config), run.config.wd)
    assert fd.align == pytest.approx(f.loc[(0, name), "align"], rel=1e-3)
    assert fd.inject == pytest.approx(f.loc[(0, name), "inject"], rel=1e-3)


def test_resume_is_bitwise_identical(full_run, tmp_path):
    out = tmp_path / "killed"
    assert train(TINY, out, progress=False, stop_after=30) is None  # "killed" after 30 steps
    assert (out / "checkpoint.pt").exists()
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    with pytest.raises(RuntimeError, match="not finished"):
        load_run(out)
    resumed = load_run(train(TINY, out, progress=False))  # resumes from the step-20 snapshot
    assert resumed.manifest["files"] == full_run.manifest["files"]  # every snapshot, byte for byte
    pd.testing.assert_frame_equal(resumed.forces, full_run.forces, check_exact=True)
    pd.testing.assert_frame_equal(resumed.probes, full_run.probes, check_exact=True)


def test_finished_run_is_reused_and_other_config_refused(full_run):
    before = {p: p.stat().st_mtime_ns for p in full_run.dir.rglob("*") if p.is_file()}
    again = load_run(train(TINY, full_run.dir, progress=False))
    assert again.manifest == full_run.manifest
    assert {p: p.stat().st_mtime_ns for p in full_run.dir.rglob("*") if p.is_file()} == before
    with pytest.raises(RunConfigMismatch, match=r"wd \(0.1 there, 0.2 asked\)"):
        train(RunConfig(arch="pythia", size="tiny", steps=40, seed=3, wd=0.2), full_run.dir, progress=False)


def test_get_run_caches_by_config_and_cli():
    cfg = RunConfig(arch="llama", size="tiny", steps=12, seed=0, corrupt=0.2, snap_every=6)
    run = get_run(cfg, progress=False)
    assert run.dir.parent == runs_dir() and run.family == "llama"
    assert get_run(cfg, progress=False).dir == run.dir
    other = RunConfig(arch="llama", size="tiny", steps=12, seed=1, corrupt=0.2, snap_every=6)
    assert get_run(other, progress=False).dir != run.dir
    assert any(n.endswith("gate_proj.weight") for n in run.forces.group.unique())
    rc = cli(["train", "--arch", "llama", "--size", "tiny", "--steps", "12", "--seed", "0", "--corrupt", "0.2",
              "--snap-every", "6", "--quiet"])
    assert rc == 0
    # the same run named through a preset, with the CLI's types taken from RunConfig's hints
    rc = cli(["train", "--preset", "tiny", "--arch", "llama", "--steps", "12", "--corrupt", "0.2",
              "--snap-every", "6", "--quiet"])
    assert rc == 0 and len(list(runs_dir().iterdir())) == 2


def test_run_specs_name_a_preset_and_override_it():
    cfg = RunConfig.from_spec({"preset": "copying", "arch": "llama", "seed": 1}, steps=300)
    assert (cfg.arch, cfg.seed, cfg.steps, cfg.size, cfg.lr, cfg.repeat_frac) == ("llama", 1, 300, "small", 1e-3, 1.0)
    # a preset is only a starting point: the same fields typed out give the same config
    assert RunConfig.from_spec({"preset": "tiny-on-base", "arch": "pythia"}).resolved() == RunConfig(
        size="tiny", steps=1000, warmup=100, lr=3e-3, wd=0.5).resolved()
    assert all(RunConfig.from_spec({"preset": name}).resolved() for name in PRESETS)
    with pytest.raises(ValueError, match="unknown run preset 'huge'"):
        RunConfig.from_spec({"preset": "huge"})
    with pytest.raises(ValueError, match="names no preset"):
        RunConfig.from_spec({"arch": "pythia"})
    with pytest.raises(ValueError, match="unknown RunConfig field.*lr_max"):
        RunConfig.from_spec({"preset": "base", "lr_max": 1.0})


def test_schedule_and_config_validation():
    cfg = RunConfig(size="tiny", steps=100, warmup=10, lr=1e-3).resolved()
    assert lr_at(5, cfg) == pytest.approx(5e-4)
    assert lr_at(10, cfg) == pytest.approx(1e-3)
    assert lr_at(100, cfg) == pytest.approx(1e-4)
    lrs = [lr_at(t, cfg) for t in range(10, 101)]
    assert np.all(np.diff(lrs) <= 0)
    with pytest.raises(ValueError, match="corrupt"):
        RunConfig(size="tiny", corrupt=2.0).resolved()
    with pytest.raises(ValueError, match="arch"):
        RunConfig(arch="gpt2").resolved()


def test_repeated_windows_tile_random_ids_from_the_copy_alphabet():
    from npmk.train import Trainer, prepare

    cfg, data = prepare(RunConfig(size="tiny", repeat_frac=1.0))
    trainer = Trainer(cfg, data)
    alphabet = set(trainer.copy_alphabet.tolist())
    x, y = trainer.batch(7)
    for row, nxt in zip(x, y):
        seq = np.concatenate([row.numpy(), nxt[-1:].numpy()])
        periods = [p for p in range(8, len(seq)) if np.array_equal(seq[p:], seq[: len(seq) - p])]
        assert periods, "every window repeats with some period"
        assert set(seq.tolist()) <= alphabet
    cfg0, _ = prepare(RunConfig(size="tiny"))
    x0, _ = Trainer(cfg0, data).batch(7)
    assert not torch.equal(x0, x)


def test_copy_alphabet_is_the_most_frequent_ids_and_bad_sizes_are_named():
    from npmk.train import copy_alphabet

    tokens = np.array([5, 5, 5, 2, 2, 9, 1, 1, 1, 1])
    assert copy_alphabet(tokens, 10, 3).tolist() == [1, 5, 2]
    assert copy_alphabet(tokens, 10, 0).tolist() == list(range(10))
    with pytest.raises(ValueError, match="copy_vocab=11"):
        copy_alphabet(tokens, 10, 11)
    with pytest.raises(ValueError, match="copy_vocab"):
        RunConfig(size="tiny", copy_vocab=-1).resolved()


def test_copy_probe_scores_a_perfect_copier_one_and_chance_model_low():
    from types import SimpleNamespace

    from npmk.train import Trainer, prepare

    cfg, data = prepare(RunConfig(size="tiny"))
    trainer = Trainer(cfg, data)
    n, vocab = cfg.copy_len, data.vocab_size
    assert set(trainer.copy_seqs.flatten().tolist()) <= set(trainer.copy_alphabet.tolist())

    class Copier(torch.nn.Module):
        """Predicts, at position i, the token that followed position i − n (an ideal induction head)."""

        def forward(self, input_ids):
            nxt = torch.roll(input_ids, n - 1, dims=1)
            return SimpleNamespace(logits=torch.nn.functional.one_hot(nxt, vocab).float())

    trainer.model = Copier()
    assert trainer.probe()["copy_acc"] == 1.0
    trainer.model = lambda input_ids: SimpleNamespace(logits=torch.zeros(*input_ids.shape, vocab))
    assert trainer.probe()["copy_acc"] < 0.2


def test_every_run_spec_of_the_chapters_and_profiles_resolves(repo_root):
    """Chapters name lab runs one way: specs under runs/run_spec/sweep_spec, each with a preset."""
    import jupytext

    from npmk import book

    profiles = book.load_profiles(repo_root / "data" / "profiles.yaml")
    specs = []
    for name in book.chapters(repo_root):
        src = repo_root / "notebooks" / f"{name}.py"
        if not src.is_file():
            continue
        declared = book.declared_parameters(jupytext.read(src, fmt="py:percent"))
        for profile in book.PROFILES:
            params = {**declared, **book.parameters_for(profiles, name, profile)}
            for key in ("runs", "run_spec", "sweep_spec"):
                value = params.get(key)
                for spec in value if isinstance(value, list) else [value]:
                    if isinstance(spec, dict) and "arch" in spec:
                        specs.append((f"{name}/{profile}/{key}", spec))
    assert len(specs) >= 20
    for where, spec in specs:
        assert "preset" in spec, f"{where}: {spec} names no preset"
        RunConfig.from_spec(spec).resolved()
