"""The reproduction study: grids, the window rule, gradient norms, caching, report, CLI errors."""

from __future__ import annotations

import dataclasses
import json
import math
import sys

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from chaosbench.cli import main
from chaosbench.errors import ChaosbenchError
from chaosbench.harness import runner, suites
from chaosbench.harness.runner import RunContext, run_suite
from chaosbench.models import build, checkpoint
from chaosbench.studies import config, reproduce
from chaosbench.studies.cache import Entry
from chaosbench.studies.mikhaeil2022 import common, findings, forcing, gradients
from chaosbench.studies.mikhaeil2022.forcing import tau_grid, window
from chaosbench.studies.mikhaeil2022.settings import parse
from chaosbench.training import TAU_FRACTION, TAU_RULE_VERSION, lyapunov_tau, tau_pred_steps


@pytest.mark.parametrize("lam,dt", [(0.906118, 0.01), (0.0713028, 0.1), (0.4192, 1.0)])
def test_tau_grid_holds_one_tau_pred_and_ten_tau_pred(lam, dt):
    grid = tau_grid(lam, dt, n=9, max_factor=10)
    tau_pred = tau_pred_steps(lam, dt)
    assert grid[0] == 1 and grid == sorted(set(grid))
    assert grid[-1] >= 10 * tau_pred
    assert min(abs(t - tau_pred) for t in grid) <= 0.5
    assert lyapunov_tau(lam, dt) in grid  # the STF rule's own tau
    assert 8 <= len(grid) <= 11 or tau_pred < 2


def test_window_keeps_steps_per_update_and_two_intervals():
    assert window(None, 200, 3200) == {"seq_len": 200, "batch_size": 16}
    assert window(50, 200, 3200) == {"seq_len": 200, "batch_size": 16}
    assert window(760, 200, 3200) == {"seq_len": 1520, "batch_size": 2}
    assert window(5000, 200, 3200) == {"seq_len": 10000, "batch_size": 1}
    for tau in (1, 76, 150, 400, 973):
        w = window(tau, 200, 3200)
        assert w["seq_len"] >= 2 * tau
        assert abs(w["seq_len"] * w["batch_size"] - 3200) <= w["seq_len"] / 2


class Linear(nn.Module):
    """z' = a z, observed directly: the gradient of a free-run loss is known in closed form."""

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a, dtype=torch.float64))

    def step(self, z):
        return self.a * z

    def observe(self, z):
        return z

    def encode(self, x):
        return x


def _windows(n=3, length=1001):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, length, 1))


def test_gradient_norm_matches_closed_form():
    a, x = 0.9, _windows(1, 11)
    (norm,) = gradients.gradient_norms(Linear(a), x, [10])[:, 0]
    t = np.arange(1, 11)
    z = a**t * x[0, 0, 0]
    expected = np.mean(2 * (z - x[0, 1:, 0]) * t * a ** (t - 1) * x[0, 0, 0])
    assert norm == pytest.approx(abs(expected), rel=1e-10)


def test_gradient_norm_bounded_for_stable_and_growing_for_unstable_linear_map():
    lengths = [10, 30, 100, 300, 1000]
    stable = np.median(gradients.gradient_norms(Linear(0.9), _windows(), lengths), axis=1)
    unstable = np.median(gradients.gradient_norms(Linear(1.02), _windows(), lengths), axis=1)
    assert stable.max() < 10 and stable[-1] <= 2 * stable[0]
    assert np.all(np.diff(np.log(unstable[1:])) > 0) and unstable[-1] / unstable[2] > 1e5


def test_damped_copy_scales_a_and_w1_only():
    model = build("shplrnn", 3)
    out = gradients.damped(model, 0.5)
    assert torch.equal(out.A, 0.5 * model.A) and torch.equal(out.W1, 0.5 * model.W1)
    assert torch.equal(out.W2, model.W2)
    with pytest.raises(ChaosbenchError, match="shallow PLRNN"):
        gradients.damped(Linear(0.5), 0.5)


