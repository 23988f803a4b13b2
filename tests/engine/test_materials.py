"""Materials: EN 1993-1-2 values, the tabulated enthalpy, its inverse, and user tables."""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from engine_cases import KELVIN, ec3_conductivity, ec3_specific_heat
from scipy.integrate import quad

from steeltwin import engine as E
from steeltwin.engine import _steels

RHO = 7850.0


@pytest.mark.parametrize(
    ("theta", "c", "k"),
    [
        (20.0, 439.801760, 53.334),  # 425 + 15.46 - 0.676 + 0.01776
        (400.0, 605.88, 40.68),  # 425 + 309.2 - 270.4 + 142.08
        (600.0, 760.217391, 34.02),  # second branch from 600: 666 + 13002/138
        (730.0, 2291.25, 29.691),
        (735.0, 5000.0, 29.5245),  # the peak, both branches meet
        (740.0, 2525.0, 29.358),
        (800.0, 803.26, 27.3),
        (1000.0, 650.0, 27.3),
        (1200.0, 650.0, 27.3),
    ],
)
def test_carbon_steel_formulas(theta: float, c: float, k: float) -> None:
    np.testing.assert_allclose(_steels.carbon_steel_specific_heat_c(np.array(theta)), c,
                               rtol=2e-5)
    np.testing.assert_allclose(_steels.carbon_steel_conductivity_c(np.array(theta)), k,
                               rtol=1e-9)


def test_formulas_match_an_independent_transcription() -> None:
    theta = np.linspace(-40.0, 1500.0, 3081)
    np.testing.assert_allclose(_steels.carbon_steel_specific_heat_c(theta),
                               ec3_specific_heat(theta), rtol=1e-13)
    np.testing.assert_allclose(_steels.carbon_steel_conductivity_c(theta),
                               ec3_conductivity(theta), rtol=1e-13)
    # Held constant outside 20-1200 degC (a documented choice).
    assert _steels.carbon_steel_specific_heat_c(np.array(-30.0)) == pytest.approx(439.80176)
    assert _steels.carbon_steel_conductivity_c(np.array(1500.0)) == 27.3


def test_stainless_steel_formulas() -> None:
    c20 = 450.0 + 0.280 * 20 - 2.91e-4 * 400 + 1.34e-7 * 8000
    np.testing.assert_allclose(_steels.stainless_steel_specific_heat_c(np.array(20.0)), c20)
    np.testing.assert_allclose(_steels.stainless_steel_conductivity_c(np.array(20.0)), 14.854)
    np.testing.assert_allclose(_steels.stainless_steel_conductivity_c(np.array(1000.0)), 27.3)


def _quad_enthalpy(theta: float) -> float:
    """rho * integral of c from 20 degC, by adaptive quadrature split at the branch points."""
    points = [p for p in (600.0, 735.0, 900.0) if 20.0 < p < theta]
    edges = [20.0, *points, theta]
    total = sum(quad(lambda t: float(ec3_specific_heat(t)), a, b, epsabs=0, epsrel=1e-12,
                     limit=200)[0] for a, b in itertools.pairwise(edges))
    return RHO * total


@pytest.mark.parametrize("theta", [100.0, 599.0, 700.0, 734.0, 735.0, 736.0, 800.0, 1150.0])
def test_table_enthalpy_is_exact_at_nodes(theta: float) -> None:
    """The latent heat of the peak is in the table: H at each 1 K node equals rho int c."""
    H = float(E.carbon_steel().enthalpy(jnp.asarray(theta + KELVIN)))
    np.testing.assert_allclose(H, _quad_enthalpy(theta), rtol=1e-9)


