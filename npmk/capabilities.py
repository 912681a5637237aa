"""Pythia's published capability curves by training step, as one tidy table.

Source: Pythia's zero-shot lm-evaluation-harness results for each checkpoint
(Biderman et al. 2023), registry keys
``pythia/evals/pythia-v1/pythia-<size>/zero-shot/<size>_step<N>.json`` holding
``results`` (task → metric → value, with ``<metric>_stderr`` beside each),
``versions`` and ``config``; out come the columns model, step, task, metric,
value, stderr.  (The lab's own capability, the copying probe, is a column of
:attr:`npmk.runs.Run.probes`.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from npmk import data

__all__ = ["PYTHIA_SIZES", "PYTHIA_TASKS", "pythia_eval_keys", "pythia_evals"]

#: sizes with zero-shot evals at every checkpoint; the 1B model is only evaluated deduplicated
PYTHIA_SIZES = ("70m", "160m", "410m", "1b-deduped", "1.4b")
#: task → metrics read by default (acc is accuracy in [0, 1]; ppl is perplexity)
PYTHIA_TASKS: dict[str, tuple[str, ...]] = {
    "lambada_openai": ("acc", "ppl"),
    "piqa": ("acc",),
    "arc_easy": ("acc",),
    "arc_challenge": ("acc",),
    "sciq": ("acc",),
    "winogrande": ("acc",),
}
COLUMNS = ["model", "step", "task", "metric", "value", "stderr"]

_STEP = re.compile(r"_step(\d+)\.json$")


def pythia_eval_keys(size: str) -> dict[int, str]:
    """Registry keys of the zero-shot eval files of ``pythia-<size>``, by step."""
    prefix = f"pythia/evals/pythia-v1/pythia-{size}/zero-shot/{size}_step"
    found = {int(_STEP.search(k).group(1)): k for k in data.keys(prefix)}
    if not found:
        raise KeyError(f"no zero-shot eval files of pythia-{size} in the registry (prefix {prefix!r})")
    return dict(sorted(found.items()))


def pythia_evals(sizes: Iterable[str] = PYTHIA_SIZES,
                 tasks: dict[str, tuple[str, ...]] | None = None) -> pd.DataFrame:
    """Pythia's published zero-shot evals per checkpoint, tidy.

    One row per (model, step, task, metric); model is ``pythia-<size>``; stderr is
    the harness's bootstrap standard error (NaN where it reports none).  Raises
    :class:`npmk.data.MissingDataError` naming the file when one cannot be fetched,
    and KeyError when a file lacks a requested task or metric.
    """
    tasks = PYTHIA_TASKS if tasks is None else tasks
    rows = []
    for size in sizes:
        for step, key in pythia_eval_keys(size).items():
            results = json.loads(data.fetch(key).read_text())["results"]
            for task, metrics in tasks.items():
                if task not in results:
                    raise KeyError(f"{key}: no results for task {task!r}")
                for metric in metrics:
                    if metric not in results[task]:
                        raise KeyError(f"{key}: task {task!r} has no metric {metric!r}")
                    rows.append((f"pythia-{size}", step, task, metric, float(results[task][metric]),
                                 float(results[task].get(f"{metric}_stderr", np.nan))))
    return pd.DataFrame(rows, columns=COLUMNS)
