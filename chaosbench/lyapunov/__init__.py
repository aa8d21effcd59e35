"""Lyapunov exponents: one batched QR engine for flows, maps and latent models, and estimators.

``spectrum(target, n_steps=..., transient=...)`` returns a :class:`Spectrum` (exponents, spread
over initial conditions, Kaplan-Yorke dimension, predictability time); ``from_timeseries``
estimates the leading exponent of an observed series without equations; ``LyapunovCallback``
records the spectrum of a model during training.
"""

from chaosbench.lyapunov.callback import LyapunovCallback
from chaosbench.lyapunov.estimate import from_timeseries
from chaosbench.lyapunov.quantities import Predictability, kaplan_yorke_dimension, predictability_time
from chaosbench.lyapunov.spectrum import Spectrum, max_exponent, spectrum

__all__ = [
    "LyapunovCallback",
    "Predictability",
    "Spectrum",
    "from_timeseries",
    "kaplan_yorke_dimension",
    "max_exponent",
    "predictability_time",
    "spectrum",
]
