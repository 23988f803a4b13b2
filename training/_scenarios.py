"""From a row of sampled parameters to an engine Scenario, in JAX, so batches are one vmap.

``DatasetSpec`` is the checked ``dataset`` config: the geometry kind and cell counts (static,
so every scenario of a dataset has the same shapes and one compiled solver serves them all),
the furnace zones, the parameter ranges, the time grid and the solver settings.
``scenario_from_row`` builds one Scenario from a parameter row and a row of gas-temperature
noise; ``solve_rows`` vmaps it with ``steeltwin.engine.solve`` over a batch.

The boundary of every scenario is given on the dataset's output grid (knots every
``output_interval`` seconds, linear in between): the zone schedule (set-points with linear
ramps of ``ramp_time`` between zones) plus a smooth random perturbation, evaluated at the
knots. The stored boundary inputs are therefore exactly what the solver applied, and a
surrogate that sees the knot values over an interval sees the whole boundary history.

After the last zone ends (the discharge, ``discharge_time`` of the sample), the slab stays in
the last zone until the dataset's ``t_end``: physically valid data of a delayed discharge.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from steeltwin.engine import (
    Boundary,
    ConfigError,
    Grid,
    Scenario,
    Scheme,
    TableSetMaterial,
    carbon_steel,
    carbon_steel_mechanical,
    crank_nicolson,
    plate_elastic,
    solve,
    stainless_steel,
    stainless_steel_mechanical,
)

from ._design import Parameter

KELVIN = 273.15
MATERIALS = {"carbon_steel": carbon_steel, "stainless_steel": stainless_steel}
MECHANICAL: dict[str, Any] = {"carbon_steel": carbon_steel_mechanical,
              "stainless_steel": stainless_steel_mechanical}
GEOMETRIES = ("slab", "rectangle")
STRESS = ("off", "elastic")


@dataclasses.dataclass(frozen=True)
class Zone:
    """A furnace zone's gas-temperature (degC) and residence-time (s) ranges."""

    name: str
    gas_temperature: tuple[float, float]
    duration: tuple[float, float]


@dataclasses.dataclass(frozen=True, eq=False)
class DatasetSpec:
    """The checked ``dataset`` config (see ``conf/dataset/*.yaml`` for the keys and units)."""

    geometry: str
    cells: tuple[int, ...]
    zones: tuple[Zone, ...]
    ranges: Mapping[str, tuple[float, float]]
    materials: tuple[str, ...]
    ramp_time: float
    output_interval: float
    dt: float
    iterations: int
    t_end: float
    perturbation_sigma: float
    perturbation_time: float
    h: float
    stress: str
    dtype: str

    def _key(self) -> tuple[Any, ...]:
        return tuple((f.name, getattr(self, f.name)) for f in dataclasses.fields(self)
                     if f.name != "ranges")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatasetSpec) and self._key() == other._key() \
            and dict(self.ranges) == dict(other.ranges)

    def __hash__(self) -> int:  # the ranges (a dict) do not enter the hash
        return hash(self._key())

    @property
    def n_out(self) -> int:
        """Saved intervals (the trajectory has n_out + 1 fields)."""
        return round(self.t_end / self.output_interval)

    @property
    def save_every(self) -> int:
        return round(self.output_interval / self.dt)

    @property
    def n_faces(self) -> int:
        return 2 if self.geometry == "slab" else 4

    @property
    def face_names(self) -> tuple[str, ...]:
        return ("bottom", "top") if self.geometry == "slab" else ("left", "right", "bottom", "top")

    @property
    def scheme(self) -> Scheme:
        return crank_nicolson(self.iterations)

    def times(self) -> np.ndarray:
        return np.arange(self.n_out + 1) * self.output_interval


def geometry_parameters(spec: DatasetSpec) -> list[str]:
    return ["thickness"] if spec.geometry == "slab" else ["width", "height"]


def parameters(spec: DatasetSpec) -> list[Parameter]:
    """The sampled parameters of a spec, in column order (temperatures stored in K)."""
    r = spec.ranges
    out = [Parameter(name, *r[name], "m", (1e-3, 10.0)) for name in geometry_parameters(spec)]
    out.append(Parameter("initial_surface", r["initial_surface"][0] + KELVIN,
                         r["initial_surface"][1] + KELVIN, "K", (KELVIN - 50, KELVIN + 1500),
                         offset=KELVIN, config_unit="degC"))
    out.append(Parameter("initial_core_excess", *r["initial_core_excess"], "K", (-500, 500)))
    for z in spec.zones:
        out.append(Parameter(f"gas_{z.name}", z.gas_temperature[0] + KELVIN,
                             z.gas_temperature[1] + KELVIN, "K", (KELVIN, KELVIN + 1550),
                             offset=KELVIN, config_unit="degC",
                             key=f"dataset.zones.{z.name}.gas_temperature"))
        out.append(Parameter(f"duration_{z.name}", *z.duration, "s", (60.0, math.inf),
                             key=f"dataset.zones.{z.name}.duration"))
    out.append(Parameter("exchange_factor_top", *r["exchange_factor_top"], "1", (0.05, 1.0)))
    out.append(Parameter("exchange_factor_bottom", *r["exchange_factor_bottom"], "1",
                         (0.05, 1.0)))
    out.append(Parameter("conductivity_scale", *r["conductivity_scale"], "1", (0.5, 2.0)))
    out.append(Parameter("capacity_scale", *r["capacity_scale"], "1", (0.5, 2.0)))
    if len(spec.materials) > 1:
        out.append(Parameter("material", 0, len(spec.materials) - 1, "index into materials",
                             categories=len(spec.materials)))
    return out


