"""The model contract: what any submission provides, and what a latent dynamics model adds.

Two levels:

- An *evaluable* model (:class:`EvaluableModel`) fits on a training series and then generates
  freely from an initial observation. Every submission must be one.
- A *latent dynamics model* (:class:`LatentModel`) is a ``torch.nn.Module`` whose state is a
  flat vector ``z`` of ``latent_dim`` units: ``step`` advances it one sampling step, ``observe``
  reads the observation out of it, ``encode`` infers it from an observation (initial conditions
  and forcing). It becomes evaluable through the training regimes and gets the Lyapunov spectrum
  from its Jacobians (analytic ``jacobian`` when given, else ``torch.func`` autograd).

All latent methods act on the last axis and accept any leading batch axes, including none. They
must be pure functions of their inputs and parameters (no in-place writes to inputs, no
data-dependent Python branching, no ``.item()``), so that the training loop can run a whole
ensemble of seeds through ``torch.func.vmap`` over stacked parameters (see :func:`call`).

Optionally, a latent model evaluates such an ensemble natively, without ``vmap`` (whose dispatch
overhead dominates on the small tensors of these models): ``stacked(params)`` takes its
parameters and buffers stacked on a leading member axis ``E`` (``params[name]``: ``(E, ...)``, as
``torch.func.stack_module_state`` gives) and returns an object of the :class:`StackedLatent`
protocol, whose methods take and return tensors with one member and one batch axis ``(E, B,
...)``. The training loop then uses it for every ensemble size, a single seed included.
:func:`supports_stacked` only trusts a ``stacked`` defined at or below every latent method it
mirrors, so a subclass that changes ``step`` (say) without its own ``stacked`` falls back to
``vmap``; ``chaosbench.models.check`` compares the view with each member's own methods.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn

from chaosbench.errors import ChaosbenchError


@runtime_checkable
class EvaluableModel(Protocol):
    """What any submission must provide.

    ``fit`` trains on ``train`` (``(T, N)`` array sampled every ``dt``) within ``budget`` (the
    suite's budget, in gradient updates for gradient-trained models; each model documents what it
    does with it) and must be deterministic given ``seed``; its return value is ignored.
    ``generate(x0, n_steps)`` runs freely from the observation ``x0`` (``(N,)`` or a batch
    ``(B, N)``) and returns ``n_steps`` observations ``(n_steps, N)`` (or ``(n_steps, B, N)``) as a
    numpy array or torch tensor; row 0 is the model's reading of ``x0`` itself, row ``t`` lies
    ``t`` sampling steps later, as in a dataset's series.

    Optionally, ``tangent_map()`` returns the fitted model as a map with a Jacobian
    (:class:`TangentMap`); the harness then takes its Lyapunov exponents from that Jacobian
    instead of estimating them from generated series.
    """

    def fit(self, train: np.ndarray, dt: float, budget: int | None, seed: int) -> Any: ...

    def generate(self, x0: Any, n_steps: int) -> Any: ...


class TangentMap(Protocol):
    """An evaluable model's sampling step as a map of a state ``z`` (``latent_dim`` units).

    Tensors have a batch axis and the map's ``dtype`` (on the CPU): ``encode`` takes
    observations ``(B, N)`` to the state ``generate`` starts from, ``step`` is the map that
    ``generate`` iterates, and ``tangent(z, q)`` returns ``(step(z), J(z) q)`` for tangent bases
    ``q`` ``(B, M, k)``, without forming ``J``. ``chaosbench.lyapunov.spectrum`` accepts it.
    """

    latent_dim: int
    dtype: torch.dtype

    def encode(self, x: Tensor) -> Tensor: ...

    def step(self, z: Tensor) -> Tensor: ...

    def tangent(self, z: Tensor, q: Tensor) -> tuple[Tensor, Tensor]: ...


class LatentModel(nn.Module):
    """Base class of latent dynamics models (see the module docstring for the contract).

    Subclasses call ``super().__init__(obs_dim, latent_dim, config)`` where ``config`` holds their
    constructor arguments (JSON-serialisable: checkpoints rebuild the model as ``cls(**config)``;
    ``obs_dim`` is added), then define ``step``, ``observe``, ``encode`` and, when cheap, an
    analytic ``jacobian`` (``d step / d z``, ``(..., M) -> (..., M, M)``). ``force`` has a default
    that subclasses may refine; ``generate`` is the free run used for evaluation.
    """

    jacobian: ClassVar[Callable[..., Tensor] | None] = None
    citation: ClassVar[str] = ""

    def __init__(self, obs_dim: int, latent_dim: int, config: Mapping[str, Any]) -> None:
        super().__init__()
        name = type(self).__name__
        obs_dim = positive_int(name, "obs_dim", obs_dim)
        latent_dim = positive_int(name, "latent_dim", latent_dim)
        config = {**config, "obs_dim": obs_dim}
        try:
            json.dumps(config)
        except (TypeError, ValueError) as err:
            raise ChaosbenchError(f"{name}: config must be JSON-serialisable ({err})") from None
        self.obs_dim = obs_dim
        self.latent_dim = latent_dim
        self.config = config

    def step(self, z: Tensor) -> Tensor:
        """The latent state one sampling step later: ``(..., M) -> (..., M)``."""
        raise NotImplementedError

    def observe(self, z: Tensor) -> Tensor:
        """The observation the state predicts: ``(..., M) -> (..., N)``."""
        raise NotImplementedError

    def encode(self, x: Tensor) -> Tensor:
        """A latent state consistent with the observation: ``(..., N) -> (..., M)``."""
        raise NotImplementedError

    def force(self, z: Tensor, x: Tensor, alpha: float | Tensor = 1.0) -> Tensor:
        """The state after (generalised) teacher forcing with observation ``x``.

        ``alpha = 1`` replaces the state by the one inferred from ``x`` (sparse teacher forcing),
        ``0 < alpha < 1`` mixes them (generalised teacher forcing); ``alpha`` may be a tensor
        broadcasting against ``(..., 1)``.
        """
        return (1 - alpha) * z + alpha * self.encode(x)

    def forward(self, *args: Any, method: str = "step", **kwargs: Any) -> Tensor:
        """``step`` by default; ``method=`` names any other method, for :func:`call`."""
        return getattr(self, method)(*args, **kwargs)

    @torch.no_grad()
    def generate(self, x0: Any, n_steps: int) -> Tensor:
        """Free run from ``x0`` (``(N,)`` or ``(B, N)``): ``(n_steps, [B,] N)`` observations.

        Row 0 is ``observe(encode(x0))``; row ``t`` is ``t`` steps of ``step`` later.
        """
        ref = next(self.parameters())
        x0 = torch.as_tensor(x0, dtype=ref.dtype, device=ref.device)
        check_start(tuple(x0.shape), self.obs_dim, n_steps, f"{type(self).__name__}.generate")
        z = self.encode(x0)
        out = x0.new_empty((n_steps, *x0.shape))
        for t in range(n_steps):
            out[t] = self.observe(z)
            z = self.step(z)
        return out


def positive_int(owner: str, key: str, value: Any) -> int:
    """``value`` if it is a positive integer, else a one-line error naming ``owner`` and ``key``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ChaosbenchError(f"{owner}: {key} must be a positive integer, got {value!r}")
    return int(value)


