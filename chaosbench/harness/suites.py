"""Benchmark suites: which datasets x models x regimes x seeds run, with which budget.

A suite is a YAML file (``baselines/suites/<name>.yaml``)::

    name: smoke
    description: one line
    budget: 100                 # gradient updates per run, the same on every machine,
                                # or a ladder [1000, 4000, 16000]: one run to the top rung, scored at each
    seeds: [0, 1]               # or a count: 2 means [0, 1]
    datasets: [lorenz63]        # frozen names, or {name, file, test_file, dt, lambda_max}
    models: [shplrnn, {name: esn, params: {n_units: 200}}]  # or {name, model: "pkg.mod:Class"}
    regimes: [bptt, {name: stf, tau: lyapunov}]             # optional label: to tell variants apart
    training: {batch_size: 16, seq_len: 200, lr: 0.001}     # chaosbench.training.fit settings
    evaluation: {n_gen: 20000, transient: 1000}             # chaosbench.harness.evaluate.EvalSettings
    unit_timeout: 3600          # optional: seconds a work unit may run (0: no limit; default below)

A model entry may also pin a *named configuration*: ``datasets`` (the suite's datasets it runs
on; default all), ``regimes`` (its own regime entries, in place of the suite's) and
``training`` (its settings on top of the suite's), e.g. a published setting for one recording::

    {name: shplrnn_gtf_ecg, model: clipped_shplrnn, params: {hidden_dim: 250}, datasets: [ecg],
     regimes: [{name: gtf, alpha: 0.3}], training: {lr: 1.0e-3, grad_clip: null}}

Evaluable models (fit/generate, e.g. ESN) are not trained by a regime: they run once per dataset
and seed, under the regime label ``none``. A *work unit* is one (dataset, model, regime) with
the seeds still to run; the runner trains those seeds as one batched ensemble. A unit that runs
longer than its limit is stopped and its seeds recorded as failed; without ``unit_timeout`` the
limit is :func:`default_unit_timeout` of the budget (the top rung of a ladder) and the unit's
number of seeds.

A budget ladder (``budget`` given as a list of increasing update counts) trains each unit once,
to the top rung, and scores the members as they were at every rung: one record per seed and
rung, its key carrying the rung's budget. The learning-rate schedule runs over the top rung, so
a lower rung is a snapshot of the long run, not a short run of its own; the rung's budget and
the top rung are both part of its settings (``budget`` and ``top_rung``). Evaluable models
ignore the budget: they keep one record per dataset and seed, with the settings of a suite whose
budget is the top rung. A single integer keeps the single-budget layout and settings.

Every unit's configuration is resolved when the suite is loaded, by
:func:`chaosbench.training.resolve` (model YAML, then regime YAML with its per-model override,
then the suite's entries), so a bad setting fails before anything trains. A unit's
:meth:`WorkUnit.settings` (resolved configuration, budget, evaluation and the versions of the
protocol, metric spec, dataset and tau rule) is hashed into each record's ``config_sha256``: a
record counts for a suite only when that hash matches.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from chaosbench.errors import ChaosbenchError, UnknownNameError
from chaosbench.harness.evaluate import EVAL_PROTOCOL_VERSION, EvalSettings
from chaosbench.records import RecordKey, config_sha256
from chaosbench.records.validate import Expected
from chaosbench.registry import Registry
from chaosbench.training.config import TRAINING_KEYS, RunConfig
from chaosbench.yamlio import read_yaml

NO_REGIME = "none"  # regime label of evaluable models, which train without a regime
TOP_KEYS = (
    "name",
    "description",
    "budget",
    "seeds",
    "datasets",
    "models",
    "regimes",
    "training",
    "evaluation",
    "unit_timeout",
)
EMPIRICAL_KEYS = ("name", "file", "test_file", "dt", "lambda_max", "test_fraction")
MODEL_KEYS = ("name", "model", "params", "datasets", "regimes", "training")
# Default limit of a unit: far above what the committed suites' units take (docs/protocol.md).
TIMEOUT_BASE_S = 600.0
TIMEOUT_PER_UPDATE_S = 0.5  # per gradient update of the budget and seed of the unit


def suites_dir() -> Path:
    """``baselines/suites`` of the checkout chaosbench runs from."""
    from chaosbench.models.registry import baselines_dir

    return baselines_dir() / "suites"


@dataclass(frozen=True)
class DatasetEntry:
    """A frozen dataset by name, or an empirical recording (``file`` set) loaded by ``load_file``."""

    name: str
    file: str | None = None
    test_file: str | None = None
    dt: float | None = None
    lambda_max: float | None = None
    test_fraction: float = 0.2

    @property
    def empirical(self) -> bool:
        return self.file is not None

    def paths(self, external_dir: str | os.PathLike[str] | None) -> tuple[Path, Path | None]:
        """The recording files: absolute as given, else relative to ``external_dir``."""

        def resolve(name: str) -> Path:
            path = Path(name).expanduser()
            if not path.is_absolute():
                if external_dir is None:
                    raise ChaosbenchError(
                        f"dataset '{self.name}': relative file {name!r} needs --data-dir-external"
                    )
                path = Path(external_dir).expanduser() / path
            if not path.is_file():
                raise ChaosbenchError(f"dataset '{self.name}': recording {path} does not exist")
            return path

        assert self.file is not None
        return resolve(self.file), (resolve(self.test_file) if self.test_file else None)

    def load(self, data_dir: str | os.PathLike[str] | None = None,
             external_dir: str | os.PathLike[str] | None = None) -> Any:  # fmt: skip
        """The :class:`chaosbench.data.Dataset` this entry names."""
        from chaosbench import data

        if not self.empirical:
            return data.load(self.name, data_dir)
        train, test = self.paths(external_dir)
        return data.load_file(train, dt=self.dt, test_path=test, test_fraction=self.test_fraction,
                              name=self.name, lambda_max=self.lambda_max)  # fmt: skip


@dataclass(frozen=True)
class ModelEntry:
    """A model under its record name: ``spec`` is a registered name or ``module:Class``."""

    name: str
    spec: str
    params: dict[str, Any] = field(default_factory=dict)
    kind: str = "latent"  # or "evaluable"
    datasets: tuple[str, ...] | None = None  # None: every dataset of the suite
    regimes: tuple[RegimeEntry, ...] | None = None  # None: the suite's regimes
    training: dict[str, Any] = field(default_factory=dict)  # on top of the suite's training


@dataclass(frozen=True)
class RegimeEntry:
    """A training regime under its record label, with the parameters given to ``training.fit``."""

    label: str
    config: dict[str, Any]


@dataclass(frozen=True)
class WorkUnit:
    """One (dataset, model, regime) and the seeds of it still to run, trained as one ensemble.

    ``config`` is the unit's resolved training configuration (``None`` for an evaluable model,
    which has no regime); ``model_params`` are the model's resolved parameters either way.
    """

    dataset: DatasetEntry
    model: ModelEntry
    regime: RegimeEntry | None  # None for evaluable models
    seeds: tuple[int, ...]
    budget: int  # the updates trained: the top rung of a ladder
    config: RunConfig | None
    evaluation: EvalSettings
    rungs: tuple[int, ...] = ()  # a ladder's budgets, ascending, ending at ``budget``; () for one budget

    @property
    def regime_label(self) -> str:
        return self.regime.label if self.regime is not None else NO_REGIME

    def record_keys(self) -> list[RecordKey]:
        """One key per seed, and per rung for a ladder (seed-major, rungs ascending)."""
        rungs: tuple[int | None, ...] = self.rungs or (None,)
        return [
            RecordKey(self.dataset.name, self.model.name, self.regime_label, s, budget=b)
            for s in self.seeds
            for b in rungs
        ]

    def with_seeds(self, seeds: Iterable[int]) -> WorkUnit:
        return replace(self, seeds=tuple(seeds))

    def settings(self, rung: int | None = None) -> dict[str, Any]:
        """Everything a record of this unit depends on besides its seed (hashed into the record);
        ``rung``: the budget of a ladder's record (required for a ladder, else ``None``)."""
        from chaosbench.data import DATASET_VERSION
        from chaosbench.metrics import METRIC_SPEC_VERSION
        from chaosbench.models.registry import baseline_defaults
        from chaosbench.training import TAU_RULE_VERSION

        if self.config is not None:
            trained = self.config.as_dict()
        else:
            params = {**baseline_defaults(self.model.spec), **self.model.params}
            trained = {"model": {"spec": self.model.spec, "params": params}, "regime": None, "training": None}
        trained["model"]["kind"] = self.model.kind
        lyapunov_tau = trained["regime"] is not None and trained["regime"].get("tau") == "lyapunov"
        if (rung is None) != (not self.rungs) or (rung is not None and rung not in self.rungs):
            raise ChaosbenchError(f"{self}: no rung {rung!r} (rungs: {list(self.rungs) or 'none'})")
        budget = {"budget": self.budget} if rung is None else {"budget": rung, "top_rung": self.budget}
        return {
            "dataset": asdict(self.dataset),
            **trained,
            **budget,
            "evaluation": asdict(self.evaluation),
            "versions": {
                "eval_protocol": EVAL_PROTOCOL_VERSION,
                "metric_spec": METRIC_SPEC_VERSION,
                "dataset": "empirical" if self.dataset.empirical else DATASET_VERSION,
                "tau_rule": TAU_RULE_VERSION if lyapunov_tau else None,
            },
        }

    def settings_sha256(self, rung: int | None = None) -> str:
        return config_sha256(self.settings(rung))

    def expected(self, key: RecordKey) -> Expected:
        """The settings (and hash) the record of ``key``, one of :meth:`record_keys`, must carry."""
        settings = self.settings(key.budget)
        return Expected(settings, config_sha256(settings))

    def __str__(self) -> str:
        return f"{self.dataset.name}/{self.model.name}/{self.regime_label}"


