"""Incremental J2 plasticity of a 2D cross-section driven by a temperature history.

Same kinematics as ``_stress_section`` (Q1 elements on the grid cells, plane strain or
generalized plane strain, traction-free boundaries). State at each of the 4 Gauss points of
every metal cell: plastic strain eps_p (xx, yy, xy, zz; tensor components, traceless) and the
equivalent plastic strain kappa. Constitutive update (total elastic law with E at the current
temperature, sigma = C(T) (eps - eps_th I - eps_p)), radial return:

    q_trial = sqrt(3/2 s_trial : s_trial),  f = q_trial - (f_y(T) + H(T) kappa),
    d kappa = max(f, 0) / (3 mu + H),  s = s_trial (1 - 3 mu d kappa / q_trial),
    eps_p += 3/2 d kappa s_trial / q_trial.

Each saved temperature field is one load increment (a ``lax.scan``); equilibrium
B^T sigma(u) = 0 is solved by a safeguarded inexact Newton method until the force residual is
below ``newton_tol`` (at most ``newton_iterations`` iterations): the consistent tangent
(``jax.linearize`` of the residual, symmetric for associated J2, plus 1 % of the elastic
stiffness) when its step halves the residual, else a modified-Newton step with the elastic
stiffness. Linear systems: Jacobi-preconditioned CG (diagonal of the elastic stiffness at the
current temperature) to a loose relative tolerance (inexact Newton: each iteration cuts the
residual by about that factor, so a tight CG tolerance would only repeat work the next Newton
iteration redoes; an increment that is elastic converges in one or two iterations).
The reported ``residual`` is the largest nodal force imbalance after the last iteration divided
by sigma_ref sqrt(dx dy) (sigma_ref = min(f_y,20, E_20 / 1000), a yield-level stress on one cell
face); the axial (generalized plane strain) residuals are divided by sigma_ref A and
sigma_ref A sqrt(A). 1e-6 (the default ``newton_tol``) is about 2e-4 MPa for S355. Rigid modes
are removed as in the elastic solver. Not differentiable (CG in a while loop); use the elastic
solver for gradients.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from ._errors import require
from ._geometry import Grid
from ._pytree import pytree_dataclass
from ._stress_fem import (
    MIN_WALL_CELLS,
    default_tolerance,
    elastic_stress,
    gauss_to_cells,
    geometry,
    operators,
    pcg,
    probe_diagonal,
)
from ._stress_material import MechanicalMaterial
from ._stress_section import cell_fields, check_section, default_maxiter, penalty

REGULARISATION = 1e-2  # share of the elastic stiffness added to the consistent tangent
NEWTON_TOL = 1e-6  # normalised force residual at which an increment counts as converged
CG_TOL = 1e-4  # relative CG tolerance per Newton iteration in float64 (inexact Newton)


@pytree_dataclass
class SectionHistory:
    """Elastic-plastic section over a temperature history (leading axis: time, n_t).

    Attributes:
        sxx, syy, sxy, szz, von_mises, max_principal: per-cell stresses, Pa, [n_t, nx, ny].
        equivalent_plastic_strain: per-cell mean kappa, [n_t, nx, ny].
        axial: (c0, c1, c2) per time, [n_t, 3].
        residual: normalised force imbalance after the Newton iterations, [n_t].
        iterations: CG iterations summed over the Newton iterations, [n_t].
        newton_iterations: Newton iterations taken, [n_t].
    """

    sxx: Array
    syy: Array
    sxy: Array
    szz: Array
    von_mises: Array
    max_principal: Array
    equivalent_plastic_strain: Array
    axial: Array
    residual: Array
    iterations: Array
    newton_iterations: Array


def return_map(e: Array, eth: Array, ep: Array, kap: Array, E: Array, nu: Array, fy: Array,
               H: Array) -> tuple[Array, Array, Array]:
    """J2 radial return. e: total strain (xx, yy, gamma_xy, zz); ep: plastic (xx, yy, xy, zz).

    Returns stress (xx, yy, xy, zz), the new eps_p and kappa.
    """
    mu = E / (2.0 * (1.0 + nu))
    zero = jnp.zeros_like(eth)
    eps_e = e - jnp.stack([eth, eth, zero, eth], -1) - ep * jnp.asarray([1.0, 1.0, 2.0, 1.0],
                                                                         e.dtype)
    s_tr = elastic_stress(eps_e, E, nu)
    p = (s_tr[..., 0] + s_tr[..., 1] + s_tr[..., 3]) / 3.0
    dev = s_tr - p[..., None] * jnp.asarray([1.0, 1.0, 0.0, 1.0], e.dtype)
    q2 = 1.5 * (dev[..., 0] ** 2 + dev[..., 1] ** 2 + dev[..., 3] ** 2 + 2 * dev[..., 2] ** 2)
    plastic = q2 > (fy + H * kap) ** 2
    q = jnp.sqrt(jnp.where(plastic, q2, 1.0))
    dk = jnp.where(plastic, (q - fy - H * kap) / (3.0 * mu + H), 0.0)
    n = 1.5 * dev / q[..., None]  # flow direction, tensor components
    s = s_tr - (2.0 * mu * dk)[..., None] * n
    return s, ep + dk[..., None] * n, kap + dk


def section_plastic(T_hist: Array, grid: Grid, material: MechanicalMaterial,
                    kind: str = "generalized", newton_iterations: int = 12,
                    tol: float | None = None, maxiter: int | None = None,
                    newton_tol: float = NEWTON_TOL) -> SectionHistory:
    """Plastic section history for T_hist (K, [n_t, nx, ny]); no checks, jit-safe."""
    shape = (grid.shape[0], grid.shape[1])  # 2D, checked by check_section_grid
    dtype = T_hist.dtype
    tol = max(CG_TOL, 10 * default_tolerance(dtype)) if tol is None else tol
    maxiter = default_maxiter(shape) if maxiter is None else maxiter
    geo = geometry(grid)
    ops = operators(geo, shape, kind == "generalized")
    w = geo.weight[:, :, None, None]
    nu = material.nu
    metal = grid.metal()
    zero = jnp.zeros((), dtype)
    # A yield-level stress (f_y,20, or E_20 / 1000 when that is lower or f_y is "infinite").
    sigma_ref = jnp.minimum(material.fy20, 1e-3 * material.youngs_modulus(material.T_ref))
    scale = sigma_ref * jnp.sqrt(geo.dx * geo.dy)
    area = jnp.sum(metal) * geo.dx * geo.dy
    axial_scale = sigma_ref * area * jnp.stack([1.0, jnp.sqrt(area), jnp.sqrt(area)])
    # float32 cannot resolve forces much below 1e-5 of the yield level.
    newton_tol = max(newton_tol, 1e3 * float(jnp.finfo(dtype).eps))

    def imbalance(r: Array) -> Array:
        """Normalised force residual: nodal forces / (sigma_ref cell side), axial ones /
        (sigma_ref A) and (sigma_ref A sqrt(A))."""
        return jnp.maximum(jnp.max(jnp.abs(r[:-3])) / scale,
                           jnp.max(jnp.abs(r[-3:]) / axial_scale))

    def increment(carry, T):
        v, ep, kap = carry
        E = material.youngs_modulus(T)[:, :, None]
        fy = material.yield_strength(T)[:, :, None]
        H = material.hardening_modulus(T)[:, :, None]
        eth = material.thermal_strain(T)[:, :, None]

        def residual(v: Array) -> Array:
            s, _, _ = return_map(ops.B(v), eth, ep, kap, E, nu, fy, H)
            return ops.Bt(w * s)

        def stiffness(v: Array) -> Array:
            return ops.Bt(w * elastic_stress(ops.B(v), E, nu))

        diag = probe_diagonal(lambda v: stiffness(v) + ops.constrain(v, zero), shape, dtype)
        beta = penalty(diag, geo.active)
        inv_diag = 1.0 / diag

        def newton(state):
            # Safeguarded Newton: the consistent-tangent step (regularised by a small share of
            # the elastic stiffness, since the perfectly plastic tangent is nearly singular)
            # is kept when it reduces the force residual by half; otherwise a modified-Newton
            # step with the elastic stiffness (never overshoots) is taken instead.
            v, r, its, k = state
            _, tangent = jax.linearize(residual, v)
            rn = jnp.linalg.norm(r[:-3]) + jnp.linalg.norm(r[-3:])
            dv, (k1, _) = pcg(
                lambda x: tangent(x) + REGULARISATION * stiffness(x) + ops.constrain(x, beta),
                -r, inv_diag, tol, maxiter)
            r_t = residual(v + dv)
            good = jnp.linalg.norm(r_t[:-3]) + jnp.linalg.norm(r_t[-3:]) <= 0.5 * rn

            def elastic_step(_: None) -> tuple[Array, Array, Array]:
                dv_e, (k2, _) = pcg(lambda x: stiffness(x) + ops.constrain(x, beta), -r,  # type: ignore[assignment]
                                    inv_diag, tol, maxiter)
                return v + dv_e, residual(v + dv_e), k2

            v_new, r_new, k2 = jax.lax.cond(
                good, lambda _: (v + dv, r_t, jnp.zeros((), jnp.int32)), elastic_step, None)
            return v_new, r_new, its + k1 + k2, k + 1

        def unconverged(state) -> Array:
            _, r, _, k = state
            return (imbalance(r) > newton_tol) & (k < newton_iterations)

        zero_i = jnp.zeros((), jnp.int32)
        v, _, its, n_newton = jax.lax.while_loop(unconverged, newton,
                                                 (v, residual(v), zero_i, zero_i))
        s, ep, kap = return_map(ops.B(v), eth, ep, kap, E, nu, fy, H)
        r = ops.Bt(w * s)
        res = imbalance(r)
        fields = cell_fields(s, metal)
        out = (*fields, gauss_to_cells(kap) * metal, v[-3:], res, its, n_newton)
        return (v, ep, kap), out

    n = ops.n
    init = (jnp.zeros((n,), dtype), jnp.zeros((*shape, 4, 4), dtype),
            jnp.zeros((*shape, 4), dtype))
    _, out = jax.lax.scan(increment, init, T_hist)
    sxx, syy, sxy, szz, vm, p1, kap, axial, res, its, n_newton = out
    return SectionHistory(sxx=sxx, syy=syy, sxy=sxy, szz=szz, von_mises=vm, max_principal=p1,
                          equivalent_plastic_strain=kap, axial=axial, residual=res,
                          iterations=its, newton_iterations=n_newton)


_section_plastic_jit = jax.jit(section_plastic, static_argnames=(
    "kind", "newton_iterations", "tol", "maxiter", "newton_tol"))


def section_history(T_hist: Array, grid: Grid, material: MechanicalMaterial,
                    kind: str = "generalized", newton_iterations: int = 12,
                    tol: float | None = None, maxiter: int | None = None,
                    min_wall_cells: int = MIN_WALL_CELLS,
                    newton_tol: float = NEWTON_TOL) -> SectionHistory:
    """Incremental J2 plasticity of a cross-section over a temperature history.

    Args:
        T_hist: temperatures, K, [n_t, nx, ny] (e.g. ``Trajectory.temperature``); the section
            is stress-free at ``material.T_ref`` before the first field, so start the history
            at a uniform temperature to get stresses relative to that state.
        grid: the 2D (masked) grid of the thermal solve.
        material: a :class:`MechanicalMaterial` (``hardening`` = 0: perfectly plastic).
        kind: ``generalized`` (default) or ``plane_strain``.
        newton_iterations: most Newton iterations per increment (static); check ``residual``.
        tol: relative CG tolerance per Newton iteration (default 1e-4 in float64).
        newton_tol: stop an increment's Newton iterations when the normalised force
            residual (see ``SectionHistory.residual``) is below it (default 1e-6; float32
            cannot go below about 1e-4).
        maxiter: CG iteration cap per Newton iteration.
        min_wall_cells: minimum cells through the thinnest wall.

    Returns:
        :class:`SectionHistory`; its last row is the residual stress once the temperature is
        uniform again.
    """
    mat = check_section(grid, material, kind, min_wall_cells)
    T_hist = jnp.asarray(T_hist)
    require(T_hist.ndim == 3 and T_hist.shape[1:] == grid.shape, "stress.temperature",
            f"array of shape {T_hist.shape}", f"[n_t, {grid.shape[0]}, {grid.shape[1]}] in K",
            "pass Trajectory.temperature of the same grid")
    return _section_plastic_jit(T_hist, grid, mat, kind, newton_iterations, tol, maxiter,
                                newton_tol)
