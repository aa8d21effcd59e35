"""The resolved settings of the mikhaeil2022 study (from ``baselines/studies/mikhaeil2022.yaml``).

The cache keys of parts 1, 1b and 3 are built from the resolved work units these settings make
(:func:`.common.cache_config`), part 2's from its dataclass (``dataclasses.asdict``) and the key
of its part 1 source, so a changed setting changes the key of exactly the configurations it
affects.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from chaosbench.errors import ChaosbenchError
from chaosbench.harness.evaluate import EvalSettings


def _positive_int(owner: str, key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ChaosbenchError(f"{owner}: {key} must be a positive integer, got {value!r}")


def _seeds(owner: str, value: Any) -> tuple[int, ...]:
    seeds = tuple(value) if isinstance(value, (list, tuple)) else ()
    ok = seeds and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    if not ok or len(set(seeds)) != len(seeds):
        raise ChaosbenchError(f"{owner}: seeds must be distinct non-negative integers, got {value!r}")
    return seeds


@dataclass(frozen=True)
class Lyapunov:
    """QR-method settings of a model's spectrum (:func:`chaosbench.lyapunov.spectrum`)."""

    n_init: int
    n_steps: int
    transient: int

    def __post_init__(self) -> None:
        for key in ("n_init", "n_steps", "transient"):
            _positive_int("lyapunov", key, getattr(self, key))


@dataclass(frozen=True)
class Lengths:
    """``n`` free-run lengths log-spaced from ``min`` to ``max`` steps."""

    min: int
    max: int
    n: int

    def __post_init__(self) -> None:
        for key in ("min", "max", "n"):
            _positive_int("gradients.lengths", key, getattr(self, key))
        if self.max < self.min:
            raise ChaosbenchError(f"gradients.lengths: max ({self.max}) is below min ({self.min})")

    def values(self) -> list[int]:
        """The distinct integer lengths, increasing, ``min`` and ``max`` included."""
        return sorted({int(round(t)) for t in np.geomspace(self.min, self.max, self.n)})


@dataclass(frozen=True)
class Forcing:
    """Part 1: reconstruction quality vs the STF interval (see :mod:`.forcing`)."""

    datasets: tuple[str, ...]
    budget: int
    n_tau: int
    max_tau_factor: float
    min_seq_len: int
    steps_per_update: int
    evaluation: EvalSettings

    def __post_init__(self) -> None:
        if not self.datasets or not all(isinstance(d, str) for d in self.datasets):
            raise ChaosbenchError(f"forcing: datasets must be a list of names, got {self.datasets!r}")
        for key in ("budget", "n_tau", "min_seq_len", "steps_per_update"):
            _positive_int("forcing", key, getattr(self, key))
        factor = self.max_tau_factor
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not (math.isfinite(factor) and factor >= 1):
            raise ChaosbenchError(f"forcing: max_tau_factor must be a number >= 1, got {factor!r}")


@dataclass(frozen=True)
class PerModel:
    """Part 1b: the STF interval per model, at fractions of tau_pred (see :mod:`.per_model`)."""

    datasets: tuple[str, ...]
    models: tuple[str, ...]  # every model on every dataset
    fractions: tuple[float, ...]
    budget: int

    def __post_init__(self) -> None:
        for key in ("datasets", "models"):
            names = getattr(self, key)
            if not names or not all(isinstance(n, str) for n in names):
                raise ChaosbenchError(f"per_model: {key} must be a list of names, got {names!r}")
        fractions = self.fractions
        if not fractions or not all(
            isinstance(f, (int, float)) and not isinstance(f, bool) and math.isfinite(f) and f > 0 for f in fractions
        ):
            raise ChaosbenchError(f"per_model: fractions must be positive numbers, got {fractions!r}")
        _positive_int("per_model", "budget", self.budget)


@dataclass(frozen=True)
class Gradients:
    """Part 2: gradient norm vs free-run length (see :mod:`.gradients`)."""

    dataset: str
    damping: float
    lengths: Lengths
    n_windows: int
    seed: int
    lyapunov: Lyapunov

    def __post_init__(self) -> None:
        _positive_int("gradients", "n_windows", self.n_windows)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ChaosbenchError(f"gradients: seed must be a non-negative integer, got {self.seed!r}")
        if isinstance(self.damping, bool) or not isinstance(self.damping, (int, float)) or not 0 < self.damping < 1:
            raise ChaosbenchError(f"gradients: damping must be a number in (0, 1), got {self.damping!r}")


@dataclass(frozen=True)
class TrainingSpectrum:
    """Part 3: the Lyapunov spectrum over training (see :mod:`.training_spectrum`)."""

    dataset: str
    budget: int
    every: int
    seeds: tuple[int, ...]
    lyapunov: Lyapunov

    def __post_init__(self) -> None:
        _positive_int("training_spectrum", "budget", self.budget)
        _positive_int("training_spectrum", "every", self.every)
        object.__setattr__(self, "seeds", _seeds("training_spectrum", self.seeds))


@dataclass(frozen=True)
class StudySettings:
    """Model, seeds and device shared by every part, and each part's own settings."""

    model: str
    seeds: tuple[int, ...]
    device: str
    forcing: Forcing
    per_model: PerModel
    gradients: Gradients
    training_spectrum: TrainingSpectrum
    lr: float | None = None  # one learning rate for every run (None: each regime's default)

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", _seeds("study", self.seeds))
        lr = self.lr
        if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0)):
            raise ChaosbenchError(f"study: lr must be a positive number, got {lr!r}")
        if self.gradients.dataset not in self.forcing.datasets:
            raise ChaosbenchError(
                f"gradients.dataset '{self.gradients.dataset}' must be one of forcing.datasets "
                f"({', '.join(self.forcing.datasets)}): its models come from part 1"
            )


def parse(doc: Mapping[str, Any]) -> StudySettings:
    """The settings mapping as :class:`StudySettings`; unknown or missing keys are one-line errors."""
    return _build(StudySettings, doc, "study")


def _build(cls: type, doc: Any, owner: str) -> Any:
    if not isinstance(doc, Mapping):
        raise ChaosbenchError(f"{owner}: expected a mapping, got {doc!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(doc) - set(fields))
    if unknown:
        raise ChaosbenchError(f"{owner}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(fields)})")
    values = {}
    for name, f in fields.items():
        if name not in doc:
            if f.default is dataclasses.MISSING:
                raise ChaosbenchError(f"{owner}: missing setting '{name}'")
            continue
        value = doc[name]
        if dataclasses.is_dataclass(hints[name]):
            value = _build(hints[name], value, f"{owner}.{name}" if owner != "study" else name)
        elif isinstance(value, list):
            value = tuple(value)
        values[name] = value
    try:
        return cls(**values)
    except TypeError as err:
        raise ChaosbenchError(f"{owner}: {err}") from None
