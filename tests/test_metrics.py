"""Metric spec v2: properties, exact identities, worst values, bad input and golden values.

Golden values: ``tests/golden/metrics_v2.json`` pins every metric on fixed inputs. After an
intended change of a definition (which must bump METRIC_SPEC_VERSION), regenerate it with
``CHAOSBENCH_REGENERATE_GOLDEN=1 python -m pytest tests/test_metrics.py -k golden``.
``tests/golden/metrics_v1.json`` stays as it was: the v1 values of the definitions that v2 left
unchanged must still come out.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from chaosbench.errors import ChaosbenchError
from chaosbench.metrics import (
    DIVERGENCE_WIDTHS,
    KNOWN_METRIC_SPECS,
    METRIC_SPEC_VERSION,
    METRICS,
    StateSpaceDivergence,
    directions,
    evaluate_trajectory,
    first_divergence,
    is_latent_model,
    lyapunov_error,
    lyapunov_sign_agreement,
    power_spectrum_distance,
    prediction_error,
    prediction_error_from_forecasts,
    reported_lambda_max,
    scored,
    state_space_divergence,
    valid_prediction_time,
    worst_values,
)

GOLDEN = Path(__file__).parent / "golden" / "metrics_v2.json"
GOLDEN_V1 = Path(__file__).parent / "golden" / "metrics_v1.json"
GMM_FAST = {"method": "gmm", "n_samples": 1024, "max_points": 2000}


# ---------------------------------------------------------------- trajectories


def _lorenz(t: float, u: np.ndarray) -> np.ndarray:
    x, y, z = u.reshape(3, -1)
    return np.concatenate([10.0 * (y - x), x * (28.0 - z) - y, x * y - 8.0 / 3.0 * z])


def _roessler(t: float, u: np.ndarray) -> np.ndarray:
    x, y, z = u.reshape(3, -1)
    return np.concatenate([-y - z, x + 0.2 * y, 0.2 + z * (x - 5.7)])


def _integrate(rhs, starts: list[list[float]], dt: float, n: int, transient: int) -> np.ndarray:
    """Independent runs (one per start) integrated together; returns z-scored (runs, n, 3)."""
    u0 = np.asarray(starts, dtype=float).T.ravel()
    times = np.arange(n + transient) * dt
    sol = solve_ivp(rhs, (0.0, times[-1]), u0, t_eval=times, rtol=1e-7, atol=1e-7)
    runs = sol.y[:, transient:].reshape(3, len(starts), n).transpose(1, 2, 0)
    return (runs - runs.mean(axis=1, keepdims=True)) / runs.std(axis=1, keepdims=True)


@pytest.fixture(scope="session")
def lorenz() -> np.ndarray:
    """Two independent z-scored Lorenz-63 runs, 20 000 steps of dt = 0.01 each."""
    return _integrate(_lorenz, [[1.0, 1.0, 1.0], [-3.0, 2.0, 20.0]], 0.01, 20_000, 2_000)


@pytest.fixture(scope="session")
def roessler() -> np.ndarray:
    """A z-scored Roessler run, 20 000 steps of dt = 0.1."""
    return _integrate(_roessler, [[1.0, 1.0, 0.0]], 0.1, 20_000, 1_000)[0]


def _delay_embed(x: np.ndarray, dims: int = 8, lag: int = 5) -> np.ndarray:
    """Delay embedding of the first component: an N > 5 trajectory for the mixture estimator."""
    n = len(x) - (dims - 1) * lag
    return np.stack([x[i * lag : i * lag + n, 0] for i in range(dims)], axis=1)


@pytest.fixture(scope="session")
def embedded(lorenz, roessler) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-D delay embeddings (every 4th step) of the two Lorenz runs and of Roessler."""
    return tuple(_delay_embed(x)[::4] for x in (lorenz[0], lorenz[1], roessler))


# ---------------------------------------------------------------- D_stsp


def test_dstsp_of_a_trajectory_against_itself_is_zero(lorenz, embedded):
    assert state_space_divergence(lorenz[0], lorenz[0]) == 0.0
    assert state_space_divergence(embedded[0], embedded[0], **GMM_FAST) == 0.0


def test_dstsp_separates_lorenz_from_roessler(lorenz, roessler, embedded):
    same = state_space_divergence(lorenz[0], lorenz[1])
    other = state_space_divergence(lorenz[0], roessler)
    assert 0.0 < same and other > 4.0 * same
    same_gmm = state_space_divergence(embedded[0], embedded[1], **GMM_FAST)
    other_gmm = state_space_divergence(embedded[0], embedded[2], **GMM_FAST)
    assert 0.0 < same_gmm and other_gmm > 10.0 * same_gmm


