"""The command-line layer: the Hydra apps and the library functions behind them.

Apps (console scripts): ``steeltwin-simulate`` (:mod:`.simulate`), ``steeltwin-datagen``
(:mod:`.datagen`), ``steeltwin-train`` (:mod:`.train`), ``steeltwin-evaluate``
(:mod:`.evaluate`), ``steeltwin-twin`` (:mod:`.twin`) and ``steeltwin-serve`` (:mod:`.serve`).
This is the only layer that imports Hydra; the configs are turned into engine objects by the
public config layer, :mod:`steeltwin.engine.config`.

``run_simulation(cfg_or_job, output_dir)`` is what ``steeltwin-simulate`` runs and
``run_replay(cfg, output_dir)`` what ``steeltwin-twin`` runs; ``compose`` gives the config an
app would see, for notebooks and tests.
"""

from __future__ import annotations

from steeltwin.engine.config import (
    OutputOptions,
    SimulateConfig,
    SimulationJob,
    build_job,
    build_scenario,
    build_settings,
    to_plain,
)

from ._entry import SUMMARY_FILE, EntryPoint
from ._hydra import CONF_DIR, CONF_MODULE, CONFIG_PATH, compose, conf_file, register_configs
from ._replay import run_replay
from ._run import check_precision, run_simulation
from ._stress import format_stress
from ._summary import format_summary, summarize

__all__ = [
    "CONFIG_PATH", "CONF_DIR", "CONF_MODULE", "SUMMARY_FILE", "EntryPoint", "OutputOptions",
    "SimulateConfig", "SimulationJob", "build_job", "build_scenario", "build_settings",
    "check_precision", "compose", "conf_file", "format_stress", "format_summary",
    "register_configs", "run_replay", "run_simulation", "summarize", "to_plain",
]
