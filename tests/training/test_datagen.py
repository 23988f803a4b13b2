"""steeltwin-datagen end to end on a tiny dataset: determinism, disjoint shards, checksums,
crash and resume, a foreign manifest, disk errors, the launcher path, devices, and training
pairs whose physics agrees with a direct solver call built from the public engine API."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from training_cases import ZONES, tiny

from steeltwin import engine as E
from steeltwin.engine import ConfigError
from steeltwin.engine._schemes import CONSERVATIVE_UPDATE_LIMIT
from steeltwin.engine.apps import CONF_DIR
from steeltwin.training import DatasetError, _store, generate, open_dataset, validate

ROOT = Path(__file__).resolve().parents[2]


def arrays(path):
    out = {}
    for i, file in enumerate(sorted(Path(path).glob("shard-*.h5"))):
        with h5py.File(file) as f:
            for name, ds in f.items():
                out[f"{i}/{name}"] = ds[()]
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "ds"
    report = generate(tiny(path))
    return path, report


def test_generates_a_complete_indexed_dataset(reference):
    path, report = reference
    assert report.written == [0, 1, 2, 3] and report.samples == 16 and report.indexed
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["splits"]["extrapolation"] == 4 and manifest["n_total"] == 16
    assert manifest["schema"] == "steeltwin.dataset" and manifest["code_version"]
    index = validate(path)
    assert [s["count"] for s in index["shards"]] == [4, 4, 4, 4]
    # Disjoint shards covering the design: each sample id exactly once.
    ids = np.concatenate([h5py.File(path / f"shard-{i:05d}.h5")["sample"][()]
                          for i in range(4)])
    assert sorted(ids.tolist()) == list(range(16))
    with h5py.File(path / "shard-00000.h5") as f:
        names: list[str] = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        assert all("units" in f[n].attrs for n in names)
        assert f["temperature"].attrs["units"] == "K" and f["temperature"].dtype == np.float32
        assert list(f["params"].attrs["names"]) == manifest["parameter_names"]
    # The virtual dataset joins every shard in sample order.
    with h5py.File(path / "dataset.h5") as f:
        ds = open_dataset(path).load()
        np.testing.assert_array_equal(f["temperature"][()], ds["temperature"])
        np.testing.assert_array_equal(f["sample"][()], np.arange(16))


def test_same_seed_gives_identical_bytes(reference, tmp_path):
    path, _ = reference
    generate(tiny(tmp_path / "again"))
    a, b = arrays(path), arrays(tmp_path / "again")
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k
    other = arrays(generate(tiny(tmp_path / "seed1", seed=1)).path)
    assert not np.array_equal(other["0/params"], a["0/params"])


def test_energy_is_conserved_per_sample(reference):
    d = open_dataset(reference[0]).load(fields=("enthalpy", "boundary_heat", "residual"))
    dH = d["enthalpy"][:, -1] - d["enthalpy"][:, 0]
    # The 1D update is conservative by form whenever the implicit correction stayed below
    # the solver's limit (the tiny test set runs one iteration at dt = 60 s: some exceed it).
    ok = d["residual"].max(axis=1) <= CONSERVATIVE_UPDATE_LIMIT
    assert ok.sum() >= 8
    np.testing.assert_allclose(d["boundary_heat"].sum(axis=(1, 2))[ok], dH[ok], rtol=1e-6)


def test_pairs_agree_with_a_direct_solver_call(reference):
    ds = open_dataset(reference[0])
    manifest = ds.manifest
    names = ds.parameter_names
    batch = next(ds.pairs("train", horizon=2, batch_size=3, seed=3))
    assert batch["gas_temperature"].shape == (3, 3, 2)
    for j in range(3):
        p = dict(zip(names, batch["params"][j], strict=True))
        material = [E.carbon_steel, E.stainless_steel][int(p["material"])](
            conductivity_scale=p["conductivity_scale"], capacity_scale=p["capacity_scale"])
        # Independent reconstruction: the pair's knots as a schedule, its state as the start.
        times = np.arange(3) * ds.output_interval
        boundary = E.schedule_boundary(
            times, batch["gas_temperature"][j].T.astype(float), batch["h"][j].T.astype(float),
            batch["exchange_factor"][j].T.astype(float))
        scenario = E.Scenario(E.slab_grid(p["thickness"], 8), material, boundary,
                              jnp.asarray(batch["state"][j], jnp.float64))
        steps = int(2 * ds.output_interval / manifest["dt"])
        tr = E.solve(scenario, manifest["dt"], steps, steps, E.crank_nicolson(1))
        # float32 storage of the start and end fields: ~1e-4 K.
        np.testing.assert_allclose(np.asarray(tr.temperature[-1]), batch["next_state"][j],
                                   atol=2e-3)
        assert np.ptp(batch["next_state"][j]) > 1.0  # not a trivial uniform field


def test_checksum_detects_a_corrupted_shard(reference, tmp_path):
    path = tmp_path / "copy"
    shutil.copytree(reference[0], path)
    file = path / "shard-00002.h5"
    raw = bytearray(file.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    file.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"shard-00002\.h5: sha256 differs"):
        validate(path)
    with pytest.raises(DatasetError):
        open_dataset(path, verify=True)


def test_a_folder_holding_another_dataset_is_refused(reference, tmp_path):
    path = tmp_path / "copy"
    shutil.copytree(reference[0], path)
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    with pytest.raises(ConfigError, match=r"holds a different dataset .*dataset\.seed "
                                          r"\(0 there, 5 now\).*refusing to overwrite"):
        generate(tiny(path, seed=5))
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before


def test_resume_after_a_crash(reference, tmp_path):
    path = tmp_path / "crash"
    cfg = tiny(path, num_shards=8, batch_size=2)
    script = (f"import jax; jax.config.update('jax_enable_x64', True)\n"
              f"from steeltwin.training import generate\ngenerate({cfg!r})\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not (path / "shard-00002.json").exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.time() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # kill -9 mid-run: the next shard may be half written
    proc.communicate()
    done_before = sorted(p.name for p in path.glob("shard-*.json"))
    assert len(done_before) < 8
    stamps = {n: (path / n.replace(".json", ".h5")).stat().st_mtime_ns for n in done_before}
    # A stale partial file and a garbage shard without a record must not be trusted.
    (path / "shard-00007.h5.partial").write_bytes(b"half a shard")
    (path / "shard-00006.h5").write_bytes(b"not hdf5")
    report = generate(cfg)
    assert set(report.skipped) == {int(n[6:11]) for n in done_before}
    assert 6 in report.written and 7 in report.written
    assert not list(path.glob("*.partial"))
    for n, stamp in stamps.items():  # complete shards were not rewritten
        assert (path / n.replace(".json", ".h5")).stat().st_mtime_ns == stamp
    validate(path)
    # Same samples, same values as an uninterrupted run (same batch size).
    fresh = tmp_path / "fresh"
    generate(tiny(fresh, num_shards=8, batch_size=2))
    a, b = open_dataset(path).load(), open_dataset(fresh).load()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_a_shard_without_its_record_is_checked_not_redone(reference, tmp_path):
    path = tmp_path / "copy"
    shutil.copytree(reference[0], path)
    (path / "shard-00001.json").unlink()  # killed between the rename and the record
    report = generate(tiny(path))
    assert report.written == [] and sorted(report.skipped) == [0, 1, 2, 3]
    assert (path / "shard-00001.json").exists()


def test_full_disk_leaves_complete_shards_intact(reference, tmp_path, monkeypatch):
    path = tmp_path / "full"
    generate(tiny(path, shard=0))
    before = (path / "shard-00000.h5").read_bytes()
    real = _store.h5py.File

    def full(name, mode="r", *args, **kwargs):
        if str(name).endswith(".partial"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(name, mode, *args, **kwargs)

    monkeypatch.setattr(_store.h5py, "File", full)
    with pytest.raises(OSError, match=r"writing shard-00001\.h5 of dataset\.path=.* failed: no "
                                      r"space left on device .*complete shards are intact"):
        generate(tiny(path))
    assert (path / "shard-00000.h5").read_bytes() == before
    assert not list(path.glob("*.partial")) and not (path / "shard-00001.h5").exists()


@pytest.mark.parametrize(("changes", "message"), [
    ({"num_shards": 40}, r"dataset\.num_shards=40 is invalid: expected at most the number of "
                         r"samples \(16"),
    ({"shard": 4}, r"dataset\.shard=4 is invalid: expected null \(all shards\) or an integer "
                   r"in \[0, 3\]"),
])
def test_bad_scale_out_config(tmp_path, changes, message):
    with pytest.raises(ConfigError, match=message):
        generate(tiny(tmp_path / "x", **changes))
    assert not (tmp_path / "x").exists()


def test_unwritable_path_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"dataset\.path='.*a_file/ds' is invalid: expected a "
                                          r"writable folder"):
        generate(tiny(blocker / "ds"))


def _cli(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "steeltwin.engine.apps.datagen", *args], cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                          capture_output=True, text=True, timeout=600)


def _overrides(path, **extra):
    cfg = tiny(path, **extra)
    keys = ("cells", "n_samples", "n_extrapolation", "num_shards", "batch_size", "dt",
            "output_interval", "iterations", "ramp_time")
    zones = [f"dataset.zones.{k}.{key}=[{v[key][0]},{v[key][1]}]" for k, v in ZONES.items()
             for key in ("gas_temperature", "duration")]
    return [f"dataset.path={path}", *zones, "progress=false",
            *(f"dataset.{k}={cfg[k]}" for k in keys)]


@pytest.mark.slow
def test_launcher_with_two_local_jobs_then_index(reference, tmp_path):
    path = tmp_path / "multi"
    ov = _overrides(path, num_shards=2)
    proc = _cli("-m", "dataset.shard=0,1", "hydra/launcher=local",
                f"hydra.sweep.dir={tmp_path / 'sweep'}", *ov, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "not built (one shard of several)" in proc.stdout
    idx = _cli("action=index", *ov, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert idx.returncode == 0, idx.stderr
    assert "2 shards, 16 samples" in idx.stdout
    a = open_dataset(path, verify=True).load()
    b = open_dataset(reference[0]).load()
    np.testing.assert_array_equal(a["params"], b["params"])
    np.testing.assert_allclose(a["temperature"], b["temperature"], atol=1e-3)


@pytest.mark.slow
def test_batches_spread_over_several_devices(reference, tmp_path):
    path = tmp_path / "devices"
    script = ("import jax; jax.config.update('jax_enable_x64', True)\n"
              "assert len(jax.devices()) == 2, jax.devices()\n"
              f"from steeltwin.training import generate\ngenerate({tiny(path)!r})\n")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    a, b = open_dataset(path).load(), open_dataset(reference[0]).load()
    np.testing.assert_allclose(a["temperature"], b["temperature"], atol=1e-3)
    np.testing.assert_array_equal(a["sample"], b["sample"])


def test_cli_bad_config_exits_2_and_writes_nothing(tmp_path):
    proc = _cli(f"dataset.path={tmp_path / 'never'}", "dataset.ranges.thickness=[0.3,0.1]",
                f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "dataset.ranges.thickness=[0.3, 0.1] is invalid" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "never").exists()


def test_section_2d_dataset(tmp_path):
    cfg = yaml.safe_load((CONF_DIR / "dataset" / "section_2d.yaml").read_text())
    cfg.update(path=str(tmp_path / "sec"), cells=[6, 6], zones=ZONES, n_samples=4,
               n_extrapolation=0, num_shards=1, batch_size=4, dt=60.0, iterations=1,
               ramp_time=120.0)
    generate(cfg)
    d = open_dataset(tmp_path / "sec").load()
    assert d["temperature"].shape == (4, 16, 6, 6) and d["gas_temperature"].shape[-1] == 4
    assert d["cell_size"].shape == (4, 2)
    # Symmetric heating of the sides (left = right): the field is mirror-symmetric in x.
    T = d["temperature"]
    np.testing.assert_allclose(T, T[:, :, ::-1, :], atol=1e-3)
    dH = d["enthalpy"][:, -1] - d["enthalpy"][:, 0]
    assert np.all(dH > 0)


def test_manifest_rebuilds_the_same_scenarios(reference):
    """The manifest's config alone reproduces the stored data (zone order kept)."""
    from steeltwin.training import build_spec
    from steeltwin.training._scenarios import make_batch_solver, perturbation

    ds = open_dataset(reference[0])
    spec = build_spec(ds.manifest["config"])
    assert [z.name for z in spec.zones] == list(ZONES)
    d = ds.load("train", fields=("params", "sample", "temperature"))
    out = make_batch_solver(spec, ds.parameter_names)(
        jnp.asarray(d["params"][:4]), jnp.asarray(perturbation(spec, 0, d["sample"][:4])))
    np.testing.assert_allclose(np.asarray(out["temperature"]), d["temperature"][:4], atol=1e-3)


def test_zone_order_changes_the_config_hash():
    from steeltwin.training._store import config_hash

    a = {"zones": dict(ZONES)}
    b = {"zones": dict(reversed(list(ZONES.items())))}
    assert config_hash(a) != config_hash(b)
    assert config_hash({"x": 1, "y": 2}) == config_hash({"y": 2, "x": 1})
