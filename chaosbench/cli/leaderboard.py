"""``chaosbench leaderboard`` (tables and page from run records) and ``chaosbench validate``."""

from __future__ import annotations

import argparse
from typing import Any

MAX_LISTED = 50  # problems printed one per line; the rest are counted


def _leaderboard(args: argparse.Namespace) -> int:
    from chaosbench.cli.tables import write_tables

    paths = write_tables(args.results, args.out, data_dir=args.data_dir, external_dir=args.data_dir_external,
                         exclude_invalid=args.exclude_invalid)  # fmt: skip
    for path in paths.values():
        print(path)
    return 0


def _validate(args: argparse.Namespace) -> int:
    from chaosbench.harness.evaluate import EVAL_PROTOCOL_VERSION
    from chaosbench.records.validate import validate

    if args.suite:
        expected, manifest, datasets = _suite_expectations(args)
        problems = validate(args.path, expected=expected, manifest=manifest, datasets=datasets)
    else:
        problems = validate(args.path, protocol=EVAL_PROTOCOL_VERSION)
    for problem in problems[:MAX_LISTED]:
        print(problem)
    if len(problems) > MAX_LISTED:
        print(f"... and {len(problems) - MAX_LISTED} more")
    if problems:
        print(f"{len(problems)} problem(s) in {args.path}")
        return 1
    print(f"{args.path}: all records valid" + (f", complete for suite {args.suite}" if args.suite else ""))
    return 0


def _suite_expectations(args: argparse.Namespace) -> tuple[dict[Any, Any], dict[str, str], set[str]]:
    """What the suite expects of every record, the sha256 each of its datasets must carry (the
    manifest's for frozen datasets, the recording's own for empirical ones) and its dataset names."""
    from chaosbench.data.store import data_dir, read_manifest, sha256_file
    from chaosbench.errors import ChaosbenchError
    from chaosbench.harness import suites

    suite = suites.load(args.suite, args.data_dir)
    frozen = read_manifest(data_dir(args.data_dir))
    manifest = {}
    for entry in suite.datasets:
        if entry.empirical:
            manifest[entry.name] = sha256_file(entry.paths(args.data_dir_external)[0])
        elif f"{entry.name}.npz" in frozen:
            manifest[entry.name] = frozen[f"{entry.name}.npz"]
        else:
            raise ChaosbenchError(f"dataset '{entry.name}' of suite {suite.name} is not in the data MANIFEST")
    return suite.expectations(), manifest, {entry.name for entry in suite.datasets}


def register(sub: Any) -> None:
    board = sub.add_parser(
        "leaderboard",
        help="build LEADERBOARD.md, leaderboard.csv, leaderboard.tex and index.html from run records",
        description="Validate run records, then aggregate them (read only, no model code runs) into the "
        "leaderboard files. Invalid records stop it unless --exclude-invalid is given.",
    )
    board.add_argument(
        "--results", default="leaderboard/results", help="record directory (default: %(default)s)"
    )
    board.add_argument("--out", default="leaderboard", help="output directory (default: %(default)s)")
    board.add_argument("--data-dir", default=None, help="frozen datasets, for the plots' true series (default: the shipped ones)")
    board.add_argument("--data-dir-external", default=None,
                       help="folder of the empirical recordings, for the plots' true series")
    board.add_argument("--exclude-invalid", action="store_true",
                       help="leave out (and list) records that 'chaosbench validate' rejects instead of refusing")
    board.set_defaults(func=_leaderboard)

    check = sub.add_parser(
        "validate",
        help="check run records: schema, hashes, versions, placement",
        description="Check every record under PATH (or one record file); exit 1 listing each problem.",
    )
    check.add_argument("path", nargs="?", default="leaderboard/results", metavar="PATH",
                       help="record directory or file (default: %(default)s)")  # fmt: skip
    check.add_argument("--suite", default=None,
                       help="also require every record of this suite and its datasets' sha256")
    check.add_argument("--data-dir", default=None, help="frozen datasets (default: the shipped ones)")
    check.add_argument("--data-dir-external", default=None,
                       help="folder that relative empirical dataset files are read from")
    check.set_defaults(func=_validate)
