"""The discrete energy balance (the physics-informed loss term): zero on the solver's own
fields, sensitive to the heat content, and a training term that lowers the residual."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from training_cases import tiny

from steeltwin.engine import ConfigError
from steeltwin.models import SurrogateConfig, build_ensemble, rollout
from steeltwin.training import generate, open_dataset
from steeltwin.training._energy import EnergyBalance
from steeltwin.training._train import (
    _windows,
    fit_normalisation,
    make_train_step,
    passage_batch,
    train,
)

SMALL_MLP = {"kind": "mlp", "horizon": 2, "ensemble": 2, "hidden": 32, "depth": 2}
TRAIN = {"steps": 60, "batch_size": 32, "eval_every": 20, "checkpoint_every": 60,
         "val_samples": 4, "warmup_steps": 10, "curriculum": [[0.0, 1], [0.5, 2]]}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Two implicit iterations per step: every sample's update stays conservative (with one,
    a few tiny-set samples exceed the solver's correction limit and fall back)."""
    path = tmp_path_factory.mktemp("energy") / "ds"
    generate(tiny(path, n_samples=24, n_extrapolation=4, num_shards=2, batch_size=8,
                  iterations=2))
    return path


def _residual(energy, p, fields, **change):
    extra = {**energy.sample_arrays(p["rows"], p["cell_size"]), **change}
    return np.asarray(energy.residual_K(
        jnp.asarray(p["T0"], jnp.float32), jnp.asarray(fields, jnp.float32),
        jnp.asarray(p["heat"]), **{k: jnp.asarray(v) for k, v in extra.items()}))


def test_the_solver_fields_balance_and_a_wrong_heat_content_does_not(dataset):
    ds = open_dataset(dataset)
    p = passage_batch(ds, "test", 2, ("thickness",))
    energy = EnergyBalance.from_dataset(ds)
    truth = _residual(energy, p, p["targets"][None])
    assert truth.shape == (1, len(p["T0"]), p["targets"].shape[1])
    # The heat in over a 4-min step is ~50 K of mean temperature; the solver's fields balance
    # it to float32 rounding (measured 1e-4 K).
    assert np.abs(truth).max() < 2e-3
    assert np.abs(p["heat"]).mean() / (
        energy.sample_arrays(p["rows"], p["cell_size"])["cell_volume"].mean() * 8
        * energy.mean_capacity) > 10
    # +1 K on every field: the first step gains ~rho c / mean rho c (0.8-0.9 K), the later
    # steps start from the shifted field too and stay near zero.
    shifted = _residual(energy, p, p["targets"][None] + 1.0)
    assert np.all((shifted[..., 0] > 0.5) & (shifted[..., 0] < 1.5)), shifted[..., 0]
    assert np.abs(shifted[..., 1:]).max() < 0.1
    # The other material's enthalpy table, or no capacity scale, breaks the balance.
    rows = energy.sample_arrays(p["rows"], p["cell_size"])
    other = _residual(energy, p, p["targets"][None], material=1 - rows["material"])
    assert np.abs(other).max() > 10
    unscaled = _residual(energy, p, p["targets"][None],
                         capacity_scale=np.ones_like(rows["capacity_scale"]))
    assert np.abs(unscaled).max() > 0.1


def test_energy_term_is_trained_away(dataset):
    # The train step itself, fitted to one batch of 2-step windows: with the energy term the
    # predicted steps balance their heat far better than with the data term alone.
    ds = open_dataset(dataset)
    energy = EnergyBalance.from_dataset(ds)
    names = ("thickness", "conductivity_scale", "capacity_scale", "material")
    cols = [ds.parameter_names.index(n) for n in names]
    norm, _ = fit_normalisation(ds, names, 2)
    cfg = SurrogateConfig("mlp", {"hidden": 32, "depth": 2}, (8,), 2, 2, 120.0, names, 2)
    graphdef, state0 = nnx.split(build_ensemble(cfg))
    batch = {k: jnp.asarray(v) for k, v in
             next(_windows(ds, 2, 2, 32, 0, cols, energy)).items()}
    tx = optax.adam(1e-2)

    def fit(weight):
        step = jax.jit(make_train_step(graphdef, norm, tx, energy, weight))
        state, opt = state0, tx.init(state0)
        for _ in range(400):
            state, opt, loss = step(state, opt, batch)
        pred = rollout(graphdef, state, norm, batch["state"], batch["inputs"], batch["params"])
        r = energy.residual_K(batch["state"], pred, batch["heat"], batch["material"],
                              batch["capacity_scale"], batch["cell_volume"])
        return float(loss), float(jnp.sqrt(jnp.mean(r**2)))

    _, plain = fit(0.0)
    loss, balanced = fit(10.0)
    assert np.isfinite(loss)
    assert balanced < 0.6 * plain, (plain, balanced)  # measured 1.19 -> 0.42 K


def test_training_reports_the_energy_residual(dataset, tmp_path):
    r = train(SMALL_MLP, {**TRAIN, "steps": 20, "energy_weight": 1.0}, dataset, tmp_path / "e")
    assert [row["step"] for row in r.history] == [20]
    assert 0 < r.history[0]["val_energy_residual_K"] < 1e3
    assert "val_energy_residual_K" in (tmp_path / "e" / "metrics.csv").read_text()


@pytest.mark.parametrize("weight", [-1.0, float("nan")])
def test_bad_energy_weight(dataset, tmp_path, weight):
    with pytest.raises(ConfigError, match=r"training\.energy_weight=.* expected a number >= 0"):
        train(SMALL_MLP, {**TRAIN, "energy_weight": weight}, dataset, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
