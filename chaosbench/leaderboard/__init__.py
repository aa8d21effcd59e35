"""The leaderboard: a pure function of the run records, rendered as Markdown, CSV, LaTeX and HTML.

It reads record files only; it never imports or runs model code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chaosbench.errors import ChaosbenchError, IntegrityError
from chaosbench.harness.records import RecordStore, atomic_write
from chaosbench.leaderboard import html, render
from chaosbench.leaderboard.aggregate import aggregate

OUTPUTS = {
    "markdown": "LEADERBOARD.md",
    "csv": "leaderboard.csv",
    "latex": "leaderboard.tex",
    "html": "index.html",
}


def write_leaderboard(
    records_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    reference: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Path]:
    """Build every leaderboard file from the records in ``records_dir``; return their paths.

    Refuses to build from a directory holding any bad record file (run ``chaosbench validate``
    to list them all). ``reference`` maps a dataset name to its true data for the plots, in the
    artifact format of the records (``trajectory_sample``, ``power_spectrum``).
    """
    scan = RecordStore(records_dir).scan()
    if scan.problems:
        raise IntegrityError(
            f"{len(scan.problems)} bad record file(s), first {scan.problems[0]}; "
            f"see 'chaosbench validate {records_dir}'"
        )
    records = list(scan.records.values())
    if not records:
        raise ChaosbenchError(f"no run records in {records_dir}")
    table = aggregate(records)
    texts = {
        "markdown": render.markdown(table),
        "csv": render.csv(table),
        "latex": render.latex(table),
        "html": html.page(table, records, reference),
    }
    paths = {kind: Path(out_dir) / name for kind, name in OUTPUTS.items()}
    for kind, text in texts.items():
        atomic_write(paths[kind], text.encode("utf-8"))
    return paths
