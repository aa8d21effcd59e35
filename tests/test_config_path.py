"""One configuration path: the regime YAML reaches the records, records are pinned to their
resolved settings, and run and validate agree on which records count for a suite."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from chaosbench.cli import main
from chaosbench.harness import suites
from chaosbench.harness.runner import run_suite
from chaosbench.metrics import METRIC_SPEC_VERSION
from chaosbench.records import RecordKey, RecordStore, config_sha256

PACKAGE = Path(__file__).resolve().parents[1] / "chaosbench"
SUITE = {
    "name": "pinned",
    "budget": 3,
    "seeds": [0],
    "datasets": ["lorenz63"],
    "models": [{"name": "shplrnn", "params": {"hidden_dim": 8}}],
    "regimes": ["gtf"],
    "training": {"batch_size": 4, "seq_len": 20},
    "evaluation": {"n_test": 600, "transient": 50, "lyapunov_inits": 2, "lyapunov_steps": 50},
}
KEY = RecordKey("lorenz63", "shplrnn", "gtf", 0)


def write_suite(folder: Path, **changes: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "suite.yaml"
    path.write_text(json.dumps({**SUITE, **changes}))
    return path


def run(suite_file: Path, results: Path, lines: list[str] | None = None) -> Any:
    report = lines.append if lines is not None else (lambda line: None)
    return run_suite(suites.load(suite_file), results, progress=False, report=report)


def test_records_carry_the_regime_yaml_and_follow_its_changes(tmp_path: Path, baselines: Path) -> None:
    suite_file, results = write_suite(tmp_path), tmp_path / "results"
    run(suite_file, results)
    store = RecordStore(results)
    record = store.read(store.path_for(KEY))
    gtf_yaml = (baselines / "regimes" / "gtf.yaml").read_text()
    assert "  decay: budget\n" in gtf_yaml  # the documented value ...
    assert record.config["resolved"]["regime"]["decay"] == "budget"
    assert record.config["regime"]["decay"] == 0.0  # ... resolved against budget 3: no estimate in its first quarter
    assert record.config["training"]["lr"] == record.config["resolved"]["training"]["lr"] == 0.03

    (baselines / "regimes" / "gtf.yaml").write_text(gtf_yaml.replace("  decay: budget\n", "  decay: 0.9\n"))
    lines: list[str] = []
    summary = run(suite_file, results, lines)
    assert summary.computed == 1 and summary.skipped == 0
    assert len(lines) == 1 and "regime.decay 'budget' (suite: 0.9)" in lines[0]
    assert store.read(store.path_for(KEY)).config["regime"]["decay"] == 0.9


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ({"training": {"batch_size": 4, "seq_len": 10}, "evaluation": {**SUITE["evaluation"], "n_test": 500}},
         "evaluation.n_test 500 (suite: 600); training.seq_len 10 (suite: 20)"),
        ({"budget": 2}, "budget 2 (suite: 3)"),
        ({"spec": "0"}, f"versions.metric_spec '0' (suite: '{METRIC_SPEC_VERSION}')"),
    ],
)
def test_records_of_other_settings_are_found_by_run_and_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variant: dict[str, Any],
    message: str,
) -> None:  # fmt: skip
    """A record with the suite's key made under another suite's settings, another budget or
    another metric spec version does not count: validate names the difference, run recomputes it."""
    results = tmp_path / "results"
    spec = variant.pop("spec", None)
    run(write_suite(tmp_path / "other", **variant), results)
    if spec is not None:  # the same record as made by a version with another metric spec
        store = RecordStore(results)
        record = store.read(store.path_for(KEY))
        resolved = {**record.config["resolved"]}
        resolved["versions"] = {**resolved["versions"], "metric_spec": spec}
        config = {**record.config, "resolved": resolved, "config_sha256": config_sha256(resolved)}
        store.write(dataclasses.replace(record, config=config))
    suite_file = write_suite(tmp_path)
    assert main(["validate", str(results), "--suite", str(suite_file)]) == 1
    out = capsys.readouterr().out
    assert "belongs to other settings than the suite's" in out and message in out
    lines: list[str] = []
    assert run(suite_file, results, lines).computed == 1
    assert len(lines) == 1 and message in lines[0] and "recomputing it" in lines[0]
    assert main(["validate", str(results), "--suite", str(suite_file)]) == 0


def test_an_extra_seed_is_reported_not_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    run(write_suite(tmp_path / "more", seeds=[0, 1]), results)
    suite_file = write_suite(tmp_path)
    assert main(["validate", str(results), "--suite", str(suite_file)]) == 1
    extra = RecordStore(results).path_for(RecordKey("lorenz63", "shplrnn", "gtf", 1))
    assert f"{extra}: seed 1 is not one of the suite's seeds (an extra record)" in capsys.readouterr().out
    lines: list[str] = []
    summary = run(suite_file, results, lines)
    assert summary.computed == 0 and summary.skipped == 1 and extra.is_file()
    assert len(lines) == 1 and str(extra) in lines[0] and "left as is" in lines[0]


def _imports(folder: Path) -> set[str]:
    """Every chaosbench module imported anywhere (top level or inside functions) under ``folder``."""
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("chaosbench")}


def test_harness_and_leaderboard_do_not_import_each_other() -> None:
    harness, board = _imports(PACKAGE / "harness"), _imports(PACKAGE / "leaderboard")
    assert not {m for m in harness if m.startswith("chaosbench.leaderboard")}
    assert not {m for m in board if m.startswith("chaosbench.harness")}
    records = _imports(PACKAGE / "records")
    assert not {m for m in records if m.startswith(("chaosbench.harness", "chaosbench.leaderboard", "chaosbench.studies"))}
