"""Surrogates: network shapes, a tiny training run that learns, checkpoints that load in a
fresh process without training code, resume, data parallelism, the envelope, evaluation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from steeltwin.engine import ConfigError
from steeltwin.models import (
    Envelope,
    Normalizer,
    SurrogateConfig,
    build_ensemble,
    ensemble_step,
    load_surrogate,
    rollout,
)
from steeltwin.training import open_dataset
from steeltwin.training._train import passage_batch, train

ROOT = Path(__file__).resolve().parents[2]
NORM = Normalizer(900.0, 300.0, (900.0, 0.6, 0.0), (300.0, 0.1, 1.0), (0.2, 1.0), (0.05, 0.1),
                  20.0)
SMALL_MLP = {"kind": "mlp", "horizon": 2, "ensemble": 2, "hidden": 32, "depth": 2}
TRAIN = {"steps": 60, "batch_size": 32, "eval_every": 20, "checkpoint_every": 20,
         "val_samples": 4, "warmup_steps": 10, "curriculum": [[0.0, 1], [0.5, 2]]}


@pytest.mark.parametrize(("kind", "cells", "network"), [
    ("mlp", (24,), {"hidden": 16, "depth": 2}),
    ("fno", (24,), {"width": 8, "modes": 4, "layers": 2}),
    ("fno", (8, 6), {"width": 8, "modes": 3, "layers": 2}),
])
def test_network_shapes_and_dtypes(kind, cells, network):
    n_faces = 2 if len(cells) == 1 else 4
    cfg = SurrogateConfig(kind, network, cells, n_faces, 3, 120.0, ("thickness", "material"),
                          ensemble=3)
    graphdef, state = nnx.split(build_ensemble(cfg))
    T = jnp.full((5, *cells), 800.0, jnp.float32)
    u = jnp.ones((5, 4, n_faces, 3), jnp.float32)
    p = jnp.ones((5, 2), jnp.float32)
    out = ensemble_step(graphdef, state, NORM, T, u, p)
    assert out.shape == (3, 5, *cells) and out.dtype == jnp.float32
    roll = rollout(graphdef, state, NORM, T, jnp.ones((5, 7, 4, n_faces, 3), jnp.float32), p)
    assert roll.shape == (3, 5, 7, *cells)
    # Members differ (independent initialisation), and a fresh network is near the identity
    # of the residual form (small last layer): the step changes T by well under delta_scale.
    assert float(jnp.max(jnp.abs(out[0] - out[1]))) > 0
    assert float(jnp.max(jnp.abs(out - T))) < 3 * NORM.delta_scale


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "mlp"
    report = train(SMALL_MLP, TRAIN, dataset, out)
    return out, report


def test_tiny_training_lowers_the_error(trained):
    _, report = trained
    h = report.history
    assert [r["step"] for r in h] == [20, 40, 60]
    assert h[-1]["loss"] < 0.5 * h[0]["loss"], h  # measured: 0.68 -> 0.22
    assert h[-1]["val_rollout_rmse_K"] < 0.75 * h[0]["val_rollout_rmse_K"], h  # 85 -> 44 K
    assert report.best_val_rmse_K == min(r["val_rollout_rmse_K"] for r in h)


def test_checkpoint_loads_in_a_fresh_process_with_identical_predictions(trained, dataset,
                                                                       tmp_path):
    out, _ = trained
    sur = load_surrogate(out)
    ds = open_dataset(dataset)
    p = passage_batch(ds, "test", sur.config.horizon, sur.config.param_names)
    mean, sigma = sur.rollout(p["T0"], p["inputs"], p["params"])
    np.savez(tmp_path / "inputs.npz", **{k: p[k] for k in ("T0", "inputs", "params")})
    # Only models/ is imported there: no Hydra, no training code, no pickle.
    script = (
        "import sys, numpy as np\n"
        "from steeltwin.models import load_surrogate\n"
        f"d = np.load({str(tmp_path / 'inputs.npz')!r})\n"
        f"s = load_surrogate({str(out)!r})\n"
        "m, sd = s.rollout(d['T0'], d['inputs'], d['params'])\n"
        f"np.savez({str(tmp_path / 'fresh.npz')!r}, mean=np.asarray(m), sigma=np.asarray(sd))\n"
        "assert not any(k.startswith(('training', 'hydra')) for k in sys.modules), "
        "[k for k in sys.modules if k.startswith(('training', 'hydra'))]\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    fresh = np.load(tmp_path / "fresh.npz")
    np.testing.assert_array_equal(fresh["mean"], np.asarray(mean))
    np.testing.assert_array_equal(fresh["sigma"], np.asarray(sigma))
    meta = sur.metadata
    assert meta["dataset"]["config_hash"] == ds.manifest["config_hash"]
    assert meta["code_version"] and meta["config"]["kind"] == "mlp"


def test_resume_continues_the_same_run(dataset, tmp_path):
    out = tmp_path / "resume"
    first = train(SMALL_MLP, {**TRAIN, "steps": 40}, dataset, out)
    assert first.step == 40 and first.resumed_from is None
    second = train(SMALL_MLP, {**TRAIN, "steps": 60}, dataset, out)
    assert second.resumed_from == 40 and second.step == 60
    assert [r["step"] for r in second.history] == [20, 40, 60]
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [20, 40, 60]
    # A different model in the same out_dir is refused, not mixed in.
    with pytest.raises(ConfigError, match=r"holds a checkpoint of a different model"):
        train({**SMALL_MLP, "hidden": 16}, {**TRAIN, "steps": 80}, dataset, out)


def test_early_stopping_waits_for_the_last_curriculum_window(dataset, tmp_path, monkeypatch):
    # Validation never improves after the first evaluation: the run must still train through
    # the short windows and stop only after `patience` evaluations on the final window.
    monkeypatch.setattr("steeltwin.training._train.make_validator", lambda *a: lambda state: {
        "val_rollout_rmse_K": 1.0, "val_rollout_max_K": 2.0})
    cfg = {**TRAIN, "steps": 80, "eval_every": 10, "checkpoint_every": 10, "patience": 2,
           "curriculum": [[0.0, 1], [0.7, 2]]}
    r = train(SMALL_MLP, cfg, dataset, tmp_path / "early")
    assert r.stopped_early and r.step == 70 and r.best_step == 10
    assert [row["window"] for row in r.history] == [1, 1, 1, 1, 1, 2, 2]


def test_envelope_flags_inputs_outside_the_training_ranges(trained, dataset):
    sur = load_surrogate(trained[0])
    ds = open_dataset(dataset)
    cfg = sur.config
    inside = passage_batch(ds, "train", cfg.horizon, cfg.param_names)
    d_in = sur.envelope_distance(inside["T0"], inside["inputs"], inside["params"])
    assert np.all(d_in == 0)
    outside = passage_batch(ds, "extrapolation", cfg.horizon, cfg.param_names)
    d_out = sur.envelope_distance(outside["T0"], outside["inputs"], outside["params"])
    assert np.all(d_out >= 0) and np.max(d_out) > 0
    p = inside["params"][:1].copy()
    j = list(cfg.param_names).index("thickness")
    env = sur.envelope
    p[0, j] = env.param_high[j] + 0.2 * (env.param_high[j] - env.param_low[j])
    d = sur.envelope_distance(inside["T0"][:1], inside["inputs"][:1], p)
    np.testing.assert_allclose(d, 0.2, rtol=1e-5)


def test_envelope_json_round_trip():
    env = Envelope(("a",), (0.0,), (1.0,), (300.0, 0.3, 0.0), (1500.0, 0.9, 0.0), 290.0, 1600.0)
    assert Envelope.from_json(json.loads(json.dumps(env.to_json()))) == env
    assert Normalizer.from_json(json.loads(json.dumps(NORM.to_json()))) == NORM


@pytest.mark.slow
def test_data_parallel_step_equals_single_device(dataset, tmp_path):
    script = f"""
