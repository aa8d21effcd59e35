"""Which trained members become checkpoints of record, and copying them there.

Per dataset, the ``best`` latent entries (dataset, model, regime) at the top rung by the table's
rank, and every latent entry of an empirical recording; every seed of such an entry. The files
come from the checkpoint folder of the run that made the records (``chaosbench run
--checkpoints DIR``), laid out as the records.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from chaosbench.leaderboard.aggregate import runs_frame, summarize, top_rungs
from chaosbench.models.checkpoint import checkpoint_paths
from chaosbench.records import RecordKey, RunRecord

BEST_PER_DATASET = 3


def chosen_keys(records: Iterable[RunRecord], best: int = BEST_PER_DATASET) -> list[RecordKey]:
    """The record keys whose members are kept (see the module docstring), sorted."""
    top = top_rungs(records)
    if not top:
        return []
    table = summarize(runs_frame(top))
    latent = table[~table["evaluable"].astype(bool) & table["rank"].notna()]
    empirical = {r.key.dataset for r in top if "file" in r.config.get("dataset", {})}
    kept: set[tuple[str, str, str]] = set()
    for dataset, rows in latent.groupby("dataset"):
        rows = rows if dataset in empirical else rows.sort_values("rank", kind="stable").head(best)
        kept.update(zip(rows["dataset"], rows["model"], rows["regime"]))
    return sorted(r.key for r in top if (r.key.dataset, r.key.model, r.key.regime) in kept)


@dataclass
class Copied:
    """What :func:`copy_checkpoints` did: files written, their total size, keys without a checkpoint."""

    files: list[Path] = field(default_factory=list)
    n_bytes: int = 0
    missing: list[RecordKey] = field(default_factory=list)


def copy_checkpoints(keys: Iterable[RecordKey], source: str | os.PathLike[str],
                     dest: str | os.PathLike[str]) -> Copied:  # fmt: skip
    """Copy the checkpoint of each key from ``source`` to ``dest`` (both laid out as the records)."""
    copied = Copied()
    for key in keys:
        pair = checkpoint_paths(Path(source) / key.relpath.with_suffix(""))
        if not all(p.is_file() for p in pair):
            copied.missing.append(key)
            continue
        for path in pair:
            target = Path(dest) / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            copied.files.append(target)
            copied.n_bytes += target.stat().st_size
    return copied
