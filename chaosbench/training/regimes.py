"""Training regimes: where the training loop replaces the model's state by one inferred from data.

All regimes share one loop (:mod:`chaosbench.training.loop`): a window ``x_0 .. x_L`` of the
training series starts the model at ``z_0 = encode(x_0)``; each step predicts
``z_t = step(z_{t-1})``, the loss compares ``observe(z_t)`` with ``x_t`` for every ``t = 1..L``
(the prediction is taken *before* any forcing at ``t``), and the regime decides at which ``t``
the state is then forced towards the data, ``z_t <- force(z_t, x_t, alpha)``:

- ``bptt``: never (free run over the whole window; gradients of a chaotic model explode).
- ``stf`` (sparse teacher forcing, Mikhaeil et al. 2022): at ``t = tau, 2 tau, ...`` with
  ``alpha = 1``. ``tau`` is an integer or ``"lyapunov"`` (see :func:`lyapunov_tau`).
- ``gtf`` (generalised teacher forcing, Hess et al. 2023): at every ``t`` with a constant
  ``alpha`` (the paper's setting on ECG and EEG) or the adaptive rule of :class:`Gtf`, whose
  annealing is either a fixed ``decay`` per estimate or ``decay = "budget"``: the budget-aware
  rule of :func:`budget_decay`.

The final state ``z_L`` is never forced: nothing is predicted from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from chaosbench.errors import ChaosbenchError
from chaosbench.registry import Registry

TAU_RULE_VERSION = 3
"""Version of the ``tau = "lyapunov"`` rule (``tau`` = ``fraction`` x ``tau_pred`` rounded half-up,
the fraction per model from ``baselines/regimes/stf.yaml``); bumped when the rule itself or
:data:`TAU_FRACTION` changes. A per-model fraction is a setting: each record carries its fraction
and ``tau``, so changing one re-runs exactly the records of that model."""

TAU_FRACTION = 0.15
"""The default fraction of ``tau_pred`` at which STF forces (rules v2 and v3).

