"""Piecewise-linear RNNs: PLRNN, shallow PLRNN (plain and clipped) and dendritic PLRNN.

By default they read the observation off their first ``obs_dim`` latent units (identity
observation, as in the teacher-forcing literature), so forcing overwrites exactly those units
and leaves the rest free. ``encode(x) = [x, L x]`` with a learnable ``L`` initialised at zero
gives the free units an initial condition. The shallow PLRNNs also take an affine observation
model ``x = B z + b`` (``observation="affine"``, any number ``M`` of latent units, below or above
``N``), as Hess et al. (2023) use on ECG and EEG: the data-inferred state is ``pinv(B) (x - b)``
with ``B`` and ``b`` detached (the forcing signal is data, not a path for gradients, as in the
reference code, which computes it before the gradient), and forcing mixes it into every latent
unit. Initialisations follow the published reference implementations: ``A`` (and ``W`` where
present) from a normalised positive-definite matrix (Talathi & Vartak 2016), the shallow layers
uniform in ``+-1/sqrt(fan_in)``, ``B`` normal with standard deviation ``sqrt(2 / M)`` (Kaiming),
biases at zero.

Each also evaluates an ensemble natively (``stacked``, see :mod:`chaosbench.models.contract`):
the same maps with batched matrix products over the member axis, parameters reshaped once per
call (``pinv(B)`` too) and biases fused into the products (``baddbmm``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chaosbench.errors import ChaosbenchError
from chaosbench.models._init import normalized_positive_definite, uniform
from chaosbench.models.contract import LatentModel, non_negative, positive_int
from chaosbench.models.fused import DendCell, unroll_window
from chaosbench.models.registry import register

OBSERVATIONS = ("identity", "affine")


def _offdiag(w: Tensor) -> Tensor:
    """``w`` with its diagonal zeroed (the self-coupling lives in ``A``)."""
    return w.triu(1) + w.tril(-1)


def _batched_affine(z: Tensor, weight_T: Tensor, bias: Tensor) -> Tensor:
    """``z @ weight_T + bias`` per member for states ``(E, ..., K)``, ``weight_T`` ``(E, K, N)``,
    ``bias`` ``(E, 1, N)``: one ``baddbmm`` over the flattened inner axes."""
    flat = z.reshape(z.shape[0], -1, z.shape[-1])
    return torch.baddbmm(bias, flat, weight_T).reshape(*z.shape[:-1], weight_T.shape[-1])


class ObservedFirstUnits(LatentModel):
    """A latent model with the PLRNN family's observation model.

    ``observation="identity"``: the first ``obs_dim`` units are the observation (``latent_dim``
    at least ``obs_dim``). ``"affine"``: ``x = B z + b`` with ``B`` ``(obs_dim, latent_dim)``.
    """

    def __init__(
        self, obs_dim: int, latent_dim: int | None, config: dict[str, Any], observation: str = "identity"
    ) -> None:
        name = type(self).__name__
        if observation not in OBSERVATIONS:
            raise ChaosbenchError(
                f"{name}: observation must be one of {', '.join(OBSERVATIONS)}, got {observation!r}"
            )
        latent_dim = positive_int(name, "latent_dim", obs_dim if latent_dim is None else latent_dim)
        super().__init__(obs_dim, latent_dim, {**config, "latent_dim": latent_dim})
        self.affine = observation == "affine"
        if self.affine:
            self.B = nn.Parameter(torch.randn(self.obs_dim, self.latent_dim) * math.sqrt(2.0 / self.latent_dim))
            self.b = nn.Parameter(torch.zeros(self.obs_dim))
            return
        if self.latent_dim < self.obs_dim:
            raise ChaosbenchError(
                f"{name}: latent_dim ({self.latent_dim}) must be at least "
                f"obs_dim ({self.obs_dim}): the first obs_dim latent units are the observation "
                "(observation: affine allows fewer)"
            )
        self.L = nn.Parameter(torch.zeros(self.latent_dim - self.obs_dim, self.obs_dim))

    def observe(self, z: Tensor) -> Tensor:
        if self.affine:
            return z @ self.B.T + self.b
        return z[..., : self.obs_dim]

    def encode(self, x: Tensor) -> Tensor:
        if self.affine:
            return (x - self.b.detach()) @ torch.linalg.pinv(self.B.detach()).T
        return torch.cat([x, x @ self.L.T], dim=-1)

    def force(self, z: Tensor, x: Tensor, alpha: float | Tensor = 1.0) -> Tensor:
        """Identity: mix ``x`` into the observed units only, the free units keep their values.
        Affine: mix ``encode(x)`` into every unit."""
        if self.affine:
            return (1 - alpha) * z + alpha * self.encode(x)
        n = self.obs_dim
        observed = (1 - alpha) * z[..., :n] + alpha * x
        return torch.cat([observed, z[..., n:]], dim=-1)


class StackedObservedFirstUnits:
    """The ensemble view shared by :class:`ObservedFirstUnits` models (states ``(E, B, M)``)."""

    def __init__(self, obs_dim: int, params: Mapping[str, Tensor], affine: bool = False) -> None:
        self.obs_dim = obs_dim
        self.affine = affine
        if affine:
            self.B_T, self.b = params["B"].mT, params["b"][:, None]
            # pinv(B) (x - b) = x pinv(B)^T - b pinv(B)^T, with B and b detached, once per call
            self.pinv_T = torch.linalg.pinv(params["B"].detach()).mT
            self.pinv_shift = -torch.bmm(self.b.detach(), self.pinv_T)
        else:
            self.L_T = params["L"].mT

    def observe(self, z: Tensor) -> Tensor:
        if self.affine:
            return _batched_affine(z, self.B_T, self.b)
        return z[..., : self.obs_dim]

    def encode(self, x: Tensor) -> Tensor:
        if self.affine:
            return _batched_affine(x, self.pinv_T, self.pinv_shift)
        return torch.cat([x, torch.bmm(x, self.L_T)], dim=-1)

    def force(self, z: Tensor, x: Tensor, alpha: float | Tensor = 1.0) -> Tensor:
        """As :meth:`ObservedFirstUnits.force`, without the concatenation when all units are
        observed (it runs at every forced step)."""
        if self.affine:
            return (1 - alpha) * z + alpha * self.encode(x)
        n = self.obs_dim
        observed = (1 - alpha) * z[..., :n] + alpha * x
        if z.shape[-1] == n:
            return observed
        return torch.cat([observed, z[..., n:]], dim=-1)


class StackedPLRNN(StackedObservedFirstUnits):
    """:class:`PLRNN` over a leading member axis: ``A`` ``(E, M)``, ``W`` ``(E, M, M)``."""

    def __init__(self, obs_dim: int, params: Mapping[str, Tensor]) -> None:
        super().__init__(obs_dim, params)
        self.A = params["A"][:, None]
        self.W = _offdiag(params["W"])
        self.W_T = self.W.mT
        self.h = params["h"][:, None]

    def _phi(self, z: Tensor) -> Tensor:
        """The units' nonlinearity, and below its slope."""
        return torch.relu(z)

    def _slope(self, z: Tensor) -> Tensor:
        return (z > 0).to(z.dtype)

    def step(self, z: Tensor) -> Tensor:
        return torch.baddbmm(torch.addcmul(self.h, self.A, z), self._phi(z), self.W_T)

    def jacobian(self, z: Tensor) -> Tensor:
        return torch.diag_embed(self.A) + self.W[:, None] * self._slope(z)[..., None, :]


