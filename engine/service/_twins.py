"""The service's twins: durable in the store, live in memory, advanced in batches.

The store holds the truth: each twin's spec (the slab, its schedule, the charge time), every
acknowledged reading (committed before the client hears back) and, every
``snapshot_every`` cycles, the ensemble. A twin in memory is a cache of that: built on first
use from the spec, the snapshot and the readings since (the filter's random numbers come from
(seed, cycle), so the rebuilt twin equals the one that was lost), and brought up to date
before every use from the readings other replicas stored (``last_seq``).

All twin work runs on the compute thread through the assimilation :class:`MicroBatcher`:
posting readings, reading the state and rebuilding a twin queue a job for the twin; one batch
syncs every twin it names with the store and advances them together (one
``assimilate_many``: one batched propagator call and one vmapped analysis per cycle).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import functools
import logging
import math
import time
import uuid
from collections.abc import Sequence
from typing import Any

from steeltwin.engine import ConfigError
from steeltwin.engine.twin import (
    TWIN_BUCKETS,
    AbstractPropagator,
    Reading,
    Twin,
    TwinConfig,
    assimilate_many,
    experiment,
    make_reading,
)

from ._problems import RequestError
from ._scenario import slab_scenario
from ._schemas import ReadingIn, SlabIn, TwinCreate
from ._store import AbstractStore, SnapshotRecord, TwinRecord
from ._units import length_m
from ._warmup import WarmupStep

log = logging.getLogger("steeltwin.service")


class NotFound(KeyError):
    """No such twin in the caller's tenant (HTTP 404)."""


@dataclasses.dataclass
class Live:
    """A twin held in memory, and how far it reflects the store."""

    record: TwinRecord
    twin: Twin
    charged_at: dt.datetime
    last_seq: int = 0
    persisted_cycle: int = 0
    used: float = 0.0


@dataclasses.dataclass(frozen=True)
class Job:
    """Bring a twin up to date (and assimilate what it holds); ``state``: also report it."""

    tenant: str
    twin_id: str
    state: bool = False


def charged_at(rec: TwinRecord) -> dt.datetime:
    return dt.datetime.fromisoformat(rec.spec["charged_at"])


