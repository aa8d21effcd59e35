"""From run records to the leaderboard table: one row per (dataset, model, regime).

Records are aggregated per (dataset, model, regime, budget): a budget ladder gives one cell per
rung. The table headlines each (dataset, model, regime) at its top rung, its largest budget
(the ``budget`` column); ranks, groups, the floor marker and the forcing gain are computed on
these rows. :func:`learning_curves` keeps every rung, the sample-efficiency view. A record's
budget is its key's rung, else the updates of its ``budget`` field; evaluable models (the
``evaluable`` column) ignore the budget and have one record per seed, at the suite's top rung.

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
- Finite-runs summary beside it: ``{metric}_finite_median`` is the median over the runs whose
  value is finite (diverged runs without a value dropped, as papers that exclude non-finite runs
  report it); read it together with ``divergence_rate``.
- ``d_stsp_ci_low`` / ``d_stsp_ci_high``: a 95 % percentile-bootstrap interval of the median
  D_stsp over seeds (:data:`BOOTSTRAP_SAMPLES` resamples from a fixed seed, so the table stays a
  pure function of the records).
- ``rank_group`` within each dataset: the leader (rank 1) and every entry whose interval
  overlaps the leader's form group 1; the best entry left starts group 2 with the entries
  overlapping it, and so on. Ranks inside a group are not distinguishable at this number of seeds.
- ``at_floor``: the median D_stsp lies at or below the upper end of the dataset's floor band
  (the true system's own score spread, when ``floors`` gives it); ``None`` without a band.
- ``forcing_gain_d_stsp`` per (dataset, model) = median D_stsp under ``bptt`` minus the lowest
  median D_stsp among the forcing regimes (names starting with ``stf`` or ``gtf``, the best one
  named in ``forcing_regime``): positive means forcing helped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from chaosbench.errors import ChaosbenchError
from chaosbench.metrics import directions
from chaosbench.records import RunRecord

GROUP = ["dataset", "model", "regime"]
RUNG = [*GROUP, "budget"]
BASELINE_REGIME = "bptt"
FORCING_PREFIXES = ("stf", "gtf")
VERSION_COLUMNS: dict[str, Callable[[RunRecord], str]] = {
    "chaosbench_version": lambda r: r.versions["chaosbench"],
    "dataset_version": lambda r: r.versions["dataset"],
    "metric_spec": lambda r: r.versions["metric_spec"],
    "eval_protocol": lambda r: str(r.config.get("eval_protocol")),
}
_WORST = {"min": np.inf, "max": -np.inf, None: np.nan}
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0
CI_LEVEL = 0.95


def _scored(record: RunRecord, metric: str, better: str | None) -> float:
    if record.status == "failed":
        return np.nan
    value = record.metrics.get(metric)
    if value is None:
        return _WORST[better] if record.status == "diverged" else np.nan
    return float(value)


def budget_of(record: RunRecord) -> int:
    """The budget a record scores: its key's rung, else the updates of its ``budget`` field."""
    return record.key.budget if record.key.budget is not None else record.budget["updates"]


def _evaluable(record: RunRecord) -> bool:
    model = record.config.get("model")
    return isinstance(model, Mapping) and model.get("kind") == "evaluable"


def runs_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """One row per run: key, budget, status, versions and the scored value of every metric."""
    metrics = directions()
    rows = [
        {
            **{"dataset": r.key.dataset, "model": r.key.model, "regime": r.key.regime, "seed": r.key.seed},
            "budget": budget_of(r),
            "evaluable": _evaluable(r),
            "status": r.status,
            "wall_time_s": r.wall_time_s,
            **{column: version(r) for column, version in VERSION_COLUMNS.items()},
            **{metric: _scored(r, metric, better) for metric, better in metrics.items()},
        }
        for r in records
    ]
    columns = ["dataset", "model", "regime", "seed", "budget", "evaluable", "status", "wall_time_s",
               *VERSION_COLUMNS, *metrics]  # fmt: skip
    return pd.DataFrame(rows, columns=columns).astype({metric: float for metric in metrics})


