"""Warm-up: the service's compiled programs, built in the background once the port is bound.

``steeltwin-serve`` binds its port before it compiles anything: ``/healthz`` answers while
XLA compiles. The
warm-up runs its steps one after the other on the compute thread (the thread every request's
JAX work runs on, so a request that arrives meanwhile waits at most one step and never
compiles a program at the same time), logs each step and keeps its progress for
``/readyz``, which answers 503 with that progress until the last step is done, then 200.

Which programs (measured on 2 cores, float64, physics model, a cold start: README "Start-up"):
a plant's steady traffic (up to 4 readings per twin and 60 s cycle, the state, one-slab
predicts) compiles a one-slab rollout at both step buckets (5-8 s each), the summaries with
stress (3 s) and one twin's assimilation cycle with up to 4 readings plus its state report
(20 s); the warm-up compiles those. With ``serve.max_batch > 1`` it also compiles the batch
buckets a burst of requests forms (twins up to ``max_batch`` with 4 and 16 reading slots,
predicts up to 4 x ``max_assets`` slabs). The rest compiles on first use, once: an ensemble
forecast (10-17 s), a cycle with more than 4 readings (10 s), a predict of several slabs or
with another count of times or zones, the set-point advice. The persistent compilation cache
(``serve.compile_cache``) keeps every program for the next start, where each program then
costs its tracing only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger("steeltwin.service")


@dataclasses.dataclass(frozen=True)
class WarmupStep:
    """One program to compile: ``run()`` (on the compute thread) and what it is, for people."""

    name: str
    run: Callable[[], Any]


class Warmup:
    """Runs :class:`WarmupStep` s in order on an executor and reports the progress.

    Args:
        steps: the programs to compile, most used first.
    """

    def __init__(self, steps: Sequence[WarmupStep]) -> None:
        self.steps = list(steps)
        self.compiled = 0
        self.compiling: str | None = None
        self.error: str | None = None
        self.done = not self.steps
        self._t0 = time.monotonic()
        self._t1: float | None = self._t0 if self.done else None

    @property
    def elapsed_s(self) -> float:
        return (self._t1 if self._t1 is not None else time.monotonic()) - self._t0

    def progress(self) -> dict[str, Any]:
        """``programs_compiled`` of ``programs_total``, the one compiling now, the seconds
        since start-up, whether it is done, and the error that stopped it (if one did)."""
        return {"programs_compiled": self.compiled, "programs_total": len(self.steps),
                "compiling": self.compiling, "elapsed_s": round(self.elapsed_s, 1),
                "done": self.done, "error": self.error}

    async def run(self, executor: concurrent.futures.Executor) -> bool:
        """Compile every step (cancellable between steps); True when all compiled."""
        if self.done:
            return self.error is None
        loop = asyncio.get_running_loop()
        total = len(self.steps)
        log.info("warm-up: compiling %d programs in the background; /readyz answers 503 "
                 "until they are done", total)
        for i, step in enumerate(self.steps, 1):
            self.compiling = step.name
            t = time.perf_counter()
            try:
                await loop.run_in_executor(executor, step.run)
            except Exception as err:
                self.compiling, self.done, self._t1 = None, True, time.monotonic()
                self.error = f"{step.name}: {type(err).__name__}: {err}"
                log.exception("warm-up %d/%d failed (%s); the service stays not ready", i,
                              total, step.name)
                return False
            self.compiled = i
            log.info("warm-up %d/%d: %s in %.1f s", i, total, step.name,
                     time.perf_counter() - t)
        self.compiling, self.done, self._t1 = None, True, time.monotonic()
        log.info("warm-up done: %d programs in %.1f s after start-up; ready", total,
                 self.elapsed_s)
        return True
