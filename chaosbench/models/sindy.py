"""SINDy as an evaluable reference model (the optional ``pysindy`` package).

``fit`` identifies a sparse polynomial vector field ``dx/dt = Theta(x) Xi`` from the training
series (finite-difference derivatives, sequentially thresholded least squares), the standard
continuous-time SINDy. ``generate`` integrates it with fixed-step RK4 on the sampling grid
(``substeps`` steps per ``dt``), vectorised over a batch of initial conditions; an identified
model that blows up yields non-finite values, which the harness reports as ``diverged``.
``tangent_map`` gives that RK4 map with its exact Jacobian (the variational equation of the
polynomial field, integrated by the same RK4 steps) for the Lyapunov spectrum.

``budget`` is ignored (one sparse regression) and so is ``seed``: the fit is deterministic.
With a ``tune`` grid, ``fit`` first chooses the threshold (and ridge ``alpha``) per dataset on a
validation split of the training series (:mod:`chaosbench.models.tuning`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from chaosbench.errors import ChaosbenchError
from chaosbench.models.contract import as_series, as_start, non_negative, positive_int
from chaosbench.models.registry import register
from chaosbench.models.tuning import Search, check_grid, tune_in_place
from chaosbench.systems.integrate import rk4_step


def _pysindy() -> Any:
    try:
        import pysindy
    except ImportError:
        raise ChaosbenchError(
            "the SINDy model needs the optional package pysindy: pip install 'chaosbench[sindy]'"
        ) from None
    return pysindy


class SINDy:
    """Sparse identification of nonlinear dynamics with a polynomial library.

    ``degree``: highest monomial degree; ``threshold``: coefficients below it are pruned;
    ``alpha``: ridge penalty of each least-squares solve; ``substeps``: RK4 steps per ``dt`` in
    ``generate``; ``max_train``: use at most that many leading training samples; ``tune``
    (``None``: off): candidate values of :attr:`TUNABLE`, chosen per dataset in ``fit``.
    """

    TUNABLE: ClassVar[tuple[str, ...]] = ("threshold", "alpha")

    citation: ClassVar[str] = (
        "Brunton, Proctor & Kutz, Discovering governing equations from data by sparse "
        "identification of nonlinear dynamical systems, PNAS 113 (2016); Kaptanoglu et al., "
        "PySINDy: a comprehensive Python package for robust sparse system identification, "
        "JOSS 7 (2022)"
    )

    def __init__(
        self,
        obs_dim: int,
        degree: int = 2,
        threshold: float = 0.1,
        alpha: float = 0.05,
        substeps: int = 1,
        max_train: int | None = None,
        tune: dict[str, list[float]] | None = None,
    ) -> None:
        name = type(self).__name__
        self.obs_dim = positive_int(name, "obs_dim", obs_dim)
        self.tune = check_grid(name, tune, self.TUNABLE)
        self.degree = positive_int(name, "degree", degree)
        self.substeps = positive_int(name, "substeps", substeps)
        self.max_train = None if max_train is None else positive_int(name, "max_train", max_train)
        self.threshold = non_negative(name, "threshold", threshold)
        self.alpha = non_negative(name, "alpha", alpha)
        self.config = {
            "obs_dim": self.obs_dim, "degree": self.degree, "threshold": self.threshold,
            "alpha": self.alpha, "substeps": self.substeps, "max_train": self.max_train,
            "tune": self.tune,
        }
        self.search: Search | None = None
        self._model: Any = None
        self._dt = 0.0
        self._powers = self._coef = np.empty(0)
        self._jacobian_terms = (np.empty(0), np.empty(0))

    def fit(self, train: Any, dt: float, budget: int | None, seed: int) -> dict[str, float]:
        """Identify the vector field from ``train`` sampled every ``dt``."""
        x = as_series(train, self.obs_dim, "SINDy.fit")[: self.max_train]
        if not np.isfinite(dt) or dt <= 0:
            raise ChaosbenchError(f"SINDy.fit: dt must be a positive number, got {dt!r}")
        if len(x) < 10:
            raise ChaosbenchError(f"SINDy.fit: train has {len(x)} steps; needs at least 10")
        if self.tune is not None:
            self.search = tune_in_place(self, x, float(dt), 0, 10)
        ps = _pysindy()
        model = ps.SINDy(
            optimizer=ps.STLSQ(threshold=self.threshold, alpha=self.alpha),
            feature_library=ps.PolynomialLibrary(degree=self.degree),
        )
        model.fit(x, t=float(dt))
        self._model, self._dt = model, float(dt)
        self._powers = np.asarray(model.feature_library.powers_)
        self._coef = np.asarray(model.coefficients(), dtype=np.float64)
        self._jacobian_terms = jacobian_terms(self._powers, self._coef)
        return {"n_terms": float(np.count_nonzero(self._coef))}

    def equations(self) -> list[str]:
        """The identified right-hand sides, one string per observed component."""
        self._fitted("SINDy.equations")
        return list(self._model.equations())

    def _rhs(self, x: np.ndarray) -> np.ndarray:
        """The identified vector field ``Theta(x) Xi`` on a batch ``(B, N)``."""
        return monomials(x, self._powers) @ self._coef.T

    def _jacobian(self, x: np.ndarray) -> np.ndarray:
        """``d Theta(x) Xi / dx`` on a batch ``(B, N)``: ``(B, N, N)``."""
        powers, coef = self._jacobian_terms
        return np.einsum("bf,fim->bim", monomials(x, powers), coef)

    def _advance(self, state: Any) -> Any:
        """One sampling step of the identified flow: ``substeps`` RK4 steps (numpy arrays)."""
        h = self._dt / self.substeps
        for _ in range(self.substeps):
            state = rk4_step(self._rhs, state, h)
        return state

    def _fitted(self, owner: str) -> None:
        if self._model is None:
            raise ChaosbenchError(f"{owner}: call fit(train, dt, budget, seed) first")

    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        """Integrate from ``x0`` (``(N,)`` or ``(B, N)``): ``(n_steps, [B,] N)``, row 0 = x0."""
        self._fitted("SINDy.generate")
        x = as_start(x0, self.obs_dim, n_steps, "SINDy.generate")
        state = np.atleast_2d(x)
        out = np.empty((n_steps, *state.shape))
        out[0] = state
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(1, n_steps):
                state = self._advance(state)
                out[t] = state
        return out if x.ndim == 2 else out[:, 0]

    def tangent_map(self) -> IdentifiedFlow:
        """The sampling-step map ``generate`` iterates, with its Jacobian (for the spectrum)."""
        self._fitted("SINDy.tangent_map")
        return IdentifiedFlow(self)


class IdentifiedFlow:
    """The RK4 map of a fitted SINDy model on its state ``z = x`` (float64 tensors on the CPU).

    :meth:`tangent` integrates the state together with the variational equation
    ``dQ/dt = J(x) Q`` in one augmented RK4 step ``y = [x | Q]``, which for an explicit
    Runge-Kutta method is exactly the Jacobian of the discrete map (as for the systems in
    ``chaosbench.lyapunov.targets``).
    """

    dtype = torch.float64

    def __init__(self, sindy: SINDy) -> None:
        self.sindy = sindy
        self.latent_dim = sindy.obs_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x.detach().cpu().to(torch.float64)

    def step(self, z: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.sindy._advance(z.detach().cpu().to(torch.float64).numpy()))

    def tangent(self, z: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(step(z), J(z) q)`` for states ``(B, N)`` and tangent bases ``(B, N, k)``."""
        sindy = self.sindy

        def field(y: np.ndarray) -> np.ndarray:
            x = y[..., 0]
            out = sindy._jacobian(x) @ y
            out[..., 0] = sindy._rhs(x)
            return out

        y = np.concatenate([z.detach().cpu().to(torch.float64).numpy()[..., None], q.detach().cpu().numpy()], axis=-1)
        h = sindy._dt / sindy.substeps
        for _ in range(sindy.substeps):
            y = rk4_step(field, y, h)
        return torch.from_numpy(np.ascontiguousarray(y[..., 0])), torch.from_numpy(np.ascontiguousarray(y[..., 1:]))