def test_dstsp_longer_sample_of_the_same_attractor_scores_lower(lorenz, embedded):
    assert state_space_divergence(lorenz[0], lorenz[1]) < state_space_divergence(
        lorenz[0], lorenz[1][:2000]
    )
    long_gmm = state_space_divergence(embedded[0], embedded[1], **GMM_FAST)
    short_gmm = state_space_divergence(embedded[0], embedded[1][:300], **GMM_FAST)
    assert long_gmm < short_gmm


def test_dstsp_auto_picks_bins_up_to_five_dimensions(lorenz, embedded):
    assert state_space_divergence(lorenz[0], lorenz[1]) == state_space_divergence(
        lorenz[0], lorenz[1], method="bins"
    )
    fast = {k: v for k, v in GMM_FAST.items() if k != "method"}
    assert state_space_divergence(embedded[0], embedded[1], **fast) == state_space_divergence(
        embedded[0], embedded[1], method="gmm", **fast
    )
    with pytest.raises(ChaosbenchError, match="unknown D_stsp method"):
        state_space_divergence(lorenz[0], lorenz[1], method="kde")


def test_binned_dstsp_penalises_escape_by_the_box_rule(lorenz):
    true, gen = lorenz[0], lorenz[1].copy()
    base = state_space_divergence(true, gen)
    near, far = gen.copy(), gen.copy()
    near[:4000, 0] += 10.0  # a fifth of the points leaves the box ...
    far[:4000, 0] += 1e6  # ... and escaping further changes nothing
    assert state_space_divergence(true, near) > base + 0.1
    assert state_space_divergence(true, near) == state_space_divergence(true, far)
    # every point outside the box is the documented worst value, the same as non-finite data
    outside = state_space_divergence(true, gen + 100.0)
    assert outside == state_space_divergence(true, np.full_like(gen, np.nan))
    assert state_space_divergence(true, near) < outside


def test_binned_dstsp_worst_value_matches_its_closed_form(lorenz):
    true, n_bins = lorenz[0], 30
    box_lo, box_hi = true.min(0) - 0.1 * true.std(0), true.max(0) + 0.1 * true.std(0)
    scaled = ((true - box_lo) / (box_hi - box_lo) * n_bins).astype(int)
    counts = np.bincount(np.ravel_multi_index(scaled.T, (n_bins,) * 3), minlength=n_bins**3)
    alpha, t_gen = 1e-5, 500
    p = (counts + alpha) / (len(true) + alpha * n_bins**3)
    q = alpha / (t_gen + alpha * n_bins**3)
    expected = float(np.sum(p * np.log(p / q)))
    worst = state_space_divergence(true, np.full((t_gen, 3), np.inf))
    assert worst == pytest.approx(expected, rel=1e-10)


def test_binned_dstsp_is_invariant_to_scale_and_order_of_components(lorenz):
    true, gen = lorenz[0], lorenz[1]
    base = state_space_divergence(true, gen)
    assert state_space_divergence(4.0 * true, 4.0 * gen) == base  # power of two: exact
    order = [2, 0, 1]
    assert state_space_divergence(true[:, order], gen[:, order]) == pytest.approx(base, 1e-12)


def test_gmm_dstsp_floors_escaped_mass_and_scores_divergence_as_the_floor(embedded):
    true, gen = embedded[0], embedded[1].copy()
    base = state_space_divergence(true, gen, **GMM_FAST)
    near, far = gen.copy(), gen.copy()
    near[::2] += 30.0
    far[::2] += 1e6
    assert state_space_divergence(true, near, **GMM_FAST) > base + 0.3
    assert state_space_divergence(true, near, **GMM_FAST) == pytest.approx(
        state_space_divergence(true, far, **GMM_FAST), rel=1e-9
    )
    worst = state_space_divergence(true, np.full_like(gen, np.nan), **GMM_FAST)
    assert worst == state_space_divergence(true, gen + 1e6, **GMM_FAST)
    assert math.isfinite(worst) and worst > state_space_divergence(true, near, **GMM_FAST)


def test_one_true_side_scores_many_runs_as_the_function_does(lorenz, embedded):
    for true, gens, options in ((lorenz[0], [lorenz[1], lorenz[1][:3000], lorenz[1] + 50.0], {}),
                                (embedded[0], [embedded[1], embedded[2], embedded[1] * np.nan], GMM_FAST)):  # fmt: skip
        score = StateSpaceDivergence(true, **options)
        for gen in gens:
            assert score(gen) == state_space_divergence(true, gen, **options)


