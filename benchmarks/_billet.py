"""Benchmark case (a): a 150 × 150 mm billet heated by convection, with an exact solution.

PDE: ρc ∂T/∂t = k ∇²T on −L ≤ x, y ≤ L (L = 75 mm), −k ∂T/∂n = h (T − T∞) on all four faces,
T = Tᵢ at t = 0; k = 35 W/(m·K), ρ = 7850 kg/m³, c = 650 J/(kg·K), h = 150 W/(m²·K),
T∞ = 1250 °C, Tᵢ = 25 °C. Exact: T = T∞ + (Tᵢ − T∞) θ*_wall(x) θ*_wall(y)
(`steeltwin.engine.analytic.rectangle_theta`).

NumPy/SciPy baseline: vertex-centred finite volumes on a regular grid of `n_cells` cells across
the full width, solved on the quarter (0 ≤ x, y ≤ L) by symmetry: nodes xᵢ = i Δx, i = 0..n/2,
half cells on the symmetry lines and the faces (a quarter cell at corners), the face node
carrying h(T∞ − Tᵢ) at its own temperature. Semi-discrete M dT/dt = −S T + b, with M = ρc V
(diagonal) and S = Kₓ ⊗ V + V ⊗ K_y assembled from 1D operators by Kronecker products.
Crank–Nicolson: (M/Δt + S/2) Tⁿ⁺¹ = (M/Δt − S/2) Tⁿ + b, i.e. Tⁿ⁺¹ = A⁻¹(2M/Δt Tⁿ + b) − Tⁿ
with A = M/Δt + S/2 factorised once by `scipy.sparse.linalg.splu`. Crank–Nicolson is not
L-stable and the Robin condition switches on at t = 0, so by default the first step is replaced
by two backward-Euler half steps (Rannacher start-up), (2M/Δt + S) Tⁿ⁺¹ᐟ² = 2M/Δt Tⁿ + b, whose
matrix is 2A: the same factorisation serves both.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.sparse.linalg import splu

from steeltwin.engine.analytic import rectangle_theta

HALF_WIDTH = 0.075  # m
K, RHO, C = 35.0, 7850.0, 650.0  # W/(m·K), kg/m³, J/(kg·K)
ALPHA = K / (RHO * C)  # m²/s
H = 150.0  # W/(m²·K)
T_INF, T_INITIAL = 1250.0, 25.0  # °C
T_OUT = (600.0, 3600.0)

Array = NDArray[np.float64]


def exact_billet(x: Array, y: Array, t: float) -> Array:
    """Exact temperature in °C at (x, y) in m from the billet centre, time t in s."""
    theta = rectangle_theta(x, y, t, (HALF_WIDTH, HALF_WIDTH), ALPHA, H, K)
    return T_INF + (T_INITIAL - T_INF) * theta


def step_counts(dt: float, t_out) -> list[int]:
    """Steps to each output time; raises unless every t_out is a multiple of dt."""
    counts = [round(t / dt) for t in t_out]
    if any(
        not np.isclose(n * dt, t, rtol=0, atol=1e-9) for n, t in zip(counts, t_out, strict=True)
    ):
        raise ValueError(f"t_out={t_out} s must be multiples of dt={dt} s")
    return counts


def _operator_1d(n_nodes: int, dx: float) -> tuple[sparse.csr_matrix, Array]:
    """1D conduction + Robin operator K (W/(m²·K)) and half-cell volumes V (m)."""
    main = np.full(n_nodes, 2.0 * K / dx)
    main[[0, -1]] = K / dx
    main[-1] += H
    off = np.full(n_nodes - 1, -K / dx)
    volume = np.full(n_nodes, dx)
    volume[[0, -1]] = dx / 2
    return sparse.diags([off, main, off], [-1, 0, 1], format="csr"), volume


def scipy_cn_billet(n_cells: int, dt: float, t_out=T_OUT, *, rannacher: bool = True) -> dict:
    """Crank–Nicolson finite-volume solution of case (a) with a prefactored sparse LU.

    Args:
        n_cells: cells across the full 150 mm width (even; (n/2 + 1)² unknowns are solved).
        dt: time step in s; every t_out must be a multiple of it.
        t_out: output times in s.
        rannacher: start with two backward-Euler half steps instead of one CN step.

    Returns:
        dict with x (node coordinates from the centre, m, the same along y), t, and fields
        (°C, shape (len(t_out), n/2 + 1, n/2 + 1), indexed [time, x, y]).
    """
    if n_cells < 2 or n_cells % 2:
        raise ValueError(f"n_cells={n_cells} must be even (quarter symmetry)")
    m = n_cells // 2 + 1
    dx = HALF_WIDTH / (m - 1)
    k1, v1 = _operator_1d(m, dx)
    vol = sparse.diags(v1)
    stiffness = sparse.kron(k1, vol) + sparse.kron(vol, k1)
    mass = RHO * C * np.kron(v1, v1)
    face = np.zeros(m)
    face[-1] = 1.0
    load = H * T_INF * (np.kron(face, v1) + np.kron(v1, face))
    lu = splu((sparse.diags(mass / dt) + 0.5 * stiffness).tocsc())
    two_m_dt = 2.0 * mass / dt

    temp = np.full(m * m, T_INITIAL)
    fields, done = [], 0
    for n_steps in step_counts(dt, t_out):
        for i in range(done, n_steps):
            if i == 0 and rannacher:
                for _ in range(2):  # A⁻¹ (M/Δt Tⁿ + b/2): backward Euler over Δt/2
                    temp = lu.solve(0.5 * (two_m_dt * temp + load))
            else:
                temp = lu.solve(two_m_dt * temp + load) - temp
        done = n_steps
        fields.append(temp.reshape(m, m).copy())
    return {"x": np.arange(m) * dx, "t": np.asarray(t_out, dtype=float), "fields": np.array(fields)}


def billet_errors(result: dict) -> Array:
    """Max |T − T_exact| in K over the grid nodes, one value per output time."""
    x = result["x"]
    return np.array(
        [
            np.abs(field - exact_billet(x[:, None], x[None, :], t)).max()
            for t, field in zip(result["t"], result["fields"], strict=True)
        ]
    )
