"""Bilinear (Q1) finite elements on the cells of a 2D thermal grid, matrix-free, for stress.

Why Q1 elements on the grid cells: every metal cell of the (masked) thermal grid becomes one
element, with nodes at the cell corners, so the temperature field is used as it is (one value
per element) and any mask is meshed exactly. A displacement formulation needs nothing at free
surfaces: traction-free boundaries are the natural boundary condition of the weak form, so the
outer edges, holes and re-entrant corners of a mask need no special stencils (a finite-volume
or finite-difference stress stencil would need one per boundary configuration).

Kinematics, per element (i, j) of size dx x dy with corner displacements u00, u10, u01, u11 and
2 x 2 Gauss points (xi, eta) = 1/2 +- 1/(2 sqrt 3) in the unit cell:

    du/dx = ((1 - eta)(u10 - u00) + eta (u11 - u01)) / dx,
    du/dy = ((1 - xi)(u01 - u00) + xi (u11 - u10)) / dy,
    strain = (e_xx, e_yy, gamma_xy, e_zz),  e_zz = c0 + c1 (x - x_c) + c2 (y - y_c),

where (c0, c1, c2) are the generalized-plane-strain axial unknowns (free axial expansion and
bending about both axes; zero in plane strain) and (x_c, y_c) the centroid of the metal. The
stiffness operator is never assembled: K v = B^T (w C B v) with B the strain map above, B^T its
transpose (``jax.linear_transpose``), C the isotropic 3D elasticity with E per element and w the
Gauss weight (dx dy / 4, zero in void cells). Minimising the energy over c gives zero net axial
force and zero axial moments, so generalized plane strain needs no extra constraint equations.

Rigid-body modes (two in-plane translations and the rotation) are removed by adding the penalty
beta R R^T, with R an orthonormal basis of the rigid modes on the active nodes and beta the mean
diagonal stiffness; thermal loads are self-equilibrated (R^T f = 0 exactly, since B R = 0), so
the penalised system has the same solution with zero rigid component. Nodes that touch no metal
get an identity row. The system is solved by Jacobi-preconditioned conjugate gradients; the
diagonal is probed exactly with 8 + 3 operator applications (nodes coloured by (i mod 2,
j mod 2) and component never share an element).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from scipy import ndimage

from ._errors import ConfigError, require
from ._geometry import Grid

SECTION_KINDS = ("generalized", "plane_strain")
MIN_WALL_CELLS = 4
_G = 0.5 / np.sqrt(3.0)
GAUSS = ((0.5 - _G, 0.5 - _G), (0.5 + _G, 0.5 - _G), (0.5 - _G, 0.5 + _G), (0.5 + _G, 0.5 + _G))


def check_section_grid(grid: Grid, min_wall_cells: int = MIN_WALL_CELLS) -> None:
    """Build-time checks of a 2D stress grid (plain raise, ConfigError).

    The grid must be 2D, its metal face-connected (cells touching only at a corner would be a
    hinge, a singular stiffness), and every wall at least ``min_wall_cells`` cells thick: each
    metal cell must lie in some ``min_wall_cells`` x ``min_wall_cells`` square of metal cells
    (the mask equals its morphological opening by that square). One or two Q1 elements through a
    wall lock in bending and misplace the stress peaks; four give errors of a few percent.
    """
    require(grid.ndim == 2, "stress.grid", f"{grid.ndim}D grid", "a 2D cross-section grid",
            "use plate_stress for a 1D slab")
    require(isinstance(min_wall_cells, int) and min_wall_cells >= 1, "stress.min_wall_cells",
            min_wall_cells, "an integer >= 1", "use 4 (the default)")
    k = min_wall_cells
    mask = np.ones(grid.shape, bool) if grid.mask is None else np.asarray(grid.mask, bool)
    require(bool(mask.any()), "geometry.mask", "a mask with no metal cells",
            "at least one metal cell", "check the mask")
    _, n_parts = ndimage.label(mask)
    require(n_parts == 1, "geometry.mask", f"{n_parts} separate pieces",
            "one face-connected piece of metal",
            "compute the stress of each piece on its own or join them in the mask")
    if k > 1:
        covered = np.zeros_like(mask)
        if mask.shape[0] >= k and mask.shape[1] >= k:
            win = np.lib.stride_tricks.sliding_window_view(mask, (k, k)).all(axis=(-2, -1))
            for di in range(k):
                for dj in range(k):
                    covered[di:di + win.shape[0], dj:dj + win.shape[1]] |= win
        thin = mask & ~covered
        if thin.any():
            i, j = np.argwhere(thin)[0]
            raise ConfigError(
                f"geometry: the grid is too coarse for a stress solve: metal cell ({i}, {j}) "
                f"(and {int(thin.sum()) - 1} others) lies in a wall thinner than "
                f"stress.min_wall_cells={k} cells; refine the grid so the thinnest wall has "
                f"at least {k} cells (or lower stress.min_wall_cells, at the cost of accuracy)")


class Geometry(NamedTuple):
    """Traced geometric arrays of a section (all derived from the Grid)."""

    dx: Array
    dy: Array
    weight: Array  # [nx, ny] Gauss weight dx dy / 4 times metal
    xg: Array  # [nx, ny, 4] Gauss-point x - x_c
    yg: Array  # [nx, ny, 4]
    active: Array  # [nx + 1, ny + 1] float, 1 on nodes of metal elements
    rigid: Array  # [n_u, 3] orthonormal rigid modes on the active nodes


def geometry(grid: Grid) -> Geometry:
    """Gauss weights, centroid-relative Gauss coordinates, active nodes and rigid modes."""
    dx, dy = grid.spacing[0], grid.spacing[1]
    nx, ny = grid.shape
    metal = grid.metal()
    dtype = metal.dtype
    gx = jnp.asarray([g[0] for g in GAUSS], dtype)
    gy = jnp.asarray([g[1] for g in GAUSS], dtype)
    xi = jnp.arange(nx, dtype=dtype)[:, None, None]
    yj = jnp.arange(ny, dtype=dtype)[None, :, None]
    x = (xi + gx) * dx
    y = (yj + gy) * dy
    area = jnp.sum(metal)
    xc = jnp.sum(metal * (jnp.arange(nx, dtype=dtype)[:, None] + 0.5)) / area * dx
    yc = jnp.sum(metal * (jnp.arange(ny, dtype=dtype)[None, :] + 0.5)) / area * dy
    padded = jnp.pad(metal, 1)
    active = jnp.maximum(jnp.maximum(padded[:-1, :-1], padded[1:, :-1]),
                         jnp.maximum(padded[:-1, 1:], padded[1:, 1:]))
    X = jnp.arange(nx + 1, dtype=dtype)[:, None] * dx - xc
    Y = jnp.arange(ny + 1, dtype=dtype)[None, :] * dy - yc
    one, zero = jnp.ones_like(X + Y), jnp.zeros_like(X + Y)
    modes = jnp.stack([jnp.stack([one, zero], -1), jnp.stack([zero, one], -1),
                       jnp.stack([-Y * one, X * one], -1)], -1) * active[..., None, None]
    rigid, _ = jnp.linalg.qr(modes.reshape(-1, 3))
    return Geometry(dx, dy, metal * dx * dy / 4.0, x - xc, y - yc, active, rigid)


def split(v: Array, shape: tuple[int, int]) -> tuple[Array, Array]:
    """Flat unknowns -> (nodal displacements [nx + 1, ny + 1, 2], axial c [3])."""
    nx, ny = shape
    return v[:-3].reshape(nx + 1, ny + 1, 2), v[-3:]


def strains(v: Array, geo: Geometry, shape: tuple[int, int], generalized: bool) -> Array:
    """Strain (e_xx, e_yy, gamma_xy, e_zz) at the Gauss points, [nx, ny, 4, 4]."""
    u, c = split(v, shape)
    dtype = v.dtype
    gx = jnp.asarray([g[0] for g in GAUSS], dtype)[:, None]  # [4, 1]: Gauss axis, component
    gy = jnp.asarray([g[1] for g in GAUSS], dtype)[:, None]
    u00, u10 = u[:-1, :-1, None, :], u[1:, :-1, None, :]  # [nx, ny, 1, 2]
    u01, u11 = u[:-1, 1:, None, :], u[1:, 1:, None, :]
    dudx = ((1 - gy) * (u10 - u00) + gy * (u11 - u01)) / geo.dx  # [nx, ny, 4, 2]
    dudy = ((1 - gx) * (u01 - u00) + gx * (u11 - u10)) / geo.dy
    if generalized:
        ezz = c[0] + c[1] * geo.xg + c[2] * geo.yg
    else:
        ezz = jnp.zeros_like(dudx[..., 0])
    return jnp.stack([dudx[..., 0], dudy[..., 1], dudx[..., 1] + dudy[..., 0], ezz], -1)


def elastic_stress(e: Array, E: Array, nu: Array) -> Array:
    """Isotropic stress (xx, yy, xy, zz) from elastic strain (xx, yy, gamma_xy, zz); E [..]."""
    lam = E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu))
    mu = E / (2.0 * (1.0 + nu))
    tr = e[..., 0] + e[..., 1] + e[..., 3]
    return jnp.stack([lam * tr + 2 * mu * e[..., 0], lam * tr + 2 * mu * e[..., 1],
                      mu * e[..., 2], lam * tr + 2 * mu * e[..., 3]], -1)


class Operators(NamedTuple):
    """B (flat unknowns -> Gauss strains) and B^T, plus the constraint terms."""

    B: Callable[[Array], Array]
    Bt: Callable[[Array], Array]
    constrain: Callable[[Array, Array], Array]  # (v, beta) -> inactive identity + penalty
    n: int


def operators(geo: Geometry, shape: tuple[int, int], generalized: bool) -> Operators:
    nx, ny = shape
    n = 2 * (nx + 1) * (ny + 1) + 3
    dtype = geo.dx.dtype

    def B(v: Array) -> Array:
        return strains(v, geo, shape, generalized)

    Bt_raw = jax.linear_transpose(B, jnp.zeros((n,), dtype))

    def Bt(s: Array) -> Array:
        return Bt_raw(s)[0]

    inactive_u = jnp.repeat((1.0 - geo.active).reshape(-1), 2)
    inactive = jnp.concatenate([inactive_u, jnp.full((3,), 0.0 if generalized else 1.0, dtype)])

    def constrain(v: Array, beta: Array) -> Array:
        vu = v[:-3]
        pen = beta * (geo.rigid @ (geo.rigid.T @ vu))
        return inactive * v + jnp.concatenate([pen, jnp.zeros((3,), dtype)])

    return Operators(B, Bt, constrain, n)


def probe_diagonal(matvec: Callable[[Array], Array], shape: tuple[int, int],
                   dtype: jnp.dtype) -> Array:
    """Exact diagonal of a Q1 operator by 8 coloured probes plus 3 axial unit vectors."""
    nx, ny = shape
    i = jnp.arange(nx + 1)[:, None]
    j = jnp.arange(ny + 1)[None, :]
    probes = []
    for ci in range(2):
        for cj in range(2):
            colour = ((i % 2 == ci) & (j % 2 == cj)).astype(dtype)
            for comp in range(2):
                p = jnp.zeros((nx + 1, ny + 1, 2), dtype).at[..., comp].set(colour)
                probes.append(jnp.concatenate([p.reshape(-1), jnp.zeros((3,), dtype)]))
    n = 2 * (nx + 1) * (ny + 1) + 3
    for k in range(3):
        probes.append(jnp.zeros((n,), dtype).at[n - 3 + k].set(1.0))
    P = jnp.stack(probes)
    return jnp.sum(P * jax.vmap(matvec)(P), axis=0)


def pcg(matvec: Callable[[Array], Array], b: Array, inv_diag: Array, tol: float,
        maxiter: int, x0: Array | None = None) -> tuple[Array, tuple[Array, Array]]:
    """Jacobi-preconditioned CG; stops at |r| <= tol |b|. Returns x, (iterations, |r| / |b|)."""
    x = jnp.zeros_like(b) if x0 is None else x0
    r = b - matvec(x)
    z = inv_diag * r
    bnorm = jnp.linalg.norm(b)
    tiny = jnp.finfo(b.dtype).tiny

    def cond(state):
        _, r, _, _, _, k = state
        return (jnp.linalg.norm(r) > tol * bnorm) & (k < maxiter)

    def body(state):
        x, r, z, p, rz, k = state
        Ap = matvec(p)
        alpha = rz / jnp.maximum(jnp.vdot(p, Ap), tiny)
        x = x + alpha * p
        r = r - alpha * Ap
        z = inv_diag * r
        rz_new = jnp.vdot(r, z)
        p = z + (rz_new / jnp.maximum(rz, tiny)) * p
        return x, r, z, p, rz_new, k + 1

    rz = jnp.vdot(r, z)
    state = (x, r, z, z, rz, jnp.zeros((), jnp.int32))
    x, r, _, _, _, k = jax.lax.while_loop(cond, body, state)
    return x, (k, jnp.linalg.norm(r) / jnp.maximum(bnorm, tiny))


def solve_spd(matvec: Callable[[Array], Array], b: Array, inv_diag: Array, tol: float,
              maxiter: int) -> tuple[Array, tuple[Array, Array]]:
    """x = A^-1 b by PCG, differentiable (``lax.custom_linear_solve``, symmetric A)."""
    inv_diag = jax.lax.stop_gradient(inv_diag)

    def solve(mv: Callable[[Array], Array], rhs: Array) -> tuple[Array, tuple[Array, Array]]:
        return pcg(mv, rhs, inv_diag, tol, maxiter)

    return jax.lax.custom_linear_solve(matvec, b, solve, symmetric=True, has_aux=True)


def default_tolerance(dtype: jnp.dtype) -> float:
    """Relative CG tolerance: 1e-10 in float64, 1e-5 in float32."""
    return 1e-10 if jnp.dtype(dtype) == jnp.float64 else 1e-5


def gauss_to_cells(a: Array) -> Array:
    """Mean over the 4 Gauss points of each cell: [nx, ny, 4, ...] -> [nx, ny, ...]."""
    return jnp.mean(a, axis=2)


def invariants(s: Array) -> tuple[Array, Array]:
    """von Mises and maximum principal stress of (xx, yy, xy, zz) stresses."""
    sxx, syy, sxy, szz = s[..., 0], s[..., 1], s[..., 2], s[..., 3]
    tiny = jnp.finfo(s.dtype).tiny
    j2 = ((sxx - syy) ** 2 + (syy - szz) ** 2 + (szz - sxx) ** 2) / 2 + 3 * sxy**2
    vm = jnp.sqrt(jnp.maximum(j2, tiny))
    rad = jnp.sqrt(jnp.maximum(((sxx - syy) / 2) ** 2 + sxy**2, tiny))
    return vm, jnp.maximum((sxx + syy) / 2 + rad, szz)
