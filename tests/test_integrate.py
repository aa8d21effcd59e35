"""The fixed-step RK4 integrator against scipy's DOP853 at rtol 1e-10 (documented in docs/systems.md)."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from chaosbench import systems
from chaosbench.systems import trajectory

# (system, horizon in time units, max relative error at the default substeps)
CASES = [
    ("lorenz63", 1.0, 1e-7),
    ("rossler", 10.0, 1e-5),
    ("lorenz96", 1.0, 1e-5),
    ("duffing", 10.0, 1e-5),
    ("hindmarsh_rose", 10.0, 1e-5),
    ("thomas", 10.0, 1e-7),
    ("chua", 10.0, 1e-3),  # the piecewise-linear diode's kinks lower RK4's order
]


@pytest.mark.parametrize("name,horizon,tol", CASES)
def test_rk4_matches_dop853(name, horizon, tol):
    s = systems.get(name)
    n = int(round(horizon / s.dt))
    t = np.arange(n + 1) * s.dt
    ref = solve_ivp(lambda _, y: s.rhs(y), (0, t[-1]), s.x0, method="DOP853", rtol=1e-10, atol=1e-12, t_eval=t).y.T
    ours = trajectory(s, s.x0, n + 1)
    assert np.abs(ours - ref).max() / np.abs(ref).max() < tol


def test_error_shrinks_at_fourth_order():
    s = systems.get("lorenz63")
    n = 100
    t = np.arange(n + 1) * s.dt
    ref = solve_ivp(lambda _, y: s.rhs(y), (0, t[-1]), s.x0, method="DOP853", rtol=1e-12, atol=1e-12, t_eval=t).y.T
    e1 = np.abs(trajectory(s, s.x0, n + 1, substeps=1) - ref).max()
    e2 = np.abs(trajectory(s, s.x0, n + 1, substeps=2) - ref).max()
    assert 10 < e1 / e2 < 24  # 2^4 = 16


def test_batched_integration_equals_single_runs():
    s = systems.get("lorenz63")
    x0 = s.x0 + np.array([[0.0, 0, 0], [1, 0, 0], [0, 2, 0]])
    batch = trajectory(s, x0, 200)
    for i in range(3):
        np.testing.assert_array_equal(batch[:, i], trajectory(s, x0[i], 200))


def test_transient_and_every():
    s = systems.get("henon")
    full = trajectory(s, s.x0, 40)
    np.testing.assert_array_equal(trajectory(s, s.x0, 10, transient=5), full[5:15])
    np.testing.assert_array_equal(trajectory(s, s.x0, 10, every=3), full[:30:3])
