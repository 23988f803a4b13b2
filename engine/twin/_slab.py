"""The slab as the twin layer sees it: parameters, boundary inputs at knots, what sensors see.

Physics and surrogate propagators share one description of a step (the surrogate's, see
``models/_surrogate.py``), so either can stand in for the other:

- the field ``T`` [n] (K), cell 0 at the bottom face, cell n - 1 at the top;
- the scalar parameters ``params`` [P] named by :data:`PARAM_NAMES`: thickness (m),
  conductivity and heat-capacity multipliers, and the material (an index into
  :data:`MATERIAL_NAMES`, EN 1993-1-2 carbon or austenitic stainless steel);
- the boundary inputs over a step of ``step_seconds`` at ``n_knots`` equally spaced knots,
  ``inputs`` [n_knots, 2, 3]: per knot and face (bottom, top) the gas temperature (K), the
  radiation exchange factor and the convection coefficient h (W/(m^2 K)); linear between
  knots, exactly the boundary the datagen solver applied.

``knot_inputs`` samples an engine :class:`~engine.Boundary` (a furnace schedule) onto those
knots, optionally with a multiplier on each face's exchange factor (the twin's uncertain
parameter). ``surface_temperature`` solves the local face balance for the temperature a
pyrometer sees, ``depth_temperature`` interpolates a thermocouple's reading.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from .._balance import face_flux
from .._boundary import Boundary, FaceValues
from .._errors import ConfigError
from .._geometry import Grid
from .._material import TableSetMaterial, TabulatedMaterial
from .._solve import Scenario
from .._steels import carbon_steel, stainless_steel

PARAM_NAMES = ("thickness", "conductivity_scale", "capacity_scale", "material")
MATERIAL_NAMES = ("carbon_steel", "stainless_steel")  # the datagen default order
FACES = ("bottom", "top")
INPUT_CHANNELS = ("gas_temperature", "exchange_factor", "h")


def material_tables(dtype: Any = jnp.float64) -> dict[str, Array]:
    """The candidate materials' tables stacked on a leading axis (same 1 K nodes)."""
    mats = [carbon_steel(dtype=dtype), stainless_steel(dtype=dtype)]
    return {"T_start": mats[0].T_start, "T_step": mats[0].T_step,
            "enthalpy": jnp.stack([m.enthalpy_nodes for m in mats]),
            "conductivity": jnp.stack([m.conductivity_nodes for m in mats]),
            "density": jnp.stack([m.density for m in mats])}


def slab_material(tables: dict[str, Array], params: Array) -> TableSetMaterial:
    """The material of one parameter row (traced: material index and scales)."""
    i = jnp.clip(params[3].astype(jnp.int32), 0, len(MATERIAL_NAMES) - 1)
    return TableSetMaterial(T_start=tables["T_start"], T_step=tables["T_step"],
                            enthalpy_nodes=tables["enthalpy"], index=i,
                            conductivity_nodes=tables["conductivity"],
                            density=tables["density"][i], conductivity_scale=params[1],
                            capacity_scale=params[2], name="slab")


def slab_grid_of(params: Array, cells: int) -> Grid:
    return Grid(spacing=params[0:1] / cells, mask=None, shape=(cells,))


def boundary_from_knots(inputs: Array, step_seconds: float) -> Boundary:
    """An engine Boundary over [0, step_seconds] from knot inputs [n_knots, F, 3]."""
    n = inputs.shape[0]
    times = jnp.linspace(0.0, step_seconds, n, dtype=inputs.dtype)
    return Boundary(times=times, gas_temperature=inputs[..., 0].T, h=inputs[..., 2].T,
                    exchange_factor=inputs[..., 1].T, heat_flux=jnp.zeros_like(inputs[..., 0].T),
                    fixed=(False,) * inputs.shape[1])


def faces_at_knot(inputs_knot: Array) -> FaceValues:
    """Face values from one knot's inputs [F, 3]."""
    return FaceValues(inputs_knot[:, 0], inputs_knot[:, 2], inputs_knot[:, 1],
                      jnp.zeros_like(inputs_knot[:, 0]))


def surface_temperature(T: Array, params: Array, tables: dict[str, Array],
                        inputs_knot: Array) -> Array:
    """Face temperatures (bottom, top), K, of field T [n] under one knot's inputs [2, 3].

    The face balance of the solver (half-cell conduction = convection + radiation), so a
    pyrometer's reading is compared with what the model's own boundary condition implies.
    """
    n = T.shape[-1]
    mat = slab_material(tables, params)
    dx = params[0] / n
    Tc = jnp.stack([T[0], T[-1]])
    g = 2.0 * mat.conductivity(Tc) / dx
    f = faces_at_knot(inputs_knot)
    Ts, _, _ = jax.vmap(lambda tc, gg, gas, h, phi, q: face_flux(tc, gg, gas, h, phi, q, False))(
        Tc, g, f.gas_temperature, f.h, f.exchange_factor, f.heat_flux)
    return Ts


