"""A training callback that records a model's Lyapunov spectrum every ``every`` updates.

The spectrum of an RNN is a readout of training stability: a positive leading exponent means
the model generates chaos, whose loss gradients diverge under plain BPTT.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from chaosbench.errors import ChaosbenchError
from chaosbench.lyapunov.spectrum import Spectrum, spectrum


class LyapunovCallback:
    """``callback(update, model)`` stores ``(update, Spectrum)`` in ``history`` every ``every`` updates.

    The remaining keyword arguments go to :func:`spectrum` (``n_steps``, ``transient``, ``k``,
    ``n_init``, ``renorm_every``, ``seed``...); the same seed gives the same initial states at
    every record, so changes reflect the model only. The model is evaluated in ``eval`` mode
    without gradients and its training mode is restored afterwards.
    """

    def __init__(self, every: int, *, n_steps: int = 1000, transient: int = 200, **spectrum_kwargs: Any) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ChaosbenchError(f"every must be a positive integer, got {every!r}")
        self.every = every
        self.kwargs = dict({"progress": False, **spectrum_kwargs}, n_steps=n_steps, transient=transient)
        self.history: list[tuple[int, Spectrum]] = []

    def __call__(self, update: int, model: torch.nn.Module) -> Spectrum | None:
        if update % self.every:
            return None
        was_training = model.training
        model.eval()
        try:
            result = spectrum(model, **self.kwargs)
        finally:
            model.train(was_training)
        self.history.append((update, result))
        return result

    @property
    def updates(self) -> np.ndarray:
        return np.array([u for u, _ in self.history], dtype=np.int64)

    @property
    def exponents(self) -> np.ndarray:
        """(n_records, k) exponents, one row per recorded update."""
        return np.array([s.exponents for _, s in self.history])
