"""Evaluation protocol v2: how a trained model is scored against a dataset (docs/protocol.md).

1. Generate ``n_gen`` steps freely from the first test state ``x_test[0]``.
2. Discard the first ``transient`` generated steps; D_stsp and D_H (metric spec v1), and every
   metric registered with ``on="trajectory"`` (docs/extending.md), compare the rest with the
   whole test series. The valid prediction time compares the forecast steps
   ``t >= 1`` of the generated series with the test series at the same instants (row 0 is the
   model's reading of ``x_test[0]``, not a forecast; v1 counted it, so a model with a learned
   encoder scored 0 whenever that reading was off, however good its forecast).
3. PE(20) from every test point.
4. ``lambda_max`` of the model: from its Jacobians (QR method) for a latent model, leading
   exponents only, ``lyapunov_inits`` initial states encoded from test points spread over the
   series, ``lyapunov_steps`` steps each; for any other model, the time-series estimator on its
   generated series. Its relative error against the dataset's ``lambda_max``; the sign pattern
   of the leading exponents against the dataset's spectrum (the leading exponent alone when
   either side has only that).
5. Status: ``failed`` when model code raised, ``SystemExit`` and ``KeyboardInterrupt`` included
   (reason: stage and exception, one line), else
   ``diverged`` when the generated series or a metric is not finite (each metric then carries its
   documented worst value, never dropped; a series the estimator cannot use, e.g. a constant
   one, leaves ``lambda_max_gen`` missing too), else ``ok``.

Small artifacts go with every record for the leaderboard's plots: the generated series after the
transient, strided to at most 2000 rows of its first three components, and its power spectrum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from chaosbench.errors import ChaosbenchError, first_line
from chaosbench.records import ARTIFACT_LIMITS, MAX_ARTIFACT_DIMS

EVAL_PROTOCOL_VERSION = "3"
PE_STEPS = 20  # PE(n) of metric spec v1
_REASON_CHARS = 300
# What model code may raise, recorded as the run's failure: sys.exit() or a KeyboardInterrupt in
# model code must not end the harness (the user's Ctrl-C never reaches model code as one).
MODEL_ERRORS = (Exception, SystemExit, KeyboardInterrupt)


@dataclass(frozen=True)
class EvalSettings:
    """Lengths of the protocol.

    ``n_test``: the test series is the first ``n_test`` points of the test split (``None``: all
    of it; the short suites use less). ``n_gen``: generated steps, transient included (``None``:
    ``transient`` plus the test length).
    """

    n_test: int | None = None
    n_gen: int | None = None
    transient: int = 1000
    lyapunov_inits: int = 8
    lyapunov_steps: int = 2000

    def __post_init__(self) -> None:
        minimum = {"n_test": PE_STEPS + 1, "n_gen": self.transient + 2, "transient": 0,
                   "lyapunov_inits": 1, "lyapunov_steps": 1}  # fmt: skip
        for key, low in minimum.items():
            value = getattr(self, key)
            if value is None and key in ("n_test", "n_gen"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ChaosbenchError(f"evaluation: {key} must be an integer >= {low}, got {value!r}")

    def test_series(self, test: np.ndarray) -> np.ndarray:
        return np.asarray(test[: self.n_test], dtype=np.float64)

    def generated_length(self, n_test: int) -> int:
        return self.n_gen if self.n_gen is not None else self.transient + n_test


@dataclass(frozen=True)
class Reference:
    """What the model is compared with: the dataset's ``lambda_max`` (per time unit) and spectrum.

    ``source`` says where ``lambda_max`` came from: ``card`` (computed from the equations) or
    ``timeseries`` (estimated from the training series, for data without equations).
    """

    lambda_max: float
    spectrum: tuple[float, ...]
    source: str


def reference(dataset: Any) -> Reference:
    """The dataset's Lyapunov reference: its card when it has one, else an estimate from ``train``."""
    card = dataset.card
    lam = card.get("lambda_max")
    if lam is not None and math.isfinite(lam) and lam > 0:
        spectrum = card.get("lyapunov_spectrum") or [lam]
        return Reference(float(lam), tuple(float(v) for v in spectrum), "card")
    lam = series_lambda_max(dataset.train, dataset.dt)
    if not (math.isfinite(lam) and lam > 0):
        raise ChaosbenchError(
            f"dataset '{dataset.name}': estimated lambda_max {lam:.4g} is not positive; "
            "give lambda_max in the suite entry"
        )
    return Reference(lam, (lam,), "timeseries")


