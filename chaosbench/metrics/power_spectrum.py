"""D_H: mean Hellinger distance between smoothed, normalised power spectra, in [0, 1].

Trajectories of different length are both truncated to the shorter one before the FFT, so the
two spectra share the same frequency grid (no interpolation, no dependence on the longer tail).

Escape rule (spec v2, the analogue of D_stsp's): generated values outside the true box are
clipped to it before the spectrum is taken, and each component's distance is mixed with its
escape fraction ``f``, ``f + (1 - f) H``: escaped points score the maximum 1, as if their share
of the signal had no spectrum in common with the truth. One far point among many barely moves
the score; a trajectory that spends most of its time outside the box (a blown-up or rescaled
attractor) scores near 1; a diverged one scores 1.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from chaosbench.errors import ChaosbenchError
from chaosbench.metrics._arrays import ArrayLike, true_and_generated

WORST = 1.0  # D_H of diverged generated data, and of a constant generated component
SMOOTHING_TRUNCATE = 4.0  # the Gaussian kernel is cut at 4 sigma on each side


def power_spectrum_distance(x_true: ArrayLike, x_gen: ArrayLike, sigma: float = 20.0) -> float:
    """Mean over components of ``f + (1 - f) ||sqrt p - sqrt q||_2 / sqrt 2`` (see the module)."""
    if sigma < 0:
        raise ChaosbenchError(f"sigma must be >= 0, got {sigma}")
    true, gen, diverged, box = true_and_generated(x_true, x_gen)
    if diverged:
        return WORST
    length = min(len(true), len(gen))
    gen = gen[:length]
    escaped = np.mean((gen < box.lo) | (gen > box.hi), axis=0)
    gen = np.clip(gen, box.lo, box.hi)
    p = _normalised_spectra(true[:length], sigma)
    q = _normalised_spectra(gen, sigma)
    per_dim = np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2, axis=0))
    # A constant generated component has no spectrum at all: it scores the maximum.
    per_dim[np.ptp(gen, axis=0) == 0] = WORST
    per_dim = np.clip(per_dim, 0.0, 1.0)
    return float(np.mean(escaped + (1.0 - escaped) * per_dim))


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
    from scipy.signal import fftconvolve  # scipy.signal takes a second to import: only when used

    radius = int(SMOOTHING_TRUNCATE * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    padded = np.pad(power, ((radius, radius), (0, 0)), mode="symmetric")
    with scipy.fft.set_workers(-1):
        return fftconvolve(padded, (kernel / kernel.sum())[:, None], mode="valid", axes=0)
