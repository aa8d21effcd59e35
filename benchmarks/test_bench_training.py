"""Training throughput of the shallow PLRNN, the ensemble speedup, and a fused torch reference.

Run with ``.venv/bin/python -m pytest benchmarks/test_bench_training.py --benchmark-only``.
Every case trains ``UPDATES`` gradient updates on batches of 16 windows of 200 steps of
Lorenz-63 (3 observed units, 50 hidden units); ``extra_info["steps_per_s"]`` is the throughput
in sequence steps (seeds x batch x window per update). The ensemble speedup is
``mean(eight_solo_runs) / mean(ensemble[8])`` (for 16 seeds: ``16 * mean(solo_run) /
mean(ensemble[16])``). ``test_ensemble_of_five`` times the dendPLRNN, RNN,
LSTM and GRU as the suites train them (5 seeds) on their native ensemble view and, for
comparison, forced onto the ``torch.func.vmap`` path. Torch runs on one thread: these models are far too small for intra-op
parallelism to pay, so a multi-core machine runs one process per core.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

import chaosbench.systems as systems
from chaosbench.models import ShPLRNN, build
from chaosbench.training import fit, resolve
from chaosbench.training.ensemble import Ensemble
from chaosbench.training.loop import run

UPDATES, BATCH, SEQ, HIDDEN = 30, 16, 200, 50
SETTINGS = {"budget": UPDATES, "batch_size": BATCH, "seq_len": SEQ, "progress": False,
            "device": "cpu"}
REGIME = {"name": "stf", "tau": 10}
FACTORY = functools.partial(ShPLRNN, hidden_dim=HIDDEN)
CELLS = ["shplrnn", "rnn", "lstm", "gru", "dendplrnn"]  # at their baseline sizes
RATIO_TARGETS = {"rnn": 1.5, "lstm": 2.5, "gru": 2.5, "dendplrnn": 2.5}  # x the shPLRNN's time
SPEEDUP_TARGET = 3.0  # the vmap path (the models' own methods) over the native path
SIDE_BY_SIDE_ROUNDS = 3


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lorenz() -> np.ndarray:
    system = systems.get("lorenz63")
    x = systems.trajectory(system, system.x0, 5000, transient=500)
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32)


def _record(benchmark, n_seeds: int) -> None:
    steps = UPDATES * n_seeds * BATCH * SEQ
    benchmark.extra_info["steps_per_s"] = steps / benchmark.stats.stats.mean
    benchmark.extra_info["ms_per_update"] = 1e3 * benchmark.stats.stats.min / UPDATES


@pytest.mark.benchmark(group="training")
def test_shplrnn_solo_run(benchmark, lorenz) -> None:
    benchmark.pedantic(lambda: fit(FACTORY, lorenz, 0.01, REGIME, seeds=[0], **SETTINGS),
                       rounds=3, warmup_rounds=1)
    _record(benchmark, 1)


@pytest.mark.benchmark(group="training")
def test_shplrnn_eight_solo_runs(benchmark, lorenz) -> None:
    def eight() -> None:
        for seed in range(8):
            fit(FACTORY, lorenz, 0.01, REGIME, seeds=[seed], **SETTINGS)

    benchmark.pedantic(eight, rounds=3, warmup_rounds=1)
    _record(benchmark, 8)


@pytest.mark.benchmark(group="training")
@pytest.mark.parametrize("n_seeds", [8, 16])
def test_shplrnn_ensemble(benchmark, lorenz, n_seeds) -> None:
    seeds = list(range(n_seeds))
    benchmark.pedantic(lambda: fit(FACTORY, lorenz, 0.01, REGIME, seeds=seeds, **SETTINGS),
                       rounds=3, warmup_rounds=1)
    _record(benchmark, n_seeds)


@pytest.mark.benchmark(group="ensemble of 5")
@pytest.mark.parametrize("path", ["native", "vmap"])
@pytest.mark.parametrize("name", CELLS)
def test_ensemble_of_five(benchmark, lorenz, name, path) -> None:
    """The suites' 5-seed ensemble of each cell on its native view or the vmap path."""
    train = _trainer(lorenz, _ensemble(name, path == "native"))
    benchmark.pedantic(train, rounds=3 if path == "native" else 2, warmup_rounds=1)
    _record(benchmark, 5)


