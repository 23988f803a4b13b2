"""Time schemes: one step of explicit Euler or the implicit theta-method, in enthalpy form.

Both advance the volumetric enthalpy H (J/m^3) of every cell,

    H^{n+1} = H^n + dt [theta D(T^{n+1}, t^{n+1}) + (1 - theta) D(T^n, t^n)],    T = T(H),

with D the finite-volume heat balance (``_balance``). theta = 0 is explicit Euler, 1 backward
Euler (first order, L-stable), 1/2 Crank-Nicolson (second order).

Implicit solve. T^{n+1} is found by quasi-Newton iterations on the residual
R(T) = (H(T) - H^n)/dt - theta D(T) - (1 - theta) D^n with the Jacobian approximated by
J = C/dt + theta A, where C is the chord capacity (H(T) - H^n)/(T - T^n) (robust across the
735 degC peak of c, where a pointwise c would oscillate), and A the conduction and linearised
boundary operator with k frozen (symmetric positive semi-definite). In 1D J is tridiagonal and
solved exactly. In 2D/3D there are two linear solvers (``Scheme.linear_solver``):

- ``"krylov"`` (default): BiCGStab on J, preconditioned by the approximate factorisation of J
  into one tridiagonal solve per axis (ADI), to a relative tolerance of ~1e-10 in float64
  (~3e-6 in float32). Accurate for any mask and any step.
- ``"adi"``: a single approximate-factorisation solve per iteration (Douglas-Gunn ADI in delta
  form). O(cells) per iteration and unconditionally stable; with one iteration on a linear
  problem it is the classical second-order Douglas-Gunn scheme, but it leaves a splitting
  residual, so it is the fast option for smooth box-grid problems (benchmarks), not the default.

Conservation. With an exact linear solve (1D, or ``krylov``) the enthalpy is finally updated
with the balance evaluated at the last iterate, exactly as written above, and
T^{n+1} = T(H^{n+1}): the enthalpy change equals the boundary heat to round-off; what is left
of the nonlinear residual shows as a small change T(H^{n+1}) - T^K, reported as ``residual``
(K). A step whose iterations are too far from convergence for that update to be safe (change
above ``CONSERVATIVE_UPDATE_LIMIT`` = 5 K) keeps the last iterate instead: stable, with an
energy defect of that step's residual; raise ``iterations`` or lower dt when it shows.
With ``adi`` that correction
would be unstable (it applies the stiff operator explicitly to the splitting error, large in
the highest grid modes), so T^{n+1} is the last iterate, the energy balance holds only to the
remaining residual, and ``residual`` reports dt |R| / C in K.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax import Array
from jax.lax.linalg import tridiagonal_solve
from jax.scipy.sparse.linalg import bicgstab

from ._balance import Balance, heat_balance
from ._boundary import Boundary
from ._geometry import Grid
from ._material import AbstractMaterial


@dataclasses.dataclass(frozen=True)
class Scheme:
    """Static description of a time scheme.

    Attributes:
        theta: 0 explicit Euler, 1 backward Euler, 0.5 Crank-Nicolson.
        iterations: quasi-Newton iterations per implicit step (ignored when explicit).
        linear_solver: ``"krylov"`` or ``"adi"`` for 2D/3D (1D is always solved exactly).
        krylov_maxiter: iteration cap of the Krylov solver.
    """

    theta: float = 1.0
    iterations: int = 2
    linear_solver: str = "krylov"
    krylov_maxiter: int = 200

    def __post_init__(self) -> None:
        if self.linear_solver not in ("krylov", "adi"):
            raise ValueError(f"linear_solver={self.linear_solver!r}: expected 'krylov' or 'adi'")

    @property
    def explicit(self) -> bool:
        return self.theta == 0.0


EXPLICIT = Scheme(theta=0.0, iterations=0)


def backward_euler(iterations: int = 2, linear_solver: str = "krylov") -> Scheme:
    return Scheme(theta=1.0, iterations=iterations, linear_solver=linear_solver)


def crank_nicolson(iterations: int = 2, linear_solver: str = "krylov") -> Scheme:
    return Scheme(theta=0.5, iterations=iterations, linear_solver=linear_solver)


# K: largest change the conservative enthalpy update may make to the last implicit iterate.
CONSERVATIVE_UPDATE_LIMIT = 5.0

# Lines up to this length are solved by an unrolled Thomas algorithm: pure elementwise
# operations across all lines (and across a vmapped batch) that XLA fuses, instead of one
# LAPACK gtsv call per line, which dominates the cost of small batched problems on CPU.
_UNROLL_MAX = 16


def _thomas_unrolled(dl: Array, d: Array, du: Array, b: Array) -> Array:
    """Thomas algorithm along axis 0 (diagonally dominant systems: no pivoting needed)."""
    n = d.shape[0]
    c_prime = [du[0] / d[0]]
    d_prime = [b[0] / d[0]]
    for i in range(1, n):
        denom = d[i] - dl[i] * c_prime[-1]
        c_prime.append(du[i] / denom)
        d_prime.append((b[i] - dl[i] * d_prime[-1]) / denom)
    x = [d_prime[-1]]
    for i in range(n - 2, -1, -1):
        x.append(d_prime[i] - c_prime[i] * x[-1])
    return jnp.stack(x[::-1])


def _line_solve(diag: Array, lower: Array, upper: Array, rhs: Array, axis: int) -> Array:
    """Solve tridiagonal systems along ``axis`` (all other axes are independent lines)."""
    if diag.shape[axis] <= _UNROLL_MAX:
        mv0 = lambda x: jnp.moveaxis(x, axis, 0)  # noqa: E731
        x = _thomas_unrolled(mv0(lower), mv0(diag), mv0(upper), mv0(rhs))
        return jnp.moveaxis(x, 0, axis)
    mv = lambda x: jnp.moveaxis(x, axis, -1)  # noqa: E731
    d, dl, du, b = mv(diag), mv(lower), mv(upper), mv(rhs)
    x = tridiagonal_solve(dl, d, du, b[..., None])[..., 0]
    return jnp.moveaxis(x, -1, axis)


def _pad(x: Array, axis: int, before: int, after: int) -> Array:
    widths = [(0, 0)] * x.ndim
    widths[axis] = (before, after)
    return jnp.pad(x, widths)


def _implicit_correction(residual: Array, capacity: Array, balance: Balance, dt: Array,
                         theta: float) -> Array:
    """Delta T from (C/dt + theta A) dT = -R, A split per axis (exact in 1D)."""
    ndim = residual.ndim
    z = -residual * dt / capacity
    for a in range(ndim):
        w = theta * dt / capacity
        cond = balance.face_conductance[a]
        c_lo = _pad(cond, a, 1, 0)  # conductance to the minus neighbour
        c_hi = _pad(cond, a, 0, 1)
        diag = 1.0 + w * (c_lo + c_hi + balance.boundary_conductance[a])
        z = _line_solve(diag, -w * c_lo, -w * c_hi, z, a)
    return z


def _jacobian_apply(v: Array, capacity: Array, balance: Balance, dt: Array, theta: float,
                    mask: Array | None) -> Array:
    """(C/dt + theta A) v with the frozen conductances of ``balance``."""
    Av = jnp.zeros_like(v)
    for a in range(v.ndim):
        idx_lo = [slice(None)] * v.ndim
        idx_hi = [slice(None)] * v.ndim
        idx_lo[a], idx_hi[a] = slice(None, -1), slice(1, None)
        flow = balance.face_conductance[a] * (v[tuple(idx_hi)] - v[tuple(idx_lo)])
        Av = Av - _pad(flow, a, 0, 1) + _pad(flow, a, 1, 0) + balance.boundary_conductance[a] * v
    out = capacity / dt * v + theta * Av
    if mask is not None:
        out = jnp.where(mask, out, capacity / dt * v)
    return out


def _krylov_correction(residual: Array, capacity: Array, balance: Balance, dt: Array,
                       theta: float, mask: Array | None, maxiter: int) -> Array:
    """Delta T from (C/dt + theta A) dT = -R by ADI-preconditioned BiCGStab."""
    tol = float(jnp.finfo(residual.dtype).eps) ** 0.5 * 1e-2

    def matvec(v: Array) -> Array:
        return _jacobian_apply(v, capacity, balance, dt, theta, mask)

    def precondition(r: Array) -> Array:
        return _implicit_correction(-r, capacity, balance, dt, theta)

    x0 = precondition(-residual)
    dT, _ = bicgstab(matvec, -residual, x0=x0, tol=tol, maxiter=maxiter, M=precondition)
    return dT


def step(H: Array, T: Array, t: Array, dt: Array, grid: Grid, material: AbstractMaterial,
         boundary: Boundary, scheme: Scheme) -> tuple[Array, Array, Array, Array]:
    """Advance one step of ``dt`` seconds from (H^n, T^n) at time ``t``.

    Returns H^{n+1}, T^{n+1}, the heat entering per face group during the step (J; per metre
    in 2D, per m^2 in 1D), and the unconverged residual dt |R| / C in K (zero where the update
    is conservative by form: explicit, and implicit 1D).
    """
    theta = scheme.theta
    prev = heat_balance(T, grid, material, boundary.at(t), boundary.fixed)
    zero = jnp.zeros((), T.dtype)
    if scheme.explicit:
        gain = prev.divergence
        heat = dt * prev.heat_rate
    else:
        faces = boundary.at(t + dt, limit="left")
        bal0 = heat_balance(T, grid, material, faces, boundary.fixed)

        def iterate(_: int, carry: tuple[Array, Balance]) -> tuple[Array, Balance]:
            Tk, bal = carry
            Hk = material.enthalpy(Tk)
            R = (Hk - H) / dt - theta * bal.divergence - (1.0 - theta) * prev.divergence
            if grid.mask is not None:
                R = jnp.where(grid.mask, R, 0.0)
            C = material.chord_capacity(Tk, T)
            if grid.ndim > 1 and scheme.linear_solver == "krylov":
                dT = _krylov_correction(R, C, bal, dt, theta, grid.mask, scheme.krylov_maxiter)
            else:
                dT = _implicit_correction(R, C, bal, dt, theta)
            Tk = Tk + dT
            return Tk, heat_balance(Tk, grid, material, faces, boundary.fixed)

        # A fixed-count loop: differentiable, and compiled once however many iterations.
        Tk, bal = jax.lax.fori_loop(0, scheme.iterations, iterate, (T, bal0))
        gain = theta * bal.divergence + (1.0 - theta) * prev.divergence
        heat = dt * (theta * bal.heat_rate + (1.0 - theta) * prev.heat_rate)
        if grid.ndim > 1 and scheme.linear_solver == "adi":
            H_new = material.enthalpy(Tk)
            if grid.mask is not None:
                H_new = jnp.where(grid.mask, H_new, H)
            residual = jnp.max(jnp.abs(H_new - H - dt * gain) / material.capacity(Tk))
            return H_new, Tk, heat, residual
    H_new = H + dt * gain
    T_new = material.temperature(H_new)
    if grid.mask is not None:
        T_new = jnp.where(grid.mask, T_new, T)
    if scheme.explicit:
        return H_new, T_new, heat, zero
    # The conservative update moves the last iterate by dt R / C. When the iterations have
    # converged that is tiny; when they have not (too few iterations for a stiff, strongly
    # nonlinear step) it is the Newton error multiplied by the step's stiffness, and applying
    # it would feed back and grow from step to step. Such a step keeps the last iterate (its
    # energy defect is the reported residual) instead of risking instability.
    residual = jnp.max(jnp.abs(T_new - Tk))
    converged = residual <= CONSERVATIVE_UPDATE_LIMIT
    H_out = jnp.where(converged, H_new, material.enthalpy(Tk))
    T_out = jnp.where(converged, T_new, Tk)
    if grid.mask is not None:
        H_out = jnp.where(grid.mask, H_out, H)
        T_out = jnp.where(grid.mask, T_out, T)
    return H_out, T_out, heat, residual