def non_negative(owner: str, key: str, value: Any) -> float:
    """``value`` as a float if it is a finite number >= 0, else a one-line error."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not (
        np.isfinite(value) and value >= 0
    ):
        raise ChaosbenchError(f"{owner}: {key} must be a non-negative number, got {value!r}")
    return float(value)


def as_series(train: Any, obs_dim: int, owner: str) -> np.ndarray:
    """``train`` as a finite float64 ``(T, obs_dim)`` array, else a one-line error."""
    x = np.asarray(train, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != obs_dim:
        raise ChaosbenchError(f"{owner}: train must have shape (T, {obs_dim}), got {x.shape}")
    if not np.isfinite(x).all():
        raise ChaosbenchError(f"{owner}: train contains NaN or infinite values")
    return x


def check_start(shape: tuple[int, ...], obs_dim: int, n_steps: Any, owner: str) -> None:
    """A one-line error unless ``shape`` is ``(N,)`` or ``(B, N)`` and ``n_steps`` positive."""
    positive_int(owner, "n_steps", n_steps)
    if len(shape) not in (1, 2) or shape[-1] != obs_dim:
        raise ChaosbenchError(
            f"{owner}: x0 must have shape ({obs_dim},) or (B, {obs_dim}), got {shape}"
        )


def as_start(x0: Any, obs_dim: int, n_steps: Any, owner: str) -> np.ndarray:
    """``x0`` as a float64 ``(N,)`` or ``(B, N)`` array, after checking it and ``n_steps``."""
    x = np.asarray(x0, dtype=np.float64)
    check_start(x.shape, obs_dim, n_steps, owner)
    return x


class StackedLatent(Protocol):
    """``E`` latent models evaluated together: every tensor leads with the member axis ``E``.

    States are ``(E, B, M)``, observations ``(E, B, N)``, Jacobians ``(E, B, M, M)``; ``alpha``
    broadcasts against ``(E, B, 1)``. Member ``i`` of each output equals the model with the
    parameters ``params[name][i]`` applied to member ``i`` of the inputs.
    """

    def step(self, z: Tensor) -> Tensor: ...

    def observe(self, z: Tensor) -> Tensor: ...

    def encode(self, x: Tensor) -> Tensor: ...

    def force(self, z: Tensor, x: Tensor, alpha: float | Tensor = 1.0) -> Tensor: ...

    def jacobian(self, z: Tensor) -> Tensor: ...


STACKED_METHODS = ("step", "observe", "encode", "force", "jacobian")


def supports_stacked(model: nn.Module) -> bool:
    """Whether ``model.stacked`` exists and no latent method is overridden below its definition."""
    mro = type(model).__mro__
    owner = next((c for c in mro if "stacked" in vars(c)), None)
    if owner is None or not callable(vars(owner)["stacked"]):
        return False
    return all(
        issubclass(owner, next(c for c in mro if name in vars(c)))
        for name in STACKED_METHODS
        if any(name in vars(c) for c in mro)
    )


def has_analytic_jacobian(model: nn.Module) -> bool:
    """Whether ``model`` provides ``jacobian(z)`` itself (else autograd supplies it)."""
    return callable(getattr(model, "jacobian", None))


def autograd_jacobian(model: nn.Module, z: Tensor) -> Tensor:
    """``d step / d z`` by ``torch.func.jacrev``: ``(..., M) -> (..., M, M)``."""
    flat = z.reshape(-1, z.shape[-1])
    jac = torch.func.vmap(torch.func.jacrev(model.step))(flat)
    return jac.reshape(*z.shape, z.shape[-1])


def call(
    model: nn.Module,
    params: Mapping[str, Tensor],
    method: str,
    *args: Any,
    **kwargs: Any,
) -> Tensor:
    """``model.<method>(*args, **kwargs)`` computed with ``params`` in place of its own tensors.

    ``params`` maps names as in ``model.named_parameters()`` (and buffers) to tensors; under
    ``torch.func.vmap`` over parameters stacked by ``torch.func.stack_module_state`` this runs a
    whole ensemble of models at once.
    """
    return torch.func.functional_call(model, dict(params), args, {**kwargs, "method": method})
