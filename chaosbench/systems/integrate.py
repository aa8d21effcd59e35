"""Fixed-step RK4 integration, batched over any leading axes, for numpy arrays or torch tensors.

A flow is sampled every ``dt`` with ``substeps`` classical RK4 steps in between (each system sets
a default so that ``h = dt / substeps`` resolves its fastest time scale). Fixed steps keep every
sample on the same grid for a whole batch of initial conditions, which is what both dataset
generation and the Lyapunov engine need. Accuracy against scipy's DOP853 (rtol 1e-10) is
measured in ``tests/test_integrate.py`` and documented in ``docs/systems.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from chaosbench.systems._array import Array, is_torch
from chaosbench.systems.base import System


def rk4_step(f: Callable[[Array], Array], x: Array, h: float) -> Array:
    """One classical fourth-order Runge-Kutta step of ``dx/dt = f(x)``."""
    k1 = f(x)
    k2 = f(x + 0.5 * h * k1)
    k3 = f(x + 0.5 * h * k2)
    k4 = f(x + h * k3)
    return x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def advance(system: System, x: Array, dt: float | None = None, substeps: int | None = None) -> Array:
    """The state one sampling step later: ``substeps`` RK4 steps for a flow, one step for a map."""
    if system.kind == "map":
        return system.step(x)
    dt = system.dt if dt is None else dt
    n = system.substeps if substeps is None else substeps
    h = dt / n
    for _ in range(n):
        x = rk4_step(system.rhs, x, h)
    return x


def trajectory(
    system: System,
    x0: Array,
    n_steps: int,
    *,
    dt: float | None = None,
    substeps: int | None = None,
    every: int = 1,
    transient: int = 0,
    keep: Sequence[int] | None = None,
) -> Array:
    """Sample ``n_steps`` states ``(n_steps, ..., dim)`` starting at ``x0`` (which is included).

    ``every`` keeps one state per that many advances (maps sampled more coarsely than they step);
    ``transient`` advances that many samples first and discards them. ``keep`` stores only those
    state components (a delay system's state is its whole history: most of it need not be kept).
    """
    x = x0
    for _ in range(transient * every):
        x = advance(system, x, dt, substeps)
    index = list(keep) if keep is not None else slice(None)
    out = _empty_like(x[..., index], n_steps)
    for i in range(n_steps):
        out[i] = x[..., index]
        for _ in range(every):
            x = advance(system, x, dt, substeps)
    return out


def _empty_like(x: Array, n: int) -> Array:
    if is_torch(x):
        import torch

        return torch.empty((n,) + tuple(x.shape), dtype=x.dtype, device=x.device)
    import numpy as np

    return np.empty((n,) + x.shape, dtype=np.result_type(x.dtype, np.float64))
