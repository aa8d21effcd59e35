"""Mistakes in a suite or on the command line fail before the first unit trains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chaosbench.cli import main
from chaosbench.harness import runner

SUITE = {
    "budget": 2,
    "seeds": [0],
    "datasets": ["lorenz63"],
    "models": [{"name": "shplrnn", "params": {"hidden_dim": 4}}, "esn"],
    "regimes": ["bptt"],
    "training": {"batch_size": 2, "seq_len": 10},
    "evaluation": {"n_test": 500, "transient": 50, "lyapunov_inits": 1, "lyapunov_steps": 10},
}


@pytest.fixture()
def no_compute(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any) -> list[str]:
        raise AssertionError("a unit ran although the suite is wrong")

    monkeypatch.setattr(runner, "execute_unit", fail)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"models": [{"name": "shplrnn", "params": {"hidden_dimm": 4}}]}, "model 'shplrnn' cannot be built for dataset 'lorenz63' (3 components): model 'shplrnn':"),
        ({"models": [{"name": "esn", "params": {"n_units": -5}}]}, "model 'esn' cannot be built"),
        ({"evaluation": {"n_test": 500, "transient": 100000000}}, "transient 100000000 is longer than the scored test series (500 steps)"),
        ({"evaluation": {"n_test": 500, "transient": 10, "n_gen": 10**7}}, "n_gen 10000000 exceeds transient + 10 x n_test = 5010"),
        ({"evaluation": {"n_test": 10**7}}, "n_test 10000000 exceeds the test split's"),
        ({"training": {"seq_len": 10**6}}, "seq_len 1000000 needs at least 1000001 training steps"),
    ],
)
def test_bad_suites_fail_before_any_unit(tmp_path: Path, capsys: pytest.CaptureFixture[str], no_compute: None,
                                         changes: dict[str, Any], message: str) -> None:  # fmt: skip
    suite = tmp_path / "suite.yaml"
    suite.write_text(json.dumps({**SUITE, **changes}))
    assert main(["run", "--suite", str(suite), "--results", str(tmp_path / "r"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not list((tmp_path / "r").rglob("*.json"))


def test_results_path_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], no_compute: None) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(json.dumps(SUITE))
    (tmp_path / "file").write_text("not a folder")
    assert main(["run", "--suite", str(suite), "--results", str(tmp_path / "file"), "--no-progress"]) == 2
    assert f"results path {tmp_path / 'file'} is a file, not a folder" in capsys.readouterr().err
