"""Flax NNX networks that advance a temperature field over one macro step.

Every network maps normalised inputs to a normalised *increment* of the field:

    field  [B, *cells]          the current temperature, normalised
    drive  [B, n_drive]         boundary inputs at the knots of the step, flattened, and the
                                scalar scenario parameters, all normalised
    ->     [B, *cells]          (T_next - T) / delta_scale

(the residual form and the normalisation live in ``_surrogate``; the networks never see K).

- ``MLP``: the whole field and the drive concatenated, GELU hidden layers. The baseline.
- ``FNO``: a Fourier neural operator (Li et al. 2021) in 1D (slabs) or 2D (sections): per
  cell, the field, the cell's coordinates and the drive (broadcast) are lifted to ``width``
  channels, pass ``layers`` spectral layers (a truncated Fourier multiplier on ``modes`` modes
  per axis plus a pointwise linear map, GELU), and are projected to the increment. The field is
  zero-padded by ``padding`` cells per side before the FFT, as the domain is not periodic.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
from flax import nnx


class MLP(nnx.Module):
    """Fully connected baseline on the flattened field plus the drive."""

    def __init__(self, cells: tuple[int, ...], n_drive: int, hidden: int = 256,
                 depth: int = 3, *, rngs: nnx.Rngs) -> None:
        self.cells = tuple(cells)
        n_field = math.prod(cells)
        sizes = [n_field + n_drive] + [hidden] * depth
        self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs)
                                for a, b in itertools.pairwise(sizes)])
        # Start near the identity map of the residual form: a small last layer.
        self.out = nnx.Linear(hidden, n_field, rngs=rngs,
                              kernel_init=nnx.initializers.variance_scaling(
                                  0.01, "fan_in", "truncated_normal"))

    def __call__(self, field: jax.Array, drive: jax.Array) -> jax.Array:
        b = field.shape[0]
        x = jnp.concatenate([field.reshape(b, -1), drive], axis=-1)
        for layer in self.hidden:
            x = jax.nn.gelu(layer(x))
        return self.out(x).reshape(b, *self.cells)


class SpectralConv(nnx.Module):
    """Truncated Fourier multiplier over the spatial axes (1D or 2D), complex weights."""

    def __init__(self, width: int, modes: tuple[int, ...], *, rngs: nnx.Rngs) -> None:
        self.modes = tuple(modes)
        # 2D keeps the low positive and negative frequencies of the first axis (two blocks).
        blocks = 2 if len(modes) == 2 else 1
        scale = 1.0 / (width * width)
        shape = (blocks, width, width, *modes)
        self.w_re = nnx.Param(scale * jax.random.uniform(rngs.params(), shape, jnp.float32))
        self.w_im = nnx.Param(scale * jax.random.uniform(rngs.params(), shape, jnp.float32))

    def __call__(self, x: jax.Array) -> jax.Array:
        # x: [B, *space, C]
        axes = tuple(range(1, x.ndim - 1))
        xf = jnp.fft.rfftn(x, axes=axes)
        w = jax.lax.complex(self.w_re[...], self.w_im[...]).astype(xf.dtype)
        out = jnp.zeros(xf.shape, xf.dtype)
        if len(self.modes) == 1:
            (m,) = self.modes
            out = out.at[:, :m].set(jnp.einsum("bmi,iom->bmo", xf[:, :m], w[0]))
        else:
            m1, m2 = self.modes
            lo = jnp.einsum("bxyi,ioxy->bxyo", xf[:, :m1, :m2], w[0])
            hi = jnp.einsum("bxyi,ioxy->bxyo", xf[:, -m1:, :m2], w[1])
            out = out.at[:, :m1, :m2].set(lo).at[:, -m1:, :m2].set(hi)
        shape = x.shape[1:-1]
        return jnp.fft.irfftn(out, s=shape, axes=axes).astype(x.dtype)


class FNO(nnx.Module):
    """Fourier neural operator on the cell grid (1D or 2D)."""

    def __init__(self, cells: tuple[int, ...], n_drive: int, width: int = 32,
                 modes: int = 8, layers: int = 4, padding: int = 4, *,
                 rngs: nnx.Rngs) -> None:
        self.cells = tuple(cells)
        self.padding = padding
        ndim = len(cells)
        n_modes = tuple(min(modes, (n + 2 * padding) // 2 + 1) for n in cells)
        self.lift = nnx.Linear(1 + ndim + n_drive, width, rngs=rngs)
        self.spectral = nnx.List([SpectralConv(width, n_modes, rngs=rngs)
                                  for _ in range(layers)])
        self.pointwise = nnx.List([nnx.Linear(width, width, rngs=rngs) for _ in range(layers)])
        self.proj = nnx.Linear(width, 2 * width, rngs=rngs)
        self.out = nnx.Linear(2 * width, 1, rngs=rngs,
                              kernel_init=nnx.initializers.variance_scaling(
                                  0.01, "fan_in", "truncated_normal"))

    def __call__(self, field: jax.Array, drive: jax.Array) -> jax.Array:
        b = field.shape[0]
        ndim = len(self.cells)
        grids = jnp.meshgrid(*[jnp.linspace(-1.0, 1.0, n, dtype=field.dtype)
                               for n in self.cells], indexing="ij")
        coords = jnp.broadcast_to(jnp.stack(grids, -1), (b, *self.cells, ndim))
        glob = jnp.broadcast_to(drive.reshape(b, *([1] * ndim), -1),
                                (b, *self.cells, drive.shape[-1]))
        x = self.lift(jnp.concatenate([field[..., None], coords, glob], axis=-1))
        p = self.padding
        pad = [(0, 0)] + [(p, p)] * ndim + [(0, 0)]
        x = jnp.pad(x, pad)
        for k, (spec, point) in enumerate(zip(self.spectral, self.pointwise, strict=True)):
            x = spec(x) + point(x)
            if k + 1 < len(self.spectral):
                x = jax.nn.gelu(x)
        crop = (slice(None), *tuple(slice(p, p + n) for n in self.cells))
        x = x[crop]
        return self.out(jax.nn.gelu(self.proj(x)))[..., 0]


NETWORKS = {"mlp": MLP, "fno": FNO}
