"""steeltwin twin layer: propagators, predict, set-point advice, ensemble Kalman twins.

Built on the physics core (``engine``) and the surrogates (``models``); the physics core
never imports this package. Public API:

- propagators (one interface for physics, surrogate and the guarded combination):
  ``PhysicsPropagator``, ``SurrogatePropagator``, ``GuardedPropagator``, and
  ``build_propagator`` (from a ``propagator`` config section);
- ``predict``: fields and summaries of slabs at requested times (``Prediction``);
- ``advise_setpoints``: gradient-based zone set-points for a discharge target (``Advice``);
- estimation: ``Twin`` (one slab), ``assimilate_many`` (many, batched), ``TwinConfig``;
  the EnKF analysis (``enkf_analysis``, ``enkf_update``); readings with units
  (``make_reading``, ``read_measurements_csv``, ``MeasurementLog``).
"""

from ._advisor import Advice, advise_setpoints, zone_boundary
from ._batch import TWIN_BUCKETS, BatchMember, assimilate_many
from ._enkf import enkf_analysis, enkf_update, inflate, innovation_gate
from ._measurements import (
    MAX_ID_LENGTH,
    SENSORS,
    MeasurementLog,
    Reading,
    make_reading,
    read_measurements_csv,
    to_kelvin,
    to_metres,
    unit_registry,
)
from ._predict import Prediction, centre_of, predict, rollout_assets, summarise
from ._propagator import (
    BUCKETS,
    SOURCES,
    AbstractPropagator,
    GuardedPropagator,
    PhysicsPropagator,
    SurrogatePropagator,
    build_propagator,
)
from ._slab import MATERIAL_NAMES, PARAM_NAMES, knot_inputs, knot_times, scenario_params
from ._twin import Twin, TwinConfig

__all__ = [
    "BUCKETS",
    "MATERIAL_NAMES",
    "MAX_ID_LENGTH",
    "PARAM_NAMES",
    "SENSORS",
    "SOURCES",
    "TWIN_BUCKETS",
    "AbstractPropagator",
    "Advice",
    "BatchMember",
    "GuardedPropagator",
    "MeasurementLog",
    "PhysicsPropagator",
    "Prediction",
    "Reading",
    "SurrogatePropagator",
    "Twin",
    "TwinConfig",
    "advise_setpoints",
    "assimilate_many",
    "build_propagator",
    "centre_of",
    "enkf_analysis",
    "enkf_update",
    "inflate",
    "innovation_gate",
    "knot_inputs",
    "knot_times",
    "make_reading",
    "predict",
    "read_measurements_csv",
    "rollout_assets",
    "scenario_params",
    "summarise",
    "to_kelvin",
    "to_metres",
    "unit_registry",
    "zone_boundary",
]
