"""The study's figures as PNG bytes (matplotlib, the optional extra ``plots``; Agg, no window).

Each function takes the tables of :mod:`.findings` and returns ``None`` when it has nothing
to draw.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from chaosbench.studies.mikhaeil2022.findings import METRICS

CHAOTIC, REGULAR = "tab:red", "tab:blue"


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def forcing(tables: Mapping[str, Sequence[dict[str, Any]]]) -> bytes | None:
    """D_stsp and D_H vs ``tau / tau_pred`` (log x) per dataset: seeds, median, BPTT, ``tau_pred``."""
    if not tables:
        return None
    fig = Figure(figsize=(9, 3.2 * len(tables)), layout="constrained")
    axes = fig.subplots(len(tables), len(METRICS), squeeze=False)
    for row, (dataset, rows) in zip(axes, tables.items()):
        stf = [r for r in rows if r["tau"] is not None]
        x = np.array([r["tau_over_pred"] for r in stf])
        for ax, (key, label) in zip(row, METRICS):
            for xi, r in zip(x, stf):
                ax.scatter(np.full(len(r[f"{key}_seeds"]), xi), r[f"{key}_seeds"], s=10, color="0.55", zorder=2)
            ax.plot(x, [r[key] for r in stf], "o-", color="tab:green", label="STF median", zorder=3)
            for r in rows:
                if r["tau"] is None:
                    ax.axhline(r[key], color="tab:purple", ls="--", lw=1, label="BPTT median")
            ax.axvline(1.0, color="k", ls=":", lw=1, label="tau = tau_pred")
            ax.set_xscale("log")
            ax.set_xlabel("tau / tau_pred")
            ax.set_ylabel(f"{label} (lower is better)")
            ax.set_title(f"{dataset}: {label}", fontsize=10)
    axes[0][-1].legend(fontsize=7)
    return _png(fig)


def gradients(rows: Sequence[dict[str, Any]]) -> bytes | None:
    """Median gradient norm vs free-run length (log-log), red: ``lambda_max > 0``, blue: not."""
    if not rows:
        return None
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for r in rows:
        color = CHAOTIC if r["chaotic"] else REGULAR
        ax.plot(r["lengths"], r["grad_norm"], "-", marker=".", color=color, lw=1, alpha=0.8)
    ax.plot([], [], color=CHAOTIC, label="lambda_max > 0 (chaotic)")
    ax.plot([], [], color=REGULAR, label="lambda_max <= 0 (stable / cyclic)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("free-run length T (steps)")
    ax.set_ylabel("||d loss / d params|| (median over windows)")
    ax.set_title("Loss gradient norm vs sequence length", fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig)


def training_spectrum(results: Sequence[dict[str, Any]], n_exponents: int = 2) -> bytes | None:
    """Leading exponents (per time unit) vs update, one panel per regime; true ``lambda_max``."""
    if not results:
        return None
    fig = Figure(figsize=(5 * len(results), 3.4), layout="constrained")
    axes = fig.subplots(1, len(results), squeeze=False, sharey=True)[0]
    for ax, r in zip(axes, results):
        for k, color in zip(range(n_exponents), ("tab:red", "tab:orange", "tab:olive")):
            curves = []
            for s in r["seeds"]:
                values = [np.nan if e[k] is None else e[k] for e in s["exponents"]]
                ax.plot(s["updates"], values, color=color, lw=0.6, alpha=0.4)
                curves.append(values)
            ax.plot(r["seeds"][0]["updates"], np.nanmedian(np.array(curves, dtype=float), axis=0),
                    color=color, lw=2, label=f"lambda_{k + 1} (median)")  # fmt: skip
        ax.axhline(r["lambda_max_true"], color="k", ls="--", lw=1, label="true lambda_max")
        ax.axhline(0.0, color="0.6", lw=0.6)
        name = r["regime"]["name"] + (f" (tau = {r['regime']['tau']})" if "tau" in r["regime"] else "")
        ax.set_title(f"{r['dataset']}: {name}", fontsize=10)
        ax.set_xlabel("gradient update")
    axes[0].set_ylabel("Lyapunov exponent (per time unit)")
    axes[-1].legend(fontsize=7)
    return _png(fig)
