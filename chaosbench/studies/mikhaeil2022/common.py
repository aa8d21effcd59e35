"""What the parts share: datasets, work units, training through the runner, and cache keys.

Each configuration of the study is a :class:`chaosbench.harness.suites.WorkUnit`, built and
resolved by the suite machinery from the entries a one-unit suite would hold (:func:`unit`), and
trained and scored by the runner's :func:`~chaosbench.harness.runner.train_unit` and
:func:`~chaosbench.harness.runner.score`, the functions ``chaosbench run`` uses: a study result
and a leaderboard record of the same dataset, model, regime, seeds, budget and settings hold the
same numbers. :func:`cache_config` is what a configuration's cache key is made of.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from chaosbench import data
from chaosbench.errors import ChaosbenchError
from chaosbench.harness import runner, suites
from chaosbench.harness.evaluate import EvalSettings, Reference, reference
from chaosbench.studies.cache import unit_config
from chaosbench.studies.mikhaeil2022.settings import StudySettings
from chaosbench.training import Callback, cpu_threads, resolve_device

STUDY = "mikhaeil2022"  # the suite name of the study's units and records


@functools.lru_cache(maxsize=8)
def dataset(name: str) -> data.Dataset:
    """The frozen dataset ``name`` (hash-checked once per process)."""
    return data.load(name)


def dataset_reference(name: str) -> tuple[data.Dataset, Reference]:
    """The dataset ``name`` and its Lyapunov reference (what the runner scores against)."""
    ds = dataset(name)
    return ds, reference(ds)


def unit(
    settings: StudySettings,
    dataset_name: str,
    regime: Mapping[str, Any],
    label: str,
    seeds: Sequence[int],
    budget: int,
    training: Mapping[str, Any] | None = None,
    evaluation: EvalSettings | None = None,
) -> suites.WorkUnit:
    """The resolved work unit of one configuration: ``settings.model`` under ``regime`` (recorded
    as ``label``) on ``dataset_name``; ``training`` entries and the study's ``lr`` on top of the
    regime YAML, logging every ``budget / 20`` updates; ``evaluation``: protocol defaults."""
    given = {**(training or {}), "log_every": max(1, budget // 20)}
    if settings.lr is not None:
        given["lr"] = settings.lr
    doc = {
        "name": STUDY, "budget": budget, "seeds": list(seeds), "datasets": [dataset_name],
        "models": [settings.model], "regimes": [{**regime, "label": label}], "training": given,
        "evaluation": asdict(evaluation or EvalSettings()),
    }  # fmt: skip
    (only,) = suites.parse(doc).units()
    if only.config is None:
        raise ChaosbenchError(f"study model '{settings.model}' is not a latent model: the study trains it by regimes")
    return only


def cache_config(work: suites.WorkUnit, settings: StudySettings) -> dict[str, Any]:
    """The cache key material of a configuration (:func:`chaosbench.studies.cache.unit_config`)."""
    return unit_config(work, dataset(work.dataset.name).sha256, str(resolve_device(settings.device)))


def train(
    work: suites.WorkUnit, settings: StudySettings, callbacks: Sequence[Callback] = (), progress: bool = True
) -> list[runner.Trained]:
    """Train ``work`` by :func:`chaosbench.harness.runner.train_unit` on one CPU thread (faster
    for these small models, see :mod:`chaosbench.training.devices`); one member per seed."""
    ds, ref = dataset_reference(work.dataset.name)
    with cpu_threads(1):
        return runner.train_unit(work, ds, ref, settings.device, callbacks=callbacks, progress=progress)
