"""Alignment force from sparse weight snapshots: spline displacement recovery.

PyTorch AdamW updates a matrix as W_{t+1} = W_t − η_t (û_t + λ_wd W_t), with
û_t = m̂_t / (√v̂_t + ε).  Rearranged, the *displacement identity*

    û_t = −(W_{t+1} − W_t) / η_t − λ_wd W_t                                (exact)

recovers the adaptive direction from two consecutive states, and with it the
alignment force A_t = 2 η_t ⟨W_t, û_t⟩ (dimensionless, squared-norm units per
step; negative while ‖W‖ grows).  Public checkpoints are not consecutive, so
the spline method (paper 003, §5.2 and eq. A.6) replaces W_t and W_{t+1} by a
cubic spline S through the saved snapshots, evaluated at t and t + 1:

    A_t ≈ −2 ⟨S(t), S(t+1) − S(t)⟩ − 2 η_t λ_wd ‖S(t)‖².

The naive two-point baseline divides a gap's whole displacement by the
learning rate integrated over the gap, H = Σ_{τ=s_i}^{s_{i+1}−1} η_τ, and uses
the straight line between the two snapshots for W_t:

    û ≈ −(W_{s_{i+1}} − W_{s_i}) / H − λ_wd W_lin(t),   A_t ≈ 2 η_t ⟨W_lin(t), û⟩.

Step convention: ``lr[t]`` is the learning rate of the update that takes the
state after t optimizer steps (snapshot t) to the state after t + 1 steps.

Both estimators work on one matrix at a time from its stack of snapshots
(memory: snapshots × matrix size, plus the spline's 4 coefficient arrays) and
never materialise S at the query steps: inner products of the spline's
per-interval coefficient vectors give every ⟨S(t), ·⟩ exactly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.interpolate import CubicSpline
from tqdm.auto import tqdm

__all__ = [
    "displacement_direction",
    "alignment_exact",
    "spline_alignment",
    "naive_alignment",
    "recover_alignment",
    "recovery_rate",
    "load_stack",
    "group_matrices",
    "run_schedule",
    "logged_alignment",
    "identity_check",
    "run_recovery",
    "recovery_table",
]


def displacement_direction(w_t: np.ndarray, w_next: np.ndarray, lr: float, wd: float) -> np.ndarray:
    """Adaptive AdamW direction û_t = −(W_{t+1} − W_t)/η_t − λ_wd W_t (exact for torch AdamW)."""
    if lr <= 0:
        raise ValueError(f"learning rate must be positive to invert the AdamW step, got {lr}")
    w_t = np.asarray(w_t, dtype=np.float64)
    return -(np.asarray(w_next, dtype=np.float64) - w_t) / lr - wd * w_t


def alignment_exact(w_t: np.ndarray, w_next: np.ndarray, lr: float, wd: float) -> float:
    """Alignment force A_t = 2 η_t ⟨W_t, û_t⟩ from two consecutive states (no approximation)."""
    w_t = np.asarray(w_t, dtype=np.float64)
    return float(2.0 * lr * np.vdot(w_t, displacement_direction(w_t, w_next, lr, wd)))


def _check(steps: Sequence[int], stack: np.ndarray, at: np.ndarray,
           lr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = np.asarray(steps, dtype=np.int64)
    t = np.asarray(at, dtype=np.int64)
    if s.ndim != 1 or len(s) < 2:
        raise ValueError(f"need at least two snapshot steps, got {list(s)}")
    if np.any(np.diff(s) <= 0):
        raise ValueError(f"snapshot steps must be strictly increasing, got {list(s)}")
    if stack.shape[0] != len(s):
        raise ValueError(f"stack has {stack.shape[0]} snapshots but {len(s)} steps were given")
    if t.size and (t.min() < s[0] or t.max() + 1 > s[-1]):
        raise ValueError(
            f"query steps must satisfy {s[0]} <= t and t + 1 <= {s[-1]} (no extrapolation); "
            f"got {t.min()}..{t.max()}"
        )
    if len(lr) < s[-1]:
        raise ValueError(f"lr schedule has {len(lr)} entries but the last snapshot is step {s[-1]}")
    # interval i holds s_i <= t < s_{i+1}; t + 1 <= s_{i+1} stays on the same polynomial piece
    idx = np.clip(np.searchsorted(s, t, side="right") - 1, 0, len(s) - 2)
    return s, t, idx


def spline_alignment(
    steps: Sequence[int], stack: np.ndarray, at: Sequence[int], lr: np.ndarray, wd: float
) -> np.ndarray:
    """Alignment A_t of one matrix at steps ``at`` from its snapshots, by cubic spline.

    ``stack`` has shape (n_snapshots, *matrix_shape), snapshot i taken at
    ``steps[i]``; ``lr`` is the per-step learning-rate array (see module doc).
    The spline is scipy's ``CubicSpline`` (not-a-knot ends) along the step
    axis, one per element.  Returns A_t (float64, one per query step).
    """
    stack = np.asarray(stack, dtype=np.float64).reshape(len(stack), -1)
    lr = np.asarray(lr, dtype=np.float64)
    s, t, idx = _check(steps, stack, at, lr)
    c = CubicSpline(s, stack, axis=0).c  # (4, n_intervals, n_elem): c0 h³ + c1 h² + c2 h + c3
    gram = np.einsum("jie,kie->ijk", c, c)  # per-interval Gram matrix of the 4 coefficient vectors
    h = (t - s[idx]).astype(np.float64)
    p = np.stack([h**3, h**2, h, np.ones_like(h)], axis=1)  # S(t) = p·c
    # S(t+1) − S(t) written as a polynomial in h, so no difference of large numbers is formed
    q = np.stack([3 * h**2 + 3 * h + 1, 2 * h + 1, np.ones_like(h), np.zeros_like(h)], axis=1)
    s_dot_ds = np.einsum("nj,njk,nk->n", p, gram[idx], q)
    s_sq = np.einsum("nj,njk,nk->n", p, gram[idx], p)
    eta = lr[t]
    return -2.0 * s_dot_ds - 2.0 * eta * wd * s_sq


def naive_alignment(
    steps: Sequence[int], stack: np.ndarray, at: Sequence[int], lr: np.ndarray, wd: float
) -> np.ndarray:
    """Two-point baseline for A_t: the gap's displacement over its integrated learning rate.

    For s_i <= t < s_{i+1}: û = −(W_{s_{i+1}} − W_{s_i}) / Σ_{τ=s_i}^{s_{i+1}−1} η_τ − λ_wd W_lin(t),
    W_lin the straight line between the two snapshots, A_t = 2 η_t ⟨W_lin(t), û⟩.
    """
    stack = np.asarray(stack, dtype=np.float64).reshape(len(stack), -1)
    lr = np.asarray(lr, dtype=np.float64)
    s, t, idx = _check(steps, stack, at, lr)
    cum = np.concatenate([[0.0], np.cumsum(lr[: s[-1]])])
    integrated = cum[s[1:]] - cum[s[:-1]]  # Σ η over each gap
    if np.any(integrated <= 0):
        raise ValueError("the learning rate integrates to zero over a snapshot gap; the naive estimate is undefined")
    a, b = stack[:-1], stack[1:]
    aa = np.einsum("ie,ie->i", a, a)
    ab = np.einsum("ie,ie->i", a, b)
    bb = np.einsum("ie,ie->i", b, b)
    frac = (t - s[idx]) / (s[idx + 1] - s[idx])
    w_sq = (1 - frac) ** 2 * aa[idx] + 2 * frac * (1 - frac) * ab[idx] + frac**2 * bb[idx]
    w_dot_dw = (1 - frac) * (ab[idx] - aa[idx]) + frac * (bb[idx] - ab[idx])
    eta = lr[t]
    return -2.0 * eta * w_dot_dw / integrated[idx] - 2.0 * eta * wd * w_sq


def recover_alignment(
    load: Callable[[str], np.ndarray],
    names: Sequence[str],
    steps: Sequence[int],
    at: Sequence[int],
    lr: np.ndarray,
    wd: float,
    progress: bool = True,
) -> pd.DataFrame:
    """Spline and naive alignment summed over matrices ``names``, one matrix at a time.

    ``load(name)`` returns that matrix's stack of snapshots at ``steps``
    (shape (len(steps), ...)).  Returns a DataFrame with columns step, spline,
    naive (A_t summed over the matrices, as the forces are summed per group).
    """
    if not names:
        raise ValueError("recover_alignment needs at least one matrix name")
    at = np.asarray(at, dtype=np.int64)
    spline = np.zeros(len(at))
    naive = np.zeros(len(at))
    for name in tqdm(names, desc="spline recovery", disable=not progress, leave=False):
        stack = load(name)
        spline += spline_alignment(steps, stack, at, lr, wd)
        naive += naive_alignment(steps, stack, at, lr, wd)
    return pd.DataFrame({"step": at, "spline": spline, "naive": naive})


def recovery_rate(recovered: Sequence[float], true: Sequence[float]) -> float:
    """Median over steps of recovered / true alignment (1 = perfect; paper 003's recovery rate)."""
    rec = np.asarray(recovered, dtype=np.float64)
    tru = np.asarray(true, dtype=np.float64)
    if rec.shape != tru.shape or rec.size == 0:
        raise ValueError(f"recovered and true must be non-empty and of equal shape, got {rec.shape} and {tru.shape}")
    if np.any(tru == 0):
        raise ValueError("true alignment is zero at some step; the recovery ratio is undefined there")
    return float(np.median(rec / tru))


def load_stack(paths: Sequence[str | os.PathLike], name: str) -> np.ndarray:
    """One tensor ``name`` read from each safetensors file in ``paths`` (float64, stacked on axis 0).

    Reads only that tensor from each file, so memory is snapshots × matrix size.
    """
    from safetensors import safe_open

    out = []
    for path in paths:
        with safe_open(os.fspath(path), framework="pt") as fh:
            if name not in fh.keys():
                raise KeyError(f"tensor {name!r} is not in snapshot {path}")
            out.append(fh.get_tensor(name).double().numpy())
    return np.stack(out)


# --- the same on a lab run (npmk.runs.Run), whose forces log is the ground truth ------------


def group_matrices(run, group: str = "class:Transmission") -> list[str]:
    """Names of the logged matrices that a forces ``group`` of ``run`` sums ('all' or 'class:<cls>')."""
    from npmk.skeleton import classify

    names = [n for n in run.forces["group"].unique() if not n.startswith("class:") and n != "all"]
    if group == "all":
        return names
    cls = group.removeprefix("class:")
    snap = run.snapshot(0)
    out = [n for n in names if classify(n, tuple(snap[n].shape), run.family).cls == cls]
    if not out:
        raise ValueError(f"forces group {group!r} has no logged matrices in run {run.dir}")
    return out


def run_schedule(run) -> np.ndarray:
    """lr[t] = η of the update from snapshot t to t + 1, read from the run's forces log."""
    f = run.forces[run.forces["group"] == "all"].sort_values("step")
    lr = np.zeros(int(f["step"].max()) + 1)
    lr[f["step"].to_numpy()] = f["lr"].to_numpy()
    return lr


def logged_alignment(run, group: str = "class:Transmission") -> pd.Series:
    """True alignment A_t per step t (the update snapshot t → t + 1), from the optimizer's moments."""
    f = run.forces[run.forces["group"] == group].sort_values("step")
    return pd.Series(f["align"].to_numpy(), index=f["step"].to_numpy(), name="align")


def identity_check(run, group: str = "class:Transmission") -> tuple[float, float]:
    """(logged A_1, A_1 from the identity on snapshots 1 and 2), summed over ``group``.

    Raises when the identity matches a neighbouring row of the forces log
    better than row 1: the log's step convention would then not be this
    module's, and every recovery below would be shifted by a step.
    """
    lr, names = run_schedule(run), group_matrices(run, group)
    s1, s2 = run.snapshot(1), run.snapshot(2)
    rec = sum(alignment_exact(s1[n].double().numpy(), s2[n].double().numpy(), lr[1], run.config.wd) for n in names)
    logged = logged_alignment(run, group)
    off = {k: abs(rec / logged.loc[k] - 1) for k in (0, 1, 2)}
    if min(off, key=off.get) != 1 or off[1] > 0.1:
        raise RuntimeError(
            f"run {run.dir}: the displacement identity on snapshots 1 → 2 matches forces row "
            f"{min(off, key=off.get)} (relative differences {off}), not row 1: the forces log's step "
            "convention is not npmk.spline's"
        )
    return float(logged.loc[1]), float(rec)


def run_recovery(run, gaps: Sequence[int], every: int = 5, group: str = "class:Transmission",
                 progress: bool = False) -> pd.DataFrame:
    """Spline and naive alignment of ``run`` from its snapshots thinned to each gap, beside the truth.

    For each gap g (a multiple of the run's snapshot spacing) the snapshots at
    0, g, 2g, …, T are used; A_t is evaluated at every ``every``-th step.
    Returns columns gap, step, spline, naive, true.
    """
    lr, wd, T = run_schedule(run), run.config.wd, run.config.steps
    names, true = group_matrices(run, group), logged_alignment(run, group)
    at = np.arange(0, T, every)
    out = []
    for g in gaps:
        if g % run.config.snap_every:
            raise ValueError(f"gap {g} is not a multiple of the run's snap_every={run.config.snap_every}")
        snaps = sorted(set(range(0, T + 1, g)) | {T})
        paths = [run.snapshot_path(s) for s in snaps]
        df = recover_alignment(lambda n, p=paths: load_stack(p, n), names, snaps, at, lr, wd, progress)
        out.append(df.assign(gap=g, true=true.loc[at].to_numpy()))
    return pd.concat(out, ignore_index=True)[["gap", "step", "spline", "naive", "true"]]


def recovery_table(rec: pd.DataFrame) -> pd.DataFrame:
    """Per gap: spline and naive recovery rates, and their median per-step error |recovered/true − 1|."""
    def one(d: pd.DataFrame) -> pd.Series:
        return pd.Series({"spline": recovery_rate(d.spline, d.true), "naive": recovery_rate(d.naive, d.true),
                          "spline_err": float(np.median(np.abs(d.spline / d.true - 1))),
                          "naive_err": float(np.median(np.abs(d.naive / d.true - 1)))})
    return rec.groupby("gap").apply(one, include_groups=False).reset_index()
