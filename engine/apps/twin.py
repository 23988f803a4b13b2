"""``steeltwin-twin``: replay a measurement file through a slab's twin (EnKF).

    steeltwin-twin                                        # the shipped example readings
    steeltwin-twin measurements.path=plant/slab.csv boundary.zones.soak.duration=3000
    steeltwin-twin propagator=guarded propagator.model=runs/train/mlp_slab

Exit status: 0 done; 2 invalid config or measurement file (nothing computed); 1 anything
else. The work is done by :func:`engine.apps._replay.run_replay`.
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

from ._entry import EXIT_CONFIG, EntryPoint
from ._replay import run_replay
from ._schema import CONF_DIR

_entry = EntryPoint()


@hydra.main(config_path=str(CONF_DIR), config_name="twin", version_base="1.3")
def app(cfg: DictConfig) -> None:
    _entry.started()
    logging.getLogger("jax").setLevel(logging.WARNING)
    if cfg.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    try:
        out = cfg.output.dir or HydraConfig.get().runtime.output_dir
        s = run_replay(cfg, out)
    except (ConfigError, OmegaConfBaseException, FileNotFoundError) as err:
        print(f"steeltwin-twin: invalid config: {err}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    k = 273.15
    print(f"steeltwin-twin: {s['asset_id']}, {s['readings']} readings, {s['cycles']} cycles, "
          f"{s['rejected']} rejected by the innovation gate")
    print(f"  at t = {s['time_s'] / 3600:.2f} h: centre {s['centre_K'] - k:.1f} "
          f"+- {s['centre_std_K']:.1f} degC, top {s['surface_top_K'] - k:.1f} degC, "
          f"bottom {s['surface_bottom_K'] - k:.1f} degC, mean {s['mean_K'] - k:.1f} degC")
    sb, st = s["exchange_scale"]
    print(f"  exchange-factor multipliers: bottom {sb:.3f}, top {st:.3f}; initial offset "
          f"{s['initial_offset_K']:+.1f} +- {s['initial_offset_std_K']:.1f} K; "
          f"max utilisation {s['max_utilisation']:.2f}")
    for a in s["alerts"]:
        print(f"  ALERT: {a}")
    names = ", ".join(Path(p).name for p in s["files"])
    print(f"  wrote {names} to {out}")


def main() -> None:
    _entry.run(app)


if __name__ == "__main__":
    main()
