"""``steeltwin-evaluate``: accuracy, calibration and speed of a trained surrogate.

Uses the same config as ``steeltwin-train`` (conf/train.yaml): the run in ``out_dir`` and the
dataset in ``data.path``. Writes ``<out_dir>/evaluation/report.json`` and ``rollouts.png``
and prints a summary. ``+speed=false`` skips the timing table. See :mod:`training._evaluate`.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from engine.apps._schema import CONF_DIR

from ._evaluate import evaluate, format_report


@hydra.main(config_path=str(CONF_DIR), config_name="train", version_base="1.3")
def app(cfg: DictConfig) -> None:
    logging.getLogger("jax").setLevel(logging.WARNING)
    logging.getLogger("absl").setLevel(logging.WARNING)
    import jax

    jax.config.update("jax_enable_x64", True)  # the solver side of the speed table
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    try:
        report = evaluate(plain["out_dir"], plain["data"]["path"],
                          speed=bool(plain.get("speed", True)))
    except FileNotFoundError as err:
        print(f"steeltwin-evaluate: {err}", file=sys.stderr)
        sys.exit(2)
    print(format_report(report))
    print(f"  wrote {plain['out_dir']}/evaluation/report.json and rollouts.png")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
