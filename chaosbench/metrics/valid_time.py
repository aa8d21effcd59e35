"""Valid prediction time: how long a forecast stays close to the truth, in Lyapunov times."""

from __future__ import annotations

import math

import numpy as np

from chaosbench.errors import ChaosbenchError
from chaosbench.metrics._arrays import ArrayLike, true_and_generated

DEFAULT_THRESHOLD = 0.5  # on the normalised RMSE below


def valid_prediction_time(
    x_true: ArrayLike,
    x_pred: ArrayLike,
    dt: float,
    lambda_max: float,
    threshold: float = DEFAULT_THRESHOLD,
) -> float:
    """``k * dt * lambda_max``, ``k`` the number of leading rows with normalised error <= threshold.

    Rows are aligned (``x_pred[i]`` and ``x_true[i]`` are the same instant) and compared over the
    shorter length. The error of a row is ``sqrt(mean_d ((pred_d - true_d) / sd_d)^2)`` with
    ``sd_d`` the standard deviation of ``x_true``. A non-finite row is never valid, so a forecast
    that blows up keeps the time it was valid for; one non-finite from its first row scores 0.
    A forecast valid throughout scores the full compared duration (a lower bound).
    """
    for name, value in (("dt", dt), ("lambda_max", lambda_max), ("threshold", threshold)):
        if not (math.isfinite(value) and value > 0):
            raise ChaosbenchError(f"{name} must be finite and > 0, got {value}")
    true, pred, _, box = true_and_generated(x_true, x_pred)
    length = min(len(true), len(pred))
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = (pred[:length] - true[:length]) / box.sd
        error = np.sqrt(np.mean(scaled**2, axis=1))
    invalid = ~(error <= threshold)  # NaN compares False, so non-finite rows are invalid
    k = int(np.argmax(invalid)) if invalid.any() else length
    return k * float(dt) * float(lambda_max)
