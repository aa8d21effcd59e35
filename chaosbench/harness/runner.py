"""Running a suite: find the records still missing, run their work units, write their records.

Resumption comes from the record store: a key with an intact record is skipped; a missing,
corrupt or edited one is (re)computed, and a corrupt file is reported before it is replaced.
Each unit's records are written (atomically) the moment the unit finishes, so a run killed at
any point keeps every finished unit and the next run continues from there. A unit is locked
while it runs (:mod:`chaosbench.harness.locks`): a second run on the same folder skips it. A unit
whose worker dies or outlives the suite's time limit gets ``failed`` records, and the run goes on.

Per work unit (one dataset, model and regime with its missing seeds), :func:`train_unit` trains
the seeds of a latent model as one batched ensemble by ``chaosbench.training.fit`` (an evaluable
model is fitted seed by seed), then :func:`score` scores each seed by the evaluation protocol
(the members of a latent unit generate as one batch: ``evaluate_members``) and builds its record.
These two functions are the one train-and-score path: the reproduction studies call them too. A
unit of a budget ladder trains once, to its top rung, and gives one record per seed and rung: the
lower rungs score the members as they were at that update. A record's ``wall_time_s`` is the
unit's training time (to its rung) divided by its number of seeds plus the unit's evaluation time
divided by its number of scored records.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

# A unit's process imports these as it starts, before the unit's time limit runs (the functions
# below take what they need from them when called).
import chaosbench.metrics  # noqa: F401
import chaosbench.models.registry  # noqa: F401
import chaosbench.training  # noqa: F401
from chaosbench.errors import ChaosbenchError
from chaosbench.harness.evaluate import (
    EVAL_PROTOCOL_VERSION, MODEL_ERRORS, EvalSettings, Outcome, Reference, evaluate_members, one_line, reference,
    reference_artifacts,
)
from chaosbench.harness.checkpoints import save_members
from chaosbench.harness.executors import Executor, LocalExecutor, Lost, report_progress
from chaosbench.harness.locks import UnitLock, holder, try_lock
from chaosbench.harness.preflight import preflight
from chaosbench.records import Problem, RecordKey, RecordStore, RunRecord, config_sha256, read_record
from chaosbench.harness.suites import DatasetEntry, Suite, WorkUnit
from chaosbench.records.validate import extra_records, mismatch

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
    checkpoints: str | None = None  # folder for the latent members at the top rung (harness.checkpoints)


@dataclass
class RunSummary:
    """What a run did: records computed and skipped, files recomputed, statuses, units lost (their
    worker died or timed out), units left to another run holding them (and the table files, which
    the command line writes after the run)."""

    results_dir: Path
    computed: int = 0
    skipped: int = 0
    lost: int = 0
    busy: int = 0
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
    budget or any resolved setting; it is then one of the problems, and gets overwritten). Under
    a budget ladder that holds for any rung's record, and the seed is rerun whole: training is
    per unit and seed, so all rungs of a rerun seed are recomputed (and rewritten) together.
    Records of extra seeds or rungs of the suite's units are reported and left as they are.
    """
    found: dict[RecordKey, RunRecord] = {}
    problems: list[Problem] = []
    if store.root.is_dir():
        scan = store.scan()
        found = {record.key: record for record in scan.records.values()}
        problems = scan.problems
    units, skipped = [], 0
    for unit in suite.units():
        todo: list[int] = []
        keys = unit.record_keys()
        for key in keys:
            record = found.get(key)
            reason = None if record is None else mismatch(record, unit.expected(key))
            if reason is not None:
                problems.append(Problem(store.path_for(key), f"other settings: {reason}"))
            if (record is None or reason is not None) and key.seed not in todo:
                todo.append(key.seed)
        skipped += sum(key.seed not in todo for key in keys)
        if todo:
            units.append(unit.with_seeds(todo))
    problems += [Problem(store.path_for(key), reason) for key, reason in extra_records(found, suite.record_keys())]
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
    locks: dict[str, UnitLock] = {}

    def claimed() -> Iterator[WorkUnit]:
        """The units as this run locks them; a unit locked or finished by another run is left out."""
        for unit in units:
            folder = store.root / RecordKey(unit.dataset.name, unit.model.name, unit.regime_label, 0).relpath.parent
            lock = try_lock(folder)
            if lock is None:
                summary.busy += 1
                bar.write(f"{unit}: in progress in another run (pid {holder(folder)}), skipped", file=sys.stderr)
                bar.update(1)
                continue
            todo = _missing_seeds(unit, store)  # another run may have written some since planning
            summary.skipped += sum(key.seed not in todo for key in unit.record_keys())
            if todo:
                locks[str(unit)] = lock
                yield unit.with_seeds(todo)
            else:
                lock.release()
                bar.update(1)

    stop = threading.Event()
    if progress:  # the elapsed time moves between the units' reports
        threading.Thread(target=_tick, args=(bar, stop), daemon=True).start()
    training: dict[str, str] = {}  # unit -> "updates done/budget", while it trains

    def on_progress(unit: WorkUnit, done: int, total: int) -> None:
        training[str(unit)] = f"{done}/{total}"
        bar.set_postfix_str(" ".join(f"{name} {at}" for name, at in training.items()), refresh=False)

    try:
        for unit, result in executor.map(execute_unit, claimed(), context, suite.timeout, on_progress):
            if isinstance(result, Lost):  # its worker died or timed out: the driver records it
                summary.lost += 1
                result = _execute(unit, context, lost=result)
            for text in result:
                record = RunRecord.from_json(text)
                store.write(record)
                summary.computed += 1
                summary.statuses[record.status] += 1
                if record.status != "ok":
                    bar.write(f"{record.key}: {record.status} ({record.reason})", file=sys.stderr)
            locks.pop(str(unit)).release()
            training.pop(str(unit), None)
            bar.set_postfix_str(" ".join(f"{name} {at}" for name, at in training.items()), refresh=False)
            bar.update(1)
    finally:
        for lock in locks.values():
            lock.release()
        stop.set()
        bar.close()

    summary.wall_time_s = time.perf_counter() - start
    return summary


