"""The ``Dataset`` a model trains and is evaluated on, and loading frozen v1 datasets by name."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chaosbench.data import card as cards
from chaosbench.data.store import checked_path, load_npz
from chaosbench.data.store import data_dir as resolve_data_dir
from chaosbench.errors import UnknownNameError
from chaosbench.registry import Registry

DATASET_VERSION = "1"


@dataclass(frozen=True)
class Dataset:
    """Train and test arrays ``(T, N)``, the sampling step and the card (a plain mapping).

    ``card`` carries, when known, ``lambda_max`` (per time unit), ``lyapunov_spectrum``,
    ``kaplan_yorke_dimension``, ``tau_pred`` (time units) and ``tau_pred_steps`` (steps of ``dt``).
    """

    name: str
    train: np.ndarray
    test: np.ndarray
    dt: float
    card: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""

    @property
    def obs_dim(self) -> int:
        return self.train.shape[1]

    @property
    def lambda_max(self) -> float | None:
        return self.card.get("lambda_max")

    @property
    def tau_pred_steps(self) -> float | None:
        return self.card.get("tau_pred_steps")

    def __repr__(self) -> str:
        lam = f", lambda_max={self.lambda_max:.4g}" if self.lambda_max else ""
        return f"Dataset({self.name!r}, train={self.train.shape}, test={self.test.shape}, dt={self.dt}{lam})"


def with_lyapunov(card: dict[str, Any], dt: float) -> dict[str, Any]:
    """Flatten a card's computed Lyapunov block into the keys documented on :class:`Dataset`."""
    block = card.pop("lyapunov", None) or {}
    lam = block.get("lambda_max", card.get("lambda_max"))
    if lam is not None:
        card["lambda_max"] = float(lam)
        card["lyapunov_spectrum"] = block.get("spectrum", card.get("lyapunov_spectrum"))
        card["kaplan_yorke_dimension"] = block.get("kaplan_yorke_dimension", card.get("kaplan_yorke_dimension"))
        card["tau_pred"] = math.log(2) / lam if lam > 0 else math.inf
        card["tau_pred_steps"] = card["tau_pred"] / dt
    return card


def _names(root: Path) -> list[str]:
    return sorted(p.stem for p in root.glob("*.yaml"))


def names(data_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Names of the datasets (cards) in the data directory (the CLI's ``--data-dir``)."""
    return _names(resolve_data_dir(data_dir))


def read_card(name: str, data_dir: str | os.PathLike[str] | None = None) -> cards.Card:
    base = resolve_data_dir(data_dir)
    path = base / f"{name}.yaml"
    if not path.is_file():
        reg: Registry[str] = Registry("dataset")
        for known in _names(base):
            reg.register(known, known)
        raise UnknownNameError(reg.unknown_message(name))
    return cards.read(path)


def load(name: str, data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Load a frozen dataset after checking its card and arrays against the MANIFEST; ``data_dir``
    (the CLI's ``--data-dir``) defaults to :func:`chaosbench.data.data_dir`'s search."""
    base = resolve_data_dir(data_dir)
    card = read_card(name, base)
    checked_path(base, f"{name}.yaml")
    npz_path, sha256 = checked_path(base, f"{name}.npz")
    arrays = load_npz(npz_path)
    return Dataset(
        name=name,
        train=arrays["train"],
        test=arrays["test"],
        dt=card.dt,
        card=with_lyapunov(card.as_dict(), card.dt),
        sha256=sha256,
    )
