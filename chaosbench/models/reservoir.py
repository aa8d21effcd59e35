"""Reservoir computing: an echo state network as an evaluable reference model.

A fixed random sparse reservoir is driven by the observations,
``s_t = (1 - leak) s_{t-1} + leak tanh(W s_{t-1} + W_in x_t + b)``, and only a linear readout
``x_{t+1} = W_out [1, x_t, s~_t]`` is learned, by ridge regression; ``s~`` squares every other
unit, which breaks the ``s -> -s`` symmetry of tanh (Pathak et al. 2018). Generation closes the
loop: each prediction is fed back as the next input.

An echo state network needs a reservoir state to start from, and a single observation does not
carry the past it would be synchronised to. On an attractor the synchronised state is a function
of the current observation (generalised synchronisation), so ``fit`` also learns ``encode``, a
ridge regression of the driven state on quadratic features of the observation.

``budget`` is ignored: fitting is one pass over the series plus two linear solves, whose cost is
set by the series length (capped by ``max_train``) and ``n_units``. With a ``tune`` grid, ``fit``
first chooses the scales and ridge per dataset on a validation split of the training series
(:mod:`chaosbench.models.tuning`), one such fit per grid point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
import torch

from chaosbench.errors import ChaosbenchError
from chaosbench.models.contract import as_series, as_start, non_negative, positive_int
from chaosbench.models.registry import register
from chaosbench.models.tuning import Search, check_grid, tune_in_place

_CHUNK = 2048  # time steps whose inputs are projected at once (bounds memory)


@dataclass
class Reservoir:
    """The random part (``W``, ``W_in``, ``b``) and, once fitted, ``W_out`` and encoder ``E``."""

    W: scipy.sparse.csr_matrix
    W_in: np.ndarray
    b: np.ndarray
    W_out: np.ndarray | None = None
    E: np.ndarray | None = None


def ridge(gram: np.ndarray, cross: np.ndarray, penalty: float) -> np.ndarray:
    """``(G + penalty * I)^-1 C`` for a symmetric positive semi-definite Gram matrix ``G``."""
    g = gram + penalty * np.eye(len(gram))
    return scipy.linalg.solve(g, cross, assume_a="pos")


def quadratic_features(x: np.ndarray) -> np.ndarray:
    """``[1, x_i, x_i x_j (i <= j)]`` along the last axis."""
    i, j = np.triu_indices(x.shape[-1])
    ones = np.ones((*x.shape[:-1], 1))
    return np.concatenate([ones, x, x[..., i] * x[..., j]], axis=-1)


class ESN:
    """Echo state network (Jaeger & Haas 2004) with a leaky sparse reservoir.

    ``n_units`` reservoir units with ``degree`` random connections each, rescaled to
    ``spectral_radius``; inputs weighted uniformly in ``+-input_scale``, biases in
    ``+-bias_scale``; the first ``washout`` driven states are discarded; ``ridge`` is the readout
    penalty. Everything random is drawn from ``seed`` in ``fit``. ``tune`` (``None``: off) maps
    any of :attr:`TUNABLE` to candidate values, chosen per dataset in ``fit`` (``search`` then
    holds the scores).
    """

    TUNABLE: ClassVar[tuple[str, ...]] = ("spectral_radius", "leak", "input_scale", "bias_scale", "ridge")

    citation: ClassVar[str] = (
        "Jaeger & Haas, Harnessing nonlinearity: predicting chaotic systems and saving energy in "
        "wireless communication, Science 304 (2004); Pathak et al., Model-free prediction of large "
        "spatiotemporally chaotic systems from data, Phys. Rev. Lett. 120 (2018)"
    )

    def __init__(
        self,
        obs_dim: int,
        n_units: int = 500,
        degree: int = 3,
        spectral_radius: float = 0.8,
        leak: float = 1.0,
        input_scale: float = 0.05,
        bias_scale: float = 0.5,
        ridge: float = 1e-6,
        washout: int = 500,
        max_train: int | None = None,
        tune: dict[str, list[float]] | None = None,
    ) -> None:
        name = type(self).__name__
        self.obs_dim = positive_int(name, "obs_dim", obs_dim)
        self.tune = check_grid(name, tune, self.TUNABLE)
        self.n_units = positive_int(name, "n_units", n_units)
        self.degree = positive_int(name, "degree", degree)
        self.washout = positive_int(name, "washout", washout)
        self.max_train = None if max_train is None else positive_int(name, "max_train", max_train)
        self.spectral_radius = non_negative(name, "spectral_radius", spectral_radius)
        self.input_scale = non_negative(name, "input_scale", input_scale)
        self.bias_scale = non_negative(name, "bias_scale", bias_scale)
        self.ridge = non_negative(name, "ridge", ridge)
        self.leak = non_negative(name, "leak", leak)
        if not 0 < self.leak <= 1:
            raise ChaosbenchError(f"{name}: leak must lie in (0, 1], got {leak!r}")
        self.config = {
            "obs_dim": self.obs_dim, "n_units": self.n_units, "degree": self.degree,
            "spectral_radius": self.spectral_radius, "leak": self.leak,
            "input_scale": self.input_scale, "bias_scale": self.bias_scale, "ridge": self.ridge,
            "washout": self.washout, "max_train": self.max_train, "tune": self.tune,
        }
        self.reservoir: Reservoir | None = None
        self.search: Search | None = None

    def _draw(self, seed: int) -> Reservoir:
        """The fixed random reservoir for ``seed`` (``W`` rescaled to ``spectral_radius``)."""
        rng = np.random.default_rng(seed)
        n, k = self.n_units, self.n_units * self.degree
        rows, cols = np.repeat(np.arange(n), self.degree), rng.integers(0, n, size=k)
        w = scipy.sparse.csr_matrix((rng.uniform(-1, 1, k), (rows, cols)), shape=(n, n))
        start = rng.uniform(0.5, 1, n)  # ARPACK's start vector, drawn from the seed too
        radius = abs(scipy.sparse.linalg.eigs(w, k=1, v0=start, return_eigenvectors=False)[0])
        return Reservoir(
            W=w * (self.spectral_radius / radius) if radius > 0 else w,
            W_in=rng.uniform(-self.input_scale, self.input_scale, (n, self.obs_dim)),
            b=rng.uniform(-self.bias_scale, self.bias_scale, n),
        )

    def _update(self, s: np.ndarray, drive: np.ndarray, res: Reservoir) -> tuple[np.ndarray, np.ndarray]:
        """One reservoir step of component-major states ``(n, B)`` given the drive ``W_in x + b``:
        the new states and the activation ``tanh(W s + drive)`` (for the Jacobian)."""
        active = np.tanh(res.W @ s + drive)
        return (1 - self.leak) * s + self.leak * active, active

    def _readout_features(self, x: np.ndarray, s: np.ndarray) -> np.ndarray:
        """``[1, x, s~]`` of component-major ``x`` ``(N, B)`` and ``s`` ``(n, B)``, where ``s~``
        squares the even-numbered units: ``(1 + N + n, B)``."""
        return np.concatenate([np.ones((1, x.shape[1])), x, s[0::2] ** 2, s[1::2]], axis=0)

    def _advance(
        self, x: np.ndarray, s: np.ndarray, res: Reservoir
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One closed-loop step of component-major ``(x, s)``: the readout ``x'`` is fed back as
        the next input. Returns ``x'``, ``s'`` and the reservoir's activation."""
        assert res.W_out is not None
        x_next = res.W_out.T @ self._readout_features(x, s)
        s_next, active = self._update(s, res.W_in @ x_next + res.b[:, None], res)
        return x_next, s_next, active

    def _encode(self, x: np.ndarray, res: Reservoir) -> np.ndarray:
        """The reservoir state synchronised to observations ``x`` ``(B, N)``: ``(n, B)``."""
        assert res.E is not None
        return (quadratic_features(x) @ res.E).T

    def _fitted(self, owner: str) -> Reservoir:
        res = self.reservoir
        if res is None or res.W_out is None or res.E is None:
            raise ChaosbenchError(f"{owner}: call fit(train, dt, budget, seed) first")
        return res

    def fit(self, train: Any, dt: float, budget: int | None, seed: int) -> dict[str, float]:
        """Drive the reservoir with ``train`` and solve for the readout and encoder."""
        x = as_series(train, self.obs_dim, "ESN.fit")
        if self.max_train is not None:
            x = x[: self.max_train]
        if len(x) < self.washout + 10:
            raise ChaosbenchError(
                f"ESN.fit: train has {len(x)} steps; needs at least washout + 10 = "
                f"{self.washout + 10}"
            )
        if self.tune is not None:
            self.search = tune_in_place(self, x, dt, seed, self.washout + 10)
        res = self._draw(seed)
        n_feat = 1 + self.obs_dim + self.n_units
        n_enc = quadratic_features(x[:1]).shape[-1]
        gram, cross = np.zeros((n_feat, n_feat)), np.zeros((n_feat, self.obs_dim))
        enc_gram, enc_cross = np.zeros((n_enc, n_enc)), np.zeros((n_enc, self.n_units))
        s = np.zeros((self.n_units, 1))
        for start in range(0, len(x) - 1, _CHUNK):
            xs = x[start : min(start + _CHUNK, len(x) - 1)]
            drive = xs @ res.W_in.T + res.b
            states = np.empty((len(xs), self.n_units))
            for t in range(len(xs)):
                s, _ = self._update(s, drive[t, :, None], res)
                states[t] = s[:, 0]
            keep = max(0, self.washout - start)
            xs, states = xs[keep:], states[keep:]
            if len(xs) == 0:
                continue
            feats = self._readout_features(xs.T, states.T).T
            gram += feats.T @ feats
            cross += feats.T @ x[start + keep + 1 : start + keep + 1 + len(xs)]
            enc = quadratic_features(xs)
            enc_gram += enc.T @ enc
            enc_cross += enc.T @ states
        res.W_out = ridge(gram, cross, self.ridge)
        res.E = ridge(enc_gram, enc_cross, self.ridge)
        self.reservoir = res
        return {"n_train": float(len(x) - 1 - self.washout)}

    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        """Closed-loop run from ``x0`` (``(N,)`` or ``(B, N)``): ``(n_steps, [B,] N)``.

        Row 0 is ``x0``; the reservoir starts from the encoded state ``E [1, x0, x0 x0]``.
        """
        res = self._fitted("ESN.generate")
        x = as_start(x0, self.obs_dim, n_steps, "ESN.generate")
        batch = np.atleast_2d(x)
        state, s = batch.T, self._encode(batch, res)
        out = np.empty((n_steps, *batch.shape))
        out[0] = batch
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(1, n_steps):
                state, s, _ = self._advance(state, s, res)
                out[t] = state.T
        return out if x.ndim == 2 else out[:, 0]

    def tangent_map(self) -> ClosedLoop:
        """The fitted network as a map with an analytic Jacobian (for its Lyapunov spectrum)."""
        return ClosedLoop(self, self._fitted("ESN.tangent_map"))


