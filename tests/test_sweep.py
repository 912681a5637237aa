"""npmk.sweep on a 2-worker Dask LocalCluster against an offline Hugging Face cache of tiny models.

The cache is laid out as the Hub client writes it (models--ORG--NAME/refs/REV holding a
commit, snapshots/COMMIT/ the files), so ``repo@revision`` resolves with HF_HUB_OFFLINE=1.
Every distributed run, with a worker or the client killed part-way, must give the same
rows as running the tasks one after another in this process.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from npmk import spectra, zoo
from npmk.sweep import SCHEMA, Spec, Task, load, pythia_revisions, run_task, sweep

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"npmk-test/neox-fp16": ("gpt_neox", torch.float16), "npmk-test/llama-bf16": ("llama", torch.bfloat16)}
REVISIONS = ["step0", "step1", "step2"]
MISSING = "step999"


def _commit(repo: str, rev: str) -> str:
    return hashlib.sha1(f"{repo}@{rev}".encode()).hexdigest()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """An offline Hub cache with each of MODELS at REVISIONS (different seeds), and the env pointing at it."""
    cache = tmp_path_factory.mktemp("hub")
    for repo, (family, dtype) in MODELS.items():
        base = cache / f"models--{repo.replace('/', '--')}"
        (base / "refs").mkdir(parents=True)
        for seed, rev in enumerate(REVISIONS):
            zoo.save(family, base / "snapshots" / _commit(repo, rev), seed=seed, dtype=dtype)
            (base / "refs" / rev).write_text(_commit(repo, rev))
    from huggingface_hub import constants

    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)  # for the worker processes, spawned after this
        mp.setattr(constants, "HF_HUB_OFFLINE", True)  # for this process, which imported the hub already
        mp.setattr(constants, "HF_HUB_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="module")
def client(hub):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def spec():
    return Spec.grid(list(MODELS), [*REVISIONS, MISSING], by=("pooled", "kind"))


@pytest.fixture(scope="module")
def serial(hub, spec):
    """Every task run one after another in this process."""
    return pd.concat([run_task(t) for t in spec.tasks()], ignore_index=True)


def test_serial_rows_carry_identity_and_errors(serial, spec):
    assert list(serial.columns) == SCHEMA.names
    ok = serial[serial.error == ""]
    bad = serial[serial.error != ""]
    assert set(bad.revision) == {MISSING} and len(bad) == len(MODELS) * 2  # one row per (model, by)
    assert bad.error.str.contains(MISSING).all() and bad.k.isna().all()
    assert set(ok.revision) == set(REVISIONS)
    for (src, rev), rows in ok.groupby(["source", "revision"]):
        assert (rows.commit == _commit(src, rev)).all()
    assert (ok.dtype[ok.source == "npmk-test/neox-fp16"] == "float16").all()
    assert (ok.dtype[ok.source == "npmk-test/llama-bf16"] == "bfloat16").all()
    assert ok.k.between(1.1, 1.3).all() and (ok.n > 0).all() and (ok.trim == 0.8).all()
    assert ok.npmk_version.nunique() == 1 and (ok.error == "").all()
    pooled = ok[ok.by == "pooled"]
    assert len(pooled) == len(MODELS) * len(REVISIONS) and pooled.k.nunique() == len(pooled)  # seeds differ


def test_sweep_equals_serial_and_a_rerun_skips_finished_tasks(client, spec, serial, tmp_path):
    result = sweep(spec, tmp_path, client=client, progress=False)
    assert (result.tasks, result.skipped, result.ran) == (16, 0, 16)
    assert sorted(str(t) for t, _ in result.failed) == sorted(str(t) for t in spec.tasks() if t.revision == MISSING)
    pd.testing.assert_frame_equal(load(tmp_path, spec), serial)
    assert len(pd.read_parquet(tmp_path)) == len(serial)  # the dataset reads as one table
    stale = tmp_path / f".{spec.tasks()[0].filename}.99999.tmp"  # as a client killed mid-write leaves it
    stale.write_bytes(b"PAR1 half a file")
    again = sweep(spec, tmp_path, client=client, progress=False)
    assert (again.skipped, again.ran, len(again.failed)) == (12, 4, 4)  # failed tasks are tried again
    assert not stale.exists()
    pd.testing.assert_frame_equal(load(tmp_path, spec), serial)


def _run_in_thread(fn):
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", fn()))
    thread.start()
    return thread, box


def _wait_for_files(out: Path, count: int, thread_or_proc, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while len(list(out.glob("part-*.parquet"))) < count:
        alive = thread_or_proc.is_alive() if hasattr(thread_or_proc, "is_alive") else thread_or_proc.poll() is None
        assert alive, "the sweep ended before the planned kill"
        assert time.monotonic() < deadline, "the sweep made no progress"
        time.sleep(0.02)


def test_a_worker_killed_mid_sweep_is_replaced_and_rows_are_identical(client, serial, hub, tmp_path):
    spec = Spec.grid(list(MODELS), [*REVISIONS, MISSING], by=("pooled", "kind", "tensor"))
    want = pd.concat([serial, *(run_task(t) for t in spec.tasks() if t.by == "tensor")])
    want = want.set_index("task").loc[[t.key for t in spec.tasks()]].reset_index()[SCHEMA.names]
    kill_after = random.Random(15).randint(1, 8)
    thread, box = _run_in_thread(lambda: sweep(spec, tmp_path, client=client, progress=False))
    _wait_for_files(tmp_path, kill_after, thread)
    pids = client.run(os.getpid)
    busy = {w: keys for w, keys in client.processing().items() if keys}
    assert busy, "no task in flight to kill"
    victim = next(iter(busy))
    os.kill(pids[victim], signal.SIGKILL)
    thread.join(timeout=600)
    assert not thread.is_alive()
    assert len(box["result"].failed) == len(MODELS) * 3  # only the missing revision
    pd.testing.assert_frame_equal(load(tmp_path, spec), want)


def test_a_killed_client_resumes_and_the_cli_exit_status(client, spec, serial, hub, tmp_path):
    # The first run has its own in-process LocalCluster (the default), killed with its workers;
    # the second finishes the sweep on the test's cluster (--scheduler).
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "npmk", "sweep", *MODELS, "--revisions", *REVISIONS, MISSING,
           "--by", "pooled", "kind", "--out", str(out), "--no-progress"]
    kill_after = random.Random(7).randint(2, 8)
    proc = subprocess.Popen([*cmd, "--workers", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    _wait_for_files(out, kill_after, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the client and its cluster's worker processes
    proc.wait()
    done = len(list(out.glob("part-*.parquet")))
    assert kill_after <= done < 16
    finished = load(out).groupby("task").error.apply(lambda e: (e == "").all()).sum()  # failed ones are retried
    cmd += ["--scheduler", client.scheduler.address]
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert resumed.returncode == 1, resumed.stderr  # the missing revision failed
    assert MISSING in resumed.stderr and "4 failed" in resumed.stderr
    assert f"{finished} already done" in resumed.stderr
    pd.testing.assert_frame_equal(load(out, spec), serial)
    assert not list(out.glob("*.tmp"))  # a temp file of the killed client's is removed by the resumed run
    ok = subprocess.run(cmd[:cmd.index(MISSING)] + cmd[cmd.index(MISSING) + 1:], env=env,
                        capture_output=True, text=True, timeout=600, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "12 already done, 0 run" in ok.stderr


def test_spectral_columns_are_medians_over_each_row(hub):
    task = Task("npmk-test/neox-fp16", "step0", by="kind", spectral=True)
    rows = run_task(task).set_index("name")
    from huggingface_hub import snapshot_download

    model = snapshot_download("npmk-test/neox-fp16", revision="step0")
    from npmk.checkpoints import open_checkpoint

    ckpt = open_checkpoint(model)
    per_matrix = spectra.spectra({i.name: ckpt.tensor(i) for i in ckpt.infos()}, family="gpt_neox", progress=False)
    want = per_matrix.groupby("kind")[["alpha", "stable_rank", "effective_rank", "spectral_norm"]].median()
    pd.testing.assert_frame_equal(rows.loc[want.index, want.columns], want, check_names=False, rtol=1e-12)


def test_yaml_spec(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("grid:\n  - sources: [EleutherAI/pythia-70m]\n    revisions: pythia\n"
                    "  - sources: [a/local/dir]\nby: [pooled, kind]\ntrim: 0.9\n")
    spec = Spec.from_yaml(path)
    tasks = spec.tasks()
    assert len(pythia_revisions()) == 154 and pythia_revisions()[:4] == ["step0", "step1", "step2", "step4"]
    assert len(tasks) == (154 + 1) * 2 and {t.trim for t in tasks} == {0.9}
    assert tasks[-1] == Task("a/local/dir", None, "kind", 0.9)
    assert len({t.key for t in tasks}) == len(tasks)
    path.write_text("grid:\n  - sources: [x]\ntrim: [0.8, 1]\n")
    assert Spec.from_yaml(path).tasks()[0].trim == (0.8, 1.0)
    path.write_text("grid:\n  - sources: [x]\nby: [pooled, nope]\n")
    with pytest.raises(ValueError, match="by must be"):
        Spec.from_yaml(path)
    path.write_text("grid:\n  - sources: [x]\ntrims: 0.9\n")
    with pytest.raises(ValueError, match="unknown key.*trims"):
        Spec.from_yaml(path)
    with pytest.raises(ValueError, match="trim"):
        Spec.grid(["x"], trim=1.5)


def test_subsample_is_passed_to_measure_and_recorded(hub):
    from npmk import measure

    task = Task("npmk-test/neox-fp16", "step2", subsample=5_000, seed=3)
    row = run_task(task).iloc[0]
    want = measure("npmk-test/neox-fp16", revision="step2", subsample=5_000, seed=3, progress=False).iloc[0]
    assert (row.subsample, row.seed, row.k, row["lambda"]) == (5_000, 3, want.k, want.lam)
    assert task.key != Task("npmk-test/neox-fp16", "step2").key


def test_a_tuple_of_trims_is_one_task_and_a_refused_fit_is_a_row_not_a_failure(tmp_path):
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in zoo.build("gpt_neox", "tiny", seed=1).state_dict().items()}
    state["gpt_neox.layers.0.mlp.dense_4h_to_h.weight"][:4] = 0.0  # zeros reach into a 100% body
    save_file(state, tmp_path / "model.safetensors")
    task = Task(str(tmp_path / "model.safetensors"), None, "pooled", (0.8, 1.0), family="gpt_neox")
    rows = run_task(task)
    assert list(rows.trim) == [0.8, 1.0] and (rows.error == "").all()
    assert pd.isna(rows.fit_error.iloc[0]) and "zero" in rows.fit_error.iloc[1] and pd.isna(rows.k.iloc[1])
    from npmk import measure

    assert rows.k.iloc[0] == measure(state, family="gpt_neox", progress=False).k.iloc[0]
    assert task.key != Task(task.source, None, "pooled", 0.8, family="gpt_neox").key
    with pytest.raises(ValueError, match="trim"):
        Spec(pairs=((task.source, None),), trim=(0.8, 1.5))


def test_class_and_layer_rows_pool_the_class_matrices(hub):
    from npmk import measure, skeleton
    from npmk.checkpoints import open_checkpoint

    layer = run_task(Task("npmk-test/llama-bf16", "step1", by="layer"))
    cls = run_task(Task("npmk-test/llama-bf16", "step1", by="class")).set_index("name")
    assert set(cls.index) == set(cls.cls) and {"Transmission", "Selection"} <= set(cls.index)
    assert (layer.groupby("cls").n.sum() == cls.n.loc[layer.groupby("cls").n.sum().index]).all()
    blocks = layer[layer.layer.notna()]
    assert (blocks.name == blocks.cls + "/L" + blocks.layer.astype(str)).all()
    ckpt = open_checkpoint("npmk-test/llama-bf16", "step1")
    sel = {i.name: ckpt.tensor(i) for i in ckpt.infos()
           if skeleton.classify(i.name, i.shape, "llama").cls == "Selection"}
    direct = measure(sel, family="llama", progress=False).iloc[0]
    assert (cls.k["Selection"], cls["lambda"]["Selection"], cls.n["Selection"]) == (direct.k, direct.lam, direct.n)


def test_spectral_medians_follow_the_layer_rows(hub):
    rows = run_task(Task("npmk-test/neox-fp16", "step1", by="layer", spectral=True))
    blocks = rows[rows.layer.notna()]
    assert len(blocks) and blocks.stable_rank.notna().all() and (blocks.stable_rank >= 1).all()
    per_matrix = run_task(Task("npmk-test/neox-fp16", "step1", by="tensor", spectral=True))
    want = per_matrix[per_matrix.layer == 0].groupby("cls").stable_rank.median()
    got = blocks[blocks.layer == 0].set_index("cls").stable_rank
    pd.testing.assert_series_equal(got.loc[want.index], want, check_names=False, rtol=1e-12)


def test_the_shared_client_follows_npmk_scheduler_and_use_scheduler(monkeypatch):
    from distributed import LocalCluster

    from npmk import sweep

    with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as a, \
            LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as b:
        monkeypatch.setenv(sweep.SCHEDULER_ENV, a.scheduler_address)
        sweep.use_scheduler(None)
        client = sweep.shared_client()
        assert client.scheduler.address == a.scheduler_address and sweep.shared_client() is client  # reused
        sweep.use_scheduler(b.scheduler_address)  # closes the first client, the next call connects to b
        assert client.status == "closed" and sweep.shared_client().scheduler.address == b.scheduler_address
        sweep.use_scheduler(None)


# --- drift between consecutive revisions, and the emergence chapter's hub path -----------------------


def _snapshots(repo: str):
    """(step, every tensor) of ``repo`` at REVISIONS, read as the sweep reads them."""
    from npmk.checkpoints import open_checkpoint

    for rev in REVISIONS:
        ckpt = open_checkpoint(repo, rev)
        yield int(rev.removeprefix("step")), {i.name: ckpt.tensor(i) for i in ckpt.infos()}


def test_drift_sweep_equals_runstats_on_the_same_tensors(client, hub, tmp_path):
    from npmk import runstats

    repo = "npmk-test/neox-fp16"
    spec = Spec.grid([repo], REVISIONS, by=("tensor",), spectral=True, drift=True)
    tasks = spec.tasks()
    assert [t.previous for t in tasks] == [None, *REVISIONS[:-1]]
    # the first revision has nothing to compare with: the same task, key and rows as without drift
    assert tasks[0] == Task(repo, REVISIONS[0], "tensor", spectral=True)
    assert tasks[1].key != Task(repo, REVISIONS[1], "tensor", spectral=True).key
    sweep(spec, tmp_path, client=client, progress=False)
    rows = load(tmp_path, spec)
    assert (rows.error == "").all()
    first = rows[rows.revision == REVISIONS[0]]
    assert first.previous.isna().all() and first.cosine.isna().all() and first.rel_change.isna().all()
    snaps = list(_snapshots(repo))
    for (_, before), (step, after), rev in zip(snaps, snaps[1:], REVISIONS[1:]):
        got = rows[rows.revision == rev].set_index("name")
        want = spectra.drift(before, {n: after[n] for n in got.index}).set_index("name")
        assert (got.previous == f"step{step - 1}").all()
        pd.testing.assert_frame_equal(got[["cosine", "rel_change"]], want, check_exact=True, check_names=False)
    serial = runstats.weight_statistics(snaps, family="gpt_neox").set_index(["step", "group", "statistic"])
    fitted = Spec.grid([repo], REVISIONS, by=("class", "layer"))
    sweep(fitted, tmp_path, client=client, progress=False)
    swept = runstats.sweep_statistics(load(tmp_path, [spec, fitted])).set_index(["step", "group", "statistic"])
    # the same engine, spectra and drift on the same tensors: identical, not merely close
    pd.testing.assert_frame_equal(swept, serial, check_exact=True)


@pytest.fixture
def shared_on_test_cluster(client):
    """npmk.sweep.cached sends its tasks to the test's cluster (whose workers see the fake hub)."""
    from npmk import sweep

    sweep.use_scheduler(client.scheduler.address)
    yield
    sweep.use_scheduler(None)


