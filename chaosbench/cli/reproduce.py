"""``chaosbench reproduce STUDY``: re-run a published study and write its report (resumable)."""

from __future__ import annotations

import argparse
from typing import Any

from chaosbench.training.devices import DEVICE_CHOICES


def positive_int(text: str) -> int:
    """An integer >= 1 (a budget in gradient updates)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def seeds_arg(text: str) -> int | list[int]:
    """``5`` (seeds 0..4) or ``0,1,7``."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or comma-separated seeds, got {text!r}") from None
    if not values or min(values) < 0 or ("," not in text and values[0] < 1):
        raise argparse.ArgumentTypeError(f"expected a positive count or non-negative seeds, got {text!r}")
    return values if "," in text else values[0]


def _reproduce(args: argparse.Namespace) -> int:
    from chaosbench.studies import reproduce

    path = reproduce(args.study, args.out, preset=args.preset, budget=args.budget, seeds=args.seeds,
                     device=args.device, data_dir_external=args.data_dir_external,
                     progress=not args.no_progress)  # fmt: skip
    print(path)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "reproduce",
        help="re-run a published study (mikhaeil2022, hess2023) and write its report with figures",
        description="Run a study's configurations that are not cached yet under --out, then write "
        "REPORT.md and its figures there. Settings: baselines/studies/<STUDY>.yaml.",
    )
    add = parser.add_argument
    add("study", metavar="STUDY", help="study name, e.g. mikhaeil2022")
    add("--out", default=None, help="output folder (default: leaderboard/studies/<STUDY>)")
    add("--preset", default=None, help="a preset of the study's settings, e.g. quick (tiny budgets)")
    add("--budget", type=int, default=None, help="gradient updates of every training run")
    add("--seeds", type=seeds_arg, default=None, help="seed count N (0..N-1) or a list like 0,1,2")
    add("--device", default=None, help=f"{', '.join(DEVICE_CHOICES)} or cuda:<i> (default: the study's)")
    add("--data-dir-external", default=None, help="folder of the recordings a study reads (e.g. hess2023)")
    add("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=_reproduce)
