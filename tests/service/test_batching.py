"""Micro-batching: jobs that wait together run as one call, a full queue refuses at once,
errors reach their own job, and max_batch=1 switches batching off."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

from steeltwin.engine.service._batching import MicroBatcher, Overloaded


def run(coro):
    return asyncio.run(coro)


def test_waiting_jobs_form_one_batch_and_a_full_queue_refuses():
    gate = threading.Event()
    calls: list[list[int]] = []

    def work(jobs: list[int]) -> list[object]:
        calls.append(list(jobs))
        gate.wait(10)
        return [ValueError(f"bad {j}") if j == 3 else 2 * j for j in jobs]

    async def main() -> None:
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            b = MicroBatcher("t", work, ex, window_s=0.02, max_batch=8, max_queue=2)
            b.start()
            first = asyncio.create_task(b.submit(1))
            while not calls:  # the first job alone is computing (blocked on the gate)
                await asyncio.sleep(0.005)
            second = asyncio.create_task(b.submit(2))
            third = asyncio.create_task(b.submit(3))
            await asyncio.sleep(0.01)
            assert b.depth == 2
            with pytest.raises(Overloaded, match="2 jobs are waiting"):
                await b.submit(4)
            gate.set()
            assert await first == 2 and await second == 4
            with pytest.raises(ValueError, match="bad 3"):  # its own error, not the batch's
                await third
            await b.stop()
        assert calls == [[1], [2, 3]]

    run(main())


def test_no_batching_with_max_batch_1_and_a_failing_batch_fails_its_jobs():
    calls: list[list[int]] = []

    def work(jobs: list[int]) -> list[int]:
        calls.append(list(jobs))
        if 99 in jobs:
            raise RuntimeError("device lost")
        return jobs

    async def main() -> None:
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            b = MicroBatcher("t", work, ex, window_s=0.05, max_batch=1, max_queue=16)
            b.start()
            out = await asyncio.gather(*(b.submit(i) for i in range(5)))
            assert out == list(range(5))
            with pytest.raises(RuntimeError, match="device lost"):
                await b.submit(99)
            with pytest.raises(TimeoutError):  # the caller's limit; the job still runs
                await b.submit(7, timeout=0.0)
            await b.stop()
        assert all(len(c) == 1 for c in calls)

    run(main())
