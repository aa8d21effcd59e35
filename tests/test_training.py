"""Training regimes and the batched-ensemble loop, on tiny models and a short Lorenz-63 series."""

from __future__ import annotations

import functools
import math
import sys

import numpy as np
import pytest
import torch
from torch import nn

import chaosbench.systems as systems
from chaosbench.errors import ChaosbenchError, UnknownNameError
from chaosbench.models import build, supports_stacked
from chaosbench.models.contract import LatentModel
from chaosbench.training import (
    TAU_FRACTION,
    TAU_RULE_VERSION,
    Gtf,
    as_evaluable,
    fit,
    lyapunov_tau,
    make,
    resolve,
    resolve_device,
    tau_pred_steps,
)
from chaosbench.training.ensemble import Ensemble
from chaosbench.training.loop import Rollout, TrainSettings, WindowSampler, _clip_, run
from chaosbench.training.config import from_config
from conftest import baseline_names

# On the vmap path (the Tiny model below), ensemble members run batched kernels (bmm) where a
# solo run runs plain ones (mm), which may sum in another order, so float32 rounding can differ
# at ~1e-7 relative per operation; measured: Tiny drifts to 5e-8 relative. On the native path
# (every latent baseline) a solo run is an ensemble of one, and members equal solo runs bit for
# bit (docs/protocol.md, "Seeds and ensembles"), except the GRU's: one window's gradients of a
# member of 3 measured up to 1.5e-8 from those of the member alone, cause not found. The native path fuses additions into the
# products (baddbmm, addcmul), so it differs from the vmap path by reordering only; measured
# over 30 updates: <= 2.3e-7 relative in the logged losses, parameters within 1e-5 relative +
# 1e-10. Both of these comparisons use this tolerance.
MEMBER_RTOL, MEMBER_ATOL = 1e-5, 1e-7
SIZES = {  # small sizes (a baseline not listed gets its YAML's); latent_dim > 3 exercises the free units
    "plrnn": {"latent_dim": 5},
    "shplrnn": {"hidden_dim": 8},
    "clipped_shplrnn": {"latent_dim": 4, "hidden_dim": 8},
    "dendplrnn": {"latent_dim": 4, "n_bases": 3},
    "rnn": {"hidden_dim": 6},
    "lstm": {"hidden_dim": 4},
    "gru": {"hidden_dim": 5},
}
NATIVE = {  # the latent baselines with a native ensemble view
    name: SIZES.get(name, {})
    for name in baseline_names("latent")
    if supports_stacked(build(name, 3, **SIZES.get(name, {})))
}
REGIMES = ["bptt", {"name": "stf", "tau": 5}, {"name": "gtf", "alpha": "adaptive", "update_every": 2, "decay": 0.99}]

SMALL = {"batch_size": 4, "seq_len": 20, "log_every": 5, "progress": False, "device": "cpu"}


