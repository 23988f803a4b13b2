"""``steeltwin-twin``: replay a measurement file through a slab's twin (EnKF).

    steeltwin-twin                                        # the shipped example readings
    steeltwin-twin measurements.path=plant/slab.csv boundary.zones.soak.duration=3000
    steeltwin-twin propagator=guarded propagator.model=outputs/train/mlp_slab

Exit status: 0 done; 2 invalid config or measurement file (nothing computed); 1 anything
else. The work is done by :func:`steeltwin.engine.apps._replay.run_replay`.
"""

from __future__ import annotations

from pathlib import Path

import hydra
import jax
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from steeltwin.engine import ConfigError

from ._entry import EntryPoint
from ._hydra import CONFIG_PATH
from ._replay import run_replay

_entry = EntryPoint(
    "steeltwin-twin", "twin",
    "replay a file of sensor readings through the ensemble Kalman twin of a slab; writes "
    "estimate.h5 and estimate.png")


@hydra.main(config_path=CONFIG_PATH, config_name="twin", version_base="1.3")
def app(cfg: DictConfig) -> None:
    _entry.started()
    if cfg.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    out = cfg.output.dir or HydraConfig.get().runtime.output_dir
    try:
        s = run_replay(cfg, out)
    except (ConfigError, OmegaConfBaseException, FileNotFoundError) as err:
        _entry.invalid(err)
    _entry.warn(s.get("warnings", ()))
    k = 273.15
    lines = [
        f"steeltwin-twin: {s['asset_id']}, {s['readings']} readings, {s['cycles']} cycles, "
        f"{s['rejected']} rejected by the innovation gate",
        f"  at t = {s['time_s'] / 3600:.2f} h: centre {s['centre_K'] - k:.1f} "
        f"+- {s['centre_std_K']:.1f} degC, top {s['surface_top_K'] - k:.1f} degC, "
        f"bottom {s['surface_bottom_K'] - k:.1f} degC, mean {s['mean_K'] - k:.1f} degC",
    ]
    sb, st = s["exchange_scale"]
    lines.append(f"  exchange-factor multipliers: bottom {sb:.3f}, top {st:.3f}; initial offset "
                 f"{s['initial_offset_K']:+.1f} +- {s['initial_offset_std_K']:.1f} K; "
                 f"max utilisation {s['max_utilisation']:.2f}")
    lines += [f"  ALERT: {a}" for a in s["alerts"]]
    lines += [f"  warning: {w}" for w in s.get("warnings", ())]
    names = ", ".join(Path(p).name for p in s["files"])
    lines.append(f"  wrote {names} (and summary.txt) to {out}")
    _entry.report("\n".join(lines), out)


def main() -> None:
    _entry.run(app)


if __name__ == "__main__":
    main()
