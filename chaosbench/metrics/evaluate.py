"""One call for the harness: every trajectory metric of a generated run, stamped with the spec;
and the worst value of every metric, which a diverged run carries."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chaosbench.metrics._arrays import ArrayLike, as_trajectory, true_and_generated
from chaosbench.metrics.lyapunov_error import lyapunov_error, lyapunov_sign_agreement
from chaosbench.metrics.power_spectrum import power_spectrum_distance
from chaosbench.metrics.prediction import PE_STEPS, prediction_error_from_forecasts
from chaosbench.metrics.state_space import Method, state_space_divergence
from chaosbench.metrics.valid_time import DEFAULT_THRESHOLD, valid_prediction_time

METRIC_SPEC_VERSION = "2"
KNOWN_METRIC_SPECS = frozenset({"1", METRIC_SPEC_VERSION})  # both documented in docs/metrics.md


def evaluate_trajectory(
    x_true: ArrayLike,
    x_gen: ArrayLike,
    *,
    dt: float,
    lambda_max: float,
    n_bins: int = 30,
    method: Method = "auto",
    spectrum_sigma: float = 20.0,
    valid_time_threshold: float = DEFAULT_THRESHOLD,
    standardise: tuple[ArrayLike, ArrayLike] | None = None,
) -> dict[str, Any]:
    """D_stsp, D_H and valid prediction time of ``x_gen`` against ``x_true``.

    ``status`` is ``"diverged"`` when ``x_gen`` holds a diverged row (non-finite, or beyond
    ``DIVERGENCE_WIDTHS`` box widths; see ``first_divergence``); D_stsp and D_H then carry
    their documented worst values and the valid time counts the rows before the first diverged
    one. ``x_gen[0]`` must be the state at the time of ``x_true[0]`` for the valid time to mean
    anything. ``spectrum_sigma`` is the smoothing width of D_H in frequency bins;
    ``standardise`` the ``(mean, sd)`` of D_stsp's mixture estimator.
    """
    true, gen, diverged, _ = true_and_generated(x_true, x_gen)
    return {
        "metric_spec_version": METRIC_SPEC_VERSION,
        "status": "diverged" if diverged else "ok",
        "d_stsp": state_space_divergence(true, gen, n_bins, method=method, standardise=standardise),
        "d_h": power_spectrum_distance(true, gen, spectrum_sigma),
        "valid_time": valid_prediction_time(true, gen, dt, lambda_max, valid_time_threshold),
    }


def worst_values(
    x_true: ArrayLike,
    n_gen: int,
    *,
    n_bins: int = 30,
    method: Method = "auto",
    standardise: tuple[ArrayLike, ArrayLike] | None = None,
) -> dict[str, float]:
    """The documented worst value of every scored metric against ``x_true``, for runs of ``n_gen``
    points: what each metric gives a diverged run, and what a diverged record carries.

    D_stsp's depends on ``x_true``, ``n_gen`` and its estimator settings, PE's on the true box;
    the others are constants (D_H 1, lambda error 10, sign agreement 0, valid time 0).
    """
    true = as_trajectory(x_true, "x_true", min_points=PE_STEPS + 1)
    n_dim = true.shape[1]
    nan = np.full((max(int(n_gen), 2), n_dim), math.nan)
    return {
        "d_stsp": state_space_divergence(true, nan, n_bins, method=method, standardise=standardise),
        "d_h": power_spectrum_distance(true, nan),
        "lambda_max_error": lyapunov_error(1.0, math.nan),
        "spectrum_sign_agreement": float(lyapunov_sign_agreement([1.0], [math.nan])),
        "pe20": prediction_error_from_forecasts(true, nan[:1].repeat(len(true) - PE_STEPS, 0), PE_STEPS),
        "valid_time": valid_prediction_time(true, nan, 1.0, 1.0),
    }