class Tiny(LatentModel):
    """A three-unit shallow PLRNN-like map observed in full (``encode`` is the identity)."""

    def __init__(self, obs_dim: int, hidden: int = 8, a_scale: float = 0.9) -> None:
        super().__init__(obs_dim, obs_dim, {"hidden": hidden, "a_scale": a_scale})
        self.A = nn.Parameter(a_scale * torch.rand(obs_dim))
        self.W1 = nn.Parameter(0.3 * torch.randn(obs_dim, hidden))
        self.W2 = nn.Parameter(0.3 * torch.randn(hidden, obs_dim))
        self.h2 = nn.Parameter(0.1 * torch.randn(hidden))

    def step(self, z: torch.Tensor) -> torch.Tensor:
        return self.A * z + torch.relu(z @ self.W2.T + self.h2) @ self.W1.T

    def observe(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Spy(Tiny):
    """Records, into a shared list, the step index at which each window is encoded or forced."""

    def __init__(self, obs_dim: int, calls: list) -> None:
        super().__init__(obs_dim)
        self.calls, self.t = calls, 0

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self.t = 0
        self.calls.append(("encode", 0))
        return x

    def step(self, z: torch.Tensor) -> torch.Tensor:
        self.t += 1
        return super().step(z)

    def force(self, z: torch.Tensor, x: torch.Tensor, alpha=1.0) -> torch.Tensor:
        self.calls.append(("force", self.t))
        return (1 - alpha) * z + alpha * x


class Linear(LatentModel):
    """``z' = diag(a) z``: its Jacobian norm is ``max |a|`` everywhere."""

    def __init__(self, obs_dim: int) -> None:
        super().__init__(obs_dim, obs_dim, {})
        self.a = nn.Parameter(torch.tensor([2.0, 0.5, 1.0]))

    def step(self, z: torch.Tensor) -> torch.Tensor:
        return self.a * z

    def observe(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x


@pytest.fixture(scope="module")
def lorenz() -> np.ndarray:
    system = systems.get("lorenz63")
    x = systems.trajectory(system, system.x0, 1500, transient=200)
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32)


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def _assert_same_params(a: nn.Module, b: nn.Module, rtol: float = 0.0, atol: float = 0.0) -> None:
    pa, pb = _params(a), _params(b)
    assert pa.keys() == pb.keys()
    for key in pa:
        torch.testing.assert_close(pa[key], pb[key], rtol=rtol, atol=atol, msg=key)


# --- ensembles --------------------------------------------------------------------------------


def _native(name: str) -> functools.partial:
    return functools.partial(build, name, **NATIVE[name])


@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize("model", ["tiny", *NATIVE])
def test_ensemble_member_equals_solo_run(lorenz, regime, model) -> None:
    factory = Tiny if model == "tiny" else _native(model)
    ens = fit(factory, lorenz, 0.01, regime, seeds=[3, 5, 7], budget=30, **SMALL)
    solo = fit(factory, lorenz, 0.01, regime, seeds=[5], budget=30, **SMALL)
    rtol, atol = (MEMBER_RTOL, MEMBER_ATOL) if model in ("tiny", "gru") else (0.0, 0.0)
    _assert_same_params(ens.members[1], solo.members[0], rtol, atol)
    np.testing.assert_allclose(ens.logs[1]["loss"], solo.logs[0]["loss"], rtol=rtol)
    # the members really are different models that trained
    first, second = (m.state_dict() for m in ens.members[:2])
    assert not all(torch.equal(first[k], second[k]) for k in first)
    assert ens.logs[1]["loss"][-1] < ens.logs[1]["loss"][0]


def test_a_smoke_unit_member_equals_its_seed_trained_alone() -> None:
    """At the smoke suite's full budget (300 BPTT updates, clipped every update): seed 1 of the
    2-seed shPLRNN unit used to end up to 0.075 away from seed 1 trained alone."""
    from chaosbench.harness import suites
    from chaosbench.harness.runner import _load, train_unit
    from chaosbench.training import cpu_threads

    (unit,) = suites.load("smoke").subset(models=["shplrnn"], regimes=["bptt"]).units()
    assert unit.seeds == (0, 1) and unit.budget == 300
    dataset, ref = _load(unit.dataset, None, None)
    with cpu_threads(1):
        member = train_unit(unit, dataset, ref, "cpu")[1]
        alone = train_unit(unit.with_seeds([1]), dataset, ref, "cpu")[0]
    assert member.failure is None and member.used == 300
    _assert_same_params(member.model, alone.model)
    assert member.log["loss"] == alone.log["loss"]


@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize("model", NATIVE)
def test_native_path_equals_vmap_path(lorenz, regime, model) -> None:
    data, settings = torch.as_tensor(lorenz), _settings(batch_size=4, seq_len=20, log_every=5)
    runs = []
    for native in (True, False):
        ens = Ensemble(_native(model), 3, [3, 5, 7], torch.device("cpu"), native=native)
        assert ens.native == native
        runs.append((ens, run(ens, data, from_config(regime), settings, 30, progress=False)))
    (a, out_a), (b, out_b) = runs
    for log_a, log_b in zip(out_a.logs, out_b.logs):
        np.testing.assert_allclose(log_a["loss"], log_b["loss"], rtol=MEMBER_RTOL)
        np.testing.assert_allclose(log_a["grad_norm"], log_b["grad_norm"], rtol=MEMBER_RTOL)
    for member_a, member_b in zip(a.members(), b.members()):
        _assert_same_params(member_a, member_b, MEMBER_RTOL, MEMBER_ATOL)
    if out_a.alpha is not None:
        np.testing.assert_allclose(out_a.alpha, out_b.alpha, rtol=MEMBER_RTOL)


@pytest.mark.parametrize("model", NATIVE)
def test_native_rollout_loss_and_gradients_equal_vmap_in_float64(lorenz, model) -> None:
    """One update's losses and gradients on the native path (fused steps for the LSTM and GRU)
    equal those of the models' own methods under vmap, with forcing that mixes (alpha < 1)."""
    data = torch.as_tensor(lorenz, dtype=torch.float64)
    x = WindowSampler(data, [3, 5, 7], batch_size=4, seq_len=20)()
    alpha = torch.tensor([0.3, 0.7, 1.0], dtype=torch.float64)
    rollout = Rollout(range(5, 20, 5))
    results = []
    for native in (True, False):
        ens = Ensemble(lambda n: _native(model)(n).double(), 3, [3, 5, 7], torch.device("cpu"),
                       native=native)
        loss = ens.apply(rollout, x, alpha)
        results.append((loss, torch.autograd.grad(loss.sum(), ens.trainable())))
    (loss_a, grads_a), (loss_b, grads_b) = results
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-12, atol=0)
    for a, b in zip(grads_a, grads_b):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_solo_fit_equals_a_plain_pytorch_loop(lorenz) -> None:
    """The loop is textbook STF: RAdam, exponential lr decay, clipping, forced every tau steps."""
    budget, tau, clip = 15, 5, 0.5
    res = fit(Tiny, lorenz, 0.01, {"name": "stf", "tau": tau}, seeds=[4], budget=budget,
              grad_clip=clip, lr=1e-3, **SMALL)
    torch.manual_seed(4)
    model = Tiny(3)
    optimizer = torch.optim.RAdam(model.parameters(), lr=1e-3)
    windows = WindowSampler(torch.as_tensor(lorenz), [4], batch_size=4, seq_len=20)
    clipped = 0
    for k in range(budget):
        optimizer.param_groups[0]["lr"] = 1e-3 * 0.1 ** (k / budget)
        x = windows()[0]
        z, predictions = x[:, 0], []
        for t in range(1, 21):
            z = model.step(z)
            predictions.append(z)
            if t % tau == 0:
                z = x[:, t]
        optimizer.zero_grad()
        torch.mean((torch.stack(predictions, 1) - x[:, 1:]) ** 2).backward()
        clipped += torch.nn.utils.clip_grad_norm_(model.parameters(), clip) > clip
        optimizer.step()
    assert clipped > 0
    _assert_same_params(res.members[0], model, rtol=1e-6, atol=1e-8)


