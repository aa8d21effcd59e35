"""Speed of the Lyapunov engine: Lorenz-63 to 1 %, and the full spectrum of a 64-unit tanh RNN.

Run with ``.venv/bin/python -m pytest benchmarks/test_bench_lyapunov.py --benchmark-only``.

- ``test_lorenz63_to_one_percent``: the settings documented in ``spectrum`` (1024 initial
  conditions, 1000 transient + 3000 measured steps of dt = 0.01, one RK4 step per dt), checked
  against the 1 % accuracy target inside the benchmark.
- ``test_rnn_full_spectrum_*``: all 64 exponents of ``z' = tanh(W z + b)`` (W = 1.5 x a random
  orthogonal matrix: chaotic, 13 positive exponents, float32) from 100 initial conditions x
  10 000 steps, with the analytic Jacobian or with ``torch.func``. The basis is re-orthonormalised
  at the largest interval at which its precision still resolves the whole spectrum (the engine's
  ``n_resolved`` check, asserted): every 15 steps with the analytic Jacobian (float64 basis),
  every 5 with forward-mode ``torch.func`` (which pushes the basis through the float32 model). With the analytic Jacobian the initial conditions
  are split over the CPU threads (torch's batched QR uses one core); forward-mode ``torch.func``
  cannot run in several threads at once. In the same run, the straightforward approach - a
  Python loop over initial conditions, one ``torch.autograd.functional.jacobian`` per step, the
  same QR interval - is timed on 2 initial conditions x 200 steps and scaled linearly to
  100 x 10 000 (its cost is linear in both); ``extra_info["speedup"]`` is that ratio.

Timings depend on the load of the machine: on a shared CPU, read them with ``uptime``.
"""

from __future__ import annotations

import time

import pytest
import torch

from chaosbench.lyapunov import spectrum

M, N_INIT, N_STEPS = 64, 100, 10_000
RENORM = {"analytic": 15, "autograd": 5}
NAIVE_INIT, NAIVE_STEPS = 2, 200


class TanhRNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.W = torch.nn.Parameter(1.5 * torch.linalg.qr(torch.randn(M, M, generator=gen))[0])
        self.b = torch.nn.Parameter(0.1 * torch.randn(M, generator=gen))
        self.latent_dim = M

    def step(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z @ self.W.T + self.b)

    def jacobian(self, z: torch.Tensor) -> torch.Tensor:
        return (1 - self.step(z) ** 2)[..., :, None] * self.W


def naive_spectrum(model: TanhRNN, n_init: int, n_steps: int, renorm: int) -> torch.Tensor:
    """One initial condition at a time, one autograd Jacobian per step, QR every ``renorm`` steps."""
    gen = torch.Generator().manual_seed(1)
    out = []
    for _ in range(n_init):
        z = torch.randn(M, generator=gen)
        q = torch.eye(M)
        logs = torch.zeros(M, dtype=torch.float64)
        for t in range(n_steps):
            jac = torch.autograd.functional.jacobian(model.step, z)
            q = jac @ q
            z = model.step(z).detach()
            if (t + 1) % renorm == 0:
                q, r = torch.linalg.qr(q)
                logs += r.diagonal().abs().double().log()
        out.append(logs / n_steps)
    return torch.stack(out)


def _engine_vs_naive(benchmark, jacobian: str) -> None:
    model = TanhRNN()
    result = benchmark.pedantic(
        lambda: spectrum(model, n_init=N_INIT, transient=100, n_steps=N_STEPS, renorm_every=RENORM[jacobian], jacobian=jacobian),
        rounds=1, iterations=1,
    )
    assert result.status == "ok" and result.n_resolved == M and result.lambda_max > 0
    start = time.perf_counter()
    naive_spectrum(model, NAIVE_INIT, NAIVE_STEPS, RENORM[jacobian])
    naive = (time.perf_counter() - start) * (N_INIT / NAIVE_INIT) * (N_STEPS / NAIVE_STEPS)
    engine = benchmark.stats.stats.mean
    benchmark.extra_info.update(
        engine_s=engine, naive_scaled_s=naive, speedup=naive / engine, threads=torch.get_num_threads(),
        lambda_max=result.lambda_max,
    )
    assert naive / engine >= 10


@pytest.mark.benchmark(group="lyapunov")
def test_rnn_full_spectrum_analytic_jacobian(benchmark) -> None:
    _engine_vs_naive(benchmark, "analytic")


@pytest.mark.benchmark(group="lyapunov")
def test_rnn_full_spectrum_autograd_jacobian(benchmark) -> None:
    _engine_vs_naive(benchmark, "autograd")


@pytest.mark.benchmark(group="lyapunov")
def test_lorenz63_to_one_percent(benchmark) -> None:
    result = benchmark.pedantic(
        lambda: spectrum("lorenz63", n_init=1024, transient=1000, n_steps=3000, substeps=1), rounds=3, iterations=1
    )
    lam1, lam2, lam3 = result.exponents
    assert abs(lam1 / 0.9056 - 1) < 0.01 and abs(lam2) < 0.01 and abs(lam3 / -14.5723 - 1) < 0.01
    benchmark.extra_info.update(exponents=[float(v) for v in result.exponents], threads=torch.get_num_threads())
