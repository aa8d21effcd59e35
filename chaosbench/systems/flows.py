"""Chaotic flows (ordinary differential equations) with analytic Jacobians.

Parameters and sampling steps come from each system's cited source; ``x0`` values are points on
the attractor reached from a standard initial condition after a long transient.
"""

from __future__ import annotations

import numpy as np

from chaosbench.systems._array import Array, backend, jacobian_zeros, stack
from chaosbench.systems.base import System


class Lorenz63(System):
    name = "lorenz63"
    kind = "flow"
    default_params = {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0}
    citation = "E. N. Lorenz, Deterministic nonperiodic flow, J. Atmos. Sci. 20, 130-141 (1963)"
    dt = 0.01
    substeps = 4

    @property
    def x0(self) -> np.ndarray:
        return np.array([-5.6518, -8.5005, 17.8311])

    def rhs(self, x: Array) -> Array:
        s, r, b = self.params["sigma"], self.params["rho"], self.params["beta"]
        u, v, w = x[..., 0], x[..., 1], x[..., 2]
        return stack([s * (v - u), u * (r - w) - v, u * v - b * w])

    def jacobian(self, x: Array) -> Array:
        s, r, b = self.params["sigma"], self.params["rho"], self.params["beta"]
        u, v, w = x[..., 0], x[..., 1], x[..., 2]
        jac = jacobian_zeros(x, 3)
        jac[..., 0, 0], jac[..., 0, 1] = -s, s
        jac[..., 1, 0], jac[..., 1, 1], jac[..., 1, 2] = r - w, -1.0, -u
        jac[..., 2, 0], jac[..., 2, 1], jac[..., 2, 2] = v, u, -b
        return jac


class Rossler(System):
    name = "rossler"
    kind = "flow"
    default_params = {"a": 0.2, "b": 0.2, "c": 5.7}
    citation = "O. E. Roessler, An equation for continuous chaos, Phys. Lett. A 57, 397-398 (1976)"
    dt = 0.1
    substeps = 4

    @property
    def x0(self) -> np.ndarray:
        return np.array([-5.1, 4.3, 0.024])

    def rhs(self, x: Array) -> Array:
        a, b, c = self.params["a"], self.params["b"], self.params["c"]
        u, v, w = x[..., 0], x[..., 1], x[..., 2]
        return stack([-v - w, u + a * v, b + w * (u - c)])

    def jacobian(self, x: Array) -> Array:
        a, c = self.params["a"], self.params["c"]
        u, w = x[..., 0], x[..., 2]
        jac = jacobian_zeros(x, 3)
        jac[..., 0, 1], jac[..., 0, 2] = -1.0, -1.0
        jac[..., 1, 0], jac[..., 1, 1] = 1.0, a
        jac[..., 2, 0], jac[..., 2, 2] = w, u - c
        return jac


class Lorenz96(System):
    """``dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F`` on a ring of ``n`` sites."""

    name = "lorenz96"
    kind = "flow"
    default_params = {"n": 20, "forcing": 8.0}
    citation = (
        "E. N. Lorenz, Predictability: a problem partly solved, Proc. ECMWF Seminar on "
        "Predictability, vol. 1, 1-18 (1996)"
    )
    dt = 0.01
    substeps = 2

    @property
    def x0(self) -> np.ndarray:
        n = self.params["n"]
        x = np.full(n, self.params["forcing"])
        x[0] += 0.01
        return x

    def rhs(self, x: Array) -> Array:
        roll = backend(x).roll
        xp1, xm1, xm2 = roll(x, -1, -1), roll(x, 1, -1), roll(x, 2, -1)
        return (xp1 - xm2) * xm1 - x + self.params["forcing"]

    def jacobian(self, x: Array) -> Array:
        n = self.params["n"]
        i = np.arange(n)
        ip1, im1, im2 = (i + 1) % n, (i - 1) % n, (i - 2) % n
        jac = jacobian_zeros(x, n)
        jac[..., i, ip1] = x[..., im1]
        jac[..., i, im2] = -x[..., im1]
        jac[..., i, im1] = x[..., ip1] - x[..., im2]
        jac[..., i, i] = -1.0
        return jac


class Chua(System):
    """Dimensionless Chua circuit with the piecewise-linear diode (double scroll)."""

    name = "chua"
    kind = "flow"
    default_params = {"alpha": 15.6, "beta": 28.0, "m0": -8.0 / 7.0, "m1": -5.0 / 7.0}
    citation = (
        "T. Matsumoto, L. O. Chua, M. Komuro, The double scroll, IEEE Trans. Circuits Syst. 32, "
        "797-818 (1985)"
    )
    dt = 0.05
    substeps = 10

    @property
    def x0(self) -> np.ndarray:
        return np.array([1.0, 0.1, -1.0])

    def _diode(self, u: Array) -> Array:
        m0, m1 = self.params["m0"], self.params["m1"]
        abs_ = backend(u).abs
        return m1 * u + 0.5 * (m0 - m1) * (abs_(u + 1.0) - abs_(u - 1.0))

    def rhs(self, x: Array) -> Array:
        a, b = self.params["alpha"], self.params["beta"]
        u, v, w = x[..., 0], x[..., 1], x[..., 2]
        return stack([a * (v - u - self._diode(u)), u - v + w, -b * v])

    def jacobian(self, x: Array) -> Array:
        a, b = self.params["alpha"], self.params["beta"]
        m0, m1 = self.params["m0"], self.params["m1"]
        u = x[..., 0]
        sign = backend(u).sign
        slope = m1 + 0.5 * (m0 - m1) * (sign(u + 1.0) - sign(u - 1.0))  # diode derivative, a.e.
        jac = jacobian_zeros(x, 3)
        jac[..., 0, 0], jac[..., 0, 1] = -a * (1.0 + slope), a
        jac[..., 1, 0], jac[..., 1, 1], jac[..., 1, 2] = 1.0, -1.0, 1.0
        jac[..., 2, 1] = -b
        return jac


