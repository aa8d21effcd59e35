"""Public entry points: :func:`fit` trains a batched ensemble of seeds; :func:`as_evaluable` turns
(model factory, regime, settings) into an evaluable model the harness treats like any other."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from chaosbench.errors import ChaosbenchError
from chaosbench.training.devices import resolve_device
from chaosbench.training.ensemble import Ensemble, ModelFactory
from chaosbench.training.config import from_config, resolve
from chaosbench.training.loop import Callback, TrainSettings, run
from chaosbench.training.regimes import Regime


@dataclass
class FitResult:
    """The trained members (one module per seed, in ``seeds`` order) and how training went.

    ``diverged[i]``: seed ``i``'s loss, gradient or parameters became non-finite at update
    ``diverged_at[i]``; its member holds the last finite parameters. ``logs[i]`` has the
    columns ``update``, ``lr``, ``loss`` (mean since the previous entry; ``nan`` once diverged),
    ``grad_norm`` / ``grad_norm_max`` (before clipping), ``alpha`` (adaptive GTF) and
    ``callbacks`` (a list of ``{"update": k, "callback": name, "value": ...}``).
    ``snapshots[k]`` holds the members as they were after update ``k`` (one module per seed) for
    every update asked of :func:`fit`, and ``snapshot_time[k]`` the seconds from the start of
    training to it.
    """

    seeds: list[int]
    members: list[nn.Module]
    logs: list[dict[str, Any]]
    diverged_at: list[int | None]
    updates: int
    budget: int
    wall_time: float
    device: str
    regime: Regime
    settings: TrainSettings
    alpha: list[float] | None = None
    snapshots: dict[int, list[nn.Module]] = field(default_factory=dict)
    snapshot_time: dict[int, float] = field(default_factory=dict)

    @property
    def diverged(self) -> list[bool]:
        return [at is not None for at in self.diverged_at]

    def status(self, i: int) -> str:
        """Run-record status of seed ``i``: ``"ok"`` or ``"diverged"``."""
        return "diverged" if self.diverged[i] else "ok"

    @property
    def steps_per_second(self) -> float:
        """Training throughput in sequence steps (seeds x batch x window length per update)."""
        steps = self.updates * len(self.seeds) * self.settings.batch_size * self.settings.seq_len
        return steps / self.wall_time if self.wall_time > 0 else math.inf


def fit(
    model_factory: ModelFactory,
    train: np.ndarray,
    dt: float,
    regime: Regime | str | Mapping[str, Any],
    *,
    seeds: Sequence[int],
    budget: int,
    model: str | None = None,
    device: str = "auto",
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    on_update: Callable[[int, int], None] | None = None,
    lambda_max: float | None = None,
    snapshots: Sequence[int] = (),
    **training: Any,
) -> FitResult:
    """Train one model per seed on ``train`` (``(T, N)``, sampled every ``dt``) as one ensemble.

    ``model_factory(obs_dim)`` builds a latent model; ``regime`` is a regime, its name, or a
    mapping ``{"name": ..., **params}``. Regime parameters and training settings (``lr``,
    ``batch_size``, ``seq_len``, ``optimizer``, ``grad_clip``, ``lr_decay``, ``lr_decay_updates``,
    ``log_every``, as keywords) not given here come from the regime's YAML, with the per-model override of
    ``model`` (a model name) when it is given: :func:`chaosbench.training.config.resolve`.
    ``stf`` with ``tau = "lyapunov"`` takes ``lambda_max`` (per time unit, e.g. the dataset
    card's) or else estimates it from ``train``. ``budget`` counts gradient updates (``gtf`` with
``decay = "budget"`` resolves its decay from it). Seed ``s``'s
    member equals what ``seeds=[s]`` alone gives (see ``tests/test_training.py`` for the
    tolerance). ``snapshots``: updates (``1 <= k <= budget``) after which every member is copied
    into ``FitResult.snapshots`` without touching training (the learning rate still decays over
    ``budget``): a budget ladder's lower rungs. ``progress`` draws a bar; ``on_update(update,
    budget)`` is called at every logged update instead (a harness reporting to its driver).
    """
    config = resolve(model, regime, training=training)
    settings = config.training
    data = _checked_train(train, settings.seq_len)
    seeds = _checked_seeds(seeds)
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ChaosbenchError(f"budget must be a positive number of gradient updates, got {budget!r}")
    if any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= budget for k in snapshots):
        raise ChaosbenchError(f"snapshots must be updates from 1 to the budget {budget}, got {list(snapshots)}")
    if not (isinstance(dt, (int, float, np.floating)) and math.isfinite(dt) and dt > 0):
        raise ChaosbenchError(f"dt must be a positive number, got {dt!r}")
    dt = float(dt)
    resolved = config.regime_object()
    if resolved.needs_lambda_max and lambda_max is None:
        lambda_max = _estimate_lambda_max(data, dt)
    resolved = resolved.resolve({"lambda_max": lambda_max, "dt": dt, "budget": int(budget)})
    dev = resolve_device(device)

    start = time.perf_counter()
    ensemble = Ensemble(model_factory, data.shape[1], seeds, dev)
    tensor = torch.as_tensor(data, device=dev)
    copies = _Snapshots({int(k) for k in snapshots} - {int(budget)}, start)
    out = run(ensemble, tensor, resolved, settings, int(budget), (*callbacks, copies), progress, on_update)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    wall = time.perf_counter() - start
    members = ensemble.members()
    return FitResult(
        seeds=seeds,
        members=members,
        logs=out.logs,
        diverged_at=out.diverged_at,
        updates=out.updates,
        budget=int(budget),
        wall_time=wall,
        device=str(dev),
        regime=resolved,
        settings=settings,
        alpha=out.alpha,
        snapshots={int(k): copies.models.get(int(k), members) for k in sorted(snapshots)},
        snapshot_time={int(k): copies.times.get(int(k), wall) for k in sorted(snapshots)},
    )


class _Snapshots:
    """A loop callback that keeps every member's copy at the updates ``at`` (in seed order).

    An update the loop never reached (it stops once every seed diverged, and the last one is the
    budget itself) has no copy: the members at the end are those of that update, since diverged
    members stay frozen.
    """

    def __init__(self, at: set[int], start: float) -> None:
        self.at, self.start = frozenset(at), start
        self.models: dict[int, list[nn.Module]] = {}
        self.times: dict[int, float] = {}

    def __call__(self, update: int, model: nn.Module) -> None:
        self.times.setdefault(update, time.perf_counter() - self.start)
        self.models.setdefault(update, []).append(model)


class TrainedLatentModel:
    """A latent model factory plus a regime and training settings, as an evaluable model.

    ``fit(train, dt, budget, seed)`` trains one seed; :meth:`fit_seeds` trains several as one
    ensemble and returns one evaluable per seed. ``generate`` runs the trained model freely.
    """

    def __init__(
        self,
        model_factory: ModelFactory,
        regime: Regime | str | Mapping[str, Any],
        **settings: Any,
    ) -> None:
        self.model_factory = model_factory
        self.regime = from_config(regime)
        self.settings = {"progress": False, **settings}
        self.model: nn.Module | None = None
        self.result: FitResult | None = None

    def fit(self, train: np.ndarray, dt: float, budget: int | None, seed: int) -> FitResult:
        (trained,) = self.fit_seeds(train, dt, budget, [seed])
        self.model, self.result = trained.model, trained.result
        return trained.result  # type: ignore[return-value]

    def fit_seeds(
        self, train: np.ndarray, dt: float, budget: int | None, seeds: Sequence[int]
    ) -> list[TrainedLatentModel]:
        if budget is None:
            raise ChaosbenchError("a gradient-trained model needs a budget (gradient updates)")
        result = fit(self.model_factory, train, dt, self.regime, seeds=seeds, budget=budget,
                     **self.settings)
        out = []
        for member in result.members:
            trained = TrainedLatentModel(self.model_factory, result.regime, **self.settings)
            trained.model, trained.result = member, result
            out.append(trained)
        return out

    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        if self.model is None:
            raise ChaosbenchError("generate called before fit")
        generate = getattr(self.model, "generate", None)
        if not callable(generate):
            raise ChaosbenchError(f"{type(self.model).__name__} has no generate(x0, n_steps)")
        return generate(x0, n_steps).detach().cpu().numpy()


def as_evaluable(
    model_factory: ModelFactory, regime: Regime | str | Mapping[str, Any], **settings: Any
) -> TrainedLatentModel:
    """Wrap (factory, regime, training settings as for :func:`fit`) into an evaluable model."""
    return TrainedLatentModel(model_factory, regime, **settings)


def _checked_train(train: Any, seq_len: int) -> np.ndarray:
    data = np.asarray(train, dtype=np.float32)
    if data.ndim != 2 or data.shape[1] < 1:
        raise ChaosbenchError(f"train must be a (T, N) array, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise ChaosbenchError("train contains non-finite values (NaN or inf); clean or drop them")
    if isinstance(seq_len, int) and not isinstance(seq_len, bool) and data.shape[0] < seq_len + 1:
        raise ChaosbenchError(
            f"train has {data.shape[0]} steps, fewer than seq_len + 1 = {seq_len + 1}"
        )
    return data


def _checked_seeds(seeds: Sequence[int]) -> list[int]:
    if isinstance(seeds, (int, np.integer)):
        raise ChaosbenchError("seeds must be a list of integers, e.g. seeds=[0]")
    out = list(seeds)
    bad = [s for s in out if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0]
    if not out or bad:
        raise ChaosbenchError(f"seeds must be a non-empty list of non-negative integers, got {seeds!r}")
    if len(set(out)) != len(out):
        raise ChaosbenchError(f"seeds must be distinct, got {out}")
    return [int(s) for s in out]


def _estimate_lambda_max(data: np.ndarray, dt: float) -> float:
    """``lambda_max`` (per time unit) of a series without equations: the time-series estimator."""
    from chaosbench.lyapunov import from_timeseries

    return float(from_timeseries(data, dt))
