"""Suites, the run command, evaluation protocol v3 and resumption, on a tiny suite."""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from chaosbench import data
from chaosbench.cli import main
from chaosbench.cli.tables import write_tables
from chaosbench.data.store import data_dir, sha256_file
from chaosbench.errors import ChaosbenchError, UnknownNameError
from chaosbench.harness import runner, suites
from chaosbench.harness.evaluate import (
    EVAL_PROTOCOL_VERSION,
    EvalSettings,
    Reference,
    artifacts,
    evaluate,
    series_lambda_max,
)
from chaosbench.harness.executors import LocalExecutor, make
from chaosbench.records import RecordKey, RecordStore
from chaosbench.harness.runner import RunContext, run_suite
from chaosbench.metrics import power_spectrum_distance, prediction_error, state_space_divergence, worst_values
from chaosbench.training import TAU_FRACTION, lyapunov_tau

TINY = {
    "name": "tiny",
    "budget": 3,
    "seeds": [0, 1],
    "datasets": ["lorenz63"],
    "models": [{"name": "shplrnn", "params": {"hidden_dim": 8}},
               {"name": "esn", "params": {"n_units": 40, "washout": 100, "max_train": 3000}}],
    "regimes": ["bptt", {"name": "stf", "tau": 5}],
    "training": {"batch_size": 4, "seq_len": 20, "lr": 1e-3},  # small steps: metrics stay smooth in the parameters
    "evaluation": {"n_test": 3000, "transient": 50, "lyapunov_inits": 2, "lyapunov_steps": 50},
    "unit_timeout": 0,  # no limit: units run in this process (workers and faults: tests/test_faults.py)
}  # fmt: skip


class NaNModel:
    """Evaluable model whose generation blows up after the first step."""

    def __init__(self, obs_dim: int) -> None:
        self.obs_dim = obs_dim

    def fit(self, train: Any, dt: float, budget: Any, seed: int) -> None:
        pass

    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        x0 = np.asarray(x0, dtype=float)
        out = np.full((n_steps, *x0.shape), np.nan)
        out[0] = x0
        return out


class ConstantModel(NaNModel):
    """Evaluable model that stays at its initial state (a fixed point)."""

    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        x0 = np.asarray(x0, dtype=float)
        return np.broadcast_to(x0, (n_steps, *x0.shape)).copy()


class RaisingModel(NaNModel):
    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        raise RuntimeError("boom\nsecond line")


class RaisingFit(NaNModel):
    def fit(self, train: Any, dt: float, budget: Any, seed: int) -> None:
        raise ValueError(f"no fit for seed {seed}")


def write_suite(tmp_path: Path, **changes: Any) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(json.dumps({**TINY, **changes}))  # JSON is YAML
    return path


def run(suite: suites.Suite, results: Path, **kwargs: Any) -> runner.RunSummary:
    return run_suite(suite, results, progress=False, report=kwargs.pop("report", lambda line: None), **kwargs)


@pytest.fixture(scope="module")
def lorenz() -> data.Dataset:
    return data.load("lorenz63")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[suites.Suite, Path, runner.RunSummary]:
    """The tiny suite run once into a fresh folder (shared: later tests copy it)."""
    tmp = tmp_path_factory.mktemp("finished")
    suite = suites.load(write_suite(tmp))
    summary = run(suite, tmp / "results")
    summary.tables = write_tables(tmp / "results", tmp)  # as `chaosbench run` does after the run
    return suite, tmp / "results", summary


