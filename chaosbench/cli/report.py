"""What ``chaosbench run`` prints at its end: the summary line, the table files and one row per
work unit (median D_stsp and D_H over its seeds, with the seeds' statuses), or all of it as JSON.

The rows come from the records of the suite's units found under the results folder after the
run (computed now or earlier), aggregated by the leaderboard's own rules.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

STATUSES = ("ok", "diverged", "failed")


def unit_rows(results: Path, suite: Any) -> list[dict[str, Any]]:
    """One row per (dataset, model, regime) of ``suite`` with records under ``results``."""
    from chaosbench.leaderboard.aggregate import aggregate
    from chaosbench.records import RecordStore

    wanted = set(suite.record_keys())
    records = [r for r in RecordStore(results).scan().records.values() if r.key in wanted] if results.is_dir() else []
    if not records:
        return []
    table = aggregate(records)
    return [
        {
            "dataset": row["dataset"], "model": row["model"], "regime": row["regime"],
            "seeds": int(row["n_seeds"]),
            "d_stsp_median": _plain(row["d_stsp_median"]), "d_h_median": _plain(row["d_h_median"]),
            **{status: int(row[f"n_{status}"]) for status in STATUSES},
        }  # fmt: skip
        for _, row in table.sort_values(["dataset", "model", "regime"]).iterrows()
    ]


def _plain(value: float) -> float | None:
    """A JSON number; null when there is none (not scored, or infinite: the statuses say which)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def format_rows(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned text table (statuses as ``ok/diverged/failed`` counts)."""
    head = ("dataset", "model", "regime", "D_stsp", "D_H", "ok/div/fail")
    body = [
        (r["dataset"], r["model"], r["regime"], _cell(r["d_stsp_median"]), _cell(r["d_h_median"]),
         "/".join(str(r[s]) for s in STATUSES))
        for r in rows
    ]  # fmt: skip
    widths = [max(len(line[i]) for line in (head, *body)) for i in range(len(head))]
    numeric = {3, 4, 5}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(head), *(line(cells) for cells in body)]).rstrip()


def print_run(summary: Any, rows: list[dict[str, Any]], as_json: bool) -> None:
    """The end of a run on stdout: summary, table files, then the unit table (or one JSON object)."""
    from chaosbench.harness.runner import format_summary

    if as_json:
        print(json.dumps({
            "results": str(summary.results_dir), "computed": summary.computed, "skipped": summary.skipped,
            "recomputed": [str(p) for p in summary.recomputed], "statuses": dict(summary.statuses),
            "wall_time_s": round(summary.wall_time_s, 3),
            "tables": {kind: str(path) for kind, path in summary.tables.items()}, "units": rows,
        }))  # fmt: skip
        return
    print(format_summary(summary))
    for path in summary.tables.values():
        print(path)
    if rows:
        print("\nmedian over seeds per unit (lower is better):")
        print(format_rows(rows))
