"""PE(n): mean squared error of n-step-ahead forecasts started from every test point.

Forecasts are clipped to the true box (``_arrays.true_box``) before the error is taken, so the
score is bounded; any diverged forecast (non-finite, or beyond ``_arrays.DIVERGENCE_WIDTHS`` box
widths) scores the bound itself, ``mean_d (hi_d - lo_d)^2``, the largest error a clipped
forecast can have.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chaosbench.errors import ChaosbenchError
from chaosbench.metrics._arrays import ArrayLike, Box, as_float64, as_trajectory, diverged_row, torch_module, true_box

Predictor = Callable[[np.ndarray, int], ArrayLike]  # (x0 batch (B, N), n) -> x_n batch (B, N)
LATENT_METHODS = ("encode", "step", "observe")
PE_STEPS = 20  # the n of the scored PE(n), record key "pe20"
PE_CHUNK = 4096  # forecast starts computed at once


def prediction_error(model: Any, x: ArrayLike, n: int = PE_STEPS, *, chunk_size: int = PE_CHUNK) -> float:
    """PE(n) on test data ``x`` (T, N) for a latent model or a ``predict(x0, n)`` callable.

    A latent model (``encode``, ``step``, ``observe``) is run under ``torch.no_grad`` in its own
    dtype and device; any other callable receives float64 ``(B, N)`` start states and returns
    the ``(B, N)`` states ``n`` steps later. Starts are processed ``chunk_size`` at a time.
    """
    data, box = _test_data(x, n)
    if chunk_size < 1:
        raise ChaosbenchError(f"chunk_size must be >= 1, got {chunk_size}")
    predict = latent_predictor(model) if is_latent_model(model) else model
    if not callable(predict):
        raise ChaosbenchError(
            "prediction_error needs a latent model (encode, step, observe) or predict(x0, n)"
        )
    starts = data[: len(data) - n]
    forecasts = np.concatenate(
        [
            _forecast_chunk(predict, starts[i : i + chunk_size], n)
            for i in range(0, len(starts), chunk_size)
        ]
    )
    return _clipped_mse(data, box, forecasts, n)


def prediction_error_from_forecasts(x: ArrayLike, forecasts: ArrayLike, n: int = PE_STEPS) -> float:
    """PE(n) from precomputed forecasts (T - n, N): ``forecasts[s]`` predicts ``x[s + n]``."""
    data, box = _test_data(x, n)
    pred = as_float64(forecasts, "forecasts")
    expected = (len(data) - n, data.shape[1])
    if pred.shape != expected:
        raise ChaosbenchError(f"forecasts must have shape {expected}, got {tuple(pred.shape)}")
    return _clipped_mse(data, box, pred, n)


def _clipped_mse(data: np.ndarray, box: Box, pred: np.ndarray, n: int) -> float:
    if diverged_row(pred, box) is not None:
        return float(np.mean((box.hi - box.lo) ** 2))
    return float(np.mean((np.clip(pred, box.lo, box.hi) - data[n:]) ** 2))


def is_latent_model(model: Any) -> bool:
    """Whether ``model`` follows the latent contract: a torch module with encode/step/observe."""
    torch = torch_module()
    return torch is not None and isinstance(model, torch.nn.Module) and all(
        callable(getattr(model, name, None)) for name in LATENT_METHODS
    )


def latent_predictor(model: Any) -> Predictor:
    """``predict(x0, n)`` for a latent model: ``observe(step^n(encode(x0)))`` without gradients."""
    import torch

    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.get_default_dtype()
    device = param.device if param is not None else torch.device("cpu")

    def predict(x0: np.ndarray, n: int) -> Any:
        with torch.no_grad():
            z = model.encode(torch.as_tensor(x0, dtype=dtype, device=device))
            for _ in range(n):
                z = model.step(z)
            return model.observe(z)

    return predict


def _forecast_chunk(predict: Predictor, x0: np.ndarray, n: int) -> np.ndarray:
    out = as_float64(predict(x0, n), "predict output")
    if out.shape != x0.shape:
        raise ChaosbenchError(
            f"predict(x0, n) must return shape {x0.shape} for x0 of that shape, got {out.shape}"
        )
    return out


def _test_data(x: ArrayLike, n: int) -> tuple[np.ndarray, Box]:
    if n < 1:
        raise ChaosbenchError(f"n must be >= 1, got {n}")
    data = as_trajectory(x, "x", min_points=n + 1)
    return data, true_box(data, "x")
