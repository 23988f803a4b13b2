"""The service's model and its batched predictions.

``build_service_propagator`` builds the one propagator a service runs (physics by default; a
steeltwin-train run guarded by physics, or the bare surrogate) and its public description.
:class:`Predictor` runs a micro-batch of predict requests as one rollout: every asset of every
request in one batched propagator call, rolled over a fixed number of steps (a quarter of the
horizon limit, or all of it), so only a few shapes are ever compiled (``warmup`` compiles
them); then each request's own times and outputs are read off its rows.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from steeltwin.engine import ConfigError, Scenario
from steeltwin.engine.twin import (
    BUCKETS,
    AbstractPropagator,
    Prediction,
    build_propagator,
    experiment,
    rollout_assets,
    summarise,
)

from ._schemas import ModelInfo
from ._warmup import WarmupStep

MAX_BATCH_ASSETS = 256  # assets per compiled call; larger batches run as several


def _bucket(n: int) -> int:
    """The batch bucket ``n`` assets are padded to (the propagator's)."""
    return min([b for b in BUCKETS if b >= n], default=n)


def build_service_propagator(section: Mapping[str, Any]) -> tuple[AbstractPropagator,
                                                                   ModelInfo]:
    """The propagator of a ``propagator`` config section and its description."""
    p = dict(section)
    prop = build_propagator(p)
    kind = str(p["kind"])
    if kind == "physics":
        name, version = "slab-physics", f"fv-cn-{prop.cells}c-{prop.step_seconds:g}s"
    else:
        sur = prop.surrogate if kind == "surrogate" else prop.surrogate.surrogate
        meta = sur.metadata
        name = f"slab-{kind}"
        version = str(meta.get("manifest_hash") or meta.get("code_version") or
                      Path(str(p["model"])).name)[:40]
    return prop, ModelInfo(name=name, version=version, kind=kind, cells=prop.cells,
                           step_seconds=prop.step_seconds)


@dataclasses.dataclass(frozen=True)
class PredictJob:
    """One request: its scenarios, requested times (s since charging) and whether it wants
    stress."""

    scenarios: list[Scenario]
    times: np.ndarray
    stress: bool


class Predictor:
    def __init__(self, propagator: AbstractPropagator, max_horizon_s: float,
                 metrics: Any = None) -> None:
        self.propagator, self.metrics = propagator, metrics
        full = max(1, math.ceil(max_horizon_s / propagator.step_seconds - 1e-9))
        self.step_buckets = sorted({max(1, math.ceil(full / 4)), full})

    def steps_for(self, t_max: float) -> int:
        need = max(1, math.ceil(t_max / self.propagator.step_seconds - 1e-9))
        for b in self.step_buckets:
            if need <= b:
                return b
        raise ConfigError(f"times up to {t_max:g} s are invalid: expected at most "
                          f"{self.step_buckets[-1] * self.propagator.step_seconds:g} s after "
                          "charging (serve.max_horizon_s); ask for earlier times")

    def run_batch(self, jobs: list[PredictJob]) -> list[Any]:
        """Per job: (its Prediction, the assets computed in the same call), or an error."""
        out: list[Prediction | Exception] = []
        chunk: list[PredictJob] = []
        size = 0
        for job in jobs:
            if chunk and size + len(job.scenarios) > MAX_BATCH_ASSETS:
                out += self._run(chunk)
                chunk, size = [], 0
            chunk.append(job)
            size += len(job.scenarios)
        if chunk:
            out += self._run(chunk)
        return out

    def _run(self, jobs: list[PredictJob]) -> list[Prediction | Exception]:
        import time

        t0 = time.perf_counter()
        scs = [s for j in jobs for s in j.scenarios]
        n_steps = self.steps_for(max(float(j.times.max()) for j in jobs))
        roll = rollout_assets(self.propagator, scs, 0.0, n_steps)
        out: list[Prediction | Exception] = []
        row = 0
        for j in jobs:
            rows = slice(row, row + len(j.scenarios))
            row += len(j.scenarios)
            try:
                pred = summarise(self.propagator, j.scenarios, roll.select(rows), j.times,
                                 stress=j.stress)
                if self.metrics is not None:
                    for src in pred.provenance:
                        self.metrics.count_sources(src)
                out.append((pred, len(scs)))
            except Exception as err:
                out.append(err)
        if self.metrics is not None:
            self.metrics.predict.observe(time.perf_counter() - t0)
        return out

    def warmup_steps(self, asset_buckets: Sequence[int],
                     summaries: bool = True) -> list[WarmupStep]:
        """Warm-up steps: the rollout of each batch bucket of ``asset_buckets`` at each step
        bucket, then (``summaries``) the summaries of one slab with stress."""
        sc = experiment.slab_scenario(cells=self.propagator.cells)

        def job(b: int, n: int) -> PredictJob:
            return PredictJob([sc] * b, np.array([n * self.propagator.step_seconds]), False)

        steps = [WarmupStep(f"predict rollout: {b} slab{'s' * (b > 1)} x {n} steps",
                            functools.partial(self._compile, job(b, n)))
                 for b in sorted({_bucket(b) for b in asset_buckets}) for n in self.step_buckets]
        if summaries:
            steps.append(WarmupStep("predict summaries with stress: 1 slab", functools.partial(
                self._compile, PredictJob([sc], np.array([0.0, 600.0]), True))))
        return steps

    def _compile(self, job: PredictJob) -> None:
        (result,) = self._run([job])
        if isinstance(result, Exception):
            raise result

    def batch_buckets(self, max_assets: int) -> list[int]:
        """The asset buckets a batch of predict requests can fill: up to 4 full requests."""
        top = min(MAX_BATCH_ASSETS, max(max_assets, 1) * 4)
        return [b for b in BUCKETS if b <= top] or [1]
