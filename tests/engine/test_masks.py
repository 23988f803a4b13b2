"""Masked components: equivalence with the box grid, symmetry, holes, masks from files."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from engine_cases import energy_mismatch
from PIL import Image

from steeltwin import engine as E

CELL = 0.01  # m
# Different conditions on every face group, radiation on three of them: a wrong face-group
# mapping or a wrong open-face test would show at once.
FACES = [E.FaceSpec(1300.0, 50.0, 0.5), E.FaceSpec(1200.0, 20.0, 0.0),
         E.FaceSpec(900.0, 0.0, 0.4), E.FaceSpec(1400.0, 10.0, 0.7)]
SCHEMES = {"crank_nicolson": (E.crank_nicolson(3), 20.0, 60),
           "explicit": (E.EXPLICIT, 1.0, 1200)}  # (scheme, dt s, steps): 20 minutes
# Every masked run below sits on the same 32 x 32 canvas, so that they share one compiled
# kernel (shapes are static: each new shape would compile again).
CANVAS = (32, 32)


def _on_canvas(mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad ``mask`` with empty cells, centred, to CANVAS; returns it and the offsets."""
    ox, oy = (CANVAS[0] - mask.shape[0]) // 2, (CANVAS[1] - mask.shape[1]) // 2
    out = np.zeros(CANVAS, bool)
    out[ox:ox + mask.shape[0], oy:oy + mask.shape[1]] = mask
    return out, (ox, oy)


