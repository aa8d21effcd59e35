"""The single training loop shared by every regime, run on a whole ensemble of seeds at once.

Per gradient update: each seed draws its own batch of windows (its own ``torch.Generator``),
the ensemble rolls out under the regime's forcing schedule (:class:`Rollout`), and each seed's
gradient is clipped by its own norm before one optimiser step on the stacked parameters. Adam
and RAdam act elementwise, so every member follows exactly the trajectory of a solo run with its
seed. A model that defines ``penalty()`` has it added to each seed's objective. A seed whose
loss, gradient norm or parameters become non-finite is marked diverged and frozen at its last
finite parameters; the other members carry on untouched.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from chaosbench.errors import ChaosbenchError
from chaosbench.models.contract import autograd_jacobian, has_analytic_jacobian
from chaosbench.training.ensemble import Ensemble
from chaosbench.training.regimes import Gtf, Regime

OPTIMIZERS = {"radam": torch.optim.RAdam, "adam": torch.optim.Adam}
_WINDOW_STREAM = 0x57494E44  # separates the window generator's stream from the init seed's
_CHUNK = 1024  # window starts are drawn this many updates at a time
JACOBIAN_POINTS = 20  # adaptive GTF: steps per window at which the Jacobian norm is taken ...
JACOBIAN_ENTRIES = 4096  # ... and at most this many Jacobian entries per window


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings (the budget, in gradient updates, is passed separately).

    Every field is required: the values of record come from the regime YAML through
    :func:`chaosbench.training.config.resolve`, the one place that merges settings.

    The learning rate decays exponentially from ``lr``, by the factor ``lr_decay`` over
    ``lr_decay_updates`` updates: ``None`` spreads the decay over the run's budget, whatever it
    is; a number fixes the decay per update, as a published schedule over a set number of updates
    does, so that a shorter run follows the start of that schedule (:func:`learning_rate`).
    ``grad_clip`` (``None``: off) caps each seed's gradient norm; ``log_every`` sets how often
    the per-seed loss and gradient norms are recorded.
    """

    batch_size: int
    seq_len: int
    lr: float
    optimizer: str
    grad_clip: float | None
    lr_decay: float
    lr_decay_updates: int | None
    log_every: int

    def __post_init__(self) -> None:
        for key in ("batch_size", "seq_len", "log_every"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ChaosbenchError(f"training: {key} must be a positive integer, got {value!r}")
        span = self.lr_decay_updates
        if span is not None and (isinstance(span, bool) or not isinstance(span, int) or span < 1):
            raise ChaosbenchError(f"training: lr_decay_updates must be a positive integer or null, got {span!r}")
        for key in ("lr", "lr_decay"):
            _check_positive(key, getattr(self, key))
        if self.grad_clip is not None:
            _check_positive("grad_clip", self.grad_clip)
        if self.optimizer not in OPTIMIZERS:
            raise ChaosbenchError(
                f"training: unknown optimizer '{self.optimizer}' (choose from {', '.join(OPTIMIZERS)})"
            )


def learning_rate(settings: TrainSettings, update: int, budget: int) -> float:
    """The rate of update ``update`` (from 1) of a ``budget``-update run: ``lr * lr_decay **
    ((update - 1) / span)``, ``span`` being ``lr_decay_updates`` or else the budget."""
    span = settings.lr_decay_updates or budget
    return settings.lr * settings.lr_decay ** ((update - 1) / span)


class Callback(Protocol):
    """Called with ``(update, model)`` at update 0 and every ``every`` updates, once per seed.

    ``model`` is an independent copy of that seed's current model (e.g.
    ``chaosbench.lyapunov.LyapunovCallback`` computes its spectrum). The return value, made
    JSON-ready (dataclasses as dicts, arrays as lists), is appended to the seed's log under
    ``"callbacks"`` as ``{"update": k, "callback": <class name>, "value": ...}``. A callback with
    an ``at`` attribute (a set of updates) is called at those updates instead; a return value of
    ``None`` is not logged.
    """

    every: int

    def __call__(self, update: int, model: nn.Module) -> Any: ...


@dataclasses.dataclass
class LoopOutput:
    """Per-seed logs, the update at which each seed diverged (``None``: never), updates done."""

    logs: list[dict[str, Any]]
    diverged_at: list[int | None]
    updates: int
    alpha: list[float] | None = None


class Rollout:
    """A model's loss on a batch of windows ``(..., B, L + 1, N)`` under a forcing schedule.

    ``model`` is one latent model (windows ``(B, L + 1, N)``, a scalar loss) or an ensemble's
    native view (windows ``(E, B, L + 1, N)``, one loss per member); ``alpha`` is a scalar or
    one per member. A view that has ``unroll(z, x[..., 1:, :], forced_steps, alpha)`` predicts
    the observations of the whole window at once; it must equal ``observe`` of :meth:`loop`.
    """

    def __init__(self, forced_steps: Sequence[int]) -> None:
        self.forced = frozenset(forced_steps)
        self.forced_steps = tuple(sorted(self.forced))

    def __call__(self, model: Any, x: Tensor, alpha: Tensor) -> Tensor:
        alpha = alpha[..., None, None]
        z = model.encode(x[..., 0, :])
        unroll = getattr(model, "unroll", None)
        if unroll is not None:
            y = unroll(z, x[..., 1:, :], self.forced_steps, alpha)
        else:
            y = model.observe(self.loop(model, z, x, alpha))
        return torch.mean((y - x[..., 1:, :]) ** 2, dim=(-3, -2, -1))

    def loop(self, model: Any, z: Tensor, x: Tensor, alpha: Tensor) -> Tensor:
        """The predicted states ``(..., B, L, M)``, one ``step`` at a time from ``z``."""
        xs = x.unbind(-2)
        predictions = []
        for t in range(1, len(xs)):
            z = model.step(z)
            predictions.append(z)
            if t in self.forced:
                z = model.force(z, xs[t], alpha)
        return torch.stack(predictions, dim=-2)


class JacobianBound:
    """GTF's ``G``: over windows, the max of the geometric mean of ``||J(encode(x_t))||_2``.

    The mean runs over at most :data:`JACOBIAN_POINTS` evenly spaced steps of each window, fewer
    for wide models (at most :data:`JACOBIAN_ENTRIES` Jacobian entries per window), which bounds
    the cost of the estimate for any latent size. ``model`` is as for :class:`Rollout`.
    """

    def __init__(self, latent_dim: int, seq_len: int) -> None:
        m = int(latent_dim)
        points = max(1, min(seq_len, JACOBIAN_POINTS, JACOBIAN_ENTRIES // (m * m)))
        self.steps = torch.linspace(1, seq_len, points).round().long().unique().tolist()

    def __call__(self, model: Any, x: Tensor) -> Tensor:
        points = x[..., self.steps, :]
        z = model.encode(points.flatten(-3, -2))
        if has_analytic_jacobian(model):
            jac = model.jacobian(z)
        else:
            jac = autograd_jacobian(model, z)
        log_norm = torch.log(torch.linalg.matrix_norm(jac, ord=2))
        log_norm = log_norm.unflatten(-1, points.shape[-3:-1])  # (..., windows, steps)
        return log_norm.mean(dim=-1).max(dim=-1).values.exp()


class WindowSampler:
    """Random training windows ``(E, B, L + 1, N)``, each seed from its own generator.

    The generator of seed ``s`` is seeded from ``(s, stream)`` so that its draws do not repeat
    the bits that initialised the model; a seed draws the same windows alone or in an ensemble.
    """

    def __init__(self, data: Tensor, seeds: Sequence[int], batch_size: int, seq_len: int) -> None:
        self.data = data
        self.batch_size = batch_size
        self.offsets = torch.arange(seq_len + 1, device=data.device)
        self.high = data.shape[0] - seq_len
        self.generators = [
            torch.Generator().manual_seed(
                int(np.random.SeedSequence([s, _WINDOW_STREAM]).generate_state(1, np.uint64)[0] >> 1)
            )
            for s in seeds
        ]
        self._starts = torch.empty(0)
        self._next = _CHUNK

    def __call__(self) -> Tensor:
        if self._next == _CHUNK:
            draws = [
                torch.randint(self.high, (_CHUNK, self.batch_size), generator=g)
                for g in self.generators
            ]
            self._starts = torch.stack(draws).to(self.data.device)
            self._next = 0
        starts = self._starts[:, self._next]
        self._next += 1
        return self.data[starts[..., None] + self.offsets]


def run(
    ensemble: Ensemble,
    data: Tensor,
    regime: Regime,
    settings: TrainSettings,
    budget: int,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    on_update: Callable[[int, int], None] | None = None,
) -> LoopOutput:
    """Train ``ensemble`` on ``data`` (``(T, N)`` on its device) for ``budget`` updates;
    ``on_update(update, budget)`` is called at every logged update (a harness's progress)."""
    size, device = ensemble.size, data.device
    params = ensemble.trainable()
    # foreach: one call per operation over all stacked tensors (torch's CPU default loops).
    optimizer = OPTIMIZERS[settings.optimizer](params, lr=settings.lr, foreach=True)
    sampler = WindowSampler(data, ensemble.seeds, settings.batch_size, settings.seq_len)
    rollout = Rollout(regime.forced_steps(settings.seq_len))
    gtf = regime if isinstance(regime, Gtf) else None
    adaptive = gtf is not None and gtf.adaptive
    bound = JacobianBound(ensemble.template.latent_dim, settings.seq_len) if adaptive else None
    start = (gtf.alpha_init if adaptive else gtf.alpha) if gtf is not None else 1.0
    alpha = torch.full((size,), float(start), device=device)
    regularised = callable(getattr(ensemble.template, "penalty", None))

    guard = _Guard(size, device)
    logs: list[dict[str, Any]] = [_empty_log(adaptive) for _ in range(size)]
    acc = _Accumulator(size, device)
    _run_callbacks(callbacks, 0, ensemble, logs)

    bar = tqdm(total=budget, disable=not progress, file=sys.stderr, unit="upd", leave=False,
               desc=f"{regime.name} x{size}")
    update = 0
    for update in range(1, budget + 1):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(settings, update, budget)
        x = sampler()
        if bound is not None and update % gtf.update_every == 0:
            with torch.no_grad():
                alpha = gtf.anneal(alpha, Gtf.alpha_target(ensemble.apply(bound, x)))
        for p in params:
            p.grad = None
        loss = ensemble.apply(rollout, x, alpha)
        objective = loss + ensemble.apply(_penalty) if regularised else loss
        objective.sum().backward()
        grad_norm = _guarded_step(optimizer, params, loss.detach(), settings.grad_clip, guard, update)
        acc.add(loss.detach(), grad_norm, guard.diverged)
        if update % settings.log_every == 0 or update == budget:
            acc.flush(update, optimizer.param_groups[0]["lr"], alpha if adaptive else None, logs)
            bar.update(update - bar.n)
            if on_update is not None:
                on_update(update, budget)
            if bool(guard.diverged.all()):
                break
        _run_callbacks(callbacks, update, ensemble, logs)
    bar.close()
    return LoopOutput(
        logs=logs,
        diverged_at=guard.result(),
        updates=update,
        alpha=alpha.tolist() if gtf is not None else None,
    )


def _penalty(model: Any) -> Tensor:
    """A model's own regulariser (``penalty()``, e.g. the shPLRNN's ``latent_reg``), added to the
    training objective; the logged loss stays the prediction error alone."""
    return model.penalty()


class _Guard:
    """Which seeds diverged (non-finite loss, gradient or parameters), and at which update."""

    def __init__(self, size: int, device: torch.device) -> None:
        self.diverged = torch.zeros(size, dtype=torch.bool, device=device)
        self.at = torch.zeros(size, dtype=torch.long, device=device)

    def mark(self, finite: Tensor, update: int) -> None:
        self.at = torch.where(~finite & ~self.diverged, update, self.at)
        self.diverged |= ~finite

    def result(self) -> list[int | None]:
        return [int(a) if d else None for a, d in zip(self.at.tolist(), self.diverged.tolist())]


@torch.no_grad()
def _guarded_step(
    optimizer: torch.optim.Optimizer,
    params: Sequence[Tensor],
    loss: Tensor,
    max_norm: float | None,
    guard: _Guard,
    update: int,
) -> Tensor:
    """Clip per seed and step; seeds that diverge keep their last finite parameters.

    Returns each seed's gradient norm before clipping.
    """
    grad_norm = _per_member_norm([p.grad for p in params])
    guard.mark(torch.isfinite(loss) & torch.isfinite(grad_norm), update)
    _clip_(params, grad_norm, max_norm, guard.diverged)
    previous = [p.clone() for p in params]
    optimizer.step()
    guard.mark(_per_member_finite(params), update)
    for p, q in zip(params, previous):
        p.copy_(torch.where(_expand(guard.diverged, p), q, p))
    return grad_norm


def _per_member_norm(grads: Sequence[Tensor]) -> Tensor:
    """Each member's gradient norm, summed tensor by tensor: a sum over a stacked axis vectorises
    across members and may round a member differently in an ensemble of another size."""
    squares = [g.pow(2).flatten(1).sum(1) for g in grads]
    total = squares[0]
    for square in squares[1:]:
        total = total + square
    return total.sqrt()


def _per_member_finite(params: Sequence[Tensor]) -> Tensor:
    return torch.stack([torch.isfinite(p).flatten(1).all(1) for p in params]).all(0)


def _expand(mask: Tensor, like: Tensor) -> Tensor:
    return mask.view(-1, *([1] * (like.dim() - 1)))


def _clip_(params: Sequence[Tensor], norm: Tensor, max_norm: float | None, frozen: Tensor) -> None:
    """Scale each member's gradient to norm ``<= max_norm`` (as ``clip_grad_norm_``); zero frozen."""
    scale = torch.ones_like(norm)
    if max_norm is not None:
        scale = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    for p in params:
        g = p.grad
        g.copy_(torch.where(_expand(frozen, g), 0.0, g * _expand(scale, g)))


class _Accumulator:
    """Per-seed running sums of loss and gradient norm between two log points (on device)."""

    def __init__(self, size: int, device: torch.device) -> None:
        self.loss = torch.zeros(size, device=device)
        self.norm = torch.zeros(size, device=device)
        self.norm_max = torch.zeros(size, device=device)
        self.count = 0

    def add(self, loss: Tensor, norm: Tensor, diverged: Tensor) -> None:
        """Diverged seeds log ``nan`` from their divergence on."""
        loss, norm = (torch.where(diverged, math.nan, v) for v in (loss, norm))
        self.loss += loss
        self.norm += norm
        self.norm_max = torch.maximum(self.norm_max, norm)
        self.count += 1

    def flush(self, update: int, lr: float, alpha: Tensor | None, logs: list[dict[str, Any]]) -> None:
        columns = {
            "loss": (self.loss / self.count).tolist(),
            "grad_norm": (self.norm / self.count).tolist(),
            "grad_norm_max": self.norm_max.tolist(),
        }
        if alpha is not None:
            columns["alpha"] = alpha.tolist()
        for i, log in enumerate(logs):
            log["update"].append(update)
            log["lr"].append(lr)
            for key, values in columns.items():
                log[key].append(values[i])
        self.loss.zero_()
        self.norm.zero_()
        self.norm_max.zero_()
        self.count = 0


def _empty_log(adaptive: bool) -> dict[str, Any]:
    keys = ["update", "lr", "loss", "grad_norm", "grad_norm_max"] + (["alpha"] if adaptive else [])
    return {**{k: [] for k in keys}, "callbacks": []}


def _run_callbacks(
    callbacks: Sequence[Callback], update: int, ensemble: Ensemble, logs: list[dict[str, Any]]
) -> None:
    due = [c for c in callbacks if (update in c.at if hasattr(c, "at") else update % c.every == 0)]
    if not due:
        return
    for i, log in enumerate(logs):
        model = ensemble.member(i)
        for callback in due:
            value = _plain(callback(update, model))
            if value is not None:
                log["callbacks"].append({"update": update, "callback": type(callback).__name__, "value": value})


def _plain(value: Any) -> Any:
    """``value`` with dataclasses as dicts and tensors and arrays as lists, for JSON records."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value


def _check_positive(key: str, value: Any) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not (ok and value > 0):
        raise ChaosbenchError(f"training: {key} must be a positive number, got {value!r}")
