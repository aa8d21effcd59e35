"""Metric spec v1: the canonical evaluation metrics of chaosbench (see docs/metrics.md).

Every metric returns a plain float and scores non-finite generated data by a documented finite
worst value. Changing any definition here bumps ``METRIC_SPEC_VERSION``.
"""

from chaosbench.metrics._arrays import ArrayLike, is_finite_trajectory
from chaosbench.metrics.evaluate import METRIC_SPEC_VERSION, evaluate_trajectory
from chaosbench.metrics.lyapunov_error import lyapunov_error, lyapunov_sign_agreement
from chaosbench.metrics.power_spectrum import power_spectrum_distance
from chaosbench.metrics.prediction import (
    is_latent_model,
    prediction_error,
    prediction_error_from_forecasts,
)
from chaosbench.metrics.state_space import state_space_divergence
from chaosbench.metrics.valid_time import valid_prediction_time
from chaosbench.registry import Registry

METRICS: Registry = Registry("metric")
"""Metric functions by run-record key; ``better`` ("min" or "max") says which way ranks go,
``label`` names it in tables. The protocol computes spec v1's metrics with their own arguments;
a metric registered with ``on="trajectory"`` is computed by :func:`trajectory_metrics`."""
METRICS.register("d_stsp", state_space_divergence, better="min", label="D_stsp")
METRICS.register("d_h", power_spectrum_distance, better="min", label="D_H")
METRICS.register("lambda_max_error", lyapunov_error, better="min", label="lambda_max error")
METRICS.register(
    "spectrum_sign_agreement", lyapunov_sign_agreement, better="max", label="sign agreement"
)
METRICS.register("pe20", prediction_error, better="min", label="PE(20)")
METRICS.register("valid_time", valid_prediction_time, better="max", label="valid time")


def trajectory_metrics(x_true: ArrayLike, x_gen: ArrayLike) -> dict[str, float]:
    """``fn(x_true, x_gen)`` of every metric registered with ``on="trajectory"``, by record key.

    The evaluation protocol calls it with the test series and the generated series after the
    transient (the inputs of D_stsp and D_H), so a registered metric reaches every run record.
    """
    return {
        name: float(METRICS.get(name)(x_true, x_gen))
        for name in METRICS.names()
        if METRICS.meta(name).get("on") == "trajectory"
    }


__all__ = [
    "METRICS",
    "METRIC_SPEC_VERSION",
    "evaluate_trajectory",
    "is_finite_trajectory",
    "is_latent_model",
    "lyapunov_error",
    "lyapunov_sign_agreement",
    "power_spectrum_distance",
    "prediction_error",
    "prediction_error_from_forecasts",
    "state_space_divergence",
    "trajectory_metrics",
    "valid_prediction_time",
]
