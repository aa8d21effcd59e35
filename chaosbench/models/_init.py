"""Parameter initialisations shared by the baselines (they draw from torch's global RNG)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def normalized_positive_definite(m: int) -> Tensor:
    """``(R^T R / m + I) / lambda_max`` with Gaussian ``R``: symmetric, spectral radius 1.

    Used for the linear part of PLRNNs (Talathi & Vartak 2016), so the untrained map is stable.
    """
    r = torch.randn(m, m)
    k = r.T @ r / m + torch.eye(m)
    return k / torch.linalg.eigvalsh(k).max()


def uniform(*shape: int, fan_in: int) -> Tensor:
    """Uniform in ``+-1/sqrt(fan_in)``, the default of torch's linear and recurrent layers."""
    bound = 1.0 / math.sqrt(fan_in)
    return torch.empty(*shape).uniform_(-bound, bound)
