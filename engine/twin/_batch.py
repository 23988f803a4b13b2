"""Many twins advanced together: ``assimilate_many``.

Each call adds every twin's readings (rewinding a twin that receives a reading older than its
clock), then runs cycles until every twin's clock has passed its own latest reading: each
step advances every twin that is behind by its own next cycle, all in one compiled call per
bucket of twins (``TWIN_BUCKETS``), whatever the twins' clocks.
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

import jax.numpy as jnp
import numpy as np
from jax import Array

from .._errors import ConfigError
from ._cycle import cycle_function
from ._measurements import MeasurementLog, Reading
from ._propagator import SOURCES, AbstractPropagator
from ._slab import material_tables


class BatchMember(Protocol):
    """What ``assimilate_many`` needs of a twin (``Twin`` has it; stated here so that this
    module does not import ``_twin``, whose methods call ``assimilate_many``)."""

    propagator: AbstractPropagator
    config: Any
    dtype: Any
    log: MeasurementLog
    params: Any
    snapshots: list[tuple[np.ndarray, np.ndarray] | None]
    last_sources: list[str]
    spread: np.ndarray  # [2, 3]: prior and walk std of the augmented columns

    @property
    def cycle_seconds(self) -> float: ...
    @property
    def cycle(self) -> int: ...
    @property
    def time(self) -> float: ...
    @property
    def fields(self) -> np.ndarray: ...
    @property
    def augmented(self) -> np.ndarray: ...
    def base_inputs(self, k: int) -> np.ndarray: ...
    def observations(self, k: int, m: int) -> tuple[dict[str, np.ndarray], list[Reading]]: ...
    def _count(self, k: int) -> int: ...
    def _rewind(self, t: float) -> None: ...

# Twins per batched cycle run in chunks of these sizes: few compiled programs (each takes
# seconds to compile) and no padding.
TWIN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096)

# Compiled cycles per propagator object, then per filter settings. Weak keys: a cycle lives
# as long as its propagator, and a new propagator never inherits an old one's program (an
# id() key did: a new object at a freed address got the stale program).
_CYCLES: weakref.WeakKeyDictionary[AbstractPropagator, dict[Any, Any]] = \
    weakref.WeakKeyDictionary()


def compiled_cycle(propagator: AbstractPropagator, cfg: Any, dtype: Any) -> Any:
    """The jitted cycle of ``propagator`` under the filter settings ``cfg`` (cached)."""
    programs = _CYCLES.setdefault(propagator, {})
    key = dataclasses.replace(cfg, seed=0)
    if key not in programs:
        programs[key] = cycle_function(
            propagator.step_function(), material_tables(dtype), propagator.step_seconds,
            cfg.method, cfg.gate, cfg.inflation, cfg.rtps_field, cfg.rtps_parameters,
            cfg.spread_floor, cfg.exchange_faces == "tied", cfg.interpolation_error,
            cfg.model_error, cfg.exchange_face_correlation, cfg.field_noise_std)
    return programs[key]


def _bucket(m: int) -> int:
    """Reading slots per twin and cycle: 4, 16, 64, ... (few compiled shapes)."""
    size = 4
    while size < m:
        size *= 4
    return size


def assimilate_many(twins: Sequence[BatchMember], readings: Sequence[Sequence[Reading]],
                    until: float | None = None) -> list[dict[str, Any]]:
    """Add each twin's readings, then advance the twins together, one batched propagator
    call and one vmapped analysis per step (each twin its own next cycle, whatever its
    clock), until each twin's clock has passed its own latest reading (and ``until`` s).
    Twins must share the propagator and filter settings.

    Returns per twin: accepted / duplicate / conflicting ids, the readings rejected (with the
    reason) and the clock.
    """
    if not twins:
        return []
    first = twins[0]
    for tw in twins[1:]:
        if tw.propagator is not first.propagator or \
                dataclasses.replace(tw.config, seed=0) != dataclasses.replace(first.config, seed=0):
            raise ConfigError("twins=[...] is invalid: assimilate_many expects twins sharing one "
                              "propagator and TwinConfig; group them by model (seeds may differ)")
    reports: list[dict[str, Any]] = []
    floor = -math.inf if until is None else float(until)
    c = first.cycle_seconds
    end_of: dict[int, int] = {}  # each twin runs until its own clock passes its own readings
    for tw, rs in zip(twins, readings, strict=True):
        added = tw.log.add(list(rs))
        if added.earliest_new is not None and added.earliest_new <= tw.time:
            tw._rewind(added.earliest_new)
        reports.append({"accepted": [r.id for r in added.accepted],
                        "duplicates": added.duplicates, "conflicts": added.conflicts})
        latest = tw.log.latest_time
        target = max(floor, -math.inf if latest is None else latest)
        end = max(math.ceil(target / c - 1e-9), 0) if math.isfinite(target) else 0
        if latest is not None:
            end = max(end, 1)  # a reading at t = 0 belongs to the first cycle
        end_of[id(tw)] = end
    cfg = first.config
    cycle = compiled_cycle(first.propagator, cfg, first.dtype)
    dt = first.dtype
    while True:
        # Every twin behind its target advances its own next cycle, all in one call: the
        # cycle index only enters through each twin's inputs, readings and random keys.
        behind = [tw for tw in twins if tw.cycle < end_of[id(tw)]]
        if not behind:
            break
        # Split into chunks of exactly a bucket size (largest first: 21 twins run as 16 + 4 +
        # 1): each chunk is a compiled shape, and no call computes padding.
        start = 0
        while start < len(behind):
            size = max(b for b in TWIN_BUCKETS if b <= len(behind) - start)
            group = behind[start:start + size]
            start += size
            ks = [tw.cycle for tw in group]
            m = _bucket(max(tw._count(k) for tw, k in zip(group, ks, strict=True)))
            packed = [tw.observations(k, m) for tw, k in zip(group, ks, strict=True)]
            # Stacked in NumPy, then one transfer each: no eager JAX op runs per group size
            # (each new shape would compile).

            def stack(rows: list[Any], dtype: Any = dt, size: int = size) -> Array:
                a = np.stack(rows)
                a = np.concatenate([a, np.repeat(a[:1], size - len(rows), axis=0)])
                return jnp.asarray(a, dtype)

            obs = {name: stack([p[0][name] for p in packed],
                               dt if packed[0][0][name].dtype == np.float64 else None)
                   for name in packed[0][0]}
            T = stack([tw.fields for tw in group])
            z = stack([tw.augmented for tw in group])
            base = stack([tw.base_inputs(k) for tw, k in zip(group, ks, strict=True)])
            params = stack([tw.params for tw in group])
            seeds = stack([np.uint32(tw.config.seed) for tw in group], jnp.uint32)
            kk = stack([np.uint32(k) for k in ks], jnp.uint32)
            spread = stack([tw.spread for tw in group])
            T1, z1, accept, innov, _pred, src = cycle(T, z, base, params, obs, seeds, kk,
                                                      spread)
            T1, z1, accept, innov, src = (np.asarray(a)[:len(group)]
                                          for a in (T1, z1, accept, innov, src))
            for g, tw in enumerate(group):
                tw.snapshots.append((T1[g].astype(np.float64), z1[g].astype(np.float64)))
                tw.last_sources = [SOURCES[int(src[g])]]
                for j, r in enumerate(packed[g][1]):
                    if not accept[g, j]:
                        tw.log.reject(r.id, f"innovation {innov[g, j]:+.1f} sigma outside the "
                                            f"gate of {cfg.gate:g} sigma")
    for tw, rep in zip(twins, reports, strict=True):
        rep["time_s"] = tw.time
        rep["rejected"] = dict(tw.log.rejected)
    return reports
