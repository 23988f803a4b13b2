"""``steeltwin-train``: fit a surrogate ensemble to a dataset (Hydra app, conf/train.yaml).

    python -m training.train                          # MLP on data/slab -> runs/train/mlp_slab
    python -m training.train model=fno training.steps=6000
    python -m training.train data=section_2d model=fno
    srun steeltwin-train distributed=auto          # multi-host: one process per node/GPU

Re-running the same command resumes from ``out_dir``'s latest checkpoint. Exit status: 0 done;
2 invalid config (nothing trained); 1 anything else. See :mod:`training._train`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from engine import ConfigError
from engine.apps._entry import EXIT_CONFIG, EntryPoint
from engine.apps._schema import CONF_DIR

from ._index import DatasetError
from ._parallel import initialize_distributed
from ._train import TrainReport, train

_entry = EntryPoint()


def run_train(cfg: DictConfig | dict[str, Any]) -> TrainReport:
    plain = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    assert isinstance(plain, dict)
    # Before anything touches a device: a multi-host job joins here (``_parallel``).
    initialize_distributed(plain.get("distributed"))
    return train(plain["model"], plain["training"], plain["data"]["path"], plain["out_dir"],
                 progress=bool(plain.get("progress", False)))


def format_train(r: TrainReport) -> str:
    rows = [f"run {r.out_dir}: {r.step} steps in {r.seconds:.0f} s"
            + (f" (resumed from step {r.resumed_from})" if r.resumed_from else "")
            + (" (stopped early: no validation improvement)" if r.stopped_early else "")]
    rows.append(f"  best validation rollout RMSE {r.best_val_rmse_K:.2f} K at step {r.best_step}"
                " (weights in best/, resume state in checkpoints/)")
    return "\n".join(rows)


@hydra.main(config_path=str(CONF_DIR), config_name="train", version_base="1.3")
def app(cfg: DictConfig) -> None:
    _entry.started()
    logging.getLogger("jax").setLevel(logging.WARNING)
    logging.getLogger("absl").setLevel(logging.WARNING)
    try:
        report = run_train(cfg)
    except (ConfigError, OmegaConfBaseException, DatasetError) as err:
        print(f"steeltwin-train: invalid config: {err}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    print(format_train(report))


def main() -> None:
    _entry.run(app)


if __name__ == "__main__":
    main()
