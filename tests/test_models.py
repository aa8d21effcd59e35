"""The model contract, the baselines, the registry and ``check``."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from scipy.integrate import solve_ivp

import chaosbench.models as cm
from chaosbench.errors import ChaosbenchError, UnknownNameError
from chaosbench.models.plrnn import ObservedFirstUnits
from chaosbench.registry import Registry
from conftest import baseline_names

# the module itself (the package attribute chaosbench.models.registry is the Registry object)
registry_module = importlib.import_module("chaosbench.models.registry")

LATENT = baseline_names("latent")
# small sizes keep the tests fast (a baseline not listed gets its YAML's); latent_dim > obs_dim
# exercises the free units
SMALL = {
    "plrnn": {"latent_dim": 6},
    "shplrnn": {"latent_dim": 5, "hidden_dim": 8},
    "clipped_shplrnn": {"latent_dim": 5, "hidden_dim": 8},
    "dendplrnn": {"latent_dim": 5, "n_bases": 4},
    "rnn": {"hidden_dim": 6},
    "lstm": {"hidden_dim": 4},
    "gru": {"hidden_dim": 5},
}


def small(name: str, seed: int = 0, dtype: torch.dtype = torch.float64) -> cm.LatentModel:
    torch.manual_seed(seed)
    return cm.build(name, 3, **SMALL.get(name, {})).to(dtype)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """These tensors are tiny: extra intra-op threads only add wake-up latency (severe on a
    loaded machine), so the module runs single-threaded and restores the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def lorenz() -> np.ndarray:
    """12 000 z-scored samples of Lorenz-63 at dt = 0.01 (after a 10-time-unit transient)."""

    def rhs(_t: float, u: np.ndarray) -> list[float]:
        x, y, z = u
        return [10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z]

    t = np.arange(13_000) * 0.01
    sol = solve_ivp(rhs, (0, t[-1]), [1.0, 1.0, 1.0], t_eval=t, method="DOP853", rtol=1e-9, atol=1e-9)
    x = sol.y.T[1000:]
    return (x - x.mean(0)) / x.std(0)


# --- latent models -------------------------------------------------------------------------


