"""Checkpoints of record: the trained members behind run records, and re-scoring them.

A run given a checkpoint folder (``chaosbench run --checkpoints DIR``) saves every latent member
at its unit's top rung as ``DIR/<record path without .json>.{safetensors,json}``, the layout of
the records, the JSON naming its record (key, ``config_sha256`` and why training diverged, if
it did). :func:`rescore` loads one, scores it again by the evaluation settings its record
carries and compares the metrics: on the machine that made the record they are the same numbers,
so a reader can verify a cited number in a minute without training. Evaluable models (ESN,
SINDy) have no checkpoint: they refit from their seed in seconds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosbench.errors import ChaosbenchError
from chaosbench.records import RecordKey, RunRecord, read_record

RELATIVE_TOLERANCE = 1e-9  # what "the same numbers" allows: float64 metrics, summed in the same order


def checkpoint_path(folder: str | os.PathLike[str], key: RecordKey) -> Path:
    """Where the member behind ``key``'s record goes: the record's path without ``.json``."""
    return Path(folder) / key.relpath.with_suffix("")


def save_members(folder: str | os.PathLike[str], records: Sequence[RunRecord], trained: Sequence[Any],
                 top_rung: int) -> list[Path]:  # fmt: skip
    """Save each latent member at the top rung (``trained[i].model``, scored in ``records[i]``)."""
    from chaosbench.models import checkpoint
    from chaosbench.models.contract import LatentModel

    saved = []
    for record, run in zip(records, trained, strict=True):
        if not isinstance(run.model, LatentModel) or (record.key.budget or top_rung) != top_rung:
            continue
        about = {"key": record.key.as_dict(), "config_sha256": record.config["config_sha256"],
                 "training_failure": run.failure}  # fmt: skip
        saved.append(checkpoint.save(run.model, checkpoint_path(folder, record.key), record=about))
    return saved


@dataclass
class Rescored:
    """A checkpoint scored again: its record, the new status and metrics, and their differences."""

    path: Path
    record: RunRecord
    status: str
    metrics: dict[str, float | None]

    def differences(self) -> list[tuple[str, float | None, float | None]]:
        """``(metric, recorded, now)`` for every metric or status that is not the same number."""
        out: list[tuple[str, Any, Any]] = []
        if self.status != self.record.status:
            out.append(("status", self.record.status, self.status))
        for name in sorted(set(self.record.metrics) | set(self.metrics)):
            recorded, now = self.record.metrics.get(name), self.metrics.get(name)
            if not _same(recorded, now):
                out.append((name, recorded, now))
        return out


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12)  # inf == inf included


def rescore(path: str | os.PathLike[str], results: str | os.PathLike[str], *, data_dir: str | None = None,
            external_dir: str | None = None, device: str = "cpu") -> Rescored:  # fmt: skip
    """Score the checkpoint at ``path`` again and pair it with its record under ``results``.

    The record must be the one the checkpoint names (same key and ``config_sha256``): a
    checkpoint of other settings is refused in one line rather than compared.
    """
    from chaosbench.harness.evaluate import EvalSettings, evaluate, reference
    from chaosbench.harness.suites import DatasetEntry
    from chaosbench.models import checkpoint
    from chaosbench.training import cpu_threads

    about = checkpoint.describe(path).get("record")
    if not isinstance(about, dict) or not isinstance(about.get("key"), dict):
        raise ChaosbenchError(f"{path}: not a checkpoint of record (its JSON names no record)")
    try:
        key = RecordKey(**about["key"])
    except TypeError as err:
        raise ChaosbenchError(f"{path}: malformed record key ({err})") from None
    record_path = Path(results) / key.relpath
    if not record_path.is_file():
        raise ChaosbenchError(f"{path}: its record {record_path} does not exist (give --results)")
    record = read_record(record_path)
    if record.config.get("config_sha256") != about.get("config_sha256"):
        raise ChaosbenchError(f"{path}: made with other settings than its record {record_path} (config_sha256)")
    resolved = record.config["resolved"]
    model = checkpoint.load(path, device=device)
    with cpu_threads(1):  # the harness's count: the same numbers as the record
        dataset = DatasetEntry(**resolved["dataset"]).load(data_dir, external_dir)
        if dataset.sha256 != record.dataset_sha256:
            raise ChaosbenchError(f"{path}: dataset '{dataset.name}' is not the one its record was scored on (sha256)")
        outcome = evaluate(model, dataset, EvalSettings(**resolved["evaluation"]), reference(dataset),
                           training_failure=about.get("training_failure"))  # fmt: skip
    return Rescored(Path(path), record, outcome.status, outcome.metrics)
