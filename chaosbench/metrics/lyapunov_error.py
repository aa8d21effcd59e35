"""Error of the maximal Lyapunov exponent, and agreement of the spectra's sign patterns."""

from __future__ import annotations

import math

import numpy as np

from chaosbench.errors import ChaosbenchError
from chaosbench.metrics._arrays import ArrayLike, as_float64

WORST = 10.0  # relative errors are capped here; a non-finite lambda_gen scores it
ZERO_TOL_FRACTION = 0.1  # default zero band of the sign test, as a fraction of |lambda_max true|


def lyapunov_error(lambda_true: float, lambda_gen: float) -> float:
    """``min(|lambda_gen - lambda_true| / |lambda_true|, 10)``; non-finite ``lambda_gen`` -> 10."""
    lambda_true = float(lambda_true)
    if not math.isfinite(lambda_true) or lambda_true == 0.0:
        raise ChaosbenchError(f"lambda_true must be finite and nonzero, got {lambda_true}")
    lambda_gen = float(lambda_gen)
    if not math.isfinite(lambda_gen):
        return WORST
    return min(abs(lambda_gen - lambda_true) / abs(lambda_true), WORST)


def lyapunov_sign_agreement(
    spectrum_true: ArrayLike, spectrum_gen: ArrayLike, zero_tol: float | None = None
) -> bool:
    """Whether the leading generated exponents have the signs of the clearly nonzero true ones.

    Both spectra are sorted in decreasing order and the first ``len(spectrum_true)`` exponents
    are compared, so a latent model with more dimensions than the data is judged on its leading
    exponents. Only the positions where ``|lambda_true| > zero_tol`` count (spec v2): a true
    exponent inside the band, such as the zero exponent of a flow, has no sign to agree with.
    There the generated exponent must have the true one's sign and lie outside the band too.
    The default band is ``0.1 * |max(spectrum_true)|``. A shorter or non-finite generated
    spectrum never agrees.
    """
    true = np.sort(as_float64(spectrum_true, "spectrum_true").ravel())[::-1]
    gen = np.sort(as_float64(spectrum_gen, "spectrum_gen").ravel())[::-1]
    if true.size == 0 or not np.isfinite(true).all():
        raise ChaosbenchError("spectrum_true must be a non-empty finite vector")
    if zero_tol is None:
        zero_tol = ZERO_TOL_FRACTION * abs(true[0])
    if zero_tol < 0:
        raise ChaosbenchError(f"zero_tol must be >= 0, got {zero_tol}")
    counted = np.abs(true) > zero_tol
    if not counted.any():
        raise ChaosbenchError(f"spectrum_true has no exponent outside the zero band +-{zero_tol:g}")
    if gen.size < true.size or not np.isfinite(gen).all():
        return False
    lead = gen[: true.size][counted]
    return bool(np.array_equal(np.sign(true[counted]), _signs(lead, zero_tol)))


def reported_lambda_max(lambda_gen: float) -> float | None:
    """The model's ``lambda_max`` as a record reports it: the value when finite, else None.

    Reported beside the error, never ranked (its better direction is the dataset's value).
    """
    value = float(lambda_gen)
    return value if math.isfinite(value) else None


def _signs(spectrum: np.ndarray, zero_tol: float) -> np.ndarray:
    return np.where(np.abs(spectrum) <= zero_tol, 0, np.sign(spectrum))
