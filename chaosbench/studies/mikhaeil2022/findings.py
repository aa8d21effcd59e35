"""The numbers the report states, computed from the parts' results (no hand-written claims).

Each ``*_rows`` function tabulates a part; each ``*_checks`` function compares it with a finding
of the papers and says, per check, whether the numbers agree. The thresholds are fixed here:

- *near tau_pred*: the optimal ``tau`` lies within a factor :data:`NEAR` of ``tau_pred`` (when
  all ``tau`` score the same to within :data:`FLAT`, there is no optimum and this fails);
- *U-shape*: the medians at the smallest and at the largest ``tau`` both exceed the optimum's;
- a model is *chaotic* when ``lambda_max > CHAOS_TOL x`` the dataset's ``lambda_max``, else
  stable or cyclic; its gradient norm *diverges* when it grows by more than :data:`GROWS` from
  the length nearest ``T_max / 10`` to ``T_max``, and is *bounded* when it grows by less than
  :data:`BOUNDED`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chaosbench.metrics import METRICS as METRIC_TABLE

NEAR = 3.0
FLAT = 1e-3  # STF medians spanning less than this fraction of the best: no optimum to locate
CHAOS_TOL = 0.05
GROWS = 10.0
BOUNDED = 2.0
METRICS = tuple((key, METRIC_TABLE.meta(key)["label"]) for key in ("d_stsp", "d_h"))  # (key, label)


def median(values: Sequence[float | None], missing: float = math.inf) -> float:
    """Median of ``values``, ``None`` (not finite) taken as ``missing`` (NaN: left out)."""
    arr = np.array([missing if v is None else v for v in values], dtype=float)
    arr = arr[~np.isnan(arr)]
    return float(np.median(arr)) if arr.size else math.nan


def forcing_rows(results: Sequence[dict[str, Any]], dataset: str) -> list[dict[str, Any]]:
    """One row per configuration on ``dataset`` (BPTT first, then ``tau`` increasing)."""
    mine = [r for r in results if r["dataset"] == dataset]
    mine.sort(key=lambda r: (r["tau"] is not None, r["tau"] or 0))
    rows = []
    for r in mine:
        seeds = _scored(r)
        row = {
            "label": r["label"], "tau": r["tau"], "tau_over_pred": r["tau_over_pred"],
            "seq_len": r["seq_len"], "batch_size": r["batch_size"], **_medians(seeds),
            "failed": len(r["seeds"]) - len(seeds),
            "lambda_max_gen": median([s["lambda_max_gen"] for s in seeds], math.nan),
            "wall_time": r["wall_time"],
        }  # fmt: skip
        rows.append({**row, **{f"{key}_seeds": [s[key] for s in seeds] for key, _ in METRICS}})
    return rows


def _scored(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A configuration's seeds that were scored (failed ones are left out)."""
    return [s for s in result["seeds"] if s["status"] != "failed"]


