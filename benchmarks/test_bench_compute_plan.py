"""Cost per gradient update of every latent baseline, as the standard suite trains it.

Run with ``.venv/bin/python -m pytest benchmarks/test_bench_compute_plan.py --benchmark-only``.
Each case trains an ensemble of 5 seeds of one latent baseline (its YAML sizes) under one
regime (its YAML settings, ``tau = lyapunov`` from the dataset card) on the frozen training
series of a 3-d dataset (``lorenz63``) and of the 20-d one (``lorenz96``), for ``UPDATES``
updates of the training loop alone (no model building); ``extra_info["ms_per_update"]`` is the
fastest round per update. Torch runs on one thread, one process per core, as the suites do.
These figures feed the compute plan in ``benchmarks/README.md``.
"""

from __future__ import annotations

import functools

import pytest
from conftest import dataset as dataset_named
import torch

from chaosbench.models import build
from chaosbench.training import resolve
from chaosbench.training.ensemble import Ensemble
from chaosbench.training.loop import run

UPDATES, SEEDS = 30, 5
TOP_RUNG = 8000  # the budget the plan projects; GTF's decay: budget resolves against it
MODELS = ["plrnn", "shplrnn", "clipped_shplrnn", "dendplrnn", "rnn", "lstm", "gru"]
DATASETS = ["lorenz63", "lorenz96"]
REGIMES = ["bptt", "stf", "gtf"]
TRAINING = {"batch_size": 16, "seq_len": 200}  # the standard suite's


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.benchmark(group="compute plan")
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize("dataset", DATASETS)
def test_cost_per_update(benchmark, dataset: str, regime: str, model: str) -> None:
    ds = dataset_named(dataset)
    config = resolve(model, regime, training=TRAINING)
    fitted = config.regime_object().resolve({"lambda_max": ds.lambda_max, "dt": ds.dt, "budget": TOP_RUNG})
    ensemble = Ensemble(functools.partial(build, model), ds.obs_dim, list(range(SEEDS)), torch.device("cpu"))
    series = torch.as_tensor(ds.train, dtype=torch.float32)
    benchmark.pedantic(
        lambda: run(ensemble, series, fitted, config.training, UPDATES, progress=False),
        rounds=2, warmup_rounds=1,
    )
    benchmark.extra_info["ms_per_update"] = 1e3 * benchmark.stats.stats.min / UPDATES