def test_same_seed_gives_identical_parameters(lorenz) -> None:
    a = fit(Tiny, lorenz, 0.01, "bptt", seeds=[2], budget=10, **SMALL)
    b = fit(Tiny, lorenz, 0.01, "bptt", seeds=[2], budget=10, **SMALL)
    _assert_same_params(a.members[0], b.members[0])
    c = fit(Tiny, lorenz, 0.01, "bptt", seeds=[4], budget=10, **SMALL)
    assert not torch.equal(a.members[0].A, c.members[0].A)


def test_member_init_equals_factory_under_its_seed(lorenz) -> None:
    res = fit(Tiny, lorenz, 0.01, "bptt", seeds=[11, 12], budget=1, lr=1e-30, **SMALL)
    torch.manual_seed(12)
    fresh = Tiny(3)
    _assert_same_params(res.members[1], fresh, rtol=0, atol=1e-12)


def test_diverging_seed_is_frozen_and_others_unaffected(lorenz) -> None:
    def factory(obs_dim: int) -> Tiny:  # seed 13's map expands 50-fold per step: overflow
        return Tiny(obs_dim, a_scale=50.0 if torch.initial_seed() == 13 else 0.9)

    ens = fit(factory, lorenz, 0.01, "bptt", seeds=[0, 13, 1], budget=10, **SMALL)
    assert ens.diverged == [False, True, False]
    assert ens.diverged_at == [None, 1, None]
    assert [ens.status(i) for i in range(3)] == ["ok", "diverged", "ok"]
    torch.manual_seed(13)
    _assert_same_params(ens.members[1], Tiny(3, a_scale=50.0))  # frozen at its last finite state
    assert math.isnan(ens.logs[1]["loss"][-1]) and np.isfinite(ens.logs[0]["loss"]).all()
    solo = fit(factory, lorenz, 0.01, "bptt", seeds=[1], budget=10, **SMALL)
    _assert_same_params(ens.members[2], solo.members[0], MEMBER_RTOL, MEMBER_ATOL)


