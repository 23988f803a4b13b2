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
from ._material import T_REF, AbstractMaterial, ConstantMaterial, TabulatedMaterial
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

__all__ = [
    "EXPLICIT",
    "FACE_NAMES",
    "MATERIALS",
    "SCHEMES",
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
    "Scenario",
    "Scheme",
    "SolverSettings",
    "SolverState",
    "TabulatedMaterial",
    "Trajectory",
    "advance",
    "backward_euler",
    "box_grid",
    "carbon_steel",
    "check_scenario",
    "constant_boundary",
    "constant_material",
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
    "rectangle_mask",
    "resolve_scheme",
    "round_bar_mask",
    "schedule_boundary",
    "simulate",
    "slab_grid",
    "solve",
    "stable_time_step",
    "stainless_steel",
    "temperature_envelope",
    "total_enthalpy",
]