def test_cache_entry_is_keyed_by_config(tmp_path):
    entry = Entry(tmp_path, "part", "x", {"budget": 3, "seeds": [0, 1]})
    assert entry.load() is None
    assert entry.save({"value": math.nan, "v": [1.0, math.inf]}) == {"value": None, "v": [1.0, None]}
    assert Entry(tmp_path, "part", "x", {"seeds": [0, 1], "budget": 3}).load() == {"value": None, "v": [1.0, None]}
    assert Entry(tmp_path, "part", "x", {"budget": 4, "seeds": [0, 1]}).load() is None
    assert not list(entry.dir.glob(".*.tmp"))


def test_presets_and_overrides():
    full = config.load("mikhaeil2022")
    quick = config.load("mikhaeil2022", "quick", budget=7, seeds=3, device="cpu")
    assert quick["forcing"]["budget"] == quick["training_spectrum"]["budget"] == 7
    assert quick["seeds"] == [0, 1, 2] and quick["device"] == "cpu"
    assert quick["forcing"]["datasets"] == full["forcing"]["datasets"] == ["lorenz63", "rossler"]
    assert quick["forcing"]["max_tau_factor"] == full["forcing"]["max_tau_factor"]
    with pytest.raises(ChaosbenchError, match="unknown mikhaeil2022 preset 'quik'; did you mean 'quick'"):
        config.load("mikhaeil2022", "quik")


