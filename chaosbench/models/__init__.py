"""The model contract and the baseline models.

- :class:`EvaluableModel`: what any submission provides, ``fit(train, dt, budget, seed)`` and
  ``generate(x0, n_steps)``.
- :class:`LatentModel`: a torch module with ``step``, ``observe``, ``encode``, ``force`` and an
  optional analytic ``jacobian``; the training regimes make it evaluable. An optional
  ``stacked(params)`` (:class:`StackedLatent`) trains an ensemble of seeds without ``vmap``.
- Baselines by name: ``names()``, ``get(name)``, ``resolve(spec)`` (also ``module:Class`` and the
  ``chaosbench.models`` entry points), ``build(name, obs_dim, **overrides)`` with the defaults of
  ``baselines/models/<name>.yaml``. Each baseline module registers its classes at its end
  (``register(name, cls)``); importing this package imports them all, so they are registered
  (docs/extending.md: how to add one).
- :func:`check` reports what a model lacks; :mod:`chaosbench.models.checkpoint` saves and loads
  latent models without pickle.
"""

from chaosbench.models.check import CheckReport, check
from chaosbench.models.contract import (
    EvaluableModel,
    LatentModel,
    StackedLatent,
    autograd_jacobian,
    call,
    has_analytic_jacobian,
    supports_stacked,
)
from chaosbench.models.plrnn import PLRNN, ClippedShPLRNN, DendPLRNN, ShPLRNN
from chaosbench.models.recurrent import GRU, LSTM, RNN
from chaosbench.models.registry import (
    baseline_defaults,
    baselines_dir,
    build,
    get,
    model_kind,
    names,
    register,
    registry,
    resolve,
)
from chaosbench.models.reservoir import ESN
from chaosbench.models.sindy import SINDy

__all__ = [
    "ESN", "GRU", "LSTM", "PLRNN", "RNN", "SINDy", "CheckReport", "ClippedShPLRNN", "DendPLRNN",
    "EvaluableModel", "LatentModel", "ShPLRNN", "StackedLatent", "autograd_jacobian",
    "baseline_defaults", "baselines_dir", "build", "call", "check", "get", "has_analytic_jacobian",
    "model_kind", "names", "register", "registry", "resolve", "supports_stacked",
]
