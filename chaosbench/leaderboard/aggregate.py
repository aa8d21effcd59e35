"""From run records to the leaderboard table: one row per (dataset, model, regime).

Scoring rules (documented in the rendered tables too):

- An ``ok`` run contributes its metric values. A ``diverged`` run is never dropped: it
  contributes the value its record carries, and a ``null`` there counts as the worst possible
  value (``+inf`` for lower-is-better metrics, ``-inf`` for higher-is-better ones; a metric
  with no direction, ``lambda_max_gen``, has no worst value and is left out). A ``failed`` run
  (a crash) has no scores; it is only counted in ``n_failed``.
- Per metric: median and MAD (median absolute deviation from the median, unscaled), mean and
  sample standard deviation over seeds. MAD is undefined (NaN) when the median is infinite.
- ``divergence_rate`` = diverged / (ok + diverged).
- ``rank`` within each dataset, by median D_stsp, ties broken by median D_H (lower is better,
  equal pairs share the smaller rank); a row without any D_stsp value is unranked.
- ``forcing_gain_d_stsp`` per (dataset, model) = median D_stsp under ``bptt`` minus the lowest
  median D_stsp among the forcing regimes (names starting with ``stf`` or ``gtf``, the best one
  named in ``forcing_regime``): positive means forcing helped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from chaosbench.errors import ChaosbenchError
from chaosbench.records import METRICS, RunRecord

GROUP = ["dataset", "model", "regime"]
BASELINE_REGIME = "bptt"
FORCING_PREFIXES = ("stf", "gtf")
VERSION_COLUMNS: dict[str, Callable[[RunRecord], str]] = {
    "chaosbench_version": lambda r: r.versions["chaosbench"],
    "dataset_version": lambda r: r.versions["dataset"],
    "metric_spec": lambda r: r.versions["metric_spec"],
    "eval_protocol": lambda r: str(r.config.get("eval_protocol")),
}
_WORST = {"min": np.inf, "max": -np.inf, None: np.nan}


def _scored(record: RunRecord, metric: str) -> float:
    if record.status == "failed":
        return np.nan
    value = record.metrics.get(metric)
    if value is None:
        return _WORST[METRICS[metric]] if record.status == "diverged" else np.nan
    return float(value)


def runs_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """One row per run: key, status, versions and the scored value of every metric."""
    rows = [
        {
            **{"dataset": r.key.dataset, "model": r.key.model, "regime": r.key.regime, "seed": r.key.seed},
            "status": r.status,
            "wall_time_s": r.wall_time_s,
            **{column: version(r) for column, version in VERSION_COLUMNS.items()},
            **{metric: _scored(r, metric) for metric in METRICS},
        }
        for r in records
    ]
    columns = ["dataset", "model", "regime", "seed", "status", "wall_time_s", *VERSION_COLUMNS, *METRICS]
    return pd.DataFrame(rows, columns=columns).astype({metric: float for metric in METRICS})


def _ranks(table: pd.DataFrame) -> pd.Series:
    by_dataset = table.groupby("dataset", sort=False)
    first = by_dataset["d_stsp_median"].rank(method="dense")
    second = by_dataset["d_h_median"].rank(method="dense").fillna(len(table) + 1)
    combined = first * (len(table) + 2) + second
    return combined.groupby(table["dataset"], sort=False).rank(method="min").where(first.notna())


def _forcing_gain(table: pd.DataFrame) -> pd.DataFrame:
    keys = ["dataset", "model"]
    forced = table[table["regime"].str.startswith(FORCING_PREFIXES)]
    best = (
        forced.dropna(subset=["d_stsp_median"])
        .sort_values([*keys, "d_stsp_median", "regime"])
        .drop_duplicates(keys)
        .set_index(keys)
    )
    baseline = table[table["regime"] == BASELINE_REGIME].set_index(keys)["d_stsp_median"]
    gain = pd.DataFrame(
        {"forcing_regime": best["regime"], "forcing_gain_d_stsp": baseline - best["d_stsp_median"]}
    )
    return table[keys].join(gain, on=keys)[["forcing_regime", "forcing_gain_d_stsp"]]


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard table from :func:`runs_frame` output (see the module docstring)."""
    if runs.empty:
        raise ChaosbenchError("no run records to aggregate")
    groups = runs.groupby(GROUP, sort=True)
    counts = pd.crosstab([runs[c] for c in GROUP], runs["status"]).reindex(
        columns=["ok", "diverged", "failed"], fill_value=0
    )
    table = pd.DataFrame({"n_seeds": groups.size(), "wall_time_s": groups["wall_time_s"].sum()})
    for status in ("ok", "diverged", "failed"):
        table[f"n_{status}"] = counts[status]
    scored = table["n_ok"] + table["n_diverged"]
    table["divergence_rate"] = (table["n_diverged"] / scored).where(scored > 0)
    medians = groups[list(METRICS)].median()
    deviation = (runs[list(METRICS)] - groups[list(METRICS)].transform("median")).abs()
    mads = deviation.groupby([runs[c] for c in GROUP]).median().where(np.isfinite(medians))
    means, stds = groups[list(METRICS)].mean(), groups[list(METRICS)].std(ddof=1)
    for metric in METRICS:
        table[f"{metric}_median"] = medians[metric]
        table[f"{metric}_mad"] = mads[metric]
        table[f"{metric}_mean"] = means[metric]
        table[f"{metric}_std"] = stds[metric]
    for column in VERSION_COLUMNS:
        table[column] = groups[column].agg(lambda values: ",".join(sorted(set(values))))
    table = table.reset_index()
    table.insert(3, "rank", _ranks(table).astype("Int64"))
    forcing = _forcing_gain(table)
    table.insert(table.columns.get_loc("chaosbench_version"), "forcing_regime", forcing["forcing_regime"])
    table.insert(
        table.columns.get_loc("chaosbench_version"), "forcing_gain_d_stsp", forcing["forcing_gain_d_stsp"]
    )
    return table.sort_values(["dataset", "rank", "model", "regime"], na_position="last", ignore_index=True)


def aggregate(records: Iterable[RunRecord]) -> pd.DataFrame:
    """Records -> leaderboard table (a pure function: same records, same table)."""
    return summarize(runs_frame(records))
