"""Resumable per-configuration results of a study, keyed by the configuration's resolved settings.

An entry lives in ``<root>/<part>/<label>-<key>/`` where ``key`` is a short sha256 of the
canonical JSON of its configuration; ``result.json`` holds the configuration and the result and
is written last and atomically (temp file + rename), so a folder without it is unfinished and is
recomputed. Changing any setting changes the key: stale results are never reused.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chaosbench import __version__
from chaosbench.records import atomic_write, canonical_json

RESULT_FILE = "result.json"
KEY_CHARS = 12


def config_key(config: Mapping[str, Any]) -> str:
    """The short hash naming a configuration (its canonical JSON, sorted keys)."""
    return hashlib.sha256(canonical_json(config).encode("ascii")).hexdigest()[:KEY_CHARS]


def finite_or_none(value: Any) -> Any:
    """``value`` with non-finite floats as ``None`` (strict JSON), containers converted too."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def unit_config(work: Any, dataset_sha256: str, device: str) -> dict[str, Any]:
    """What a trained-and-scored work unit's result depends on: its resolved settings (those a
    run record of it is pinned to, versions included), its seeds, the dataset's hash, the device
    and the chaosbench version. Any change of a YAML setting that reaches the unit changes it."""
    return {
        "chaosbench": __version__,
        "dataset_sha256": dataset_sha256,
        "settings": work.settings(),
        "seeds": list(work.seeds),
        "device": device,
    }


class Entry:
    """One cached configuration: its folder, and its result once finished."""

    def __init__(self, root: Path, part: str, label: str, config: Mapping[str, Any]) -> None:
        self.config = json.loads(canonical_json(config))
        self.key = config_key(self.config)
        self.dir = Path(root) / part / f"{label}-{self.key}"
        self.path = self.dir / RESULT_FILE

    def load(self) -> dict[str, Any] | None:
        """The stored result, or ``None`` when missing, unreadable or for another configuration."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("config") != self.config:
            return None
        return doc.get("result")

    def save(self, result: Mapping[str, Any]) -> dict[str, Any]:
        """Store ``result`` atomically and return it as read back (non-finite floats as ``None``)."""
        doc = {"config": self.config, "result": finite_or_none(dict(result))}
        text = json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n"
        atomic_write(self.path, text.encode("utf-8"))
        return doc["result"]
