"""steeltwin engine: JAX finite-volume heat conduction for hot steel (physics core).

Public API re-exported from private one-concept modules. The physics core imports JAX, NumPy
and SciPy only (no Flax, Optax, Hydra or h5py).
"""

from ._balance import Balance, face_flux, heat_balance
from ._boundary import (
    STEFAN_BOLTZMANN,
    Boundary,
    FaceSpec,
    FaceValues,
    FurnaceZone,
    constant_boundary,
    furnace_boundary,
    schedule_boundary,
)
from ._errors import ConfigError
from ._geometry import (
    FACE_NAMES,
    Grid,
    box_grid,
    h_beam_mask,
    mask_from_file,
    mask_grid,
    rectangle_mask,
    round_bar_mask,
    slab_grid,
)
from ._material import (
    T_REF,
    AbstractMaterial,
    ConstantMaterial,
    TableSetMaterial,
    TabulatedMaterial,
)
from ._schemes import EXPLICIT, Scheme, backward_euler, crank_nicolson
from ._simulate import SCHEMES, SolverSettings, plan_steps, resolve_scheme, simulate
from ._solve import Scenario, SolverState, Trajectory, advance, initial_state, solve, total_enthalpy
from ._stability import check_scenario, stable_time_step, temperature_envelope
from ._steels import (
    MATERIALS,
    carbon_steel,
    constant_material,
    make_material,
    material_from_table,
    stainless_steel,
)
from ._stress_fem import MIN_WALL_CELLS, SECTION_KINDS, check_section_grid
from ._stress_material import (
    K_FLOOR,
    MECHANICAL_MATERIALS,
    MechanicalMaterial,
    carbon_steel_mechanical,
    constant_mechanical,
    stainless_steel_mechanical,
)
from ._stress_plate import (
    PLATE_MODES,
    PlateHistory,
    PlateStress,
    plate_elastic,
    plate_history,
    plate_stress,
)
from ._stress_risk import StressRisk, stress_risk, utilisation
from ._stress_section import SectionStress, section_stress
from ._stress_section_plastic import SectionHistory, section_history

__all__ = [
    "EXPLICIT",
    "FACE_NAMES",
    "K_FLOOR",
    "MATERIALS",
    "MECHANICAL_MATERIALS",
    "MIN_WALL_CELLS",
    "PLATE_MODES",
    "SCHEMES",
    "SECTION_KINDS",
    "STEFAN_BOLTZMANN",
    "T_REF",
    "AbstractMaterial",
    "Balance",
    "Boundary",
    "ConfigError",
    "ConstantMaterial",
    "FaceSpec",
    "FaceValues",
    "FurnaceZone",
    "Grid",
    "MechanicalMaterial",
    "PlateHistory",
    "PlateStress",
    "Scenario",
    "Scheme",
    "SectionHistory",
    "SectionStress",
    "SolverSettings",
    "SolverState",
    "StressRisk",
    "TableSetMaterial",
    "TabulatedMaterial",
    "Trajectory",
    "advance",
    "backward_euler",
    "box_grid",
    "carbon_steel",
    "carbon_steel_mechanical",
    "check_scenario",
    "check_section_grid",
    "constant_boundary",
    "constant_material",
    "constant_mechanical",
    "crank_nicolson",
    "face_flux",
    "furnace_boundary",
    "h_beam_mask",
    "heat_balance",
    "initial_state",
    "make_material",
    "mask_from_file",
    "mask_grid",
    "material_from_table",
    "plan_steps",
    "plate_elastic",
    "plate_history",
    "plate_stress",
    "rectangle_mask",
    "resolve_scheme",
    "round_bar_mask",
    "schedule_boundary",
    "section_history",
    "section_stress",
    "simulate",
    "slab_grid",
    "solve",
    "stable_time_step",
    "stainless_steel",
    "stainless_steel_mechanical",
    "stress_risk",
    "temperature_envelope",
    "total_enthalpy",
    "utilisation",
]
