"""``check(model)``: what a model lacks or gets wrong, in plain words, before compute is spent.

A latent model is probed on small random states for several batch shapes: presence of the
methods and attributes, output shapes, dtype and device, finiteness, determinism, batch
independence, gradients reaching the parameters, the analytic Jacobian against autograd, and
that the methods run under ``torch.func.vmap`` over stacked parameters (the ensemble training
path). An evaluable model is fitted on a short synthetic series with a tiny budget, then its
generation is checked for shape, finiteness and reproducibility from the seed. A model declaring
a native ensemble view (``stacked``) has that view compared with each member's own methods.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from chaosbench.errors import ChaosbenchError, first_line
from chaosbench.models.contract import (
    LatentModel,
    autograd_jacobian,
    call,
    has_analytic_jacobian,
    supports_stacked,
)

BATCH_SHAPES: tuple[tuple[int, ...], ...] = ((), (5,), (2, 3))
LATENT_METHODS = ("step", "observe", "encode")  # what LatentModel itself leaves undefined
FAILED = object()  # what CheckReport.attempt returns when the call raised


@dataclass
class CheckReport:
    """The outcome of :func:`check`: ``problems`` (empty if the model passes) and ``passed``."""

    model: str
    problems: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            return f"{self.model}: all {len(self.passed)} checks passed"
        lines = [f"{self.model}: {len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        if self.problems:
            problems = "; ".join(self.problems)
            raise ChaosbenchError(f"{self.model} does not meet the model contract: {problems}")

    def expect(self, condition: bool, ok: str, problem: str) -> bool:
        (self.passed if condition else self.problems).append(ok if condition else problem)
        return condition

    def attempt(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, or ``FAILED`` with a problem recorded if it raises."""
        try:
            return fn(*args)
        except Exception as err:
            self.problems.append(f"{what} raised {type(err).__name__}: {first_line(err)}")
            return FAILED


def check(model: Any, obs_dim: int = 3) -> CheckReport:
    """Check ``model`` (an instance) against the contract; ``obs_dim`` sizes the synthetic
    series used to fit an evaluable model (a latent model uses its own ``obs_dim``)."""
    report = CheckReport(type(model).__name__ if not isinstance(model, type) else model.__name__)
    if isinstance(model, type):
        report.problems.append("pass a model instance, not the class")
    elif isinstance(model, nn.Module) and callable(getattr(model, "step", None)):
        _check_latent(model, report)
    elif callable(getattr(model, "fit", None)) or callable(getattr(model, "generate", None)):
        _check_evaluable(model, obs_dim, report)
    else:
        report.problems.append(
            "neither a latent model (torch.nn.Module with step, observe, encode) nor an evaluable "
            "model (fit and generate)"
        )
    return report


def _check_latent(model: nn.Module, report: CheckReport) -> None:
    if not report.expect(
        isinstance(model, LatentModel),
        "subclasses LatentModel",
        "does not subclass chaosbench.models.LatentModel, which provides force, generate and the "
        "forward(method=...) dispatch that ensemble training uses",
    ):
        return
    missing = [m for m in LATENT_METHODS if getattr(type(model), m, None) in (None, getattr(LatentModel, m))]
    if not report.expect(
        not missing, "defines step, observe, encode",
        f"does not define {', '.join(missing)} (LatentModel leaves {', '.join(LATENT_METHODS)} to each model)",
    ):
        return
    dims_ok = all(
        isinstance(getattr(model, a, None), int) and getattr(model, a) > 0
        for a in ("latent_dim", "obs_dim")
    )
    if not report.expect(dims_ok, "dims", "latent_dim and obs_dim must be positive integers"):
        return
    params = list(model.parameters())
    if not report.expect(bool(params), "has parameters", "has no parameters: nothing to train"):
        return
    ref = params[0]
    report.expect(ref.dtype.is_floating_point, "floating-point parameters",
                  f"parameters have dtype {ref.dtype}; they must be floating point")
    devices = {str(p.device) for p in model.parameters()} | {str(b.device) for b in model.buffers()}
    report.expect(len(devices) == 1, "one device",
                  f"parameters and buffers live on several devices: {sorted(devices)}")
    if report.problems:
        return
    gen = torch.Generator().manual_seed(0)
    m, n = model.latent_dim, model.obs_dim

    def rand(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=gen).to(dtype=ref.dtype, device=ref.device)

    for batch in BATCH_SHAPES:
        z, x = rand(*batch, m), rand(*batch, n)
        for what, fn, args, shape in (
            ("step(z)", model.step, (z,), (*batch, m)),
            ("observe(z)", model.observe, (z,), (*batch, n)),
            ("encode(x)", model.encode, (x,), (*batch, m)),
            ("force(z, x, 0.5)", model.force, (z, x, 0.5), (*batch, m)),
        ):
            out = report.attempt(f"{what} for inputs of batch shape {batch}", fn, *args)
            if out is not FAILED:
                _expect_tensor(report, f"{what} for batch shape {batch}", out, shape, z)
        if has_analytic_jacobian(model):
            what = f"jacobian(z) for batch shape {batch}"
            out = report.attempt(what, model.jacobian, z)
            if out is not FAILED:
                _expect_tensor(report, what, out, (*batch, m, m), z)
    if report.problems:
        return
    z = rand(4, m)
    with torch.no_grad():
        report.expect(
            # NaN equals NaN here: a model that emits NaN is reported for that, not as random
            torch.allclose(model.step(z), model.step(z), rtol=0, atol=0, equal_nan=True), "step is deterministic",
            "step(z) gives different results on the same input (it must be deterministic)",
        )
        one_by_one = torch.stack([model.step(zi) for zi in z])
        report.expect(
            torch.allclose(model.step(z), one_by_one, rtol=1e-5, atol=1e-6), "batch independent",
            "step(z) on a batch differs from step on each element (batch elements interact)",
        )
    _check_gradients(model, z, report)
    if has_analytic_jacobian(model):
        _check_jacobian(model, z, report)
    _check_ensemble(model, z, rand(4, n), report)
    y = report.attempt("generate(x0, 5)", model.generate, rand(3, n), 5)
    if y is not FAILED:
        report.expect(
            tuple(y.shape) == (5, 3, n) and bool(torch.isfinite(y).all()), "generate",
            f"generate(x0 of shape (3, {n}), 5) gave shape {tuple(y.shape)} or non-finite values",
        )