@pytest.mark.parametrize("name", LATENT)
def test_analytic_jacobian_matches_autograd(name: str) -> None:
    model = small(name)
    z = 1.5 * torch.randn(2, 3, model.latent_dim, dtype=torch.float64)
    jac = model.jacobian(z)
    assert jac.shape == (2, 3, model.latent_dim, model.latent_dim)
    torch.testing.assert_close(jac, cm.autograd_jacobian(model, z).detach(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", LATENT)
def test_vmap_over_stacked_models_equals_each_model(name: str) -> None:
    models = [small(name, seed) for seed in range(3)]
    params, buffers = torch.func.stack_module_state(models)
    state = {**params, **buffers}
    z = torch.randn(4, models[0].latent_dim, dtype=torch.float64)
    x = torch.randn(4, 3, dtype=torch.float64)
    alpha = torch.tensor([[0.2], [0.5], [0.9]], dtype=torch.float64)  # one alpha per model
    for method, args, dims in (
        ("step", (z,), (0, None)),
        ("observe", (z,), (0, None)),
        ("encode", (x,), (0, None)),
        ("jacobian", (z,), (0, None)),
        ("force", (z, x, alpha), (0, None, None, 0)),
    ):
        run = torch.func.vmap(lambda s, *a, _m=method: cm.call(models[0], s, _m, *a), in_dims=dims)
        batched = run(state, *args)
        each = []
        for i, m in enumerate(models):
            a = (z, x, alpha[i]) if method == "force" else args
            each.append(getattr(m, method)(*a))
        torch.testing.assert_close(batched, torch.stack(each), rtol=1e-12, atol=1e-12)
    assert not torch.equal(models[0].step(z), models[1].step(z))  # the seeds really differ


@pytest.mark.parametrize("name", LATENT)
def test_every_latent_baseline_declares_a_native_ensemble_view(name: str) -> None:
    assert cm.supports_stacked(small(name))


@pytest.mark.parametrize("name", LATENT)
def test_native_ensemble_view_equals_each_model(name: str) -> None:
    models = [small(name, seed) for seed in range(3)]
    params, _ = torch.func.stack_module_state(models)
    view = models[0].stacked(params)
    m = models[0].latent_dim
    z, x = torch.randn(3, 4, m, dtype=torch.float64), torch.randn(3, 4, 3, dtype=torch.float64)
    alpha = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)[:, None, None]
    for method, args in (("step", (z,)), ("observe", (z,)), ("encode", (x,)),
                         ("jacobian", (z,)), ("force", (z, x, alpha))):
        each = [getattr(mod, method)(*(a[i] for a in args)) for i, mod in enumerate(models)]
        torch.testing.assert_close(getattr(view, method)(*args), torch.stack(each),
                                   rtol=1e-12, atol=1e-12, msg=method)


def _grads(loss: torch.Tensor, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(loss, inputs, materialize_grads=True)


def _eager_grads(loss: torch.Tensor, inputs: list[torch.Tensor], models: list,
                 names: list[str]) -> list[torch.Tensor]:
    """``d loss / d`` each of ``inputs``, then each parameter of ``models`` stacked over them."""
    own = [dict(m.named_parameters()) for m in models]
    grads = _grads(loss, [*inputs, *(p[k] for k in names for p in own)])
    n, params = len(models), grads[len(inputs):]
    return [*grads[: len(inputs)], *(torch.stack(params[j * n: (j + 1) * n]) for j in range(len(names)))]


@pytest.mark.parametrize("name", LATENT)
def test_native_step_gradients_equal_each_model(name: str) -> None:
    """Through two steps, the view's gradients with respect to the state and every parameter
    equal autograd of each model's own step, in float64."""
    models = [small(name, seed) for seed in range(3)]
    params, _ = torch.func.stack_module_state(models)
    z = 1.5 * torch.randn(3, 4, models[0].latent_dim, dtype=torch.float64)
    weights = torch.randn_like(z)
    view = models[0].stacked(params)
    state = z.clone().requires_grad_()
    native = _grads((weights * view.step(view.step(state))).sum(), [state, *params.values()])
    state = z.clone().requires_grad_()
    each = sum((weights[i] * m.step(m.step(state[i]))).sum() for i, m in enumerate(models))
    eager = _eager_grads(each, [state], models, list(params))
    for key, a, b in zip(["state", *params], native, eager):
        unused = key in ("L", "encoder.weight", "encoder.bias")  # step does not use them
        assert unused or float(b.abs().max()) > 0, key
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=key)


@pytest.mark.parametrize("name", ["lstm", "gru", "dendplrnn"])
def test_native_unroll_equals_each_model_stepped_and_forced(name: str) -> None:
    """The fused window (hand-written backward): its predicted observations and the gradients
    with respect to the start, the targets and every parameter equal a loop of each model's own
    ``step``, ``force`` and ``observe``, in float64, with mixing (alpha < 1) and full (alpha = 1)
    forcing."""
    models = [small(name, seed) for seed in range(3)]
    params, _ = torch.func.stack_module_state(models)
    steps, forced = 7, (2, 3, 5)
    z = torch.randn(3, 4, models[0].latent_dim, dtype=torch.float64)
    x = torch.randn(3, 4, steps, 3, dtype=torch.float64)
    alpha = torch.tensor([0.3, 0.8, 1.0], dtype=torch.float64)[:, None, None]
    weights = torch.randn(3, 4, steps, 3, dtype=torch.float64)
    start, targets = z.clone().requires_grad_(), x.clone().requires_grad_()
    y = models[0].stacked(params).unroll(start, targets, forced, alpha)
    native = _grads((weights * y).sum(), [start, targets, *params.values()])
    start, targets = z.clone().requires_grad_(), x.clone().requires_grad_()
    loss = 0
    for i, m in enumerate(models):
        state = start[i]
        for t in range(1, steps + 1):
            state = m.step(state)
            loss = loss + (weights[i, :, t - 1] * m.observe(state)).sum()
            if t in forced:
                state = m.force(state, targets[i, :, t - 1], alpha[i])
    eager = _eager_grads(loss, [start, targets], models, list(params))
    for key, a, b in zip(["start", "targets", *params], native, eager):
        assert key == "L" or float(b.abs().max()) > 0, key  # L: forcing observed units only
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=key)