@dataclasses.dataclass(frozen=True)
class MaterialTables:
    """The candidate materials' tables stacked on a leading axis (same nodes for all)."""

    T_start: jax.Array
    T_step: jax.Array
    enthalpy: jax.Array  # [n_materials, n_nodes]
    conductivity: jax.Array
    density: jax.Array  # [n_materials]


def material_tables(names: Sequence[str], dtype: Any) -> MaterialTables:
    mats = [MATERIALS[n](dtype=dtype) for n in names]
    for m in mats[1:]:
        if m.enthalpy_nodes.shape != mats[0].enthalpy_nodes.shape:  # pragma: no cover
            raise ValueError("material tables must share their temperature nodes")
    return MaterialTables(mats[0].T_start, mats[0].T_step,
                          jnp.stack([m.enthalpy_nodes for m in mats]),
                          jnp.stack([m.conductivity_nodes for m in mats]),
                          jnp.stack([m.density for m in mats]))


def perturbation(spec: DatasetSpec, seed: int, sample_ids: np.ndarray) -> np.ndarray:
    """Gas-temperature noise at the knots, K, [n, n_out + 1]: a stationary AR(1) (exponential
    correlation time ``perturbation_time``, standard deviation ``perturbation_sigma``), drawn
    from a generator seeded by (seed, sample id): independent of batching and sharding."""
    n_knots = spec.n_out + 1
    out = np.zeros((len(sample_ids), n_knots))
    if spec.perturbation_sigma == 0:
        return out
    rho = math.exp(-spec.output_interval / spec.perturbation_time)
    for i, sid in enumerate(sample_ids):
        eps = np.random.default_rng([seed, 2, int(sid)]).standard_normal(n_knots)
        x = np.empty(n_knots)
        x[0] = eps[0]
        for k in range(1, n_knots):
            x[k] = rho * x[k - 1] + math.sqrt(1 - rho * rho) * eps[k]
        out[i] = spec.perturbation_sigma * x
    return out


def _column(names: Sequence[str], row: jax.Array, name: str) -> jax.Array:
    return row[list(names).index(name)]


