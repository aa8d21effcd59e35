"""``chaosbench references build|verify``: the reference rows (floor band, constant, linear) of a
suite's datasets, stored beside the dataset cards."""

from __future__ import annotations

import argparse
from typing import Any

from tqdm import tqdm


def _entries(args: argparse.Namespace) -> list[tuple[Any, Any]]:
    """(dataset, evaluation settings) for every dataset of the suite, or of ``names`` in it."""
    from chaosbench.harness import suites

    suite = suites.load(args.suite, args.data_dir)
    if args.names:
        suite = suite.subset(datasets=args.names)
    return [(entry.load(args.data_dir, args.data_dir_external), suite.evaluation) for entry in suite.datasets]


def build_(args: argparse.Namespace) -> int:
    from chaosbench.harness import references

    for dataset, settings in tqdm(_entries(args), desc="reference rows", disable=args.no_progress):
        refs = references.compute(dataset, settings, args.data_dir)
        floor = refs["floor"]["d_stsp"] if refs["floor"] else None
        band = f"{floor['median']:.3g} [{floor['q05']:.3g}, {floor['q95']:.3g}]" if floor else "none (training split shorter than a run)"
        tqdm.write(f"{references.write(refs, args.data_dir)}: floor D_stsp {band}, constant {refs['constant']['d_stsp']:.3g}, "
                   f"linear {refs['linear']['d_stsp']:.3g}, escape {refs['escape']['d_stsp']:.3g}")  # fmt: skip
    return 0


def verify_(args: argparse.Namespace) -> int:
    from chaosbench.harness import references

    failed = []
    for dataset, settings in _entries(args):
        stored = references.read(dataset.name, args.data_dir)
        if stored is None:
            problems = ["no stored reference rows"]
        else:
            problems = references.differences(stored, references.compute(dataset, settings, args.data_dir))
        print(f"{'ok  ' if not problems else 'FAIL'} {dataset.name:<16} {'; '.join(problems) or 'recomputed identically'}")
        failed += [dataset.name] if problems else []
    return 2 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("references", help="build or verify the reference rows (floor band, constant, linear model)")
    p.add_argument("--suite", default="standard", help="the suite whose datasets and test lengths (default: %(default)s)")
    p.add_argument("--data-dir", default=None, help="dataset directory (default: the bundled one)")
    p.add_argument("--data-dir-external", default=None, help="folder of the suite's empirical recordings")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    rsub = p.add_subparsers(dest="references_command", metavar="ACTION", required=True)
    for name, func, text in (("build", build_, "compute and store them"), ("verify", verify_, "recompute and compare")):
        action = rsub.add_parser(name, help=text)
        action.add_argument("names", nargs="*", help="datasets of the suite (default: all)")
        action.set_defaults(func=func)
