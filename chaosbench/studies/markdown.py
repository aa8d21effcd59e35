"""Markdown pieces every study report uses: number formatting, tables and the pipeline banner."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def num(value: Any, digits: int = 3) -> str:
    """``value`` for a table: ``-`` when missing or NaN, ``inf``, floats to ``digits`` figures."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A markdown table (cells through :func:`num`) and a blank line."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(num(v) for v in row) + " |" for row in rows]
    return lines + [""]


def pipeline_banner(study: str, short: Sequence[str]) -> list[str]:
    """The warning that opens a report trained with fewer updates than the study's own settings
    (``--preset quick``, ``--budget``); ``short`` names each shortened budget. Empty when none is:
    on barely trained models every verdict is meaningless."""
    if not short:
        return []
    return [
        f"> **Pipeline-only run: the verdicts below mean nothing.** Gradient updates per training run: "
        f"{', '.join(short)}. This checks that every step of the study runs and writes its report; "
        "whether a result \"agrees\" with the papers is decided for models trained with the study's "
        f"own budgets (`chaosbench reproduce {study}` without `--preset` or `--budget`).",
        "",
    ]
