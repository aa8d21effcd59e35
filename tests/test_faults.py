"""Fault injection: model code that hangs, exits, dies or misbehaves, killed workers and drivers,
Ctrl-C, and two runs on one folder. Every case must end in bounded time with the right record
status and exit code, and keep every record already written."""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tqdm import tqdm

from chaosbench.cli import main
from chaosbench.errors import ChaosbenchError
from chaosbench.harness import suites
from chaosbench.records import RecordStore, RunRecord
from chaosbench.harness.runner import run_suite

REPO_ROOT = Path(__file__).resolve().parents[1]
# ``chaosbench`` without the leaderboard tables, which these tests do not read (they take seconds)
LAUNCH = ("import sys, test_faults; test_faults.no_tables(); from chaosbench.cli import main; "
          "sys.exit(main(sys.argv[1:]))")
EVALUATION = {"n_test": 1000, "transient": 50, "lyapunov_inits": 2, "lyapunov_steps": 50}


class Echo:
    """Evaluable model that replays its training series: finite, and quick to score."""

    def __init__(self, obs_dim: int, **params: Any) -> None:
        self.params = params

    def fit(self, train: Any, dt: float, budget: Any, seed: int) -> None:
        tqdm(disable=True)  # as training does: a semaphore registered with the driver's resource tracker
        self.train = np.asarray(train, dtype=float)

    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        x0 = np.asarray(x0, dtype=float)
        series = self.train[:n_steps]
        return series if x0.ndim == 1 else np.repeat(series[:, None], len(x0), axis=1)


class Sleeps(Echo):
    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        time.sleep(600)
        raise AssertionError("not stopped")


class Exits(Echo):
    def fit(self, train: Any, dt: float, budget: Any, seed: int) -> None:
        sys.exit(0)


class Interrupts(Echo):
    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        raise KeyboardInterrupt


class KillsItself(Echo):
    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("not killed")


class Segfaults(Echo):
    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        ctypes.string_at(0)  # reads address 0
        raise AssertionError("no segfault")


class ExitsHard(Echo):
    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        os._exit(3)


class MisconfiguredFit(Echo):
    def fit(self, train: Any, dt: float, budget: Any, seed: int) -> None:
        raise ChaosbenchError("this model needs dt < 0.001")  # a user error: it stops the run


class Raises(Echo):
    def fit(self, train: Any, dt: float, budget: Any, seed: int) -> None:
        raise ValueError(f"no fit for seed {seed}")


class NaNs(Echo):
    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        return np.full_like(super().generate(x0, n_steps), np.nan)


class WrongShape(Echo):
    def generate(self, x0: Any, n_steps: int) -> np.ndarray:
        return super().generate(x0, n_steps)[:, :2]


class Gate(Echo):
    """Fits like Echo once it has announced itself (a file named after the model and its process)
    in ``folder`` and ``folder/open`` exists (at most a minute)."""

    def fit(self, train: Any, dt: float, budget: Any, seed: int) -> None:
        tqdm(disable=True)  # registered before it announces itself (see Echo)
        folder = Path(self.params["folder"])
        (folder / f"{self.params['tag']}.{os.getpid()}.pid").touch()
        end = time.monotonic() + 60
        while not (folder / "open").exists() and time.monotonic() < end:
            time.sleep(0.05)
        super().fit(train, dt, budget, seed)


class InterruptsTheUser(Echo):
    """Ctrl-C arrives while this model fits (the signal a terminal sends)."""

    def fit(self, train: Any, dt: float, budget: Any, seed: int) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)


def no_tables() -> None:
    import chaosbench.cli.tables

    chaosbench.cli.tables.write_tables = lambda *args, **kwargs: {}


@pytest.fixture(autouse=True)
def _no_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chaosbench.cli.tables.write_tables", lambda *args, **kwargs: {})


def model(name: str, cls: type, **params: Any) -> dict[str, Any]:
    return {"name": name, "model": f"{__name__}:{cls.__name__}", "params": params}


def gate(name: str, folder: Path) -> dict[str, Any]:
    return model(name, Gate, folder=str(folder), tag=name)


def write_suite(folder: Path, models: list[dict[str, Any]], **changes: Any) -> Path:
    doc = {"name": "faults", "budget": 1, "seeds": [0], "datasets": ["lorenz63"], "models": models,
           "regimes": ["bptt"], "evaluation": EVALUATION, **changes}  # fmt: skip
    path = folder / "suite.yaml"
    path.write_text(json.dumps(doc))
    return path


def records(results: Path) -> dict[str, RunRecord]:
    scan = RecordStore(results).scan()
    assert not scan.problems
    return {r.key.model: r for r in scan.records.values()}


def wait_for(condition: Any, seconds: float = 300) -> Any:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def gate_pids(folder: Path, name: str) -> list[int]:
    return [int(p.name.split(".")[-2]) for p in folder.glob(f"{name}.*.pid")]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


