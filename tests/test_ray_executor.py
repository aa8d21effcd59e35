"""The Ray executor runs the smoke suite on a private loopback instance with the local records."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest

from chaosbench.harness import suites
from chaosbench.harness.evaluate import EvalSettings
from chaosbench.harness.executors import LocalExecutor, RayExecutor
from chaosbench.records import RecordStore
from chaosbench.harness.runner import RunContext, run_suite

pytest.importorskip("ray")


def test_ray_gives_the_records_of_the_local_executor(tmp_path: Path) -> None:
    # the smoke suite with a shorter budget and evaluation: same units, seconds instead of a minute
    smoke = suites.load("smoke")
    suite = dataclasses.replace(
        smoke, budget=5, evaluation=EvalSettings(n_test=3000, transient=50, lyapunov_inits=2, lyapunov_steps=100)
    )
    context = RunContext(suite.name, device="cpu")
    runs = {}
    for name, executor in (("local", LocalExecutor()), ("ray", RayExecutor(num_cpus=1, workers=1))):
        summary = run_suite(suite, tmp_path / name, executor=executor, context=context, progress=False)
        assert summary.computed == len(suite.record_keys()) == 6
        runs[name] = {r.key: r for r in RecordStore(tmp_path / name).iter_records()}
    assert set(runs["ray"]) == set(runs["local"]) == set(suite.record_keys())
    for key, local in runs["local"].items():
        remote = runs["ray"][key]
        assert remote.status == local.status == "ok"
        assert remote.config == local.config
        assert remote.metrics == pytest.approx(local.metrics, rel=1e-9, abs=1e-12)
        assert remote.artifacts == local.artifacts


def test_ray_options_are_checked() -> None:
    from chaosbench.errors import ChaosbenchError

    with pytest.raises(ChaosbenchError, match="num_gpus must be a non-negative number"):
        RayExecutor(num_gpus=-1)
    with pytest.raises(ChaosbenchError, match="num_cpus must be a positive number"):
        RayExecutor(num_cpus=0)


def test_a_user_error_in_a_task_reaches_the_driver_as_itself(tmp_path: Path) -> None:
    from chaosbench.errors import UnknownNameError

    suite = suites.load("smoke").subset(models=["esn"])
    context = RunContext(suite.name, device="cpu", data_dir=str(tmp_path))  # no datasets there
    with pytest.raises(UnknownNameError) as info:
        run_suite(suite, tmp_path / "r", executor=RayExecutor(workers=1), context=context, progress=False)
    assert str(info.value) == "unknown dataset 'lorenz63' (known: )"


def test_a_dead_or_hung_task_fails_its_unit_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray
    from test_faults import KillsItself, Sleeps, model, records, write_suite

    suite = suites.load(write_suite(tmp_path, [model("kills", KillsItself), model("sleeps", Sleeps)]))
    context = RunContext(suite.name)
    # Ray's workers inherit the environment, not this process's sys.path: they import the models thus
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    ray.init(num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    try:  # one instance for both runs (the executor leaves an instance it did not start running)
        start = time.monotonic()
        dead = run_suite(suite.subset(models=["kills"]), tmp_path / "r", executor=RayExecutor(),
                         context=context, progress=False)  # fmt: skip
        # the limit counts from the task's submission, the worker's imports included
        hung = run_suite(dataclasses.replace(suite.subset(models=["sleeps"]), unit_timeout=5), tmp_path / "r",
                         executor=RayExecutor(), context=context, progress=False)  # fmt: skip
        assert time.monotonic() - start < 300  # the sleeper alone would sleep 600 s
    finally:
        ray.shutdown()
    got = records(tmp_path / "r")
    assert dead.lost == hung.lost == 1 and dead.statuses == hung.statuses == {"failed": 1}
    assert got["kills"].reason.startswith("worker died: WorkerCrashedError: ")
    assert got["sleeps"].reason == "timed out after 5 s"