class Duffing(System):
    """Forced Duffing oscillator ``x'' + delta x' + alpha x + beta x^3 = gamma cos(omega t)``.

    Written autonomously: the forcing phase is carried by a harmonic oscillator ``(c, s) =
    (cos omega t, sin omega t)``, so the state ``(x, v, c, s)`` stays bounded (a raw phase
    variable would grow without bound and could not be z-scored).
    """

    name = "duffing"
    kind = "flow"
    default_params = {"delta": 0.3, "alpha": -1.0, "beta": 1.0, "gamma": 0.5, "omega": 1.2}
    citation = (
        "J. Guckenheimer, P. Holmes, Nonlinear Oscillations, Dynamical Systems, and Bifurcations "
        "of Vector Fields, Springer, sec. 2.2 (1983)"
    )
    dt = 0.1
    substeps = 4
    free_components = (0, 1)

    @property
    def x0(self) -> np.ndarray:
        return np.array([0.5, 0.0, 1.0, 0.0])

    def rhs(self, x: Array) -> Array:
        p = self.params
        u, v, c, s = x[..., 0], x[..., 1], x[..., 2], x[..., 3]
        accel = -p["delta"] * v - p["alpha"] * u - p["beta"] * u**3 + p["gamma"] * c
        return stack([v, accel, -p["omega"] * s, p["omega"] * c])

    def jacobian(self, x: Array) -> Array:
        p = self.params
        u = x[..., 0]
        jac = jacobian_zeros(x, 4)
        jac[..., 0, 1] = 1.0
        jac[..., 1, 0], jac[..., 1, 1], jac[..., 1, 2] = -p["alpha"] - 3 * p["beta"] * u**2, -p["delta"], p["gamma"]
        jac[..., 2, 3], jac[..., 3, 2] = -p["omega"], p["omega"]
        return jac


class HindmarshRose(System):
    """Hindmarsh-Rose neuron in its chaotic bursting regime."""

    name = "hindmarsh_rose"
    kind = "flow"
    default_params = {
        "a": 1.0, "b": 3.0, "c": 1.0, "d": 5.0, "r": 0.006, "s": 4.0, "x_rest": -1.6, "current": 3.25,
    }
    citation = (
        "J. L. Hindmarsh, R. M. Rose, A model of neuronal bursting using three coupled first order "
        "differential equations, Proc. R. Soc. Lond. B 221, 87-102 (1984)"
    )
    dt = 0.25
    substeps = 5

    @property
    def x0(self) -> np.ndarray:
        return np.array([-1.3, -7.3, 3.0])

    def rhs(self, x: Array) -> Array:
        p = self.params
        u, v, w = x[..., 0], x[..., 1], x[..., 2]
        du = v - p["a"] * u**3 + p["b"] * u**2 - w + p["current"]
        dv = p["c"] - p["d"] * u**2 - v
        dw = p["r"] * (p["s"] * (u - p["x_rest"]) - w)
        return stack([du, dv, dw])

    def jacobian(self, x: Array) -> Array:
        p = self.params
        u = x[..., 0]
        jac = jacobian_zeros(x, 3)
        jac[..., 0, 0], jac[..., 0, 1], jac[..., 0, 2] = -3 * p["a"] * u**2 + 2 * p["b"] * u, 1.0, -1.0
        jac[..., 1, 0], jac[..., 1, 1] = -2 * p["d"] * u, -1.0
        jac[..., 2, 0], jac[..., 2, 2] = p["r"] * p["s"], -p["r"]
        return jac


class Thomas(System):
    """Thomas' cyclically symmetric attractor ``dx/dt = sin y - b x`` (and cyclic)."""

    name = "thomas"
    kind = "flow"
    default_params = {"b": 0.208186}
    citation = (
        "R. Thomas, Deterministic chaos seen in terms of feedback circuits, Int. J. Bifurc. Chaos 9, "
        "1889-1905 (1999)"
    )
    dt = 0.1
    substeps = 4

    @property
    def x0(self) -> np.ndarray:
        return np.array([0.1, 0.0, 0.0])

    def rhs(self, x: Array) -> Array:
        b, sin = self.params["b"], backend(x).sin
        u, v, w = x[..., 0], x[..., 1], x[..., 2]
        return stack([sin(v) - b * u, sin(w) - b * v, sin(u) - b * w])

    def jacobian(self, x: Array) -> Array:
        b, cos = self.params["b"], backend(x).cos
        u, v, w = x[..., 0], x[..., 1], x[..., 2]
        jac = jacobian_zeros(x, 3)
        jac[..., 0, 0], jac[..., 0, 1] = -b, cos(v)
        jac[..., 1, 1], jac[..., 1, 2] = -b, cos(w)
        jac[..., 2, 0], jac[..., 2, 2] = cos(u), -b
        return jac


FLOWS: tuple[type[System], ...] = (Lorenz63, Rossler, Lorenz96, Chua, Duffing, HindmarshRose, Thomas)
