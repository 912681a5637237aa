"""npmk.spectra against numpy's SVD, on synthetic power laws, and on bad input."""

import numpy as np
import pytest
import torch

from npmk.spectra import drift, fit_powerlaw, matrix_stats, snapshot_spectra, spectra


def _random_mats(seed=0):
    rng = np.random.default_rng(seed)
    # two shapes, one repeated (batched path) and one tall
    return {f"a{i}": torch.tensor(rng.standard_normal((64, 48))) for i in range(3)} | {
        "b": torch.tensor(rng.standard_normal((200, 30)) * 0.02)}


def test_spectra_match_numpy_svd():
    mats = _random_mats()
    df = spectra(mats, progress=False).set_index("name")
    assert list(df.index) == list(mats)
    for name, t in mats.items():
        s = np.linalg.svd(t.numpy(), compute_uv=False)
        row = df.loc[name]
        assert row["spectral_norm"] == pytest.approx(s[0], rel=1e-12)
        assert row["frobenius_norm"] == pytest.approx(np.linalg.norm(t.numpy()), rel=1e-12)
        assert row["stable_rank"] == pytest.approx((s**2).sum() / s[0] ** 2, rel=1e-12)
        p = s / s.sum()
        assert row["effective_rank"] == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-12)
        assert row["topk_var"] == pytest.approx((s[:10] ** 2).sum() / (s**2).sum(), rel=1e-12)
        assert (row["rows"], row["cols"]) == tuple(t.shape)


def test_float32_path_close_to_float64():
    mats = _random_mats(1)
    a = spectra(mats, progress=False)
    b = spectra(mats, dtype=torch.float32, progress=False)
    np.testing.assert_allclose(a["spectral_norm"], b["spectral_norm"], rtol=1e-5)


def test_effective_rank_of_identity_is_n():
    st = matrix_stats(np.ones(37))
    assert st["effective_rank"] == pytest.approx(37.0, rel=1e-12)
    assert st["stable_rank"] == pytest.approx(37.0, rel=1e-12)
    df = spectra({"eye": torch.eye(50)}, progress=False)
    assert df["effective_rank"].iloc[0] == pytest.approx(50.0, rel=1e-10)


@pytest.mark.parametrize("alpha", [2.0, 2.5, 3.5, 5.0])
def test_alpha_recovered_on_synthetic_power_law(alpha):
    rng = np.random.default_rng(int(alpha * 10))
    x = 0.5 * (1.0 - rng.random(4000)) ** (-1.0 / (alpha - 1.0))  # Pareto, x_min = 0.5
    fit = fit_powerlaw(x)
    # MLE standard error (α−1)/√n ≈ 0.02–0.06 here; allow ~4 of them
    assert fit.alpha == pytest.approx(alpha, abs=4 * (alpha - 1) / np.sqrt(fit.n_tail))
    assert 0.45 < fit.xmin < 1.5


def test_powerlaw_with_body_finds_the_tail():
    rng = np.random.default_rng(3)
    body = rng.uniform(0.01, 1.0, 3000)
    tail = (1.0 - rng.random(1500)) ** (-1.0 / 1.5)  # α = 2.5 above 1
    fit = fit_powerlaw(np.concatenate([body, tail]))
    assert fit.alpha == pytest.approx(2.5, abs=0.25)
    assert fit.xmin > 0.8


def test_powerlaw_needs_enough_eigenvalues():
    with pytest.raises(ValueError, match="well-posed"):
        fit_powerlaw(np.arange(1.0, 10.0))
    assert np.isnan(matrix_stats(np.arange(1.0, 10.0))["alpha"])


def test_bad_input_names_the_tensor():
    with pytest.raises(ValueError, match="w_bad.*NaN or Inf"):
        spectra({"w_ok": torch.ones(4, 4), "w_bad": torch.tensor([[1.0, float("nan")], [0.0, 1.0]])},
                progress=False)
    with pytest.raises(ValueError, match="bias.*2-D"):
        spectra({"bias": torch.ones(5)}, progress=False)
    with pytest.raises(ValueError, match="inf_w.*NaN or Inf"):
        drift({"inf_w": torch.ones(3, 3)}, {"inf_w": torch.full((3, 3), float("inf"))})


def test_drift_cosine_and_relative_change():
    a = torch.tensor([[3.0, 0.0], [0.0, 4.0]])
    b = torch.tensor([[3.0, 0.0], [0.0, -4.0]])
    d = drift({"w": a}, {"w": b}).iloc[0]
    assert d["cosine"] == pytest.approx((9 - 16) / 25)
    assert d["rel_change"] == pytest.approx(8 / 5)


def test_snapshot_spectra_streams_snapshots():
    rng = np.random.default_rng(5)
    w0 = torch.tensor(rng.standard_normal((30, 20)))

    def snaps():
        for step, scale in [(1, 1.0), (10, 2.0), (100, 2.0)]:
            yield step, {"w": w0 * scale}

    df = snapshot_spectra(snaps(), progress=False)
    assert list(df["step"]) == [1, 10, 100]
    assert np.isnan(df["rel_change"].iloc[0])
    assert df["rel_change"].iloc[1] == pytest.approx(1.0)
    assert df["cosine"].iloc[1] == pytest.approx(1.0)
    assert df["rel_change"].iloc[2] == pytest.approx(0.0, abs=1e-12)
    assert df["spectral_norm"].iloc[1] == pytest.approx(2 * df["spectral_norm"].iloc[0])


def test_skeleton_selection_labels_kinds():
    mats = {"gpt_neox.layers.0.attention.query_key_value.weight": torch.randn(96, 32),
            "gpt_neox.layers.0.mlp.dense_4h_to_h.weight": torch.randn(32, 128),
            "gpt_neox.layers.0.input_layernorm.weight": torch.ones(32)}
    df = spectra(mats, family="gpt_neox", progress=False).set_index("name")
    assert len(df) == 2
    assert df.loc["gpt_neox.layers.0.attention.query_key_value.weight", "cls"] == "Selection"
    assert df.loc["gpt_neox.layers.0.mlp.dense_4h_to_h.weight", "cls"] == "Transmission"
