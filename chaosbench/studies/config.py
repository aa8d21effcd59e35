"""Study settings: ``baselines/studies/<name>.yaml``, a named preset merged over them, overrides.

The file holds ``study`` (its name), ``settings`` and ``presets`` (name -> partial settings,
merged key by key into ``settings``). The command-line overrides are generic: ``budget`` replaces
every ``budget`` key anywhere in the settings, ``seeds`` (a count ``n`` means ``0..n-1``) and
``device`` replace the top-level keys, and ``data_dir_external`` the top-level key of a study
that reads recordings (one that has the key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from chaosbench.errors import ChaosbenchError
from chaosbench.models.registry import baselines_dir
from chaosbench.registry import Registry
from chaosbench.yamlio import read_yaml


def studies_dir() -> Path:
    """``baselines/studies`` of the checkout chaosbench runs from (or the copy in the wheel)."""
    return baselines_dir() / "studies"


def read(name: str) -> dict[str, Any]:
    """The parsed YAML document of study ``name``."""
    path = studies_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ChaosbenchError(f"no settings for study '{name}' ({path} is missing)")
    doc = read_yaml(path)
    if not (isinstance(doc, dict) and doc.get("study") == name and isinstance(doc.get("settings"), dict)):
        raise ChaosbenchError(f"{path}: expected 'study: {name}' and a 'settings' mapping")
    return doc


def load(
    name: str,
    preset: str | None = None,
    *,
    budget: int | None = None,
    seeds: int | Sequence[int] | None = None,
    device: str | None = None,
    data_dir_external: str | None = None,
) -> dict[str, Any]:
    """The settings of study ``name`` with ``preset`` merged in and the overrides applied."""
    doc = read(name)
    settings = doc["settings"]
    if preset is not None:
        presets: Registry[Any] = Registry(f"{name} preset")
        for key, value in (doc.get("presets") or {}).items():
            presets.register(key, value)
        settings = merge(settings, presets.get(preset))
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ChaosbenchError(f"budget must be a positive number of gradient updates, got {budget!r}")
        settings = _replace_key(settings, "budget", budget)
    if seeds is not None:
        settings = {**settings, "seeds": list(range(seeds)) if isinstance(seeds, int) else list(seeds)}
    if device is not None:
        settings = {**settings, "device": device}
    if data_dir_external is not None:
        if "data_dir_external" not in settings:
            raise ChaosbenchError(f"study '{name}' reads no recordings: --data-dir-external does not apply")
        settings = {**settings, "data_dir_external": str(data_dir_external)}
    return settings


def merge(base: Mapping[str, Any], update: Any) -> dict[str, Any]:
    """``base`` with ``update`` merged in: mappings key by key, anything else replaced."""
    if not isinstance(update, Mapping):
        raise ChaosbenchError(f"a preset must be a mapping of settings, got {update!r}")
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _replace_key(doc: Any, key: str, value: Any) -> Any:
    if isinstance(doc, Mapping):
        return {k: value if k == key else _replace_key(v, key, value) for k, v in doc.items()}
    return doc
