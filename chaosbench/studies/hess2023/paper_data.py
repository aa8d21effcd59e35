"""The recordings against the paper's files: same arrays, and which of the paper's splits are
in-sample (its test file the same array as its training file, as for the EEG).

The study's settings hold the sha256 of the reference code's data files (``paper_data``); the
recordings read here are hashed and compared with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaosbench.data.store import sha256_file
from chaosbench.harness.suites import DatasetEntry


def in_sample(files: Mapping[str, Mapping[str, str]]) -> bool:
    """The paper tests on its training file: both files have the same sha256."""
    return files["train"]["sha256"] == files["test"]["sha256"]


def check(
    name: str, files: Mapping[str, Mapping[str, str]], entry: DatasetEntry, external_dir: str | None
) -> dict[str, Any]:
    """Recording ``name`` (a suite entry read from ``external_dir``) against the paper's
    ``files``: each local file's sha256 and whether it is the paper's array of the same role.
    chaosbench's own test series is the held-out continuation (``test_file``) or the last
    ``test_fraction`` of the training file."""
    train, test = entry.paths(external_dir)
    local = {"train": sha256_file(train), "test": sha256_file(test) if test is not None else None}
    return {
        "name": name,
        "in_sample": in_sample(files),
        "paper": {role: dict(f) for role, f in files.items()},
        "local": {role: {"file": path.name, "sha256": local[role]}
                  for role, path in (("train", train), ("test", test)) if path is not None},
        "train_matches": local["train"] == files["train"]["sha256"],
        "test_matches": None if local["test"] is None else local["test"] == files["test"]["sha256"],
        "test_fraction": None if test is not None else entry.test_fraction,
    }  # fmt: skip
