"""Time loop: ``solve`` runs a scenario over a fixed number of steps with ``lax.scan``.

Single-scenario functions; batch them with ``jax.vmap``. Shapes and step counts are static,
every physical number is traced, so new values never recompile. Outputs are saved every
``save_every`` steps (nested scans keep memory at the saved size).
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
from jax import Array

from ._balance import heat_balance
from ._boundary import Boundary
from ._geometry import Grid
from ._material import AbstractMaterial
from ._pytree import pytree_dataclass
from ._schemes import Scheme, step


@pytree_dataclass
class Scenario:
    """One physical case: grid, material, boundary conditions and initial temperature (K)."""

    grid: Grid
    material: AbstractMaterial
    boundary: Boundary
    initial_temperature: Array


@pytree_dataclass
class Trajectory:
    """Result of :func:`solve` (all temperatures in K).

    Attributes:
        times: save times, s, [n_save + 1] (the first is the start).
        temperature: fields at the save times, [n_save + 1, *grid.shape].
        surface_temperature: mean face temperature per face group, [n_save + 1, n_faces].
        gas_temperature: boundary gas (or fixed) temperature per face group, [n_save + 1, n_faces].
        heat_flux: mean heat flux into the metal per face group, W/m^2, [n_save + 1, n_faces].
        boundary_heat: heat that entered per face group during each save interval,
            [n_save, n_faces]; J for 3D, J/m for 2D, J/m^2 for 1D.
        enthalpy: total enthalpy content at the save times (same units as boundary_heat).
        residual: convergence of the implicit iterations during each save interval, K
            ([n_save]): the largest change the conservative enthalpy update made to the last
            iterate (1D, and 2D/3D with the krylov solver), or dt |R| / C left by the ADI
            solver; zero for explicit runs.
        finite: False if any temperature became NaN or inf.
    """

    times: Array
    temperature: Array
    surface_temperature: Array
    gas_temperature: Array
    heat_flux: Array
    boundary_heat: Array
    enthalpy: Array
    residual: Array
    finite: Array


@pytree_dataclass
class SolverState:
    """What the time loop carries (exposed so long runs can be continued in chunks).

    Only the fields: the heat balance is recomputed from T inside each step, which costs a
    stencil evaluation but keeps the loop's memory traffic at two arrays per cell.
    """

    t: Array
    H: Array
    T: Array


def total_enthalpy(H: Array, grid: Grid) -> Array:
    """Sum of H over metal cells times the cell volume."""
    if grid.mask is not None:
        H = jnp.where(grid.mask, H, 0.0)
    return jnp.sum(H) * grid.cell_volume


def initial_state(scenario: Scenario, t0: Array | float = 0.0) -> SolverState:
    """State at ``t0`` (s) from the scenario's initial temperature."""
    T0 = jnp.broadcast_to(scenario.initial_temperature, scenario.grid.shape)
    T0 = T0.astype(scenario.grid.spacing.dtype)
    t0 = jnp.asarray(t0, T0.dtype)
    return SolverState(t0, scenario.material.enthalpy(T0), T0)


def _record(state: SolverState, scenario: Scenario, limit: str = "left") -> dict[str, Array]:
    # Saved boundary values are those the step ending at the save time saw (left limit).
    faces = scenario.boundary.at(state.t, limit=limit)
    bal = heat_balance(state.T, scenario.grid, scenario.material, faces, scenario.boundary.fixed)
    return {
        "times": state.t,
        "temperature": state.T,
        "surface_temperature": bal.surface_temperature,
        "gas_temperature": faces.gas_temperature,
        "heat_flux": bal.heat_rate / jnp.maximum(bal.face_area, 1e-300),
        "enthalpy": total_enthalpy(state.H, scenario.grid),
    }


def advance(state: SolverState, scenario: Scenario, dt: Array, n_save: int, save_every: int,
            scheme: Scheme) -> tuple[SolverState, dict[str, Array]]:
    """Run ``n_save * save_every`` steps of size ``dt`` (s); record after every ``save_every``.

    Returns the final state and the records (arrays with a leading axis of ``n_save``) plus
    ``boundary_heat`` and ``residual`` per save interval. Not jitted: wrap it (``solve`` does).
    """
    grid, material, boundary = scenario.grid, scenario.material, scenario.boundary
    dt = jnp.asarray(dt, state.T.dtype)

    Carry = tuple[SolverState, Array, Array]

    def one(carry: Carry, _: None) -> tuple[Carry, None]:
        s, acc, res = carry
        H, T, heat, r = step(s.H, s.T, s.t, dt, grid, material, boundary, scheme)
        return (SolverState(s.t + dt, H, T), acc + heat, jnp.maximum(res, r)), None

    def save(s: SolverState, _: None) -> tuple[SolverState, dict[str, Array]]:
        zero = jnp.zeros((boundary.n_faces,), state.T.dtype)
        init = (s, zero, jnp.zeros((), state.T.dtype))
        (s, heat, res), _ = jax.lax.scan(one, init, None, length=save_every)
        rec = _record(s, scenario)
        rec["boundary_heat"] = heat
        rec["residual"] = res
        return s, rec

    return jax.lax.scan(save, state, None, length=n_save)


def _assemble(scenario: Scenario, state0: SolverState,
              records: dict[str, Array]) -> Trajectory:
    first = _record(state0, scenario, limit="right")
    cat = {k: jnp.concatenate([first[k][None], records[k]]) for k in first}
    return Trajectory(
        times=cat["times"],
        temperature=cat["temperature"],
        surface_temperature=cat["surface_temperature"],
        gas_temperature=cat["gas_temperature"],
        heat_flux=cat["heat_flux"],
        boundary_heat=records["boundary_heat"],
        enthalpy=cat["enthalpy"],
        residual=records["residual"],
        finite=jnp.all(jnp.isfinite(cat["temperature"])),
    )


DEFAULT_SCHEME = Scheme()


@partial(jax.jit, static_argnames=("n_steps", "save_every", "scheme"))
def solve(scenario: Scenario, dt: Array | float, n_steps: int, save_every: int = 1,
          scheme: Scheme = DEFAULT_SCHEME) -> Trajectory:
    """Integrate ``scenario`` from t = 0 for ``n_steps`` steps of ``dt`` seconds.

    Args:
        scenario: the physical case (traced).
        dt: time step, s (traced). Explicit schemes must respect :func:`stable_time_step`;
            ``steeltwin.engine.simulate`` checks it (this function cannot raise on traced values).
        n_steps: number of steps (static); must be a multiple of ``save_every``.
        save_every: steps between saved outputs (static).
        scheme: :class:`Scheme` (static).

    Returns:
        A :class:`Trajectory`; check ``finite`` (``steeltwin.engine.simulate`` raises if it is
        False).
    """
    if n_steps % save_every:
        raise ValueError(f"n_steps={n_steps} must be a multiple of save_every={save_every}")
    s0 = initial_state(scenario)
    _, records = advance(s0, scenario, jnp.asarray(dt), n_steps // save_every, save_every, scheme)
    return _assemble(scenario, s0, records)


def with_values(obj: object, **changes: object) -> object:
    """``dataclasses.replace`` for the frozen pytrees (convenience for sweeps)."""
    return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