def test_a_subclass_changing_step_falls_back_to_vmap() -> None:
    class Damped(cm.ShPLRNN):
        def step(self, z: torch.Tensor) -> torch.Tensor:
            return 0.5 * super().step(z)

    class Renamed(cm.ShPLRNN):
        pass

    assert not cm.supports_stacked(Damped(3)) and cm.supports_stacked(Renamed(3))


def test_check_compares_the_native_view_with_each_model() -> None:
    class WrongView(cm.ShPLRNN):
        def stacked(self, params):
            view = super().stacked(params)
            view.h1 = view.h1 + 1.0
            return view

    report = cm.check(WrongView(3, hidden_dim=4))
    assert report.problems == ["step of the native ensemble view stacked(params) differs from calling each model"]


@pytest.mark.parametrize("name", [n for n in LATENT if issubclass(cm.get(n), ObservedFirstUnits)])
def test_plrnn_force_replaces_observed_units_only(name: str) -> None:
    model = small(name)
    z = torch.randn(7, model.latent_dim, dtype=torch.float64)
    x = torch.randn(7, 3, dtype=torch.float64)
    full = model.force(z, x)
    assert torch.equal(full[:, :3], x) and torch.equal(full[:, 3:], z[:, 3:])
    assert torch.equal(model.force(z, x, 0.0), z)
    torch.testing.assert_close(model.force(z, x, 0.25)[:, :3], 0.75 * z[:, :3] + 0.25 * x)
    assert torch.equal(model.observe(model.encode(x)), x)
    assert torch.equal(model.encode(x)[:, 3:], torch.zeros_like(z[:, 3:]))  # L starts at zero
    torch.testing.assert_close(model.observe(z), z[:, :3], rtol=0, atol=0)


@pytest.mark.parametrize("name", [n for n in LATENT if cm.get(n).force is cm.LatentModel.force])
def test_default_force_mixes_with_encoded_state(name: str) -> None:
    model = small(name)
    z = torch.randn(5, model.latent_dim, dtype=torch.float64)
    x = torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close(model.force(z, x), model.encode(x))
    torch.testing.assert_close(model.force(z, x, 0.3), 0.7 * z + 0.3 * model.encode(x))
    alpha = torch.tensor([[0.0], [1.0], [0.5], [0.0], [1.0]], dtype=torch.float64)
    forced = model.force(z, x, alpha)
    torch.testing.assert_close(forced[0], z[0])
    torch.testing.assert_close(forced[1], model.encode(x[1]))


def test_plrnn_step_is_the_published_formula() -> None:
    model = small("plrnn")
    z = torch.randn(6, dtype=torch.float64)
    a, w, h = (t.detach().numpy() for t in (model.A, model.W, model.h))
    w = w - np.diag(np.diag(w))  # W is off-diagonal: self-coupling lives in A
    expected = a * z.numpy() + w @ np.maximum(z.numpy(), 0) + h
    np.testing.assert_allclose(model.step(z).detach().numpy(), expected, rtol=1e-13, atol=1e-13)


def test_dendplrnn_step_is_the_published_formula() -> None:
    model = small("dendplrnn")
    z = torch.randn(5, dtype=torch.float64).numpy()
    params = (model.A, model.W, model.h, model.alpha, model.H)
    a, w, h, alpha, thr = (t.detach().numpy() for t in params)
    phi = sum(alpha[b] * np.maximum(z - thr[:, b], 0) for b in range(len(alpha)))
    expected = a * z + (w - np.diag(np.diag(w))) @ phi + h
    np.testing.assert_allclose(model.step(torch.from_numpy(z)).detach().numpy(), expected, rtol=1e-13)


def test_clipped_shplrnn_nonlinearity_is_bounded() -> None:
    model = small("clipped_shplrnn")
    torch.manual_seed(1)
    plain = cm.ShPLRNN(3, 5, 8).double()  # the unclipped form grows with |z|
    z = 1e4 * torch.randn(100, model.latent_dim, dtype=torch.float64)
    with torch.no_grad():
        rest = model.step(z) - model.A * z - model.h1
        bound = torch.linalg.matrix_norm(model.W1, ord=2) * model.h2.norm()
        assert float(rest.norm(dim=-1).max()) <= float(bound) + 1e-9
        assert float((plain.step(z) - plain.A * z).norm(dim=-1).max()) > 100


