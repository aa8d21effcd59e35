"""``chaosbench run`` (a suite, resumable) and ``chaosbench submit`` (a new model, into its own folder)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chaosbench.cli.reproduce import positive_int, seeds_arg
from chaosbench.errors import ChaosbenchError
from chaosbench.yamlio import parse_yaml

RECORD_DIR = Path("leaderboard") / "results"
UNITS_PER_WORKER = 2  # a worker process starts in seconds: worth it from two units on


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated names")
    return names


def _param(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, parse_yaml(value, f"value of {key}")
    except ChaosbenchError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _executor(args: argparse.Namespace, n_units: int) -> Any:
    from chaosbench.harness.executors import make
    from chaosbench.training import resolve_device

    workers = args.workers
    if workers is None and args.executor == "local":
        # One single-threaded process per core (the models are too small for threads to pay off),
        # when each gets a few units to amortise its start; on a GPU, one process.
        on_cpu = resolve_device(args.device).type == "cpu"
        workers = max(1, min(os.cpu_count() or 1, n_units // UNITS_PER_WORKER)) if on_cpu else 1
    return make(args.executor, workers=workers, address=args.address, num_cpus=args.num_cpus,
                num_gpus=args.num_gpus)  # fmt: skip


def _run(args: argparse.Namespace) -> int:
    from chaosbench.cli.report import print_run, unit_rows
    from chaosbench.harness import suites
    from chaosbench.harness.runner import RunContext, default_results_dir, run_suite

    suite = suites.load(args.suite, args.data_dir).subset(args.datasets, args.models, args.regimes)
    if args.unit_timeout is not None:
        suite = dataclasses.replace(suite, unit_timeout=suites.check_timeout(args.unit_timeout))
    suite, overrides = _overridden(suite, args.budget, args.seeds)
    if args.record and args.results:
        raise ChaosbenchError("--record writes to the leaderboard's own folder; drop --results")
    if not suite.units():
        raise ChaosbenchError(f"the selection from suite {suite.name} has no work unit (evaluable models such "
                              "as esn and sindy run only under regime 'none')")  # fmt: skip
    # runs with overrides get their own default folder, e.g. runs/smoke-budget50-seeds0_1/results
    tag = "".join(f"-{k}{v.replace(',', '_')}" for k, v in overrides.items())
    results = RECORD_DIR if args.record else Path(args.results or default_results_dir(suite.name + tag))
    if overrides and results.resolve() == RECORD_DIR.resolve():
        given = " ".join(f"--{k} {v}" for k, v in overrides.items())
        raise ChaosbenchError(f"the leaderboard of record uses the suite's own settings; drop --record or {given}")
    tables = RECORD_DIR.parent if args.record else results.parent
    context = RunContext(suite.name, device=args.device, data_dir=args.data_dir,
                         external_dir=args.data_dir_external, checkpoints=args.checkpoints)  # fmt: skip
    executor = _executor(args, len(suite.units()))
    summary = run_suite(suite, results, executor=executor, context=context, progress=not args.no_progress)
    _tables(summary, tables, suite, context, report=_stderr if args.json else print)
    print_run(summary, unit_rows(results, suite), args.json)
    return _failed(summary)


def budget_arg(text: str) -> tuple[int, ...]:
    """``4000`` (one budget) or ``1000,4000,16000`` (a ladder, checked as a suite's ``budget`` list)."""
    from chaosbench.harness.suites import ladder

    try:
        return ladder([positive_int(v) for v in text.split(",")])
    except ChaosbenchError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _overridden(
    suite: Any, budget: tuple[int, ...] | None, seeds: int | list[int] | None
) -> tuple[Any, dict[str, str]]:
    """The suite with ``--budget``/``--seeds`` applied (they enter every unit's resolved settings,
    hence its records) and the overrides as text, option -> value (empty when none). A budget
    replaces the suite's ladder: one value trains and scores at that budget alone."""
    changes: dict[str, Any] = {}
    text: dict[str, str] = {}
    if budget is not None:
        changes.update(budget=budget[-1], rungs=budget if len(budget) > 1 else ())
        text["budget"] = ",".join(map(str, budget))
    if seeds is not None:
        changes["seeds"] = tuple(range(seeds)) if isinstance(seeds, int) else tuple(seeds)
        text["seeds"] = ",".join(map(str, changes["seeds"]))
    return (dataclasses.replace(suite, **changes) if changes else suite), text


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _tables(summary: Any, tables: Path, suite: Any, context: Any, report: Callable[[str], None] = print) -> None:
    """Write the tables after a run when a record changed or a table is missing or older."""
    from chaosbench.cli.tables import tables_current, write_tables

    results = Path(summary.results_dir)
    if results.is_dir() and (summary.computed or not tables_current(results, tables)):
        summary.tables = write_tables(results, tables, entries={d.name: d for d in suite.datasets},
                                      data_dir=context.data_dir, external_dir=context.external_dir,
                                      report=report)  # fmt: skip


def _submit(args: argparse.Namespace) -> int:
    from chaosbench.harness import suites
    from chaosbench.harness.runner import RunContext
    from chaosbench.harness.submit import Submission, default_results, submit

    folder = Path(args.path).resolve()
    if not folder.is_dir():
        raise ChaosbenchError(f"--path {args.path}: no such folder")
    if str(folder) not in sys.path:
        sys.path.append(str(folder))  # spawned worker processes start with this sys.path too
    suite = suites.load(args.suite, args.data_dir).subset(args.datasets)
    results = Path(args.results) if args.results else default_results(args.name)
    n_units = len(suite.datasets) * len(suite.regimes)  # at most, for the one submitted model
    summary = submit(
        args.model, args.name, params=dict(args.param), code_url=args.code_url, citation=args.citation,
        suite=args.suite, datasets=args.datasets, results=results, executor=_executor(args, n_units),
        device=args.device, data_dir=args.data_dir, progress=not args.no_progress,
    )  # fmt: skip
    _tables(summary, results.parent, suite, RunContext(suite.name, data_dir=args.data_dir))
    code = _print(summary)
    print(_next_steps(Submission(results), args.suite, suite.name))
    return code


def _next_steps(submission: Any, suite_arg: str, suite: str) -> str:
    """Where the submission is and how to rank it against baselines run under the same suite."""
    from chaosbench.harness.runner import default_results_dir

    folder = submission.card_path.parent
    if suite == "standard":
        rank = f"chaosbench leaderboard --with {folder}"
    else:
        rank = (f"chaosbench run --suite {suite_arg} (the baselines under the same settings), then "
                f"chaosbench leaderboard --results {default_results_dir(suite)} --with {folder}")  # fmt: skip
    return f"to share: {folder} (records and model card); to rank it: {rank}"


def _print(summary: Any) -> int:
    """Print the summary and the tables; the exit code: 1 when a record of this run failed."""
    from chaosbench.harness.runner import format_summary

    print(format_summary(summary))
    for path in summary.tables.values():
        print(path)
    return _failed(summary)


def _failed(summary: Any) -> int:
    """The exit code of a run: 1 (and a note on stderr) when a record of this run failed."""
    failed = summary.statuses["failed"]
    if failed:
        print(f"chaosbench: {failed} run(s) failed (reasons above); delete a failed record to run it again",
              file=sys.stderr)  # fmt: skip
    return 1 if failed else 0


def _execution_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--device", default="auto", help="auto, cpu, cuda or cuda:<i> (default: %(default)s)")
    add("--executor", default="local", choices=("local", "ray"), help="where units run (default: %(default)s)")
    add("--workers", type=int, default=None,
        help="local: units at a time, each in its own process (1 and no time limit: in this process; default: "
        f"one per CPU core when the suite has {UNITS_PER_WORKER} units per core, else 1; 1 on a GPU); ray: CPUs "
        "of a private local instance (default: all)")  # fmt: skip
    add("--address", default=None, help="Ray cluster to join ('auto' or host:port); needs --executor ray")
    add("--num-cpus", type=float, default=1, help="CPUs per Ray task (default: %(default)s)")
    add("--num-gpus", type=float, default=0, help="GPUs per Ray task, fractions allowed (default: %(default)s)")
    add("--data-dir", default=None, help="directory of the frozen datasets (default: the shipped ones)")
    add("--no-progress", action="store_true", help="no progress bar")


def register(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run a benchmark suite (resumable): one record per model, regime, dataset and seed, then tables",
        description="Run the records of a suite that are still missing, then write the tables. "
        "Results go to runs/<suite>/ unless --results or --record says otherwise.",
    )
    add = run.add_argument
    add("--suite", default="quick", help="smoke, quick, standard or a suite YAML file (default: %(default)s)")
    add("--results", default=None, help="record directory (default: runs/<suite>/results; tables beside it)")
    add("--record", action="store_true",
        help="write to the leaderboard of record (leaderboard/results, tables in leaderboard/)")
    add("--datasets", type=_names, default=None, help="comma-separated subset of the suite's datasets")
    add("--models", type=_names, default=None, help="comma-separated subset of the suite's models")
    add("--regimes", type=_names, default=None, help="comma-separated subset of the suite's regimes")
    add("--data-dir-external", default=None, help="folder that relative empirical dataset files are read from")
    add("--unit-timeout", type=float, default=None, metavar="SECONDS",
        help="stop a work unit after this long and record its seeds as failed; 0: no limit (default: the "
        "suite's unit_timeout, else a limit that grows with budget and seeds, see docs/protocol.md)")  # fmt: skip
    add("--budget", type=budget_arg, default=None,
        help="gradient updates per unit instead of the suite's budget or ladder: N, or a ladder like "
        "1000,4000,16000 (recorded in every record; not with --record; results then default to "
        "runs/<suite>-budgetN/)")
    add("--seeds", type=seeds_arg, default=None,
        help="seed count N (0..N-1) or a list like 0,1,2 instead of the suite's (not with --record)")
    add("--checkpoints", default=None, metavar="DIR",
        help="save the latent members at the top rung in DIR, laid out as the records (safetensors + JSON), "
        "for 'chaosbench evaluate --checkpoint'")
    add("--json", action="store_true",
        help="print the summary, table files and per-unit results as one JSON object (nothing else on stdout)")
    _execution_options(run)
    run.set_defaults(func=_run)

    submit = sub.add_parser(
        "submit",
        help="check a new model, forecast the cost, then run a suite for it into submissions/NAME/ with a model card",
        description="Check a model against the contract, print a cost forecast (a few timed updates, or one "
        "timed fit, on the suite's first dataset), then run the suite for it alone and write its records "
        "(submissions/NAME/results), model card and tables (submissions/NAME/); resumable. Never writes "
        "into the leaderboard of record: 'chaosbench leaderboard --with submissions/NAME' ranks it there. "
        "The model's module is imported from --path (default: the current folder) or any installed package.",
    )
    add = submit.add_argument
    add("--model", required=True, help="module:Class (or a registered or entry-point name)")
    add("--name", required=True, help="name of the submission in the records and tables")
    add("--param", type=_param, action="append", default=[], metavar="KEY=VALUE",
        help="hyperparameter for the model's constructor (repeatable; values parsed as YAML)")
    add("--code-url", default=None, help="where the model's code is published")
    add("--citation", default=None, help="how to cite the model (default: its class's citation)")
    add("--suite", default="standard",
        help="standard (default: the protocol of the leaderboard of record), quick or smoke to try it out "
        "first, or a suite YAML file")
    add("--datasets", type=_names, default=None, help="comma-separated subset of the suite's datasets")
    add("--results", default=None,
        help="record directory (default: submissions/NAME/results; card and tables in its parent)")
    add("--path", default=".", help="folder to import the model's module from (default: the current folder)")
    _execution_options(submit)
    submit.set_defaults(func=_submit)
