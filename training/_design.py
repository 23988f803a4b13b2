"""The sampling design of a dataset: parameters, their ranges, the points and the splits.

A dataset is a list of named scalar parameters with ranges (``Parameter``). The design draws
``n_samples`` points in the unit cube with a scrambled Sobol sequence or a Latin hypercube
(``scipy.stats.qmc``, seeded), maps them onto the ranges, and assigns each point to the train,
validation or test split by a seeded permutation (by scenario: every time step of a scenario
belongs to its split). ``n_extrapolation`` further points are drawn in a band just outside the
ranges (each range widened by ``margin`` of its width on both sides, clipped to physical
limits), keeping only points with at least one parameter outside its training range: the
``extrapolation`` split, for measuring how surrogates behave off their envelope.

Everything here is NumPy and deterministic: the same parameters, counts and seed give the same
points bit for bit, whoever computes them (every job of a multi-job run recomputes the design).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import qmc

from steeltwin.engine import ConfigError

SPLITS = ("train", "validation", "test", "extrapolation")
DESIGNS = ("sobol", "lhs")


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One sampled scalar.

    Attributes:
        name: key in the config and in the stored ``params`` (e.g. ``thickness``).
        low, high: the training range (low <= high; equal pins the value).
        unit: unit of the values as stored (SI, K for temperatures).
        limits: physical bounds the extrapolation band is clipped to.
        categories: for a categorical parameter, the number of categories (values are the
            integers 0 .. categories - 1; low/high are then 0 and categories - 1).
        offset, config_unit: the config gives ``value - offset`` in ``config_unit`` (degC
            for temperatures stored in K); used in error messages.
        key: the config key of the range (default ``dataset.ranges.<name>``).
    """

    name: str
    low: float
    high: float
    unit: str
    limits: tuple[float, float] = (-math.inf, math.inf)
    categories: int = 0
    offset: float = 0.0
    config_unit: str = ""
    key: str = ""

    def describe(self) -> str:
        """The range as the config gives it, for messages: ``dataset.ranges.x=[lo, hi]``."""
        lo, hi = self.low - self.offset, self.high - self.offset
        return f"{self.key or 'dataset.ranges.' + self.name}=[{lo:g}, {hi:g}]"

    def limits_text(self) -> str:
        lo, hi = self.limits[0] - self.offset, self.limits[1] - self.offset
        return f"[{lo:g}, {hi:g}] {self.config_unit or self.unit}"

    def widened(self, margin: float) -> tuple[float, float]:
        """The extrapolation band: the range widened by ``margin`` of its width each side."""
        if self.categories:
            return self.low, self.high
        w = (self.high - self.low) * margin
        return max(self.low - w, self.limits[0]), min(self.high + w, self.limits[1])


@dataclasses.dataclass(frozen=True)
class Design:
    """The sample points (one row per scenario) and their splits.

    Attributes:
        parameters: the sampled parameters, in column order.
        values: [n_total, n_params] parameter values (units of each ``Parameter``).
        split: [n_total] split code (index into ``SPLITS``).
        method, seed, margin: how it was drawn.
    """

    parameters: tuple[Parameter, ...]
    values: np.ndarray
    split: np.ndarray
    method: str
    seed: int
    margin: float

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def counts(self) -> dict[str, int]:
        return {name: int(np.sum(self.split == i)) for i, name in enumerate(SPLITS)}

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]


def _unit_points(method: str, d: int, n: int, seed: int) -> np.ndarray:
    if n == 0:
        return np.zeros((0, d))
    if method == "sobol":
        sampler = qmc.Sobol(d, scramble=True, seed=np.random.default_rng(seed))
        # Sobol is balanced at powers of two: draw the next one up and keep the first n.
        return sampler.random_base2(max(1, math.ceil(math.log2(n))))[:n]
    sampler_lhs = qmc.LatinHypercube(d, seed=np.random.default_rng(seed))
    return sampler_lhs.random(n)


def _scale(unit: np.ndarray, bounds: Sequence[tuple[float, float]],
           parameters: Sequence[Parameter]) -> np.ndarray:
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    x = lo + unit * (hi - lo)
    for j, p in enumerate(parameters):
        if p.categories:
            x[:, j] = np.minimum(np.floor(unit[:, j] * p.categories), p.categories - 1)
    return x


