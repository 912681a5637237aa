"""Training runs as shared products: a spec in, a finished run directory out, made once and reused.

Usage::

    from npmk.runs import RunConfig, get_run
    run = get_run(RunConfig.from_spec({"preset": "base", "arch": "pythia", "seed": 0}))
    run.forces      # step, group, align, inject, decay, h1, h2, w2, rms, lr, delta_w2
    run.probes      # step, tokens, val_loss, copy_acc, copy_loss
    run.snapshot(run.snapshot_steps[-1])   # {param name: tensor}

Presets, the step convention and the schedules: :mod:`npmk.runconfig`; the
training loop: :mod:`npmk.train`.  Dependencies run one way: runconfig ←
train ← runs.

Run directory (all files written atomically, :mod:`npmk._files`)::

    config.json      the resolved RunConfig (every field filled) + "data" (corpus hash, sizes)
    forces.parquet   a row per logged step × group (see npmk.forces.frame)
    probes.parquet   a row per snapshot: validation loss and the in-context copying score
    snapshots/step_0000000.safetensors …   every parameter, float32, at each snapshot step
    manifest.json    status ("running" | "complete"), files with sha256, timings, versions
    checkpoint.pt    resume state while running; deleted when the run completes

Runs are keyed by the sha256 of config.json's content (which includes the
corpus content hash), under ``$NPMK_CACHE/runs/<key[:16]>`` (default
``~/.cache/npmk/runs``), so every chapter asking for the same config shares one
run.  A lock file serialises concurrent ``get_run`` calls on one directory.

Forces groups: each skeleton matrix by parameter name, ``class:Transmission``
(o + FFN), ``class:Selection`` (q, k, merged qkv), ``class:other`` (v, embed,
head) and ``all`` (norm gains and biases are trained and decayed but not
logged); −align + inject − decay + h1 + h2 equals ``delta_w2`` =
‖W_{t+1}‖² − ‖W_t‖² up to the float32 rounding of the update.  The column
``align`` shadows ``DataFrame.align``: read it as ``run.forces["align"]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import typing
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file
from transformers import PretrainedConfig

from npmk.data import cache_dir
from npmk.models import FAMILY, build, model_config
from npmk.runconfig import PRESETS, RunConfig, RunConfigMismatch, config_key, config_record
from npmk.train import prepare, train

__all__ = ["RunConfig", "RunConfigMismatch", "PRESETS", "Run", "get_run", "load_run", "runs_dir", "cli"]


def runs_dir() -> Path:
    """Where :func:`get_run` keeps runs: ``$NPMK_CACHE/runs`` (default ``~/.cache/npmk/runs``)."""
    return cache_dir() / "runs"


@dataclass
class Run:
    """A finished run directory (see the module docstring)."""

    dir: Path
    config: RunConfig
    data: dict[str, Any]
    manifest: dict[str, Any] = field(repr=False)

    @property
    def family(self) -> str:
        """The transformers model_type: "gpt_neox" or "llama"."""
        return FAMILY[self.config.arch]

    @property
    def model_config(self) -> PretrainedConfig:
        """The transformers config of the run's model (architecture, size, vocabulary, context)."""
        return model_config(self.config.arch, self.config.size, self.data["vocab_size"], self.config.seq_len)

    @cached_property
    def forces(self) -> pd.DataFrame:
        return pd.read_parquet(self.dir / "forces.parquet")

    @cached_property
    def probes(self) -> pd.DataFrame:
        return pd.read_parquet(self.dir / "probes.parquet")

    @property
    def snapshot_steps(self) -> list[int]:
        return list(self.manifest["snapshot_steps"])

    def thinned_steps(self, n: int, *, spacing: str = "log", keep_zero: bool = True) -> list[int]:
        """At most ``n`` snapshot steps, spread evenly in log(index + 1) or linearly, always with the last.

        ``spacing="log"`` takes the steps at indices round(geomspace(1, m, n)) − 1
        of the m candidates (dense early, where k and λ move fastest);
        ``"linear"`` at indices ⌊linspace(0, m − 1, n)⌋.  Either way the first
        candidate is kept, so ``keep_zero`` (step 0, the initialisation) decides
        whether it is a candidate.  Fewer than ``n`` candidates: all of them.
        """
        if n < 1:
            raise ValueError(f"thinned_steps needs n ≥ 1, got {n}")
        if spacing not in {"log", "linear"}:
            raise ValueError(f"spacing must be 'log' or 'linear', got {spacing!r}")
        steps = [s for s in self.snapshot_steps if keep_zero or s > 0]
        if len(steps) <= n:
            return steps
        if spacing == "log":
            idx = np.round(np.geomspace(1, len(steps), n)).astype(int) - 1
        else:
            idx = np.linspace(0, len(steps) - 1, n).astype(int)
        return [steps[i] for i in np.unique(idx)]

    def snapshot_path(self, step: int) -> Path:
        if step not in self.manifest["snapshot_steps"]:
            raise KeyError(f"run {self.dir} has no snapshot at step {step}; steps: {self.snapshot_steps}")
        return self.dir / "snapshots" / f"step_{step:07d}.safetensors"

    def snapshot(self, step: int) -> dict[str, torch.Tensor]:
        """All parameters (name → float32 tensor) after ``step`` optimizer updates."""
        return load_file(self.snapshot_path(step))

    def model(self, step: int):
        """The transformers model with the weights of snapshot ``step``."""
        m = build(self.config.arch, self.config.size, self.data["vocab_size"], self.config.seq_len, self.config.seed)
        m.load_state_dict(self.snapshot(step))
        return m


