"""The Ray executor runs the smoke suite on a private loopback instance with the local records."""

from __future__ import annotations

import dataclasses
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
