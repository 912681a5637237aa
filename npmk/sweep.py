"""``npmk sweep``: Weibull fits over a grid of checkpoints, on a Dask cluster, into one Parquet dataset.

A :class:`Spec` is a grid of (source, revision) pairs times what to measure:
``by`` (pooled / kind / class / layer / tensor rows, as :func:`npmk.measure`), the body
fraction ``trim`` (or a tuple of them, fitted from one reading) and, optionally, the spectral statistics of
:mod:`npmk.spectra` and the drift from the previous checkpoint of the same
source (cosine and relative change; medians over each row's matrices). It
expands into :class:`Task` s, one per (source, revision, by); :func:`run_task` reads one
checkpoint, one tensor at a time, and returns tidy rows with the columns of
:data:`SCHEMA`. It never raises for a bad input: a task that fails returns one
row whose ``error`` holds the message (empty string when the task succeeded).

:func:`sweep` sends the tasks to Dask distributed (an in-process
``LocalCluster`` with one single-threaded worker process per core by default,
or an existing scheduler; Dask starts workers with ``OMP_NUM_THREADS=1``, so
each task counts on one thread and the workers share out the cores) and, in
the client, writes each finished task's rows atomically (temporary file, then
rename) to ``OUT/part-<task key>.parquet``, so
``pandas.read_parquet(OUT)`` reads the dataset and a killed client loses only
the tasks in flight. A rerun skips tasks whose file holds no error and tries
failed ones again. A worker that dies mid-task has its tasks rescheduled by
Dask on the others; a task that kills three workers (``distributed``'s
``allowed-failures``) becomes an error row. Each task's rows depend only on
the task and the checkpoint's bytes, so every route gives identical rows.

The library's own sweeps (:mod:`npmk.realfits`, :mod:`npmk.snapshots`) go through
:func:`cached`, which reads finished tasks back from their dataset and runs the
others on one cluster per process (:func:`shared_client`, :func:`use_scheduler`).
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import importlib.metadata
import json
import logging
import math
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dask
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from distributed import Client, LocalCluster, as_completed
from tqdm import tqdm

from npmk._files import locked

__all__ = [
    "PYTHIA_STEPS",
    "SCHEDULER_ENV",
    "SCHEMA",
    "Spec",
    "SweepFailed",
    "SweepResult",
    "Task",
    "cached",
    "cli",
    "load",
    "local_cluster",
    "matrix_spectra",
    "measure_frame",
    "pythia_revisions",
    "run_task",
    "shared_client",
    "sweep",
    "use_scheduler",
]

BY = ("pooled", "kind", "tensor", "class", "layer")  # as npmk.measure

#: Pythia's 154 saved checkpoints (Biderman et al. 2023): step 0, 1, 2, 4, ..., 512, then every 1000 to 143000.
PYTHIA_STEPS = (0, *(2**i for i in range(10)), *range(1000, 143_001, 1000))


def pythia_revisions() -> list[str]:
    """The Hub revision names ``step0`` ... ``step143000`` of every Pythia checkpoint."""
    return [f"step{s}" for s in PYTHIA_STEPS]


#: Names that stand for a list of revisions in a spec or on the command line.
REVISION_SETS = {"pythia": pythia_revisions}

_STATS = ["alpha", "stable_rank", "effective_rank", "spectral_norm"]
_DRIFT = ["cosine", "rel_change"]

#: Columns of every row (one schema for every file, error rows included, so the dataset reads as one table).
SCHEMA = pa.schema([
    ("source", pa.string()), ("revision", pa.string()), ("commit", pa.string()), ("by", pa.string()),
    ("name", pa.string()), ("kind", pa.string()), ("cls", pa.string()),
    ("k", pa.float64()), ("lambda", pa.float64()), ("r2", pa.float64()), ("ks", pa.float64()),
    ("n", pa.int64()), ("n_body", pa.int64()), ("rms", pa.float64()), ("max_abs", pa.float64()),
    ("q10", pa.float64()), ("q50", pa.float64()), ("q90", pa.float64()), ("q99", pa.float64()),
    ("q90_q10", pa.float64()), ("q99_q50", pa.float64()),
    ("trim", pa.float64()), ("method", pa.string()), ("dtype", pa.string()), ("n_tensors", pa.int64()),
    ("family", pa.string()), ("subsample", pa.int64()), ("seed", pa.int64()), ("quantized", pa.string()),
    *((s, pa.float64()) for s in _STATS),
    ("layer", pa.int64()), ("fit_error", pa.string()),
    ("previous", pa.string()), *((s, pa.float64()) for s in _DRIFT),
    ("bytes", pa.int64()), ("npmk_version", pa.string()), ("task", pa.string()), ("error", pa.string()),
])


#: Arrow -> pandas types: integer columns keep their type where an error row leaves them null.
_TYPES = {pa.int64(): pd.Int64Dtype()}


def _version() -> str:
    try:
        return importlib.metadata.version("npmk")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


@dataclass(frozen=True)
class Task:
    """One checkpoint measured one way: a (source, revision) pair and the fit's options.

    source: Hub id or local path (as a string, resolved where the task runs);
    revision: Hub branch, tag or commit (None: a local path, or the Hub's main);
    by, trim, family, subsample, seed: as :func:`npmk.measure` (a tuple of trims: one
    block of rows per trim from one reading, a fit the engine refuses a row with its
    reason in ``fit_error``); spectral: add the median spectral statistics of each row's matrices;
    previous: a revision of the same source to measure the drift from (columns cosine and
    rel_change, medians of :func:`npmk.spectra.drift` over each row's matrices; None: no drift,
    both null).
    """

    source: str
    revision: str | None
    by: str = "pooled"
    trim: float | tuple[float, ...] = 0.8
    spectral: bool = False
    family: str | None = None
    subsample: int | None = None
    seed: int = 42
    previous: str | None = None

    @property
    def key(self) -> str:
        """16 hex digits of the SHA-256 of the task's fields: its file name and Dask key.

        ``previous`` counts only when set, so tasks without drift keep the keys (and
        the finished files) they had before the field existed.
        """
        fields = asdict(self)
        if self.previous is None:
            del fields["previous"]
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def filename(self) -> str:
        return f"part-{self.key}.parquet"

    def __str__(self) -> str:
        at = f"@{self.revision}" if self.revision else ""
        since = f" since {self.previous}" if self.previous else ""
        return f"{self.source}{at} by {self.by}{since}"


@dataclass(frozen=True)
class Spec:
    """A sweep: every (source, revision) pair in ``pairs`` measured ``by`` each of ``by``
    (the other fields as :class:`Task`).

    drift: each task also measures how far every matrix moved from the source's
    previous revision in ``pairs`` order (its :attr:`Task.previous`), so list the
    revisions in training order.  The first revision of each source has nothing to
    compare with: its task is the same as without drift (cosine and rel_change null).
    """

    pairs: tuple[tuple[str, str | None], ...]
    by: tuple[str, ...] = ("pooled",)
    trim: float | tuple[float, ...] = 0.8
    spectral: bool = False
    family: str | None = None
    subsample: int | None = None
    seed: int = 42
    drift: bool = False

    def __post_init__(self) -> None:
        from npmk.weibull import body_bounds

        if not self.pairs:
            raise ValueError("a sweep needs at least one source")
        bad = [b for b in self.by if b not in BY]
        if bad or not self.by:
            raise ValueError(f"by must be some of {', '.join(BY)}, got {list(self.by)}")
        for trim in self.trim if isinstance(self.trim, tuple) else (self.trim,):
            body_bounds(trim)  # a bad trim fails before any task runs
        if self.subsample is not None and (int(self.subsample) != self.subsample or self.subsample < 1):
            raise ValueError(f"subsample must be a positive integer, got {self.subsample!r}")

    @classmethod
    def grid(cls, sources: Sequence[str], revisions: Sequence[str | None] | None = None, **options) -> Spec:
        """Every source at every revision (``None`` or empty: each source once, without a revision).

        A revision named in ``REVISION_SETS`` (``"pythia"``) stands for its whole list.
        """
        revs = _expand(revisions or [None])
        return cls(pairs=tuple((str(s), r) for s in sources for r in revs), **options)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> Spec:
        """A spec file::

            grid:                      # one or more blocks of sources x revisions
              - sources: [EleutherAI/pythia-70m, EleutherAI/pythia-160m]
                revisions: pythia      # a list, or a name from REVISION_SETS; omit for local paths
              - sources: [path/to/model_dir]
            by: [pooled, kind]         # default [pooled]
            trim: 0.8                  # or a list, e.g. [0.8, 0.9, 1.0]: one block of rows per trim
            spectral: false
            drift: false               # cosine and relative change to the previous revision of each source
            family: null               # skeleton rule table when config.json cannot tell
            subsample: null            # fit this many values drawn per row (NPM-K: 10000000), seed 42
            seed: 42
        """
        try:
            doc = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: cannot read the sweep spec ({exc})") from None
        if not isinstance(doc, dict) or "grid" not in doc:
            raise ValueError(f"{path}: a sweep spec is a mapping with a 'grid' list (see npmk.sweep.Spec.from_yaml)")
        unknown = set(doc) - {"grid", "by", "trim", "spectral", "drift", "family", "subsample", "seed"}
        if unknown:
            raise ValueError(f"{path}: unknown key(s) {', '.join(sorted(unknown))} in the sweep spec")
        pairs: list[tuple[str, str | None]] = []
        for i, block in enumerate(doc["grid"] or []):
            if not isinstance(block, dict) or not block.get("sources") or set(block) - {"sources", "revisions"}:
                raise ValueError(f"{path}: grid block {i} must have 'sources' (a list) and optionally 'revisions'")
            pairs += cls.grid(block["sources"], block.get("revisions")).pairs
        by = doc.get("by", ["pooled"])
        trim = doc.get("trim", 0.8)
        return cls(pairs=tuple(pairs), by=tuple([by] if isinstance(by, str) else by),
                   trim=tuple(map(float, trim)) if isinstance(trim, list) else float(trim),
                   spectral=bool(doc.get("spectral", False)),
                   family=doc.get("family"), subsample=doc.get("subsample"), seed=int(doc.get("seed", 42)),
                   drift=bool(doc.get("drift", False)))

    def tasks(self) -> list[Task]:
        """The tasks in grid order, duplicates dropped."""
        pairs = list(dict.fromkeys(self.pairs))
        last: dict[str, str | None] = {}
        previous = []
        for source, revision in pairs:
            previous.append(last.get(source) if self.drift else None)
            last[source] = revision
        tasks = [Task(s, r, b, self.trim, self.spectral, self.family, self.subsample, self.seed, p)
                 for (s, r), p in zip(pairs, previous) for b in self.by]
        return list(dict.fromkeys(tasks))


def _expand(revisions: Iterable[str | None] | str) -> list[str | None]:
    out: list[str | None] = []
    for r in [revisions] if isinstance(revisions, str) else revisions:
        out += REVISION_SETS[r]() if r in REVISION_SETS else [None if r is None else str(r)]
    return out


# --- one task (runs on a worker) --------------------------------------------------------------


def _hub_commit(ckpt) -> str | None:
    """The commit a Hub checkpoint was resolved to: its files live in the cache's ``snapshots/<commit>/``."""
    files = {Path(i.file).parent for i in ckpt.infos() if i.file}
    if len(files) == 1:
        folder = files.pop()
        if folder.parent.name == "snapshots":
            return folder.name
    return None


def matrix_spectra(ckpt, family: str, *, kinds=None, dtype=None) -> pd.DataFrame:
    """:func:`npmk.spectra.spectra` of a checkpoint's 2-D skeleton matrices (of ``kinds`` only, when
    given), read one block at a time (matrices outside the blocks first), so memory holds one
    block's matrices; singular values in ``dtype`` (default float64)."""
    import torch

    from npmk import skeleton, spectra

    by_layer: dict[int | None, list] = {}
    for info in ckpt.infos():
        d = skeleton.classify(info.name, info.shape, family)
        if d.include and len(info.shape) == 2 and (kinds is None or d.kind in kinds):
            by_layer.setdefault(d.layer, []).append(info)
    parts = [spectra.spectra({i.name: ckpt.tensor(i) for i in infos}, family=family,
                             dtype=dtype or torch.float64, progress=False)
             for _, infos in sorted(by_layer.items(), key=lambda kv: -1 if kv[0] is None else kv[0])]
    return pd.concat(parts, ignore_index=True)


def matrix_drift(ckpt, before, family: str) -> pd.DataFrame:
    """:func:`npmk.spectra.drift` of each 2-D skeleton matrix of ``ckpt`` from checkpoint ``before``,
    with its kind, cls and layer; one matrix of each checkpoint in memory at a time."""
    from npmk import skeleton, spectra

    earlier = {i.name: i for i in before.infos()}
    rows = []
    for info in ckpt.infos():
        d = skeleton.classify(info.name, info.shape, family)
        if not (d.include and len(info.shape) == 2):
            continue
        if info.name not in earlier:
            raise KeyError(f"{info.name} is in {ckpt.label} but not in the previous checkpoint {before.label}")
        moved = spectra.drift({info.name: before.tensor(earlier[info.name])}, {info.name: ckpt.tensor(info)})
        rows.append(moved.assign(kind=d.kind, cls=d.cls, layer=d.layer))
    return pd.concat(rows, ignore_index=True)


def _medians(per_matrix: pd.DataFrame, by: str, columns: list[str]) -> pd.DataFrame:
    """Medians of ``columns`` of per-matrix rows (name, kind, cls, layer) over each row (population) of ``by``."""
    block = per_matrix["layer"].map(lambda x: "outside" if pd.isna(x) else f"L{x:.0f}")
    row = {"pooled": "pooled", "kind": per_matrix["kind"], "class": per_matrix["cls"], "tensor": per_matrix["name"],
           "layer": per_matrix["cls"] + "/" + block}
    return per_matrix.assign(name=row[by])[["name", *columns]].groupby("name", sort=False).median().reset_index()


def _rows(task: Task) -> pd.DataFrame:
    # Imported here, on the worker: the client (npmk sweep) never needs torch.
    from npmk._measure import measure
    from npmk.checkpoints import open_checkpoint

    ckpt = open_checkpoint(task.source, task.revision)
    df = measure(ckpt, by=task.by, trim=task.trim, family=task.family, subsample=task.subsample, seed=task.seed,
                 progress=False)
    df = df.rename(columns={"lam": "lambda", "error": "fit_error"}).drop(columns=["source"])
    family = df["family"].iloc[0]  # as measure resolved it
    if task.spectral:
        df = df.merge(_medians(matrix_spectra(ckpt, family), task.by, _STATS), on="name", how="left")
    if task.previous is not None:
        before = open_checkpoint(task.source, task.previous)
        df = df.merge(_medians(matrix_drift(ckpt, before, family), task.by, _DRIFT), on="name", how="left")
    df["commit"] = _hub_commit(ckpt)
    df["bytes"] = sum(i.nbytes for i in ckpt.infos())
    return df


def run_task(task: Task) -> pd.DataFrame:
    """The rows of one task (columns of :data:`SCHEMA`); a failure is one row with ``error`` set."""
    try:
        df = _rows(task)
    except Exception as exc:  # any failure of one checkpoint becomes its error row; the sweep goes on
        return _error_frame(task, f"{type(exc).__name__}: {exc}")
    for col, value in _identity(task).items():
        df[col] = value
    df["error"] = ""
    return _table_frame(df)


def _identity(task: Task) -> dict:
    # no trim: measure's rows carry theirs, one block per trim of a tuple
    return {"source": task.source, "revision": task.revision, "by": task.by, "previous": task.previous,
            "npmk_version": _version(), "task": task.key}


def _error_frame(task: Task, message: str) -> pd.DataFrame:
    trim = None if isinstance(task.trim, tuple) else task.trim
    return _table_frame(pd.DataFrame([{**_identity(task), "trim": trim, "error": message}]))


def _table_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with exactly the columns of SCHEMA, in its order and types (missing ones null)."""
    table = pa.Table.from_pandas(df.reindex(columns=SCHEMA.names), schema=SCHEMA, preserve_index=False)
    return table.to_pandas(types_mapper=_TYPES.get)


# --- the client ----------------------------------------------------------------------------------


@dataclass
class SweepResult:
    """What one :func:`sweep` call did. failed: (task, error message) of each task that failed this time."""

    out: Path
    tasks: int
    skipped: int
    ran: int
    failed: list[tuple[Task, str]] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def _finished(out: Path, task: Task) -> bool:
    path = out / task.filename
    if not path.is_file():
        return False
    try:
        errors = pq.read_table(path, columns=["error"]).column("error").to_pylist()
    except (pa.ArrowException, OSError):  # unreadable: written by something else; redo the task
        return False
    return bool(errors) and all(e == "" for e in errors)


def _write(out: Path, task: Task, df: pd.DataFrame) -> None:
    """Write the task's rows to ``out/part-<key>.parquet`` atomically (a dot-file, then rename)."""
    tmp = out / f".{task.filename}.{os.getpid()}.tmp"  # dot-files are not part of the dataset
    pq.write_table(pa.Table.from_pandas(df, schema=SCHEMA, preserve_index=False), tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, out / task.filename)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def local_cluster(workers: int, *, threads: int) -> LocalCluster:
    """A LocalCluster of ``workers`` worker processes (one task at a time each) whose torch, OpenMP
    and BLAS may use ``threads`` cores.

    Only the thread counts go into the workers' environment: Dask's default also sets
    MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's dynamic mmap threshold, so every
    large temporary buffer is mapped and unmapped afresh; the engine's counting then ran 3×
    slower in a worker than in-process (all-mpnet-base-v2 pooled: 4.6–5.0 s against 1.3–1.5 s).
    """
    env = {v: threads for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                            silence_logs=logging.ERROR)


def _tasks(spec: Spec | Iterable[Spec]) -> list[Task]:
    specs = [spec] if isinstance(spec, Spec) else list(spec)
    return list(dict.fromkeys(t for s in specs for t in s.tasks()))


def sweep(spec: Spec | Iterable[Spec], out: str | os.PathLike, *, workers: int | None = None,
          scheduler: str | None = None, client: Client | None = None, progress: bool = True) -> SweepResult:
    """Run every unfinished task of ``spec`` (or of several specs) on Dask and write its rows under ``out``.

    Cluster: ``client`` (a ``distributed.Client``) if given; else ``scheduler``
    (address of a running ``dask scheduler``); else an in-process LocalCluster of
    ``workers`` (default: one per core) single-threaded worker processes, closed at the end.
    A second sweep into the same ``out`` waits for the first (a lock file ``out/.lock``).
    """
    if workers is not None and scheduler is not None:
        raise ValueError("give workers= (a local cluster) or scheduler= (an existing one), not both")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers}")
    out = Path(out)
    # One sweep writes to ``out`` at a time, so a temp file found there was left by a writer that was killed.
    with locked(out):
        for stale in out.glob(".part-*.tmp"):
            stale.unlink()
        return _run(_tasks(spec), out, workers=workers, scheduler=scheduler, client=client, progress=progress)