def test_all_seeds_diverged_stops_early(lorenz) -> None:
    res = fit(lambda n: Tiny(n, a_scale=50.0), lorenz, 0.01, "bptt", seeds=[0, 1], budget=50, **SMALL)
    assert res.diverged == [True, True] and res.updates == 5  # the first log point


def test_per_seed_gradient_clipping_matches_clip_grad_norm() -> None:
    p = torch.zeros(2, 3, requires_grad=True)
    p.grad = torch.tensor([[3.0, 4.0, 0.0], [0.3, 0.0, 0.4]])  # norms 5 and 0.5
    norm = p.grad.pow(2).sum(1).sqrt()
    _clip_([p], norm, 1.0, torch.tensor([False, False]))
    solo = torch.tensor([3.0, 4.0, 0.0], requires_grad=True)
    solo.grad = torch.tensor([3.0, 4.0, 0.0])
    torch.nn.utils.clip_grad_norm_([solo], 1.0)
    torch.testing.assert_close(p.grad[0], solo.grad)
    torch.testing.assert_close(p.grad[1], torch.tensor([0.3, 0.0, 0.4]))
    _clip_([p], norm, None, torch.tensor([True, False]))  # a frozen seed gets no update
    assert torch.equal(p.grad[0], torch.zeros(3))


# --- forcing schedules -----------------------------------------------------------------------


def _spy_calls(lorenz, regime, seq_len: int = 23) -> list:
    calls: list = []
    fit(lambda n: Spy(n, calls), lorenz, 0.01, regime, seeds=[0], budget=1,
        **{**SMALL, "seq_len": seq_len})
    return calls


def test_stf_forces_exactly_at_multiples_of_tau(lorenz) -> None:
    calls = _spy_calls(lorenz, {"name": "stf", "tau": 5})
    assert calls == [("encode", 0), ("force", 5), ("force", 10), ("force", 15), ("force", 20)]


def test_bptt_never_forces_after_the_start(lorenz) -> None:
    assert _spy_calls(lorenz, "bptt") == [("encode", 0)]


def test_gtf_forces_every_step_but_the_last(lorenz) -> None:
    calls = _spy_calls(lorenz, {"name": "gtf", "alpha": 0.3}, seq_len=6)
    assert calls == [("encode", 0)] + [("force", t) for t in range(1, 6)]