def test_lstm_state_is_hidden_and_cell() -> None:
    model = small("lstm")
    assert model.latent_dim == 2 * model.hidden_dim == 8
    z = torch.randn(8, dtype=torch.float64)
    nxt = model.step(z)
    h, c = nxt[:4], nxt[4:]
    cell = torch.nn.LSTMCell(3, 4).double()
    with torch.no_grad():
        cell.weight_ih.copy_(model.W_ih)
        cell.weight_hh.copy_(model.W_hh)
        cell.bias_ih.copy_(model.b_ih)
        cell.bias_hh.copy_(model.b_hh)
        ref_h, ref_c = cell(model.observe(z)[None], (z[None, :4], z[None, 4:]))
    torch.testing.assert_close(h, ref_h[0])
    torch.testing.assert_close(c, ref_c[0])


def test_gru_matches_torch_cell() -> None:
    model = small("gru")
    z = torch.randn(5, dtype=torch.float64)
    cell = torch.nn.GRUCell(3, 5).double()
    with torch.no_grad():
        for ours, theirs in ((model.W_ih, cell.weight_ih), (model.W_hh, cell.weight_hh),
                             (model.b_ih, cell.bias_ih), (model.b_hh, cell.bias_hh)):
            theirs.copy_(ours)
        ref = cell(model.observe(z)[None], z[None])[0]
    torch.testing.assert_close(model.step(z), ref)


@pytest.mark.parametrize("name", LATENT)
def test_generate_is_the_free_run(name: str) -> None:
    model = small(name)
    x0 = torch.randn(4, 3, dtype=torch.float64)
    y = model.generate(x0, 6)
    assert y.shape == (6, 4, 3) and not y.requires_grad
    z = model.encode(x0)
    for t in range(6):
        torch.testing.assert_close(y[t], model.observe(z))
        z = model.step(z)
    torch.testing.assert_close(model.generate(x0[1].numpy(), 6), y[:, 1])


def test_same_seed_same_model_and_untrained_runs_stay_bounded() -> None:
    for name in LATENT:
        a, b, c = small(name, 7), small(name, 7), small(name, 8)
        sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
        assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].numel())
        torch.manual_seed(0)
        y = cm.build(name, 3).generate(torch.randn(16, 3), 300)
        assert bool(torch.isfinite(y).all()) and float(y.abs().max()) < 1e3, name


def test_bad_constructor_and_generate_arguments() -> None:
    with pytest.raises(ChaosbenchError, match="latent_dim .2. must be at least obs_dim .3."):
        cm.PLRNN(3, latent_dim=2)
    with pytest.raises(ChaosbenchError, match="hidden_dim must be a positive integer"):
        cm.LSTM(3, hidden_dim=0)
    with pytest.raises(ChaosbenchError, match="obs_dim must be a positive integer"):
        cm.GRU(2.5)
    with pytest.raises(ChaosbenchError, match=r"x0 must have shape \(3,\) or \(B, 3\)"):
        cm.RNN(3).generate(torch.zeros(4), 5)
    with pytest.raises(ChaosbenchError, match="n_steps must be a positive integer"):
        cm.RNN(3).generate(torch.zeros(3), 0)


def test_has_analytic_jacobian() -> None:
    assert all(cm.has_analytic_jacobian(small(n)) for n in LATENT)

    class NoJacobian(cm.LatentModel):
        pass

    assert not cm.has_analytic_jacobian(NoJacobian(3, 3, {}))


# --- registry and baselines ----------------------------------------------------------------


def test_registry_names_kinds_and_yaml_defaults() -> None:
    assert {"shplrnn", "esn", "sindy"} <= set(baseline_names()) and len(LATENT) > 1
    for name in baseline_names():
        meta = registry_module.registry.meta(name)
        assert meta["kind"] == ("latent" if issubclass(cm.get(name), cm.LatentModel) else "evaluable")
        assert meta["citation"]
        path = cm.baselines_dir() / "models" / f"{name}.yaml"
        doc = yaml.safe_load(path.read_text())
        assert doc["model"] == name
        model = cm.build(name, 3)
        for key, value in doc["params"].items():
            expected = 3 if key == "latent_dim" and value is None else value
            assert model.config[key] == expected, (name, key)
    assert cm.get("clipped_shplrnn") is cm.ClippedShPLRNN
    assert cm.build("clipped_shplrnn", 3).clip


