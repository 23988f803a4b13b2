"""The ``stress`` config group -> a :class:`StressJob` (checked before the thermal run).

``stress.model``: ``off`` (nothing), ``elastic`` (stress at every saved time) or ``plastic``
(J2 history over the saved times; the last row is the residual stress). The mechanical
material follows ``material.kind`` (carbon_steel, stainless_steel or constant); stress is
available for a slab (1D, a plate through its thickness) and 2D cross-sections.
Config values: E, f_y, hardening in Pa; alpha in 1/K; T_ref in degC (converted to K).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp

from steeltwin.engine import (
    PLATE_MODES,
    SECTION_KINDS,
    ConfigError,
    Grid,
    MechanicalMaterial,
    carbon_steel_mechanical,
    check_section_grid,
    constant_mechanical,
    stainless_steel_mechanical,
)

from ._section import Section, fail

MODELS = ("off", "elastic", "plastic")
GRADES = ("S235", "S275", "S355", "S460")
KIND_ALIASES = {"generalized_plane_strain": "generalized"}
KEYS = ("model", "grade", "E", "nu", "alpha", "f_y", "hardening", "T_ref", "plate_mode", "kind",
        "alert_threshold")
PLATE_MIN_CELLS = 4


@dataclasses.dataclass(frozen=True)
class StressJob:
    """What the stress step computes after the thermal run.

    Attributes:
        model: ``elastic`` or ``plastic``.
        material: the mechanical material (SI, K).
        plate_mode: 1D edge condition (free, held_flat, restrained).
        kind: 2D model (generalized or plane_strain).
        threshold: utilisation alert threshold (dimensionless).
    """

    model: str
    material: MechanicalMaterial
    plate_mode: str = "free"
    kind: str = "generalized"
    threshold: float = 0.9


def build_stress(plain: dict[str, Any], grid: Grid, dtype: jnp.dtype) -> StressJob | None:
    """The stress job of a resolved config (None for ``stress.model=off`` or no group)."""
    raw = plain.get("stress")
    if raw is None:
        return None
    s = Section(raw, "stress")
    s.only(KEYS)
    model = s.text("model", MODELS, "off")
    if model == "off":
        return None
    if grid.ndim not in (1, 2):
        raise ConfigError(f"stress.model={model!r} is invalid for a {grid.ndim}D grid "
                          f"(geometry.kind={plain['geometry'].get('kind')!r}): stress is "
                          "available for slab (1D) and 2D sections; set stress=off or pick a "
                          "slab or 2D geometry")
    thermal = Section(plain["material"], "material").raw("kind")
    nu = s.number("nu", 0.3, check="finite")
    if not -1.0 < nu < 0.5:
        raise fail("stress.nu", nu, "a Poisson's ratio in (-1, 0.5)", "use 0.3 for steel")
    hardening = s.number("hardening", 0.0, check="nonnegative", unit="Pa")
    T_ref = s.temperature_c("T_ref", 20.0)
    common: dict[str, Any] = {"nu": nu, "hardening": hardening, "T_ref": T_ref, "dtype": dtype}
    if thermal == "carbon_steel":
        grade = s.text("grade", GRADES, "S355")
        if s.has("f_y"):
            raise fail("stress.f_y", s.raw("f_y"), "null for material.kind=carbon_steel",
                       "the yield strength follows stress.grade (S235 ... S460)")
        material = carbon_steel_mechanical(grade, E=s.number("E", 210e9, unit="Pa"), **common)
    elif thermal == "stainless_steel":
        material = stainless_steel_mechanical(f_y=s.number("f_y", 210e6, unit="Pa"),
                                              E=s.number("E", 200e9, unit="Pa"), **common)
    elif thermal == "constant":
        material = constant_mechanical(E=s.number("E", 210e9, unit="Pa"),
                                       alpha=s.number("alpha", 1.2e-5, unit="1/K"),
                                       f_y=s.number("f_y", 1e30, unit="Pa"), **common)
    else:
        raise fail("material.kind", thermal, "carbon_steel, stainless_steel or constant when "
                   "stress is on", "a property table has no mechanical data; set stress=off")
    threshold = s.number("alert_threshold", 0.9, unit="(utilisation)")
    plate_mode = s.text("plate_mode", PLATE_MODES, "free")
    kind = s.raw("kind", "generalized")
    kind = KIND_ALIASES.get(kind, kind) if isinstance(kind, str) else kind
    if kind not in SECTION_KINDS:
        raise fail("stress.kind", kind, f"one of {', '.join(SECTION_KINDS)} "
                   "(or generalized_plane_strain)", "generalized: long free bar; "
                   "plane_strain: axially held")
    if grid.ndim == 1 and grid.shape[0] < PLATE_MIN_CELLS:
        raise fail("geometry.cells", grid.shape[0], f"at least {PLATE_MIN_CELLS} cells through "
                   "the thickness for a stress solve", "refine the slab (20-40 cells)")
    if grid.ndim == 2:
        check_section_grid(grid)
    return StressJob(model, material, plate_mode, kind, threshold)
