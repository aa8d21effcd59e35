"""Part 1: reconstruction quality vs the sparse-teacher-forcing interval ``tau``.

Mikhaeil et al. (2022) find the quality of STF-trained reconstructions U-shaped in ``tau`` with
its optimum near the predictability time ``tau_pred = ln 2 / (lambda_max dt)`` steps. Here
``tau`` runs log-spaced from 1 to ``max_tau_factor x tau_pred`` (``tau_pred`` itself included),
plus one BPTT point. So that a long interval really means a long free run, the training window
grows with ``tau`` (:func:`window`: at least two intervals per window) while the batch shrinks,
keeping the number of sequence steps per gradient update the same for every ``tau``.

Each configuration is a work unit trained and scored by the runner, as ``chaosbench run`` trains
and scores a suite's unit (:mod:`.common`): the evaluation protocol of
``chaosbench.harness.evaluate`` with the study's ``forcing.evaluation`` lengths, a free run from
the first test state, transient discarded, D_stsp and D_H against the test series (a non-finite
run scores each metric's documented worst value), and its ``lambda_max``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from chaosbench.harness.runner import score
from chaosbench.harness.suites import WorkUnit
from chaosbench.models import checkpoint
from chaosbench.studies.cache import Entry
from chaosbench.studies.mikhaeil2022 import common
from chaosbench.studies.mikhaeil2022.settings import StudySettings
from chaosbench.training import lyapunov_tau, tau_pred_steps

PART = "forcing"
SCORED = ("d_stsp", "d_h", "lambda_max_gen", "valid_time", "pe20")


def tau_grid(lambda_max: float, dt: float, n: int, max_factor: float) -> list[int]:
    """Distinct integer ``tau`` from 1 to ``ceil(max_factor tau_pred)``, log-spaced, increasing.

    ``tau_pred`` itself (rounded) and the current STF rule's ``tau``
    (:func:`chaosbench.training.lyapunov_tau`) are always included.
    """
    top = math.ceil(max_factor * tau_pred_steps(lambda_max, dt))
    rule = {lyapunov_tau(lambda_max, dt, fraction=1.0), lyapunov_tau(lambda_max, dt)}
    grid = {int(round(t)) for t in np.geomspace(1, top, n)} | {1, top} | rule
    return sorted(grid)


def window(tau: int | None, min_seq_len: int, steps_per_update: int) -> dict[str, int]:
    """``seq_len = max(min_seq_len, 2 tau)`` and ``batch_size = max(1, round(steps / seq_len))``.

    ``tau = None`` (BPTT) takes the shortest window.
    """
    seq_len = max(min_seq_len, 2 * tau) if tau is not None else min_seq_len
    return {"seq_len": seq_len, "batch_size": max(1, round(steps_per_update / seq_len))}


def run_label(regime: str, tau: int | None) -> str:
    """``bptt`` or ``stf-tau<tau>``: how a configuration is named in folders and tables."""
    return "bptt" if regime == "bptt" else f"stf-tau{tau}"


def configurations(settings: StudySettings, name: str) -> list[tuple[str, WorkUnit]]:
    """(cache label, work unit) of every run on dataset ``name``: BPTT, then each ``tau``."""
    ds, part = common.dataset(name), settings.forcing
    taus = [None, *tau_grid(ds.lambda_max, ds.dt, part.n_tau, part.max_tau_factor)]
    out = []
    for tau in taus:
        regime = {"name": "bptt"} if tau is None else {"name": "stf", "tau": tau}
        label = run_label(regime["name"], tau)
        win = window(tau, part.min_seq_len, part.steps_per_update)
        work = common.unit(settings, name, regime, label, settings.seeds, part.budget, win, part.evaluation)
        out.append((f"{name}-{label}", work))
    return out


def run(settings: StudySettings, root: Path, progress: bool) -> list[tuple[Entry, dict[str, Any]]]:
    """Train and score every configuration not cached yet; (entry, result) of all of them."""
    todo = [item for name in settings.forcing.datasets for item in configurations(settings, name)]
    done = []
    for label, work in tqdm(todo, desc="part 1: tau", disable=not progress, unit="config"):
        entry = Entry(root, PART, label, common.cache_config(work, settings))
        result = entry.load()
        if result is None:
            result = entry.save(train_and_score(entry, work, settings, progress))
        done.append((entry, result))
    return done


def train_and_score(entry: Entry, work: WorkUnit, settings: StudySettings, progress: bool) -> dict[str, Any]:
    """Train and score by the runner, as ``chaosbench run`` does; keep each trained member as a
    checkpoint (part 2 measures them)."""
    ds, ref = common.dataset_reference(work.dataset.name)
    trained = common.train(work, settings, progress=progress)
    records = score(work, trained, ds, ref, common.STUDY)
    seeds = []
    for member, record in zip(trained, records, strict=True):
        if member.model is not None:
            checkpoint.save(member.model, entry.dir / f"seed{record.key.seed}")
        scores = {k: record.metrics.get(k) for k in SCORED}
        seeds.append({"seed": record.key.seed, "status": record.status, "reason": record.reason,
                      "train_diverged": member.diverged, "checkpoint": member.model is not None,
                      "config_sha256": record.config["config_sha256"], **scores})  # fmt: skip
    assert work.config is not None  # a latent model (common.unit)
    tau, training = work.config.regime.get("tau"), work.config.training
    wall = sum(member.train_time for member in trained)
    updates = max(member.used for member in trained)
    steps = updates * len(trained) * training.batch_size * training.seq_len
    return {
        "dataset": ds.name,
        "regime": work.config.regime["name"],
        "label": work.regime_label,
        "tau": tau,
        "tau_over_pred": tau / ds.tau_pred_steps if tau is not None else None,
        "seq_len": training.seq_len,
        "batch_size": training.batch_size,
        "seeds": seeds,
        "wall_time": wall,
        "updates": updates,
        "steps_per_second": steps / wall if wall > 0 else None,
    }
