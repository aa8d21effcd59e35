"""Ground-truth chaotic systems: ``names()``, ``get(name, **params)``, ``register``.

``get("lorenz63", rho=35)`` returns a fresh system with that parameter overridden. Flows from
the optional ``dysts`` package appear as ``dysts:<Name>`` when it is installed.
"""

from __future__ import annotations

from typing import Any

from chaosbench.registry import Registry
from chaosbench.systems.base import System
from chaosbench.systems.flows import FLOWS
from chaosbench.systems.integrate import advance, rk4_step, trajectory
from chaosbench.systems.maps import MAPS


def _load_optional(reg: Registry[type[System]]) -> None:
    from chaosbench.systems.dysts_adapter import register_dysts

    register_dysts(reg)


registry: Registry[type[System]] = Registry("system", loader=_load_optional)
for _cls in FLOWS + MAPS:
    registry.register(_cls.name, _cls, kind=_cls.kind, citation=_cls.citation)


def register(name: str, cls: type[System], **meta: Any) -> type[System]:
    """Register a new system class under ``name``."""
    return registry.register(name, cls, **meta)


def get(name: str, **params: Any) -> System:
    """A new instance of the system ``name`` with ``params`` overriding its defaults."""
    return registry.get(name)(**params)


def names() -> list[str]:
    return registry.names()


__all__ = ["System", "advance", "get", "names", "register", "registry", "rk4_step", "trajectory"]
