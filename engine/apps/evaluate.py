"""``steeltwin-evaluate``: accuracy, calibration and speed of a trained surrogate.

Uses the config of ``steeltwin-train`` (conf/evaluate.yaml extends conf/train.yaml): the run in
``out_dir`` and the
dataset in ``data.path``. Writes ``<out_dir>/evaluation/report.json`` and ``rollouts.png``
and prints a summary. ``speed=false`` skips the timing table. See
:func:`steeltwin.training.evaluate`.
"""

from __future__ import annotations

from pathlib import Path

import hydra
import jax
from omegaconf import DictConfig, OmegaConf

from steeltwin.training import evaluate, format_evaluation

from ._entry import EntryPoint
from ._hydra import CONFIG_PATH

_entry = EntryPoint(
    "steeltwin-evaluate", "evaluate",
    "accuracy, calibration and speed of a trained surrogate; writes evaluation/report.json")


@hydra.main(config_path=CONFIG_PATH, config_name="evaluate", version_base="1.3")
def app(cfg: DictConfig) -> None:
    _entry.started()
    jax.config.update("jax_enable_x64", True)  # the solver side of the speed table
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    try:
        report = evaluate(plain["out_dir"], plain["data"]["path"],
                          speed=bool(plain.get("speed", True)))
    except FileNotFoundError as err:
        _entry.invalid(err)
    folder = Path(plain["out_dir"]) / "evaluation"
    _entry.report(f"{format_evaluation(report)}\n  wrote {folder}/report.json, rollouts.png and "
                  "summary.txt", folder)


def main() -> None:
    _entry.run(app)


if __name__ == "__main__":
    main()