class ClosedLoop:
    """A fitted ESN as a map of its state ``z = [x, s]`` (observation, reservoir units).

    One step is :meth:`ESN._advance`: ``x' = W_out [1, x, s~]``, then ``s' = (1 - leak) s +
    leak a`` with ``a = tanh(W s + W_in x' + b)``. Its Jacobian, applied to tangent vectors
    ``(dx, ds)`` by :meth:`tangent` without forming the ``(N + n)^2`` matrix, is
    ``dx' = W_out^T [0, dx, 2 s_even ds_even, ds_odd]`` and
    ``ds' = (1 - leak) ds + leak (1 - a^2) (W ds + W_in dx')``. Tensors are float64 on the CPU.
    """

    dtype = torch.float64

    def __init__(self, esn: ESN, res: Reservoir) -> None:
        self.esn, self.res = esn, res
        self.latent_dim = esn.obs_dim + esn.n_units

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``[x, s]`` with the reservoir synchronised to ``x`` ``(B, N)``."""
        obs = x.detach().cpu().to(torch.float64).numpy()
        return torch.from_numpy(np.concatenate([obs, self.esn._encode(obs, self.res).T], axis=1))

    def step(self, z: torch.Tensor) -> torch.Tensor:
        x, s = self._split(z)
        x_next, s_next, _ = self.esn._advance(x, s, self.res)
        return _rows(x_next, s_next)

    def tangent(self, z: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(step(z), J(z) q)`` for states ``(B, M)`` and tangent bases ``(B, M, k)``."""
        n_obs, res, leak = self.esn.obs_dim, self.res, self.esn.leak
        assert res.W_out is not None
        x, s = self._split(z)
        x_next, s_next, active = self.esn._advance(x, s, res)
        batch, _, k = q.shape
        dq = np.ascontiguousarray(q.detach().cpu().to(torch.float64).numpy().transpose(1, 0, 2))
        dx, ds = dq[:n_obs], dq[n_obs:]  # component-major (N, B, k) and (n, B, k)
        dfeat = np.concatenate([dx, 2.0 * s[0::2, :, None] * ds[0::2], ds[1::2]], axis=0)
        dx_next = (res.W_out[1:].T @ dfeat.reshape(len(dfeat), -1)).reshape(n_obs, batch, k)
        spread = res.W @ ds.reshape(len(ds), -1) + res.W_in @ dx_next.reshape(n_obs, -1)
        ds_next = (1 - leak) * ds + leak * (1.0 - active**2)[:, :, None] * spread.reshape(ds.shape)
        dq_next = np.concatenate([dx_next, ds_next], axis=0).transpose(1, 0, 2)
        return _rows(x_next, s_next), torch.from_numpy(np.ascontiguousarray(dq_next))

    def _split(self, z: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """States ``(B, N + n)`` as component-major ``x`` ``(N, B)`` and ``s`` ``(n, B)``."""
        state = z.detach().cpu().to(torch.float64).numpy().T
        return state[: self.esn.obs_dim], state[self.esn.obs_dim :]


def _rows(x: np.ndarray, s: np.ndarray) -> torch.Tensor:
    """Component-major ``x`` ``(N, B)`` and ``s`` ``(n, B)`` as the state rows ``(B, N + n)``."""
    return torch.from_numpy(np.ascontiguousarray(np.concatenate([x, s], axis=0).T))


register("esn", ESN)
