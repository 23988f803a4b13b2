"""Tiny datasets for the training tests (seconds to generate)."""

from __future__ import annotations

import yaml

from steeltwin.engine.apps import CONF_DIR

# The default zones (names as in conf/dataset/slab.yaml), shortened: a 0.5 h passage.
ZONES = {"preheat": {"gas_temperature": [950, 1100], "duration": [300, 450]},
         "heating_1": {"gas_temperature": [1150, 1300], "duration": [300, 450]},
         "heating_2": {"gas_temperature": [1200, 1320], "duration": [300, 450]},
         "soak": {"gas_temperature": [1200, 1280], "duration": [300, 450]}}


def tiny(path, **changes):
    cfg = yaml.safe_load((CONF_DIR / "dataset" / "slab.yaml").read_text())
    cfg.update(path=str(path), cells=8, zones=ZONES, n_samples=12, n_extrapolation=4,
               num_shards=4, batch_size=4, dt=60.0, output_interval=120.0, iterations=1,
               ramp_time=120.0)
    cfg.update(changes)
    return cfg


