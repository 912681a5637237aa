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
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from npmk.runconfig import RunConfig
from npmk.runs import Run, get_run
from npmk.spectra import drift, spectra
from npmk.weibull import fit as weibull_fit

__all__ = ["STATISTICS", "CLASSES", "weight_statistics", "run_statistics"]

STATISTICS = ("spectral_norm", "stable_rank", "effective_rank", "alpha", "cosine", "rel_change",
              "weibull_k", "weibull_lam")
CLASSES = ("Transmission", "Selection")
_MEDIANS = ("spectral_norm", "stable_rank", "effective_rank", "alpha", "cosine", "rel_change")


def _groups(per_matrix: pd.DataFrame, layers: bool) -> dict[str, list[str]]:
    """Group name → matrix names: each class, and each block's Selection matrices if ``layers``."""
    out = {cls: list(per_matrix.loc[per_matrix.cls == cls, "name"]) for cls in CLASSES}
    if layers:
        sel = per_matrix[(per_matrix.cls == "Selection") & per_matrix.layer.notna()]
        for layer, g in sel.groupby("layer", sort=True):
            out[f"Selection L{int(layer)}"] = list(g["name"])
    return {k: v for k, v in out.items() if v}


def weight_statistics(snapshots: Iterable[tuple[int, Mapping[str, torch.Tensor]]], *, family: str,
                      layers: bool = True, progress: bool = False) -> pd.DataFrame:
    """Every statistic of the module docstring at every snapshot, in long form.

    ``snapshots`` yields (step, state dict) in increasing step order, loaded lazily
    if it is a generator (only the previous snapshot's skeleton matrices are kept);
    ``family`` is the transformers model_type of the skeleton rules.  Returns columns
    step, group, statistic, value (one row per step × group × statistic).  Raises
    ValueError when steps do not increase or a snapshot has no Transmission or
    Selection matrix.
    """
    rows, prev, prev_step = [], None, None
    for step, weights in tqdm(snapshots, desc="weight statistics", disable=not progress):
        step = int(step)
        if prev_step is not None and step <= prev_step:
            raise ValueError(f"weight_statistics: steps must increase, got {step} after {prev_step}")
        per = spectra(weights, family=family, progress=False)
        chosen = {n: weights[n] for n in per["name"]}
        if prev is None:
            per["cosine"], per["rel_change"] = np.nan, np.nan
        else:
            per = per.merge(drift(prev, chosen), on="name", how="left")
            decades = math.log10(step / prev_step) if prev_step >= 1 else np.nan
            per["rel_change"] = per["rel_change"] / decades
        groups = _groups(per, layers)
        if not groups:
            raise ValueError(f"weight_statistics: the snapshot at step {step} has no Transmission or Selection "
                             f"matrix of the {family} skeleton (names: {list(per['name'])[:5]} ...)")
        for group, names in groups.items():
            g = per[per.name.isin(names)]
            rows += [(step, group, s, float(g[s].median())) for s in _MEDIANS]
            mags = torch.cat([chosen[n].detach().abs().flatten() for n in names]).double().numpy()
            wf = weibull_fit(mags, name=f"{group} at step {step}")
            rows += [(step, group, "weibull_k", wf.k), (step, group, "weibull_lam", wf.lam)]
        prev, prev_step = {n: t.detach().clone() for n, t in chosen.items()}, step
    if prev is None:
        raise ValueError("weight_statistics: no snapshots given")
    return pd.DataFrame(rows, columns=["step", "group", "statistic", "value"])


def run_statistics(cfg: RunConfig) -> tuple[Run, pd.DataFrame]:
    """The run for ``cfg`` (trained, resumed or reused by :func:`npmk.runs.get_run`) and
    :func:`weight_statistics` of all its snapshots.  One picklable call, so a process
    pool can train and measure several configs at once.

    The statistics run on one torch thread, as training does: on matrices this small,
    extra threads only spin — measured 5x more CPU time on 2 shared cores.
    """
    run = get_run(cfg, progress=False)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        snaps = ((s, run.snapshot(s)) for s in run.snapshot_steps)
        return run, weight_statistics(snaps, family=run.family)
    finally:
        torch.set_num_threads(before)