def check_parameters(parameters: Sequence[Parameter]) -> None:
    """Ranges must be finite, ordered and inside the physical limits (ConfigError)."""
    names = [p.name for p in parameters]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"dataset parameters {dup} appear twice; give each one range")
    for p in parameters:
        unit = p.config_unit or p.unit
        if not (math.isfinite(p.low) and math.isfinite(p.high)):
            raise ConfigError(f"{p.describe()} is invalid: expected finite bounds ({unit}); "
                              "give [low, high]")
        if p.low > p.high:
            raise ConfigError(f"{p.describe()} is invalid: expected low <= high (the range is "
                              f"inverted); swap the bounds to [{p.high - p.offset:g}, "
                              f"{p.low - p.offset:g}]")
        if p.low < p.limits[0] or p.high > p.limits[1]:
            raise ConfigError(f"{p.describe()} is invalid: expected values within the physical "
                              f"limits {p.limits_text()}; narrow the range")


def make_design(parameters: Sequence[Parameter], n_samples: int, n_extrapolation: int,
                fractions: dict[str, float], method: str = "sobol", seed: int = 0,
                margin: float = 0.1) -> Design:
    """Draw the design (see the module docstring)."""
    check_parameters(parameters)
    if method not in DESIGNS:
        raise ConfigError(f"dataset.design={method!r} is invalid: expected one of "
                          f"{', '.join(DESIGNS)}; use sobol (default) or lhs")
    if n_samples < 1:
        raise ConfigError(f"dataset.n_samples={n_samples} is invalid: expected at least 1 "
                          "scenario; set dataset.n_samples")
    if n_extrapolation < 0:
        raise ConfigError(f"dataset.n_extrapolation={n_extrapolation} is invalid: expected "
                          ">= 0; use 0 for no extrapolation split")
    if not 0 < margin <= 1:
        raise ConfigError(f"dataset.extrapolation_margin={margin} is invalid: expected a "
                          "fraction of each range in (0, 1]; use 0.1")
    params = tuple(parameters)
    d = len(params)
    inside = _scale(_unit_points(method, d, n_samples, seed), [(p.low, p.high) for p in params],
                    params)
    # Splits by scenario: a seeded permutation, cut by the fractions (rounded, test takes the
    # rest so the counts add up).
    f = [fractions.get(s, 0.0) for s in SPLITS[:3]]
    if any(v < 0 for v in f) or not math.isclose(sum(f), 1.0, abs_tol=1e-9):
        raise ConfigError(f"dataset.splits={fractions} is invalid: expected non-negative "
                          "train, validation and test fractions that add up to 1")
    n_train = round(f[0] * n_samples)
    n_val = round(f[1] * n_samples)
    order = np.random.default_rng([seed, 1]).permutation(n_samples)
    split = np.empty(n_samples, np.int8)
    split[order[:n_train]] = 0
    split[order[n_train:n_train + n_val]] = 1
    split[order[n_train + n_val:]] = 2
    # Extrapolation: draw in the widened band until enough points fall outside the ranges.
    band = [p.widened(margin) for p in params]
    lo = np.array([p.low for p in params])
    hi = np.array([p.high for p in params])
    continuous = np.array([not p.categories for p in params])
    if n_extrapolation and not any(b != (p.low, p.high) for b, p in zip(band, params,
                                                                         strict=True)):
        raise ConfigError("dataset.n_extrapolation > 0 needs at least one parameter whose range "
                          "can widen (all are pinned or at their physical limits); set "
                          "dataset.n_extrapolation=0")
    outside = np.zeros((0, d))
    draw = max(4 * n_extrapolation, 16)
    for attempt in range(20):
        pts = _scale(_unit_points(method, d, draw, seed + 1000 + attempt), band, params)
        out = np.any(((pts < lo) | (pts > hi)) & continuous, axis=1)
        outside = np.concatenate([outside, pts[out]])
        if len(outside) >= n_extrapolation:
            break
    outside = outside[:n_extrapolation]
    values = np.concatenate([inside, outside])
    split = np.concatenate([split, np.full(len(outside), 3, np.int8)])
    return Design(params, values, split, method, seed, margin)
