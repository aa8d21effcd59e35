"""Submitting a new model: check it, forecast the cost, run a suite for it alone, card beside.

A submission ``NAME`` is a folder, by default ``submissions/NAME/``: ``results/`` holds its run
records in the store layout (``<dataset>/NAME/<regime>/seed<k>.json``) and ``model_card.yaml``
beside it says what the model is (its hyperparameters and size, where its code is, how to cite
it). That folder is what a submitter sends; ``chaosbench leaderboard --with FOLDER`` merges it
with the leaderboard of record. A submission never writes into the leaderboard of record
(``leaderboard/results``), whatever its suite. The model must pass
:func:`chaosbench.models.check` before any compute is spent.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from chaosbench import __version__
from chaosbench.errors import ChaosbenchError, first_line
from chaosbench.harness import suites
from chaosbench.harness.evaluate import EVAL_PROTOCOL_VERSION
from chaosbench.harness.executors import Executor
from chaosbench.harness.forecast import forecast
from chaosbench.harness.runner import RunContext, RunSummary, run_suite
from chaosbench.records import atomic_write
from chaosbench.yamlio import read_yaml

SUBMISSIONS = Path("submissions")
RECORD_SUITE = "standard"  # the suite of the leaderboard of record: the one a submission ranks under
LEADERBOARD_RECORDS = Path("leaderboard") / "results"  # the leaderboard of record: never a submission's
RESULTS = "results"
CARD_FILE = "model_card.yaml"
CHECK_OBS_DIM = 3  # the contract check builds the model for three observed components
CONSTRUCTOR = (
    "the constructor takes obs_dim (the number of observed components) as a keyword and, for a "
    "LatentModel, first calls super().__init__(obs_dim, latent_dim, config)"
)


@dataclass(frozen=True)
class Submission:
    """Where a submission's records and card are: ``results`` and ``results/../model_card.yaml``."""

    results: Path

    @property
    def card_path(self) -> Path:
        return self.results.parent / CARD_FILE

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> Submission:
        """The submission in ``path``: a folder with ``results/`` (and its card), or a records folder."""
        path = Path(path)
        inner = path / RESULTS
        return cls(inner if inner.is_dir() or (path / CARD_FILE).is_file() else path)

    def card(self) -> dict[str, Any] | None:
        """The model card, or None when the folder has none."""
        if not self.card_path.is_file():
            return None
        card = read_yaml(self.card_path)
        if not (isinstance(card, dict) and isinstance(card.get("name"), str) and isinstance(card.get("model"), str)):
            raise ChaosbenchError(f"{self.card_path}: a model card needs 'name' and 'model'")
        return card


def default_results(name: str) -> Path:
    """``submissions/NAME/results``."""
    return SUBMISSIONS / name / RESULTS


def refuse_leaderboard_records(results: str | os.PathLike[str]) -> None:
    """A one-line error when ``results`` is (inside) the leaderboard of record."""
    target, record = Path(results).resolve(), LEADERBOARD_RECORDS.resolve()
    if target == record or record in target.parents:
        raise ChaosbenchError(
            f"{results} is the leaderboard of record, which only 'chaosbench run --suite standard --record' "
            f"writes; a submission goes to its own folder (default {default_results('NAME')}) and joins the "
            "tables through 'chaosbench leaderboard --with FOLDER'"
        )


def checked_entry(spec: str, name: str, params: dict[str, Any]) -> tuple[suites.ModelEntry, Any]:
    """The suite entry of the submission and an instance built from it, after the contract check."""
    from chaosbench import data
    from chaosbench.models import build, check, model_kind, names, resolve

    suites.check_name("submission", name)
    if name in names() or name in data.names():
        raise ChaosbenchError(f"'{name}' names a registered model or a dataset; choose another --name")
    kind = model_kind(resolve(spec))
    try:
        model = build(spec, CHECK_OBS_DIM, **params)
    except ChaosbenchError:
        raise
    except Exception as err:  # the submitter's constructor: one line, with the contract
        raise ChaosbenchError(
            f"building {spec}(obs_dim={CHECK_OBS_DIM}) raised {type(err).__name__}: {first_line(err)} "
            f"({CONSTRUCTOR})"
        ) from None
    check(model, CHECK_OBS_DIM).raise_if_failed()
    return suites.ModelEntry(name, spec, dict(params), kind), model


def hyperparameters(entry: suites.ModelEntry, model: Any) -> dict[str, Any]:
    """Every constructor argument the model was built with (its defaults included, ``obs_dim``
    left out: it follows the dataset), then what the model reports in ``config``."""
    from chaosbench.models import baseline_defaults, resolve

    signature = inspect.signature(resolve(entry.spec))
    values = {**baseline_defaults(entry.spec), **entry.params}
    bound = signature.bind_partial(**values)  # the check built the model with these values
    bound.apply_defaults()
    values = {}
    for key, value in bound.arguments.items():
        kind = signature.parameters[key].kind
        if kind == inspect.Parameter.VAR_KEYWORD:
            values.update(value)
        elif kind != inspect.Parameter.VAR_POSITIONAL:
            values[key] = value
    config = getattr(model, "config", None)
    values.update(config if isinstance(config, dict) else {})
    values.pop("obs_dim", None)
    return {key: _plain(value) for key, value in values.items()}


