"""One assimilation cycle of S twins of N members each, as one jitted function.

``cycle_function(step_fn, ...)`` returns ``cycle(T, z, base, params, obs, seeds, ks, spread)``:

1. each member's exchange factors are the schedule's phi moved by its log-odds offsets s
   (``member_exchange``: inside (0, 1), never clipped); all S x N members are forecast in one
   batched propagator call; the propagator's own spread (a surrogate's error) is added as
   member noise (``model_error``) and the offsets random-walk (``spread[:, 1]``, per column);
2. each reading at t0 + w (t1 - t0) is predicted as (1 - w) H(x(t0)) + w H(x(t1)) (H: the
   face temperature of the solver's face balance for pyrometers, the field at its depth for
   thermocouples), its error std widened by ``interpolation`` w (1 - w) |H(x(t1)) - H(x(t0))|
   (the surface does not heat linearly inside a long cycle);
3. the analysis (``enkf_update``: gate, optional multiplicative inflation, ETKF or stochastic
   EnKF) updates [T, z];
4. relaxation to prior spread (RTPS, Whitaker & Hamill 2012, Mon. Wea. Rev. 140, 3078): each
   variable's analysis anomalies are scaled so that its spread becomes
   sigma_a + alpha (sigma_f - sigma_a), with alpha ``rtps_field`` for the field and
   ``rtps_parameters`` for z. A variable the readings do not inform (sigma_a = sigma_f) keeps
   its spread exactly: unlike multiplicative inflation, nothing unobserved can grow;
5. each parameter's spread is then held within [floor x prior, prior] (``spread[:, 0]`` the
   prior std per column, ``floor``): never wider than what was assumed before any reading,
   never collapsed to a point that ignores new readings. A column with prior 0 (a pinned
   face) stays exactly at 0; tied faces are identical columns, which the ETKF, RTPS and the
   bounds all keep identical (and the walk moves them by one draw).

Random keys come from (twin seed, cycle index), so replays and batching give identical
numbers. See ``_twin`` for the state and the filter's settings.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

from ._enkf import enkf_update
from ._slab import depth_temperature, member_exchange, surface_temperature


def cycle_function(step_fn: Any, tables: dict[str, Array], step_seconds: float, method: str,
                   gate: float, inflation: float, rtps_field: float = 0.0,
                   rtps_parameters: float = 0.0, floor: float = 0.0, tied: bool = False,
                   interpolation: float = 0.0, model_error: float = 0.0,
                   face_correlation: float = 0.0, field_noise: float = 0.0) -> Any:
    """The jitted cycle for S twins of N members each (see the module doc)."""

    def observe(T: Array, p: Array, u_knot: Array, kind: Array, depth: Array) -> Array:
        faces = surface_temperature(T, p, tables, u_knot)
        tc = jax.vmap(lambda d: depth_temperature(T, p, d))(depth)
        return jnp.where(kind == 0, faces[0], jnp.where(kind == 1, faces[1], tc))

    def one_twin(T0: Array, T1: Array, z: Array, u: Array, p: Array, obs: dict[str, Array],
                 key: Array, prior: Array) -> tuple[Array, ...]:
        y0 = jax.vmap(observe, (0, None, 0, None, None))(T0, p, u[:, 0], obs["kind"],
                                                         obs["depth"])
        y1 = jax.vmap(observe, (0, None, 0, None, None))(T1, p, u[:, -1], obs["kind"],
                                                         obs["depth"])
        w = obs["weight"]
        pred = (1 - w) * y0 + w * y1
        # Representativeness: the surface does not heat linearly over a long cycle.
        interp = interpolation * w * (1 - w) * jnp.abs(y1.mean(0) - y0.mean(0))
        std = jnp.sqrt(obs["std"] ** 2 + interp**2)
        X = jnp.concatenate([T1, z], axis=1)
        Xa, accept, innov = enkf_update(X, pred, obs["value"], std, obs["valid"], key,
                                        method=method, gate=gate, inflation=inflation)
        n = T1.shape[1]
        alpha = jnp.concatenate([jnp.full(n, rtps_field), jnp.full(z.shape[1], rtps_parameters)])
        Xa = relax_to_prior_spread(X, Xa, alpha.astype(X.dtype))
        za = bound_spread(Xa[:, n:], floor * prior, prior)
        return Xa[:, :n], za, accept, innov, pred.mean(0)

    def cycle(T: Array, z: Array, base: Array, params: Array, obs: dict[str, Array],
              seeds: Array, ks: Array, spread: Array) -> tuple[Array, ...]:
        # Keys from (the twin's seed, its cycle): replays and batching give the same numbers.
        keys = jax.vmap(lambda sd, k: jax.random.fold_in(jax.random.PRNGKey(sd), k))(seeds, ks)
        s, m, n = T.shape
        # Member exchange factors: the schedule's phi moved by s in log-odds, inside (0, 1).
        phi = member_exchange(base[:, None, :, :, 1], z[:, :, None, :2])
        u = jnp.broadcast_to(base[:, None], (s, m, *base.shape[1:]))
        u = u.at[..., 1].set(phi)
        p = jnp.broadcast_to(params[:, None], (s, m, params.shape[-1]))
        T1, prop_spread, src = step_fn(T.reshape(s * m, n), u.reshape(s * m, *u.shape[2:]),
                                       p.reshape(s * m, -1))
        T1 = T1.reshape(s, m, n)
        k_walk, k_an = jax.vmap(lambda k: jax.random.split(k))(keys).swapaxes(0, 1)
        noise = jax.vmap(lambda k: jax.random.normal(k, (m, 2), T.dtype))(k_walk)
        if tied:  # one furnace factor for both faces: one draw moves both
            noise = noise.at[..., 0].set(noise[..., 1])
        elif face_correlation:  # the faces drift together as much as their priors agree
            rho = face_correlation
            noise = noise.at[..., 0].set(rho * noise[..., 1] + (1 - rho**2) ** 0.5 * noise[..., 0])
        if field_noise:  # the model's own error (grid, step): one draw along the field
            k_fld = jax.vmap(lambda k: jax.random.fold_in(k, 2))(k_walk)
            eta = jax.vmap(lambda k: jax.random.normal(k, (m, 1), T.dtype))(k_fld)
            T1 = T1 + field_noise * eta
        if model_error:  # the propagator's error (0 for physics rows) as member noise
            k_err = jax.vmap(lambda k: jax.random.fold_in(k, 1))(k_walk)
            eps = jax.vmap(lambda k: jax.random.normal(k, (m, 1), T.dtype))(k_err)
            T1 = T1 + model_error * eps * prop_spread.reshape(s, m, n)
        z = z.at[..., :2].add(spread[:, None, 1, :2] * noise)
        out = jax.vmap(one_twin)(T, T1, z, u, params, obs, k_an, spread[:, 0])
        return (*out, src.reshape(s, m)[:, 0])

    return jax.jit(cycle)


def relax_to_prior_spread(forecast: Array, analysis: Array, alpha: Array) -> Array:
    """RTPS: analysis anomalies [N, d] scaled per column so that the spread becomes
    sigma_a + alpha (sigma_f - sigma_a) (Whitaker & Hamill 2012); the mean is kept. A column
    without spread (pinned) is left as it is."""
    mean = analysis.mean(0)
    sf, sa = forecast.std(0, ddof=1), analysis.std(0, ddof=1)
    factor = jnp.where(sa > 0, 1.0 + alpha * (sf - sa) / jnp.where(sa > 0, sa, 1.0), 1.0)
    return mean + (analysis - mean) * factor


def bound_spread(z: Array, low: Array, high: Array) -> Array:
    """Parameters [N, k] with each column's spread held in [low, high] (mean kept; a column
    without spread, a pinned one, stays as it is)."""
    mean = z.mean(0)
    sd = z.std(0, ddof=1)
    target = jnp.clip(sd, low, high)
    return mean + (z - mean) * jnp.where(sd > 0, target / jnp.where(sd > 0, sd, 1.0), 1.0)


@jax.jit
def member_faces(T: Array, params: Array, tables: dict[str, Array], u: Array) -> Array:
    """Face temperatures [N, 2] of every member (each with its own exchange factors)."""
    return jax.vmap(lambda t, uu: surface_temperature(t, params, tables, uu))(T, u)