def series_lambda_max(x: np.ndarray, dt: float) -> float:
    """``lambda_max`` per time unit of a series without equations (``lyapunov.from_timeseries``)."""
    from chaosbench.lyapunov import from_timeseries

    return from_timeseries(np.asarray(x, dtype=np.float64), dt)


@dataclass
class Outcome:
    """The scored run of one model: status, reason, metric values (spec v1 names) and artifacts."""

    status: str
    reason: str | None
    metrics: dict[str, float | None]
    artifacts: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def one_line(stage: str, err: BaseException) -> str:
    """``stage: ExceptionType: first line of the message``, at most 300 characters."""
    text = str(err).strip().splitlines()
    message = f"{stage}: {type(err).__name__}" + (f": {text[0]}" if text else "")
    return message if len(message) <= _REASON_CHARS else message[: _REASON_CHARS - 3] + "..."


def evaluate(model: Any, dataset: Any, settings: EvalSettings, ref: Reference) -> Outcome:
    """Score a trained ``model`` (latent or evaluable) on ``dataset`` by the protocol.

    Never raises for a problem in model code: that becomes a ``failed`` outcome with the stage
    and the exception in ``reason`` and every metric computed so far kept.
    """
    from chaosbench.metrics import is_latent_model

    latent = is_latent_model(model)
    outcome = Outcome("ok", None, {}, info={"lambda_gen_method": "jacobian" if latent else "timeseries"})
    stage = "generate"
    try:
        test = settings.test_series(dataset.test)
        gen = _generate(model, test[0], settings.generated_length(len(test)))
        after = gen[settings.transient :]
        outcome.artifacts = artifacts(after)
        stage = "metrics"
        outcome.metrics.update(_trajectory_metrics(test, gen, after, dataset.dt, ref.lambda_max))
        stage = "prediction"
        outcome.metrics["pe20"] = _prediction_error(model, test, latent)
        stage = "lyapunov"
        lyapunov, note = _lyapunov_metrics(model, latent, test, after, dataset.dt, settings, ref)
        outcome.metrics.update(lyapunov)
    except MODEL_ERRORS as err:  # model code may raise anything; the run must still be recorded
        return Outcome("failed", one_line(stage, err), outcome.metrics, outcome.artifacts, outcome.info)
    bad = _first_nonfinite(gen)
    if bad is not None:
        outcome.status, outcome.reason = "diverged", f"generated series not finite from step {bad}"
    else:
        nonfinite = sorted(k for k, v in outcome.metrics.items() if v is None or not math.isfinite(v))
        if nonfinite:
            outcome.status = "diverged"
            outcome.reason = f"not finite: {', '.join(nonfinite)}" + (f" ({note})" if note else "")
    return outcome


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _generate(model: Any, x0: np.ndarray, n: int) -> np.ndarray:
    gen = _to_numpy(model.generate(x0, n))
    if gen.shape != (n, len(x0)):
        raise ChaosbenchError(f"generate(x0, {n}) returned shape {gen.shape}, expected {(n, len(x0))}")
    return gen


def _first_nonfinite(x: np.ndarray) -> int | None:
    rows = ~np.isfinite(x).all(axis=1)
    return int(np.argmax(rows)) if rows.any() else None


def _trajectory_metrics(
    test: np.ndarray, gen: np.ndarray, after: np.ndarray, dt: float, lambda_max: float
) -> dict[str, float]:
    from chaosbench.metrics import evaluate_trajectory, trajectory_metrics, valid_prediction_time

    scores = evaluate_trajectory(test, after, dt=dt, lambda_max=lambda_max)
    return {
        **trajectory_metrics(test, after),  # the registered extensions (on="trajectory")
        "d_stsp": scores["d_stsp"],
        "d_h": scores["d_h"],
        # the forecast steps t >= 1, aligned with the test series (the transient is part of them)
        "valid_time": valid_prediction_time(test[1:], gen[1:], dt, lambda_max),
    }


def _prediction_error(model: Any, test: np.ndarray, latent: bool) -> float:
    from chaosbench.metrics import prediction_error

    if latent:
        return prediction_error(model, test, PE_STEPS)

    def predict(x0: np.ndarray, n: int) -> np.ndarray:
        return _to_numpy(model.generate(x0, n + 1))[n]

    return prediction_error(predict, test, PE_STEPS)


