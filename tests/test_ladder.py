"""Budget ladder: one training run per unit to the top rung, a record per seed and rung, scored
from snapshots; rung keys and layout beside the single-budget ones; resumption, validation and
the leaderboard per rung."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from torch import nn

from chaosbench.cli import main
from chaosbench.errors import ChaosbenchError
from chaosbench.harness import suites
from chaosbench.harness.runner import _load, plan, run_suite, score, train_unit
from chaosbench.leaderboard import render
from chaosbench.leaderboard.aggregate import aggregate, learning_curves, top_rungs
from chaosbench.records import RecordKey, RecordStore, RunRecord, canonical_json
from chaosbench.records.validate import validate

SUITE: dict[str, Any] = {
    "name": "ladder",
    "budget": [2, 4],
    "seeds": [0, 1],
    "datasets": ["lorenz63"],
    "models": [{"name": "shplrnn", "params": {"hidden_dim": 8}}, {"name": "esn", "params": {"n_units": 50}}],
    "regimes": ["gtf"],
    "training": {"batch_size": 4, "seq_len": 20, "lr_decay": 0.01},  # a steep decay: the schedule shows
    "evaluation": {"n_test": 600, "transient": 50, "lyapunov_inits": 2, "lyapunov_steps": 50},
    "unit_timeout": 0,  # no limit: units run in this process (workers and faults: tests/test_faults.py)
}


def suite(**changes: Any) -> suites.Suite:
    return suites.parse({**SUITE, **changes})


def write_suite(folder: Path, **changes: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "suite.yaml"
    path.write_text(json.dumps({**SUITE, **changes}))
    return path


def key(seed: int, budget: int | None = None, model: str = "shplrnn", regime: str = "gtf") -> RecordKey:
    return RecordKey("lorenz63", model, regime, seed, budget=budget)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ladder suite's records (trained once for the module; tests copy before changing)."""
    root = tmp_path_factory.mktemp("ladder") / "results"
    run_suite(suite(), root, progress=False, report=lambda line: None)
    return root


# ---------------------------------------------------------------- suite and keys (no training)


def test_a_budget_list_is_a_ladder_and_an_integer_keeps_one_budget() -> None:
    ladder, single = suite(), suite(budget=4)
    assert (ladder.budget, ladder.rungs, single.budget, single.rungs) == (4, (2, 4), 4, ())
    latent, evaluable = ladder.units()
    assert latent.record_keys() == [key(0, 2), key(0, 4), key(1, 2), key(1, 4)]
    assert evaluable.record_keys() == [key(0, model="esn", regime="none"), key(1, model="esn", regime="none")]
    rung = latent.settings(2)
    assert (rung["budget"], rung["top_rung"]) == (2, 4)
    assert latent.settings_sha256(2) != latent.settings_sha256(4)
    (one, esn_single) = single.units()
    assert "top_rung" not in one.settings() and one.settings()["budget"] == 4
    # evaluable models ignore the budget: the same settings (and records) as a suite whose budget is the top rung
    assert evaluable.settings_sha256() == esn_single.settings_sha256()
    with pytest.raises(ChaosbenchError, match="no rung 3"):
        latent.settings(3)
    with pytest.raises(ChaosbenchError, match="no rung 2"):
        one.settings(2)


@pytest.mark.parametrize("bad", [[4, 2], [2, 2], [], [0, 4], [2, "4"]])
def test_a_bad_ladder_is_a_one_line_error(bad: Any) -> None:
    with pytest.raises(ChaosbenchError) as err:
        suite(budget=bad)
    assert "budget" in str(err.value) and "\n" not in str(err.value)


def test_rung_keys_have_their_own_folder_and_single_budget_keys_keep_theirs() -> None:
    assert str(key(3, 1000).relpath) == "lorenz63/shplrnn/gtf/b1000/seed3.json"
    assert str(key(3).relpath) == "lorenz63/shplrnn/gtf/seed3.json"
    assert str(key(3, 1000)) == "lorenz63/shplrnn/gtf/b1000/seed3"
    assert key(3).as_dict() == {"dataset": "lorenz63", "model": "shplrnn", "regime": "gtf", "seed": 3}
    assert key(3, 8).as_dict()["budget"] == 8
    assert sorted([key(1, 4), key(0), key(0, 2), key(1, 2)]) == [key(0), key(0, 2), key(1, 2), key(1, 4)]
    for bad in (0, -1, True, 2.0):
        with pytest.raises(ChaosbenchError, match="invalid budget"):
            key(0, bad)  # type: ignore[arg-type]


def test_a_rung_record_round_trips_and_its_budget_must_match_its_key(results: Path) -> None:
    store = RecordStore(results)
    record = store.read(store.path_for(key(0, 2)))
    text = record.to_json()
    assert json.loads(text)["key"]["budget"] == 2 and RunRecord.from_json(text) == record
    assert record.budget["updates"] == 2 and record.config["budget"] == 2
    with pytest.raises(ChaosbenchError, match="differs from the key's budget 4"):
        dataclasses.replace(record, key=key(0, 4))
    data = json.loads(text)
    data["key"]["budget"] = None
    del data["record_sha256"]
    data["record_sha256"] = hashlib.sha256(canonical_json(data).encode()).hexdigest()
    with pytest.raises(ChaosbenchError, match="key budget must be an integer"):
        RunRecord.from_json(json.dumps(data))


