"""Bad input raises ConfigError before any computation, with a message that names the key,
the value and the fix (pinned with ``match``)."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from steeltwin import engine as E
from steeltwin.engine import ConfigError


def _slab_scenario(T0: float | np.ndarray = 300.0) -> E.Scenario:
    boundary = E.constant_boundary([E.FaceSpec(1300.0, 20.0, 0.6)] * 2)
    return E.Scenario(E.slab_grid(0.2, 20), E.carbon_steel(), boundary, jnp.asarray(T0))


# --- geometry -----------------------------------------------------------------------------

@pytest.mark.parametrize("thickness", [0.0, -0.2, math.inf, math.nan])
def test_non_positive_thickness(thickness: float) -> None:
    with pytest.raises(ConfigError, match=r"geometry\.thickness=.* is invalid: expected a "
                                          r"positive finite length in m"):
        E.slab_grid(thickness, 10)


def test_non_positive_box_length() -> None:
    with pytest.raises(ConfigError, match=r"geometry\.lengths\[1\]=-0\.1 is invalid"):
        E.box_grid((0.2, -0.1), (10, 10))


@pytest.mark.parametrize("cells", [0, -3])
def test_non_positive_cell_count(cells: int) -> None:
    with pytest.raises(ConfigError, match=rf"geometry\.cells={cells} is invalid: expected a "
                                          r"positive integer"):
        E.slab_grid(0.2, cells)
    with pytest.raises(ConfigError, match=r"geometry\.cells\[0\]=.* is invalid"):
        E.box_grid((0.2, 0.1), (cells, 10))


def test_fractional_cell_count() -> None:
    with pytest.raises(ConfigError, match=r"geometry\.cells=2\.5 is invalid"):
        E.slab_grid(0.2, 2.5)  # type: ignore[arg-type]


def test_non_positive_cell_size() -> None:
    with pytest.raises(ConfigError, match=r"geometry\.cell_size\[0\]=0\.0 is invalid"):
        E.mask_grid(np.ones((3, 3), bool), 0.0)


def test_empty_mask() -> None:
    with pytest.raises(ConfigError, match=r"geometry\.mask=.*no metal cells.* is invalid"):
        E.mask_grid(np.zeros((5, 4), bool), 0.01)


def test_disconnected_mask() -> None:
    mask = np.zeros((6, 6), bool)
    mask[0:2, 0:2] = True
    mask[3:6, 3:6] = True
    with pytest.raises(ConfigError, match=r"2 separate pieces.*one face-connected piece"):
        E.mask_grid(mask, 0.01)
    # Touching only at a corner is not connected either (heat cannot cross a corner).
    diagonal = np.eye(3, dtype=bool)
    with pytest.raises(ConfigError, match=r"3 separate pieces"):
        E.mask_grid(diagonal, 0.01)


def test_missing_mask_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"geometry\.mask_path=.*expected an existing"):
        E.mask_from_file(tmp_path / "nope.png")


# --- material -----------------------------------------------------------------------------

def test_unknown_material() -> None:
    with pytest.raises(ConfigError, match=r"material\.kind='unobtainium' is unknown: expected "
                                          r"one of .*carbon_steel"):
        E.make_material("unobtainium")


@pytest.mark.parametrize("key", ["conductivity", "density", "specific_heat"])
def test_non_positive_constant_property(key: str) -> None:
    values = {"conductivity": 40.0, "density": 7850.0, "specific_heat": 500.0}
    values[key] = -1.0
    with pytest.raises(ConfigError, match=rf"material\.{key}=-1\.0 is invalid"):
        E.constant_material(**values)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("T_C,c,rho\n20,450,7850\n1200,650,7850\n", r"lacks column 'k'"),
        ("T_C,k,c\n20,50,450\n1200,27,650\n", r"lacks column 'rho'"),
        ("temp,k,c,rho\n20,50,450,7850\n1200,27,650,7850\n", r"no temperature column"),
        ("T_C,k,rho\n20,50,7850\n1200,27,7850\n", r"needs exactly one of 'c'"),
        ("T_C,k,c,H,rho\n20,50,450,0,7850\n1200,27,650,9e5,7850\n", r"needs exactly one of"),
        ("T_C,k,c,rho\n1200,27,650,7850\n20,50,450,7850\n", r"strictly increasing temperatures"),
        ("T_C,k,c,rho\n20,-5,450,7850\n1200,27,650,7850\n", r"positive conductivities"),
        ("T_C,k,c,rho\n20,50,0,7850\n1200,27,650,7850\n", r"positive finite specific heats"),
        ("T_C,k,c,rho\n20,50,abc,7850\n", r"could not be parsed"),
    ],
)
def test_material_table_with_bad_columns(tmp_path, text: str, match: str) -> None:
    path = tmp_path / "steel.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        E.material_from_table(path)


# --- boundary -----------------------------------------------------------------------------

@pytest.mark.parametrize("phi", [1.5, -0.1, math.nan])
def test_exchange_factor_outside_unit_interval(phi: float) -> None:
    with pytest.raises(ConfigError, match=r"boundary\.faces\[1\]\.(exchange_factor=.* is "
                                          r"invalid: expected an exchange factor.* in \(0, 1\]"
                                          r"|exchange_factor=.*finite numbers)"):
        E.constant_boundary([E.FaceSpec(1300.0, 0.0, 0.5), E.FaceSpec(1300.0, 0.0, phi)])


@pytest.mark.parametrize("phi", [0.0, 1.01])
def test_zone_exchange_factor_outside_unit_interval(phi: float) -> None:
    zone = E.FurnaceZone("heat", 1200.0, 3600.0, exchange_factor_top=phi)
    with pytest.raises(ConfigError, match=r"boundary\.zones\[0\]\.exchange_factor_top=.* is "
                                          r"invalid: expected an exchange factor in \(0, 1\]"):
        E.furnace_boundary([zone], 1)


@pytest.mark.parametrize("duration", [-600.0, 0.0])
def test_non_positive_zone_duration(duration: float) -> None:
    zones = [E.FurnaceZone("a", 1000.0, 3600.0), E.FurnaceZone("b", 1200.0, duration)]
    with pytest.raises(ConfigError, match=r"boundary\.zones\[1\]\.duration=.* is invalid: "
                                          r"expected a positive residence time"):
        E.furnace_boundary(zones, 1)


def test_no_zones() -> None:
    with pytest.raises(ConfigError, match=r"expected at least one furnace zone"):
        E.furnace_boundary([], 1)


def test_negative_convection() -> None:
    with pytest.raises(ConfigError, match=r"boundary\.faces\[0\]\.h=\[-5\.0\] is invalid"):
        E.constant_boundary([E.FaceSpec(1300.0, -5.0)])


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_gas_temperature(bad: float) -> None:
    with pytest.raises(ConfigError, match=r"gas_temperature=.* is invalid: expected finite"):
        E.constant_boundary([E.FaceSpec(bad, 10.0)])


def test_gas_temperature_in_celsius_by_mistake() -> None:
    with pytest.raises(ConfigError, match=r"above absolute zero.*check the unit"):
        E.constant_boundary([E.FaceSpec(-20.0, 10.0)])


def test_schedule_times_not_sorted() -> None:
    with pytest.raises(ConfigError, match=r"boundary\.times=.*non-decreasing"):
        E.schedule_boundary([0.0, 600.0, 300.0], np.full((2, 3), 1300.0), 10.0, 0.5)


# --- solver settings and scenario ---------------------------------------------------------

@pytest.mark.parametrize("key", ["t_end", "dt", "save_interval"])
@pytest.mark.parametrize("value", [-60.0, 0.0, math.nan])
def test_non_positive_times(key: str, value: float) -> None:
    kwargs = {"t_end": 600.0, "dt": 30.0, "save_interval": 60.0, key: value}
    with pytest.raises(ConfigError, match=rf"solver\.{key}=.* is invalid: expected a positive "
                                          r"finite time in s"):
        E.simulate(_slab_scenario(), E.SolverSettings(**kwargs))


def test_unknown_scheme() -> None:
    with pytest.raises(ConfigError, match=r"solver\.scheme='leapfrog' is invalid"):
        E.simulate(_slab_scenario(), E.SolverSettings(t_end=600.0, scheme="leapfrog"))


def test_explicit_dt_above_stability_limit() -> None:
    scenario = _slab_scenario()
    limit = E.stable_time_step(scenario)
    settings = E.SolverSettings(t_end=600.0, dt=2.0 * limit, scheme="explicit")
    with pytest.raises(ConfigError, match=r"solver\.dt=.* s exceeds the explicit stability "
                                          r"limit .* s for dx=\[10\] mm; lower solver\.dt"):
        E.simulate(scenario, settings)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_initial_temperature(bad: float) -> None:
    T0 = np.full(20, 300.0)
    T0[7] = bad
    with pytest.raises(ConfigError, match=r"initial temperature contains NaN or inf"):
        E.simulate(_slab_scenario(T0), E.SolverSettings(t_end=600.0))


def test_initial_temperature_below_absolute_zero() -> None:
    with pytest.raises(ConfigError, match=r"initial temperature min=-10\.0 K is invalid"):
        E.simulate(_slab_scenario(-10.0), E.SolverSettings(t_end=600.0))


def test_initial_temperature_of_wrong_shape() -> None:
    with pytest.raises(ConfigError, match=r"initial temperature has shape \(7,\)"):
        E.simulate(_slab_scenario(np.full(7, 300.0)), E.SolverSettings(t_end=600.0))
