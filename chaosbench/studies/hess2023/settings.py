"""The settings of the hess2023 study (``baselines/studies/hess2023.yaml``), checked.

A row names a recording of the suite, a model (a model entry of the suite by name, or a model
entry of its own in the suite's format), the regime of a plain baseline, and the paper's median
D_stsp and D_H (``None``: not found in the paper's text).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaosbench.errors import ChaosbenchError

METRICS = ("d_stsp", "d_h")
KEYS = ("data_dir_external", "suite", "budget", "seeds", "device", "rows", "paper_data", "records")
ROW_KEYS = ("label", "dataset", "model", "regime", "paper")


@dataclass(frozen=True)
class Row:
    """One row of the paper's table, as chaosbench trains it."""

    label: str
    dataset: str
    model: str | dict[str, Any]
    regime: str | dict[str, Any] | None
    paper: dict[str, float | None]

    @property
    def slug(self) -> str:
        """The row's folder name in the cache: dataset and label, lower case, no spaces."""
        return re.sub("[^a-z0-9]+", "-", f"{self.dataset}-{self.label}".lower()).strip("-")


@dataclass(frozen=True)
class Settings:
    """Where the recordings are, which suite supplies them, budget, seeds, device and rows."""

    data_dir_external: str | None
    suite: str
    budget: int
    seeds: tuple[int, ...]
    device: str
    rows: tuple[Row, ...]
    paper_data: dict[str, dict[str, dict[str, str]]]
    records: str | None = None  # run records to take a row's seed from when their settings are the row's


def parse(doc: Mapping[str, Any]) -> Settings:
    """``doc`` (the study's settings mapping) as :class:`Settings`; problems are one-line errors."""
    _known("hess2023", doc, KEYS, optional=("records",))
    budget, seeds = doc["budget"], doc["seeds"]
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ChaosbenchError(f"hess2023: budget must be a positive integer, got {budget!r}")
    ok = isinstance(seeds, list) and seeds and all(type(s) is int and s >= 0 for s in seeds)
    if not ok or len(set(seeds)) != len(seeds):
        raise ChaosbenchError(f"hess2023: seeds must be distinct non-negative integers, got {seeds!r}")
    if not isinstance(doc["rows"], list) or not doc["rows"]:
        raise ChaosbenchError("hess2023: rows must be a non-empty list")
    rows = tuple(_row(r) for r in doc["rows"])
    labels = [(r.dataset, r.label) for r in rows]
    if len(set(labels)) != len(labels):
        raise ChaosbenchError("hess2023: two rows share a dataset and label")
    records = doc.get("records")
    if records is not None and not isinstance(records, str):
        raise ChaosbenchError(f"hess2023: records must be a folder of run records or null, got {records!r}")
    return Settings(doc["data_dir_external"], str(doc["suite"]), budget, tuple(seeds), str(doc["device"]), rows,
                    dict(doc["paper_data"]), records)  # fmt: skip


def _known(owner: str, doc: Any, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    if not isinstance(doc, Mapping):
        raise ChaosbenchError(f"{owner}: expected a mapping, got {doc!r}")
    unknown = sorted(set(doc) - set(keys))
    missing = [k for k in keys if k not in doc and k not in optional]
    if unknown:
        raise ChaosbenchError(f"{owner}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(keys)})")
    if missing:
        raise ChaosbenchError(f"{owner}: missing setting(s) {', '.join(missing)}")


def _row(doc: Any) -> Row:
    _known("hess2023 row", doc, ROW_KEYS, optional=("regime",))
    owner = f"hess2023 row '{doc['label']}'"
    paper = doc["paper"]
    _known(f"{owner}: paper", paper, METRICS)
    for key in METRICS:
        value = paper[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise ChaosbenchError(f"{owner}: paper {key} must be a non-negative number or null, got {value!r}")
    if not isinstance(doc["model"], (str, dict)):
        raise ChaosbenchError(f"{owner}: model must be a name or a model entry, got {doc['model']!r}")
    return Row(str(doc["label"]), str(doc["dataset"]), doc["model"], doc.get("regime"),
               {k: None if paper[k] is None else float(paper[k]) for k in METRICS})  # fmt: skip