def cli(*args: str, **popen: Any) -> subprocess.Popen[str]:
    """``chaosbench ARGS`` (without tables) in a new process that can import this module's models."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(REPO_ROOT)])}
    return subprocess.Popen([sys.executable, "-c", LAUNCH, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)  # fmt: skip


# ---------------------------------------------------------------- model code


def test_model_code_cannot_end_the_harness(tmp_path: Path) -> None:
    """In this process (one worker, no limit): sys.exit and KeyboardInterrupt in model code are
    failures like any exception; NaN and wrong shapes as before."""
    models = [model("raises", Raises), model("nans", NaNs), model("shape", WrongShape),
              model("exits", Exits), model("interrupts", Interrupts), model("echo", Echo)]  # fmt: skip
    suite = dataclasses.replace(suites.load(write_suite(tmp_path, models)), unit_timeout=0)
    assert suite.timeout(suite.units()[0]) is None  # so the units run in this process
    summary = run_suite(suite, tmp_path / "results", progress=False, report=lambda line: None)
    got = records(tmp_path / "results")
    assert summary.statuses == {"failed": 4, "diverged": 1, "ok": 1} and summary.lost == 0
    assert got["raises"].reason == "fit: ValueError: no fit for seed 0"
    assert got["exits"].reason == "fit: SystemExit: 0"
    assert got["interrupts"].reason == "generate: KeyboardInterrupt"
    assert got["shape"].reason == (
        "generate: ChaosbenchError: generate(x0 of shape (8, 3), 1050) returned shape (1050, 2, 3), "
        "expected (1050, 8, 3)"
    )
    assert got["nans"].status == "diverged" and got["nans"].reason == "8 of 8 free runs diverged (run 0 from step 0)"
    assert got["echo"].status == "ok"


def test_dead_and_hung_workers_fail_their_unit_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two workers, a 20 s limit: each fault costs its own unit only, the run ends with exit code 1."""
    models = [model("sleeps", Sleeps), model("kills", KillsItself), model("segfaults", Segfaults),
              model("exits_hard", ExitsHard), gate("killed", tmp_path), model("exits", Exits)]  # fmt: skip
    path = write_suite(tmp_path, models)
    results = tmp_path / "results"

    def kill_the_gate() -> None:  # a worker killed from outside, e.g. by the OOM killer
        (pid,) = wait_for(lambda: gate_pids(tmp_path, "killed"))
        os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_the_gate, daemon=True)
    killer.start()
    start = time.monotonic()
    code = main(["run", "--suite", str(path), "--results", str(results), "--workers", "2",
                 "--unit-timeout", "20", "--no-progress"])  # fmt: skip
    elapsed = time.monotonic() - start
    out, err = capsys.readouterr()
    assert code == 1 and elapsed < 300  # the sleeper alone would sleep 600 s
    got = records(results)
    assert {m: r.reason for m, r in got.items()} == {
        "sleeps": "timed out after 20 s",
        "kills": "worker died: signal 9 (SIGKILL)",
        "segfaults": "worker died: signal 11 (SIGSEGV)",
        "exits_hard": "worker exited with code 3 before returning a result",
        "killed": "worker died: signal 9 (SIGKILL)",
        "exits": "fit: SystemExit: 0",
    }
    assert {r.status for r in got.values()} == {"failed"}
    assert "6 record(s) computed (6 failed), 0 already done, 5 unit(s) lost" in out
    assert "chaosbench: 6 run(s) failed (reasons above)" in err and "Traceback" not in err
    assert not list(results.rglob(".unit.lock"))
    # a rerun keeps every record (failed ones too) and computes nothing
    before = {p: p.read_bytes() for p in results.rglob("*.json")}
    assert main(["run", "--suite", str(path), "--results", str(results), "--no-progress"]) == 0
    assert {p: p.read_bytes() for p in results.rglob("*.json")} == before


def test_ctrl_c_in_this_process_still_interrupts(tmp_path: Path) -> None:
    """The user's Ctrl-C is not model code's KeyboardInterrupt: the run stops, records stay."""
    models = [model("echo", Echo), model("ctrl_c", InterruptsTheUser), model("after", Echo)]
    suite = dataclasses.replace(suites.load(write_suite(tmp_path, models)), unit_timeout=0)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, tmp_path / "results", progress=False, report=lambda line: None)
    assert time.monotonic() - start < 20  # the 30 s sleep was interrupted
    assert set(records(tmp_path / "results")) == {"echo"}
    assert not list((tmp_path / "results").rglob(".unit.lock"))


# ---------------------------------------------------------------- the driver


def test_a_user_error_in_a_unit_process_reaches_the_driver_as_itself(tmp_path: Path) -> None:
    suite = suites.load(write_suite(tmp_path, [model("misconfigured", MisconfiguredFit), model("echo", Echo)]))
    with pytest.raises(ChaosbenchError) as info:
        run_suite(suite, tmp_path / "r", progress=False)
    assert type(info.value) is ChaosbenchError and str(info.value) == "this model needs dt < 0.001"
    assert not list((tmp_path / "r").rglob(".unit.lock")) and not list((tmp_path / "r").rglob("*.json"))


