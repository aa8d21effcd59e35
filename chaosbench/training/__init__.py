"""Training latent dynamics models: regimes (``bptt``, ``stf``, ``gtf``) and one batched loop.

``fit(factory, train, dt, regime, seeds=[...], budget=...)`` trains all seeds of one
(model, regime, dataset) as one ensemble; ``as_evaluable`` wraps the same into an evaluable
model; ``regimes`` is the registry of regimes (``make("stf", tau=10)``); ``resolve(model,
regime, ...)`` merges the model and regime YAML files with the caller's settings (the one place
settings are resolved, :mod:`chaosbench.training.config`).
"""

from chaosbench.training.config import RunConfig, from_config, make, resolve
from chaosbench.training.devices import cpu_threads, resolve_device, thread_counts
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
    lyapunov_tau,
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
    "RunConfig",
    "Stf",
    "TrainSettings",
    "TrainedLatentModel",
    "as_evaluable",
    "cpu_threads",
    "fit",
    "from_config",
    "lyapunov_tau",
    "make",
    "resolve",
    "regimes",
    "resolve_device",
    "tau_pred_steps",
    "thread_counts",
]
