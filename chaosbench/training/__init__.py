"""Training latent dynamics models: regimes (``bptt``, ``stf``, ``gtf``) and one batched loop.

``fit(factory, train, dt, regime, seeds=[...], budget=...)`` trains all seeds of one
(model, regime, dataset) as one ensemble; ``as_evaluable`` wraps the same into an evaluable
model; ``regimes`` is the registry of regimes (``make("stf", tau=10)``) and
``regime_defaults(regime, model)`` their default settings from ``baselines/regimes/``.
"""

from chaosbench.training.defaults import regime_defaults
from chaosbench.training.devices import cpu_threads, resolve_device
from chaosbench.training.ensemble import Ensemble
from chaosbench.training.fit import FitResult, TrainedLatentModel, as_evaluable, fit
from chaosbench.training.loop import Callback, TrainSettings
from chaosbench.training.regimes import (
    TAU_FRACTION,
    TAU_RULE_VERSION,
    Bptt,
    Gtf,
    Regime,
    Stf,
    from_config,
    lyapunov_tau,
    make,
    regimes,
    tau_pred_steps,
)

__all__ = [
    "TAU_FRACTION",
    "TAU_RULE_VERSION",
    "Bptt",
    "Callback",
    "Ensemble",
    "FitResult",
    "Gtf",
    "Regime",
    "Stf",
    "TrainSettings",
    "TrainedLatentModel",
    "as_evaluable",
    "cpu_threads",
    "fit",
    "from_config",
    "lyapunov_tau",
    "make",
    "regime_defaults",
    "regimes",
    "resolve_device",
    "tau_pred_steps",
]
