"""The recipes of docs/extending.md stay true: every in-tree baseline is registered and has its
model YAML, and a latent model and a metric added as the recipes say reach the run records of a
suite derived from the smoke suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import chaosbench.models as cm
from chaosbench import data
from chaosbench.harness import suites
from chaosbench.harness.runner import run_suite
from chaosbench.leaderboard.aggregate import aggregate
from chaosbench.metrics import METRICS
from chaosbench.records import RecordKey, RecordStore
from chaosbench.yamlio import read_yaml
from conftest import baseline_names

TOY_MODEL, TOY_METRIC = "toy_map", "toy_mean_gap"
TOY_YAML = f"""\
model: {TOY_MODEL}
params:
  hidden_dim: 6
  a: 0.8
"""
TOY_LR = 0.02  # the regime YAML's per-model override for the toy (stf.yaml: models.toy_map)


def test_every_baseline_has_its_yaml_and_every_yaml_names_a_baseline() -> None:
    yamls = {path.stem: read_yaml(path) for path in (cm.baselines_dir() / "models").glob("*.yaml")}
    assert sorted(yamls) == sorted(baseline_names())
    assert all(doc["model"] == name for name, doc in yamls.items())
    assert {"latent", "evaluable"} == {cm.registry.meta(name)["kind"] for name in yamls}


def test_every_model_class_the_package_exports_is_registered() -> None:
    exported = {getattr(cm, name) for name in cm.__all__}
    models = {
        obj for obj in exported
        if isinstance(obj, type) and obj is not cm.LatentModel and not getattr(obj, "_is_protocol", False)
        and (issubclass(obj, cm.LatentModel) or callable(getattr(obj, "fit", None)))
    }  # fmt: skip
    assert models == {cm.get(name) for name in baseline_names()}


class ToyMap(cm.LatentModel):
    """``z' = a z + W1 tanh(W2 z + b)``, observed in full: a latent model in a dozen lines."""

    def __init__(self, obs_dim: int, hidden_dim: int = 4, a: float = 0.5) -> None:
        super().__init__(obs_dim, obs_dim, {"hidden_dim": hidden_dim, "a": a})
        self.a = nn.Parameter(torch.full((obs_dim,), float(a)))
        self.W1 = nn.Parameter(0.1 * torch.randn(obs_dim, hidden_dim))
        self.W2 = nn.Parameter(0.1 * torch.randn(hidden_dim, obs_dim))
        self.b = nn.Parameter(torch.zeros(hidden_dim))

    def step(self, z: torch.Tensor) -> torch.Tensor:
        return self.a * z + torch.tanh(z @ self.W2.T + self.b) @ self.W1.T

    def observe(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def jacobian(self, z: torch.Tensor) -> torch.Tensor:  # optional; autograd's otherwise
        slope = 1 - torch.tanh(z @ self.W2.T + self.b) ** 2
        return torch.diag_embed(self.a.expand_as(z)) + (self.W1 * slope[..., None, :]) @ self.W2


def mean_gap(x_true: np.ndarray, x_gen: np.ndarray) -> float:
    """Mean over components of |mean of x_gen - mean of x_true|; 1e3 for a non-finite series."""
    gap = np.abs(np.mean(x_gen, axis=0) - np.mean(x_true, axis=0)).mean()
    return float(gap) if np.isfinite(gap) else 1e3


@pytest.fixture()
def registries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The model and metric registries, restored after the test (registrations are undone)."""
    for reg in (cm.registry, METRICS):
        reg.names()  # load the entry points first, so that they are part of what is restored
        monkeypatch.setattr(reg, "_entries", dict(reg._entries))
        monkeypatch.setattr(reg, "_meta", dict(reg._meta))


def test_a_registered_model_and_metric_reach_the_records(
    tmp_path: Path, baselines: Path, registries: None
) -> None:
    seen: list[tuple[np.ndarray, np.ndarray]] = []

    def toy_metric(x_true: np.ndarray, x_gen: np.ndarray) -> float:
        seen.append((np.array(x_true), np.array(x_gen)))
        return mean_gap(x_true, x_gen)

    # the recipes: register the class and the metric, write the model YAML and the override
    cm.register(TOY_MODEL, ToyMap)
    METRICS.register(TOY_METRIC, toy_metric, better="min", label="mean gap", on="trajectory")
    (baselines / "models" / f"{TOY_MODEL}.yaml").write_text(TOY_YAML)
    stf = baselines / "regimes" / "stf.yaml"
    stf.write_text(stf.read_text() + f"  {TOY_MODEL}:\n    training: {{lr: {TOY_LR}}}\n")

    smoke = read_yaml(baselines / "suites" / "smoke.yaml")
    evaluation = {"n_test": 600, "transient": 50, "lyapunov_inits": 2, "lyapunov_steps": 50}
    doc = {**smoke, "models": [TOY_MODEL], "seeds": [0], "budget": 10, "evaluation": evaluation,
           "training": {"batch_size": 4, "seq_len": 20},
           "unit_timeout": 0}  # no limit: the units run in this process, which holds the registrations  # fmt: skip
    suite = suites.parse(doc)
    summary = run_suite(suite, tmp_path / "results", progress=False, report=lambda line: None)
    assert summary.computed == 2 and dict(summary.statuses) == {"ok": 2}

    store = RecordStore(tmp_path / "results")
    test = data.load("lorenz63").test[:600]
    records = [store.read(store.path_for(RecordKey("lorenz63", TOY_MODEL, regime, 0))) for regime in ("bptt", "stf")]
    runs = 8  # free runs per record (evaluation protocol v3), each scored by the metric
    assert len(seen) == 2 * runs
    for i, record in enumerate(records):
        assert record.status == "ok"
        assert record.config["model"]["kind"] == "latent"
        assert record.config["model"]["params"] == {"obs_dim": 3, "hidden_dim": 6, "a": 0.8}  # the YAML
        gaps = []
        for x_true, x_gen in seen[i * runs : (i + 1) * runs]:
            np.testing.assert_array_equal(x_true, test)  # the test series ...
            assert x_gen.shape == (600, 3)  # ... and a free run after the transient
            gaps.append(mean_gap(x_true, x_gen))
        assert record.metrics_runs[TOY_METRIC] == gaps
        assert record.metrics[TOY_METRIC] == pytest.approx(np.mean(gaps), rel=1e-12) and min(gaps) > 0
    bptt, stf_record = records
    assert stf_record.config["training"]["lr"] == TOY_LR != bptt.config["training"]["lr"]

    table = aggregate(records).set_index("regime")  # the leaderboard's table carries it too
    assert table[f"{TOY_METRIC}_median"].to_dict() == {r.key.regime: r.metrics[TOY_METRIC] for r in records}
