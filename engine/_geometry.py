"""Regular cell-centred grids for slabs (1D), cross-sections (2D), blocks (3D) and masked shapes.

Conventions: cells of size ``spacing[a]`` along axis ``a``; cell centres at (i + 1/2) dx. The last
axis is vertical: a 1D slab is indexed by height through its thickness, a 2D section by (x, y),
a 3D block by (x, y, z). Faces are named per axis (minus side first):

    1D: bottom, top                  2D: left, right, bottom, top
    3D: left, right, front, back, bottom, top

A component of any shape is a boolean ``mask`` of the cells that are metal. Boundary conditions
act on every cell face between a metal cell and a non-metal cell (or the grid edge); such a face
belongs to the group of its outward normal (a hole's upper edge has an outward normal pointing
down, so it belongs to ``bottom``). Two-dimensional results are per metre of length.
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np
from jax import Array
from scipy import ndimage

from ._errors import ConfigError, require
from ._pytree import pytree_dataclass, static_field

FACE_NAMES = {
    1: ("bottom", "top"),
    2: ("left", "right", "bottom", "top"),
    3: ("left", "right", "front", "back", "bottom", "top"),
}


@pytree_dataclass
class Grid:
    """A regular grid, optionally masked.

    Attributes:
        spacing: cell size per axis, m (traced: thickness sweeps do not recompile).
        mask: boolean array of ``shape`` marking metal cells, or None for the full box.
        shape: cells per axis (static).
    """

    spacing: Array
    mask: Array | None
    shape: tuple[int, ...] = static_field()

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def face_names(self) -> tuple[str, ...]:
        return FACE_NAMES[self.ndim]

    @property
    def cell_volume(self) -> Array:
        """m^3 per cell for 3D, m^2 per metre for 2D, m per m^2 for 1D."""
        return jnp.prod(self.spacing)

    def face_area(self, axis: int) -> Array:
        """Area of one cell face normal to ``axis`` (per unit length/area in 2D/1D)."""
        others = [self.spacing[a] for a in range(self.ndim) if a != axis]
        return jnp.prod(jnp.stack(others)) if others else jnp.ones((), self.spacing.dtype)

    def centres(self, axis: int) -> Array:
        """Cell-centre coordinates along ``axis``, m, from the grid's minus edge."""
        dtype = self.spacing.dtype
        return (jnp.arange(self.shape[axis], dtype=dtype) + 0.5) * self.spacing[axis]

    def metal(self) -> Array:
        """Float mask (1 for metal cells) of ``shape``."""
        dtype = self.spacing.dtype
        if self.mask is None:
            return jnp.ones(self.shape, dtype)
        return self.mask.astype(dtype)


def _check_size(key: str, value: float) -> None:
    require(bool(np.isfinite(value)) and value > 0, key, value, "a positive finite length in m",
            "give the dimension in metres (e.g. 0.22 for 220 mm)")


def _check_count(key: str, value: int) -> None:
    require(isinstance(value, int | np.integer) and value >= 1, key, value,
            "a positive integer", "set the number of cells (e.g. 40)")


def box_grid(lengths: tuple[float, ...], cells: tuple[int, ...],
             dtype: jnp.dtype = jnp.float64) -> Grid:
    """A slab (1 length), rectangle (2) or block (3): lengths in m, cells per axis."""
    require(len(lengths) == len(cells) and 1 <= len(cells) <= 3, "geometry.lengths", lengths,
            "1 to 3 lengths matching geometry.cells", "give one length and one count per axis")
    for a, (L, n) in enumerate(zip(lengths, cells, strict=True)):
        _check_size(f"geometry.lengths[{a}]", L)
        _check_count(f"geometry.cells[{a}]", n)
    spacing = jnp.asarray([L / n for L, n in zip(lengths, cells, strict=True)], dtype)
    return Grid(spacing=spacing, mask=None, shape=tuple(int(n) for n in cells))


def slab_grid(thickness: float, cells: int, dtype: jnp.dtype = jnp.float64) -> Grid:
    """1D slab through its thickness (m), ``cells`` cells."""
    _check_size("geometry.thickness", thickness)
    _check_count("geometry.cells", cells)
    return box_grid((thickness,), (cells,), dtype)


def mask_grid(mask: np.ndarray, cell_size: float | tuple[float, ...],
              dtype: jnp.dtype = jnp.float64) -> Grid:
    """A component from a boolean mask (True = metal) with cells of ``cell_size`` m.

    Raises ConfigError for an empty mask or one whose metal is not face-connected.
    """
    mask = np.asarray(mask, dtype=bool)
    require(mask.ndim in (2, 3), "geometry.mask", f"array of shape {mask.shape}",
            "a 2D or 3D boolean array", "supply a 2D image or .npy array")
    sizes = np.broadcast_to(np.asarray(cell_size, float), (mask.ndim,))
    for a, s in enumerate(sizes):
        _check_size(f"geometry.cell_size[{a}]", float(s))
    n_metal = int(mask.sum())
    require(n_metal > 0, "geometry.mask", f"{mask.shape} array with no metal cells",
            "at least one metal (True / dark) cell", "check the file, threshold or dimensions")
    _, n_parts = ndimage.label(mask)
    require(n_parts == 1, "geometry.mask", f"{n_parts} separate pieces",
            "one face-connected piece of metal",
            "simulate each piece on its own or join them in the mask")
    return Grid(spacing=jnp.asarray(sizes, dtype), mask=jnp.asarray(mask),
                shape=tuple(int(n) for n in mask.shape))


