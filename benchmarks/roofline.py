"""STREAM-like memory-bandwidth measurement, the memory roof for the solver benchmarks.

Kernels on float64 arrays far larger than the last-level cache (default 256 MB each):

- copy   a = b          (NumPy, one thread)  bytes = 16 N (read b, write a)
- scale  a = s·b        (NumPy, one thread)  bytes = 16 N
- triad  a = b + s·c    (NumPy, two passes: a = s·c then a += b)  bytes = 40 N actually moved
                        (read c, write a; read a, read b, write a)
- jax_triad  x·1.0001 + y  (XLA on CPU, one fused kernel, may use several threads)
                        bytes = 24 N (read x, read y, write the result); a fresh output
                        buffer per call, so first-touch page faults are included
- jax_triad_donated  the same with x donated (`donate_argnums=0`): the output reuses x's
                        buffer, the steady state of a time loop that updates its state

Bytes count reads plus writes of the operation as performed (write-allocate traffic is not
counted, as in STREAM). GB/s = 1e9 bytes/s; the best of `repeats` runs is reported.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import numpy as np


def _best_rate(fn: Callable[[], object], n_bytes: float, repeats: int) -> float:
    fn()
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n_bytes / best / 1e9


def _numpy_rates(n: int, repeats: int) -> dict:
    a = np.zeros(n)
    b = np.full(n, 1.5)
    c = np.full(n, 2.5)
    s = 1.0001

    def triad() -> None:
        np.multiply(c, s, out=a)
        np.add(a, b, out=a)

    return {
        "copy": _best_rate(lambda: np.copyto(a, b), 16.0 * n, repeats),
        "scale": _best_rate(lambda: np.multiply(b, s, out=a), 16.0 * n, repeats),
        "triad": _best_rate(triad, 40.0 * n, repeats),
    }


def memory_bandwidth_gbps(array_mb: float = 256.0, repeats: int = 5, use_jax: bool = True) -> dict:
    """Measured memory bandwidth of this machine in GB/s.

    Args:
        array_mb: size of each array in MB (10⁶ bytes); keep it ≫ the last-level cache.
        repeats: timed repeats per kernel (after one warm-up); the best is kept.
        use_jax: also time a jitted `x*1.0001 + y` on the JAX CPU backend (skipped with a
            `jax_error` entry if JAX is unavailable).

    Returns:
        dict with copy, scale, triad (NumPy), jax_triad and jax_triad_donated in GB/s, plus
        array_mb and jax_dtype (float64 only if x64 was enabled by the caller).
    """
    result = {"array_mb": array_mb, **_numpy_rates(int(array_mb * 1e6 / 8), repeats)}
    if use_jax:
        try:
            import jax
            import jax.numpy as jnp
        except ImportError as err:  # pragma: no cover - optional
            result["jax_error"] = str(err)
            return result
        cpu = jax.devices("cpu")[0]
        dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
        size = np.dtype(dtype).itemsize
        m = int(array_mb * 1e6 / size)
        x = jax.device_put(jnp.full(m, 1.5, dtype), cpu)
        y = jax.device_put(jnp.full(m, 2.5, dtype), cpu)
        kernel = jax.jit(lambda u, v: u * 1.0001 + v)
        result["jax_triad"] = _best_rate(
            lambda: kernel(x, y).block_until_ready(), 3.0 * size * m, repeats
        )
        donating = jax.jit(lambda u, v: u * 1.0001 + v, donate_argnums=0)
        state = [donating(x, y)]  # x is consumed here; later calls recycle the output buffer

        def update() -> None:
            state[0] = donating(state[0], y).block_until_ready()

        result["jax_triad_donated"] = _best_rate(update, 3.0 * size * m, repeats)
        result["jax_dtype"] = str(np.dtype(dtype))
    return result


if __name__ == "__main__":
    print(json.dumps(memory_bandwidth_gbps(), indent=2))
