"""Reference Lyapunov quantities of each dataset's system, stored in its card.

``chaosbench data build --lyapunov`` runs the engine once per (system, parameters) with the
high-precision settings below and writes the spectrum, its standard error, the Kaplan-Yorke
dimension and ``lambda_max`` into every card of that system. ``verify --lyapunov`` repeats a
cheaper run (1/8 of the initial conditions, half the steps) and requires its ``lambda_max`` to
agree within ``4`` combined standard errors plus 0.5 % (``recheck``).
"""

from __future__ import annotations

import math
from typing import Any

from chaosbench.data.card import Card

# Engine settings per system: many initial conditions batched, each run long enough to converge.
SETTINGS: dict[str, dict[str, int]] = {
    "lorenz63": dict(n_init=256, transient=2000, n_steps=20000),
    "rossler": dict(n_init=256, transient=2000, n_steps=5000),
    "lorenz96": dict(n_init=128, transient=2000, n_steps=10000),
    "chua": dict(n_init=256, transient=2000, n_steps=6000),
    "duffing": dict(n_init=256, transient=2000, n_steps=5000),
    "hindmarsh_rose": dict(n_init=256, transient=5000, n_steps=10000),
    "mackey_glass": dict(n_init=64, k=3, transient=20000, n_steps=20000),
}
DEFAULT_SETTINGS = dict(n_init=256, transient=2000, n_steps=10000)
RECHECK_SIGMAS = 4.0
RECHECK_RELATIVE = 0.005


def settings_for(card: Card) -> dict[str, int]:
    return dict(SETTINGS.get(card.system, DEFAULT_SETTINGS))


def compute(card: Card, settings: dict[str, int] | None = None, progress: bool = False) -> dict[str, Any]:
    """The card's computed ``lyapunov`` block (per unit time)."""
    from chaosbench.data.generate import system_of
    from chaosbench.lyapunov import spectrum

    settings = settings or settings_for(card)
    result = spectrum(system_of(card), seed=card.seed, progress=progress, **settings)
    sem = result.spread / math.sqrt(result.n_init)
    return {
        "lyapunov": {
            "lambda_max": _round(result.lambda_max),
            "lambda_max_sem": _round(float(sem[0])),
            "spectrum": [_round(v) for v in result.exponents],
            "spectrum_sem": [_round(v) for v in sem],
            "kaplan_yorke_dimension": _round(result.kaplan_yorke),
            "settings": settings,
            "status": result.status,
        }
    }


def recheck(card: Card) -> tuple[bool, str]:
    """Recompute ``lambda_max`` cheaply and compare it with the stored reference."""
    stored = card.computed.get("lyapunov")
    if not stored:
        return False, "no reference Lyapunov block (run `chaosbench data build --lyapunov`)"
    full = stored.get("settings") or settings_for(card)
    cheap = {**full, "n_init": max(16, full["n_init"] // 8), "n_steps": max(1000, full["n_steps"] // 2)}
    if "k" not in cheap:
        cheap["k"] = 1
    fresh = compute(card, cheap)["lyapunov"]
    ref, new = stored["lambda_max"], fresh["lambda_max"]
    tol = RECHECK_SIGMAS * math.hypot(stored.get("lambda_max_sem", 0.0), fresh["lambda_max_sem"]) + RECHECK_RELATIVE * abs(ref)
    ok = abs(new - ref) <= tol
    return ok, f"lambda_max {new:.5g} vs stored {ref:.5g} (tolerance {tol:.2g})"


def _round(value: float) -> float:
    return float(f"{value:.6g}")