def test_gmm_dstsp_is_deterministic_for_a_seed(embedded):
    true, gen = embedded[0], embedded[1]
    first = state_space_divergence(true, gen, seed=3, **GMM_FAST)
    assert first == state_space_divergence(true, gen, seed=3, **GMM_FAST)
    assert first != state_space_divergence(true, gen, seed=4, **GMM_FAST)


def test_gmm_dstsp_uses_true_standardised_units(embedded):
    """sigma is measured in true standard deviations: rescaling both trajectories is harmless."""
    true, gen = embedded[0], embedded[1]
    base = state_space_divergence(true, gen, **GMM_FAST)
    assert state_space_divergence(3.0 * true + 7.0, 3.0 * gen + 7.0, **GMM_FAST) == (
        pytest.approx(base, rel=1e-9)
    )


def test_gmm_dstsp_standardises_by_the_given_statistics(embedded):
    """Spec v2: the harness passes the training split's (mean, sd); by default x_true's own."""
    true, gen = embedded[0], embedded[1]
    own = (true.mean(axis=0), true.std(axis=0))
    base = state_space_divergence(true, gen, **GMM_FAST)
    assert state_space_divergence(true, gen, standardise=own, **GMM_FAST) == pytest.approx(base, rel=1e-12)
    # a training sd twice the test's: sigma = 1 training sd is 2 test sd, so the mixtures are
    # smoother and closer than in the test's own units (v1 always used those)
    train_units = (own[0], 2.0 * own[1])
    smoother = state_space_divergence(true, gen, standardise=train_units, **GMM_FAST)
    assert smoother < base
    # exactly: standardising by 2 sd equals scoring with sigma = 2 in the test's own units
    assert smoother == pytest.approx(state_space_divergence(true, gen, sigma=2.0, **GMM_FAST), rel=1e-9)
    with pytest.raises(ChaosbenchError, match="mean and an sd of 8 values"):
        state_space_divergence(true, gen, standardise=(own[0][:3], own[1]), **GMM_FAST)
    with pytest.raises(ChaosbenchError, match="sd finite and > 0"):
        state_space_divergence(true, gen, standardise=(own[0], 0.0 * own[1]), **GMM_FAST)


# ---------------------------------------------------------------- D_H


def test_dh_self_zero_and_lorenz_far_from_roessler(lorenz, roessler):
    assert power_spectrum_distance(lorenz[0], lorenz[0]) == 0.0
    same = power_spectrum_distance(lorenz[0], lorenz[1])
    other = power_spectrum_distance(lorenz[0], roessler)
    assert 0.0 < same < 0.1 and other > 10.0 * same and other <= 1.0


