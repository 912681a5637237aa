"""Phase detection on synthetic λ trajectories and the equilibrium bookkeeping."""

import numpy as np
import pytest

from npmk.lambda_phases import (
    decay_horizon,
    decay_timescale,
    detect_lambda_phases,
    equilibrium_ratio,
    lambda_phase_table,
)


def _rise_peak_relax(steps: np.ndarray, t_peak: float) -> np.ndarray:
    """λ0 = 0.018 rising to ~0.06 near t_peak, relaxing to a 0.04 floor (log-normal bump + floor)."""
    x = np.log(steps / t_peak)
    floor = 0.018 + 0.022 / (1 + np.exp(-3 * (np.log(steps) - np.log(t_peak / 3))))
    return floor + 0.025 * np.exp(-x**2 / 0.5) * (steps > 1)


def test_detects_rise_peak_relax_floor():
    steps = np.unique(np.concatenate([2 ** np.arange(10), np.arange(1000, 60001, 1000)]))
    lam = _rise_peak_relax(steps, 8000)
    ph = detect_lambda_phases(steps, lam)
    assert ph.peak_step == steps[np.argmax(lam)]
    assert abs(np.log(ph.peak_step / 8000)) < 0.2
    assert ph.relaxed and ph.floor_reached
    assert ph.onset_step < ph.peak_step < ph.floor_step
    assert ph.floor_value == pytest.approx(0.040, rel=0.03)
    order = [list(ph.labels).index(p) for p in ("init", "rise", "peak", "relax", "floor")]
    assert order == sorted(order)


def test_monotone_rise_has_terminal_peak_and_no_floor():
    steps = np.arange(100, 5001, 100)
    lam = 0.02 + 0.03 * (1 - np.exp(-steps / 2000))
    ph = detect_lambda_phases(steps, lam)
    assert ph.peak_step == 5000 and not ph.relaxed
    assert ph.floor_step is None and np.isnan(ph.floor_value)
    assert "relax" not in ph.labels and "floor" not in ph.labels


def test_run_stopped_mid_relaxation_has_no_floor():
    steps = np.arange(250, 5001, 250)
    lam = np.interp(steps, [0, 2000, 5000], [0.02, 0.05, 0.025])  # still falling 8% per snapshot at the end
    ph = detect_lambda_phases(steps, lam)
    assert ph.relaxed and not ph.floor_reached
    assert ph.floor_step is None and "floor" not in ph.labels and ph.labels[-1] == "relax"


def test_phase_table_per_group():
    steps = np.unique(np.concatenate([2 ** np.arange(10), np.arange(1000, 60001, 1000)]))
    import pandas as pd

    rows = [pd.DataFrame({"step": steps, "lam": _rise_peak_relax(steps, tp), "name": f"L{i}"})
            for i, tp in enumerate((4000, 16000))]
    tab = lambda_phase_table(pd.concat(rows), by="name")
    assert list(tab["name"]) == ["L0", "L1"]
    assert tab["peak_step"].iloc[0] < tab["peak_step"].iloc[1]


def test_bad_trajectories_raise():
    with pytest.raises(ValueError, match="increasing"):
        detect_lambda_phases([1, 3, 2], [0.1, 0.2, 0.1])
    with pytest.raises(ValueError, match="positive"):
        detect_lambda_phases([1, 2, 3], [0.1, -0.2, 0.1])


def test_equilibrium_bookkeeping():
    assert decay_timescale(1e-3, 0.01) == pytest.approx(1e5)
    lr = np.full(20000, 1e-3)
    assert decay_horizon(lr, 0.01) == pytest.approx(0.2)
    r = equilibrium_ratio([-2.0, -1.0, -0.5], [0.1, 0.1, 0.1], [1.1, 1.1, 1.1])
    assert r[0] > 1 and r[1] == pytest.approx(1.0) and r[2] < 1
    with pytest.raises(ValueError, match="decay"):
        equilibrium_ratio([-1.0], [0.0], [0.0])


def test_peak_summary_of_a_lab_run():
    from npmk.lambda_phases import peak_summary
    from npmk.runs import RunConfig, get_run
    from npmk.snapshots import snapshot_fits

    run = get_run(RunConfig.from_spec({"preset": "tiny", "arch": "pythia", "seed": 0}), progress=False)
    fits = snapshot_fits(run, levels=("class",))
    lam = fits[fits.step > 0].sort_values("step")[["step", "lam"]]
    s = peak_summary(run, lam)
    assert s["peak_lam"] == pytest.approx(lam.lam.max())
    assert s["peak_step"] in set(lam.step)
    assert s["T_over_tau"] > 0 and s["final_val_loss"] > 0
    f = run.forces
    early = f[(f.group == "class:Transmission") & (f.step < run.config.steps // 4)]
    assert s["mean_minus_align_q1"] == pytest.approx(-early["align"].mean())


def test_loglog_slope_recovers_a_power_law_and_refuses_non_positive_values():
    from npmk.lambda_phases import loglog_slope

    x = np.array([0.5, 1.0, 2.0, 4.0])
    assert loglog_slope(x, 3.0 * x**-0.4) == pytest.approx(-0.4)
    with pytest.raises(ValueError, match="positive"):
        loglog_slope(x, x - 1.0)
    with pytest.raises(ValueError, match="equal-length"):
        loglog_slope(x, x[:2])