import jax, numpy as np, jax.numpy as jnp
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from steeltwin.models import SurrogateConfig, build_ensemble
from steeltwin.training import open_dataset
from steeltwin.training._train import (make_optimizer, make_train_step, settings_from,
                                       fit_normalisation)
ds = open_dataset({str(dataset)!r})
cfg = SurrogateConfig("mlp", {{"hidden": 32, "depth": 2}}, (8,), 2, 2, 120.0,
                      ("thickness", "material"), ensemble=2)
norm, _ = fit_normalisation(ds, cfg.param_names, 2)
g, state = nnx.split(build_ensemble(cfg))
tx = make_optimizer(settings_from({{"steps": 10}}))
w = next(ds.windows("train", horizon=2, steps=2, batch_size=16))
cols = [ds.parameter_names.index(n) for n in cfg.param_names]
b = {{"state": w["state"], "inputs": w["inputs"], "targets": w["targets"],
      "params": w["params"][:, cols]}}
b = {{k: jnp.asarray(v, jnp.float32) for k, v in b.items()}}
step = jax.jit(make_train_step(g, norm, tx))
s1, _, l1 = step(state, tx.init(state), b)
assert len(jax.devices()) == 2
mesh = Mesh(np.asarray(jax.devices()), ("data",))
bs = {{k: jax.device_put(v, NamedSharding(mesh, P("data"))) for k, v in b.items()}}
rep = NamedSharding(mesh, P())
st = jax.device_put(state, rep)
s2, _, l2 = step(st, jax.device_put(tx.init(state), rep), bs)
assert len(bs["state"].sharding.device_set) == 2
np.testing.assert_allclose(float(l1), float(l2), rtol=1e-5)
for a, c in zip(jax.tree.leaves(s1), jax.tree.leaves(s2)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(c), rtol=1e-4, atol=1e-6)
print("ok")
"""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


def test_evaluation_report(trained, dataset):
    from steeltwin.training._evaluate import evaluate, format_report

    jax.config.update("jax_enable_x64", True)
    report = evaluate(trained[0], dataset, speed=False)
    assert report["test"]["samples"] > 0 and report["extrapolation"]["samples"] == 4
    t = report["test"]
    assert t["rmse_K"] <= t["max_K"] and 0 <= t["calibration"]["share_within_2sigma"] <= 1
    assert len(t["error_growth_rmse_K"]) == (len(open_dataset(dataset).times) - 1) // 2
    assert (trained[0] / "evaluation" / "report.json").is_file()
    assert (trained[0] / "evaluation" / "rollouts.png").is_file()
    assert "rollout RMSE" in format_report(report)
    # The surrogate's steps do not balance their heat as well as the solver's fields.
    e = t["energy_balance"]
    assert e["solver_rms_K"] < 0.1 * e["rms_K"] and e["rms_K"] <= e["max_K"]
    assert "energy balance residual" in format_report(report)


@pytest.mark.parametrize(("model", "message"), [
    ({**SMALL_MLP, "params": ["thickness", "colour"]}, r"model\.params=.* \['colour'\] are not"),
    ({**SMALL_MLP, "horizon": 50}, r"model\.horizon=50 is invalid"),
])
def test_bad_model_config(dataset, tmp_path, model, message):
    with pytest.raises(ConfigError, match=message):
        train(model, TRAIN, dataset, tmp_path / "x")


@pytest.mark.parametrize(("model", "data"), [("mlp", "slab"), ("fno", "slab"),
                                             ("mlp", "section_2d"), ("fno", "section_2d")])
def test_train_configs_compose(model, data):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from steeltwin.engine.apps import CONF_DIR
    from steeltwin.training._train import settings_from

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", [f"model={model}", f"data={data}"])
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert plain["out_dir"] == f"outputs/train/{model}_{data}"
    assert plain["data"]["path"] == f"outputs/datagen/{data}"
    s = settings_from(plain["training"])
    assert s.rollout_steps(0) == 1 and s.rollout_steps(s.steps - 1) == 8


def test_multi_host_launcher_config_composes():
    """The SLURM example for multi-host training composes and asks for distributed=auto."""
    from hydra import compose, initialize_config_dir

    from steeltwin.engine.apps import CONF_DIR
    from steeltwin.training._parallel import initialize_distributed

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", ["hydra/launcher=slurm_train", "distributed=auto"],
                      return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert cfg.hydra.launcher.nodes == 2 and cfg.distributed == "auto"
    assert initialize_distributed(None) is False  # one process: nothing to join


@pytest.mark.parametrize(("cfg", "message"), [
    ("yes", "distributed='yes' is invalid"),
    ({"coordinator_address": "h:1", "num_processes": 2}, "distributed.process_id is missing"),
    ({"coordinator_address": "h:1", "num_processes": 2, "process_id": 2},
     "distributed.process_id=2 is invalid for num_processes=2"),
    ({"coordinator": "h:1"}, "distributed.coordinator is not a known key"),
])
def test_bad_distributed_config(cfg, message):
    from steeltwin.training._parallel import initialize_distributed

    with pytest.raises(ConfigError, match=message):
        initialize_distributed(cfg)


def test_spread_calibration_is_fitted_on_validation(trained, dataset):
    from steeltwin.training._evaluate import calibrate

    cal = json.loads((trained[0] / "calibration.json").read_text())  # written by train()
    assert cal["fitted_on"] == "validation" and cal["spread_scale"] > 0
    again = calibrate(trained[0], dataset)
    sur = load_surrogate(trained[0])
    assert sur.spread_scale == pytest.approx(again["spread_scale"])
    # After scaling, the RMS spread on validation equals the RMS error.
    ds = open_dataset(dataset)
    p = passage_batch(ds, "validation", sur.config.horizon, sur.config.param_names)
    mean, sigma = sur.rollout(p["T0"], p["inputs"], p["params"])
    err = np.asarray(mean, np.float64) - p["targets"]
    np.testing.assert_allclose(np.sqrt(np.mean(np.asarray(sigma, np.float64) ** 2)),
                               np.sqrt(np.mean(err**2)), rtol=1e-4)


def _tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Scalars of every event file under ``folder`` (TFRecord framing, Event protos)."""
    import struct

    from tensorboardX.proto import event_pb2

    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        data, pos = path.read_bytes(), 0
        while pos < len(data):
            (n,) = struct.unpack("<Q", data[pos:pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + n])
            pos += 12 + n + 4
            for v in event.summary.value:
                out.setdefault(v.tag, []).append((event.step, v.simple_value))
    return out