def test_gtf_alpha_one_is_teacher_forcing_every_step(lorenz) -> None:
    torch.manual_seed(0)
    model = Tiny(3)
    x = torch.as_tensor(lorenz[None, :21])
    one_step = torch.mean((model.step(x[:, :-1]) - x[:, 1:]) ** 2)  # TF: every input is data
    gtf = Rollout(make("gtf", alpha=1.0).forced_steps(20))(model, x, torch.tensor(1.0))
    torch.testing.assert_close(gtf, one_step, rtol=1e-6, atol=0)
    a = fit(Tiny, lorenz, 0.01, {"name": "gtf", "alpha": 1.0}, seeds=[1], budget=10, **SMALL)
    b = fit(Tiny, lorenz, 0.01, {"name": "stf", "tau": 1}, seeds=[1], budget=10, **SMALL)
    _assert_same_params(a.members[0], b.members[0])


def test_gtf_alpha_zero_is_bptt(lorenz) -> None:
    torch.manual_seed(0)
    model = Tiny(3)
    x = torch.as_tensor(lorenz[None, :21])
    free = Rollout(())(model, x, torch.tensor(1.0))
    gtf0 = Rollout(make("gtf", alpha=0.0).forced_steps(20))(model, x, torch.tensor(0.0))
    torch.testing.assert_close(gtf0, free, rtol=1e-6, atol=0)


def test_adaptive_gtf_alpha_from_jacobian_norm(lorenz) -> None:
    # ||J|| = 2 everywhere, so G = 2 and alpha* = 1 - 1/2; a rising target is adopted at once
    regime = {"name": "gtf", "alpha": "adaptive", "alpha_init": 0.0, "update_every": 1}
    res = fit(Linear, lorenz, 0.01, regime, seeds=[0], budget=5, lr=1e-12, **SMALL)
    assert res.logs[0]["alpha"] == pytest.approx([0.5], abs=1e-6)
    assert res.alpha == pytest.approx([0.5], abs=1e-6)


def test_adaptive_alpha_rule() -> None:
    target = Gtf.alpha_target(torch.tensor([0.5, 1.0, 2.0, 4.0]))
    torch.testing.assert_close(target, torch.tensor([0.0, 0.0, 0.5, 0.75]))
    gtf = make("gtf", decay=0.9)
    alpha = gtf.anneal(torch.tensor([0.2, 0.8]), torch.tensor([0.6, 0.5]))
    torch.testing.assert_close(alpha, torch.tensor([0.6, 0.9 * 0.8 + 0.1 * 0.5]))


# --- the Lyapunov tau rule -------------------------------------------------------------------


def test_lyapunov_tau_rule_numbers() -> None:
    assert tau_pred_steps(0.9056, 0.01) == pytest.approx(76.54, abs=0.01)
    assert lyapunov_tau(0.9056, 0.01, fraction=1.0) == 77
    assert lyapunov_tau({"lambda_max": 0.9056, "dt": 0.01}, fraction=0.25) == 19
    assert lyapunov_tau(100.0, 0.01) == 1  # never below one step
    stf = make("stf", tau="lyapunov").resolve({"lambda_max": 0.9056, "dt": 0.01})
    assert stf.tau == 11 and stf.tau_rule_version == TAU_RULE_VERSION  # round(0.15 x 76.54)
    # changing the rule or its default fraction must bump its version (and this pin)
    assert (TAU_RULE_VERSION, TAU_FRACTION) == (3, 0.15)


def test_models_force_at_the_fraction_the_regime_yaml_documents(baselines) -> None:
    """Rule v3: the per-model fractions of baselines/regimes/stf.yaml reach the resolved regime
    (lorenz63: tau_pred 76.5 steps, so 0.5 gives 38 and the default 0.15 gives 11)."""
    from chaosbench.yamlio import read_yaml

    documented = read_yaml(baselines / "regimes" / "stf.yaml")
    card = {"lambda_max": 0.9056, "dt": 0.01}
    for model in ("lstm", "gru", "dendplrnn", "shplrnn", "rnn", "plrnn", "clipped_shplrnn"):
        fraction = documented["models"].get(model, {}).get("params", {}).get("fraction", documented["params"]["fraction"])
        regime = resolve(model, "stf").regime_object().resolve(card)
        assert regime.fraction == fraction and regime.tau == lyapunov_tau(card, fraction=fraction)
        assert regime.tau == {"lstm": 38, "gru": 38, "dendplrnn": 38}.get(model, 11)