def test_peak_latent_heat() -> None:
    mat = E.carbon_steel()
    dH = float(mat.enthalpy(jnp.asarray(800.0 + KELVIN)) - mat.enthalpy(jnp.asarray(700.0 +
                                                                                       KELVIN)))
    np.testing.assert_allclose(dH, _quad_enthalpy(800.0) - _quad_enthalpy(700.0), rtol=1e-9)
    # ~1.4e5 J/kg over 100 K: about twice what a smooth c of ~700 J/(kg K) would give.
    assert dH / RHO > 1.3e5


def test_dH_dT_equals_rho_c_away_from_branch_points() -> None:
    mat = E.carbon_steel()
    theta = np.arange(25.0, 1195.0, 1.0)  # table nodes
    T = jnp.asarray(theta + KELVIN)
    # Central difference over the two adjacent 1 K cells: the table's slope around the node.
    slope = np.asarray(mat.enthalpy(T + 1.0) - mat.enthalpy(T - 1.0)) / 2.0
    expected = RHO * ec3_specific_heat(theta)
    far = np.ones_like(theta, bool)
    for branch in (600.0, 735.0, 900.0):  # kinks (and the peak, where c'' is huge)
        far &= np.abs(theta - branch) > (12.0 if branch == 735.0 else 1.5)
    # O(h^2 c''/6) of the 1 K cells: < 0.2 % away from the peak.
    np.testing.assert_allclose(slope[far], expected[far], rtol=2e-3)
    # capacity() is the cell's own average rho c: between the slopes at its two nodes.
    cap = np.asarray(mat.capacity(T + 0.5))
    lo, hi = RHO * ec3_specific_heat(theta), RHO * ec3_specific_heat(theta + 1.0)
    inside = (cap >= np.minimum(lo, hi) * (1 - 1e-9)) & (cap <= np.maximum(lo, hi) * (1 + 1e-9))
    assert inside[far].all()
    # Strictly positive capacity everywhere (also across the peak).
    assert np.all(np.asarray(mat.capacity(jnp.linspace(200.0, 2000.0, 5001))) > 0)


@pytest.mark.parametrize("kind", ["carbon_steel", "stainless_steel"])
def test_temperature_enthalpy_round_trip(kind: str) -> None:
    mat = E.make_material(kind)
    rng = np.random.default_rng(0)
    # Inside the 1 K table (-50 to 1600 degC) and beyond both ends (extrapolated linearly).
    T = jnp.asarray(np.concatenate([rng.uniform(150.0, 2200.0, 2000),
                                    np.arange(223.15, 1873.15, 1.0),  # exact nodes
                                    [735.0 + KELVIN, 735.5 + KELVIN]]))
    np.testing.assert_allclose(np.asarray(mat.temperature(mat.enthalpy(T))), np.asarray(T),
                               rtol=0, atol=1e-9)
    H = jnp.asarray(rng.uniform(-1e9, 7e9, 2000))
    np.testing.assert_allclose(np.asarray(mat.enthalpy(mat.temperature(H))), np.asarray(H),
                               rtol=1e-12, atol=1e-3)
    assert float(mat.enthalpy(jnp.asarray(E.T_REF))) == pytest.approx(0.0, abs=1e-6)


def test_scale_factors() -> None:
    base, scaled = E.carbon_steel(), E.carbon_steel(conductivity_scale=1.5, capacity_scale=0.8)
    T = jnp.linspace(300.0, 1500.0, 50)
    np.testing.assert_allclose(np.asarray(scaled.conductivity(T)),
                               1.5 * np.asarray(base.conductivity(T)), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(scaled.enthalpy(T)),
                               0.8 * np.asarray(base.enthalpy(T)), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(scaled.temperature(scaled.enthalpy(T))),
                               np.asarray(T), atol=1e-9)


def _write_table(path, form: str) -> None:
    T_C = np.arange(0.0, 1501.0, 100.0)
    if form == "csv":
        rows = ["T_C,k,c,rho"] + [f"{t},40,500,7850" for t in T_C]
        path.write_text("# constant steel\n" + "\n".join(rows) + "\n")
    else:  # YAML with an enthalpy column (J/kg, any reference) in kelvin
        data = {"T_K": (T_C + KELVIN).tolist(), "k": [40.0] * len(T_C),
                "H": (500.0 * T_C + 12345.0).tolist(), "rho": 7850.0}
        path.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize("form", ["csv", "yaml"])
