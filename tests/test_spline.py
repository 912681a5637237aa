"""Spline displacement recovery: exactness of the identity, accuracy vs gap, the naive baseline."""

import numpy as np
import pytest
import torch

from npmk.spline import (
    alignment_exact,
    displacement_direction,
    naive_alignment,
    recover_alignment,
    recovery_rate,
    spline_alignment,
)

T = 2001
WD = 0.1


def _schedule() -> np.ndarray:
    lr = np.full(T + 1, 1e-3)
    lr[:200] = np.linspace(1e-5, 1e-3, 200)  # warm-up makes the integrated LR differ from gap × η
    return lr


def _curved_trajectory(seed: int = 0) -> np.ndarray:
    """Smooth, curved element paths W(t), shape (T, 6, 10)."""
    rng = np.random.default_rng(seed)
    w0, drift = rng.normal(0, 0.02, (2, 6, 10))
    t = np.arange(T)[:, None, None]
    return w0 * (1 + 0.8 * np.sin(t / 300)) + drift * (t / T) ** 2


def _true_alignment(traj: np.ndarray, lr: np.ndarray) -> np.ndarray:
    return np.array([alignment_exact(traj[i], traj[i + 1], lr[i], WD) for i in range(len(traj) - 1)])


def test_displacement_identity_is_exact_on_a_torch_adamw_step():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(5, 7, dtype=torch.float64) * 0.02)
    lr, wd = 3e-3, 0.1
    opt = torch.optim.AdamW([w], lr=lr, weight_decay=wd, betas=(0.9, 0.999), eps=1e-8)
    target = torch.randn(5, 7, dtype=torch.float64)
    for _ in range(3):  # a few steps so the moments are not trivially m = g
        before = w.detach().clone()
        opt.zero_grad()
        ((w - target) ** 2).sum().backward()
        opt.step()
    st = opt.state[w]
    step = float(st["step"])
    m_hat = st["exp_avg"] / (1 - 0.9**step)
    v_hat = st["exp_avg_sq"] / (1 - 0.999**step)
    u_true = (m_hat / (v_hat.sqrt() + 1e-8)).numpy()
    u_rec = displacement_direction(before.numpy(), w.detach().numpy(), lr, wd)
    np.testing.assert_allclose(u_rec, u_true, rtol=1e-9, atol=1e-12)
    a_true = 2 * lr * float((before * torch.from_numpy(u_true)).sum())
    assert alignment_exact(before.numpy(), w.detach().numpy(), lr, wd) == pytest.approx(a_true, rel=1e-9)


def test_spline_is_exact_at_unit_gap_and_near_exact_at_small_gaps():
    lr, traj = _schedule(), _curved_trajectory()
    true = _true_alignment(traj, lr)
    at = np.arange(0, T - 1, 7)
    dense = spline_alignment(np.arange(T), traj, at, lr, WD)
    np.testing.assert_allclose(dense, true[at], rtol=1e-9)
    s = np.arange(0, T, 10)
    at = np.arange(s[0], s[-1], 7)
    assert recovery_rate(spline_alignment(s, traj[s], at, lr, WD), true[at]) == pytest.approx(1.0, abs=1e-4)


def test_spline_degrades_with_gap():
    lr, traj = _schedule(), _curved_trajectory()
    true = _true_alignment(traj, lr)
    errors = []
    for gap in (20, 100, 400):
        s = np.arange(0, T, gap)
        at = np.arange(s[0], s[-1], 5)
        rel = spline_alignment(s, traj[s], at, lr, WD) / true[at] - 1
        errors.append(np.median(np.abs(rel)))
    assert errors[0] < errors[1] < errors[2]
    assert errors[0] < 1e-4 and errors[2] > 10 * errors[0]


def test_naive_baseline_is_worse_than_spline_on_curved_paths():
    lr, traj = _schedule(), _curved_trajectory(seed=1)
    true = _true_alignment(traj, lr)
    for gap in (50, 200):
        s = np.arange(0, T, gap)
        at = np.arange(s[0], s[-1], 3)
        err_spline = np.median(np.abs(spline_alignment(s, traj[s], at, lr, WD) / true[at] - 1))
        err_naive = np.median(np.abs(naive_alignment(s, traj[s], at, lr, WD) / true[at] - 1))
        assert err_naive > 3 * err_spline


def test_naive_is_exact_on_straight_paths_under_constant_lr():
    # a straight constant-speed path with wd = 0 is what the two-point estimate assumes
    rng = np.random.default_rng(2)
    w0, v = rng.normal(0, 0.02, (2, 4, 4))
    traj = w0 + v * np.arange(401)[:, None, None] / 400
    lr = np.full(402, 1e-3)
    true = np.array([alignment_exact(traj[i], traj[i + 1], lr[i], 0.0) for i in range(400)])
    s = np.arange(0, 401, 100)
    at = np.arange(0, 400, 9)
    np.testing.assert_allclose(naive_alignment(s, traj[s], at, lr, 0.0), true[at], rtol=1e-9)


def test_recover_alignment_sums_matrices():
    lr = _schedule()
    mats = {"a": _curved_trajectory(3), "b": _curved_trajectory(4)}
    s = np.arange(0, T, 100)
    at = np.arange(0, 1900, 50)
    df = recover_alignment(lambda n: mats[n][s], ["a", "b"], s, at, lr, WD, progress=False)
    expect = sum(spline_alignment(s, m[s], at, lr, WD) for m in mats.values())
    np.testing.assert_allclose(df["spline"], expect)
    assert list(df.columns) == ["step", "spline", "naive"]


def test_bad_inputs_raise():
    lr, traj = _schedule(), _curved_trajectory()
    s = np.arange(0, T, 100)
    with pytest.raises(ValueError, match="extrapolation"):
        spline_alignment(s, traj[s], [T], lr, WD)
    with pytest.raises(ValueError, match="increasing"):
        spline_alignment(s[::-1], traj[s], [10], lr, WD)
    with pytest.raises(ValueError, match="snapshots"):
        naive_alignment(s, traj[s][:-1], [10], lr, WD)
    with pytest.raises(ValueError, match="zero"):
        recovery_rate([1.0, 2.0], [0.0, 1.0])


def test_recovery_on_a_lab_run_matches_its_logged_forces():
    from npmk.runs import RunConfig, get_run
    from npmk.spline import identity_check, recovery_table, run_recovery

    run = get_run(RunConfig.from_spec({"preset": "tiny", "arch": "pythia", "seed": 0}), progress=False)
    logged, recovered = identity_check(run)
    assert recovered == pytest.approx(logged, rel=0.1)  # float32 snapshots limit the agreement
    g = run.config.snap_every
    rec = run_recovery(run, [g, 2 * g], every=1)
    assert list(rec.columns) == ["gap", "step", "spline", "naive", "true"]
    assert set(rec.gap) == {g, 2 * g} and len(rec) == 2 * run.config.steps
    rates = recovery_table(rec).set_index("gap")
    # thinning the snapshots can only lose information: the spline's error grows with the gap
    assert rates.loc[g, "spline_err"] < rates.loc[2 * g, "spline_err"]
    with pytest.raises(ValueError, match="not a multiple"):
        run_recovery(run, [g + 1])