def test_fit_resolves_lyapunov_tau_from_lambda_max(lorenz) -> None:
    res = fit(Tiny, lorenz, 0.01, "stf", seeds=[0], budget=1, lambda_max=0.9056, **SMALL)
    assert res.regime.as_dict() == {"name": "stf", "tau": 11, "fraction": 0.15, "tau_rule_version": 3}


def test_fit_estimates_lambda_max_from_the_series_when_not_given(lorenz) -> None:
    res = fit(Tiny, lorenz, np.float32(0.01), "stf", seeds=[0], budget=1, **SMALL)
    # Lorenz-63: lambda_max ~ 0.9 per time unit, tau_pred ~ 77 steps at dt = 0.01, tau ~ 11
    assert 6 <= res.regime.tau <= 23 and res.regime.tau_rule_version == TAU_RULE_VERSION


@pytest.mark.parametrize("lam", [0.0, -0.5, float("nan"), None])
def test_lyapunov_tau_needs_positive_lambda(lam) -> None:
    with pytest.raises(ChaosbenchError, match="lambda_max"):
        lyapunov_tau(lam, 0.01)


# --- logs and callbacks ----------------------------------------------------------------------


class CountingCallback:
    every = 4

    def __call__(self, update, model):
        return {"a0": model.A[0]}


def test_logs_schedule_and_callbacks(lorenz) -> None:
    res = fit(Tiny, lorenz, 0.01, "bptt", seeds=[0, 1], budget=12, lr=1e-3, lr_decay=0.1,
              callbacks=[CountingCallback()], **SMALL)
    log = res.logs[1]
    assert log["update"] == [5, 10, 12]
    assert log["lr"][-1] == pytest.approx(1e-3 * 0.1 ** (11 / 12))
    assert all(g >= 0 for g in log["grad_norm"]) and len(log["grad_norm_max"]) == 3
    assert [c["update"] for c in log["callbacks"]] == [0, 4, 8, 12]
    assert {c["callback"] for c in log["callbacks"]} == {"CountingCallback"}
    assert log["callbacks"][-1]["value"]["a0"] == pytest.approx(res.members[1].A.detach()[0].item())
    assert res.logs[0]["callbacks"][-1]["value"]["a0"] != log["callbacks"][-1]["value"]["a0"]
    assert res.updates == 12 and res.steps_per_second > 0 and res.device == "cpu"


def test_lr_decay_updates_fixes_the_decay_per_update_whatever_the_budget(lorenz) -> None:
    """With a set span the schedule does not depend on the budget: a 10-update run is the first
    10 updates of a 20-update run (over the budget, a 10-update run would decay twice as fast)."""
    schedule = {"lr": 1e-3, "lr_decay": 0.1, "lr_decay_updates": 1000, **SMALL}
    short = fit(Tiny, lorenz, 0.01, "bptt", seeds=[0], budget=10, **schedule)
    long = fit(Tiny, lorenz, 0.01, "bptt", seeds=[0], budget=20, snapshots=[10], **schedule)
    assert short.logs[0]["lr"][-1] == pytest.approx(1e-3 * 0.1 ** (9 / 1000))
    at_10 = long.snapshots[10][0].state_dict()
    for name, value in short.members[0].state_dict().items():
        torch.testing.assert_close(value, at_10[name])
    with pytest.raises(ChaosbenchError, match="lr_decay_updates"):
        fit(Tiny, lorenz, 0.01, "bptt", seeds=[0], budget=1, lr_decay_updates=0, **SMALL)


