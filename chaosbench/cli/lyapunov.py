"""``chaosbench lyapunov NAME``: Lyapunov spectrum, Kaplan-Yorke dimension and tau_pred of a system.

NAME is a dataset (its card names the system, its parameters and the sampling step ``dt`` in
which ``tau_pred`` is counted) or else a registered system (``tau_pred`` in steps of its ``dt``).
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from chaosbench import data, systems
from chaosbench.errors import ChaosbenchError, UnknownNameError
from chaosbench.lyapunov import Spectrum, spectrum
from chaosbench.registry import Registry

# Initial conditions of a CLI run. lorenz63, 5000 steps after 1000, seed 0: lambda_max 0.9002 with 16
# against 0.9024 with 1024 (--precise), for 36 against 578 CPU-seconds on a loaded 2-core machine;
# tests/test_lyapunov.py holds the default to within 0.01 of the card's reference value.
DEFAULT_INIT = 16


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lyapunov", help="Lyapunov spectrum, lambda_max, Kaplan-Yorke dimension and tau_pred of a system or dataset",
        description="Lyapunov spectrum, lambda_max, Kaplan-Yorke dimension and tau_pred of a system or of a "
        "dataset's system, by the QR (Benettin) method averaged over initial conditions.",
    )
    p.add_argument("name", metavar="NAME", help="a system (see `chaosbench systems`) or a dataset name")
    p.add_argument("--steps", type=int, default=5000, help="measured steps per initial condition (default 5000)")
    p.add_argument("--transient", type=int, default=1000, help="steps discarded first (default 1000)")
    p.add_argument("--init", type=int, default=None,
                   help=f"initial conditions (default {DEFAULT_INIT}; on lorenz63 lambda_max agrees with the "
                   "1024-condition value to within 0.01)")
    p.add_argument("--precise", action="store_true",
                   help="the engine's default number of initial conditions instead (up to 1024, by size: "
                   "minutes of CPU for a small flow)")
    p.add_argument("--k", type=int, default=None, help="compute only the leading k exponents")
    p.add_argument("--renorm", type=int, default=None, help="steps between QR re-orthonormalisations (default 10)")
    p.add_argument("--substeps", type=int, default=None, help="RK4 steps per dt for flows (default: the system's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    p.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="override a system parameter (repeatable)"
    )
    p.add_argument("--json", action="store_true", help="print the result as one JSON object (nothing else on stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.precise and args.init is not None:
        raise ChaosbenchError("--precise chooses the number of initial conditions; drop --init")
    system, dt, source = _resolve(args.name, _parse_params(args.param))
    n_init = None if args.precise else (args.init if args.init is not None else DEFAULT_INIT)
    result = spectrum(
        system, n_steps=args.steps, transient=args.transient, n_init=n_init, k=args.k,
        renorm_every=args.renorm, substeps=args.substeps, seed=args.seed, device=args.device,
    )  # fmt: skip
    print(json.dumps(_summary(result, dt, source)) if args.json else _report(result, system, dt, source, args.transient))
    return 0 if result.status == "ok" else 1


def _summary(s: Spectrum, dt: float, source: str) -> dict[str, object]:
    """The result as plain JSON values (NaN, e.g. of a diverged run, as null)."""

    def num(value: float) -> float | None:
        return float(value) if math.isfinite(value) else None

    ok = s.status == "ok"
    return {
        "source": source, "status": s.status, "reason": s.reason, "time_unit": s.time_unit,
        "n_init": s.n_init, "n_steps": s.n_steps, "dt": s.dt,
        "exponents": [num(v) for v in s.exponents],
        "standard_errors": [num(v) for v in s.spread / math.sqrt(s.n_init)],
        "lambda_max": num(s.lambda_max), "kaplan_yorke": num(s.kaplan_yorke) if ok else None,
        "tau_pred_time": num(s.tau_pred.time) if ok else None,
        "tau_pred_steps": num(s.tau_pred.time / dt) if ok else None,
    }  # fmt: skip


def _resolve(name: str, params: dict[str, float]) -> tuple[systems.System, float, str]:
    """The system behind NAME, the sampling step for tau_pred in steps, and a description."""
    if name in data.names():
        card = data.read_card(name)
        system = systems.get(card.system, **{**card.params, **params})
        return system, float(card.dt), f"dataset {name} (system {card.system})"
    if name in systems.names():
        system = systems.get(name, **params)
        return system, float(system.dt), f"system {name}"
    known: Registry[str] = Registry("system or dataset")
    for known_name in sorted(set(systems.names()) | set(data.names())):
        known.register(known_name, known_name)
    raise UnknownNameError(known.unknown_message(name))


def _parse_params(items: list[str]) -> dict[str, float]:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            params[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise ChaosbenchError(f"--param expects KEY=NUMBER, got {item!r}")
    return params


def _report(s: Spectrum, system: systems.System, dt: float, source: str, transient: int) -> str:
    unit = "time unit" if s.time_unit == "time" else "step"
    lines = [
        f"{source}: {system.kind}, dim {system.dim}; {s.n_init} initial conditions x {s.n_steps} steps "
        f"of {s.dt:g} time units (after {transient} transient steps)"
    ]
    if s.status != "ok":
        lines.append(f"status: {s.status}: {s.reason}")
        return "\n".join(lines)
    sem = s.spread / math.sqrt(s.n_init)
    lines.append(f"exponents per {unit} (mean +- standard error over initial conditions):")
    lines += [f"  {i + 1:>3}  {lam:+.6f} +- {err:.6f}" for i, (lam, err) in enumerate(zip(s.exponents, sem))]
    tau = s.tau_pred
    lines += [
        f"sum          {np.sum(s.exponents):+.6f}" + ("" if len(s.exponents) == s.dim else f" (leading {len(s.exponents)})"),
        f"lambda_max   {s.lambda_max:.6f} per {unit}",
        f"Kaplan-Yorke {s.kaplan_yorke:.4f}",
        f"tau_pred     {tau.time:.4g} time units = {tau.time / dt:.4g} steps of dt = {dt:g}",
    ]
    if s.reason:
        lines.append(f"note: {s.reason}")
    return "\n".join(lines)