def _lyapunov_metrics(
    model: Any, latent: bool, test: np.ndarray, after: np.ndarray, dt: float,
    settings: EvalSettings, ref: Reference,
) -> tuple[dict[str, float | None], str | None]:  # fmt: skip
    """The Lyapunov metrics, and why ``lambda_max_gen`` is missing when the estimator gave none."""
    from chaosbench.metrics import lyapunov_error, lyapunov_sign_agreement

    note = None
    if latent:
        spectrum = model_spectrum(model, test, len(ref.spectrum), settings) / dt
    else:
        spectrum, note = _series_exponent(after, dt)
    lam = float(spectrum[0]) if spectrum.size else math.nan
    n = min(len(ref.spectrum), len(spectrum))
    agree = lyapunov_sign_agreement(ref.spectrum[:n], spectrum[:n]) if n and math.isfinite(lam) else False
    metrics = {
        "lambda_max_gen": lam if math.isfinite(lam) else None,
        "lambda_max_error": lyapunov_error(ref.lambda_max, lam),
        "spectrum_sign_agreement": float(agree),
    }
    return metrics, note


def _series_exponent(x: np.ndarray, dt: float) -> tuple[np.ndarray, str | None]:
    """The estimate from a generated series; NaN, with the estimator's reason, when it has none
    (a non-finite series, or one it cannot use, e.g. a model that settled on a fixed point)."""
    if not np.isfinite(x).all():
        return np.array([np.nan]), None
    try:
        return np.array([series_lambda_max(x, dt)]), None
    except ChaosbenchError as err:
        return np.array([np.nan]), first_line(err)


def model_spectrum(model: torch.nn.Module, test: np.ndarray, n_exponents: int, settings: EvalSettings) -> np.ndarray:
    """The leading ``n_exponents`` Lyapunov exponents of a latent model, per step, decreasing.

    The QR method from ``lyapunov_inits`` states ``encode``-d from test points spread evenly over
    the series, ``transient`` steps discarded, then ``lyapunov_steps`` steps; mean over the
    initial states (NaN when the model's orbit or tangent map is not finite).
    """
    from chaosbench.lyapunov import spectrum

    starts = test[np.linspace(0, len(test) - 1, settings.lyapunov_inits).astype(int)]
    param = next(model.parameters())
    with torch.no_grad():
        z0 = model.encode(torch.as_tensor(starts, dtype=param.dtype, device=param.device))
    k = min(n_exponents, z0.shape[-1])
    result = spectrum(model, x0=z0, k=k, n_steps=settings.lyapunov_steps, transient=settings.transient)
    return np.asarray(result.exponents, dtype=np.float64)


def artifacts(x: np.ndarray) -> dict[str, np.ndarray]:
    """Plot data of a series: ``trajectory_sample`` (strided rows) and ``power_spectrum``.

    The spectrum of each of the first three z-scored components is ``|rfft|^2`` without the mean,
    summed over equal bands of frequency and normalised to sum 1 (non-finite data: no spectrum).
    """
    rows, _ = ARTIFACT_LIMITS["trajectory_sample"]
    dims = min(x.shape[1], MAX_ARTIFACT_DIMS)
    stride = max(1, math.ceil(len(x) / rows))
    out = {"trajectory_sample": x[::stride, :dims]}
    if np.isfinite(x).all() and len(x) > 2:
        out["power_spectrum"] = power_spectrum(x[:, :dims])
    return out


def power_spectrum(x: np.ndarray) -> np.ndarray:
    """``(dims, bands)`` normalised band powers of the z-scored columns of ``x`` (see artifacts)."""
    _, max_bands = ARTIFACT_LIMITS["power_spectrum"]
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    power = np.abs(np.fft.rfft(z, axis=0))[1:] ** 2
    bands = min(max_bands, len(power))
    edges = np.linspace(0, len(power), bands + 1).astype(int)
    summed = np.add.reduceat(power, edges[:-1], axis=0)
    total = summed.sum(axis=0)
    return (summed / np.where(total > 0, total, 1.0)).T


def reference_artifacts(datasets: Mapping[str, Any], settings: EvalSettings) -> dict[str, dict[str, np.ndarray]]:
    """The test series of each dataset in artifact form (the leaderboard plots' truth)."""
    return {name: artifacts(settings.test_series(ds.test)) for name, ds in datasets.items()}
