"""Orbax checkpoints of a surrogate: weights, optimiser state, step and JSON metadata.

A run directory holds ``checkpoints/<step>/`` (the latest training state, for resuming) and
``best/<step>/`` (the weights with the best validation rollout, for inference); each holds
three items:

- ``model``: the ensemble's parameters (a pure dict of arrays);
- ``optimizer``: the Optax state (training only);
- ``metadata``: JSON with the ``SurrogateConfig``, the ``Normalizer``, the ``Envelope``, the
  step, the dataset's manifest hash and name, the code version, and the training metrics.

``load_surrogate(run_dir)`` rebuilds a ``Surrogate`` for inference from the directory alone:
it reads the metadata, builds the abstract network from the config (``nnx.eval_shape``) and
restores the weights into it. No Hydra, no training code, no pickle. If the run holds
``calibration.json`` (written by ``steeltwin-train`` at the end and by ``steeltwin-evaluate``),
its ``spread_scale`` multiplies the ensemble spread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import nnx

from ._normalize import Envelope, Normalizer
from ._surrogate import Surrogate, SurrogateConfig, build_ensemble

CHECKPOINTS = "checkpoints"  # the latest training state (resume)
BEST = "best"  # the weights with the best validation rollout (inference)
CALIBRATION = "calibration.json"  # spread_scale fitted on validation rollouts (optional)


def checkpoint_manager(run_dir: str | Path, which: str = CHECKPOINTS,
                       max_to_keep: int = 1) -> ocp.CheckpointManager:
    path = Path(run_dir).resolve() / which
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                           enable_async_checkpointing=False)
    return ocp.CheckpointManager(path, options=options,
                                 item_names=("model", "optimizer", "metadata"))


def save_checkpoint(manager: ocp.CheckpointManager, step: int, model_state: nnx.State,
                    opt_state: Any, metadata: dict[str, Any]) -> None:
    manager.save(step, args=ocp.args.Composite(
        model=ocp.args.StandardSave(nnx.to_pure_dict(model_state)),
        optimizer=ocp.args.StandardSave(opt_state),
        metadata=ocp.args.JsonSave(metadata)))
    manager.wait_until_finished()


def read_metadata(manager: ocp.CheckpointManager) -> dict[str, Any] | None:
    """The metadata of the latest checkpoint (None if there is none)."""
    step = manager.latest_step()
    if step is None:
        return None
    got = manager.restore(step, args=ocp.args.Composite(metadata=ocp.args.JsonRestore()))
    return dict(got["metadata"])


def restore_training(manager: ocp.CheckpointManager, model_state: nnx.State,
                     opt_state: Any) -> tuple[int, nnx.State, Any, dict[str, Any]] | None:
    """The latest checkpoint as (step, model state, optimiser state, metadata), or None."""
    step = manager.latest_step()
    if step is None:
        return None
    abstract_model = jax.tree.map(ocp.utils.to_shape_dtype_struct, nnx.to_pure_dict(model_state))
    abstract_opt = jax.tree.map(ocp.utils.to_shape_dtype_struct, opt_state)
    got = manager.restore(step, args=ocp.args.Composite(
        model=ocp.args.StandardRestore(abstract_model),
        optimizer=ocp.args.StandardRestore(abstract_opt),
        metadata=ocp.args.JsonRestore()))
    state = model_state
    nnx.replace_by_pure_dict(state, got["model"])
    return step, state, got["optimizer"], dict(got["metadata"])


def load_surrogate(run_dir: str | Path, step: int | None = None) -> Surrogate:
    """A ``Surrogate`` from a training run directory: the best validation checkpoint
    (``best/``), else the latest (``checkpoints/``)."""
    root = Path(run_dir).resolve()
    path = root / BEST if (root / BEST).is_dir() else root / CHECKPOINTS
    if not path.is_dir():
        raise FileNotFoundError(f"{run_dir} holds no {CHECKPOINTS}/ folder: expected the "
                                "output directory of a steeltwin-train run")
    manager = ocp.CheckpointManager(path, item_names=("model", "optimizer", "metadata"))
    step = manager.latest_step() if step is None else step
    if step is None:
        raise FileNotFoundError(f"{path} holds no checkpoint yet")
    meta = manager.restore(step, args=ocp.args.Composite(metadata=ocp.args.JsonRestore()))
    metadata = dict(meta["metadata"])
    config = SurrogateConfig.from_json(metadata["config"])
    abstract = nnx.eval_shape(lambda: build_ensemble(config))
    graphdef, state = nnx.split(abstract)
    # On this process's first device, whatever devices the run was saved from (a model
    # trained on 8 GPUs or 2 hosts loads on a laptop): without explicit shardings Orbax
    # restores the saved topology and refuses a different one.
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
                          nnx.to_pure_dict(state))
    got = manager.restore(step, args=ocp.args.Composite(
        model=ocp.args.StandardRestore(target)))
    nnx.replace_by_pure_dict(state, got["model"])
    scale = 1.0
    calibration = root / CALIBRATION
    if calibration.is_file():
        scale = float(json.loads(calibration.read_text())["spread_scale"])
    return Surrogate(config, graphdef, state, Normalizer.from_json(metadata["normalizer"]),
                     Envelope.from_json(metadata["envelope"]), metadata, spread_scale=scale)
