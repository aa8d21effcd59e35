"""One call for the harness: every trajectory metric of a generated run, stamped with the spec."""

from __future__ import annotations

from typing import Any

from chaosbench.metrics._arrays import ArrayLike, true_and_generated
from chaosbench.metrics.power_spectrum import power_spectrum_distance
from chaosbench.metrics.state_space import Method, state_space_divergence
from chaosbench.metrics.valid_time import DEFAULT_THRESHOLD, valid_prediction_time

METRIC_SPEC_VERSION = "1"


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
) -> dict[str, Any]:
    """D_stsp, D_H and valid prediction time of ``x_gen`` against ``x_true``.

    ``status`` is ``"diverged"`` when ``x_gen`` holds any non-finite value; each metric then
    carries its documented worst value (the valid time counts the rows before the first
    non-finite one). ``x_gen[0]`` must be the state at the time of ``x_true[0]`` for the valid
    time to mean anything. ``spectrum_sigma`` is the smoothing width of D_H in frequency bins.
    """
    true, gen, finite, _ = true_and_generated(x_true, x_gen)
    return {
        "metric_spec_version": METRIC_SPEC_VERSION,
        "status": "ok" if finite else "diverged",
        "d_stsp": state_space_divergence(true, gen, n_bins, method=method),
        "d_h": power_spectrum_distance(true, gen, spectrum_sigma),
        "valid_time": valid_prediction_time(true, gen, dt, lambda_max, valid_time_threshold),
    }
