"""What the parts share: datasets, one training call, and the resolved training configuration.

:func:`train` is the only place the study trains (tests replace it to prove that a rerun trains
nothing); :func:`training_config` is what a trained configuration's cache key is made of.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from chaosbench import __version__, data
from chaosbench.models import baseline_defaults, build
from chaosbench.training import TAU_RULE_VERSION, Callback, FitResult, cpu_threads, fit, resolve, resolve_device
from chaosbench.studies.mikhaeil2022.settings import StudySettings


@functools.lru_cache(maxsize=8)
def dataset(name: str) -> data.Dataset:
    """The frozen dataset ``name`` (hash-checked once per process)."""
    return data.load(name)


def training_config(
    settings: StudySettings,
    dataset_name: str,
    regime: Mapping[str, Any],
    seeds: Sequence[int],
    budget: int,
    window: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Everything a training run depends on: versions, data hash, model, regime and settings.

    A ``tau = "lyapunov"`` regime also carries the tau rule's version, so a new rule recomputes it.
    """
    ds = dataset(dataset_name)
    given = {**(window or {}), "log_every": max(1, budget // 20)}
    if settings.lr is not None:
        given["lr"] = settings.lr
    resolved = resolve(settings.model, regime, training=given).as_dict()
    regime = resolved["regime"]
    if regime.get("tau") == "lyapunov":
        regime = {**regime, "tau_rule_version": TAU_RULE_VERSION}
    return {
        "chaosbench": __version__,
        "dataset": {"name": ds.name, "sha256": ds.sha256, "version": ds.card.get("version")},
        "model": {"name": settings.model, "params": baseline_defaults(settings.model)},
        "regime": dict(regime),
        "training": resolved["training"],
        "seeds": list(seeds),
        "budget": budget,
        "device": str(resolve_device(settings.device)),
    }


def train(
    config: Mapping[str, Any], callbacks: Sequence[Callback] = (), progress: bool = True
) -> FitResult:
    """Train the ensemble a :func:`training_config` describes (on one CPU thread: faster, see devices)."""
    ds = dataset(config["dataset"]["name"])
    model = config["model"]
    factory = functools.partial(build, model["name"], **model["params"])
    with cpu_threads(1):
        return fit(
            factory, ds.train, ds.dt, config["regime"], seeds=config["seeds"], budget=config["budget"],
            device=config["device"], callbacks=callbacks, progress=progress, lambda_max=ds.lambda_max,
            **config["training"],
        )  # fmt: skip
