"""Finite-volume heat balance: D(T) = div(k grad T) + boundary heat, in W/m^3 per cell.

Cell-centred, second order. Between two metal cells the face conductance is the mean of the two
cells' k over dx^2. On a boundary face the unknown face temperature T_s solves the local balance

    (2 k / dx) (T_s - T_c) = h (T_gas - T_s) + phi sigma (T_gas^4 - T_s^4) + q_0

(half-cell conduction equals what the surroundings deliver), solved by Newton, which converges
monotonically because the right side is concave in T_s. The heat entering through the face is
q = (2 k / dx)(T_s - T_c) and enters cell c as q / dx. Linearising q around the current state
gives the boundary conductance G = g h_e / (g + h_e), with g = 2k/dx and
h_e = h + 4 phi sigma T_s^3, which the implicit schemes put on the diagonal of their
(approximate) Jacobian.

Returned per face group: total heat inflow rate (W for 3D; W/m for 2D; W/m^2 for 1D), and the
area-weighted mean surface temperature and gas temperature.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from ._boundary import STEFAN_BOLTZMANN, FaceValues
from ._geometry import Grid
from ._material import AbstractMaterial
from ._pytree import pytree_dataclass

_FACE_NEWTON_ITERATIONS = 8


@pytree_dataclass
class Balance:
    """Heat balance of a field at one time.

    Attributes:
        divergence: net heat gain per volume, W/m^3, field shape (0 outside the mask).
        face_conductance: per axis, conductance per volume of interior faces, W/(m^3 K), with
            ``shape[a] - 1`` entries along axis a.
        boundary_conductance: per axis, linearised boundary conductance per volume, W/(m^3 K),
            field shape.
        heat_rate: heat inflow per face group, [n_faces].
        surface_temperature: mean face temperature per face group, K, [n_faces].
        face_area: total area of each face group, [n_faces].
    """

    divergence: Array
    face_conductance: tuple[Array, ...]
    boundary_conductance: tuple[Array, ...]
    heat_rate: Array
    surface_temperature: Array
    face_area: Array


def face_flux(T_cell: Array, g: Array, gas_T: Array, h: Array, phi: Array, q0: Array,
              fixed: bool) -> tuple[Array, Array, Array]:
    """Face temperature, inflow q (W/m^2) and linearised conductance -dq/dT_cell (W/(m^2 K)).

    ``g`` = 2k/dx is the half-cell conductance; all arguments broadcast elementwise.
    """
    if fixed:
        return gas_T + 0.0 * T_cell, g * (gas_T - T_cell), g
    s = phi * STEFAN_BOLTZMANN
    gas4 = gas_T**4
    # Start from the convection-only answer (exact when phi = 0), then Newton on the T^4 term.
    Ts = (g * T_cell + h * gas_T + q0) / (g + h)

    def newton(_: int, Ts: Array) -> Array:
        f = g * (Ts - T_cell) - h * (gas_T - Ts) - s * (gas4 - Ts**4) - q0
        return Ts - f / (g + h + 4.0 * s * Ts**3)

    # A fixed-count loop (not unrolled: keeps compile times short; differentiable).
    Ts = jax.lax.fori_loop(0, _FACE_NEWTON_ITERATIONS, newton, Ts)
    h_e = h + 4.0 * s * Ts**3
    return Ts, g * (Ts - T_cell), g * h_e / (g + h_e)


def _take(x: Array, axis: int, start: int | None, stop: int | None) -> Array:
    idx = [slice(None)] * x.ndim
    idx[axis] = slice(start, stop)
    return x[tuple(idx)]


def _pad_axis(x: Array, axis: int, before: int, after: int) -> Array:
    widths = [(0, 0)] * x.ndim
    widths[axis] = (before, after)
    return jnp.pad(x, widths)


def heat_balance(T: Array, grid: Grid, material: AbstractMaterial, faces: FaceValues,
                 fixed: tuple[bool, ...]) -> Balance:
    """Evaluate the heat balance of field ``T`` (K) with boundary values ``faces``."""
    k = material.conductivity(T)
    metal = None if grid.mask is None else grid.mask
    div = jnp.zeros_like(T)
    face_cond: list[Array] = []
    bound_cond: list[Array] = []
    heat, surf, area = [], [], []
    for a in range(grid.ndim):
        dx = grid.spacing[a]
        A = grid.face_area(a)
        # Interior faces: conductance per volume k_face / dx^2 between cells i and i+1.
        k_face = 0.5 * (_take(k, a, None, -1) + _take(k, a, 1, None))
        cond = k_face / dx**2
        if metal is not None:
            both = _take(metal, a, None, -1) & _take(metal, a, 1, None)
            cond = jnp.where(both, cond, 0.0)
        flow = cond * (_take(T, a, 1, None) - _take(T, a, None, -1))
        div = div + _pad_axis(flow, a, 0, 1) - _pad_axis(flow, a, 1, 0)
        face_cond.append(cond)
        bdiag = jnp.zeros_like(T)
        for side in (0, 1):
            f = 2 * a + side
            args = (faces.gas_temperature[f], faces.h[f], faces.exchange_factor[f],
                    faces.heat_flux[f])
            if metal is None:
                # Only the first (minus) or last (plus) layer of cells has this face.
                sl = (0, 1) if side == 0 else (-1, None)
                Tc = _take(T, a, *sl)
                Ts, q, G = face_flux(Tc, 2.0 * _take(k, a, *sl) / dx, *args, fixed=fixed[f])
                pad = (0, T.shape[a] - 1) if side == 0 else (T.shape[a] - 1, 0)
                div = div + _pad_axis(q / dx, a, *pad)
                bdiag = bdiag + _pad_axis(G / dx, a, *pad)
                n_open = jnp.asarray(Tc.size, T.dtype)
                heat.append(jnp.sum(q) * A)
                surf.append(jnp.mean(Ts))
            else:
                # A face is open where the neighbour on this side is not metal (or off-grid).
                nb = _pad_axis(_take(metal, a, None, -1), a, 1, 0) if side == 0 else \
                    _pad_axis(_take(metal, a, 1, None), a, 0, 1)
                is_open = metal & ~nb
                Ts, q, G = face_flux(T, 2.0 * k / dx, *args, fixed=fixed[f])
                q = jnp.where(is_open, q, 0.0)
                div = div + q / dx
                bdiag = bdiag + jnp.where(is_open, G / dx, 0.0)
                n_open = jnp.sum(is_open).astype(T.dtype)
                heat.append(jnp.sum(q) * A)
                surf.append(jnp.sum(jnp.where(is_open, Ts, 0.0)) / jnp.maximum(n_open, 1.0))
            area.append(n_open * A)
        bound_cond.append(bdiag)
    if metal is not None:
        div = jnp.where(metal, div, 0.0)
    return Balance(div, tuple(face_cond), tuple(bound_cond), jnp.stack(heat), jnp.stack(surf),
                   jnp.stack(area))
