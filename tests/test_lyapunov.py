"""The Lyapunov engine: known spectra, exact identities, models, bad input, and the estimator."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from chaosbench import systems
from chaosbench.cli import main
from chaosbench.errors import ChaosbenchError
from chaosbench.lyapunov import (
    LyapunovCallback,
    from_timeseries,
    kaplan_yorke_dimension,
    max_exponent,
    predictability_time,
    spectrum,
)
from chaosbench.lyapunov.qr import orthonormalise
from chaosbench.systems import trajectory


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Small batched tensors: extra intra-op threads only add wake-up latency on a loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- small latent models defined here, so the engine is tested against the bare contract ----------


class TanhRNN(torch.nn.Module):
    """``z' = tanh(W z + b)`` with an analytic Jacobian ``diag(1 - z'^2) W``."""

    def __init__(self, m: int = 16, gain: float = 3.0, seed: int = 0, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        w = torch.linalg.qr(torch.randn(m, m, generator=gen, dtype=torch.float64))[0] * gain
        self.W = torch.nn.Parameter(w.to(dtype))
        self.b = torch.nn.Parameter((0.1 * torch.randn(m, generator=gen, dtype=torch.float64)).to(dtype))
        self.latent_dim = m

    def step(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z @ self.W.T + self.b)

    def jacobian(self, z: torch.Tensor) -> torch.Tensor:
        return (1 - self.step(z) ** 2)[..., :, None] * self.W


class TanhRNNNoJacobian(TanhRNN):
    jacobian = None  # as in the model contract: no analytic Jacobian


class _NoForwardTanh(torch.autograd.Function):
    """tanh with a backward but no forward-mode rule: jvp fails, jacrev works."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):  # type: ignore[override]
        return torch.tanh(x)

    @staticmethod
    def setup_context(ctx, inputs, output):  # type: ignore[override]
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (y,) = ctx.saved_tensors
        return grad * (1 - y**2)


class ReverseOnlyRNN(TanhRNNNoJacobian):
    def step(self, z: torch.Tensor) -> torch.Tensor:
        return _NoForwardTanh.apply(z @ self.W.T + self.b)


