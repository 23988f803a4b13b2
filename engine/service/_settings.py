"""Settings of one service instance (built from ``conf/serve.yaml`` by ``steeltwin-serve``, or
directly in Python and tests). Units: seconds, bytes; the propagator's are in its section."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from steeltwin.engine import ConfigError


@dataclasses.dataclass(frozen=True)
class ServeSettings:
    """Everything ``create_app`` needs.

    Attributes:
        database: ``sqlite:///path.db`` (embedded default) or ``postgresql://...``.
        state_dir: where a first start writes the bootstrap admin key (``admin.key``, 0600).
        admin_key: a known admin key text to install on a store without keys (optional).
        tenant: the bootstrap key's tenant.
        propagator: the ``propagator`` section (kind physics | surrogate | guarded, see
            ``conf/propagator``); ``model`` names a steeltwin-train run for the others.
        twin: ``TwinConfig`` fields (the filter of every twin).
        batch_window_ms, max_batch, max_queue: micro-batching (max_batch 1 = off, the
            default: on 2 CPU cores it cost throughput) and the bounded queues (a full queue
            answers 429).
        max_body_bytes, max_assets, max_times, max_readings, max_horizon_s: request limits.
        max_twin_seconds: latest reading time after charging accepted (compute bound).
        request_timeout_s: longest wait for compute before 503.
        snapshot_every: cycles between durable ensemble snapshots.
        max_loaded: twins held in memory (least recently used ones are dropped, not lost).
        warmup: compile the programs that matter (``_warmup``) in the background after
            start-up; ``/readyz`` turns ready when they are done.
        opcua, mqtt: plant adapter sections (``None``: off).
    """

    database: str = "sqlite:///outputs/serve/steeltwin.db"
    state_dir: str = "outputs/serve"
    admin_key: str | None = None
    tenant: str = "default"
    propagator: dict[str, Any] = dataclasses.field(default_factory=lambda: {
        "kind": "physics", "cells": 24, "step_seconds": 60.0, "dt": 30.0, "iterations": 2})
    twin: dict[str, Any] = dataclasses.field(default_factory=dict)
    batch_window_ms: float = 2.0
    max_batch: int = 1
    max_queue: int = 512
    max_body_bytes: int = 1 << 20
    max_assets: int = 64
    max_times: int = 1000
    max_readings: int = 1000
    max_horizon_s: float = 8 * 3600.0
    max_twin_seconds: float = 24 * 3600.0
    request_timeout_s: float = 30.0
    snapshot_every: int = 20
    max_loaded: int = 10000
    advise_max_iterations: int = 300
    warmup: bool = True
    opcua: dict[str, Any] | None = None
    mqtt: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for key in ("max_batch", "max_queue", "max_body_bytes", "max_assets", "max_times",
                    "max_readings", "snapshot_every", "max_loaded", "advise_max_iterations"):
            v = getattr(self, key)
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
                raise ConfigError(f"serve.{key}={v!r} is invalid: expected an integer >= 1; "
                                  "see conf/serve.yaml for the defaults")
        for key in ("batch_window_ms", "max_horizon_s", "max_twin_seconds",
                    "request_timeout_s"):
            v = getattr(self, key)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"serve.{key}={v!r} is invalid: expected a number >= 0")
        if self.max_horizon_s <= 0 or self.request_timeout_s <= 0:
            raise ConfigError("serve.max_horizon_s and serve.request_timeout_s are invalid: "
                              "expected positive numbers")
