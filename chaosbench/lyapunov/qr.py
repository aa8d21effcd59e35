"""The one Benettin (QR) loop shared by flows, maps and latent models.

A target supplies ``step(x, q) -> (x', q')``: the state one step later and the tangent basis
multiplied by that step's Jacobian, ``q' = J_t q`` (in time order; multiplying by ``J_t^T``
instead gives wrong exponents as soon as the Jacobians vary along the orbit). Every
``renorm_every`` steps the basis is re-orthonormalised, ``q = Q R``, and ``log |diag R|`` is
accumulated in float64. Everything is batched over the leading axis (initial conditions): the
only Python loop is over time.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
from tqdm import tqdm

Step = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class QRRun:
    """Raw output of :func:`benettin`: summed ``log |R_jj|`` per initial condition and column."""

    log_growth: torch.Tensor  # (B, k) float64; NaN if the run diverged
    status: str  # "ok" or "diverged"
    reason: str  # empty when ok


def benettin(
    step: Step,
    x: torch.Tensor,
    q: torch.Tensor,
    *,
    n_steps: int,
    transient: int,
    renorm_every: int,
    progress: bool = False,
) -> QRRun:
    """Advance ``x`` (B, M) and ``q`` (B, M, k) for ``transient + n_steps`` steps.

    The transient also propagates and re-orthonormalises ``q``, so measurement starts from a
    basis already aligned with the Lyapunov vectors; only the last ``n_steps`` are summed. A
    non-finite state or basis stops the run at the next re-orthonormalisation with status
    ``"diverged"`` and NaN growth, so a blow-up never hangs or poisons the QR factorisation.
    """
    logs = torch.zeros(q.shape[0], q.shape[-1], dtype=torch.float64, device=q.device)
    with tqdm(
        total=transient + n_steps, disable=not progress, file=sys.stderr, delay=1.0, unit="step",
        desc="lyapunov",
    ) as bar:
        done = 0
        for length, measure in ((transient, False), (n_steps, True)):
            end = done + length
            while done < end:
                chunk = min(renorm_every, end - done)
                for _ in range(chunk):
                    x, q = step(x, q)
                done += chunk
                reason = _nonfinite(x, q, done)
                if reason:
                    return QRRun(torch.full_like(logs, torch.nan), "diverged", reason)
                q, r = torch.linalg.qr(q)
                if measure:
                    logs += r.diagonal(dim1=-2, dim2=-1).to(torch.float64).abs().log()
                bar.update(chunk)
    return QRRun(logs, "ok", "")


def _nonfinite(x: torch.Tensor, q: torch.Tensor, step: int) -> str:
    """Why the run cannot go on (empty if the state and basis are finite)."""
    bad_x = ~torch.isfinite(x).all(dim=-1)
    bad_q = ~torch.isfinite(q).flatten(1).all(dim=-1)
    if not bool((bad_x | bad_q).any()):
        return ""
    batch = x.shape[0]
    if bool(bad_x.any()):
        return (
            f"the state became non-finite by step {step} in {int(bad_x.sum())} of {batch} "
            "initial conditions (the trajectory blew up)"
        )
    return (
        f"the tangent basis overflowed by step {step} in {int(bad_q.sum())} of {batch} initial "
        "conditions; use a smaller renorm_every"
    )