# ---------------------------------------------------------------- one run, every rung


def test_one_run_gives_a_record_per_seed_and_rung_and_one_per_seed_for_evaluable_models(results: Path) -> None:
    files = sorted(str(p.relative_to(results)) for p in results.rglob("*.json"))
    assert files == [
        "lorenz63/esn/none/seed0.json", "lorenz63/esn/none/seed1.json",
        "lorenz63/shplrnn/gtf/b2/seed0.json", "lorenz63/shplrnn/gtf/b2/seed1.json",
        "lorenz63/shplrnn/gtf/b4/seed0.json", "lorenz63/shplrnn/gtf/b4/seed1.json",
    ]  # fmt: skip
    store = RecordStore(results)
    low, top = (store.read(store.path_for(key(0, b))) for b in (2, 4))
    assert (low.config["resolved"]["budget"], low.config["resolved"]["top_rung"]) == (2, 4)
    assert (top.config["resolved"]["budget"], top.config["resolved"]["top_rung"]) == (4, 4)
    assert low.budget == {"updates": 2, "used": 2} and top.budget == {"updates": 4, "used": 4}
    assert low.metrics != top.metrics  # two updates apart: another model
    esn = store.read(store.path_for(key(0, model="esn", regime="none")))
    assert esn.budget["updates"] == 4 and "top_rung" not in esn.config["resolved"]


class Capture:
    """Keeps each member's copy at the updates ``at``."""

    every = 1

    def __init__(self, at: set[int]) -> None:
        self.at = at
        self.models: list[nn.Module] = []

    def __call__(self, update: int, model: nn.Module) -> None:
        self.models.append(model)


def test_a_rung_record_is_the_snapshot_of_the_top_run_not_a_short_run(results: Path) -> None:
    """The rung-2 records of the ladder [2, 4] equal scoring copies taken at update 2 of a
    4-update run; a 2-update run (its learning rate decays over 2 updates) scores otherwise."""
    store = RecordStore(results)
    ladder = [store.read(store.path_for(key(s, 2))) for s in (0, 1)]
    long_unit, short_unit = suite(budget=4).units()[0], suite(budget=2).units()[0]
    dataset, ref = _load(long_unit.dataset, None, None)
    capture = Capture({2})
    long_run = train_unit(long_unit, dataset, ref, "cpu", callbacks=[capture])
    snapshots = [dataclasses.replace(run, model=model) for run, model in zip(long_run, capture.models, strict=True)]
    from_snapshots = score(long_unit, snapshots, dataset, ref, "ladder")
    short = score(short_unit, train_unit(short_unit, dataset, ref, "cpu"), dataset, ref, "ladder")
    for rung, snap, run in zip(ladder, from_snapshots, short, strict=True):
        assert rung.metrics == snap.metrics and rung.artifacts == snap.artifacts
        assert rung.metrics != run.metrics


def test_the_top_rung_is_the_run_of_that_single_budget(results: Path) -> None:
    """The top rung of [2, 4] is a 4-update run in all but its settings' ``top_rung``: the same
    numbers as the single budget 4 (so a study at that budget may take these records)."""
    store = RecordStore(results)
    top = [store.read(store.path_for(key(s, 4))) for s in (0, 1)]
    ladder_unit, single_unit = suite().units()[0], suite(budget=4).units()[0]
    assert ladder_unit.settings(4) == {**single_unit.settings(), "top_rung": 4}
    dataset, ref = _load(single_unit.dataset, None, None)
    single = score(single_unit, train_unit(single_unit, dataset, ref, "cpu"), dataset, ref, "ladder")
    for rung, run in zip(top, single, strict=True):
        assert rung.metrics == run.metrics and rung.metrics_runs == run.metrics_runs


# ---------------------------------------------------------------- resumption and validation


