"""Weibull fits of a lab run's snapshots: one long table, per tensor, per layer and per class.

Every chapter that follows k or λ through training reads this table
(:func:`snapshot_fits`; :func:`weight_fits` for one set of weights from
elsewhere, such as a Hub checkpoint); the pooled fits are the papers' aggregate values.

Levels, for the skeleton matrices of the chosen component classes at each
snapshot step, each one :func:`npmk.measure` population (``by`` the level's name):

* ``tensor`` — one row per matrix;
* ``layer``  — one fit to the pooled |w| of a class's matrices in one block;
* ``class``  — one fit to the pooled |w| of the whole class (paper 003's aggregate λ).

Columns: step, level, name (tensor name, ``"<cls>/L<layer>"`` or the class),
kind (tensor rows only), cls, layer (block index; None for the class row and
tensors outside blocks), k, lam (weight units), rms = √(w2/n) (weight units),
w2 = ‖W‖² = Σw² over the population (= rms² n), n (number of weights).

A run's snapshot files are measured as :mod:`npmk.sweep` tasks (one per snapshot
and level) on the process's shared Dask cluster; their Parquet dataset, under
``$NPMK_CACHE/sweeps/snapshots/<run>-<key>/`` with a key made of the snapshot
files' sha256 (from the run's manifest) and the measuring code's hash
(:func:`npmk._codehash.code_hash`), is the cache, so a rerun reads the finished
fits back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from npmk.skeleton import classify

__all__ = ["LEVELS", "COLUMNS", "weight_fits", "snapshot_fits", "class_lambda", "sweep_dir"]

LEVELS = ("tensor", "layer", "class")
COLUMNS = ["step", "level", "name", "kind", "cls", "layer", "k", "lam", "rms", "w2", "n"]


def _check_levels(levels: tuple[str, ...]) -> None:
    unknown = sorted(set(levels) - set(LEVELS))
    if unknown or not levels:
        raise ValueError(f"levels must be a non-empty subset of {LEVELS}, got {levels!r}")


def _table(engine: Mapping[str, pd.DataFrame], classes: tuple[str, ...], levels: tuple[str, ...],
           what: str) -> pd.DataFrame:
    """The levels' rows of ``classes`` (columns COLUMNS[1:]) from the engine's rows ``by`` each level.

    Order: the tensor rows in storage order, then per class its layer rows by block and its class row.
    """
    parts = []
    if "tensor" in levels:
        t = engine["tensor"]
        parts.append(t[t.cls.isin(classes)].assign(level="tensor"))
    for cls in classes:
        if "layer" in levels:
            lay = engine["layer"]
            parts.append(lay[(lay.cls == cls) & lay.layer.notna()].sort_values("layer", kind="stable")
                         .assign(level="layer"))
        if "class" in levels:
            c = engine["class"]
            parts.append(c[c.cls == cls].assign(level="class", layer=None))
    df = pd.concat(parts, ignore_index=True)
    if df.empty:
        raise ValueError(f"{what}: no matrices of classes {classes} in its skeleton")
    df["kind"] = df["kind"].where(df.level == "tensor", None).astype("str")  # missing stays missing
    df["w2"] = df["rms"] ** 2 * df["n"]
    df["layer"] = pd.to_numeric(df["layer"]).astype("float64")  # NaN outside the blocks
    return df[COLUMNS[1:]]


def weight_fits(
    weights: Mapping[str, Any],
    family: str,
    *,
    classes: tuple[str, ...] = ("Transmission",),
    levels: tuple[str, ...] = LEVELS,
    trim: float = 0.8,
) -> pd.DataFrame:
    """Weibull (k, λ) of one set of weights (name → tensor) at the chosen ``levels``, in this process.

    The table of :func:`snapshot_fits` for a single snapshot, without the step
    column: for weights that come from elsewhere than a lab run (a Hub
    checkpoint, a state dict).  ``family`` names the :mod:`npmk.skeleton` rules.
    """
    from npmk._measure import measure

    _check_levels(levels)
    names = {n for n, t in weights.items() if classify(n, tuple(t.shape), family).cls in classes}
    if not names:
        raise ValueError(f"no {family} matrices of classes {classes} among {len(weights)} tensors")
    members = {n: t for n, t in weights.items() if n in names}  # other matrices are not read into a fit
    engine = {level: measure(members, family=family, by=level, trim=trim, progress=False) for level in levels}
    return _table(engine, classes, levels, f"{len(weights)} tensors")


def sweep_dir(run: Any) -> Path:
    """The Parquet dataset of ``run``'s snapshot fits, keyed by its files' sha256 and the measuring code."""
    from npmk._codehash import code_hash
    from npmk.data import cache_dir

    files = json.dumps(run.manifest["files"], sort_keys=True)
    key = hashlib.sha256((files + code_hash()).encode()).hexdigest()[:16]
    return cache_dir() / "sweeps" / "snapshots" / f"{Path(run.dir).name}-{key}"


def snapshot_fits(
    run: Any,
    steps: Iterable[int] | None = None,
    *,
    classes: tuple[str, ...] = ("Transmission",),
    levels: tuple[str, ...] = LEVELS,
    trim: float = 0.8,
    progress: bool = False,
) -> pd.DataFrame:
    """Weibull (k, λ) of a run's snapshots at the chosen ``levels`` (module doc for the columns).

    ``run``: a :class:`npmk.runs.Run`, whose snapshot files are measured as cached
    sweep tasks (module doc), or anything else with ``family``, ``snapshot_steps``,
    ``dir`` and ``snapshot(step)`` (weights in memory, measured here by
    :func:`weight_fits`); ``steps``: default every snapshot (see
    :meth:`npmk.runs.Run.thinned_steps` for fewer); ``classes``: component
    classes of :mod:`npmk.skeleton` to fit; ``trim``: the body fraction of the
    middle-quantile fit. One snapshot's rows are :func:`weight_fits` of it.
    """
    _check_levels(levels)
    steps = list(run.snapshot_steps if steps is None else steps)
    if not steps:
        raise ValueError(f"snapshot_fits: no steps given for {run.dir}")
    if hasattr(run, "snapshot_path"):
        return _from_files(run, steps, classes, levels, trim, progress)
    frames = []
    for step in tqdm(steps, desc="snapshot fits", disable=not progress, leave=False):
        try:
            fits = weight_fits(run.snapshot(step), run.family, classes=classes, levels=levels, trim=trim)
        except ValueError as exc:
            raise ValueError(f"snapshot {step} of {run.dir}: {exc}") from None
        frames.append(fits.assign(step=step))
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def _from_files(run: Any, steps: list[int], classes: tuple[str, ...], levels: tuple[str, ...], trim: float,
                progress: bool) -> pd.DataFrame:
    from npmk import sweep

    files = {str(run.snapshot_path(step)): step for step in steps}
    spec = sweep.Spec(pairs=tuple((f, None) for f in files), by=levels, trim=trim, family=run.family)
    rows = sweep.cached(spec, sweep_dir(run), progress=progress)
    frames = []
    for source, step in files.items():
        mine = rows[rows.source == source]
        engine = {level: sweep.measure_frame(mine[mine.by == level]) for level in levels}
        frames.append(_table(engine, classes, levels, f"snapshot {step} of {run.dir}").assign(step=step))
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def class_lambda(run: Any, cls: str = "Transmission", trim: float = 0.8) -> pd.DataFrame:
    """Pooled λ (weight units) of one component class at every snapshot after step 0.

    Columns step and lam, in step order: the series that
    :func:`npmk.lambda_phases.peak_summary` and the λ-phase rule read.  Step 0
    is left out because a log-step axis cannot show it.
    """
    fits = snapshot_fits(run, classes=(cls,), levels=("class",), trim=trim)
    return fits[fits.step > 0].sort_values("step")[["step", "lam"]]
