"""Hyperparameters of the non-gradient references chosen on a validation split of the training data.

The rule (the same for every evaluable model that takes a ``tune`` grid, e.g. the ESN's scales
and ridge, SINDy's threshold):

1. The last :data:`VALIDATION_FRACTION` (20 %) of the training series is the validation part,
   the rest the fitting part; no test data is touched. Both are capped for cost: the candidates
   are fitted on at most the last :data:`MAX_FIT` points of the fitting part and scored on at
   most the first :data:`MAX_VALIDATION` points of the validation part.
2. Every combination of the grid (a mapping ``parameter -> list of values``, in the grid's order,
   the last parameter varying fastest) is fitted with the run's seed and generates freely from
   the first validation point for :data:`TRANSIENT` plus the validation length steps.
3. Its score is D_stsp (:func:`chaosbench.metrics.state_space.state_space_divergence`, the
   benchmark's own) between the validation part and the generated steps after the transient;
   a candidate that raises or generates non-finite values scores ``inf``.
4. The lowest score wins, the first in grid order on ties: deterministic given the seed.

The caller then fits the chosen configuration on the whole training series.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chaosbench.errors import ChaosbenchError

VALIDATION_FRACTION = 0.2
MAX_FIT = 20_000
MAX_VALIDATION = 10_000
TRANSIENT = 1_000


@dataclass(frozen=True)
class Search:
    """The outcome of :func:`grid_search`: the chosen parameters and every candidate's score."""

    best: dict[str, Any]
    scores: list[tuple[dict[str, Any], float]]
    n_fit: int
    n_validation: int


def check_grid(owner: str, grid: Any, tunable: Sequence[str]) -> dict[str, list[Any]] | None:
    """``grid`` (``None``: no search) as ``{parameter: [values]}``, else a one-line error."""
    if grid is None:
        return None
    if not isinstance(grid, Mapping) or not grid:
        raise ChaosbenchError(f"{owner}: tune must be null or a mapping parameter -> list of values, got {grid!r}")
    out = {}
    for key, values in grid.items():
        if key not in tunable:
            raise ChaosbenchError(f"{owner}: tune: cannot tune {key!r} (tunable: {', '.join(tunable)})")
        if not isinstance(values, (list, tuple)) or not values:
            raise ChaosbenchError(f"{owner}: tune.{key} must be a non-empty list of values, got {values!r}")
        out[str(key)] = list(values)
    return out


def split(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (capped) fitting and validation parts of ``train`` (rule steps 1)."""
    n_val = int(len(train) * VALIDATION_FRACTION)
    fit_part, val = train[: len(train) - n_val], train[len(train) - n_val :]
    return fit_part[-MAX_FIT:], val[:MAX_VALIDATION]


def grid_search(
    make: Callable[[dict[str, Any]], Any],
    grid: Mapping[str, Sequence[Any]],
    train: np.ndarray,
    dt: float,
    seed: int,
    min_fit: int = 2,
) -> Search:
    """The grid's best parameters for the evaluable model ``make(params)`` (module rule).

    ``min_fit`` is the fewest fitting points the model needs (e.g. its washout plus some).
    """
    from chaosbench.metrics.state_space import state_space_divergence

    fit_part, val = split(train)
    if len(fit_part) < min_fit or len(val) < 2:
        raise ChaosbenchError(
            f"tune: the training series ({len(train)} points) is too short for a validation split "
            f"(needs {min_fit} fitting and 2 validation points)"
        )
    keys = list(grid)
    scores = []
    for values in itertools.product(*(grid[k] for k in keys)):
        params = dict(zip(keys, values))
        try:
            model = make(params)
            model.fit(fit_part, dt, None, seed)
            gen = np.asarray(model.generate(val[0], TRANSIENT + len(val)), dtype=np.float64)
            score = state_space_divergence(val, gen[TRANSIENT:]) if np.isfinite(gen).all() else math.inf
        except (ChaosbenchError, ArithmeticError, ValueError, np.linalg.LinAlgError):
            score = math.inf
        scores.append((params, float(score)))
    best = min(range(len(scores)), key=lambda i: (scores[i][1], i))
    return Search(dict(scores[best][0]), scores, len(fit_part), len(val))


def tune_in_place(model: Any, train: np.ndarray, dt: float, seed: int, min_fit: int) -> Search:
    """Search ``model.tune`` on ``train`` and set the best values on ``model``.

    Candidates are ``type(model)(**model.config)`` with the grid's values and no ``tune``; the
    configured values stay in ``model.config``, the chosen ones become its attributes.
    """

    def candidate(params: dict[str, Any]) -> Any:
        return type(model)(**{**model.config, **params, "tune": None})

    search = grid_search(candidate, model.tune, train, dt, seed, min_fit)
    chosen = candidate(search.best)
    for key in search.best:
        setattr(model, key, getattr(chosen, key))
    return search