def _run(grid: E.Grid, scheme_name: str, boundary: E.Boundary | None = None,
         T0: float = 300.0) -> E.Trajectory:
    scheme, dt, n = SCHEMES[scheme_name]
    boundary = E.constant_boundary(FACES) if boundary is None else boundary
    return E.solve(E.Scenario(grid, E.carbon_steel(), boundary, jnp.asarray(T0)), dt, n,
                   n // 3, scheme)


@pytest.mark.parametrize("scheme", ["crank_nicolson", "explicit"])
def test_full_rectangle_mask_equals_box_grid(scheme: str) -> None:
    rect = E.rectangle_mask(0.2, 0.1, CELL, margin=2)
    assert rect.shape == (24, 14) and rect.sum() == 200 and not rect[:2].any()
    mask, (ox, oy) = _on_canvas(rect)
    masked = _run(E.mask_grid(mask, CELL), scheme)
    box = _run(E.box_grid((0.2, 0.1), (20, 10)), scheme)
    inner = np.asarray(masked.temperature)[:, ox + 2:ox + 22, oy + 2:oy + 12]
    # Round-off: the same operations on the same numbers (measured < 1e-12 K on ~1000 K).
    np.testing.assert_allclose(inner, np.asarray(box.temperature), rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.asarray(masked.boundary_heat), np.asarray(box.boundary_heat),
                               rtol=1e-12)
    np.testing.assert_allclose(np.asarray(masked.surface_temperature),
                               np.asarray(box.surface_temperature), rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.asarray(masked.enthalpy), np.asarray(box.enthalpy),
                               rtol=1e-12)
    # The empty margin is left alone.
    assert np.all(np.asarray(masked.temperature)[:, ~mask] == 300.0)
    assert float(np.asarray(box.temperature).max()) > 1000.0  # it did heat (~765 degC)


SYMMETRY_ATOL = 1e-10  # K; measured <= 7e-12 K (round-off of sums in a different order)


@pytest.mark.parametrize("shape", ["round_bar", "h_beam"])
def test_symmetric_inputs_give_symmetric_fields(shape: str) -> None:
    if shape == "round_bar":
        section = E.round_bar_mask(0.2, CELL)
    else:
        section = E.h_beam_mask(0.3, 0.2, 0.02, 0.03, CELL)
    mask, _ = _on_canvas(section)  # even padding on both sides keeps the symmetry
    np.testing.assert_array_equal(mask, mask[::-1])
    np.testing.assert_array_equal(mask, mask[:, ::-1])
    boundary = E.constant_boundary([E.FaceSpec(1300.0, 20.0, 0.6)] * 4)
    traj = _run(E.mask_grid(mask, CELL), "crank_nicolson", boundary)
    T = np.where(mask, np.asarray(traj.temperature[-1]), 0.0)
    assert np.abs(T - T[::-1]).max() <= SYMMETRY_ATOL
    assert np.abs(T - T[:, ::-1]).max() <= SYMMETRY_ATOL
    if shape == "round_bar":  # also symmetric under x <-> y (the axes are swept in turn)
        assert np.abs(T - T.T).max() <= SYMMETRY_ATOL
    heat = np.asarray(traj.boundary_heat).sum(axis=0)
    np.testing.assert_allclose(heat[0], heat[1], rtol=1e-10)  # left = right
    np.testing.assert_allclose(heat[2], heat[3], rtol=1e-10)  # bottom = top
    assert T[mask].max() - T[mask].min() > 10.0  # a real gradient, not a uniform field


def _ring_mask() -> np.ndarray:
    """200 x 120 mm plate (10 mm cells) with a 80 x 40 mm hole, one empty cell around."""
    mask = np.zeros((22, 14), bool)
    mask[1:21, 1:13] = True
    mask[7:15, 5:9] = False
    return mask


def test_mask_with_hole_runs_and_conserves_energy() -> None:
    mask, _ = _on_canvas(_ring_mask())
    traj = _run(E.mask_grid(mask, CELL), "crank_nicolson")
    assert bool(traj.finite)
    rel, _ = energy_mismatch(traj)
    assert rel <= 1e-8, f"|dH - Q| / Q = {rel:.2e}"
    assert np.all(np.asarray(traj.boundary_heat).sum(axis=0) > 0)
    # Cells inside the hole are not metal and keep their initial value.
    assert np.all(np.asarray(traj.temperature)[:, ~mask] == 300.0)


# Ring: metal x = 1..20, y = 1..12; hole x = 7..14, y = 5..8. Cells with an open face in each
# group, written out by hand: the outer edge, plus the hole edge whose outward normal (out
# of the metal, into the hole) points the group's way.
RING_OPEN = {
    "left": [(1, y) for y in range(1, 13)] + [(15, y) for y in range(5, 9)],
    "right": [(20, y) for y in range(1, 13)] + [(6, y) for y in range(5, 9)],
    "bottom": [(x, 1) for x in range(1, 21)] + [(x, 9) for x in range(7, 15)],
    "top": [(x, 12) for x in range(1, 21)] + [(x, 4) for x in range(7, 15)],
}


@pytest.mark.parametrize("group", ["left", "right", "bottom", "top"])
def test_hole_faces_belong_to_the_group_of_their_outward_normal(group: str) -> None:
    """A prescribed flux on one face group enters exactly the cells listed in RING_OPEN."""
    mask = _ring_mask()
    grid = E.mask_grid(mask, CELL)
    q0 = 1000.0  # W/m^2
    names = E.FACE_NAMES[2]
    faces = [E.FaceSpec(300.0, heat_flux=q0 if name == group else 0.0) for name in names]
    boundary = E.constant_boundary(faces)
    T = jnp.full(mask.shape, 300.0)
    balance = jax.jit(E.heat_balance, static_argnames="fixed")  # one compile, not op by op
    bal = balance(T, grid, E.carbon_steel(), boundary.at(jnp.asarray(0.0)), boundary.fixed)
    expected = np.zeros(mask.shape)
    for x, y in RING_OPEN[group]:
        expected[x, y] = q0 / CELL  # W/m^3: the face flux over the cell width
    np.testing.assert_allclose(np.asarray(bal.divergence), expected, rtol=1e-12, atol=1e-9)
    i = names.index(group)
    np.testing.assert_allclose(float(bal.face_area[i]), len(RING_OPEN[group]) * CELL,
                               rtol=1e-12)
    np.testing.assert_allclose(float(bal.heat_rate[i]), q0 * len(RING_OPEN[group]) * CELL,
                               rtol=1e-12)


def test_mask_from_npy(tmp_path) -> None:
    mask = _ring_mask()
    path = tmp_path / "ring.npy"
    np.save(path, mask.astype(np.uint8) * 7)  # any nonzero value is metal
    loaded = E.mask_from_file(path)
    assert loaded.dtype == bool
    np.testing.assert_array_equal(loaded, mask)
    grid = E.mask_grid(loaded, CELL)
    assert grid.shape == mask.shape


def test_mask_from_png(tmp_path) -> None:
    """An L-shaped section drawn dark on white; image rows run top to bottom, the mask is
    indexed (x, y) with y upward."""
    nx, ny = 12, 9
    expected = np.zeros((nx, ny), bool)
    expected[2:5, 1:8] = True  # vertical leg, x = 2..4, y = 1..7
    expected[2:10, 1:3] = True  # horizontal leg along the bottom, y = 1..2
    pixels = np.full((ny, nx), 255, np.uint8)
    for x, y in zip(*np.nonzero(expected), strict=True):
        pixels[ny - 1 - y, x] = 30  # dark
    pixels[0, 0] = 200  # light grey stays empty (threshold 0.5)
    path = tmp_path / "section.png"
    Image.fromarray(pixels, mode="L").save(path)
    loaded = E.mask_from_file(path)
    np.testing.assert_array_equal(loaded, expected)
    # With threshold 0.1 the dark pixels (30/255 = 0.118) no longer count as metal.
    assert not E.mask_from_file(path, threshold=0.1).any()
    assert E.mask_grid(loaded, 0.005).shape == (nx, ny)
