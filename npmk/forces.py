"""The AdamW forces on the squared weight norm (paper 003, §3), from the optimizer's own moments.

PyTorch's AdamW updates a matrix as

    W_{t+1} = (1 − η_t λ) W_t − η_t û_t,   û_t = m̂_t / (√v̂_t + ε),
    m̂_t = m_t / (1 − β1^t),   v̂_t = v_t / (1 − β2^t),

so the squared Frobenius norm changes *exactly* by

    Δ‖W‖² = ‖W_{t+1}‖² − ‖W_t‖² = −A + I − D + h1 + h2,

    A  = 2 η_t ⟨W_t, û_t⟩          alignment (negative while ‖W‖ grows),
    I  = η_t² ‖û_t‖²               injection,
    D  = 2 η_t λ ‖W_t‖²            decay,
    h1 = η_t² λ² ‖W_t‖²            dropped higher-order term (decay²),
    h2 = 2 η_t² λ ⟨W_t, û_t⟩       dropped higher-order term (cross).

Units: all five are in units of ‖W‖² (squared weight units) per step.  The
leading-order picture of the paper keeps −A + I − D; h1 and h2 are O(η²λ).

The displacement identity recovers û from two consecutive weights alone:
û_t = −(W_{t+1} − W_t)/η_t − λ W_t.  :func:`forces_from_moments` and
:func:`forces_from_displacement` must agree to rounding (float64: relative
1e-9; float32 weights: the recovered û carries ~1e-7·‖W‖/η_t of rounding, so
agreement is only ~1e-3 relative and the test uses float64).

:class:`ForceRecorder` logs the forces of every skeleton matrix during training
with low overhead: W_t is copied into a preallocated buffer before the step (a
memcpy), û is rebuilt from the optimizer state in place after it, and the four
inner products per matrix are BLAS dots; aggregation per component class is
left to :func:`frame` (plain sums over rows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

__all__ = [
    "Forces",
    "adam_direction",
    "forces_from_moments",
    "forces_from_displacement",
    "shares",
    "ForceRecorder",
    "COLUMNS",
    "frame",
]

# per-matrix record layout of ForceRecorder (float64)
COLUMNS = ("align", "inject", "decay", "h1", "h2", "w2", "delta_w2")


@dataclass(frozen=True)
class Forces:
    """The five terms of Δ‖W‖² and ‖W_t‖² (floats, or arrays for many steps)."""

    align: float
    inject: float
    decay: float
    h1: float
    h2: float
    w2: float

    @property
    def delta_w2(self) -> float:
        """The exact change ‖W_{t+1}‖² − ‖W_t‖² = −A + I − D + h1 + h2."""
        return -self.align + self.inject - self.decay + self.h1 + self.h2


def adam_direction(optimizer: torch.optim.Optimizer, param: torch.Tensor) -> torch.Tensor:
    """û_t = m̂_t/(√v̂_t + ε) (float64) from ``optimizer``'s state after its step t.

    Bias correction uses the state's own step count, as PyTorch's AdamW does.
    """
    state = optimizer.state.get(param)
    if not state or "exp_avg" not in state:
        raise ValueError("parameter has no Adam state: call this after optimizer.step()")
    group = next(g for g in optimizer.param_groups if any(p is param for p in g["params"]))
    beta1, beta2 = group["betas"]
    t = float(state["step"])
    m_hat = state["exp_avg"].double() / (1 - beta1**t)
    v_hat = state["exp_avg_sq"].double() / (1 - beta2**t)
    return m_hat / (v_hat.sqrt() + group["eps"])


def forces_from_moments(w: torch.Tensor, u_hat: torch.Tensor, lr: float, wd: float) -> Forces:
    """The forces on ‖W‖² at a step with weights ``w`` = W_t, direction ``u_hat`` = û_t,
    learning rate η_t = ``lr`` and decoupled weight decay λ = ``wd`` (computed in float64)."""
    w64, u64 = w.detach().double().reshape(-1), u_hat.detach().double().reshape(-1)
    if w64.shape != u64.shape:
        raise ValueError(f"weight and direction differ in size: {tuple(w.shape)} vs {tuple(u_hat.shape)}")
    wu, uu, ww = float(w64 @ u64), float(u64 @ u64), float(w64 @ w64)
    return Forces(
        align=2 * lr * wu,
        inject=lr**2 * uu,
        decay=2 * lr * wd * ww,
        h1=(lr * wd) ** 2 * ww,
        h2=2 * lr**2 * wd * wu,
        w2=ww,
    )


def forces_from_displacement(w: torch.Tensor, w_next: torch.Tensor, lr: float, wd: float) -> Forces:
    """The same forces with û_t recovered from two consecutive weights by the
    displacement identity û_t = −(W_{t+1} − W_t)/η_t − λ W_t (no optimizer state needed)."""
    if lr <= 0:
        raise ValueError(f"learning rate must be positive to invert the displacement, got {lr}")
    w64, wn64 = w.detach().double(), w_next.detach().double()
    u_hat = -(wn64 - w64) / lr - wd * w64
    return forces_from_moments(w64, u_hat, lr, wd)


def shares(align, inject, decay) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Absolute force-budget shares |X| / (|A| + I + D) for X in (A, I, D) (dimensionless)."""
    a, i, d = (np.abs(np.asarray(x, dtype=float)) for x in (align, inject, decay))
    total = a + i + d
    with np.errstate(invalid="ignore", divide="ignore"):
        return a / total, i / total, d / total


