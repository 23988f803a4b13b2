"""The sampling design: deterministic, inside the ranges, split by scenario, extrapolation
just outside; bad ranges fail with a message naming the key."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from steeltwin.engine import ConfigError
from steeltwin.training import Parameter, make_design
from steeltwin.training._generate import build_spec, shard_ranges

PARAMS = [Parameter("thickness", 0.15, 0.30, "m", (1e-3, 10.0)),
          Parameter("gas", 1373.15, 1573.15, "K", (273.15, 1823.15), offset=273.15,
                    config_unit="degC"),
          Parameter("phi", 0.5, 0.8, "1", (0.05, 1.0)),
          Parameter("material", 0, 1, "index", categories=2)]
FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}


@pytest.mark.parametrize("method", ["sobol", "lhs"])
def test_design_is_deterministic_and_inside_the_ranges(method):
    a = make_design(PARAMS, 200, 40, FRACTIONS, method, seed=7)
    b = make_design(PARAMS, 200, 40, FRACTIONS, method, seed=7)
    c = make_design(PARAMS, 200, 40, FRACTIONS, method, seed=8)
    assert a.values.tobytes() == b.values.tobytes() and np.array_equal(a.split, b.split)
    assert not np.array_equal(a.values, c.values)
    inside = a.values[a.split < 3]
    lo = np.array([p.low for p in PARAMS])
    hi = np.array([p.high for p in PARAMS])
    assert np.all((inside >= lo) & (inside <= hi))
    # Space-filling: every tenth of every continuous range holds samples.
    for j in range(3):
        counts = np.histogram(inside[:, j], bins=10, range=(lo[j], hi[j]))[0]
        assert counts.min() >= 10, counts
    assert set(np.unique(inside[:, 3])) == {0.0, 1.0}
    assert a.counts() == {"train": 160, "validation": 20, "test": 20, "extrapolation": 40}


def test_extrapolation_points_are_just_outside():
    d = make_design(PARAMS, 64, 50, FRACTIONS, seed=0, margin=0.1)
    out = d.values[d.split == 3]
    assert len(out) == 50
    lo = np.array([p.low for p in PARAMS[:3]])
    hi = np.array([p.high for p in PARAMS[:3]])
    w = hi - lo
    x = out[:, :3]
    assert np.all(np.any((x < lo) | (x > hi), axis=1))  # each outside in some parameter
    assert np.all(x >= lo - 0.1 * w - 1e-12) and np.all(x <= hi + 0.1 * w + 1e-12)
    # The physical limit clips the band: phi never exceeds 1 (0.8 + 0.03 < 1 here anyway).
    assert np.all(x[:, 2] <= 1.0)


def test_shard_ranges_are_disjoint_and_cover():
    r = shard_ranges(103, 8)
    assert r[0][0] == 0 and r[-1][1] == 103
    assert all(a[1] == b[0] for a, b in itertools.pairwise(r))
    assert max(b - a for a, b in r) - min(b - a for a, b in r) <= 1


@pytest.mark.parametrize(("params", "message"), [
    ([Parameter("thickness", 0.3, 0.15, "m")],
     r"dataset\.ranges\.thickness=\[0\.3, 0\.15\] is invalid: expected low <= high .*swap"),
    ([Parameter("gas", 1573.15, 1373.15, "K", offset=273.15, config_unit="degC",
                key="dataset.zones.soak.gas_temperature")],
     r"dataset\.zones\.soak\.gas_temperature=\[1300, 1100\] is invalid"),
    ([Parameter("phi", 0.5, 1.5, "1", (0.05, 1.0))],
     r"dataset\.ranges\.phi=\[0\.5, 1\.5\] is invalid: expected values within the physical "
     r"limits \[0\.05, 1\] 1"),
    ([Parameter("x", float("nan"), 1.0, "m")], r"dataset\.ranges\.x=\[nan, 1\] is invalid"),
])
def test_bad_ranges_name_the_key(params, message):
    with pytest.raises(ConfigError, match=message):
        make_design(params, 8, 0, FRACTIONS)


def test_bad_counts_and_splits():
    with pytest.raises(ConfigError, match=r"dataset\.n_samples=0 is invalid"):
        make_design(PARAMS, 0, 0, FRACTIONS)
    with pytest.raises(ConfigError, match=r"dataset\.splits=.* add up to 1"):
        make_design(PARAMS, 8, 0, {"train": 0.8, "validation": 0.3, "test": 0.1})
    with pytest.raises(ConfigError, match=r"dataset\.design='grid' is invalid"):
        make_design(PARAMS, 8, 0, FRACTIONS, method="grid")


def _cfg(**changes):
    import yaml

    from steeltwin.engine.apps import CONF_DIR

    cfg = yaml.safe_load((CONF_DIR / "dataset" / "slab.yaml").read_text())
    cfg["path"] = "unused"
    cfg.update(changes)
    return cfg


@pytest.mark.parametrize(("changes", "message"), [
    ({"ranges": {**_cfg()["ranges"], "thickness": []}},
     r"dataset\.ranges\.thickness=\[\] is invalid: expected a range \[low, high\]"),
    ({"ranges": {**_cfg()["ranges"], "thickness": [0.3, 0.1]}},
     r"dataset\.ranges\.thickness=\[0\.3, 0\.1\] is invalid: expected low <= high"),
    ({"zones": {"soak": {"gas_temperature": [1300, 1200], "duration": [600, 900]}}},
     r"dataset\.zones\.soak\.gas_temperature=\[1300, 1200\] is invalid: expected low <= high"),
    ({"zones": {}}, r"dataset\.zones is missing"),
    ({"cells": 2}, r"dataset\.cells=2 is invalid"),
    ({"materials": ["unobtainium"]}, r"dataset\.materials=\['unobtainium'\] is invalid"),
    ({"output_interval": 100.0}, r"dataset\.output_interval=100\.0 is invalid: expected a "
                                 r"whole multiple of dataset\.dt=30\.0 s"),
    ({"dt": -1}, r"dataset\.dt=-1 is invalid: expected a positive number"),
    ({"thikness": 0.2}, r"dataset\.thikness is not a known key"),
    ({"stress": "plastic"}, r"dataset\.stress='plastic' is invalid"),
])
def test_bad_dataset_config_names_the_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        build_spec(_cfg(**changes))


@pytest.mark.parametrize("name", ["slab", "section_2d"])
def test_shipped_dataset_configs_build(name):
    from hydra import compose, initialize_config_dir

    from steeltwin.engine.apps import CONF_DIR
    from steeltwin.training import build_design, build_manifest
    from steeltwin.training._generate import build_spec as spec_of

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("datagen", [f"dataset={name}"], return_hydra_config=False)
    from omegaconf import OmegaConf

    plain = OmegaConf.to_container(cfg.dataset, resolve=True)
    spec = spec_of(plain)
    design = build_design(plain, spec)
    manifest = build_manifest(plain, spec, design)
    assert plain["path"] == f"outputs/datagen/{name}"
    assert manifest["n_total"] == plain["n_samples"] + plain["n_extrapolation"]
    assert len(manifest["shards"]) == plain["num_shards"]
    # t_end defaults to the longest passage, a whole number of output intervals.
    assert spec.t_end >= sum(z.duration[1] for z in spec.zones)
    assert spec.t_end % spec.output_interval == 0


@pytest.mark.parametrize(("launcher", "target"), [
    ("local", "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"),
    ("slurm", "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"),
])
def test_launcher_configs_compose(launcher, target):
    from hydra import compose, initialize_config_dir

    from steeltwin.engine.apps import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("datagen", [f"hydra/launcher={launcher}", "dataset.shard=0"],
                      return_hydra_config=True)
    assert cfg.hydra.launcher._target_ == target
    assert cfg.dataset.shard == 0