def _medians(seeds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Seed count, diverged count and the median of each metric (diverged seeds at the worst values)."""
    return {"n": len(seeds), "diverged": sum(s["status"] == "diverged" for s in seeds),
            **{key: median([s[key] for s in seeds]) for key, _ in METRICS}}  # fmt: skip


def sampling_floor(train: np.ndarray, test: np.ndarray, n_test: int | None) -> dict[str, float]:
    """D_stsp and D_H of the true system against itself: ``train`` (another orbit) vs ``test``.

    Both series are cut to the evaluation length; what a perfect reconstruction would score on
    that finite sample, so model scores near it cannot be told apart.
    """
    from chaosbench.metrics import power_spectrum_distance, state_space_divergence

    n = min(len(train), len(test), n_test or len(test))
    return {"d_stsp": float(state_space_divergence(test[:n], train[:n])),
            "d_h": float(power_spectrum_distance(test[:n], train[:n])), "n": n}  # fmt: skip


def forcing_checks(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per metric: where the optimum lies, whether it is near ``tau_pred``, U-shaped, beats BPTT."""
    stf = [r for r in rows if r["tau"] is not None]
    bptt = next((r for r in rows if r["tau"] is None), None)
    checks = []
    for key, label in METRICS:
        values = [r[key] for r in stf]
        if not stf or not all(math.isfinite(v) for v in values):
            continue
        best = stf[int(np.argmin(values))]
        ratio = best["tau_over_pred"]
        flat = max(values) - min(values) <= FLAT * max(abs(best[key]), 1e-12)
        checks.append({
            "metric": label, "best_tau": best["tau"], "best_ratio": ratio, "best": best[key], "flat": flat,
            "near": not flat and 1.0 / NEAR <= ratio <= NEAR,
            "u_shape": stf[0][key] > best[key] and stf[-1][key] > best[key],
            "first": stf[0][key], "last": stf[-1][key],
            "bptt": bptt[key] if bptt else math.nan,
            # by more than rounding: equal scores (e.g. all at the worst value) do not count
            "beats_bptt": bool(bptt) and best[key] < bptt[key] - FLAT * abs(bptt[key]),
        })  # fmt: skip
    return checks


def per_model_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Part 1b, one row per (dataset, model) in the order run: per fraction of tau_pred the
    median D_stsp and D_H over seeds (diverged seeds at the worst values, failed ones left out)
    and the diverged count; the fraction with the lowest median D_stsp and the rule v3 fraction."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in results:
        row = rows.setdefault((r["dataset"], r["model"]), {
            "dataset": r["dataset"], "model": r["model"], "rule_fraction": r["rule_fraction"], "cells": {},
        })  # fmt: skip
        row["cells"][r["fraction"]] = {"tau": r["tau"], **_medians(_scored(r))}
    for row in rows.values():
        row["best_fraction"] = min(row["cells"], key=lambda f: row["cells"][f]["d_stsp"])
    return list(rows.values())


def gradient_rows(results: Sequence[dict[str, Any]], lambda_true: float, dt: float) -> list[dict[str, Any]]:
    """One row per model: its ``lambda_max``, class, gradient norms, growth and fitted rate."""
    rows = []
    for r in results:
        lengths = np.array(r["lengths"], dtype=float)
        g = np.array([math.inf if v is None else v for v in r["grad_norm_median"]], dtype=float)
        ref = int(np.argmin(np.abs(lengths - lengths[-1] / 10)))
        lam = r["lambda_max"]
        tail = (lengths >= lengths[ref]) & np.isfinite(g) & (g > 0)
        rate = float(np.polyfit(lengths[tail], np.log(g[tail]), 1)[0]) if tail.sum() >= 2 else math.nan
        rows.append({
            "label": r["label"], "lambda_max": lam,
            "chaotic": lam is not None and lam > CHAOS_TOL * lambda_true,
            "t_ref": int(lengths[ref]), "t_max": int(lengths[-1]),
            "g_min": g[0], "g_ref": g[ref], "g_max": g[-1],
            "growth": g[-1] / g[ref] if g[ref] > 0 else math.nan,
            "rate": rate, "lambda_step": lam * dt if lam is not None else math.nan,
            "lengths": lengths.tolist(), "grad_norm": g.tolist(),
        })  # fmt: skip
    return rows


def gradient_checks(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How many chaotic models' gradients diverge and how many stable/cyclic ones stay bounded."""
    chaotic = [r for r in rows if r["chaotic"]]
    regular = [r for r in rows if not r["chaotic"]]
    return {
        "n_chaotic": len(chaotic),
        "n_chaotic_diverging": sum(r["growth"] > GROWS for r in chaotic),
        "n_regular": len(regular),
        "n_regular_bounded": sum(r["growth"] < BOUNDED for r in regular),
        "min_growth_chaotic": min((r["growth"] for r in chaotic), default=math.nan),
        "max_growth_regular": max((r["growth"] for r in regular), default=math.nan),
    }


def spectrum_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per regime: the leading exponent (median over seeds) at the first and last record."""
    rows = []
    for r in results:
        first = [s["exponents"][0][0] if s["exponents"] else None for s in r["seeds"]]
        last = [s["exponents"][-1][0] if s["exponents"] else None for s in r["seeds"]]
        final = median(last, math.nan)
        true = r["lambda_max_true"]
        rows.append({
            "regime": r["regime"]["name"], "tau": r["regime"].get("tau"),
            "update": r["seeds"][0]["updates"][-1] if r["seeds"][0]["updates"] else 0,
            "first": median(first, math.nan), "last": final, "true": true,
            "error": abs(final - true) / true if math.isfinite(final) else math.inf,
            "chaotic_seeds": sum(v is not None and v > CHAOS_TOL * true for v in last),
            "n": len(last),
        })  # fmt: skip
    return rows