class StackedShPLRNN(StackedObservedFirstUnits):
    """:class:`ShPLRNN` over a leading member axis: ``W1`` ``(E, M, H)``, ``W2`` ``(E, H, M)``."""

    def __init__(
        self, obs_dim: int, clip: bool, params: Mapping[str, Tensor], affine: bool = False,
        latent_reg: float = 0.0,
    ) -> None:
        super().__init__(obs_dim, params, affine)
        self.clip = clip
        self.latent_reg = latent_reg
        self.A = params["A"][:, None]
        self.W1, self.W2 = params["W1"], params["W2"]
        self.W1_T, self.W2_T = self.W1.mT, self.W2.mT
        self.h1, self.h2 = params["h1"][:, None], params["h2"][:, None]

    def _hidden(self, z: Tensor) -> tuple[Tensor, Tensor | None]:
        """``W2 z + h2`` and, when clipped, ``W2 z``."""
        if not self.clip:
            return torch.baddbmm(self.h2, z, self.W2_T), None
        pre = torch.bmm(z, self.W2_T)
        return pre + self.h2, pre

    def step(self, z: Tensor) -> Tensor:
        hidden, pre = self._hidden(z)
        phi = torch.relu(hidden)
        if pre is not None:
            phi = phi - torch.relu(pre)
        return torch.baddbmm(torch.addcmul(self.h1, self.A, z), phi, self.W1_T)

    def jacobian(self, z: Tensor) -> Tensor:
        hidden, pre = self._hidden(z)
        slope = (hidden > 0).to(z.dtype)
        if pre is not None:
            slope = slope - (pre > 0).to(z.dtype)
        w1_slope = self.W1[:, None] * slope[..., None, :]
        return torch.diag_embed(self.A) + w1_slope @ self.W2[:, None]

    def penalty(self) -> Tensor:
        """:meth:`ShPLRNN.penalty` per member: ``(E,)``."""
        terms = (1 - self.A, self.W1, self.W2, self.h1, self.h2)
        return self.latent_reg * sum(t.pow(2).flatten(1).sum(1) for t in terms)