def monomials(x: np.ndarray, powers: np.ndarray) -> np.ndarray:
    """``prod_j x_j^powers[f, j]`` for a batch ``(B, N)`` and exponents ``(F, N)``: ``(B, F)``."""
    return np.prod(x[:, None, :] ** powers, axis=-1)


def jacobian_terms(powers: np.ndarray, coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Jacobian of the field ``Theta(x) Xi`` as a polynomial: exponents ``D`` ``(F', N)`` and
    coefficients ``G`` ``(F', N, N)`` with ``J(x)[i, m] = sum_f prod_j x_j^D[f, j] G[f, i, m]``.

    ``d/dx_m x^p = p_m x^(p - e_m)``: every library term with a nonzero coefficient contributes
    to the monomial one degree lower in ``x_m``; only terms the fit kept are listed.
    """
    n = powers.shape[1]
    terms: dict[tuple[int, ...], np.ndarray] = {}
    for f, p in enumerate(powers):
        if not coef[:, f].any():
            continue
        for m in np.flatnonzero(p):
            lower = p.copy()
            lower[m] -= 1
            terms.setdefault(tuple(int(v) for v in lower), np.zeros((n, n)))[:, m] += p[m] * coef[:, f]
    if not terms:
        return np.zeros((0, n), dtype=int), np.zeros((0, n, n))
    return np.array(list(terms), dtype=int), np.stack(list(terms.values()))


register("sindy", SINDy)
