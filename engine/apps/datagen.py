"""``steeltwin-datagen``: training data from the solver, as HDF5 shards with a manifest.

    steeltwin-datagen                                 # default slab -> outputs/datagen/slab
    steeltwin-datagen dataset=section_2d              # 2D cross-sections
    steeltwin-datagen -m dataset.shard=0,1 hydra/launcher=local   # 2 local jobs
    steeltwin-datagen action=index                    # validate + join shards
    python -m steeltwin.engine.apps.datagen           # the same without the console script

Exit status: 0 done; 2 invalid config or a folder holding a different dataset (nothing was
written); 3 the index found missing or corrupt shards; 1 anything else (e.g. a full disk: the
message says what to do; complete shards are intact). See :func:`steeltwin.training.generate`.
"""

from __future__ import annotations

import sys
from typing import Any

import hydra
import jax
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from steeltwin.engine import ConfigError
from steeltwin.training import DatasetError, GenerationReport, build_index, generate

from ._entry import EntryPoint
from ._hydra import CONFIG_PATH

EXIT_DATASET = 3
_entry = EntryPoint(
    "steeltwin-datagen", "datagen",
    "sample scenarios, solve them in batches and write a training dataset (HDF5 shards + manifest)")


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


@hydra.main(config_path=CONFIG_PATH, config_name="datagen", version_base="1.3")
def app(cfg: DictConfig) -> None:
    _entry.started()
    try:
        out = run_datagen(cfg)
    except (ConfigError, OmegaConfBaseException) as err:
        _entry.invalid(err)
    except DatasetError as err:
        print(f"steeltwin-datagen: {err}", file=sys.stderr)
        sys.exit(EXIT_DATASET)
    except (OSError, FloatingPointError) as err:
        print(f"steeltwin-datagen: {err}", file=sys.stderr)
        sys.exit(1)
    if isinstance(out, GenerationReport):
        text = format_report(out)
    else:
        text = (f"dataset {cfg.dataset.path}: {len(out['shards'])} shards, {out['n_total']} "
                "samples, all checksums match the records; wrote index.json and dataset.h5")
    _entry.report(text, HydraConfig.get().runtime.output_dir)


def main() -> None:
    """Console entry point; a config Hydra cannot compose also exits with status 2."""
    _entry.run(app)


if __name__ == "__main__":
    main()
