"""The one place where a training configuration is resolved.

A run's settings come from three layers, merged in this order (later layers win, mappings key
by key):

1. the model's YAML, ``baselines/models/<model>.yaml`` (``params``: constructor arguments);
2. the regime's YAML, ``baselines/regimes/<regime>.yaml``: ``params`` (the regime's
   parameters), ``training`` (optimiser, learning rate and its decay, clipping, batch and window
   size, logging interval) and ``models.<model>``, per-model overrides of ``params`` and
   ``training``;
3. the caller's entries: a suite's model ``params``, regime parameters and ``training`` block,
   or the keyword arguments of :func:`chaosbench.training.fit`.

The regime YAML is complete: every regime parameter and every :class:`TrainSettings` field has
its value there, and no other module carries a default training value (the regime classes and
:class:`TrainSettings` have no field defaults). :func:`resolve` returns a :class:`RunConfig`,
which is what the harness trains with and what a run record stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from chaosbench.errors import ChaosbenchError
from chaosbench.models.registry import baseline_defaults, baselines_dir
from chaosbench.training.loop import TrainSettings
from chaosbench.training.regimes import Regime, regimes
from chaosbench.yamlio import read_yaml

TRAINING_KEYS = tuple(f.name for f in fields(TrainSettings))
_REGIME_FILE_KEYS = ("regime", "params", "training", "models")
_OVERRIDE_KEYS = ("params", "training")


def _mapping(owner: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ChaosbenchError(f"{owner} must be a mapping, got {value!r}")
    return dict(value)


def _known_keys(owner: str, doc: Mapping[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(str(k) for k in doc if k not in known)
    if unknown:
        raise ChaosbenchError(f"{owner}: unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")


def regime_file(name: str) -> dict[str, Any]:
    """The checked document of ``baselines/regimes/<name>.yaml``."""
    regimes.get(name)
    path = baselines_dir() / "regimes" / f"{name}.yaml"
    if not path.is_file():
        raise ChaosbenchError(f"no settings for regime '{name}' ({path} is missing)")
    doc = read_yaml(path)
    if not (isinstance(doc, dict) and doc.get("regime") == name):
        raise ChaosbenchError(f"{path}: expected 'regime: {name}'")
    _known_keys(str(path), doc, _REGIME_FILE_KEYS)
    for model, override in _mapping(f"{path}: models", doc.get("models")).items():
        _known_keys(f"{path}: models.{model}", _mapping(f"{path}: models.{model}", override), _OVERRIDE_KEYS)
    return doc


def regime_layer(name: str, model: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Layer 2 for ``model``: the regime YAML's ``params`` and ``training`` with its override."""
    doc = regime_file(name)
    override = _mapping("override", (doc.get("models") or {}).get(model)) if model else {}
    params = {**_mapping("params", doc.get("params")), **_mapping("params", override.get("params"))}
    training = {**_mapping("training", doc.get("training")), **_mapping("training", override.get("training"))}
    return params, training


def make(name: str, **params: Any) -> Regime:
    """The regime ``name``: its YAML parameters, then ``params`` (e.g. ``make("stf", tau=10)``)."""
    defaults, _ = regime_layer(name)
    return build_regime(name, {**defaults, **params})


def build_regime(name: str, params: Mapping[str, Any]) -> Regime:
    """The regime ``name`` from a complete parameter set; unknown or missing ones are errors."""
    cls = regimes.get(name)
    known = [f.name for f in fields(cls) if f.init]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ChaosbenchError(
            f"regime '{name}' has no parameter {', '.join(map(repr, unknown))} "
            f"(parameters: {', '.join(known) or 'none'})"
        )
    required = [f.name for f in fields(cls) if f.init and f.default is MISSING]
    missing = [key for key in required if key not in params]
    if missing:
        raise ChaosbenchError(f"regime '{name}' needs {', '.join(missing)} (set it in its YAML or the suite)")
    return cls(**params)


def from_config(config: Mapping[str, Any] | str | Regime) -> Regime:
    """A regime from its name, a mapping ``{"name": ..., **params}`` (YAML fills the rest), or a
    regime (returned as it is)."""
    if isinstance(config, Regime):
        return config
    name, params = split_regime(config)
    return make(name, **params)


def split_regime(config: Mapping[str, Any] | str) -> tuple[str, dict[str, Any]]:
    """``(name, params)`` of a regime given by name or as ``{"name": ..., **params}``."""
    if isinstance(config, str):
        return config, {}
    if not isinstance(config, Mapping) or "name" not in config:
        raise ChaosbenchError(f"a regime config needs a 'name', got {config!r}")
    return str(config["name"]), {k: v for k, v in config.items() if k != "name"}


def training_settings(values: Mapping[str, Any], owner: str = "training") -> TrainSettings:
    """:class:`TrainSettings` from a complete mapping; unknown or missing keys are errors."""
    _known_keys(owner, values, TRAINING_KEYS)
    missing = [k for k in TRAINING_KEYS if k not in values]
    if missing:
        raise ChaosbenchError(f"{owner}: missing setting(s) {', '.join(missing)}")
    return TrainSettings(**values)


@dataclass(frozen=True)
class RunConfig:
    """A resolved configuration: the model, its parameters, the regime and the training settings.

    ``model_params`` are the model YAML's parameters with the caller's on top (what
    :func:`chaosbench.models.build` constructs with, before it fits ``latent_dim`` to the data);
    ``regime`` is ``{"name": ..., **params}`` with every parameter of the regime.
    """

    model: str | None
    model_params: dict[str, Any]
    regime: dict[str, Any]
    training: TrainSettings
    overrides: dict[str, Any] = field(default_factory=dict)  # the caller's model params alone

    def regime_object(self) -> Regime:
        name, params = split_regime(self.regime)
        return build_regime(name, params)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for records and cache keys. ``lr_decay_updates`` is left out when it
        is ``None`` (decay over the budget), so that records made before the setting existed,
        all of them with that schedule, keep their identity."""
        training = {f.name: getattr(self.training, f.name) for f in fields(TrainSettings)}
        if training["lr_decay_updates"] is None:
            del training["lr_decay_updates"]
        return {"model": {"spec": self.model, "params": dict(self.model_params)},
                "regime": dict(self.regime), "training": training}  # fmt: skip


def resolve(
    model: str | None,
    regime: Mapping[str, Any] | str | Regime,
    *,
    model_params: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Merge model YAML, regime YAML (with its ``models.<model>`` override) and the caller's
    entries, in that order; check the result. ``model`` is a spec (``None``: a bare factory, no
    model YAML or per-model override applies); ``regime`` is a name, a mapping or a regime
    object (whose parameters are taken as given)."""
    if isinstance(regime, Regime):
        name, given = regime.name, {k: v for k, v in regime.as_dict().items() if k != "name"}
    else:
        name, given = split_regime(regime)
    params, train = regime_layer(name, model)
    overrides = _mapping("model params", model_params)
    resolved_params = {**(baseline_defaults(model) if model else {}), **overrides}
    regime_params = {**params, **given}
    settings = training_settings({**train, **_mapping("training", training)})
    build_regime(name, regime_params)  # validate
    return RunConfig(model, resolved_params, {"name": name, **regime_params}, settings, overrides)