def test_build_overrides_and_latent_dim_floor() -> None:
    assert cm.build("plrnn", 3).latent_dim == 20
    assert cm.build("plrnn", 40).latent_dim == 40  # default raised to obs_dim
    assert cm.build("plrnn", 3, latent_dim=4).latent_dim == 4
    with pytest.raises(ChaosbenchError, match="latent_dim .4. must be at least obs_dim .5."):
        cm.build("plrnn", 5, latent_dim=4)  # an explicit value is never changed
    with pytest.raises(ChaosbenchError, match=r"model 'rnn'.*parameters: hidden_dim"):
        cm.build("rnn", 3, hiden_dim=10)


def test_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'shplrnn'"):
        cm.get("shplrn")


def test_resolve_module_class_and_bad_specs() -> None:
    assert cm.resolve("chaosbench.models.plrnn:PLRNN") is cm.PLRNN
    assert cm.resolve("chaosbench.models:ESN") is cm.ESN
    assert cm.resolve("gru") is cm.GRU
    with pytest.raises(ChaosbenchError, match="cannot import model 'no_such_module_xyz:Model'"):
        cm.resolve("no_such_module_xyz:Model")
    with pytest.raises(ChaosbenchError, match="cannot import model 'chaosbench.models:Nope'"):
        cm.resolve("chaosbench.models:Nope")
    with pytest.raises(ChaosbenchError, match="is not a model"):
        cm.resolve("math:pi")


def test_entry_points_register_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    good = SimpleNamespace(name="plugin_rnn", value="pkg:Model", load=lambda: cm.RNN)

    def broken() -> type:
        raise ImportError("missing dependency")

    bad = SimpleNamespace(name="plugin_bad", value="pkg:Bad", load=broken)
    found = {"chaosbench.models": [good, bad]}
    monkeypatch.setattr(registry_module, "entry_points", lambda group: found.get(group, []))
    reg: Registry[type] = Registry("model", loader=registry_module._load_entry_points)
    with pytest.warns(UserWarning, match="'plugin_bad' .pkg:Bad. failed to load: missing dependency"):
        assert reg.get("plugin_rnn") is cm.RNN
    assert reg.meta("plugin_rnn")["kind"] == "latent"
    assert reg.names() == ["plugin_rnn"]


# --- check ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LATENT)
def test_check_passes_every_latent_baseline(name: str) -> None:
    report = cm.check(small(name, dtype=torch.float32))
    assert report.ok, str(report)
    report.raise_if_failed()


class _Broken(cm.LatentModel):
    """A PLRNN-like model with one defect chosen by ``flaw``."""

    def __init__(self, flaw: str) -> None:
        super().__init__(3, 4, {"flaw": flaw})
        self.flaw = flaw
        self.a = torch.nn.Parameter(torch.full((4,), 0.5))

    def step(self, z: torch.Tensor) -> torch.Tensor:
        if self.flaw == "shape":
            return (self.a * z)[..., :3]
        if self.flaw == "item":
            return self.a * z * float(z.abs().max().item() > -1)
        if self.flaw == "random":
            return self.a * z + 1e-3 * torch.randn_like(z)
        if self.flaw == "nan":
            return self.a * torch.log(z)
        return self.a * z

    def observe(self, z: torch.Tensor) -> torch.Tensor:
        return z[..., :3].double() if self.flaw == "dtype" else z[..., :3]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, x[..., :1]], dim=-1)

    def jacobian(self, z: torch.Tensor) -> torch.Tensor:
        scale = 2.0 if self.flaw == "jacobian" else 1.0
        return torch.diag_embed(scale * self.a).expand(*z.shape, 4)


@pytest.mark.parametrize(
    ("flaw", "message"),
    [
        ("shape", r"step\(z\) for batch shape \(5,\) returned shape \(5, 3\), expected \(5, 4\)"),
        ("item", r"step under torch.func.vmap .* raised"),
        ("random", r"step\(z\) gives different results on the same input"),
        ("nan", r"step\(z\) for batch shape \(\) returned NaN or infinite values"),
        ("dtype", r"observe\(z\) for batch shape \(\) returned dtype torch.float64 for torch.float32 input"),
        ("jacobian", r"jacobian\(z\) differs from the autograd Jacobian of step by up to 0.5"),
    ],
)
def test_check_names_what_is_wrong(flaw: str, message: str) -> None:
    report = cm.check(_Broken(flaw))
    assert not report.ok
    assert any(re.search(message, p) for p in report.problems), report.problems
    with pytest.raises(ChaosbenchError, match="_Broken does not meet the model contract"):
        report.raise_if_failed()


