"""The static leaderboard page: one self-contained ``index.html`` (inline CSS, JS and PNG plots).

Tables sort by clicking a column header (a few lines of plain JavaScript, no library, no
network); hovering a header shows what the metric means and its unit. The layout fits a
1 280 px wide window: wide tables scroll inside their own box instead of being cut off.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from chaosbench.leaderboard import plots
from chaosbench.records import RunRecord
from chaosbench.leaderboard.render import (
    COLUMNS, LEADER_COLUMNS, LEADERS_TITLE, RULES, Column, by_dataset, leaders, reference_note, version_stamp,
)

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1240px; padding: 0 .75em; color: #222; }
h1 { margin-bottom: .2em; } .stamp { color: #555; font-style: italic; } .note { color: #555; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: .3em .4em; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
th { cursor: pointer; user-select: none; background: #f3f3f3; white-space: normal; vertical-align: bottom; }
th[title] { text-decoration: underline dotted #999; }
th.text, td.text { text-align: left; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
tbody tr:nth-child(even) { background: #fafafa; } .mad { color: #666; font-size: 11px; }
figure { display: inline-block; margin: .5em 1em .5em 0; vertical-align: top; max-width: 100%; }
figure img { max-width: 100%; } figcaption { color: #555; font-size: 12px; }
.card dl { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; margin: .3em 0 1em; }
.card dt { color: #555; } .card dd { margin: 0; overflow-wrap: anywhere; }
"""

# Numbers sort by their data-sort value (empty = no value, always last); text alphabetically.
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var headers = Array.from(table.tHead.rows[0].cells);
  headers.forEach(function (th, col) {
    th.addEventListener("click", function () {
      var up = th.getAttribute("aria-sort") !== "ascending";
      headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      var numeric = th.classList.contains("num");
      var key = function (tr) {
        var v = tr.cells[col].dataset.sort;
        return numeric ? (v === "" ? NaN : parseFloat(v)) : v;
      };
      var rows = Array.from(table.tBodies[0].rows);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (numeric && (isNaN(x) || isNaN(y))) { return isNaN(x) - isNaN(y); }
        var order = numeric ? (x > y) - (x < y) : x.localeCompare(y);
        return up ? order : -order;
      });
      rows.forEach(function (tr) { table.tBodies[0].appendChild(tr); });
    });
  });
});
"""


def _sort_attr(value: float | str) -> str:
    if isinstance(value, str):
        return escape(value)
    return "" if value != value else repr(value).replace("inf", "Infinity")


def _cell(text: str) -> str:
    """A cell's HTML: a spread's MAD on a second, smaller line (it halves the widest columns)."""
    median, sep, mad = text.partition(" ± ")
    return escape(median) + (f'<br><span class="mad">± {escape(mad)}</span>' if sep else "")


def _table(rows: pd.DataFrame, columns: tuple[Column, ...] = COLUMNS) -> str:
    head = "".join(
        f'<th class="{"text" if c.kind == "text" else "num"}" scope="col"'
        + (f' title="{escape(c.help)}"' if c.help else "")
        + f">{escape(c.title)}</th>"
        for c in columns
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"text" if c.kind == "text" else "num"}" data-sort="{_sort_attr(c.sort_value(row))}">'
            f"{_cell(c.text(row))}</td>"
            for c in columns
        )
        + "</tr>\n"
        for _, row in rows.iterrows()
    )
    return f'<div class="scroll"><table class="sortable">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table></div>'


def _figure(caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(caption)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _link(url: str) -> str:
    """A link for a web address; any other text (a ``javascript:`` one too) stays text."""
    if url.startswith(("https://", "http://")):
        return f'<a href="{escape(url)}">{escape(url)}</a>'
    return escape(url)


def _card(card: Mapping[str, Any]) -> str:
    """One submitted model's card: what it is, its hyperparameters and size, code and citation."""
    size = next((v for k, v in card.items() if k.startswith("n_parameters_at")), None)
    hyper = card.get("hyperparameters") or {}
    code = card.get("code")
    rows = [
        ("model", escape(f"{card['model']} ({card.get('kind', 'latent')}), suite {card.get('suite')}")),
        ("hyperparameters", escape(", ".join(f"{k}={v}" for k, v in hyper.items()) or "none")),
        ("parameters", escape(f"{size:,}" if isinstance(size, int) else f"unknown ({card.get('n_parameters_counted')})")),
        ("code", _link(code) if code else "not given"),
        ("citation", escape(card.get("citation") or "not given")),
    ]
    items = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    name = escape(card["name"])
    return f'<article class="card" id="card-{name}"><h3>{name}</h3><dl>{items}</dl></article>'


METRICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"  # in a source checkout


def metrics_link(out_dir: str | os.PathLike[str]) -> str | None:
    """The relative link from a page in ``out_dir`` to docs/metrics.md of the checkout (None
    when chaosbench runs from an installed wheel, which has no docs)."""
    if not METRICS_DOC.is_file():
        return None
    return Path(os.path.relpath(METRICS_DOC, Path(out_dir).resolve())).as_posix()


LEARNING_CURVE_CAPTION = "Learning curve: median D_stsp at every rung of the budget ladder"


def page(
    table: pd.DataFrame,
    records: Sequence[RunRecord],
    reference: Mapping[str, Mapping[str, Any]] | None = None,
    cards: Sequence[Mapping[str, Any]] = (),
    metrics_doc: str | None = None,
    curves: Mapping[str, bytes] | None = None,
) -> str:
    """The whole page. ``reference`` maps a dataset to its true data in the artifact format;
    ``cards`` are the model cards of submitted models; ``metrics_doc`` is the link to the metric
    definitions (docs/metrics.md), named in plain text when not given; ``curves`` maps a dataset
    to its learning-curve PNG (a budget ladder)."""
    doc = f'<a href="{escape(metrics_doc)}">docs/metrics.md</a>' if metrics_doc else "docs/metrics.md"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>chaosbench leaderboard</title><style>{STYLE}</style></head><body>",
        "<h1>chaosbench leaderboard</h1>",
        f'<p class="stamp">{escape(version_stamp(table))}</p>',
        f"<p>{escape(RULES)} Click a column header to sort; hover over it for the metric's "
        f"definition and unit (all definitions: {doc}).</p>",
    ]
    parts += [f"<section><h2>{LEADERS_TITLE}</h2>", _table(leaders(table), LEADER_COLUMNS), "</section>"]
    if cards:
        parts += ['<section id="submitted"><h2>Submitted models</h2>', *map(_card, cards), "</section>"]
    colors = plots.model_colors(sorted({r.key.model for r in records}))  # one colour per model on the page
    for dataset, rows in by_dataset(table):
        parts += [f'<section id="{escape(dataset)}"><h2>{escape(dataset)}</h2>', _table(rows)]
        note = reference_note(rows)
        parts += [f'<p class="note">{escape(note)}</p>'] if note else []
        mine = [r for r in records if r.key.dataset == dataset]
        figures = plots.dataset_figures(mine, rows, (reference or {}).get(dataset, {}), colors)
        parts += [_figure(caption, png) for caption, png in figures]
        if dataset in (curves or {}):
            parts.append(_figure(LEARNING_CURVE_CAPTION, curves[dataset]))
        parts.append("</section>")
    parts += [f"<script>{SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts) + "\n"
