"""``steeltwin-train``: fit a surrogate ensemble to a dataset (Hydra app, conf/train.yaml).

    steeltwin-train                      # MLP on outputs/datagen/slab -> outputs/train/mlp_slab
    steeltwin-train model=fno training.steps=6000
    steeltwin-train data=section_2d model=fno
    python -m steeltwin.engine.apps.train            # the same without the console script
    srun steeltwin-train distributed=auto          # multi-host: one process per node/GPU

Re-running the same command resumes from ``out_dir``'s latest checkpoint. Exit status: 0 done;
2 invalid config (nothing trained); 1 anything else. See :func:`steeltwin.training.train`.
"""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from steeltwin.engine import ConfigError
from steeltwin.training import DatasetError, TrainReport, initialize_distributed, train

from ._entry import EntryPoint
from ._hydra import CONFIG_PATH

_entry = EntryPoint(
    "steeltwin-train", "train",
    "fit a surrogate ensemble (MLP or FNO, Flax NNX + Optax) to a dataset; Orbax checkpoints")


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


@hydra.main(config_path=CONFIG_PATH, config_name="train", version_base="1.3")
def app(cfg: DictConfig) -> None:
    _entry.started()
    try:
        report = run_train(cfg)
    except (ConfigError, OmegaConfBaseException, DatasetError) as err:
        _entry.invalid(err)
    _entry.report(format_train(report), report.out_dir)


def main() -> None:
    _entry.run(app)


if __name__ == "__main__":
    main()
