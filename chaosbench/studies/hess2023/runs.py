"""Training and scoring the rows: one work unit per row and seed, cached, resumable.

Each unit is built by the suite machinery from the entries a one-model suite would hold: the
recording, the suite's training and evaluation settings and the row's model entry
(:func:`unit`), and trained and scored by the runner's
:func:`~chaosbench.harness.runner.train_unit` and :func:`~chaosbench.harness.runner.score`, the
functions ``chaosbench run`` uses, so a row's seed and a leaderboard record of the same settings
hold the same numbers. Each seed is cached on its own (a long study resumes seed by seed); its
run record is kept beside the result. With ``records`` set (e.g. the leaderboard of record), a
seed whose record is already there under the same settings (a ladder's top rung at the study's
budget is that run: tests/test_ladder.py) is taken from it instead of trained again.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from chaosbench.errors import ChaosbenchError
from chaosbench.harness import runner, suites
from chaosbench.harness.evaluate import Reference, reference
from chaosbench.records import RecordKey, RecordStore, RunRecord, atomic_write, config_sha256
from chaosbench.studies.cache import Entry, unit_config
from chaosbench.studies.hess2023.settings import METRICS, Row, Settings
from chaosbench.training import cpu_threads, resolve_device
from chaosbench.yamlio import read_yaml

STUDY = "hess2023"  # the suite name of the study's units and records
PART = "runs"
RECORD = "record.json"


def suite_doc(name: str) -> dict[str, Any]:
    """The parsed YAML of suite ``name`` (``baselines/suites/<name>.yaml``)."""
    path = suites.suites_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ChaosbenchError(f"hess2023: no suite '{name}' ({path} is missing)")
    return read_yaml(path)


def _name(entry: Any) -> str:
    return entry if isinstance(entry, str) else str(entry.get("name"))


def unit(settings: Settings, row: Row, suite: dict[str, Any], seed: int) -> suites.WorkUnit:
    """The resolved work unit of ``row`` for ``seed`` at the study's budget."""
    owner = f"hess2023 row '{row.label}' on {row.dataset}"
    recording = next((d for d in suite["datasets"] if _name(d) == row.dataset), None)
    if recording is None:
        raise ChaosbenchError(f"{owner}: suite '{settings.suite}' has no dataset '{row.dataset}'")
    model = row.model
    if isinstance(model, str):
        model = next((m for m in suite["models"] if _name(m) == model), model)
    doc = {
        "name": STUDY, "budget": settings.budget, "seeds": [seed], "datasets": [recording], "models": [model],
        "regimes": [row.regime] if row.regime is not None else suite["regimes"],
        "training": suite.get("training") or {}, "evaluation": suite.get("evaluation") or {},
    }  # fmt: skip
    units = suites.parse(doc).units()
    if len(units) != 1:
        raise ChaosbenchError(f"{owner}: makes {len(units)} work units, expected one (give the row a regime)")
    return units[0]


@functools.lru_cache(maxsize=4)
def recording(entry: suites.DatasetEntry, external_dir: str | None) -> Any:
    """The recording ``entry`` names, read from ``external_dir`` (once per process)."""
    return entry.load(None, external_dir)


@functools.lru_cache(maxsize=4)
def _reference(entry: suites.DatasetEntry, external_dir: str | None) -> Reference:
    return reference(recording(entry, external_dir))


def run(settings: Settings, root: Path, progress: bool) -> list[dict[str, Any]]:
    """Train and score every (row, seed) not cached yet; the results of all, row by row."""
    suite = suite_doc(settings.suite)
    device = str(resolve_device(settings.device))
    todo = [(row, seed, unit(settings, row, suite, seed)) for row in settings.rows for seed in settings.seeds]
    done = []
    for row, seed, work in tqdm(todo, desc="hess2023", disable=not progress, unit="run"):
        ds = recording(work.dataset, settings.data_dir_external)
        entry = Entry(root, PART, f"{row.slug}-seed{seed}", unit_config(work, ds.sha256, device))
        result = entry.load()
        if result is None:
            found = recorded(Path(settings.records), work, ds.sha256, device) if settings.records else None
            if found:
                record, path = found  # its wall time (training and scoring) stands for the cost
                atomic_write(entry.dir / RECORD, record.to_json().encode("utf-8"))
                result = entry.save(_result(row, work, record, record.wall_time_s, 0.0, str(path)))
            else:
                result = entry.save(train_and_score(entry, row, work, settings, progress))
        done.append(result)
    return done


def recorded(records: Path, work: suites.WorkUnit, dataset_sha256: str, device: str) -> tuple[RunRecord, Path] | None:
    """The record of ``work`` (one seed) in ``records`` and its path when it holds the same
    settings, data and device (a latent model's: the top rung of a ladder at the study's
    budget); else ``None``."""
    latent = work.regime is not None
    key = RecordKey(work.dataset.name, work.model.name, work.regime_label, work.seeds[0],
                    budget=work.budget if latent else None)  # fmt: skip
    store = RecordStore(records)
    path = store.path_for(key)
    if not path.is_file():
        return None
    try:
        record = store.read(path)
    except ChaosbenchError:
        return None  # unreadable or tampered: trained again instead
    settings = {**work.settings(), "top_rung": work.budget} if latent else work.settings()
    same = record.config.get("config_sha256") == config_sha256(settings)
    if not (same and record.dataset_sha256 == dataset_sha256 and record.device == device):
        return None
    return record, path


def train_and_score(
    entry: Entry, row: Row, work: suites.WorkUnit, settings: Settings, progress: bool
) -> dict[str, Any]:
    """Train ``work`` (one seed) and score it by the runner, on one CPU thread as the study's
    models are small; the run record is written beside the result."""
    ds = recording(work.dataset, settings.data_dir_external)
    ref = _reference(work.dataset, settings.data_dir_external)
    with cpu_threads(1):
        (trained,) = runner.train_unit(work, ds, ref, settings.device, progress=progress)
        start = time.perf_counter()
        (record,) = runner.score(work, [trained], ds, ref, STUDY)
        score_time = time.perf_counter() - start
    atomic_write(entry.dir / RECORD, record.to_json().encode("utf-8"))
    return _result(row, work, record, trained.train_time, score_time, "trained")


def _result(row: Row, work: suites.WorkUnit, record: RunRecord, train_time: float, score_time: float,
            source: str) -> dict[str, Any]:  # fmt: skip
    """A row's seed as the study caches it: the record's numbers, cost and where they came from."""
    return {
        "label": row.label, "dataset": row.dataset, "model": work.model.name, "regime": work.regime_label,
        "seed": record.key.seed, "status": record.status, "reason": record.reason,
        **{key: record.metrics.get(key) for key in METRICS},
        "evaluable": work.regime is None, "budget": work.budget, "updates": record.budget["used"],
        "train_time": train_time, "score_time": score_time, "source": source,
        "config_sha256": record.config["config_sha256"],
    }  # fmt: skip
