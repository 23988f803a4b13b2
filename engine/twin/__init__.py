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
from ._batch import assimilate_many
from ._enkf import enkf_analysis, enkf_update, inflate, innovation_gate
from ._measurements import (
    SENSORS,
    MeasurementLog,
    Reading,
    make_reading,
    read_measurements_csv,
    to_kelvin,
)
from ._predict import Prediction, predict
from ._propagator import (
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
    "MATERIAL_NAMES",
    "PARAM_NAMES",
    "SENSORS",
    "SOURCES",
    "AbstractPropagator",
    "Advice",
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
    "enkf_analysis",
    "enkf_update",
    "inflate",
    "innovation_gate",
    "knot_inputs",
    "knot_times",
    "make_reading",
    "predict",
    "read_measurements_csv",
    "scenario_params",
    "to_kelvin",
    "zone_boundary",
]
