"""Flows of the optional ``dysts`` package as ``dysts:<Name>`` (installed with ``chaosbench[dysts]``)."""

from __future__ import annotations

import numpy as np

from chaosbench.errors import ChaosbenchError
from chaosbench.registry import Registry
from chaosbench.systems._array import Array, is_torch
from chaosbench.systems.base import System


def register_dysts(registry: Registry[type[System]]) -> None:
    """Register every dysts flow that has an analytic Jacobian; a missing dysts is not an error."""
    try:
        import dysts.flows as dflows
        from dysts.base import DynSys
    except Exception:  # dysts absent or broken: the core never needs it
        return
    for attr in dir(dflows):
        cls = getattr(dflows, attr)
        if isinstance(cls, type) and issubclass(cls, DynSys) and cls is not DynSys and "_jac" in cls.__dict__:
            registry.register(f"dysts:{attr}", _adapter(attr, cls), kind="flow", citation="dysts")


def _adapter(attr: str, dysts_cls: type) -> type[System]:
    """A System subclass that calls the dysts flow's equations and Jacobian (numpy only)."""
    model = dysts_cls()
    defaults = {k: float(v) for k, v in model.params.items() if np.isscalar(v)}

    class DystsFlow(System):
        name = f"dysts:{attr}"
        kind = "flow"
        default_params = defaults
        citation = str(getattr(model, "citation", None) or "W. Gilpin, Chaos as an interpretable benchmark for forecasting and data-driven modelling, NeurIPS Datasets and Benchmarks (2021)")
        dt = float(getattr(model, "dt", 0.01))
        substeps = 4

        @property
        def x0(self) -> np.ndarray:
            return np.asarray(model.ic, dtype=float)

        def _numpy(self, x: Array) -> np.ndarray:
            if is_torch(x):
                raise ChaosbenchError(f"system '{self.name}' (dysts) works on numpy arrays only")
            return np.asarray(x, dtype=float)

        def rhs(self, x: Array) -> Array:
            x = self._numpy(x)
            flat = x.reshape(-1, x.shape[-1])
            out = np.stack([np.asarray(model._rhs(*row, 0.0, **self.params)) for row in flat])
            return out.reshape(x.shape)

        def jacobian(self, x: Array) -> Array:
            x = self._numpy(x)
            flat = x.reshape(-1, x.shape[-1])
            out = np.stack([np.asarray(model._jac(*row, 0.0, **self.params), dtype=float) for row in flat])
            return out.reshape(x.shape + (x.shape[-1],))

    DystsFlow.__name__ = f"Dysts{attr}"
    return DystsFlow
