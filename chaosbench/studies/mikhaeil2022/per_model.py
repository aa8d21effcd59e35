"""Part 1b: the STF interval per model family, the evidence behind tau rule v3.

Part 1 sweeps ``tau`` for the study's model (the shPLRNN) at one learning rate. Tau rule v3
gives each model family its own fraction of ``tau_pred`` (``fraction`` in
``baselines/regimes/stf.yaml``); this part measures it: every listed model on every listed
dataset under STF at a few fractions of ``tau_pred``, each at its regime's default learning
rate, with part 1's windows, seeds and evaluation. A configuration is trained and scored as in
part 1 (:func:`.forcing.train_and_score`) and cached under ``per_model/``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tqdm import tqdm

from chaosbench.harness.suites import WorkUnit
from chaosbench.studies.cache import Entry
from chaosbench.studies.mikhaeil2022 import common, forcing
from chaosbench.studies.mikhaeil2022.settings import StudySettings

PART = "per_model"


def configurations(settings: StudySettings, name: str, model: str) -> list[tuple[str, float, WorkUnit]]:
    """(cache label, fraction of tau_pred, work unit) of ``model`` on dataset ``name``."""
    ds, part, sweep = common.dataset(name), settings.forcing, settings.per_model
    own = dataclasses.replace(settings, model=model, lr=None)  # each regime's default learning rate
    out = []
    for fraction in sweep.fractions:
        tau = max(1, round(fraction * ds.tau_pred_steps))
        label = forcing.run_label("stf", tau)
        win = forcing.window(tau, part.min_seq_len, part.steps_per_update)
        work = common.unit(own, name, {"name": "stf", "tau": tau}, label, settings.seeds, sweep.budget, win,
                           part.evaluation)  # fmt: skip
        out.append((f"{model}-{name}-{label}", fraction, work))
    return out


def run(settings: StudySettings, root: Path, progress: bool) -> list[dict[str, Any]]:
    """Train and score every configuration not cached yet; the results of all, each with its
    model, fraction and the fraction tau rule v3 gives that model."""
    sweep = settings.per_model
    todo = [(m, *item) for name in sweep.datasets for m in sweep.models for item in configurations(settings, name, m)]
    done = []
    for model, label, fraction, work in tqdm(todo, desc="part 1b: tau per model", disable=not progress, unit="config"):
        entry = Entry(root, PART, label, common.cache_config(work, settings))
        result = entry.load()
        if result is None:
            result = entry.save(forcing.train_and_score(entry, work, settings, progress))
        rule = work.config.regime.get("fraction") if work.config is not None else None
        done.append({**result, "model": model, "fraction": fraction, "rule_fraction": rule})
    return done
