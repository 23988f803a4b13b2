"""A slab's digital twin: an ensemble Kalman filter over a propagator, fed with readings.

State of member i: the field T_i [n] (K) and the augmented parameters
z_i = (s_bottom, s_top, dT0): log-multipliers of the bottom and top exchange factors (the
schedule's phi times exp(s), the furnace's least known number) and the initial-temperature
offset (K) the member was charged with. Nominal parameters are the prior mean; the prior
spread is ``TwinConfig.exchange_log_std`` and ``initial_offset_std``.

One assimilation cycle covers (t0, t1] with t1 = t0 + ``propagator.step_seconds``:

1. forecast every member with its own exchange factors (one batched propagator call), and
   random-walk the log-multipliers by ``exchange_walk_std`` (the furnace drifts);
2. predict each reading of the window from the members: pyrometers see the face
   temperature of the solver's face balance, a thermocouple the field at its depth; a reading
   at t0 + w (t1 - t0) is predicted as (1 - w) H(x(t0)) + w H(x(t1)) (asynchronous EnKF:
   the update of x(t1) uses the ensemble covariance of x(t1) with that prediction);
3. gate each reading on its innovation (|d| > gate * std is recorded as rejected with the
   reason), inflate, and update [T, z] with the ETKF (or stochastic EnKF).

Readings are kept in a :class:`MeasurementLog` (idempotent by id). The ensemble after each
cycle is snapshotted; a reading older than the twin's clock rewinds to the snapshot before
it and replays the cycles since, so arrival order never changes the estimate. Random numbers
come from (seed, cycle index): replays are exact. Gas-temperature readings override the
schedule's gas temperature of their face (held for ``gas_hold`` s) in forecasts that cover
them. ``assimilate_many`` advances many twins in one batched call per cycle.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import ConfigError, require
from .._solve import Scenario
from ._batch import assimilate_many
from ._cycle import member_faces
from ._measurements import MeasurementLog, Reading
from ._predict import (
    Prediction,
    _plate_stress,
    centre_of,
    predict,
    resample,
    rollout_assets,
    steps_needed,
    summarise,
)
from ._propagator import AbstractPropagator
from ._slab import (
    knot_inputs,
    knot_times,
    log_odds_std,
    material_tables,
    member_exchange,
    scenario_params,
)

OBS_KINDS = {"pyrometer_bottom": 0, "pyrometer_top": 1, "thermocouple": 2}
GAS_SENSORS = {"gas_bottom": 0, "gas_top": 1}
N_AUG = 3  # s_bottom, s_top (log-odds offsets of the exchange factors), initial offset
FACES = ("bottom", "top")
EXCHANGE_FACES = ("independent", "tied")


@dataclasses.dataclass(frozen=True)
class TwinConfig:
    """Filter settings (temperatures K, times s).

    Attributes:
        members: ensemble size.
        method: ``etkf`` (deterministic square root) or ``stochastic`` (perturbed obs).
        inflation: multiplicative inflation of the anomalies before each analysis (1 = off,
            the default: it grows whatever the readings cannot see, see ``_cycle``).
        rtps_field, rtps_parameters: relaxation to prior spread after each analysis, for the
            field and for the parameters (0 = off, 1 = keep the forecast spread).
        spread_floor: a parameter's spread never falls below this share of its prior std
            (the filter keeps listening to new readings).
        exchange_faces: ``independent`` (one exchange factor per face) or ``tied`` (one for
            both faces: a symmetric furnace).
        pinned_faces: faces whose exchange factor is taken as known (``bottom``, ``top``).
        exchange_face_correlation: prior correlation of the two faces' factors (independent
            faces): a furnace-wide error (gas emissivity, wall state, scale) moves both, so a
            top-only pyrometer also informs the bottom; 0 = unrelated faces.
        field_noise_std: K per cycle added to each member's field (one draw along it): the
            propagator's own error against the plant (grid, time step), which a physics
            propagator does not report.
        gate: innovation gate in standard deviations (outlier rejection).
        pyrometer_std, thermocouple_std: reading error std, K.
        exchange_log_std: prior relative std of each exchange factor (0.2 ~ 20 %), carried as
            a log-odds offset (so every member's factor stays in (0, 1)).
        exchange_walk_std: relative random walk of the exchange factors per cycle.
        initial_offset_std: prior std of the initial-temperature offset, K.
        model_error: multiplier of the propagator's own spread (a surrogate's calibrated
            error; 0 for physics) added to each member's forecast as one normal draw per
            member and cycle, correlated along the field (the surrogate's errors are smooth).
        interpolation_error: a reading inside a cycle is predicted by linear interpolation
            between the cycle's ends; its error std grows by this factor times
            w (1 - w) |y(t1) - y(t0)| (w: its position in the cycle), added in quadrature to
            the reading's std. 0 for readings at the cycle ends (a 30 s physics twin), large
            mid-way through a 10 min surrogate cycle while the surface heats fast.
        gas_hold: s a gas-temperature reading stays in force.
        alert_utilisation: stress alert threshold (von Mises / f_y(T)).
        alert_delta: surface - centre alert threshold, K.
        seed: random seed.
    """

    members: int = 64
    method: str = "etkf"
    inflation: float = 1.0
    rtps_field: float = 0.2
    rtps_parameters: float = 0.5
    spread_floor: float = 0.1
    exchange_faces: str = "independent"
    exchange_face_correlation: float = 0.8
    field_noise_std: float = 0.1
    pinned_faces: tuple[str, ...] = ()
    gate: float = 4.0
    pyrometer_std: float = 5.0
    thermocouple_std: float = 2.0
    exchange_log_std: float = 0.2
    exchange_walk_std: float = 0.002
    initial_offset_std: float = 30.0
    interpolation_error: float = 1.0
    model_error: float = 1.0
    gas_hold: float = 600.0
    alert_utilisation: float = 0.9
    alert_delta: float = 250.0
    seed: int = 0

    def __post_init__(self) -> None:
        require(isinstance(self.members, int) and 4 <= self.members <= 4096, "twin.members",
                self.members, "an integer in [4, 4096]", "64 members suit a 1D slab")
        require(self.method in ("etkf", "stochastic"), "twin.method", self.method,
                "etkf or stochastic", "use etkf (deterministic, no sampling noise)")
        for key in ("inflation", "gate", "pyrometer_std", "thermocouple_std", "gas_hold",
                    "alert_utilisation", "alert_delta"):
            v = getattr(self, key)
            require(math.isfinite(v) and v > 0, f"twin.{key}", v, "a positive number",
                    "see TwinConfig for typical values")
        for key in ("rtps_field", "rtps_parameters", "spread_floor",
                    "exchange_face_correlation"):
            v = getattr(self, key)
            require(isinstance(v, int | float) and 0.0 <= v <= 1.0, f"twin.{key}", v,
                    "a number in [0, 1]", "0 switches it off; 0.5 suits most cases")
        require(self.exchange_faces in EXCHANGE_FACES, "twin.exchange_faces",
                self.exchange_faces, " or ".join(EXCHANGE_FACES),
                "tied: one exchange factor for both faces (a symmetric furnace)")
        pinned = (self.pinned_faces,) if isinstance(self.pinned_faces, str) else \
            tuple(self.pinned_faces)
        object.__setattr__(self, "pinned_faces", pinned)
        bad = [f for f in pinned if f not in FACES]
        require(not bad, "twin.pinned_faces", list(pinned), f"a list of {', '.join(FACES)}",
                "pin a face whose exchange factor is known, e.g. [bottom]")
        require(not (self.exchange_faces == "tied" and 0 < len(pinned) < 2),
                "twin.pinned_faces", list(pinned), "both faces or none when "
                "exchange_faces=tied", "tied faces share one factor: pin both or untie them")
        require(self.inflation >= 1.0, "twin.inflation", self.inflation, ">= 1",
                "1.0 switches inflation off")
        for key in ("exchange_log_std", "exchange_walk_std", "initial_offset_std",
                    "field_noise_std",
                    "interpolation_error", "model_error"):
            v = getattr(self, key)
            require(math.isfinite(v) and v >= 0, f"twin.{key}", v, "a non-negative number",
                    "0 pins the parameter")


class Twin:
    """The live twin of one slab (see the module doc).

    Args:
        scenario: the slab (1D grid, EN 1993-1-2 material, the furnace boundary on the twin's
            clock, the nominal initial temperature at t = 0).
        propagator: physics, surrogate or guarded; its step is the assimilation cycle.
        config: :class:`TwinConfig`.
        asset_id: a label.
    """

    def __init__(self, scenario: Scenario, propagator: AbstractPropagator,
                 config: TwinConfig | None = None, asset_id: str = "slab") -> None:
        self.config = config or TwinConfig()
        self.scenario, self.propagator, self.asset_id = scenario, propagator, asset_id
        self.params = scenario_params(scenario)
        self.dtype = propagator.dtype
        self.log = MeasurementLog()
        cfg, n = self.config, propagator.cells
        rng = np.random.default_rng([cfg.seed, 1])
        T_nom = resample(np.broadcast_to(np.asarray(scenario.initial_temperature, np.float64),
                                         scenario.grid.shape)[None], n)[0]
        # Prior (and walk) std per augmented column, in the parameters' own units: log-odds
        # offsets scaled from the relative std at each face's mean nominal factor; 0 = pinned.
        phi = np.asarray(scenario.boundary.exchange_factor, np.float64).reshape(2, -1).mean(1)
        if cfg.exchange_faces == "tied":
            phi[:] = phi.mean()
        prior = [0.0 if f in cfg.pinned_faces else log_odds_std(cfg.exchange_log_std, p)
                 for f, p in zip(FACES, phi, strict=True)]
        walk = [0.0 if f in cfg.pinned_faces else log_odds_std(cfg.exchange_walk_std, p)
                for f, p in zip(FACES, phi, strict=True)]
        self.spread = np.array([[*prior, cfg.initial_offset_std], [*walk, 0.0]])
        z = np.zeros((cfg.members, N_AUG))
        e = rng.standard_normal((cfg.members, 2))
        rho = 1.0 if cfg.exchange_faces == "tied" else cfg.exchange_face_correlation
        e[:, 0] = rho * e[:, 1] + math.sqrt(1.0 - rho**2) * e[:, 0]
        z[:, :2] = np.asarray(prior) * e
        z[:, 2] = cfg.initial_offset_std * rng.standard_normal(cfg.members)
        fields = T_nom[None] + z[:, 2:3]
        # The ensemble after each cycle (index = cycle); None where thinned or not restored.
        self.snapshots: list[tuple[np.ndarray, np.ndarray] | None] = [(fields, z)]
        self.last_sources: list[str] = []

    # -- clock and inputs -------------------------------------------------------------
    @property
    def cycle_seconds(self) -> float:
        return self.propagator.step_seconds

    @property
    def cycle(self) -> int:
        return len(self.snapshots) - 1

    @property
    def time(self) -> float:
        """The twin's clock, s: the end of the last assimilated cycle."""
        return self.cycle * self.cycle_seconds

    @property
    def fields(self) -> np.ndarray:
        return self._latest()[0]

    @property
    def augmented(self) -> np.ndarray:
        return self._latest()[1]

    def _latest(self) -> tuple[np.ndarray, np.ndarray]:
        last = self.snapshots[-1]
        assert last is not None  # the newest cycle is always held
        return last

    # -- snapshots (durable state) -----------------------------------------------------
    def restore(self, cycle: int, fields: np.ndarray, augmented: np.ndarray) -> None:
        """Put the twin at the end of ``cycle`` with the ensemble ``fields`` [N, n] (K) and
        ``augmented`` [N, 3] (a snapshot taken from ``fields``/``augmented``). The cycles in
        between are not held: a reading older than ``cycle`` replays from the start (the
        random numbers come from (seed, cycle), so the replay gives the same numbers)."""
        n, N = self.propagator.cells, self.config.members
        fields, augmented = np.asarray(fields, np.float64), np.asarray(augmented, np.float64)
        if not (isinstance(cycle, int) and cycle >= 0):
            raise ConfigError(f"snapshot cycle={cycle!r} is invalid: expected an integer >= 0")
        if fields.shape != (N, n) or augmented.shape != (N, N_AUG):
            raise ConfigError(f"snapshot shapes fields={fields.shape}, augmented="
                              f"{augmented.shape} are invalid: expected ({N}, {n}) and "
                              f"({N}, {N_AUG}) (members, cells of this twin's propagator)")
        if not (np.all(np.isfinite(fields)) and np.all(np.isfinite(augmented))):
            raise ConfigError("snapshot is invalid: expected finite values; the record is "
                              "corrupt, rebuild the twin from its readings")
        if cycle == 0:
            self.snapshots = [(fields, augmented)]
        else:
            self.snapshots = [self.snapshots[0], *([None] * (cycle - 1)), (fields, augmented)]

    def thin_snapshots(self, keep_recent: int = 20, keep_every: int = 20) -> None:
        """Forget the snapshots older than the last ``keep_recent`` cycles except every
        ``keep_every``-th (and the start): memory stays bounded over a long passage, and a
        late reading replays at most ``keep_every`` cycles more than it would otherwise."""
        last = len(self.snapshots) - 1
        for k in range(1, max(last - keep_recent, 0)):
            if k % keep_every:
                self.snapshots[k] = None

    def base_inputs(self, k: int) -> np.ndarray:
        """Nominal knot inputs [n_knots, 2, 3] of cycle k, gas readings applied."""
        c = self.cycle_seconds
        times = knot_times(k * c, 1, c, self.propagator.n_knots)
        u = np.array(_knots(self.scenario.boundary, jnp.asarray(times, self.dtype))[0])
        gas = [r for r in self.log.between(-1.0, times[0, -1]) if r.sensor in GAS_SENSORS]
        for face in (0, 1):
            readings = [r for r in gas if GAS_SENSORS[r.sensor] == face]
            for j, t in enumerate(times[0]):
                held = [r for r in readings if t - self.config.gas_hold <= r.time <= t]
                if held:
                    u[j, face, 0] = held[-1].value
        return u

    def observations(self, k: int, m: int) -> tuple[dict[str, np.ndarray], list[Reading]]:
        """The assimilated readings of cycle k, padded to m slots."""
        c = self.cycle_seconds
        t0 = k * c
        rs = [r for r in self.log.between(t0 if k else -1.0, t0 + c) if r.sensor in OBS_KINDS]
        obs: dict[str, np.ndarray] = {"kind": np.zeros(m, np.int32), "depth": np.zeros(m),
                                      "weight": np.ones(m),
               "value": np.full(m, 1000.0), "std": np.ones(m), "valid": np.zeros(m, bool)}
        for j, r in enumerate(rs[:m]):
            obs["kind"][j] = OBS_KINDS[r.sensor]
            obs["depth"][j] = r.depth or 0.0
            obs["weight"][j] = (r.time - t0) / c
            obs["value"][j] = r.value
            obs["std"][j] = (self.config.thermocouple_std if r.sensor == "thermocouple"
                             else self.config.pyrometer_std)
            obs["valid"][j] = True
        return obs, rs[:m]

    def _count(self, k: int) -> int:
        c = self.cycle_seconds
        # Cycle k covers (k c, (k + 1) c]; the first one also takes readings at t = 0.
        return sum(r.sensor in OBS_KINDS for r in self.log.between(k * c if k else -1.0,
                                                                   (k + 1) * c))

    # -- assimilation ---------------------------------------------------------------------
    def assimilate(self, readings: Sequence[Reading]) -> dict[str, Any]:
        """Add readings and advance the clock past the latest one (see ``assimilate_many``)."""
        return assimilate_many([self], [readings])[0]

    def advance_to(self, t: float) -> None:
        """Forecast (no readings) until the clock reaches ``t`` s."""
        assimilate_many([self], [[]], until=t)

    def _rewind(self, t: float) -> None:
        k = max(0, math.ceil(t / self.cycle_seconds - 1e-9) - 1)
        if k < self.cycle:
            while self.snapshots[k] is None:  # thinned or not restored: the one before
                k -= 1
            del self.snapshots[k + 1:]
            self.log.clear_rejections(k * self.cycle_seconds)

    # -- reports ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Mean and spread of the estimate now (K, s; exchange factors as multipliers)."""
        T, z = self.fields, self.augmented
        tables = material_tables(self.dtype)
        u = self.base_inputs(max(self.cycle - 1, 0))[-1]
        u_m = np.repeat(u[None], len(T), 0)
        u_m[..., 1] = member_exchange(u_m[..., 1], z[:, :2])
        surf = np.asarray(member_faces(jnp.asarray(T, self.dtype),
                                        jnp.asarray(self.params, self.dtype), tables,
                                        jnp.asarray(u_m, self.dtype)))
        centre = centre_of(T)
        est = self.exchange_estimate(u[:, 1])
        pred = predict(self.propagator, self.scenario, [self.time], start_time=self.time,
                       state=T.mean(0)[None], stress=True)
        util = float(np.max(pred.utilisation)) if pred.utilisation is not None else 0.0
        delta = float(np.max(surf.mean(0)) - centre.mean())
        alerts = []
        if util > self.config.alert_utilisation:
            alerts.append(f"stress utilisation {util:.2f} > {self.config.alert_utilisation}")
        if abs(delta) > self.config.alert_delta:
            alerts.append(f"surface - centre {delta:.0f} K > {self.config.alert_delta} K")
        return {"asset_id": self.asset_id, "time_s": self.time,
                "field_mean_K": T.mean(0), "field_std_K": T.std(0),
                "centre_K": float(centre.mean()), "centre_std_K": float(centre.std()),
                "surface_bottom_K": float(surf[:, 0].mean()),
                "surface_top_K": float(surf[:, 1].mean()),
                "surface_std_K": surf.std(0), "mean_K": float(T.mean()),
                "exchange_scale": est["scale"], "exchange_scale_std": est["scale_std"],
                "exchange_scale_interval": est["interval"],
                "exchange_factor": est["factor"],
                "initial_offset_K": float(z[:, 2].mean()),
                "initial_offset_std_K": float(z[:, 2].std()),
                "max_utilisation": util, "surface_centre_K": delta, "alerts": alerts,
                "readings": len(self.log), "rejected": dict(self.log.rejected),
                "sources": list(self.last_sources)}

    def exchange_estimate(self, nominal: Any = None) -> dict[str, np.ndarray]:
        """The exchange factors now, per face (bottom, top): ``factor`` the median member's,
        ``scale`` it over the nominal one, ``interval`` [2 (5 %, 95 %), faces] of the scale,
        ``scale_std`` the members' spread. Medians and quantiles, not means: the log-odds map
        is nonlinear, and a mean of a skewed ensemble is no member's value. Every number lies
        inside (0, 1] / nominal. ``nominal`` defaults to the schedule's factors now."""
        if nominal is None:
            nominal = self.base_inputs(max(self.cycle - 1, 0))[-1][:, 1]
        nominal = np.asarray(nominal, np.float64)
        s = self.augmented[:, :2]
        q = np.quantile(s, [0.05, 0.5, 0.95], axis=0)  # monotone map: quantiles carry over
        factors = member_exchange(nominal[None], q)
        return {"factor": factors[1], "scale": factors[1] / nominal,
                "interval": factors[[0, 2]] / nominal,
                "scale_std": (member_exchange(nominal[None], s) / nominal).std(0)}

    def forecast(self, until: float | None = None, scenario: Scenario | None = None,
                 every: float | None = None, stress: bool = True,
                 step_buckets: Sequence[int] = ()) -> Prediction:
        """Forecast every member from the estimate now to ``until`` s (default: the end of the
        schedule), under the twin's schedule or another ``scenario``'s boundary (what-if),
        each with its own exchange factors: an ensemble forecast in one batched call. Fields
        and summaries are the members' mean; the spread is the members' spread combined with
        the propagator's own (a surrogate's); stress is that of the mean field."""
        sc = scenario or self.scenario
        end = float(sc.boundary.times[-1]) if until is None else float(until)
        end = max(end, self.time + self.cycle_seconds)
        step = every or self.cycle_seconds
        times = np.arange(self.time, end + 1e-9, step)
        if times[-1] < end - 1e-9:
            times = np.append(times, end)
        needed = steps_needed(self.propagator, times, self.time)
        # A caller (the service) rounds the rollout up to fixed lengths: no compile per request.
        n_steps = min([b for b in step_buckets if b >= needed], default=needed)
        offsets = jnp.asarray(self.augmented[:, :2], self.dtype)  # [N, 2] bottom, top
        members = [dataclasses.replace(sc, boundary=dataclasses.replace(
            sc.boundary, exchange_factor=member_exchange(sc.boundary.exchange_factor,
                                                         s_i[:, None]))) for s_i in offsets]
        roll = rollout_assets(self.propagator, members, self.time, n_steps, state=self.fields)
        p = summarise(self.propagator, members, roll, times)
        T = p.temperature.mean(0, keepdims=True)
        var = p.temperature.var(0) + (p.spread**2).mean(0)
        spread = np.sqrt(var)[None]
        centre = p.centre.mean(0, keepdims=True)
        centre_var = p.centre.var(0) + (p.centre_spread**2).mean(0)
        sigma = util = None
        if stress:
            sigma, util = _plate_stress(T, roll.params[:1], "S355")
        return Prediction(times=p.times, temperature=T, spread=spread,
                          surface_bottom=p.surface_bottom.mean(0, keepdims=True),
                          surface_top=p.surface_top.mean(0, keepdims=True), centre=centre,
                          mean=T.mean(-1), centre_spread=np.sqrt(centre_var)[None],
                          provenance=p.provenance[:1], step_times=p.step_times, stress=sigma,
                          utilisation=util)


_knots = jax.jit(knot_inputs)
