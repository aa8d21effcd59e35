"""The leaderboard: a pure function of the run records, rendered as Markdown, CSV, LaTeX and HTML.

It reads record files only; it never imports or runs model code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from chaosbench.errors import ChaosbenchError
from chaosbench.leaderboard import html, plots, render
from chaosbench.leaderboard.aggregate import aggregate, learning_curves, top_rungs
from chaosbench.records import RunRecord, atomic_write

OUTPUTS = {
    "markdown": "LEADERBOARD.md",
    "csv": "leaderboard.csv",
    "latex": "leaderboard.tex",
    "html": "index.html",
    "curves": "learning_curves.csv",
}
FIGURES = "figures"  # learning_curve_<dataset>.png, for a budget ladder


def write_leaderboard(
    records: Sequence[RunRecord],
    out_dir: str | os.PathLike[str],
    reference: Mapping[str, Mapping[str, Any]] | None = None,
    floors: Mapping[str, tuple[float, float]] | None = None,
    references: Mapping[str, Mapping[str, Any]] | None = None,
    cards: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Path]:
    """Build every leaderboard file from validated ``records``; return their paths.

    The caller validates (``chaosbench leaderboard`` refuses, or with ``--exclude-invalid``
    leaves out and lists, every record that ``chaosbench validate`` rejects). ``reference`` maps
    a dataset name to its true data for the plots, in the artifact format of the records
    (``trajectory_sample``, ``power_spectrum``); ``floors`` maps a dataset to its floor band of
    D_stsp ``(low, high)``, which marks the entries "at the floor". The tables and the page
    headline each entry's top rung; ``learning_curves.csv`` and the Markdown's sample-efficiency
    section hold every rung of a budget ladder. ``references`` are the datasets' stored reference
    rows (floor band, linear model, collapse, escape), shown unranked. ``cards`` are the model cards of submitted
    models, shown on the page.
    """
    records = list(records)
    if not records:
        raise ChaosbenchError("no run records to build a leaderboard from")
    table, curves = aggregate(records, floors, references), learning_curves(records)
    figures = learning_curve_figures(curves, floors or {})
    texts = {
        "markdown": render.markdown(table, curves),
        "csv": render.csv(table),
        "latex": render.latex(table),
        "html": html.page(table, top_rungs(records), reference, cards, html.metrics_link(out_dir), figures),
        "curves": render.csv(curves),
    }
    paths = {kind: Path(out_dir) / name for kind, name in OUTPUTS.items()}
    for kind, text in texts.items():
        atomic_write(paths[kind], text.encode("utf-8"))
    for dataset, png in figures.items():
        paths[f"learning_curve_{dataset}"] = path = Path(out_dir) / FIGURES / f"learning_curve_{dataset}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, png)
    return paths


def learning_curve_figures(curves: pd.DataFrame, floors: Mapping[str, tuple[float, float]]) -> dict[str, bytes]:
    """The learning-curve PNG of every dataset scored at two budgets or more (with its floor band)."""
    figures = {}
    for dataset, rows in curves.groupby("dataset", sort=True):
        png = plots.learning_curve(rows, floors.get(dataset))
        if png is not None:
            figures[dataset] = png
    return figures
