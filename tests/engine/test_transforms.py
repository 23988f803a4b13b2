"""JAX transforms of the solver: jit = eager, vmap = loop, grad = finite differences, no
retracing on new values, and float32 against float64."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from engine_cases import FURNACE_END, energy_mismatch, furnace_zones

from steeltwin import engine as E

SCHEME = E.crank_nicolson(3)


def _slab(t_gas: float = 1400.0, h: float = 30.0, T0: float = 300.0,
          phi: float = 0.6) -> E.Scenario:
    boundary = E.constant_boundary([E.FaceSpec(t_gas, h, phi), E.FaceSpec(t_gas - 100.0, h, phi)])
    return E.Scenario(E.slab_grid(0.1, 12), E.carbon_steel(), boundary, jnp.asarray(T0))


def test_jit_equals_eager() -> None:
    scenario = _slab()
    jitted = E.solve(scenario, 120.0, 3, 1, SCHEME)
    with jax.disable_jit():  # scans and loops run op by op in Python
        eager = E.solve(scenario, 120.0, 3, 1, SCHEME)
    # Same operations; XLA may fuse (FMA) differently: round-off only.
    for name in ("temperature", "surface_temperature", "enthalpy", "boundary_heat"):
        a, b = np.asarray(getattr(jitted, name)), np.asarray(getattr(eager, name))
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9, err_msg=name)
    assert float(np.asarray(jitted.temperature).max()) > 350.0


def _stack(trees: list) -> object:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def test_vmap_equals_loop() -> None:
    scenarios = [_slab(1400.0, 30.0, 300.0), _slab(1250.0, 5.0, 500.0),
                 _slab(1500.0, 80.0, 290.0, phi=0.4)]
    run = lambda s: E.solve(s, 60.0, 20, 5, SCHEME)  # noqa: E731
    batched = jax.vmap(run)(_stack(scenarios))
    for i, scenario in enumerate(scenarios):
        single = run(scenario)
        for name in ("temperature", "enthalpy", "boundary_heat", "heat_flux"):
            np.testing.assert_allclose(np.asarray(getattr(batched, name))[i],
                                       np.asarray(getattr(single, name)), rtol=1e-12,
                                       atol=1e-9, err_msg=f"{name}[{i}]")
    final = np.asarray(batched.temperature)[:, -1].mean(axis=1)
    assert np.ptp(final) > 50.0  # the three cases really differ


def _centre_temperature(params: jax.Array) -> jax.Array:
    """Centre temperature after 1 h of a two-zone furnace (constant properties: smooth)."""
    phi, h, t_gas2 = params[0], params[1], params[2]
    zones = [E.FurnaceZone("a", 900.0, 1800.0), E.FurnaceZone("b", 1200.0, 1800.0)]
    base = E.furnace_boundary(zones, 1)
    # Knots: two per zone (start, end); zone b is columns 2 and 3.
    gas = base.gas_temperature.at[:, 2:].set(t_gas2)
    boundary = dataclasses.replace(base, gas_temperature=gas,
                                   exchange_factor=jnp.full_like(base.exchange_factor, 1.0) * phi,
                                   h=jnp.full_like(base.h, 1.0) * h)
    material = E.constant_material(30.0, 7850.0, 600.0)
    scenario = E.Scenario(E.slab_grid(0.2, 20), material, boundary, jnp.asarray(300.0))
    T = E.solve(scenario, 60.0, 60, 60, SCHEME).temperature[-1]
    return 0.5 * (T[9] + T[10])


def test_grad_matches_finite_differences() -> None:
    params = jnp.asarray([0.6, 40.0, 1200.0 + 273.15])
    # One compiled function gives both the values (for the differences) and the gradient.
    value_and_grad = jax.jit(jax.value_and_grad(_centre_temperature))
    _, grad = value_and_grad(params)
    grad = np.asarray(grad)
    fd = []
    for i in range(3):
        # Central differences with a relative step of 1e-4: truncation ~1e-9 relative,
        # round-off ~1e-16 * 1e3 K / step ~1e-10 relative.
        step = 1e-4 * float(params[i])
        e = jnp.zeros(3).at[i].set(step)
        plus, _ = value_and_grad(params + e)
        minus, _ = value_and_grad(params - e)
        fd.append((float(plus) - float(minus)) / (2 * step))
    fd_arr = np.asarray(fd)
    # Measured relative differences 1.2e-9 (phi), 3.4e-10 (h), 7.2e-9 (zone gas temperature).
    assert np.all(np.abs(fd_arr) > 1e-6)  # every parameter matters
    np.testing.assert_allclose(grad, fd_arr, rtol=1e-5)


def test_no_retrace_when_only_values_change() -> None:
    """Every physical number is traced: new values never recompile. (Explicit scheme: the
    traced/static split is the same for every scheme, and it compiles fastest.)"""
    scheme = E.EXPLICIT
    traces = 0

    def final_temperature(scenario: E.Scenario, dt: jax.Array) -> jax.Array:
        nonlocal traces
        traces += 1
        return E.solve(scenario, dt, 8, 4, scheme).temperature[-1]

    run = jax.jit(final_temperature)
    base = _slab()
    run(base, 5.0)
    E.solve(base, 5.0, 8, 4, scheme)
    size = E.solve._cache_size()
    variants = [
        _slab(1300.0, 10.0, 400.0, phi=0.3),
        dataclasses.replace(base, grid=E.slab_grid(0.3, 12)),  # thickness is traced
        dataclasses.replace(base, material=E.carbon_steel(conductivity_scale=1.2)),
        dataclasses.replace(base, initial_temperature=jnp.asarray(350.0)),
    ]
    for i, v in enumerate(variants):
        dt = 2.0 + i  # dt is traced too
        run(v, dt)
        E.solve(v, dt, 8, 4, scheme)
    assert traces == 1
    assert E.solve._cache_size() == size
    # Positive control: a static argument (the step count) does compile again.
    E.solve(base, 5.0, 12, 4, scheme)
    assert E.solve._cache_size() == size + 1


def test_float32_against_float64() -> None:
    """The furnace slab in float32 (inputs, tables, state) against float64.

    H reaches ~6e9 J/m^3, whose float32 spacing is 512 J/m^3 = 1e-4 K; 320 steps of
    round-off give a measured max difference of 2.0e-3 K (4.6e-4 K for a 40 x 20 section,
    not repeated here to save two compilations). Tolerance 0.02 K, and 1e-6 relative on the
    energy balance (float32 sums; measured 6.5e-8).
    """
    results = {}
    for dtype in (jnp.float64, jnp.float32):
        grid = E.slab_grid(0.22, 44, dtype=dtype)
        boundary = E.furnace_boundary(furnace_zones(), grid.ndim, dtype=dtype)
        scenario = E.Scenario(grid, E.carbon_steel(dtype=dtype), boundary,
                              jnp.asarray(298.15, dtype))
        traj = E.simulate(scenario, E.SolverSettings(t_end=FURNACE_END, dt=30.0,
                                                     save_interval=1200.0))
        assert traj.temperature.dtype == dtype
        results[dtype] = traj
    T64 = np.asarray(results[jnp.float64].temperature)
    T32 = np.asarray(results[jnp.float32].temperature).astype(np.float64)
    assert np.abs(T64 - T32).max() <= 0.02
    rel, _ = energy_mismatch(results[jnp.float32])
    assert rel <= 1e-6