def test_metrics_reach_tensorboard(trained):
    pytest.importorskip("tensorboardX")
    out, _ = trained
    scalars = _tensorboard_scalars(out / "tensorboard")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [s for s, _ in scalars["validation/rollout_rmse_K"]] == [r["step"] for r in rows]
    np.testing.assert_allclose([v for _, v in scalars["validation/rollout_rmse_K"]],
                               [r["val_rollout_rmse_K"] for r in rows], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in scalars["train/loss"]],
                               [r["loss"] for r in rows], rtol=1e-6)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_processes_train_like_two_local_devices(dataset, tmp_path):
    """jax.distributed on localhost (2 processes x 1 CPU device, Gloo collectives) gives the
    same run as 1 process with 2 devices: same losses, validation errors and weights; metrics
    written once (process 0); the checkpoint loads for inference."""
    common = [sys.executable, "-m", "steeltwin.engine.apps.train", f"data.path={dataset}",
              "progress=false",
              "model.hidden=32", "model.depth=2", "model.horizon=2", "model.ensemble=2",
              "training.steps=20", "training.batch_size=16", "training.eval_every=10",
              "training.checkpoint_every=10", "training.val_samples=4",
              "training.warmup_steps=5", "training.curriculum=[[0.0,1],[0.5,2]]",
              f"hydra.run.dir={tmp_path}/hydra/${{now:%H-%M-%S-%f}}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    one = subprocess.run([*common, f"out_dir={tmp_path}/one"], cwd=tmp_path, text=True,
                         env={**env, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
                         capture_output=True, timeout=300)
    assert one.returncode == 0, one.stderr
    port = _free_port()
    procs = [subprocess.Popen(
        [*common, f"out_dir={tmp_path}/two",
         f"distributed={{coordinator_address: '127.0.0.1:{port}', num_processes: 2, "
         f"process_id: {i}}}"], cwd=tmp_path, env={**env, "XLA_FLAGS": ""}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    rows = {k: [json.loads(line) for line in (tmp_path / k / "metrics.jsonl").read_text()
                .splitlines()] for k in ("one", "two")}
    assert [r["step"] for r in rows["two"]] == [10, 20]  # process 0 alone wrote them
    for key in ("loss", "val_rollout_rmse_K", "val_rollout_max_K"):
        np.testing.assert_allclose([r[key] for r in rows["two"]],
                                   [r[key] for r in rows["one"]], rtol=1e-4)
    # Saved from 2 devices, loaded on this process's 1 device.
    a, b = load_surrogate(tmp_path / "one"), load_surrogate(tmp_path / "two")
    for x, y in zip(a.leaves, b.leaves, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=1e-6)
    # The two-process run resumes in one process on one device (another topology).
    more = subprocess.run([*common[:9], "training.steps=30", *common[10:],
                           f"out_dir={tmp_path}/two"], cwd=tmp_path, env={**env, "XLA_FLAGS": ""},
                          text=True, capture_output=True, timeout=300)
    assert more.returncode == 0, more.stderr
    assert "resumed from step 20" in more.stdout, more.stdout


def test_metrics_csv_takes_a_new_column_on_resume(tmp_path):
    # A run resumed by a newer version logs a metric the file's header lacks: the CSV is
    # widened (earlier rows get empty cells), not broken, and the JSONL keeps every row.
    import csv

    from steeltwin.training._metrics import MetricsLog

    MetricsLog(tmp_path, tensorboard=False).write({"step": 1, "loss": 0.5})
    log = MetricsLog(tmp_path, tensorboard=False)
    log.write({"step": 2, "loss": 0.4, "val_energy_residual_K": 0.3})
    log.write({"step": 3, "loss": 0.3, "val_energy_residual_K": 0.2})
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["1", "2", "3"]
    assert [r["val_energy_residual_K"] for r in rows] == ["", "0.3", "0.2"]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 3