class ForceRecorder:
    """Per-step force logging for a fixed list of matrices trained by a torch AdamW.

    Call :meth:`before_step` right before ``optimizer.step()`` and
    :meth:`after_step` right after it; ``after_step`` returns a float64 array of
    shape (n_matrices, len(COLUMNS)).  λ per matrix is read from its param group.

    Cost: û is formed in preallocated buffers of the weights' dtype with the
    optimizer's own operation order (fresh allocations, not arithmetic, dominate
    on CPU), and each inner product is one BLAS dot.  For float32 weights the
    dots accumulate in float32 (relative error ~1e-6 on A, I, D and ‖W‖²);
    ``delta_w2`` is formed as ⟨W_{t+1} − W_t, W_{t+1} + W_t⟩, where the difference
    is exact, so it is accurate relative to Δ‖W‖² itself rather than to ‖W‖².
    """

    def __init__(self, params: list[torch.Tensor], optimizer: torch.optim.Optimizer):
        self.params = list(params)
        self.optimizer = optimizer
        group_of = {id(p): i for i, g in enumerate(optimizer.param_groups) for p in g["params"]}
        missing = [i for i, p in enumerate(self.params) if id(p) not in group_of]
        if missing:
            raise ValueError(f"matrices {missing} are not in the optimizer's param groups")
        # indices, not the dicts: optimizer.load_state_dict replaces the group dicts
        self.group_index = [group_of[id(p)] for p in self.params]
        self._prev = [torch.empty_like(p).reshape(-1) for p in self.params]
        self._u = [torch.empty_like(p).reshape(-1) for p in self.params]
        self._d = [torch.empty_like(p).reshape(-1) for p in self.params]

    @torch.no_grad()
    def before_step(self) -> None:
        torch._foreach_copy_(self._prev, [p.detach().reshape(-1) for p in self.params])

    @torch.no_grad()
    def after_step(self) -> np.ndarray:
        rows = []
        for p, w, u, d, gi in zip(self.params, self._prev, self._u, self._d, self.group_index):
            g = self.optimizer.param_groups[gi]
            st = self.optimizer.state[p]
            beta1, beta2 = g["betas"]
            t = float(st["step"])
            lr, wd = float(g["lr"]), float(g["weight_decay"])
            # û = (m/bc1)/(√v/√bc2 + ε) = m / (√v·bc1/√bc2 + ε·bc1): one pass fewer
            bc1, bc2 = 1 - beta1**t, 1 - beta2**t
            torch.sqrt(st["exp_avg_sq"].reshape(-1), out=u)
            u.mul_(bc1 / math.sqrt(bc2)).add_(g["eps"] * bc1)
            torch.div(st["exp_avg"].reshape(-1), u, out=u)
            wn = p.detach().reshape(-1)
            torch.sub(wn, w, out=d)
            rows.append((lr, wd, torch.stack([torch.dot(w, u), torch.dot(u, u), torch.dot(w, w),
                                              torch.dot(d, wn) + torch.dot(d, w)])))
        dots = torch.stack([r[2] for r in rows]).double().numpy()
        lr = np.array([r[0] for r in rows])
        wd = np.array([r[1] for r in rows])
        wu, uu, ww, delta = dots.T
        return np.column_stack([2 * lr * wu, lr**2 * uu, 2 * lr * wd * ww, (lr * wd) ** 2 * ww, 2 * lr**2 * wd * wu,
                                ww, delta])


def frame(steps: np.ndarray, lrs: np.ndarray, records: np.ndarray, names: list[str], classes: list[str],
          numels: list[int]) -> pd.DataFrame:
    """The forces table: a row per logged step and group.

    ``records`` has shape (n_steps, n_matrices, len(COLUMNS)).  Groups are each
    matrix (by parameter name), ``class:<cls>`` for each component class
    present, and ``all`` (every recorded matrix); group forces are sums over
    their matrices and ``rms`` = √(w2 / n_params).  ``lr`` is the η_t used at
    that step and ``step`` counts optimizer steps (1 = the first update).
    """
    steps = np.asarray(steps, dtype=np.int64)
    records = np.asarray(records, dtype=float).reshape(len(steps), len(names), len(COLUMNS))
    numels_a = np.asarray(numels, dtype=float)
    group_names = list(names)
    group_recs = [records[:, i, :] for i in range(len(names))]
    group_n = list(numels_a)
    for cls in sorted(set(classes)):
        idx = [i for i, c in enumerate(classes) if c == cls]
        group_names.append(f"class:{cls}")
        group_recs.append(records[:, idx, :].sum(axis=1))
        group_n.append(numels_a[idx].sum())
    group_names.append("all")
    group_recs.append(records.sum(axis=1))
    group_n.append(numels_a.sum())
    stacked = np.stack(group_recs, axis=1)  # (steps, groups, cols)
    n_steps, n_groups = stacked.shape[:2]
    df = pd.DataFrame(stacked.reshape(-1, len(COLUMNS)), columns=list(COLUMNS))
    df.insert(0, "group", np.tile(np.asarray(group_names, dtype=object), n_steps))
    df.insert(0, "step", np.repeat(steps, n_groups))
    df["rms"] = np.sqrt(df["w2"].to_numpy() / np.tile(np.asarray(group_n), n_steps))
    df["lr"] = np.repeat(np.asarray(lrs, dtype=float), n_groups)
    return df[["step", "group", "align", "inject", "decay", "h1", "h2", "w2", "rms", "lr", "delta_w2"]]
