"""Metric spec v2: the canonical evaluation metrics of chaosbench (see docs/metrics.md).

Every metric returns a plain float and scores diverged generated data by a documented finite
worst value. Changing any definition here bumps ``METRIC_SPEC_VERSION``.

``METRICS`` is the one table of the values a run record carries: record key -> function, with
``better`` ("min", "max", or None for a value reported but not ranked), ``label`` (plain text)
and ``latex`` (optional) metadata. Record schemas, leaderboard tables and plots read it from
here. The protocol computes the spec's metrics with their own arguments; a metric registered
with ``on="trajectory"`` is computed on every free run by :func:`trajectory_metrics`.
"""

from chaosbench.metrics._arrays import DIVERGENCE_WIDTHS, ArrayLike, first_divergence
from chaosbench.metrics.evaluate import (
    KNOWN_METRIC_SPECS,
    METRIC_SPEC_VERSION,
    evaluate_trajectory,
    worst_values,
)
from chaosbench.metrics.lyapunov_error import (
    lyapunov_error,
    lyapunov_sign_agreement,
    reported_lambda_max,
)
from chaosbench.metrics.power_spectrum import power_spectrum_distance
from chaosbench.metrics.prediction import (
    PE_STEPS,
    is_latent_model,
    prediction_error,
    prediction_error_from_forecasts,
)
from chaosbench.metrics.state_space import StateSpaceDivergence, state_space_divergence
from chaosbench.metrics.valid_time import valid_prediction_time
from chaosbench.registry import Registry

METRICS: Registry = Registry("metric")
"""Functions by run-record key, in table order; see the module docstring for the metadata."""
METRICS.register("d_stsp", state_space_divergence, better="min", label="D_stsp",
                 latex=r"$D_{\mathrm{stsp}}$")  # fmt: skip
METRICS.register("d_h", power_spectrum_distance, better="min", label="D_H", latex=r"$D_H$")
METRICS.register("lambda_max_error", lyapunov_error, better="min", label="λmax error",
                 latex=r"$\lambda_{\max}$ err.")  # fmt: skip
METRICS.register("lambda_max_gen", reported_lambda_max, better=None, label="λmax of the model",
                 latex=r"$\lambda_{\max}$")  # fmt: skip
METRICS.register("spectrum_sign_agreement", lyapunov_sign_agreement, better="max",
                 label="Sign agreement", latex="Signs")  # fmt: skip
METRICS.register("pe20", prediction_error, better="min", label="PE(20)", latex="PE(20)")
METRICS.register("valid_time", valid_prediction_time, better="max", label="Valid time",
                 latex="Valid time")  # fmt: skip


def directions() -> dict[str, str | None]:
    """Record key -> better direction of every registered metric, in table order."""
    return {name: METRICS.meta(name)["better"] for name in METRICS.in_order()}


def scored() -> list[str]:
    """The ranked metrics (a better direction), in table order."""
    return [name for name, better in directions().items() if better is not None]



def trajectory_metrics(x_true: ArrayLike, x_gen: ArrayLike) -> dict[str, float]:
    """``fn(x_true, x_gen)`` of every metric registered with ``on="trajectory"``, by record key.

    The evaluation protocol calls it with the test series and each free run after the
    transient (the inputs of D_stsp and D_H), so a registered metric reaches every run record
    (as the mean over the runs, like D_stsp and D_H).
    """
    return {
        name: float(METRICS.get(name)(x_true, x_gen))
        for name in METRICS.in_order()
        if METRICS.meta(name).get("on") == "trajectory"
    }


__all__ = [
    "DIVERGENCE_WIDTHS",
    "KNOWN_METRIC_SPECS",
    "METRICS",
    "METRIC_SPEC_VERSION",
    "PE_STEPS",
    "StateSpaceDivergence",
    "directions",
    "evaluate_trajectory",
    "first_divergence",
    "is_latent_model",
    "lyapunov_error",
    "lyapunov_sign_agreement",
    "power_spectrum_distance",
    "prediction_error",
    "prediction_error_from_forecasts",
    "reported_lambda_max",
    "scored",
    "state_space_divergence",
    "trajectory_metrics",
    "valid_prediction_time",
    "worst_values",
]
