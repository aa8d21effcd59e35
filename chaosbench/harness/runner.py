"""Running a suite: find the records still missing, run their work units, write their records.

Resumption comes from the record store: a key with an intact record is skipped; a missing,
corrupt or edited one is (re)computed, and a corrupt file is reported before it is replaced.
Each unit's records are written (atomically) the moment the unit finishes, so a run killed at
any point keeps every finished unit and the next run continues from there.

Per work unit (one dataset, model and regime with its missing seeds), :func:`train_unit` trains
the seeds of a latent model as one batched ensemble by ``chaosbench.training.fit`` (an evaluable
model is fitted seed by seed), then :func:`score` scores each seed by the evaluation protocol and
builds its record. These two functions are the one train-and-score path: the reproduction
studies call them too. A record's ``wall_time_s`` is the unit's training time divided by its
number of seeds plus that seed's own evaluation time.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from chaosbench.errors import ChaosbenchError
from chaosbench.harness.evaluate import (
    EVAL_PROTOCOL_VERSION, EvalSettings, Outcome, Reference, evaluate, one_line, reference, reference_artifacts,
)
from chaosbench.harness.executors import Executor, LocalExecutor
from chaosbench.harness.preflight import preflight
from chaosbench.records import Problem, RecordKey, RecordStore, RunRecord, config_sha256, read_record
from chaosbench.harness.suites import DatasetEntry, Suite, WorkUnit
from chaosbench.records.validate import Expected, mismatch

if TYPE_CHECKING:
    from chaosbench.training import Callback


@dataclass(frozen=True)
class RunContext:
    """What a worker needs besides the unit: where data lives and which device to train on."""

    suite: str
    device: str = "auto"
    data_dir: str | None = None
    external_dir: str | None = None
    threads: int = 1  # torch CPU threads per unit: the models are small, more threads only contend


@dataclass
class RunSummary:
    """What a run did: records computed and skipped, files recomputed, statuses (and the table
    files, which the command line writes after the run)."""

    results_dir: Path
    computed: int = 0
    skipped: int = 0
    recomputed: list[Path] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    tables: dict[str, Path] = field(default_factory=dict)
    wall_time_s: float = 0.0


def default_results_dir(suite: str) -> Path:
    """``runs/<suite>/results``; the tables go to ``runs/<suite>/``."""
    return Path("runs") / suite / "results"


def plan(suite: Suite, store: RecordStore) -> tuple[list[WorkUnit], int, list[Problem]]:
    """The units with their seeds to (re)run, the number of current records, and the bad files.

    A seed is rerun when its record is missing, bad, or made with other settings than the
    suite's unit (:func:`chaosbench.records.validate.mismatch`: another protocol, metric spec,
    budget or any resolved setting; it is then one of the problems, and gets overwritten).
    Records of extra seeds of the suite's units are reported and left as they are.
    """
    found: dict[RecordKey, RunRecord] = {}
    problems: list[Problem] = []
    if store.root.is_dir():
        scan = store.scan()
        found = {record.key: record for record in scan.records.values()}
        problems = scan.problems
    units, skipped = [], 0
    for unit in suite.units():
        expected = Expected(unit.settings(), unit.settings_sha256())
        todo = []
        for key in unit.record_keys():
            record = found.get(key)
            reason = None if record is None else mismatch(record, expected)
            if reason is not None:
                problems.append(Problem(store.path_for(key), f"other settings: {reason}"))
            if record is None or reason is not None:
                todo.append(key.seed)
        skipped += len(unit.seeds) - len(todo)
        if todo:
            units.append(unit.with_seeds(todo))
    groups = {(u.dataset.name, u.model.name, u.regime_label) for u in suite.units()}
    problems += [
        Problem(store.path_for(key), f"seed {key.seed} is not one of the suite's seeds (an extra record)")
        for key in sorted(found)
        if (key.dataset, key.model, key.regime) in groups and key.seed not in suite.seeds
    ]
    return units, skipped, problems


def run_suite(
    suite: Suite,
    results_dir: str | os.PathLike[str],
    *,
    executor: Executor | None = None,
    context: RunContext | None = None,
    progress: bool = True,
    report: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> RunSummary:
    """Run every missing record of ``suite`` into ``results_dir`` (tables are the caller's: the
    harness never imports the leaderboard)."""
    start = time.perf_counter()
    executor = executor or LocalExecutor()
    context = context or RunContext(suite.name)
    preflight(suite, results_dir, context.data_dir, context.external_dir)  # mistakes fail before any compute
    store = RecordStore(results_dir)
    summary = RunSummary(store.root)
    units, summary.skipped, problems = plan(suite, store)
    expected = {store.path_for(key).resolve() for key in suite.record_keys()}
    for problem in problems:
        action = "recomputing it" if problem.path.resolve() in expected else "left as is"
        report(f"bad record {problem} ({action})")
        if problem.path.resolve() in expected:
            summary.recomputed.append(problem.path)

    bar = tqdm(total=len(units), disable=not progress, unit="unit", file=sys.stderr, desc=suite.name,
               dynamic_ncols=True)  # fmt: skip
    try:
        for unit, texts in executor.map(execute_unit, units, context):
            for text in texts:
                record = RunRecord.from_json(text)
                store.write(record)
                summary.computed += 1
                summary.statuses[record.status] += 1
                if record.status != "ok":
                    bar.write(f"{record.key}: {record.status} ({record.reason})", file=sys.stderr)
            bar.set_postfix_str(str(unit), refresh=False)
            bar.update(1)
    finally:
        bar.close()

    summary.wall_time_s = time.perf_counter() - start
    return summary


def true_series(
    root: str | os.PathLike[str],
    data_dir: str | None = None,
    external_dir: str | None = None,
    entries: Mapping[str, DatasetEntry] | None = None,
) -> dict[str, Any]:
    """The leaderboard plots' truth: the test series of every dataset with records under ``root``
    that can be loaded (frozen datasets by name, others through ``entries``), in artifact form, at
    the test length its first record scored. Datasets without a readable record are left out."""
    from chaosbench import data

    entries, known, truth = dict(entries or {}), set(data.names(data_dir)), {}
    folders = sorted(p for p in Path(root).iterdir() if p.is_dir()) if Path(root).is_dir() else []
    for folder in folders:
        entry = entries.get(folder.name) or (DatasetEntry(folder.name) if folder.name in known else None)
        first = next(folder.rglob("*.json"), None)
        if entry is None or first is None:
            continue
        try:
            n_test = read_record(first).config["evaluation"]["n_test"]
        except (ChaosbenchError, KeyError, TypeError):  # a bad record: the tables report it
            continue
        dataset = {folder.name: entry.load(data_dir, external_dir)}
        truth.update(reference_artifacts(dataset, EvalSettings(n_test=n_test)))
    return truth


# ---------------------------------------------------------------- inside a worker


@functools.lru_cache(maxsize=8)
def _load(entry: DatasetEntry, data_dir: str | None, external_dir: str | None) -> tuple[Any, Reference]:
    """A dataset and its Lyapunov reference, once per process (the estimate may be costly)."""
    dataset = entry.load(data_dir, external_dir)
    return dataset, reference(dataset)


def execute_unit(unit: WorkUnit, context: RunContext) -> list[str]:
    """Train and score the unit's seeds; their run records as JSON texts, in seed order.

    Runs with ``context.threads`` CPU threads for torch and, through threadpoolctl when it is
    installed, for BLAS too, so a unit computes the same numbers in any executor. Model code that
    raises gives ``failed`` records; a :class:`ChaosbenchError` while setting up training (a
    configuration problem, not a model outcome) propagates and stops the run.
    """
    from chaosbench.training import cpu_threads

    with cpu_threads(context.threads):
        return _execute(unit, context)


def _execute(unit: WorkUnit, context: RunContext) -> list[str]:
    dataset, ref = _load(unit.dataset, context.data_dir, context.external_dir)
    trained = train_unit(unit, dataset, ref, context.device)
    return [record.to_json() for record in score(unit, trained, dataset, ref, context.suite)]


@dataclass
class Trained:
    """One seed after training: the model (None if training raised), why it is not ok, cost.

    ``log`` is the member's training log (:class:`chaosbench.training.FitResult`, with the
    records of any callbacks); ``None`` for evaluable models.
    """

    model: Any
    failure: str | None
    used: int
    train_time: float
    device: str
    params: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    log: dict[str, Any] | None = None

    @property
    def diverged(self) -> bool:
        """Training produced a model but diverged (it holds the last finite parameters)."""
        return self.model is not None and self.failure is not None


def train_unit(
    unit: WorkUnit,
    dataset: Any,
    ref: Reference,
    device: str = "auto",
    *,
    callbacks: Sequence[Callback] = (),
    progress: bool = False,
) -> list[Trained]:
    """Train the unit's seeds by its resolved configuration; one :class:`Trained` per seed.

    A latent model's seeds train as one batched ensemble by :func:`chaosbench.training.fit` (with
    ``callbacks``); an evaluable model is fitted seed by seed. Model code that raises gives
    members without a model; a :class:`ChaosbenchError` (a configuration problem) propagates.
    """
    if unit.regime is not None:
        return _train_latent(unit, dataset, ref, device, callbacks, progress)
    if callbacks:
        raise ChaosbenchError(f"{unit}: training callbacks need a latent model, '{unit.model.name}' is evaluable")
    return _fit_evaluable(unit, dataset)


def score(unit: WorkUnit, trained: Sequence[Trained], dataset: Any, ref: Reference, suite: str) -> list[RunRecord]:
    """Score each trained seed by the evaluation protocol; their run records, in seed order.

    A seed whose training raised is ``failed``; one whose training diverged is ``diverged``
    (unless its evaluation failed), with both reasons and worst values (``evaluate``).
    """
    from chaosbench.data import DATASET_VERSION
    from chaosbench.metrics import METRIC_SPEC_VERSION

    records = []
    for key, run in zip(unit.record_keys(), trained, strict=True):
        start = time.perf_counter()
        if run.model is None:
            outcome = Outcome("failed", run.failure, {})
        else:
            outcome = evaluate(run.model, dataset, unit.evaluation, ref, training_failure=run.failure)
        config = _config(unit, suite, dataset, ref, run, key.seed, outcome)
        records.append(RunRecord.create(
            key,
            outcome.status,
            reason=outcome.reason,
            metrics=outcome.metrics,
            budget={"updates": unit.budget, "used": min(run.used, unit.budget)},
            wall_time_s=run.train_time + (time.perf_counter() - start),
            device=run.device,
            metric_spec=METRIC_SPEC_VERSION,
            dataset_version="empirical" if unit.dataset.empirical else DATASET_VERSION,
            dataset_sha256=dataset.sha256,
            config=config,
            artifacts=outcome.artifacts,
            metrics_runs=outcome.runs,
        ))  # fmt: skip
    return records


def _train_latent(
    unit: WorkUnit, dataset: Any, ref: Reference, device: str, callbacks: Sequence[Callback], progress: bool
) -> list[Trained]:
    from chaosbench.models.registry import build
    from chaosbench.training import fit, resolve_device

    assert unit.config is not None
    config = unit.config
    factory = functools.partial(build, unit.model.spec, **config.overrides)
    n = len(unit.seeds)
    device_name = str(resolve_device(device))
    start = time.perf_counter()
    try:
        result = fit(factory, dataset.train, dataset.dt, config.regime, seeds=list(unit.seeds),
                     budget=unit.budget, model=unit.model.spec, device=device, callbacks=callbacks,
                     progress=progress, lambda_max=ref.lambda_max, **asdict(config.training))  # fmt: skip
    except ChaosbenchError:
        raise
    except Exception as err:
        reason = one_line("train", err)
        wall = (time.perf_counter() - start) / n
        return [Trained(None, reason, 0, wall, device_name, dict(unit.model.params)) for _ in range(n)]
    extra = {"regime": result.regime.as_dict(), "training": asdict(result.settings)}
    return [
        Trained(
            model=member,
            failure=None if at is None else f"training diverged at update {at}",
            used=result.updates if at is None else at,
            train_time=result.wall_time / n,
            device=result.device,
            params=dict(getattr(member, "config", unit.model.params)),
            extra={**extra, "n_parameters": sum(p.numel() for p in member.parameters())},
            log=log,
        )
        for member, at, log in zip(result.members, result.diverged_at, result.logs, strict=True)
    ]


def _fit_evaluable(unit: WorkUnit, dataset: Any) -> list[Trained]:
    from chaosbench.models.registry import baseline_defaults, build

    params = {**baseline_defaults(unit.model.spec), **unit.model.params, "obs_dim": dataset.obs_dim}
    out = []
    for seed in unit.seeds:
        start = time.perf_counter()
        try:
            model = build(unit.model.spec, dataset.obs_dim, **unit.model.params)
            model.fit(dataset.train, dataset.dt, unit.budget, seed)
        except ChaosbenchError:
            raise
        except Exception as err:
            out.append(Trained(None, one_line("fit", err), 0, time.perf_counter() - start, "cpu", params))
            continue
        device = str(getattr(model, "device", "cpu"))  # numpy models compute on the CPU
        out.append(Trained(model, None, 0, time.perf_counter() - start, device, params))
    return out


def _config(
    unit: WorkUnit, suite: str, dataset: Any, ref: Reference, run: Trained, seed: int, outcome: Outcome
) -> dict[str, Any]:
    """The resolved configuration stored in a record: enough to rerun it exactly."""
    evaluation = asdict(unit.evaluation)
    evaluation["n_test"] = n_test = len(unit.evaluation.test_series(dataset.test))
    evaluation["n_gen"] = unit.evaluation.generated_length(n_test)
    settings = unit.settings()
    return {
        "suite": suite,
        "resolved": settings,
        "config_sha256": config_sha256(settings),
        "eval_protocol": EVAL_PROTOCOL_VERSION,
        "seed": seed,
        "budget": unit.budget,
        "device": run.device,
        "dataset": {
            "name": dataset.name,
            "dt": dataset.dt,
            **({"file": unit.dataset.file, "test_file": unit.dataset.test_file} if unit.dataset.empirical else {}),
            "lambda_max": ref.lambda_max,
            "lambda_max_source": ref.source,
        },
        "model": {"name": unit.model.name, "spec": unit.model.spec, "kind": unit.model.kind, "params": run.params},
        "evaluation": {**evaluation, **outcome.info},
        **run.extra,
    }


def format_summary(summary: RunSummary) -> str:
    """One line: what was computed, skipped and recomputed, statuses and time."""
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items())) or "none"
    text = (
        f"{summary.computed} record(s) computed ({statuses}), {summary.skipped} already done"
        + (f", {len(summary.recomputed)} bad file(s) recomputed" if summary.recomputed else "")
        + f" in {summary.wall_time_s:.1f} s -> {summary.results_dir}"
    )
    return text
