"""Weight statistics of a checkpoint series, per component class and per attention layer.

For each snapshot (step, weights) of a run, and each *group* of skeleton matrices:

* ``Transmission`` and ``Selection`` — the component classes of
  :func:`npmk.skeleton.classify` (attention output + MLP; query/key projections,
  GPT-NeoX's merged qkv);
* ``Selection L<i>`` — the Selection matrices of block i alone, because the
  attention heads of a particular layer are where a circuit such as an induction
  head (previous-token head in one layer, copying head in the next) would form;

the statistics (columns ``statistic``, ``value``) are

======================  =====================================================================
spectral_norm           σ₁ of each matrix, median over the group
stable_rank             ‖W‖²_F / σ₁², median over the group
effective_rank          exp(H(σ/Σσ)) (Roy & Vetterli 2007), median over the group
alpha                   power-law exponent of the ESD tail of WᵀW (:func:`npmk.spectra.fit_powerlaw`), median
cosine                  ⟨W_s, W_t⟩ / (‖W_s‖_F‖W_t‖_F) to the previous snapshot s, median (NaN at the first)
rel_change              ‖W_t − W_s‖_F / ‖W_s‖_F / log10(t/s): relative change per decade of steps,
                        median (NaN at the first snapshot and after step 0, where log10 is undefined)
weibull_k, weibull_lam  Weibull shape and scale of the pooled |w| of the group (:func:`npmk.weibull.fit`,
                        middle-80 % probability-plot OLS)
======================  =====================================================================

Spectral statistics are per matrix and then a median because matrices of one
group differ in shape (a median of ranks of 128×512 and 128×128 matrices is a
typical matrix's rank); the Weibull fit pools magnitudes because that is how the
book measures k and λ everywhere else.

Two routes lead to the same aggregation, :func:`group_statistics`, which turns
per-matrix rows and pooled fits into the long table:

* in memory (:func:`weight_statistics`, :func:`run_statistics`): a lab run's
  snapshots, per-matrix rows from :func:`npmk.spectra.snapshot_spectra`, pooled
  fits from :func:`npmk.snapshots.weight_fits`;
* from a checkpoint sweep (:func:`hub_statistics`): Hub checkpoints measured by
  :mod:`npmk.sweep` tasks (by tensor with the spectral and drift columns; by class
  and by layer for the pooled fits), read back from its Parquet rows
  (:func:`sweep_statistics`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from npmk.runconfig import RunConfig
from npmk.runs import Run, get_run
from npmk.skeleton import classify
from npmk.snapshots import weight_fits
from npmk.spectra import snapshot_spectra

if TYPE_CHECKING:
    from npmk.sweep import Spec

__all__ = ["STATISTICS", "CLASSES", "group_statistics", "weight_statistics", "run_statistics", "sweep_specs",
           "sweep_statistics", "hub_statistics"]

STATISTICS = ("spectral_norm", "stable_rank", "effective_rank", "alpha", "cosine", "rel_change",
              "weibull_k", "weibull_lam")
CLASSES = ("Transmission", "Selection")
_MEDIANS = ("spectral_norm", "stable_rank", "effective_rank", "alpha", "cosine", "rel_change")
_LONG = ["step", "group", "statistic", "value"]


def _groups(per_matrix: pd.DataFrame, layers: bool) -> dict[str, list[str]]:
    """Group name → matrix names: each class, and each block's Selection matrices if ``layers``."""
    out = {cls: list(per_matrix.loc[per_matrix.cls == cls, "name"]) for cls in CLASSES}
    if layers:
        sel = per_matrix[(per_matrix.cls == "Selection") & per_matrix.layer.notna()]
        for layer, g in sel.groupby("layer", sort=True):
            out[f"Selection L{int(layer)}"] = list(g["name"])
    return {k: v for k, v in out.items() if v}


def _fit_of(fits: pd.DataFrame, step: int, group: str) -> pd.Series:
    """The pooled fit of ``group`` at ``step``: a class row, or the Selection layer row of "Selection L<i>"."""
    at = fits[fits.step == step]
    if " L" in group:
        cls, layer = group.split(" L")
        row = at[(at.level == "layer") & (at.cls == cls) & (at.layer == int(layer))]
    else:
        row = at[(at.level == "class") & (at.cls == group)]
    if len(row) != 1:
        raise ValueError(f"group_statistics: {len(row)} pooled fits of {group} at step {step}, expected one")
    return row.iloc[0]