def _ranks(table: pd.DataFrame) -> pd.Series:
    by_dataset = table.groupby("dataset", sort=False)
    first = by_dataset["d_stsp_median"].rank(method="dense")
    second = by_dataset["d_h_median"].rank(method="dense").fillna(len(table) + 1)
    combined = first * (len(table) + 2) + second
    return combined.groupby(table["dataset"], sort=False).rank(method="min").where(first.notna())


def bootstrap_median_ci(values: np.ndarray) -> tuple[float, float]:
    """The 95 % percentile-bootstrap interval of the median of ``values`` (infinities allowed).

    Quantiles use the inverted CDF (no interpolation), so an interval reaching a run scored
    ``+inf`` ends at ``+inf`` instead of NaN.
    """
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    samples = values[rng.integers(0, values.size, size=(BOOTSTRAP_SAMPLES, values.size))]
    medians = np.sort(samples, axis=1)[:, (values.size - 1) // 2]  # the lower median: no inf - inf
    tail = (1.0 - CI_LEVEL) / 2
    low, high = np.quantile(medians, [tail, 1.0 - tail], method="inverted_cdf")
    return float(low), float(high)


def _rank_groups(table: pd.DataFrame) -> pd.Series:
    """Group 1 = the leader and every entry whose interval overlaps its own; then the next best."""
    groups = pd.Series(pd.NA, index=table.index, dtype="Int64")
    for _, rows in table.dropna(subset=["rank"]).groupby("dataset", sort=False):
        left = rows.sort_values(["rank", "model", "regime"])
        group = 0
        while not left.empty:
            group += 1
            best = left.iloc[0]
            members = left["d_stsp_ci_low"] <= best["d_stsp_ci_high"]
            members.iloc[0] = True
            groups[left.index[members]] = group
            left = left[~members]
    return groups


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


def statistics(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, regime, budget) of :func:`runs_frame` output: counts, divergence
    rate, every metric's median, MAD, mean, std and finite-runs median, the bootstrap interval of
    the median D_stsp, the versions. No ranks: :func:`summarize` adds them to the top rungs."""
    if runs.empty:
        raise ChaosbenchError("no run records to aggregate")
    groups = runs.groupby(RUNG, sort=True)
    counts = pd.crosstab([runs[c] for c in RUNG], runs["status"]).reindex(
        columns=["ok", "diverged", "failed"], fill_value=0
    )
    table = pd.DataFrame({"n_seeds": groups.size(), "wall_time_s": groups["wall_time_s"].sum(),
                          "evaluable": groups["evaluable"].all()})  # fmt: skip
    for status in ("ok", "diverged", "failed"):
        table[f"n_{status}"] = counts[status]
    scored = table["n_ok"] + table["n_diverged"]
    table["divergence_rate"] = (table["n_diverged"] / scored).where(scored > 0)
    metrics = list(directions())
    medians = groups[metrics].median()
    deviation = (runs[metrics] - groups[metrics].transform("median")).abs()
    mads = deviation.groupby([runs[c] for c in RUNG]).median().where(np.isfinite(medians))
    means, stds = groups[metrics].mean(), groups[metrics].std(ddof=1)
    for metric in metrics:
        table[f"{metric}_median"] = medians[metric]
        table[f"{metric}_mad"] = mads[metric]
        table[f"{metric}_mean"] = means[metric]
        table[f"{metric}_std"] = stds[metric]
    finite = runs[metrics].where(np.isfinite(runs[metrics]))
    finite_medians = finite.groupby([runs[c] for c in RUNG]).median()
    for metric in metrics:
        table[f"{metric}_finite_median"] = finite_medians[metric]
    intervals = groups["d_stsp"].apply(lambda v: bootstrap_median_ci(v.to_numpy(dtype=float)))
    table["d_stsp_ci_low"] = [low for low, _ in intervals]
    table["d_stsp_ci_high"] = [high for _, high in intervals]
    for column in VERSION_COLUMNS:
        table[column] = groups[column].agg(lambda values: ",".join(sorted(set(values))))
    return table.reset_index()


def summarize(runs: pd.DataFrame, floors: Mapping[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """The leaderboard table from :func:`runs_frame` output (see the module docstring): the top
    rung of every (dataset, model, regime), ranked.

    ``floors`` maps a dataset to its floor band of D_stsp, ``(low, high)``.
    """
    table = statistics(runs)
    top = table["budget"] == table.groupby(GROUP)["budget"].transform("max")
    table = table[top].reset_index(drop=True)
    table.insert(3, "rank", _ranks(table).astype("Int64"))
    table.insert(4, "rank_group", _rank_groups(table))
    bands = dict(floors or {})
    table.insert(5, "at_floor", [
        (bool(median <= bands[d][1]) if d in bands and not pd.isna(median) else None)
        for d, median in zip(table["dataset"], table["d_stsp_median"])
    ])  # fmt: skip
    forcing = _forcing_gain(table)
    table.insert(table.columns.get_loc("chaosbench_version"), "forcing_regime", forcing["forcing_regime"])
    table.insert(
        table.columns.get_loc("chaosbench_version"), "forcing_gain_d_stsp", forcing["forcing_gain_d_stsp"]
    )
    return table.sort_values(["dataset", "rank", "model", "regime"], na_position="last", ignore_index=True)


REFERENCE_REGIME = "reference"
REFERENCE_ROWS = (  # (row name, key in the stored reference rows)
    ("true system (floor band)", "floor"),
    ("linear VAR(1)", "linear"),
    ("collapse: train mean", "constant"),
    ("escape: outside the box", "escape"),
)


def reference_rows(references: Mapping[str, Mapping]) -> pd.DataFrame:
    """Unranked rows of the datasets' reference scores (``chaosbench.harness.references``)."""
    rows = []
    for dataset, refs in sorted(references.items()):
        for order, (name, key) in enumerate(REFERENCE_ROWS):
            if refs.get(key) is None:  # a recording too short for a floor of its own
                continue
            row = {"dataset": dataset, "model": name, "regime": REFERENCE_REGIME, "reference_order": order}
            for metric in ("d_stsp", "d_h"):
                value = refs[key][metric]
                if key == "floor":
                    row[f"{metric}_median"] = value["median"]
                    if metric == "d_stsp":
                        row["d_stsp_ci_low"], row["d_stsp_ci_high"] = value["q05"], value["q95"]
                else:
                    row[f"{metric}_median"] = value
            rows.append(row)
    return pd.DataFrame(rows)


def reference_scores(rows: pd.DataFrame) -> dict[str, pd.Series]:
    """A dataset's reference rows among its table ``rows``, by key of the stored reference rows
    (``floor``, ``linear``, ``constant``, ``escape``); empty when the table has none."""
    key_of = dict(REFERENCE_ROWS)
    refs = rows[rows["regime"] == REFERENCE_REGIME] if "regime" in rows else rows.iloc[:0]
    return {key_of[row["model"]]: row for _, row in refs.iterrows() if row["model"] in key_of}


def top_rungs(records: Iterable[RunRecord]) -> list[RunRecord]:
    """The records of every (dataset, model, regime) at its top rung: those the table headlines."""
    records = list(records)
    top: dict[tuple[str, str, str], int] = {}
    for r in records:
        cell = (r.key.dataset, r.key.model, r.key.regime)
        top[cell] = max(top.get(cell, 0), budget_of(r))
    return [r for r in records if budget_of(r) == top[r.key.dataset, r.key.model, r.key.regime]]


def learning_curves(records: Iterable[RunRecord]) -> pd.DataFrame:
    """Every rung's row (:func:`statistics`), by dataset, model, regime and budget: quality
    against budget per model and regime. An evaluable model has one row (it ignores the budget)."""
    return statistics(runs_frame(records)).sort_values(RUNG, ignore_index=True)


def aggregate(
    records: Iterable[RunRecord],
    floors: Mapping[str, tuple[float, float]] | None = None,
    references: Mapping[str, Mapping] | None = None,
) -> pd.DataFrame:
    """Records (the datasets' floor bands, their reference rows) -> leaderboard table (a pure
    function); reference rows follow each dataset's ranked rows, unranked."""
    table = summarize(runs_frame(records), floors)
    if not references:
        return table
    refs = reference_rows({d: r for d, r in references.items() if d in set(table["dataset"])})
    merged = pd.concat([table, refs], ignore_index=True)
    merged = merged.sort_values(["dataset", "reference_order", "rank", "model", "regime"], na_position="first",
                                kind="stable", ignore_index=True)  # fmt: skip
    return merged.drop(columns="reference_order")
