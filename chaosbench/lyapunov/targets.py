"""Adapters that turn a system or a latent model into the ``step(x, q)`` of the QR loop.

- **Flow**: the state and the variational equation ``dQ/dt = J(x) Q`` are one augmented system
  ``y = [x | Q]`` of shape (B, M, 1 + k), advanced by the same classical RK4 step
  (:func:`chaosbench.systems.rk4_step`) that generates the data. For an explicit Runge-Kutta
  method this is exactly the derivative of the discrete RK4 map, so the exponents are those of
  the integrator the datasets use and the sum of the exponents equals the orbit average of
  ``log |det|`` of that map (the divergence of the field, to the integrator's accuracy).
- **Map**: ``x' = step(x)``, ``Q' = J(x) Q`` with the system's analytic Jacobian.
- **Latent model** (a ``torch.nn.Module`` with ``step(z)``, or any object with ``step`` and a
  ``dtype``): its ``tangent(z, q) -> (step(z), J(z) q)`` if it has one (for wide states whose
  Jacobian is cheap to apply but costly to form), else its analytic ``jacobian(z)``, else
  ``torch.func``: forward-mode ``jvp`` vmapped over the k columns of ``Q`` (cost grows with k,
  so the leading exponent alone is cheap), or ``jacrev`` when an operation of the model has no
  forward-mode derivative. An LSTM's state is its flat ``(h, c)`` vector of length
  ``M = 2H``, so it has ``2H`` exponents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from chaosbench import systems
from chaosbench.errors import ChaosbenchError
from chaosbench.lyapunov.qr import Step
from chaosbench.systems import System, rk4_step

JacobianMode = Literal["auto", "analytic", "autograd"]


@dataclass(frozen=True)
class Target:
    """What the QR loop needs to know about the thing whose spectrum is computed."""

    name: str
    candidates: tuple[tuple[str, Step], ...]  # tangent methods in order of preference
    dim: int | None  # None: taken from the initial states
    dtype: torch.dtype
    device: torch.device
    dt: float  # time one step represents
    time_unit: str  # "time" for systems, "step" for models
    renorm_every: int  # default re-orthonormalisation interval
    initial: Callable[[int, int, torch.Generator], torch.Tensor]  # (n, dim, gen) -> (n, dim) on CPU


def resolve(
    target: Any,
    *,
    substeps: int | None = None,
    jacobian: JacobianMode = "auto",
    device: str | torch.device | None = None,
) -> Target:
    """A :class:`Target` for a system name, a :class:`System`, or a latent model."""
    if jacobian not in ("auto", "analytic", "autograd"):
        raise ChaosbenchError(f"jacobian must be 'auto', 'analytic' or 'autograd', got {jacobian!r}")
    if isinstance(target, str):
        target = systems.get(target)
    if isinstance(target, System):
        if jacobian == "autograd":
            raise ChaosbenchError("jacobian='autograd' applies to models; systems use their analytic Jacobian")
        return _system_target(target, substeps, torch.device(device or "cpu"))
    if substeps is not None:
        raise ChaosbenchError("substeps applies to flows only, not to models")
    if not callable(getattr(target, "step", None)):
        raise ChaosbenchError(
            f"cannot compute a Lyapunov spectrum of {type(target).__name__}: expected a system name, "
            "a System, or a latent model with a step(z) method"
        )
    return _model_target(target, jacobian, device)


def _system_target(system: System, substeps: int | None, device: torch.device) -> Target:
    if system.kind == "flow":
        n = system.substeps if substeps is None else substeps
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ChaosbenchError(f"substeps must be a positive integer, got {n!r}")
        step = _flow_step(system, system.dt / n, n)
    else:
        if substeps is not None:
            raise ChaosbenchError(f"substeps applies to flows; '{system.name}' is a map")
        step = _map_step(system)
    x0 = np.asarray(system.x0, dtype=np.float64)
    free = list(range(system.dim) if system.free_components is None else system.free_components)
    scale = 0.01 * float(np.sqrt(np.mean(x0[free] ** 2))) or 0.01

    def initial(n: int, dim: int, gen: torch.Generator) -> torch.Tensor:
        """``x0`` plus noise on the components that are free to vary (not a forcing phase)."""
        x = torch.as_tensor(x0).repeat(n, 1)
        x[:, free] += scale * torch.randn(n, len(free), generator=gen, dtype=torch.float64)
        return x

    return Target(
        name=system.name, candidates=(("analytic", step),), dim=system.dim, dtype=torch.float64,
        device=device, dt=float(system.dt), time_unit="time", renorm_every=10, initial=initial,
    )


def _flow_step(system: System, h: float, substeps: int) -> Step:
    """RK4 on ``y = [x | Q]``: column 0 follows ``rhs``, the others ``J(x) Q`` (one matmul)."""

    def field(y: torch.Tensor) -> torch.Tensor:
        x = y[..., 0]
        out = system.jacobian(x) @ y
        out[..., 0] = system.rhs(x)
        return out

    def step(x: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.cat((x.unsqueeze(-1), q), dim=-1)
        for _ in range(substeps):
            y = rk4_step(field, y, h)
        return y[..., 0], y[..., 1:]

    return step


def _map_step(system: System) -> Step:
    def step(x: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return system.step(x), system.jacobian(x) @ q

    return step


def _model_target(model: Any, jacobian: JacobianMode, device: str | torch.device | None) -> Target:
    params = [p for p in _parameters(model) if p.is_floating_point()]
    dtype = params[0].dtype if params else getattr(model, "dtype", torch.get_default_dtype())
    model_device = params[0].device if params else None
    if device is not None and model_device is not None and torch.device(device) != model_device:
        raise ChaosbenchError(f"the model lives on {model_device}, not on the requested device {device}")
    tangent = getattr(model, "tangent", None)
    has_jacobian = callable(getattr(model, "jacobian", None)) or callable(tangent)
    if jacobian == "analytic" and not has_jacobian:
        raise ChaosbenchError(f"{type(model).__name__} has no jacobian(z) method; use jacobian='auto'")
    candidates: list[tuple[str, Step]] = []
    if callable(tangent) and jacobian != "autograd":  # (z, q) -> (step(z), J(z) q), J never formed
        candidates.append(("analytic", tangent))
    elif has_jacobian and jacobian != "autograd":
        candidates.append(("analytic", _analytic_model_step(model)))
    if jacobian != "analytic":
        candidates += [("jvp", _jvp_model_step(model)), ("jacrev", _jacrev_model_step(model))]
    dim = getattr(model, "latent_dim", None)

    def initial(n: int, dim: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randn(n, dim, generator=gen, dtype=torch.float64)

    return Target(
        name=type(model).__name__, candidates=tuple(candidates), dim=int(dim) if dim is not None else None,
        dtype=dtype, device=model_device or torch.device(device or "cpu"), dt=1.0, time_unit="step",
        renorm_every=1, initial=initial,
    )


def _parameters(model: Any) -> list[torch.Tensor]:
    return list(model.parameters()) if isinstance(model, torch.nn.Module) else []


def _analytic_model_step(model: Any) -> Step:
    def step(z: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return model.step(z), model.jacobian(z).to(q.dtype) @ q

    return step


def _jvp_model_step(model: Any) -> Step:
    """``J q`` column by column in forward mode, vmapped: no (B, M, M) Jacobian is formed."""

    def step(z: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        def push(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.func.jvp(model.step, (z,), (v,))

        z1, q1 = torch.func.vmap(push, in_dims=-1, out_dims=(None, -1))(q.to(z.dtype))
        return z1, q1.to(q.dtype)

    return step


def _jacrev_model_step(model: Any) -> Step:
    """Reverse-mode Jacobian per initial condition (vmapped), for models without forward mode."""
    jac = torch.func.vmap(torch.func.jacrev(model.step))

    def step(z: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return model.step(z), jac(z).to(q.dtype) @ q

    return step
