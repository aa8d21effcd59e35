"""Leaderboard tables after a run or on request: validate the records first, then render them.

The harness never imports the leaderboard; the command line joins them here. A record that
``chaosbench validate`` rejects (bad file, another evaluation protocol, a dataset hash that
differs from the manifest) stops the tables, or with ``exclude_invalid`` is left out and listed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
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
    submissions: Sequence[str | os.PathLike[str]] = (),
    entries: Mapping[str, Any] | None = None,
    data_dir: str | None = None,
    external_dir: str | None = None,
    exclude_invalid: bool = False,
    report: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Validate the records under ``results`` and each submission folder, then write the
    leaderboard files of them all to ``out``; a model card beside a records folder is shown."""
    from chaosbench.harness.evaluate import EVAL_PROTOCOL_VERSION
    from chaosbench.harness.runner import true_series
    from chaosbench.leaderboard import write_leaderboard
    from chaosbench.records import RecordStore
    from chaosbench.records.validate import validate

    sources = _sources(results, submissions)
    problems = []
    for source in sources:
        manifest = frozen_manifest(source.results, data_dir)
        problems += validate(source.results, manifest=manifest, protocol=EVAL_PROTOCOL_VERSION)
    if problems and not exclude_invalid:
        where = sources[0].results if len(sources) == 1 else problems[0].path
        raise ChaosbenchError(
            f"{len(problems)} invalid record(s) under {' and '.join(str(s.results) for s in sources)}, first "
            f"{problems[0]}; list them with 'chaosbench validate {where}', or leave them out with --exclude-invalid"
        )
    bad = {p.path.resolve() for p in problems}
    for problem in problems:
        report(f"left out: {problem}")
    found = {}
    for source in sources:
        scan = RecordStore(source.results).scan()
        found[source] = [r for path, r in scan.records.items() if path.resolve() not in bad]
    _check_mergeable(found)
    truth: dict[str, Any] = {}
    for source in sources:
        for dataset, series in true_series(source.results, data_dir, external_dir, entries).items():
            truth.setdefault(dataset, series)
    cards = [card for card in (source.card() for source in sources) if card is not None]
    records = [record for group in found.values() for record in group]
    refs = stored_references(records, data_dir)
    floors = {name: (r["floor"]["d_stsp"]["q05"], r["floor"]["d_stsp"]["q95"]) for name, r in refs.items() if r["floor"]}
    return write_leaderboard(records, out, truth, floors=floors, references=refs, cards=cards)


def _sources(results: str | os.PathLike[str], submissions: Sequence[str | os.PathLike[str]]) -> list[Any]:
    """The records folder and each submission folder, each once, each a folder of records."""
    from chaosbench.harness.submit import Submission

    sources, seen = [], set()
    for path in (results, *submissions):
        source = Submission.at(path)
        if not source.results.is_dir():
            raise ChaosbenchError(f"no records folder at {source.results}")
        if source.results.resolve() in seen:
            raise ChaosbenchError(f"{source.results} is given twice")
        seen.add(source.results.resolve())
        sources.append(source)
    return sources


def _check_mergeable(found: Mapping[Any, Sequence[Any]]) -> None:
    """One folder per model, and on each dataset one budget and one evaluation setting across
    folders (else the ranks would compare runs of different length or scoring)."""
    owner: dict[str, Path] = {}
    terms: dict[str, tuple[Any, str, Path]] = {}
    for source, records in found.items():
        for record in records:
            model, dataset = record.key.model, record.key.dataset
            if owner.setdefault(model, source.results) != source.results:
                raise ChaosbenchError(
                    f"model '{model}' has records in {owner[model]} and {source.results}: merge one of them"
                )
            resolved = record.config.get("resolved", {})
            mine = (resolved.get("budget"), resolved.get("evaluation"))
            theirs = terms.setdefault(dataset, (mine, str(record.config.get("suite")), source.results))
            if theirs[0] != mine and theirs[2] != source.results:
                raise ChaosbenchError(
                    f"{dataset}: the records in {source.results} (suite {record.config.get('suite')}, budget "
                    f"{mine[0]}) and in {theirs[2]} (suite {theirs[1]}, budget {theirs[0][0]}) differ in budget "
                    "or evaluation settings and cannot be ranked together: submit under the same suite"
                )


def tables_current(results: Path, out: Path) -> bool:
    """Whether every table file under ``out`` is newer than every record under ``results``."""
    from chaosbench.leaderboard import OUTPUTS

    outputs = [out / name for name in OUTPUTS.values()]
    if not all(p.is_file() for p in outputs):
        return False
    newest = max((p.stat().st_mtime for p in results.rglob("*.json")), default=0.0)
    return newest <= min(p.stat().st_mtime for p in outputs)


def stored_references(records: list[Any], data_dir: str | None) -> dict[str, dict[str, Any]]:
    """The stored reference rows of each dataset whose records were scored at their test length,
    protocol and metric spec (rows of other settings would mark the wrong entries at the floor)."""
    from chaosbench.harness import references

    out = {}
    for name in sorted({r.key.dataset for r in records}):
        refs = references.read(name, data_dir)
        scored = {(r.config.get("evaluation", {}).get("n_test"), r.config.get("eval_protocol"), r.versions["metric_spec"])
                  for r in records if r.key.dataset == name}  # fmt: skip
        if refs is not None and scored == {(refs["n_test"], refs["eval_protocol"], refs["metric_spec"])}:
            out[name] = refs
    return out
