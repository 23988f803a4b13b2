"""Data parallelism over every device of every process (``jax.sharding``, ``jax.distributed``).

One process (a laptop, one GPU node) sees its local devices; a multi-host job (SLURM, one
process per node or per GPU) joins them with ``jax.distributed.initialize`` before any other
JAX call, and ``jax.devices()`` then lists the devices of every process. Training uses one 1D
mesh over all of them: the batch is split along it, parameters and optimiser state are
replicated, and XLA reduces the gradients (over processes with the CPU's Gloo or the GPU's
NCCL collectives).

Every process draws the *same* global batch from the same seed and keeps its own rows, so a
run gives the same numbers on 2 devices in one process as on 2 processes of 1 device (the
tests check it); the price is that every process reads the whole batch from the shards,
which is cheap next to a training step at this project's sizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from steeltwin.engine import ConfigError

_KEYS = ("coordinator_address", "num_processes", "process_id", "local_device_ids")


def initialize_distributed(cfg: str | Mapping[str, Any] | None) -> bool:
    """Join a multi-process JAX job (call before anything else uses JAX).

    ``cfg``: ``None`` (one process, nothing to do), ``"auto"`` (let JAX read the cluster from
    the environment: SLURM's ``srun``, Open MPI, Kubernetes...), or a mapping of
    ``coordinator_address`` ("host:port" of process 0), ``num_processes``, ``process_id`` and
    optionally ``local_device_ids``. Returns whether a multi-process job was joined.
    """
    if cfg is None or cfg is False:
        return False
    if cfg == "auto" or cfg is True:
        jax.distributed.initialize()
        return True
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"distributed={cfg!r} is invalid: expected null (one process), "
                          "'auto' (SLURM/MPI from the environment) or a mapping with "
                          "coordinator_address, num_processes and process_id")
    unknown = sorted(set(cfg) - set(_KEYS))
    if unknown:
        raise ConfigError(f"distributed.{unknown[0]} is not a known key: expected one of "
                          f"{', '.join(_KEYS)}")
    missing = [k for k in _KEYS[:3] if cfg.get(k) is None]
    if missing:
        raise ConfigError(f"distributed.{missing[0]} is missing: an explicit multi-process "
                          "job needs coordinator_address ('host:port' of process 0), "
                          "num_processes and process_id (or use distributed=auto)")
    n, pid = int(cfg["num_processes"]), int(cfg["process_id"])
    if n < 1 or not 0 <= pid < n:
        raise ConfigError(f"distributed.process_id={pid} is invalid for num_processes={n}: "
                          f"expected 0 <= process_id < num_processes")
    jax.distributed.initialize(coordinator_address=str(cfg["coordinator_address"]),
                               num_processes=n, process_id=pid,
                               local_device_ids=cfg.get("local_device_ids"))
    return True


class DataParallel:
    """The 1D ``data`` mesh over every device of every process, and how arrays go onto it."""

    def __init__(self) -> None:
        self.mesh = Mesh(np.asarray(jax.devices()), ("data",))
        self.batch = NamedSharding(self.mesh, P("data"))
        self.replicated = NamedSharding(self.mesh, P())
        self.n_devices = len(jax.devices())
        self.n_processes = jax.process_count()
        self.process = jax.process_index()

    @property
    def is_primary(self) -> bool:
        """Process 0 writes logs and reports; every process takes part in checkpoints."""
        return self.process == 0

    def global_batch_size(self, requested: int) -> int:
        """``requested`` rounded up to a multiple of the device count."""
        return -(-requested // self.n_devices) * self.n_devices

    def shard_batch(self, batch: Mapping[str, np.ndarray]) -> dict[str, jax.Array]:
        """The global batch (the same on every process) split over the mesh: each process
        hands over its own rows (the mesh lists devices process by process)."""
        out = {}
        for k, v in batch.items():
            rows = len(v) // self.n_processes
            local = v[self.process * rows:(self.process + 1) * rows]
            out[k] = jax.make_array_from_process_local_data(self.batch, local, v.shape)
        return out

    def replicate(self, tree: Any) -> Any:
        """A host-identical pytree (parameters, optimiser state) copied to every device."""
        return jax.tree.map(lambda x: jax.make_array_from_process_local_data(
            self.replicated, np.asarray(x)), tree)


def local_copy(tree: Any) -> Any:
    """A replicated pytree as single-device arrays of this process (for validation and
    inference, which run on one device)."""
    return jax.tree.map(lambda x: x.addressable_data(0) if isinstance(x, jax.Array) else x,
                        tree)