def test_a_null_lr_decay_updates_leaves_the_record_settings_as_before() -> None:
    """Records made before ``lr_decay_updates`` existed decayed over the budget: their settings
    (and hash) must stay those of a null span."""
    assert "lr_decay_updates" not in resolve(None, "bptt").as_dict()["training"]
    spanned = resolve(None, "bptt", training={"lr_decay_updates": 250_000}).as_dict()["training"]
    assert spanned["lr_decay_updates"] == 250_000


def test_lyapunov_callback_records_each_seed_spectrum(lorenz) -> None:
    from chaosbench.lyapunov import LyapunovCallback

    callback = LyapunovCallback(every=5, n_steps=200, transient=20, n_init=2)
    res = fit(Tiny, lorenz, 0.01, "bptt", seeds=[0, 1], budget=5, callbacks=[callback], **SMALL)
    for log in res.logs:
        records = log["callbacks"]
        assert [r["update"] for r in records] == [0, 5]
        assert len(records[-1]["value"]["exponents"]) == 3
        assert all(math.isfinite(v) for v in records[-1]["value"]["exponents"])
    assert res.logs[0]["callbacks"][0]["value"]["exponents"] != res.logs[1]["callbacks"][0]["value"]["exponents"]


# --- the evaluable wrapper -------------------------------------------------------------------


def test_as_evaluable_fits_and_generates(lorenz) -> None:
    settings = {k: v for k, v in SMALL.items() if k != "progress"}
    model = as_evaluable(Tiny, {"name": "stf", "tau": 5}, **settings)
    model.fit(lorenz, 0.01, 5, seed=3)
    out = model.generate(lorenz[0], 50)
    assert isinstance(out, np.ndarray) and out.shape == (50, 3) and np.isfinite(out).all()
    np.testing.assert_allclose(out[0], lorenz[0], rtol=1e-6)
    many = model.fit_seeds(lorenz, 0.01, 5, [3, 4])
    _assert_same_params(many[0].model, model.model, MEMBER_RTOL, MEMBER_ATOL)
    with pytest.raises(ChaosbenchError, match="budget"):
        model.fit(lorenz, 0.01, None, seed=0)


# --- devices and bad input -------------------------------------------------------------------


def test_devices() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ChaosbenchError, match="unknown device"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_is_a_user_error(lorenz) -> None:
    with pytest.raises(ChaosbenchError, match="no CUDA"):
        resolve_device("cuda")
    with pytest.raises(ChaosbenchError, match="no CUDA"):
        fit(Tiny, lorenz, 0.01, "bptt", seeds=[0], budget=1, **{**SMALL, "device": "cuda"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"train": np.full((100, 3), np.nan, np.float32)}, "non-finite"),
        ({"train": np.zeros((10, 3), np.float32)}, "fewer than seq_len"),
        ({"train": np.zeros(100, np.float32)}, r"\(T, N\)"),
        ({"seeds": []}, "non-empty"),
        ({"seeds": [1, 1]}, "distinct"),
        ({"seeds": 3}, "list"),
        ({"budget": 0}, "budget"),
        ({"dt": -1.0}, "dt"),
        ({"lr": 0.0}, "lr"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"regime": {"name": "stf", "tau": 0}}, "tau"),
        ({"regime": {"name": "gtf", "alpha": 1.5}}, "alpha"),
        ({"regime": {"name": "stf", "tua": 3}}, "no parameter"),
        ({"factory": lambda n: nn.Linear(n, n)}, "not a latent model"),
        ({"factory": lambda n: Tiny(n + 1)}, "obs_dim"),
    ],
)
def test_bad_input_is_a_one_line_error(lorenz, change, message) -> None:
    args = {"factory": Tiny, "train": lorenz, "dt": 0.01, "regime": "bptt", "seeds": [0],
            "budget": 1, **SMALL}
    args.update(change)
    factory, train, dt, regime = (args.pop(k) for k in ("factory", "train", "dt", "regime"))
    with pytest.raises(ChaosbenchError, match=message):
        fit(factory, train, dt, regime, **args)


