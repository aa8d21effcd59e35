"""D_H: mean Hellinger distance between smoothed, normalised power spectra, in [0, 1].

Trajectories of different length are both truncated to the shorter one before the FFT, so the
two spectra share the same frequency grid (no interpolation, no dependence on the longer tail).
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from scipy.signal import fftconvolve

from chaosbench.errors import ChaosbenchError
from chaosbench.metrics._arrays import ArrayLike, true_and_generated

WORST = 1.0  # D_H of non-finite generated data, and of a constant generated component
SMOOTHING_TRUNCATE = 4.0  # the Gaussian kernel is cut at 4 sigma on each side


def power_spectrum_distance(x_true: ArrayLike, x_gen: ArrayLike, sigma: float = 20.0) -> float:
    """Mean over components of ``||sqrt p - sqrt q||_2 / sqrt 2`` of the smoothed spectra."""
    if sigma < 0:
        raise ChaosbenchError(f"sigma must be >= 0, got {sigma}")
    true, gen, finite, _ = true_and_generated(x_true, x_gen)
    if not finite:
        return WORST
    length = min(len(true), len(gen))
    p = _normalised_spectra(true[:length], sigma)
    q = _normalised_spectra(gen[:length], sigma)
    per_dim = np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2, axis=0))
    # A constant generated component has no spectrum at all: it scores the maximum.
    per_dim[np.ptp(gen[:length], axis=0) == 0] = WORST
    return float(np.clip(per_dim, 0.0, 1.0).mean())


def _normalised_spectra(x: np.ndarray, sigma: float) -> np.ndarray:
    """``(F, N)`` smoothed power spectra of the z-scored components, each column summing to 1.

    z-scoring removes the mean (the zero-frequency bin) and rescales, and the rescaling cancels
    in the normalisation, so zeroing that bin of the raw spectrum gives the same result.
    """
    power = np.abs(scipy.fft.rfft(x, axis=0, workers=-1)) ** 2
    power[0] = 0.0
    if sigma > 0:
        power = np.maximum(_gaussian_smooth(power, sigma), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):  # constant components: 0 / 0
        return power / power.sum(axis=0)


def _gaussian_smooth(power: np.ndarray, sigma: float) -> np.ndarray:
    """Convolve each column with a normalised Gaussian, mirror-padding both ends of the axis."""
    radius = int(SMOOTHING_TRUNCATE * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    padded = np.pad(power, ((radius, radius), (0, 0)), mode="symmetric")
    with scipy.fft.set_workers(-1):
        return fftconvolve(padded, (kernel / kernel.sum())[:, None], mode="valid", axes=0)