def _expect_tensor(
    report: CheckReport, what: str, out: Any, shape: tuple[int, ...], like: Tensor
) -> None:
    if not report.expect(isinstance(out, Tensor), f"{what} is a tensor",
                         f"{what} returned {type(out).__name__}, not a torch.Tensor"):
        return
    checks = (
        (tuple(out.shape) == shape, "shape", f"returned shape {tuple(out.shape)}, expected {shape}"),
        (out.dtype == like.dtype, "dtype", f"returned dtype {out.dtype} for {like.dtype} input"),
        (out.device == like.device, "device",
         f"returned a tensor on {out.device} for input on {like.device}"),
        (bool(torch.isfinite(out).all()), "finite",
         "returned NaN or infinite values for moderate (standard normal) inputs"),
    )
    for ok, label, problem in checks:
        report.expect(ok, f"{what} {label}", f"{what} {problem}")


def _check_gradients(model: nn.Module, z: Tensor, report: CheckReport) -> None:
    params = [p for p in model.parameters() if p.requires_grad]

    def backprop() -> tuple[Tensor | None, ...]:
        loss = model.observe(model.step(model.encode(model.observe(z)))).square().sum()
        return torch.autograd.grad(loss, params, allow_unused=True)

    grads = report.attempt("backpropagation through encode, step, observe", backprop)
    if grads is not FAILED:
        reached = any(g is not None and bool(g.abs().sum() > 0) for g in grads)
        report.expect(reached, "gradients reach parameters",
                      "no gradient reaches any parameter through encode -> step -> observe")


def _check_jacobian(model: nn.Module, z: Tensor, report: CheckReport) -> None:
    auto = report.attempt("autograd of step (torch.func.jacrev)", autograd_jacobian, model, z)
    if auto is FAILED:
        return
    auto = auto.detach()
    with torch.no_grad():
        # detached: a Jacobian that is a view of a parameter (A.expand(...) of a linear step)
        # keeps requires_grad even under no_grad, and float() of it would warn
        mine = model.jacobian(z).detach()
    scale = float(auto.abs().max()) + 1.0
    err = float((mine - auto).abs().max())
    tol = 1e-4 if z.dtype == torch.float32 else 1e-9
    report.expect(err <= tol * scale, "analytic jacobian matches autograd",
                  f"jacobian(z) differs from the autograd Jacobian of step by up to {err:.3g}")


