"""Normalisation and the training envelope of a surrogate (plain NumPy, JSON round trip).

``Normalizer``: affine maps of the field (K), the boundary inputs (gas temperature K, exchange
factor, h) and the scalar parameters, plus the scale of one macro step's increment, all
computed from training data. Temperatures (field and gas) share one centre and scale, so the
network sees physically comparable numbers.

``Envelope``: the ranges seen in training, per scalar parameter, per boundary-input channel
and for the field, and ``distance``: the largest excess outside those ranges over all inputs,
in units of each range's width (0 inside; 0.1 = 10 % of a range beyond its edge). Cheap enough
to evaluate on every call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

INPUT_CHANNELS = ("gas_temperature", "exchange_factor", "h")
ROUNDING = 1e-5  # relative excess below this is float32 rounding, not extrapolation


def _std(x: np.ndarray, axis: Any = None) -> np.ndarray:
    s = np.std(x, axis=axis)
    return np.where(s > 1e-12, s, 1.0)


@dataclasses.dataclass(frozen=True)
class Normalizer:
    t_centre: float  # K
    t_scale: float  # K
    input_centre: tuple[float, ...]  # per channel (gas uses t_centre)
    input_scale: tuple[float, ...]
    param_centre: tuple[float, ...]
    param_scale: tuple[float, ...]
    delta_scale: float  # K, of T(t + macro step) - T(t)

    @classmethod
    def fit(cls, temperature: np.ndarray, inputs: np.ndarray, params: np.ndarray,
            horizon: int) -> Normalizer:
        """From training arrays: temperature [n, n_t, *cells], inputs [n, n_t, F, 3],
        params [n, P]; ``horizon`` output intervals per macro step."""
        T = np.asarray(temperature, np.float64)
        tc, ts = float(T.mean()), float(T.std())
        ic = [tc] + [float(inputs[..., c].mean()) for c in (1, 2)]
        isc = [ts] + [float(_std(inputs[..., c])) for c in (1, 2)]
        delta = T[:, horizon:] - T[:, :-horizon]
        return cls(tc, ts, tuple(ic), tuple(isc), tuple(np.mean(params, 0).tolist()),
                   tuple(_std(params, 0).tolist()), float(np.sqrt(np.mean(delta**2))))

    def field(self, T: Any) -> Any:
        return (T - self.t_centre) / self.t_scale

    def inputs(self, u: Any) -> Any:
        return (u - np.asarray(self.input_centre, np.float32)) / np.asarray(self.input_scale,
                                                                              np.float32)

    def params(self, p: Any) -> Any:
        return (p - np.asarray(self.param_centre, np.float32)) / np.asarray(self.param_scale,
                                                                              np.float32)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Normalizer:
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                  for k, v in d.items()}
        return cls(**kwargs)


@dataclasses.dataclass(frozen=True)
class Envelope:
    """Input ranges seen in training (see the module doc)."""

    param_names: tuple[str, ...]
    param_low: tuple[float, ...]
    param_high: tuple[float, ...]
    input_low: tuple[float, ...]  # per channel (gas temperature, exchange factor, h)
    input_high: tuple[float, ...]
    field_low: float
    field_high: float

    @classmethod
    def fit(cls, names: tuple[str, ...], temperature: np.ndarray, inputs: np.ndarray,
            params: np.ndarray) -> Envelope:
        return cls(tuple(names), tuple(np.min(params, 0).tolist()),
                   tuple(np.max(params, 0).tolist()),
                   tuple(float(inputs[..., c].min()) for c in range(3)),
                   tuple(float(inputs[..., c].max()) for c in range(3)),
                   float(np.min(temperature)), float(np.max(temperature)))

    def distance(self, field: Any, inputs: Any, params: Any) -> np.ndarray:
        """Largest relative excess outside the envelope per batch row (0 inside).

        field [B, *cells] K, inputs [B, ..., 3], params [B, P]. NumPy in, NumPy out (float64);
        ``distance_jax`` is the same measure in JAX (for use inside ``jit``)."""
        return np.asarray(self._distance(np, np.asarray(field, np.float64),
                                         np.asarray(inputs, np.float64),
                                         np.asarray(params, np.float64)))

    def distance_jax(self, field: Any, inputs: Any, params: Any) -> Any:
        """:meth:`distance` in JAX, in the dtype of ``field`` (traceable, differentiable)."""
        import jax.numpy as jnp  # local: the rest of this module is plain NumPy

        dt = jnp.asarray(field).dtype
        return self._distance(jnp, jnp.asarray(field), jnp.asarray(inputs, dt),
                              jnp.asarray(params, dt))

    def _distance(self, xp: Any, field: Any, inputs: Any, params: Any) -> Any:
        b = field.shape[0]
        dt = field.dtype

        def excess(x: Any, lo: Any, hi: Any) -> Any:
            lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
            width = np.where(hi - lo > 1e-12, hi - lo, np.maximum(np.abs(hi), 1.0))
            lo, hi, width = (xp.asarray(v, dt) for v in (lo, hi, width))
            rel = xp.maximum(xp.maximum(lo - x, x - hi), 0.0) / width
            return xp.where(rel > ROUNDING, rel, 0.0)  # float32 inputs round past the edges

        d_field = excess(field.reshape(b, -1), self.field_low, self.field_high).max(axis=1)
        d_in = excess(inputs.reshape(b, -1, 3), self.input_low, self.input_high)
        d_par = excess(params, self.param_low, self.param_high)
        return xp.maximum(xp.maximum(d_field, d_in.reshape(b, -1).max(axis=1)),
                          d_par.max(axis=1))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Envelope:
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                  for k, v in d.items()}
        return cls(**kwargs)
