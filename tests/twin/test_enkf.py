"""EnKF analysis (engine.twin._enkf) against the exact Kalman filter, and its bookkeeping.

Linear-Gaussian problems have an exact answer (the Kalman filter), so the ETKF is checked to
rounding and the stochastic EnKF to Monte-Carlo error. Masking, gating, inflation, jit and vmap
are checked for exact (or rounding-level) equivalences.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from steeltwin.engine.twin._enkf import (
    _stochastic,
    enkf_analysis,
    enkf_update,
    inflate,
    innovation_gate,
    observation_stats,
)

F64 = jnp.float64
METHODS = ("etkf", "stochastic")


def _kalman(mean, P, H, R, y):
    """Exact Kalman update: (x_a, P_a, K)."""
    K = P @ H.T @ np.linalg.inv(H @ P @ H.T + R)
    return mean + K @ (y - H @ mean), (np.eye(len(mean)) - K @ H) @ P, K


def _stats(X):
    X = np.asarray(X)
    return X.mean(axis=0), np.cov(X, rowvar=False, ddof=1)


def _linear_problem(seed, N, d, m):
    """Random linear-Gaussian problem: ensemble [N, d], H [m, d], y [m], noise_std [m]."""
    rng = np.random.default_rng(seed)
    L = rng.normal(size=(d, d)) / np.sqrt(d)
    X = rng.normal(size=d) + rng.normal(size=(N, d)) @ L.T
    H = rng.normal(size=(m, d))
    sigma = rng.uniform(0.3, 1.0, size=m)
    y = H @ rng.normal(size=d) + sigma * rng.normal(size=m)
    return X, H, y, sigma


def _as_jax(*arrays):
    return tuple(jnp.asarray(a, F64) for a in arrays)


@pytest.mark.parametrize(("N", "d", "m"), [(20, 5, 3), (4, 5, 8)])  # second: N - 1 < m
def test_etkf_equals_kalman_update_of_sample_statistics(N, d, m):
    X, H, y, sigma = _linear_problem(0, N, d, m)
    Xj, yj, sj = _as_jax(X, y, sigma)
    valid = jnp.ones(m, bool)
    Xa = enkf_analysis(Xj, Xj @ jnp.asarray(H.T, F64), yj, sj, valid, jax.random.key(0))
    mean_f, P_f = _stats(X)
    mean_kf, P_kf, _ = _kalman(mean_f, P_f, H, np.diag(sigma**2), y)
    mean_a, P_a = _stats(Xa)
    # Algebraically identical (Woodbury); values are O(1), so float64 rounding through one
    # N x N eigendecomposition stays far below 1e-10.
    np.testing.assert_allclose(mean_a, mean_kf, rtol=0, atol=1e-10)
    np.testing.assert_allclose(P_a, P_kf, rtol=0, atol=1e-10)


@pytest.mark.parametrize(("N", "d", "m"), [(20, 5, 3), (4, 5, 8)])
def test_stochastic_member_update_uses_the_sample_kalman_gain(N, d, m):
    X, H, y, sigma = _linear_problem(1, N, d, m)
    z = np.random.default_rng(2).normal(size=(N, m))
    Xj, yj, sj, zj = _as_jax(X, y, sigma, z)
    Xa = _stochastic(Xj, Xj @ jnp.asarray(H.T, F64), yj, sj, jnp.ones(m, bool), zj)
    _, P_f = _stats(X)
    _, _, K = _kalman(np.zeros(d), P_f, H, np.diag(sigma**2), y)
    expected = X + (y + sigma * z - X @ H.T) @ K.T
    # Same formula up to rounding (Cholesky vs inverse) on O(1) values.
    np.testing.assert_allclose(Xa, expected, rtol=0, atol=1e-10)


def test_stochastic_large_ensemble_matches_kalman_posterior():
    N, d, m = 20000, 3, 2
    rng = np.random.default_rng(3)
    L = rng.normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    mu, P = rng.normal(size=d), L @ L.T
    H = rng.normal(size=(m, d))
    sigma = np.array([0.5, 0.8])
    y = H @ mu + np.array([1.0, -0.5])
    X = mu + rng.normal(size=(N, d)) @ L.T
    Xj, yj, sj = _as_jax(X, y, sigma)
    Xa = enkf_analysis(
        Xj, Xj @ jnp.asarray(H.T, F64), yj, sj, jnp.ones(m, bool), jax.random.key(4), "stochastic"
    )
    mean_kf, P_kf, _ = _kalman(mu, P, H, np.diag(sigma**2), y)
    mean_a, P_a = _stats(Xa)
    # Monte-Carlo error of a mean is std/sqrt(N), of a covariance entry
    # sqrt((P_ii P_jj + P_ij^2)/N); the prior P bounds both the posterior and the extra error from
    # the sampled gain, so 5 of those (prior-based) errors is a safe, still tight (~2-4 %) bound.
    std = np.sqrt(np.diag(P))
    np.testing.assert_array_less(np.abs(mean_a - mean_kf), 5 * std / np.sqrt(N))
    cov_err = np.sqrt((np.outer(np.diag(P), np.diag(P)) + P**2) / N)
    np.testing.assert_array_less(np.abs(P_a - P_kf), 5 * cov_err)


def test_etkf_multi_cycle_tracks_the_kalman_filter():
    N, n_cycles = 200, 50
    rng = np.random.default_rng(5)
    th = 0.3
    A = 0.97 * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    Q, H, R = np.diag([0.1, 0.05]) ** 2, np.array([[1.0, 0.0]]), np.array([[0.2**2]])
    truth = np.array([1.0, 0.0])
    X = rng.normal(size=(N, 2))
    m_kf, P_kf = _stats(X)  # the KF starts from the ensemble: no initial sampling error
    step = jax.jit(enkf_analysis, static_argnames="method")
    noise = jnp.asarray([0.2], F64)
    mean_err, spread_ratio = [], []
    for k in range(n_cycles):
        truth = A @ truth + rng.normal(size=2) @ np.sqrt(Q)
        y = H @ truth + 0.2 * rng.normal(size=1)
        m_kf, P_kf = A @ m_kf, A @ P_kf @ A.T + Q
        m_kf, P_kf, _ = _kalman(m_kf, P_kf, H, R, y)
        eps = rng.normal(size=(N, 2))
        X = X @ A.T + (eps - eps.mean(axis=0)) @ np.sqrt(Q)  # sampled model noise, centred
        Xj, yj = _as_jax(X, y)
        X = np.asarray(step(Xj, Xj[:, :1], yj, noise, jnp.ones(1, bool), jax.random.key(k)))
        mean_a, P_a = _stats(X)
        kf_std = np.sqrt(np.diag(P_kf))
        mean_err.append(np.abs(mean_a - m_kf) / kf_std)
        spread_ratio.append(np.sqrt(np.diag(P_a)) / kf_std)
    ratio = np.asarray(spread_ratio)
    # The ETKF is deterministic: its only error is the sampled model noise. Its sample
    # covariance (and the noise-anomaly cross terms) are off by ~sqrt(2/N) = 10 % in variance,
    # i.e. ~5-6 % in std per cycle, so over 100 (cycle, component) values 20 % is a ~3.5 sigma
    # bound and the 50-cycle average, whose error is ~1 %, must be within 5 % (no bias). The
    # mean is off by a fraction of std/sqrt(N) = 0.07 std per cycle, damped by the filter;
    # 0.35 std allows ~5 of those. (Over seeds 5-12 the worst values were 0.27, 13 % and 1.4 %.)
    assert np.max(mean_err) < 0.35
    np.testing.assert_array_less(np.abs(ratio - 1), 0.2)
    np.testing.assert_array_less(np.abs(ratio.mean(axis=0) - 1), 0.05)


def test_masked_observation_equals_dropping_it():
    N, d, m = 10, 4, 3
    X, H, y, sigma = _linear_problem(6, N, d, m)
    Xj, yj, sj = _as_jax(X, y, sigma)
    Yj = Xj @ jnp.asarray(H.T, F64)
    valid = jnp.asarray([True, False, True])
    keep = np.array([0, 2])
    # Garbage (NaN) in the masked slot must not leak in.
    y_nan, s_nan, Y_nan = yj.at[1].set(jnp.nan), sj.at[1].set(jnp.nan), Yj.at[:, 1].set(jnp.nan)
    key = jax.random.key(7)
    two = jnp.ones(2, bool)
    for method in METHODS:
        masked = enkf_analysis(Xj, Yj, yj, sj, valid, key, method)
        garbage = enkf_analysis(Xj, Y_nan, y_nan, s_nan, valid, key, method)
        np.testing.assert_array_equal(garbage, masked)
        if method == "etkf":
            dropped = enkf_analysis(Xj, Yj[:, keep], yj[keep], sj[keep], two, key, method)
        else:
            # The public function draws z for all m from the key (so a dropped observation
            # would shift the draws); with the same draws for the kept ones it is the same.
            z = jax.random.normal(key, (N, m), F64)
            np.testing.assert_array_equal(_stochastic(Xj, Yj, yj, sj, valid, z), masked)
            dropped = _stochastic(Xj, Yj[:, keep], yj[keep], sj[keep], two, z[:, keep])
        # Mathematically identical: the masked terms add exact zeros; allow only rounding from
        # a different summation order inside the matrix products.
        np.testing.assert_allclose(masked, dropped, rtol=1e-13, atol=1e-13)
        assert not np.allclose(masked, Xj)  # the kept observations did act


def test_all_observations_invalid_returns_forecast_exactly():
    X, H, y, sigma = _linear_problem(8, 10, 4, 3)
    Xj, yj, sj = _as_jax(X, y, sigma)
    Yj, none = Xj @ jnp.asarray(H.T, F64), jnp.zeros(3, bool)
    for method in METHODS:
        Xa = enkf_analysis(Xj, Yj, yj, sj, none, jax.random.key(0), method)
        np.testing.assert_array_equal(Xa, Xj)
        Xa, accept, _ = enkf_update(Xj, Yj, yj, sj, none, jax.random.key(0), method)
        np.testing.assert_array_equal(Xa, Xj)
        assert not np.any(accept)
        Xa, _, _ = enkf_update(Xj, Yj, yj, sj, none, jax.random.key(0), method, inflation=1.3)
        np.testing.assert_array_equal(Xa, inflate(Xj, 1.3))


def test_gate_rejects_outlier_and_update_ignores_it():
    X, H, y, sigma = _linear_problem(9, 30, 4, 3)
    Xj, sj = _as_jax(X, sigma)
    Yj = Xj @ jnp.asarray(H.T, F64)
    innovation, std = observation_stats(Yj, jnp.asarray(y, F64), sj, jnp.ones(3, bool))
    y_mean = np.asarray(Yj).mean(axis=0)
    np.testing.assert_allclose(innovation, y - y_mean, rtol=1e-13)
    np.testing.assert_allclose(std, np.sqrt(np.asarray(Yj).var(axis=0, ddof=1) + sigma**2))
    # Observation 1 put 50 innovation std away; the others are inside 4 std by construction.
    y_out = jnp.asarray(y_mean + 0.5 * np.asarray(std), F64).at[1].add(50 * std[1])
    valid = jnp.ones(3, bool)
    accept, normalised = innovation_gate(Yj, y_out, sj, valid, 4.0)
    np.testing.assert_array_equal(accept, [True, False, True])
    np.testing.assert_allclose(normalised, [0.5, 50.5, 0.5], rtol=1e-12)
    for method in METHODS:
        key = jax.random.key(1)
        got, acc, z = enkf_update(Xj, Yj, y_out, sj, valid, key, method, gate=4.0, inflation=1.1)
        ref, _, _ = enkf_update(Xj, Yj, y_out, sj, accept, key, method, gate=4.0, inflation=1.1)
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(acc, accept)
        # Gating sees the inflated spread, so the reported normalised innovation shrinks.
        assert 40 < float(z[1]) < 50.5


@pytest.mark.parametrize("method", METHODS)
def test_jit_and_vmap_match_eager(method):
    problems = [_linear_problem(10 + b, 12, 4, 3) for b in range(3)]
    keys = jax.random.split(jax.random.key(11), 3)
    Xs = jnp.asarray(np.stack([p[0] for p in problems]), F64)
    Ys = jnp.einsum("bnd,bmd->bnm", Xs, jnp.asarray(np.stack([p[1] for p in problems]), F64))
    ys = jnp.asarray(np.stack([p[2] for p in problems]), F64)
    ss = jnp.asarray(np.stack([p[3] for p in problems]), F64)
    valid = jnp.asarray([[True, True, True], [True, False, True], [False, False, False]])
    eager = [enkf_analysis(Xs[b], Ys[b], ys[b], ss[b], valid[b], keys[b], method) for b in range(3)]
    jitted = jax.jit(enkf_analysis, static_argnames="method")
    # Same operations, possibly fused or reordered by XLA: rounding-level differences only.
    for b in range(3):
        got = jitted(Xs[b], Ys[b], ys[b], ss[b], valid[b], keys[b], method=method)
        np.testing.assert_allclose(got, eager[b], rtol=1e-12, atol=1e-12)
    batched = jax.jit(jax.vmap(lambda *a: enkf_analysis(*a, method=method)))
    np.testing.assert_allclose(
        batched(Xs, Ys, ys, ss, valid, keys), np.stack(eager), rtol=1e-12, atol=1e-12
    )
    upd = jax.vmap(lambda *a: enkf_update(*a, method=method, inflation=1.05))
    got, acc, z = upd(Xs, Ys, ys, ss, valid, keys)
    for b in range(3):
        ref = enkf_update(Xs[b], Ys[b], ys[b], ss[b], valid[b], keys[b], method, inflation=1.05)
        for g, r in zip((got[b], acc[b], z[b]), ref, strict=True):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)


def test_inflate_keeps_mean_and_scales_spread():
    X = jnp.asarray(np.random.default_rng(12).normal(2.0, 3.0, size=(50, 4)), F64)
    Xi = inflate(X, 1.7)
    # Exact algebra; rounding relative to O(1) values.
    np.testing.assert_allclose(Xi.mean(axis=0), X.mean(axis=0), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(Xi.std(axis=0), 1.7 * X.std(axis=0), rtol=1e-13)
    np.testing.assert_array_equal(inflate(X, 1.0), X)


@pytest.mark.parametrize("method", METHODS)
def test_float32_in_float32_out(method):
    X, H, y, sigma = _linear_problem(13, 16, 4, 3)
    args64 = (*_as_jax(X, X @ H.T, y, sigma), jnp.ones(3, bool), jax.random.key(0))
    args32 = tuple(a.astype(jnp.float32) if a.dtype == F64 else a for a in args64)
    Xa32, acc, z = enkf_update(*args32, method=method)
    assert Xa32.dtype == z.dtype == jnp.float32
    assert acc.dtype == jnp.bool_
    if method == "etkf":  # deterministic: float32 agrees with float64 to float32 rounding
        Xa64, _, _ = enkf_update(*args64, method=method)
        np.testing.assert_allclose(Xa32, Xa64, rtol=1e-4, atol=1e-4)


def test_unknown_method_raises():
    X = jnp.zeros((3, 2), F64)
    with pytest.raises(ValueError, match="method"):
        enkf_analysis(
            X, X, jnp.zeros(2, F64), jnp.ones(2, F64), jnp.ones(2, bool), jax.random.key(0), "x"
        )


@pytest.mark.parametrize("n_members, dim, n_obs", [(64, 27, 2), (8, 5, 3), (32, 30, 6)])
def test_low_rank_etkf_equals_the_ensemble_space_etkf(n_members, dim, n_obs):
    """With fewer readings than N - 1 the ETKF goes through the m x m Gram matrix (no N x N
    eigendecomposition: 1000 slabs' analysis 7.3 s -> 28 ms on 2 CPU cores). It is the same
    update: measured 2.3e-13 K apart, every mask, none valid included."""
    from steeltwin.engine.twin._enkf import _etkf_ensemble_space, _etkf_low_rank

    rng = np.random.default_rng(n_members)
    X = jnp.asarray(1000 + 20 * rng.standard_normal((n_members, dim)))
    Y = jnp.asarray(1000 + 20 * rng.standard_normal((n_members, n_obs)))
    y = jnp.asarray(1000 + 5 * rng.standard_normal(n_obs))
    s = jnp.asarray(5.0 + rng.random(n_obs))
    for valid in (np.ones(n_obs, bool), np.r_[True, np.zeros(n_obs - 1, bool)],
                  np.zeros(n_obs, bool)):
        v = jnp.asarray(valid)
        low, full = _etkf_low_rank(X, Y, y, s, v), _etkf_ensemble_space(X, Y, y, s, v)
        assert float(jnp.abs(low - full).max()) < 5e-12
        moved = float(jnp.abs(low - X).max())
        assert moved > 1e-3 if valid.any() else moved == 0.0