@pytest.mark.benchmark(group="side by side")
def test_side_by_side_ratios(benchmark, lorenz) -> None:
    """Every cell's time over the shPLRNN's, and the vmap path's over the native path's.

    The cases run in interleaved rounds, each timed in CPU time of this process (one torch
    thread), so that the load of a shared machine weighs on all of them alike; the fastest
    round of each counts. Asserts the targets of :data:`RATIO_TARGETS` and :data:`SPEEDUP_TARGET`.
    """
    cases = {(n, p): _trainer(lorenz, _ensemble(n, p == "native"))
             for n in CELLS for p in ("native", "vmap") if p == "native" or n in RATIO_TARGETS}
    best = {case: math.inf for case in cases}

    def rounds() -> None:
        for _ in range(SIDE_BY_SIDE_ROUNDS):
            for case, train in cases.items():
                start = time.process_time()
                train()
                best[case] = min(best[case], (time.process_time() - start) / UPDATES)

    benchmark.pedantic(rounds, rounds=1, warmup_rounds=0)
    ms = {f"{n}-{p}": round(1e3 * t, 2) for (n, p), t in best.items()}
    ratio = {n: best[n, "native"] / best["shplrnn", "native"] for n in RATIO_TARGETS}
    speedup = {n: best[n, "vmap"] / best[n, "native"] for n in RATIO_TARGETS}
    benchmark.extra_info.update(ms_per_update=ms, x_shplrnn=ratio, vmap_over_native=speedup)
    print(f"\nms per update {ms}\nx shPLRNN {ratio}\nvmap / native {speedup}")
    assert all(ratio[n] <= RATIO_TARGETS[n] for n in RATIO_TARGETS), ratio
    assert all(v >= SPEEDUP_TARGET for v in speedup.values()), speedup


def _ensemble(name: str, native: bool) -> Ensemble:
    """5 seeds of ``name`` at its baseline sizes, on the native view or the vmap path."""
    factory = functools.partial(build, name)
    return Ensemble(factory, 3, list(range(5)), torch.device("cpu"), native=native)


def _trainer(data: np.ndarray, ensemble: Ensemble) -> Callable[[], object]:
    """``UPDATES`` more updates of ``ensemble`` (the training loop alone, no model building)."""
    config = resolve(None, REGIME, training={"batch_size": BATCH, "seq_len": SEQ})
    series, regime = torch.as_tensor(data), config.regime_object()
    return lambda: run(ensemble, series, regime, config.training, UPDATES, progress=False)


@pytest.mark.benchmark(group="training")
def test_torch_rnn_fused_reference(benchmark, lorenz) -> None:
    """``torch.nn.RNN`` (tanh, 50 units, C++ time loop) + linear readout, next-step MSE, RAdam."""
    torch.manual_seed(0)
    rnn, readout = nn.RNN(3, HIDDEN, batch_first=True), nn.Linear(HIDDEN, 3)
    params = [*rnn.parameters(), *readout.parameters()]
    optimizer = torch.optim.RAdam(params, lr=1e-3)
    data = torch.as_tensor(lorenz)
    generator = torch.Generator().manual_seed(0)

    def train() -> None:
        for _ in range(UPDATES):
            starts = torch.randint(len(data) - SEQ, (BATCH,), generator=generator)
            x = data[starts[:, None] + torch.arange(SEQ + 1)]
            optimizer.zero_grad()
            hidden, _ = rnn(x[:, :-1])
            torch.mean((readout(hidden) - x[:, 1:]) ** 2).backward()
            optimizer.step()

    benchmark.pedantic(train, rounds=3, warmup_rounds=1)
    _record(benchmark, 1)
