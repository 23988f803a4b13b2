"""Micro-batching: concurrent requests for one model run as one compiled call.

All JAX work of the service runs on one worker thread (``compute``: a single-thread
executor), so the event loop keeps answering while a batch computes, and XLA's own threads
are not shared between competing calls. Each kind of work (predict, assimilation) has a
:class:`MicroBatcher`: a bounded queue whose consumer takes the first waiting job, waits up
to ``window_s`` for more (up to ``max_batch``), and hands the whole batch to one function on
the compute thread. Jobs that arrive while a batch computes queue up and form the next one,
so the batch size grows with the load. A full queue refuses at once (:class:`Overloaded`,
HTTP 429) instead of growing; ``max_batch=1`` switches batching off (one job per call).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger("steeltwin.service")


class Overloaded(Exception):
    """The queue is full: the caller should retry later (HTTP 429)."""


class MicroBatcher:
    """Batches jobs for ``run_batch(jobs) -> results`` (one result or exception per job).

    Args:
        name: label in metrics and logs.
        run_batch: called on the compute thread with a list of jobs.
        executor: the compute executor (one thread).
        window_s: how long to wait for more jobs after the first, s.
        max_batch: most jobs per call (1: no batching).
        max_queue: most jobs waiting; more are refused with :class:`Overloaded`.
        observe: ``observe(batch_size, seconds)`` after each call (metrics).
    """

    def __init__(self, name: str, run_batch: Callable[[list[Any]], Sequence[Any]],
                 executor: concurrent.futures.Executor, window_s: float = 0.002,
                 max_batch: int = 64, max_queue: int = 256,
                 observe: Callable[[int, float], None] | None = None) -> None:
        self.name, self.run_batch, self.executor = name, run_batch, executor
        self.window_s, self.max_batch, self.max_queue = window_s, max_batch, max_queue
        self.observe = observe
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future[Any]]] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    def start(self) -> None:
        self._queue = asyncio.Queue(self.max_queue)
        self._task = asyncio.get_running_loop().create_task(self._consume())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._queue is not None:
            while not self._queue.empty():
                _, fut = self._queue.get_nowait()
                if not fut.done():
                    fut.set_exception(Overloaded(f"{self.name}: the service is stopping"))

    async def submit(self, job: Any, timeout: float | None = None) -> Any:
        """Queue ``job`` and wait for its result (raises its exception, ``Overloaded`` when
        the queue is full, ``TimeoutError`` after ``timeout`` s; the job still runs)."""
        if self._queue is None:
            raise Overloaded(f"{self.name}: the service is not started")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((job, fut))
        except asyncio.QueueFull:
            raise Overloaded(f"{self.name}: {self.max_queue} jobs are waiting; retry "
                             "shortly") from None
        return await asyncio.wait_for(asyncio.shield(fut), timeout)

    async def _consume(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.window_s
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), left))
                except TimeoutError:
                    break
            jobs = [j for j, _ in batch]
            t0 = time.perf_counter()
            try:
                results: Sequence[Any] = await loop.run_in_executor(self.executor,
                                                                    self.run_batch, jobs)
            except Exception as err:  # the batch function itself failed: fail every job
                log.exception("%s batch of %d failed", self.name, len(jobs))
                results = [err] * len(jobs)
            if self.observe is not None:
                self.observe(len(jobs), time.perf_counter() - t0)
            for (_, fut), res in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if isinstance(res, BaseException):
                    fut.set_exception(res)
                else:
                    fut.set_result(res)
