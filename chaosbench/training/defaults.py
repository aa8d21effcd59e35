"""Default regime parameters and training settings: ``baselines/regimes/<regime>.yaml``.

Each file holds ``regime`` (its name), ``params`` (the regime's parameters), ``training``
(keyword arguments of :func:`chaosbench.training.fit`: optimiser, learning rate and its decay,
clipping, batch and window size) and ``models``, per-model overrides of ``params`` and
``training`` keyed by model name.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import yaml

from chaosbench.errors import ChaosbenchError
from chaosbench.models.registry import baselines_dir
from chaosbench.training.loop import TrainSettings
from chaosbench.training.regimes import make, regimes

_TRAINING_KEYS = {f.name for f in fields(TrainSettings)}


def regime_defaults(regime: str, model: str | None = None) -> dict[str, Any]:
    """``{"regime": {"name": regime, **params}, "training": {...}}`` for ``model`` (if given).

    Both parts are validated: ``regime`` builds with :func:`chaosbench.training.make` and every
    ``training`` key is a setting of :class:`chaosbench.training.TrainSettings`.
    """
    regimes.get(regime)
    path = baselines_dir() / "regimes" / f"{regime}.yaml"
    if not path.is_file():
        raise ChaosbenchError(f"no training defaults for regime '{regime}' ({path} is missing)")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ChaosbenchError(f"{path}: not valid YAML ({err})") from None
    if not (isinstance(doc, dict) and doc.get("regime") == regime):
        raise ChaosbenchError(f"{path}: expected 'regime: {regime}'")
    override = (doc.get("models") or {}).get(model, {}) if model else {}
    params = {**(doc.get("params") or {}), **(override.get("params") or {})}
    training = {**(doc.get("training") or {}), **(override.get("training") or {})}
    unknown = sorted(set(training) - _TRAINING_KEYS)
    if unknown:
        raise ChaosbenchError(f"{path}: unknown training setting(s) {', '.join(unknown)}")
    make(regime, **params)
    TrainSettings(**training)
    return {"regime": {"name": regime, **params}, "training": training}
