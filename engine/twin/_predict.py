"""Predict API: fields and summaries of slabs at requested times, through any propagator.

``predict(propagator, scenarios, times)`` rolls each slab (one engine ``Scenario`` per asset:
1D slab grid, EN 1993-1-2 material, a boundary such as a furnace schedule, the initial
temperature) forward in steps of ``propagator.step_seconds`` from ``start_time`` (or from a
given current field), all assets in one batched call, and interpolates linearly in time to
the requested times. Summaries per asset and time: top and bottom face temperature (the
solver's face balance), centre (mean of the middle cells), mean, and surface - centre; the
spread (K, the surrogate ensemble's calibrated std; 0 for physics) and the provenance of
every step. ``stress=True`` adds the elastic free-plate stress (EN 1993-1-2 E(T), thermal
strain) and the utilisation von Mises / f_y(T).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._boundary import Boundary
from .._errors import ConfigError
from .._solve import Scenario
from .._stress_material import carbon_steel_mechanical, stainless_steel_mechanical
from .._stress_plate import plate_elastic
from .._stress_risk import utilisation
from ._propagator import AbstractPropagator, _pad, bucket_size, source_names
from ._slab import (
    knot_inputs,
    knot_times,
    material_tables,
    scenario_params,
    slab_grid_of,
    surface_temperature,
)

TIME_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096)

@dataclasses.dataclass(frozen=True)
class Prediction:
    """Result of :func:`predict` (temperatures K, times s, stress Pa). Arrays per asset (B)
    and requested time (T); ``temperature`` and ``spread`` are [B, T, n]."""

    times: np.ndarray
    temperature: np.ndarray
    spread: np.ndarray
    surface_bottom: np.ndarray
    surface_top: np.ndarray
    centre: np.ndarray
    mean: np.ndarray
    centre_spread: np.ndarray
    provenance: list[list[str]]  # per asset, the source of each step
    step_times: np.ndarray
    stress: np.ndarray | None = None  # in-plane sigma_xx = sigma_yy, [B, T, n]
    utilisation: np.ndarray | None = None

    @property
    def surface_centre(self) -> np.ndarray:
        """Largest face temperature minus the centre, K, [B, T]."""
        return np.maximum(self.surface_top, self.surface_bottom) - self.centre

    def summary(self, asset: int = 0) -> dict[str, Any]:
        """Plain numbers of one asset at the last requested time (degC where named _C)."""
        k = -1
        src = self.provenance[asset]
        out = {"time_s": float(self.times[k]),
               "surface_top_C": float(self.surface_top[asset, k] - 273.15),
               "surface_bottom_C": float(self.surface_bottom[asset, k] - 273.15),
               "centre_C": float(self.centre[asset, k] - 273.15),
               "mean_C": float(self.mean[asset, k] - 273.15),
               "centre_spread_K": float(self.centre_spread[asset, k]),
               "max_surface_centre_K": float(np.max(np.abs(self.surface_centre[asset]))),
               "sources": {s: src.count(s) for s in sorted(set(src))}}
        if self.utilisation is not None:
            out["max_utilisation"] = float(np.max(self.utilisation[asset]))
        return out


def centre_of(T: Any) -> Any:
    n = T.shape[-1]
    lo, hi = (n // 2 - 1, n // 2 + 1) if n % 2 == 0 else (n // 2, n // 2 + 1)
    return T[..., lo:hi].mean(axis=-1)


def resample(T: np.ndarray, cells: int) -> np.ndarray:
    """A through-thickness field [..., m] on ``cells`` equal cells (linear in the centres)."""
    m = T.shape[-1]
    if m == cells:
        return T
    src = (np.arange(m) + 0.5) / m
    dst = (np.arange(cells) + 0.5) / cells
    return np.apply_along_axis(lambda row: np.interp(dst, src, row), -1, T)


_knots = jax.jit(knot_inputs)


@jax.jit
def _face_inputs(boundary: Boundary, times: jax.Array, left: jax.Array) -> jax.Array:
    """Face inputs [T, F, 3] at ``times``: the left limit where ``left``, else the right."""
    def one(t: jax.Array, use_left: jax.Array) -> jax.Array:
        lf, rt = boundary.at(t, limit="left"), boundary.at(t, limit="right")
        pick = lambda a, b: jnp.where(use_left, a, b)  # noqa: E731
        return jnp.stack([pick(lf.gas_temperature, rt.gas_temperature),
                          pick(lf.exchange_factor, rt.exchange_factor), pick(lf.h, rt.h)], -1)

    return jax.vmap(one)(times, left)


def schedule_inputs(boundary: Boundary, t0: float, n_steps: int, step_seconds: float,
                    n_knots: int) -> jax.Array:
    """Knot inputs [n_steps, n_knots, 2, 3] of a boundary from ``t0`` (s)."""
    return _knots(boundary, jnp.asarray(knot_times(t0, n_steps, step_seconds, n_knots),
                                        boundary.times.dtype))


def predict(propagator: AbstractPropagator, scenarios: Scenario | Sequence[Scenario],
            times: Sequence[float] | np.ndarray, start_time: float = 0.0, state: Any = None,
            stress: bool = False, grade: str = "S355", n_steps: int | None = None) -> Prediction:
    """Fields and summaries of every asset at ``times`` (s, >= start_time).

    Args:
        propagator: physics, surrogate or guarded (see ``_propagator``).
        scenarios: one 1D slab :class:`~engine.Scenario` per asset (or one).
        times: requested times, s, on the schedule's clock.
        start_time: s; the scenarios' initial temperature applies here, unless ``state``.
        state: the current fields [B, m] (K) at ``start_time`` (resampled to the
            propagator's cells), e.g. a twin's estimate.
        stress: add the elastic free-plate stress and utilisation.
        grade: carbon-steel grade for the yield strength (stainless uses 1.4301).
        n_steps: propagator steps to roll (default: enough for the latest time); a caller
            that rounds it up to a few fixed counts compiles the rollout only for those.
    """
    scs = [scenarios] if isinstance(scenarios, Scenario) else list(scenarios)
    t_req = check_times(times, start_time)
    needed = steps_needed(propagator, t_req, start_time)
    if n_steps is not None and n_steps < needed:
        raise ConfigError(f"n_steps={n_steps} is invalid: expected >= {needed} to reach "
                          f"t={t_req.max():g} s; leave it None")
    roll = rollout_assets(propagator, scs, start_time, n_steps or needed, state)
    return summarise(propagator, scs, roll, t_req, stress, grade)


def check_times(times: Sequence[float] | np.ndarray, start_time: float) -> np.ndarray:
    t_req = np.asarray(times, np.float64)
    if t_req.ndim != 1 or t_req.size == 0 or not np.all(np.isfinite(t_req)) or \
            np.any(t_req < start_time):
        raise ConfigError(f"times={t_req.tolist()} is invalid: expected finite times in s at "
                          f"or after start_time={start_time}; request times from now on")
    return t_req


def steps_needed(propagator: AbstractPropagator, times: np.ndarray, start_time: float) -> int:
    return max(1, math.ceil((float(np.max(times)) - start_time) / propagator.step_seconds
                            - 1e-9))


@dataclasses.dataclass(frozen=True)
class Rollout:
    """Fields after each propagator step of a batch of assets (see :func:`rollout_assets`)."""

    start_time: float
    params: np.ndarray  # [B, P]
    fields: np.ndarray  # [B, S + 1, n] K, the start included
    spreads: np.ndarray  # [B, S + 1, n] K
    codes: np.ndarray  # [B, S] source codes
    step_times: np.ndarray  # [S + 1] s

    def select(self, rows: slice) -> Rollout:
        return Rollout(self.start_time, self.params[rows], self.fields[rows],
                       self.spreads[rows], self.codes[rows], self.step_times)


def rollout_assets(propagator: AbstractPropagator, scs: Sequence[Scenario], start_time: float,
                   n_steps: int, state: Any = None) -> Rollout:
    """Roll every asset ``n_steps`` propagator steps from ``start_time`` in one batched call."""
    if not scs:
        raise ConfigError("scenarios=[] is invalid: expected at least one asset")
    params = np.stack([scenario_params(s) for s in scs])
    n, step = propagator.cells, propagator.step_seconds
    if state is None:
        T0 = np.stack([np.broadcast_to(np.asarray(s.initial_temperature, np.float64),
                                       s.grid.shape) for s in scs])
    else:
        T0 = np.asarray(state, np.float64).reshape(len(scs), -1)
    T0 = resample(T0, n)
    inputs = jnp.stack([schedule_inputs(s.boundary, start_time, n_steps, step,
                                        propagator.n_knots) for s in scs])
    mean, spread, codes = propagator.rollout(T0, inputs, params)
    fields = np.concatenate([T0[:, None], np.asarray(mean, np.float64)], axis=1)
    spreads = np.concatenate([np.zeros_like(T0)[:, None], np.asarray(spread, np.float64)], 1)
    return Rollout(start_time, params, fields, spreads, np.asarray(codes),
                   start_time + step * np.arange(n_steps + 1))


@jax.jit
def _faces(T: jax.Array, params: jax.Array, faces: jax.Array,
           tables: dict[str, jax.Array]) -> jax.Array:
    return jax.vmap(jax.vmap(lambda T_, p, u: surface_temperature(T_, p, tables, u),
                             in_axes=(0, None, 0)), in_axes=(0, 0, 0))(T, params, faces)


def summarise(propagator: AbstractPropagator, scs: Sequence[Scenario], roll: Rollout,
              t_req: np.ndarray, stress: bool = False, grade: str = "S355") -> Prediction:
    """Interpolate a rollout to the requested times and add the summaries (and stress)."""
    step, n_steps = propagator.step_seconds, roll.codes.shape[1]
    if float(np.max(t_req)) > roll.step_times[-1] + 1e-9:
        raise ConfigError(f"times up to {np.max(t_req):g} s are invalid: the rollout ends at "
                          f"{roll.step_times[-1]:g} s; roll more steps")
    fields, spreads, params = roll.fields, roll.spreads, roll.params
    # Linear interpolation in time between the step ends.
    pos = np.clip((t_req - roll.start_time) / step, 0, n_steps)
    i0 = np.minimum(np.floor(pos).astype(int), n_steps - 1)
    w = (pos - i0)[None, :, None]
    T = (1 - w) * fields[:, i0] + w * fields[:, i0 + 1]
    S = (1 - w) * spreads[:, i0] + w * spreads[:, i0 + 1]
    # Face temperatures under the boundary at each requested time (one compiled call).
    dt = propagator.dtype
    tables = material_tables(dt)
    # Padded to bucket sizes (assets and times) so that it compiles for a few shapes only.
    nb, nt = len(scs), len(t_req)
    tb = np.concatenate([t_req, np.full(bucket_size(nt, TIME_BUCKETS) - nt, t_req[-1])])
    # The boundary just before each time (left limit), as the solver's last sub-step saw
    # it: at a zone change the new zone has not acted yet (the right limit would put the next
    # zone's gas on the face a whole step early: +13 K at a 1000 -> 1250 degC change).
    # At the start itself, the right limit: the first zone acts from there.
    after = jnp.asarray(tb > roll.start_time + 1e-9)
    faces = jnp.stack([_face_inputs(s.boundary, jnp.asarray(tb, dt), after) for s in scs])
    Tb = np.concatenate([T, np.repeat(T[:, -1:], len(tb) - nt, axis=1)], axis=1)
    surf = np.asarray(_faces(_pad(jnp.asarray(Tb, dt), bucket_size(nb)),
                             _pad(jnp.asarray(params, dt), bucket_size(nb)),
                             _pad(faces, bucket_size(nb)), tables), np.float64)[:nb, :nt]
    sigma = util = None
    if stress:
        sigma, util = _plate_stress(T, params, grade)
    return Prediction(times=t_req, temperature=T, spread=S, surface_bottom=surf[..., 0],
                      surface_top=surf[..., 1], centre=centre_of(T), mean=T.mean(-1),
                      centre_spread=centre_of(S),
                      provenance=[source_names(c) for c in roll.codes],
                      step_times=roll.step_times, stress=sigma, utilisation=util)


@jax.jit
def _plate_stress_one(T: jax.Array, grid: Any, mech: Any) -> tuple[jax.Array, jax.Array]:
    """Free-plate stress and utilisation of one asset's fields [T, n] (compiled once)."""
    ps = jax.vmap(lambda t: plate_elastic(t, grid, mech))(T)
    return ps.stress, utilisation(ps.von_mises, T, mech)


def _plate_stress(T: np.ndarray, params: np.ndarray, grade: str) -> tuple[np.ndarray, ...]:
    sig, util = np.zeros_like(T), np.zeros_like(T)
    dt = jnp.zeros(()).dtype
    for b in range(T.shape[0]):
        mech = (carbon_steel_mechanical(grade, dtype=dt) if params[b, 3] < 0.5
                else stainless_steel_mechanical(dtype=dt))
        grid = slab_grid_of(jnp.asarray(params[b], dt), T.shape[-1])
        nt = T.shape[1]  # times padded to a bucket: a few compiled shapes only
        Tb = np.concatenate([T[b], np.repeat(T[b, -1:], bucket_size(nt, TIME_BUCKETS) - nt, 0)])
        s_b, u_b = _plate_stress_one(jnp.asarray(Tb, dt), grid, mech)
        sig[b], util[b] = np.asarray(s_b)[:nt], np.asarray(u_b)[:nt]
    return sig, util
