"""Run records: schema, hashing, atomic writes, resume semantics, key safety, ``validate``."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from chaosbench.cli import leaderboard as leaderboard_cli
from chaosbench.errors import ChaosbenchError, IntegrityError
import chaosbench.records as records_module
from chaosbench.metrics import METRICS
from chaosbench.records import RecordKey, RecordStore, RunRecord, canonical_json, config_sha256, read_record
from chaosbench.harness.evaluate import EVAL_PROTOCOL_VERSION
from chaosbench.records.validate import Expected, validate

SHA = "ab" * 32


def make(key: RecordKey, status: str = "ok", **overrides) -> RunRecord:
    fields = {
        "metrics": {name: 0.25 for name in METRICS},
        "budget": {"updates": 50, "used": 50},
        "wall_time_s": 2.0,
        "device": "cpu",
        "metric_spec": "1",
        "dataset_version": "1",
        "dataset_sha256": SHA,
        "config": {"lr": 1e-3, "hidden": [32, 32], "eval_protocol": EVAL_PROTOCOL_VERSION},
        "reason": None if status == "ok" else "test",
    }
    return RunRecord.create(key, status, **(fields | overrides))


KEY = RecordKey("lorenz63", "plrnn", "stf", 0)


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    store = RecordStore(tmp_path / "results")
    for seed in range(3):
        store.write(make(RecordKey("lorenz63", "plrnn", "stf", seed)))
    return store


def test_round_trip_is_exact_and_files_sit_at_their_key(store: RecordStore) -> None:
    path = store.path_for(KEY)
    assert path == store.root / "lorenz63" / "plrnn" / "stf" / "seed0.json"
    text = path.read_text()
    record = store.read(path)
    assert record.to_json() == text and record.sha256 == json.loads(text)["record_sha256"]
    assert record.sha256 == hashlib.sha256(canonical_json(record.body()).encode()).hexdigest()
    assert record.versions["chaosbench"] == "0.1.0" and record.versions["metric_spec"] == "1"
    assert record.config == {"lr": 1e-3, "hidden": [32, 32], "eval_protocol": EVAL_PROTOCOL_VERSION}
    assert store.exists(KEY) and sorted(r.key.seed for r in store.iter_records()) == [0, 1, 2]


def test_per_run_values_round_trip_and_are_absent_from_older_records(store: RecordStore) -> None:
    runs = {"d_stsp": [0.2, 0.3], "valid_time": [1.5, 2.5], "d_h": [np.float32(0.25), math.inf]}
    record = make(KEY, metrics_runs=runs)
    assert RunRecord.from_json(record.to_json()) == record
    assert record.metrics_runs == {"d_stsp": [0.2, 0.3], "valid_time": [1.5, 2.5], "d_h": [0.25, None]}
    older = store.read(store.path_for(KEY))  # made without per-run values: its file has no such field
    assert older.metrics_runs == {} and "metrics_runs" not in json.loads(older.to_json())


def test_created_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = RecordStore(tmp_path).write(make(KEY))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_interrupted_write_keeps_the_old_record_and_no_temp_file(store: RecordStore, monkeypatch) -> None:
    path = store.path_for(KEY)
    before = path.read_bytes()

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(records_module.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        store.write(make(KEY, metrics={name: 0.5 for name in METRICS}))
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["seed0.json", "seed1.json", "seed2.json"]


def test_temp_file_left_by_a_killed_process_is_ignored(store: RecordStore) -> None:
    key = RecordKey("lorenz63", "plrnn", "stf", 3)
    half = make(key).to_json()[:500]
    (store.root / "lorenz63" / "plrnn" / "stf" / ".seed3.json.0123abcd.tmp").write_text(half)
    scan = store.scan()
    assert scan.problems == [] and len(scan.records) == 3
    assert not store.exists(key)  # not done: the runner runs it again
    store.write(make(key))
    assert store.exists(key) and len(store.scan().records) == 4


def test_tampered_record_is_named_and_rerun(store: RecordStore) -> None:
    path = store.path_for(KEY)
    path.write_text(path.read_text().replace('"d_stsp": 0.25', '"d_stsp": 0.05'))
    [problem] = store.scan().problems
    assert problem.path == path and "record_sha256 does not match" in problem.message
    assert not store.exists(KEY)
    with pytest.raises(IntegrityError, match=r"seed0\.json: record_sha256 does not match"):
        store.read(path)
    store.write(make(KEY))  # recomputed: the bad file is replaced
    assert store.exists(KEY) and store.scan().problems == []


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: text[: len(text) // 2], "not valid JSON"),
        (lambda text: "", "not valid JSON"),
        (lambda text: text.replace('"wall_time_s": 2.0', '"wall_time_s": NaN'), "NaN is not allowed"),
        (lambda text: "[1, 2]", "must be a JSON object"),
        (lambda text: text.replace('"device"', '"devise"'), "missing ['device'], unexpected ['devise']"),
    ],
)
def test_corrupt_record_is_reported(store: RecordStore, damage, message: str) -> None:
    path = store.path_for(KEY)
    path.write_text(damage(path.read_text()))
    [problem] = store.scan().problems
    assert problem.path == path and message in problem.message
    assert not store.exists(KEY) and store.exists(RecordKey("lorenz63", "plrnn", "stf", 1))


def test_a_record_with_a_recomputed_hash_is_still_schema_checked(store: RecordStore) -> None:
    path = store.path_for(KEY)
    data = json.loads(path.read_text())
    data["metrics"]["d_stsp"] = None  # an ok run with a missing score
    del data["record_sha256"]
    data["record_sha256"] = hashlib.sha256(canonical_json(data).encode()).hexdigest()
    path.write_text(json.dumps(data))
    [problem] = store.scan().problems
    assert "status ok but metrics ['d_stsp'] are null" in problem.message


def test_copied_or_misplaced_record_is_a_problem(store: RecordStore) -> None:
    source = store.path_for(KEY)
    shutil.copy(source, source.with_name("seed7.json"))
    shutil.copy(source, store.root / "lorenz63" / "plrnn" / "stf" / "notes.json")
    problems = {p.path.name: p.message for p in store.scan().problems}
    assert problems["seed7.json"] == (
        f"holds the record of lorenz63/plrnn/stf/seed0, whose place is {source} (a duplicate: that file exists too)"
    )
    assert "not a record location" in problems["notes.json"]
    assert not store.exists(RecordKey("lorenz63", "plrnn", "stf", 7))


@pytest.mark.parametrize(
    "fields",
    [
        {"dataset": "../etc"}, {"dataset": "a/b"}, {"model": ".hidden"}, {"model": ""},
        {"regime": "x" * 129}, {"regime": "a\\b"}, {"model": "a b"}, {"dataset": 3},
        {"seed": -1}, {"seed": True}, {"seed": "0"}, {"seed": 1.0},
    ],
)  # fmt: skip
def test_unsafe_keys_are_rejected(fields: dict) -> None:
    with pytest.raises(ChaosbenchError, match="invalid"):
        RecordKey(**({"dataset": "d", "model": "m", "regime": "r", "seed": 0} | fields))


def test_colon_names_map_to_portable_paths(tmp_path: Path) -> None:
    key = RecordKey("dysts:Lorenz", "mypkg.nets:Net", "stf-tau=25", 12)
    store = RecordStore(tmp_path)
    assert (
        store.write(make(key)) == tmp_path / "dysts~Lorenz" / "mypkg.nets~Net" / "stf-tau=25" / "seed12.json"
    )
    assert store.exists(key) and next(store.iter_records()).key == key


@pytest.mark.parametrize(
    ("status", "overrides", "message"),
    [
        ("ok", {"metrics": {"d_stsp": 0.1}}, "status ok but metrics"),
        ("ok", {"metrics": {name: math.nan for name in METRICS}}, "are null"),
        ("ok", {"metrics": {name: 0.1 for name in [*METRICS, "r2"]}}, "unknown metrics ['r2']"),
        ("ok", {"reason": "why"}, "status ok must have reason null"),
        ("failed", {"reason": " "}, "status failed needs a reason"),
        ("done", {}, "status must be one of"),
        ("ok", {"budget": {"updates": 5, "used": 6}}, "budget must be"),
        ("ok", {"wall_time_s": -1.0}, "wall_time_s must be"),
        ("ok", {"dataset_sha256": "AB" * 32}, "dataset_sha256 must be"),
        ("ok", {"config": {"x": float("inf")}}, "not strict JSON"),
        ("ok", {"artifacts": {"trajectory_sample": np.zeros((2001, 3))}}, "1 to 2000 rows"),
        ("ok", {"artifacts": {"trajectory_sample": np.zeros((10, 4))}}, "equal length 1 to 3"),
        ("ok", {"artifacts": {"power_spectrum": np.zeros(8)}}, "must be 2-d"),
        ("ok", {"artifacts": {"image": np.zeros((2, 2))}}, "unknown artifact 'image'"),
        ("ok", {"metrics_runs": {"d_stsp": [0.1] * 1025}}, "metrics_runs d_stsp must be a list of 1 to 1024"),
        ("ok", {"metrics_runs": {"d_stsp": [0.1], "d_h": [0.1, 0.2]}}, "same number of runs"),
        ("ok", {"metrics_runs": {"r2": [0.1]}}, "unknown metrics ['r2'] in metrics_runs"),
    ],
)
def test_schema_violations_are_refused_at_creation(status: str, overrides: dict, message: str) -> None:
    with pytest.raises(ChaosbenchError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make(KEY, status, **overrides)


def test_diverged_record_keeps_non_finite_scores_as_null_and_artifacts_are_small() -> None:
    trajectory = np.array([[1.23456789, -2.0, np.inf], [np.nan, 0.5, 3.0]])
    record = make(KEY, "diverged", metrics={"d_stsp": np.float32(np.inf), "d_h": np.float64(0.5)},
                  artifacts={"trajectory_sample": trajectory})  # fmt: skip
    assert record.metrics == {"d_stsp": None, "d_h": 0.5}
    assert record.artifacts["trajectory_sample"] == [[1.235, -2.0, None], [None, 0.5, 3.0]]
    assert RunRecord.from_json(record.to_json()) == record


def test_validate_checks_versions_hashes_and_completeness(store: RecordStore) -> None:
    assert validate(store.root) == []
    manifest = {"lorenz63": SHA}
    settings = {"budget": 3}
    expected = {RecordKey("lorenz63", "plrnn", "stf", seed): Expected(settings, config_sha256(settings)) for seed in range(4)}
    found = validate(store.root, expected=expected, manifest=manifest)
    missing = [p for p in found if "missing record" in p.message]
    assert [p.path for p in missing] == [store.root / "lorenz63/plrnn/stf/seed3.json"]
    # the fixture's records were made before config hashes: they belong to another protocol
    assert sum("belongs to other settings" in p.message for p in found) == 3

    store.write(make(RecordKey("henon", "lstm", "bptt", 0), metric_spec="9"))
    store.write(make(RecordKey("henon", "lstm", "bptt", 1), config={"eval_protocol": "0"}))
    found = validate(store.root, manifest={"lorenz63": "cd" * 32}, protocol=EVAL_PROTOCOL_VERSION)
    mismatch = "dataset sha256 abababababab... differs from the manifest's cdcdcdcdcdcd... for 'lorenz63'"
    stale = f"stale: made under evaluation protocol '0', the current one is '{EVAL_PROTOCOL_VERSION}': recompute it"
    assert sorted((str(p.path.relative_to(store.root)), p.message) for p in found) == [
        ("henon/lstm/bptt/seed0.json", "unknown metric spec version '9' (known: ['1', '2'])"),
        ("henon/lstm/bptt/seed1.json", stale),
        *((f"lorenz63/plrnn/stf/seed{seed}.json", mismatch) for seed in range(3)),
    ]


def test_validate_a_single_file_and_bad_paths(store: RecordStore, tmp_path: Path) -> None:
    path = store.path_for(KEY)
    assert validate(path) == [] and read_record(path).key == KEY
    path.write_text(path.read_text().replace('"cpu"', '"gpu"'))
    [problem] = validate(path)
    assert problem.path == path and "record_sha256 does not match" in problem.message
    with pytest.raises(ChaosbenchError, match="no record file or directory"):
        validate(tmp_path / "nowhere")
    with pytest.raises(ChaosbenchError, match="record directory"):
        validate(path, expected=[KEY])


def test_cli_validate_names_the_bad_record(store: RecordStore, capsys) -> None:
    parser = argparse.ArgumentParser()
    leaderboard_cli.register(parser.add_subparsers())
    args = parser.parse_args(["validate", str(store.root)])
    assert args.func(args) == 0 and "all records valid" in capsys.readouterr().out
    path = store.path_for(RecordKey("lorenz63", "plrnn", "stf", 2))
    path.write_text(path.read_text()[:-20])
    assert args.func(args) == 1
    out = capsys.readouterr().out
    assert f"{path}: not valid JSON" in out and "1 problem(s)" in out