class TwinManager:
    """Twins of every tenant of one service instance (see the module doc)."""

    def __init__(self, store: AbstractStore, propagator: AbstractPropagator,
                 twin_config: TwinConfig, snapshot_every: int = 20, max_loaded: int = 10000,
                 max_twin_seconds: float = 86400.0, metrics: Any = None) -> None:
        self.store, self.propagator, self.twin_config = store, propagator, twin_config
        self.snapshot_every, self.max_loaded = snapshot_every, max_loaded
        self.max_twin_seconds, self.metrics = max_twin_seconds, metrics
        self.live: dict[tuple[str, str], Live] = {}
        self._writer = concurrent.futures.ThreadPoolExecutor(1, "steeltwin-snapshots")

    # -- on the request thread (validation, store) ----------------------------------
    def new_record(self, tenant: str, body: TwinCreate,
                   warnings: list[str] | None = None) -> TwinRecord:
        """Validate a new twin (the scenario is built and checked) and its record; the
        plausibility warnings of the slab go to ``warnings``."""
        slab_scenario(body.slab, self.propagator.cells, "slab", warnings)
        when = body.charged_at or dt.datetime.now(dt.UTC)
        if when.tzinfo is None:
            raise RequestError("charged_at", f"charged_at={when.isoformat()!r} is invalid: "
                               "expected an ISO 8601 time with a UTC offset; add e.g. +00:00")
        spec = {"slab": body.slab.model_dump(mode="json"), "label": body.label,
                "charged_at": when.isoformat()}
        return TwinRecord(tenant, body.twin_id or uuid.uuid4().hex[:16], spec, time.time())

    def readings_of(self, rec: TwinRecord, items: list[ReadingIn]) -> list[Reading]:
        """Validated readings (K, s since charging); errors name ``readings[i].<field>``."""
        t0 = charged_at(rec)
        thickness = length_m(SlabIn.model_validate(rec.spec["slab"]).thickness, "thickness")
        out = []
        for i, r in enumerate(items):
            where = f"readings[{i}]"
            clock = f"{where}.time_s" if r.time_s is not None else f"{where}.timestamp"
            if (r.time_s is None) == (r.timestamp is None):
                raise RequestError(clock, f"{where}: give exactly one of time_s (s since "
                                   "charging) and timestamp (ISO 8601 with offset)")
            if r.timestamp is not None:
                if r.timestamp.tzinfo is None:
                    raise RequestError(clock, f"{clock}={r.timestamp.isoformat()!r} is invalid: "
                                       "expected a UTC offset; add e.g. +00:00")
                t = (r.timestamp - t0).total_seconds()
                if t < 0:
                    raise RequestError(clock, f"{clock}={r.timestamp.isoformat()!r} is invalid: "
                                       f"before the twin was charged ({t0.isoformat()}); check "
                                       "the clock or the twin")
            else:
                t = float(r.time_s)  # type: ignore[arg-type]
            if t > self.max_twin_seconds:
                raise RequestError(clock, f"{where} time={t:g} s is invalid: expected at most "
                                   f"{self.max_twin_seconds:g} s after charging (the service's "
                                   "limit); check the clock")
            try:
                depth = r.depth if r.sensor == "thermocouple" else None
                if r.sensor != "thermocouple" and r.depth is not None:
                    raise RequestError("depth", f"depth={r.depth!r} is invalid: only a "
                                       "thermocouple has a depth; leave it out")
                reading = make_reading(r.id, t, r.sensor, r.value, r.unit, depth,
                                       r.depth_unit or "m")
                if reading.depth is not None and reading.depth > thickness:
                    raise RequestError("depth", f"depth={r.depth!r} {r.depth_unit or 'm'} is "
                                       "invalid: expected at most the slab's thickness "
                                       f"({thickness:g} m); check the depth and its unit")
                out.append(reading)
            except ConfigError as err:
                # The reading's own field (make_reading names them; its time is ours).
                name = getattr(err, "field", None)
                field = clock if name == "time" else f"{where}.{name}" if name else where
                raise RequestError(field, f"{where}: {err}") from None
        return out

    # -- on the compute thread ---------------------------------------------------------
    def run_batch(self, jobs: list[Job]) -> list[Any]:
        """Sync the named twins with the store, advance them together, report per job."""
        results: list[Any] = [None] * len(jobs)
        entries: dict[tuple[str, str], Live] = {}
        for i, job in enumerate(jobs):
            key = (job.tenant, job.twin_id)
            try:
                if key not in entries:
                    entries[key] = self._sync(job.tenant, job.twin_id)
            except Exception as err:
                results[i] = err
        lives = list(entries.values())
        before = {id(e): e.twin.cycle for e in lives}
        t0 = time.perf_counter()
        if lives:  # one call: the twins' filter configs differ only by their seeds
            assimilate_many([e.twin for e in lives], [[] for _ in lives])
        if self.metrics is not None and lives:
            self.metrics.assimilation.observe(time.perf_counter() - t0)
            for e in lives:
                self.metrics.count_sources(e.twin.last_sources)
                if e.twin.cycle > before[id(e)]:
                    e.twin.thin_snapshots()
        for e in lives:
            self._persist(e)
        for i, job in enumerate(jobs):
            if results[i] is not None:
                continue
            e = entries[(job.tenant, job.twin_id)]
            results[i] = {"time_s": e.twin.time, "rejected": e.twin.log.rejected,
                          "state": e.twin.state() if job.state else None,
                          "readings": len(e.twin.log)}
        self._evict()
        return results

    def _sync(self, tenant: str, twin_id: str) -> Live:
        """The live twin, with every reading the store holds (other replicas' too)."""
        rec = self.store.get_twin(tenant, twin_id)
        key = (tenant, twin_id)
        if rec is None:
            self.live.pop(key, None)
            raise NotFound(twin_id)
        e = self.live.get(key)
        if e is None or e.record.created_at != rec.created_at:  # new, or deleted + re-created
            e = self._load(rec)
            self.live[key] = e
        else:
            rows = self.store.readings(tenant, twin_id, after_seq=e.last_seq)
            if rows:
                added = e.twin.log.add([Reading.from_json(d) for _, d in rows])
                e.last_seq = rows[-1][0]
                if added.earliest_new is not None and added.earliest_new <= e.twin.time:
                    e.twin._rewind(added.earliest_new)
        e.used = time.monotonic()
        return e

    def _load(self, rec: TwinRecord) -> Live:
        slab = SlabIn.model_validate(rec.spec["slab"])
        scenario = slab_scenario(slab, self.propagator.cells)
        cfg = dataclasses.replace(self.twin_config, seed=hash_id(rec.twin_id) % 2**31)
        twin = Twin(scenario, self.propagator, cfg, asset_id=rec.twin_id)
        rows = self.store.readings(rec.tenant, rec.twin_id)
        twin.log.add([Reading.from_json(d) for _, d in rows])
        e = Live(rec, twin, charged_at(rec), last_seq=rows[-1][0] if rows else 0)
        snap = self.store.get_snapshot(rec.tenant, rec.twin_id)
        if snap is not None:
            try:
                twin.restore(snap.cycle, snap.fields, snap.augmented)
            except ConfigError:  # a snapshot of another filter config: replay from the log
                log.warning("twin %s: snapshot does not fit the filter; replaying", rec.twin_id)
            else:
                for rid, why in snap.rejected.items():
                    if rid in twin.log:
                        twin.log.reject(rid, why)
                late = [d["time"] for s, d in rows if s > snap.last_seq]
                if late and min(late) <= twin.time:
                    twin._rewind(min(late))
                e.persisted_cycle = twin.cycle
        log.info("twin %s/%s loaded: %d readings, snapshot at cycle %s", rec.tenant,
                 rec.twin_id, len(rows), None if snap is None else snap.cycle)
        return e

    def _persist(self, e: Live) -> None:
        tw = e.twin
        if tw.cycle - e.persisted_cycle < self.snapshot_every:
            return
        snap = SnapshotRecord(tw.cycle, tw.fields, tw.augmented, e.last_seq, tw.log.rejected)
        # Written by the store thread: the compute thread never waits behind the appends for
        # the database's write lock (a snapshot only shortens a rebuild; readings are durable).
        self._writer.submit(self._put, e.record.tenant, e.record.twin_id, snap)
        e.persisted_cycle = tw.cycle

    def _put(self, tenant: str, twin_id: str, snap: SnapshotRecord) -> None:
        try:
            self.store.put_snapshot(tenant, twin_id, snap)
        except Exception:
            log.exception("snapshot of %s/%s not written (the twin replays from its log)",
                          tenant, twin_id)

    def _evict(self) -> None:
        if len(self.live) <= self.max_loaded:
            return
        for key, e in sorted(self.live.items(), key=lambda kv: kv[1].used)[
                : len(self.live) - self.max_loaded]:
            self._persist_now(e)
            del self.live[key]

    def _persist_now(self, e: Live) -> None:
        e.persisted_cycle = -math.inf  # type: ignore[assignment]
        self._persist(e)

    def warmup_steps(self, sizes: Sequence[int], slots: Sequence[int] = (4,)) -> list[WarmupStep]:
        """Warm-up steps (throw-away twins; nothing is stored): the assimilation cycle for
        each batch bucket of ``sizes`` twins and reading slots of ``slots`` (4, 16, ...), with
        the state report."""
        c = self.propagator.step_seconds
        sc = experiment.slab_scenario(cells=self.propagator.cells)

        def cycle(size: int, slot: int) -> None:
            n = 2 if slot <= 4 else slot // 2  # readings that need exactly ``slot`` slots
            rs = [make_reading(f"w{i}", c * (i + 1) / (n + 1), "pyrometer_top", 400.0, "K")
                  for i in range(n)]
            twins = [Twin(sc, self.propagator, self.twin_config, asset_id="warmup")
                     for _ in range(size)]
            assimilate_many(twins, [rs] * size)
            twins[0].state()

        return [WarmupStep(f"assimilation cycle: {size} twin{'s' * (size > 1)}, {slot} "
                           "reading slots", functools.partial(cycle, size, slot))
                for size in sorted({max(b for b in TWIN_BUCKETS if b <= max(s, 1))
                                    for s in sizes})
                for slot in slots]

    def forget(self, tenant: str, twin_id: str) -> None:
        self.live.pop((tenant, twin_id), None)

    def flush(self) -> None:
        """Snapshot every live twin and wait for the writes (at shutdown: a restart then
        replays little)."""
        for e in list(self.live.values()):
            if e.twin.cycle > e.persisted_cycle:
                self._persist_now(e)
        self._writer.shutdown(wait=True)
        self._writer = concurrent.futures.ThreadPoolExecutor(1, "steeltwin-snapshots")

    def entry(self, tenant: str, twin_id: str) -> Live:
        """The synced live twin (compute thread only; assimilates what it holds)."""
        e = self._sync(tenant, twin_id)
        assimilate_many([e.twin], [[]])
        return e


def hash_id(twin_id: str) -> int:
    """A stable 128-bit number of a twin id (the filter's seed; Python's hash is salted)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, twin_id).int