def _run(tasks: list[Task], out: Path, *, workers: int | None, scheduler: str | None, client: Client | None,
         progress: bool) -> SweepResult:
    t0 = time.perf_counter()
    todo = [t for t in tasks if not _finished(out, t)]
    result = SweepResult(out, len(tasks), len(tasks) - len(todo), len(todo))
    if not todo:
        return result
    cluster = own_client = None
    if client is None:
        if scheduler is None:
            cluster = local_cluster(workers or _cores(), threads=1)
        own_client = client = Client(scheduler or cluster)
    bar_tasks = tqdm(total=len(tasks), initial=result.skipped, unit="task", desc="npmk sweep",
                     file=sys.stderr, disable=not progress, position=0)
    bar_bytes = tqdm(unit="B", unit_scale=True, unit_divisor=1024, desc="read", file=sys.stderr,
                     disable=not progress, position=1)
    try:
        futures = client.map(run_task, todo, key=[f"npmk-sweep-{t.key}" for t in todo], pure=False)
        task_of = {f.key: t for f, t in zip(futures, todo)}
        for future in as_completed(futures):
            task = task_of[future.key]
            try:
                df = future.result()
            except Exception as exc:  # KilledWorker: the task took down allowed-failures workers
                df = _error_frame(task, f"{type(exc).__name__} on the cluster: {exc}")
            _write(out, task, df)
            error = next((e for e in df["error"] if e), "")
            if error:
                result.failed.append((task, error))
            if not error and len(df):
                result.bytes += int(df["bytes"].iloc[0])
                bar_bytes.update(int(df["bytes"].iloc[0]))
            bar_tasks.update(1)
            future.release()
    finally:
        bar_tasks.close()
        bar_bytes.close()
        if own_client is not None:
            own_client.close()
        if cluster is not None:
            cluster.close()
    result.seconds = time.perf_counter() - t0
    return result