def test_table_reproduces_constant_material(tmp_path, form: str) -> None:
    path = tmp_path / ("steel.csv" if form == "csv" else "steel.yaml")
    _write_table(path, form)
    table = E.material_from_table(path)
    const = E.constant_material(40.0, 7850.0, 500.0)
    T = jnp.linspace(150.0, 2200.0, 777)  # beyond the table on both sides (held constant)
    np.testing.assert_allclose(np.asarray(table.enthalpy(T)), np.asarray(const.enthalpy(T)),
                               rtol=1e-12, atol=1e-3)
    np.testing.assert_allclose(np.asarray(table.conductivity(T)), 40.0, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(table.capacity(T)), 7850.0 * 500.0, rtol=1e-10)
    H = const.enthalpy(T)
    np.testing.assert_allclose(np.asarray(table.temperature(H)), np.asarray(T), atol=1e-9)
    # And the solver gives the same field with either.
    boundary = E.constant_boundary([E.FaceSpec(1300.0, 50.0, 0.5)] * 2)
    grid = E.slab_grid(0.1, 10)
    # Explicit, 2 s steps (limit ~4.9 s): the cheapest kernel to compile.
    runs = [E.solve(E.Scenario(grid, m, boundary, jnp.asarray(300.0)), 2.0, 600, 600,
                    E.EXPLICIT) for m in (table, const)]
    np.testing.assert_allclose(np.asarray(runs[0].temperature),
                               np.asarray(runs[1].temperature), rtol=0, atol=1e-8)
    assert float(np.asarray(runs[1].temperature).max()) > 600.0


def test_table_set_selects_the_same_material_under_vmap() -> None:
    # TableSetMaterial reads row `index` of stacked tables without copying it; every lookup
    # (H, k, rho c and the inverse T(H), including beyond both table ends) must equal the plain
    # table of that material, for a traced index batched with vmap.
    import dataclasses

    import jax

    mats = [E.carbon_steel(), E.stainless_steel()]
    H_nodes = jnp.stack([m.enthalpy_nodes for m in mats])
    k_nodes = jnp.stack([m.conductivity_nodes for m in mats])
    T = jnp.concatenate([jnp.linspace(150.0, 1750.0, 4001), mats[0].T_start + jnp.arange(5.0)])

    def lookups(index: jnp.ndarray) -> tuple[jnp.ndarray, ...]:
        m = E.TableSetMaterial(T_start=mats[0].T_start, T_step=mats[0].T_step,
                               enthalpy_nodes=H_nodes, conductivity_nodes=k_nodes,
                               density=jnp.asarray(RHO), index=index,
                               conductivity_scale=jnp.asarray(1.1),
                               capacity_scale=jnp.asarray(0.9), name="set")
        H = m.enthalpy(T)
        outside = jnp.asarray([-1e9, 0.0, 1e11])
        return H, m.conductivity(T), m.capacity(T), m.temperature(H), m.temperature(outside)

    got = jax.vmap(lookups)(jnp.arange(2, dtype=jnp.int32))
    for i, mat in enumerate(mats):
        ref = dataclasses.replace(mat, conductivity_scale=jnp.asarray(1.1),
                                  capacity_scale=jnp.asarray(0.9))
        H = ref.enthalpy(T)
        want = (H, ref.conductivity(T), ref.capacity(T), ref.temperature(H),
                ref.temperature(jnp.asarray([-1e9, 0.0, 1e11])))
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(np.asarray(g[i]), np.asarray(w))
    np.testing.assert_allclose(got[3][0], T, atol=1e-9)  # and T(H(T)) = T
