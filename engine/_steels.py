"""Built-in steels (EN 1993-1-2) and user property tables, as :class:`TabulatedMaterial`.

EN 1993-1-2:2005 (Eurocode 3, structural fire design), clause 3.4 (carbon steel: 3.4.1.2
specific heat, 3.4.1.3 thermal conductivity, 3.2.2 density 7850 kg/m^3) and Annex C (austenitic
stainless steel, C.3 thermal properties). theta is in degC. The standard covers
20-1200 degC; outside that range the properties are held at their end values (a documented
choice: furnaces charge below 20 degC in winter and overheat locally above 1200 degC).

The enthalpy is integrated in closed form per branch (no quadrature error), so the latent heat
of the 735 degC peak in c is exact at every table node.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
import yaml

from ._errors import ConfigError, require
from ._material import T_REF, AbstractMaterial, ConstantMaterial, TabulatedMaterial

KELVIN = 273.15
STEEL_DENSITY = 7850.0  # kg/m^3, EN 1993-1-2 3.2.2 (also used by Annex C for stainless)
# Table range and spacing of the built-in steels.
_TABLE_LO_C, _TABLE_HI_C, _TABLE_STEP = -50.0, 1600.0, 1.0


def carbon_steel_conductivity_c(theta: np.ndarray) -> np.ndarray:
    """EN 1993-1-2 (3.4.1.3) lambda_a in W/(m K), theta in degC, held outside 20-1200."""
    t = np.clip(theta, 20.0, 1200.0)
    return np.where(t < 800.0, 54.0 - 3.33e-2 * t, 27.3)


def carbon_steel_specific_heat_c(theta: np.ndarray) -> np.ndarray:
    """EN 1993-1-2 (3.4.1.2) c_a in J/(kg K), theta in degC, held outside 20-1200."""
    t = np.clip(theta, 20.0, 1200.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c1 = 425.0 + 7.73e-1 * t - 1.69e-3 * t**2 + 2.22e-6 * t**3
        c2 = 666.0 + 13002.0 / (738.0 - t)
        c3 = 545.0 + 17820.0 / (t - 731.0)
    return np.select([t < 600.0, t < 735.0, t < 900.0], [c1, c2, c3], 650.0)


def _carbon_specific_enthalpy_c(theta: np.ndarray) -> np.ndarray:
    """Integral of c_a from 20 degC to theta, J/kg, in closed form per branch."""

    def p1(t: Any) -> Any:  # antiderivative of the cubic
        return 425.0 * t + 7.73e-1 * t**2 / 2 - 1.69e-3 * t**3 / 3 + 2.22e-6 * t**4 / 4

    def p2(t: Any) -> Any:
        return 666.0 * t - 13002.0 * np.log(738.0 - t)

    def p3(t: Any) -> Any:
        return 545.0 * t + 17820.0 * np.log(t - 731.0)

    def p4(t: Any) -> Any:
        return 650.0 * t

    e600 = p1(600.0) - p1(20.0)
    e735 = e600 + p2(735.0) - p2(600.0)
    e900 = e735 + p3(900.0) - p3(735.0)
    e1200 = e900 + p4(1200.0) - p4(900.0)
    c20 = float(carbon_steel_specific_heat_c(np.array(20.0)))
    t = np.asarray(theta, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.select(
            [t < 20.0, t < 600.0, t < 735.0, t < 900.0, t <= 1200.0],
            [
                c20 * (t - 20.0),
                p1(t) - p1(20.0),
                e600 + p2(t) - p2(600.0),
                e735 + p3(t) - p3(735.0),
                e900 + p4(t) - p4(900.0),
            ],
            e1200 + 650.0 * (t - 1200.0),
        )
    return out


def stainless_steel_conductivity_c(theta: np.ndarray) -> np.ndarray:
    """EN 1993-1-2 Annex C lambda_a in W/(m K), theta in degC, held outside 20-1200."""
    t = np.clip(theta, 20.0, 1200.0)
    return 14.6 + 1.27e-2 * t


def stainless_steel_specific_heat_c(theta: np.ndarray) -> np.ndarray:
    """EN 1993-1-2 Annex C c_a in J/(kg K), theta in degC, held outside 20-1200."""
    t = np.clip(theta, 20.0, 1200.0)
    return 450.0 + 0.280 * t - 2.91e-4 * t**2 + 1.34e-7 * t**3


def _stainless_specific_enthalpy_c(theta: np.ndarray) -> np.ndarray:
    def p(t: Any) -> Any:
        return 450.0 * t + 0.280 * t**2 / 2 - 2.91e-4 * t**3 / 3 + 1.34e-7 * t**4 / 4

    t = np.asarray(theta, dtype=np.float64)
    c_lo = float(stainless_steel_specific_heat_c(np.array(20.0)))
    c_hi = float(stainless_steel_specific_heat_c(np.array(1200.0)))
    return np.select(
        [t < 20.0, t <= 1200.0],
        [c_lo * (t - 20.0), p(t) - p(20.0)],
        p(1200.0) - p(20.0) + c_hi * (t - 1200.0),
    )


def _tabulate(
    name: str,
    specific_enthalpy_c: Callable[[np.ndarray], np.ndarray],
    conductivity_c: Callable[[np.ndarray], np.ndarray],
    density: float,
    conductivity_scale: float,
    capacity_scale: float,
    dtype: jnp.dtype,
) -> TabulatedMaterial:
    theta = np.arange(_TABLE_LO_C, _TABLE_HI_C + 0.5 * _TABLE_STEP, _TABLE_STEP)
    H = density * specific_enthalpy_c(theta)
    k = conductivity_c(theta)
    return _make_table(name, theta + KELVIN, H, k, density, conductivity_scale, capacity_scale,
                       dtype)


def _make_table(
    name: str,
    T_nodes_K: np.ndarray,
    H: np.ndarray,
    k: np.ndarray,
    density: float,
    conductivity_scale: float,
    capacity_scale: float,
    dtype: jnp.dtype,
) -> TabulatedMaterial:
    require(conductivity_scale > 0, "material.conductivity_scale", conductivity_scale,
            "a positive multiplier", "use 1.0 for the published data")
    require(capacity_scale > 0, "material.capacity_scale", capacity_scale,
            "a positive multiplier", "use 1.0 for the published data")
    return TabulatedMaterial(
        T_start=jnp.asarray(T_nodes_K[0], dtype),
        T_step=jnp.asarray(T_nodes_K[1] - T_nodes_K[0], dtype),
        enthalpy_nodes=jnp.asarray(H, dtype),
        conductivity_nodes=jnp.asarray(k, dtype),
        density=jnp.asarray(density, dtype),
        conductivity_scale=jnp.asarray(conductivity_scale, dtype),
        capacity_scale=jnp.asarray(capacity_scale, dtype),
        name=name,
    )


def carbon_steel(
    conductivity_scale: float = 1.0, capacity_scale: float = 1.0, dtype: jnp.dtype = jnp.float64
) -> TabulatedMaterial:
    """EN 1993-1-2 carbon steel, tabulated every 1 K from -50 to 1600 degC."""
    return _tabulate("carbon_steel", _carbon_specific_enthalpy_c, carbon_steel_conductivity_c,
                     STEEL_DENSITY, conductivity_scale, capacity_scale, dtype)


def stainless_steel(
    conductivity_scale: float = 1.0, capacity_scale: float = 1.0, dtype: jnp.dtype = jnp.float64
) -> TabulatedMaterial:
    """EN 1993-1-2 Annex C austenitic stainless steel, tabulated every 1 K."""
    return _tabulate("stainless_steel", _stainless_specific_enthalpy_c,
                     stainless_steel_conductivity_c, STEEL_DENSITY, conductivity_scale,
                     capacity_scale, dtype)


def material_from_table(path: str | os.PathLike[str], dtype: jnp.dtype = jnp.float64,
                        step_K: float = 1.0) -> TabulatedMaterial:
    """Read a user property table (CSV or YAML) and resample it every ``step_K`` kelvin.

    Columns (CSV header or YAML keys, lists of equal length, temperature ascending):
    ``T_C`` (degC) or ``T_K`` (K); ``k`` (W/(m K)); either ``c`` (J/(kg K)) or ``H``
    (J/kg, any reference); ``rho`` (kg/m^3: one value, or one per row, the first is used for H).
    Between rows k and c are interpolated linearly (H by exact integration of that c), or H
    linearly when H is given. Outside the table the end values are held.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"material.path={path!r} is invalid: expected an existing CSV or YAML "
                          "file; check the path (relative paths are from the working directory)")
    cols = _read_columns(path)
    if "T_C" in cols:
        T = np.asarray(cols["T_C"], float) + KELVIN
    elif "T_K" in cols:
        T = np.asarray(cols["T_K"], float)
    else:
        raise ConfigError(f"material table {path!r} has no temperature column: expected 'T_C' "
                          f"or 'T_K'; found {sorted(cols)}")
    for key in ("k", "rho"):
        if key not in cols:
            raise ConfigError(f"material table {path!r} lacks column {key!r}; found {sorted(cols)}")
    if ("c" in cols) == ("H" in cols):
        raise ConfigError(f"material table {path!r} needs exactly one of 'c' (J/(kg K)) or 'H' "
                          f"(J/kg); found {sorted(cols)}")
    k = np.asarray(cols["k"], float)
    rho = float(np.atleast_1d(np.asarray(cols["rho"], float))[0])
    arrays = {"T": T, "k": k}
    for name, arr in arrays.items():
        require(bool(np.all(np.isfinite(arr))), f"material table column {name}", "non-finite",
                "finite numbers", f"fix {path}")
    require(len(T) >= 2 and bool(np.all(np.diff(T) > 0)), "material table T", T.tolist()[:5],
            "at least two strictly increasing temperatures", f"sort the rows of {path}")
    require(bool(np.all(k > 0)), "material table k", k.tolist()[:5], "positive conductivities",
            f"fix {path}")
    require(rho > 0, "material table rho", rho, "a positive density", f"fix {path}")
    grid = np.arange(T[0], T[-1] + 0.5 * step_K, step_K)
    grid = np.concatenate([[T[0] - 100.0], grid[grid < T[-1]], [T[-1]], [T[-1] + 100.0]])
    grid = np.arange(grid[0], grid[-1] + 0.5 * step_K, step_K)
    if "c" in cols:
        c = np.asarray(cols["c"], float)
        require(bool(np.all(c > 0)) and bool(np.all(np.isfinite(c))), "material table c",
                c.tolist()[:5], "positive finite specific heats", f"fix {path}")
        c_grid = np.interp(grid, T, c)
        # Exact integral of the piecewise-linear c on the resampling grid (trapezoid).
        h = np.concatenate([[0.0], np.cumsum(0.5 * (c_grid[1:] + c_grid[:-1]) * np.diff(grid))])
    else:
        Hin = np.asarray(cols["H"], float)
        require(bool(np.all(np.diff(Hin) > 0)), "material table H", Hin.tolist()[:5],
                "strictly increasing enthalpy", f"fix {path}")
        slope_lo = (Hin[1] - Hin[0]) / (T[1] - T[0])
        slope_hi = (Hin[-1] - Hin[-2]) / (T[-1] - T[-2])
        h = np.where(grid < T[0], Hin[0] + slope_lo * (grid - T[0]),
                     np.where(grid > T[-1], Hin[-1] + slope_hi * (grid - T[-1]),
                              np.interp(grid, T, Hin)))
    H = rho * (h - np.interp(T_REF, grid, h))
    name = os.path.splitext(os.path.basename(path))[0]
    return _make_table(name, grid, H, np.interp(grid, T, k), rho, 1.0, 1.0, dtype)


