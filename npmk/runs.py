"""Training runs as shared products: a config in, a run directory out, made once and reused.

Usage::

    from npmk.runs import RunConfig, get_run, load_run
    run = get_run(RunConfig(arch="pythia", size="small"))   # trains, resumes or reuses
    run.forces      # step, group, align, inject, decay, h1, h2, w2, rms, lr, delta_w2
    run.probes      # step, tokens, val_loss, copy_acc, copy_loss
    run.snapshot(run.snapshot_steps[-1])   # {param name: tensor}

Run directory (all files written atomically, temp file + ``os.replace``)::

    config.json      the resolved RunConfig (every field filled) + "data" (corpus hash, sizes)
    forces.parquet   a row per logged step × group (see npmk.forces.frame)
    probes.parquet   a row per snapshot: validation loss and the in-context copying score
    snapshots/step_0000000.safetensors …   every parameter, float32, at each snapshot step
    manifest.json    status ("running" | "complete"), files with sha256, timings, versions
    checkpoint.pt    resume state while running (model, optimizer, RNG, forces so far);
                     deleted when the run completes

Runs are keyed by the sha256 of config.json's content (which includes the
corpus content hash), under ``$NPMK_CACHE/runs/<key[:16]>`` (default
``~/.cache/npmk/runs``), so every chapter asking for the same config shares one
run.  A lock file serialises concurrent ``get_run`` calls on one directory.

Choices (the lab's conventions, for the chapters that read these runs)
---------------------------------------------------------------------
* ``step`` indexes weights as the paper does: W_t = the weights after t
  optimizer updates = snapshot ``t`` (t = 0 is the initialisation).  The forces
  row with ``step`` = t describes the update W_t → W_{t+1} (optimizer update
  number t+1), with ``lr`` = η_t, the learning rate that update used; so rows
  run from 0 to steps−1.  ``delta_w2`` is the measured ‖W_{t+1}‖² − ‖W_t‖²
  (float64 sums of the float32 weights); −align + inject − decay + h1 + h2
  equals it up to the float32 rounding of the update (≈1e-7·‖W‖² per step).
* Groups: each skeleton matrix by parameter name (``npmk.skeleton.classify``
  include=True: attention, MLP, embedding, head), ``class:Transmission``
  (o + FFN), ``class:Selection`` (q, k, merged qkv), ``class:other`` (v, embed,
  head) and ``all``.  Norm gains and biases are trained and decayed but not
  logged.
* Schedule: linear warmup over ``warmup`` steps, then cosine to
  ``lr_min_ratio``·η at ``steps``.  AdamW β (0.9, 0.999), ε 1e-8, decoupled
  weight decay on all parameters (``wd_on="all"``, the paper) or on the
  skeleton matrices only (``wd_on="matrices"``).
* Data: the training stream (all but the last ``val_frac`` of the corpus,
  corrupted with rate ``corrupt`` if > 0) is sampled as ``batch`` random windows
  of ``seq_len`` + 1 tokens per step, drawn from ``numpy.random.default_rng([seed,
  step])`` — so the data position is a function of the step and resume needs no
  data-loader state.  A fraction ``repeat_frac`` of the windows (same rng) are
  replaced by the copying task: p random ids from the *copy alphabet*, p ∈ [8,
  ⌈(seq_len+1)/2⌉], tiled to the window ``[a_0 … a_{p−1}, a_0 … a_{p−1}, …]`` —
  only an induction head predicts the repeats (a random period rules out a
  fixed positional shortcut).  The copy alphabet is the ``copy_vocab`` most
  frequent ids of the uncorrupted training split (0 = every id).  The
  validation set is never corrupted nor repeated.
* Probes at every snapshot: ``val_loss`` = mean next-token cross-entropy (nats)
  on ``probe_batch`` evenly spaced validation windows; ``copy_acc`` /
  ``copy_loss`` = top-1 accuracy / cross-entropy on the second half of
  ``probe_batch`` sequences made of ``copy_len`` random ids from the copy
  alphabet, repeated twice (positions predicting the 2nd..last token of the
  repeat; the ids come from a fixed seed, the same for every run, and never
  occur in training, so only in-context copying scores).  Chance accuracy is
  ≈ 1/copy_vocab; a model with an induction head copies.
* Snapshot schedule: steps 0, 1, 2, 4, … ≤ ``snap_log_until``, every
  ``snap_every`` steps, and the last step.  Resume restarts from the last
  snapshot; the run ends bitwise identical to an uninterrupted one on CPU
  (same machine and thread count).

Sizes (``npmk.models.SIZES`` and ``SIZE_DEFAULTS`` below)
* ``tiny``: hidden 32, 2 layers — CI, a few seconds.
* ``small``: hidden 128, 2 layers, 4 heads, FFN 512, BPE vocab 2048, batch
  16 × 128 tokens, on the first 8 MB of the stdlib — the book's default.
* ``pythia-70m``: the paper's config (hidden 512, 6 layers, 8 heads, FFN 2048,
  Pythia tokenizer, batch 24 × 512, η 1e-3, λ 0.01, 20k steps, warmup 200,
  snapshots 1, 2, 4 … 512 then every 1000) — for a GPU.

The default small run's (steps, lr, wd)
---------------------------------------
``small`` = 1000 steps, η = 3e-3, λ_wd = 0.5, warmup 100, batch 8 × 128
tokens (≈1M tokens, about one pass over the first 1M tokens' worth of windows).
Why: the decoupled decay shrinks W by (1 − η_tλ_wd) per step, a time constant
τ = 1/(ηλ_wd) steps, so λ (Weibull scale) can only peak and relax inside a run
of T steps when T/τ = Tηλ_wd ≳ 1.  The paper's λ_wd = 0.01, η = 1e-3 gives
τ = 100k steps (its 20k-step run only rises and saturates); on CPU we have
~1000 steps, so λ_wd is raised until Tηλ_wd = 1.5.  Measured (our own
middle-80% sorted OLS on the pooled Transmission matrices of the default
run, ``get_run(RunConfig(arch="pythia", size="small"))``, stdlib only): λ 0.0177 at init → peak 0.0233 at step 350 → 0.0210 at step 1000, with
k drifting 1.204 → 1.06; the Transmission force budget (shares of |force|)
moves from alignment (0.68, decay 0.28, injection 0.04 over steps 0–100)
through balance at the peak (0.49 / 0.48 over 350–600) to decay (0.38 / 0.60
over 600–1000) — the paper's alignment-to-decay transition, compressed into
1000 steps.  Seed 1: the same peak (0.0233 at 350).
Δ‖W‖² identity residual ≤ 6e-8·‖W‖² (median 6e-5 of |Δ‖W‖²|).  In tuning,
λ_wd = 0.3 with 1500 steps (Tηλ_wd = 1.35, cosine-damped) was still rising at
step 450; λ_wd = 1.0 (Tηλ_wd = 3) peaked at ≈150 and fell below its init value.
LLaMA small with the same settings peaks later and flatter (λ 0.0177 → 0.0287
at step 750 → 0.0285 at 1000).
Time: ≈0.067 CPU-s per step on one core (≈67–90 s per run on an idle 2-core
machine; several times longer when the cores are shared).

Copying probe (the emergence chapter's capability).  The default small run
does not grow an induction head: on the stdlib at η = 3e-3 copy_acc stays at
chance through 1000 steps (also with 25–50 % repeated code spans, λ_wd 0.1,
3000 steps).  A tuning sweep (pythia small, probe over 64 ids, copy_acc at
steps 100…1000) found two causes.  (1) η: at 3e-3 even pure copying data stays
at chance; at η = 1e-3 it jumps (0.05 → 0.84–0.91 between steps 300 and 400,
batch 32 × 64, λ_wd 0, 0.5 or 1.5 alike).  (2) Mixing: with 25–75 % stdlib
windows among the copying windows the score stalls at ≈ 0.07–0.12 through
1000–2000 steps for pythia and llama (the "copy any token already seen"
stage, ≈ 1/distinct ids in context), also with a reserved alphabet and with
batch 8 × 128.  So the emergence chapter's runs are the small model on copying windows
only: ``RunConfig(size="small", steps=600, lr=1e-3, wd=1.5, batch=32,
seq_len=64, repeat_frac=1.0)`` (T/τ = 0.9) — about two minutes each on one core.

Reading ``Run.forces``: the column ``align`` shadows ``DataFrame.align``; use
``run.forces["align"]``, not ``run.forces.align``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import torch

from npmk.data import cache_dir

__all__ = [
    "RunConfig",
    "Run",
    "RunConfigMismatch",
    "SIZE_DEFAULTS",
    "get_run",
    "load_run",
    "runs_dir",
    "snapshot_schedule",
    "lr_at",
]

SIZE_DEFAULTS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        steps=60, lr=3e-3, wd=0.1, warmup=10, batch=4, seq_len=32, tokenizer="bpe", vocab=512,
        corpus_bytes=200_000, snap_log_until=8, snap_every=20, probe_batch=8, copy_len=8, copy_vocab=64, repeat_frac=0.0,
    ),
    "small": dict(
        steps=1000, lr=3e-3, wd=0.5, warmup=100, batch=8, seq_len=128, tokenizer="bpe", vocab=2048,
        corpus_bytes=8_000_000, snap_log_until=64, snap_every=50, probe_batch=32, copy_len=32, copy_vocab=64, repeat_frac=0.0,
    ),
    "pythia-70m": dict(
        steps=20_000, lr=1e-3, wd=0.01, warmup=200, batch=24, seq_len=512, tokenizer="pythia", vocab=0,
        corpus_bytes=400_000_000, snap_log_until=512, snap_every=1000, probe_batch=32, copy_len=128, copy_vocab=0, repeat_frac=0.0,
    ),
}


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's numbers.  ``None`` fields take the size's default
    (``SIZE_DEFAULTS``); :meth:`resolved` fills them.  Units: ``lr`` η (peak learning rate),
    ``wd`` λ_wd (PyTorch's decoupled weight_decay), ``corrupt`` ρ (fraction of training
    tokens replaced), ``corpus_bytes`` (text bytes read), ``rec`` (log forces every rec steps)."""

    arch: str = "pythia"
    size: str = "small"
    steps: int | None = None
    lr: float | None = None
    wd: float | None = None
    seed: int = 0
    corrupt: float = 0.0
    warmup: int | None = None
    lr_min_ratio: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    wd_on: str = "all"
    batch: int | None = None
    seq_len: int | None = None
    corpus: str = "stdlib"
    corpus_bytes: int | None = None
    tokenizer: str | None = None
    vocab: int | None = None
    val_frac: float = 0.05
    repeat_frac: float | None = None
    rec: int = 1
    snap_log_until: int | None = None
    snap_every: int | None = None
    probe_batch: int | None = None
    copy_len: int | None = None
    copy_vocab: int | None = None

    def resolved(self) -> "RunConfig":
        """This config with every ``None`` replaced by the size default, validated."""
        from npmk.models import ARCHES

        if self.arch not in ARCHES:
            raise ValueError(f"RunConfig.arch must be one of {ARCHES}, got {self.arch!r}")
        if self.size not in SIZE_DEFAULTS:
            raise ValueError(f"RunConfig.size must be one of {tuple(SIZE_DEFAULTS)}, got {self.size!r}")
        filled = {k: v for k, v in SIZE_DEFAULTS[self.size].items() if getattr(self, k) is None}
        cfg = dataclasses.replace(self, **filled)
        problems = []
        if cfg.steps < 1:
            problems.append(f"steps={cfg.steps} (need ≥ 1)")
        if cfg.lr <= 0:
            problems.append(f"lr={cfg.lr} (need > 0)")
        if cfg.wd < 0:
            problems.append(f"wd={cfg.wd} (need ≥ 0)")
        if not 0 <= cfg.repeat_frac <= 1:
            problems.append(f"repeat_frac={cfg.repeat_frac} (need 0 ≤ fraction ≤ 1)")
        if not 0 <= cfg.corrupt <= 1:
            problems.append(f"corrupt={cfg.corrupt} (need 0 ≤ ρ ≤ 1)")
        if cfg.wd_on not in {"all", "matrices"}:
            problems.append(f"wd_on={cfg.wd_on!r} (need 'all' or 'matrices')")
        if not 0 <= cfg.warmup < cfg.steps and cfg.steps > 1:
            problems.append(f"warmup={cfg.warmup} (need 0 ≤ warmup < steps)")
        if cfg.copy_vocab < 0:
            problems.append(f"copy_vocab={cfg.copy_vocab} (need 0 = all ids, or ≥ 2)")
        if 2 * cfg.copy_len > cfg.seq_len:
            problems.append(f"copy_len={cfg.copy_len} (need 2·copy_len ≤ seq_len={cfg.seq_len})")
        if cfg.rec < 1 or cfg.snap_every < 1:
            problems.append("rec and snap_every must be ≥ 1")
        if problems:
            raise ValueError("invalid RunConfig: " + "; ".join(problems))
        return cfg