def rectangle_mask(width: float, height: float, cell_size: float, margin: int = 0) -> np.ndarray:
    """A full rectangle (m) as a mask, with ``margin`` empty cells around it."""
    _check_size("geometry.width", width)
    _check_size("geometry.height", height)
    _check_size("geometry.cell_size", cell_size)
    nx, ny = round(width / cell_size), round(height / cell_size)
    m = np.zeros((nx + 2 * margin, ny + 2 * margin), bool)
    m[margin:margin + nx, margin:margin + ny] = True
    return m


def round_bar_mask(diameter: float, cell_size: float) -> np.ndarray:
    """A round bar section of ``diameter`` m: cells whose centre lies inside the circle."""
    _check_size("geometry.diameter", diameter)
    _check_size("geometry.cell_size", cell_size)
    n = int(np.ceil(diameter / cell_size)) + 2
    c = (np.arange(n) + 0.5) * cell_size - 0.5 * n * cell_size
    X, Y = np.meshgrid(c, c, indexing="ij")
    return X**2 + Y**2 <= (0.5 * diameter) ** 2


def h_beam_mask(height: float, flange_width: float, web_thickness: float,
                flange_thickness: float, cell_size: float) -> np.ndarray:
    """An H/I-beam section (m) as a mask indexed (x, y), web vertical, one empty cell around."""
    for key, v in (("height", height), ("flange_width", flange_width),
                   ("web_thickness", web_thickness), ("flange_thickness", flange_thickness)):
        _check_size(f"geometry.{key}", v)
    _check_size("geometry.cell_size", cell_size)
    require(2 * flange_thickness < height, "geometry.flange_thickness", flange_thickness,
            f"less than half the height ({height / 2} m)", "check the section dimensions")
    require(web_thickness < flange_width, "geometry.web_thickness", web_thickness,
            f"less than the flange width ({flange_width} m)", "check the section dimensions")
    # Integer cell counts (not point-in-shape tests) so the section is exactly symmetric: a
    # thickness that is a half-integer number of cells would otherwise round differently on
    # the two sides. The web's count takes the parity of the flange's so it can be centred.
    require(cell_size <= web_thickness, "geometry.cell_size", cell_size,
            f"smaller than the web thickness ({web_thickness} m)", "refine the grid")
    require(cell_size <= flange_thickness, "geometry.cell_size", cell_size,
            f"smaller than the flange thickness ({flange_thickness} m)", "refine the grid")
    n_flange = max(1, round(flange_width / cell_size))
    n_height = max(3, round(height / cell_size))
    n_tf = max(1, round(flange_thickness / cell_size))
    n_tw = max(1, round(web_thickness / cell_size))
    if (n_flange - n_tw) % 2:
        n_tw += 1 if web_thickness / cell_size >= n_tw else -1
        n_tw = max(n_tw, 1 + (n_flange % 2 == 0))
    require(2 * n_tf < n_height, "geometry.cell_size", cell_size,
            "small enough that the flanges leave room for a web", "refine the grid")
    nx, ny = n_flange + 2, n_height + 2
    mask = np.zeros((nx, ny), bool)
    mask[1:1 + n_flange, 1:1 + n_tf] = True
    mask[1:1 + n_flange, ny - 1 - n_tf:ny - 1] = True
    w0 = 1 + (n_flange - n_tw) // 2
    mask[w0:w0 + n_tw, 1:ny - 1] = True
    return mask


def mask_from_file(path: str | os.PathLike[str], threshold: float = 0.5) -> np.ndarray:
    """Read a mask from ``.npy`` (nonzero = metal) or an image (dark pixels = metal).

    Images are read with Pillow as greyscale in [0, 1]; pixels darker than ``threshold`` are
    metal. Image rows run top to bottom, so the array is flipped into (x, y) with y upward.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"geometry.mask_path={path!r} is invalid: expected an existing .npy or "
                          "image file; check the path")
    if path.lower().endswith(".npy"):
        arr = np.load(path, allow_pickle=False)
        return np.asarray(arr) != 0
    from PIL import Image

    with Image.open(path) as img:
        grey = np.asarray(img.convert("L"), dtype=np.float64) / 255.0
    return (grey < threshold)[::-1, :].T.copy()