def load(out: str | os.PathLike, spec: Spec | Iterable[Spec] | None = None) -> pd.DataFrame:
    """The rows under ``out`` (all, or those of the tasks of ``spec``), in task order, then row order,
    with the column types :func:`run_task` returns (integers as nullable Int64).

    The same rows as ``pandas.read_parquet(out)``, which may order them differently.
    """
    out = Path(out)
    if spec is not None:
        files = [out / t.filename for t in _tasks(spec) if (out / t.filename).is_file()]
    else:
        files = sorted(out.glob("part-*.parquet"))
    tables = [pq.read_table(f, schema=SCHEMA) for f in files] or [SCHEMA.empty_table()]
    return pa.concat_tables(tables).to_pandas(types_mapper=_TYPES.get)


# --- the library's sweeps: one cluster per process, results read back ------------------------------

#: Environment variable naming a Dask scheduler for :func:`cached` (see :func:`use_scheduler`).
SCHEDULER_ENV = "NPMK_SCHEDULER"
_shared: dict = {}  # "address": set by use_scheduler; "client" (and "cluster" if local) once started


class SweepFailed(RuntimeError):
    """Some task of a :func:`cached` sweep failed; the message lists each with its error."""


def use_scheduler(address: str | None) -> None:
    """Send the sweeps the library runs (:func:`cached`) to the Dask scheduler at ``address``
    (e.g. ``tcp://10.0.0.1:8786``); ``None`` goes back to ``$NPMK_SCHEDULER`` or, unset, a
    LocalCluster. The cluster already in use, if any, is closed."""
    _close_shared()
    _shared["address"] = address


