"""Checks of a record directory (or a single record file) before it backs a leaderboard.

Every check takes plain data, so this module needs neither the datasets nor the suites: a
suite's expectations come as :class:`Expected` per record key (the unit's resolved settings and
their hash), ``manifest`` maps a dataset name to the sha256 of its frozen arrays and
``protocol`` is the current evaluation protocol. :func:`mismatch` is the one test of "this
record counts for this suite", shared by ``chaosbench run`` (which recomputes what fails it) and
``chaosbench validate``. Each problem names the file (or the missing file's place) it is about.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosbench.errors import ChaosbenchError
from chaosbench.metrics import KNOWN_METRIC_SPECS
from chaosbench.records import (
    MalformedRecordError,
    Problem,
    RecordKey,
    RecordStore,
    RunRecord,
    config_sha256,
    read_record,
)

MAX_DIFFERENCES = 3  # settings named in a mismatch message; the rest are counted


@dataclass(frozen=True)
class Expected:
    """What a suite expects of one record: its unit's resolved settings and their sha256."""

    settings: Mapping[str, Any]
    sha256: str


def differences(have: Any, want: Any, prefix: str = "") -> list[str]:
    """``key value (suite: value)`` for every leaf where ``have`` differs from ``want``."""
    if isinstance(have, Mapping) and isinstance(want, Mapping):
        out = []
        for key in sorted(set(have) | set(want), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            out += differences(have.get(key, "<absent>"), want.get(key, "<absent>"), name)
        return out
    return [] if have == want else [f"{prefix or 'settings'} {have!r} (suite: {want!r})"]


def mismatch(record: RunRecord, expected: Expected) -> str | None:
    """Why ``record`` does not count for the unit ``expected`` describes, else None.

    A record counts when it carries the unit's settings hash and its stored settings hash to it.
    Versions are named first (protocol, metric spec, dataset, tau rule), then the budget, then
    any other setting.
    """
    have = record.config.get("resolved")
    stored = record.config.get("config_sha256")
    if not isinstance(have, Mapping):
        protocol = record.config.get("eval_protocol")
        current = expected.settings.get("versions", {}).get("eval_protocol")
        return f"made under evaluation protocol {protocol!r}, the current one is {current!r}"
    if stored != config_sha256(have):
        return "config_sha256 does not match its settings (edited)"
    if stored == expected.sha256:
        return None
    diffs = differences(have, expected.settings)
    diffs.sort(key=lambda d: (not d.startswith("versions."), not d.startswith("budget ")))
    more = f" (+{len(diffs) - MAX_DIFFERENCES} more)" if len(diffs) > MAX_DIFFERENCES else ""
    return "made with other settings: " + "; ".join(diffs[:MAX_DIFFERENCES]) + more


def protocol_problem(record: RunRecord, protocol: str) -> str | None:
    """Why ``record`` belongs to another evaluation protocol than ``protocol``, else None."""
    made = record.config.get("eval_protocol")
    if made == protocol:
        return None
    return f"made under evaluation protocol {made!r}, the current one is {protocol!r}: recompute it"


def _content_problems(
    path: Path,
    record: RunRecord,
    manifest: Mapping[str, str] | None,
    metric_specs: Collection[str],
    protocol: str | None,
) -> Iterator[Problem]:
    spec = record.versions["metric_spec"]
    if spec not in metric_specs:
        yield Problem(path, f"unknown metric spec version {spec!r} (known: {sorted(metric_specs)})")
    stale = protocol_problem(record, protocol) if protocol is not None else None
    if stale is not None:
        yield Problem(path, f"stale: {stale}")
    dataset = record.key.dataset
    if manifest is not None and dataset in manifest and manifest[dataset] != record.dataset_sha256:
        yield Problem(
            path,
            f"dataset sha256 {record.dataset_sha256[:12]}... differs from the manifest's "
            f"{manifest[dataset][:12]}... for {dataset!r}",
        )


def extra_records(found: Iterable[RecordKey], expected: Collection[RecordKey]) -> Iterator[tuple[RecordKey, str]]:
    """The records among ``found`` of a unit of the suite (same dataset, model, regime) that the
    suite does not expect, with why: a seed not among its seeds, or a budget not among its rungs
    (``None``, the single-budget layout, when the suite has a ladder, or a rung when it has one
    budget). They do not count and are left as they are."""
    seeds: dict[tuple[str, str, str], set[int]] = {}
    budgets: dict[tuple[str, str, str], set[int | None]] = {}
    for key in expected:
        seeds.setdefault((key.dataset, key.model, key.regime), set()).add(key.seed)
        budgets.setdefault((key.dataset, key.model, key.regime), set()).add(key.budget)
    for key in sorted(set(found) - set(expected)):
        unit = (key.dataset, key.model, key.regime)
        if unit not in seeds:
            continue
        if key.seed not in seeds[unit]:
            yield key, f"seed {key.seed} is not one of the suite's seeds (an extra record)"
        else:
            rungs = sorted(b for b in budgets[unit] if b is not None)
            if not rungs:
                yield key, f"a rung (budget {key.budget}) but the suite has one budget (an extra record)"
            elif key.budget is None:
                yield key, f"a single-budget record but the suite has the ladder {rungs} (an extra record)"
            else:
                yield key, f"budget {key.budget} is not one of the suite's rungs {rungs} (an extra record)"


def _suite_problems(
    store: RecordStore, found: Mapping[Path, RunRecord], expected: Mapping[RecordKey, Expected]
) -> Iterator[Problem]:
    """Records that differ from the suite's settings, extra seeds or rungs of its units, missing records."""
    files = {record.key: file for file, record in found.items()}
    for file, record in found.items():
        if record.key in expected:
            reason = mismatch(record, expected[record.key])
            if reason is not None:
                yield Problem(file, f"belongs to other settings than the suite's: {reason}")
    for key, reason in extra_records(files, expected):
        yield Problem(files[key], reason)
    for key in sorted(set(expected) - set(files)):
        yield Problem(store.path_for(key), f"missing record of {key}")


def validate(
    path: str | os.PathLike[str],
    expected: Mapping[RecordKey, Expected] | None = None,
    manifest: Mapping[str, str] | None = None,
    metric_specs: Collection[str] = KNOWN_METRIC_SPECS,
    datasets: Collection[str] | None = None,
    protocol: str | None = None,
) -> list[Problem]:
    """All problems of the records at ``path`` (a store directory or one ``.json`` file).

    Checked: strict JSON and schema, record hash, known metric spec, the evaluation protocol
    (when ``protocol`` is given), dataset sha256 against ``manifest`` (for the datasets it
    names); for a directory
    also that each file sits where its key belongs (a copy of a record under another name is a
    duplicate), stray files, and, when a suite's ``expected`` records are given, that each of
    them exists and was made with the suite's settings (:func:`mismatch`) and that no unit of the
    suite has extra seeds. An empty list means valid; a single file that is not strict JSON raises
    :class:`MalformedRecordError` (in a directory it is one of the problems). ``datasets`` (if
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
        except MalformedRecordError:
            raise
        except ChaosbenchError as err:
            return [Problem(path, str(err).removeprefix(f"{path}: "))]
    else:
        raise ChaosbenchError(f"no record file or directory at {path}")

    relevant = {f: r for f, r in found.items() if datasets is None or r.key.dataset in datasets}
    for file, record in relevant.items():
        problems.extend(_content_problems(file, record, manifest, metric_specs, protocol))
    if expected is not None:
        problems.extend(_suite_problems(store, relevant, expected))
    return problems
