"""Structured-config schema of ``steeltwin-simulate`` (types only; ranges are checked at build).

Plain dataclasses: the CLI layer registers them with Hydra's ConfigStore
(``steeltwin.engine.apps``); nothing here imports Hydra.

The top level, ``solver`` and ``output`` have fixed keys and are typed here, so a typo or a
wrong type (``solver.dt=abc``) fails while Hydra composes the config. ``geometry``,
``material``, ``boundary``, ``initial`` and ``stress`` change shape with their ``kind`` (or
``model``) and are checked key by key when the engine objects are built (``_build``), with
messages that name the key.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from omegaconf import MISSING

SCHEMA_NAME = "simulate_schema"


class Dtype(enum.Enum):
    """Floating-point precision of the run."""

    float64 = "float64"
    float32 = "float32"


@dataclasses.dataclass
class SolverConfig:
    """Time integration (see ``steeltwin.engine.SolverSettings``); times in s."""

    scheme: str = "crank_nicolson"
    dt: float = 30.0
    t_end: float | None = None
    save_interval: float = 60.0
    iterations: int | None = None
    explicit_dt: str = "error"
    linear_solver: str | None = None


@dataclasses.dataclass
class OutputConfig:
    """What a run writes and where (``dir`` None = the Hydra run directory)."""

    dir: str | None = None
    hdf5: str | None = "result.h5"
    plots: bool = True
    progress: bool = True


@dataclasses.dataclass
class SimulateConfig:
    """The whole ``simulate`` config."""

    dtype: Dtype = Dtype.float64
    name: str = "simulate"
    geometry: Any = MISSING
    material: Any = MISSING
    boundary: Any = MISSING
    initial: Any = MISSING
    stress: Any = MISSING
    solver: SolverConfig = dataclasses.field(default_factory=SolverConfig)
    output: OutputConfig = dataclasses.field(default_factory=OutputConfig)
