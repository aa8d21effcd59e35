"""Per-dataset figures of the leaderboard page, drawn from record artifacts only (PNG bytes).

Figures are ``matplotlib.figure.Figure``
objects rendered by Agg, so no global backend is switched and no window opens.

Each model is shown by one representative run: its best-ranked regime that stored artifacts,
and there the seed whose D_stsp is closest to the regime's median (``ok`` runs preferred).
``reference`` holds the true data in the artifact format (``trajectory_sample`` rows x dims,
``power_spectrum`` dims x bins); without it only the models are drawn.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from chaosbench.records import RunRecord
from chaosbench.leaderboard.aggregate import reference_scores, runs_frame
from chaosbench.metrics import METRICS


def representatives(records: Sequence[RunRecord], rows: pd.DataFrame) -> dict[str, RunRecord]:
    """Model -> its representative run among ``records`` (``rows``: the dataset's table rows in rank order)."""
    cells = list(zip(rows["model"], rows["regime"], strict=True))
    order = {cell: i for i, cell in enumerate(cells)}
    median = dict(zip(cells, rows["d_stsp_median"], strict=True))

    def preference(r: RunRecord) -> tuple[int, bool, float, int]:
        cell = (r.key.model, r.key.regime)
        value = r.metrics.get("d_stsp")
        close = value is not None and math.isfinite(median[cell])
        distance = abs(value - median[cell]) if close else math.inf
        return order[cell], r.status != "ok", distance, r.key.seed

    chosen: dict[str, RunRecord] = {}
    for record in sorted((r for r in records if r.artifacts and r.status != "failed"), key=preference):
        chosen.setdefault(record.key.model, record)
    return dict(sorted(chosen.items()))


# tab20 without its two greys (grey is the data's colour): the ten strong colours, then their
# light partners, so up to 18 models get distinct colours.
_PALETTE = [colormaps["tab20"](i) for i in (*range(0, 20, 2), *range(1, 20, 2)) if i not in (14, 15)]


def model_colors(models: Sequence[str]) -> dict[str, Any]:
    """One colour per model, by position in ``models`` (pass every model of the page, sorted, so
    a model keeps its colour in every dataset); never a grey."""
    return {model: _PALETTE[i % len(_PALETTE)] for i, model in enumerate(models)}


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


DRAW_LIMIT = 1e3  # z-scored data: points beyond this are off any readable scale (and break ticks)


def _draw_trajectory(ax: Any, points: np.ndarray, **style: Any) -> None:
    points = points[(np.abs(points) < DRAW_LIMIT).all(axis=1)]  # also drops non-finite points
    if len(points) == 0:
        return
    if points.shape[1] == 1:
        ax.plot(points[:500, 0], lw=0.8, **style)
    else:
        ax.plot(*points.T, ls="none", marker=".", ms=1.0, **style)


def attractors(
    reps: Mapping[str, RunRecord], colors: Mapping[str, Any], reference: Mapping[str, Any]
) -> bytes | None:
    """One panel per model: its generated trajectory over the true data (grey), if given."""
    truth = reference.get("trajectory_sample")
    panels = {
        m: np.asarray(r.artifacts["trajectory_sample"], float)
        for m, r in reps.items()
        if "trajectory_sample" in r.artifacts
    }
    if not panels:
        return None
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(3.2 * ncols, 3.0 * nrows), layout="constrained")
    for i, (model, points) in enumerate(panels.items()):
        three_d = points.shape[1] == 3
        ax = fig.add_subplot(nrows, ncols, i + 1, **({"projection": "3d"} if three_d else {}))
        if truth is not None:
            _draw_trajectory(ax, np.asarray(truth, float)[:, : points.shape[1]], color="0.6", alpha=0.5)
        _draw_trajectory(ax, points, color=colors[model])
        ax.set_title(f"{model} ({reps[model].key.regime}, seed {reps[model].key.seed})", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle("Generated trajectory" + (" vs. data (grey)" if truth is not None else ""), fontsize=10)
    return _png(fig)


def spectra(
    reps: Mapping[str, RunRecord], colors: Mapping[str, Any], reference: Mapping[str, Any]
) -> bytes | None:
    """Power spectra per observed dimension: data (black) and each model."""
    curves = {
        m: np.asarray(r.artifacts["power_spectrum"], float)
        for m, r in reps.items()
        if "power_spectrum" in r.artifacts
    }
    truth = reference.get("power_spectrum")
    if truth is not None:
        curves = {"data": np.asarray(truth, float), **curves}
    if not curves:
        return None
    dims = max(c.shape[0] for c in curves.values())
    fig = Figure(figsize=(3.6 * dims, 2.8))
    axes = fig.subplots(1, dims, squeeze=False)[0]
    for name, curve in curves.items():
        style = {"color": "black", "lw": 1.6} if name == "data" else {"color": colors[name], "lw": 0.9}
        for d, ax in enumerate(axes[: curve.shape[0]]):
            freq = np.linspace(0.0, 1.0, curve.shape[1])
            ax.plot(freq, np.where(curve[d] > 0, curve[d], np.nan), label=name, **style)
    for d, ax in enumerate(axes):
        ax.set_yscale("log")
        ax.set_xlabel("frequency / Nyquist", fontsize=8)
        ax.set_title(f"dimension {d + 1}", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[-1].legend(fontsize=7, loc="upper right")
    return _png(fig)


def d_stsp_by_regime(
    records: Sequence[RunRecord], colors: Mapping[str, Any], band: tuple[float, float] | None = None
) -> bytes | None:
    """Every scored seed's D_stsp, by regime and model; non-finite ones on a ceiling line;
    ``band``, the true system's floor band (5 to 95 %), shaded behind them."""
    runs = runs_frame(records).dropna(subset=["d_stsp"])
    if runs.empty:
        return None
    regimes, models = sorted(runs["regime"].unique()), sorted(runs["model"].unique())
    finite = runs["d_stsp"][np.isfinite(runs["d_stsp"])]
    ceiling = 1.15 * finite.max() if not finite.empty and finite.max() > 0 else 1.0
    fig = Figure(figsize=(min(12.0, 3.0 + 0.35 * len(regimes) * len(models)), 3.2))
    ax = fig.subplots()
    width = 0.8 / len(models)
    labelled: set[str] = set()  # each model once in the legend, from its first regime with runs
    for j, model in enumerate(models):
        for i, regime in enumerate(regimes):
            cell = runs[(runs["model"] == model) & (runs["regime"] == regime)]
            if cell.empty:
                continue
            x = i - 0.4 + width * (j + 0.5)
            values = np.minimum(cell["d_stsp"].to_numpy(), ceiling)
            jitter = np.linspace(-0.25, 0.25, len(values)) * width
            diverged = (cell["status"] == "diverged").to_numpy()
            ax.scatter(x + jitter[~diverged], values[~diverged], s=14, color=colors[model],
                       label=None if model in labelled else model)  # fmt: skip
            labelled.add(model)
            ax.scatter(x + jitter[diverged], values[diverged], s=22, marker="x", color=colors[model])
            ax.hlines(
                min(np.median(cell["d_stsp"]), ceiling),
                x - width / 2.5,
                x + width / 2.5,
                color=colors[model],
                lw=2,
            )
    if band is not None:
        ax.axhspan(*band, color="0.85", lw=0, zorder=0, label="true system (5 to 95 %)")
    ax.axhline(ceiling, color="0.5", ls=":", lw=0.8)
    ax.annotate("not finite", (len(regimes) - 0.5, ceiling), fontsize=7, color="0.4", ha="right", va="bottom")
    ax.set_xticks(range(len(regimes)), regimes)
    ax.set_xlim(-0.5, len(regimes) - 0.5)
    label = METRICS.meta("d_stsp")["label"]
    ax.set_ylabel(f"{label} (lower is better)", fontsize=8)
    ax.set_title(f"{label} by regime (x: diverged run, bar: median)", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def floor_band(rows: pd.DataFrame) -> tuple[float, float] | None:
    """The true system's D_stsp floor band (5 %, 95 %) from a dataset's reference rows, if any."""
    floor = reference_scores(rows).get("floor")
    return None if floor is None else (float(floor["d_stsp_ci_low"]), float(floor["d_stsp_ci_high"]))


def dataset_figures(
    records: Sequence[RunRecord],
    rows: pd.DataFrame,
    reference: Mapping[str, Any],
    colors: Mapping[str, Any] | None = None,
) -> list[tuple[str, bytes]]:
    """(caption, PNG) pairs for one dataset (figures without data are left out); ``colors``
    (model -> colour, default :func:`model_colors` of the dataset's models) fixes them across pages."""
    reps = representatives(records, rows)
    colors = colors or model_colors(sorted({r.key.model for r in records}))
    figures = [
        ("Attractor: data vs. model", attractors(reps, colors, reference)),
        ("Power spectra", spectra(reps, colors, reference)),
        (f"{METRICS.meta('d_stsp')['label']} by regime", d_stsp_by_regime(records, colors, floor_band(rows))),
    ]
    return [(caption, png) for caption, png in figures if png is not None]


def learning_curve(curves: pd.DataFrame, floor: tuple[float, float] | None = None) -> bytes | None:
    """Median D_stsp against budget for one dataset's rows of
    :func:`chaosbench.leaderboard.aggregate.learning_curves`: a line per model and regime with
    its 95% bootstrap interval shaded, evaluable models (budget-free) as dashed horizontal lines,
    non-finite medians on a ceiling line, the dataset's ``floor`` band (low, high) in grey. None
    without at least two budgets."""
    trained = curves[~curves["evaluable"]]
    budgets = sorted(trained["budget"].unique())
    if len(budgets) < 2:
        return None
    finite = curves["d_stsp_median"][np.isfinite(curves["d_stsp_median"])]
    ceiling = 1.15 * finite.max() if not finite.empty and finite.max() > 0 else 1.0
    colors = model_colors(sorted(curves["model"].unique()))
    fig = Figure(figsize=(5.2, 3.4))
    ax = fig.subplots()
    styles = ("-", "--", "-.", ":")
    for i, ((model, regime), cell) in enumerate(trained.groupby(["model", "regime"], sort=True)):
        cell = cell.sort_values("budget")
        x = cell["budget"].to_numpy(float)
        y = np.minimum(cell["d_stsp_median"].to_numpy(float), ceiling)
        low = np.minimum(cell["d_stsp_ci_low"].to_numpy(float), ceiling)
        high = np.minimum(cell["d_stsp_ci_high"].to_numpy(float), ceiling)
        ax.plot(x, y, marker="o", ms=3, lw=1.2, ls=styles[i % len(styles)], color=colors[model],
                label=f"{model} ({regime})")  # fmt: skip
        ax.fill_between(x, low, high, color=colors[model], alpha=0.12, lw=0)
    for (model, regime), cell in curves[curves["evaluable"]].groupby(["model", "regime"], sort=True):
        level = min(float(cell["d_stsp_median"].iloc[0]), ceiling)
        ax.hlines(level, budgets[0], budgets[-1], color=colors[model], ls=(0, (2, 2)), lw=1.0,
                  label=f"{model} (any budget)")  # fmt: skip
    if floor is not None:
        ax.axhspan(*floor, color="0.85", lw=0, zorder=0, label="true system (5 to 95 %)")
    ax.axhline(ceiling, color="0.5", ls=":", lw=0.8)
    ax.annotate("not finite", (budgets[-1], ceiling), fontsize=7, color="0.4", ha="right", va="bottom")
    ax.set_xscale("log")
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.minorticks_off()
    ax.set_xlabel("budget (gradient updates)", fontsize=8)
    ax.set_ylabel("median D_stsp (lower is better)", fontsize=8)
    ax.set_title("Learning curve: one run per seed, scored at each rung", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)