def _plain(value: Any) -> Any:
    """``value`` as YAML-safe data: containers kept, numpy scalars as numbers, others as text."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return repr(value)


def parameter_count(model: Any) -> tuple[int | None, str]:
    """How many numbers the model (fitted by the check) holds, and how that was counted."""
    if callable(getattr(model, "parameters", None)):
        return sum(p.numel() for p in model.parameters()), "torch parameters"
    own = getattr(model, "n_parameters", None)
    if callable(own):
        own = own()
    if isinstance(own, (int, np.integer)) and not isinstance(own, bool):
        return int(own), "the model's own n_parameters"
    count = _array_sizes(model, depth=2, seen=set())
    if count:
        return count, f"floating-point arrays the model holds after the check's fit (obs_dim {CHECK_OBS_DIM})"
    return None, "not a torch module, and it holds no floating-point arrays after a fit: give it n_parameters"


def _array_sizes(obj: Any, depth: int, seen: set[int]) -> int:
    """Sizes of the floating-point numpy arrays in ``obj``'s attributes, ``depth`` objects deep."""
    if id(obj) in seen or not hasattr(obj, "__dict__") or isinstance(obj, type):
        return 0
    seen.add(id(obj))
    total = 0
    for value in vars(obj).values():
        if isinstance(value, np.ndarray):
            total += value.size if value.dtype.kind in "fc" else 0
        elif depth > 1:
            total += _array_sizes(value, depth - 1, seen)
    return total


def model_card(
    entry: suites.ModelEntry, model: Any, suite: suites.Suite, code_url: str | None, citation: str | None,
    device: str = "auto",
) -> dict[str, Any]:
    """What the leaderboard shows about a submission besides its numbers. ``params`` are the
    values given at submission; ``settings`` are the suite's as run (budget or ladder, seeds,
    regimes, training, evaluation) and the device asked for: together they fix the records."""
    n_params, counted = parameter_count(model)
    return {
        "name": entry.name,
        "model": entry.spec,
        "kind": entry.kind,
        "params": dict(entry.params),
        "hyperparameters": hyperparameters(entry, model),
        f"n_parameters_at_obs_dim_{CHECK_OBS_DIM}": n_params,
        "n_parameters_counted": counted,
        "code": code_url,
        "citation": citation if citation is not None else (getattr(model, "citation", "") or None),
        "suite": suite.name,
        "datasets": [d.name for d in suite.datasets],
        "settings": suite_settings(suite, device),
        "eval_protocol": EVAL_PROTOCOL_VERSION,
        "chaosbench": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def suite_settings(suite: suites.Suite, device: str) -> dict[str, Any]:
    """The settings a suite runs its units under, as YAML-safe data for the model card."""
    return {
        "budget": list(suite.rungs) if suite.rungs else suite.budget,
        "seeds": list(suite.seeds),
        "regimes": {regime.label: _plain(regime.config) for regime in suite.regimes},
        "training": _plain(suite.training),
        "evaluation": _plain(dataclasses.asdict(suite.evaluation)),
        "device": device,
    }


def card_entry(card: dict[str, Any]) -> suites.ModelEntry:
    """The suite entry a model card describes (what ``validate --suite`` expects records of)."""
    params = card.get("params") or {}
    if not isinstance(params, dict):
        raise ChaosbenchError(f"model card of {card['name']}: 'params' must be a mapping")
    return suites.ModelEntry(suites.check_name("model", card["name"]), card["model"], dict(params),
                             str(card.get("kind", "latent")))  # fmt: skip


def write_card(path: Path, card: dict[str, Any]) -> None:
    """Write the card unless the file already says the same (its ``created`` time aside)."""
    if path.is_file():
        try:
            old = read_yaml(path)
        except ChaosbenchError:
            old = None
        if isinstance(old, dict) and {**old, "created": None} == {**card, "created": None}:
            return
    atomic_write(path, yaml.safe_dump(card, sort_keys=False).encode())


def submit(
    spec: str,
    name: str,
    *,
    params: dict[str, Any] | None = None,
    code_url: str | None = None,
    citation: str | None = None,
    suite: str = "standard",
    datasets: Sequence[str] | None = None,
    results: str | os.PathLike[str] | None = None,
    executor: Executor | None = None,
    device: str = "auto",
    data_dir: str | None = None,
    progress: bool = True,
    report: Callable[[str], None] = print,
) -> RunSummary:
    """Run ``suite`` (or its ``datasets``) for model ``spec`` under ``name`` into ``results``
    (default ``submissions/NAME/results``), the card beside it; resumable. The model is checked
    first, then the cost forecast is reported (for a suite other than the standard one, the
    standard suite's too: what ranking against the leaderboard of record will cost), then the
    suite runs."""
    results = Path(results) if results is not None else default_results(name)
    refuse_leaderboard_records(results)
    entry, model = checked_entry(spec, name, dict(params or {}))
    chosen = suites.load(suite, data_dir).subset(datasets).with_models([entry])
    context = RunContext(chosen.name, device=device, data_dir=data_dir)
    workers = getattr(executor, "workers", None) or 1
    report(str(forecast(chosen, context, workers=workers)))
    if chosen.name != RECORD_SUITE:
        standard = suites.load(RECORD_SUITE, data_dir).with_models([entry])
        cost = forecast(standard, dataclasses.replace(context, suite=RECORD_SUITE), workers)
        report(f"to rank against the leaderboard of record: {cost}")
    write_card(Submission(results).card_path, model_card(entry, model, chosen, code_url, citation, device))
    return run_suite(chosen, results, executor=executor, context=context, progress=progress)
