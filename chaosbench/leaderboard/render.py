"""The leaderboard table as Markdown, CSV and LaTeX, each stating the versions it was built from."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from chaosbench.leaderboard.aggregate import VERSION_COLUMNS, reference_scores
from chaosbench.metrics import METRICS, scored

NO_VALUE = "\u2013"  # en dash: the cell has no value
RULES = (
    "Cells: median ± MAD over seeds. Diverged runs count with the worst value their record "
    "carries (∞ when none); failed runs are counted but not scored. 'finite' columns: the median "
    "over the runs with a finite value only (as papers that drop non-finite runs report it), to "
    "be read with the divergence rate. Rank per dataset by median D_stsp, then median D_H (lower "
    "is better); Group: entries whose 95% bootstrap interval of the median D_stsp (over seeds) "
    "overlaps the group's best share its group, so their ranks are not distinguishable. At "
    "floor: the median D_stsp lies inside the true system's own floor band. Forcing gain: median "
    "D_stsp under BPTT minus that of the best STF/GTF regime of the same model (positive = "
    "forcing helps)."
)


@dataclass(frozen=True)
class Column:
    """A displayed column: its title per format and how to read its value from a table row."""

    title: str
    latex: str
    field: str
    # "text", "int", "rate", "value", "gain" (signed), "flag" (yes or blank), "spread" (median
    # ± MAD of a metric) or "interval" ([low, high] of ``<field>_low`` / ``<field>_high``)
    kind: str
    help: str = ""  # what the column means, with its unit (the HTML page's header tooltip)

    def sort_value(self, row: pd.Series) -> float | str:
        """The value a table sorts this column by (the median for a spread, the low end of an interval)."""
        field = {"spread": f"{self.field}_median", "interval": f"{self.field}_low"}.get(self.kind, self.field)
        value = row[field]
        if self.kind in ("text", "flag"):
            return str(value)
        return math.nan if pd.isna(value) else float(value)

    def text(self, row: pd.Series) -> str:
        """The cell as text: 3 significant digits, an en dash for no value."""
        if self.kind == "text":
            return str(row[self.field])
        if self.kind == "flag":
            return "yes" if row[self.field] is True else ""
        if self.kind == "spread":
            median, mad = row[f"{self.field}_median"], row[f"{self.field}_mad"]
            return _number(median) + ("" if pd.isna(mad) else f" ± {_number(mad)}")
        if self.kind == "interval":
            low, high = row[f"{self.field}_low"], row[f"{self.field}_high"]
            return NO_VALUE if pd.isna(low) else f"[{_number(low)}, {_number(high)}]"
        value = row[self.field]
        if pd.isna(value):
            return NO_VALUE
        if self.kind == "int":
            return str(int(value))
        if self.kind == "rate":
            return f"{100 * value:.0f}%"
        return ("+" if self.kind == "gain" and value > 0 else "") + _number(value)


def _number(value: float) -> str:
    if pd.isna(value):
        return NO_VALUE
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.3g}"


RANKED_BY = "d_stsp"  # the metric whose interval and floor band the table shows
FINITE_SHOWN = ("d_stsp", "d_h")  # metrics whose finite-runs median has a column of its own


# What each built-in metric means, with its unit (docs/metrics.md has the full definitions); a
# metric registered elsewhere can bring its own text as the registry metadata ``help``.
METRIC_HELP = {
    "d_stsp": "State-space divergence KL(p_true || p_gen) between the invariant measures of the test "
    "data and the freely generated trajectory (30 bins per dimension for N <= 5, Gaussian mixture "
    "above); dimensionless, 0 = same distribution, lower is better",
    "d_h": "Power-spectrum Hellinger distance between data and generated trajectory (spectra smoothed "
    "over 20 frequency bins, values outside the data's box clipped and penalised), mean over "
    "dimensions; in [0, 1], lower is better",
    "lambda_max_error": "Relative error |λ_gen - λ_true| / |λ_true| of the largest Lyapunov exponent, "
    "capped at 10; dimensionless, lower is better",
    "lambda_max_gen": "The model's largest Lyapunov exponent, per time unit of the data (reported, "
    "not ranked: compare it with the dataset's)",
    "spectrum_sign_agreement": "Share of seeds whose leading Lyapunov exponents have the signs of the "
    "true ones clearly away from zero (a flow's zero exponent is not counted); 1 = all agree, "
    "higher is better",
    "pe20": "20-step prediction error: mean squared error of 20-step forecasts from every test point, "
    "in squared units of the z-scored data; lower is better",
    "valid_time": "Valid prediction time in Lyapunov times (units of 1/λ_max): how long a forecast "
    "keeps its normalised RMSE at or below 0.5; higher is better",
}


def _metric_column(
    name: str, title: str = "", latex: str = "", field: str = "", kind: str = "spread", help: str = ""
) -> Column:
    """A column of metric ``name`` titled by its registry label (and LaTeX label) plus a suffix;
    its tooltip is the metric's help text, or ``help`` for a derived column."""
    meta = METRICS.meta(name)
    text = help or meta.get("help") or METRIC_HELP.get(name, "")
    return Column(meta["label"] + title, meta.get("latex", meta["label"]) + latex, field or name, kind, text)


