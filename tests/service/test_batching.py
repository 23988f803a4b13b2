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


def test_batching_is_off_by_default_and_can_be_turned_on(tmp_path):
    """benchmarks/results/serve_cpu.json: on 2 CPU cores batching cost throughput (0.66x
    closed loop), so the default is one request per compiled call; serve.max_batch turns it
    on. Concurrent predicts then run one by one (batch_size 1 in every answer)."""
    from fastapi.testclient import TestClient

    from steeltwin.engine.apps._hydra import compose
    from steeltwin.engine.apps.serve import build_settings
    from steeltwin.engine.service import ServeSettings, create_app

    assert ServeSettings().max_batch == 1
    assert build_settings(compose([], "serve"))[0].max_batch == 1
    assert build_settings(compose(["serve.max_batch=64"], "serve"))[0].max_batch == 64
    app = create_app(ServeSettings(database=f"sqlite:///{tmp_path / 'st.db'}",
                                   state_dir=str(tmp_path), warmup=False,
                                   batch_window_ms=30.0, request_timeout_s=300.0))
    body = {"assets": [{"zones": [{"name": "soak", "gas_temperature": 1200,
                                   "duration": 1800}]}], "times": [600]}
    sizes: list[int] = []
    with TestClient(app) as client:
        h = {"Authorization": f"Bearer {app.state.service.bootstrap_key}"}

        def call() -> None:
            r = client.post("/v1/predict", json=body, headers=h)
            assert r.status_code == 200, r.text
            sizes.append(r.json()["batch_size"])

        threads = [threading.Thread(target=call) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sizes == [1, 1, 1, 1]
