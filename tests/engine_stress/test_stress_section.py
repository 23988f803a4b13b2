"""2D section stress (Q1 FE, generalized plane strain): invariants, 1D limit, order, transforms."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from steeltwin import engine as E
from steeltwin.engine._stress_fem import elastic_stress, geometry, operators
from steeltwin.engine._stress_material import carbon_steel_mechanical, constant_mechanical
from steeltwin.engine._stress_plate import plate_stress
from steeltwin.engine._stress_section import _section_elastic_jit, section_stress

YOUNG, NU, ALPHA = 200e9, 0.3, 1.2e-5
MAT = constant_mechanical(YOUNG, NU, ALPHA)
SQUARE = E.box_grid((0.08, 0.08), (12, 12))


def _xy(grid: E.Grid) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(grid.centres(0)) - 0.5 * grid.shape[0] * float(grid.spacing[0])
    y = np.asarray(grid.centres(1)) - 0.5 * grid.shape[1] * float(grid.spacing[1])
    return np.meshgrid(x, y, indexing="ij")


@jax.jit
def _gauss_balance(out, T: jnp.ndarray, grid: E.Grid, mat) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Nodal force imbalance and (axial force, moment_x, moment_y) from Gauss-point stresses."""
    geo = geometry(grid)
    ops = operators(geo, grid.shape, True)
    v = jnp.concatenate([out.displacement.reshape(-1), out.axial])
    eth = mat.thermal_strain(T)
    eps0 = jnp.stack([eth, eth, jnp.zeros_like(eth), eth], -1)[:, :, None, :]
    sig = elastic_stress(ops.B(v) - eps0, mat.youngs_modulus(T)[:, :, None], mat.nu)
    r = ops.Bt(geo.weight[:, :, None, None] * sig)
    return r[:-3], r[-3:]


def test_uniform_rise_is_stress_free_with_free_expansion() -> None:
    T = jnp.full(SQUARE.shape, 693.15)
    out = section_stress(T, SQUARE, MAT)
    # CG stops at a relative residual of 1e-10 of loads ~ E eps_th ~ 1e9 Pa: ~0.1 Pa is left.
    assert float(jnp.max(out.von_mises)) < 1.0
    eth = ALPHA * 400.0
    np.testing.assert_allclose(out.axial, [eth, 0.0, 0.0], atol=1e-13)
    X = np.arange(13)[:, None] * 0.08 / 12 - 0.04
    Y = np.arange(13)[None, :] * 0.08 / 12 - 0.04
    np.testing.assert_allclose(out.displacement[..., 0], eth * X + 0 * Y, atol=1e-13)
    np.testing.assert_allclose(out.displacement[..., 1], eth * Y + 0 * X, atol=1e-13)


def test_uniform_rise_in_plane_strain_gives_axial_stress() -> None:
    out = section_stress(jnp.full(SQUARE.shape, 693.15), SQUARE, MAT, kind="plane_strain")
    np.testing.assert_allclose(out.szz, -YOUNG * ALPHA * 400.0, rtol=1e-9)
    assert float(jnp.max(jnp.abs(out.sxx))) < 1.0  # CG tolerance, as above


def test_long_thin_strip_reproduces_the_plate() -> None:
    # Strip 20 thicknesses long, T varying through its thickness (y) only: away from the ends
    # sigma_xx = sigma_zz = plate stress, sigma_yy = 0 (Saint-Venant).
    n, thick = 8, 0.02
    grid = E.box_grid((20 * thick, thick), (20 * n, n))
    y = np.asarray(grid.centres(1)) - 0.5 * thick
    Ty = 600.0 + 300.0 * (2 * y / thick) ** 2 + 2000.0 * y
    out = section_stress(jnp.asarray(np.broadcast_to(Ty, grid.shape)), grid, MAT)
    plate = np.asarray(plate_stress(jnp.asarray(Ty), E.slab_grid(thick, n), MAT).stress)
    scale = np.max(np.abs(plate))
    mid = grid.shape[0] // 2
    # Q1 vs midpoint plate, both O(h^2): they agree to ~1 % of the peak at 8 cells.
    np.testing.assert_allclose(out.szz[mid], plate, atol=0.02 * scale)
    np.testing.assert_allclose(out.sxx[mid], plate, atol=0.02 * scale)
    assert float(jnp.max(jnp.abs(out.syy[mid]))) < 0.01 * scale


