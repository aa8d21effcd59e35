"""``chaosbench leaderboard`` (tables and page from run records) and ``chaosbench validate``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

MAX_LISTED = 50  # problems printed one per line; the rest are counted
MERGED_OUT = "ranked"  # where a merge with submission folders goes unless --out says otherwise


def _leaderboard(args: argparse.Namespace) -> int:
    from chaosbench.cli.tables import write_tables

    out = args.out or (MERGED_OUT if args.with_ else "leaderboard")
    paths = write_tables(args.results, out, submissions=args.with_, data_dir=args.data_dir,
                         external_dir=args.data_dir_external, exclude_invalid=args.exclude_invalid)  # fmt: skip
    for path in paths.values():
        print(path)
    return 0


def _validate(args: argparse.Namespace) -> int:
    from chaosbench.harness.evaluate import EVAL_PROTOCOL_VERSION
    from chaosbench.harness.submit import Submission
    from chaosbench.records.validate import validate

    if args.model is not None and not args.suite:
        from chaosbench.errors import ChaosbenchError

        raise ChaosbenchError("--model picks a model's records of a suite: add --suite")
    source = Submission.at(args.path) if Path(args.path).is_dir() else None
    path = source.results if source is not None else Path(args.path)
    if args.suite:
        expected, manifest, datasets, scope = _suite_expectations(args, source)
        problems = validate(path, expected=expected, manifest=manifest, datasets=datasets)
    else:
        problems = validate(path, protocol=EVAL_PROTOCOL_VERSION)
    if args.json:
        print(json.dumps({"path": str(args.path), "suite": args.suite, "valid": not problems,
                          "problems": [{"path": str(p.path), "message": p.message} for p in problems]}))  # fmt: skip
        return 1 if problems else 0
    for problem in problems[:MAX_LISTED]:
        print(problem)
    if len(problems) > MAX_LISTED:
        print(f"... and {len(problems) - MAX_LISTED} more")
    if problems:
        print(f"{len(problems)} problem(s) in {path}")
        return 1
    print(f"{path}: all records valid" + (f", complete for {scope}" if args.suite else ""))
    return 0


def _suite_expectations(
    args: argparse.Namespace, source: Any
) -> tuple[dict[Any, Any], dict[str, str], set[str], str]:
    """What the suite (for ``--model`` or a submission's card: that model's units only) expects
    of every record, the sha256 each of its datasets must carry (the manifest's for frozen
    datasets, the recording's own for empirical ones), its dataset names and what was checked."""
    from chaosbench.data.store import data_dir, read_manifest, sha256_file
    from chaosbench.errors import ChaosbenchError
    from chaosbench.harness import suites

    suite = suites.load(args.suite, args.data_dir)
    card = source.card() if source is not None else None
    scope = f"suite {args.suite}"
    if args.model is not None and args.model in {m.name for m in suite.models}:
        suite, scope = suite.subset(models=[args.model]), f"model {args.model} of suite {args.suite}"
    elif args.model is not None or card is not None:
        from chaosbench.harness.submit import card_entry

        if card is None or card["name"] != (args.model or card["name"]):
            raise ChaosbenchError(
                f"'{args.model}' is not a model of suite {suite.name} and {args.path} has no model card "
                "of that name: pass the submission's folder (the one with model_card.yaml)"
            )
        submitted = card.get("datasets") or None
        suite = suite.subset(datasets=submitted).with_models([card_entry(card)])
        scope = f"submission {card['name']} of suite {args.suite}" + (
            f" (datasets {', '.join(submitted)})" if submitted else ""
        )
    frozen = read_manifest(data_dir(args.data_dir))
    manifest = {}
    for entry in suite.datasets:
        if entry.empirical:
            manifest[entry.name] = sha256_file(entry.paths(args.data_dir_external)[0])
        elif f"{entry.name}.npz" in frozen:
            manifest[entry.name] = frozen[f"{entry.name}.npz"]
        else:
            raise ChaosbenchError(f"dataset '{entry.name}' of suite {suite.name} is not in the data MANIFEST")
    return suite.expectations(), manifest, {entry.name for entry in suite.datasets}, scope


def register(sub: Any) -> None:
    board = sub.add_parser(
        "leaderboard",
        help="build LEADERBOARD.md, leaderboard.csv, leaderboard.tex and index.html from run records",
        description="Validate run records, then aggregate them (read only, no model code runs) into the "
        "leaderboard files. Invalid records stop it unless --exclude-invalid is given. --with adds "
        "submission folders: one ranked table and page, each submission's model card shown.",
    )
    board.add_argument(
        "--results", default="leaderboard/results", help="record directory (default: %(default)s)"
    )
    board.add_argument("--with", dest="with_", nargs="+", default=[], metavar="PATH",
                       help="submission folders (records and model card, as 'chaosbench submit' writes them) "
                       "ranked together with --results in one table and page")
    board.add_argument("--out", default=None,
                       help=f"output directory (default: leaderboard, or {MERGED_OUT} with --with, so that the "
                       "tables of record stay as they are)")
    board.add_argument("--data-dir", default=None, help="frozen datasets, for the plots' true series (default: the shipped ones)")
    board.add_argument("--data-dir-external", default=None,
                       help="folder of the empirical recordings, for the plots' true series")
    board.add_argument("--exclude-invalid", action="store_true",
                       help="leave out (and list) records that 'chaosbench validate' rejects instead of refusing")
    board.set_defaults(func=_leaderboard)

    check = sub.add_parser(
        "validate",
        help="check run records: schema, hashes, versions, placement",
        description="Check every record under PATH (a records folder, a submission folder or one record "
        "file); exit 1 listing each problem; a single file that is not strict JSON exits 2.",
    )
    check.add_argument("path", nargs="?", default="leaderboard/results", metavar="PATH",
                       help="record directory or file (default: %(default)s)")  # fmt: skip
    check.add_argument("--suite", default=None,
                       help="also require every record of this suite and its datasets' sha256 (of a "
                       "submission folder: the submitted model's records only)")
    check.add_argument("--model", default=None,
                       help="with --suite: check only this model's records (a model of the suite, or the "
                       "submission named in the folder's model card, the default for a submission folder)")
    check.add_argument("--data-dir", default=None, help="frozen datasets (default: the shipped ones)")
    check.add_argument("--data-dir-external", default=None,
                       help="folder that relative empirical dataset files are read from")
    check.add_argument("--json", action="store_true",
                       help="print the outcome and every problem as one JSON object (exit code as without)")
    check.set_defaults(func=_validate)
