"""``stress=elastic|plastic`` in steeltwin-simulate: what the result file, the summary and the
plots hold, that they agree with the engine's stress functions and with mechanics (free plate:
zero net force and moment; free section: zero net axial force), and that bad stress configs
fail before the thermal run with a message naming the key."""

from __future__ import annotations

import numpy as np
import pytest

from steeltwin import engine as e
from steeltwin.engine.apps import build_job, compose, run_simulation
from steeltwin.engine.apps._stress import format_stress
from steeltwin.engine.io import read_result

# A tiny furnace run of a 220 mm slab: a cold charge heated for 20 minutes.
SLAB = ["geometry.cells=12", "solver.t_end=1200", "solver.dt=60", "solver.save_interval=120",
        "solver.iterations=1", "output.progress=false"]
# A 60 x 40 mm bar cooling from 850 degC in still air (2D, 12 x 8 cells).
BAR = ["geometry=rectangle", "geometry.width=0.06", "geometry.height=0.04",
       "geometry.cells=[12,8]", "boundary=air_cooling", "initial.temperature=850",
       "solver.t_end=600", "solver.dt=60", "solver.save_interval=120", "output.progress=false"]


def _run(overrides, tmp_path):
    summary = run_simulation(compose(overrides), tmp_path)
    return summary, read_result(tmp_path / "result.h5")


def test_slab_elastic_result_is_a_free_plate_stress(tmp_path):
    summary, r = _run([*SLAB, "stress=elastic"], tmp_path)
    st = r["stress"]
    n_t = 1200 // 120 + 1
    assert st["sigma"].shape == st["von_mises"].shape == st["utilisation"].shape == (n_t, 12)
    assert st["units"] == {"sigma": "Pa", "von_mises": "Pa", "utilisation": "1"}
    assert st["attrs"]["model"] == "elastic" and st["attrs"]["plate_mode"] == "free"
    # A free plate: no net force, no net moment through the thickness at every time.
    z = r["coordinates"]["x"] - 0.11
    scale = np.max(np.abs(st["sigma"]))
    assert scale > 10e6  # a cold charge into a 1000 degC furnace: tens of MPa
    np.testing.assert_allclose(st["sigma"].sum(1) / 12, 0.0, atol=1e-12 * scale)
    np.testing.assert_allclose((st["sigma"] * z).sum(1) / 12, 0.0, atol=1e-12 * scale * 0.11)
    # Biaxial sigma_xx = sigma_yy, sigma_zz = 0: von Mises is |sigma|.
    np.testing.assert_allclose(st["von_mises"], np.abs(st["sigma"]), rtol=1e-12, atol=1e-6)
    # The surface is heated first: it is in compression, the centre in tension.
    k = int(st["attrs"]["worst_time_index"])
    assert st["sigma"][k, 0] < 0 < st["sigma"][k, 6]
    # The stored utilisation is von Mises over the hot yield strength of S355.
    mat = e.carbon_steel_mechanical("S355")
    np.testing.assert_allclose(
        st["utilisation"], st["von_mises"] / np.asarray(mat.yield_strength(r["temperature"])),
        rtol=1e-12)
    # The summary names the worst point and agrees with the fields.
    assert summary["stress_max_utilisation"] == pytest.approx(st["utilisation"].max())
    assert summary["stress_worst_time_h"] == pytest.approx(r["times"][k] / 3600)
    assert summary["stress_max_compressive_MPa"] == pytest.approx(st["sigma"].min() / 1e6)
    assert summary["stress_alert"] == (st["utilisation"].max() > 0.9)
    assert (tmp_path / "stress.png").is_file()
    assert r["summary"]["stress_model"] == "elastic"


def test_slab_plastic_residual_and_elastic_limit(tmp_path):
    # A low-yield constant-property plate heated hard: it yields (plastic strain > 0), stays
    # below f_y, and keeps zero net force and moment.
    low = [*SLAB, "material=constant", "stress=plastic", "stress.f_y=30e6"]
    summary, r = _run(low, tmp_path / "low")
    st = r["stress"]
    assert st["equivalent_plastic_strain"].max() > 1e-4
    assert np.all(np.diff(st["equivalent_plastic_strain"], axis=0) >= -1e-15)  # monotone
    assert st["von_mises"].max() <= 30e6 * (1 + 1e-9)
    np.testing.assert_allclose(st["sigma"].sum(1), 0.0, atol=1e-9 * 30e6)
    assert summary["stress_max_utilisation"] == pytest.approx(1.0, abs=1e-9)
    assert "stress_residual_surface_MPa" in summary
    # With a yield strength far above the stresses, the plastic history equals the elastic one.
    _, high = _run([*SLAB, "material=constant", "stress=plastic", "stress.f_y=1e12"],
                   tmp_path / "high")
    _, elastic = _run([*SLAB, "material=constant", "stress=elastic"], tmp_path / "elastic")
    np.testing.assert_allclose(high["stress"]["sigma"], elastic["stress"]["sigma"],
                               atol=1e-9 * np.abs(elastic["stress"]["sigma"]).max())
    np.testing.assert_array_equal(high["stress"]["equivalent_plastic_strain"], 0.0)


