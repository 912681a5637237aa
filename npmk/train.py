"""The training loop of the lab.

``train(cfg, out)`` trains one :class:`~npmk.runconfig.RunConfig` into a run
directory (layout: :mod:`npmk.runs`), resuming from ``checkpoint.pt`` if a
previous attempt was interrupted and leaving a complete run untouched.
:class:`Trainer` holds the model, AdamW, data and force recorder and performs
one update at a time; ``bench/train.py`` drives it directly.

Data: the training stream (all but the last ``val_frac`` of the corpus,
corrupted with rate ``corrupt`` if > 0) is sampled as ``batch`` random windows
of ``seq_len`` + 1 tokens per step, drawn from ``numpy.random.default_rng([seed,
step])``, so the data position is a function of the step and resume needs no
data-loader state.  A fraction ``repeat_frac`` of the windows are replaced by
the copying task (:meth:`Trainer.batch`).  The validation set is never
corrupted nor repeated.

Probes at every snapshot: ``val_loss`` = mean next-token cross-entropy (nats)
on ``probe_batch`` evenly spaced validation windows; ``copy_acc`` /
``copy_loss`` = top-1 accuracy / cross-entropy on the second half of
``probe_batch`` sequences of ``copy_len`` random ids from the copy alphabet
(:func:`copy_alphabet`), repeated twice.  The ids come from a fixed seed and
never occur in training, so only in-context copying scores; chance accuracy is
≈ 1/copy_vocab.

Resume restarts from the last snapshot; the run ends bitwise identical to an
uninterrupted one on CPU (same machine and thread count).
"""

from __future__ import annotations

import io
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save as st_save
from tqdm.auto import tqdm

from npmk import corpus as corpus_mod
from npmk._files import locked, sha256, write_atomic, write_json
from npmk.forces import ForceRecorder, frame
from npmk.models import FAMILY, build
from npmk.runconfig import RunConfig, RunConfigMismatch, config_record, diff_fields, lr_at, snapshot_schedule

__all__ = ["Trainer", "copy_alphabet", "prepare", "train"]

COPY_SEED = 1234  # the copying probe's random sequences are the same for every run


def prepare(cfg: RunConfig) -> tuple[RunConfig, corpus_mod.Corpus]:
    """Resolve ``cfg`` and load (tokenize, cache) its corpus."""
    cfg = cfg.resolved()
    data = corpus_mod.load(cfg.corpus, tokenizer=cfg.tokenizer, vocab=cfg.vocab, max_bytes=cfg.corpus_bytes)
    if len(data.tokens) * (1 - cfg.val_frac) < 2 * (cfg.seq_len + 1):
        raise ValueError(f"corpus {cfg.corpus!r} has {len(data.tokens)} tokens: too few for seq_len={cfg.seq_len}")
    return cfg, data


def copy_alphabet(train_tokens: np.ndarray, n_ids: int, copy_vocab: int) -> torch.Tensor:
    """The ids of the copying task: the ``copy_vocab`` most frequent ids of the (uncorrupted)
    training split, ties by id; ``copy_vocab`` = 0 means every id the tokenizer emits.  Counted
    before corruption so runs that differ only in ρ share one probe."""
    if copy_vocab == 0:
        return torch.arange(n_ids)
    if not 2 <= copy_vocab <= n_ids:
        raise ValueError(f"copy_vocab={copy_vocab}: need 0 (all ids) or 2 ≤ copy_vocab ≤ n_ids={n_ids}")
    counts = np.bincount(train_tokens, minlength=n_ids)
    return torch.from_numpy(np.argsort(-counts, kind="stable")[:copy_vocab].astype(np.int64))


