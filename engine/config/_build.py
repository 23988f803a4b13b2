"""Config (DictConfig or plain mapping) -> engine objects, checked before anything is computed.

``build_job`` is the one conversion the app and the tests use: it resolves the config into
plain Python values, builds the :class:`steeltwin.engine.Scenario` and
:class:`steeltwin.engine.SolverSettings`,
and runs the engine's own pre-flight checks (``check_scenario``, ``plan_steps``: the explicit
stability limit), so every bad value raises :class:`steeltwin.engine.ConfigError` naming its key.
Config temperatures are in degC; the engine works in K (+273.15).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np
from omegaconf import DictConfig, OmegaConf

from steeltwin.engine import (
    SCHEMES,
    AbstractMaterial,
    ConfigError,
    Grid,
    Scenario,
    SolverSettings,
    check_scenario,
    make_material,
    plan_steps,
)

from ._build_boundary import build_boundary, residence_time
from ._build_geometry import build_grid
from ._build_stress import StressJob, build_stress
from ._section import Section, fail

DTYPES = {"float64": jnp.float64, "float32": jnp.float32}
MATERIALS = ("carbon_steel", "stainless_steel", "constant", "table")
INITIALS = ("uniform", "profile")
LINEAR_SOLVERS = ("krylov", "adi")


@dataclasses.dataclass(frozen=True)
class OutputOptions:
    """Where and what to write: ``hdf5`` file name (None: none), ``plots``, progress bar."""

    hdf5: str | None = "result.h5"
    plots: bool = True
    progress: bool = False


@dataclasses.dataclass(frozen=True)
class SimulationJob:
    """Everything one run needs, as typed objects (what :func:`run_simulation` consumes).

    Attributes:
        scenario: the physical case (SI units, K).
        settings: time integration.
        dtype: ``float64`` or ``float32``.
        config: the resolved config as plain Python values (stored in the result file).
        description: one line naming geometry, material, boundary and scheme.
        output: output options.
        furnace: True when the boundary is a furnace (the end of the run is a discharge).
        stress: the thermal-stress step after the run (None: ``stress=off``).
        warnings: plausibility warnings (possible but suspicious values, e.g. a temperature
            that looks like kelvin); the apps print them before running.
    """

    scenario: Scenario
    settings: SolverSettings
    dtype: str
    config: dict[str, Any]
    description: str
    output: OutputOptions = OutputOptions()
    furnace: bool = False
    stress: StressJob | None = None
    warnings: tuple[str, ...] = ()


def to_plain(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The config as plain dicts/lists with interpolations resolved (``???`` kept as text)."""
    if isinstance(cfg, DictConfig):
        plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False,
                                       enum_to_str=True)
    else:
        plain = OmegaConf.to_container(OmegaConf.create(dict(cfg)), resolve=True,
                                       throw_on_missing=False, enum_to_str=True)
    assert isinstance(plain, dict)
    plain.pop("hydra", None)
    return plain  # type: ignore[return-value]


def config_dtype(cfg: Mapping[str, Any]) -> str:
    dtype = getattr(cfg.get("dtype", "float64"), "name", cfg.get("dtype", "float64"))
    if dtype not in DTYPES:
        raise fail("dtype", dtype, "float64 or float32", "set dtype=float64 (default)")
    return str(dtype)


def build_material(m: Section, dtype: jnp.dtype) -> AbstractMaterial:
    kind = m.text("kind", MATERIALS)
    if kind in ("carbon_steel", "stainless_steel"):
        m.only(("kind", "conductivity_scale", "capacity_scale"))
        return make_material(kind, dtype, conductivity_scale=m.number("conductivity_scale", 1.0),
                             capacity_scale=m.number("capacity_scale", 1.0))
    if kind == "constant":
        m.only(("kind", "k", "rho", "c"))
        return make_material(kind, dtype, conductivity=m.number("k", unit="W/(m K)"),
                             density=m.number("rho", unit="kg/m^3"),
                             specific_heat=m.number("c", unit="J/(kg K)"))
    m.only(("kind", "path"))
    return make_material("table", dtype, path=m.text("path"))


def initial_temperature(s: Section, grid: Grid, dtype: jnp.dtype) -> jnp.ndarray:
    """Initial temperature in K: a scalar (uniform) or a field of the grid's shape (profile)."""
    kind = s.text("kind", INITIALS)
    if kind == "uniform":
        s.only(("kind", "temperature"))
        return jnp.asarray(s.temperature_c("temperature"), dtype)
    s.only(("kind", "surface", "centre"))
    surface, centre = s.temperature_c("surface"), s.temperature_c("centre")
    spacing = np.asarray(grid.spacing, np.float64)
    mask = np.ones(grid.shape, bool) if grid.mask is None else np.asarray(grid.mask)
    r = np.zeros(grid.shape)
    for a, n in enumerate(grid.shape):
        x = (np.arange(n) + 0.5) * spacing[a]
        along = np.any(mask, axis=tuple(i for i in range(grid.ndim) if i != a))
        lo, hi = x[along].min() - 0.5 * spacing[a], x[along].max() + 0.5 * spacing[a]
        xi = np.abs(x - 0.5 * (lo + hi)) / (0.5 * (hi - lo))
        r = np.maximum(r, np.expand_dims(xi, tuple(i for i in range(grid.ndim) if i != a)))
    field = centre + (surface - centre) * np.minimum(r, 1.0) ** 2
    return jnp.asarray(field, dtype)


