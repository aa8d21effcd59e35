"""Shared input handling for the metrics: conversion, validation, the true-data box.

Every metric takes ``(T, N)`` numpy arrays or torch tensors (any device) and computes in
float64 numpy. The true data must be clean (finite, no constant component); generated data may
be anything, and a *diverged* generated series (see :func:`first_divergence`) is scored by each
metric's documented worst value rather than raising.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

import numpy as np

from chaosbench.errors import ChaosbenchError

ArrayLike = Any  # np.ndarray | torch.Tensor | nested sequence

BOX_MARGIN = 0.1  # the true box extends min/max by this many standard deviations per dimension
# A generated value farther than this many box widths outside the box means the run blew up: it
# counts as diverged, like a non-finite one (its squares would overflow long before float64 does).
DIVERGENCE_WIDTHS = 1e6
_FEW_COMPONENTS = 8  # up to this N, time-axis reductions run on a component-major copy


def torch_module() -> Any:
    """``torch`` if it is already imported, else None: then no tensor or torch model can exist,
    and the metrics never import torch themselves (reading records needs no torch)."""
    return sys.modules.get("torch")


def as_float64(x: ArrayLike, name: str) -> np.ndarray:
    """``x`` as a float64 numpy array (torch tensors are detached and moved to the CPU)."""
    torch = torch_module()
    if torch is not None and isinstance(x, torch.Tensor):
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
    diverged: bool
    box: Box


def true_and_generated(x_true: ArrayLike, x_gen: ArrayLike, min_points: int = 2) -> Pair:
    """Validate a pair: 2-D, same N, enough points, clean true data; a diverged gen is allowed."""
    true = as_trajectory(x_true, "x_true", min_points)
    box = true_box(true, "x_true")
    gen, diverged = generated_against(x_gen, box, min_points)
    return Pair(true, gen, diverged, box)


def generated_against(x_gen: ArrayLike, box: Box, min_points: int = 2) -> tuple[np.ndarray, bool]:
    """Validate generated data against the true data's box: 2-D, its N, enough points; and
    whether it is diverged (allowed)."""
    gen = as_trajectory(x_gen, "x_gen", min_points)
    if gen.shape[1] != len(box.lo):
        raise ChaosbenchError(f"x_true has {len(box.lo)} dimensions but x_gen has {gen.shape[1]}")
    return gen, diverged_row(gen, box) is not None


def first_divergence(x_true: ArrayLike, x_gen: ArrayLike) -> int | None:
    """The first row of ``x_gen`` that is diverged against ``x_true``'s box, None if there is none.

    A row is diverged when it holds a non-finite value or one more than ``DIVERGENCE_WIDTHS``
    box widths outside the box; a run with such a row is scored as diverged by every metric.
    """
    pair = true_and_generated(x_true, x_gen)
    return diverged_row(pair.gen, pair.box)


def diverged_row(gen: np.ndarray, box: Box) -> int | None:
    """The first diverged row of ``gen`` (see :func:`first_divergence`), None if there is none."""
    reach = DIVERGENCE_WIDTHS * (box.hi - box.lo)
    with np.errstate(invalid="ignore"):  # NaN compares False: diverged
        inside = (gen >= box.lo - reach) & (gen <= box.hi + reach)
    rows = ~inside.all(axis=1)
    return int(np.argmax(rows)) if rows.any() else None


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
