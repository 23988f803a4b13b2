"""Elastic thermal stress of a 2D cross-section (plane strain or generalized plane strain).

A long bar whose temperature T(x, y) (K) does not vary along its axis z. In-plane equilibrium
div sigma = 0 with traction-free outer boundaries (mask edges and holes included), isotropic
elasticity with E = E(T) per cell and eps_th(T) (``MechanicalMaterial``):

    sigma = C(T) (eps - eps_th I),   eps_zz = c0 + c1 (x - x_c) + c2 (y - y_c)

* ``generalized`` (generalized plane strain, the default): the bar expands and bends freely
  along its axis; (c0, c1, c2) make the net axial force and both axial moments vanish. This is
  the state of a long free bar away from its ends.
* ``plane_strain``: eps_zz = 0 (axially held).

Discretised with Q1 elements on the grid cells (``_stress_fem``), solved by Jacobi-PCG; the
solve is a ``lax.custom_linear_solve``, so ``jax.grad`` flows through it (e.g. d sigma / d T)
and ``vmap`` batches it. Per-cell outputs are the means over the 4 Gauss points; von Mises and
the maximum principal stress are evaluated from those means. Values outside the mask are 0.
Stresses in Pa, displacements in m.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import Array

from ._errors import require
from ._geometry import Grid
from ._pytree import pytree_dataclass
from ._stress_fem import (
    MIN_WALL_CELLS,
    SECTION_KINDS,
    check_section_grid,
    default_tolerance,
    elastic_stress,
    gauss_to_cells,
    geometry,
    invariants,
    operators,
    probe_diagonal,
    solve_spd,
    split,
)
from ._stress_material import MechanicalMaterial, require_mechanical


@pytree_dataclass
class SectionStress:
    """Stress of a cross-section (per cell, [nx, ny], Pa; 0 outside the metal).

    Attributes:
        sxx, syy, sxy, szz: stress components (z along the bar axis).
        von_mises: equivalent stress.
        max_principal: largest principal stress (crack-opening indicator).
        displacement: nodal in-plane displacement, m, [nx + 1, ny + 1, 2].
        axial: (c0, c1, c2), axial strain = c0 + c1 (x - x_c) + c2 (y - y_c) (zeros in plane
            strain).
        iterations: CG iterations used.
        residual: final relative CG residual |r| / |b|.
    """

    sxx: Array
    syy: Array
    sxy: Array
    szz: Array
    von_mises: Array
    max_principal: Array
    displacement: Array
    axial: Array
    iterations: Array
    residual: Array


def check_section(grid: Grid, material: object, kind: str,
                  min_wall_cells: int = MIN_WALL_CELLS) -> MechanicalMaterial:
    """Build-time checks shared by the elastic and plastic section solvers."""
    mat = require_mechanical(material)
    require(kind in SECTION_KINDS, "stress.kind", kind, f"one of {SECTION_KINDS}",
            "generalized: long free bar (default); plane_strain: axially held")
    check_section_grid(grid, min_wall_cells)
    return mat


def default_maxiter(shape: tuple[int, ...]) -> int:
    """CG iteration cap: Jacobi-PCG needs O(n) iterations on an n x n grid."""
    return max(2000, 40 * (shape[0] + shape[1]))


def penalty(diag: Array, active: Array) -> Array:
    """Rigid-mode penalty: the mean diagonal stiffness over the active displacement dofs."""
    a = jnp.repeat(active.reshape(-1), 2)
    return jax.lax.stop_gradient(jnp.sum(diag[:-3] * a) / jnp.sum(a))


def cell_fields(sigma_gp: Array, metal: Array) -> tuple[Array, ...]:
    """(sxx, syy, sxy, szz, von_mises, max_principal) per cell from Gauss-point stresses."""
    s = gauss_to_cells(sigma_gp) * metal[..., None]
    vm, p1 = invariants(s)
    return s[..., 0], s[..., 1], s[..., 2], s[..., 3], vm * metal, p1 * metal


def section_elastic(T: Array, grid: Grid, material: MechanicalMaterial,
                    kind: str = "generalized", tol: float | None = None,
                    maxiter: int | None = None) -> SectionStress:
    """Elastic section stress for one field T (K, [nx, ny]); no checks, jit/vmap/grad-safe."""
    shape = (grid.shape[0], grid.shape[1])  # 2D, checked by check_section_grid
    generalized = kind == "generalized"
    tol = default_tolerance(T.dtype) if tol is None else tol
    maxiter = default_maxiter(shape) if maxiter is None else maxiter
    geo = geometry(grid)
    ops = operators(geo, shape, generalized)
    E = material.youngs_modulus(T)[:, :, None]
    nu = material.nu
    eth = material.thermal_strain(T)
    w = geo.weight[:, :, None, None]

    def stiffness(v: Array) -> Array:
        return ops.Bt(w * elastic_stress(ops.B(v), E, nu))

    zero = jnp.zeros((), T.dtype)
    diag = probe_diagonal(lambda v: stiffness(v) + ops.constrain(v, zero), shape, T.dtype)
    beta = penalty(diag, geo.active)

    def matvec(v: Array) -> Array:
        return stiffness(v) + ops.constrain(v, beta)

    eps0 = jnp.stack([eth, eth, jnp.zeros_like(eth), eth], -1)[:, :, None, :]
    f = ops.Bt(w * elastic_stress(jnp.broadcast_to(eps0, (*shape, 4, 4)), E, nu))
    v, (its, res) = solve_spd(matvec, f, 1.0 / diag, tol, maxiter)
    sigma = elastic_stress(ops.B(v) - eps0, E, nu)
    sxx, syy, sxy, szz, vm, p1 = cell_fields(sigma, grid.metal())
    u, c = split(v, shape)
    return SectionStress(sxx=sxx, syy=syy, sxy=sxy, szz=szz, von_mises=vm, max_principal=p1,
                         displacement=u, axial=c, iterations=its, residual=res)


_section_elastic_jit = jax.jit(section_elastic, static_argnames=("kind", "tol", "maxiter"))


def section_stress(T: Array, grid: Grid, material: MechanicalMaterial,
                   kind: str = "generalized", tol: float | None = None,
                   maxiter: int | None = None, min_wall_cells: int = MIN_WALL_CELLS,
                   throw: bool = True) -> SectionStress:
    """Elastic thermal stress of a cross-section for temperatures T (K, [*batch, nx, ny]).

    Args:
        T: temperatures in K; leading axes (e.g. the save times of a ``Trajectory``) are
            mapped with ``vmap``.
        grid: the 2D (masked) grid of the thermal solve.
        material: a :class:`MechanicalMaterial`.
        kind: ``generalized`` (free axial expansion, default) or ``plane_strain``.
        tol: relative CG tolerance (default 1e-10 in float64, 1e-5 in float32).
        maxiter: CG iteration cap (default ``max(2000, 40 (nx + ny))``).
        min_wall_cells: minimum cells through the thinnest wall (see ``check_section_grid``).
        throw: raise if CG did not reach ``tol`` (only when called outside ``jit``).

    Returns:
        :class:`SectionStress` (with the batch axes in front).
    """
    mat = check_section(grid, material, kind, min_wall_cells)
    T = jnp.asarray(T)
    require(T.ndim >= 2 and T.shape[-2:] == grid.shape, "stress.temperature",
            f"array of shape {T.shape}", f"[..., {grid.shape[0]}, {grid.shape[1]}] in K",
            "pass Trajectory.temperature of the same grid")
    fn = partial(_section_elastic_jit, grid=grid, material=mat, kind=kind, tol=tol,
                 maxiter=maxiter)
    for _ in range(T.ndim - 2):
        fn = jax.vmap(fn)
    out = fn(T)
    if throw and not isinstance(out.residual, jax.core.Tracer):
        tol_used = default_tolerance(T.dtype) if tol is None else tol
        worst = float(jnp.max(out.residual))
        if not worst <= 10 * tol_used:
            raise FloatingPointError(
                f"stress CG did not converge: relative residual {worst:.3g} > tol {tol_used:.3g}"
                f" after {int(jnp.max(out.iterations))} iterations; raise stress.maxiter or "
                "check the temperatures are finite")
    return out
