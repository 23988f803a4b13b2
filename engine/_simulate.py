"""``simulate``: the checked public entry point (validation, step choice, chunks, progress).

``solve`` is the compiled kernel for users who batch and differentiate; ``simulate`` is what
the app and most users call: it checks every input before computing, chooses the step so that
the end time and the save times are hit exactly, runs in chunks so long runs can report
progress (one compilation for all chunks), and raises if the result is not finite.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import ConfigError, require
from ._schemes import EXPLICIT, Scheme
from ._solve import Scenario, Trajectory, _assemble, advance, initial_state
from ._stability import check_scenario, stable_time_step

SCHEMES = ("explicit", "backward_euler", "crank_nicolson")


@dataclasses.dataclass(frozen=True)
class SolverSettings:
    """How to integrate in time.

    Attributes:
        t_end: simulated time, s.
        dt: time step, s (an upper bound: the step is shortened so save times are hit exactly).
        save_interval: time between saved fields, s.
        scheme: ``explicit``, ``backward_euler`` or ``crank_nicolson``.
        iterations: quasi-Newton iterations per implicit step; None picks 1 for constant
            properties without radiation (exact there) and 4 otherwise.
        explicit_dt: for the explicit scheme, ``error`` (raise if dt is above the stability
            limit) or ``auto`` (shorten dt to 0.9 of the limit).
        linear_solver: 2D/3D implicit linear solver, ``krylov`` (ADI-preconditioned BiCGStab,
            accurate, exact energy balance) or ``adi`` (one Douglas-Gunn sweep per iteration:
            fastest, leaves a splitting residual reported in ``Trajectory.residual``).
    """

    t_end: float
    dt: float = 30.0
    save_interval: float = 60.0
    scheme: str = "crank_nicolson"
    iterations: int | None = None
    explicit_dt: str = "error"
    linear_solver: str = "krylov"


def _validate(s: SolverSettings) -> None:
    require(s.scheme in SCHEMES, "solver.scheme", s.scheme, f"one of {SCHEMES}",
            "crank_nicolson is second order; backward_euler damps fast transients best")
    for key in ("t_end", "dt", "save_interval"):
        v = getattr(s, key)
        require(isinstance(v, int | float) and math.isfinite(v) and v > 0, f"solver.{key}", v,
                "a positive finite time in s", f"set solver.{key}")
    require(s.explicit_dt in ("error", "auto"), "solver.explicit_dt", s.explicit_dt,
            "'error' or 'auto'", "use auto to let the solver shorten the step")
    require(s.linear_solver in ("krylov", "adi"), "solver.linear_solver", s.linear_solver,
            "'krylov' or 'adi'", "krylov is accurate for any mask; adi is faster on box grids")
    require(s.iterations is None or (isinstance(s.iterations, int) and s.iterations >= 1),
            "solver.iterations", s.iterations, "null or an integer >= 1", "use null (auto)")


def resolve_scheme(scenario: Scenario, settings: SolverSettings) -> Scheme:
    if settings.scheme == "explicit":
        return EXPLICIT
    theta = 1.0 if settings.scheme == "backward_euler" else 0.5
    its = settings.iterations
    if its is None:
        radiating = bool(np.any(np.asarray(scenario.boundary.exchange_factor) > 0))
        its = 1 if scenario.material.is_linear and not radiating else 4
    return Scheme(theta=theta, iterations=its, linear_solver=settings.linear_solver)


def plan_steps(scenario: Scenario, settings: SolverSettings) -> tuple[float, int, int]:
    """(dt, n_save, save_every) such that n_save * save_every * dt == t_end."""
    _validate(settings)
    n_save = max(1, math.ceil(settings.t_end / settings.save_interval - 1e-9))
    interval = settings.t_end / n_save
    dt = settings.dt
    if settings.scheme == "explicit":
        limit = stable_time_step(scenario)
        if dt > limit:
            if settings.explicit_dt == "error":
                dx_mm = ", ".join(f"{1e3 * float(d):.3g}" for d in np.asarray(
                    scenario.grid.spacing))
                raise ConfigError(
                    f"solver.dt={dt} s exceeds the explicit stability limit {limit:.3g} s for "
                    f"dx=[{dx_mm}] mm; lower solver.dt, set solver.explicit_dt=auto, or use "
                    "solver.scheme=crank_nicolson")
            dt = 0.9 * limit
    save_every = max(1, math.ceil(interval / dt - 1e-9))
    return interval / save_every, n_save, save_every


_advance = jax.jit(advance, static_argnames=("n_save", "save_every", "scheme"))


def simulate(scenario: Scenario, settings: SolverSettings,
             progress: Callable[[float, float], None] | None = None,
             chunks: int = 20) -> Trajectory:
    """Check inputs, integrate, and raise if the solution is not finite.

    Args:
        scenario: the physical case (concrete values).
        settings: time integration settings.
        progress: called as ``progress(t_done, t_end)`` after each chunk.
        chunks: about how many pieces to run in (for progress; results are identical).
    """
    check_scenario(scenario)
    dt, n_save, save_every = plan_steps(scenario, settings)
    scheme = resolve_scheme(scenario, settings)
    per_chunk = max(d for d in range(1, n_save + 1)
                    if n_save % d == 0 and d <= max(1, n_save // max(chunks, 1)))
    state = s0 = initial_state(scenario)
    parts = []
    for _ in range(n_save // per_chunk):
        state, rec = _advance(state, scenario, jnp.asarray(dt, state.T.dtype), n_save=per_chunk,
                              save_every=save_every, scheme=scheme)
        parts.append(rec)
        if progress is not None:
            progress(float(state.t), settings.t_end)
    records = {k: jnp.concatenate([p[k] for p in parts]) for k in parts[0]}
    traj = _assemble(scenario, s0, records)
    if not bool(traj.finite):
        bad = int(np.argmax(~np.all(np.isfinite(np.asarray(traj.temperature)).reshape(
            traj.temperature.shape[0], -1), axis=1)))
        raise FloatingPointError(
            f"temperature became non-finite by t={float(traj.times[bad]):.1f} s with "
            f"scheme={settings.scheme}, dt={dt:.4g} s; lower solver.dt or use an implicit scheme")
    return traj
