"""Shared cases and helpers for the engine verification tests (not a test module).

Kept in one place so that tests sharing a case also share its compiled kernel: ``solve`` is
cached on (shapes, n_steps, save_every, scheme), so reusing a configuration costs no compile.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from steeltwin import engine as E

KELVIN = 273.15

# A constant-property "steel" for the exact solutions: alpha = k / (rho c) = 1.019e-5 m^2/s.
K_CONST, RHO_CONST, C_CONST = 40.0, 7850.0, 500.0
ALPHA_CONST = K_CONST / (RHO_CONST * C_CONST)
# Cooling from 1000 degC into 0 degC surroundings: a 1000 K temperature span.
T_HOT, T_COLD = 1273.15, 273.15

# The furnace schedule of the nonlinear slab case (degC, s).
FURNACE_ZONES = (("preheat", 1000.0, 3600.0), ("heating", 1250.0, 3600.0),
                 ("soak", 1230.0, 2400.0))
FURNACE_END = 9600.0


def furnace_zones(phi_top: float = 0.6, phi_bottom: float = 0.6) -> list[E.FurnaceZone]:
    return [E.FurnaceZone(name, t_gas, dur, phi_top, phi_bottom)
            for name, t_gas, dur in FURNACE_ZONES]


def constant_steel(dtype: jnp.dtype = jnp.float64) -> E.ConstantMaterial:
    return E.constant_material(K_CONST, RHO_CONST, C_CONST, dtype=dtype)


def convection_box(half_widths: Sequence[float], cells: Sequence[int], h: float,
                   dtype: jnp.dtype = jnp.float64) -> E.Scenario:
    """A slab/rectangle/brick of constant steel at T_HOT, convection h to T_COLD on every face."""
    grid = E.box_grid(tuple(2.0 * L for L in half_widths), tuple(cells), dtype)
    faces = [E.FaceSpec(T_COLD, h)] * (2 * len(cells))
    boundary = E.constant_boundary(faces, dtype)
    return E.Scenario(grid, constant_steel(dtype), boundary, jnp.asarray(T_HOT, dtype))


def centred_coordinates(grid: E.Grid) -> list[np.ndarray]:
    """Cell-centre coordinates per axis, measured from the middle of the box (m)."""
    return [np.asarray(grid.centres(a)) - 0.5 * grid.shape[a] * float(grid.spacing[a])
            for a in range(grid.ndim)]


_advance = jax.jit(E.advance, static_argnames=("n_save", "save_every", "scheme"))


def run_chunked(scenario: E.Scenario, dt: float, n_chunks: int, chunk: int,
                scheme: E.Scheme, save_every: int = 1) -> dict[str, np.ndarray]:
    """Integrate ``n_chunks * chunk * save_every`` steps with one compiled chunk of fixed size.

    Changing dt only changes how many times the chunk is called, so a dt-refinement study
    compiles once. Returns times, temperature (with the initial state first), boundary_heat
    and enthalpy as NumPy arrays.
    """
    state = E.initial_state(scenario)
    dt_arr = jnp.asarray(dt, state.T.dtype)
    times, temps, enth = [0.0], [np.asarray(state.T)], [float(E.total_enthalpy(state.H,
                                                                                scenario.grid))]
    heats = []
    for _ in range(n_chunks):
        state, rec = _advance(state, scenario, dt_arr, n_save=chunk, save_every=save_every,
                              scheme=scheme)
        times.extend(np.asarray(rec["times"]).tolist())
        temps.extend(np.asarray(rec["temperature"]))
        enth.extend(np.asarray(rec["enthalpy"]).tolist())
        heats.append(np.asarray(rec["boundary_heat"]))
    return {"times": np.asarray(times), "temperature": np.asarray(temps),
            "enthalpy": np.asarray(enth), "boundary_heat": np.concatenate(heats)}


def energy_mismatch(traj: E.Trajectory) -> tuple[float, float]:
    """(|Delta H - Q| / |Q|, Q) for a trajectory: enthalpy change against boundary heat."""
    H = np.asarray(traj.enthalpy, dtype=np.float64)
    Q = float(np.sum(np.asarray(traj.boundary_heat, dtype=np.float64)))
    return abs((H[-1] - H[0]) - Q) / abs(Q), Q


def fit_order(h: Sequence[float], err: Sequence[float]) -> float:
    """Least-squares slope of log(err) against log(h)."""
    slope, _ = np.polyfit(np.log(np.asarray(h)), np.log(np.asarray(err)), 1)
    return float(slope)


def crossing_time(t: np.ndarray, y: np.ndarray, level: float) -> float:
    """First time a rising series y(t) reaches ``level`` (linear interpolation)."""
    i = int(np.argmax(y >= level))
    if i == 0:
        raise AssertionError(f"series never crosses {level}")
    return float(t[i - 1] + (level - y[i - 1]) * (t[i] - t[i - 1]) / (y[i] - y[i - 1]))


# --- EN 1993-1-2:2005 carbon steel (clauses 3.4.1.2, 3.4.1.3), written out again so that the
# tests do not check the engine against itself. theta in degC; held outside 20-1200 degC.
EC3_DENSITY = 7850.0


def ec3_specific_heat(theta: np.ndarray | float) -> np.ndarray:
    t = np.clip(np.asarray(theta, dtype=np.float64), 20.0, 1200.0)
    out = np.full(t.shape, 650.0)
    a = t < 600.0
    out[a] = 425.0 + 7.73e-1 * t[a] - 1.69e-3 * t[a] ** 2 + 2.22e-6 * t[a] ** 3
    b = (t >= 600.0) & (t < 735.0)
    out[b] = 666.0 + 13002.0 / (738.0 - t[b])
    c = (t >= 735.0) & (t < 900.0)
    out[c] = 545.0 + 17820.0 / (t[c] - 731.0)
    return out


def ec3_conductivity(theta: np.ndarray | float) -> np.ndarray:
    t = np.clip(np.asarray(theta, dtype=np.float64), 20.0, 1200.0)
    return np.where(t < 800.0, 54.0 - 3.33e-2 * t, 27.3)
