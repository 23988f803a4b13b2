"""Propagators: the one interface that advances slab fields over a macro step.

A propagator maps (fields T [B, n] K, boundary inputs [B, n_knots, 2, 3], parameters [B, P],
see ``_slab``) to the fields after ``step_seconds``, with a spread (K, 0 for physics) and a
source code per row (:data:`SOURCES`). Three implementations:

- :class:`PhysicsPropagator`: the engine's finite-volume solver (Crank-Nicolson, EN 1993-1-2
  enthalpy form) over the step, the boundary linear between the knots;
- :class:`SurrogatePropagator`: a trained ensemble (``steeltwin.models.Surrogate``), mean and
spread;
- :class:`GuardedPropagator`: the surrogate where its input lies inside the training envelope
  and its spread is small, else the physics solver, per row, with the reason recorded.

``step_function`` is pure JAX (composes with ``jit``, ``lax.scan``, ``vmap`` and ``grad``), so
the predict API, the set-point advisor and the ensemble Kalman filter are written against it
only. ``step`` and ``rollout`` are the jitted host entry points; they pad the batch up to a
fixed bucket size so that, after ``warmup``, a request never triggers compilation.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from .._errors import ConfigError
from .._schemes import crank_nicolson
from .._solve import Scenario, solve
from ._slab import PARAM_NAMES, boundary_from_knots, material_tables, slab_grid_of, slab_material

SOURCES = ("physics", "surrogate", "fallback: outside the training envelope",
           "fallback: surrogate spread too large")
PHYSICS, SURROGATE, FALLBACK_ENVELOPE, FALLBACK_SPREAD = range(4)
BUCKETS = (1, 4, 16, 64, 256, 1024, 4096)

StepFunction = Callable[[Array, Array, Array], tuple[Array, Array, Array]]


def bucket_size(b: int, buckets: Sequence[int] = BUCKETS) -> int:
    """The smallest bucket holding ``b`` rows (a multiple of the largest beyond it)."""
    for size in buckets:
        if b <= size:
            return size
    top = buckets[-1]
    return -(-b // top) * top


def _pad(x: Array, size: int) -> Array:
    # Pad with copies of the first row: physical values, so padded rows never produce NaN.
    extra = size - x.shape[0]
    return x if extra == 0 else jnp.concatenate([x, jnp.repeat(x[:1], extra, axis=0)])


class AbstractPropagator(abc.ABC):
    """Advance slab fields over ``step_seconds`` (see the module doc for shapes and units)."""

    step_seconds: float
    n_knots: int
    cells: int
    dtype: Any

    @abc.abstractmethod
    def step_function(self) -> StepFunction:
        """Pure (T [B, n], inputs [B, n_knots, 2, 3], params [B, P]) -> (mean, spread, source)."""

    @property
    def knot_interval(self) -> float:
        return self.step_seconds / (self.n_knots - 1)

    def _compiled(self) -> tuple[Any, Any]:
        if getattr(self, "_jit_step", None) is None:
            fn = self.step_function()

            def roll(T0: Array, inputs: Array, params: Array) -> tuple[Array, Array, Array]:
                def body(T: Array, u: Array) -> tuple[Array, tuple[Array, Array, Array]]:
                    mean, spread, src = fn(T, u, params)
                    return mean, (mean, spread, src)

                _, (m, s, c) = jax.lax.scan(body, T0, jnp.moveaxis(inputs, 1, 0))
                return jnp.moveaxis(m, 0, 1), jnp.moveaxis(s, 0, 1), jnp.moveaxis(c, 0, 1)

            self._jit_step = jax.jit(fn)
            self._jit_rollout = jax.jit(roll)
        return self._jit_step, self._jit_rollout

    def check(self, T: Array, inputs: Array, params: Array, steps: bool = False) -> None:
        b = T.shape[0]
        want = (b, *(() if not steps else (inputs.shape[1],)), self.n_knots, 2, 3)
        if T.shape[1:] != (self.cells,):
            raise ConfigError(f"field shape={tuple(T.shape)} is invalid: expected [B, "
                              f"{self.cells}] (this propagator's cells); resample the field")
        if tuple(inputs.shape) != want:
            raise ConfigError(f"inputs shape={tuple(inputs.shape)} is invalid: expected "
                              f"{list(want)} (knots every {self.knot_interval:g} s); build "
                              "them with engine.twin.knot_inputs")
        if tuple(params.shape) != (b, len(PARAM_NAMES)):
            raise ConfigError(f"params shape={tuple(params.shape)} is invalid: expected "
                              f"[{b}, {len(PARAM_NAMES)}] with columns {', '.join(PARAM_NAMES)}")

    def step(self, T: Any, inputs: Any, params: Any) -> tuple[Array, Array, np.ndarray]:
        """One step for a batch (host entry point, padded to a bucket)."""
        T, inputs, params = (jnp.asarray(x, self.dtype) for x in (T, inputs, params))
        self.check(T, inputs, params)
        b = T.shape[0]
        size = bucket_size(b)
        step, _ = self._compiled()
        m, s, c = step(_pad(T, size), _pad(inputs, size), _pad(params, size))
        return m[:b], s[:b], np.asarray(c[:b])

    def rollout(self, T0: Any, inputs: Any, params: Any) -> tuple[Array, Array, np.ndarray]:
        """S consecutive steps: inputs [B, S, n_knots, 2, 3] -> fields, spreads [B, S, n] and
        sources [B, S] after each step."""
        T0, inputs, params = (jnp.asarray(x, self.dtype) for x in (T0, inputs, params))
        self.check(T0, inputs, params, steps=True)
        b = T0.shape[0]
        size = bucket_size(b)
        _, roll = self._compiled()
        m, s, c = roll(_pad(T0, size), _pad(inputs, size), _pad(params, size))
        return m[:b], s[:b], np.asarray(c[:b])

    def warmup(self, batch_sizes: Sequence[int] = (1, 64), n_steps: Sequence[int] = ()) -> None:
        """Compile ``step`` (and ``rollout`` for each count in ``n_steps``) for the buckets of
        ``batch_sizes``, so that later calls of those shapes never compile."""
        for b in batch_sizes:
            size = bucket_size(b)
            T = jnp.full((size, self.cells), 1000.0, self.dtype)
            u = jnp.tile(jnp.asarray([1400.0, 0.6, 0.0], self.dtype), (size, self.n_knots, 2, 1))
            p = jnp.tile(jnp.asarray([0.22, 1.0, 1.0, 0.0], self.dtype), (size, 1))
            jax.block_until_ready(self.step(T, u, p))
            for s in n_steps:
                us = jnp.repeat(u[:, None], s, axis=1)
                jax.block_until_ready(self.rollout(T, us, p))


class PhysicsPropagator(AbstractPropagator):
    """The finite-volume solver over each step: Crank-Nicolson with ``iterations``
    quasi-Newton iterations, ``step_seconds / dt`` sub-steps (EN 1993-1-2 tables)."""

    def __init__(self, cells: int = 24, step_seconds: float = 600.0, n_knots: int | None = None,
                 dt: float = 30.0, iterations: int = 2, dtype: Any = None) -> None:
        n_sub = step_seconds / dt
        if dt <= 0 or abs(n_sub - round(n_sub)) > 1e-9 or round(n_sub) < 1:
            raise ConfigError(f"propagator.dt={dt} is invalid: expected a positive divisor of "
                              f"the step ({step_seconds} s); e.g. {step_seconds / 20:g}")
        # Default: a knot at every sub-step, so the solver sees the schedule exactly where
        # steeltwin-simulate does (a ramp's kink or a zone change inside the macro step acts
        # at its own sub-step; coarser knots smeared a 300 s ramp: 0.3 K at 60 s knots).
        n_knots = round(n_sub) + 1 if n_knots is None else n_knots
        if n_knots < 2:
            raise ConfigError(f"propagator.n_knots={n_knots} is invalid: expected >= 2")
        self.cells, self.step_seconds, self.n_knots = int(cells), float(step_seconds), n_knots
        self.dt, self.n_sub, self.iterations = float(dt), round(n_sub), int(iterations)
        self.dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
        self.tables = material_tables(self.dtype)

    def step_function(self) -> StepFunction:
        tables, cells, n_sub = self.tables, self.cells, self.n_sub
        step_s, dt, scheme = self.step_seconds, self.dt, crank_nicolson(self.iterations)

        def one(T: Array, u: Array, p: Array) -> Array:
            sc = Scenario(grid=slab_grid_of(p, cells), material=slab_material(tables, p),
                          boundary=boundary_from_knots(u, step_s), initial_temperature=T)
            return solve(sc, jnp.asarray(dt, T.dtype), n_sub, n_sub, scheme).temperature[-1]

        def fn(T: Array, inputs: Array, params: Array) -> tuple[Array, Array, Array]:
            out = jax.vmap(one)(T, inputs, params)
            return out, jnp.zeros_like(out), jnp.full(T.shape[:1], PHYSICS, jnp.int32)

        return fn


class SurrogatePropagator(AbstractPropagator):
    """A trained surrogate ensemble: the members' mean, their spread times the calibrated
    ``spread_scale``. Runs in float32 (its training precision); returns ``dtype``."""

    def __init__(self, surrogate: Any, dtype: Any = None) -> None:
        cfg = surrogate.config
        if len(cfg.cells) != 1 or cfg.n_faces != 2:
            raise ConfigError(f"surrogate cells={list(cfg.cells)} is invalid for a slab "
                              "propagator: expected a 1D slab model (data=slab)")
        missing = [n for n in cfg.param_names if n not in PARAM_NAMES]
        if missing:
            raise ConfigError(f"surrogate param_names={list(cfg.param_names)} is invalid: "
                              f"{missing} are not slab parameters ({', '.join(PARAM_NAMES)})")
        self.surrogate = surrogate
        self.cells, self.step_seconds = cfg.cells[0], float(cfg.step_seconds)
        self.n_knots = cfg.horizon + 1
        self.dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
        self.columns = tuple(PARAM_NAMES.index(n) for n in cfg.param_names)

    def surrogate_params(self, params: Array) -> Array:
        return params[:, list(self.columns)]

    def step_function(self) -> StepFunction:
        from steeltwin.models import (
            ensemble_step,  # the twin layer sits above models (README: package layers)
        )

        sur, cols = self.surrogate, list(self.columns)
        scale = float(sur.spread_scale)

        def fn(T: Array, inputs: Array, params: Array) -> tuple[Array, Array, Array]:
            out = ensemble_step(sur.graphdef, sur.state, sur.normalizer, T.astype(jnp.float32),
                                inputs.astype(jnp.float32), params[:, cols].astype(jnp.float32))
            mean, spread = out.mean(0).astype(T.dtype), (scale * out.std(0)).astype(T.dtype)
            return mean, spread, jnp.full(T.shape[:1], SURROGATE, jnp.int32)

        return fn


class GuardedPropagator(AbstractPropagator):
    """Surrogate inside its envelope, physics otherwise (per row).

    A row falls back to physics when its envelope distance exceeds ``max_distance`` (0: any
    input outside the ranges seen in training) or the surrogate's largest spread exceeds
    ``max_spread`` K. The physics solver runs only when some row of the batch falls back
    (``lax.cond``), so a batch inside the envelope costs the surrogate alone.
    """

    def __init__(self, surrogate: SurrogatePropagator, physics: PhysicsPropagator,
                 max_distance: float = 0.0, max_spread: float = 10.0) -> None:
        if (physics.cells, physics.n_knots) != (surrogate.cells, surrogate.n_knots) or \
                abs(physics.step_seconds - surrogate.step_seconds) > 1e-9:
            raise ConfigError(
                f"physics propagator (cells {physics.cells}, step {physics.step_seconds} s, "
                f"{physics.n_knots} knots) does not match the surrogate (cells "
                f"{surrogate.cells}, step {surrogate.step_seconds} s, {surrogate.n_knots} "
                "knots); build PhysicsPropagator with the surrogate's cells and step")
        self.surrogate, self.physics = surrogate, physics
        self.max_distance, self.max_spread = float(max_distance), float(max_spread)
        self.cells, self.step_seconds, self.n_knots = (surrogate.cells, surrogate.step_seconds,
                                                       surrogate.n_knots)
        self.dtype = physics.dtype

    def step_function(self) -> StepFunction:
        sur_fn, phys_fn = self.surrogate.step_function(), self.physics.step_function()
        env, sur = self.surrogate.surrogate.envelope, self.surrogate
        max_d, max_s = self.max_distance, self.max_spread

        def fn(T: Array, inputs: Array, params: Array) -> tuple[Array, Array, Array]:
            mean, spread, _ = sur_fn(T, inputs, params)
            dist = env.distance_jax(T, inputs, sur.surrogate_params(params))
            outside = dist > max_d
            unsure = jnp.max(spread, axis=-1) > max_s
            code = jnp.where(outside, FALLBACK_ENVELOPE,
                             jnp.where(unsure, FALLBACK_SPREAD, SURROGATE)).astype(jnp.int32)
            back = code != SURROGATE

            def with_physics() -> tuple[Array, Array]:
                phys, _, _ = phys_fn(T, inputs, params)
                return (jnp.where(back[:, None], phys, mean),
                        jnp.where(back[:, None], 0.0, spread))

            m, s = jax.lax.cond(jnp.any(back), with_physics, lambda: (mean, spread))
            return m, s, code

        return fn


def source_names(codes: Any) -> list[str]:
    """Provenance strings for source codes."""
    return [SOURCES[int(c)] for c in np.ravel(codes)]


PROPAGATOR_KINDS = ("physics", "surrogate", "guarded")


def build_propagator(p: Mapping[str, Any]) -> Any:
    """The propagator of a ``propagator`` config section (``conf/propagator/*.yaml``), checked:
    ``kind`` physics | surrogate | guarded; a surrogate's ``model`` run directory must exist.
    Shared by ``steeltwin-twin`` and ``steeltwin-serve``."""
    kind = p.get("kind")
    if kind not in PROPAGATOR_KINDS:
        raise ConfigError(f"propagator.kind={kind!r} is invalid: expected one of "
                          f"{', '.join(PROPAGATOR_KINDS)}")
    if kind == "physics":
        return PhysicsPropagator(cells=int(p["cells"]), step_seconds=float(p["step_seconds"]),
                                 dt=float(p["dt"]), iterations=int(p["iterations"]))
    path = Path(str(p.get("model")))
    if not path.is_dir():
        raise ConfigError(f"propagator.model={str(path)!r} is invalid: expected a "
                          "steeltwin-train run directory; train one (steeltwin-train) or use "
                          "propagator=physics")
    from steeltwin.models import load_surrogate

    sur = SurrogatePropagator(load_surrogate(path))
    if kind == "surrogate":
        return sur
    phys = PhysicsPropagator(cells=sur.cells, step_seconds=sur.step_seconds,
                             n_knots=sur.n_knots, dt=float(p.get("dt", 30.0)),
                             iterations=int(p.get("iterations", 2)))
    return GuardedPropagator(sur, phys, max_distance=float(p.get("max_distance", 0.0)),
                             max_spread=float(p.get("max_spread", 10.0)))