def _read_columns(path: str) -> dict[str, list[float]]:
    try:
        if path.lower().endswith((".yaml", ".yml")):
            with open(path) as f:
                data = yaml.safe_load(f)
            if not isinstance(data, dict):
                raise ConfigError(f"material table {path!r}: expected a mapping of column lists")
            return {str(k): list(np.atleast_1d(v)) for k, v in data.items()}
        with open(path, newline="") as f:
            rows = [r for r in csv.reader(f) if r and not r[0].lstrip().startswith("#")]
        header = [h.strip() for h in rows[0]]
        return {h: [float(r[i]) for r in rows[1:]] for i, h in enumerate(header)}
    except (ValueError, IndexError, yaml.YAMLError) as err:
        raise ConfigError(f"material table {path!r} could not be parsed: {err}") from err


def constant_material(conductivity: float, density: float, specific_heat: float,
                      dtype: jnp.dtype = jnp.float64) -> ConstantMaterial:
    """Constant-property material; k W/(m K), density kg/m^3, specific heat J/(kg K)."""
    for key, v in (("conductivity", conductivity), ("density", density),
                   ("specific_heat", specific_heat)):
        require(bool(np.isfinite(v)) and v > 0, f"material.{key}", v, "a positive finite number",
                "set it in the material config")
    return ConstantMaterial(jnp.asarray(conductivity, dtype), jnp.asarray(density, dtype),
                            jnp.asarray(specific_heat, dtype))


MATERIALS = ("carbon_steel", "stainless_steel", "constant", "table")


def make_material(kind: str, dtype: jnp.dtype = jnp.float64, **params: object) -> AbstractMaterial:
    """Build a material by name: one of :data:`MATERIALS` with its parameters."""
    if kind == "carbon_steel":
        return carbon_steel(dtype=dtype, **params)  # type: ignore[arg-type]
    if kind == "stainless_steel":
        return stainless_steel(dtype=dtype, **params)  # type: ignore[arg-type]
    if kind == "constant":
        return constant_material(dtype=dtype, **params)  # type: ignore[arg-type]
    if kind == "table":
        return material_from_table(dtype=dtype, **params)  # type: ignore[arg-type]
    raise ConfigError(f"material.kind={kind!r} is unknown: expected one of {MATERIALS}; "
                      "pick one, or use kind=table with a path to your own data")