def _square_solution(n: int) -> float:
    grid = E.box_grid((0.08, 0.08), (n, n))
    X, Y = _xy(grid)
    T = 500.0 + 300.0 * ((X / 0.04) ** 2 + (Y / 0.04) ** 2) + 100.0 * X / 0.04
    out = section_stress(jnp.asarray(T), grid, MAT)
    # Smooth functional: mean of sigma_zz over the central quarter (cells align at all n).
    q = slice(n // 4, 3 * n // 4)
    return float(jnp.mean(out.szz[q, q]))


def test_observed_convergence_order_is_two() -> None:
    # Measured: 1.92 from (8, 16, 32), 1.98 from (16, 32, 64).
    vals = np.asarray([_square_solution(n) for n in (16, 32, 64)])
    order = np.log2(abs(vals[0] - vals[1]) / abs(vals[1] - vals[2]))
    assert abs(order - 2.0) < 0.1, (vals, order)


def test_symmetric_input_gives_symmetric_field() -> None:
    X, Y = _xy(SQUARE)
    T = jnp.asarray(700.0 + 200.0 * (X**2 + 2 * Y**2) / 0.04**2)
    out = section_stress(T, SQUARE, carbon_steel_mechanical())
    scale = float(jnp.max(out.von_mises))
    for f in (out.sxx, out.syy, out.szz, out.von_mises):
        np.testing.assert_allclose(f, f[::-1, :], atol=1e-9 * scale)
        np.testing.assert_allclose(f, f[:, ::-1], atol=1e-9 * scale)
    np.testing.assert_allclose(out.sxy, -out.sxy[::-1, :], atol=1e-9 * scale)
    np.testing.assert_allclose(out.axial[1:], 0.0, atol=1e-12)


@pytest.mark.parametrize("shape", ["hole", "h_section"])
def test_masked_sections_are_finite_and_equilibrated(shape: str) -> None:
    if shape == "hole":
        m = np.ones((16, 14), bool)
        m[5:10, 4:9] = False
        cell = 0.005
    else:
        cell = 0.0025
        m = E.h_beam_mask(0.1, 0.08, 0.01, 0.01, cell)
    grid = E.mask_grid(m, cell)
    X, Y = _xy(grid)
    T = jnp.asarray(600.0 + 4e3 * X + 2e4 * Y**2 + 3e3 * X * Y)
    mat = carbon_steel_mechanical()
    out = section_stress(T, grid, mat)
    assert bool(jnp.all(jnp.isfinite(out.von_mises)))
    assert float(jnp.max(out.von_mises)) > 1e6
    assert float(jnp.max(jnp.abs(jnp.where(grid.mask, 0.0, out.von_mises)))) == 0.0
    nodal, axial = map(np.asarray, _gauss_balance(out, T, grid, mat))
    fscale = float(jnp.max(out.von_mises)) * cell  # a peak stress on one cell face, N/m
    assert np.max(np.abs(nodal)) < 1e-8 * fscale
    size = max(grid.shape) * cell
    assert abs(axial[0]) < 1e-8 * fscale * size
    assert np.max(np.abs(axial[1:])) < 1e-8 * fscale * size**2


def test_grad_through_the_solve_matches_finite_differences() -> None:
    X, Y = _xy(SQUARE)
    T0 = jnp.asarray(800.0 + 200.0 * (X**2 + Y**2) / 0.04**2 + 50.0 * Y / 0.04)
    mat = carbon_steel_mechanical()

    def corner_szz(offset: jnp.ndarray) -> jnp.ndarray:
        return section_stress(T0 + offset, SQUARE, mat).szz[0, 0]

    g = float(jax.grad(corner_szz)(jnp.asarray(0.0)))
    h = 1e-2
    fd = float((corner_szz(jnp.asarray(h)) - corner_szz(jnp.asarray(-h))) / (2 * h))
    # CG tolerance 1e-10 relative: the derivative is good to ~1e-6 relative.
    np.testing.assert_allclose(g, fd, rtol=1e-5)


def test_vmap_equals_loop_and_jit_does_not_retrace() -> None:
    X, Y = _xy(SQUARE)
    base = 600.0 + 300.0 * (X / 0.04) ** 2
    Ts = jnp.asarray(np.stack([base, base + 100.0 * Y / 0.04, base * 1.1]))
    batched = section_stress(Ts, SQUARE, MAT)
    for k in range(3):
        one = section_stress(Ts[k], SQUARE, MAT)
        np.testing.assert_allclose(batched.von_mises[k], one.von_mises, rtol=1e-8, atol=1e-3)
    # New temperatures and material numbers reuse the compiled solve.
    before = _section_elastic_jit._cache_size()
    section_stress(Ts[0] + 50.0, SQUARE, constant_mechanical(150e9, 0.25, 1.4e-5))
    assert _section_elastic_jit._cache_size() == before


def test_bad_geometry_is_rejected() -> None:
    with pytest.raises(E.ConfigError, match=r"geometry\.mask.*2 separate pieces"):
        m = np.zeros((12, 12), bool)
        m[:5], m[7:] = True, True
        section_stress(jnp.full((12, 12), 300.0),
                       E.Grid(jnp.asarray([0.01, 0.01]), jnp.asarray(m), (12, 12)), MAT)
    with pytest.raises(E.ConfigError, match=r"too coarse.*stress\.min_wall_cells=4"):
        thin = E.h_beam_mask(0.1, 0.08, 0.01, 0.01, 0.005)  # 2-cell web
        g = E.mask_grid(thin, 0.005)
        section_stress(jnp.full(g.shape, 300.0), g, MAT)
    with pytest.raises(E.ConfigError, match=r"stress\.kind='plane_stress'"):
        section_stress(jnp.full(SQUARE.shape, 300.0), SQUARE, MAT, kind="plane_stress")
    with pytest.raises(E.ConfigError, match=r"stress\.temperature"):
        section_stress(jnp.full((5, 5), 300.0), SQUARE, MAT)