def zone_schedule(spec: DatasetSpec, names: Sequence[str], row: jax.Array,
                  times: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Zone set-point gas temperature (K) at ``times`` and the discharge time (s)."""
    durations = jnp.stack([_column(names, row, f"duration_{z.name}") for z in spec.zones])
    gas = jnp.stack([_column(names, row, f"gas_{z.name}") for z in spec.zones])
    ends = jnp.cumsum(durations)
    starts = ends - durations
    half = 0.5 * spec.ramp_time
    n = len(spec.zones)
    knot_t, knot_v = [], []
    for i in range(n):
        knot_t += [starts[i] + (half if i > 0 else 0.0), ends[i] - (half if i + 1 < n else 0.0)]
        knot_v += [gas[i], gas[i]]
    return jnp.interp(times, jnp.stack(knot_t), jnp.stack(knot_v)), ends[-1]


def scenario_from_row(spec: DatasetSpec, names: Sequence[str], tables: MaterialTables,
                      row: jax.Array, noise: jax.Array) -> tuple[Scenario, jax.Array]:
    """One scenario (and its discharge time, s) from a parameter row and knot noise (K)."""
    dtype = row.dtype
    col = lambda name: _column(names, row, name)  # noqa: E731
    if spec.geometry == "slab":
        lengths = [col("thickness")]
    else:
        lengths = [col("width"), col("height")]
    spacing = jnp.stack([L / n for L, n in zip(lengths, spec.cells, strict=True)])
    grid = Grid(spacing=spacing, mask=None, shape=tuple(spec.cells))
    # Initial field: surface + excess (1 - r^2), r the normalised distance from the centre
    # (max over axes), r = 1 on the outer cell faces.
    r = jnp.zeros(spec.cells, dtype)
    for a, n in enumerate(spec.cells):
        c = (jnp.arange(n, dtype=dtype) + 0.5) / n * 2.0 - 1.0
        axis_shape = [-1 if b == a else 1 for b in range(len(spec.cells))]
        r = jnp.maximum(r, jnp.abs(c).reshape(axis_shape))
    T0 = col("initial_surface") + col("initial_core_excess") * (1.0 - r**2)
    # Material: pick a table, apply the scales.
    idx = (col("material").astype(jnp.int32) if len(spec.materials) > 1
           else jnp.zeros((), jnp.int32))
    material = TableSetMaterial(
        T_start=tables.T_start, T_step=tables.T_step, enthalpy_nodes=tables.enthalpy, index=idx,
        conductivity_nodes=tables.conductivity, density=tables.density[idx],
        conductivity_scale=col("conductivity_scale"), capacity_scale=col("capacity_scale"),
        name="sampled")
    # Boundary on the output knots.
    times = jnp.arange(spec.n_out + 1, dtype=dtype) * spec.output_interval
    gas, discharge = zone_schedule(spec, names, row, times)
    gas = gas + noise
    top, bottom = col("exchange_factor_top"), col("exchange_factor_bottom")
    side = 0.5 * (top + bottom)
    phis = [bottom, top] if spec.geometry == "slab" else [side, side, bottom, top]
    ones = jnp.ones_like(times)
    phi = jnp.stack([p * ones for p in phis])
    gas_f = jnp.broadcast_to(gas, phi.shape)
    boundary = Boundary(times=times, gas_temperature=gas_f, h=jnp.full_like(phi, spec.h),
                        exchange_factor=phi, heat_flux=jnp.zeros_like(phi),
                        fixed=(False,) * spec.n_faces)
    return Scenario(grid=grid, material=material, boundary=boundary,
                    initial_temperature=T0), discharge


def solve_rows(spec: DatasetSpec, names: Sequence[str], tables: MaterialTables,
               rows: jax.Array, noise: jax.Array) -> dict[str, jax.Array]:
    """Solve a batch of scenarios (rows [B, n_params], noise [B, n_out + 1]); vmapped, not
    jitted (``make_batch_solver`` jits it). Returns arrays with a leading batch axis."""

    def one(row: jax.Array, nz: jax.Array) -> dict[str, jax.Array]:
        sc, discharge = scenario_from_row(spec, names, tables, row, nz)
        tr = solve(sc, spec.dt, spec.n_out * spec.save_every, spec.save_every, spec.scheme)
        b = sc.boundary
        out = {
            "temperature": tr.temperature,
            "surface_temperature": tr.surface_temperature,
            "heat_flux": tr.heat_flux,
            "enthalpy": tr.enthalpy,
            "boundary_heat": tr.boundary_heat,
            "residual": tr.residual,
            "gas_temperature": b.gas_temperature.T,  # [n_t, n_faces]
            "exchange_factor": b.exchange_factor.T,
            "h": b.h.T,
            "cell_size": sc.grid.spacing,
            "discharge_time": discharge,
            "finite": tr.finite,
        }
        if spec.stress == "elastic":
            # Free-plate elastic stress with the mechanical data of the sample's material.
            per_material = jnp.stack([
                jax.vmap(lambda T, m=m: plate_elastic(
                    T, sc.grid, MECHANICAL[m](dtype=row.dtype)).stress)(tr.temperature)
                for m in spec.materials])
            idx = (_column(names, row, "material").astype(jnp.int32)
                   if len(spec.materials) > 1 else 0)
            out["stress"] = per_material[idx]
        return out

    return jax.vmap(one)(rows, noise)


def make_batch_solver(spec: DatasetSpec, names: Sequence[str]) -> Any:
    """The jitted batch solver of a spec: (rows, noise) -> dict of arrays. Cached per spec
    (the ranges do not enter the solver), so repeated calls in one process compile once."""
    return _batch_solver(dataclasses.replace(spec, ranges={}), tuple(names))


@functools.lru_cache(maxsize=8)
def _batch_solver(spec: DatasetSpec, names: tuple[str, ...]) -> Any:
    tables = material_tables(spec.materials, jnp.dtype(spec.dtype))
    return jax.jit(lambda rows, noise: solve_rows(spec, names, tables, rows, noise))


def check_spec(spec: DatasetSpec) -> None:
    """Consistency checks of the time grid (ConfigError naming the key)."""
    if spec.geometry not in GEOMETRIES:
        raise ConfigError(f"dataset.geometry={spec.geometry!r} is invalid: expected one of "
                          f"{', '.join(GEOMETRIES)}")
    if spec.stress not in STRESS:
        raise ConfigError(f"dataset.stress={spec.stress!r} is invalid: expected one of "
                          f"{', '.join(STRESS)}")
    if spec.stress != "off" and spec.geometry != "slab":
        raise ConfigError(f"dataset.stress={spec.stress!r} is invalid for "
                          f"dataset.geometry={spec.geometry!r}: expected off (stress in "
                          "datasets is available for slabs); set dataset.stress=off")
    ratio = spec.output_interval / spec.dt
    if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
        raise ConfigError(f"dataset.output_interval={spec.output_interval} is invalid: expected "
                          f"a whole multiple of dataset.dt={spec.dt} s; e.g. "
                          f"{max(1, round(ratio)) * spec.dt:g}")
    n = spec.t_end / spec.output_interval
    if abs(n - round(n)) > 1e-9 or round(n) < 1:
        raise ConfigError(f"dataset.t_end={spec.t_end} is invalid: expected a whole multiple "
                          f"of dataset.output_interval={spec.output_interval} s; e.g. "
                          f"{max(1, math.ceil(n)) * spec.output_interval:g}")