def _missing_seeds(unit: WorkUnit, store: RecordStore) -> list[int]:
    """The unit's seeds with a record (of any rung) missing, bad or of other settings, as in :func:`plan`."""

    def current(key: RecordKey) -> bool:
        try:
            return mismatch(store.read(store.path_for(key)), unit.expected(key)) is None
        except ChaosbenchError:
            return False

    stale = {key.seed for key in unit.record_keys() if not current(key)}
    return [seed for seed in unit.seeds if seed in stale]


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


def _tick(bar: tqdm, stop: threading.Event, every: float = 1.0) -> None:
    while not stop.wait(every):
        bar.refresh()


# ---------------------------------------------------------------- inside a worker


@functools.lru_cache(maxsize=8)
def _load(entry: DatasetEntry, data_dir: str | None, external_dir: str | None) -> tuple[Any, Reference]:
    """A dataset and its Lyapunov reference, once per process (the estimate may be costly)."""
    dataset = entry.load(data_dir, external_dir)
    return dataset, reference(dataset)


def execute_unit(unit: WorkUnit, context: RunContext) -> list[str]:
    """Train and score the unit's seeds; their run records as JSON texts, in seed order.

    With ``context.checkpoints`` the latent members at the top rung are saved there (on the
    worker's file system: on a Ray cluster, a folder every node shares).

    Runs with ``context.threads`` CPU threads for torch and for BLAS (threadpoolctl), so a unit
    computes the same numbers in any executor; its records note the counts. Model code that
    raises gives ``failed`` records; a :class:`ChaosbenchError` while setting up training (a
    configuration problem, not a model outcome) propagates and stops the run.
    """
    return _execute(unit, context)


