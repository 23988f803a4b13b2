"""The prepared device run (benchmarks/bench_device.py) in its CPU smoke mode: every section
runs end to end at tiny sizes, so the script a lent GPU runs once cannot rot in between.

Two halves, so that pytest-xdist runs them side by side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import bench_device

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("sections", [("bandwidth", "stencil", "slab", "billet", "stress"),
                                      ("twin", "surrogate")])
def test_smoke_run_completes_every_section(tmp_path, sections):
    # A subprocess, as the device runs it (and the smoke mode's compiler setting stays there).
    subprocess.run([sys.executable, "-m", "benchmarks.bench_device", "--smoke", "--out",
                    str(tmp_path), "--sections", ",".join(sections)], cwd=ROOT, check=True,
                   env={**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=600)
    path = tmp_path / "hotpaths_cpu_smoke.json"
    res = json.loads(path.read_text())
    for key in ("device_kind", "jax", "flax", "commit", "date", "cpu"):
        assert res[key], key
    for name in sections:
        sec = res["sections"][name]
        assert "error" not in sec, sec.get("traceback")
        assert "result" in sec, name
    got = {k: v["result"] for k, v in res["sections"].items()}
    if "slab" in got:
        # The cheapest <= 1 K setting of bench_thermal, checked against a 20-cell reference
        # (its own discretisation error is ~1 K): measured 0.5 K.
        assert got["slab"]["max_error_K_nominal"] < 2.0
        assert got["slab"]["rows"][0]["passages_per_s"] > 0
    if "billet" in got:
        assert got["billet"]["max_error_K"] < 1.0  # exact product solution; measured 0.80 K
    if "stencil" in got:
        assert all(0 < r["roof_fraction"] < 2 for r in got["stencil"])
    if "twin" in got:
        row = got["twin"][0]
        assert row["slabs"] == 1 and row["p50_ms"] <= row["p99_ms"]
    if "surrogate" in got:
        s = got["surrogate"]["mlp_slab"]
        assert s["rows"][0]["speedup"] > 0 and s["training"]["steps_per_s"] > 0
    if "stress" in got:
        assert got["stress"][0]["cg_iterations"] > 0
    # The side-by-side table renders from whatever is there (smoke sizes give dashes).
    md = bench_device.table(res, None)
    assert md.count("\n") > 20 and "not run" in md


def test_budget_skips_what_would_outrun_it():
    budget = bench_device.Budget(deadline=float("inf"), call_cap_s=1.0)
    calls = []

    def run_one(n):
        calls.append(n)
        return {"size": n, "min_s": 0.1 * n}

    rows = bench_device._sweep([1, 2, 4, 64], budget, run_one)
    assert calls == [1, 2, 4]  # 64 projects to 6.4 s > the 1 s cap
    assert "call cap" in rows[-1]["skipped"]


def test_device_scripts_are_valid_shell():
    for name in ("prepare.sh", "run.sh"):
        script = ROOT / "benchmarks" / "device" / name
        assert script.stat().st_mode & 0o111, f"{name} is not executable"
        subprocess.run(["bash", "-n", str(script)], check=True)
