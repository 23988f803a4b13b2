"""Thermal stress through the thickness of a free plate (1D slab grid), elastic and J2-plastic.

A thin plate (slab) whose temperature varies only through its thickness z, far from its edges,
carries an equibiaxial in-plane stress sigma_xx = sigma_yy = sigma(z), sigma_zz = 0, and its
in-plane strain is a plane, eps(z) = a + b z (Kirchhoff). Elastically

    sigma(z) = E(z) / (1 - nu) * [a + b z - eps_th(z) - eps_p(z)]

(Timoshenko & Goodier, *Theory of Elasticity*, 3rd ed., McGraw-Hill 1970, ch. 13; Boley &
Weiner, *Theory of Thermal Stresses*, Wiley 1960, ch. 9). a and b follow from the edge
conditions of the chosen ``mode``:

* ``free``: zero net force and moment, sum(sigma dz) = sum(sigma z dz) = 0;
* ``held_flat``: bending restrained (b = 0), zero net force;
* ``restrained``: no in-plane strain at all (a = b = 0).

The sums are cell-centre midpoint sums over the slab grid, so the discrete force and moment
vanish to rounding, whatever the temperature profile (z is measured from the mid-plane).

Plasticity (``plate_history``): J2 (von Mises) with temperature-dependent yield
sigma_y = f_y(T) + H(T) kappa (kappa the equivalent plastic strain). For the equibiaxial plane
stress state the von Mises stress is |sigma| and the flow direction keeps the state equibiaxial
(in-plane plastic strain d eps_p = d kappa / 2 sign(sigma), eps_p,zz = -2 eps_p), so the radial
return is exact and one-dimensional with the biaxial modulus E_b = E / (1 - nu):

    d kappa = max(|sigma_trial| - sigma_y, 0) / (E_b / 2 + H).

The history is a ``lax.scan`` over the saved temperature fields; at each one a, b are found by
a safeguarded Newton iteration: each iteration tries the Newton step with the consistent
tangent E_b H / (E_b / 2 + H) (floored at 1e-6 E_b) and the modified-Newton step with the
elastic tangent, and keeps the one with the smaller force/moment residual (plain Newton
oscillates when nearly the whole section yields; the elastic step cannot overshoot). The
elastic law is written in total form with E at the current temperature (sigma = E_b(T) eps_e).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import Array

from ._errors import require
from ._geometry import Grid
from ._pytree import pytree_dataclass
from ._stress_material import MechanicalMaterial, require_mechanical

PLATE_MODES = ("free", "held_flat", "restrained")
MIN_CELLS = 4  # fewer cells cannot represent a parabolic stress profile (error > 10 %)
TANGENT_FLOOR = 1e-6


@pytree_dataclass
class PlateStress:
    """Elastic plate stress (Pa) at one time: sigma_xx = sigma_yy = ``stress``, sigma_zz = 0.

    Attributes:
        stress: in-plane stress per cell, Pa, [n].
        von_mises: |stress| (equibiaxial), Pa.
        a, b: mid-plane strain and curvature, 1 and 1/m.
        thermal_strain: eps_th per cell.
    """

    stress: Array
    von_mises: Array
    a: Array
    b: Array
    thermal_strain: Array


@pytree_dataclass
class PlateHistory:
    """Elastic-plastic plate over a temperature history (leading axis: time, n_t).

    Attributes:
        stress: in-plane stress sigma_xx = sigma_yy, Pa, [n_t, n].
        von_mises: |stress|, Pa, [n_t, n].
        plastic_strain: in-plane plastic strain (xx = yy), [n_t, n].
        equivalent_plastic_strain: kappa, [n_t, n].
        a, b: mid-plane strain and curvature, [n_t].
        force_residual: |sum sigma dz| / (f_y,20 h) after the Newton iterations, [n_t].
    """

    stress: Array
    von_mises: Array
    plastic_strain: Array
    equivalent_plastic_strain: Array
    a: Array
    b: Array
    force_residual: Array


def check_plate(grid: Grid, material: object, mode: str) -> MechanicalMaterial:
    """Build-time checks (plain raise): 1D grid with >= MIN_CELLS cells, known mode, material."""
    mat = require_mechanical(material)
    require(grid.ndim == 1, "stress.grid", f"{grid.ndim}D grid", "a 1D slab grid",
            "use section_stress for 2D cross-sections")
    require(grid.shape[0] >= MIN_CELLS, "geometry.cells", grid.shape[0],
            f"at least {MIN_CELLS} cells through the thickness for a stress solve",
            "refine the slab grid (20-40 cells resolve the stress profile to < 1 %)")
    require(mode in PLATE_MODES, "stress.mode", mode, f"one of {PLATE_MODES}",
            "free: edges free; held_flat: bending restrained; restrained: no in-plane strain")
    return mat


def _coords(grid: Grid) -> tuple[Array, Array]:
    z = grid.centres(0) - 0.5 * grid.shape[0] * grid.spacing[0]
    w = grid.metal() * grid.spacing[0]
    return z, w


def _solve_ab(k: Array, r: Array, z: Array, w: Array, mode: str) -> tuple[Array, Array]:
    """a, b with sum(k w (a + b z)) = sum(w r), sum(k w z (a + b z)) = sum(w r z)."""
    zero = jnp.zeros((), z.dtype)
    if mode == "restrained":
        return zero, zero
    k0, k1, k2 = jnp.sum(w * k), jnp.sum(w * k * z), jnp.sum(w * k * z * z)
    f0, f1 = jnp.sum(w * r), jnp.sum(w * r * z)
    if mode == "held_flat":
        return f0 / k0, zero
    det = k0 * k2 - k1 * k1
    return (f0 * k2 - f1 * k1) / det, (k0 * f1 - k1 * f0) / det


def plate_elastic(T: Array, grid: Grid, material: MechanicalMaterial,
                  mode: str = "free") -> PlateStress:
    """Elastic plate stress for one temperature profile T (K, [n]); no checks, jit-safe."""
    z, w = _coords(grid)
    Eb = material.youngs_modulus(T) / (1.0 - material.nu)
    eth = material.thermal_strain(T)
    a, b = _solve_ab(Eb, Eb * eth, z, w, mode)
    s = Eb * (a + b * z - eth)
    return PlateStress(stress=s, von_mises=jnp.abs(s), a=a, b=b, thermal_strain=eth)


@partial(jax.jit, static_argnames=("mode",))
def _plate_stress_jit(T: Array, grid: Grid, material: MechanicalMaterial,
                      mode: str) -> PlateStress:
    return plate_elastic(T, grid, material, mode)


def plate_stress(T: Array, grid: Grid, material: MechanicalMaterial,
                 mode: str = "free") -> PlateStress:
    """Elastic free-plate stress (Pa) for temperatures T (K) of shape [*batch, n].

    Leading axes (e.g. the times of a ``Trajectory.temperature``) are mapped with ``vmap``.
    """
    mat = check_plate(grid, material, mode)
    T = jnp.asarray(T)
    fn = lambda t: _plate_stress_jit(t, grid, mat, mode)  # noqa: E731
    for _ in range(T.ndim - 1):
        fn = jax.vmap(fn)
    return fn(T)


def _return_map(eps: Array, eth: Array, ep: Array, kap: Array, T: Array,
                mat: MechanicalMaterial) -> tuple[Array, Array, Array, Array]:
    """Equibiaxial radial return: (sigma, eps_p, kappa, tangent d sigma / d eps)."""
    Eb = mat.youngs_modulus(T) / (1.0 - mat.nu)
    H = mat.hardening_modulus(T)
    s_tr = Eb * (eps - eth - ep)
    f = jnp.abs(s_tr) - (mat.yield_strength(T) + H * kap)
    plastic = f > 0
    dk = jnp.where(plastic, f, 0.0) / (0.5 * Eb + H)
    sign = jnp.sign(s_tr)
    s = s_tr - 0.5 * Eb * dk * sign
    tangent = jnp.where(plastic, Eb * H / (0.5 * Eb + H), Eb)
    return s, ep + 0.5 * dk * sign, kap + dk, jnp.maximum(tangent, TANGENT_FLOOR * Eb)


def plate_plastic(T_hist: Array, grid: Grid, material: MechanicalMaterial, mode: str = "free",
                  newton_iterations: int = 30) -> PlateHistory:
    """Elastic-plastic plate over temperatures T_hist (K, [n_t, n]); no checks, jit-safe.

    The state starts stress-free at T_hist[0] relative to ``material.T_ref`` (i.e. the first
    field is loaded elastically-plastically from the reference like any other step).
    """
    z, w = _coords(grid)
    dtype = T_hist.dtype
    n = T_hist.shape[-1]
    scale = material.fy20 * jnp.sum(w)
    zmax = jnp.max(jnp.abs(z))

    def increment(carry, T):
        ep, kap, a, b = carry
        eth = material.thermal_strain(T)
        Eb = material.youngs_modulus(T) / (1.0 - material.nu)

        def forces(a: Array, b: Array) -> tuple[Array, Array, Array]:
            s, _, _, kt = _return_map(a + b * z, eth, ep, kap, T, material)
            merit = jnp.abs(jnp.sum(w * s)) + jnp.abs(jnp.sum(w * s * z)) / zmax
            return s, kt, merit

        def newton(_, ab):
            # Two candidate steps on (sum s w, sum s z w) = 0: Newton with the consistent
            # tangent (fast near the solution) and modified Newton with the elastic tangent
            # (an upper bound of the tangent, so it never overshoots: robust when most of the
            # section yields). The one with the smaller residual is taken.
            a, b = ab
            s, kt, _ = forces(a, b)
            da, db = _solve_ab(kt, -s, z, w, mode)
            ea, eb = _solve_ab(Eb, -s, z, w, mode)
            m_newton = forces(a + da, b + db)[2]
            m_elastic = forces(a + ea, b + eb)[2]
            take = m_newton <= m_elastic
            return jnp.where(take, a + da, a + ea), jnp.where(take, b + db, b + eb)

        if mode == "restrained":
            a, b = jnp.zeros((), dtype), jnp.zeros((), dtype)
        else:
            a, b = jax.lax.fori_loop(0, newton_iterations, newton, (a, b))
        s, ep, kap, _ = _return_map(a + b * z, eth, ep, kap, T, material)
        res = jnp.abs(jnp.sum(w * s)) / scale
        return (ep, kap, a, b), (s, ep, kap, a, b, res)

    zeros = jnp.zeros((n,), dtype)
    zero = jnp.zeros((), dtype)
    _, (s, ep, kap, a, b, res) = jax.lax.scan(increment, (zeros, zeros, zero, zero), T_hist)
    return PlateHistory(stress=s, von_mises=jnp.abs(s), plastic_strain=ep,
                        equivalent_plastic_strain=kap, a=a, b=b, force_residual=res)


_plate_plastic_jit = jax.jit(plate_plastic, static_argnames=("mode", "newton_iterations"))


def plate_history(T_hist: Array, grid: Grid, material: MechanicalMaterial, mode: str = "free",
                  newton_iterations: int = 30) -> PlateHistory:
    """Incremental J2 plasticity of a plate driven by a temperature history.

    Args:
        T_hist: temperatures, K, [n_t, n] (e.g. ``Trajectory.temperature`` of a 1D solve); the
            plate is stress-free at ``material.T_ref`` before the first field.
        grid: the 1D slab grid of the thermal solve.
        material: a :class:`MechanicalMaterial`.
        mode: ``free``, ``held_flat`` or ``restrained`` (see module docstring).
        newton_iterations: Newton iterations on (a, b) per saved time (static).

    Returns:
        A :class:`PlateHistory`; the last row is the residual stress once the plate is back
        at a uniform temperature.
    """
    mat = check_plate(grid, material, mode)
    T_hist = jnp.asarray(T_hist)
    require(T_hist.ndim == 2 and T_hist.shape[1] == grid.shape[0], "stress.temperature",
            f"array of shape {T_hist.shape}", f"[n_t, {grid.shape[0]}] temperatures in K",
            "pass Trajectory.temperature of the same slab grid")
    return _plate_plastic_jit(T_hist, grid, mat, mode, newton_iterations)
