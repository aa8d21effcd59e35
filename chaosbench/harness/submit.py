"""Submitting a new model: the ``standard`` protocol for it, records and a model card of record.

A submission ``NAME`` lives in ``leaderboard/results/NAME/``: its run records (the store layout
``<dataset>/NAME/<regime>/seed<k>.json``), ``model_card.yaml`` (what the model is, its
hyperparameters and size, where its code is, how to cite it); ``chaosbench submit`` writes the
tables of its own records beside them.
The model must pass :func:`chaosbench.models.check` before any compute is spent.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from chaosbench import __version__
from chaosbench.errors import ChaosbenchError
from chaosbench.harness import suites
from chaosbench.harness.evaluate import EVAL_PROTOCOL_VERSION
from chaosbench.harness.executors import Executor
from chaosbench.records import atomic_write
from chaosbench.harness.runner import RunContext, RunSummary, run_suite

RECORD_ROOT = Path("leaderboard") / "results"
CARD_FILE = "model_card.yaml"
CHECK_OBS_DIM = 3  # the contract check builds the model for three observed components


def checked_entry(spec: str, name: str, params: dict[str, Any]) -> tuple[suites.ModelEntry, Any]:
    """The suite entry of the submission and an instance built from it, after the contract check."""
    from chaosbench.models import build, check, model_kind, names, resolve

    from chaosbench import data

    suites.check_name("submission", name)
    if name in names() or name in data.names():
        raise ChaosbenchError(f"'{name}' names a registered model or a dataset; choose another --name")
    kind = model_kind(resolve(spec))
    model = build(spec, CHECK_OBS_DIM, **params)
    check(model, CHECK_OBS_DIM).raise_if_failed()
    return suites.ModelEntry(name, spec, dict(params), kind), model


def model_card(
    entry: suites.ModelEntry, model: Any, suite: str, code_url: str | None, citation: str | None
) -> dict[str, Any]:
    """What the leaderboard shows about a submission besides its numbers."""
    from chaosbench.models import baseline_defaults

    n_params = sum(p.numel() for p in model.parameters()) if callable(getattr(model, "parameters", None)) else None
    return {
        "name": entry.name,
        "model": entry.spec,
        "kind": entry.kind,
        "hyperparameters": {**baseline_defaults(entry.spec), **getattr(model, "config", {}), **entry.params},
        f"n_parameters_at_obs_dim_{CHECK_OBS_DIM}": n_params,
        "code": code_url,
        "citation": citation if citation is not None else (getattr(model, "citation", "") or None),
        "suite": suite,
        "eval_protocol": EVAL_PROTOCOL_VERSION,
        "chaosbench": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_card(path: Path, card: dict[str, Any]) -> None:
    """Write the card unless the file already says the same (its ``created`` time aside)."""
    if path.is_file():
        try:
            old = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
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
    root: str | os.PathLike[str] = RECORD_ROOT,
    executor: Executor | None = None,
    device: str = "auto",
    data_dir: str | None = None,
    progress: bool = True,
) -> RunSummary:
    """Run ``suite`` for model ``spec`` under ``name`` into ``root/name``, card first; resumable."""
    entry, model = checked_entry(spec, name, dict(params or {}))
    chosen = suites.load(suite, data_dir).with_models([entry])
    folder = Path(root) / name
    write_card(folder / CARD_FILE, model_card(entry, model, chosen.name, code_url, citation))
    context = RunContext(chosen.name, device=device, data_dir=data_dir)
    return run_suite(chosen, folder, executor=executor, context=context, progress=progress)