def group_statistics(per_matrix: pd.DataFrame, fits: pd.DataFrame, *, layers: bool = True) -> pd.DataFrame:
    """The long table of the module docstring from per-matrix rows and pooled fits.

    ``per_matrix``: one row per skeleton matrix and step, columns step, name, cls,
    layer, spectral_norm, stable_rank, effective_rank, alpha, cosine and rel_change
    = ‖W_t − W_s‖_F / ‖W_s‖_F to the previous step s of the table (NaN at the first);
    it is divided here by log10(t/s), so the value is per decade of steps (NaN after
    step 0).  ``fits``: pooled Weibull fits, columns step, level ("class" or
    "layer"), cls, layer, k, lam (the layout of :func:`npmk.snapshots.weight_fits`).
    Returns columns step, group, statistic, value, steps ascending, groups in the
    order Transmission, Selection, Selection L0, L1, ….  Raises ValueError when a
    step has no Transmission or Selection matrix or a group's pooled fit is missing.
    """
    rows, prev_step = [], None
    for step, per in per_matrix.groupby("step", sort=True):
        step = int(step)
        per = per.copy()
        decades = math.log10(step / prev_step) if prev_step is not None and prev_step >= 1 else np.nan
        per["rel_change"] = per["rel_change"] / decades
        groups = _groups(per, layers)
        if not groups:
            raise ValueError(f"the snapshot at step {step} has no Transmission or Selection matrix "
                             f"(names: {list(per['name'])[:5]} ...)")
        for group, names in groups.items():
            g = per[per.name.isin(names)]
            rows += [(step, group, s, float(g[s].median())) for s in _MEDIANS]
            fit = _fit_of(fits, step, group)
            rows += [(step, group, "weibull_k", float(fit.k)), (step, group, "weibull_lam", float(fit.lam))]
        prev_step = step
    return pd.DataFrame(rows, columns=_LONG)


def _pooled_fits(step: int, weights: Mapping[str, torch.Tensor], family: str, layers: bool) -> pd.DataFrame:
    """Pooled fits of the groups (:func:`npmk.snapshots.weight_fits`): each class present, and each
    block's Selection matrices if ``layers``.  Raises ValueError when neither class is present."""
    matrices = {n: t for n, t in weights.items() if t.ndim == 2}
    if not any(classify(n, tuple(t.shape), family).cls in CLASSES for n, t in matrices.items()):
        raise ValueError(f"weight_statistics: the snapshot at step {step} has no Transmission or Selection "
                         f"matrix of the {family} skeleton (names: {list(weights)[:5]} ...)")
    fits = weight_fits(matrices, family, classes=CLASSES, levels=("class",))
    if layers and (fits.cls == "Selection").any():
        fits = pd.concat([fits, weight_fits(matrices, family, classes=("Selection",), levels=("layer",))],
                         ignore_index=True)
    return fits.assign(step=step)


def weight_statistics(snapshots: Iterable[tuple[int, Mapping[str, torch.Tensor]]], *, family: str,
                      layers: bool = True, progress: bool = False) -> pd.DataFrame:
    """Every statistic of the module docstring at every snapshot, in long form.

    ``snapshots`` yields (step, state dict) in increasing step order, loaded lazily
    if it is a generator (only the previous snapshot's skeleton matrices are kept);
    ``family`` is the transformers model_type of the skeleton rules.  Per-matrix rows
    come from :func:`npmk.spectra.snapshot_spectra`, pooled fits from
    :func:`npmk.snapshots.weight_fits`, the table from :func:`group_statistics`
    (columns step, group, statistic, value).  Raises ValueError when steps do not
    increase or a snapshot has no Transmission or Selection matrix.
    """
    fits = []

    def fitted():  # the pooled fits of each snapshot as it passes, so each is read once
        prev_step = None
        for step, weights in snapshots:
            step = int(step)
            if prev_step is not None and step <= prev_step:
                raise ValueError(f"weight_statistics: steps must increase, got {step} after {prev_step}")
            fits.append(_pooled_fits(step, weights, family, layers))
            prev_step = step
            yield step, weights

    per_matrix = snapshot_spectra(fitted(), family=family, progress=progress)
    return group_statistics(per_matrix, pd.concat(fits, ignore_index=True), layers=layers)


