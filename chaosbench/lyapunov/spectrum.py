"""``spectrum(target, ...)``: the Lyapunov spectrum of a system or latent model, and its result type."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from chaosbench.errors import ChaosbenchError, first_line
from chaosbench.lyapunov.qr import Step, benettin, precision_floor
from chaosbench.lyapunov.quantities import Predictability, kaplan_yorke_dimension, predictability_time
from chaosbench.lyapunov.targets import JacobianMode, Target, resolve

# States at least this wide get the initial conditions split over CPU threads (measured below).
_MIN_PARALLEL_DIM = 32


@dataclass(frozen=True)
class Spectrum:
    """A Lyapunov spectrum estimated from ``n_init`` initial conditions.

    ``exponents`` (descending) and ``spread`` are the mean and standard deviation over initial
    conditions of ``per_init`` (n_init, k); units are per unit time for systems (``time_unit``
    "time"; a map step represents ``dt`` time) and per step for models ("step"). ``status`` is
    "ok" or "diverged" (then the exponents are NaN and ``reason`` says why); ``reason`` also
    reports trailing exponents that lie below the floating-point floor (``n_resolved`` counts
    the leading exponents that do not).
    """

    name: str
    exponents: np.ndarray
    spread: np.ndarray
    per_init: np.ndarray
    dim: int
    dt: float
    time_unit: str
    n_steps: int
    renorm_every: int
    n_resolved: int
    status: str = "ok"
    reason: str = ""

    @property
    def lambda_max(self) -> float:
        return float(self.exponents[0])

    @property
    def kaplan_yorke(self) -> float:
        """Kaplan-Yorke dimension (NaN when only leading exponents were computed and do not decide it)."""
        return kaplan_yorke_dimension(self.exponents, self.dim)

    @property
    def tau_pred(self) -> Predictability:
        """``ln 2 / lambda_max`` in this spectrum's time unit and in steps."""
        return predictability_time(self.lambda_max, self.dt)

    @property
    def n_init(self) -> int:
        return int(self.per_init.shape[0])


