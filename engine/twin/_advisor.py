"""Set-point advice: zone gas temperatures (and the soak time) that reach a discharge target.

Gradient-based: the furnace schedule is built from the decision variables in JAX
(:func:`zone_boundary`, the same zone shape as ``steeltwin.engine.furnace_boundary``: constant
within a
zone, linear ramps of ``ramp_time`` across zone boundaries), rolled out through the
propagator's pure step function with ``lax.scan``, and differentiated with ``jax.grad``.
Objective, minimised with Adam (Optax) and projected onto the bounds after every update:

    J = ((T_mean(t_d) - T_target) / 1 K)^2 + (max(0, dT(t_d) - dT_max) / 1 K)^2
        + weight * Q / Q_0

with t_d the discharge time (the sum of the residence times), dT the largest minus the
smallest temperature through the thickness, and Q = sum_z d_z sigma (T_gas,z^4 - T_0^4) the
radiant heat demand of the schedule (J/m^2, the gas's black-body emissive power times the
residence time: a proxy for fuel, which rises with both; Q_0 that of the initial schedule).
The penalties dominate until the targets are met; the heat term then lowers set-points.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from .._boundary import STEFAN_BOLTZMANN, Boundary, FurnaceZone
from .._errors import ConfigError, require
from .._solve import Scenario
from ._predict import resample
from ._propagator import AbstractPropagator
from ._slab import knot_inputs, scenario_params

KELVIN = 273.15


def zone_boundary(gas_K: Array, durations: Array, phi_top: Array, phi_bottom: Array,
                  h: Array, ramp_time: float | Array) -> Boundary:
    """A slab's furnace boundary from per-zone arrays (traced; see ``furnace_boundary``)."""
    ends = jnp.cumsum(durations)
    starts = ends - durations
    half = 0.5 * ramp_time
    n = gas_K.shape[0]
    lo = starts + jnp.where(jnp.arange(n) > 0, half, 0.0)
    hi = ends - jnp.where(jnp.arange(n) < n - 1, half, 0.0)
    times = jnp.stack([lo, hi], 1).reshape(-1)
    rep = lambda v: jnp.repeat(v, 2)  # noqa: E731
    phi = jnp.stack([rep(phi_bottom), rep(phi_top)])
    return Boundary(times=times, gas_temperature=jnp.stack([rep(gas_K)] * 2), h=jnp.stack(
        [rep(h)] * 2), exchange_factor=phi, heat_flux=jnp.zeros_like(phi), fixed=(False, False))


@dataclasses.dataclass(frozen=True)
class Advice:
    """Proposed set-points and what they achieve (degC, K, s, J/m^2)."""

    zones: list[FurnaceZone]
    discharge_mean_C: float
    discharge_delta_K: float
    discharge_time_s: float
    heat_demand: float
    initial_heat_demand: float
    initial_discharge_mean_C: float
    initial_discharge_delta_K: float
    iterations: int
    objective: list[float]

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["zones"] = [dataclasses.asdict(z) for z in self.zones]
        return d


def advise_setpoints(propagator: AbstractPropagator, scenario: Scenario,
                     zones: Sequence[FurnaceZone], target_mean_C: float, max_delta_K: float,
                     gas_bounds_C: tuple[float, float] = (900.0, 1320.0),
                     soak_bounds_s: tuple[float, float] | None = None, ramp_time: float = 300.0,
                     heat_weight: float = 1.0, iterations: int = 200,
                     learning_rate: float = 0.02) -> Advice:
    """Zone gas temperatures (and, with ``soak_bounds_s``, the last zone's residence time)
    that bring the slab to ``target_mean_C`` at discharge with a through-thickness spread of
    at most ``max_delta_K``, with the least radiant heat demand, within the bounds."""
    require(len(zones) > 0, "zones", list(zones), "at least one furnace zone",
            "pass the schedule to optimise")
    lo, hi = gas_bounds_C
    require(math.isfinite(lo) and math.isfinite(hi) and lo < hi, "gas_bounds_C",
            gas_bounds_C, "finite (low, high) in degC with low < high", "e.g. (900, 1320)")
    for z in zones:
        require(lo <= z.gas_temperature_C <= hi, f"zones.{z.name}.gas_temperature_C",
                z.gas_temperature_C, f"within gas_bounds_C {gas_bounds_C}",
                "widen the bounds or start from a feasible schedule")
    require(math.isfinite(target_mean_C) and -50 < target_mean_C < 1400, "target_mean_C",
            target_mean_C, "a discharge temperature in degC", "typical 1150-1270 degC")
    require(math.isfinite(max_delta_K) and max_delta_K > 0, "max_delta_K", max_delta_K,
            "a positive temperature difference in K", "typical 20-50 K")
    if soak_bounds_s is not None:
        s_lo, s_hi = soak_bounds_s
        require(0 < s_lo < s_hi and s_lo <= zones[-1].duration <= s_hi, "soak_bounds_s",
                soak_bounds_s, "0 < low <= the last zone's duration <= high (s)",
                "bound the soak time around the current one")
    dt = propagator.dtype
    params = jnp.asarray(scenario_params(scenario), dt)
    T0 = jnp.asarray(resample(np.broadcast_to(np.asarray(scenario.initial_temperature),
                                              scenario.grid.shape)[None], propagator.cells), dt)
    arr = lambda f: jnp.asarray([f(z) for z in zones], dt)  # noqa: E731
    dur0 = arr(lambda z: z.duration)
    longest = float(jnp.sum(dur0)) - zones[-1].duration + (
        soak_bounds_s[1] if soak_bounds_s else zones[-1].duration)
    step = propagator.step_seconds
    # Steps rounded up to a power of two: one compiled program serves many schedules.
    n_steps = 1 << math.ceil(longest / step).bit_length()  # >= ceil(longest / step) + 1
    s_lo, s_hi = soak_bounds_s or (0.0, 1.0)
    raw = {"lo": lo, "hi": hi, "phi_t": arr(lambda z: z.exchange_factor_top),
         "phi_b": arr(lambda z: z.exchange_factor_bottom), "h": arr(lambda z: z.h),
         "dur0": dur0, "s_lo": s_lo, "s_hi": s_hi, "ramp": ramp_time, "params": params,
         "T0": T0[0], "target": target_mean_C + KELVIN, "max_delta": max_delta_K,
         "weight": heat_weight, "q0": 1.0}
    c: dict[str, Array] = {k: jnp.asarray(v, dt) for k, v in raw.items()}
    outcome, update = _programs(propagator, len(zones), n_steps, soak_bounds_s is not None)
    x0 = np.array([(z.gas_temperature_C - lo) / (hi - lo) for z in zones] + [
        (zones[-1].duration - s_lo) / (s_hi - s_lo) if soak_bounds_s else 0.0])
    x = jnp.asarray(x0, dt)
    m0, d0, q0, _ = outcome(x, c)
    c["q0"] = q0
    opt = optax.adam(learning_rate)
    history = []
    # Optax mixes its int32 step count with floats; allow that under strict promotion.
    with jax.numpy_dtype_promotion("standard"):
        state = opt.init(x)
        lr = jnp.asarray(learning_rate, dt)
        for _ in range(iterations):
            x, state, v = update(x, state, c, lr)
            history.append(float(v))
    if not np.all(np.isfinite(history)):
        raise ConfigError("set-point advice diverged (non-finite objective): lower "
                          "learning_rate or check the schedule and bounds")
    m, d, q, t_d = outcome(x, c)
    gas, dur = _unpack(x, c, soak_bounds_s is not None)
    new = [dataclasses.replace(z, gas_temperature_C=float(g) - KELVIN, duration=float(t))
           for z, g, t in zip(zones, gas, dur, strict=True)]
    return Advice(new, float(m) - KELVIN, float(d), float(t_d), float(q), float(q0),
                  float(m0) - KELVIN, float(d0), iterations, history)


