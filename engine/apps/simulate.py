"""``steeltwin-simulate``: run one scenario from the Hydra configs in ``conf/``.

    steeltwin-simulate                                # 220 mm slab, furnace
    steeltwin-simulate experiment=h_beam_cooling      # 2D H-beam in air
    steeltwin-simulate -m solver.dt=10,30             # a sweep
    python -m steeltwin.engine.apps.simulate          # the same without the console script

Exit status: 0 done; 2 the config is invalid (nothing was computed; the message names the
key); 1 anything else. The work is done by :func:`steeltwin.engine.apps.run_simulation`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import jax
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from steeltwin.engine import ConfigError
from steeltwin.engine.config import build_job

from ._entry import EntryPoint
from ._hydra import CONFIG_PATH
from ._run import run_simulation
from ._summary import format_summary

_entry = EntryPoint(
    "steeltwin-simulate", "simulate",
    "run one scenario (slab, section or block in a furnace or cooling) with the JAX solver; "
    "writes result.h5 and plots")


@hydra.main(config_path=CONFIG_PATH, config_name="simulate", version_base="1.3")
def app(cfg: DictConfig) -> None:
    """The Hydra task: build, run, print the summary (kept as summary.txt in the run folder)."""
    _entry.started()
    if cfg.dtype.name == "float64":
        jax.config.update("jax_enable_x64", True)  # precision is chosen here, never on import
    out = cfg.output.dir or HydraConfig.get().runtime.output_dir
    try:
        job = build_job(cfg)
        _entry.warn(job.warnings)
        summary = run_simulation(job, out)
    except (ConfigError, OmegaConfBaseException) as err:
        _entry.invalid(err)
    except FloatingPointError as err:
        print(f"steeltwin-simulate: {err}", file=sys.stderr)
        sys.exit(1)
    names = ", ".join(Path(p).name for p in summary["files"]) or "nothing"
    text = format_summary(summary, furnace=job.furnace)
    if job.warnings:
        text += "\n" + "\n".join(f"  warning: {w}" for w in job.warnings)
    _entry.report(f"{text}\n  wrote {names} (and summary.txt) to {out}", out)


def main() -> None:
    """Console entry point; a config Hydra cannot compose also exits with status 2."""
    _entry.run(app)


if __name__ == "__main__":
    main()