class RunConfigMismatch(ValueError):
    """A run directory already holds a run with a different config."""


def runs_dir() -> Path:
    """Where :func:`get_run` keeps runs: ``$NPMK_CACHE/runs`` (default ``~/.cache/npmk/runs``)."""
    return cache_dir() / "runs"


def snapshot_schedule(steps: int, log_until: int, every: int) -> list[int]:
    """Snapshot steps: 0, powers of two ≤ ``log_until``, multiples of ``every``, and ``steps``."""
    out = {0, steps}
    p = 1
    while p <= min(log_until, steps):
        out.add(p)
        p *= 2
    out.update(range(every, steps + 1, every))
    return sorted(out)


def lr_at(step: int, cfg: RunConfig) -> float:
    """η_t for optimizer step ``step`` (1-based): linear warmup to η over ``warmup`` steps,
    then cosine from η down to ``lr_min_ratio``·η at ``steps``."""
    import math

    if cfg.warmup and step <= cfg.warmup:
        return cfg.lr * step / cfg.warmup
    span = max(cfg.steps - cfg.warmup, 1)
    progress = min(max(step - cfg.warmup, 0) / span, 1.0)
    r = cfg.lr_min_ratio
    return cfg.lr * (r + (1 - r) * 0.5 * (1 + math.cos(math.pi * progress)))