class StackedDendPLRNN(StackedPLRNN):
    """:class:`DendPLRNN` over a leading member axis: thresholds ``H`` ``(E, M, K)``.

    ``step`` folds the basis weights into the coupling, ``W_alpha[i, (k, j)] = W[i, j]
    alpha_k`` (once per call), so the ramps of all units and bases feed one batched product;
    ``unroll`` runs a whole training window of steps as one fused node
    (:class:`chaosbench.models.fused.DendCell`, which looks each unit's ramps up in a table).
    """

    def __init__(self, obs_dim: int, params: Mapping[str, Tensor]) -> None:
        super().__init__(obs_dim, params)
        self.H = params["H"][:, None]
        self.alpha = params["alpha"][:, None, :, None]
        # basis-major (k, j) order: the unit index j runs innermost, as in z
        self.neg_thresholds = -params["H"].mT.contiguous()[:, None]
        w_alpha = params["alpha"][:, None, :, None] * self.W[:, :, None, :]
        self.W_alpha_T = w_alpha.flatten(-2).mT
        self.cell = DendCell()
        self.cell_extra = (self.A, params["alpha"], params["H"])  # as DendCell takes them

    def step(self, z: Tensor) -> Tensor:
        ramps = torch.relu(z[..., None, :] + self.neg_thresholds).flatten(-2)
        return torch.baddbmm(torch.addcmul(self.h, self.A, z), ramps, self.W_alpha_T)

    def unroll(self, z: Tensor, x: Tensor, forced: Sequence[int], alpha: Tensor) -> Tensor:
        """The observations predicted over ``x.shape[-2]`` steps from ``z``, the observed units
        forced towards ``x[..., t - 1, :]`` after each step ``t`` in ``forced`` (as ``force``
        does; see :class:`chaosbench.training.loop.Rollout`)."""
        m, n = z.shape[-1], self.obs_dim
        targets = F.pad(x[..., [t - 1 for t in forced], :], (0, m - n)) if forced else None
        weight = alpha * (torch.arange(m, device=z.device) < n).to(z.dtype)
        states = unroll_window(self.cell, z, x.shape[-2], forced, targets, weight, self.W_T,
                               self.h, *self.cell_extra)
        return self.observe(states)

    def _slope(self, z: Tensor) -> Tensor:
        return ((z[..., None] > self.H).to(z.dtype) @ self.alpha)[..., 0]


class PLRNN(ObservedFirstUnits):
    """``z' = A z + W relu(z) + h``, ``A`` diagonal, ``W`` off-diagonal (Koppe et al. 2019)."""

    citation = (
        "Koppe, Toutounji, Kirsch, Lis & Durstewitz, Identifying nonlinear dynamical systems via "
        "generative recurrent neural networks with applications to fMRI, PLOS Comput. Biol. 15 (2019)"
    )

    def __init__(self, obs_dim: int, latent_dim: int | None = None) -> None:
        super().__init__(obs_dim, latent_dim, {"obs_dim": obs_dim})
        k = normalized_positive_definite(self.latent_dim)
        self.A = nn.Parameter(torch.diagonal(k).clone())
        self.W = nn.Parameter(_offdiag(k))
        self.h = nn.Parameter(torch.zeros(self.latent_dim))

    def step(self, z: Tensor) -> Tensor:
        return self.A * z + torch.relu(z) @ _offdiag(self.W).T + self.h

    def jacobian(self, z: Tensor) -> Tensor:
        active = (z > 0).to(z.dtype)
        return torch.diag_embed(self.A) + _offdiag(self.W) * active[..., None, :]

    def stacked(self, params: Mapping[str, Tensor]) -> StackedPLRNN:
        return StackedPLRNN(self.obs_dim, params)


