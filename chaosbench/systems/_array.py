"""Backend-neutral helpers so one equation serves numpy arrays (data) and torch tensors (engine)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

Array = Any  # np.ndarray | torch.Tensor


def is_torch(x: Array) -> bool:
    return isinstance(x, torch.Tensor)


def backend(x: Array):
    """The module (``numpy`` or ``torch``) whose elementwise functions apply to ``x``."""
    return torch if is_torch(x) else np


def stack(parts: list[Array]) -> Array:
    """Stack equal-shaped arrays along a new last axis (for numpy by filling one array: it is
    called once per right-hand side, where ``np.stack``'s overhead was half the cost)."""
    if is_torch(parts[0]):
        return torch.stack(parts, dim=-1)
    out = np.empty((*np.shape(parts[0]), len(parts)), dtype=np.result_type(*parts))
    for i, part in enumerate(parts):
        out[..., i] = part
    return out


def jacobian_zeros(x: Array, n: int) -> Array:
    """A zero ``(..., n, n)`` array matching ``x``'s batch shape, dtype and device."""
    shape = tuple(x.shape[:-1]) + (n, n)
    if is_torch(x):
        return torch.zeros(shape, dtype=x.dtype, device=x.device)
    return np.zeros(shape, dtype=np.result_type(x.dtype, np.float64))


def trace(m: Array) -> Array:
    """Trace over the last two axes."""
    return m.diagonal(dim1=-2, dim2=-1).sum(-1) if is_torch(m) else np.trace(m, axis1=-2, axis2=-1)


def concat(parts: list[Array]) -> Array:
    """Concatenate along the last axis."""
    return torch.cat(parts, dim=-1) if is_torch(parts[0]) else np.concatenate(parts, axis=-1)
