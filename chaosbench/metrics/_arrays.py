"""Shared input handling for the metrics: conversion, validation, the true-data box.

Every metric takes ``(T, N)`` numpy arrays or torch tensors (any device) and computes in
float64 numpy. The true data must be clean (finite, no constant component); generated data may
be anything finite or not, and non-finite generated data is scored by each metric's documented
worst value rather than raising.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from chaosbench.errors import ChaosbenchError

ArrayLike = Any  # np.ndarray | torch.Tensor | nested sequence

BOX_MARGIN = 0.1  # the true box extends min/max by this many standard deviations per dimension
_FEW_COMPONENTS = 8  # up to this N, time-axis reductions run on a component-major copy


def as_float64(x: ArrayLike, name: str) -> np.ndarray:
    """``x`` as a float64 numpy array (torch tensors are detached and moved to the CPU)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ChaosbenchError(f"{name} is not a numeric array: {exc}") from None


def as_trajectory(x: ArrayLike, name: str, min_points: int = 2) -> np.ndarray:
    """``x`` as a float64 ``(T, N)`` array with ``T >= min_points``."""
    arr = as_float64(x, name)
    if arr.ndim != 2:
        raise ChaosbenchError(f"{name} must be a (T, N) array, got shape {tuple(arr.shape)}")
    if arr.shape[0] < min_points or arr.shape[1] < 1:
        raise ChaosbenchError(
            f"{name} needs at least {min_points} points and 1 dimension, got shape {arr.shape}"
        )
    return arr


def is_finite_trajectory(x: ArrayLike) -> bool:
    """True when every entry of ``x`` is finite (no NaN, no +-inf)."""
    if isinstance(x, torch.Tensor):
        return bool(torch.isfinite(x).all())
    return bool(np.isfinite(as_float64(x, "x")).all())


class Box(NamedTuple):
    """Per-dimension statistics of the true data and its box ``[min - 0.1 sd, max + 0.1 sd]``."""

    mean: np.ndarray
    sd: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


class Pair(NamedTuple):
    """A validated (true, generated) pair with the true data's box."""

    true: np.ndarray
    gen: np.ndarray
    gen_finite: bool
    box: Box


def true_and_generated(x_true: ArrayLike, x_gen: ArrayLike, min_points: int = 2) -> Pair:
    """Validate a pair: 2-D, same N, enough points, clean true data; non-finite gen is allowed."""
    true = as_trajectory(x_true, "x_true", min_points)
    gen = as_trajectory(x_gen, "x_gen", min_points)
    if gen.shape[1] != true.shape[1]:
        raise ChaosbenchError(
            f"x_true has {true.shape[1]} dimensions but x_gen has {gen.shape[1]}"
        )
    return Pair(true, gen, bool(np.isfinite(gen).all()), true_box(true, "x_true"))


def true_box(x: np.ndarray, name: str) -> Box:
    """The box of clean true data; raises unless ``x`` is finite with no constant component.

    Every metric uses this box to bound out-of-range generated data (see docs/metrics.md).
    """
    if not np.isfinite(x).all():
        raise ChaosbenchError(f"{name} contains NaN or inf; true data must be finite")
    cols = np.ascontiguousarray(x.T) if x.shape[1] <= _FEW_COMPONENTS else x.T
    low, high = cols.min(axis=1), cols.max(axis=1)
    constant = np.flatnonzero(low == high)
    if constant.size:
        raise ChaosbenchError(f"{name} component {int(constant[0])} is constant")
    mean, sd = cols.mean(axis=1), cols.std(axis=1)
    return Box(mean, sd, low - BOX_MARGIN * sd, high + BOX_MARGIN * sd)
