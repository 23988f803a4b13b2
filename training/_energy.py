"""Discrete energy balance of a rollout: the optional physics-informed term of the training loss.

The solver conserves energy per step: over every output interval the heat content of the body
grows by exactly the heat that entered through its faces (the dataset stores both:
``enthalpy`` and ``boundary_heat``; datagen's tests check they agree). A surrogate's prediction
need not. Over macro step s of a rollout the residual is

    r_s = E(T_s) - E(T_{s-1}) - Q_s,      E(T) = sum over cells of V_cell * H(T)

with T_0 the window's true start field, T_s the predicted fields, H the sample's volumetric
enthalpy (its EN 1993-1-2 table, times ``capacity_scale``, as the solver used it), V_cell the
cell volume (per m^2 of slab, per m of section) and Q_s the stored heat input over the step.
It is reported in kelvin of mean temperature: divided by the body's heat capacity at the
materials' mean rho c between 20 and 1200 degC.

Why a per-step residual and not the cumulative heat: it is the local conservation law the
solver obeys, so it penalises a step that creates or destroys heat wherever it happens, while
the data term already ties the rollout to the true trajectory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from steeltwin.engine import ConfigError, TableSetMaterial

from ._scenarios import MaterialTables, material_tables
from .dataset import Dataset

MEAN_CAPACITY_RANGE = (293.15, 1473.15)  # K: rho c averaged over 20-1200 degC (the scale)


@dataclasses.dataclass(frozen=True)
class EnergyBalance:
    """The heat content and energy residual of fields of one dataset (float32).

    Attributes:
        tables: the dataset's materials' enthalpy tables, stacked.
        material_column / capacity_column: where the material index (None: one material) and
            ``capacity_scale`` are in the dataset's parameter rows.
        mean_capacity: J/(m^3 K), the scale that turns a residual into kelvin.
    """

    tables: MaterialTables
    material_column: int | None
    capacity_column: int
    mean_capacity: float

    @classmethod
    def from_dataset(cls, ds: Dataset) -> EnergyBalance:
        names = ds.parameter_names
        if not ds.has_field("boundary_heat"):
            raise ConfigError(f"training.energy_weight needs the dataset's boundary_heat, "
                              f"which {ds.path} lacks; regenerate it with steeltwin-datagen")
        tables = material_tables(ds.manifest["materials"], jnp.float32)
        nodes = np.asarray(tables.enthalpy, np.float64)
        grid = float(tables.T_start) + float(tables.T_step) * np.arange(nodes.shape[-1])
        lo, hi = MEAN_CAPACITY_RANGE
        mean = np.mean([(np.interp(hi, grid, h) - np.interp(lo, grid, h)) / (hi - lo)
                        for h in nodes])
        return cls(tables, names.index("material") if "material" in names else None,
                   names.index("capacity_scale"), float(mean))

    def sample_arrays(self, params: np.ndarray, cell_size: np.ndarray) -> dict[str, np.ndarray]:
        """Per-sample inputs of the balance from dataset parameter rows [B, P] and cell sizes
        [B, ndim]: ``material`` (int32), ``capacity_scale``, ``cell_volume`` [B]."""
        mat = (params[:, self.material_column] if self.material_column is not None
               else np.zeros(len(params)))
        return {"material": np.rint(mat).astype(np.int32),
                "capacity_scale": params[:, self.capacity_column].astype(np.float32),
                "cell_volume": np.prod(cell_size, axis=-1).astype(np.float32)}

    def heat_content(self, T: jax.Array, material: jax.Array, capacity_scale: jax.Array,
                     cell_volume: jax.Array, ndim: int) -> jax.Array:
        """E(T) in J/m^2 (slab) or J/m (section) relative to 20 degC: T [..., B, S, *cells]
        with ``ndim`` cell axes, the per-sample arrays [B] -> [..., B, S]."""
        shape = (-1, 1) + (1,) * ndim  # [B] -> [B, S, *cells] broadcast
        t = self.tables
        mat = TableSetMaterial(
            T_start=t.T_start, T_step=t.T_step, enthalpy_nodes=t.enthalpy,
            conductivity_nodes=t.conductivity, density=t.density[0],
            conductivity_scale=jnp.ones((), T.dtype),
            capacity_scale=capacity_scale.reshape(shape), index=material.reshape(shape),
            name="dataset")
        axes = tuple(range(T.ndim - ndim, T.ndim))
        return mat.enthalpy(T).sum(axis=axes) * cell_volume.reshape(-1, 1)

    def residual_K(self, T_start: jax.Array, fields: jax.Array, heat: jax.Array,
                   material: jax.Array, capacity_scale: jax.Array,
                   cell_volume: jax.Array) -> jax.Array:
        """Energy residual of each macro step, K of mean temperature.

        T_start [B, *cells] (the true start), fields [..., B, S, *cells] (the field after each
        macro step, e.g. every member's rollout), heat [B, S] (heat in over each step) ->
        [..., B, S]."""
        ndim = T_start.ndim - 1
        start = jnp.broadcast_to(T_start[:, None], (*fields.shape[:-ndim - 1], 1,
                                                   *T_start.shape[1:]))
        chain = jnp.concatenate([start, fields], axis=-ndim - 1)
        E = self.heat_content(chain, material, capacity_scale, cell_volume, ndim)
        n_cells = int(np.prod(T_start.shape[1:]))
        capacity = cell_volume * n_cells * self.mean_capacity  # J/K per m^2 (or per m)
        return (jnp.diff(E, axis=-1) - heat) / capacity[:, None]

    def passage_residual_K(self, passages: Mapping[str, np.ndarray],
                           fields: Any) -> jax.Array:
        """The residual of full passages (``passage_batch``: T0, heat, dataset rows, cell sizes)
        for ``fields`` [..., n, S, *cells] after each macro step."""
        extra = self.sample_arrays(passages["rows"], passages["cell_size"])
        return self.residual_K(jnp.asarray(passages["T0"], jnp.float32),
                               jnp.asarray(fields, jnp.float32), jnp.asarray(passages["heat"]),
                               **{k: jnp.asarray(v) for k, v in extra.items()})
