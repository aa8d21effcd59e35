"""The optional dysts flows, through a stand-in module with dysts' API (dysts is not a test dependency).

dysts >= 0.9 defines each flow as a ``DynSys`` subclass with static ``_rhs(*x, t, **params)`` and,
for most flows, ``_jac(*x, t, **params)``; an instance has ``params``, ``ic`` and ``dt``.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from chaosbench import systems
from chaosbench.errors import ChaosbenchError
from chaosbench.registry import Registry
from chaosbench.systems.dysts_adapter import register_dysts


class DynSys:
    def __init__(self) -> None:
        self.params = dict(self.default_params)


class Lorenz(DynSys):
    default_params = {"beta": 2.667, "rho": 28, "sigma": 10}
    ic = [-9.79, -15.04, 20.53]
    dt = 0.0003

    @staticmethod
    def _rhs(x, y, z, t, beta, rho, sigma):
        return sigma * (y - x), x * (rho - z) - y, x * y - beta * z

    @staticmethod
    def _jac(x, y, z, t, beta, rho, sigma):
        return [[-sigma, sigma, 0.0], [rho - z, -1.0, -x], [y, x, -beta]]


class NoJacobian(DynSys):
    default_params = {"a": 1.0}
    ic = [0.0]

    @staticmethod
    def _rhs(x, t, a):
        return (-a * x,)


@pytest.fixture
def fake_dysts(monkeypatch: pytest.MonkeyPatch) -> Registry:
    package, flows, base = (types.ModuleType(n) for n in ("dysts", "dysts.flows", "dysts.base"))
    base.DynSys = DynSys
    flows.DynSys, flows.Lorenz, flows.NoJacobian = DynSys, Lorenz, NoJacobian
    package.flows, package.base = flows, base
    monkeypatch.setitem(sys.modules, "dysts", package)
    monkeypatch.setitem(sys.modules, "dysts.flows", flows)
    monkeypatch.setitem(sys.modules, "dysts.base", base)
    registry: Registry = Registry("system")
    register_dysts(registry)
    return registry


def test_flows_with_a_jacobian_are_registered_and_follow_the_system_contract(fake_dysts: Registry) -> None:
    assert fake_dysts.names() == ["dysts:Lorenz"]
    system = fake_dysts.get("dysts:Lorenz")(rho=35.0)
    assert (system.kind, system.dim, system.params["rho"]) == ("flow", 3, 35.0)
    x = np.array([[[1.0, 2.0, 3.0], [-4.0, 0.5, 30.0]]])  # leading batch axes are kept
    np.testing.assert_allclose(system.rhs(x), systems.get("lorenz63", rho=35.0, beta=2.667).rhs(x))
    np.testing.assert_allclose(system.jacobian(x), systems.get("lorenz63", rho=35.0, beta=2.667).jacobian(x))


def test_a_dysts_flow_integrates_like_the_builtin_one(fake_dysts: Registry) -> None:
    flow = fake_dysts.get("dysts:Lorenz")()
    builtin = systems.get("lorenz63", beta=2.667)
    ours = systems.trajectory(flow, builtin.x0, 50, dt=0.01, substeps=4)
    np.testing.assert_allclose(ours, systems.trajectory(builtin, builtin.x0, 50, dt=0.01, substeps=4), rtol=1e-12)


def test_torch_input_is_a_one_line_error(fake_dysts: Registry) -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(ChaosbenchError, match="numpy arrays only"):
        fake_dysts.get("dysts:Lorenz")().rhs(torch.zeros(3))


def test_without_dysts_nothing_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dysts", None)  # import of dysts fails
    monkeypatch.setitem(sys.modules, "dysts.flows", None)
    registry: Registry = Registry("system")
    register_dysts(registry)
    assert registry.names() == []
