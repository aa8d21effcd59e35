"""Cost of scoring a unit's 5 members, as one batch and one by one, with the standard suite's
evaluation settings (full test series, K = 8 free runs, transient 1000, 8 x 2000 Lyapunov steps).

Run with ``.venv/bin/python -m pytest benchmarks/test_bench_evaluation.py --benchmark-only``.
The members are the models of seeds 0 to 4 as built (untrained, the models' YAML sizes): what a
member scores does not change what its evaluation costs, unless its runs diverge, which
``extra_info["statuses"]`` shows. ``extra_info["s_per_member"]`` is the fastest round divided by
5. One torch thread, as the suites run. These figures feed the compute plan in
``benchmarks/README.md``.
"""

from __future__ import annotations

import functools

import pytest
from conftest import dataset as dataset_named

from chaosbench.harness.evaluate import (
    EvalSettings,
    evaluate,
    evaluate_members,
    reference,
)
from chaosbench.models import build
from chaosbench.training.ensemble import build_member

SEEDS = 5
MODELS = ["shplrnn", "dendplrnn", "lstm"]
DATASETS = ["lorenz63", "lorenz96"]
SETTINGS = EvalSettings(transient=1000, lyapunov_inits=8, lyapunov_steps=2000)  # the standard suite's


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.benchmark(group="evaluation")
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "one_by_one"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("dataset", DATASETS)
def test_evaluation_of_a_unit(benchmark, dataset: str, model: str, batched: bool) -> None:
    ds = dataset_named(dataset)
    ref = reference(ds)
    members = [build_member(functools.partial(build, model), ds.obs_dim, seed) for seed in range(SEEDS)]

    def score() -> list:
        if batched:
            return evaluate_members(members, ds, SETTINGS, ref)
        return [evaluate(member, ds, SETTINGS, ref) for member in members]

    outcomes = benchmark.pedantic(score, rounds=1, warmup_rounds=0)
    assert all(o.status != "failed" for o in outcomes)
    benchmark.extra_info["statuses"] = [o.status for o in outcomes]
    benchmark.extra_info["s_per_member"] = benchmark.stats.stats.min / SEEDS