def build_scenario(cfg: DictConfig | Mapping[str, Any],
                   warnings: list[str] | None = None) -> Scenario:
    """The :class:`steeltwin.engine.Scenario` of a config (checked; see the module docstring).

    Args:
        cfg: the config (degC, m, s).
        warnings: a list that collects the plausibility warnings (None: they are issued as
            :class:`PlausibilityWarning`). Implausible values raise ``ConfigError``.
    """
    plain = to_plain(cfg)
    dtype = DTYPES[config_dtype(plain)]
    root = Section(plain, "", warnings)
    grid = build_grid(root.sub("geometry"), dtype)
    material = build_material(root.sub("material"), dtype)
    boundary = build_boundary(root.sub("boundary"), grid.ndim, dtype)
    T0 = initial_temperature(root.sub("initial"), grid, dtype)
    scenario = Scenario(grid, material, boundary, T0)
    check_scenario(scenario)
    return scenario


def build_settings(cfg: DictConfig | Mapping[str, Any]) -> SolverSettings:
    """The :class:`steeltwin.engine.SolverSettings` of a config; ``t_end`` null = furnace
    residence."""
    plain = to_plain(cfg)
    s = Section(plain.get("solver"), "solver")
    s.only(("scheme", "dt", "t_end", "save_interval", "iterations", "explicit_dt",
            "linear_solver"))
    b = Section(plain.get("boundary"), "boundary")
    if s.has("t_end"):
        t_end = s.number("t_end", unit="s")
    elif b.raw("kind", None) == "furnace":
        t_end = residence_time(b)
    else:
        raise ConfigError("solver.t_end is missing: expected the simulated time in s (only a "
                          "furnace boundary has a default, its total residence time); set e.g. "
                          "solver.t_end=7200")
    iterations = s.raw("iterations", None)
    if iterations is not None:
        s.count("iterations")
    extra = {}
    if s.has("linear_solver"):  # null keeps the engine's default (krylov)
        extra["linear_solver"] = s.text("linear_solver", LINEAR_SOLVERS)
    return SolverSettings(
        t_end=t_end,
        dt=s.number("dt", unit="s"),
        save_interval=s.number("save_interval", 60.0, unit="s"),
        scheme=s.text("scheme", SCHEMES),
        iterations=iterations,
        explicit_dt=s.text("explicit_dt", ("error", "auto"), "error"),
        **extra,
    )


def build_job(cfg: DictConfig | Mapping[str, Any]) -> SimulationJob:
    """Scenario, settings and output options of a config, with every pre-flight check run."""
    plain = to_plain(cfg)
    notes: list[str] = []
    scenario = build_scenario(plain, notes)
    settings = build_settings(plain)
    plan_steps(scenario, settings)  # raises for an explicit dt above the stability limit
    stress = build_stress(plain, scenario.grid, DTYPES[config_dtype(plain)])
    o = Section(plain.get("output", {}), "output")
    o.only(("dir", "hdf5", "plots", "progress"))
    hdf5 = o.raw("hdf5", None)
    output = OutputOptions(hdf5=None if hdf5 is None else str(hdf5),
                           plots=bool(o.raw("plots", True)),
                           progress=bool(o.raw("progress", False)))
    return SimulationJob(scenario, settings, config_dtype(plain), plain, describe(plain, settings),
                         output, furnace=plain["boundary"].get("kind") == "furnace",
                         stress=stress, warnings=tuple(notes))


def describe(plain: Mapping[str, Any], settings: SolverSettings) -> str:
    """One line: geometry, material, boundary, scheme and step."""
    g, b = plain["geometry"], plain["boundary"]
    if b.get("kind") == "furnace":
        zones = [n for n, z in b["zones"].items() if z is not None]
        bound = f"furnace ({len(zones)} zones)"
    else:
        faces = b.get("all", {})
        bound = f"faces (all: {faces.get('type')}" + (
            f", h={faces['h']:g}" if faces.get("h") is not None else "") + ")"
    return (f"{geometry_size(g)} | {plain['material']['kind']} | {bound} | {settings.scheme} "
            f"dt={settings.dt:g} s | {config_dtype(plain)}")


def geometry_size(g: Mapping[str, Any]) -> str:
    """The geometry's kind and main sizes in mm (``slab 220 mm``), so a unit slip shows."""
    def mm(key: str) -> str:
        return f"{float(g[key]) * 1e3:g}"

    sizes = {"slab": ("thickness",), "rectangle": ("width", "height"),
             "block": ("width", "depth", "height"), "round_bar": ("diameter",),
             "h_beam": ("height", "flange_width")}.get(str(g.get("kind")), ())
    try:
        dims = " x ".join(mm(k) for k in sizes)
    except (KeyError, TypeError, ValueError):
        return str(g.get("kind"))
    return f"{g['kind']} {dims} mm" if dims else str(g.get("kind"))