def test_validate_expects_every_rung_and_a_missing_rung_reruns_its_seed(
    results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "results"
    shutil.copytree(results, root)
    suite_file = write_suite(tmp_path)
    assert main(["validate", str(root), "--suite", str(suite_file)]) == 0
    store = RecordStore(root)
    kept = store.path_for(key(1, 4)).read_text()
    store.path_for(key(1, 2)).unlink()
    assert main(["validate", str(root), "--suite", str(suite_file)]) == 1
    assert "missing record of lorenz63/shplrnn/gtf/b2/seed1" in capsys.readouterr().out
    units, skipped, problems = plan(suites.load(suite_file), store)
    assert [(str(u), u.seeds) for u in units] == [("lorenz63/shplrnn/gtf", (1,))] and skipped == 4
    summary = run_suite(suites.load(suite_file), root, progress=False, report=lambda line: None)
    assert (summary.computed, summary.skipped) == (2, 4)  # both rungs of seed 1, trained together
    assert store.path_for(key(1, 4)).read_text() != kept  # rewritten (its creation time at least)
    assert main(["validate", str(root), "--suite", str(suite_file)]) == 0


def test_records_of_other_rungs_or_of_one_budget_are_extra(results: Path, tmp_path: Path) -> None:
    store = RecordStore(results)
    shorter = suite(budget=[4]).expectations()
    messages = {str(p.path.relative_to(results)): p.message for p in validate(results, expected=shorter)}
    assert messages["lorenz63/shplrnn/gtf/b2/seed0.json"] == (
        "budget 2 is not one of the suite's rungs [4] (an extra record)"
    )
    # a rung's settings name its budget and the top rung, not the other rungs: [4] keeps the b4 records
    assert "lorenz63/shplrnn/gtf/b4/seed0.json" not in messages
    problems = validate(results, expected=suite(budget=4).expectations())
    single = {str(p.path.relative_to(results)): p.message for p in problems}
    assert single["lorenz63/shplrnn/gtf/b4/seed0.json"] == (
        "a rung (budget 4) but the suite has one budget (an extra record)"
    )
    assert single["lorenz63/shplrnn/gtf/seed0.json"].startswith("missing record of lorenz63/shplrnn/gtf/seed0")
    assert not any(path.startswith("lorenz63/esn") for path in single)  # evaluable: shared records
    units, _, problems = plan(suite(budget=4), store)
    assert [u.seeds for u in units] == [(0, 1)] and len(problems) == 4


# ---------------------------------------------------------------- leaderboard


def test_the_table_headlines_the_top_rung_and_the_curves_keep_every_rung(results: Path) -> None:
    records = list(RecordStore(results).iter_records())
    table = aggregate(records)
    assert sorted(zip(table["model"], table["budget"], table["n_seeds"])) == [("esn", 4, 2), ("shplrnn", 4, 2)]
    assert sorted(table["rank"]) == [1, 2]
    store = RecordStore(results)
    tops = [store.read(store.path_for(key(s, 4))).metrics["d_stsp"] for s in (0, 1)]
    assert table[table["model"] == "shplrnn"]["d_stsp_median"].iloc[0] == pytest.approx(sum(tops) / 2)
    assert sorted(str(r.key) for r in top_rungs(records)) == [
        "lorenz63/esn/none/seed0", "lorenz63/esn/none/seed1",
        "lorenz63/shplrnn/gtf/b4/seed0", "lorenz63/shplrnn/gtf/b4/seed1",
    ]  # fmt: skip
    curves = learning_curves(records)
    assert list(zip(curves["model"], curves["budget"], curves["evaluable"])) == [
        ("esn", 4, True), ("shplrnn", 2, False), ("shplrnn", 4, False)
    ]
    low = curves[(curves["model"] == "shplrnn") & (curves["budget"] == 2)].iloc[0]
    values = [store.read(store.path_for(key(s, 2))).metrics["d_stsp"] for s in (0, 1)]
    assert low["d_stsp_median"] == pytest.approx(sum(values) / 2)
    text = "\n".join(render.curves_markdown(curves))
    esn = curves[curves["model"] == "esn"]["d_stsp_median"].iloc[0]
    assert "| Model | Regime | 2 | 4 |" in text
    assert f"| esn | none | {esn:.3g} | {esn:.3g} |" in text  # budget-free: its score at every rung
    assert render.curves_markdown(learning_curves(top_rungs(records))) == []  # no ladder, no section


def test_learning_curve_plot() -> None:
    pytest.importorskip("matplotlib")
    import pandas as pd

    from chaosbench.leaderboard import plots

    curves = pd.DataFrame({
        "model": ["esn", "gru", "gru", "gru"], "regime": ["none", "stf", "stf", "stf"],
        "budget": [4, 2, 4, 8], "evaluable": [True, False, False, False],
        "d_stsp_median": [5.0, 9.0, float("inf"), 1.0], "d_stsp_ci_low": [4.0, 8.0, 3.0, 0.5],
        "d_stsp_ci_high": [6.0, 10.0, float("inf"), 1.5],
    })  # fmt: skip
    png = plots.learning_curve(curves)
    assert png is not None and png.startswith(b"\x89PNG")
    assert plots.learning_curve(curves[curves["budget"] == 4]) is None  # one budget: no curve


def test_the_leaderboard_draws_each_ladders_learning_curve(results: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from chaosbench.leaderboard import html, write_leaderboard

    records = list(RecordStore(results).iter_records())
    paths = write_leaderboard(records, tmp_path, floors={"lorenz63": (0.07, 0.11)})
    figure = paths["learning_curve_lorenz63"]
    assert figure == tmp_path / "figures" / "learning_curve_lorenz63.png"
    assert figure.read_bytes().startswith(b"\x89PNG")
    assert html._figure(html.LEARNING_CURVE_CAPTION, figure.read_bytes()) in paths["html"].read_text()
    single = [r for r in records if r.key.budget in (None, 4)]  # the top rung alone: no curve
    assert not any(kind.startswith("learning_curve") for kind in write_leaderboard(single, tmp_path / "one"))