def _unpack(x: Array, c: dict[str, Array], soak: bool) -> tuple[Array, Array]:
    gas = c["lo"] + KELVIN + x[:-1] * (c["hi"] - c["lo"])
    dur = c["dur0"]
    if soak:
        dur = dur.at[-1].set(c["s_lo"] + x[-1] * (c["s_hi"] - c["s_lo"]))
    return gas, dur


_PROGRAMS: dict[tuple[Any, ...], tuple[Any, Any]] = {}


def _programs(propagator: AbstractPropagator, n_zones: int, n_steps: int,
              soak: bool) -> tuple[Any, Any]:
    """The jitted passage outcome and optimiser update for a shape of problem, compiled once
    per (propagator, zone count, step count, soak) and reused: every number (bounds, targets,
    the slab, the schedule) is an argument, so a new request does not recompile."""
    key = (id(propagator), n_zones, n_steps, soak)
    if key in _PROGRAMS:
        return _PROGRAMS[key]
    fn = propagator.step_function()
    step = propagator.step_seconds
    frac = np.linspace(0, 1, propagator.n_knots)

    def outcome(x: Array, c: dict[str, Array]) -> tuple[Array, Array, Array, Array]:
        gas, dur = _unpack(x, c, soak)
        bnd = zone_boundary(gas, dur, c["phi_t"], c["phi_b"], c["h"], c["ramp"])
        times = jnp.asarray(step * (np.arange(n_steps)[:, None] + frac[None]), x.dtype)
        u = knot_inputs(bnd, times)
        params, T0 = c["params"], c["T0"]

        def body(T: Array, uk: Array) -> tuple[Array, Array]:
            nxt = fn(T[None], uk[None], params[None])[0][0]
            return nxt, nxt

        _, fields = jax.lax.scan(body, T0, u)
        fields = jnp.concatenate([T0[None], fields])
        t_d = jnp.sum(dur)
        pos = t_d / step
        i = jnp.clip(jnp.floor(pos).astype(jnp.int32), 0, n_steps - 1)
        w = pos - i.astype(pos.dtype)
        Td = (1 - w) * fields[i] + w * fields[i + 1]
        q = jnp.sum(dur * STEFAN_BOLTZMANN * (gas**4 - T0.mean() ** 4))
        return Td.mean(), Td.max() - Td.min(), q, t_d

    def objective(x: Array, c: dict[str, Array]) -> Array:
        m, d, q, _ = outcome(x, c)
        return ((m - c["target"]) ** 2 + jnp.maximum(d - c["max_delta"], 0.0) ** 2
                + c["weight"] * q / c["q0"])

    value_grad = jax.value_and_grad(objective)

    def update(x: Array, state: Any, c: dict[str, Array], lr: Array) -> tuple[Array, Any, Array]:
        v, g = value_grad(x, c)
        if not soak:
            g = g.at[-1].set(0.0)
        upd, state = optax.adam(lr).update(g, state, x)
        return jnp.clip(optax.apply_updates(x, upd), 0.0, 1.0), state, v

    _PROGRAMS[key] = (jax.jit(outcome), jax.jit(update))
    return _PROGRAMS[key]