def shared_client() -> Client:
    """This process's client for :func:`cached`, started on first use and kept until exit.

    It connects to the scheduler given to :func:`use_scheduler` or in ``$NPMK_SCHEDULER``;
    otherwise it starts a LocalCluster of one worker process per core (starting one takes
    seconds, so every later sweep of the process reuses it). Each worker runs one task at a
    time but lets torch, hence the engine's counting threads, use every core: a chapter often
    asks for one checkpoint's fits at a time, which then runs as fast as in-process, while a
    sweep of many tasks keeps every worker busy (cores² counting threads, little cost for
    memory-bound counting).
    """
    if "client" not in _shared:
        address = _shared.get("address") or os.environ.get(SCHEDULER_ENV) or None
        if address is None:
            _shared["cluster"] = local_cluster(_cores(), threads=_cores())
        _shared["client"] = Client(address or _shared["cluster"])
    return _shared["client"]


def _close_shared() -> None:
    for what in ("client", "cluster"):
        if what in _shared:
            _shared.pop(what).close()


atexit.register(_close_shared)


def cached(spec: Spec, out: str | os.PathLike, *, progress: bool = False) -> pd.DataFrame:
    """The rows of every task of ``spec`` (as :func:`load`), running those not yet finished under
    ``out`` on :func:`shared_client`'s cluster first: the sweep's Parquet dataset is the cache.

    Raises :class:`SweepFailed` naming each failed task and its error (its error row stays
    under ``out``, and the next call tries it again).
    """
    out = Path(out)
    tasks = _tasks(spec)
    if not all(_finished(out, t) for t in tasks):  # a finished sweep needs no cluster
        result = sweep(spec, out, client=shared_client(), progress=progress)
        if result.failed:
            raise SweepFailed("; ".join(f"{task}: {error}" for task, error in result.failed))
    return load(out, spec)


