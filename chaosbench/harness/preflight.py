"""Checks of a whole suite before its first unit trains.

A mistake in a suite or on the command line (a results path that is a file, a model parameter
its constructor rejects, a window longer than the data, a transient longer than the test series)
fails in seconds with one line, not after the units before it have run for hours.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from chaosbench.errors import ChaosbenchError, first_line
from chaosbench.harness.suites import Suite, WorkUnit
from chaosbench.records import RecordKey, RecordStore

MAX_GENERATED_FACTOR = 10  # n_gen may exceed transient + n_test by at most this factor of n_test


def check_results_folder(path: str | os.PathLike[str], keys: Iterable[RecordKey] = ()) -> Path:
    """``path`` as a folder records can be written to (created if missing), with the place of
    each of ``keys`` inside it (no symbolic link out)."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ChaosbenchError(f"results path {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ChaosbenchError(f"cannot create the results folder {folder} ({err.strerror or err})") from None
    if not os.access(folder, os.W_OK):
        raise ChaosbenchError(f"the results folder {folder} is not writable")
    store = RecordStore(folder)
    for key in keys:
        store.writable_path(key)
    return folder


def check_sizes(unit: WorkUnit, n_train: int, n_test: int) -> None:
    """The unit's window, test length, transient and generated length fit the dataset."""
    where = f"{unit}:"
    evaluation = unit.evaluation
    if unit.config is not None and unit.config.training.seq_len + 1 > n_train:
        raise ChaosbenchError(
            f"{where} seq_len {unit.config.training.seq_len} needs at least {unit.config.training.seq_len + 1} "
            f"training steps, the dataset has {n_train}"
        )
    if evaluation.n_test is not None and evaluation.n_test > n_test:
        raise ChaosbenchError(f"{where} n_test {evaluation.n_test} exceeds the test split's {n_test} steps")
    scored = evaluation.n_test if evaluation.n_test is not None else n_test
    if evaluation.transient > scored:
        raise ChaosbenchError(
            f"{where} transient {evaluation.transient} is longer than the scored test series ({scored} steps)"
        )
    limit = evaluation.transient + MAX_GENERATED_FACTOR * scored
    if evaluation.generated_length(scored) > limit:
        raise ChaosbenchError(f"{where} n_gen {evaluation.n_gen} exceeds transient + {MAX_GENERATED_FACTOR} x n_test = {limit}")


def check_model(name: str, spec: str, params: dict[str, Any], dataset: str, obs_dim: int) -> None:
    """The model can be constructed for ``obs_dim`` components with the suite's parameters."""
    from chaosbench.models.registry import build

    try:
        with torch.random.fork_rng(devices=[]):
            build(spec, obs_dim, **params)
    except Exception as err:  # any constructor error is the suite's mistake, said in one line
        raise ChaosbenchError(
            f"model '{name}' cannot be built for dataset '{dataset}' ({obs_dim} components): {first_line(err)}"
        ) from None


def preflight(suite: Suite, results_dir: str | os.PathLike[str], data_dir: str | None,
              external_dir: str | None) -> None:  # fmt: skip
    """Resolve and check every unit of ``suite`` against its data before anything trains."""
    check_results_folder(results_dir, suite.record_keys())
    shapes = {}
    for entry in suite.datasets:
        dataset = entry.load(data_dir, external_dir)
        shapes[entry.name] = (len(dataset.train), len(dataset.test), dataset.obs_dim)
    for unit in suite.units():
        n_train, n_test, _ = shapes[unit.dataset.name]
        check_sizes(unit, n_train, n_test)
    by_dim = {obs_dim: name for name, (_, _, obs_dim) in sorted(shapes.items())}
    for model in suite.models:
        for obs_dim, dataset_name in sorted(by_dim.items()):
            check_model(model.name, model.spec, model.params, dataset_name, obs_dim)
