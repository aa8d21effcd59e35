"""``chaosbench leaderboard`` (tables and page from run records) and ``chaosbench validate``."""

from __future__ import annotations

import argparse
from typing import Any


def _leaderboard(args: argparse.Namespace) -> int:
    from chaosbench.leaderboard import write_leaderboard

    for path in write_leaderboard(args.results, args.out).values():
        print(path)
    return 0


def _validate(args: argparse.Namespace) -> int:
    from chaosbench.harness.validate import validate

    problems = validate(args.path)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {args.path}")
        return 1
    print(f"{args.path}: all records valid")
    return 0


def register(sub: Any) -> None:
    board = sub.add_parser(
        "leaderboard",
        help="build LEADERBOARD.md, leaderboard.csv, leaderboard.tex and index.html from run records",
        description="Aggregate run records (read only, no model code runs) into the leaderboard files.",
    )
    board.add_argument(
        "--results", default="leaderboard/results", help="record directory (default: %(default)s)"
    )
    board.add_argument("--out", default="leaderboard", help="output directory (default: %(default)s)")
    board.set_defaults(func=_leaderboard)

    check = sub.add_parser(
        "validate",
        help="check run records: schema, hashes, versions, placement",
        description="Check every record under PATH (or one record file); exit 1 listing each problem.",
    )
    check.add_argument("path", nargs="?", default="leaderboard/results", metavar="PATH",
                       help="record directory or file (default: %(default)s)")  # fmt: skip
    check.set_defaults(func=_validate)
