"""Prometheus metrics of one service instance (its own registry, so tests and several apps in
one process never share counters).

- ``steeltwin_http_request_seconds{method, route, status}``: request latency histogram, by
  route template (``/v1/twins/{twin_id}``), never by raw path (no unbounded label values);
- ``steeltwin_assimilation_seconds``, ``steeltwin_predict_seconds``: batch compute time;
  ``steeltwin_batch_size{kind}``: jobs per compiled call (what micro-batching buys);
- ``steeltwin_fallbacks_total{reason}``: guarded-propagator steps answered by physics;
- ``steeltwin_readings_total{outcome}``: stored, duplicate, conflict, rejected (gate);
- ``steeltwin_queue_depth{kind}``, ``steeltwin_twins_loaded``, ``steeltwin_rejected_requests_total
  {reason}`` (429/413/503).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.http = Histogram("steeltwin_http_request_seconds", "HTTP request latency",
                              ["method", "route", "status"], buckets=LATENCY_BUCKETS,
                              registry=r)
        self.assimilation = Histogram("steeltwin_assimilation_seconds",
                                      "compute time of one batched assimilation",
                                      buckets=LATENCY_BUCKETS, registry=r)
        self.predict = Histogram("steeltwin_predict_seconds",
                                 "compute time of one batched prediction",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("steeltwin_batch_size", "jobs per compiled call", ["kind"],
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r)
        self.fallbacks = Counter("steeltwin_fallbacks_total",
                                 "guarded-propagator steps answered by physics", ["reason"],
                                 registry=r)
        self.readings = Counter("steeltwin_readings_total", "readings by outcome", ["outcome"],
                                registry=r)
        self.queue_depth = Gauge("steeltwin_queue_depth", "jobs waiting", ["kind"], registry=r)
        self.twins_loaded = Gauge("steeltwin_twins_loaded", "twins held in memory", registry=r)
        self.refused = Counter("steeltwin_rejected_requests_total",
                               "requests refused before any work", ["reason"], registry=r)

    def count_sources(self, sources: list[str]) -> None:
        for s in sources:
            if s.startswith("fallback"):
                self.fallbacks.labels(reason=s.removeprefix("fallback: ")).inc()