def _execute(unit: WorkUnit, context: RunContext, lost: Lost | None = None) -> list[str]:
    """The unit's records; with ``lost`` (in the driver) every seed ``failed`` for its reason."""
    from chaosbench.training import cpu_threads, resolve_device

    with cpu_threads(context.threads):
        dataset, ref = _load(unit.dataset, context.data_dir, context.external_dir)
        if lost is None:
            trained = train_unit(unit, dataset, ref, context.device, on_update=report_progress)
        else:
            trained = _failed(unit, lost.reason, lost.wall_time_s, str(resolve_device(context.device)))
        records = score(unit, trained, dataset, ref, context.suite)
        if context.checkpoints and lost is None:
            save_members(context.checkpoints, records, trained, unit.budget)
        return [record.to_json() for record in records]


@dataclass
class Trained:
    """One seed after training (or at a rung of a budget ladder): the model (None if training
    raised), why it is not ok, cost.

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
    on_update: Callable[[int, int], None] | None = None,
) -> list[Trained]:
    """Train the unit's seeds by its resolved configuration; one :class:`Trained` per record key
    (``unit.record_keys()``: per seed, and per rung of a budget ladder).

    A latent model's seeds train as one batched ensemble by :func:`chaosbench.training.fit` (with
    ``callbacks``) to the unit's budget, the top rung of a ladder, whose lower rungs are copies
    of the members taken on the way; an evaluable model is fitted seed by seed. Model code that
    raises gives members without a model; a :class:`ChaosbenchError` (a configuration problem)
    propagates. ``progress`` draws the training bar; ``on_update(update, budget)`` hears of it.
    """
    if unit.regime is not None:
        return _train_latent(unit, dataset, ref, device, callbacks, progress, on_update)
    if callbacks:
        raise ChaosbenchError(f"{unit}: training callbacks need a latent model, '{unit.model.name}' is evaluable")
    return _fit_evaluable(unit, dataset)


def score(unit: WorkUnit, trained: Sequence[Trained], dataset: Any, ref: Reference, suite: str) -> list[RunRecord]:
    """Score each trained seed (and rung) by the evaluation protocol, all of them in one
    :func:`~chaosbench.harness.evaluate.evaluate_members`; their run records, in the order of
    ``unit.record_keys()``.

    A seed whose training raised is ``failed``; one whose training diverged is ``diverged``
    (unless its evaluation failed), with both reasons and worst values (``evaluate``).
    """
    from chaosbench.data import DATASET_VERSION
    from chaosbench.metrics import METRIC_SPEC_VERSION
    from chaosbench.training import thread_counts

    start = time.perf_counter()
    scored = [run for run in trained if run.model is not None]
    outcomes = iter(evaluate_members([run.model for run in scored], dataset, unit.evaluation, ref,
                                     [run.failure for run in scored]))  # fmt: skip
    eval_time = (time.perf_counter() - start) / max(len(scored), 1)
    records = []
    for key, run in zip(unit.record_keys(), trained, strict=True):
        outcome = Outcome("failed", run.failure, {}) if run.model is None else next(outcomes)
        config = _config(unit, suite, dataset, ref, run, key, outcome)
        budget = key.budget or unit.budget
        records.append(RunRecord.create(
            key,
            outcome.status,
            reason=outcome.reason,
            metrics=outcome.metrics,
            budget={"updates": budget, "used": min(run.used, budget)},
            wall_time_s=run.train_time + (eval_time if run.model is not None else 0.0),
            device=run.device,
            metric_spec=METRIC_SPEC_VERSION,
            dataset_version="empirical" if unit.dataset.empirical else DATASET_VERSION,
            dataset_sha256=dataset.sha256,
            config=config,
            artifacts=outcome.artifacts,
            metrics_runs=outcome.runs,
            threads=thread_counts(),
        ))  # fmt: skip
    return records


def _train_latent(
    unit: WorkUnit, dataset: Any, ref: Reference, device: str, callbacks: Sequence[Callback], progress: bool,
    on_update: Callable[[int, int], None] | None,
) -> list[Trained]:
    from chaosbench.models.registry import build
    from chaosbench.training import fit, resolve_device

    assert unit.config is not None
    config = unit.config
    factory = functools.partial(build, unit.model.spec, **config.overrides)
    n = len(unit.seeds)
    start = time.perf_counter()
    try:
        result = fit(factory, dataset.train, dataset.dt, config.regime, seeds=list(unit.seeds),
                     budget=unit.budget, model=unit.model.spec, device=device, callbacks=callbacks,
                     progress=progress, on_update=on_update, lambda_max=ref.lambda_max, snapshots=unit.rungs,
                     **asdict(config.training))  # fmt: skip
    except ChaosbenchError:
        raise
    except MODEL_ERRORS as err:
        return _failed(unit, one_line("train", err), time.perf_counter() - start, str(resolve_device(device)))
    extra = {"regime": result.regime.as_dict(), "training": asdict(result.settings)}

    def trained(i: int, rung: int | None) -> Trained:
        """Seed ``i`` at the end of training (``rung`` None) or as it was at a rung's update."""
        member = result.members[i] if rung is None else result.snapshots[rung][i]
        limit, at = rung or unit.budget, result.diverged_at[i]
        diverged = at is not None and at <= limit
        return Trained(
            model=member,
            failure=f"training diverged at update {at}" if diverged else None,
            used=at if diverged else min(result.updates, limit),
            train_time=(result.wall_time if rung is None else result.snapshot_time[rung]) / n,
            device=result.device,
            params=dict(getattr(member, "config", unit.model.params)),
            extra={**extra, "n_parameters": sum(p.numel() for p in member.parameters())},
            log=result.logs[i],
        )

    return [trained(unit.seeds.index(key.seed), key.budget) for key in unit.record_keys()]


