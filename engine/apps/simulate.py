"""``steeltwin-simulate``: run one scenario from the Hydra configs in ``conf/``.

    python -m engine.apps.simulate                                # 220 mm slab, furnace
    python -m engine.apps.simulate experiment=h_beam_cooling      # 2D H-beam in air
    python -m engine.apps.simulate -m solver.dt=10,30             # a sweep

Exit status: 0 done; 2 the config is invalid (nothing was computed; the message names the
key); 1 anything else. The work is done by :func:`engine.apps.run_simulation`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
import jax
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from engine import ConfigError

from ._build import build_job
from ._entry import EXIT_CONFIG, EntryPoint
from ._run import run_simulation
from ._schema import CONF_DIR, register_configs
from ._summary import format_summary

_entry = EntryPoint()

register_configs()


@hydra.main(config_path=str(CONF_DIR), config_name="simulate", version_base="1.3")
def app(cfg: DictConfig) -> None:
    """The Hydra task: build, run, print the summary."""
    _entry.started()
    logging.getLogger("jax").setLevel(logging.WARNING)  # Hydra's root logger is at INFO
    if cfg.dtype.name == "float64":
        jax.config.update("jax_enable_x64", True)  # precision is chosen here, never on import
    try:
        job = build_job(cfg)
        out = cfg.output.dir or HydraConfig.get().runtime.output_dir
        summary = run_simulation(job, out)
    except (ConfigError, OmegaConfBaseException) as err:
        print(f"steeltwin-simulate: invalid config: {err}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    except FloatingPointError as err:
        print(f"steeltwin-simulate: {err}", file=sys.stderr)
        sys.exit(1)
    print(format_summary(summary, furnace=job.furnace))
    names = ", ".join(Path(p).name for p in summary["files"]) or "nothing"
    print(f"  wrote {names} to {out}")


def main() -> None:
    """Console entry point; a config Hydra cannot compose also exits with status 2."""
    _entry.run(app)


if __name__ == "__main__":
    main()