def config_record(cfg: RunConfig, data: dict[str, Any]) -> dict[str, Any]:
    """The content of config.json: the resolved fields plus the corpus description."""
    return {**dataclasses.asdict(cfg), "data": data}


def config_key(record: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a config record (the run's identity)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def diff_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Field names whose values differ between two config records (``data.*`` for corpus fields)."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{k}.{sub}" for sub in diff_fields(a, b)]
        elif a != b:
            out.append(f"{k} ({a!r} there, {b!r} asked)")
    return out


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same directory and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


@contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``run_dir`` (blocks while another process trains there)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass
class Run:
    """A finished run directory (see module docstring)."""

    dir: Path
    config: RunConfig
    data: dict[str, Any]
    manifest: dict[str, Any] = field(repr=False)

    @property
    def family(self) -> str:
        """The transformers model_type: "gpt_neox" or "llama"."""
        from npmk.models import FAMILY

        return FAMILY[self.config.arch]

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
        from safetensors.torch import load_file

        return load_file(self.snapshot_path(step))

    def model(self, step: int):
        """The transformers model with the weights of snapshot ``step``."""
        from npmk.models import build

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
    from npmk.train import prepare, train

    resolved, corpus = prepare(cfg)
    key = config_key(config_record(resolved, corpus.describe()))
    return train(resolved, runs_dir() / key[:16], progress=progress)
