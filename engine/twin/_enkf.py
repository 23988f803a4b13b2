"""Ensemble Kalman filter analysis: ETKF and stochastic EnKF, with masking, gating, inflation.

Conventions: an ensemble of N members, rows are members. ``ensemble`` [N, d] holds the forecast
(possibly augmented) states x_i, ``predicted`` [N, m] the predicted observations y_i = H(x_i),
computed by the caller (H may be nonlinear); ``observed`` y [m], ``noise_std`` sigma [m] with
R = diag(sigma^2) (uncorrelated errors) and ``valid`` [m] the observations to use. Sample
statistics use the (N - 1) normalisation; anomalies are X' = X - x_mean, Y = Y_f - y_mean.

Masking: an invalid observation gets R^-1 = 0, a zero anomaly column, zero innovation and zero
gain, selected with ``jnp.where`` so that NaN placeholders in its slot cannot leak; shapes stay
fixed, so changing which observations are present never recompiles. With no valid observation
the forecast is returned bit for bit.

ETKF (Hunt, Kostelich & Szunyogh 2007, ensemble space), with C = Y R^-1 [N, m]:

    Pa~ = [(N - 1) I + C Y^T]^-1,   w_mean = Pa~ C (y - y_mean),   W = [(N - 1) Pa~]^(1/2),
    x_a,j = x_mean + sum_i (w_mean,i + W_ij) x'_i.

The symmetric square root comes from one eigendecomposition C Y^T = V diag(mu) V^T (mu >= 0,
tiny negative rounding clipped), so lambda = N - 1 + mu and W - I = V diag(sqrt((N-1)/lambda) - 1)
V^T. Costs O(N^3 + N^2 m): any m, including m > N - 1. With fewer observations than N - 1 the
same update is computed through the m x m Gram matrix instead (``_etkf_low_rank``, O(N m d)).
For linear H the analysis sample mean and covariance are exactly the Kalman update of the
forecast sample mean and covariance.

Stochastic EnKF (Burgers, van Leeuwen & Evensen 1998), observation space:

    K = P_xy (P_yy + R)^-1,   x_a,i = x_i + K (y + eps_i - y_i),   eps_i ~ N(0, R),

with P_xy = X'^T Y / (N - 1), P_yy = Y^T Y / (N - 1) (Cholesky solve, O(N m^2 + m^3)). The
perturbations are drawn for all m observations from ``key`` and used only where valid.

Gating: innovation = y - y_mean, innovation_std = sqrt(var_ens(y_i) + sigma^2); an observation is
accepted when valid and |innovation| <= gate * innovation_std (a NaN observation is rejected).
Inflation: x_i -> x_mean + f (x_i - x_mean).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.linalg import cho_factor, cho_solve

METHODS = ("etkf", "stochastic")


def _anomalies(a: Array) -> tuple[Array, Array]:
    """Ensemble mean [k] and anomalies [N, k] of a [N, k]."""
    mean = jnp.mean(a, axis=0)
    return mean, a - mean


def observation_stats(
    predicted: Array, observed: Array, noise_std: Array, valid: Array
) -> tuple[Array, Array]:
    """Innovation and its expected standard deviation per observation.

    Args:
        predicted: [N, m] ensemble of predicted observations.
        observed: [m] observations.
        noise_std: [m] observation error standard deviations (> 0).
        valid: [m] bool, observations present.

    Returns:
        (innovation [m] = observed - mean(predicted), 0 where invalid so a NaN placeholder
        does not propagate; innovation_std [m] = sqrt(var_ens(predicted) + noise_std**2)).
    """
    dtype = predicted.dtype
    y_mean = jnp.mean(predicted, axis=0)
    innovation = jnp.where(valid, jnp.asarray(observed, dtype) - y_mean, 0)
    var = jnp.var(predicted, axis=0, ddof=1)
    return innovation, jnp.sqrt(var + jnp.asarray(noise_std, dtype) ** 2)


def innovation_gate(
    predicted: Array, observed: Array, noise_std: Array, valid: Array, gate: float | Array
) -> tuple[Array, Array]:
    """Reject outliers: accept = valid & (|innovation| <= gate * innovation_std).

    Args:
        predicted, observed, noise_std, valid: as in ``observation_stats``.
        gate: threshold in innovation standard deviations (``jnp.inf`` accepts all valid).

    Returns:
        (accept [m] bool, normalised innovation [m] = innovation / innovation_std, 0 where
        invalid).
    """
    innovation, std = observation_stats(predicted, observed, noise_std, valid)
    # where() on both: a NaN observation compares False, so it is rejected, never used.
    accept = valid & (jnp.abs(innovation) <= jnp.asarray(gate, std.dtype) * std)
    return accept, jnp.where(valid, innovation / std, 0)


def inflate(ensemble: Array, factor: float | Array) -> Array:
    """Multiplicative inflation x_mean + factor (x - x_mean) of an ensemble [N, d].

    Written as x + (factor - 1) (x - x_mean) so that factor = 1 returns the input exactly.
    """
    _, anomalies = _anomalies(ensemble)
    return ensemble + (jnp.asarray(factor, ensemble.dtype) - 1) * anomalies


def _masked(
    predicted: Array, observed: Array, noise_std: Array, valid: Array
) -> tuple[Array, Array, Array]:
    """Anomalies Y [N, m], innovation [m] and a safe noise std [m], zeroed/1 where invalid."""
    y_mean, Y = _anomalies(predicted)
    Y = jnp.where(valid, Y, 0)
    innovation = jnp.where(valid, observed - y_mean, 0)
    # Any positive value will do for invalid entries: they get zero weight below.
    sigma = jnp.where(valid, noise_std, 1)
    return Y, innovation, sigma


def _etkf(
    ensemble: Array, predicted: Array, observed: Array, noise_std: Array, valid: Array
) -> Array:
    """ETKF analysis (see module docstring): through the m x m Gram matrix when there are
    fewer observations than N - 1 (a plant twin's few sensors), else in ensemble space."""
    if predicted.shape[1] < ensemble.shape[0] - 1:
        return _etkf_low_rank(ensemble, predicted, observed, noise_std, valid)
    return _etkf_ensemble_space(ensemble, predicted, observed, noise_std, valid)


def _etkf_low_rank(
    ensemble: Array, predicted: Array, observed: Array, noise_std: Array, valid: Array
) -> Array:
    """The same ETKF through the m x m Gram matrix: O(N m d + m^3) instead of O(N^2 d + N^3).

    With Yh = Y R^-1/2 [N, m] (C Y^T = Yh Yh^T) and Yh^T Yh = U diag(mu) U^T, the nonzero
    eigenpairs of Yh Yh^T are (mu_k, Yh u_k / sqrt(mu_k)), so

        W - I  = Yh U diag(g(mu)) U^T Yh^T,   g(mu) = -1 / (sqrt(lam) (sqrt(n1) + sqrt(lam))),
        w_mean = Yh U diag(1 / lam) U^T R^-1/2 (y - y_mean)      (push-through identity),

    with lam = n1 + mu: g is (sqrt(n1/lam) - 1) / mu, finite at mu = 0, so directions the
    readings do not see drop out without a division. The update T X' is applied as
    1 (a^T Z) + Yh (M Z) with Z = Yh^T X' [m, d]: never an N x N matrix."""
    n1 = ensemble.shape[0] - 1
    _, Xp = _anomalies(ensemble)
    Y, innovation, sigma = _masked(predicted, observed, noise_std, valid)
    inv_sigma = jnp.where(valid, 1 / sigma, 0)
    Yh = Y * inv_sigma
    H = Yh.T @ Yh
    mu, U = jnp.linalg.eigh(0.5 * (H + H.T))
    mu = jnp.maximum(mu, 0)
    lam = n1 + mu
    a = U @ ((U.T @ (innovation * inv_sigma)) / lam)  # w_mean = Yh a
    g = -1 / (jnp.sqrt(lam) * (jnp.sqrt(jnp.asarray(n1, lam.dtype)) + jnp.sqrt(lam)))
    M = (U * g) @ U.T
    Z = Yh.T @ Xp
    return ensemble + (a @ Z)[None, :] + Yh @ (M @ Z)


def _etkf_ensemble_space(
    ensemble: Array, predicted: Array, observed: Array, noise_std: Array, valid: Array
) -> Array:
    """ETKF analysis in ensemble space (see module docstring)."""
    n1 = ensemble.shape[0] - 1
    _, Xp = _anomalies(ensemble)
    Y, innovation, sigma = _masked(predicted, observed, noise_std, valid)
    C = Y * jnp.where(valid, 1 / sigma**2, 0)
    G = C @ Y.T
    mu, V = jnp.linalg.eigh(0.5 * (G + G.T))  # symmetrised: eigh reads one triangle
    mu = jnp.maximum(mu, 0)  # C Y^T is PSD; clip rounding
    lam = n1 + mu
    w_mean = V @ ((V.T @ (C @ innovation)) / lam)
    # sqrt(n1/lam) - 1 without cancellation when mu << n1 (and exactly 0 when mu == 0).
    s_minus_1 = -mu / (jnp.sqrt(lam) * (jnp.sqrt(jnp.asarray(n1, lam.dtype)) + jnp.sqrt(lam)))
    T = w_mean[None, :] + (V * s_minus_1) @ V.T  # x_a,j = x_j + sum_i T_ji x'_i
    return ensemble + T @ Xp


def _stochastic(
    ensemble: Array, predicted: Array, observed: Array, noise_std: Array, valid: Array, z: Array
) -> Array:
    """Perturbed-observation EnKF given standard normal draws z [N, m] (eps = noise_std z)."""
    n1 = ensemble.shape[0] - 1
    _, Xp = _anomalies(ensemble)
    Y, _, sigma = _masked(predicted, observed, noise_std, valid)
    # Invalid rows/columns of S decouple (zero anomalies, unit diagonal): the valid block is
    # solved as if the invalid observations were absent, and their gain is then zeroed.
    S = (Y.T @ Y) / n1 + jnp.diag(sigma**2)
    Kt = cho_solve(cho_factor(S, lower=True), (Y.T @ Xp) / n1)  # K^T [m, d]
    Kt = jnp.where(valid[:, None], Kt, 0)
    D = jnp.where(valid, observed + sigma * z - predicted, 0)
    return ensemble + D @ Kt


def enkf_analysis(
    ensemble: Array,
    predicted: Array,
    observed: Array,
    noise_std: Array,
    valid: Array,
    key: Array,
    method: str = "etkf",
) -> Array:
    """One EnKF analysis step (jittable with ``method`` static; vmappable over a batch axis).

    Args:
        ensemble: [N, d] forecast (augmented) states, N >= 2.
        predicted: [N, m] each member's predicted observations H(x_i).
        observed: [m] observations y.
        noise_std: [m] observation error std (> 0 where valid), R = diag(noise_std**2).
        valid: [m] bool; False = missing/rejected, with exactly no influence.
        key: JAX PRNG key, used only by ``"stochastic"`` (perturbations drawn for all m).
        method: ``"etkf"`` (deterministic square root) or ``"stochastic"`` (perturbed obs).

    Returns:
        Analysis ensemble [N, d] in the dtype of ``ensemble``; the forecast itself when no
        observation is valid.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is invalid: expected one of {METHODS}")
    dtype = ensemble.dtype
    predicted = jnp.asarray(predicted, dtype)
    observed = jnp.asarray(observed, dtype)
    noise_std = jnp.asarray(noise_std, dtype)
    valid = jnp.asarray(valid, bool)
    if method == "etkf":
        analysis = _etkf(ensemble, predicted, observed, noise_std, valid)
    else:
        z = jax.random.normal(key, predicted.shape, dtype)
        analysis = _stochastic(ensemble, predicted, observed, noise_std, valid, z)
    # The update is already zero without valid observations; this makes it bit-exact.
    return jnp.where(jnp.any(valid), analysis, ensemble)


def enkf_update(
    ensemble: Array,
    predicted: Array,
    observed: Array,
    noise_std: Array,
    valid: Array,
    key: Array,
    method: str = "etkf",
    gate: float | Array = 4.0,
    inflation: float | Array = 1.0,
) -> tuple[Array, Array, Array]:
    """Inflate, gate and analyse: one full assimilation step.

    The predicted observations are inflated by the same factor as the states, so they stay
    H(x_i) of the inflated members: exact for linear (affine) H, a standard first-order
    approximation otherwise (it saves re-running the forward model). Gating uses the inflated
    spread, i.e. the prior that the analysis itself uses.

    Args:
        ensemble, predicted, observed, noise_std, valid, key, method: as in ``enkf_analysis``.
        gate: gating threshold in innovation standard deviations (``jnp.inf`` disables).
        inflation: multiplicative inflation factor (1 = none).

    Returns:
        (analysis [N, d], accept [m] bool, normalised innovation [m]).
    """
    ensemble = inflate(ensemble, inflation)
    predicted = inflate(jnp.asarray(predicted, ensemble.dtype), inflation)
    accept, normalised = innovation_gate(predicted, observed, noise_std, valid, gate)
    analysis = enkf_analysis(ensemble, predicted, observed, noise_std, accept, key, method)
    return analysis, accept, normalised