def run_statistics(cfg: RunConfig) -> tuple[Run, pd.DataFrame]:
    """The run for ``cfg`` (trained, resumed or reused by :func:`npmk.runs.get_run`) and
    :func:`weight_statistics` of all its snapshots.  One picklable call, so a process
    pool can train and measure several configs at once.

    The statistics run on one torch thread, as training does: on matrices this small,
    extra threads only spin — measured 5x more CPU time on 2 shared cores. They are
    kept beside the run as ``statistics/<key>.parquet``, the key a hash of the code that
    computes them (``npmk._codehash.code_hash``), so a rerun reads them and a code
    change recomputes them.
    """
    from npmk._codehash import MEASURING, code_hash
    from npmk._files import write_atomic

    run = get_run(cfg, progress=False)
    path = run.dir / "statistics" / f"{code_hash((*MEASURING, 'npmk.snapshots', 'npmk.runstats'))[:16]}.parquet"
    if path.is_file():
        return run, pd.read_parquet(path)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        snaps = ((s, run.snapshot(s)) for s in run.snapshot_steps)
        stats = weight_statistics(snaps, family=run.family)
    finally:
        torch.set_num_threads(before)
    write_atomic(path, stats.to_parquet(index=False))
    return run, stats


# --- Hub checkpoint series, through npmk.sweep ------------------------------------------------------


def sweep_specs(source: str, steps: Sequence[int], *, layers: bool = True, trim: float = 0.8) -> list[Spec]:
    """The :class:`npmk.sweep.Spec` s whose rows :func:`sweep_statistics` reads, for ``source``
    (a Hub id) at revisions ``step<N>`` of ``steps`` (ascending: the drift of each checkpoint
    is measured from the one listed before it).

    One spec measures every matrix (by tensor) with its spectral statistics and drift;
    the other fits the pooled classes (and blocks, if ``layers``).
    """
    from npmk.sweep import Spec

    steps = [int(s) for s in steps]
    if not steps or any(b <= a for a, b in zip(steps, steps[1:])):
        raise ValueError(f"sweep_specs: steps of {source} must be given and increase, got {steps}")
    pairs = tuple((source, f"step{s}") for s in steps)
    return [Spec(pairs=pairs, by=("tensor",), trim=trim, spectral=True, drift=True),
            Spec(pairs=pairs, by=("class", "layer") if layers else ("class",), trim=trim)]


def sweep_statistics(rows: pd.DataFrame, *, layers: bool = True) -> pd.DataFrame:
    """:func:`group_statistics` of one source's rows from the :func:`sweep_specs` sweep.

    ``rows``: :func:`npmk.sweep.load` rows of one source, revisions ``step<N>``.
    Raises ValueError naming the failed tasks if any row holds an error (a rerun of
    the sweep retries them).
    """
    failed = rows[rows.error != ""]
    if len(failed):
        detail = "; ".join(f"{r.source}@{r.revision} by {r.by}: {r.error}" for r in failed.head(3).itertuples())
        raise ValueError(f"sweep_statistics: {len(failed)} task(s) failed: {detail}")
    if rows.source.nunique() != 1:
        raise ValueError(f"sweep_statistics: rows of one source expected, got {sorted(rows.source.unique())}")
    rows = rows.assign(step=rows.revision.str.removeprefix("step").astype(int))
    per = rows[rows.by == "tensor"].astype({"layer": "float64"})
    fits = rows[rows.by.isin(["class", "layer"])].rename(columns={"by": "level", "lambda": "lam"})
    return group_statistics(per, fits.astype({"layer": "float64"}), layers=layers)


def hub_statistics(series: Mapping[str, tuple[str, Sequence[int]]], out: str | os.PathLike, *,
                   layers: bool = True, trim: float = 0.8, progress: bool = False) -> pd.DataFrame:
    """Every statistic of the module docstring for checkpoint series on the Hub, through :mod:`npmk.sweep`.

    ``series``: model label → (Hub id, ascending steps), each step the revision
    ``step<N>`` (Pythia's naming).  The tasks of :func:`sweep_specs` run with
    :func:`npmk.sweep.cached` (the process's shared Dask cluster, or the scheduler of
    :func:`npmk.sweep.use_scheduler` / ``$NPMK_SCHEDULER``) into the Parquet dataset
    ``out``; a rerun measures only what is missing.  Returns columns model, group,
    statistic, step, value.  Raises :class:`npmk.sweep.SweepFailed` naming the tasks
    that failed (a Hub revision that cannot be had, say).
    """
    from npmk import sweep

    frames = []
    for model, (source, steps) in series.items():
        rows = pd.concat([sweep.cached(spec, out, progress=progress)
                          for spec in sweep_specs(source, steps, layers=layers, trim=trim)], ignore_index=True)
        frames.append(sweep_statistics(rows, layers=layers).assign(model=model))
    columns = ["model", "group", "statistic", "step", "value"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