def test_check_passes_the_flawless_variant() -> None:
    assert cm.check(_Broken("none")).ok  # the defects above are the only problems


def test_check_rejects_classes_and_plain_modules_and_bad_evaluables() -> None:
    assert cm.check(cm.PLRNN).problems == ["pass a model instance, not the class"]
    assert "neither a latent model" in cm.check(torch.nn.GRUCell(3, 3)).problems[0]

    class StepOnly(torch.nn.Module):
        def step(self, z: torch.Tensor) -> torch.Tensor:
            return z

    assert "does not subclass chaosbench.models.LatentModel" in cm.check(StepOnly()).problems[0]

    class Sloppy:
        """Generates the wrong shape and depends on the global RNG instead of the seed."""

        def fit(self, train: np.ndarray, dt: float, budget: int | None, seed: int) -> None:
            self.offset = np.random.default_rng().normal()

        def generate(self, x0: np.ndarray, n_steps: int) -> np.ndarray:
            return np.zeros((n_steps, 2)) + self.offset

    problems = cm.check(Sloppy(), obs_dim=3).problems
    assert any("returned shape (10, 2), expected (10, 3, 3)" in p for p in problems), problems
    assert any("fit with the same seed gives a different model" in p for p in problems), problems

    class NoSeed:
        def fit(self, train: np.ndarray) -> None: ...

        def generate(self, x0: np.ndarray, n_steps: int) -> np.ndarray: ...

    problems = cm.check(NoSeed()).problems
    assert len(problems) == 1 and problems[0].startswith("fit must accept (train, dt, budget, seed); it has fit(train")


# --- evaluable reference models ------------------------------------------------------------


def test_esn_reconstructs_lorenz63(lorenz: np.ndarray) -> None:
    train, test = lorenz[:10_000], lorenz[10_000:]
    esn = cm.build("esn", 3)
    esn.fit(train, 0.01, None, seed=0)
    persistence = float(np.mean((test[1:] - test[:-1]) ** 2))
    one = esn.generate(test[:-1], 2)[1]
    assert np.mean((one - test[1:]) ** 2) < 1e-3 * persistence  # ~ 1e-4 * persistence measured
    twenty = esn.generate(test[:-20:10], 21)[20]
    assert np.mean((twenty - test[20::10]) ** 2) < 1e-3  # persistence: ~0.6 at 20 steps
    free = esn.generate(test[0], 5000)
    assert np.isfinite(free).all() and np.allclose(free.std(0), 1.0, atol=0.15)  # on the attractor
    np.testing.assert_allclose(esn.generate(test[1], 50), esn.generate(test[:3], 50)[:, 1], rtol=1e-9)


def test_esn_is_deterministic_given_the_seed(lorenz: np.ndarray) -> None:
    def fitted(seed: int) -> np.ndarray:
        esn = cm.ESN(3, n_units=100, washout=100)
        esn.fit(lorenz[:2000], 0.01, None, seed)
        return esn.generate(lorenz[2000:2003], 50)

    np.testing.assert_array_equal(fitted(0), fitted(0))
    assert not np.allclose(fitted(0), fitted(1))


def test_esn_bad_input() -> None:
    esn = cm.ESN(3, n_units=20, washout=10)
    with pytest.raises(ChaosbenchError, match="call fit"):
        esn.generate(np.zeros(3), 5)
    with pytest.raises(ChaosbenchError, match=r"train must have shape \(T, 3\), got \(100, 2\)"):
        esn.fit(np.zeros((100, 2)), 0.01, None, 0)
    with pytest.raises(ChaosbenchError, match="NaN or infinite"):
        esn.fit(np.full((100, 3), np.nan), 0.01, None, 0)
    with pytest.raises(ChaosbenchError, match="leak must lie in"):
        cm.ESN(3, leak=0.0)