@dataclass(frozen=True)
class Suite:
    """A validated suite (see the module docstring for the file format)."""

    name: str
    description: str
    budget: int  # the top rung of a ladder
    seeds: tuple[int, ...]
    datasets: tuple[DatasetEntry, ...]
    models: tuple[ModelEntry, ...]
    regimes: tuple[RegimeEntry, ...]
    training: dict[str, Any]
    evaluation: EvalSettings
    rungs: tuple[int, ...] = ()  # the budget ladder, ascending; () for a single budget
    unit_timeout: float | None = None  # seconds; None: default_unit_timeout; 0: no limit

    def timeout(self, unit: WorkUnit) -> float | None:
        """Seconds ``unit`` may run before it is stopped and recorded as failed (None: no limit)."""
        if self.unit_timeout is None:
            return default_unit_timeout(unit.budget, len(unit.seeds))
        return self.unit_timeout or None

    def units(self) -> list[WorkUnit]:
        """Every work unit with all of the suite's seeds, dataset-major, each resolved."""
        from chaosbench.training import resolve

        configs: dict[tuple[str, str], RunConfig | None] = {}
        for model in self.models:
            for regime in self.regimes_of(model):
                label = regime.label if regime is not None else NO_REGIME
                configs[model.name, label] = None if regime is None else _resolved(
                    f"model '{model.name}' under regime '{label}'",
                    lambda: resolve(model.spec, regime.config, model_params=model.params,
                                    training={**self.training, **model.training}),
                )
        return [
            WorkUnit(dataset, model, regime, self.seeds, self.budget,
                     configs[model.name, regime.label if regime is not None else NO_REGIME], self.evaluation,
                     self.rungs if regime is not None else ())
            for dataset in self.datasets
            for model in self.models
            if model.datasets is None or dataset.name in model.datasets
            for regime in self.regimes_of(model)
        ]  # fmt: skip

    def regimes_of(self, model: ModelEntry) -> tuple[RegimeEntry | None, ...]:
        """The regimes ``model`` trains under: its own, else the suite's (``None``: evaluable)."""
        if model.kind != "latent":
            return (None,)
        return model.regimes if model.regimes is not None else self.regimes

    def record_keys(self) -> list[RecordKey]:
        return [key for unit in self.units() for key in unit.record_keys()]

    def expectations(self) -> dict[RecordKey, Expected]:
        """Every record key of the suite with the settings (and hash) its record must carry."""
        return {key: unit.expected(key) for unit in self.units() for key in unit.record_keys()}

    def subset(
        self,
        datasets: Sequence[str] | None = None,
        models: Sequence[str] | None = None,
        regimes: Sequence[str] | None = None,
    ) -> Suite:
        """The suite restricted to the named entries; a name not in the suite is an error."""
        labels = [r.label for r in self.regimes] + [
            r.label if r is not None else NO_REGIME for m in self.models for r in self.regimes_of(m)
        ]
        _check_names("dataset", datasets, [d.name for d in self.datasets], self.name)
        _check_names("model", models, [m.name for m in self.models], self.name)
        _check_names("regime", regimes, labels, self.name)
        keep_models = tuple(
            _with_regimes(m, regimes) for m in self.models
            if (models is None or m.name in models)
            and (regimes is None or m.kind == "latent" or NO_REGIME in regimes)
        )  # fmt: skip
        return replace(
            self,
            datasets=tuple(d for d in self.datasets if datasets is None or d.name in datasets),
            models=keep_models,
            regimes=tuple(r for r in self.regimes if regimes is None or r.label in regimes),
        )

    def with_models(self, models: Sequence[ModelEntry]) -> Suite:
        return replace(self, models=tuple(models))


