"""Checks of a record directory (or a single record file) before it backs a leaderboard.

Every check takes plain data, so this module needs neither the datasets nor the suites:
``expected`` is the set of keys a suite should have produced and ``manifest`` maps a dataset
name to the sha256 of its frozen arrays. Each problem names the file (or the missing file's
place) it is about.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path

from chaosbench.errors import ChaosbenchError
from chaosbench.harness.evaluate import EVAL_PROTOCOL_VERSION
from chaosbench.harness.records import (
    KNOWN_METRIC_SPECS,
    Problem,
    RecordKey,
    RecordStore,
    RunRecord,
    read_record,
)


def stale_reason(record: RunRecord, budget: int | None = None) -> str | None:
    """Why ``record`` no longer counts (another evaluation protocol, or budget when given), else None.

    The metric spec is checked apart, against the known specs.
    """
    protocol = record.config.get("eval_protocol")
    if protocol != EVAL_PROTOCOL_VERSION:
        return f"made under evaluation protocol {protocol!r}, the current one is {EVAL_PROTOCOL_VERSION!r}"
    if budget is not None and record.budget["updates"] != budget:  # the schema guarantees the key
        return f"made with a budget of {record.budget['updates']} updates, the suite's is {budget}"
    return None


def _content_problems(
    path: Path, record: RunRecord, manifest: Mapping[str, str] | None, metric_specs: Collection[str]
) -> Iterator[Problem]:
    spec = record.versions["metric_spec"]
    if spec not in metric_specs:
        yield Problem(path, f"unknown metric spec version {spec!r} (known: {sorted(metric_specs)})")
    stale = stale_reason(record)
    if stale is not None:
        yield Problem(path, f"stale: {stale}")
    dataset = record.key.dataset
    if manifest is None:
        return
    if dataset not in manifest:
        yield Problem(path, f"dataset {dataset!r} is not in the manifest")
    elif manifest[dataset] != record.dataset_sha256:
        yield Problem(
            path,
            f"dataset sha256 {record.dataset_sha256[:12]}... differs from the manifest's "
            f"{manifest[dataset][:12]}... for {dataset!r}",
        )


def validate(
    path: str | os.PathLike[str],
    expected: Iterable[RecordKey] | None = None,
    manifest: Mapping[str, str] | None = None,
    metric_specs: Collection[str] = KNOWN_METRIC_SPECS,
    datasets: Collection[str] | None = None,
) -> list[Problem]:
    """All problems of the records at ``path`` (a store directory or one ``.json`` file).

    Checked: strict JSON and schema, record hash, known metric spec, the current evaluation
    protocol, dataset sha256 against
    ``manifest`` (if given); for a directory also that each file sits where its key belongs (a
    copy of a record under another name is a duplicate), stray files, and that every key of
    ``expected`` (if given) has an intact record. An empty list means valid. ``datasets`` (if
    given) limits the version and hash checks to records of those datasets, for a directory that
    holds several suites (the standard and the empirical track); every record's schema and hash
    are checked regardless.
    """
    path = Path(path)
    if path.is_dir():
        store = RecordStore(path)
        scan = store.scan()
        found, problems = scan.records, list(scan.problems)
    elif path.is_file():
        if expected is not None:
            raise ChaosbenchError("completeness can only be checked on a record directory")
        try:
            found, problems = {path: read_record(path)}, []
        except ChaosbenchError as err:
            return [Problem(path, str(err).removeprefix(f"{path}: "))]
    else:
        raise ChaosbenchError(f"no record file or directory at {path}")

    for file, record in found.items():
        if datasets is None or record.key.dataset in datasets:
            problems.extend(_content_problems(file, record, manifest, metric_specs))
    present = {record.key for record in found.values()}
    problems.extend(
        Problem(store.path_for(key), f"missing record of {key}")
        for key in sorted(set(expected or ()) - present)
    )
    return problems
