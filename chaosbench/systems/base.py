"""The ``System`` contract: ground-truth equations with analytic Jacobians."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from chaosbench.errors import ChaosbenchError
from chaosbench.systems._array import Array, trace


class System:
    """A chaotic system: a flow ``dx/dt = rhs(x)`` or a map ``x' = step(x)``.

    Subclasses declare ``name``, ``kind``, ``default_params``, ``citation``, ``dt`` (default
    sampling step; for maps the time one step represents) and the equations. ``rhs``/``step``
    and ``jacobian`` accept numpy arrays or torch tensors of shape ``(..., dim)``.
    """

    name: ClassVar[str]
    kind: ClassVar[Literal["flow", "map"]]
    default_params: ClassVar[dict[str, float | int]]
    citation: ClassVar[str]
    dt: ClassVar[float]
    substeps: ClassVar[int] = 1  # RK4 steps per ``dt`` for flows (see chaosbench.systems.integrate)
    # State components that may be perturbed to get new initial conditions (None: all of them);
    # excludes components bound by an invariant, such as the forcing phase of a driven oscillator.
    free_components: ClassVar[tuple[int, ...] | None] = None

    def __init__(self, **params: Any) -> None:
        self.params = _validated(self.name, self.default_params, params)

    @property
    def dim(self) -> int:
        return len(self.x0)

    @property
    def x0(self) -> np.ndarray:
        """A point on (or near) the attractor, for the default parameters."""
        raise NotImplementedError

    def rhs(self, x: Array) -> Array:
        raise ChaosbenchError(f"system '{self.name}' is a map: use step(x), not rhs(x)")

    def step(self, x: Array) -> Array:
        raise ChaosbenchError(f"system '{self.name}' is a flow: use rhs(x), not step(x)")

    def jacobian(self, x: Array) -> Array:
        raise NotImplementedError

    def divergence(self, x: Array) -> Array:
        """Trace of the Jacobian: the local volume contraction rate of a flow."""
        return trace(self.jacobian(x))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def _validated(name: str, defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Defaults overridden by ``given``; unknown names and wrong types are one-line errors."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ChaosbenchError(
            f"system '{name}' has no parameter {', '.join(map(repr, unknown))} "
            f"(parameters: {', '.join(defaults)})"
        )
    params = dict(defaults)
    for key, value in given.items():
        want = type(defaults[key])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ChaosbenchError(
                f"system '{name}': parameter '{key}' must be a number, got {type(value).__name__}"
            )
        if want is int and (not float(value).is_integer()):
            raise ChaosbenchError(f"system '{name}': parameter '{key}' must be an integer, got {value}")
        if not np.isfinite(value):
            raise ChaosbenchError(f"system '{name}': parameter '{key}' must be finite, got {value}")
        params[key] = want(value)
    return params
