"""Entry points (Hydra apps) and the library functions behind them.

``run_simulation(cfg_or_job, output_dir)`` is what ``steeltwin-simulate`` runs; ``build_job``,
``build_scenario`` and ``build_settings`` turn a composed config into engine objects, raising
``engine.ConfigError`` that names the key for any bad value. ``compose`` gives the config the
app would see, for notebooks and tests.
"""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig

from ._build import (
    OutputOptions,
    SimulationJob,
    build_job,
    build_scenario,
    build_settings,
    to_plain,
)
from ._run import check_precision, run_simulation
from ._schema import CONF_DIR, SimulateConfig, register_configs
from ._summary import format_summary, summarize


def compose(overrides: Sequence[str] = (), config_name: str = "simulate") -> DictConfig:
    """The config ``steeltwin-simulate`` would run with these overrides (no Hydra run dir)."""
    from hydra import compose as _compose
    from hydra import initialize_config_dir

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return _compose(config_name=config_name, overrides=list(overrides))


__all__ = [
    "CONF_DIR", "OutputOptions", "SimulateConfig", "SimulationJob", "build_job",
    "build_scenario", "build_settings", "check_precision", "compose", "format_summary",
    "register_configs", "run_simulation", "summarize", "to_plain",
]
