"""Chaotic maps, including the Mackey-Glass delay equation discretised by the method of steps."""

from __future__ import annotations

import numpy as np

from chaosbench.systems._array import Array, concat, jacobian_zeros, stack
from chaosbench.systems.base import System


class Henon(System):
    name = "henon"
    kind = "map"
    default_params = {"a": 1.4, "b": 0.3}
    citation = "M. Henon, A two-dimensional mapping with a strange attractor, Commun. Math. Phys. 50, 69-77 (1976)"
    dt = 1.0

    @property
    def x0(self) -> np.ndarray:
        return np.array([0.6314, 0.1894])

    def step(self, x: Array) -> Array:
        u, v = x[..., 0], x[..., 1]
        return stack([1.0 - self.params["a"] * u**2 + v, self.params["b"] * u])

    def jacobian(self, x: Array) -> Array:
        jac = jacobian_zeros(x, 2)
        jac[..., 0, 0], jac[..., 0, 1] = -2.0 * self.params["a"] * x[..., 0], 1.0
        jac[..., 1, 0] = self.params["b"]
        return jac


class Logistic(System):
    name = "logistic"
    kind = "map"
    default_params = {"r": 4.0}
    citation = "R. M. May, Simple mathematical models with very complicated dynamics, Nature 261, 459-467 (1976)"
    dt = 1.0

    @property
    def x0(self) -> np.ndarray:
        return np.array([0.2718])

    def step(self, x: Array) -> Array:
        return self.params["r"] * x * (1.0 - x)

    def jacobian(self, x: Array) -> Array:
        return (self.params["r"] * (1.0 - 2.0 * x))[..., None]


class MackeyGlass(System):
    """Mackey-Glass ``dx/dt = beta x(t - tau) / (1 + x(t - tau)^n) - gamma x`` by the method of steps.

    The delay line is discretised with ``m`` steps per delay, ``h = tau / m``: the state is the
    history ``(x(t - tau), ..., x(t - h), x(t))`` (dimension ``m + 1``) and one map step advances
    it by ``h`` with a classical RK4 step whose mid-step delayed value is the mean of the two
    neighbouring history points (second-order interpolation). ``dt`` is ``h``; datasets sample it
    every few steps and observe ``x(t)`` through a delay embedding. Because ``x(t)`` enters the
    RK4 stages linearly, the Jacobian of one step is analytic: a shift plus one dense-free row.
    """

    name = "mackey_glass"
    kind = "map"
    default_params = {"beta": 0.2, "gamma": 0.1, "n": 10, "tau": 17.0, "m": 170}
    citation = "M. C. Mackey, L. Glass, Oscillation and chaos in physiological control systems, Science 197, 287-289 (1977)"

    @property
    def dt(self) -> float:  # type: ignore[override]
        return self.params["tau"] / self.params["m"]

    @property
    def x0(self) -> np.ndarray:
        return np.full(self.params["m"] + 1, 1.2)

    def _feedback(self, d: Array) -> tuple[Array, Array]:
        """The delayed production term ``g(d)`` and its derivative ``g'(d)``."""
        beta, n = self.params["beta"], self.params["n"]
        dn = d**n
        return beta * d / (1.0 + dn), beta * (1.0 + (1.0 - n) * dn) / (1.0 + dn) ** 2

    def _stages(self, x: Array):
        """RK4 increment of ``x(t)`` and its partial derivatives w.r.t. the state entries used."""
        h, gamma = self.dt, self.params["gamma"]
        now, d0, d1 = x[..., -1], x[..., 0], x[..., 1]
        (g0, dg0), (gm, dgm), (g1, dg1) = self._feedback(d0), self._feedback(0.5 * (d0 + d1)), self._feedback(d1)
        # Each stage k = g(delayed) - gamma * (now + c * previous stage): linear in `now`.
        k1 = g0 - gamma * now
        k2 = gm - gamma * (now + 0.5 * h * k1)
        k3 = gm - gamma * (now + 0.5 * h * k2)
        k4 = g1 - gamma * (now + h * k3)
        new = now + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        # d(new)/d(now): the RK4 stability polynomial of -gamma; d(new)/d(d0), d(new)/d(d1) by the chain rule.
        q = -gamma * h
        d_now = 1.0 + q + q**2 / 2 + q**3 / 6 + q**4 / 24
        c = -gamma * h  # each stage feeds the next scaled by c * (stage coefficient)
        k1_d0, k2_d0 = dg0, 0.5 * dgm + 0.5 * c * dg0
        k3_d0 = 0.5 * dgm + 0.5 * c * k2_d0
        k4_d0 = c * k3_d0
        k2_d1 = 0.5 * dgm
        k3_d1 = 0.5 * dgm + 0.5 * c * k2_d1
        k4_d1 = dg1 + c * k3_d1
        d_d0 = h / 6.0 * (k1_d0 + 2 * k2_d0 + 2 * k3_d0 + k4_d0)
        d_d1 = h / 6.0 * (2 * k2_d1 + 2 * k3_d1 + k4_d1)
        return new, d_now, d_d0, d_d1

    def step(self, x: Array) -> Array:
        return concat([x[..., 1:], self._stages(x)[0][..., None]])

    def jacobian(self, x: Array) -> Array:
        m = self.params["m"]
        _, d_now, d_d0, d_d1 = self._stages(x)
        jac = jacobian_zeros(x, m + 1)
        idx = np.arange(m)
        jac[..., idx, idx + 1] = 1.0  # the history shifts by one slot
        jac[..., m, m] = d_now
        jac[..., m, 0] = d_d0
        jac[..., m, 1] = d_d1
        return jac


MAPS: tuple[type[System], ...] = (Henon, Logistic, MackeyGlass)