def test_unknown_regime_lists_close_names() -> None:
    with pytest.raises(UnknownNameError, match="stf"):
        make("sft")


# --- resolved settings ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bptt", "stf", "gtf"])
def test_regime_yaml_is_complete(name) -> None:
    # every regime parameter and every training setting has its value in the YAML: the
    # dataclasses carry no defaults, so resolving a bare name must succeed on the YAML alone
    cfg = resolve("shplrnn", name)
    assert cfg.regime_object().name == name
    assert cfg.training.batch_size == 16 and cfg.training.optimizer == "radam"


def _regime_yaml(tmp_path, monkeypatch, text: str) -> None:
    (tmp_path / "regimes").mkdir(exist_ok=True)
    (tmp_path / "models").mkdir(exist_ok=True)
    (tmp_path / "regimes" / "stf.yaml").write_text(text)
    (tmp_path / "models" / "lstm.yaml").write_text("model: lstm\nparams: {hidden_dim: 7}\n")
    monkeypatch.setattr("chaosbench.training.config.baselines_dir", lambda: tmp_path)
    monkeypatch.setattr(sys.modules["chaosbench.models.registry"], "baselines_dir", lambda: tmp_path)


TRAINING_YAML = "{lr: 1.0e-3, batch_size: 16, seq_len: 50, optimizer: adam, grad_clip: null, lr_decay: 1.0, lr_decay_updates: null, log_every: 10}"


def test_resolve_merges_model_yaml_then_regime_yaml_then_caller(tmp_path, monkeypatch) -> None:
    _regime_yaml(tmp_path, monkeypatch, f"regime: stf\nparams: {{tau: 10, fraction: 0.5}}\ntraining: {TRAINING_YAML}\n"
                 "models: {lstm: {params: {tau: 5}, training: {lr: 2.0e-3}}}\n")
    cfg = resolve("lstm", "stf")
    assert cfg.regime == {"name": "stf", "tau": 5, "fraction": 0.5}
    assert (cfg.training.lr, cfg.training.seq_len, cfg.training.grad_clip) == (2.0e-3, 50, None)
    assert cfg.model_params == {"hidden_dim": 7}
    assert resolve(None, "stf").regime["tau"] == 10 and resolve(None, "stf").training.lr == 1.0e-3
    # the caller (a suite, or fit's keywords) wins over both files
    cfg = resolve("lstm", {"name": "stf", "tau": 3}, model_params={"hidden_dim": 9}, training={"lr": 0.5})
    assert (cfg.regime["tau"], cfg.training.lr, cfg.model_params["hidden_dim"]) == (3, 0.5, 9)
    # fit() goes through the same resolver
    assert make("stf").tau == 10


def test_resolve_rejects_bad_regime_files(tmp_path, monkeypatch) -> None:
    _regime_yaml(tmp_path, monkeypatch, "regime: stf\nparams: {tau: 10, fraction: 0.5}\ntraining: {lr: 1.0e-3, momentum: 0.9}\n")
    with pytest.raises(ChaosbenchError, match="momentum"):
        resolve(None, "stf")
    _regime_yaml(tmp_path, monkeypatch, f"regime: stf\nparams: {{tau: 10}}\ntraining: {TRAINING_YAML}\n")
    with pytest.raises(ChaosbenchError, match="fraction"):  # every parameter in the YAML: no code default
        resolve(None, "stf")
    _regime_yaml(tmp_path, monkeypatch, "regime: stf\nparams: {tau: 10, fraction: 0.5}\ntraining: {lr: 1.0e-3}\n")
    with pytest.raises(ChaosbenchError, match="missing setting"):
        resolve(None, "stf")
    with pytest.raises(UnknownNameError):
        resolve(None, "tbptt")


def _settings(**given) -> TrainSettings:
    return resolve(None, "bptt", training=given).training