# ---------------------------------------------------------------- suites


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"models": ["shplrn"]}, "unknown model 'shplrn'; did you mean 'shplrnn'"),
        ({"datasets": ["lorenz36"]}, "unknown dataset 'lorenz36'; did you mean 'lorenz96', 'lorenz63'"),
        ({"regimes": ["stff"]}, "unknown regime 'stff'; did you mean 'stf'"),
        ({"regimes": [{"name": "stf", "tua": 3}]}, "regime 'stf' has no parameter 'tua'"),
        ({"seeds": [0, -1]}, "'seeds' must be a count or a list of integers >= 0"),
        ({"seeds": [1, 1]}, "'seeds' must be distinct"),
        ({"seeds": True}, "'seeds' must be a count or a list"),
        ({"budget": 0}, "'budget' must be a positive integer"),
        ({"budgt": 5}, "unknown key 'budgt'; did you mean 'budget'"),
        ({"training": {"seq_len": -2}}, "seq_len must be a positive integer"),
        ({"training": {"momentum": 0.9}}, "unknown key 'momentum'"),
        ({"evaluation": {"transient": 10, "n_gen": 5}}, "n_gen must be an integer >= 12"),
        ({"regimes": ["bptt", "bptt"]}, "regime 'bptt' appears twice"),
        ({"regimes": [{"name": "bptt", "label": "none"}]}, "label 'none' is reserved"),
        ({"models": [{"name": "a/b", "model": "shplrnn"}]}, "invalid model name 'a/b'"),
        ({"models": ["no_such_module:Model"]}, "cannot import model 'no_such_module:Model'"),
    ],
)
def test_suite_errors_are_one_line(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ChaosbenchError) as info:
        suites.load(write_suite(tmp_path, **changes))
    text = str(info.value)
    assert message in text and "\n" not in text
    assert text.startswith(str(tmp_path / "suite.yaml"))


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("budget: 3\nseeds: [0, 1\nmodels: [esn]\n")
    with pytest.raises(ChaosbenchError, match=r"bad\.yaml: malformed YAML at line 3"):
        suites.load(path)
    with pytest.raises(UnknownNameError, match="unknown suite 'smok'; did you mean 'smoke'"):
        suites.load("smok")