@pytest.mark.usefixtures("shared_on_test_cluster")
def test_hub_statistics_gives_every_statistic_of_every_model(hub, tmp_path, monkeypatch):
    from npmk import runstats, sweep

    series = {"neox": ("npmk-test/neox-fp16", [0, 1, 2]), "llama": ("npmk-test/llama-bf16", [1, 2])}
    table = runstats.hub_statistics(series, tmp_path)
    assert list(table.columns) == ["model", "group", "statistic", "step", "value"]
    for model, (_, steps) in series.items():
        mine = table[table.model == model]
        assert sorted(mine.step.unique()) == steps
        assert {"Transmission", "Selection", "Selection L0", "Selection L1"} <= set(mine.group)
        per_group = mine.groupby(["group", "step"]).statistic.apply(set)
        assert all(s == set(runstats.STATISTICS) for s in per_group)
        first = mine[mine.step == steps[0]]
        assert first[first.statistic.isin(["cosine", "rel_change"])].value.isna().all()
        later = mine[(mine.step > steps[0]) & (mine.statistic != "rel_change")]  # rel_change after step 0 is NaN
        assert later.value.notna().all()
    with monkeypatch.context() as mp:  # a rerun reads the finished tasks and sends nothing to a cluster
        mp.setattr(sweep, "shared_client", lambda: pytest.fail("every task was finished"))
        pd.testing.assert_frame_equal(runstats.hub_statistics(series, tmp_path), table)
    with pytest.raises(sweep.SweepFailed, match="step999"):
        runstats.hub_statistics({"gone": ("npmk-test/neox-fp16", [0, 999])}, tmp_path)


def test_drift_from_a_spec_file_follows_each_sources_own_revisions(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("grid:\n  - sources: [a/x, a/y]\n    revisions: [step1, step8, step64]\ndrift: true\n")
    previous = {(t.source, t.revision): t.previous for t in Spec.from_yaml(path).tasks()}
    assert previous == {("a/x", "step1"): None, ("a/x", "step8"): "step1", ("a/x", "step64"): "step8",
                        ("a/y", "step1"): None, ("a/y", "step8"): "step1", ("a/y", "step64"): "step8"}
    assert all(t.previous is None for t in Spec.grid(["a/x"], ["step1", "step8"]).tasks())  # off by default
