"""The wheel, installed non-editable, works from anywhere: every app runs from a directory
that holds its own ``engine/``, ``models/`` and ``training/`` packages (an ML team's project),
with the configs found inside the installed package.

The wheel is built offline from a copy of the tracked sources and installed without
dependencies into a fresh venv; the dependencies come from this test environment through a
``.pth`` line (they are the same pinned ranges; downloading them again would test PyPI, not
steeltwin). A ``.pth`` line adds a folder without running that folder's own ``.pth`` files, so
this environment's editable install stays out: only the wheel provides ``steeltwin``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHADOW = 'raise ImportError("the project\'s own {name} package was imported, not steeltwin\'s")\n'
TINY_SIM = ["geometry.cells=8", "solver.t_end=1200", "solver.dt=60", "solver.iterations=1",
            "output.progress=false"]
TINY_DATA = ["dataset.cells=8", "dataset.n_samples=12", "dataset.n_extrapolation=4",
             "dataset.num_shards=2", "dataset.batch_size=8", "dataset.dt=60",
             "dataset.iterations=1", "dataset.output_interval=120", "dataset.ramp_time=120",
             *(f"dataset.zones.{z}.duration=[300,450]"
               for z in ("preheat", "heating_1", "heating_2", "soak")),
             "progress=false"]
TINY_TRAIN = ["model.hidden=16", "model.depth=2", "model.horizon=2", "model.ensemble=2",
              "training.steps=4", "training.batch_size=8", "training.eval_every=2",
              "training.checkpoint_every=2", "training.val_samples=2",
              "training.warmup_steps=1", "training.curriculum=[[0.0,1]]", "progress=false"]
TINY_TWIN = ["twin.members=16", "propagator.cells=12", "boundary.zones.heating_1=null",
             "boundary.zones.heating_2=null", "boundary.zones.soak=null",
             "boundary.zones.preheat.duration=1200", "output.plots=false"]


def _tracked(dest: Path) -> Path:
    """A copy of what a clone holds (the tracked files of the installed folders)."""
    files = subprocess.run(["git", "ls-files", "engine", "models", "training", "conf",
                            "pyproject.toml", "README.md"], cwd=ROOT, text=True,
                           capture_output=True, check=True).stdout.split()
    for name in files:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("wheel")
    src = _tracked(tmp / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp / "dist"), str(src)], check=True, timeout=300,
                   capture_output=True)
    wheel = next((tmp / "dist").glob("steeltwin-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, timeout=300,
                   capture_output=True)
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; "
                                "print(sysconfig.get_paths()['purelib'])"], text=True,
                               capture_output=True, check=True).stdout.strip())
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp / "project"  # a user's project with packages of the same names
    for name in ("engine", "models", "training"):
        (work / name).mkdir(parents=True)
        (work / name / "__init__.py").write_text(SHADOW.format(name=name))
    return {"bin": venv / "bin", "site": site, "work": work, "wheel": wheel}


def _run(installed: dict[str, Path], app: str, *args: str,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{installed['bin']}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"),
           "PYTHONPATH": str(installed["work"]), "JAX_PLATFORMS": "cpu"}
    return subprocess.run([str(installed["bin"] / app), *args], cwd=installed["work"],
                          env=env, text=True, capture_output=True, timeout=timeout)


def test_the_wheel_holds_one_namespace_and_the_configs(installed):
    import zipfile

    names = zipfile.ZipFile(installed["wheel"]).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("steeltwin-")}
    assert tops == {"steeltwin"}  # nothing generic (engine/, conf/) in site-packages
    assert "steeltwin/conf/simulate.yaml" in names
    assert "steeltwin/conf/geometry/slab.yaml" in names
    assert "steeltwin/conf/hydra/launcher/slurm.yaml" in names
    assert "steeltwin/conf/examples/slab_readings.csv" in names
    assert "steeltwin/engine/service/static/dashboard.html" in names
    assert not (installed["site"] / "engine").exists()


@pytest.mark.slow
def test_every_app_runs_from_a_foreign_directory(installed):
    work = installed["work"]
    checks = [_run(installed, "steeltwin-simulate", "--cfg", "job")]
    assert checks[0].returncode == 0, checks[0].stderr
    assert "kind: slab" in checks[0].stdout
    sim = _run(installed, "steeltwin-simulate", *TINY_SIM)
    assert sim.returncode == 0, sim.stderr
    (run,) = (work / "outputs" / "simulate").iterdir()  # outputs/<app>/<date_time>/
    assert {"result.h5", "summary.txt", "temperatures.png"} <= {p.name for p in run.iterdir()}
    assert (run / "summary.txt").read_text().strip() in sim.stdout
    data = _run(installed, "steeltwin-datagen", *TINY_DATA)
    assert data.returncode == 0, data.stderr
    assert (work / "outputs" / "datagen" / "slab" / "dataset.h5").is_file()
    assert (work / "outputs" / "datagen" / "slab" / "summary.txt").is_file()
    train = _run(installed, "steeltwin-train", *TINY_TRAIN)
    assert train.returncode == 0, train.stderr
    assert (work / "outputs" / "train" / "mlp_slab" / "best").is_dir()
    assert (work / "outputs" / "train" / "mlp_slab" / "summary.txt").is_file()
    evaluation = _run(installed, "steeltwin-evaluate", *TINY_TRAIN[:4], "speed=false")
    assert evaluation.returncode == 0, evaluation.stderr
    assert (work / "outputs" / "train" / "mlp_slab" / "evaluation" / "report.json").is_file()
    twin = _run(installed, "steeltwin-twin", *TINY_TWIN)  # the shipped example readings
    assert twin.returncode == 0, twin.stderr
    (twin_run,) = (work / "outputs" / "twin").iterdir()
    assert {"estimate.h5", "summary.txt"} <= {p.name for p in twin_run.iterdir()}


@pytest.mark.slow
def test_serve_starts_and_answers_healthz(installed):
    cfg = _run(installed, "steeltwin-serve", "--cfg", "job")
    assert cfg.returncode == 0 and "port: 8000" in cfg.stdout, cfg.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"PATH": f"{installed['bin']}:/usr/bin:/bin", "PYTHONPATH": str(installed["work"]),
           "JAX_PLATFORMS": "cpu", "HOME": os.environ.get("HOME", "/tmp")}
    server = subprocess.Popen([str(installed["bin"] / "steeltwin-serve"), f"serve.port={port}",
                               "serve.warmup=false", "serve.log_level=warning"],
                              cwd=installed["work"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    assert r.status == 200 and b'"ok"' in r.read()
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "steeltwin-serve did not answer /healthz"
                time.sleep(0.5)
    finally:
        server.terminate()
        server.communicate(timeout=60)  # closes the pipe
    assert (installed["work"] / "outputs" / "serve" / "steeltwin.db").is_file()
