"""Suite timing targets: ``smoke`` under 2 minutes, a rerun of a finished suite under 5 seconds.

Run with ``.venv/bin/python -m pytest benchmarks/test_bench_harness.py --benchmark-only``. Both
go through the command line as a user would (a fresh process: imports included), with the
default executor. ``quick`` (target: under 10 minutes on 2 cores) is too long for a benchmark
run; time it with ``time chaosbench run --suite quick``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SMOKE_TARGET_S, RERUN_TARGET_S = 120.0, 5.0


def _run(results: Path) -> None:
    cmd = [sys.executable, "-m", "chaosbench", "run", "--suite", "smoke", "--results", str(results), "--no-progress"]
    subprocess.run(cmd, check=True, capture_output=True)


@pytest.mark.benchmark(group="suites")
def test_smoke_suite(benchmark, tmp_path: Path) -> None:
    results = tmp_path / "results"

    def fresh() -> None:
        shutil.rmtree(tmp_path, ignore_errors=True)
        _run(results)

    benchmark.pedantic(fresh, rounds=1, iterations=1)
    assert benchmark.stats.stats.max < SMOKE_TARGET_S


@pytest.mark.benchmark(group="suites")
def test_rerun_of_finished_smoke_suite(benchmark, tmp_path: Path) -> None:
    results = tmp_path / "results"
    _run(results)
    benchmark.pedantic(lambda: _run(results), rounds=3, iterations=1)
    assert benchmark.stats.stats.max < RERUN_TARGET_S
