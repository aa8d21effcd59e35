"""Checkpoints of record: a run saves its latent members at the top rung beside the records'
layout; re-scoring one gives its record's numbers exactly; altered checkpoints and records of
other settings are refused or reported; the best entries per dataset are the ones copied."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from chaosbench.cli import main
from chaosbench.errors import ChaosbenchError, IntegrityError
from chaosbench.harness import suites
from chaosbench.harness.checkpoints import checkpoint_path, rescore
from chaosbench.harness.runner import RunContext, run_suite
from chaosbench.leaderboard.checkpoints import chosen_keys
from chaosbench.models import checkpoint
from chaosbench.records import RecordKey, RecordStore

SUITE: dict[str, Any] = {
    "name": "ckpt",
    "budget": [3, 6],
    "seeds": [0, 1],
    "datasets": ["lorenz63"],
    "models": [{"name": "shplrnn", "params": {"hidden_dim": 8}}, {"name": "rnn", "params": {"hidden_dim": 8}},
               {"name": "esn", "params": {"n_units": 50}}],
    "regimes": ["bptt", "stf"],
    "training": {"batch_size": 4, "seq_len": 20},
    "evaluation": {"n_test": 600, "transient": 50, "lyapunov_inits": 2, "lyapunov_steps": 50},
    "unit_timeout": 0,
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``results/`` and ``checkpoints/`` of the suite, made once for the module."""
    root = tmp_path_factory.mktemp("ckpt")
    context = RunContext("ckpt", checkpoints=str(root / "checkpoints"))
    run_suite(suites.parse(SUITE), root / "results", context=context, progress=False, report=lambda line: None)
    return root


def test_members_are_saved_at_the_top_rung_only_and_name_their_records(run: Path) -> None:
    saved = sorted(p.relative_to(run / "checkpoints").as_posix() for p in (run / "checkpoints").rglob("*.json"))
    expected = sorted(f"lorenz63/{m}/{r}/b6/seed{s}.json" for m in ("shplrnn", "rnn") for r in ("bptt", "stf")
                      for s in (0, 1))  # fmt: skip
    assert saved == expected  # no lower rung, no evaluable model
    about = checkpoint.describe(run / "checkpoints" / expected[0])["record"]
    record = RecordStore(run / "results").read(run / "results" / expected[0])
    assert RecordKey(**about["key"]) == record.key
    assert about["config_sha256"] == record.config["config_sha256"]


def test_rescoring_gives_the_records_numbers_exactly(run: Path) -> None:
    key = RecordKey("lorenz63", "shplrnn", "stf", 1, budget=6)
    result = rescore(checkpoint_path(run / "checkpoints", key), run / "results")
    assert result.record.key == key
    assert result.status == result.record.status
    assert result.metrics == result.record.metrics  # same machine: bit for bit
    assert result.differences() == []


def test_cli_reports_same_numbers_and_differences(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = run / "checkpoints" / "lorenz63" / "rnn" / "bptt" / "b6"
    assert main(["evaluate", "--checkpoint", str(folder), "--results", str(run / "results")]) == 0
    out = capsys.readouterr().out
    assert out.count("the same numbers as its record") == 2
    # another model saved under the same record: a valid checkpoint whose numbers differ
    copy = tmp_path / "ck"
    shutil.copytree(run / "checkpoints", copy)
    path = copy / "lorenz63" / "rnn" / "bptt" / "b6" / "seed0"
    about = checkpoint.describe(path)["record"]
    model = checkpoint.load(path)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)
    checkpoint.save(model, path, record=about)
    assert main(["evaluate", "--checkpoint", str(path) + ".json", "--results", str(run / "results")]) == 1
    out = capsys.readouterr().out
    assert "seed0: differs from its record" in out and "d_h: record" in out


def test_altered_or_mismatched_checkpoints_are_refused(run: Path, tmp_path: Path) -> None:
    shutil.copytree(run / "checkpoints", tmp_path / "ck")
    path = tmp_path / "ck" / "lorenz63" / "shplrnn" / "bptt" / "b6" / "seed0"
    tensors = path.with_name("seed0.safetensors")
    data = bytearray(tensors.read_bytes())
    data[-1] ^= 0xFF
    tensors.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match"):
        rescore(path, run / "results")
    other = path.with_name("seed1")
    meta = json.loads(other.with_suffix(".json").read_text())
    meta["record"]["config_sha256"] = "0" * 64
    other.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ChaosbenchError, match="other settings than its record"):
        rescore(other, run / "results")
    with pytest.raises(ChaosbenchError, match="does not exist"):
        rescore(path.with_name("seed1"), tmp_path / "no-results")
    assert main(["evaluate", "--checkpoint", str(tmp_path / "nothing")]) == 2


def test_the_best_entries_per_dataset_are_copied(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    records = list(RecordStore(run / "results").iter_records())
    keys = chosen_keys(records, best=1)
    top = [r for r in records if r.key.budget == 6 and r.key.model != "esn"]
    by_entry: dict[tuple[str, str], list[float]] = {}
    for r in top:
        by_entry.setdefault((r.key.model, r.key.regime), []).append(r.metrics["d_stsp"] or float("inf"))
    best = min(by_entry, key=lambda entry: sorted(by_entry[entry])[0] / 2 + sorted(by_entry[entry])[1] / 2)
    assert {(k.model, k.regime) for k in keys} == {best} and [k.seed for k in keys] == [0, 1]
    assert main(["checkpoints", "--from", str(run / "checkpoints"), "--results", str(run / "results"),
                 "--to", str(tmp_path / "best"), "--best", "1"]) == 0  # fmt: skip
    assert len(list((tmp_path / "best").rglob("*.safetensors"))) == 2
    assert "2 checkpoint(s) of 2 copied" in capsys.readouterr().out
    assert main(["checkpoints", "--from", str(tmp_path / "empty"), "--results", str(run / "results"),
                 "--to", str(tmp_path / "none"), "--best", "1"]) == 1  # fmt: skip
