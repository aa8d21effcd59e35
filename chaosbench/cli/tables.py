"""Leaderboard tables after a run or on request: validate the records first, then render them.

The harness never imports the leaderboard; the command line joins them here. A record that
``chaosbench validate`` rejects (bad file, another evaluation protocol, a dataset hash that
differs from the manifest) stops the tables, or with ``exclude_invalid`` is left out and listed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from chaosbench.errors import ChaosbenchError


def frozen_manifest(results: Path, data_dir: str | None) -> dict[str, str]:
    """The sha256 each frozen dataset with records under ``results`` must carry."""
    from chaosbench.data.store import data_dir as resolve_data_dir
    from chaosbench.data.store import read_manifest

    manifest = read_manifest(resolve_data_dir(data_dir))
    folders = [p.name for p in results.iterdir() if p.is_dir()] if results.is_dir() else []
    return {name: manifest[f"{name}.npz"] for name in folders if f"{name}.npz" in manifest}


def write_tables(
    results: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    entries: Mapping[str, Any] | None = None,
    data_dir: str | None = None,
    external_dir: str | None = None,
    exclude_invalid: bool = False,
    report: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Validate the records under ``results`` and write the leaderboard files to ``out``."""
    from chaosbench.harness.evaluate import EVAL_PROTOCOL_VERSION
    from chaosbench.harness.runner import true_series
    from chaosbench.leaderboard import write_leaderboard
    from chaosbench.records import RecordStore
    from chaosbench.records.validate import validate

    results = Path(results)
    manifest = frozen_manifest(results, data_dir)
    problems = validate(results, manifest=manifest, protocol=EVAL_PROTOCOL_VERSION)
    if problems and not exclude_invalid:
        raise ChaosbenchError(
            f"{len(problems)} invalid record(s) under {results}, first {problems[0]}; "
            f"list them with 'chaosbench validate {results}', or leave them out with --exclude-invalid"
        )
    bad = {p.path.resolve() for p in problems}
    for problem in problems:
        report(f"left out: {problem}")
    scan = RecordStore(results).scan()
    records = [r for path, r in scan.records.items() if path.resolve() not in bad]
    truth = true_series(results, data_dir, external_dir, entries)
    return write_leaderboard(records, out, truth)


def tables_current(results: Path, out: Path) -> bool:
    """Whether every table file under ``out`` is newer than every record under ``results``."""
    from chaosbench.leaderboard import OUTPUTS

    outputs = [out / name for name in OUTPUTS.values()]
    if not all(p.is_file() for p in outputs):
        return False
    newest = max((p.stat().st_mtime for p in results.rglob("*.json")), default=0.0)
    return newest <= min(p.stat().st_mtime for p in outputs)