def load_run(path: str | os.PathLike) -> Run:
    """Open a finished run directory; raises if it is missing or unfinished."""
    d = Path(path).expanduser()
    man_path = d / "manifest.json"
    if not man_path.exists():
        raise FileNotFoundError(f"{d} is not a run directory (no manifest.json)")
    manifest = json.loads(man_path.read_text())
    if manifest.get("status") != "complete":
        raise RuntimeError(f"run {d} is not finished (status {manifest.get('status')!r}); rerun it to resume")
    record = json.loads((d / "config.json").read_text())
    data = record.pop("data")
    return Run(dir=d, config=RunConfig(**record), data=data, manifest=manifest)


def get_run(cfg: RunConfig, *, progress: bool = True) -> Run:
    """The run for ``cfg`` from the shared cache: trained if absent, resumed if unfinished,
    reused if finished.  Keyed by the resolved config (corpus hash included)."""
    resolved, corpus = prepare(cfg)
    key = config_key(config_record(resolved, corpus.describe()))
    return load_run(train(resolved, runs_dir() / key[:16], progress=progress))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="npmk train",
                                description="Train a small GPT-NeoX / LLaMA with AdamW force logging.")
    p.add_argument("--preset", choices=tuple(PRESETS), default=None,
                   help="named recipe of npmk.runconfig.PRESETS; the options below override it")
    hints = typing.get_type_hints(RunConfig)
    for f in fields(RunConfig):
        # "int | None" -> int: the CLI parses the non-None member of each field's type
        typ = next(t for t in typing.get_args(hints[f.name]) or (hints[f.name],) if t is not type(None))
        p.add_argument("--" + f.name.replace("_", "-"), type=typ, default=None,
                       help=f"RunConfig.{f.name} (default: {f.default!r}; None = size default)")
    p.add_argument("--out", type=Path, default=None,
                   help="run directory (default: the shared cache $NPMK_CACHE/runs/<config hash>)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: bitwise reproducible across machines)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def cli(argv: list[str]) -> int:
    """Entry point of ``npmk train``: train (or reuse) one run and print its summary."""
    args = _parser().parse_args(argv[1:])
    given = {f.name: getattr(args, f.name) for f in fields(RunConfig) if getattr(args, f.name) is not None}
    try:
        cfg = RunConfig.from_spec({"preset": args.preset, **given}) if args.preset else RunConfig(**given)
        if args.out is None:
            run = get_run(cfg, progress=not args.quiet)
        else:
            run = load_run(train(cfg, args.out, progress=not args.quiet, threads=args.threads))
    except (ValueError, FileNotFoundError) as exc:
        print(f"npmk train: {exc}", file=sys.stderr)
        return 2
    last = run.probes.iloc[-1]
    t = run.manifest["timings"]
    print(f"run {run.dir}: {run.config.steps} steps in {t['train_s']:.1f} s ({t['tokens_per_s']:.0f} tok/s); "
          f"val_loss {last.val_loss:.3f}, copy_acc {last.copy_acc:.3f}")
    return 0