def depth_temperature(T: Array, params: Array, depth: Array) -> Array:
    """Temperature at ``depth`` m below the top face: linear between cell centres (held at
    the outer centres within half a cell of a face)."""
    n = T.shape[-1]
    dx = params[0] / n
    z = params[0] - depth  # from the bottom face
    centres = (jnp.arange(n, dtype=T.dtype) + 0.5) * dx
    return jnp.interp(z, centres, T)


def scenario_params(scenario: Scenario) -> np.ndarray:
    """The parameter row [thickness, k scale, c scale, material index] of a 1D slab scenario."""
    grid, mat = scenario.grid, scenario.material
    if grid.ndim != 1:
        raise ConfigError(f"geometry ndim={grid.ndim} is invalid for a twin: expected a 1D slab "
                          "(geometry=slab); 2D/3D twins are not supported yet")
    if not isinstance(mat, TabulatedMaterial):
        raise ConfigError(f"material={type(mat).__name__} is invalid for a twin: expected an "
                          "EN 1993-1-2 steel (material=carbon_steel or stainless_steel)")
    name = mat.name
    if name not in MATERIAL_NAMES:
        raise ConfigError(f"material={name!r} is invalid for a twin: expected one of "
                          f"{', '.join(MATERIAL_NAMES)}")
    thickness = float(grid.spacing[0]) * grid.shape[0]
    return np.array([thickness, float(mat.conductivity_scale), float(mat.capacity_scale),
                     float(MATERIAL_NAMES.index(name))])


# Exchange factors live in (0, 1]: a member's factor is the nominal one moved by s in log-odds,
# sigmoid(logit(phi) + s) = phi e^s / (1 - phi + phi e^s): phi e^s (a multiplier) where phi is
# small, never above 1 however large s grows; no member is clipped, so the ensemble keeps the
# information a clip throws away (Evensen 2009, "Data Assimilation", ch. 14: transformed
# parameters).
PHI_EDGE = 1e-6


def member_exchange(phi: Any, s: Any) -> Any:
    """Exchange factor(s) ``phi`` (nominal, in (0, 1]) moved by the log-odds offset(s) ``s``.

    Works on NumPy and JAX arrays alike (broadcasting); s = 0 returns phi (to 1e-6)."""
    xp = jnp if isinstance(phi, jax.Array) or isinstance(s, jax.Array) else np
    p = xp.clip(phi, PHI_EDGE, 1.0 - PHI_EDGE)
    return 1.0 / (1.0 + xp.exp(-(xp.log(p) - xp.log1p(-p) + s)))


def log_odds_std(relative_std: float, phi: float) -> float:
    """The log-odds spread that moves ``phi`` by ``relative_std`` (relative) near phi:
    d ln(phi) / ds = 1 - phi."""
    return relative_std / max(1.0 - min(phi, 1.0 - PHI_EDGE), 1e-3)


def knot_times(t0: float, n_steps: int, step_seconds: float, n_knots: int) -> np.ndarray:
    """Knot times [n_steps, n_knots] of ``n_steps`` consecutive steps from ``t0`` (s)."""
    frac = np.linspace(0.0, 1.0, n_knots)
    starts = t0 + step_seconds * np.arange(n_steps)
    return starts[:, None] + step_seconds * frac[None, :]


def knot_inputs(boundary: Boundary, times: Array, exchange_scale: Array | None = None) -> Array:
    """Boundary inputs at knot ``times`` [..., n_knots] (s): [..., n_knots, F, 3].

    The first knot of a step takes the right limit (the value just after a step change), the
    others the left limit, as the solver integrates a zone change on a step boundary.
    ``exchange_scale`` [F] multiplies each face's exchange factor (clipped to <= 1).
    """
    times = jnp.asarray(times, boundary.times.dtype)
    flat = times.reshape(-1, times.shape[-1])

    def one_step(ts: Array) -> Array:
        first = boundary.at(ts[0], limit="right")
        rest = jax.vmap(lambda t: boundary.at(t, limit="left"))(ts[1:])
        gas = jnp.concatenate([first.gas_temperature[None], rest.gas_temperature])
        phi = jnp.concatenate([first.exchange_factor[None], rest.exchange_factor])
        h = jnp.concatenate([first.h[None], rest.h])
        if exchange_scale is not None:
            phi = jnp.clip(phi * exchange_scale, 0.0, 1.0)
        return jnp.stack([gas, phi, h], axis=-1)

    out = jax.vmap(one_step)(flat)
    return out.reshape(*times.shape, *out.shape[-2:])