def test_cli_errors_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write_suite(tmp_path, models=["gruu"])
    assert main(["run", "--suite", str(bad), "--no-progress"]) == 2
    assert main(["run", "--suite", "smoke", "--models", "lstm", "--no-progress"]) == 2
    assert main(["run", "--suite", "smoke", "--address", "auto", "--no-progress"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("chaosbench: error: ") for line in lines)
    assert "did you mean 'gru'" in lines[0]
    assert lines[1].startswith("chaosbench: error: suite 'smoke': unknown model 'lstm'")
    assert "--executor ray" in lines[2]
    with pytest.raises(SystemExit) as info:
        main(["run", "--executor", "slurm"])
    assert info.value.code == 2


def test_shipped_suites_expand_to_units() -> None:
    smoke = suites.load("smoke")
    units = smoke.units()
    assert [str(u) for u in units] == ["lorenz63/shplrnn/bptt", "lorenz63/shplrnn/stf", "lorenz63/esn/none"]
    assert len(smoke.record_keys()) == 3 * len(smoke.seeds)
    assert smoke.budget > 0 and set(suites.available()) >= {"smoke", "quick", "standard"}
    standard = suites.load("standard")
    assert {d.name for d in standard.datasets} == set(data.names())
    assert len(standard.seeds) >= 5
    only_esn = smoke.subset(regimes=["none"])
    assert [str(u) for u in only_esn.units()] == ["lorenz63/esn/none"]
    assert [str(u) for u in smoke.subset(models=["shplrnn"], regimes=["stf"]).units()] == ["lorenz63/shplrnn/stf"]


# ---------------------------------------------------------------- runs


def test_run_writes_records_and_tables(finished: tuple[suites.Suite, Path, runner.RunSummary]) -> None:
    suite, results, summary = finished
    assert summary.computed == 6 and summary.skipped == 0
    store = RecordStore(results)
    records = {r.key: r for r in store.iter_records()}
    assert set(records) == set(suite.record_keys())
    for key, record in records.items():
        assert record.status == "ok", (key, record.reason)
        assert record.config["eval_protocol"] == EVAL_PROTOCOL_VERSION and record.config["seed"] == key.seed
        assert record.config["evaluation"]["n_test"] == 3000
        assert record.budget["updates"] == 3
        assert np.asarray(record.artifacts["trajectory_sample"]).shape == (1500, 3)
        assert np.asarray(record.artifacts["power_spectrum"]).shape[0] == 3
    stf = records[RecordKey("lorenz63", "shplrnn", "stf", 1)]
    assert stf.config["regime"] == {"name": "stf", "tau": 5, "fraction": TAU_FRACTION, "tau_rule_version": None}
    assert stf.config["resolved"]["regime"] == {"name": "stf", "tau": 5, "fraction": TAU_FRACTION}
    assert stf.config["training"]["seq_len"] == 20 and stf.config["model"]["params"]["hidden_dim"] == 8
    assert stf.budget["used"] == 3
    esn = records[RecordKey("lorenz63", "esn", "none", 0)]
    assert esn.config["evaluation"]["lambda_gen_method"] == "jacobian" and esn.budget["used"] == 0
    assert 0.5 < esn.metrics["lambda_max_gen"] < 1.5  # the closed-loop reservoir's own exponent
    for record in records.values():  # 8 free runs each, the record's value their mean
        assert sorted(record.metrics_runs) == ["d_h", "d_stsp", "valid_time"]
        for name, values in record.metrics_runs.items():
            assert len(values) == 8 and record.metrics[name] == pytest.approx(np.mean(values), rel=1e-12)
    tables = {"LEADERBOARD.md", "leaderboard.csv", "leaderboard.tex", "index.html", "learning_curves.csv"}
    assert {p.name for p in summary.tables.values()} == tables
    assert "shplrnn" in (results.parent / "LEADERBOARD.md").read_text()


def test_seed_records_match_a_solo_run(finished: tuple[suites.Suite, Path, runner.RunSummary], tmp_path: Path) -> None:
    """A seed trained alone gets the record it gets inside the ensemble (resumption is exact)."""
    suite, results, _ = finished
    one_seed = dataclasses.replace(suite.subset(models=["shplrnn"], regimes=["bptt"]), seeds=(1,))
    assert run(one_seed, tmp_path / "solo").computed == 1
    key = RecordKey("lorenz63", "shplrnn", "bptt", 1)
    ensemble, alone = (RecordStore(root).read(RecordStore(root).path_for(key)) for root in (results, tmp_path / "solo"))
    for metric in ("d_stsp", "d_h", "pe20"):
        assert alone.metrics[metric] == pytest.approx(ensemble.metrics[metric], rel=1e-4, abs=1e-6)


def test_rerun_skips_everything(finished: tuple[suites.Suite, Path, runner.RunSummary],
                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    suite, results, _ = finished

    def no_training(*args: Any) -> list[str]:
        raise AssertionError("a finished record was recomputed")

    monkeypatch.setattr(runner, "execute_unit", no_training)
    summary = run(suite, results)
    assert summary.computed == 0 and summary.skipped == 6 and summary.tables == {}


def test_smoke_suite_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The shipped smoke suite as a user runs it: records, tables, complete and valid."""
    results = tmp_path / "results"
    assert main(["run", "--suite", "smoke", "--results", str(results), "--no-progress"]) == 0
    assert main(["validate", str(results), "--suite", "smoke"]) == 0
    assert "complete for suite smoke" in capsys.readouterr().out
    records = list(RecordStore(results).iter_records())
    assert len(records) == len(suites.load("smoke").record_keys())
    assert all(r.status in ("ok", "diverged") for r in records), [(r.key, r.reason) for r in records]
    assert (tmp_path / "LEADERBOARD.md").is_file() and (tmp_path / "index.html").is_file()


def test_validate_against_the_suite_checks_completeness_and_dataset_hashes(
    finished: tuple[suites.Suite, Path, runner.RunSummary], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:  # fmt: skip
    _, results, _ = finished
    suite_file = str(results.parent / "suite.yaml")
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    assert main(["validate", str(copy), "--suite", suite_file]) == 0
    assert f"all records valid, complete for suite {suite_file}" in capsys.readouterr().out
    missing = copy / "lorenz63" / "esn" / "none" / "seed1.json"
    missing.unlink()
    assert main(["validate", str(copy), "--suite", suite_file]) == 1
    assert f"{missing}: missing record of" in capsys.readouterr().out
    # a suite whose dataset has other arrays than the records were made from
    other = tmp_path / "data"
    shutil.copytree(data_dir(), other)
    manifest = (other / "MANIFEST").read_text().replace(data.load("lorenz63").sha256, "0" * 64)
    (other / "MANIFEST").write_text(manifest)
    assert main(["validate", str(copy), "--suite", suite_file, "--data-dir", str(other)]) == 1
    assert "differs from the manifest's 000000000000..." in capsys.readouterr().out


def test_corrupt_record_is_reported_and_recomputed(finished: tuple[suites.Suite, Path, runner.RunSummary],
                                                   tmp_path: Path) -> None:  # fmt: skip
    import shutil

    suite, results, _ = finished
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    store = RecordStore(copy)
    victim = store.path_for(RecordKey("lorenz63", "shplrnn", "stf", 0))
    before = store.read(victim)
    victim.write_text(victim.read_text().replace('"ok"', '"diverged"', 1))
    lines: list[str] = []
    summary = run(suite, copy, report=lines.append)
    assert summary.computed == 1 and summary.skipped == 5 and summary.recomputed == [victim]
    assert len(lines) == 1 and str(victim) in lines[0] and "recomputing" in lines[0]
    after = store.read(victim)
    assert after.status == "ok" and after.metrics["d_stsp"] == pytest.approx(before.metrics["d_stsp"], rel=1e-6)


def test_interrupted_run_keeps_finished_units_and_resumes(tmp_path: Path) -> None:
    suite = suites.load(write_suite(tmp_path)).subset(models=["shplrnn"])

    class InterruptAfterFirst(LocalExecutor):
        def map(self, fn: Any, units: Any, context: Any, *limit: Any) -> Any:
            for i, item in enumerate(super().map(fn, units, context, *limit)):
                if i == 1:
                    raise KeyboardInterrupt
                yield item

    with pytest.raises(KeyboardInterrupt):
        run(suite, tmp_path / "results", executor=InterruptAfterFirst())
    store = RecordStore(tmp_path / "results")
    first = {r.key for r in store.iter_records()}
    assert first == set(suite.units()[0].record_keys())
    assert not list((tmp_path / "results").rglob(".*.tmp"))
    summary = run(suite, tmp_path / "results")
    assert summary.skipped == 2 and summary.computed == 2
    assert {r.key for r in store.iter_records()} == set(suite.record_keys())


def test_model_code_failures_are_recorded(tmp_path: Path) -> None:
    models = [{"name": "nan", "model": f"{__name__}:NaNModel"},
              {"name": "constant", "model": f"{__name__}:ConstantModel"},
              {"name": "raises", "model": f"{__name__}:RaisingModel"},
              {"name": "fitraises", "model": f"{__name__}:RaisingFit"}]  # fmt: skip
    suite = suites.load(write_suite(tmp_path, models=models, seeds=[3]))
    summary = run(suite, tmp_path / "results")
    assert summary.statuses == {"diverged": 2, "failed": 2}
    store = RecordStore(tmp_path / "results")
    got = {r.key.model: r for r in store.iter_records()}
    assert got["raises"].reason == "generate: RuntimeError: boom"
    assert got["fitraises"].reason == "fit: ValueError: no fit for seed 3"
    nan = got["nan"]
    assert nan.status == "diverged" and nan.reason == "8 of 8 free runs diverged (run 0 from step 1)"
    assert nan.metrics["valid_time"] == 0.0  # its first forecast step is already NaN
    assert nan.metrics["lambda_max_gen"] is None and nan.metrics["lambda_max_error"] == 10.0
    assert nan.metrics["spectrum_sign_agreement"] == 0.0
    constant = got["constant"]
    assert constant.status == "diverged" and constant.metrics["d_h"] == 1.0
    assert constant.reason == "not finite: lambda_max_gen (from_timeseries: a column of the series is constant)"
    assert constant.metrics["lambda_max_error"] == 10.0 and constant.metrics["valid_time"] == 0.0  # worst
    assert min(constant.metrics_runs["valid_time"]) > 0  # what its runs scored stays on record


def test_stale_records_are_reported_and_recomputed(finished: tuple[suites.Suite, Path, runner.RunSummary],
                                                  tmp_path: Path, capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    """A record of the previous protocol (no config hash) is intact but no longer counts."""
    suite, results, _ = finished
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    store = RecordStore(copy)
    old = store.path_for(RecordKey("lorenz63", "shplrnn", "stf", 0))
    config = {k: v for k, v in store.read(old).config.items() if k not in ("resolved", "config_sha256")}
    store.write(dataclasses.replace(store.read(old), config={**config, "eval_protocol": "2"}))
    suite_file = str(results.parent / "suite.yaml")
    assert main(["validate", str(copy)]) == 1  # another protocol is stale whatever the suite
    assert f"{old}: stale: made under evaluation protocol '2', the current one is '{EVAL_PROTOCOL_VERSION}'" in (
        capsys.readouterr().out
    )
    lines: list[str] = []
    summary = run(suite, copy, report=lines.append)
    assert summary.computed == 1 and summary.skipped == 5
    assert len(lines) == 1 and "made under evaluation protocol '2'" in lines[0] and "recomputing" in lines[0]
    assert store.read(old).config["eval_protocol"] == EVAL_PROTOCOL_VERSION
    assert main(["validate", str(copy), "--suite", suite_file]) == 0


class ReplayModel(NaNModel):
    """Replays a true series from wherever its start lies in it (a perfect forecaster);
    ``misread`` is added to row 0, the model's reading of the initial observation."""

    def __init__(self, series: np.ndarray, misread: float = 0.0, broken_run: int | None = None) -> None:
        super().__init__(series.shape[1])
        self.series, self.misread, self.broken_run = series.astype(float), misread, broken_run
        self.index = {row.tobytes(): i for i, row in reversed(list(enumerate(self.series)))}
        self.starts: list[np.ndarray] = []

    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        batch = np.atleast_2d(np.asarray(x0, dtype=float))
        self.starts.append(batch)
        out = np.stack([self.series[self.index[row.tobytes()] :][:n_steps] for row in batch], axis=1)
        out[0] += self.misread
        if self.broken_run is not None and len(batch) > self.broken_run and n_steps > 50:
            out[50:, self.broken_run] = np.nan  # one free run blows up; PE's short runs do not
        return out if np.ndim(x0) == 2 else out[:, 0]


LORENZ_REF = Reference(0.9056, (0.9056, 0.0, -14.5723), "card")
SHORT = EvalSettings(n_test=300, transient=20, lyapunov_inits=1, lyapunov_steps=10)


def test_free_runs_start_from_states_spread_over_the_test_series(lorenz: data.Dataset) -> None:
    assert SHORT.run_starts(300).tolist() == [0, 37, 75, 112, 150, 187, 225, 262]
    assert EvalSettings(runs=8).run_starts(21).tolist() == [0, 3, 6, 9, 12, 15, 18]  # K <= n_test // 3
    assert EvalSettings(runs=1).run_starts(10**5).tolist() == [0]
    with pytest.raises(ChaosbenchError, match="runs must be an integer >= 1"):
        EvalSettings(runs=0)
    model = ReplayModel(lorenz.test)
    out = evaluate(model, lorenz, SHORT, LORENZ_REF)
    test = lorenz.test[:300].astype(float)
    assert np.array_equal(model.starts[0], test[SHORT.run_starts(300)])  # one batch of 8 runs
    # each run forecasts the test series exactly from its own start: valid throughout
    expected = [(299 - start) * lorenz.dt * 0.9056 for start in SHORT.run_starts(300)]
    assert out.runs["valid_time"] == pytest.approx(expected, rel=1e-12)
    assert out.metrics["valid_time"] == pytest.approx(np.mean(expected), rel=1e-12)
    assert out.runs["d_stsp"][0] == state_space_divergence(test, lorenz.test[20:320])
    assert out.metrics["d_h"] == pytest.approx(np.mean(out.runs["d_h"]), rel=1e-12)


def test_valid_time_counts_forecast_steps_only(lorenz: data.Dataset) -> None:
    """Protocol v2 on: row 0, the model's reading of x0, is not part of the forecast."""
    out = evaluate(ReplayModel(lorenz.test, misread=10.0), lorenz, SHORT, LORENZ_REF)
    assert out.runs["valid_time"][0] == pytest.approx(299 * lorenz.dt * 0.9056)


def _assert_worst(out: Any, test: np.ndarray, n_after: int, train: np.ndarray) -> None:
    worst = worst_values(test, n_after, standardise=(train.mean(axis=0), train.std(axis=0)))
    assert out.status == "diverged"
    assert {k: v for k, v in out.metrics.items() if k != "lambda_max_gen"} == worst
    assert out.metrics["lambda_max_gen"] is None


def test_diverged_generation_scores_the_worst_values(lorenz: data.Dataset) -> None:
    out = evaluate(NaNModel(3), lorenz, SHORT, LORENZ_REF)
    test = lorenz.test[:300].astype(float)
    nan = np.full((300, 3), np.nan)
    _assert_worst(out, test, 300, lorenz.train.astype(float))
    assert out.metrics["d_stsp"] == state_space_divergence(test, nan)
    assert out.metrics["d_h"] == power_spectrum_distance(test, nan) == 1.0
    assert out.metrics["pe20"] == prediction_error(lambda x0, n: np.full_like(x0, np.nan), test)
    assert "power_spectrum" not in out.artifacts and np.isnan(out.artifacts["trajectory_sample"]).all()


def test_one_diverged_run_gives_every_metric_its_worst_value(lorenz: data.Dataset) -> None:
    """Each metric of a diverged record is its worst, however well the other runs and PE did."""
    out = evaluate(ReplayModel(lorenz.test, broken_run=3), lorenz, SHORT, LORENZ_REF)
    assert out.reason == "1 of 8 free runs diverged (run 3 from step 50)"
    _assert_worst(out, lorenz.test[:300].astype(float), 300, lorenz.train.astype(float))
    assert out.runs["d_stsp"][3] > 10.0 > out.runs["d_stsp"][2]  # each run's own score is kept
    assert out.runs["d_h"][3] == 1.0 and out.runs["valid_time"][3] == pytest.approx(49 * lorenz.dt * 0.9056)


def test_training_divergence_gives_every_metric_its_worst_value(lorenz: data.Dataset) -> None:
    out = evaluate(ReplayModel(lorenz.test), lorenz, SHORT, LORENZ_REF, training_failure="training diverged at update 7")
    assert out.reason == "training diverged at update 7"
    _assert_worst(out, lorenz.test[:300].astype(float), 300, lorenz.train.astype(float))
    assert out.runs["d_h"][0] < 0.1  # the model itself forecasts perfectly


def test_bias_matched_lambda_error_of_the_test_series_against_itself_is_zero(lorenz: data.Dataset) -> None:
    """A model without Jacobians: the estimator on run 0 and on the test series, compared."""
    settings = EvalSettings(n_test=2000, transient=0, lyapunov_inits=1, lyapunov_steps=10)
    out = evaluate(ReplayModel(lorenz.test), lorenz, settings, LORENZ_REF)  # run 0 is the test series
    assert out.status == "ok" and out.info["lambda_gen_method"] == "timeseries"
    estimate = out.info["lambda_max_test_estimate"]
    assert estimate == series_lambda_max(lorenz.test[:2000], lorenz.dt) == out.metrics["lambda_max_gen"]
    assert abs(estimate - 0.9056) > 0.01  # the estimator's bias, which v2 counted as model error
    assert out.metrics["lambda_max_error"] == 0.0 and out.metrics["spectrum_sign_agreement"] == 1.0


def test_artifacts_are_small_and_normalised() -> None:
    t = np.arange(10_000) * 0.05
    x = np.stack([np.sin(t), np.cos(3 * t), np.sin(t) * np.cos(t), t % 1.0], axis=1)
    art = artifacts(x)
    assert art["trajectory_sample"].shape == (2000, 3)
    assert np.array_equal(art["trajectory_sample"][1], x[5, :3])
    spec = art["power_spectrum"]
    assert spec.shape == (3, 512) and np.allclose(spec.sum(axis=1), 1.0)
    # sin(t) sampled every 0.05: its frequency is 0.05 / pi of Nyquist, so band 8 of 512 holds it
    assert int(np.argmax(spec[0])) == int(0.05 / math.pi * 512)


def test_local_pool_returns_every_unit() -> None:
    # a standard-library function keeps the spawned workers' imports light
    got = sorted(LocalExecutor(workers=2).map(operator.mul, ["a", "b", "c"], 2))
    assert got == [("a", "aa"), ("b", "bb"), ("c", "cc")]
    with pytest.raises(ChaosbenchError, match="workers must be a positive integer"):
        make("local", workers=0)


def test_run_context_reaches_the_records(tmp_path: Path) -> None:
    suite = suites.load(write_suite(tmp_path, seeds=[0])).subset(models=["shplrnn"], regimes=["bptt"])
    summary = run(suite, tmp_path / "r", context=RunContext("renamed", device="cpu"))
    (record,) = RecordStore(tmp_path / "r").iter_records()
    assert summary.computed == 1 and record.config["suite"] == "renamed" and record.device == "cpu"


def test_submit_checks_the_model_then_writes_records_and_card(tmp_path: Path) -> None:
    from chaosbench.harness.submit import CARD_FILE, submit

    suite = write_suite(tmp_path, seeds=[0], regimes=["bptt"], models=["esn"])
    with pytest.raises(ChaosbenchError, match="'shplrnn' names a registered model or a dataset"):
        submit("chaosbench.models.plrnn:ShPLRNN", "shplrnn", suite=str(suite), results=tmp_path / "r")
    with pytest.raises(ChaosbenchError, match="does not meet the model contract"):
        submit(f"{__name__}:NaNModel", "mine", suite=str(suite), results=tmp_path / "mine" / "results", progress=False)
    assert not (tmp_path / "mine").exists()  # nothing is computed for a model that fails the check
    with pytest.raises(ChaosbenchError, match="is the leaderboard of record"):
        submit("chaosbench.models.plrnn:ShPLRNN", "my_plrnn", suite=str(suite),
               results=Path("leaderboard") / "results" / "my_plrnn")  # fmt: skip

    said: list[str] = []
    results = tmp_path / "my_plrnn" / "results"
    summary = submit("chaosbench.models.plrnn:ShPLRNN", "my_plrnn", params={"hidden_dim": 8}, suite=str(suite),
                     results=results, code_url="https://example.org/code", progress=False,
                     report=said.append)  # fmt: skip
    assert summary.computed == 1 and summary.statuses == {"ok": 1}
    forecast, standard = said  # a suite other than standard: the standard suite's cost too
    assert forecast.startswith("cost forecast for suite tiny (timed on lorenz63") and "1 unit(s)" in forecast
    record_suite = suites.load("standard")
    n_units = len(record_suite.datasets) * len(record_suite.regimes)
    assert standard.startswith("to rank against the leaderboard of record: cost forecast for suite standard "
                               f"(timed on {record_suite.datasets[0].name}")  # fmt: skip
    assert f"{n_units} unit(s), each training {record_suite.budget} updates" in standard
    assert f"x {len(record_suite.rungs)} rungs" in standard
    (record,) = RecordStore(results).iter_records()
    assert record.key == RecordKey("lorenz63", "my_plrnn", "bptt", 0)
    assert record.config["model"]["spec"] == "chaosbench.models.plrnn:ShPLRNN"
    card = yaml.safe_load((tmp_path / "my_plrnn" / CARD_FILE).read_text())
    assert card["name"] == "my_plrnn" and card["kind"] == "latent" and card["code"] == "https://example.org/code"
    assert card["params"] == {"hidden_dim": 8} and card["datasets"] == ["lorenz63"]
    assert card["hyperparameters"]["hidden_dim"] == 8 and card["n_parameters_at_obs_dim_3"] == 3 + 2 * 3 * 8 + 3 + 8
    assert "obs_dim" not in card["hyperparameters"]
    assert "Hess" in card["citation"] and card["eval_protocol"] == EVAL_PROTOCOL_VERSION
    written = yaml.safe_load(suite.read_text())  # the submitter's settings, as the suite file gives them
    settings = card["settings"]
    assert settings["budget"] == written["budget"] and settings["seeds"] == [0] and settings["device"] == "auto"
    assert list(settings["regimes"]) == ["bptt"] and settings["training"] == written["training"]
    assert settings["evaluation"]["transient"] == written["evaluation"]["transient"]


def test_empirical_track_on_the_real_ecg(tmp_path: Path, external: Path) -> None:
    """The ECG recording from a user-named folder: tau from the series' own lambda_max estimate,
    the record carries the file's sha256, and ``validate --suite`` checks it against the file."""
    entry = {"name": "ecg", "file": "gtf_ECG_pecuzal_5d_train.npy", "test_file": "gtf_ECG_pecuzal_5d_test.npy",
             "dt": 1.0}  # fmt: skip
    suite_file = write_suite(tmp_path, datasets=[entry], models=TINY["models"][:1], seeds=[0],
                             regimes=[{"name": "stf", "tau": "lyapunov"}])  # fmt: skip
    results = tmp_path / "results"
    run(suites.load(suite_file), results, context=RunContext("tiny", external_dir=str(external)))
    (record,) = RecordStore(results).iter_records()
    assert record.status in ("ok", "diverged"), record.reason
    assert record.dataset_sha256 == sha256_file(external / entry["file"])
    lam = record.config["dataset"]["lambda_max"]
    assert record.config["dataset"]["lambda_max_source"] == "timeseries" and lam > 0
    assert record.config["regime"]["tau"] == lyapunov_tau(lam, 1.0)
    args = ["validate", str(results), "--suite", str(suite_file), "--data-dir-external", str(external)]
    assert main(args) == 0


def test_empirical_dataset_entry(tmp_path: Path, lorenz: data.Dataset) -> None:
    """A recording named by a suite: tau of stf "lyapunov" comes from the series' own estimate."""
    ext = tmp_path / "ext"
    ext.mkdir()
    np.save(ext / "rec_train.npy", lorenz.train[:20000])
    np.save(ext / "rec_test.npy", lorenz.test[:4000])
    entry = {"name": "rec", "file": "rec_train.npy", "test_file": "rec_test.npy", "dt": 0.01}
    suite = suites.load(write_suite(tmp_path, datasets=[entry], models=TINY["models"][:1], seeds=[0],
                                    regimes=[{"name": "stf", "tau": "lyapunov"}]))  # fmt: skip
    with pytest.raises(ChaosbenchError, match="relative file 'rec_train.npy' needs --data-dir-external"):
        run(suite, tmp_path / "r")
    run(suite, tmp_path / "r", context=RunContext("tiny", external_dir=str(ext)))
    (record,) = RecordStore(tmp_path / "r").iter_records()
    lam = record.config["dataset"]["lambda_max"]
    assert record.config["dataset"]["lambda_max_source"] == "timeseries" and 0.6 < lam < 1.3
    assert record.config["regime"]["tau"] == round(TAU_FRACTION * math.log(2) / (lam * 0.01))
    assert record.versions["dataset"] == "empirical" and record.config["dataset"]["file"] == "rec_train.npy"
