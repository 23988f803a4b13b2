"""Utilisation = von Mises / f_y(T): worst point, time and alert."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from steeltwin import engine as E
from steeltwin.engine._stress_material import carbon_steel_mechanical
from steeltwin.engine._stress_risk import stress_risk


def test_worst_point_time_and_alert() -> None:
    mat = carbon_steel_mechanical("S355")
    vm = np.zeros((3, 4, 5))
    T = np.full((3, 4, 5), 293.15)
    vm[1, 2, 3] = 100e6
    T[1, 2, 3] = 873.15  # 600 degC: f_y = 0.47 * 355 MPa
    vm[2, 0, 0] = 150e6  # cold: 150 / 355
    risk = stress_risk(jnp.asarray(vm), jnp.asarray(T), mat, threshold=0.5)
    np.testing.assert_allclose(float(risk.worst), 100e6 / (0.47 * 355e6), rtol=1e-12)
    assert int(risk.worst_time) == 1
    assert np.unravel_index(int(risk.worst_index), (4, 5)) == (2, 3)
    assert bool(risk.alert)
    calm = stress_risk(jnp.asarray(vm), jnp.asarray(T), mat)  # default threshold 0.9
    assert not bool(calm.alert)
    masked = np.ones((4, 5), bool)
    masked[2, 3] = False
    m = stress_risk(jnp.asarray(vm), jnp.asarray(T), mat, mask=jnp.asarray(masked))
    np.testing.assert_allclose(float(m.worst), 150 / 355, rtol=1e-12)


def test_bad_threshold() -> None:
    with pytest.raises(E.ConfigError, match=r"stress\.alert_threshold=-1"):
        stress_risk(jnp.zeros((2, 3)), jnp.full((2, 3), 300.0), carbon_steel_mechanical(),
                    threshold=-1)