def test_sindy_identifies_lorenz63(lorenz: np.ndarray) -> None:
    pytest.importorskip("pysindy")
    train, test = lorenz[:10_000], lorenz[10_000:]
    model = cm.build("sindy", 3)
    model.fit(train, 0.01, None, seed=0)
    terms = [t.split()[-1] for t in model.equations()[0].split(" + ")]
    assert sorted(terms) == ["x0", "x1"]  # dx/dt = sigma (y - x), z-scored
    one = model.generate(test[:-1], 2)[1]
    assert np.mean((one - test[1:]) ** 2) < 1e-5
    y = model.generate(test[:4], 3000)
    assert y.shape == (3000, 4, 3) and np.isfinite(y).all()
    assert np.isnan(model.generate(np.full(3, 1e3), 200)[-1]).all()  # blow-up is reported, not hidden


def test_sindy_without_pysindy_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pysindy", None)
    with pytest.raises(ChaosbenchError, match=r"pip install 'chaosbench\[sindy\]'"):
        cm.SINDy(3).fit(np.random.default_rng(0).normal(size=(100, 3)), 0.01, None, 0)


def _central_differences(view: Any, z: torch.Tensor, q: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    columns = [(view.step(z + eps * q[..., j]) - view.step(z - eps * q[..., j])) / (2 * eps) for j in range(q.shape[-1])]
    return torch.stack(columns, dim=-1)


@pytest.mark.parametrize("name", ["esn", "sindy"])
def test_tangent_maps_iterate_generate_and_apply_its_jacobian(name: str, lorenz: np.ndarray) -> None:
    """The map a tangent_map gives is exactly the one generate iterates, with its exact Jacobian."""
    if name == "sindy":
        pytest.importorskip("pysindy")
    model = cm.build(name, 3, **({"n_units": 100, "washout": 100} if name == "esn" else {}))
    with pytest.raises(ChaosbenchError, match="call fit"):
        model.tangent_map()
    model.fit(lorenz[:6000], 0.01, None, seed=0)
    view, starts = model.tangent_map(), lorenz[6000:6300:100]
    z = view.encode(torch.as_tensor(starts))
    assert z.dtype == view.dtype == torch.float64 and z.shape == (3, view.latent_dim)
    observed = []
    for _ in range(200):
        observed.append(z[:, :3].numpy())
        z = view.step(z)
    np.testing.assert_array_equal(np.stack(observed), model.generate(starts, 200))
    q = torch.randn(3, view.latent_dim, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    stepped, pushed = view.tangent(z, q)
    assert torch.equal(stepped, view.step(z))
    fd = _central_differences(view, z, q)
    assert float((pushed - fd).abs().max() / fd.abs().max()) < 1e-6


def test_sindy_spectrum_from_its_jacobian_is_lorenz63s(lorenz: np.ndarray) -> None:
    pytest.importorskip("pysindy")
    from chaosbench.lyapunov import spectrum

    model = cm.build("sindy", 3)
    model.fit(lorenz[:10_000], 0.01, None, seed=0)
    view = model.tangent_map()
    x0 = view.encode(torch.as_tensor(lorenz[10_000::500]))
    exponents = spectrum(view, x0=x0, k=3, n_steps=3000, transient=500).exponents / 0.01
    # Lorenz-63: 0.906, 0, -14.57 (the z-scoring is linear: exponents unchanged)
    assert exponents[0] == pytest.approx(0.906, abs=0.1) and abs(exponents[1]) < 0.05
    assert exponents[2] == pytest.approx(-14.57, rel=0.05)


def test_evaluable_baselines_satisfy_the_protocol() -> None:
    assert isinstance(cm.ESN(3), cm.EvaluableModel)
    assert isinstance(cm.SINDy(3), cm.EvaluableModel)
    assert cm.check(cm.ESN(3, n_units=50, washout=50), obs_dim=3).ok


def test_evaluable_hyperparameters_are_validated() -> None:
    with pytest.raises(ChaosbenchError, match="ESN: ridge must be a non-negative number, got 'big'"):
        cm.ESN(3, ridge="big")
    with pytest.raises(ChaosbenchError, match="SINDy: threshold must be a non-negative number"):
        cm.SINDy(3, threshold=-1.0)
    with pytest.raises(ChaosbenchError, match="SINDy: degree must be a positive integer"):
        cm.SINDy(3, degree=0)
