"""``geometry`` config -> :class:`steeltwin.engine.Grid` (lengths in m, counts of cells).

Kinds: ``slab`` (1D), ``rectangle`` (2D box), ``block`` (3D box), ``round_bar``, ``h_beam`` and
``mask_file`` (masked 2D/3D components). Every value is checked here with its config key before
the engine's own checks run.
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np
from scipy import ndimage

from steeltwin.engine import (
    ConfigError,
    Grid,
    box_grid,
    h_beam_mask,
    mask_from_file,
    mask_grid,
    round_bar_mask,
    slab_grid,
)

from ._section import Section, fail

GEOMETRIES = ("slab", "rectangle", "block", "round_bar", "h_beam", "mask_file")
_KEYS = {
    "slab": ("thickness", "cells"),
    "rectangle": ("width", "height", "cells"),
    "block": ("width", "depth", "height", "cells"),
    "round_bar": ("diameter", "cell_size"),
    "h_beam": ("height", "flange_width", "web_thickness", "flange_thickness", "cell_size"),
    "mask_file": ("path", "cell_size", "threshold"),
}


def build_grid(g: Section, dtype: jnp.dtype) -> Grid:
    """The grid described by the ``geometry`` section."""
    kind = g.text("kind", GEOMETRIES)
    g.only(("kind", *_KEYS[kind]))
    length = lambda name: g.length(name, "section_length")  # noqa: E731
    if kind == "slab":
        return slab_grid(g.length("thickness", "thickness"), g.count("cells"), dtype)
    if kind == "rectangle":
        return box_grid((length("width"), length("height")), g.counts("cells", 2), dtype)
    if kind == "block":
        sizes = (length("width"), length("depth"), length("height"))
        return box_grid(sizes, g.counts("cells", 3), dtype)
    if kind == "round_bar":
        dx = g.length("cell_size", "cell_size")
        return _masked(g, round_bar_mask(length("diameter"), dx), dx, dtype)
    if kind == "h_beam":
        dims = [length(k) for k in _KEYS["h_beam"][:-1]]
        dx = g.length("cell_size", "cell_size")
        mask = h_beam_mask(*dims, cell_size=dx)
        return _masked(g, mask, dx, dtype)
    return _mask_file(g, dtype)


def _masked(g: Section, mask: np.ndarray, cell_size: float, dtype: jnp.dtype) -> Grid:
    n = int(mask.sum())
    if n < 2:
        raise fail(g.full("cell_size"), cell_size, f"a cell size giving at least 2 metal cells "
                   f"(got {n})", "refine the grid")
    return mask_grid(mask, cell_size, dtype)


def _mask_file(g: Section, dtype: jnp.dtype) -> Grid:
    path = g.text("path")
    threshold = g.number("threshold", 0.5, check="fraction")
    dx = g.length("cell_size", "cell_size")
    if not os.path.isfile(path):
        raise fail(g.full("path"), path, "an existing .npy or image file",
                   f"check the path (relative to {os.getcwd()})")
    try:
        mask = mask_from_file(path, threshold)
    except (OSError, ValueError) as err:  # unreadable image or array
        if isinstance(err, ConfigError):
            raise
        raise fail(g.full("path"), path, "a readable .npy array or image", str(err)) from err
    if mask.ndim not in (2, 3):
        raise fail(g.full("path"), path, "a 2D or 3D mask", f"the file holds shape {mask.shape}")
    if not mask.any():
        raise fail(g.full("path"), path, f"at least one metal cell (threshold={threshold})",
                   "check the file (dark pixels or nonzero entries are metal) or raise "
                   f"{g.full('threshold')}")
    _, parts = ndimage.label(mask)
    if parts != 1:
        raise fail(g.full("path"), path, f"one face-connected piece of metal (found {parts})",
                   "simulate each piece on its own or join them in the mask")
    return mask_grid(mask, dx, dtype)