def _check_ensemble(model: nn.Module, z: Tensor, x: Tensor, report: CheckReport) -> None:
    """The methods under ``torch.func.vmap`` over 2 stacked copies, each with its own inputs,
    equal each copy's own call (the ensemble training path); so do the methods of the native
    view ``stacked(params)`` when the model declares one."""
    copies = [copy.deepcopy(model) for _ in range(2)]
    with torch.no_grad():
        for p in copies[1].parameters():
            p.add_(0.01 * torch.randn_like(p))
    params, buffers = torch.func.stack_module_state(copies)
    state = {**params, **buffers}
    zs, xs = torch.stack([z, z.flip(0)]), torch.stack([x, x.flip(0)])
    inputs = {"step": (zs,), "observe": (zs,), "encode": (xs,), "force": (zs, xs), "jacobian": (zs,)}
    view = None
    if supports_stacked(model):
        view = report.attempt("stacked(params) over stacked parameters", copies[0].stacked, state)
    native = view is not None and view is not FAILED
    for method, args in inputs.items():
        vmapped = method != "jacobian" or has_analytic_jacobian(model)
        if not (vmapped or native):
            continue
        with torch.no_grad():
            each = torch.stack(
                [_method(c, method)(*(a[i] for a in args)) for i, c in enumerate(copies)]
            )
        if vmapped:
            def run(s: dict[str, Tensor], *a: Tensor, _m: str = method) -> Tensor:
                return call(copies[0], s, _m, *a)

            what = f"{method} under torch.func.vmap over stacked parameters"
            _expect_members(report, what, "needed to train seeds as one ensemble",
                            torch.func.vmap(run), (state, *args), each)
        if native:
            what = f"{method} of the native ensemble view stacked(params)"
            _expect_members(report, what, "the ensemble's native training path",
                            getattr(view, method, None), args, each)


def _method(model: nn.Module, name: str) -> Callable[..., Tensor]:
    """``model.<name>``; ``jacobian`` falls back to autograd."""
    if name == "jacobian" and not has_analytic_jacobian(model):
        return lambda z: autograd_jacobian(model, z)
    return getattr(model, name)


def _expect_members(
    report: CheckReport, what: str, why: str, fn: Any, args: tuple[Any, ...], each: Tensor
) -> None:
    """``fn(*args)`` runs and equals ``each``, the members' own results stacked."""
    if not callable(fn):
        report.expect(False, what, f"{what} is missing ({why})")
        return
    batched = report.attempt(f"{what} ({why})", fn, *args)
    if batched is FAILED:
        return
    same_shape = tuple(batched.shape) == tuple(each.shape)
    ok = same_shape and torch.allclose(batched, each, rtol=1e-5, atol=1e-6)
    report.expect(ok, what, f"{what} differs from calling each model")


def _synthetic_series(obs_dim: int, length: int = 2000) -> np.ndarray:
    """Incommensurate sinusoids: a cheap, smooth, deterministic training series."""
    t = np.arange(length)[:, None] * 0.05
    freq = 1.0 + np.sqrt(2.0) * np.arange(1, obs_dim + 1)
    return np.sin(freq * t + np.arange(obs_dim))


def _check_evaluable(model: Any, obs_dim: int, report: CheckReport) -> None:
    for name, args in (("fit", ("train", "dt", "budget", "seed")), ("generate", ("x0", "n_steps"))):
        fn = getattr(model, name, None)
        wanted = f"{name}({', '.join(args)})"
        if not report.expect(callable(fn), f"has {name}", f"missing method {wanted}"):
            continue
        try:
            inspect.signature(fn).bind(*args)
        except TypeError:
            report.problems.append(f"{name} must accept ({', '.join(args)}); "
                                   f"it has {name}{inspect.signature(fn)}")
        except ValueError:  # builtins without a signature: trust them
            pass
    if report.problems:
        return
    train = _synthetic_series(obs_dim)
    twin = report.attempt("copy.deepcopy of the unfitted model", copy.deepcopy, model)
    fit_call = "fit(train of shape (2000, N), dt=0.05, budget=10, seed=0)"
    with warnings.catch_warnings():  # a fit's quality warnings on this toy series are noise here
        warnings.simplefilter("ignore")
        fitted = report.attempt(fit_call, model.fit, train, 0.05, 10, 0)
        refitted = FAILED if twin is FAILED else report.attempt(
            "a second fit with the same seed", twin.fit, train, 0.05, 10, 0
        )
    if fitted is FAILED:
        return
    y = report.attempt("generate(x0 of shape (3, N), 10)", model.generate, train[-3:], 10)
    if y is FAILED:
        return
    y = _as_numpy(y)
    report.expect(y.shape == (10, 3, obs_dim), "generate shape",
                  f"generate(x0 of shape (3, {obs_dim}), 10) returned shape {y.shape}, "
                  f"expected (10, 3, {obs_dim})")
    report.expect(bool(np.isfinite(y).all()), "generate finite",
                  "generate returned NaN or infinite values on a smooth series")
    single = report.attempt("generate(x0 of shape (N,), 10)", model.generate, train[-1], 10)
    if single is not FAILED:
        shape = _as_numpy(single).shape
        report.expect(shape == (10, obs_dim), "generate single shape",
                      f"generate(x0 of shape ({obs_dim},), 10) returned shape {shape}")
    if refitted is FAILED:
        return
    again = report.attempt("generate after a second fit", twin.generate, train[-3:], 10)
    if again is not FAILED:
        report.expect(np.array_equal(_as_numpy(again), y, equal_nan=True), "fit reproducible",
                      "fit with the same seed gives a different model (it must be deterministic)")


def _as_numpy(y: Any) -> np.ndarray:
    return y.detach().cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
