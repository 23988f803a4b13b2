"""Train a surrogate ensemble on a steeltwin dataset (what ``steeltwin-train`` runs).

- Data: rollout windows streamed from the dataset's shards (``Dataset.windows``): a start
  field, ``rollout_steps`` macro steps of boundary inputs and the solver's field after each.
- Loss: mean squared error of every member's autoregressive rollout over the window, in units
  of the normalised macro-step increment (so a 1-step and a 4-step window weigh alike); the
  window length follows a curriculum (``curriculum``: [[fraction of training, steps], ...]).
  Optional physics-informed term (``energy_weight`` > 0): the mean square of each predicted
  macro step's discrete energy balance residual (heat content gained minus the heat that
  entered through the faces, ``_energy``), in the same units. Validation always reports that
  residual of the ensemble-mean rollout (``val_energy_residual_K``) when the dataset stores
  the boundary heat.
- Optimiser: AdamW with linear warm-up and cosine decay, global-norm clipping (Optax).
- Validation: full-passage rollouts of ``val_samples`` validation scenarios from t = 0 (RMSE in
  K); the best checkpoint is kept; training stops early after ``patience`` evaluations without
  improvement on the curriculum's last window.
- Checkpoints (Orbax, ``<out_dir>/checkpoints``) every ``checkpoint_every`` steps and at the
  end: weights, optimiser state, step, config, normalisation, envelope, dataset hash, metrics.
  Re-running the same command resumes from the latest checkpoint.
- Data parallel: every batch is split over all devices of all processes (``jax.sharding``,
  1D mesh; multi-host jobs join with ``jax.distributed``, see ``_parallel``), the parameters
  replicated; gradients are reduced by XLA.
- Metrics: ``<out_dir>/metrics.jsonl`` and ``metrics.csv``, one row per evaluation, and
  TensorBoard scalars in ``<out_dir>/tensorboard`` when ``tensorboardX`` is installed
  (``pip install "steeltwin[tensorboard]"``); written by process 0 only.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from steeltwin.engine import ConfigError
from steeltwin.engine.io import code_version
from steeltwin.models import (
    BEST,
    Envelope,
    Normalizer,
    SurrogateConfig,
    build_ensemble,
    checkpoint_manager,
    read_metadata,
    restore_training,
    rollout,
    save_checkpoint,
)

from ._energy import EnergyBalance
from ._metrics import MetricsLog
from ._parallel import DataParallel, local_copy
from ._passages import calibrate, passage_batch, stack_inputs
from .dataset import INPUT_FIELDS, Dataset, open_dataset

DEFAULT_PARAMS = ("conductivity_scale", "capacity_scale", "material")


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    steps: int = 6000
    batch_size: int = 256
    learning_rate: float = 2e-3
    warmup_steps: int = 200
    weight_decay: float = 1e-4
    clip_norm: float = 1.0
    curriculum: tuple[tuple[float, int], ...] = ((0.0, 1), (0.2, 2), (0.45, 4), (0.7, 8))
    eval_every: int = 250
    checkpoint_every: int = 250
    patience: int = 8
    val_samples: int = 64
    energy_weight: float = 0.0
    seed: int = 0

    def rollout_steps(self, step: int) -> int:
        r = self.curriculum[0][1]
        for frac, n in self.curriculum:
            if step >= frac * self.steps:
                r = n
        return r


def settings_from(cfg: Mapping[str, Any]) -> TrainSettings:
    known = {f.name for f in dataclasses.fields(TrainSettings)}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ConfigError(f"training.{unknown[0]} is not a known key: expected one of "
                          f"{', '.join(sorted(known))}")
    out = dict(cfg)
    if "curriculum" in out:
        out["curriculum"] = tuple((float(a), int(b)) for a, b in out["curriculum"])
    s = TrainSettings(**out)
    for key in ("steps", "batch_size", "eval_every", "checkpoint_every", "val_samples"):
        if getattr(s, key) < 1:
            raise ConfigError(f"training.{key}={getattr(s, key)} is invalid: expected >= 1")
    if not (s.learning_rate > 0 and math.isfinite(s.learning_rate)):
        raise ConfigError(f"training.learning_rate={s.learning_rate} is invalid: expected a "
                          "positive number (2e-3 works for the default models)")
    if not (s.energy_weight >= 0 and math.isfinite(s.energy_weight)):
        raise ConfigError(f"training.energy_weight={s.energy_weight} is invalid: expected a "
                          "number >= 0 (0 turns the energy-balance term off; 0.1 to 1 "
                          "weighs it like the data term)")
    return s


def fit_normalisation(ds: Dataset, param_names: tuple[str, ...], horizon: int,
                      ) -> tuple[Normalizer, Envelope]:
    train = ds.load("train", fields=("temperature", *INPUT_FIELDS, "params"))
    cols = [ds.parameter_names.index(n) for n in param_names]
    params = train["params"][:, cols]
    inputs = stack_inputs(train)
    return (Normalizer.fit(train["temperature"], inputs, params, horizon),
            Envelope.fit(param_names, train["temperature"], inputs, params))


def make_optimizer(s: TrainSettings) -> optax.GradientTransformation:
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, s.learning_rate, max(1, min(s.warmup_steps, s.steps - 1)), s.steps,
        end_value=s.learning_rate * 0.01)
    return optax.chain(optax.clip_by_global_norm(s.clip_norm),
                       optax.adamw(schedule, weight_decay=s.weight_decay))


def make_train_step(graphdef: nnx.GraphDef, norm: Normalizer,
                    tx: optax.GradientTransformation, energy: EnergyBalance | None = None,
                    energy_weight: float = 0.0) -> Any:
    """(state, opt_state, batch) -> (state, opt_state, loss); jit it with shardings. With
    ``energy_weight`` > 0 the batch also holds the energy balance's inputs (``heat``,
    ``material``, ``capacity_scale``, ``cell_volume``)."""

    def loss_fn(state: nnx.State, batch: Mapping[str, jax.Array]) -> jax.Array:
        pred = rollout(graphdef, state, norm, batch["state"], batch["inputs"], batch["params"])
        err = (pred - batch["targets"][None]) / norm.delta_scale
        loss = jnp.mean(err**2)
        if energy is not None and energy_weight > 0:
            r = energy.residual_K(batch["state"], pred, batch["heat"], batch["material"],
                                  batch["capacity_scale"], batch["cell_volume"])
            loss = loss + energy_weight * jnp.mean((r / norm.delta_scale) ** 2)
        return loss

    def step(state: nnx.State, opt_state: Any, batch: Mapping[str, jax.Array]) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(state, batch)
        # Optax's bias correction raises int32 step counts to float powers: standard
        # promotion here, whatever the caller's setting (the tests run strict).
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = tx.update(grads, opt_state, state)
            return optax.apply_updates(state, updates), opt_state, loss

    return step


def make_validator(graphdef: nnx.GraphDef, norm: Normalizer,
                   passages: Mapping[str, np.ndarray], energy: EnergyBalance | None = None,
                   ) -> Callable[[nnx.State], dict[str, float]]:
    """state -> the validation metrics of one ensemble-mean full-passage rollout (compiled
    once): RMSE and max error (K) and, with ``energy``, the RMS energy balance residual per
    macro step (K of mean temperature)."""
    mean_rollout = jax.jit(lambda s, a, b, c: rollout(graphdef, s, norm, a, b, c).mean(0))
    args = (jnp.asarray(passages["T0"], jnp.float32),
            jnp.asarray(passages["inputs"], jnp.float32), jnp.asarray(passages["params"]))

    def validate(state: nnx.State) -> dict[str, float]:
        pred = mean_rollout(state, *args)
        err = np.asarray(pred, np.float64) - passages["targets"]
        out = {"val_rollout_rmse_K": float(np.sqrt(np.mean(err**2))),
               "val_rollout_max_K": float(np.max(np.abs(err)))}
        if energy is not None:
            r = energy.passage_residual_K(passages, pred)
            out["val_energy_residual_K"] = float(jnp.sqrt(jnp.mean(r**2)))
        return out

    return validate


def _windows(ds: Dataset, horizon: int, steps: int, batch: int, seed: int,
             cols: list[int], energy: EnergyBalance | None = None,
             ) -> Iterator[dict[str, np.ndarray]]:
    epoch = 0
    while True:
        for w in ds.windows("train", horizon=horizon, steps=steps, batch_size=batch,
                            seed=seed * 100003 + epoch):
            out = {"state": w["state"].astype(np.float32),
                   "inputs": w["inputs"].astype(np.float32),
                   "targets": w["targets"].astype(np.float32),
                   "params": w["params"][:, cols].astype(np.float32)}
            if energy is not None:
                out["heat"] = w["heat"]
                out.update(energy.sample_arrays(w["params"], w["cell_size"]))
            yield out
        epoch += 1


@dataclasses.dataclass
class TrainReport:
    out_dir: Path
    step: int
    best_val_rmse_K: float
    best_step: int
    seconds: float
    resumed_from: int | None
    stopped_early: bool
    history: list[dict[str, Any]]


def train(model_cfg: Mapping[str, Any], train_cfg: Mapping[str, Any], data_path: str | Path,
          out_dir: str | Path, progress: bool = False) -> TrainReport:
    """Train (or resume) a surrogate ensemble; see the module doc."""
    settings = settings_from(train_cfg)
    ds = open_dataset(data_path)
    model_cfg = dict(model_cfg)
    kind = model_cfg.pop("kind", "mlp")
    horizon = int(model_cfg.pop("horizon", 5))
    ensemble = int(model_cfg.pop("ensemble", 4))
    chosen = model_cfg.pop("params", None)
    if chosen is None:  # geometry of the dataset plus the material inputs
        geo = ("thickness",) if ds.manifest["geometry"] == "slab" else ("width", "height")
        chosen = [*geo, *(p for p in DEFAULT_PARAMS if p in ds.parameter_names)]
    param_names = tuple(chosen)
    missing = [p for p in param_names if p not in ds.parameter_names]
    if missing:
        raise ConfigError(f"model.params={list(param_names)} is invalid: {missing} are not "
                          f"parameters of the dataset ({', '.join(ds.parameter_names)})")
    n_t = len(ds.times)
    if not 1 <= horizon * max(n for _, n in settings.curriculum) < n_t:
        raise ConfigError(f"model.horizon={horizon} is invalid: horizon x the longest "
                          f"curriculum window must be below the {n_t - 1} stored intervals")
    cells = tuple(ds.manifest["cells"])
    config = SurrogateConfig(kind, model_cfg, cells, len(ds.manifest["face_names"]), horizon,
                             ds.output_interval, param_names, ensemble, settings.seed)
    norm, envelope = fit_normalisation(ds, param_names, horizon)
    graphdef, state = nnx.split(build_ensemble(config))
    tx = make_optimizer(settings)
    opt_state = tx.init(state)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manager = checkpoint_manager(out)  # the latest state (resume)
    best_manager = checkpoint_manager(out, BEST)  # the best validation rollout (inference)
    meta_base = {"config": config.to_json(), "normalizer": norm.to_json(),
                 "envelope": envelope.to_json(), "dataset": {
                     "path": str(Path(data_path).resolve()), "name": ds.manifest.get("name"),
                     "config_hash": ds.manifest["config_hash"]},
                 "code_version": code_version(), "settings": dataclasses.asdict(settings)}
    start, resumed, history = 0, None, []
    best = (math.inf, -1)
    previous = read_metadata(manager)
    got = None
    if previous is not None:
        # Check what the folder holds before restoring arrays into this model's shapes.
        if previous.get("dataset", {}).get("config_hash") != ds.manifest["config_hash"] or \
                SurrogateConfig.from_json(previous["config"]) != config:
            raise ConfigError(f"out_dir={str(out)!r} is invalid: it holds a checkpoint of a "
                              "different model or dataset; choose another out_dir (or delete "
                              "it to start over)")
        got = restore_training(manager, state, opt_state)
    if got is not None:
        start, state, opt_state, meta = got
        resumed = start
        history = list(meta.get("history", []))
        best = (meta.get("best_val_rmse_K", math.inf), meta.get("best_step", -1))
    # Data parallel: batch split over a 1D mesh of every device of every process, state
    # replicated.
    # The energy balance: a loss term when energy_weight > 0, a validation metric whenever
    # the dataset stores the boundary heat.
    energy = (EnergyBalance.from_dataset(ds)
              if settings.energy_weight > 0 or ds.has_field("boundary_heat") else None)
    train_energy = energy if settings.energy_weight > 0 else None
    par = DataParallel()
    rep = par.replicated
    step_fn = jax.jit(make_train_step(graphdef, norm, tx, train_energy, settings.energy_weight),
                      donate_argnums=(0, 1), out_shardings=(rep, rep, rep))
    state = par.replicate(state)
    opt_state = par.replicate(opt_state)
    val = passage_batch(ds, "validation", horizon, param_names, settings.val_samples)
    validate = make_validator(graphdef, norm, val, energy)
    cols = [ds.parameter_names.index(n) for n in param_names]
    batch = par.global_batch_size(settings.batch_size)
    streams: dict[int, Iterator[dict[str, np.ndarray]]] = {}
    log = MetricsLog(out) if par.is_primary else None
    t0 = time.perf_counter()
    bar = None
    if progress and par.is_primary:
        from tqdm.auto import tqdm

        bar = tqdm(total=settings.steps, initial=start, unit="step", desc="training",
                   dynamic_ncols=True)
    losses: list[float] = []
    # Early stopping waits for the curriculum's last window: a full-passage validation error
    # can stall while the windows are short (a 20000-step 2D run stopped at 4500, window 2).
    final_window = settings.rollout_steps(settings.steps - 1)
    stalls = sum(1 for row in history
                 if row["step"] > best[1] and row.get("window") == final_window)
    stopped = False
    step = start
    try:
        while step < settings.steps:
            r = settings.rollout_steps(step)
            if r not in streams:
                streams[r] = _windows(ds, horizon, r, batch, settings.seed + r + step, cols,
                                      train_energy)
            state, opt_state, loss = step_fn(state, opt_state, par.shard_batch(next(streams[r])))
            step += 1
            losses.append(float(loss))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3g}", window=r)
            last = step == settings.steps
            if step % settings.eval_every == 0 or last:
                row = {"step": step, "loss": float(np.mean(losses)), "window": r,
                       **validate(local_copy(state)), "seconds": time.perf_counter() - t0}
                rmse = row["val_rollout_rmse_K"]
                losses = []
                history.append(row)
                if log is not None:
                    log.write(row)
                improved = rmse < best[0]
                if improved:
                    best = (rmse, step)
                    stalls = 0
                elif r == final_window:
                    stalls += 1
                meta = {**meta_base, "step": step, "history": history,
                        "best_val_rmse_K": best[0], "best_step": best[1]}
                if improved:
                    save_checkpoint(best_manager, step, state, opt_state, meta)
                if step % settings.checkpoint_every == 0 or last or stalls >= settings.patience:
                    save_checkpoint(manager, step, state, opt_state, meta)
                if stalls >= settings.patience:
                    stopped = True
                    break
            elif step % settings.checkpoint_every == 0:
                meta = {**meta_base, "step": step, "history": history,
                        "best_val_rmse_K": best[0], "best_step": best[1]}
                save_checkpoint(manager, step, state, opt_state, meta)
    finally:
        if bar is not None:
            bar.close()
        if log is not None:
            log.close()
    if best[1] > 0:
        calibrate(out, data_path, settings.val_samples, write=par.is_primary)
    return TrainReport(out, step, best[0], best[1], time.perf_counter() - t0, resumed,
                       stopped, history)

