"""Reference rows of a dataset: what the true system, a constant and a linear model score on it.

Every table shows, per dataset, the scores a model should be read against, computed by the
evaluation protocol's own free-run scoring (:func:`chaosbench.harness.evaluate.run_metrics`, K
runs per sample, the mean over runs) at the test length the suite scores:

- **floor**: the true system itself. :data:`FLOOR_SAMPLES` samples, each K fresh orbits from
  other initial conditions on the attractor (:func:`chaosbench.data.generate.independent_orbits`)
  scored against the test series; the band is their 5 %, 50 % and 95 % quantiles. A model inside
  it is as close to the test series as another stretch of the true attractor. For a recording
  without equations the orbits are stretches of its training split (the floor of the data);
  a training split shorter than one scored run has no floor (stored as ``null``).
- **constant**: the training mean repeated, the score of a collapse onto a fixed point.
- **linear**: a least-squares VAR(1) ``x_{t+1} = A x_t + b`` fitted to the training split, run
  freely from the same K test states as the models: what no nonlinearity reaches.
- **escape**: the documented worst value, a run that leaves the attractor's box.

The results are stored as ``<data dir>/references/<dataset>.json`` and rebuilt identically
from their seeds (``chaosbench references build`` / ``verify``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from chaosbench.errors import ChaosbenchError
from chaosbench.harness.evaluate import EVAL_PROTOCOL_VERSION, EvalSettings, run_metrics, statistics
from chaosbench.records import atomic_write, canonical_json

REFERENCES_VERSION = "1"
FLOOR_SAMPLES = 16
FLOOR_QUANTILES = (0.05, 0.5, 0.95)
SCORES = ("d_stsp", "d_h")
VERIFY_RTOL = 1e-6


def references_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    from chaosbench.data.store import data_dir as resolve

    return resolve(data_dir) / "references"


def _mean_scores(test: np.ndarray, runs: np.ndarray, settings: EvalSettings, standardise: Any) -> dict[str, float]:
    """The protocol's score of ``runs`` ``(n_gen, K, N)``: per metric, the mean over runs."""
    starts = settings.run_starts(len(test))[: runs.shape[1]]
    scores = run_metrics(test, runs, starts, settings.transient, 1.0, 1.0, standardise)
    return {name: float(np.mean(scores[name])) for name in SCORES}


def linear_runs(train: np.ndarray, x0: np.ndarray, n_gen: int) -> np.ndarray:
    """Free runs ``(n_gen, K, N)`` of the least-squares VAR(1) fitted to ``train`` from ``x0``."""
    x = np.asarray(train, dtype=np.float64)
    design = np.hstack([x[:-1], np.ones((len(x) - 1, 1))])
    coef, *_ = np.linalg.lstsq(design, x[1:], rcond=None)
    a, b = coef[:-1], coef[-1]
    out = np.empty((n_gen, *x0.shape))
    state = np.asarray(x0, dtype=np.float64)
    for t in range(n_gen):
        out[t] = state
        state = state @ a + b
    return out


def _floor_runs(dataset: Any, n_gen: int, k: int, data_dir: str | None) -> np.ndarray | None:
    """``(n_gen, FLOOR_SAMPLES * k, N)`` true-system runs; columns ``s k`` to ``(s + 1) k`` are
    floor sample ``s`` (its orbits drawn from seed ``s``, all samples integrated as one batch).
    None for a recording whose training split is shorter than one run."""
    from chaosbench.data.card import read as read_card
    from chaosbench.data.generate import independent_orbits
    from chaosbench.data.store import data_dir as resolve_data_dir
    from chaosbench.data.store import load_npz

    if not _has_equations(dataset):  # a recording: stretches of its training split
        train = np.asarray(dataset.train, dtype=np.float64)
        if len(train) < n_gen:
            return None
        offsets = np.linspace(0, len(train) - n_gen, FLOOR_SAMPLES * k).round().astype(int)
        return np.stack([train[o : o + n_gen] for o in offsets], axis=1)
    base = resolve_data_dir(data_dir)
    arrays = load_npz(base / f"{dataset.name}.npz")
    card = read_card(base / f"{dataset.name}.yaml")
    return independent_orbits(card, arrays["mean"], arrays["std"], k, n_gen, seeds=range(FLOOR_SAMPLES))


def _has_equations(dataset: Any) -> bool:
    return bool((getattr(dataset, "card", None) or {}).get("system"))


def compute(dataset: Any, settings: EvalSettings, data_dir: str | None = None) -> dict[str, Any]:
    """The reference rows of ``dataset`` at ``settings``' test length (see the module docstring)."""
    from chaosbench.metrics import METRIC_SPEC_VERSION, worst_values

    test = settings.test_series(dataset.test)
    n_gen = settings.generated_length(len(test))
    starts = settings.run_starts(len(test))
    k, standardise = len(starts), statistics(dataset.train)
    orbits = _floor_runs(dataset, n_gen, k, data_dir)
    floors = [] if orbits is None else [
        _mean_scores(test, orbits[:, s * k : (s + 1) * k], settings, standardise) for s in range(FLOOR_SAMPLES)
    ]
    mean = np.asarray(dataset.train, dtype=np.float64).mean(axis=0)
    constant = np.broadcast_to(mean, (n_gen, k, len(mean)))
    worst = worst_values(test, n_gen - settings.transient, standardise=standardise)
    return {
        "dataset": dataset.name,
        "dataset_sha256": dataset.sha256,
        "version": REFERENCES_VERSION,
        "eval_protocol": EVAL_PROTOCOL_VERSION,
        "metric_spec": METRIC_SPEC_VERSION,
        "n_test": len(test),
        "runs": k,
        "samples": FLOOR_SAMPLES,
        "source": "equations" if _has_equations(dataset) else "recording",
        "floor": {
            name: dict(zip(("q05", "median", "q95"), np.quantile([f[name] for f in floors], FLOOR_QUANTILES).tolist()))
            for name in SCORES
        } if floors else None,
        "constant": _mean_scores(test, constant, settings, standardise),
        "linear": _mean_scores(test, linear_runs(dataset.train, test[starts], n_gen), settings, standardise),
        "escape": {name: float(worst[name]) for name in SCORES},
    }


def path_for(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    return references_dir(data_dir) / f"{name}.json"


def write(refs: Mapping[str, Any], data_dir: str | os.PathLike[str] | None = None) -> Path:
    path = path_for(refs["dataset"], data_dir)
    atomic_write(path, (json.dumps(json.loads(canonical_json(dict(refs))), indent=1, sort_keys=True) + "\n").encode())
    return path


def read(name: str, data_dir: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The stored reference rows of dataset ``name``, or None when none are stored."""
    path = path_for(name, data_dir)
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ChaosbenchError(f"{path}: unreadable reference rows ({err.__class__.__name__})") from None
    if not isinstance(doc, dict) or doc.get("dataset") != name or "floor" not in doc:
        raise ChaosbenchError(f"{path}: not the reference rows of '{name}'")
    return doc


def differences(stored: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[str]:
    """Where stored reference rows differ from a recomputation (numbers to ``VERIFY_RTOL``)."""
    out = []

    def walk(a: Any, b: Any, where: str) -> None:
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key), b.get(key), f"{where}.{key}" if where else key)
        elif isinstance(a, float) and isinstance(b, float):
            if not np.isclose(a, b, rtol=VERIFY_RTOL, atol=0.0):
                out.append(f"{where}: stored {a:.6g}, recomputed {b:.6g}")
        elif a != b:
            out.append(f"{where}: stored {a!r}, recomputed {b!r}")

    walk(stored, fresh, "")
    return out
