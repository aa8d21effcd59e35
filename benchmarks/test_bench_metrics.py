"""Speed targets of metric spec v1 (run with ``pytest benchmarks/ --benchmark-only``).

Targets: binned D_stsp on 100 000 x 3 points < 50 ms; mixture D_stsp on 10 000 x 64 < 2 s;
D_H on 100 000 x 64 < 1 s. Each test asserts its target on the fastest round, which is the
figure least disturbed by other load on the machine.
"""

from __future__ import annotations

import numpy as np
import pytest

from chaosbench.metrics import power_spectrum_distance, state_space_divergence


def _pair(length: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((length, dim)), rng.standard_normal((length, dim))


@pytest.mark.parametrize(
    ("label", "metric", "shape", "target_s"),
    [
        ("dstsp_bins_100k_x3", state_space_divergence, (100_000, 3), 0.05),
        ("dstsp_gmm_10k_x64", state_space_divergence, (10_000, 64), 2.0),
        ("dh_100k_x64", power_spectrum_distance, (100_000, 64), 1.0),
    ],
)
def test_metric_speed(benchmark, label, metric, shape, target_s):
    true, gen = _pair(*shape)
    rounds = 3 if target_s > 0.5 else 20
    value = benchmark.pedantic(metric, args=(true, gen), rounds=rounds, warmup_rounds=1)
    assert np.isfinite(value)
    assert benchmark.stats.stats.min < target_s, f"{label}: {benchmark.stats.stats.min:.3f} s"