def spectrum(
    target: Any,
    *,
    n_steps: int,
    transient: int,
    n_init: int | None = None,
    k: int | None = None,
    renorm_every: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    x0: Any = None,
    substeps: int | None = None,
    jacobian: JacobianMode = "auto",
    progress: bool | None = None,
) -> Spectrum:
    """The leading ``k`` (default: all) Lyapunov exponents of ``target`` by the QR method.

    ``target`` is a system name, a :class:`~chaosbench.systems.System`, or a latent model (an
    object with ``step(z)``: (..., M) -> (..., M), optionally ``jacobian(z)``: (..., M, M) and
    ``latent_dim``). Each of ``n_init`` initial conditions runs ``transient`` steps (state and
    tangent basis, discarded) and then ``n_steps`` measured steps, all batched on ``device``
    (a model stays on its own device).

    - Initial conditions: ``x0`` (n_init, M) if given; else, for a system, its attractor point
      plus Gaussian noise of 1 % of its RMS size on its free components (a forcing phase stays
      on its circle), and for a model standard normal states. The transient must decorrelate
      them. The default ``n_init`` keeps ``n_init * M * k`` near 65 536 (16 to 1024): small
      systems get many initial conditions almost for free.
    - Flows take steps of the system's ``dt`` with its ``substeps`` RK4 steps each
      (``substeps`` overrides them), in float64; models run in their own dtype.
    - The tangent basis is float64 on a CPU (the model's dtype elsewhere, and in forward-mode
      ``torch.func`` Jacobians, which push it through the model).
    - ``renorm_every`` defaults to 10 steps for systems and 1 for models: in float32 a basis
      column can shrink by at most ~1e4 relative to the first between re-orthonormalisations
      before its exponent is lost, in float64 by ~1e13 (``Spectrum.n_resolved`` and ``reason``
      report it).
    - ``jacobian`` (models): "analytic" (its ``jacobian``), "autograd" (``torch.func``), or
      "auto" (the former when it exists). They differ by rounding only: 1e-9 in float64; in
      float32 2e-4 relative for the mean spectrum, and per initial condition 1e-3 relative plus
      1e-3 (nearly equal exponents trade finite-time growth).

    - ``progress``: a step counter on stderr for runs that last more than a few seconds; by
      default (``None``) only when stderr is a terminal, so scripts, tests and benchmarks stay
      silent; ``False`` never (the harness, which shows its own progress).

    Lorenz-63 to 1 % in about 2 s on two CPU cores: ``n_init=1024, transient=1000,
    n_steps=3000, substeps=1`` (one RK4 step per ``dt = 0.01`` changes lambda_max by 6e-5).
    """
    _require_int("n_steps", n_steps, 1)
    _require_int("transient", transient, 0)
    _require_int("seed", seed, 0)
    tgt = resolve(target, substeps=substeps, jacobian=jacobian, device=device)
    renorm = tgt.renorm_every if renorm_every is None else renorm_every
    _require_int("renorm_every", renorm, 1)
    gen = torch.Generator().manual_seed(seed)
    x = _initial_states(tgt, x0, n_init, k, gen)
    batch, dim = x.shape
    k = dim if k is None else k
    _require_int("k", k, 1)
    if k > dim:
        raise ChaosbenchError(f"k = {k} exceeds the state dimension {dim}")
    # One random orthonormal basis for all initial conditions; its first k columns do not depend
    # on k, so the leading k exponents match the first k of the full spectrum.
    basis = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))[0][:, :k]
    q = basis.expand(batch, dim, k).to(device=tgt.device, dtype=_tangent_dtype(tgt))
    x = x.to(device=tgt.device, dtype=tgt.dtype)
    with torch.no_grad():
        method, step = _working_step(tgt, x, q)
        run = benettin(
            step, x, q, n_steps=n_steps, transient=transient, renorm_every=renorm, progress=progress,
            workers=_workers(tgt, method, x.shape),
        )  # fmt: skip
    per_init = run.log_growth.cpu().numpy() / (n_steps * tgt.dt)
    with np.errstate(invalid="ignore"):  # -inf exponents (singular Jacobians) are legitimate
        mean = per_init.mean(axis=0)
        spread = per_init.std(axis=0, ddof=1) if batch > 1 else np.zeros(k)
    order = np.argsort(-mean, kind="stable")
    exponents, spread, per_init = mean[order], spread[order], per_init[:, order]
    # forward mode pushes the basis through the model in its own dtype: that is its precision
    precision = tgt.dtype if method == "jvp" else q.dtype
    n_resolved, reason = _resolved(exponents * tgt.dt, renorm, precision) if run.status == "ok" else (0, run.reason)
    return Spectrum(
        name=tgt.name, exponents=exponents, spread=spread, per_init=per_init, dim=dim, dt=tgt.dt,
        time_unit=tgt.time_unit, n_steps=n_steps, renorm_every=renorm, n_resolved=n_resolved,
        status=run.status, reason=reason,
    )


def max_exponent(target: Any, **kwargs: Any) -> float:
    """The leading Lyapunov exponent alone (``spectrum(target, k=1, ...)``: one tangent vector)."""
    return spectrum(target, k=1, **kwargs).lambda_max


