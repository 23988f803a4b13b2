"""``steeltwin-datagen``: training data from the solver, as HDF5 shards with a manifest.

    python -m training.datagen                                  # default slab dataset
    python -m training.datagen dataset=section_2d               # 2D cross-sections
    python -m training.datagen -m dataset.shard=0,1 hydra/launcher=local   # 2 local jobs
    python -m training.datagen action=index                     # validate + join shards

Exit status: 0 done; 2 invalid config or a folder holding a different dataset (nothing was
written); 3 the index found missing or corrupt shards; 1 anything else (e.g. a full disk: the
message says what to do; complete shards are intact). See :mod:`training._generate`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import hydra
import jax
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from engine import ConfigError
from engine.apps._entry import EXIT_CONFIG, EntryPoint
from engine.apps._schema import CONF_DIR

from ._generate import GenerationReport, generate
from ._index import DatasetError, build_index

EXIT_DATASET = 3
_entry = EntryPoint()


def run_datagen(cfg: DictConfig | dict[str, Any]) -> GenerationReport | dict[str, Any]:
    """What the app runs (the tests call it too): generate, or index an existing dataset."""
    plain = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    assert isinstance(plain, dict)
    dataset = plain.get("dataset") or {}
    if dataset.get("dtype", "float64") == "float64":
        jax.config.update("jax_enable_x64", True)  # precision is chosen here, never on import
    action = plain.get("action", "generate")
    if action == "index":
        if not dataset.get("path"):
            raise ConfigError("dataset.path is missing: expected the dataset folder to index")
        return build_index(dataset["path"])
    if action != "generate":
        raise ConfigError(f"action={action!r} is invalid: expected generate or index")
    return generate(dataset, progress=bool(plain.get("progress", False)))


def format_report(report: GenerationReport) -> str:
    rows = [f"dataset {report.path}"]
    if report.written:
        rows.append(f"  wrote shards {report.written}: {report.samples} samples in "
                    f"{report.seconds:.1f} s ({report.samples_per_s:.1f} samples/s, "
                    f"{report.cell_updates / max(report.seconds, 1e-9):.3g} cell updates/s), "
                    f"{report.bytes_written / 1e6:.1f} MB")
    if report.skipped:
        rows.append(f"  kept {len(report.skipped)} complete shard(s) {report.skipped}")
    rows.append("  index: validated, dataset.h5 and index.json written" if report.indexed
                else "  index: not built (one shard of several); run action=index when all "
                     "shards are done")
    return "\n".join(rows)


@hydra.main(config_path=str(CONF_DIR), config_name="datagen", version_base="1.3")
def app(cfg: DictConfig) -> None:
    _entry.started()
    logging.getLogger("jax").setLevel(logging.WARNING)
    try:
        out = run_datagen(cfg)
    except (ConfigError, OmegaConfBaseException) as err:
        print(f"steeltwin-datagen: invalid config: {err}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    except DatasetError as err:
        print(f"steeltwin-datagen: {err}", file=sys.stderr)
        sys.exit(EXIT_DATASET)
    except (OSError, FloatingPointError) as err:
        print(f"steeltwin-datagen: {err}", file=sys.stderr)
        sys.exit(1)
    if isinstance(out, GenerationReport):
        print(format_report(out))
    else:
        print(f"dataset {cfg.dataset.path}: {len(out['shards'])} shards, {out['n_total']} "
              "samples, all checksums match the records; wrote index.json and dataset.h5")


def main() -> None:
    """Console entry point; a config Hydra cannot compose also exits with status 2."""
    _entry.run(app)


if __name__ == "__main__":
    main()