def test_ctrl_c_stops_every_worker_and_keeps_the_records(tmp_path: Path) -> None:
    models = [model("echo", Echo), gate("gate", tmp_path)]
    run = cli("run", "--suite", str(write_suite(tmp_path, models)), "--results", str(tmp_path / "results"),
              "--no-progress", start_new_session=True)  # fmt: skip
    (pid,) = wait_for(lambda: gate_pids(tmp_path, "gate"))
    os.killpg(run.pid, signal.SIGINT)  # what a terminal sends to the whole foreground group
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130 and err == "chaosbench: interrupted\n"
    wait_for(lambda: not alive(pid), 10)
    assert set(records(tmp_path / "results")) == {"echo"}
    assert not list((tmp_path / "results").rglob(".unit.lock"))


def test_workers_stop_quietly_when_the_driver_is_killed(tmp_path: Path) -> None:
    models = [gate("a", tmp_path), gate("b", tmp_path)]
    run = cli("run", "--suite", str(write_suite(tmp_path, models)), "--results", str(tmp_path / "results"),
              "--workers", "2", "--no-progress")  # fmt: skip
    pids = wait_for(lambda: len(gate_pids(tmp_path, "*")) == 2 and gate_pids(tmp_path, "*"))
    run.kill()
    wait_for(lambda: not any(alive(pid) for pid in pids), 10)  # not waiting for their gate
    out, err = run.communicate(timeout=10)  # the workers held stderr too
    assert run.returncode == -signal.SIGKILL
    assert err == "" and out == ""
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.json"))


def test_two_runs_on_one_folder_share_the_work(tmp_path: Path) -> None:
    """The second run skips the unit the first one holds and takes the next; each unit runs once."""
    models = [gate("a", tmp_path), gate("b", tmp_path)]
    args = ("run", "--suite", str(write_suite(tmp_path, models)), "--results", str(tmp_path / "results"),
            "--no-progress")  # fmt: skip
    first = cli(*args)
    wait_for(lambda: gate_pids(tmp_path, "a"))
    second = cli(*args)
    wait_for(lambda: gate_pids(tmp_path, "b"))
    (tmp_path / "open").touch()
    out1, err1 = first.communicate(timeout=60)
    out2, err2 = second.communicate(timeout=60)
    assert first.returncode == second.returncode == 0, err1 + err2
    assert len(gate_pids(tmp_path, "a")) == len(gate_pids(tmp_path, "b")) == 1  # no unit ran twice
    assert f"lorenz63/a/none: in progress in another run (pid {first.pid}), skipped" in err2
    assert out1.startswith("1 record(s) computed (1 ok)") and out2.startswith("1 record(s) computed (1 ok)")
    assert {m: r.status for m, r in records(tmp_path / "results").items()} == {"a": "ok", "b": "ok"}
    assert not list((tmp_path / "results").rglob(".unit.lock"))


# ---------------------------------------------------------------- the time limit


def test_unit_timeout_key_and_default() -> None:
    base = {"budget": 2000, "seeds": 5, "datasets": ["lorenz63"], "models": ["esn"], "regimes": ["bptt"]}
    suite = suites.parse(base)
    (unit,) = suite.units()
    assert suite.unit_timeout is None and suite.timeout(unit) == 600 + 0.5 * 2000 * 5
    assert suite.timeout(unit.with_seeds([3])) == 600 + 0.5 * 2000
    assert suites.parse({**base, "unit_timeout": 90}).timeout(unit) == 90.0
    assert suites.parse({**base, "unit_timeout": 0}).timeout(unit) is None
    for bad in (-1, "1h", True, float("inf")):
        with pytest.raises(ChaosbenchError, match="'unit_timeout' must be a number of seconds >= 0"):
            suites.parse({**base, "unit_timeout": bad})
    assert main(["run", "--suite", "smoke", "--unit-timeout", "-3", "--no-progress"]) == 2


def test_the_committed_units_took_under_a_fifth_of_their_default_limit() -> None:
    """The leaderboard of record (standard and empirical suites): each unit's records, summed."""
    took: dict[Path, float] = {}
    for path in (REPO_ROOT / "leaderboard" / "results").rglob("seed*.json"):
        # one field per line (records.py layout): much faster than parsing 76 MB of artifacts
        (seconds,) = re.findall(r'^ "wall_time_s": ([0-9.e+-]+),?$', path.read_text(), re.MULTILINE)
        unit = Path(*path.parts[: len(path.parts) - (2 if re.fullmatch(r"b\d+", path.parent.name) else 1)])  # rungs: one unit
        took[unit] = took.get(unit, 0.0) + float(seconds)  # every rung's share: more than the unit took
    limits = {}
    for suite in (suites.load("standard"), suites.load("empirical")):
        for unit in suite.units():
            key = unit.record_keys()[0]
            limits[REPO_ROOT / "leaderboard" / "results" / Path(*key.relpath.parts[:3])] = suite.timeout(unit)
    if not took:
        pytest.skip("no leaderboard of record committed yet")
    assert set(took) <= set(limits)
    worst = max(took, key=lambda unit: took[unit] / limits[unit])
    assert took[worst] < limits[worst] / 5, (worst, took[worst], limits[worst])

