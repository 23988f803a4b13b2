"""Derived time series of a result: centre, surface, mean temperature and the field's spread.

Definitions (all temperatures in K, arrays over the save times):
- ``centre``: mean of the metal cells nearest the metal's centroid (cells at equal distance are
  averaged: the two middle cells of a slab with an even cell count, the middle of an H-beam web).
- ``surface``: face temperatures of each face group, and their mean weighted by face area.
- ``mean``: arithmetic mean over metal cells (cells have equal volume).
- ``spread``: max - min over metal cells (the soak quality at discharge).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def centre_cells(mask: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Boolean array marking the metal cells nearest the metal's centroid."""
    centres = np.meshgrid(*[(np.arange(n) + 0.5) * dx for n, dx in zip(mask.shape, spacing,
                                                                       strict=True)],
                          indexing="ij")
    pts = np.stack([c[mask] for c in centres], axis=-1)
    centroid = pts.mean(axis=0)
    dist = np.sqrt(sum((c - x0) ** 2 for c, x0 in zip(centres, centroid, strict=True)))
    dist = np.where(mask, dist, np.inf)
    return dist <= dist.min() * (1 + 1e-9) + 1e-12 * float(np.max(spacing))


def series(result: Mapping[str, Any]) -> dict[str, Any]:
    """Derived series from a result mapping (the layout of
    :func:`steeltwin.engine.io.read_result`)."""
    T = np.asarray(result["temperature"], np.float64)
    mask = np.asarray(result["mask"], bool)
    n_t = T.shape[0]
    metal = T.reshape(n_t, -1)[:, mask.ravel()]
    centre = T.reshape(n_t, -1)[:, centre_cells(mask, np.asarray(result["cell_size"])).ravel()]
    faces = list(result["faces"])
    surf = np.asarray(result["surface_temperature"], np.float64)
    area = np.asarray(result["face_area"], np.float64)
    weights = area / area.sum() if area.sum() > 0 else np.full(len(faces), 1.0 / len(faces))
    return {
        "times_h": np.asarray(result["times"], np.float64) / 3600.0,
        "centre": centre.mean(axis=1),
        "surface": surf @ weights,
        "mean": metal.mean(axis=1),
        "min": metal.min(axis=1),
        "max": metal.max(axis=1),
        "faces": {name: surf[:, i] for i, name in enumerate(faces)},
        "gas": {name: np.asarray(result["gas_temperature"], np.float64)[:, i]
                for i, name in enumerate(faces)},
    }
