"""The command line: user mistakes are one-line errors with exit code 2, never tracebacks."""

import subprocess
import sys

import pytest

from chaosbench.cli import main


def run(*args):
    proc = subprocess.run([sys.executable, "-m", "chaosbench", *args], capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def test_systems_lists_the_registry(capsys):
    assert main(["systems"]) == 0
    out = capsys.readouterr().out
    for name in ("lorenz63", "rossler", "henon", "mackey_glass"):
        assert name in out


def test_data_list_and_show(capsys):
    assert main(["data", "list"]) == 0
    assert "lorenz63_noisy" in capsys.readouterr().out
    assert main(["data", "show", "rossler"]) == 0
    out = capsys.readouterr().out
    assert "system: rossler" in out and "sha256:" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["data", "show", "lorenz"], "unknown dataset 'lorenz'; did you mean"),
        (["data", "--data-dir", "/nonexistent", "list"], "does not exist"),
        (["data", "frobnicate"], "invalid choice"),
        (["no-such-command"], "invalid choice"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(args, message):
    code, out, err = run(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_verify_hashes_only(capsys):
    assert main(["data", "verify", "--no-rebuild"]) == 0
    assert capsys.readouterr().out.count("ok  ") >= 10


# ---------------------------------------------------------------- help, --json, run overrides

TINY_SUITE = {
    "name": "tinycli", "budget": 50, "seeds": 3, "datasets": ["lorenz63"],
    "models": [{"name": "shplrnn", "params": {"hidden_dim": 8}},
               {"name": "esn", "params": {"n_units": 40, "washout": 100, "max_train": 3000}}],
    "regimes": ["bptt"],
    "training": {"batch_size": 4, "seq_len": 20},
    "evaluation": {"n_test": 2000, "transient": 50, "lyapunov_inits": 2, "lyapunov_steps": 50},
}  # fmt: skip


def test_top_level_help_is_for_users(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "benchmark for reconstructing chaotic dynamical systems" in out
    assert "chaosbench run --suite quick" in out and "subcommand module" not in out


def test_run_overrides_are_recorded_and_end_in_a_result_table(tmp_path, capsys):
    import json

    from chaosbench.records import RecordStore

    suite = tmp_path / "tinycli.yaml"
    suite.write_text(json.dumps(TINY_SUITE))  # JSON is YAML
    results = tmp_path / "results"
    args = ["run", "--suite", str(suite), "--results", str(results), "--budget", "2", "--seeds", "1",
            "--workers", "1", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    records = RecordStore(results).scan().records.values()
    assert sorted((r.key.model, r.key.regime, r.key.seed) for r in records) == [("esn", "none", 0), ("shplrnn", "bptt", 0)]
    latent = next(r for r in records if r.key.model == "shplrnn")
    assert latent.budget["updates"] == 2 and latent.config["resolved"]["budget"] == 2
    # after the summary and the table files: one row per unit with its median D_stsp and D_H
    lines = out.splitlines()
    assert lines[0].startswith("2 record(s) computed") and lines[1].endswith("LEADERBOARD.md")
    header = lines.index("median over seeds per unit (lower is better):")
    assert lines[header + 1].split() == ["dataset", "model", "regime", "D_stsp", "D_H", "ok/div/fail"]
    for record in records:
        row = next(line.split() for line in lines[header + 2:] if record.key.model in line)
        assert row[:3] == ["lorenz63", record.key.model, record.key.regime]
        assert row[3] == f"{record.metrics['d_stsp']:.3g}" and row[4] == f"{record.metrics['d_h']:.3g}"
        assert row[5] == ("1/0/0" if record.status == "ok" else "0/1/0")

    # --json: the same run (now all done) as one JSON object and nothing else on stdout
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["computed"] == 0 and report["skipped"] == 2 and report["results"] == str(results)
    units = {u["model"]: u for u in report["units"]}
    assert units["shplrnn"]["d_stsp_median"] == latent.metrics["d_stsp"] and units["shplrnn"]["seeds"] == 1
    # the suite's own budget is other settings: its records would be recomputed, not mixed in
    assert main(["validate", str(results), "--suite", str(suite), "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert problems and any("budget" in p["message"] or "missing" in p["message"] for p in problems)


@pytest.mark.parametrize("extra", [["--record"], ["--results", "leaderboard/results"]])
def test_runs_with_overrides_never_write_the_leaderboard_of_record(extra, monkeypatch, tmp_path):
    from chaosbench.cli import run as run_cli

    monkeypatch.chdir(tmp_path)  # RECORD_DIR is relative: a fresh folder has no records to lose
    code, out, err = run("run", "--suite", "smoke", "--budget", "10", *extra)
    assert code == 2 and "leaderboard of record uses the suite's own settings" in err and "--budget 10" in err
    assert not (tmp_path / run_cli.RECORD_DIR).exists()


def test_run_budget_must_be_positive():
    code, _, err = run("run", "--suite", "smoke", "--budget", "0")
    assert code == 2 and "expected a positive integer" in err
    code, _, err = run("run", "--suite", "smoke", "--budget", "4,2")
    assert code == 2 and "increasing update counts" in err


@pytest.mark.parametrize(("suite_budget", "given", "expected"), [([2, 3], "3", [None]), (3, "2,3", [2, 3])])
def test_run_budget_replaces_the_suites_budget_or_ladder(tmp_path, capsys, suite_budget, given, expected):
    """--budget N scores at N alone even on a ladder suite; --budget A,B is a ladder (one record per rung)."""
    import json

    from chaosbench.records import RecordStore

    suite = tmp_path / "tinycli.yaml"
    suite.write_text(json.dumps({**TINY_SUITE, "budget": suite_budget, "models": TINY_SUITE["models"][:1]}))
    results = tmp_path / "results"
    assert main(["run", "--suite", str(suite), "--results", str(results), "--budget", given, "--seeds", "1",
                 "--workers", "1", "--no-progress"]) == 0  # fmt: skip
    records = sorted(RecordStore(results).scan().records.values(), key=lambda r: r.key.budget or 0)
    assert [r.key.budget for r in records] == expected
    assert [r.config["resolved"]["budget"] for r in records] == [b or 3 for b in expected]
    assert all(r.budget["updates"] == (r.key.budget or 3) for r in records)


def test_data_list_and_validate_json(capsys, tmp_path):
    import json

    from chaosbench import data

    assert main(["data", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == data.names()
    lorenz = next(r for r in rows if r["name"] == "lorenz63")
    assert lorenz["obs_dim"] == 3 and lorenz["lambda_max"] == pytest.approx(0.9056, abs=0.01)
    bad = tmp_path / "results" / "lorenz63" / "m" / "bptt"
    bad.mkdir(parents=True)
    (bad / "seed0.json").write_text("{not json")
    assert main(["validate", str(tmp_path / "results"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False and report["problems"][0]["path"].endswith("seed0.json")


def test_lyapunov_json_and_precise(capsys):
    import json

    assert main(["lyapunov", "henon", "--steps", "2000", "--transient", "100", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_init"] == 16 and result["status"] == "ok"
    assert result["lambda_max"] == pytest.approx(0.4192, abs=0.01)  # literature value
    assert sum(result["exponents"]) == pytest.approx(-1.2040, abs=0.002)  # ln 0.3: the area contraction
    code, _, err = run("lyapunov", "henon", "--precise", "--init", "8")
    assert code == 2 and "drop --init" in err


def reports_progress(unit: int, context: None) -> list[str]:
    """A unit function that reports 1..unit of unit updates (module level: a spawned process imports it)."""
    from chaosbench.harness.executors import report_progress

    for done in range(1, unit + 1):
        report_progress(done, unit)
    return [str(unit)]


@pytest.mark.parametrize("limit", [None, 60.0], ids=["in this process", "in its own process"])
def test_progress_within_a_unit_reaches_the_driver(limit):
    from chaosbench.harness.executors import LocalExecutor

    heard = []
    results = list(LocalExecutor(1).map(reports_progress, [3], None, lambda unit: limit,
                                        lambda unit, done, total: heard.append((unit, done, total))))  # fmt: skip
    assert results == [(3, ["3"])]
    # every report in this process; from a process at most every PROGRESS_EVERY_S, and the last
    assert heard == [(3, 1, 3), (3, 2, 3), (3, 3, 3)] if limit is None else heard[-1] == (3, 3, 3)


def test_training_reports_each_logged_update():
    import numpy as np

    from chaosbench.models import PLRNN
    from chaosbench.training import fit

    heard = []
    train = np.random.default_rng(0).standard_normal((200, 2)).astype(np.float32)
    fit(lambda n: PLRNN(n, latent_dim=4), train, 0.01, "bptt", seeds=[0], budget=6, progress=False,
        on_update=lambda update, budget: heard.append((update, budget)), log_every=2, seq_len=10, batch_size=2)  # fmt: skip
    assert heard == [(2, 6), (4, 6), (6, 6)]


def test_baselines_are_found_when_a_folder_shadows_the_package(monkeypatch):
    """A clone named chaosbench in the working directory makes ``chaosbench`` a namespace package
    (no ``__file__``): finding the shipped configs must not depend on it."""
    import chaosbench
    from chaosbench.models.registry import baselines_dir

    monkeypatch.setattr(chaosbench, "__file__", None)
    assert (baselines_dir() / "suites" / "smoke.yaml").is_file()


def test_module_entry_names_a_shadowing_folder(tmp_path):
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "chaosbench"
    code = (  # what the import system makes of a folder without __init__.py: a namespace package
        "import importlib.util, runpy, sys; "
        "spec = importlib.util.spec_from_loader('chaosbench', None, is_package=True); "
        f"spec.submodule_search_locations = [{str(package)!r}]; "
        "sys.modules['chaosbench'] = importlib.util.module_from_spec(spec); "
        "runpy.run_module('chaosbench', run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "hides the installed chaosbench package" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_data_functions_name_the_data_directory_like_the_command_line():
    import inspect

    from chaosbench import data

    for fn in (data.load, data.names, data.read_card, data.build_all, data.build_lyapunov, data.verify):
        params = inspect.signature(fn).parameters
        assert "data_dir" in params and "root" not in params, fn.__name__
    assert data.load("rossler", data_dir=data.data_dir()).obs_dim == 3


def test_every_command_is_in_the_readme():
    from pathlib import Path

    from chaosbench.cli import build_parser

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"systems", "run", "lyapunov"} <= set(commands)
    assert [name for name in commands if f"chaosbench {name}" not in readme] == []