def _failed(unit: WorkUnit, reason: str, wall_time_s: float, device: str) -> list[Trained]:
    """Every record of the unit (each seed, each rung) failed for ``reason``; the seeds share
    ``wall_time_s``."""
    wall = wall_time_s / len(unit.seeds)
    return [Trained(None, reason, 0, wall, device, dict(unit.model.params)) for _ in unit.record_keys()]


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
        except MODEL_ERRORS as err:
            out.append(Trained(None, one_line("fit", err), 0, time.perf_counter() - start, "cpu", params))
            continue
        device = str(getattr(model, "device", "cpu"))  # numpy models compute on the CPU
        out.append(Trained(model, None, 0, time.perf_counter() - start, device, params, _tuned(model)))
    return out


def _tuned(model: Any) -> dict[str, Any]:
    """What a ``tune`` grid chose for the record (``chaosbench.models.tuning``); empty without one."""
    search = getattr(model, "search", None)
    if search is None:
        return {}
    score = next(value for params, value in search.scores if params == search.best)
    return {"tuned": {"chosen": search.best, "validation_d_stsp": score if math.isfinite(score) else None,
                      "n_fit": search.n_fit, "n_validation": search.n_validation}}


def _config(
    unit: WorkUnit, suite: str, dataset: Any, ref: Reference, run: Trained, key: RecordKey, outcome: Outcome
) -> dict[str, Any]:
    """The resolved configuration stored in a record: enough to rerun it exactly."""
    evaluation = asdict(unit.evaluation)
    evaluation["n_test"] = n_test = len(unit.evaluation.test_series(dataset.test))
    evaluation["n_gen"] = unit.evaluation.generated_length(n_test)
    settings = unit.settings(key.budget)
    return {
        "suite": suite,
        "resolved": settings,
        "config_sha256": config_sha256(settings),
        "eval_protocol": EVAL_PROTOCOL_VERSION,
        "seed": key.seed,
        "budget": settings["budget"],
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
        + (f", {summary.lost} unit(s) lost (worker died or timed out)" if summary.lost else "")
        + (f", {summary.busy} unit(s) left to another run" if summary.busy else "")
        + f" in {summary.wall_time_s:.1f} s -> {summary.results_dir}"
    )
    return text