@pytest.mark.parametrize(
    "argv,message",
    [
        (["reproduce", "mikhaeil2023"], "unknown study 'mikhaeil2023'; did you mean 'mikhaeil2022'"),
        (["reproduce", "mikhaeil2022", "--preset", "fast"], "unknown mikhaeil2022 preset 'fast'"),
        (["reproduce", "mikhaeil2022", "--preset", "quick", "--budget", "0"], "budget must be a positive"),
    ],
)
def test_cli_mistakes_are_one_line_errors(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not any(tmp_path.iterdir())


def _cache_files(out):
    return {p: p.stat().st_mtime_ns for p in sorted((out / "cache").rglob("result.json"))}


def _refuse(*args, **kwargs):
    raise AssertionError("recomputed a cached configuration")


def test_quick_study_end_to_end_resumes_and_recomputes_on_change(tmp_path, monkeypatch, capsys):
    out = tmp_path / "study"
    assert main(["reproduce", "mikhaeil2022", "--preset", "quick", "--out", str(out), "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == str(out / "REPORT.md")
    report = (out / "REPORT.md").read_text()
    for text in ("lorenz63", "rossler", "a54e6543828a", "## 1.", "## 1b.", "## 2.", "## 3.", "forcing.png",
                 "gradients.png", "training_spectrum.png", "agree"):  # fmt: skip
        assert text in report
    for name in ("forcing", "gradients", "training_spectrum"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    files = _cache_files(out)
    parts = {p.parent.parent.name for p in files}
    assert parts == {"forcing", "per_model", "gradients", "training_spectrum"}
    # 2 datasets x (BPTT + 5 taus: 3 log-spaced, tau_pred, the rule's); 6 lorenz63 configurations
    # x 2 seeds x (trained, damped)
    assert len([p for p in files if "forcing" in p.parts]) == 12
    assert len([p for p in files if "gradients" in p.parts]) == 24
    doc = json.loads(next(p for p in files if "stf-tau76" in str(p)).read_text())
    assert doc["config"]["settings"]["training"]["seq_len"] == 200 and doc["result"]["tau"] == 76
    assert doc["config"]["settings"]["training"]["lr"] == 0.03  # the study's lr over the regime YAML's
    assert {s["seed"] for s in doc["result"]["seeds"]} == {0, 1}
    # part 1b: the RNN at 0.15 and 0.5 tau_pred (tau 11 and 38 on lorenz63), at the STF regime's own rate
    per_model = sorted(p for p in files if "per_model" in p.parts and p.name == "result.json")
    assert [p.parent.name.rsplit("-", 1)[0] for p in per_model] == ["rnn-lorenz63-stf-tau11", "rnn-lorenz63-stf-tau38"]
    rnn = json.loads(per_model[0].read_text())
    assert rnn["config"]["settings"]["model"]["spec"] == "rnn" and rnn["config"]["settings"]["training"]["lr"] == 0.03
    assert "| rnn | lorenz63 |" in report and "rule v3 = optimum" in report

    # a rerun with the same settings trains and measures nothing
    monkeypatch.setattr(runner, "train_unit", _refuse)
    monkeypatch.setattr(gradients, "gradient_norms", _refuse)
    reproduce("mikhaeil2022", out, preset="quick", progress=False)
    assert _cache_files(out) == files

    # a changed setting recomputes exactly what it affects (part 3's budget here)
    calls = []
    monkeypatch.undo()
    real = runner.train_unit
    monkeypatch.setattr(runner, "train_unit", lambda unit, *a, **k: calls.append(unit) or real(unit, *a, **k))
    monkeypatch.setattr(gradients, "gradient_norms", _refuse)
    doc = config.load("mikhaeil2022", "quick")
    doc["training_spectrum"]["budget"] = 2
    from chaosbench.studies.mikhaeil2022 import run

    run(doc, out, progress=False)
    stf = {"name": "stf", "tau": "lyapunov", "fraction": TAU_FRACTION}
    assert [(u.config.regime, u.budget) for u in calls] == [({"name": "bptt"}, 2), (stf, 2)]
    assert calls[1].settings()["versions"]["tau_rule"] == TAU_RULE_VERSION
    assert all(_cache_files(out)[p] == t for p, t in files.items() if "training_spectrum" not in p.parts)
    assert len(_cache_files(out)) == len(files) + 2


def test_study_and_run_give_the_same_records(tmp_path):
    """A configuration of the study and the same unit of a suite under `chaosbench run`: one
    resolved configuration (hash) and the same metrics."""
    doc = config.load("mikhaeil2022", "quick")
    doc["forcing"]["evaluation"] = {"n_test": 300, "n_gen": 350, "transient": 50, "lyapunov_inits": 2,
                                    "lyapunov_steps": 50}  # fmt: skip
    settings = parse(doc)
    (label, work), = [item for item in forcing.configurations(settings, "lorenz63") if item[0].endswith("-stf-tau76")]
    work, entry = work.with_seeds([1]), Entry(tmp_path, "forcing", label, {})
    result = forcing.train_and_score(entry, work, settings, progress=False)
    (seed,) = result["seeds"]

    suite = {"name": "same", "budget": work.budget, "seeds": [1], "datasets": ["lorenz63"], "models": ["shplrnn"],
             "regimes": [{"name": "stf", "tau": 76}],
             "training": {"seq_len": 200, "batch_size": 16, "lr": 0.03, "log_every": max(1, work.budget // 20)},
             "evaluation": dataclasses.asdict(settings.forcing.evaluation)}  # fmt: skip
    path = tmp_path / "same.yaml"
    path.write_text(yaml.safe_dump(suite))
    results = tmp_path / "results"
    # what `chaosbench run --suite same.yaml --device cpu` does before it writes the tables
    run_suite(suites.load(path), results, context=RunContext("same", device="cpu"), progress=False)
    record = json.loads((results / "lorenz63" / "shplrnn" / "stf" / "seed1.json").read_text())

    assert record["config"]["config_sha256"] == seed["config_sha256"]
    assert record["status"] == seed["status"]
    assert seed["d_stsp"] is not None and math.isfinite(seed["d_stsp"])
    assert {k: record["metrics"][k] for k in forcing.SCORED} == {k: seed[k] for k in forcing.SCORED}
    saved = checkpoint.load(entry.dir / "seed1")  # the member part 2 measures
    assert sum(p.numel() for p in saved.parameters()) == record["config"]["n_parameters"]


def test_report_without_matplotlib(tmp_path, monkeypatch):
    out = tmp_path / "study"
    doc = config.load("mikhaeil2022", "quick")
    doc["forcing"]["datasets"] = ["lorenz63"]
    doc["forcing"]["n_tau"] = 2
    monkeypatch.setitem(sys.modules, "chaosbench.studies.mikhaeil2022.figures", None)
    from chaosbench.studies.mikhaeil2022 import run

    report = run(doc, out, progress=False).read_text()
    assert report.splitlines()[2].startswith("> **Pipeline-only run: the verdicts below mean nothing.**")
    assert "part 1 3 (the study: 2000), part 3 4 (the study: 2000)" in report.splitlines()[2]
    assert "Figures need matplotlib" in report and ".png" not in report
    assert not list(out.glob("*.png"))


def test_report_banner_only_below_the_study_budgets():
    from chaosbench.studies.mikhaeil2022.report import banner

    assert banner(config.load("mikhaeil2022")) == []
    assert "part 1 500 (the study: 2000), part 3 500" in banner(config.load("mikhaeil2022", budget=500))[0]


def test_gradient_rows_classify_and_measure_growth():
    rows = findings.gradient_rows(
        [{"label": "c", "lambda_max": 0.9, "lengths": [10, 100, 1000], "grad_norm_median": [1.0, 2.0, 2e3]},
         {"label": "s", "lambda_max": -1.0, "lengths": [10, 100, 1000], "grad_norm_median": [1.0, 1.0, 1.0]}],
        lambda_true=0.9, dt=0.01,
    )  # fmt: skip
    assert [r["chaotic"] for r in rows] == [True, False]
    assert rows[0]["growth"] == pytest.approx(1e3) and rows[1]["growth"] == pytest.approx(1.0)
    checks = findings.gradient_checks(rows)
    assert checks["n_chaotic_diverging"] == 1 and checks["n_regular_bounded"] == 1


def test_forcing_checks_find_the_optimum_and_refuse_a_flat_curve():
    rows = [{"tau": None, "d_stsp": 14.0, "d_h": 1.0}] + [
        {"tau": t, "tau_over_pred": t / 76, "d_stsp": d, "d_h": h}
        for t, d, h in ((1, 14.0, 1.0), (76, 3.0, 1.0 - 1e-7), (760, 9.0, 1.0))  # D_H: all at the worst
    ]
    d_stsp, d_h = findings.forcing_checks(rows)
    assert d_stsp["best_tau"] == 76 and d_stsp["near"] and d_stsp["u_shape"] and d_stsp["beats_bptt"]
    assert d_h["flat"] and not d_h["near"] and not d_h["beats_bptt"]


def test_sampling_floor_is_zero_for_identical_series_and_shrinks_with_length():
    ds = common.dataset("lorenz63")
    same = findings.sampling_floor(ds.test, ds.test, 20_000)
    assert same["d_stsp"] == pytest.approx(0, abs=1e-9) and same["d_h"] == pytest.approx(0, abs=1e-9)
    short, full = (findings.sampling_floor(ds.train, ds.test, n) for n in (20_000, None))
    # another orbit of the true system: far from zero on 200 time units, ~0.18 on the full 1000
    assert full["n"] == len(ds.test) and 0.1 < full["d_stsp"] < 0.3 < short["d_stsp"]


def test_training_callbacks_need_a_latent_model():
    doc = {"budget": 1, "seeds": [0], "datasets": ["lorenz63"], "models": ["esn"], "regimes": ["bptt"]}
    (unit,) = suites.parse(doc).units()
    ds, ref = common.dataset_reference("lorenz63")
    with pytest.raises(ChaosbenchError, match="callbacks need a latent model, 'esn' is evaluable"):
        runner.train_unit(unit, ds, ref, "cpu", callbacks=[lambda *args: None])
