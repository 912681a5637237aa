"""The AdamW force decomposition: moments vs displacement, the exact Δ‖W‖² identity, the recorder."""

import numpy as np
import pytest
import torch

from npmk.forces import (
    COLUMNS,
    ForceRecorder,
    adam_direction,
    forces_from_displacement,
    forces_from_moments,
    frame,
    shares,
)


def _float64_problem(seed=0, wd=0.1):
    """A small float64 regression with two weight matrices trained by AdamW."""
    g = torch.Generator().manual_seed(seed)
    w1 = torch.nn.Parameter(0.02 * torch.randn(16, 8, generator=g, dtype=torch.float64))
    w2 = torch.nn.Parameter(0.02 * torch.randn(4, 16, generator=g, dtype=torch.float64))
    x = torch.randn(64, 8, generator=g, dtype=torch.float64)
    y = torch.randn(64, 4, generator=g, dtype=torch.float64)
    opt = torch.optim.AdamW([w1, w2], lr=1e-2, weight_decay=wd, betas=(0.9, 0.999), eps=1e-8)

    def step(lr):
        for group in opt.param_groups:
            group["lr"] = lr
        loss = ((torch.tanh(x @ w1.T) @ w2.T - y) ** 2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()

    return [w1, w2], opt, step


def test_moments_equal_displacement_float64():
    # float64 weights: the recovered direction carries ~1e-16·‖W‖/η rounding, so
    # all forces agree to ~1e-10 relative (we allow 1e-8).
    params, opt, step = _float64_problem()
    lrs = [1e-3, 5e-3, 1e-2, 1e-2, 8e-3, 3e-3]
    for lr in lrs:
        before = [p.detach().clone() for p in params]
        step(lr)
        for p, w in zip(params, before):
            fm = forces_from_moments(w, adam_direction(opt, p), lr, 0.1)
            fd = forces_from_displacement(w, p.detach(), lr, 0.1)
            for name in ("align", "inject", "decay", "h1", "h2", "w2"):
                a, b = getattr(fm, name), getattr(fd, name)
                assert a == pytest.approx(b, rel=1e-8, abs=1e-14 * fm.w2), name


def test_delta_w2_identity_is_exact():
    params, opt, step = _float64_problem(seed=1, wd=0.5)
    for lr in [2e-3, 1e-2, 2e-2]:
        before = [p.detach().clone() for p in params]
        step(lr)
        for p, w in zip(params, before):
            f = forces_from_moments(w, adam_direction(opt, p), lr, 0.5)
            measured = float((p.detach() ** 2).sum() - (w**2).sum())
            # rounding of float64 sums of ~100 terms of size ‖W‖²/n
            assert f.delta_w2 == pytest.approx(measured, abs=1e-13 * f.w2)
            # the leading-order terms alone miss exactly h1 + h2
            assert -f.align + f.inject - f.decay != pytest.approx(measured, abs=1e-15 * f.w2)


def test_recorder_matches_per_matrix_forces():
    params, opt, step = _float64_problem(seed=2)
    rec = ForceRecorder(params, opt)
    step(1e-2)  # create the Adam state
    before = [p.detach().clone() for p in params]
    for group in opt.param_groups:
        group["lr"] = 7e-3
    loss = sum((p**2).sum() for p in params)
    loss.backward()
    rec.before_step()
    opt.step()
    out = rec.after_step()
    assert out.shape == (2, len(COLUMNS))
    for i, (p, w) in enumerate(zip(params, before)):
        f = forces_from_moments(w, adam_direction(opt, p), 7e-3, 0.1)
        expected = [f.align, f.inject, f.decay, f.h1, f.h2, f.w2, f.delta_w2]
        np.testing.assert_allclose(out[i], expected, rtol=1e-9, atol=1e-14 * f.w2)


def test_recorder_rejects_foreign_params():
    params, opt, _ = _float64_problem()
    with pytest.raises(ValueError, match="not in the optimizer"):
        ForceRecorder([torch.nn.Parameter(torch.zeros(2, 2))], opt)


def test_adam_direction_needs_state():
    params, opt, _ = _float64_problem()
    with pytest.raises(ValueError, match="no Adam state"):
        adam_direction(opt, params[0])


def test_shares_sum_to_one_and_use_absolute_alignment():
    a, i, d = shares([-3.0, 1.0], [1.0, 1.0], [1.0, 2.0])
    np.testing.assert_allclose(a + i + d, 1.0)
    assert a[0] == pytest.approx(0.6)


def test_frame_aggregates_by_class():
    rng = np.random.default_rng(0)
    recs = rng.random((3, 3, len(COLUMNS)))
    df = frame(np.array([0, 1, 2]), np.array([1e-3, 2e-3, 3e-3]), recs, ["a", "b", "c"],
               ["Transmission", "Selection", "Transmission"], [10, 20, 30])
    assert set(df.group) == {"a", "b", "c", "class:Transmission", "class:Selection", "all"}
    t = df[df.group == "class:Transmission"].set_index("step")
    np.testing.assert_allclose(t["align"], recs[:, 0, 0] + recs[:, 2, 0])
    np.testing.assert_allclose(t["rms"], np.sqrt((recs[:, 0, 5] + recs[:, 2, 5]) / 40))
    allg = df[df.group == "all"].set_index("step")
    np.testing.assert_allclose(allg["lr"], [1e-3, 2e-3, 3e-3])
