"""``from_timeseries``: the leading Lyapunov exponent of an observed series (no equations needed).

Rosenstein's method (nearest neighbours in a delay embedding, slope of their mean log
distance) as implemented by ``nolds.lyap_r``, with settings tied to the series' own time scale
instead of nolds' fixed defaults (which give 1.07 instead of 0.906 on 5 000 points of
Lorenz-63 ``x`` at ``dt = 0.01``):

- the mean period ``P`` (inverse power-weighted mean frequency, as nolds uses for its
  neighbour separation) is measured on the full series, which is then thinned to about
  ``samples_per_period = 20`` samples per period and cut to ``max_points = 5000`` samples
  (nolds holds all pairwise distances in memory). Thinning spreads the points over many more
  cycles of the attractor, which is what makes the estimate stable;
- delay embedding of dimension ``emb_dim = 5`` with nolds' autocorrelation lag; neighbours at
  least one period apart in time;
- a least-squares line (not RANSAC: deterministic, no scikit-learn) through the mean log
  divergence over ``fit_periods = 1.5`` periods, before it saturates at the attractor's size;
- several columns (at most ``max_columns = 3``): the median of their estimates, because some
  observables embed poorly (Lorenz-63 ``z`` or Roessler ``z`` alone give 0.3-0.5x and 2.5x).

Measured (ratio to the reference exponent, five orbits each): Lorenz-63 ``x``, 20 000 samples
at ``dt = 0.01``, 0.98-1.09; Roessler ``x``, 15 000 samples at ``dt = 0.1``, 0.89-1.13; the noisy
(5 %) standardized Lorenz-63 recording, median of its three columns, 0.99. Expect +-15 %.
"""

from __future__ import annotations

import math
import warnings
from types import ModuleType
from typing import Any

import numpy as np

from chaosbench.errors import ChaosbenchError


def from_timeseries(
    x: Any,
    dt: float,
    *,
    emb_dim: int = 5,
    samples_per_period: float = 20.0,
    fit_periods: float = 1.5,
    max_points: int = 5000,
    max_columns: int = 3,
) -> float:
    """Estimated ``lambda_max`` per unit time of a series ``x`` (T,) or (T, N) sampled every ``dt``."""
    data = np.asarray(x, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[0] < 2 or data.shape[1] < 1:
        raise ChaosbenchError(f"from_timeseries needs a series of shape (T,) or (T, N), got {np.shape(x)}")
    if not (isinstance(dt, (int, float)) and dt > 0 and math.isfinite(dt)):
        raise ChaosbenchError(f"dt must be a positive number, got {dt!r}")
    if not np.isfinite(data).all():
        raise ChaosbenchError("from_timeseries: the series contains non-finite values")
    estimates = [
        _rosenstein(column, dt, emb_dim, samples_per_period, fit_periods, max_points)
        for column in data[:, :max_columns].T
    ]
    return float(np.median(estimates))


def _rosenstein(
    s: np.ndarray, dt: float, emb_dim: int, samples_per_period: float, fit_periods: float, max_points: int
) -> float:
    s = s - s.mean()
    if not s.any():
        raise ChaosbenchError("from_timeseries: a column of the series is constant")
    period = _mean_period(s)
    stride = max(1, round(period / samples_per_period))
    y = s[::stride][:max_points]
    min_tsep = math.ceil(period / stride)
    nolds = _nolds()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # nolds' notes on its lag search
            value = nolds.lyap_r(
                y, emb_dim=emb_dim, min_tsep=min_tsep, tau=dt * stride,
                trajectory_len=math.ceil(fit_periods * min_tsep) + 1, fit="poly",
            )
    except ValueError as err:
        raise ChaosbenchError(
            f"from_timeseries: the series is too short ({len(s)} samples, mean period {period:.0f}): {err}"
        ) from None
    return float(value)


def _mean_period(s: np.ndarray) -> float:
    """Inverse of the power-weighted mean frequency, in samples (the DC bin excluded)."""
    power = np.abs(np.fft.rfft(s)) ** 2
    freqs = np.fft.rfftfreq(len(s))
    return float(power[1:].sum() / (freqs[1:] * power[1:]).sum())


def _nolds() -> ModuleType:
    """Import nolds lazily: 0.6.2 warns about ``pkg_resources``; 0.6.3 fails to import on 3.11."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            import nolds
    except Exception as err:  # noqa: BLE001 - any import-time failure means the same thing here
        raise ChaosbenchError(
            "from_timeseries needs nolds 0.6.2 with setuptools < 81 "
            f"(pip install 'nolds==0.6.2' 'setuptools<81'); importing it failed: {err}"
        ) from None
    return nolds
