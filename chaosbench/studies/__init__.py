"""Reproduction studies: published findings re-run with chaosbench, written up as a report.

A study is registered by name in :data:`studies`; its settings live in
``baselines/studies/<name>.yaml`` (with named presets, see :mod:`chaosbench.studies.config`) and
``reproduce(name, ...)`` runs it into a folder of cached per-configuration results, figures and
``REPORT.md``. Reruns with the same settings recompute nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosbench.registry import Registry
from chaosbench.studies import config


@dataclass(frozen=True)
class Study:
    """A named study: ``run(settings, out, progress)`` writes its report and returns its path."""

    name: str
    description: str
    run: Callable[[Mapping[str, Any], Path, bool], Path]


def _run_mikhaeil2022(settings: Mapping[str, Any], out: Path, progress: bool) -> Path:
    from chaosbench.studies import mikhaeil2022

    return mikhaeil2022.run(settings, out, progress)


def _run_hess2023(settings: Mapping[str, Any], out: Path, progress: bool) -> Path:
    from chaosbench.studies import hess2023

    return hess2023.run(settings, out, progress)


studies: Registry[Study] = Registry("study")
studies.register(
    "mikhaeil2022",
    Study(
        "mikhaeil2022",
        "Mikhaeil et al. 2022 (STF interval vs tau_pred, gradient divergence) and Vogt et al. "
        "(Lyapunov spectrum over training)",
        _run_mikhaeil2022,
    ),
)
studies.register(
    "hess2023",
    Study(
        "hess2023",
        "Hess et al. 2023 (generalized teacher forcing), Table 1 on the ECG and EEG recordings: "
        "shPLRNN + GTF and + STF, dendPLRNN, reservoir computer, LSTM",
        _run_hess2023,
    ),
)


def default_out(name: str) -> Path:
    """Where a study's report goes unless told otherwise: ``leaderboard/studies/<name>``."""
    return Path("leaderboard") / "studies" / name


def reproduce(
    name: str,
    out: str | os.PathLike[str] | None = None,
    *,
    preset: str | None = None,
    budget: int | None = None,
    seeds: int | Sequence[int] | None = None,
    device: str | None = None,
    data_dir_external: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Path:
    """Run study ``name`` (resuming from its cache in ``out``) and return the report's path;
    ``data_dir_external``: the folder of the recordings a study reads (see its settings)."""
    study = studies.get(name)
    external = None if data_dir_external is None else str(data_dir_external)
    settings = config.load(name, preset, budget=budget, seeds=seeds, device=device, data_dir_external=external)
    return study.run(settings, Path(out) if out is not None else default_out(name), progress)


__all__ = ["Study", "default_out", "reproduce", "studies"]
