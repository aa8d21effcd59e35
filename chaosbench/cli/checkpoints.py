"""``chaosbench evaluate --checkpoint`` (re-score a checkpoint of record against its record) and
``chaosbench checkpoints`` (copy the best entries' members into the leaderboard)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

RECORD_RESULTS = "leaderboard/results"
RECORD_CHECKPOINTS = "leaderboard/checkpoints"


def _checkpoint_files(paths: list[str]) -> list[Path]:
    """The checkpoints named: a file (either suffix), or every ``*.json`` under a folder."""
    from chaosbench.errors import ChaosbenchError

    found: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir():
            found += sorted(given.rglob("*.json"))
        elif given.with_suffix(".json").is_file():
            found.append(given.with_suffix(".json"))
        else:
            raise ChaosbenchError(f"no checkpoint at {given}")
    if not found:
        raise ChaosbenchError(f"no checkpoint under {', '.join(paths)}")
    return found


def _evaluate(args: argparse.Namespace) -> int:
    from chaosbench.harness.checkpoints import rescore

    differing = 0
    for path in _checkpoint_files(args.checkpoint):
        result = rescore(path, args.results, data_dir=args.data_dir, external_dir=args.data_dir_external,
                         device=args.device)  # fmt: skip
        diffs = result.differences()
        d_stsp = result.metrics.get("d_stsp")
        shown = "none" if d_stsp is None else f"{d_stsp:.6g}"
        if not diffs:
            print(f"{result.record.key}: {result.status}, D_stsp {shown}: the same numbers as its record")
            continue
        differing += 1
        print(f"{result.record.key}: differs from its record in {len(diffs)} value(s)")
        for name, recorded, now in diffs:
            print(f"  {name}: record {recorded!r}, now {now!r}")
    if differing:
        print(f"{differing} checkpoint(s) differ from their records (other machine or library versions?)")
    return 1 if differing else 0


def _copy(args: argparse.Namespace) -> int:
    from chaosbench.errors import ChaosbenchError
    from chaosbench.leaderboard.checkpoints import chosen_keys, copy_checkpoints
    from chaosbench.records import RecordStore

    keys = chosen_keys(RecordStore(args.results).iter_records(), args.best)
    copied = copy_checkpoints(keys, args.source, args.to)
    for key in copied.missing:
        print(f"{key}: no checkpoint in {args.source}")
    size_mb = copied.n_bytes / 1e6
    print(f"{len(keys) - len(copied.missing)} checkpoint(s) of {len(keys)} copied to {args.to} ({size_mb:.1f} MB)")
    if size_mb > args.max_mb:
        raise ChaosbenchError(f"the checkpoints take {size_mb:.1f} MB, over --max-mb {args.max_mb}")
    return 1 if copied.missing else 0


def register(sub: Any) -> None:
    evaluate = sub.add_parser(
        "evaluate",
        help="score a checkpoint of record again and compare with its record",
        description="Load a checkpoint (safetensors + JSON, never pickle), score it by the evaluation settings "
        "its record carries and compare every metric with the record: on the machine that made it, the same "
        "numbers. Exit 1 when a value differs.",
    )
    add = evaluate.add_argument
    add("--checkpoint", action="append", required=True, metavar="PATH",
        help="a checkpoint (PATH.json / PATH.safetensors) or a folder of them (repeatable)")  # fmt: skip
    add("--results", default=RECORD_RESULTS, help="where the records are (default: %(default)s)")
    add("--data-dir", default=None, help="directory of the frozen datasets (default: the shipped ones)")
    add("--data-dir-external", default=None, help="folder of the empirical recordings")
    add("--device", default="cpu", help="cpu (the records' device) or cuda (default: %(default)s)")
    evaluate.set_defaults(func=_evaluate)

    copy = sub.add_parser(
        "checkpoints",
        help="copy the members of each dataset's best entries into the leaderboard's checkpoints",
        description="From the checkpoint folder of a run (chaosbench run --checkpoints DIR), copy the members "
        "of each dataset's best latent entries at the top rung (every latent entry of an empirical recording).",
    )
    add = copy.add_argument
    add("--from", dest="source", required=True, metavar="DIR", help="the run's checkpoint folder")
    add("--results", default=RECORD_RESULTS, help="the records that rank the entries (default: %(default)s)")
    add("--to", default=RECORD_CHECKPOINTS, help="destination (default: %(default)s)")
    add("--best", type=int, default=3, help="entries per dataset (default: %(default)s)")
    add("--max-mb", type=float, default=30.0, help="refuse more than this many MB (default: %(default)s)")
    copy.set_defaults(func=_copy)
