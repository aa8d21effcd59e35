"""The model registry: baselines by name, third-party models by entry point or ``module:Class``.

A model *spec* is a registered name (``shplrnn``), a ``module:Class`` import path, or the name of
an entry point in the group ``chaosbench.models`` (registered on first lookup). Each baseline
module registers its classes where they are defined (``register("plrnn", PLRNN)`` at its end);
:mod:`chaosbench.models` imports those modules, so importing it registers every baseline. This
module imports no model module at top level, so the model modules can import it.
:func:`build` instantiates a spec with the default hyperparameters of
``baselines/models/<name>.yaml`` overridden by the caller's.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from chaosbench.errors import ChaosbenchError
from chaosbench.models.contract import LatentModel
from chaosbench.registry import Registry
from chaosbench.yamlio import read_yaml

ENTRY_POINT_GROUP = "chaosbench.models"


def baselines_dir() -> Path:
    """The reference configs: ``baselines/`` of a source checkout, else the copy in the wheel."""
    # this module's own file: ``chaosbench.__file__`` is None when a folder named chaosbench (a
    # clone) in the working directory shadows the package as a namespace package
    package = Path(__file__).resolve().parents[1]
    checkout = package.parent / "baselines"
    return checkout if checkout.is_dir() else package / "_baselines"


def model_kind(cls: Any) -> str:
    """``"latent"`` for latent dynamics models, ``"evaluable"`` for fit/generate models."""
    if isinstance(cls, type) and issubclass(cls, LatentModel):
        return "latent"
    if isinstance(cls, type) and callable(getattr(cls, "fit", None)) and callable(
        getattr(cls, "generate", None)
    ):
        return "evaluable"
    raise ChaosbenchError(
        f"{cls!r} is not a model: it must be a LatentModel subclass or a class with fit and "
        "generate"
    )


def _load_entry_points(reg: Registry[type]) -> None:
    """Register the models that installed packages declare in the ``chaosbench.models`` group."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
            reg.register(ep.name, cls, **_meta(cls, source=ep.value))
        except Exception as err:  # a broken or clashing plugin must not break chaosbench
            warnings.warn(f"model entry point '{ep.name}' ({ep.value}) failed to load: {err}",
                          stacklevel=2)


registry: Registry[type] = Registry("model", loader=_load_entry_points)


def _meta(cls: type, **meta: Any) -> dict[str, Any]:
    """A model's registry metadata: ``kind`` (``"latent"`` or ``"evaluable"``), ``citation`` (the
    class attribute) and ``source`` (``module:Class``; ``chaosbench.*`` for the in-tree
    baselines, each of which has ``baselines/models/<name>.yaml``), then ``meta``."""
    return {"kind": model_kind(cls), "citation": getattr(cls, "citation", ""),
            "source": f"{cls.__module__}:{cls.__qualname__}", **meta}  # fmt: skip


def register(name: str, cls: type, **meta: Any) -> type:
    """Register a model class (a LatentModel subclass or a fit/generate class) under ``name``;
    the baseline modules call it for their classes where they are defined."""
    return registry.register(name, cls, **_meta(cls, **meta))


def get(name: str) -> type:
    """The model class registered as ``name``."""
    return registry.get(name)


def names() -> list[str]:
    return registry.names()


def resolve(spec: str) -> type:
    """The model class a spec names: registered name, entry point, or ``module:Class``."""
    if ":" not in spec:
        return registry.get(spec)
    module_name, _, qualname = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, ValueError) as err:
        raise ChaosbenchError(f"cannot import model '{spec}': {err}") from None
    model_kind(obj)
    return obj


def baseline_defaults(name: str) -> dict[str, Any]:
    """Default hyperparameters of ``baselines/models/<name>.yaml`` (empty if there is none)."""
    path = baselines_dir() / "models" / f"{name}.yaml"
    if ":" in name or not path.is_file():
        return {}
    doc = read_yaml(path)
    if not (isinstance(doc, dict) and doc.get("model") == name and isinstance(doc.get("params"), dict)):
        raise ChaosbenchError(f"{path}: expected 'model: {name}' and a 'params' mapping")
    return dict(doc["params"])


def build(spec: str, obs_dim: int, **overrides: Any) -> Any:
    """A new model ``spec`` for ``obs_dim`` observed components, baseline defaults + ``overrides``.

    A default ``latent_dim`` below ``obs_dim`` is raised to ``obs_dim`` for models whose first
    latent units are the observation (PLRNN family); explicit overrides are used as given.
    """
    from chaosbench.models.plrnn import ObservedFirstUnits  # a model module imports this one

    cls = resolve(spec)
    params = baseline_defaults(spec)
    if (
        isinstance(cls, type)
        and issubclass(cls, ObservedFirstUnits)
        and "latent_dim" not in overrides
        and isinstance(params.get("latent_dim"), int)
    ):
        params["latent_dim"] = max(params["latent_dim"], obs_dim)
    params.update(overrides)
    try:
        inspect.signature(cls).bind(obs_dim=obs_dim, **params)
    except TypeError as err:
        accepted = ", ".join(p for p in inspect.signature(cls).parameters if p != "obs_dim")
        raise ChaosbenchError(f"model '{spec}': {err} (parameters: {accepted})") from None
    return cls(obs_dim=obs_dim, **params)