def _metric_columns(name: str) -> list[Column]:
    label = METRICS.meta(name)["label"]
    columns = [_metric_column(name)]
    if name == RANKED_BY:
        columns += [
            _metric_column(name, " 95% CI", r" 95\% CI", f"{name}_ci", "interval",
                           f"95% bootstrap interval of the median {label} over seeds; entries whose "
                           "intervals overlap the best one share its rank group"),
            Column("At floor", "Floor", "at_floor", "flag",
                   f"yes: the median {label} lies inside the true system's own floor band (another "
                   "orbit of the true system scores as much)"),
        ]  # fmt: skip
    if name in FINITE_SHOWN:
        columns.append(_metric_column(name, " finite", " fin.", f"{name}_finite_median", "value",
                                      f"Median {label} over the runs with a finite value only (as papers "
                                      "that drop diverged runs report it); read it with the divergence rate"))  # fmt: skip
    return columns


COLUMNS = (
    Column("Rank", "Rank", "rank", "int", "Rank within the dataset by median D_stsp, then median D_H"),
    Column("Group", "Group", "rank_group", "int",
           "Rank group: entries whose 95% intervals of the median D_stsp overlap are not distinguishable"),
    Column("Model", "Model", "model", "text"),
    Column("Regime", "Regime", "regime", "text",
           "Training regime: bptt (no forcing), stf (sparse teacher forcing), gtf (generalised teacher "
           "forcing); none for models fitted without gradient training (ESN, SINDy)"),
    Column("Seeds", "Seeds", "n_seeds", "int", "Number of seeds (one run record each)"),
    Column("Diverged", "Div.", "divergence_rate", "rate",
           "Share of scored seeds whose generated trajectory diverged (scored with the worst value)"),
    *(column for name in scored() if "on" not in METRICS.meta(name) for column in _metric_columns(name)),
    Column("Forcing gain", "Forcing gain", "forcing_gain_d_stsp", "gain",
           "Median D_stsp under BPTT minus that of the best STF/GTF regime of the same model "
           "(positive = forcing helps)"),
)
# The summary table: one row per dataset, so the dataset takes the place of the rank and group.
LEADER_COLUMNS = (Column("Dataset", "Dataset", "dataset", "text"), *COLUMNS[2:])
LEADERS_TITLE = "Best entry per dataset"


def version_stamp(table: pd.DataFrame) -> str:
    """One line naming every chaosbench, dataset, metric spec and protocol version in the records."""

    def found(column: str) -> str:
        return ", ".join(sorted({v for joined in table[column].dropna() for v in joined.split(",")}))

    labels = {
        "chaosbench_version": "chaosbench",
        "dataset_version": "dataset version",
        "metric_spec": "metric spec",
        "eval_protocol": "evaluation protocol",
    }
    parts = [f"{labels[column]} {found(column)}" for column in VERSION_COLUMNS]
    return "; ".join(parts) + f"; built from {int(table['n_seeds'].sum())} run records"


def by_dataset(table: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """Datasets in name order, each with its rows in rank order."""
    yield from table.groupby("dataset", sort=True)


def leaders(table: pd.DataFrame) -> pd.DataFrame:
    """The first-ranked row of every dataset that has one (ties: the first listed), in table order."""
    return table.dropna(subset=["rank"]).groupby("dataset", sort=True).head(1)


# Names and versions come from records: in Markdown a backslash escape keeps them literal (a '|'
# would end a cell, '*' or '_' start emphasis, '<' a tag); LaTeX gets its own escapes.
_MARKDOWN_ESCAPES = str.maketrans({char: "\\" + char for char in "\\`*_|<>[]"})
_TEX_ESCAPES = str.maketrans({
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#", "_": r"\_",
    "%": r"\%", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}",
    "±": r"$\pm$", NO_VALUE: "--", "∞": r"$\infty$",
})  # fmt: skip


def _md(text: str) -> str:
    return text.translate(_MARKDOWN_ESCAPES)


def reference_note(rows: pd.DataFrame) -> str | None:
    """One sentence saying what a collapse and an escape score on the dataset of ``rows``, and
    where the true system's floor band lies (None without reference rows)."""
    refs = reference_scores(rows)
    if not {"constant", "escape"} <= set(refs):
        return None
    constant, escape, floor = refs["constant"], refs["escape"], refs.get("floor")
    band = (
        f"the true system {_number(floor['d_stsp_median'])} (5 to 95 %: {_number(floor['d_stsp_ci_low'])} "
        f"to {_number(floor['d_stsp_ci_high'])})"
        if floor is not None else "no floor band (the recording's training split is shorter than one scored run)"
    )
    return (
        f"Here a collapse onto the train mean scores D_stsp {_number(constant['d_stsp_median'])} "
        f"(D_H {_number(constant['d_h_median'])}), an escape from the data's box "
        f"{_number(escape['d_stsp_median'])} (D_H {_number(escape['d_h_median'])}), and {band}."
    )


