"""Baselines as published: GTF's budget-aware and constant alpha, the shPLRNN's affine observation
model, named suite configurations, and references tuned on a validation split of train."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import chaosbench.systems as systems
from chaosbench.errors import ChaosbenchError
from chaosbench.harness import suites
from chaosbench.lyapunov import spectrum
from chaosbench.models import build
from chaosbench.models.check import check
from chaosbench.models.contract import LatentModel
from chaosbench.models.tuning import MAX_FIT, grid_search, split
from chaosbench.training import fit, make
from chaosbench.training.config import regime_file
from chaosbench.training.ensemble import Ensemble
from chaosbench.training.loop import _penalty, learning_rate
from chaosbench.training.regimes import SETTLED, Gtf, budget_decay

SMALL = {"batch_size": 4, "seq_len": 20, "log_every": 10, "progress": False, "device": "cpu"}


@pytest.fixture(scope="module")
def lorenz() -> np.ndarray:
    system = systems.get("lorenz63")
    x = systems.trajectory(system, system.x0, 1500, transient=200)
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32)


# --- GTF: budget-aware and constant alpha ----------------------------------------------------


def test_budget_decay_settles_alpha_within_the_first_quarter() -> None:
    # budget 2000, an estimate every 5 updates: 100 estimates in the first quarter
    decay = budget_decay(2000, 5, 0.25)
    assert decay == pytest.approx(0.01 ** (1 / 100)) and decay == pytest.approx(0.95499, abs=1e-5)
    for budget in (1000, 4000, 250_000):
        n = 0.25 * budget / 5
        assert budget_decay(budget, 5, 0.25) ** n == pytest.approx(SETTLED)
    assert budget_decay(10, 5, 0.25) == 0.0  # no estimate in the first quarter: follow the target
    with pytest.raises(ChaosbenchError, match="budget"):
        budget_decay(0, 5, 0.25)


def test_gtf_yaml_makes_the_schedule_explicit() -> None:
    params = regime_file("gtf")["params"]
    assert params["decay"] == "budget" and params["settle"] == 0.5 and params["alpha"] == "adaptive"
    gtf = make("gtf")
    assert gtf.resolve({"budget": 2000, "dt": 0.01}).decay == pytest.approx(budget_decay(2000, 5, 0.5))
    assert make("gtf", decay=0.999).resolve({"budget": 2000}).decay == 0.999  # a fixed decay stays
    with pytest.raises(ChaosbenchError, match="resolved"):
        gtf.anneal(torch.ones(1), torch.zeros(1))
    with pytest.raises(ChaosbenchError, match="needs the run's budget"):
        gtf.resolve({"dt": 0.01})
    with pytest.raises(ChaosbenchError, match="settle"):
        make("gtf", settle=0.0)
    with pytest.raises(ChaosbenchError, match="decay"):
        make("gtf", decay="fast")


class Doubling(LatentModel):
    """``z' = 2 z`` observed in full: every Jacobian has norm 2, so GTF's target alpha is 0.5."""

    def __init__(self, obs_dim: int) -> None:
        super().__init__(obs_dim, obs_dim, {})
        self.scale = nn.Parameter(torch.full((1,), 2.0))

    def step(self, z: torch.Tensor) -> torch.Tensor:
        return self.scale * z

    def observe(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def jacobian(self, z: torch.Tensor) -> torch.Tensor:
        return self.scale * torch.eye(z.shape[-1]).expand(*z.shape, z.shape[-1])


@pytest.mark.parametrize("budget", [8, 24])
def test_adaptive_alpha_reaches_its_target_in_the_first_quarter(lorenz: np.ndarray, budget: int) -> None:
    regime = {"name": "gtf", "alpha": "adaptive", "alpha_init": 1.0, "update_every": 1, "settle": 0.25}
    res = fit(Doubling, lorenz, 0.01, regime, seeds=[0], budget=budget, lr=1e-12,
              **{**SMALL, "log_every": budget // 4})  # fmt: skip
    alpha = res.logs[0]["alpha"]  # at 1/4, 2/4, 3/4 and all of the budget
    assert alpha[0] == pytest.approx(0.5 + 0.5 * SETTLED, abs=1e-5)  # excess 0.5 -> 1 % of it
    assert alpha[-1] < alpha[0] and alpha[-1] == pytest.approx(0.5, abs=1e-5)
    assert res.regime.decay == pytest.approx(budget_decay(budget, 1, 0.25))


def test_constant_alpha_forces_with_that_alpha(lorenz: np.ndarray) -> None:
    res = fit(Doubling, lorenz, 0.01, {"name": "gtf", "alpha": 0.3}, seeds=[0], budget=2, lr=1e-12, **SMALL)
    assert res.alpha == [pytest.approx(0.3)] and "alpha" not in res.logs[0]
    assert isinstance(res.regime, Gtf) and not res.regime.adaptive


# --- the affine observation model ------------------------------------------------------------


def affine(obs_dim: int, latent_dim: int, **kw: Any) -> LatentModel:
    torch.manual_seed(0)
    return build("clipped_shplrnn", obs_dim, latent_dim=latent_dim, hidden_dim=12,
                 observation="affine", **kw)  # fmt: skip


@pytest.mark.parametrize(("n", "m"), [(5, 3), (5, 5), (4, 9)])
def test_affine_read_out_and_its_pseudo_inverse(n: int, m: int) -> None:
    model = affine(n, m)
    with torch.no_grad():
        model.b.copy_(torch.linspace(-1, 1, n))
    z, x = torch.randn(7, m), torch.randn(7, n)
    torch.testing.assert_close(model.observe(z), z @ model.B.T + model.b)
    if m <= n:  # B has full column rank: the latent state is recovered from its observation
        torch.testing.assert_close(model.encode(model.observe(z)), z, rtol=1e-4, atol=1e-4)
    if m >= n:  # full row rank: the inferred state reproduces the observation
        torch.testing.assert_close(model.observe(model.encode(x)), x, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(model.force(z, x, 1.0), model.encode(x))
    torch.testing.assert_close(model.force(z, x, 0.25), 0.75 * z + 0.25 * model.encode(x))
    report = check(model)  # shapes, analytic Jacobian vs autograd, vmap and the native view
    assert report.ok, str(report)


def test_affine_forcing_signal_is_outside_the_gradient() -> None:
    model = affine(5, 3)
    assert not model.encode(torch.randn(4, 5)).requires_grad  # pinv(B)(x - b) is data
    z = model.step(torch.randn(4, 3))
    model.force(z, torch.randn(4, 5), 0.5).sum().backward()
    assert model.B.grad is None and model.b.grad is None
    model.observe(torch.randn(4, 3)).sum().backward()
    assert model.B.grad is not None and torch.count_nonzero(model.B.grad) > 0


def test_affine_jacobian_is_the_latent_maps(lorenz: np.ndarray) -> None:
    model = affine(3, 6)
    z = torch.randn(4, 6)
    jac = torch.func.vmap(torch.func.jacrev(model.step))(z)
    torch.testing.assert_close(model.jacobian(z), jac)
    result = spectrum(model, x0=model.encode(torch.as_tensor(lorenz[:4])).detach(), k=6,
                      n_steps=200, transient=50)  # fmt: skip
    assert result.status == "ok" and len(result.exponents) == 6


def test_affine_native_ensemble_matches_the_members(lorenz: np.ndarray) -> None:
    factory = functools.partial(build, "clipped_shplrnn", latent_dim=2, hidden_dim=8,
                                observation="affine", latent_reg=0.01)  # fmt: skip
    native = Ensemble(factory, 3, [0, 1], torch.device("cpu"))
    assert native.native
    x = torch.as_tensor(lorenz[:40]).reshape(2, 1, 20, 3)
    z = native.apply(lambda m, x: m.encode(x), x)
    for i in range(2):
        member = native.member(i)
        torch.testing.assert_close(z[i], member.encode(x[i]), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(native.apply(_penalty)[i], member.penalty())
    res = fit(factory, lorenz, 0.01, {"name": "gtf", "alpha": 0.3}, seeds=[0, 1], budget=20, lr=1e-2, **SMALL)
    assert not any(res.diverged) and res.members[0].latent_dim == 2


def test_latent_regulariser_is_the_reference_penalty_and_is_trained(lorenz: np.ndarray) -> None:
    model = affine(3, 2, latent_reg=0.5)
    terms = (1 - model.A, model.W1, model.W2, model.h1, model.h2)
    expected = 0.5 * sum(float((t.detach() ** 2).sum()) for t in terms)
    assert float(model.penalty().detach()) == pytest.approx(expected, rel=1e-6)
    raw = []
    for reg in (0.0, 1.0):
        factory = functools.partial(build, "clipped_shplrnn", hidden_dim=8, observation="affine", latent_reg=reg)
        res = fit(factory, lorenz, 0.01, {"name": "gtf", "alpha": 0.3}, seeds=[0], budget=30, lr=3e-2, **SMALL)
        m = res.members[0]
        raw.append(sum(float((t.detach() ** 2).sum()) for t in (1 - m.A, m.W1, m.W2, m.h1, m.h2)))
    assert raw[1] < 0.6 * raw[0]  # the regulariser pulls the map towards z' = z (measured: 0.51)


def test_identity_observation_still_needs_latent_dim_at_least_obs_dim() -> None:
    with pytest.raises(ChaosbenchError, match="at least obs_dim"):
        build("clipped_shplrnn", 5, latent_dim=3)
    with pytest.raises(ChaosbenchError, match="observation must be one of"):
        build("shplrnn", 3, observation="linear")


# --- named configurations in suites ----------------------------------------------------------


def test_empirical_suite_carries_the_published_configurations() -> None:
    suite = suites.load("empirical")
    units = {str(u): u for u in suite.units()}
    ecg, eeg = units["ecg/shplrnn_gtf_ecg/gtf"], units["eeg/shplrnn_gtf_eeg/gtf"]
    assert "eeg/shplrnn_gtf_ecg/gtf" not in units and "ecg/shplrnn_gtf_ecg/stf" not in units
    assert ecg.config.model == "clipped_shplrnn"
    assert ecg.config.model_params == {"latent_dim": None, "hidden_dim": 250, "observation": "affine",
                                       "latent_reg": 0.0}  # fmt: skip
    assert eeg.config.model_params == {"latent_dim": 16, "hidden_dim": 512, "observation": "affine",
                                       "latent_reg": 1.0e-4}  # fmt: skip
    for unit, alpha, seq_len in ((ecg, 0.3, 200), (eeg, 0.1, 50)):
        assert unit.config.regime["alpha"] == alpha
        t = unit.config.training
        assert (t.optimizer, t.lr, t.lr_decay, t.grad_clip, t.seq_len) == ("radam", 1e-3, 1e-3, None, seq_len)
    assert units["ecg/shplrnn/gtf"].config.training.grad_clip == 10.0  # the generic rows keep theirs


@pytest.mark.parametrize("budget", [1000, 3000, 250_000])
def test_published_rate_follows_the_papers_schedule_at_any_budget(budget: int) -> None:
    """The reference code decays RAdam's rate from 1e-3 to 1e-6 over its 250 000 updates
    (5000 epochs of 50 batches): at update u it is 1e-3 * 1e-3 ** (u / 250 000), whatever the
    budget. Spread over a short budget instead, the rate would reach 1e-6 by its end and the
    model would stay near its initial fixed point."""
    units = {str(u): u for u in suites.load("empirical").units()}
    for name in ("ecg/shplrnn_gtf_ecg/gtf", "eeg/shplrnn_gtf_eeg/gtf"):
        settings = units[name].config.training
        for update in (1, budget // 2, budget):
            paper = 1e-3 * 1e-3 ** ((update - 1) / 250_000)
            assert learning_rate(settings, update, budget) == pytest.approx(paper)


def test_named_configuration_entries_are_checked() -> None:
    doc = {"budget": 2, "seeds": 1, "datasets": ["lorenz63", "rossler"], "regimes": ["bptt"],
           "models": [{"name": "mine", "model": "shplrnn", "datasets": ["rossler"],
                       "regimes": [{"name": "gtf", "alpha": 0.2, "label": "gtf02"}], "training": {"lr": 0.5}}]}  # fmt: skip
    suite = suites.parse(doc)
    assert [str(u) for u in suite.units()] == ["rossler/mine/gtf02"]
    assert suite.units()[0].config.training.lr == 0.5
    assert [str(u) for u in suite.subset(regimes=["gtf02"]).units()] == ["rossler/mine/gtf02"]
    assert suite.subset(regimes=["bptt"]).units() == []
    for bad, message in (({"datasets": ["ecg"]}, "dataset"),
                         ({"model": "esn", "regimes": ["bptt"]}, "without a regime"),
                         ({"training": {"speed": 1}}, "speed")):  # fmt: skip
        entry = {**doc["models"][0], **bad}
        with pytest.raises(ChaosbenchError, match=message):
            suites.parse({**doc, "models": [entry]})


# --- tuned references ------------------------------------------------------------------------


class Recorder:
    """An evaluable model that remembers what it was fitted on and generates a circle of ``radius``."""

    seen: list[np.ndarray] = []

    def __init__(self, radius: float) -> None:
        self.radius = radius

    def fit(self, train: np.ndarray, dt: float, budget: int | None, seed: int) -> None:
        Recorder.seen.append(train)

    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        t = np.arange(n_steps)[:, None]
        return self.radius * np.hstack([np.sin(0.05 * t), np.cos(0.05 * t)])


def test_grid_search_scores_on_the_last_fifth_of_train_only() -> None:
    t = np.arange(3000)[:, None]
    train = np.hstack([np.sin(0.05 * t), np.cos(0.05 * t)])
    Recorder.seen = []
    search = grid_search(lambda p: Recorder(**p), {"radius": [3.0, 1.0, 0.3]}, train, 1.0, seed=0)
    assert search.best == {"radius": 1.0}
    scores = [s for _, s in search.scores]
    assert scores[1] < 0.1 and min(scores[0], scores[2]) > 1.0
    assert all(np.array_equal(seen, train[:2400]) for seen in Recorder.seen)  # fitted on 80 %
    assert (search.n_fit, search.n_validation) == (2400, 600)
    long = np.zeros((MAX_FIT * 2, 1))
    assert len(split(long)[0]) == MAX_FIT


def test_tuned_esn_is_deterministic_and_keeps_its_configuration(lorenz: np.ndarray) -> None:
    grid = {"spectral_radius": [0.2, 0.9], "ridge": [1.0e-6, 10.0]}
    fits = []
    for _ in range(2):
        model = build("esn", 3, n_units=60, washout=50, tune=grid)
        model.fit(lorenz, 0.01, None, 3)
        fits.append(model)
    a, b = fits
    assert a.search.best == b.search.best and [s for _, s in a.search.scores] == [s for _, s in b.search.scores]
    assert len(a.search.scores) == 4 and all(math.isfinite(s) or s == math.inf for _, s in a.search.scores)
    assert a.config["tune"] == grid and a.config["ridge"] == 1.0e-6  # configured values kept
    assert (a.spectral_radius, a.ridge) == (a.search.best["spectral_radius"], a.search.best["ridge"])
    np.testing.assert_array_equal(a.generate(lorenz[0], 50), b.generate(lorenz[0], 50))
    with pytest.raises(ChaosbenchError, match="cannot tune 'n_units'"):
        build("esn", 3, tune={"n_units": [10]})


def test_tuned_sindy_threshold(lorenz: np.ndarray) -> None:
    pytest.importorskip("pysindy")
    model = build("sindy", 3, tune={"threshold": [100.0, 0.05]})
    model.fit(lorenz, 0.01, None, 0)
    # threshold 100 prunes every term: a constant field, far from the validation part
    assert model.search.best == {"threshold": 0.05} and model.threshold == 0.05
    assert model.search.scores[0][1] > model.search.scores[1][1]


def test_a_tuned_references_record_names_what_the_search_chose(tmp_path: Path) -> None:
    from chaosbench.harness import suites
    from chaosbench.harness.runner import run_suite
    from chaosbench.records import RecordStore

    grid = {"spectral_radius": [0.4, 0.8]}
    suite = suites.parse({
        "name": "tuned", "budget": 2, "seeds": [0], "datasets": ["lorenz63"], "regimes": ["bptt"],
        "models": [{"name": "esn", "params": {"n_units": 30, "washout": 50, "tune": grid}}],
        "evaluation": {"n_test": 600, "transient": 50, "lyapunov_inits": 2, "lyapunov_steps": 50}, "unit_timeout": 0,
    })  # fmt: skip
    run_suite(suite, tmp_path, progress=False, report=lambda line: None)
    (record,) = RecordStore(tmp_path).iter_records()
    tuned = record.config["tuned"]
    assert tuned["chosen"]["spectral_radius"] in grid["spectral_radius"]
    assert (tuned["n_fit"], tuned["n_validation"]) == (20_000, 10_000)  # lorenz63's train is capped
    assert 0 < tuned["validation_d_stsp"] < 10
    assert record.config["model"]["params"]["tune"] == grid  # the configured grid, beside the choice
