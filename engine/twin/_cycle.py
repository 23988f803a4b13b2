"""One assimilation cycle of S twins of N members each, as one jitted function.

``cycle_function(step_fn, ...)`` returns ``cycle(T, z, base, params, obs, seeds, ks)``:

1. each member's exchange factors are the schedule's phi times exp(s_face) (clipped to
   (0, 1]); all S x N members are forecast in one batched propagator call; the propagator's
   own spread (a surrogate's error) is added as member noise (``model_error``) and the
   log-multipliers random-walk (``walk``);
2. each reading at t0 + w (t1 - t0) is predicted as (1 - w) H(x(t0)) + w H(x(t1)) (H: the
   face temperature of the solver's face balance for pyrometers, the field at its depth for
   thermocouples), its error std widened by ``interpolation`` w (1 - w) |H(x(t1)) - H(x(t0))|
   (the surface does not heat linearly inside a long cycle);
3. the analysis (``enkf_update``: gate, inflate, ETKF or stochastic EnKF) updates [T, z].

Random keys come from (twin seed, cycle index), so replays and batching give identical
numbers. See ``_twin`` for the state and the filter's settings.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

from ._enkf import enkf_update
from ._slab import depth_temperature, surface_temperature


def cycle_function(step_fn: Any, tables: dict[str, Array], step_seconds: float, method: str,
              gate: float, inflation: float, walk: float, interpolation: float = 0.0,
              model_error: float = 0.0) -> Any:
    """The jitted cycle for S twins of N members each (see the module doc)."""

    def observe(T: Array, p: Array, u_knot: Array, kind: Array, depth: Array) -> Array:
        faces = surface_temperature(T, p, tables, u_knot)
        tc = jax.vmap(lambda d: depth_temperature(T, p, d))(depth)
        return jnp.where(kind == 0, faces[0], jnp.where(kind == 1, faces[1], tc))

    def one_twin(T0: Array, T1: Array, z: Array, u: Array, p: Array, obs: dict[str, Array],
                 key: Array) -> tuple[Array, ...]:
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
        # The charging offset is constant and unobservable once the slab has forgotten its
        # start: undo the inflation on it, else its spread would grow by inflation**cycles.
        off = Xa[:, -1]
        Xa = Xa.at[:, -1].set(off.mean() + (off - off.mean()) / inflation)
        return Xa[:, :n], Xa[:, n:], accept, innov, pred.mean(0)

    def cycle(T: Array, z: Array, base: Array, params: Array, obs: dict[str, Array],
              seeds: Array, ks: Array) -> tuple[Array, ...]:
        # Keys from (the twin's seed, its cycle): replays and batching give the same numbers.
        keys = jax.vmap(lambda sd, k: jax.random.fold_in(jax.random.PRNGKey(sd), k))(seeds, ks)
        s, m, n = T.shape
        # Member exchange factors: phi * exp(s_face), clipped to (0, 1].
        scale = jnp.exp(z[..., :2])  # [S, N, 2]
        phi = jnp.clip(base[:, None, :, :, 1] * scale[:, :, None, :], 1e-6, 1.0)
        u = jnp.broadcast_to(base[:, None], (s, m, *base.shape[1:]))
        u = u.at[..., 1].set(phi)
        p = jnp.broadcast_to(params[:, None], (s, m, params.shape[-1]))
        T1, spread, src = step_fn(T.reshape(s * m, n), u.reshape(s * m, *u.shape[2:]),
                                  p.reshape(s * m, -1))
        T1 = T1.reshape(s, m, n)
        k_walk, k_an = jax.vmap(lambda k: jax.random.split(k))(keys).swapaxes(0, 1)
        noise = jax.vmap(lambda k: jax.random.normal(k, (m, 2), T.dtype))(k_walk)
        if model_error:  # the propagator's error (0 for physics rows) as member noise
            k_err = jax.vmap(lambda k: jax.random.fold_in(k, 1))(k_walk)
            eps = jax.vmap(lambda k: jax.random.normal(k, (m, 1), T.dtype))(k_err)
            T1 = T1 + model_error * eps * spread.reshape(s, m, n)
        z = z.at[..., :2].add(walk * noise)
        out = jax.vmap(one_twin)(T, T1, z, u, params, obs, k_an)
        return (*out, src.reshape(s, m)[:, 0])

    return jax.jit(cycle)


@jax.jit
def member_faces(T: Array, params: Array, tables: dict[str, Array], u: Array) -> Array:
    """Face temperatures [N, 2] of every member (each with its own exchange factors)."""
    return jax.vmap(lambda t, uu: surface_temperature(t, params, tables, uu))(T, u)
