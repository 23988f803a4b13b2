"""steeltwin's public config layer: plain configs -> checked engine objects.

Below the command-line apps, the HTTP service and training; above the physics. It holds

- the structured schema of ``steeltwin-simulate`` (:class:`SimulateConfig`, plain dataclasses
  that the CLI registers with Hydra; nothing here imports Hydra);
- the builders from a plain config (a mapping, or an OmegaConf ``DictConfig``) to engine
  objects: :func:`build_scenario`, :func:`build_settings`, :func:`build_job`, each raising
  :class:`steeltwin.engine.ConfigError` that names the key for any bad value;
- the plausibility ranges shared by the CLI and HTTP (:func:`check_range`,
  :data:`RANGES`: ``geometry.thickness=220 m is outside 0.01-1 m ...: a value in mm?``), and
  the warnings for possible but suspicious values (:class:`PlausibilityWarning`);
- the exit statuses of the apps (:data:`EXIT_CONFIG`).

Units of a config: lengths in m, times in s, temperatures in degC (the engine works in K).
"""

from ._build import (
    DTYPES,
    OutputOptions,
    SimulationJob,
    build_job,
    build_scenario,
    build_settings,
    config_dtype,
    describe,
    to_plain,
)
from ._build_boundary import residence_time
from ._build_stress import StressJob
from ._exit import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from ._plausible import (
    EN1993_T_MAX_C,
    RANGES,
    PlausibilityWarning,
    Range,
    check_range,
    looks_like_kelvin,
    temperature_notes,
)
from ._schema import SCHEMA_NAME, Dtype, OutputConfig, SimulateConfig, SolverConfig
from ._section import Section, fail

__all__ = [
    "DTYPES", "EN1993_T_MAX_C", "EXIT_CONFIG", "EXIT_FAILED", "EXIT_OK", "RANGES", "SCHEMA_NAME",
    "Dtype", "OutputConfig", "OutputOptions", "PlausibilityWarning", "Range", "Section",
    "SimulateConfig", "SimulationJob", "SolverConfig", "StressJob", "build_job",
    "build_scenario", "build_settings", "check_range", "config_dtype", "describe", "fail",
    "looks_like_kelvin", "residence_time", "temperature_notes", "to_plain",
]
