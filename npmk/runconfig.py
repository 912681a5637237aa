"""What a lab run is: its config, the named presets, the learning-rate and snapshot schedules.

A chapter names a run as a *spec*, a preset plus architecture and seed, with
any :class:`RunConfig` field overridden (the form of nanoGPT's ``config/``
files)::

    RunConfig.from_spec({"preset": "base", "arch": "pythia", "seed": 0})
    RunConfig.from_spec({"preset": "copying", "arch": "llama", "seed": 1, "steps": 300})

Conventions (read by every chapter that uses a run):

* ``step`` indexes weights as the papers do: W_t = the weights after t
  optimizer updates = snapshot ``t`` (t = 0 is the initialisation); the forces
  row with ``step`` = t describes the update W_t → W_{t+1}, whose learning
  rate is η_t = :func:`lr_at` (t + 1).
* Schedule: linear warmup over ``warmup`` steps, then cosine to
  ``lr_min_ratio``·η at ``steps``.  AdamW β (0.9, 0.999), ε 1e-8, decoupled
  weight decay on all parameters (``wd_on="all"``, the papers) or on the
  skeleton matrices only (``wd_on="matrices"``).
* Decay timescale: decoupled decay shrinks W by (1 − η_t λ_wd) per step, a
  time constant τ = 1/(η λ_wd) steps, so λ (Weibull scale) can only peak and
  relax inside a run of T steps when T/τ = T η λ_wd ≳ 1.  The paper's
  η = 1e-3, λ_wd = 0.01 gives τ = 100k steps; a CPU run has ~1000, so the
  ``small`` size raises λ_wd until T/τ = 1.5.
* Snapshots: steps 0, 1, 2, 4, … ≤ ``snap_log_until``, every ``snap_every``
  steps, and the last step (:func:`snapshot_schedule`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RunConfig",
    "RunConfigMismatch",
    "SIZE_DEFAULTS",
    "PRESETS",
    "lr_at",
    "snapshot_schedule",
    "config_record",
    "config_key",
    "diff_fields",
    "overrides_label",
]

#: The fields a lab size fills when a RunConfig leaves them None (model shapes: ``npmk.models.SIZES``).
SIZE_DEFAULTS: dict[str, dict[str, Any]] = {
    # hidden 32, 2 layers: CI and the smoke profile, seconds per run
    "tiny": dict(
        steps=60, lr=3e-3, wd=0.1, warmup=10,  # long enough for λ to move, short enough for a test
        batch=4, seq_len=32, tokenizer="bpe", vocab=512, corpus_bytes=200_000,
        snap_log_until=8, snap_every=20,
        probe_batch=8, copy_len=8, copy_vocab=64, repeat_frac=0.0,
    ),
    # hidden 128, 2 layers: the book's base run, about 1000 steps on one CPU core
    "small": dict(
        steps=1000, lr=3e-3, wd=0.5, warmup=100,  # T/τ = 1000·3e-3·0.5 = 1.5: λ peaks and relaxes in the run
        batch=8, seq_len=128, tokenizer="bpe", vocab=2048,
        corpus_bytes=8_000_000,  # the first 8 MB of the stdlib: about one pass over ≈1M tokens of windows
        snap_log_until=64, snap_every=50,
        probe_batch=32, copy_len=32, copy_vocab=64, repeat_frac=0.0,
    ),
    # hidden 512, 6 layers, 8 heads, FFN 2048: paper 003's run, for a GPU
    "pythia-70m": dict(
        steps=20_000, lr=1e-3, wd=0.01, warmup=200,  # the paper's settings (T/τ = 0.2: λ rises, does not relax)
        batch=24, seq_len=512, tokenizer="pythia", vocab=0, corpus_bytes=400_000_000,
        snap_log_until=512, snap_every=1000,
        probe_batch=32, copy_len=128, copy_vocab=0, repeat_frac=0.0,
    ),
}

#: Named recipes: a size plus the fields that differ from its defaults, each with its reason
#: (the measurements behind the reasons: book/lab.md).
PRESETS: dict[str, dict[str, Any]] = {
    # the book's base run (forces, weight scale, phases, terminal k …): λ peaks near step 350 and relaxes
    "base": dict(size="small"),
    # the base recipe at CI scale: the smoke profile's stand-in for "base"
    "tiny": dict(size="tiny"),
    # paper 003's configuration (20k steps, η 1e-3, λ_wd 0.01), for a GPU and the full profile
    "paper": dict(size="pythia-70m"),
    # the tiny model on the base run's schedule (steps, warmup, η, λ_wd): the same T/τ as the base
    # runs at a tenth of the cost, for sweeps that need many runs (η, λ_wd, data coherence)
    "tiny-on-base": dict(size="tiny", **{k: SIZE_DEFAULTS["small"][k] for k in ("steps", "warmup", "lr", "wd")}),
    # the emergence chapter's capability: at η 3e-3 even pure copying data stays at chance, at 1e-3
    # the copying score jumps between steps 300 and 400; natural-text windows mixed in delay or stall
    # it, so the windows are all copying by default (T/τ = 0.9).  512 ids, not 2048: the task uses
    # 64 of them, and the 2048-wide embedding and head took half of every step (80 steps: 20 s → 9.5 s)
    "copying": dict(size="small", steps=600, lr=1e-3, wd=1.5, batch=32, seq_len=64, repeat_frac=1.0, vocab=512),
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

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], **overrides: Any) -> RunConfig:
        """The config of a run spec: ``PRESETS[spec["preset"]]``, then the spec's other
        fields (``arch``, ``seed``, any RunConfig field), then ``overrides``."""
        spec = {**spec, **overrides}
        if "preset" not in spec:
            raise ValueError(f"run spec {dict(spec)!r} names no preset; presets: {', '.join(PRESETS)}")
        name = spec.pop("preset")
        if name not in PRESETS:
            raise ValueError(f"unknown run preset {name!r}; presets: {', '.join(PRESETS)}")
        unknown = sorted(set(spec) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"run spec sets unknown RunConfig field(s) {', '.join(unknown)}")
        return cls(**{**PRESETS[name], **spec})

    def resolved(self) -> RunConfig:
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


def overrides_label(overrides: Mapping[str, Any]) -> str:
    """A readable name for a run that changes ``overrides`` from a base spec: "lr 0.002, batch 16".

    Fields in the order given, numbers in their shortest form (``:g``); no
    overrides at all is "base".  Raises ValueError naming a key that is no
    RunConfig field, so a typo cannot label a run it does not describe.
    """
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(RunConfig)})
    if unknown:
        raise ValueError(f"overrides_label: unknown RunConfig field(s) {', '.join(unknown)}")
    parts = [f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in overrides.items()]
    return ", ".join(parts) or "base"
