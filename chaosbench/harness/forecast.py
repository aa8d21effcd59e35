"""What a suite will cost for one model, measured before it runs.

On the first unit of the suite (its first dataset, in the suite's real settings) a latent model
trains its ensemble of seeds for a few updates after a one-update warm-up (which absorbs the
first call's set-up), and an evaluable model is fitted once at the suite's budget; one seed is
then scored by the evaluation protocol. The cost is projected over the suite: units x budget (the
top rung of a ladder) x the time of one update (or units x seeds x one fit), plus units x seeds
(x rungs) x one evaluation. Other
datasets differ in dimension and length, so the projection is a guide, not a promise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from chaosbench.errors import ChaosbenchError
from chaosbench.harness.evaluate import evaluate
from chaosbench.harness.runner import RunContext, _load, train_unit
from chaosbench.harness.suites import Suite

PROBE_UPDATES = 10  # timed updates of a latent model, after a one-update warm-up


@dataclass(frozen=True)
class Forecast:
    """Measured costs on ``dataset`` and the suite's shape, in CPU (or device) seconds."""

    suite: str
    dataset: str
    n_units: int
    n_seeds: int
    budget: int
    per_update_s: float | None  # latent: one update of the whole ensemble of seeds
    per_fit_s: float | None  # evaluable: one fit of one seed
    per_eval_s: float
    workers: int = 1
    rungs: int = 1  # evaluations per seed: one per rung of a budget ladder

    @property
    def train_s(self) -> float:
        if self.per_update_s is not None:
            return self.n_units * self.budget * self.per_update_s
        return self.n_units * self.n_seeds * (self.per_fit_s or 0.0)

    @property
    def eval_s(self) -> float:
        return self.n_units * self.n_seeds * self.rungs * self.per_eval_s

    @property
    def total_s(self) -> float:
        return self.train_s + self.eval_s

    def __str__(self) -> str:
        if self.per_update_s is not None:
            train = f"{self.budget} updates x {self.per_update_s:.3g} s per update of the {self.n_seeds}-seed ensemble"
        else:
            train = f"{self.n_seeds} seed(s) x {self.per_fit_s:.3g} s per fit"
        parallel = max(1, min(self.workers, self.n_units))
        return (
            f"cost forecast for suite {self.suite} (timed on {self.dataset}, its first dataset): "
            f"{self.n_units} unit(s), each training {train} and scoring {self.n_seeds} seed(s)"
            f"{f' x {self.rungs} rungs' if self.rungs > 1 else ''} x {self.per_eval_s:.3g} s; about {_duration(self.total_s)} of compute, "
            f"{_duration(self.total_s / parallel)} with {parallel} worker process(es)"
        )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def forecast(suite: Suite, context: RunContext, workers: int = 1) -> Forecast:
    """Time the first unit of ``suite`` (of one model) briefly and project the whole suite.

    Raises a :class:`ChaosbenchError` when the model fails on the real data, before the suite
    spends anything on it.
    """
    from chaosbench import metrics  # noqa: F401  (imported once here, not inside a timing)
    from chaosbench.training import cpu_threads

    units = suite.units()
    if not units:
        raise ChaosbenchError(f"suite {suite.name} has no unit to run")
    unit = units[0]
    per_update = per_fit = None
    with cpu_threads(context.threads):
        dataset, ref = _load(unit.dataset, context.data_dir, context.external_dir)
        if unit.regime is not None:
            n = min(PROBE_UPDATES, unit.budget)
            train_unit(replace(unit, budget=1, rungs=()), dataset, ref, context.device)
            runs = train_unit(replace(unit, budget=n, rungs=()), dataset, ref, context.device)
            per_update = runs[0].train_time * len(unit.seeds) / n  # train_time is per seed
            what = f"{n} updates on {unit.dataset.name}"
        else:
            runs = train_unit(unit.with_seeds(unit.seeds[:1]), dataset, ref, context.device)
            per_fit = runs[0].train_time
            what = f"a fit on {unit.dataset.name}"
        trial = runs[0]
        if trial.model is None:
            raise ChaosbenchError(f"{unit.model.name}: {what} failed before the suite started: {trial.failure}")
        start = time.perf_counter()
        evaluate(trial.model, dataset, unit.evaluation, ref)
        per_eval = time.perf_counter() - start
    rungs = max(1, len(unit.rungs)) if unit.regime is not None else 1  # evaluable: one record per seed
    return Forecast(suite.name, unit.dataset.name, len(units), len(unit.seeds), unit.budget,
                    per_update, per_fit, per_eval, workers, rungs)  # fmt: skip