def measure_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Sweep rows in the columns of :func:`npmk.measure` (``lam``, and ``error`` the fit's refusal),
    integer columns as int64 where they hold no null, else as Python ints and None (as measure gives them)."""
    from npmk._measure import COLUMNS

    df = rows.rename(columns={"lambda": "lam", "error": "task_error"}).rename(columns={"fit_error": "error"})
    df = df[COLUMNS].reset_index(drop=True)
    for col in df.columns:
        if isinstance(df[col].dtype, pd.Int64Dtype):
            df[col] = df[col].astype("int64") if df[col].notna().all() else df[col].astype(object).where(
                df[col].notna(), None)
    return df


# --- command line ---------------------------------------------------------------------------------


def cli(argv: list[str]) -> int:
    """``npmk sweep SOURCE... [--revisions REV...] [--by ...] --out DIR [--workers N | --scheduler ADDRESS]``."""
    parser = argparse.ArgumentParser(
        prog="npmk sweep",
        description="Weibull (k, lambda) of many checkpoints on a Dask cluster, into a Parquet dataset.\n"
        "Each (source, revision, by) is one task; its rows land in OUT/part-<key>.parquet when it\n"
        "finishes. Rerunning skips finished tasks and retries failed ones. pandas.read_parquet(OUT)\n"
        "reads the rows (columns source, revision, commit, k, lambda, n, dtype, trim, npmk_version,\n"
        "error -- empty when the task succeeded -- and the rest of npmk measure's).",
        epilog="examples:\n"
        "  npmk sweep EleutherAI/pythia-70m --revisions pythia --out sweeps/p70m     (all 154 checkpoints)\n"
        "  npmk sweep EleutherAI/pythia-70m --revisions step0 step1000 --by pooled kind --out DIR\n"
        "  npmk sweep --spec sweep.yaml --out DIR --scheduler tcp://10.0.0.1:8786\n"
        "  npmk sweep models/a models/b --out DIR --workers 2\n\n"
        "Exit status: 0 when every task succeeded, 1 when some failed (their rows carry the error),\n"
        "2 for a bad command line or spec, or a scheduler that cannot be reached.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", nargs="*", help="Hub ids or local checkpoint paths (or give --spec)")
    parser.add_argument("--spec", type=Path, help="YAML spec file (see npmk.sweep.Spec.from_yaml) instead of sources")
    parser.add_argument("--revisions", nargs="+", default=None,
                        help="Hub revisions for every source; 'pythia' = the 154 Pythia checkpoints step0..step143000")
    parser.add_argument("--by", nargs="+", choices=BY, default=["pooled"],
                        help="rows per checkpoint: pooled (default), kind, tensor, class, layer; several allowed")
    parser.add_argument("--trim", type=float, default=0.8, help="body fraction fitted, in (0, 1] (default 0.8)")
    parser.add_argument("--spectral", action="store_true",
                        help="add spectral statistics (alpha, stable/effective rank, spectral norm; row medians)")
    parser.add_argument("--drift", action="store_true",
                        help="add cosine and relative change to each source's previous revision (row medians; "
                        "null at its first)")
    parser.add_argument("--family", default=None, help="skeleton rule table when config.json cannot tell")
    parser.add_argument("--subsample", type=int, default=None,
                        help="fit this many magnitudes drawn per row (NPM-K: 10000000); default: all values")
    parser.add_argument("--seed", type=int, default=42, help="seed of --subsample (default 42)")
    parser.add_argument("--out", type=Path, required=True, help="directory of the Parquet dataset")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, help="local cluster of N worker processes (default: cores)")
    where.add_argument("--scheduler", default=None, help="address of a running Dask scheduler, e.g. tcp://host:8786")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    args = parser.parse_args(argv[1:])
    if bool(args.source) == bool(args.spec):
        parser.error("give SOURCE... or --spec FILE (one of them)")
    try:
        if args.spec:
            spec = Spec.from_yaml(args.spec)
        else:
            spec = Spec.grid(args.source, args.revisions, by=tuple(args.by), trim=args.trim,
                             spectral=args.spectral, family=args.family, subsample=args.subsample, seed=args.seed,
                             drift=args.drift)
        if args.workers is not None and args.workers < 1:
            raise ValueError(f"--workers must be a positive integer, got {args.workers}")
    except ValueError as exc:
        print(f"npmk sweep: error: {exc}", file=sys.stderr)
        return 2
    try:
        result = sweep(spec, args.out, workers=args.workers, scheduler=args.scheduler, progress=not args.no_progress)
    except (OSError, TimeoutError) as exc:  # no scheduler at that address, or --out not writable
        print(f"npmk sweep: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    rate = result.bytes / result.seconds / 2**20 if result.seconds else math.nan
    print(f"npmk sweep: {result.tasks} tasks: {result.skipped} already done, {result.ran} run, "
          f"{len(result.failed)} failed; {result.bytes / 2**30:.2f} GiB read in {result.seconds:.1f} s "
          f"({rate:.0f} MiB/s); rows in {result.out}", file=sys.stderr)
    for task, error in result.failed:
        print(f"  failed: {task}: {error}", file=sys.stderr)
    return 1 if result.failed else 0
