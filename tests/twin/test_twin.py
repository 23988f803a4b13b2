"""The twin: the twin experiment, arrival-order and duplicate invariance, batched twins, gas
readings, forecasts and the replay CLI."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import h5py
import jax.numpy as jnp
import numpy as np
import pytest

from steeltwin import engine as E
from steeltwin.engine.twin import (
    PhysicsPropagator,
    SurrogatePropagator,
    Twin,
    TwinConfig,
    assimilate_many,
    make_reading,
)
from steeltwin.engine.twin._slab import member_exchange
from steeltwin.engine.twin.experiment import (
    ZONES,
    run_experiment,
    slab_scenario,
    truth_run,
    write_csv,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def experiment():
    return run_experiment()


@pytest.mark.slow
def test_twin_experiment_meets_the_targets(experiment):
    r = experiment
    # Measured with the default TwinConfig (RTPS): centre RMSE 0.68 K after 30 min, 69x better
    # than open loop, exchange factors within 0.33 % / 0.13 %, field coverage 0.97; bounds
    # about twice that (the targets, 10 K and 3x, could not catch a regression).
    assert r["centre_rmse_after_K"] <= 1.4
    assert r["improvement"] >= 35.0
    assert max(r["exchange_factor_error"]) <= 0.01
    # Every gross outlier is rejected by the gate, at most 1 % of the good readings are.
    assert r["outliers_rejected"] == r["outliers"]
    assert r["good_readings_rejected"] <= 0.01 * r["readings"]
    # The +-2 sigma band covers the truth about as often as it claims (0.95 for a Gaussian).
    assert 0.9 <= r["coverage_2sigma_field"] <= 1.0


@pytest.mark.slow
def test_long_cycle_twin_weights_readings_inside_the_cycle():
    """A 10 min cycle (a surrogate's step) with readings every 30 s: readings inside the cycle
    are predicted by interpolation between its ends, which misses the fast early heating by
    tens of K; without the interpolation error term 21 good readings were rejected, the
    charging offset came out at 54 K (truth 30) and the +-2 sigma band covered 42 %."""
    prop = PhysicsPropagator(cells=24, step_seconds=600.0, n_knots=6, dt=30.0)
    r = run_experiment(prop)
    assert r["cycles"] == 18 and r["readings"] > 600
    assert r["good_readings_rejected"] == 0
    assert r["centre_rmse_after_K"] <= 3.0 and max(r["exchange_factor_error"]) <= 0.02
    assert abs(r["initial_offset_estimate_K"] - 30.0) <= 10.0
    assert r["coverage_2sigma_field"] >= 0.85
    off = run_experiment(prop, config=TwinConfig(interpolation_error=0.0))
    assert off["good_readings_rejected"] >= 10  # the failure the term removes


class _SpreadingPhysics(PhysicsPropagator):
    """Physics reporting a 5 K spread: a stand-in for a surrogate's calibrated error."""

    def step_function(self):
        fn = super().step_function()

        def step(T, u, p):
            mean, _, src = fn(T, u, p)
            return mean, jnp.full_like(mean, 5.0), src

        return step


def test_model_error_widens_the_forecast_by_the_propagator_spread():
    sc = slab_scenario(cells=8)

    def forecast_std(prop, model_error):
        twin = Twin(sc, prop, TwinConfig(members=256, model_error=model_error,
                                         field_noise_std=0.0,
                                         exchange_log_std=0.0, exchange_walk_std=0.0,
                                         initial_offset_std=0.0))
        twin.advance_to(60.0)
        return twin.fields.std(0), twin.fields

    kw = dict(cells=8, step_seconds=30.0, n_knots=2, dt=30.0)
    off, _ = forecast_std(_SpreadingPhysics(**kw), 0.0)
    on, _ = forecast_std(_SpreadingPhysics(**kw), 1.0)
    assert np.all(off < 1e-9)  # no prior spread: the members agree
    # Two cycles of one N(0, 5 K) draw per member: std sqrt(2) x 5 K in every cell.
    np.testing.assert_allclose(on, 5.0 * np.sqrt(2.0), rtol=0.15)
    assert np.ptp(on) < 0.2  # one draw along the field (per-cell draws: ~1 K apart)
    # Physics reports no spread: the term changes nothing.
    _, a = forecast_std(PhysicsPropagator(**kw), 0.0)
    _, b = forecast_std(PhysicsPropagator(**kw), 1.0)
    np.testing.assert_array_equal(a, b)


def _readings(n: int = 40, interval: float = 30.0):
    truth = truth_run(interval=interval, zones=[dataclasses.replace(ZONES[0], duration=n *
                                                                    interval)])
    out = []
    rng = np.random.default_rng(1)
    for i in range(1, n + 1):
        for face, sensor in ((0, "pyrometer_bottom"), (1, "pyrometer_top")):
            v = truth["surface"][i, face] + 5 * rng.standard_normal()
            out.append(make_reading(f"{sensor}-{i}", i * interval, sensor, float(v), "K"))
    return out


# One propagator for these tests: one compiled cycle serves every twin.
PROP = PhysicsPropagator(cells=12, step_seconds=30.0, n_knots=2, dt=30.0)


def _twin(members: int = 16, seed: int = 0) -> Twin:
    return Twin(slab_scenario(cells=PROP.cells), PROP, TwinConfig(members=members, seed=seed))


def test_arrival_order_and_duplicates_do_not_change_the_estimate():
    rs = _readings()
    a = _twin()
    for k in range(0, len(rs), 8):  # live, in order
        a.assimilate(rs[k:k + 8])
    b = _twin()
    shuffled = list(rs)
    np.random.default_rng(3).shuffle(shuffled)
    for k in range(0, len(shuffled), 8):  # out of order: rewinds and replays
        b.assimilate(shuffled[k:k + 8])
    np.testing.assert_allclose(b.fields, a.fields, rtol=0, atol=1e-9)
    np.testing.assert_allclose(b.augmented, a.augmented, rtol=0, atol=1e-12)
    before = a.fields.copy()
    rep = a.assimilate(rs[:10])  # the same readings again: idempotent
    assert sorted(rep["duplicates"]) == sorted(r.id for r in rs[:10]) and not rep["accepted"]
    np.testing.assert_array_equal(a.fields, before)
    changed = make_reading(rs[0].id, rs[0].time, rs[0].sensor, 2000.0, "K")
    rep = a.assimilate([changed])
    assert rep["conflicts"] == [rs[0].id]
    np.testing.assert_array_equal(a.fields, before)


def test_many_twins_in_one_batch_equal_one_at_a_time():
    rs = _readings(12)
    twins = [_twin(seed=s) for s in range(3)]
    singles = [_twin(seed=s) for s in range(3)]
    assimilate_many(twins, [rs, rs[::2], rs[1::3]])
    for tw, sub in zip(singles, [rs, rs[::2], rs[1::3]], strict=True):
        tw.assimilate(sub)
    for tw, ref in zip(twins, singles, strict=True):
        assert tw.time == ref.time
        np.testing.assert_allclose(tw.fields, ref.fields, rtol=0, atol=1e-9)
    # Twins at different clocks share the batched calls, and each stops at its own readings
    # (one twin's later readings never push another one's clock into the future).
    ahead, behind = _twin(seed=7), _twin(seed=8)
    ahead.assimilate(rs[:16])
    ref_a, ref_b = _twin(seed=7), _twin(seed=8)
    ref_a.assimilate(rs[:16])
    assimilate_many([ahead, behind], [rs[16:], rs[:4]])
    ref_a.assimilate(rs[16:])
    ref_b.assimilate(rs[:4])
    assert behind.time == 60.0 and ahead.time == rs[-1].time
    np.testing.assert_allclose(ahead.fields, ref_a.fields, rtol=0, atol=1e-9)
    np.testing.assert_allclose(behind.fields, ref_b.fields, rtol=0, atol=1e-9)


def test_readings_pull_the_estimate_and_the_gate_rejects_outliers():
    rs = _readings(20)
    tw = _twin(members=32)
    T_prior = tw.fields.mean(0)
    bad = make_reading("bad", 300.0, "pyrometer_top", rs[19].value + 400.0, "K")
    rep = tw.assimilate([*rs, bad])
    assert "bad" in rep["rejected"] and "outside the gate" in rep["rejected"]["bad"]
    assert tw.time == 600.0
    st = tw.state()
    # Charged at 25 degC nominal, the truth at 55 degC: the estimate moved towards it.
    assert st["initial_offset_K"] > 10.0
    assert st["centre_std_K"] < 30.0 and np.all(st["field_std_K"] > 0)
    assert tw.fields.mean(0)[0] != T_prior[0]


def test_gas_readings_override_the_schedule():
    tw = _twin()
    base = tw.base_inputs(2)  # (60, 90] s
    tw.log.add([make_reading("g1", 45.0, "gas_top", 1100.0, "degC")])
    over = tw.base_inputs(2)
    np.testing.assert_allclose(over[:, 1, 0], 1373.15)  # held for gas_hold = 600 s
    np.testing.assert_array_equal(over[:, 0, 0], base[:, 0, 0])  # the bottom face unchanged


def test_forecast_and_what_if():
    tw = _twin()
    tw.assimilate(_readings(10))
    f = tw.forecast(until=3600.0, every=600.0)
    assert f.times[0] == tw.time and f.times[-1] == pytest.approx(3600.0, abs=30.0)
    assert np.all(np.diff(f.centre[0]) > 0)  # heating
    hotter = slab_scenario([dataclasses.replace(z, gas_temperature_C=z.gas_temperature_C + 50)
                            for z in ZONES], cells=12)
    g = tw.forecast(until=3600.0, scenario=hotter, every=600.0)
    assert g.centre[0, -1] > f.centre[0, -1] + 5.0
    assert np.all(f.centre_spread[0] > 0)


def test_twin_with_a_surrogate_propagator():
    from test_propagators import _fake_surrogate

    prop = SurrogatePropagator(_fake_surrogate(cells=8))
    tw = Twin(slab_scenario(cells=8), prop, TwinConfig(members=8))
    rs = [make_reading(f"r{i}", 40.0 * i, "pyrometer_top", 900.0, "degC") for i in range(1, 7)]
    rep = tw.assimilate(rs)
    assert tw.time == 240.0 and rep["time_s"] == 240.0
    assert tw.last_sources == ["surrogate"]
    assert np.all(np.isfinite(tw.fields))


def test_bad_twin_config_names_the_key():
    with pytest.raises(E.ConfigError, match=r"twin.members=2 is invalid"):
        TwinConfig(members=2)
    with pytest.raises(E.ConfigError, match=r"twin.method='kalman' is invalid"):
        TwinConfig(method="kalman")
    with pytest.raises(E.ConfigError, match=r"twin.inflation=0.9 is invalid"):
        TwinConfig(inflation=0.9)


def test_replay_cli_writes_the_estimate(tmp_path):
    from steeltwin.engine.apps import compose
    from steeltwin.engine.apps._replay import run_replay

    csv = tmp_path / "readings.csv"
    write_csv(_readings(20), csv)
    cfg = compose([f"measurements.path={csv}", "twin.members=16", "propagator.cells=12",
                   "boundary.zones.preheat.duration=600", "boundary.zones.heating_1=null",
                   "boundary.zones.heating_2=null", "boundary.zones.soak=null"],
                  config_name="twin")
    s = run_replay(cfg, tmp_path / "out")
    assert s["cycles"] == 20 and s["readings"] == 40
    with h5py.File(tmp_path / "out" / "estimate.h5") as f:
        assert f.attrs["schema"] == "steeltwin.twin_estimate"
        assert f["field_mean"].shape == (20, 12) and f["field_mean"].attrs["units"] == "K"
        assert f["readings/accepted"].shape == (40,)
        assert np.all(f["centre_std"][:] > 0)
        # centre_std is the spread of the members' centre values (issue 19: it was the mean
        # of the two middle cells' spreads, which overstates it when they disagree).
        T = f["field_mean"][-1]
        assert f.attrs["schema_version"] == 3 and f["exchange_scale_interval"].shape == (20, 2, 2)
        assert T.shape == (12,)
    assert (tmp_path / "out" / "estimate.png").stat().st_size > 10_000
    # Bad input: exit 2 with the key named, nothing written.
    bad = subprocess.run([sys.executable, "-m", "steeltwin.engine.apps.twin",
                          f"measurements.path={tmp_path / 'missing.csv'}",
                          f"output.dir={tmp_path / 'bad'}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 2 and "measurements.path=" in bad.stderr
    assert not (tmp_path / "bad" / "estimate.h5").exists()


def test_restored_and_thinned_twins_continue_exactly():
    # A twin rebuilt from a snapshot (the service's durable state) or with thinned snapshots
    # gives the same estimate as the original, also after a late reading forces a replay.
    rs = _readings()
    late, early = rs[:6], rs[6:]  # the first cycles' readings arrive last
    a = _twin()
    a.assimilate(early)
    b = _twin()
    b.log.add(early)
    b.restore(a.cycle, a.fields, a.augmented)
    c = _twin()
    c.assimilate(early)
    c.thin_snapshots(keep_recent=3, keep_every=7)
    assert sum(s is None for s in c.snapshots) > 20
    np.testing.assert_array_equal(b.fields, a.fields)
    for tw in (a, b, c):
        tw.assimilate(late)
    np.testing.assert_allclose(b.fields, a.fields, rtol=0, atol=1e-9)
    np.testing.assert_allclose(c.augmented, a.augmented, rtol=0, atol=1e-12)
    with pytest.raises(E.ConfigError, match=r"snapshot shapes .* expected \(16, 12\)"):
        b.restore(3, a.fields[:, :5], a.augmented)


def test_a_reading_at_the_end_of_a_finished_cycle_is_assimilated():
    # A cycle covers (t0, t1]: a reading stamped exactly t1 that arrives after the clock
    # reached t1 belongs to the finished cycle, which must be replayed (it was once skipped).
    rs = _readings(n=12)  # both faces every 30 s, on the 30 s cycle ends
    a = _twin()
    for k in range(0, len(rs), 5):  # odd batches split the two faces of one time
        a.assimilate(rs[k:k + 5])
    b = _twin()
    b.assimilate(rs)
    np.testing.assert_allclose(a.fields, b.fields, rtol=0, atol=1e-9)


def test_a_reading_at_charging_is_assimilated_in_the_first_cycle():
    tw = _twin()
    hot = make_reading("t0", 0.0, "pyrometer_top", 120.0, "degC")  # nominal: 25 degC
    tw.assimilate([hot])
    assert tw.cycle == 1 and "t0" not in tw.log.rejected
    # The charge turned out warmer: the estimated charging offset moves up.
    assert tw.augmented[:, 2].mean() > 5.0


def test_forecast_is_an_ensemble_forecast():
    tw = _twin(members=16)
    tw.assimilate(_readings(n=8))
    f = tw.forecast(until=tw.time + 600.0, every=300.0, stress=False)
    assert f.temperature.shape == (1, 3, PROP.cells)
    # At the start the forecast is the ensemble now: its mean and its spread.
    np.testing.assert_allclose(f.temperature[0, 0], tw.fields.mean(0), atol=1e-9)
    np.testing.assert_allclose(f.spread[0, 0], tw.fields.std(0), atol=1e-9)
    # Members with other exchange factors drift apart: the spread grows with the horizon
    # in the furnace (physics has no spread of its own, so this is the ensemble's).
    assert np.all(f.centre_spread[0, 1:] > 0)


def test_the_cycle_cache_follows_the_propagator_object():
    """Issue 19: the compiled cycle was cached under id(propagator); a new propagator at a
    freed address got the old program (0.08 K off after switching iterations 1 -> 4)."""
    import gc

    from steeltwin.engine.twin._batch import _CYCLES

    rs = _readings(6)

    def run(iterations: int) -> np.ndarray:
        prop = PhysicsPropagator(cells=12, step_seconds=30.0, n_knots=2, dt=10.0,
                                 iterations=iterations)
        tw = Twin(slab_scenario(cells=12), prop, TwinConfig(members=8))
        tw.assimilate(rs)
        return tw.fields.copy()

    fresh_4 = run(4)
    gc.collect()
    before = len(_CYCLES)
    run(1)
    gc.collect()
    assert len(_CYCLES) <= before  # the cache shrinks with its propagators
    # However the addresses fall, a new propagator computes with its own settings.
    np.testing.assert_allclose(run(4), fresh_4, rtol=0, atol=1e-9)


def _face_offsets(cfg: TwinConfig, n: int = 12) -> Twin:
    tw = Twin(slab_scenario(cells=PROP.cells), PROP, cfg)
    tw.assimilate([r for r in _readings(n) if r.sensor == "pyrometer_top"])
    return tw


def test_tied_faces_share_one_factor_and_pinned_faces_stay_nominal():
    tied = _face_offsets(TwinConfig(members=16, exchange_faces="tied"))
    np.testing.assert_array_equal(tied.augmented[:, 0], tied.augmented[:, 1])
    assert tied.augmented[:, 1].std() > 0.01  # still uncertain, still estimated
    pinned = _face_offsets(TwinConfig(members=16, pinned_faces=("bottom",)))
    np.testing.assert_array_equal(pinned.augmented[:, 0], 0.0)
    est = pinned.exchange_estimate()
    assert est["scale"][0] == pytest.approx(1.0, abs=1e-5)
    assert est["scale"][1] != pytest.approx(1.0, abs=1e-3)
    both = _face_offsets(TwinConfig(members=16, pinned_faces=("bottom", "top")))
    np.testing.assert_array_equal(both.augmented[:, :2], 0.0)
    with pytest.raises(E.ConfigError, match=r"twin.pinned_faces=\['side'\] is invalid"):
        TwinConfig(pinned_faces=("side",))
    with pytest.raises(E.ConfigError, match=r"twin.exchange_faces='both' is invalid"):
        TwinConfig(exchange_faces="both")
    with pytest.raises(E.ConfigError, match=r"twin.pinned_faces=\['top'\] is invalid.*tied"):
        TwinConfig(exchange_faces="tied", pinned_faces=("top",))


def test_unobserved_parameters_never_grow_past_their_prior():
    """Issue 19: multiplicative inflation grew the unobserved bottom factor's log spread from
    0.2 to 13 (an estimate of 3e21). Here the truth's top factor is 0.96 against a nominal 0.6
    (far outside the prior), seen by a top pyrometer only, with inflation 1.05 on top of the
    default RTPS: every member stays inside (0, 1), each parameter's spread stays within its
    prior, the top estimate goes to the truth and the unseen bottom stays in its prior."""
    from steeltwin.engine.twin.experiment import passage_scenario

    truth = passage_scenario((0.6, 0.96), cells=24, segments=((3600.0, 1000.0, 1000.0),))
    tr = E.solve(truth, 10.0, 360, 3, E.crank_nicolson(4))
    surf = np.asarray(tr.surface_temperature)[:, 1]
    rs = [make_reading(f"h{i}", 30.0 * i, "pyrometer_top", float(surf[i]), "K")
          for i in range(1, 121)]
    cfg = TwinConfig(members=32, exchange_face_correlation=0.0, inflation=1.05)
    tw = Twin(passage_scenario((0.6, 0.6), cells=PROP.cells,
                               segments=((3600.0, 1000.0, 1000.0),)), PROP, cfg)
    prior = tw.spread[0].copy()
    tw.assimilate(rs)
    z = tw.augmented
    assert np.all(z.std(0, ddof=1) <= prior * (1 + 1e-9))
    est = tw.exchange_estimate()
    assert np.all(est["interval"] * 0.6 <= 1.0) and np.all(est["interval"] > 0)
    # Measured 0.903 after 1 h: 5.5 prior sigma away, approached within the bounded spread.
    assert 0.85 < est["factor"][1] < 0.96
    lo, hi = (member_exchange(0.6, k * prior[0]) for k in (-2.0, 2.0))
    assert lo <= est["factor"][0] <= hi


# Three cells of the experiment matrix (the full one: python -m
# steeltwin.engine.twin.experiment --matrix; benchmarks/results/twin_matrix.md). The bounds
# are about twice what was measured (in brackets), so a 2x regression fails.
MATRIX_CELLS = {
    # top pyrometer only, truth 15 % above nominal, charged 30 K cold: the hardest cell
    ("top", "above", -30.0): {"rmse": 7.5, "better": 5.0, "phi_top": 0.015, "sigma": 9.5},
    # (3.67 K, 9.5x, 0.6 %, 4.7 K)
    ("both", "near_one", -30.0): {"rmse": 1.05, "better": 23.0, "phi_top": 0.016,
                                  "sigma": 1.2},  # (0.52 K, 46x, 0.8 %, 0.58 K)
    ("top_tc", "below", 30.0): {"rmse": 1.3, "better": 35.0, "phi_top": 0.02,
                                "sigma": 1.1},  # (0.63 K, 70x, 0.9 %, 0.54 K)
}


@pytest.mark.slow
@pytest.mark.parametrize("cell", list(MATRIX_CELLS), ids=lambda c: "-".join(map(str, c)))
def test_experiment_matrix_cell(cell):
    from steeltwin.engine.twin.experiment import run_case

    bound = MATRIX_CELLS[cell]
    r = run_case(*cell)
    assert r["centre_rmse_after_K"] <= bound["rmse"]
    assert r["improvement"] >= bound["better"]
    assert r["faces"]["top"]["error"] <= bound["phi_top"]
    for face in r["faces"].values():
        # Observed or not, every estimate stays in its prior interval, inside (0, 1].
        assert face["inside_prior"] and face["error"] <= 0.05
    assert r["offset_within_2sigma"]
    assert 0.85 <= r["coverage_2sigma_centre"] and r["median_centre_std_K"] <= bound["sigma"]
    assert r["outliers_rejected"] == r["outliers"] > 0
    assert r["good_readings_rejected"] <= 0.01 * r["readings"]