def default_unit_timeout(budget: int, n_seeds: int) -> float:
    """``600 s + 0.5 s x budget x seeds``: generous, so that only a hung or runaway unit reaches it."""
    return TIMEOUT_BASE_S + TIMEOUT_PER_UPDATE_S * budget * n_seeds


def check_timeout(value: Any) -> float:
    """``value`` as a unit time limit in seconds (0: no limit); anything else is a one-line error."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and value >= 0
    if not ok:
        raise ChaosbenchError(f"'unit_timeout' must be a number of seconds >= 0 (0: no limit), got {value!r}")
    return float(value)


def _resolved(what: str, resolve: Any) -> Any:
    try:
        return resolve()
    except ChaosbenchError as err:
        raise ChaosbenchError(f"{what}: {err}") from None


def _with_regimes(model: ModelEntry, labels: Sequence[str] | None) -> ModelEntry:
    """``model`` with its own regimes restricted to ``labels`` (``None``: all)."""
    if labels is None or model.regimes is None:
        return model
    return replace(model, regimes=tuple(r for r in model.regimes if r.label in labels))


def _check_names(kind: str, wanted: Sequence[str] | None, known: Sequence[str], suite: str) -> None:
    for name in wanted or ():
        if name not in known:
            raise unknown(kind, name, known, f"suite '{suite}': ")


def unknown(kind: str, name: str, known: Iterable[str], prefix: str = "") -> UnknownNameError:
    """The error for a name not among ``known``, listing the closest ones."""
    reg: Registry[str] = Registry(kind)
    for k in known:
        reg.register(k, k)
    return UnknownNameError(prefix + reg.unknown_message(name))


def available() -> list[str]:
    """Names of the suites shipped in ``baselines/suites``."""
    return sorted(p.stem for p in suites_dir().glob("*.yaml"))


def load(name_or_path: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None) -> Suite:
    """A suite by name (``baselines/suites/<name>.yaml``) or from a YAML file path.

    Dataset names are checked against ``data_dir`` (default: the shipped datasets).
    """
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith((".yaml", ".yml")) or os.sep in text or path.is_file()):
        if text not in available():
            raise unknown("suite", text, available())
        path = suites_dir() / f"{text}.yaml"
    if not path.is_file():
        raise ChaosbenchError(f"suite file {path} does not exist")
    doc = read_yaml(path)
    try:
        return parse(doc, default_name=path.stem, data_dir=data_dir)
    except ChaosbenchError as err:
        raise ChaosbenchError(f"{path}: {err}") from None


def parse(doc: Any, default_name: str = "suite", data_dir: str | os.PathLike[str] | None = None) -> Suite:
    """Validate a suite document (already parsed YAML); every problem is a one-line error."""
    if not isinstance(doc, dict):
        raise ChaosbenchError(f"a suite must be a mapping with keys {', '.join(TOP_KEYS)}")
    _unknown_keys("suite", doc, TOP_KEYS)
    for key in ("budget", "seeds", "datasets", "models", "regimes"):
        if key not in doc:
            raise ChaosbenchError(f"suite needs '{key}'")
    rungs = ladder(doc["budget"])
    datasets = _unique("dataset", [_dataset(d, data_dir) for d in _list("datasets", doc["datasets"])], "name")
    suite = Suite(
        name=check_name("suite", doc.get("name", default_name)),
        description=str(doc.get("description", "")),
        budget=rungs[-1] if rungs else _positive_int("budget", doc["budget"]),
        rungs=rungs,
        seeds=_seeds(doc["seeds"]),
        datasets=datasets,
        models=_unique("model", [_model(m, [d.name for d in datasets]) for m in _list("models", doc["models"])], "name"),
        regimes=_unique("regime", [_regime(r) for r in _list("regimes", doc["regimes"])], "label"),
        training=_training(doc.get("training") or {}),
        evaluation=_evaluation(doc.get("evaluation") or {}),
        unit_timeout=None if doc.get("unit_timeout") is None else check_timeout(doc["unit_timeout"]),
    )
    suite.units()  # resolves every unit's settings: a bad one fails here, in one line
    return suite


def _unknown_keys(owner: str, doc: Mapping[str, Any], known: Sequence[str]) -> None:
    for key in doc:
        if key not in known:
            raise unknown("key", str(key), known, f"{owner}: ")


def _list(key: str, value: Any) -> list[Any]:
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ChaosbenchError(f"'{key}' must be a non-empty list, got {value!r}")
    return value


def _unique(kind: str, entries: list[Any], attr: str) -> tuple[Any, ...]:
    seen: set[str] = set()
    for entry in entries:
        name = getattr(entry, attr)
        if name in seen:
            raise ChaosbenchError(f"{kind} '{name}' appears twice (give variants a distinct label)")
        seen.add(name)
    return tuple(entries)


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ChaosbenchError(f"'{key}' must be a positive integer, got {value!r}")
    return value


def ladder(value: Any) -> tuple[int, ...]:
    """The rungs of a ``budget`` list (strictly increasing positive integers); () for an integer."""
    if not isinstance(value, list):
        return ()
    rungs = tuple(_positive_int("budget", v) for v in value)
    if not rungs or any(a >= b for a, b in zip(rungs, rungs[1:])):
        raise ChaosbenchError(f"a budget ladder must be a non-empty list of increasing update counts, got {value}")
    return rungs


def _seeds(value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return tuple(range(_positive_int("seeds", value)))
    ok = (
        isinstance(value, list)
        and value
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)
    )
    if not ok:
        raise ChaosbenchError(f"'seeds' must be a count or a list of integers >= 0, got {value!r}")
    if len(set(value)) != len(value):
        raise ChaosbenchError(f"'seeds' must be distinct, got {value!r}")
    return tuple(value)


def check_name(kind: str, value: Any) -> str:
    """``value`` if it is a valid record name (it becomes a path component of the records)."""
    try:
        RecordKey(value, value, value, 0)
    except ChaosbenchError:
        raise ChaosbenchError(
            f"invalid {kind} name {value!r}: use letters, digits and _ . + = : - (not first), "
            "at most 128 characters"
        ) from None
    return value


def _dataset(entry: Any, data_dir: str | os.PathLike[str] | None) -> DatasetEntry:
    from chaosbench import data

    if isinstance(entry, str):
        known = data.names(data_dir)
        if entry not in known:
            raise unknown("dataset", entry, known)
        return DatasetEntry(entry)
    if not isinstance(entry, dict) or "name" not in entry or "file" not in entry:
        raise ChaosbenchError(f"a dataset is a name or a mapping with name, file and dt, got {entry!r}")
    _unknown_keys(f"dataset '{entry['name']}'", entry, EMPIRICAL_KEYS)
    dt = entry.get("dt")
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not (math.isfinite(dt) and dt > 0):
        raise ChaosbenchError(f"dataset '{entry['name']}': dt must be a positive number, got {dt!r}")
    lam = entry.get("lambda_max")
    if lam is not None and (isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam > 0):
        raise ChaosbenchError(f"dataset '{entry['name']}': lambda_max must be a positive number, got {lam!r}")
    for key in ("file", "test_file"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise ChaosbenchError(f"dataset '{entry['name']}': {key} must be a path, got {entry[key]!r}")
    return DatasetEntry(
        name=check_name("dataset", entry["name"]), file=entry["file"], test_file=entry.get("test_file"),
        dt=float(dt), lambda_max=None if lam is None else float(lam),
        test_fraction=float(entry.get("test_fraction", 0.2)),
    )  # fmt: skip


def _model(entry: Any, datasets: Sequence[str]) -> ModelEntry:
    from chaosbench.models.registry import model_kind, resolve

    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or "name" not in entry:
        raise ChaosbenchError(f"a model is a name or a mapping with name (model, params), got {entry!r}")
    _unknown_keys(f"model '{entry['name']}'", entry, MODEL_KEYS)
    name = check_name("model", entry["name"])
    spec = entry.get("model", name)
    params = entry.get("params") or {}
    if not isinstance(spec, str) or not isinstance(params, dict):
        raise ChaosbenchError(f"model '{name}': model must be a name or module:Class, params a mapping")
    kind = model_kind(resolve(spec))
    only = entry.get("datasets")
    if only is not None:
        only = _list(f"model '{name}': datasets", only)
        for dataset in only:
            if dataset not in datasets:
                raise unknown("dataset", dataset, datasets, f"model '{name}': ")
    regimes = entry.get("regimes")
    if regimes is not None:
        if kind != "latent":
            raise ChaosbenchError(f"model '{name}': an evaluable model trains without a regime")
        regimes = _unique("regime", [_regime(r) for r in _list(f"model '{name}': regimes", regimes)], "label")
    return ModelEntry(name, spec, dict(params), kind, None if only is None else tuple(only), regimes,
                      _training(entry.get("training") or {}))  # fmt: skip


def _regime(entry: Any) -> RegimeEntry:
    from chaosbench.training import from_config

    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or "name" not in entry:
        raise ChaosbenchError(f"a regime is a name or a mapping with name and parameters, got {entry!r}")
    config = {k: v for k, v in entry.items() if k != "label"}
    from_config(config)  # unknown name or parameter -> one-line error
    label = check_name("regime", entry.get("label", entry["name"]))
    if label == NO_REGIME:
        raise ChaosbenchError(f"regime label '{NO_REGIME}' is reserved for models trained without a regime")
    return RegimeEntry(label, config)


def _training(doc: Any) -> dict[str, Any]:
    """The suite's training entries; their values are checked when the units are resolved."""
    if not isinstance(doc, dict):
        raise ChaosbenchError(f"'training' must be a mapping, got {doc!r}")
    _unknown_keys("training", doc, TRAINING_KEYS)
    return dict(doc)


def _evaluation(doc: Any) -> EvalSettings:
    if not isinstance(doc, dict):
        raise ChaosbenchError(f"'evaluation' must be a mapping, got {doc!r}")
    _unknown_keys("evaluation", doc, [f.name for f in fields(EvalSettings)])
    return EvalSettings(**doc)