def _markdown_table(rows: pd.DataFrame, columns: tuple[Column, ...]) -> list[str]:
    lines = ["| " + " | ".join(c.title for c in columns) + " |"]
    lines.append("|" + "|".join("---" if c.kind == "text" else "--:" for c in columns) + "|")
    return lines + ["| " + " | ".join(_md(c.text(row)) if c.kind == "text" else c.text(row) for c in columns) + " |"
                    for _, row in rows.iterrows()]  # fmt: skip


CURVES_TITLE = "Sample efficiency: median D_stsp against budget"
CURVES_NOTE = (
    "Each row is one training run per seed, scored at every rung of the suite's budget ladder "
    "(the learning rate decays over the top rung, so a lower rung is a snapshot of the long run, "
    "not a shorter run). The tables above headline the top rung. Evaluable models (regime none) "
    "ignore the budget: their one score is shown at every rung."
)


def curves_markdown(curves: pd.DataFrame) -> list[str]:
    """Per dataset with more than one budget: median D_stsp per model and regime (rows) at each
    budget (columns); empty when no dataset has a ladder."""
    lines: list[str] = []
    for dataset, rows in curves.groupby("dataset", sort=True):
        budgets = sorted(rows.loc[~rows["evaluable"], "budget"].unique())
        if len(budgets) < 2:
            continue
        lines += ["", f"### {_md(dataset)}", "", "| Model | Regime | " + " | ".join(map(str, budgets)) + " |",
                  "|---|---|" + "--:|" * len(budgets)]  # fmt: skip
        for (model, regime), cell in rows.groupby(["model", "regime"], sort=True):
            at = dict(zip(cell["budget"], cell["d_stsp_median"], strict=True))
            values = [cell["d_stsp_median"].iloc[0]] * len(budgets) if cell["evaluable"].all() else [
                at.get(b, math.nan) for b in budgets
            ]
            lines.append(f"| {_md(model)} | {_md(regime)} | " + " | ".join(map(_number, values)) + " |")
    return ["", f"## {CURVES_TITLE}", "", CURVES_NOTE, *lines] if lines else []


def markdown(table: pd.DataFrame, curves: pd.DataFrame | None = None) -> str:
    """The tables; with ``curves`` (:func:`chaosbench.leaderboard.aggregate.learning_curves`) also
    the sample-efficiency section of the datasets that have a budget ladder."""
    lines = ["# chaosbench leaderboard", "", f"*{_md(version_stamp(table))}*", "", RULES]
    lines += ["", f"## {LEADERS_TITLE}", "", *_markdown_table(leaders(table), LEADER_COLUMNS)]
    for dataset, rows in by_dataset(table):
        minutes = rows["wall_time_s"].sum() / 60
        lines += ["", f"## {_md(dataset)}", "", f"*{int(rows['n_seeds'].sum())} runs, {minutes:.0f} minutes of "
                  "training and evaluation in all (one core per run)*", "", *_markdown_table(rows, COLUMNS)]  # fmt: skip
        note = reference_note(rows)
        lines += ["", note] if note else []
    if curves is not None:
        lines += curves_markdown(curves)
    return "\n".join(lines) + "\n"


def csv(table: pd.DataFrame) -> str:
    """Every column of the table; the first line is a ``#`` comment with the version stamp."""
    return f"# chaosbench leaderboard; {version_stamp(table)}\n" + table.to_csv(
        index=False, lineterminator="\n"
    )


def _tex(text: str) -> str:
    return text.translate(_TEX_ESCAPES)


def latex(table: pd.DataFrame) -> str:
    """One ``table`` per dataset (needs ``booktabs``); the caption states the versions."""
    stamp = _tex(version_stamp(table))
    out = [f"% chaosbench leaderboard; {stamp}", f"% {_tex(RULES)}", r"% needs \usepackage{booktabs}"]
    align = "".join("l" if c.kind == "text" else "r" for c in COLUMNS)
    for dataset, rows in by_dataset(table):
        out += [
            r"\begin{table}[ht]", r"\centering", r"\small",
            rf"\caption{{chaosbench leaderboard, dataset \texttt{{{_tex(dataset)}}} ({stamp}).}}",
            rf"\begin{{tabular}}{{{align}}}", r"\toprule",
            " & ".join(c.latex for c in COLUMNS) + r" \\", r"\midrule",
        ]  # fmt: skip
        out += [" & ".join(_tex(c.text(row)) for c in COLUMNS) + r" \\" for _, row in rows.iterrows()]
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(out)