class ShPLRNN(ObservedFirstUnits):
    """Shallow PLRNN ``z' = A z + W1 relu(W2 z + h2) + h1`` (Hess et al. 2023).

    ``clip=True`` uses ``relu(W2 z + h2) - relu(W2 z)`` instead, which is bounded, so orbits stay
    bounded whenever ``|A| < 1``. ``observation``: ``"identity"`` or ``"affine"`` (module
    docstring). ``latent_reg`` weighs :meth:`penalty`, which the training loop adds to the loss.
    """

    citation = (
        "Hess, Monfared, Brenner & Durstewitz, Generalized teacher forcing for learning chaotic "
        "dynamics, ICML 2023"
    )

    def __init__(
        self,
        obs_dim: int,
        latent_dim: int | None = None,
        hidden_dim: int = 50,
        clip: bool = False,
        observation: str = "identity",
        latent_reg: float = 0.0,
    ) -> None:
        name = type(self).__name__
        hidden_dim = positive_int(name, "hidden_dim", hidden_dim)
        latent_reg = non_negative(name, "latent_reg", latent_reg)
        config = {"obs_dim": obs_dim, "hidden_dim": hidden_dim, "clip": bool(clip),
                  "observation": observation, "latent_reg": latent_reg}  # fmt: skip
        super().__init__(obs_dim, latent_dim, config, observation)
        m = self.latent_dim
        self.clip = bool(clip)
        self.latent_reg = latent_reg
        self.A = nn.Parameter(torch.diagonal(normalized_positive_definite(m)).clone())
        self.W1 = nn.Parameter(uniform(m, hidden_dim, fan_in=hidden_dim))
        self.W2 = nn.Parameter(uniform(hidden_dim, m, fan_in=m))
        self.h1 = nn.Parameter(torch.zeros(m))
        # The clipped nonlinearity vanishes identically at h2 = 0, so it starts random there.
        h2 = uniform(hidden_dim, fan_in=hidden_dim) if self.clip else torch.zeros(hidden_dim)
        self.h2 = nn.Parameter(h2)

    def step(self, z: Tensor) -> Tensor:
        pre = z @ self.W2.T
        phi = torch.relu(pre + self.h2)
        if self.clip:
            phi = phi - torch.relu(pre)
        return self.A * z + phi @ self.W1.T + self.h1

    def jacobian(self, z: Tensor) -> Tensor:
        pre = z @ self.W2.T
        slope = (pre + self.h2 > 0).to(z.dtype)
        if self.clip:
            slope = slope - (pre > 0).to(z.dtype)
        return torch.diag_embed(self.A) + (self.W1 * slope[..., None, :]) @ self.W2

    def penalty(self) -> Tensor:
        """The latent model's regulariser of the reference code, ``latent_reg (||1 - A||^2 +
        ||W1||^2 + ||W2||^2 + ||h1||^2 + ||h2||^2)``: it pulls the map towards ``z' = z``."""
        terms = (1 - self.A, self.W1, self.W2, self.h1, self.h2)
        return self.latent_reg * sum(t.pow(2).sum() for t in terms)

    def stacked(self, params: Mapping[str, Tensor]) -> StackedShPLRNN:
        return StackedShPLRNN(self.obs_dim, self.clip, params, self.affine, self.latent_reg)


class ClippedShPLRNN(ShPLRNN):
    """The clipped shallow PLRNN ``z' = A z + W1 [relu(W2 z + h2) - relu(W2 z)] + h1``."""

    def __init__(
        self,
        obs_dim: int,
        latent_dim: int | None = None,
        hidden_dim: int = 50,
        observation: str = "identity",
        latent_reg: float = 0.0,
    ) -> None:
        super().__init__(obs_dim, latent_dim, hidden_dim, True, observation, latent_reg)
        del self.config["clip"]


class DendPLRNN(ObservedFirstUnits):
    """Dendritic PLRNN ``z' = A z + W sum_b alpha_b relu(z - H_b) + h`` (Brenner et al. 2022).

    Each unit's nonlinearity is a sum of ``n_bases`` ramps with shared weights ``alpha`` and
    per-unit thresholds ``H`` (``(latent_dim, n_bases)``, standard normal at start, which covers
    z-scored data).
    """

    citation = (
        "Brenner, Hess, Mikhaeil, Bereska, Monfared, Kuo & Durstewitz, Tractable dendritic RNNs "
        "for reconstructing nonlinear dynamical systems, ICML 2022"
    )

    def __init__(self, obs_dim: int, latent_dim: int | None = None, n_bases: int = 20) -> None:
        n_bases = positive_int(type(self).__name__, "n_bases", n_bases)
        super().__init__(obs_dim, latent_dim, {"obs_dim": obs_dim, "n_bases": n_bases})
        m = self.latent_dim
        k = normalized_positive_definite(m)
        self.A = nn.Parameter(torch.diagonal(k).clone())
        self.W = nn.Parameter(_offdiag(k))
        self.h = nn.Parameter(torch.zeros(m))
        self.alpha = nn.Parameter(uniform(n_bases, fan_in=n_bases))
        self.H = nn.Parameter(torch.randn(m, n_bases))

    def step(self, z: Tensor) -> Tensor:
        phi = torch.relu(z[..., None] - self.H) @ self.alpha
        return self.A * z + phi @ _offdiag(self.W).T + self.h

    def jacobian(self, z: Tensor) -> Tensor:
        slope = (z[..., None] > self.H).to(z.dtype) @ self.alpha
        return torch.diag_embed(self.A) + _offdiag(self.W) * slope[..., None, :]

    def stacked(self, params: Mapping[str, Tensor]) -> StackedDendPLRNN:
        return StackedDendPLRNN(self.obs_dim, params)


register("plrnn", PLRNN)
register("shplrnn", ShPLRNN)
register("clipped_shplrnn", ClippedShPLRNN)
register("dendplrnn", DendPLRNN)
