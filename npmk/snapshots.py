"""Weibull fits of a lab run's snapshots: one long table, per tensor, per layer and per class.

Every chapter that follows k or λ through training reads this table
(:func:`snapshot_fits`; :func:`weight_fits` for one set of weights from
elsewhere, such as a Hub checkpoint); the pooled fits are the papers' aggregate values.

Levels, for the skeleton matrices of the chosen component classes at each
snapshot step:

* ``tensor`` — one row per matrix, from :func:`npmk.measure` (by tensor);
* ``layer``  — one fit to the pooled |w| of a class's matrices in one block;
* ``class``  — one fit to the pooled |w| of the whole class (paper 003's aggregate λ).

Columns: step, level, name (tensor name, ``"<cls>/L<layer>"`` or the class),
kind (tensor rows only), cls, layer (block index; None for the class row and
tensors outside blocks), k, lam (weight units), rms = √(w2/n) (weight units),
w2 = ‖W‖² = Σw² over the population, n (number of weights).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from npmk.skeleton import classify
from npmk.weibull import fit

__all__ = ["LEVELS", "COLUMNS", "weight_fits", "snapshot_fits", "class_lambda"]

LEVELS = ("tensor", "layer", "class")
COLUMNS = ["step", "level", "name", "kind", "cls", "layer", "k", "lam", "rms", "w2", "n"]


def _pooled(snap: Mapping[str, Any], names: list[str], trim: float, label: str) -> dict[str, Any]:
    """Fit of the pooled |w| of ``names``; float64 sums for ‖W‖²."""
    w = np.concatenate([snap[n].detach().double().reshape(-1).numpy() for n in names])
    res = fit(np.abs(w), trim=trim, name=label)
    w2 = float(w @ w)
    return {"k": res.k, "lam": res.lam, "rms": math.sqrt(w2 / w.size), "w2": w2, "n": int(w.size)}


def weight_fits(
    weights: Mapping[str, Any],
    family: str,
    *,
    classes: tuple[str, ...] = ("Transmission",),
    levels: tuple[str, ...] = LEVELS,
    trim: float = 0.8,
) -> pd.DataFrame:
    """Weibull (k, λ) of one set of weights (name → tensor) at the chosen ``levels``.

    The table of :func:`snapshot_fits` for a single snapshot, without the step
    column: for weights that come from elsewhere than a lab run (a Hub
    checkpoint, a state dict).  ``family`` names the :mod:`npmk.skeleton` rules.
    """
    unknown = sorted(set(levels) - set(LEVELS))
    if unknown or not levels:
        raise ValueError(f"levels must be a non-empty subset of {LEVELS}, got {levels!r}")
    decisions = {name: classify(name, tuple(t.shape), family) for name, t in weights.items()}
    members = {name: d for name, d in decisions.items() if d.include and d.cls in classes}
    if not members:
        raise ValueError(f"no {family} matrices of classes {classes} among {len(weights)} tensors")
    rows: list[dict[str, Any]] = []
    if "tensor" in levels:
        # the engine pulls in the checkpoint readers; only the tensor level needs it
        from npmk._measure import measure

        per = measure({n: weights[n] for n in members}, family=family, by="tensor", trim=trim, progress=False)
        for r in per.itertuples():
            w = weights[r.name].detach().double().reshape(-1).numpy()
            rows.append(dict(level="tensor", name=r.name, kind=r.kind, cls=r.cls, layer=members[r.name].layer,
                             k=r.k, lam=r.lam, rms=r.rms, w2=float(w @ w), n=int(r.n)))
    for cls in classes:
        names = [n for n, d in members.items() if d.cls == cls]
        if not names:
            continue
        if "layer" in levels:
            for layer in sorted({members[n].layer for n in names} - {None}):
                label = f"{cls}/L{layer}"
                in_layer = [n for n in names if members[n].layer == layer]
                rows.append(dict(level="layer", name=label, kind=None, cls=cls, layer=layer,
                                 **_pooled(weights, in_layer, trim, label)))
        if "class" in levels:
            rows.append(dict(level="class", name=cls, kind=None, cls=cls, layer=None,
                             **_pooled(weights, names, trim, f"{cls} class")))
    return pd.DataFrame(rows, columns=COLUMNS[1:])


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

    ``run``: a :class:`npmk.runs.Run` (anything with ``family``, ``snapshot_steps``
    and ``snapshot(step)``); ``steps``: default every snapshot (see
    :meth:`npmk.runs.Run.thinned_steps` for fewer); ``classes``: component
    classes of :mod:`npmk.skeleton` to fit (matrices of other classes are not
    read into a fit); ``trim``: the body fraction of the middle-quantile fit.
    One snapshot's rows are :func:`weight_fits` of it.
    """
    steps = list(run.snapshot_steps if steps is None else steps)
    frames = []
    for step in tqdm(steps, desc="snapshot fits", disable=not progress, leave=False):
        try:
            fits = weight_fits(run.snapshot(step), run.family, classes=classes, levels=levels, trim=trim)
        except ValueError as exc:
            raise ValueError(f"snapshot {step} of {run.dir}: {exc}") from None
        frames.append(fits.assign(step=step))
    if not frames:
        raise ValueError(f"snapshot_fits: no steps given for {run.dir}")
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def class_lambda(run: Any, cls: str = "Transmission", trim: float = 0.8) -> pd.DataFrame:
    """Pooled λ (weight units) of one component class at every snapshot after step 0.

    Columns step and lam, in step order: the series that
    :func:`npmk.lambda_phases.peak_summary` and the λ-phase rule read.  Step 0
    is left out because a log-step axis cannot show it.
    """
    fits = snapshot_fits(run, classes=(cls,), levels=("class",), trim=trim)
    return fits[fits.step > 0].sort_values("step")[["step", "lam"]]
