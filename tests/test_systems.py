import numpy as np
import pytest
import torch

from chaosbench import systems
from chaosbench.errors import ChaosbenchError, UnknownNameError
from chaosbench.systems import trajectory

ALL = systems.names()


def _points(system, n=5, seed=0):
    """Points on the attractor (a short orbit from x0), plus noise so no coordinate is special."""
    every = 7 if system.kind == "flow" else 3
    orbit = trajectory(system, system.x0, n * every)[::every]
    return orbit + 1e-3 * np.random.default_rng(seed).standard_normal(orbit.shape)


def _vector_field(system, x):
    return system.rhs(x) if system.kind == "flow" else system.step(x)


@pytest.mark.parametrize("name", ALL)
def test_analytic_jacobian_matches_central_differences(name):
    system = systems.get(name, **({"m": 17} if name == "mackey_glass" else {}))
    x = _points(system)
    jac = system.jacobian(x)
    eps = 1e-6
    fd = np.empty_like(jac)
    for j in range(system.dim):
        e = np.zeros(system.dim)
        e[j] = eps
        fd[..., :, j] = (_vector_field(system, x + e) - _vector_field(system, x - e)) / (2 * eps)
    scale = np.abs(jac).max()
    assert np.abs(jac - fd).max() <= 1e-6 * max(1.0, scale)


@pytest.mark.parametrize("name", ALL)
def test_numpy_and_torch_agree_and_batch_axes_broadcast(name):
    system = systems.get(name)
    x = _points(system, n=6).reshape(2, 3, system.dim)
    f = _vector_field(system, x)
    ft = _vector_field(system, torch.from_numpy(x)).numpy()
    jt = system.jacobian(torch.from_numpy(x)).numpy()
    assert f.shape == x.shape and system.jacobian(x).shape == (2, 3, system.dim, system.dim)
    np.testing.assert_allclose(ft, f, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jt, system.jacobian(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", [n for n in ALL if n not in ("logistic",)])
def test_attractor_is_bounded_and_not_a_fixed_point_or_cycle(name):
    system = systems.get(name)
    n = 6000
    every = 10 if name == "mackey_glass" else 1  # its slow chaos needs a longer horizon
    orbit = trajectory(system, system.x0, n, every=every, transient=500)
    assert np.isfinite(orbit).all()
    assert np.abs(orbit).max() < 100
    assert orbit[:, -1].std() > 1e-2  # not a fixed point
    # Two orbits from nearby points separate (sensitive dependence): not a stable cycle.
    twin = trajectory(system, orbit[0] + 1e-7, n, every=every)
    assert np.abs(twin[-1000:] - orbit[-1000:]).max() > 1e-3 * orbit.std()


def test_logistic_map_stays_in_unit_interval():
    orbit = trajectory(systems.get("logistic"), np.array([0.2718]), 2000)
    assert orbit.min() >= 0 and orbit.max() <= 1 and orbit.std() > 0.3


def test_parameters_override_and_validate():
    s = systems.get("lorenz63", rho=35)
    assert s.params == {"sigma": 10.0, "rho": 35.0, "beta": 8.0 / 3.0}
    assert systems.get("lorenz96", n=8).dim == 8
    with pytest.raises(ChaosbenchError, match="has no parameter 'r'.*parameters: sigma, rho, beta"):
        systems.get("lorenz63", r=35)
    with pytest.raises(ChaosbenchError, match="must be a number"):
        systems.get("lorenz63", rho="28")
    with pytest.raises(ChaosbenchError, match="must be an integer"):
        systems.get("lorenz96", n=7.5)
    with pytest.raises(UnknownNameError, match="did you mean .*'lorenz63'"):
        systems.get("lorenz36")


def test_every_system_has_citation_and_kind():
    for name in ALL:
        s = systems.get(name)
        assert s.kind in ("flow", "map") and len(s.citation) > 20 and s.dt > 0 and len(s.x0) == s.dim


def test_flow_divergence_is_trace_of_jacobian():
    s = systems.get("lorenz63")
    x = _points(s)
    np.testing.assert_allclose(s.divergence(x), -(10 + 1 + 8 / 3), rtol=1e-12)


def test_mackey_glass_history_shifts_and_matches_fine_euler():
    mg = systems.get("mackey_glass")
    x = mg.x0 + 0.01 * np.sin(np.arange(mg.dim))
    y = mg.step(x)
    np.testing.assert_array_equal(y[:-1], x[1:])
    # One RK4 step against the delay equation evaluated by hand at the frozen delayed value.
    beta, gamma, n = 0.2, 0.1, 10
    g = beta * x[0] / (1 + x[0] ** n)
    assert abs(y[-1] - (x[-1] + mg.dt * (g - gamma * x[-1]))) < 5e-3 * mg.dt