Rule v1 forced at ``tau_pred`` itself, as Mikhaeil et al. (2022) recommend. The reproduction
study (``chaosbench reproduce mikhaeil2022``: shPLRNN, 5 seeds, ``tau`` log-spaced from 1 to 10
``tau_pred``) found the best median D_stsp and D_H at 0.157 ``tau_pred`` on lorenz63 and 0.134 on
rossler, the same grid point on both, while ``tau_pred`` itself scored 4x (lorenz63) to 30x
(rossler) worse; 0.15 is that common optimum (the neighbouring grid points sit at 0.06 and 0.35).
Rule v2 applied it to every model. Rule v3 keeps it as the default and lets the regime YAML set a
fraction per model: the gated cells and the dendPLRNN force at 0.5 ``tau_pred``, where a sweep of
every gradient-trained baseline on lorenz63 and rossler measured their optimum (docs/protocol.md,
"Forcing interval per model").
"""


SETTLED = 0.01
"""``decay = "budget"``: adaptive alpha counts as settled once its excess over a constant target
has shrunk to this fraction of the starting excess."""


def budget_decay(budget: int, update_every: int, settle: float) -> float:
    """The per-estimate decay that settles adaptive alpha within ``settle`` of the budget.

    Alpha is re-estimated every ``update_every`` updates, so the first ``settle * budget`` updates
    hold ``n = settle * budget / update_every`` estimates; towards a constant target the excess
    ``alpha - alpha*`` shrinks by ``decay`` per estimate, and ``decay = SETTLED ** (1 / n)`` makes
    it ``SETTLED`` (1 %) of its start after ``n`` of them, at any budget. For example budget 2000,
    ``update_every`` 5, ``settle`` 0.25: 100 estimates, decay 0.955 (the reference code's fixed
    0.999 over 250 000 updates leaves 0.999^12 500 = 4e-6). Fewer than one estimate in that span:
    decay 0, alpha follows its target at once.
    """
    budget = _positive_int("gtf", "budget", budget)
    n = settle * budget / update_every
    return SETTLED ** (1.0 / n) if n >= 1 else 0.0


def tau_pred_steps(lambda_max: float, dt: float) -> float:
    """Predictability time in sampling steps, ``ln 2 / (lambda_max * dt)``.

    ``lambda_max`` is per time unit (as on a dataset card); it must be positive: a series without
    a positive exponent has no finite predictability time to force at.
    """
    if not (isinstance(dt, (int, float, np.floating)) and math.isfinite(dt) and dt > 0):
        raise ChaosbenchError(f"dt must be a positive number, got {dt!r}")
    if lambda_max is None or not math.isfinite(lambda_max) or lambda_max <= 0:
        raise ChaosbenchError(
            f"tau = 'lyapunov' needs a positive finite lambda_max, got {lambda_max!r}; "
            "give stf an integer tau in steps instead"
        )
    return math.log(2.0) / (lambda_max * dt)


def lyapunov_tau(
    card_or_lambda: Mapping[str, Any] | float, dt: float | None = None, fraction: float = TAU_FRACTION
) -> int:
    """The STF forcing interval in steps: ``max(1, round(fraction * ln 2 / (lambda_max * dt)))``.

    ``card_or_lambda`` is ``lambda_max`` (per time unit) or a dataset card holding it (and
    ``dt`` when ``dt`` is not given). Rounding is half-up. Rule version :data:`TAU_RULE_VERSION`.
    """
    if isinstance(card_or_lambda, Mapping):
        lam = card_or_lambda.get("lambda_max")
        dt = card_or_lambda.get("dt") if dt is None else dt
    else:
        lam = card_or_lambda
    if dt is None:
        raise ChaosbenchError("lyapunov_tau needs dt (argument or card key 'dt')")
    fraction = _positive_float("stf", "fraction", fraction)
    return max(1, math.floor(fraction * tau_pred_steps(lam, dt) + 0.5))


class Regime:
    """Base of the regimes; concrete ones are frozen dataclasses registered in :data:`regimes`."""

    name: ClassVar[str]

    @property
    def needs_lambda_max(self) -> bool:
        """Whether :meth:`resolve` needs the dataset's ``lambda_max``."""
        return False

    def resolve(self, info: Any = None) -> Regime:
        """The regime with data- and budget-dependent settings made concrete.

        ``info`` is a dataset (attributes ``lambda_max``, ``dt``) or a mapping with those keys
        and ``budget`` (gradient updates of the run; :func:`chaosbench.training.fit` passes it).
        """
        return self

    def forced_steps(self, seq_len: int) -> tuple[int, ...]:
        """The steps ``t`` of a window of ``seq_len`` predictions after which the state is forced."""
        raise NotImplementedError

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready description (the name and every parameter) for run records."""
        return {"name": self.name, **asdict(self)}  # type: ignore[call-overload]


@dataclass(frozen=True)
class Bptt(Regime):
    """Backpropagation through time over the whole window, forced only at the start."""

    name: ClassVar[str] = "bptt"

    def forced_steps(self, seq_len: int) -> tuple[int, ...]:
        return ()


@dataclass(frozen=True)
class Stf(Regime):
    """Sparse teacher forcing every ``tau`` steps (``alpha = 1``).

    A ``tau`` of at least the window length never forces inside a window: that is BPTT.
    """

    name: ClassVar[str] = "stf"
    tau: int | str
    fraction: float
    tau_rule_version: int | None = None  # set when ``tau`` came from the Lyapunov rule

    def __post_init__(self) -> None:
        if self.tau != "lyapunov":
            _positive_int("stf", "tau", self.tau)
        _positive_float("stf", "fraction", self.fraction)

    @property
    def needs_lambda_max(self) -> bool:
        return self.tau == "lyapunov"

    def resolve(self, info: Any = None) -> Stf:
        if not self.needs_lambda_max:
            return self
        lam, dt = _lambda_and_dt(info)
        tau = lyapunov_tau(lam, dt, self.fraction)
        return Stf(tau=tau, fraction=self.fraction, tau_rule_version=TAU_RULE_VERSION)

    def forced_steps(self, seq_len: int) -> tuple[int, ...]:
        if not isinstance(self.tau, int):
            raise ChaosbenchError("stf: tau = 'lyapunov' must be resolved against a dataset first")
        return tuple(range(self.tau, seq_len, self.tau))


@dataclass(frozen=True)
class Gtf(Regime):
    """Generalised teacher forcing ``z <- (1 - alpha) z + alpha z_data`` at every step.

    ``alpha`` is a number in ``[0, 1]`` (constant forcing, as Hess et al. 2023 train on ECG and
    EEG) or ``"adaptive"``: the rule of Hess et al. (2023, their "product upper bound" estimate).
    Every ``update_every`` gradient updates, each seed's model is linearised at the data-inferred
    states ``encode(x_t)`` of the current batch; per window, ``G`` is the geometric mean over time
    of the Jacobians' spectral norms (the per-step factor of an upper bound on the norm of their
    product), and ``G*`` is the maximum over windows. Forcing with ``alpha`` scales every
    Jacobian of the forced map by ``1 - alpha``, so ``alpha* = max(0, 1 - 1/G*)`` is the least
    forcing that keeps that bound from growing along the sequence (bounded gradients). ``alpha``
    starts at ``alpha_init``, jumps up to ``alpha*`` when ``alpha*`` is larger, else decays
    towards it: ``alpha <- decay alpha + (1 - decay) alpha*``. ``decay`` is a number in ``[0, 1]``
    or ``"budget"``: :func:`budget_decay` of the run's budget, so that alpha settles within the
    first ``settle`` fraction of any budget (:meth:`resolve` makes it a number). For models whose
    forcing touches only some latent units (PLRNNs with more latent units than observations) the
    bound is the same heuristic, as in the reference code. A constant ``alpha`` ignores
    ``alpha_init``, ``update_every``, ``decay`` and ``settle``.
    """

    name: ClassVar[str] = "gtf"
    alpha: float | str
    alpha_init: float
    update_every: int
    decay: float | str
    settle: float

    def __post_init__(self) -> None:
        if self.alpha != "adaptive":
            _unit_float("alpha", self.alpha)
        _unit_float("alpha_init", self.alpha_init)
        _positive_int("gtf", "update_every", self.update_every)
        if self.decay != "budget":
            _unit_float("decay", self.decay)
        if not _unit_float("settle", self.settle) > 0:
            raise ChaosbenchError(f"gtf: settle must be a number in (0, 1], got {self.settle!r}")

    @property
    def adaptive(self) -> bool:
        return self.alpha == "adaptive"

    def resolve(self, info: Any = None) -> Gtf:
        if self.decay != "budget":
            return self
        budget = info.get("budget") if isinstance(info, Mapping) else getattr(info, "budget", None)
        if budget is None:
            raise ChaosbenchError("gtf: decay = 'budget' needs the run's budget to resolve")
        return replace(self, decay=budget_decay(budget, self.update_every, self.settle))

    def forced_steps(self, seq_len: int) -> tuple[int, ...]:
        return tuple(range(1, seq_len))

    @staticmethod
    def alpha_target(g: Tensor) -> Tensor:
        """``alpha* = max(0, 1 - 1/G)`` from the Jacobian norm bound ``G`` (per seed)."""
        return torch.clamp(1.0 - 1.0 / g, min=0.0)

    def anneal(self, alpha: Tensor, target: Tensor) -> Tensor:
        """Jump up to ``target`` when it exceeds ``alpha``, else decay towards it."""
        if isinstance(self.decay, str):
            raise ChaosbenchError("gtf: decay = 'budget' must be resolved against a budget first")
        target = torch.nan_to_num(target, nan=1.0, posinf=1.0)
        return torch.where(target > alpha, target, self.decay * alpha + (1.0 - self.decay) * target)


regimes: Registry[type[Regime]] = Registry("regime")
regimes.register("bptt", Bptt, description="backpropagation through time, no forcing")
regimes.register("stf", Stf, description="sparse teacher forcing every tau steps")
regimes.register("gtf", Gtf, description="generalised teacher forcing with fixed or adaptive alpha")


def _lambda_and_dt(info: Any) -> tuple[float | None, float]:
    if isinstance(info, Mapping):
        lam, dt = info.get("lambda_max"), info.get("dt")
    else:
        lam, dt = getattr(info, "lambda_max", None), getattr(info, "dt", None)
    if dt is None:
        raise ChaosbenchError("resolving a regime needs the dataset's dt")
    return lam, dt


def _positive_int(owner: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ChaosbenchError(f"{owner}: {key} must be a positive integer, got {value!r}")
    return value


def _positive_float(owner: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ChaosbenchError(f"{owner}: {key} must be a positive number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ChaosbenchError(f"{owner}: {key} must be a positive number, got {value!r}")
    return float(value)


def _unit_float(key: str, value: Any) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and 0.0 <= value <= 1.0
    if not ok:
        raise ChaosbenchError(f"gtf: {key} must be a number in [0, 1], got {value!r}")
    return float(value)