def test_dh_lies_in_unit_interval_and_noise_is_far_from_a_sine():
    rng = np.random.default_rng(0)
    t = np.arange(4096) * 0.05
    sine = np.stack([np.sin(t), np.sin(2.3 * t)], axis=1)
    noise = rng.standard_normal((4096, 2))
    values = [power_spectrum_distance(a, b) for a in (sine, noise) for b in (sine, noise)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert power_spectrum_distance(sine, noise) > 0.8


def test_dh_truncates_to_the_shorter_trajectory(lorenz):
    short, long = lorenz[0][:5000], lorenz[1]
    expected = power_spectrum_distance(short, long[:5000])
    assert power_spectrum_distance(short, long) == expected
    # the other way round the spectra are cut alike, but the box stays the whole x_true's: the
    # tail matters only through the box, which reordering the tail's rows leaves as it is
    shuffled = long.copy()
    shuffled[5000:] = np.random.default_rng(0).permutation(long[5000:])
    assert power_spectrum_distance(shuffled, short) == pytest.approx(power_spectrum_distance(long, short), 1e-12)


def test_dh_is_invariant_to_scaling_both_series(lorenz):
    base = power_spectrum_distance(lorenz[0], lorenz[1])
    assert power_spectrum_distance(4.0 * lorenz[0] - 3.0, 4.0 * lorenz[1] - 3.0) == pytest.approx(base, 1e-12)


def _box(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sd = x.std(axis=0)
    return x.min(axis=0) - 0.1 * sd, x.max(axis=0) + 0.1 * sd


def _per_component_dh(true: np.ndarray, gen: np.ndarray) -> np.ndarray:
    return np.array([power_spectrum_distance(true[:, [d]], gen[:, [d]]) for d in range(true.shape[1])])


def test_dh_counts_one_escaped_point_by_its_share(lorenz):
    """Spec v2: clipped to the box, and the escape fraction f mixed in as f + (1 - f) H."""
    true = lorenz[0]
    lo, hi = _box(true)
    gen = np.clip(lorenz[1], lo, hi)  # another orbit, inside the box
    clean = power_spectrum_distance(true, gen)
    assert power_spectrum_distance(true, true) == 0.0 and 0.0 < clean < 0.1
    gen[5000, 0] = 1e6  # v1: 0.88
    at_edge = np.clip(gen, lo, hi)  # the same point at the box's edge: inside, not escaped
    h = _per_component_dh(true, at_edge)
    escaped_score = power_spectrum_distance(true, gen)
    share = 1.0 / len(gen)
    assert escaped_score == pytest.approx(np.mean([share + (1 - share) * h[0], h[1], h[2]]), rel=1e-12)
    assert escaped_score > power_spectrum_distance(true, at_edge) == pytest.approx(np.mean(h), rel=1e-12)
    assert abs(escaped_score - clean) < 1e-3  # one point in 20 000


def test_dh_penalises_a_rescaled_attractor(lorenz):
    true, gen = lorenz[0], lorenz[1]
    clean = power_spectrum_distance(true, gen)
    lo, hi = _box(true)
    tripled = 3.0 * gen
    escaped = np.mean((tripled < lo) | (tripled > hi), axis=0)
    assert escaped.min() > 0.3  # most of a 3x orbit lies outside the true box
    expected = float(np.mean(escaped + (1.0 - escaped) * _per_component_dh(true, np.clip(tripled, lo, hi))))
    score = power_spectrum_distance(true, tripled)
    assert score == pytest.approx(expected, rel=1e-12)
    assert score > 0.4 > 10.0 * clean  # v1 scored the 3x orbit as well as the original


def test_dh_of_a_blown_up_series_is_diverged_not_nan(lorenz):
    true, gen = lorenz[0][:5000], lorenz[1][:5000]
    huge = 1e155 * gen  # finite, but its squares overflow: v1 gave NaN with status ok
    assert np.isfinite(huge).all()
    result = evaluate_trajectory(true, huge, dt=0.01, lambda_max=0.9056)
    assert result["status"] == "diverged" and result["d_h"] == 1.0
    assert result["d_stsp"] == state_space_divergence(true, np.full_like(gen, np.nan))
    assert all(math.isfinite(v) for v in result.values() if isinstance(v, float))


def test_dh_constant_generated_component_scores_the_maximum(lorenz):
    gen = lorenz[0][:, :2].copy()
    gen[:, 1] = 0.25
    assert power_spectrum_distance(lorenz[0][:, :2], gen) == 0.5  # (0 + 1) / 2


# ---------------------------------------------------------------- lambda_max error


def test_lyapunov_error_is_relative_and_capped():
    assert lyapunov_error(0.9056, 0.9056) == 0.0
    assert lyapunov_error(0.5, 0.4) == pytest.approx(0.2)
    assert lyapunov_error(-0.5, 0.0) == pytest.approx(1.0)
    assert lyapunov_error(0.1, 50.0) == 10.0
    assert lyapunov_error(0.1, float("nan")) == 10.0
    with pytest.raises(ChaosbenchError, match="nonzero"):
        lyapunov_error(0.0, 0.3)


def test_lyapunov_sign_agreement_compares_leading_exponents():
    lorenz = [0.9056, 0.0, -14.5723]
    assert lyapunov_sign_agreement(lorenz, [-14.0, 0.01, 0.85, -20.0, -3.0])
    assert not lyapunov_sign_agreement(lorenz, [0.05, 0.0, -14.0])  # not chaotic
    assert not lyapunov_sign_agreement(lorenz, [0.85, 0.3, 0.2])  # no contracting direction
    assert not lyapunov_sign_agreement(lorenz, [0.85, 0.0])
    assert not lyapunov_sign_agreement(lorenz, [0.85, float("nan"), -14.0])
    assert lyapunov_sign_agreement(torch.tensor(lorenz), np.array(lorenz))


def test_lyapunov_sign_agreement_skips_the_true_zero_exponent():
    """Spec v2: a flow's zero exponent has no sign to agree with, whatever a model's estimate."""
    lorenz = [0.9056, 1.3e-5, -14.5723]
    for middle in (-0.5, -0.01, 0.0, 0.01, 0.5):
        assert lyapunov_sign_agreement(lorenz, [0.85, middle, -14.0])
    assert not lyapunov_sign_agreement(lorenz, [0.85, 0.3, 0.05])  # the last one is in the band
    assert lyapunov_sign_agreement([0.9056, 0.5, -14.5723], [0.85, 0.4, -14.0])
    assert not lyapunov_sign_agreement([0.9056, 0.5, -14.5723], [0.85, -0.4, -14.0])
    assert lyapunov_sign_agreement(lorenz, [0.85, 0.3, -14.0], zero_tol=0.6)
    assert not lyapunov_sign_agreement(lorenz, [0.5, 0.3, -14.0], zero_tol=0.6)
    with pytest.raises(ChaosbenchError, match="no exponent outside the zero band"):
        lyapunov_sign_agreement([0.01, 0.0], [0.01, 0.0], zero_tol=0.1)


def test_reported_lambda_max_is_the_value_or_none():
    assert reported_lambda_max(0.87) == 0.87 and reported_lambda_max(-2) == -2.0
    assert reported_lambda_max(float("nan")) is None and reported_lambda_max(float("inf")) is None


# ---------------------------------------------------------------- PE(n)


def _rotation(angle: float) -> np.ndarray:
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


THETA = 0.05


def _circle(n: int = 3000) -> np.ndarray:
    """Points on the unit circle advanced by THETA per step: x_{t+1} = R(THETA) x_t."""
    angles = THETA * np.arange(n) + 0.3
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


class RotationLatent(torch.nn.Module):
    """Latent model: the data rotated in a 3-D latent space with one extra decaying direction."""

    def __init__(self, angle: float, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        step = np.zeros((3, 3))
        step[:2, :2] = _rotation(angle)
        step[2, 2] = 0.5
        self.weight = torch.nn.Parameter(torch.tensor(step, dtype=dtype))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)

    def step(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.weight.T

    def observe(self, z: torch.Tensor) -> torch.Tensor:
        return z[..., :2]


def test_pe_of_the_exact_model_is_zero_and_of_a_detuned_one_is_known():
    x, n, delta = _circle(), 20, 0.01
    assert prediction_error(RotationLatent(THETA), x, n) < 1e-25
    # |R(n delta) u - u|^2 = 4 sin^2(n delta / 2) for a unit vector, spread over 2 components
    expected = 2.0 * math.sin(n * delta / 2.0) ** 2
    assert prediction_error(RotationLatent(THETA + delta), x, n) == pytest.approx(expected, 1e-9)


def test_pe_latent_callable_and_forecast_forms_agree_and_chunks_do_not_matter():
    x, n, angle = _circle(), 20, THETA + 0.02
    step_n = np.linalg.matrix_power(_rotation(angle), n)
    latent = prediction_error(RotationLatent(angle), x, n)
    assert is_latent_model(RotationLatent(angle)) and not is_latent_model(lambda x0, k: x0)
    assert prediction_error(RotationLatent(angle), x, n, chunk_size=7) == pytest.approx(
        latent, rel=1e-12
    )
    def predict(x0: np.ndarray, k: int) -> np.ndarray:
        return x0 @ np.linalg.matrix_power(_rotation(angle), k).T

    assert prediction_error(predict, x, n) == pytest.approx(latent, rel=1e-12)
    assert prediction_error_from_forecasts(x, x[:-n] @ step_n.T, n) == pytest.approx(latent, 1e-12)
    float32 = prediction_error(RotationLatent(angle, torch.float32), torch.tensor(x), n)
    assert float32 == pytest.approx(latent, rel=1e-4)


def test_pe_clips_forecasts_to_the_box_and_scores_nonfinite_as_the_bound():
    x, n = _circle(), 20
    sd = x.std(0)
    lo, hi = x.min(0) - 0.1 * sd, x.max(0) + 0.1 * sd
    worst = float(np.mean((hi - lo) ** 2))
    far = np.full((len(x) - n, 2), 1e5)  # escaped, but not by a million box widths
    assert prediction_error_from_forecasts(x, far, n) == pytest.approx(
        float(np.mean((hi - x[n:]) ** 2)), rel=1e-12
    )
    blown_up = x[n:].copy()
    blown_up[3, 0] = hi[0] + 1.01 * DIVERGENCE_WIDTHS * (hi[0] - lo[0])  # diverged: the bound
    assert prediction_error_from_forecasts(x, blown_up, n) == pytest.approx(worst, rel=1e-12)
    broken = x[n:].copy()
    broken[17, 1] = np.nan
    assert prediction_error_from_forecasts(x, broken, n) == pytest.approx(worst, rel=1e-12)
    assert prediction_error(lambda x0, k: x0 * np.inf, x, n) == pytest.approx(worst, rel=1e-12)


def test_pe_rejects_bad_input():
    x = _circle(100)
    with pytest.raises(ChaosbenchError, match="shape"):
        prediction_error_from_forecasts(x, x, 20)
    with pytest.raises(ChaosbenchError, match="at least 21 points"):
        prediction_error_from_forecasts(x[:20], x[:0], 20)
    with pytest.raises(ChaosbenchError, match="must return shape"):
        prediction_error(lambda x0, k: x0[:, :1], x, 5)
    with pytest.raises(ChaosbenchError, match="latent model"):
        prediction_error(object(), x, 5)
    with pytest.raises(ChaosbenchError, match="n must be"):
        prediction_error_from_forecasts(x, x, 0)


# ---------------------------------------------------------------- valid prediction time


def test_vpt_counts_leading_valid_rows_in_lyapunov_times():
    x, dt, lam = _circle(1000), 0.01, 0.9
    sd = x.std(0)
    pred = x.copy()
    pred[137:] += 10.0
    assert valid_prediction_time(x, pred, dt, lam) == pytest.approx(137 * dt * lam)
    # the normalised error of an offset of c * sd in every component is c
    assert valid_prediction_time(x, x + 0.49 * sd, dt, lam) == pytest.approx(1000 * dt * lam)
    assert valid_prediction_time(x, x + 0.51 * sd, dt, lam) == 0.0
    assert valid_prediction_time(x, x + 0.51 * sd, dt, lam, threshold=0.6) == pytest.approx(
        1000 * dt * lam
    )
    assert valid_prediction_time(x, pred[:300], dt, lam) == pytest.approx(137 * dt * lam)


def test_vpt_stops_at_the_first_nonfinite_row():
    x = _circle(500)
    pred = x.copy()
    pred[50:] = np.nan
    assert valid_prediction_time(x, pred, 0.1, 1.0) == pytest.approx(5.0)
    pred[0] = np.inf
    assert valid_prediction_time(x, pred, 0.1, 1.0) == 0.0
    with pytest.raises(ChaosbenchError, match="dt must be"):
        valid_prediction_time(x, x, 0.0, 1.0)


# ---------------------------------------------------------------- evaluate_trajectory


def test_evaluate_trajectory_stamps_the_spec_and_matches_the_metrics(lorenz):
    true, gen = lorenz[0][:5000], lorenz[1][:5000]
    result = evaluate_trajectory(true, gen, dt=0.01, lambda_max=0.9056)
    assert result["metric_spec_version"] == METRIC_SPEC_VERSION == "2"
    assert KNOWN_METRIC_SPECS == {"1", "2"}
    assert result["status"] == "ok"
    assert result["d_stsp"] == state_space_divergence(true, gen)
    assert result["d_h"] == power_spectrum_distance(true, gen)
    assert result["valid_time"] == valid_prediction_time(true, gen, 0.01, 0.9056)
    assert json.loads(json.dumps(result)) == result


def test_all_nan_generated_data_is_diverged_with_worst_values(lorenz):
    true = lorenz[0][:5000]
    nan = np.full_like(true, np.nan)
    result = evaluate_trajectory(true, nan, dt=0.01, lambda_max=0.9056)
    assert result["status"] == "diverged"
    assert result["d_h"] == 1.0 and result["valid_time"] == 0.0
    assert result["d_stsp"] == state_space_divergence(true, true + 100.0)
    assert all(math.isfinite(v) for v in result.values() if isinstance(v, float))
    late = true.copy()
    late[4000] = np.inf
    partial = evaluate_trajectory(true, late, dt=0.01, lambda_max=0.9056)
    assert partial["status"] == "diverged" and partial["d_h"] == 1.0
    assert partial["valid_time"] == pytest.approx(4000 * 0.01 * 0.9056)


def test_scores_are_nonnegative(lorenz, roessler, embedded):
    pairs = [(lorenz[0], lorenz[1]), (lorenz[0], roessler), (lorenz[1], lorenz[0][:3000])]
    for true, gen in pairs:
        assert state_space_divergence(true, gen) >= 0.0
        assert power_spectrum_distance(true, gen) >= 0.0
        assert valid_prediction_time(true, gen, 0.01, 0.9) >= 0.0
    assert state_space_divergence(embedded[1], embedded[0], **GMM_FAST) >= 0.0


def test_torch_tensors_give_the_same_numbers_as_numpy(lorenz):
    true, gen = lorenz[0][:3000], lorenz[1][:3000]
    as_tensor = torch.tensor(gen, requires_grad=True)
    assert state_space_divergence(torch.tensor(true), as_tensor) == state_space_divergence(
        true, gen
    )
    assert power_spectrum_distance(true, as_tensor) == power_spectrum_distance(true, gen)
    assert first_divergence(true, as_tensor) is None and first_divergence(true, gen) is None


def test_first_divergence_finds_nonfinite_and_blown_up_rows(lorenz):
    true, gen = lorenz[0][:3000], lorenz[1][:3000].copy()
    lo, hi = _box(true)
    reach = DIVERGENCE_WIDTHS * (hi - lo)
    gen[700, 1] = lo[1] - 0.99 * reach[1]  # far out, still scored
    assert first_divergence(true, gen) is None
    gen[900, 2] = hi[2] + 1.01 * reach[2]
    gen[1200, 0] = np.nan
    assert first_divergence(true, gen) == 900
    gen[400, 0] = -np.inf
    assert first_divergence(true, torch.tensor(gen)) == 400


@pytest.mark.parametrize(
    ("true", "gen", "match"),
    [
        (np.zeros(10), np.zeros(10), "must be a \\(T, N\\) array"),
        (np.ones((10, 2, 1)), np.ones((10, 2)), "must be a \\(T, N\\) array"),
        (np.random.default_rng(0).random((10, 2)), np.ones((10, 3)), "2 dimensions but"),
        (np.random.default_rng(0).random((1, 2)), np.ones((10, 2)), "at least 2 points"),
        (np.full((10, 2), np.nan), np.ones((10, 2)), "true data must be finite"),
        (np.ones((10, 2)), np.ones((10, 2)), "component 0 is constant"),
        ([["a", "b"], ["c", "d"]], np.ones((2, 2)), "not a numeric array"),
    ],
)
def test_bad_input_raises_one_line_errors(true, gen, match):
    for metric in (state_space_divergence, power_spectrum_distance):
        with pytest.raises(ChaosbenchError, match=match):
            metric(true, gen)


def test_registry_is_the_one_metrics_table():
    assert directions() == {
        "d_stsp": "min", "d_h": "min", "lambda_max_error": "min", "lambda_max_gen": None,
        "spectrum_sign_agreement": "max", "pe20": "min", "valid_time": "max",
    }  # fmt: skip
    assert scored() == ["d_stsp", "d_h", "lambda_max_error", "spectrum_sign_agreement", "pe20", "valid_time"]
    assert METRICS.get("d_h") is power_spectrum_distance
    assert METRICS.meta("d_stsp")["label"] == "D_stsp" and METRICS.meta("pe20")["latex"] == "PE(20)"
    assert all({"better", "label", "latex"} <= set(METRICS.meta(name)) for name in METRICS)


def test_metrics_import_no_harness_leaderboard_training_or_torch():
    """Records and tables read the registry: importing it must stay light and below them."""
    script = (
        "import sys, chaosbench.metrics\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or m.startswith("
        "('chaosbench.harness', 'chaosbench.leaderboard', 'chaosbench.training', 'chaosbench.models'))))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_worst_values_are_what_each_metric_gives_a_diverged_run(lorenz, embedded):
    true, n_gen = lorenz[0][:5000], 4000
    nan = np.full((n_gen, 3), np.nan)
    worst = worst_values(true, n_gen)
    assert sorted(worst) == sorted(scored())
    assert worst["d_stsp"] == state_space_divergence(true, nan) > 10.0
    lo, hi = _box(true)
    assert worst["pe20"] == pytest.approx(float(np.mean((hi - lo) ** 2)), rel=1e-12)
    assert worst["pe20"] == prediction_error(lambda x0, n: x0 * np.inf, true)
    assert (worst["d_h"], worst["lambda_max_error"], worst["spectrum_sign_agreement"], worst["valid_time"]) == (
        1.0, 10.0, 0.0, 0.0)  # fmt: skip
    # the mixture's worst value depends on the standardisation it is given
    true8 = embedded[0]
    stats = (true8.mean(axis=0), 2.0 * true8.std(axis=0))
    assert worst_values(true8, 500, standardise=stats)["d_stsp"] == state_space_divergence(
        true8, np.full((500, 8), np.nan), standardise=stats
    )


# ---------------------------------------------------------------- golden values


def _golden_values() -> dict[str, float]:
    """Every metric on fixed, closed-form inputs (plus seeded noise), worst values included."""
    rng = np.random.default_rng(20240601)
    t = np.arange(3000) * 0.05
    true3 = np.stack(
        [np.sin(t) + 0.3 * np.sin(3.1 * t), np.cos(0.7 * t), np.sin(t) * np.cos(0.37 * t)], 1
    )
    gen3 = np.stack([np.sin(1.05 * t), np.cos(0.7 * t + 0.4), np.sin(0.9 * t) * np.cos(0.4 * t)], 1)
    true3 += 0.05 * rng.standard_normal(true3.shape)
    gen3 += 0.05 * rng.standard_normal(gen3.shape)
    freqs = np.array([1.0, 0.7, 1.3, 0.45, 2.1, 0.9, 1.7, 0.6])
    true8 = np.sin(np.outer(t, freqs)) + 0.1 * rng.standard_normal((3000, 8))
    gen8 = np.sin(np.outer(t, 1.02 * freqs) + 0.2) + 0.1 * rng.standard_normal((3000, 8))
    x, n = _circle(), 20
    return {
        "d_stsp_bins": state_space_divergence(true3, gen3),
        "d_stsp_bins_10": state_space_divergence(true3, gen3, n_bins=10),
        "d_stsp_bins_worst": state_space_divergence(true3, gen3 * np.nan),
        "d_stsp_gmm": state_space_divergence(true8, gen8),
        "d_stsp_gmm_sigma_half": state_space_divergence(true8, gen8, sigma=0.5, n_samples=500),
        "d_stsp_gmm_worst": state_space_divergence(true8, gen8 * np.nan),
        "d_stsp_gmm_standardised": state_space_divergence(
            true8, gen8, standardise=(np.full(8, 0.1), np.linspace(0.5, 1.5, 8))
        ),
        "d_h": power_spectrum_distance(true3, gen3),
        "d_h_8d": power_spectrum_distance(true8, gen8[:2500]),
        "d_h_sigma_5": power_spectrum_distance(true3, gen3, sigma=5.0),
        "d_h_escaped": power_spectrum_distance(true3, 1.5 * gen3),
        "d_h_worst": power_spectrum_distance(true3, gen3 * 1e155),
        "lambda_max_error": lyapunov_error(0.9056, 0.8322),
        "sign_agreement_flow": float(lyapunov_sign_agreement([0.9056, 0.0, -14.57], [0.8, -0.3, -12.0])),
        "pe_latent": prediction_error(RotationLatent(THETA + 0.013), x, n),
        "pe_forecasts": prediction_error_from_forecasts(true3, gen3[n:], n),
        "pe_worst": prediction_error_from_forecasts(true3, gen3[n:] * np.nan, n),
        "vpt": valid_prediction_time(true3, gen3, 0.05, 0.9056, threshold=1.2),
    }


def test_golden_values_pin_every_metric():
    values = _golden_values()
    if os.environ.get("CHAOSBENCH_REGENERATE_GOLDEN"):
        record = {"metric_spec_version": METRIC_SPEC_VERSION, "values": values}
        GOLDEN.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        pytest.skip(f"regenerated {GOLDEN.name}")
    stored = json.loads(GOLDEN.read_text())
    assert stored["metric_spec_version"] == METRIC_SPEC_VERSION, "spec changed: regenerate"
    assert sorted(stored["values"]) == sorted(values)
    for name, value in values.items():
        assert value == pytest.approx(stored["values"][name], rel=1e-8, abs=1e-12), name


# Spec v2 changed D_H (escape rule), what counts as diverged and the sign agreement; on these
# inputs every generated value stays inside the true box, so the v1 values all still hold.
UNCHANGED_SINCE_V1 = (
    "d_stsp_bins", "d_stsp_bins_10", "d_stsp_bins_worst", "d_stsp_gmm", "d_stsp_gmm_sigma_half",
    "d_stsp_gmm_worst", "d_h", "d_h_8d", "d_h_sigma_5", "lambda_max_error", "pe_latent",
    "pe_forecasts", "pe_worst", "vpt",
)  # fmt: skip


def test_v1_golden_values_of_unchanged_definitions_still_hold():
    stored = json.loads(GOLDEN_V1.read_text())
    assert stored["metric_spec_version"] == "1" and sorted(stored["values"]) == sorted(UNCHANGED_SINCE_V1)
    values = _golden_values()
    for name in UNCHANGED_SINCE_V1:
        assert values[name] == pytest.approx(stored["values"][name], rel=1e-8, abs=1e-12), name