class Trainer:
    """Model + AdamW + data + force recorder for one resolved config; ``t`` = updates done."""

    def __init__(self, cfg: RunConfig, data: corpus_mod.Corpus):
        from npmk.skeleton import classify

        self.cfg = cfg
        train_tokens, val_tokens = corpus_mod.split(data.tokens, cfg.val_frac)
        corrupted = corpus_mod.corrupt(train_tokens, cfg.corrupt, data.n_ids, cfg.seed)
        self.train_tokens = torch.from_numpy(corrupted.astype(np.int64))
        val = torch.from_numpy(val_tokens.astype(np.int64))
        n_val = min(cfg.probe_batch, max(1, (len(val) - 1) // (cfg.seq_len + 1)))
        starts = np.linspace(0, len(val) - cfg.seq_len - 1, n_val).astype(np.int64)
        self.val_windows = torch.stack([val[s : s + cfg.seq_len + 1] for s in starts])
        self.copy_alphabet = copy_alphabet(train_tokens, data.n_ids, cfg.copy_vocab)
        rng = np.random.default_rng(COPY_SEED)
        picks = rng.integers(0, len(self.copy_alphabet), (cfg.probe_batch, cfg.copy_len))
        half = self.copy_alphabet[torch.from_numpy(picks)]
        self.copy_seqs = torch.cat([half, half], dim=1)

        self.model = build(cfg.arch, cfg.size, data.vocab_size, cfg.seq_len, cfg.seed)
        self.model.train()
        family = FAMILY[cfg.arch]
        named = list(self.model.named_parameters())
        decisions = {n: classify(n, tuple(p.shape), family) for n, p in named}
        self.matrix_names = [n for n, _ in named if decisions[n].include]
        self.matrix_classes = [decisions[n].cls for n in self.matrix_names]
        params = dict(named)
        matrices = [params[n] for n in self.matrix_names]
        if cfg.wd_on == "all":
            groups = [{"params": [p for _, p in named], "weight_decay": cfg.wd}]
        else:
            rest = [p for n, p in named if not decisions[n].include]
            groups = [{"params": matrices, "weight_decay": cfg.wd}, {"params": rest, "weight_decay": 0.0}]
        self.opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, foreach=False)
        self.recorder = ForceRecorder(matrices, self.opt)
        self.t = 0

    def batch(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and next-token targets of update t: ``batch`` corpus windows drawn with
        rng([seed, t]); a fraction ``repeat_frac`` of them (same rng) are replaced by a random
        sequence of p ids from the copy alphabet, p ∈ [8, ⌈(L+1)/2⌉], tiled to the window."""
        cfg = self.cfg
        rng = np.random.default_rng([cfg.seed, t])
        starts = torch.from_numpy(rng.integers(0, len(self.train_tokens) - cfg.seq_len - 1, cfg.batch))
        win = self.train_tokens[starts[:, None] + torch.arange(cfg.seq_len + 1)]
        if cfg.repeat_frac > 0:
            # a random period, so that only content-based lookup (an induction head),
            # not a fixed positional offset, predicts the repeats
            rep = rng.random(cfg.batch) < cfg.repeat_frac
            period = rng.integers(8, (cfg.seq_len + 2) // 2 + 1, cfg.batch)
            pos = torch.arange(cfg.seq_len + 1)
            for b in np.flatnonzero(rep):
                p = int(period[b])
                ids = self.copy_alphabet[torch.from_numpy(rng.integers(0, len(self.copy_alphabet), p))]
                win[b] = ids[pos % p]
        return win[:, :-1], win[:, 1:]

    def _loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = self.model(input_ids=x).logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    def update(self, log: bool) -> tuple[float, float, np.ndarray | None]:
        """One AdamW update W_t → W_{t+1}; returns (loss, η_t, force record or None)."""
        lr = lr_at(self.t + 1, self.cfg)
        for g in self.opt.param_groups:
            g["lr"] = lr
        x, y = self.batch(self.t)
        loss = self._loss(x, y)
        loss.backward()
        if log:
            self.recorder.before_step()
        self.opt.step()
        record = self.recorder.after_step() if log else None
        self.opt.zero_grad(set_to_none=True)
        self.t += 1
        return loss.item(), lr, record

    @torch.no_grad()
    def probe(self) -> dict[str, float]:
        """Validation loss and copying score at the current weights (nats; accuracy in [0, 1])."""
        w = self.val_windows
        val_loss = float(self._loss(w[:, :-1], w[:, 1:]))
        c, n = self.copy_seqs, self.cfg.copy_len
        logits = self.model(input_ids=c).logits[:, n : 2 * n - 1]
        target = c[:, n + 1 :]
        copy_loss = float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1)))
        copy_acc = float((logits.argmax(-1) == target).double().mean())
        return {"val_loss": val_loss, "copy_acc": copy_acc, "copy_loss": copy_loss}


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def train(cfg: RunConfig, out: str | Path, *, progress: bool = True, stop_after: int | None = None,
          threads: int = 1) -> Path | None:
    """Train ``cfg`` into the run directory ``out`` and return it (open it with :func:`npmk.runs.load_run`).

    A complete run there with the same config is returned untouched, an
    unfinished one resumed, one with another config refused
    (:class:`~npmk.runconfig.RunConfigMismatch`).  ``stop_after`` ends the
    process-side work after that many updates without finishing the run (a
    simulated kill, for tests): the directory is left as a
    killed run would leave it and ``None`` is returned.  ``threads`` is torch's
    intra-op thread count: 1 by default, because float reductions split over
    threads round differently, so a run made with 1 thread is bitwise the same
    on every machine (and several notebooks training at once do not
    oversubscribe the cores; OpenMP spinning made 2 threads 3-8x slower than 1
    on a busy 2-core machine).
    """
    out = Path(out).expanduser()
    cfg, data = prepare(cfg)
    record = config_record(cfg, data.describe())
    with locked(out):
        cfg_path = out / "config.json"
        if cfg_path.exists():
            there = json.loads(cfg_path.read_text())
            diff = diff_fields(there, record)
            if diff:
                raise RunConfigMismatch(f"{out} holds a run with a different config: " + "; ".join(diff))
            manifest_path = out / "manifest.json"
            if manifest_path.exists() and json.loads(manifest_path.read_text()).get("status") == "complete":
                return out
        else:
            write_json(cfg_path, record)
        prev_threads, prev_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True)
        try:
            return _train_locked(cfg, data, out, progress, stop_after)
        finally:
            torch.set_num_threads(prev_threads)
            torch.use_deterministic_algorithms(prev_det)


def _train_locked(cfg: RunConfig, data: corpus_mod.Corpus, out: Path, progress: bool,
                  stop_after: int | None) -> Path | None:
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)
    trainer = Trainer(cfg, data)
    snaps = snapshot_schedule(cfg.steps, cfg.snap_log_until, cfg.snap_every)
    snap_dir = out / "snapshots"
    ckpt_path = out / "checkpoint.pt"
    f_steps: list[int] = []
    f_lrs: list[float] = []
    f_recs: list[np.ndarray] = []
    probes: list[dict] = []
    elapsed = 0.0
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def snapshot() -> None:
        state = {k: v.contiguous() for k, v in trainer.model.state_dict().items()}
        write_atomic(snap_dir / f"step_{trainer.t:07d}.safetensors", st_save(state))
        probes.append({"step": trainer.t, "tokens": trainer.t * cfg.batch * cfg.seq_len, **trainer.probe()})

    def checkpoint() -> None:
        buf = io.BytesIO()
        torch.save(
            {
                "t": trainer.t,
                "model": trainer.model.state_dict(),
                "optimizer": trainer.opt.state_dict(),
                "rng": _rng_state(),
                "forces": (f_steps, f_lrs, f_recs),
                "probes": probes,
                "elapsed": elapsed,
                "started": started,
            },
            buf,
        )
        write_atomic(ckpt_path, buf.getvalue())

    if ckpt_path.exists():
        state = torch.load(ckpt_path, weights_only=False)
        trainer.model.load_state_dict(state["model"])
        trainer.opt.load_state_dict(state["optimizer"])
        _set_rng_state(state["rng"])
        trainer.t = state["t"]
        f_steps, f_lrs, f_recs = state["forces"]
        probes, elapsed, started = state["probes"], state["elapsed"], state["started"]
    else:
        snapshot()
    write_json(out / "manifest.json", {"status": "running", "step": trainer.t, "started": started})

    bar = tqdm(total=cfg.steps, initial=trainer.t, desc=f"train {cfg.arch}-{cfg.size}", unit="step",
               file=sys.stderr, disable=not progress)
    tokens_per_step = cfg.batch * cfg.seq_len
    t0, t_seg, n_seg = time.perf_counter(), time.perf_counter(), 0
    while trainer.t < cfg.steps:
        step = trainer.t
        loss, lr, rec = trainer.update(log=step % cfg.rec == 0)
        if rec is not None:
            f_steps.append(step)
            f_lrs.append(lr)
            f_recs.append(rec)
        n_seg += 1
        if trainer.t in snaps:
            elapsed += time.perf_counter() - t0
            snapshot()
            if trainer.t < cfg.steps:
                checkpoint()
            t0 = time.perf_counter()
        if n_seg >= 10 or trainer.t == cfg.steps:
            now = time.perf_counter()
            bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{n_seg * tokens_per_step / (now - t_seg):.0f}")
            bar.update(n_seg)
            t_seg, n_seg = now, 0
        if stop_after is not None and trainer.t >= stop_after and trainer.t < cfg.steps:
            bar.close()
            return None
    elapsed += time.perf_counter() - t0
    bar.close()

    numels = [trainer.recorder.params[i].numel() for i in range(len(trainer.matrix_names))]
    forces = frame(np.asarray(f_steps), np.asarray(f_lrs), np.stack(f_recs), trainer.matrix_names,
                   trainer.matrix_classes, numels)
    buf = io.BytesIO()
    forces.to_parquet(buf, index=False)
    write_atomic(out / "forces.parquet", buf.getvalue())
    buf = io.BytesIO()
    pd.DataFrame(probes).to_parquet(buf, index=False)
    write_atomic(out / "probes.parquet", buf.getvalue())
    files = ["config.json", "forces.parquet", "probes.parquet"] + [f"snapshots/step_{s:07d}.safetensors" for s in snaps]
    manifest = {
        "status": "complete",
        "step": trainer.t,
        "snapshot_steps": snaps,
        "files": {f: sha256(out / f) for f in files},
        "timings": {
            "started": started,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "train_s": round(elapsed, 3),
            "steps_per_s": round(cfg.steps / elapsed, 3),
            "tokens_per_s": round(cfg.steps * tokens_per_step / elapsed, 1),
            "threads": torch.get_num_threads(),
        },
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": sys.version.split()[0]},
    }
    write_json(out / "manifest.json", manifest)
    ckpt_path.unlink(missing_ok=True)
    return out

