"""Per row: medians under both conventions, divergence rate, cost, and the verdict.

*chaosbench's convention*: the median over every seed, a diverged run counting with each
metric's documented worst value (as on the leaderboard), a failed one as infinitely bad. *The
paper's convention*: the median over the finite runs only (status ``ok``), with the fraction of
the others (diverged or failed) beside it.

The verdict compares the paper's median with the finite runs: *reproduced* when it lies within
their range, the distribution-free confidence interval for the median of the distribution the
runs are drawn from (coverage ``1 - 2^(1 - n)`` for ``n`` runs: 93.75 % for 5), for D_stsp and
D_H alike. The paper's own spread was not found in its text, so the runs' spread stands in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from chaosbench.studies.hess2023.settings import METRICS

REPRODUCED = "reproduced (paper's median within the finite runs' range)"
NOT_REPRODUCED = "not reproduced"
NOT_AT_BUDGET = "not run at the paper's budget"
NO_PAPER_VALUE = "no paper value found"
IN_SAMPLE = "not comparable: the paper's EEG numbers are in-sample"
TOO_FEW = "undecided: fewer than 2 finite runs"
SHORT = {  # what a row short of the paper's budget says about the same comparison
    REPRODUCED: "the paper's median within the finite runs' range",
    NOT_REPRODUCED: "the paper's median outside the finite runs' range",
}
MIN_FINITE = 2


def median(values: Sequence[float | None]) -> float:
    """Median of ``values``, ``None`` (not finite or missing) counted as infinitely bad."""
    arr = np.array([math.inf if v is None else v for v in values], dtype=float)
    return float(np.median(arr)) if arr.size else math.nan


def coverage(n: int) -> float:
    """Probability that the range of ``n`` independent runs holds the population median."""
    return 1.0 - 2.0 ** (1 - n) if n >= 1 else 0.0


def summarise(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One row's numbers from its seeds' results (all of one row)."""
    finite = [r for r in results if r["status"] == "ok"]
    out: dict[str, Any] = {
        "n": len(results), "n_finite": len(finite),
        "n_diverged": sum(r["status"] == "diverged" for r in results),
        "n_failed": sum(r["status"] == "failed" for r in results),
        "divergence_rate": 1 - len(finite) / len(results) if results else math.nan,
        "budget": max((r["budget"] for r in results), default=0),
        "evaluable": bool(results) and results[0]["evaluable"],
        "from_records": sum(r.get("source", "trained") != "trained" for r in results),  # not trained here
    }  # fmt: skip
    for key in METRICS:
        values = [r[key] for r in finite if r[key] is not None]
        out[key] = median([r[key] for r in results])
        out[f"{key}_finite"] = median(values) if values else math.nan
        out[f"{key}_range"] = (min(values), max(values)) if values else None
    out.update(cost(results))
    return out


def cost(results: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Measured seconds per seed: training per 1000 updates (``nan`` for evaluable models, whose
    fit ignores the budget) and fit, scoring per seed."""
    n = max(len(results), 1)
    train = sum(r["train_time"] for r in results)
    updates = sum(r["updates"] for r in results)
    return {
        "train_s": train / n,
        "train_s_per_1000": 1000 * train / updates if updates and not results[0]["evaluable"] else math.nan,
        "score_s": sum(r["score_time"] for r in results) / n,
    }


def projected_core_hours(row: Mapping[str, Any], budget: int, n_seeds: int) -> float:
    """Core-hours of a row at ``budget`` updates and ``n_seeds`` seeds, from its measured cost."""
    per_seed = row["train_s"] if row["evaluable"] else row["train_s_per_1000"] * budget / 1000
    return n_seeds * (per_seed + row["score_s"]) / 3600


def metric_reproduced(paper: float, values_range: tuple[float, float] | None) -> bool:
    """The paper's median lies within the finite runs' range."""
    return values_range is not None and values_range[0] <= paper <= values_range[1]


def verdict(row: Mapping[str, Any], paper: Mapping[str, float | None], budget_of_record: int,
            in_sample: bool = False) -> str:  # fmt: skip
    """The row's verdict (see the module's docstring); ``row`` from :func:`summarise`."""
    if in_sample:
        return IN_SAMPLE
    if all(paper[key] is None for key in METRICS):
        return NO_PAPER_VALUE
    if row["n_finite"] < MIN_FINITE:
        judged = TOO_FEW
    else:
        ok = all(metric_reproduced(p, row[f"{key}_range"]) for key in METRICS if (p := paper[key]) is not None)
        judged = REPRODUCED if ok else NOT_REPRODUCED
    if not row["evaluable"] and row["budget"] < budget_of_record:
        return f"{NOT_AT_BUDGET}; at {row['budget']} updates: {SHORT.get(judged, judged)}"
    return judged
