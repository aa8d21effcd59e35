"""The hess2023 study: the ECG rows of Table 1 of Hess et al. (ICML 2023) re-run, and its EEG
rows scored on chaosbench's held-out split (the paper's EEG test file is its training file).

:func:`run` trains and scores what its cache (``<out>/cache``) lacks (:mod:`.runs`), checks the
recordings against the paper's files (:mod:`.paper_data`), then writes ``REPORT.md``
(:mod:`.report`) with both conventions and a verdict per row (:mod:`.verdicts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chaosbench.records import atomic_write
from chaosbench.studies.hess2023 import paper_data, report, runs, verdicts
from chaosbench.studies.hess2023.settings import parse
from chaosbench.training import resolve_device

REPORT = "REPORT.md"


def run(settings_doc: Mapping[str, Any], out: Path, progress: bool = True) -> Path:
    """Run (or resume) the study with ``settings_doc`` into ``out``; the report's path."""
    from chaosbench.studies import config

    settings = parse(settings_doc)
    results = runs.run(settings, Path(out) / "cache", progress)
    record_of = config.load("hess2023")
    rows = []
    for row in settings.rows:
        mine = [r for r in results if r["dataset"] == row.dataset and r["label"] == row.label]
        summary = verdicts.summarise(mine)
        files = settings.paper_data.get(row.dataset)
        in_sample = files is not None and paper_data.in_sample(files)
        summary.update(
            row=row, model=mine[0]["model"], regime=mine[0]["regime"],
            verdict=verdicts.verdict(summary, row.paper, record_of["budget"], in_sample),
            projected=verdicts.projected_core_hours(summary, record_of["budget"], len(record_of["seeds"])),
        )  # fmt: skip
        rows.append(summary)
    suite = runs.suite_doc(settings.suite)
    entries = {d.name: d for d in (runs.unit(settings, row, suite, settings.seeds[0]).dataset for row in settings.rows)}
    checks = [paper_data.check(name, files, entries[name], settings.data_dir_external)
              for name, files in settings.paper_data.items() if name in entries]  # fmt: skip
    text = report.markdown(settings_doc, record_of, rows, checks, str(resolve_device(settings.device)))
    path = Path(out) / REPORT
    atomic_write(path, text.encode("utf-8"))
    return path
