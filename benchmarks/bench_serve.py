"""Service load benchmark: the real ``steeltwin-serve`` under live twins, micro-batching on vs off.

For each batching mode (``serve.max_batch=64`` and ``1`` by default) the script starts the
server as a subprocess on 127.0.0.1 (a free port, a fresh SQLite database and state dir in a
temporary folder, uvicorn log level ``warning``), waits for ``/readyz``, creates ``--twins``
twins over HTTP and drives them with one asyncio httpx client (``--connections`` pooled
connections):

* warm-up (``--warmup`` s, unmeasured): open loop, then closed loops of ``--workers`` and of
  12 workers, so batches of about 1, 64 and 5-16 twins compile the assimilation buckets the
  service's own start-up warmup leaves to the first traffic;
* open loop (``--duration`` s): every twin posts one pyrometer reading per wall second (top
  and bottom alternately, sent on a fixed schedule whether or not the previous one returned);
  slab time follows the wall clock at 30 s per wall second (a twin advances one 60 s cycle
  every two posts; in the closed loop readings come faster, each at the slab time of sending).
  Plus ``--predict-rate`` ``POST /v1/predict`` per second (one slab, five times up to 2 h);
* closed loop (``--closed`` s): ``--workers`` workers, each owning its twins, post readings
  back to back (the throughput the service sustains);
* a burst of ``GET /v1/twins/{id}/state`` for ``--states`` twins at once (latency, and the
  estimate's error).

Readings are the surface temperatures of a "true" slab whose radiation exchange factors are
0.9 x the twins' prior (computed once through ``/v1/predict``) plus 5 K Gaussian noise, so the
quality figure is the twins' surface error against that truth, next to the prior's. Reported
per phase: requests/s and p50/p90/p99/max latency per endpoint (ok responses; latency from
sending), errors by status, server CPU (utime + stime of the server process over the phase /
wall, in cores), client CPU, the compute thread's busy fraction and the batch-size histogram
(both scraped from ``/metrics``), clocks the service answered against the readings sent
(``time_s`` ahead of the twin's latest reading means the twin was advanced past its data).
Both server runs share a temporary JAX compilation cache (``--no-cache``: off), so the second
start-up compiles less; start-up times are reported, not part of any figure.

Writes benchmarks/results/serve_cpu.json and prints a table. About 3 min by default (two
start-ups included) on 2 CPU cores.

    python -m benchmarks.bench_serve [--duration 30] [--closed 10] [--twins 100] [--modes 64,1]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

HOST = "127.0.0.1"  # loopback only
_COMPILE = re.compile(r"(?m)^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\].*Finished XLA "
                      r"compilation of (\S+) in ([0-9.e+-]+) sec")
ZONES = (("preheat", 1000.0, 3000.0), ("heating", 1250.0, 3600.0), ("soak", 1230.0, 2400.0))
RESIDENCE = sum(z[2] for z in ZONES)  # s
SLAB_SPEED = 30.0  # slab seconds per wall second
CYCLE = 60.0  # s, the service's assimilation cycle (conf/serve.yaml propagator.step_seconds)
TRUE_SCALE = 0.9  # the readings' slab: exchange factors 0.9 x the twins' prior
NOISE_K = 5.0  # pyrometer noise std (the filter's twin.pyrometer_std)
PREDICT_TIMES = [0.0, 600.0, 1800.0, 3600.0, 7200.0]


def slab(gas_shift: float = 0.0, scale: float = 1.0) -> dict[str, Any]:
    """The benchmark's slab (220 mm carbon steel from 25 degC) as an API body."""
    return {"zones": [{"name": n, "gas_temperature": g + gas_shift, "duration": d,
                       "exchange_factor_top": 0.6 * scale, "exchange_factor_bottom": 0.5 * scale}
                      for n, g, d in ZONES]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """``steeltwin-serve`` in a subprocess, with its log, CPU time and shutdown."""

    def __init__(self, workdir: Path, max_batch: int, window_ms: float, cache: Path | None):
        self.dir, self.port = workdir, free_port()
        exe = Path(sys.executable).with_name("steeltwin-serve")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "steeltwin.engine.apps.serve"]
        self.cmd = [*cmd, f"serve.host={HOST}", f"serve.port={self.port}",
                    f"serve.database=sqlite:///{workdir}/st.db", f"serve.state_dir={workdir}",
                    f"serve.max_batch={max_batch}", f"serve.batch_window_ms={window_ms}",
                    "serve.log_level=warning", f"hydra.run.dir={workdir}/hydra"]
        # A crash leaves its stack; every XLA compile is logged (counted after /readyz).
        self.env = dict(os.environ, PYTHONFAULTHANDLER="1", JAX_LOG_COMPILES="1")
        if cache is not None:
            self.env["JAX_COMPILATION_CACHE_DIR"] = str(cache)
        self.log_path = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 300.0) -> float:
        """Start and wait for ``/readyz``; the seconds it took."""
        t0 = time.perf_counter()
        self._log = open(self.log_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=Path(__file__).resolve().parents[1])
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"steeltwin-serve exited with {self.proc.returncode} before "
                                   f"it was ready; its log:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2.0).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"steeltwin-serve not ready after {timeout:g} s; its log:\n"
                           f"{self.log_tail()}")

    def admin_key(self) -> str:
        return (self.dir / "admin.key").read_text().strip()

    def cpu_s(self) -> float:
        """utime + stime of the server process (all its threads), s."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        assert self.proc is not None
        m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{self.proc.pid}/status").read_text())
        return int(m.group(1)) / 1024 if m else float("nan")

    def stop(self, timeout: float = 60.0) -> dict[str, Any]:
        """SIGINT (uvicorn's graceful shutdown: the twins are snapshotted), then wait."""
        if self.proc is None:
            return {}
        t0 = time.perf_counter()
        out: dict[str, Any] = {"hung": False}
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                out["hung"] = True
                self.proc.kill()
                self.proc.wait()
        out.update(seconds=time.perf_counter() - t0, returncode=self.proc.returncode)
        self._log.close()
        return out

    def log_tail(self, n: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]

    def compiles(self, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
        """XLA compiles the server logged between two times: count, seconds, the top ones."""
        by: collections.Counter[str] = collections.Counter()
        secs: collections.Counter[str] = collections.Counter()
        for m in _COMPILE.finditer(self.log_path.read_text(errors="replace")):
            when = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
            if start <= when < end:
                by[m.group(2)] += 1
                secs[m.group(2)] += float(m.group(3))
        return {"count": sum(by.values()), "seconds": sum(secs.values()),
                "top": {k: [by[k], round(v, 2)] for k, v in secs.most_common(6)}}

    def log_problems(self, limit: int = 5) -> list[str]:
        """Tracebacks and ERROR lines of the server log (the first ``limit``, cut to 3000)."""
        text = self.log_path.read_text(errors="replace")
        found = []
        for m in re.finditer(r"(?m)^.*(Traceback|\bERROR\b|Exception in ASGI).*$", text):
            end = re.search(r"(?m)^\[\d{4}-|^INFO|^WARNING", text[m.end() + 1:])
            found.append(text[m.start(): m.end() + 1 + (end.start() if end else 3000)][:3000])
            if len(found) >= limit:
                break
        return found


# -- the load --------------------------------------------------------------------------------
class Load:
    """Requests of the benchmark and what came back (latency, status, clocks, answers)."""

    def __init__(self, client: httpx.AsyncClient, args: argparse.Namespace,
                 curves: dict[str, np.ndarray]) -> None:
        self.c, self.args, self.curves = client, args, curves
        self.rng = np.random.default_rng(args.seed)
        n = args.twins
        self.offset = [i * args.stagger for i in range(n)]  # slab time at the first post, s
        self.k = [0] * n  # readings sent per twin
        self.t_start = time.perf_counter()  # wall time of slab time 0 (+ offset), s
        self.sent_max = [0.0] * n  # latest slab time sent per twin
        self.records: list[tuple[str, str, float, float, Any]] = []  # phase, ep, t0, s, status
        self.lags: list[float] = []
        self.checks: collections.Counter[str] = collections.Counter()
        self.states: dict[int, dict[str, Any]] = {}
        self.phase = "setup"
        self.slots = asyncio.Semaphore(args.connections)

    async def _send(self, method: str, url: str, body: Any, deadline: float) -> httpx.Response:
        # At most --connections in flight, the rest wait here (never in httpx's pool); only
        # this wait is cancelled at the deadline (a cancelled httpx request can leak its
        # connection), the request itself ends by httpx's own timeout.
        await asyncio.wait_for(self.slots.acquire(), max(1e-3, deadline - time.perf_counter()))
        try:
            return await self.c.request(method, url, json=body,
                                        timeout=max(0.1, deadline - time.perf_counter()))
        finally:
            self.slots.release()

    async def _call(self, endpoint: str, method: str, url: str, body: Any = None) -> Any:
        """One request; latency from the call (a wait for a free connection included), and
        about ``--timeout`` s at most (later: an error, ``TimeoutError`` or ``ReadTimeout``)."""
        t0 = time.perf_counter()
        try:
            r = await self._send(method, url, body, t0 + self.args.timeout)
            status: Any = r.status_code
        except Exception as err:  # timeouts, resets: counted as errors by their class
            r, status = None, type(err).__name__
        self.records.append((self.phase, endpoint, t0, time.perf_counter() - t0, status))
        return r.json() if r is not None and 200 <= r.status_code < 300 else None

    async def create(self, i: int) -> None:
        await self._call("create", "POST", "/v1/twins", {"twin_id": f"tw{i:03d}", "slab": slab()})

    async def reading(self, i: int, due: float | None = None) -> None:
        if due is not None:
            self.lags.append(time.perf_counter() - due)
        k = self.k[i]
        self.k[i] += 1
        # Slab time follows the wall clock (the furnace's time), at the scheduled send time in
        # the open loop: every twin's clock stays where its slab is, however often it posts.
        now = time.perf_counter() if due is None else due
        t = max(self.offset[i] + SLAB_SPEED * (now - self.t_start), self.sent_max[i] + 1e-3)
        t = round(t, 3)
        sensor = ("top", "bottom")[k % 2]
        value = float(np.interp(t, self.curves["times"], self.curves[f"true_{sensor}"])
                      + NOISE_K * self.rng.standard_normal())
        self.sent_max[i] = max(self.sent_max[i], t)
        body = {"readings": [{"id": f"r{k}", "time_s": t, "sensor": f"pyrometer_{sensor}",
                              "value": round(value, 2), "unit": "degC"}]}
        out = await self._call("measurements", "POST", f"/v1/twins/tw{i:03d}/measurements", body)
        if out is not None:
            self._check_clock(i, t, out["time_s"])
            self.checks["readings rejected by the gate"] += len(out["rejected"])
            self.checks["not assimilated (timeout)"] += not out["assimilated"]

    def _check_clock(self, i: int, t: float, time_s: float) -> None:
        """A reading at t advances the twin to the end of t's cycle, and no further than the
        end of its latest reading's cycle."""
        if time_s < math.ceil(t / CYCLE - 1e-9) * CYCLE - 1e-6:
            self.checks["clock behind the reading"] += 1
        if time_s > math.ceil(self.sent_max[i] / CYCLE - 1e-9) * CYCLE + 1e-6:
            self.checks["clock ahead of the twin's latest reading"] += 1
            self.checks["max seconds ahead"] = max(self.checks["max seconds ahead"], int(
                time_s - math.ceil(self.sent_max[i] / CYCLE - 1e-9) * CYCLE))

    async def predict(self, j: int, due: float | None = None) -> None:
        if due is not None:
            self.lags.append(time.perf_counter() - due)
        body = {"assets": [slab(gas_shift=float(self.rng.uniform(-20, 20)))],
                "times": PREDICT_TIMES}
        await self._call("predict", "POST", "/v1/predict", body)

    async def state(self, i: int) -> None:
        out = await self._call("state", "GET", f"/v1/twins/tw{i:03d}/state")
        if out is not None:
            self.states[i] = out
            self._check_clock(i, self.sent_max[i], out["time_s"])


async def open_loop(load: Load, duration: float) -> None:
    """Readings of every twin at ``reading_rate`` per s (phases spread over the period) and
    predicts at ``predict_rate`` per s, sent on schedule; then wait for the answers."""
    a, n = load.args, load.args.twins
    t0 = time.perf_counter() + 0.05
    events = [(t0 + (i / n + j) / a.reading_rate, 0, i) for i in range(n)
              for j in range(int(duration * a.reading_rate))]
    events += [(t0 + j / a.predict_rate, 1, j) for j in range(int(duration * a.predict_rate))]
    events.sort()
    tasks: set[asyncio.Task[None]] = set()
    for due, kind, x in events:
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        task = asyncio.create_task(load.predict(x, due) if kind else load.reading(x, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(list(tasks))  # each ends within the client's --timeout


async def closed_loop(load: Load, duration: float, workers: int) -> None:
    """``workers`` workers (each owning twins) post readings back to back for ``duration`` s."""
    workers = max(1, min(workers, load.args.twins))
    end = time.perf_counter() + duration

    async def worker(w: int) -> None:
        mine = list(range(w, load.args.twins, workers))
        j = 0
        while time.perf_counter() < end:
            await load.reading(mine[j % len(mine)])
            j += 1

    await asyncio.gather(*(worker(w) for w in range(workers)))


# -- metrics ---------------------------------------------------------------------------------
def scrape(text: str) -> dict[str, float]:
    """The service's counters and histograms as ``name{labels}`` -> value."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name.endswith("_created"):
                continue
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def batch_histogram(diff: dict[str, float], kind: str) -> dict[str, Any]:
    """Batch sizes of one kind over a phase: calls per size range, count, mean."""
    cum = {float(k.split("le=")[1].rstrip("}")): v for k, v in diff.items()
           if k.startswith("steeltwin_batch_size_bucket") and f"kind={kind}," in k}
    count = diff.get(f"steeltwin_batch_size_count{{kind={kind}}}", 0.0)
    total = diff.get(f"steeltwin_batch_size_sum{{kind={kind}}}", 0.0)
    bins, prev, lo = {}, 0.0, 1
    for le in sorted(cum):
        hi = "inf" if math.isinf(le) else int(le)
        n = cum[le] - prev
        if n:
            bins[str(hi) if lo == hi else f"{lo}-{hi}"] = int(n)
        prev, lo = cum[le], (int(le) + 1 if not math.isinf(le) else lo)
    return {"calls": int(count), "mean": total / count if count else None, "sizes": bins}


def latency(recs: list[tuple[str, str, float, float, Any]], wall: float) -> dict[str, Any]:
    ok = np.array([r[3] for r in recs if isinstance(r[4], int) and 200 <= r[4] < 300]) * 1e3
    errors = collections.Counter(str(r[4]) for r in recs
                                 if not (isinstance(r[4], int) and 200 <= r[4] < 300))
    out: dict[str, Any] = {"requests": len(recs), "ok": int(ok.size),
                           "ok_per_s": ok.size / wall if wall > 0 else None,
                           "errors": dict(errors)}
    if ok.size:
        out.update({f"p{q}_ms": float(np.percentile(ok, q)) for q in (50, 90, 99)},
                   max_ms=float(ok.max()))
    return out


# -- one server run --------------------------------------------------------------------------
async def drive(srv: Server, args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {srv.admin_key()}"}
    # Idle connections expire before uvicorn's 5 s keep-alive closes them (no reuse races).
    limits = httpx.Limits(max_connections=args.connections,
                          max_keepalive_connections=args.connections, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=srv.url, headers=headers, limits=limits,
                                 timeout=args.timeout) as c, \
            httpx.AsyncClient(base_url=srv.url, headers=headers, timeout=60.0) as ctl:
        # The heating curves: the twins' prior slab and the true one, every 30 s.
        times = np.arange(0.0, RESIDENCE + 1.0, 30.0)
        r = await ctl.post("/v1/predict", json={"assets": [slab(), slab(scale=TRUE_SCALE)],
                                                "times": times.tolist()})
        r.raise_for_status()
        a = r.json()["assets"]
        curves = {"times": times, "prior_top": np.array(a[0]["surface_top"]),
                  "true_top": np.array(a[1]["surface_top"]),
                  "true_bottom": np.array(a[1]["surface_bottom"])}
        load = Load(c, args, curves)
        sem = asyncio.Semaphore(16)

        async def create(i: int) -> None:
            async with sem:
                await load.create(i)

        await asyncio.gather(*(create(i) for i in range(args.twins)))
        out: dict[str, Any] = {"create": latency(load.records, 1.0)}
        out["create"].pop("ok_per_s")

        async def warmup() -> None:  # batches of ~1, 64 and 5-16 twins: the buckets it uses
            await open_loop(load, args.warmup * 0.4)
            await closed_loop(load, args.warmup * 0.3, args.workers)
            await closed_loop(load, args.warmup * 0.3, 12)

        phases = [("warmup", warmup),
                  ("open", lambda: open_loop(load, args.duration)),
                  ("closed", lambda: closed_loop(load, args.closed, args.workers)),
                  ("state", lambda: asyncio.gather(*(load.state(i)
                                                     for i in range(min(args.states,
                                                                        args.twins)))))]
        load.t_start = time.perf_counter()
        for name, phase in phases:
            if name == "closed" and args.closed <= 0:
                continue
            load.phase, n0, lag0 = name, len(load.records), len(load.lags)
            m0, cpu0 = scrape((await ctl.get("/metrics")).text), srv.cpu_s()
            ru0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            d0 = dt.datetime.now()
            await phase()
            wall = time.perf_counter() - t0
            cpu, ru1 = srv.cpu_s() - cpu0, resource.getrusage(resource.RUSAGE_SELF)
            m1 = scrape((await ctl.get("/metrics")).text)
            diff = {k: v - m0.get(k, 0.0) for k, v in m1.items()}
            recs = load.records[n0:]
            busy = {k: diff.get(f"steeltwin_{k}_seconds_sum{{}}", 0.0)
                    for k in ("assimilation", "predict")}
            lags = np.array(load.lags[lag0:]) * 1e3
            ph: dict[str, Any] = {
                "wall_s": wall, "server_cpu_cores": cpu / wall,
                "xla_compiles": srv.compiles(d0, dt.datetime.now()),
                "client_cpu_cores": (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime
                                     - ru0.ru_stime) / wall,
                "compute_busy": sum(busy.values()) / wall,
                "compute_s": busy,
                "server_cpu_ms_per_ok": 1e3 * cpu / max(1, len([r for r in recs
                                                               if r[4] in (200, 201)])),
                "send_lag_p99_ms": float(np.percentile(lags, 99)) if lags.size else None,
                "all": latency(recs, wall),
                "endpoints": {ep: latency([r for r in recs if r[1] == ep], wall)
                              for ep in sorted({r[1] for r in recs})},
                "batch_size": {k: batch_histogram(diff, k) for k in ("assimilation", "predict")},
            }
            out[name] = ph
            a = ph["all"]
            print(f"  {name}: {wall:.1f} s, {a['ok']} ok ({a['ok_per_s']:.1f}/s), p99 "
                  f"{_ms(a.get('p99_ms')).strip()} ms, errors {a['errors']}, server CPU "
                  f"{ph['server_cpu_cores']:.2f} cores, compute busy {ph['compute_busy']:.0%}, "
                  f"XLA compiles {ph['xla_compiles']['count']} "
                  f"({ph['xla_compiles']['seconds']:.1f} s)", flush=True)
        # Quality: the twins' top-surface estimate against the true slab, and the prior's.
        err, prior = [], []
        for s in load.states.values():
            truth = np.interp(s["time_s"], times, curves["true_top"])
            err.append(s["surface_top"] - truth)
            prior.append(np.interp(s["time_s"], times, curves["prior_top"]) - truth)
        out["quality"] = {
            "twins": len(err), "slab_time_s": [min(s["time_s"] for s in load.states.values()),
                                               max(s["time_s"] for s in load.states.values())]
            if load.states else None,
            "surface_top_rms_K": float(np.sqrt(np.mean(np.square(err)))) if err else None,
            "prior_surface_top_rms_K": float(np.sqrt(np.mean(np.square(prior)))) if err else None,
        }
        out["checks"] = dict(load.checks)
        out["readings_sent"] = sum(load.k)
    out["server_rss_mb"] = srv.rss_mb()
    return out


def run_mode(args: argparse.Namespace, max_batch: int, cache: Path | None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"bench_serve_b{max_batch}_"))
    srv = Server(work, max_batch, args.batch_window_ms, cache)
    out: dict[str, Any] = {"max_batch": max_batch}
    try:
        d0 = dt.datetime.now()
        out["startup_s"] = srv.start()
        out["startup_compiles"] = srv.compiles(d0, dt.datetime.now())
        print(f"max_batch={max_batch}: ready in {out['startup_s']:.1f} s (port {srv.port})",
              flush=True)
        out.update(asyncio.run(drive(srv, args)))
    finally:
        out["shutdown"] = srv.stop()
        out["server_log_problems"] = srv.log_problems()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return out


# -- report ----------------------------------------------------------------------------------
def _ms(v: Any) -> str:
    return f"{v:8.1f}" if isinstance(v, int | float) else f"{'-':>8s}"


def print_table(modes: dict[str, dict[str, Any]]) -> None:
    print(f"\n{'mode':9s} {'phase':7s} {'endpoint':13s} {'ok':>6s} {'req/s':>7s} {'p50':>8s} "
          f"{'p90':>8s} {'p99':>8s} {'max':>8s}  errors   (latency ms)")
    for mode, res in modes.items():
        for phase in ("open", "closed", "state"):
            ph = res.get(phase)
            if not ph:
                continue
            rows = dict(ph["endpoints"])
            if len(rows) > 1:
                rows["all"] = ph["all"]
            for ep, s in rows.items():
                rate = s.get("ok_per_s") or 0.0
                print(f"{mode:9s} {phase:7s} {ep:13s} {s['ok']:6d} {rate:7.1f} "
                      f"{_ms(s.get('p50_ms'))} {_ms(s.get('p90_ms'))} {_ms(s.get('p99_ms'))} "
                      f"{_ms(s.get('max_ms'))}  {s['errors'] or 0}")
    print()
    for mode, res in modes.items():
        for phase in ("open", "closed"):
            ph = res.get(phase)
            if not ph:
                continue
            b = ph["batch_size"]["assimilation"]
            print(f"{mode:9s} {phase:7s} server CPU {ph['server_cpu_cores']:.2f} cores, client "
                  f"{ph['client_cpu_cores']:.2f}, compute thread busy {ph['compute_busy']:.0%}; "
                  f"assimilation batches {b['calls']} (mean {b['mean'] or 0:.1f}) {b['sizes']}")
        q, w = res.get("quality", {}), res.get("warmup", {}).get("all", {})
        print(f"{mode:9s} warm-up load: {w.get('ok', 0)} ok, max {_ms(w.get('max_ms')).strip()}"
              f" ms, errors {w.get('errors')}; batches {res.get('warmup', {}).get('batch_size')}")
        print(f"{mode:9s} start-up {res.get('startup_s', 0):.1f} s, shutdown "
              f"{res['shutdown'].get('seconds', 0):.1f} s; twins' top-surface error "
              f"{q.get('surface_top_rms_K') or float('nan'):.1f} K rms (prior "
              f"{q.get('prior_surface_top_rms_K') or float('nan'):.1f} K); checks "
              f"{res.get('checks')}; server log problems: {len(res['server_log_problems'])}")


def _git() -> dict[str, Any]:
    """The commit under test, and whether engine/ differs from it (read-only git calls)."""
    root = Path(__file__).resolve().parents[1]

    def run(*cmd: str) -> str:
        try:
            return subprocess.run(["git", "--no-optional-locks", *cmd], cwd=root, text=True,
                                  capture_output=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": run("rev-parse", "--short", "HEAD"),
            "engine_modified": sorted(line.split(maxsplit=1)[-1] for line in run(
                "status", "--porcelain", "--", "engine").splitlines())}


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(f"bench_serve: signal {signum}; stopping the server")


def main() -> None:
    signal.signal(signal.SIGTERM, _sigterm)  # so the finally blocks stop the server
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--twins", type=int, default=100)
    ap.add_argument("--duration", type=float, default=30.0, help="open-loop phase, s")
    ap.add_argument("--warmup", type=float, default=8.0,
                    help="unmeasured load first (open, then closed loops), s")
    ap.add_argument("--closed", type=float, default=10.0, help="closed-loop phase, s (0: off)")
    ap.add_argument("--workers", type=int, default=100, help="closed-loop concurrency")
    ap.add_argument("--states", type=int, default=20, help="twins whose state is read")
    ap.add_argument("--reading-rate", type=float, default=1.0, help="readings per twin per s")
    ap.add_argument("--predict-rate", type=float, default=10.0, help="predicts per s")
    ap.add_argument("--stagger", type=float, default=0.0,
                    help="slab-time offset between consecutive twins, s (0: charged together)")
    ap.add_argument("--connections", type=int, default=128)
    ap.add_argument("--timeout", type=float, default=15.0,
                    help="client deadline per request, s (a later answer is an error)")
    ap.add_argument("--modes", default="64,1", help="serve.max_batch values to compare")
    ap.add_argument("--batch-window-ms", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-cache", action="store_true", help="no shared JAX compilation cache")
    ap.add_argument("--keep", action="store_true", help="keep the servers' temp dirs and logs")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "serve_cpu.json"))
    args = ap.parse_args()
    cache = None if args.no_cache else Path(tempfile.mkdtemp(prefix="bench_serve_jax_"))
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    modes: dict[str, dict[str, Any]] = {}
    try:
        for mb in (int(m) for m in args.modes.split(",")):
            modes[f"batch {mb}" if mb > 1 else "no batch"] = run_mode(args, mb, cache)
    finally:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)
    out: dict[str, Any] = {
        "benchmark": "bench_serve", "cpu": _cpu_model(), "cores": os.cpu_count(),
        "host": platform.platform(), "python": platform.python_version(),
        "jax": importlib.metadata.version("jax"), "git": _git(),
        "versions": {p: importlib.metadata.version(p) for p in ("fastapi", "uvicorn", "httpx")},
        "platform": os.environ.get("JAX_PLATFORMS", "cpu"), "dtype": "float64",
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "keep")}
        | {"slab_speed": SLAB_SPEED, "cycle_s": CYCLE, "true_exchange_scale": TRUE_SCALE,
           "noise_K": NOISE_K, "predict_times_s": PREDICT_TIMES, "store": "sqlite (WAL)",
           "members": 64, "cells": 24, "log_level": "warning"},
        "modes": modes, "total_s": time.perf_counter() - t0,
    }
    on, off = modes.get("batch 64") or next(iter(modes.values())), modes.get("no batch")
    if on and off and "closed" in on and "closed" in off:
        def ratio(a: Any, b: Any) -> float | None:
            return a / b if a and b else None

        out["batching_buys"] = {
            "closed_throughput": ratio(on["closed"]["all"]["ok_per_s"],
                                       off["closed"]["all"]["ok_per_s"]),
            "closed_p99": ratio(off["closed"]["all"].get("p99_ms"),
                                on["closed"]["all"].get("p99_ms")),
            "open_p99": ratio(off["open"]["all"].get("p99_ms"), on["open"]["all"].get("p99_ms")),
            "open_measurements_p99": ratio(
                off["open"]["endpoints"]["measurements"].get("p99_ms"),
                on["open"]["endpoints"]["measurements"].get("p99_ms")),
            "open_server_cpu": ratio(off["open"]["server_cpu_cores"],
                                     on["open"]["server_cpu_cores"]),
        }
    for res in modes.values():
        if "open" not in res:
            continue
        errs = sum(sum(res[p]["all"]["errors"].values()) for p in ("warmup", "open", "closed",
                                                                    "state") if p in res)
        res["goal"] = {"closed_ge_200_per_s": (res.get("closed", {}).get("all", {})
                                               .get("ok_per_s") or 0) >= 200,
                       "open_p99_le_50_ms": (res["open"]["all"].get("p99_ms") or 1e9) <= 50,
                       "zero_errors": errs == 0 and not res["server_log_problems"]}
    print_table(modes)
    if "batching_buys" in out:
        print("batching buys (on vs off): " + ", ".join(
            f"{k} {v:.2f}x" for k, v in out["batching_buys"].items() if v))
    for name, res in modes.items():
        print(f"{name}: goal {res.get('goal')}")
        for p in res["server_log_problems"]:
            print(f"--- server log ({name}):\n{p}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out} ({out['total_s']:.0f} s)")


if __name__ == "__main__":
    main()