def test_section_elastic_fields_are_symmetric_and_axially_free(tmp_path):
    summary, r = _run([*BAR, "stress=elastic"], tmp_path)
    st = r["stress"]
    for name in ("sxx", "syy", "sxy", "szz", "von_mises", "max_principal", "utilisation"):
        assert st[name].shape == (6, 12, 8), name
        assert st["units"][name] == ("1" if name == "utilisation" else "Pa")
    # Air cooling on every face of a rectangle: the field is mirror-symmetric in x and y.
    scale = np.abs(st["szz"]).max()
    assert scale > 1e6
    np.testing.assert_allclose(st["szz"], st["szz"][:, ::-1, :], atol=1e-6 * scale)
    np.testing.assert_allclose(st["szz"], st["szz"][:, :, ::-1], atol=1e-6 * scale)
    # Generalized plane strain: zero net axial force over the section at every time.
    np.testing.assert_allclose(st["szz"].sum((1, 2)), 0.0, atol=1e-6 * scale * 96)
    # Cooling: the surface contracts first, so it ends up in tension along the bar.
    k = int(st["attrs"]["worst_time_index"])
    assert st["szz"][k, 0, 4] > 0 > st["szz"][k, 6, 4]
    assert st["attrs"]["kind"] == "generalized"
    assert set(summary) >= {"stress_worst_x_mm", "stress_worst_y_mm", "stress_max_tensile_MPa"}
    assert (tmp_path / "field.png").is_file() and (tmp_path / "stress.png").is_file()


def test_section_plastic_records_plastic_strain(tmp_path):
    summary, r = _run([*BAR, "stress=plastic", "material=constant", "stress.f_y=5e6"], tmp_path)
    st = r["stress"]
    assert st["equivalent_plastic_strain"].max() > 0
    assert st["von_mises"].max() <= 5e6 * 1.01  # the return map holds the yield surface
    assert "stress_residual_von_mises_MPa" in summary
    assert any("residual at the end" in row for row in format_stress(summary))


def test_stress_off_writes_no_stress(tmp_path):
    summary, r = _run(SLAB, tmp_path)
    assert "stress" not in r and not any(k.startswith("stress") for k in summary)
    assert not (tmp_path / "stress.png").exists()


@pytest.mark.parametrize(("overrides", "message"), [
    (["stress=elastic", "stress.nu=0.7"],
     r"stress\.nu=0\.7 is invalid: expected a Poisson's ratio in \(-1, 0\.5\)"),
    (["stress=elastic", "geometry=block"],
     r"stress\.model='elastic' is invalid for a 3D grid .*set stress=off"),
    (["stress=elastic", "material=table", "material.path=conf/examples/carbon_steel_en1993.csv"],
     r"material\.kind='table' is invalid: expected carbon_steel, stainless_steel or constant"),
    (["stress=elastic", "geometry.cells=3"],
     r"geometry\.cells=3 is invalid: expected at least 4 cells"),
    (["stress=plastic", "stress.f_y=300e6"],
     r"stress\.f_y=300000000\.0 is invalid: expected null for material\.kind=carbon_steel"),
    (["stress=elastic", "stress.grade=S999"], r"stress\.grade='S999' is invalid"),
    (["stress=elastic", "stress.kind=plane_stress"], r"stress\.kind='plane_stress' is invalid"),
    (["stress=elastic", "stress.plate_mode=bent"], r"stress\.plate_mode='bent' is invalid"),
    (["stress=elastic", "stress.alert_threshold=-1"], r"stress\.alert_threshold=-1\.0 is invalid"),
    (["stress=elastic", "+stress.poisson=0.3"], r"stress\.poisson"),
    (["stress=elastic", "geometry=rectangle", "geometry.cells=[3,3]"], r"too coarse|cells"),
])
def test_bad_stress_config_names_the_key(overrides, message):
    with pytest.raises(e.ConfigError, match=message):
        build_job(compose(overrides))
