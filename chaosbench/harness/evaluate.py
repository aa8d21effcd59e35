"""Evaluation protocol v3: how a trained model is scored against a dataset (docs/protocol.md).

1. Generate ``runs`` (K, default 8) free runs of ``n_gen`` steps as one batch, from K test
   states spread evenly over the test series: ``x_test[k n_test // K]`` for ``k < K`` (run 0
   starts at ``x_test[0]``, as v2's single run did; at most one run per three test points).
2. Per run, discard the first ``transient`` generated steps; D_stsp and D_H (metric spec v2,
   the mixture estimator standardised by the training split's mean and sd), and every metric
   registered with ``on="trajectory"`` (docs/extending.md), compare the rest with the whole
   test series. The valid prediction time compares the forecast steps ``t >= 1`` of run k with
   the test series from its start onwards. Each of these metrics is the mean over runs; the
   per-run values go with the outcome (``runs``).
3. PE(20) from every test point.
4. ``lambda_max`` of the model from its Jacobians (QR method, leading exponents only,
   ``lyapunov_inits`` states encoded from test points spread over the series, ``lyapunov_steps``
   steps each): a latent model's own, an evaluable model's through its ``tangent_map``. Its
   relative error against the dataset's ``lambda_max``; the sign pattern of the leading
   exponents against the dataset's spectrum. A model without Jacobians: the time-series
   estimator on run 0 (after the transient) and on the test series, bias-matched: the error is
   ``|est(gen) - est(test)| / |est(test)|`` and the sign is that of ``est(gen)``.
5. Status: ``failed`` when model code raised, ``SystemExit`` and ``KeyboardInterrupt`` included
   (reason: stage and exception, one line), else
   ``diverged`` when training diverged, any run diverged (a non-finite value, or one beyond
   ``chaosbench.metrics.DIVERGENCE_WIDTHS`` box widths) or a metric is not finite: every scored
   metric then carries its documented worst value and ``lambda_max_gen`` is missing; else ``ok``.

Small artifacts go with every record for the leaderboard's plots: run 0 after the transient,
strided to at most 2000 rows of its first three components, and its power spectrum.

A unit's latent members are scored together (:func:`evaluate_members`): their free runs, PE(20)
forecasts and Jacobian spectra are computed as one batch through their native ensemble view
(:mod:`chaosbench.harness.members`), which a single latent model with a view also goes through,
as an ensemble of one, so a member scores the same alone or with any others. Models without a
view (evaluable ones, submissions) use their own methods, one by one.

Changes from v2: K free runs instead of one and their means; the valid time of every run from
its own start; ``lambda_max`` of ESN and SINDy from their Jacobians and bias-matched for models
without; worst values for every metric of a diverged run.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from chaosbench.errors import ChaosbenchError, first_line
from chaosbench.harness.members import Members
from chaosbench.metrics import (
    PE_STEPS,
    StateSpaceDivergence,
    first_divergence,
    is_latent_model,
    lyapunov_error,
    lyapunov_sign_agreement,
    power_spectrum_distance,
    prediction_error,
    prediction_error_from_forecasts,
    reported_lambda_max,
    trajectory_metrics,
    valid_prediction_time,
    worst_values,
)
from chaosbench.records import ARTIFACT_LIMITS, MAX_ARTIFACT_DIMS

EVAL_PROTOCOL_VERSION = "3"
RUN_METRICS = ("d_stsp", "d_h", "valid_time")  # scored per free run; the record keeps their mean
_REASON_CHARS = 300
# What model code may raise, recorded as the run's failure: sys.exit() or a KeyboardInterrupt in
# model code must not end the harness (the user's Ctrl-C never reaches model code as one).
MODEL_ERRORS = (Exception, SystemExit, KeyboardInterrupt)


@dataclass(frozen=True)
class EvalSettings:
    """Lengths of the protocol.

    ``n_test``: the test series is the first ``n_test`` points of the test split (``None``: all
    of it; the short suites use less). ``n_gen``: generated steps per run, transient included
    (``None``: ``transient`` plus the test length). ``runs``: free runs per model (K).
    """

    n_test: int | None = None
    n_gen: int | None = None
    transient: int = 1000
    runs: int = 8
    lyapunov_inits: int = 8
    lyapunov_steps: int = 2000

    def __post_init__(self) -> None:
        minimum = {"n_test": PE_STEPS + 1, "n_gen": self.transient + 2, "transient": 0, "runs": 1,
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

    def run_starts(self, n_test: int) -> np.ndarray:
        """Test indices the free runs start from: ``k n_test // K`` for ``k < K``.

        ``K = min(runs, n_test // 3)``: every run starts at least three test points before the
        end, so that its valid time has at least two test points to be compared with.
        """
        k = min(self.runs, n_test // 3)
        return np.arange(k) * n_test // k


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
    """The scored model: status, reason, metric values (record keys), artifacts, evaluation
    info, and ``runs``: the per-run values of the metrics scored per free run."""

    status: str
    reason: str | None
    metrics: dict[str, float | None]
    artifacts: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, list[float]] = field(default_factory=dict)


def one_line(stage: str, err: BaseException) -> str:
    """``stage: ExceptionType: first line of the message``, at most 300 characters."""
    text = str(err).strip().splitlines()
    message = f"{stage}: {type(err).__name__}" + (f": {text[0]}" if text else "")
    return message if len(message) <= _REASON_CHARS else message[: _REASON_CHARS - 3] + "..."


def evaluate(
    model: Any, dataset: Any, settings: EvalSettings, ref: Reference, *, training_failure: str | None = None
) -> Outcome:
    """Score a trained ``model`` (latent or evaluable) on ``dataset`` by the protocol.

    Never raises for a problem in model code: that becomes a ``failed`` outcome with the stage
    and the exception in ``reason`` and every metric computed so far kept. ``training_failure``
    says why training diverged (the model then holds its last finite parameters): the outcome
    is ``diverged`` with worst values, whatever the model scores.
    """
    return evaluate_members([model], dataset, settings, ref, [training_failure])[0]


def evaluate_members(
    models: Sequence[Any], dataset: Any, settings: EvalSettings, ref: Reference,
    training_failures: Sequence[str | None] | None = None,
) -> list[Outcome]:  # fmt: skip
    """Score each of ``models`` as :func:`evaluate` does, with ``training_failures[i]`` its own.

    Latent models that share a native ensemble view (a unit's members) generate their free runs
    and PE(20) forecasts as one batch (:class:`chaosbench.harness.members.Members`), with the
    numbers each would get alone. Every other model, and every member of a batch in which model
    code raised, is scored alone: a member that raises or diverges fails or diverges by itself.
    """
    failures = list(training_failures) if training_failures is not None else [None] * len(models)
    together = _generated_together(models, settings.test_series(dataset.test), settings, ref)
    return [_evaluate(m, dataset, settings, ref, f, g) for m, f, g in zip(models, failures, together, strict=True)]


@dataclass(frozen=True)
class Generated:
    """A member's model outputs, computed with other members: its free runs ``(n_gen, K, N)``,
    its PE(20) forecasts ``(n_test - 20, N)`` and its Jacobian spectrum per step (None: the
    batch's QR run diverged, the member's own run decides)."""

    runs: np.ndarray
    forecasts: np.ndarray
    spectrum: np.ndarray | None


def _generated_together(
    models: Sequence[Any], test: np.ndarray, settings: EvalSettings, ref: Reference
) -> list[Generated | None]:
    """Each model's :class:`Generated` from one batch when there are several that stack, else None."""
    members = Members.of(models) if len(models) > 1 else None
    if members is None:
        return [None] * len(models)
    try:
        runs = members.free_runs(test[settings.run_starts(len(test))], settings.generated_length(len(test)))
        forecasts = members.forecasts(test, PE_STEPS)
        spectra = members.spectra(lyapunov_starts(test, settings), len(ref.spectrum), settings.lyapunov_steps,
                                  settings.transient)  # fmt: skip
    except MODEL_ERRORS:  # some member's code raised: each is scored alone, where it fails by itself
        return [None] * len(models)
    return [Generated(r, f, None if np.isnan(s).any() else s) for r, f, s in zip(runs, forecasts, spectra, strict=True)]


def _evaluate(
    model: Any, dataset: Any, settings: EvalSettings, ref: Reference, training_failure: str | None,
    given: Generated | None,
) -> Outcome:  # fmt: skip
    """:func:`evaluate`, with the model's outputs ``given`` when they were computed beforehand."""
    latent = is_latent_model(model)
    outcome = Outcome("ok", None, {})
    stage = "generate"
    try:
        test = settings.test_series(dataset.test)
        starts = settings.run_starts(len(test))
        runs = given.runs if given else _generate(model, test[starts], settings.generated_length(len(test)))
        after = runs[settings.transient :]
        outcome.artifacts = artifacts(after[:, 0])
        stage = "metrics"
        standardise = statistics(dataset.train)
        outcome.runs = run_metrics(test, runs, starts, settings.transient, dataset.dt, ref.lambda_max, standardise)
        outcome.metrics.update({name: float(np.mean(values)) for name, values in outcome.runs.items()})
        stage = "prediction"
        forecasts = given.forecasts if given else None
        outcome.metrics["pe20"] = _prediction_error(model, test, latent, forecasts)
        stage = "lyapunov"
        exponents = given.spectrum if given else None
        lyapunov, note = _lyapunov_metrics(model, latent, test, after[:, 0], dataset.dt, settings, ref, outcome.info,
                                           exponents)  # fmt: skip
        outcome.metrics.update(lyapunov)
    except MODEL_ERRORS as err:  # model code may raise anything; the run must still be recorded
        return Outcome("failed", one_line(stage, err), outcome.metrics, outcome.artifacts, outcome.info, outcome.runs)
    reasons = [training_failure] if training_failure else []
    bad_runs = _diverged_runs(test, runs)
    if bad_runs:
        reasons.append(bad_runs)
    nonfinite = sorted(k for k, v in outcome.metrics.items() if v is None or not math.isfinite(v))
    if nonfinite and not bad_runs:
        reasons.append(f"not finite: {', '.join(nonfinite)}" + (f" ({note})" if note else ""))
    if reasons:
        _diverge(outcome, "; ".join(reasons), test, len(after), standardise)
    return outcome


def _diverge(
    outcome: Outcome, reason: str, test: np.ndarray, n_after: int, standardise: tuple[np.ndarray, np.ndarray]
) -> None:
    """Mark ``outcome`` diverged: every metric of the spec takes its worst value, any other one
    (``lambda_max_gen``, a registered extension) none; the per-run values stay what each run
    scored."""
    outcome.status, outcome.reason = "diverged", reason
    outcome.metrics = {name: None for name in outcome.metrics}  # a registered extension: no worst value
    outcome.metrics.update(worst_values(test, n_after, standardise=standardise))


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _generate(model: Any, x0: np.ndarray, n: int) -> np.ndarray:
    """The free runs from the batch of states ``x0`` ``(K, N)``: ``(n, K, N)`` (a latent model
    with a native view: through it, as an ensemble of one)."""
    members = Members.of([model])
    if members is not None:
        return members.free_runs(x0, n)[0]
    gen = _to_numpy(model.generate(x0, n))
    if gen.shape != (n, *x0.shape):
        raise ChaosbenchError(
            f"generate(x0 of shape {x0.shape}, {n}) returned shape {gen.shape}, expected {(n, *x0.shape)}"
        )
    return gen


def statistics(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-component mean and sd of the training split (the mixture D_stsp's standardisation)."""
    x = np.asarray(train, dtype=np.float64)
    return x.mean(axis=0), x.std(axis=0)


def run_metrics(
    test: np.ndarray, runs: np.ndarray, starts: np.ndarray, transient: int, dt: float, lambda_max: float,
    standardise: tuple[np.ndarray, np.ndarray],
) -> dict[str, list[float]]:  # fmt: skip
    """D_stsp, D_H, the valid time and the registered trajectory metrics of every free run
    (``runs``: ``(n_gen, K, N)``), by record key."""
    scores: dict[str, list[float]] = {name: [] for name in RUN_METRICS}
    d_stsp = StateSpaceDivergence(test, standardise=standardise)  # the true side once for all runs
    for k, start in enumerate(starts):
        after = runs[transient:, k]
        scores["d_stsp"].append(d_stsp(after))
        scores["d_h"].append(power_spectrum_distance(test, after))
        # the forecast steps t >= 1 (the transient is part of them), aligned with the test series
        scores["valid_time"].append(valid_prediction_time(test[start + 1 :], runs[1:, k], dt, lambda_max))
        for name, value in trajectory_metrics(test, after).items():  # registered extensions
            scores.setdefault(name, []).append(value)
    return scores


def _diverged_runs(test: np.ndarray, runs: np.ndarray) -> str | None:
    """Which free runs diverged (``chaosbench.metrics.first_divergence``), as a reason; else None."""
    rows = [first_divergence(test, runs[:, k]) for k in range(runs.shape[1])]
    bad = [(row, k) for k, row in enumerate(rows) if row is not None]
    if not bad:
        return None
    row, k = min(bad)
    return f"{len(bad)} of {len(rows)} free runs diverged (run {k} from step {row})"


def _prediction_error(model: Any, test: np.ndarray, latent: bool, forecasts: np.ndarray | None) -> float:
    """PE(20) from the ``forecasts`` when given, else the model's own (a latent model with a
    native view: through it, as an ensemble of one)."""
    members = Members.of([model]) if forecasts is None else None
    if members is not None:
        forecasts = members.forecasts(test, PE_STEPS)[0]
    if forecasts is not None:
        return prediction_error_from_forecasts(test, forecasts, PE_STEPS)
    if latent:
        return prediction_error(model, test, PE_STEPS)

    def predict(x0: np.ndarray, n: int) -> np.ndarray:
        return _to_numpy(model.generate(x0, n + 1))[n]

    return prediction_error(predict, test, PE_STEPS)


def _lyapunov_metrics(
    model: Any, latent: bool, test: np.ndarray, run: np.ndarray, dt: float, settings: EvalSettings,
    ref: Reference, info: dict[str, Any], exponents: np.ndarray | None,
) -> tuple[dict[str, float | None], str | None]:  # fmt: skip
    """The Lyapunov metrics, and why ``lambda_max_gen`` is missing when the estimator gave none;
    ``exponents``: the model's Jacobian spectrum per step when it was computed beforehand.

    Records in ``info`` which way ``lambda_max_gen`` was found (``lambda_gen_method``) and, for
    the bias-matched estimate, the test series' own estimate (``lambda_max_test_estimate``).
    """
    note = None
    target = model if latent else _tangent_map(model)
    if target is not None:
        info["lambda_gen_method"] = "jacobian"
        per_step = exponents if exponents is not None else model_spectrum(target, test, len(ref.spectrum), settings)
        spectrum = per_step / dt
        lambda_true = ref.lambda_max
    else:
        info["lambda_gen_method"] = "timeseries"
        lambda_true = info["lambda_max_test_estimate"] = bias_matched_reference(test, dt)
        spectrum, note = _series_exponent(run, dt)
    lam = float(spectrum[0]) if spectrum.size else math.nan
    n = min(len(ref.spectrum), len(spectrum))
    agree = lyapunov_sign_agreement(ref.spectrum[:n], spectrum[:n]) if n else False
    metrics = {
        "lambda_max_gen": reported_lambda_max(lam),
        "lambda_max_error": lyapunov_error(lambda_true, lam),
        "spectrum_sign_agreement": float(agree),
    }
    return metrics, note


def _tangent_map(model: Any) -> Any:
    """An evaluable model's map with a Jacobian (``tangent_map()``), None if it has none."""
    make = getattr(model, "tangent_map", None)
    return make() if callable(make) else None


_TEST_LAMBDA: dict[tuple[str, float], float] = {}


def bias_matched_reference(test: np.ndarray, dt: float) -> float:
    """The time-series estimate of the test series, the bias-matched reference of a model
    without Jacobians; computed once per series and process (it takes seconds)."""
    key = (hashlib.sha256(np.ascontiguousarray(test).tobytes()).hexdigest(), float(dt))
    if key not in _TEST_LAMBDA:
        _TEST_LAMBDA[key] = series_lambda_max(test, dt)
    return _TEST_LAMBDA[key]


def _series_exponent(x: np.ndarray, dt: float) -> tuple[np.ndarray, str | None]:
    """The estimate from a generated series; NaN, with the estimator's reason, when it has none
    (a non-finite series, or one it cannot use, e.g. a model that settled on a fixed point)."""
    if not np.isfinite(x).all():
        return np.array([np.nan]), None
    try:
        return np.array([series_lambda_max(x, dt)]), None
    except ChaosbenchError as err:
        return np.array([np.nan]), first_line(err)


def model_spectrum(model: Any, test: np.ndarray, n_exponents: int, settings: EvalSettings) -> np.ndarray:
    """The leading ``n_exponents`` Lyapunov exponents of a latent model or a ``TangentMap``, per
    step, decreasing.

    The QR method from ``lyapunov_inits`` states ``encode``-d from test points spread evenly over
    the series, ``transient`` steps discarded, then ``lyapunov_steps`` steps; mean over the
    initial states (NaN when the model's orbit or tangent map is not finite).
    """
    from chaosbench.lyapunov import spectrum

    starts = lyapunov_starts(test, settings)
    members = Members.of([model])
    if members is not None:  # through its native view, as an ensemble of one
        return members.spectra(starts, n_exponents, settings.lyapunov_steps, settings.transient)[0]
    param = next(model.parameters()) if isinstance(model, torch.nn.Module) else None
    dtype, device = (param.dtype, param.device) if param is not None else (model.dtype, torch.device("cpu"))
    with torch.no_grad():
        z0 = model.encode(torch.as_tensor(starts, dtype=dtype, device=device))
    k = min(n_exponents, z0.shape[-1])
    result = spectrum(model, x0=z0, k=k, n_steps=settings.lyapunov_steps, transient=settings.transient,
                      progress=False)  # fmt: skip
    return np.asarray(result.exponents, dtype=np.float64)


def lyapunov_starts(test: np.ndarray, settings: EvalSettings) -> np.ndarray:
    """The ``lyapunov_inits`` test points the spectrum's orbits start from, spread evenly."""
    return test[np.linspace(0, len(test) - 1, settings.lyapunov_inits).astype(int)]


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
