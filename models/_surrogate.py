"""A surrogate: an ensemble of networks plus normalisation, envelope and its own config.

``SurrogateConfig`` (JSON) says everything needed to rebuild the networks: the network kind
and its keyword arguments, the cell grid, the number of boundary faces, the macro step
(``horizon`` output intervals of ``output_interval`` seconds), which scalar parameters the
network takes, and the ensemble size.

The step maps (field T [B, *cells] in K, boundary inputs at the step's knots
[B, horizon + 1, n_faces, 3] (gas temperature K, exchange factor, h W/(m^2 K)), parameters
[B, P]) to the field after the step, for every ensemble member:

    T_next = T + delta_scale * net(normalise(T), [normalise(inputs), normalise(params)])

``rollout`` repeats it with ``lax.scan`` over a schedule of macro steps. Members are stacked
on a leading axis (``nnx.vmap`` over split RNG streams), so one call evaluates the ensemble.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ._networks import NETWORKS
from ._normalize import Envelope, Normalizer


@dataclasses.dataclass(frozen=True)
class SurrogateConfig:
    """How to rebuild a surrogate (stored as JSON in the checkpoint).

    Attributes:
        kind: ``mlp`` or ``fno``.
        network: keyword arguments of the network (hidden/depth, or width/modes/layers/padding).
        cells: the field's cell counts.
        n_faces: boundary face groups.
        horizon: output intervals per macro step.
        output_interval: s, of the dataset the model was trained on.
        param_names: the scalar parameters the network takes, in order.
        ensemble: number of independently initialised members.
        seed: initialisation seed.
    """

    kind: str
    network: Mapping[str, Any]
    cells: tuple[int, ...]
    n_faces: int
    horizon: int
    output_interval: float
    param_names: tuple[str, ...]
    ensemble: int = 4
    seed: int = 0

    @property
    def step_seconds(self) -> float:
        return self.horizon * self.output_interval

    @property
    def n_drive(self) -> int:
        return (self.horizon + 1) * self.n_faces * 3 + len(self.param_names)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["network"] = dict(self.network)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SurrogateConfig:
        d = dict(d)
        d["cells"] = tuple(d["cells"])
        d["param_names"] = tuple(d["param_names"])
        return cls(**d)


def build_ensemble(config: SurrogateConfig) -> nnx.Module:
    """The ensemble of networks, members stacked on axis 0 of every parameter."""
    if config.kind not in NETWORKS:
        raise ValueError(f"model.kind={config.kind!r} is invalid: expected one of "
                         f"{', '.join(NETWORKS)}")
    cls = NETWORKS[config.kind]

    @nnx.split_rngs(splits=config.ensemble)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def create(rngs: nnx.Rngs) -> nnx.Module:
        return cls(config.cells, config.n_drive, **dict(config.network), rngs=rngs)

    return create(nnx.Rngs(config.seed))


def drive_vector(norm: Normalizer, inputs: jax.Array, params: jax.Array) -> jax.Array:
    """Normalised boundary inputs (flattened) and parameters: [B, n_drive]."""
    b = inputs.shape[0]
    u = (inputs - jnp.asarray(norm.input_centre, inputs.dtype)) / jnp.asarray(
        norm.input_scale, inputs.dtype)
    p = (params - jnp.asarray(norm.param_centre, params.dtype)) / jnp.asarray(
        norm.param_scale, params.dtype)
    return jnp.concatenate([u.reshape(b, -1), p], axis=-1)


def ensemble_step(graphdef: nnx.GraphDef, state: nnx.State, norm: Normalizer, T: jax.Array,
                  inputs: jax.Array, params: jax.Array, per_member: bool = False) -> jax.Array:
    """Every member's next field, K: [K, B, *cells] (T is [B, *cells], or [K, B, *cells]
    with ``per_member``).

    Pure in (state, arrays): members are mapped with ``jax.vmap`` over the stacked state and
    merged inside, so this composes with ``jit``, ``scan`` and ``grad``."""
    drive = drive_vector(norm, inputs, params)

    def apply(member: nnx.State, t: jax.Array) -> jax.Array:
        net = nnx.merge(graphdef, member)
        x = (t - norm.t_centre) / norm.t_scale
        return t + norm.delta_scale * net(x, drive)

    return jax.vmap(apply, in_axes=(0, 0 if per_member else None))(state, T)


def rollout(graphdef: nnx.GraphDef, state: nnx.State, norm: Normalizer, T0: jax.Array,
            inputs: jax.Array, params: jax.Array) -> jax.Array:
    """Autoregressive rollout: inputs [B, S, horizon + 1, n_faces, 3] -> fields
    [K, B, S, *cells] after each of the S macro steps (each member rolls its own state)."""
    k = jax.tree.leaves(state)[0].shape[0]
    T = jnp.broadcast_to(T0, (k, *T0.shape))

    def body(t: jax.Array, u: jax.Array) -> tuple[jax.Array, jax.Array]:
        nxt = ensemble_step(graphdef, state, norm, t, u, params, per_member=True)
        return nxt, nxt

    _, out = jax.lax.scan(body, T, jnp.moveaxis(inputs, 1, 0))
    return jnp.moveaxis(out, 0, 2)


@dataclasses.dataclass
class Surrogate:
    """A trained surrogate for inference: networks, normalisation, envelope, config.

    ``step`` and ``rollout`` are jitted once per input shape; they return the ensemble mean
    and standard deviation (K) times ``spread_scale`` (1, or the factor that makes the spread
    match the rollout error on validation data: ``calibration.json`` of the run).
    ``leaves`` holds the state's arrays, flat, as the jitted functions take them: build a new
    ``Surrogate`` rather than replace ``state``.
    """

    config: SurrogateConfig
    graphdef: nnx.GraphDef
    state: nnx.State
    normalizer: Normalizer
    envelope: Envelope
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    spread_scale: float = 1.0  # ensemble std multiplier calibrated on validation data

    def __post_init__(self) -> None:
        norm = self.normalizer
        g = self.graphdef
        # The jitted functions take the state as a flat list of arrays: flattening an
        # ``nnx.State`` (a Python-registered pytree) on every call costs ~20-50 us, a third of
        # a small network's whole-passage rollout at batch 1.
        self.leaves, treedef = jax.tree.flatten(self.state)

        def unflat(leaves: list[jax.Array]) -> nnx.State:
            return jax.tree.unflatten(treedef, leaves)

        self._step = jax.jit(lambda s, T, u, p: ensemble_step(g, unflat(s), norm, T, u, p))
        self._rollout = jax.jit(lambda s, T, u, p: rollout(g, unflat(s), norm, T, u, p))

    def select_params(self, params: Mapping[str, Any] | np.ndarray,
                      names: tuple[str, ...] | None = None) -> np.ndarray:
        """The network's parameter columns from a mapping (name -> [B] values) or from an
        array with columns ``names``."""
        if isinstance(params, Mapping):
            return np.stack([np.asarray(params[n], np.float32) for n in self.config.param_names],
                            axis=-1)
        arr = np.asarray(params, np.float32)
        if names is None:
            return arr
        return arr[:, [list(names).index(n) for n in self.config.param_names]]

    def step(self, T: Any, inputs: Any, params: Any) -> tuple[jax.Array, jax.Array]:
        out = self._step(self.leaves, jnp.asarray(T, jnp.float32),
                         jnp.asarray(inputs, jnp.float32), jnp.asarray(params, jnp.float32))
        return out.mean(0), self.spread_scale * out.std(0)

    def rollout(self, T0: Any, inputs: Any, params: Any) -> tuple[jax.Array, jax.Array]:
        out = self._rollout(self.leaves, jnp.asarray(T0, jnp.float32),
                            jnp.asarray(inputs, jnp.float32), jnp.asarray(params, jnp.float32))
        return out.mean(0), self.spread_scale * out.std(0)

    def members(self, T0: Any, inputs: Any, params: Any) -> jax.Array:
        """Every member's rollout, [K, B, S, *cells] (K)."""
        return self._rollout(self.leaves, jnp.asarray(T0, jnp.float32),
                             jnp.asarray(inputs, jnp.float32), jnp.asarray(params, jnp.float32))

    def envelope_distance(self, T: Any, inputs: Any, params: Any) -> np.ndarray:
        return self.envelope.distance(T, inputs, params)

    @property
    def n_parameters(self) -> int:
        return sum(math.prod(x.shape) for x in jax.tree.leaves(self.state))