class CellLSTM(torch.nn.Module):
    """An autonomous LSTM cell: latent state ``z = [h, c]`` of length ``2H``, Jacobian by autograd."""

    def __init__(self, hidden: int = 6, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.cell = torch.nn.LSTMCell(1, hidden).double()
        with torch.no_grad():
            self.cell.weight_hh.mul_(4.0)
        self.hidden = hidden
        self.latent_dim = 2 * hidden

    def step(self, z: torch.Tensor) -> torch.Tensor:
        h, c = z[..., : self.hidden], z[..., self.hidden :]
        x = h[..., :1]  # fed its own first hidden unit
        h2, c2 = self.cell(x.reshape(-1, 1), (h.reshape(-1, self.hidden), c.reshape(-1, self.hidden)))
        return torch.cat([h2, c2], dim=-1).reshape(z.shape)


# --- accuracy against known values ------------------------------------------------------------------


def test_lorenz63_spectrum_within_one_percent() -> None:
    s = spectrum("lorenz63", n_init=1024, transient=1000, n_steps=3000, substeps=1)
    lam1, lam2, lam3 = s.exponents
    assert s.status == "ok" and s.time_unit == "time" and s.per_init.shape == (1024, 3)
    assert abs(lam1 / 0.9056 - 1) < 0.01
    assert abs(lam2) < 0.01
    assert abs(lam3 / -14.5723 - 1) < 0.01
    assert abs(s.exponents.sum() / -(10 + 1 + 8 / 3) - 1) < 1e-3
    assert s.kaplan_yorke == pytest.approx(2 + (lam1 + lam2) / abs(lam3))
    assert s.tau_pred.steps == pytest.approx(math.log(2) / (lam1 * 0.01))


def test_rossler_leading_exponent_within_five_percent() -> None:
    lam = max_exponent("rossler", n_init=512, transient=1000, n_steps=2000)
    assert abs(lam / 0.0714 - 1) < 0.05


def test_henon_spectrum_and_exact_volume_contraction() -> None:
    s = spectrum("henon", n_init=1024, transient=100, n_steps=5000)
    assert s.exponents == pytest.approx([0.4192, -1.6232], abs=1e-3)
    assert s.exponents.sum() == pytest.approx(math.log(0.3), abs=1e-3)
    # |det J| = b at every step; the QR of 10-step products resolves it to ~1e-8 in float64
    assert s.per_init.sum(axis=1) == pytest.approx(math.log(0.3), abs=1e-6)


def test_logistic_map_r4_is_ln2() -> None:
    s = spectrum("logistic", n_init=1024, transient=100, n_steps=5000)
    assert abs(s.lambda_max / math.log(2) - 1) < 0.01
    assert s.kaplan_yorke == 1.0


@pytest.mark.parametrize("name", [n for n in systems.names() if systems.get(n).kind == "flow"])
def test_flow_exponent_sum_equals_orbit_averaged_divergence(name: str) -> None:
    """Per initial condition: sum of exponents = time average of div f along that very orbit."""
    system = systems.get(name)
    gen = torch.Generator().manual_seed(1)
    x0 = torch.as_tensor(system.x0).repeat(4, 1)
    free = list(range(system.dim) if system.free_components is None else system.free_components)
    x0[:, free] += 0.01 * torch.randn(4, len(free), generator=gen, dtype=torch.float64)
    n = 400
    s = spectrum(system, x0=x0, transient=0, n_steps=n)
    h = system.dt / system.substeps
    orbit = trajectory(system, x0, n * system.substeps + 1, dt=h, substeps=1)  # every RK4 step
    div = system.divergence(orbit)
    average = (0.5 * (div[1:] + div[:-1])).mean(dim=0).numpy()  # trapezoid rule over [0, T]
    # agreement is limited by the RK4 step (worst: Hindmarsh-Rose spikes, ~1e-3)
    np.testing.assert_allclose(s.per_init.sum(axis=1), average, rtol=2e-3)


# --- models ------------------------------------------------------------------------------------------


# (rtol, atol) per initial condition and for the mean spectrum
TOLERANCES = {torch.float64: ((0, 1e-9), (0, 1e-9)), torch.float32: ((1e-3, 1e-3), (2e-4, 1e-4))}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_model_spectrum_same_with_analytic_or_autograd_jacobian(dtype: torch.dtype) -> None:
    """Same initial states and orbits: only rounding in the tangent map differs. In float32 it
    moves the strongly contracting tail (near the precision floor) by up to 1e-3 relative (the
    spread over initial conditions is 100x larger), and two
    nearly equal exponents of one initial condition may trade ~1e-3 of finite-time growth."""
    (rtol, atol), (mean_rtol, mean_atol) = TOLERANCES[dtype]
    model = TanhRNN(dtype=dtype)
    kw = dict(n_init=8, transient=50, n_steps=500, seed=3)
    analytic = spectrum(model, jacobian="analytic", **kw)
    assert analytic.time_unit == "step" and analytic.status == "ok" and analytic.lambda_max > 0.01
    for other in (spectrum(model, jacobian="autograd", **kw), spectrum(TanhRNNNoJacobian(dtype=dtype), **kw)):
        np.testing.assert_allclose(other.per_init, analytic.per_init, rtol=rtol, atol=atol)
        np.testing.assert_allclose(other.exponents, analytic.exponents, rtol=mean_rtol, atol=mean_atol)


def test_reverse_mode_used_when_forward_mode_is_missing() -> None:
    kw = dict(n_init=4, transient=50, n_steps=300)
    np.testing.assert_allclose(spectrum(ReverseOnlyRNN(), **kw).per_init, spectrum(TanhRNN(), **kw).per_init, atol=1e-9)


def test_lstm_state_h_c_has_2h_exponents() -> None:
    model = CellLSTM(hidden=6)
    s = spectrum(model, n_init=4, transient=100, n_steps=500)
    assert s.exponents.shape == (12,) and s.per_init.shape == (4, 12) and s.dim == 12
    assert np.all(np.diff(s.exponents) <= 0)
    assert s.status == "ok" and np.isfinite(s.exponents).all()


def test_leading_k_equal_first_k_of_full_spectrum() -> None:
    model = TanhRNN()
    full = spectrum(model, n_init=6, transient=100, n_steps=800)
    lead = spectrum(model, n_init=6, transient=100, n_steps=800, k=3)
    np.testing.assert_allclose(lead.exponents, full.exponents[:3], atol=1e-10)
    lorenz = spectrum("lorenz63", n_init=16, transient=200, n_steps=300)
    np.testing.assert_allclose(max_exponent("lorenz63", n_init=16, transient=200, n_steps=300), lorenz.lambda_max, atol=1e-10)
    assert math.isnan(lead.kaplan_yorke) and full.kaplan_yorke > 3  # 3 leading sums stay positive


def test_initial_states_given_as_tensor_or_array() -> None:
    model = TanhRNN(dtype=torch.float32)
    z0 = torch.randn(5, 16, generator=torch.Generator().manual_seed(0))
    s = spectrum(model, x0=z0, transient=20, n_steps=100)
    assert s.n_init == 5 and s.per_init.dtype == np.float64
    np.testing.assert_array_equal(spectrum(model, x0=z0.numpy(), transient=20, n_steps=100).per_init, s.per_init)


def test_initial_conditions_split_over_threads() -> None:
    """Wide analytic models on a multi-threaded CPU run groups of initial conditions in parallel.

    The groups' matrix products may round differently from one big batch, so a non-chaotic model
    (rounding not amplified) is compared; repeated runs with the same threads are identical."""
    model = TanhRNN(m=32, gain=0.8)
    kw = dict(n_init=6, transient=20, n_steps=100, renorm_every=2)
    one = spectrum(model, **kw)  # this module runs single-threaded
    torch.set_num_threads(2)
    try:
        two, again = spectrum(model, **kw), spectrum(model, **kw)
    finally:
        torch.set_num_threads(1)
    assert one.lambda_max < 0
    np.testing.assert_allclose(two.per_init, one.per_init, atol=1e-10)
    np.testing.assert_array_equal(again.per_init, two.per_init)


def test_same_seed_same_numbers_other_seed_other_numbers() -> None:
    kw = dict(n_init=8, transient=100, n_steps=200)
    a, b = spectrum("lorenz63", seed=5, **kw), spectrum("lorenz63", seed=5, **kw)
    c = spectrum("lorenz63", seed=6, **kw)
    assert np.array_equal(a.per_init, b.per_init)
    assert not np.allclose(a.per_init, c.per_init)


def test_precision_floor_is_reported() -> None:
    """A float32 model whose tangent columns shrink by e^-40 between QRs: trailing exponents flagged."""

    class Contracting(torch.nn.Module):
        latent_dim = 3

        def step(self, z: torch.Tensor) -> torch.Tensor:
            return z * torch.tensor([1.0, 0.1, 0.01])

    s = spectrum(Contracting(), x0=torch.ones(2, 3), transient=0, n_steps=40, renorm_every=10)
    assert s.n_resolved == 1 and "precision floor" in s.reason and s.status == "ok"
    exact = spectrum(Contracting(), x0=torch.ones(2, 3), transient=20, n_steps=40, renorm_every=1)
    assert exact.n_resolved == 3 and exact.reason == ""
    assert exact.exponents == pytest.approx(np.log([1.0, 0.1, 0.01]), abs=1e-6)


def test_orthonormalise_by_triangular_solve_matches_householder_qr() -> None:
    """Bases of condition 1e10 (as after 15 steps of the 64-unit RNN): same R, Q orthonormal to 1e-5."""
    gen = torch.Generator().manual_seed(3)
    left, right = (torch.linalg.qr(torch.randn(20, 32, 32, generator=gen, dtype=torch.float64))[0] for _ in range(2))
    a = left @ torch.diag_embed(torch.logspace(0, -10, 32, dtype=torch.float64)) @ right
    q, diag = orthonormalise(a)
    q_ref, r_ref = torch.linalg.qr(a)
    diag_ref = r_ref.diagonal(dim1=-2, dim2=-1)
    assert torch.allclose(diag.abs().log(), diag_ref.abs().log(), rtol=0, atol=1e-9)
    assert (q.mT @ q - torch.eye(32, dtype=torch.float64)).abs().max() < 1e-5
    same_signs = q_ref * (diag_ref.sign() * diag.sign())[..., None, :]
    assert (q - same_signs).abs().max() < 1e-5


def test_singular_jacobian_gives_minus_inf_exponent_not_divergence() -> None:
    """A direction the map annihilates has exponent -inf; the other exponents stay exact."""

    class Projecting(torch.nn.Module):
        latent_dim = 3

        def step(self, z: torch.Tensor) -> torch.Tensor:
            return z * torch.tensor([2.0, 0.5, 0.0], dtype=z.dtype)

        def jacobian(self, z: torch.Tensor) -> torch.Tensor:
            return torch.diag(torch.tensor([2.0, 0.5, 0.0], dtype=z.dtype)).expand(*z.shape, 3)

    s = spectrum(Projecting(), x0=torch.ones(2, 3, dtype=torch.float64), transient=40, n_steps=50, renorm_every=1)
    assert s.status == "ok"
    assert s.exponents[:2] == pytest.approx([math.log(2.0), math.log(0.5)], abs=1e-12)
    assert s.exponents[2] == -math.inf


# --- blow-ups and bad input ---------------------------------------------------------------------------


def test_trajectory_blow_up_gives_nan_spectrum_and_reason() -> None:
    s = spectrum(systems.get("logistic", r=4.5), n_init=16, transient=10, n_steps=100000)
    assert s.status == "diverged" and "non-finite" in s.reason
    assert np.isnan(s.exponents).all() and math.isnan(s.lambda_max)

    class Doubling(torch.nn.Module):
        latent_dim = 2

        def step(self, z: torch.Tensor) -> torch.Tensor:
            return 2 * z

    s = spectrum(Doubling(), n_init=3, transient=0, n_steps=10000)
    assert s.status == "diverged" and "blew up" in s.reason


def test_tangent_overflow_has_its_own_reason() -> None:
    class Steep(torch.nn.Module):
        latent_dim = 2

        def step(self, z: torch.Tensor) -> torch.Tensor:
            return torch.sin(1e4 * z.double()).to(z.dtype)

    s = spectrum(Steep(), x0=torch.rand(3, 2), transient=0, n_steps=200, renorm_every=100)
    assert s.status == "diverged" and "renorm_every" in s.reason


def _one_line_error(call, match: str) -> None:
    with pytest.raises(ChaosbenchError, match=match) as err:
        call()
    assert "\n" not in str(err.value)


def test_bad_input_is_one_line_error() -> None:
    kw = dict(n_steps=10, transient=0)
    _one_line_error(lambda: spectrum(object(), **kw), "step")
    _one_line_error(lambda: spectrum("lorenz", **kw), "unknown system")
    _one_line_error(lambda: spectrum("lorenz63", x0=np.zeros((4, 2)), **kw), "shape")
    _one_line_error(lambda: spectrum("lorenz63", k=4, **kw), "exceeds")
    _one_line_error(lambda: spectrum("lorenz63", n_steps=0, transient=0), "n_steps")
    _one_line_error(lambda: spectrum("lorenz63", renorm_every=0, **kw), "renorm_every")
    _one_line_error(lambda: spectrum("henon", substeps=2, **kw), "flows")
    _one_line_error(lambda: spectrum("lorenz63", x0=np.full((2, 3), np.nan), **kw), "non-finite")
    _one_line_error(lambda: spectrum(TanhRNNNoJacobian(), jacobian="analytic", **kw), "no jacobian")
    _one_line_error(lambda: spectrum(TanhRNN(), x0=torch.zeros(3, 15), **kw), "shape")

    class NoDim(torch.nn.Module):
        def step(self, z: torch.Tensor) -> torch.Tensor:
            return z

    _one_line_error(lambda: spectrum(NoDim(), **kw), "latent_dim")

    class WrongOut(TanhRNNNoJacobian):
        def step(self, z: torch.Tensor) -> torch.Tensor:
            return torch.cat([z, z], dim=-1)

    _one_line_error(lambda: spectrum(WrongOut(), **kw), "same shape")

    class WrongJacobian(TanhRNN):
        def jacobian(self, z: torch.Tensor) -> torch.Tensor:
            return torch.zeros(z.shape[0], 3, 3)

    _one_line_error(lambda: spectrum(WrongJacobian(), **kw), "Jacobian")


# --- derived quantities, callback, command line -----------------------------------------------------------


def test_kaplan_yorke_and_predictability() -> None:
    assert kaplan_yorke_dimension([0.9056, 0.0, -14.5723]) == pytest.approx(2 + 0.9056 / 14.5723)
    assert kaplan_yorke_dimension([-0.1, -1.0]) == 0.0
    assert kaplan_yorke_dimension([0.5, -0.2, -1.0]) == pytest.approx(2 + 0.3 / 1.0)
    assert math.isnan(kaplan_yorke_dimension([0.5, 0.1], dim=4))  # leading ones do not decide it
    assert kaplan_yorke_dimension([0.5, 0.1]) == 2.0  # a complete, volume-expanding spectrum
    assert kaplan_yorke_dimension([0.3, -np.inf]) == 1.0
    tau = predictability_time(0.9056, 0.01)
    assert tau.time == pytest.approx(0.76541, abs=1e-5) and tau.steps == pytest.approx(76.541, abs=1e-3)
    assert predictability_time(-0.1, 0.01) == (math.inf, math.inf)
    with pytest.raises(ChaosbenchError):
        predictability_time(1.0, 0.0)


def test_callback_records_every_k_updates_and_restores_training_mode() -> None:
    model = TanhRNN()
    model.train()
    callback = LyapunovCallback(every=3, n_steps=100, transient=20, n_init=4, k=2)
    records = [callback(update, model) for update in range(7)]
    assert [r is not None for r in records] == [True, False, False, True, False, False, True]
    assert list(callback.updates) == [0, 3, 6] and callback.exponents.shape == (3, 2)
    assert model.training
    np.testing.assert_array_equal(callback.exponents[0], callback.exponents[1])  # same model, same seed
    with pytest.raises(ChaosbenchError):
        LyapunovCallback(every=0)


def test_cli_prints_spectrum(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lyapunov", "henon", "--steps", "2000", "--transient", "100", "--init", "64"]) == 0
    out = capsys.readouterr().out
    assert "lambda_max" in out and "Kaplan-Yorke" in out and "tau_pred" in out
    lam = float(out.split("lambda_max")[1].split()[0])
    assert lam == pytest.approx(0.4192, abs=0.01)
    assert main(["lyapunov", "henonn"]) == 2
    assert "did you mean 'henon'" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_default_lorenz63_agrees_with_the_reference_to_001(capsys: pytest.CaptureFixture[str]) -> None:
    """The default (16 initial conditions, 5000 steps after 1000) against the card's reference
    (256 conditions x 20000 steps): within the 0.01 the help promises."""
    import json

    from chaosbench import data

    assert main(["lyapunov", "lorenz63", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_init"] == 16
    assert abs(result["lambda_max"] - data.load("lorenz63").lambda_max) < 0.01


def test_spectrum_progress_on_a_terminal_for_long_runs_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from chaosbench.lyapunov import qr

    short = dict(n_steps=300, transient=10, n_init=4)
    monkeypatch.setattr(qr, "PROGRESS_DELAY_S", 1e9)  # as if every run were short
    spectrum("henon", progress=True, **short)  # done before the bar's delay: silent
    assert "lyapunov" not in capsys.readouterr().err
    monkeypatch.setattr(qr, "PROGRESS_DELAY_S", 0.0)  # as if every run were long
    spectrum("henon", **short)  # default: only on a terminal, and pytest's stderr is none
    assert "lyapunov" not in capsys.readouterr().err
    spectrum("henon", progress=True, **short)
    err = capsys.readouterr().err
    assert "lyapunov: 100%" in err and "310/310" in err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    spectrum("henon", **short)
    assert "lyapunov: 100%" in capsys.readouterr().err
    spectrum("henon", progress=False, **short)
    assert "lyapunov" not in capsys.readouterr().err


def test_cli_dataset_name_uses_its_card() -> None:
    assert main(["lyapunov", "lorenz63_noisy", "--steps", "100", "--transient", "50", "--init", "16", "--k", "1"]) == 0


# --- the time-series estimator ---------------------------------------------------------------------------


def _series(name: str, dt: float, n: int, substeps: int) -> np.ndarray:
    system = systems.get(name)
    return trajectory(system, system.x0, n, dt=dt, substeps=substeps, transient=500)


def test_from_timeseries_lorenz63_x_within_20_percent() -> None:
    x = _series("lorenz63", 0.01, 20_000, substeps=1)[:, 0]
    assert abs(from_timeseries(x, 0.01) / 0.9056 - 1) < 0.2


def test_from_timeseries_rossler_x_within_20_percent() -> None:
    x = _series("rossler", 0.1, 15_000, substeps=2)[:, 0]
    assert abs(from_timeseries(x, 0.1) / 0.0714 - 1) < 0.2


def test_from_timeseries_noisy_lorenz_recording(external) -> None:
    """5 % observation noise, standardized, dt = 0.01: the median over the three columns."""
    x = np.load(external / "gtf_lorenz63_on0.05_train.npy")
    assert abs(from_timeseries(x, 0.01) / 0.9056 - 1) < 0.2


def test_from_timeseries_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    _one_line_error(lambda: from_timeseries(np.zeros((10, 2, 2)), 0.1), "shape")
    _one_line_error(lambda: from_timeseries([1.0, np.nan, 2.0], 0.1), "non-finite")
    _one_line_error(lambda: from_timeseries(np.ones(1000), 0.1), "constant")
    _one_line_error(lambda: from_timeseries(np.sin(np.arange(100)), 0.0), "dt")
    _one_line_error(lambda: from_timeseries(np.sin(np.arange(60) * 0.3), 0.1), "too short")
    monkeypatch.setitem(sys.modules, "nolds", None)  # import fails as it would without the package
    _one_line_error(lambda: from_timeseries(np.sin(np.arange(3000) * 0.1), 0.1), "nolds")