def _require_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ChaosbenchError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _initial_states(
    tgt: Target, x0: Any, n_init: int | None, k: int | None, gen: torch.Generator
) -> torch.Tensor:
    """(B, M) float64 initial states on the CPU, given or drawn."""
    if x0 is None:
        if tgt.dim is None:
            raise ChaosbenchError(f"{tgt.name} has no latent_dim attribute: pass initial states x0 of shape (n_init, M)")
        if n_init is None:
            n_init = min(1024, max(16, 2**16 // (tgt.dim * (k or tgt.dim))))
        _require_int("n_init", n_init, 1)
        return tgt.initial(n_init, tgt.dim, gen)
    x = torch.as_tensor(np.asarray(x0.detach().cpu() if isinstance(x0, torch.Tensor) else x0, dtype=np.float64))
    if x.ndim == 1:
        x = x.unsqueeze(0)
    if x.ndim != 2 or x.shape[0] == 0 or (tgt.dim is not None and x.shape[1] != tgt.dim):
        want = f"(n_init, {tgt.dim})" if tgt.dim is not None else "(n_init, M)"
        raise ChaosbenchError(f"x0 for {tgt.name} must have shape {want}, got {tuple(x.shape)}")
    if n_init is not None and n_init != x.shape[0]:
        raise ChaosbenchError(f"n_init = {n_init} but x0 holds {x.shape[0]} initial conditions")
    if not torch.isfinite(x).all():
        raise ChaosbenchError("x0 contains non-finite values")
    return x


def _tangent_dtype(tgt: Target) -> torch.dtype:
    """float64 on a CPU for every target: the Jacobian of a float32 model is exact in float64, so
    its tangent basis keeps 16 digits between re-orthonormalisations instead of 7 (three times
    longer intervals, hence fewer QR factorisations), and CPU LAPACK factorises float64 faster
    than float32. On other devices the model's own dtype."""
    return torch.float64 if tgt.device.type == "cpu" else tgt.dtype


def _working_step(tgt: Target, x: torch.Tensor, q: torch.Tensor) -> tuple[str, Step]:
    """The first tangent method of ``tgt`` that runs on ``(x, q)`` (name, step), shapes checked once."""
    errors = []
    for method, step in tgt.candidates:
        try:
            x1, q1 = step(x, q)
        except NotImplementedError as err:
            errors.append(f"{method}: {err}")
            continue
        except (RuntimeError, TypeError, ValueError, IndexError) as err:
            if method == "jvp":  # an operation without a forward-mode derivative: try reverse mode
                errors.append(f"{method}: {err}")
                continue
            raise ChaosbenchError(f"{tgt.name}: step or Jacobian failed on states of shape {tuple(x.shape)}: {first_line(err)}") from None
        if tuple(x1.shape) != tuple(x.shape) or tuple(q1.shape) != tuple(q.shape):
            raise ChaosbenchError(
                f"{tgt.name}: a step must map states (B, M) = {tuple(x.shape)} to the same shape and the "
                f"Jacobian must be (B, M, M); got a state of shape {tuple(x1.shape)} and a tangent "
                f"basis of shape {tuple(q1.shape)}"
            )
        return method, step
    raise ChaosbenchError(f"{tgt.name}: no way to compute its Jacobian ({'; '.join(map(first_line, errors))})")


def _workers(tgt: Target, method: str, shape: torch.Size) -> int:
    """CPU threads to split the initial conditions over (see :func:`benettin`).

    Worth it only when each step is dominated by per-matrix work on wide states; for small
    systems the cost is in dispatching many tiny operations, which threads cannot share. Not
    for ``torch.func`` Jacobians: forward-mode AD levels are process-wide, not per thread.
    """
    threads = torch.get_num_threads()
    batch, dim = shape
    wide = dim >= _MIN_PARALLEL_DIM and batch >= 2 * threads
    return threads if tgt.device.type == "cpu" and method == "analytic" and wide else 1


def _resolved(per_step: np.ndarray, renorm_every: int, dtype: torch.dtype) -> tuple[int, str]:
    """How many leading exponents the floating-point format resolves, and a note if not all."""
    floor = math.log(precision_floor(dtype))
    ok = (per_step - per_step[0]) * renorm_every >= floor
    n = int(ok.argmin()) if not ok.all() else len(ok)
    if n == len(ok):
        return n, ""
    hint = "a smaller renorm_every" + (" or a float64 model" if dtype != torch.float64 else "")
    return n, (
        f"exponents {n + 1}..{len(ok)} fall below the {str(dtype).removeprefix('torch.')} precision floor "
        f"with renorm_every={renorm_every} and are unreliable; use {hint}"
    )
