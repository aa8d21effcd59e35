"""What the protocol asks of latent models, computed for several members at once.

The free runs, the PE(n) forecasts and the Jacobian Lyapunov spectra of the members of a unit
(its seeds, and their rungs under a budget ladder) run as one batch through their native
ensemble view
(:func:`chaosbench.training.ensemble.native_view`): each step is one set of batched products
for all members and runs instead of one per member, which is what the evaluation of these small
models costs. A single member takes the same path as an ensemble of one, and the view computes
each member the same way in an ensemble of any size (``tests/test_evaluate_members.py``), so a
member's record does not depend on the members it was scored with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from chaosbench.metrics import is_latent_model
from chaosbench.metrics.prediction import PE_CHUNK
from chaosbench.models.contract import StackedLatent
from chaosbench.training.ensemble import native_view


class Members:
    """``size`` latent models of one architecture, stacked (see the module docstring)."""

    def __init__(self, view: StackedLatent, size: int, dtype: torch.dtype, device: torch.device) -> None:
        self.view, self.size, self.dtype, self.device = view, size, dtype, device

    @classmethod
    def of(cls, models: Sequence[Any]) -> Members | None:
        """The stacked ``models``, or None unless they are latent models that share a native view."""
        if not models or not all(is_latent_model(m) for m in models):
            return None
        with torch.no_grad():
            view = native_view(models)
        if view is None:
            return None
        param = next(models[0].parameters())
        return cls(view, len(models), param.dtype, param.device)

    @torch.no_grad()
    def free_runs(self, x0: np.ndarray, n_steps: int) -> np.ndarray:
        """Every member's free runs from the states ``x0`` ``(B, N)``: ``(E, n_steps, B, N)``
        float64, as :meth:`chaosbench.models.contract.LatentModel.generate` defines them."""
        x = self._starts(x0)
        z = self.view.encode(x)
        out = x.new_empty((self.size, n_steps, *x.shape[1:]))  # member-major: each member's runs contiguous
        for t in range(n_steps):
            out[:, t] = self.view.observe(z)
            z = self.view.step(z)
        return _float64(out)

    @torch.no_grad()
    def forecasts(self, x: np.ndarray, n: int) -> np.ndarray:
        """Every member's ``n``-step forecasts ``observe(step^n(encode(x_s)))`` from each row of
        ``x`` but the last ``n`` (the starts of PE(n)), ``PE_CHUNK`` starts at a time:
        ``(E, T - n, N)`` float64."""
        starts = x[: len(x) - n]
        chunks = []
        for i in range(0, len(starts), PE_CHUNK):
            z = self.view.encode(self._starts(starts[i : i + PE_CHUNK]))
            for _ in range(n):
                z = self.view.step(z)
            chunks.append(_float64(self.view.observe(z)))
        return np.concatenate(chunks, axis=1)

    @torch.no_grad()
    def spectra(self, x: np.ndarray, k: int, n_steps: int, transient: int) -> list[np.ndarray]:
        """Every member's leading ``k`` (at most its latent dimension) Lyapunov exponents per
        step, decreasing, from the states encoded from ``x`` ``(B, N)``: the QR method of
        :func:`chaosbench.lyapunov.spectrum` over all members' states at once, the mean over
        each member's own. All NaN when the run diverged: some member's orbit or tangent basis
        became non-finite, which stops the whole run (a member then needs a run of its own)."""
        from chaosbench.lyapunov import spectrum

        z0 = self.view.encode(self._starts(x))
        k = min(k, z0.shape[-1])
        result = spectrum(_Flat(self.view, self.size, z0.shape[-1], self.dtype), x0=z0.flatten(0, 1), k=k,
                          n_steps=n_steps, transient=transient, progress=False, device=self.device)  # fmt: skip
        if result.status != "ok":
            return [np.full(k, np.nan) for _ in range(self.size)]
        per_member = result.per_init.reshape(self.size, len(x), k).mean(axis=1)
        return [-np.sort(-exponents) for exponents in per_member]

    def _starts(self, x0: np.ndarray) -> torch.Tensor:
        """The states ``(B, N)`` as every member's batch ``(E, B, N)``, in the members' dtype."""
        x = torch.as_tensor(x0, dtype=self.dtype, device=self.device)
        return x.expand(self.size, *x.shape).contiguous()


def _float64(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().to(torch.float64).numpy()


class _Flat:
    """The members' view as one latent model of states ``(E * B, M)`` (member-major), the
    shape the QR loop of :mod:`chaosbench.lyapunov` batches over."""

    def __init__(self, view: StackedLatent, size: int, latent_dim: int, dtype: torch.dtype) -> None:
        self.view, self.size, self.latent_dim, self.dtype = view, size, latent_dim, dtype

    def step(self, z: torch.Tensor) -> torch.Tensor:
        return self.view.step(z.reshape(self.size, -1, self.latent_dim)).reshape(z.shape)

    def jacobian(self, z: torch.Tensor) -> torch.Tensor:
        return self.view.jacobian(z.reshape(self.size, -1, self.latent_dim)).reshape(*z.shape, self.latent_dim)
