"""Numbers derived from a Lyapunov spectrum: Kaplan-Yorke dimension and predictability time."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from chaosbench.errors import ChaosbenchError


class Predictability(NamedTuple):
    """``tau_pred = ln 2 / lambda_max``: the time over which a small error doubles."""

    time: float  # in the time unit of ``lambda_max``
    steps: float  # in sampling steps of length ``dt``


def predictability_time(lambda_max: float, dt: float = 1.0) -> Predictability:
    """``ln 2 / lambda_max`` in time units and in steps of ``dt`` (infinite if ``lambda_max <= 0``).

    Sparse teacher forcing derives its interval from it (``tau = lyapunov``: a fixed fraction of
    ``tau_pred`` in steps, :data:`chaosbench.training.TAU_FRACTION`).
    """
    if not dt > 0:
        raise ChaosbenchError(f"dt must be positive, got {dt}")
    if math.isnan(lambda_max):
        return Predictability(math.nan, math.nan)
    if lambda_max <= 0:
        return Predictability(math.inf, math.inf)
    time = math.log(2.0) / lambda_max
    return Predictability(time, time / dt)


def kaplan_yorke_dimension(exponents: Sequence[float] | np.ndarray, dim: int | None = None) -> float:
    """``D_KY = j + (lambda_1 + ... + lambda_j) / |lambda_{j+1}|`` with ``j`` the largest index
    whose partial sum is non-negative (0 if ``lambda_1 < 0``).

    ``dim`` is the dimension of the whole system (default: the number of exponents given). If
    only the leading exponents are given and their partial sums never turn negative, the
    dimension is undetermined and the result is NaN; for a complete spectrum it is ``dim``.
    """
    lam = np.sort(np.asarray(exponents, dtype=np.float64))[::-1]
    dim = len(lam) if dim is None else dim
    if lam.size == 0 or np.isnan(lam).any():
        return math.nan
    partial = np.cumsum(lam)
    if partial[0] < 0:
        return 0.0
    negative = np.flatnonzero(partial < 0)
    if negative.size == 0:
        return float(dim) if len(lam) == dim else math.nan
    j = int(negative[0])  # number of exponents whose sum is still >= 0
    return j + float(partial[j - 1]) / abs(float(lam[j]))
