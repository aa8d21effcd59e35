"""A unit's members scored as one batch get exactly the outcomes each gets scored alone; a member
that diverges or raises does so by itself."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import torch

from chaosbench import data
from chaosbench.harness.evaluate import (
    EvalSettings,
    Outcome,
    evaluate,
    evaluate_members,
    reference,
)
from chaosbench.harness.members import Members
from chaosbench.models import build
from chaosbench.models.plrnn import ShPLRNN, StackedShPLRNN
from chaosbench.training import fit

SETTINGS = EvalSettings(n_test=2000, transient=50, lyapunov_inits=2, lyapunov_steps=50)
CASES = {  # dataset, model and its sizes: every view family, a 3-d and the 20-d dataset
    "shplrnn": ("lorenz63", {"hidden_dim": 8}),
    "dendplrnn": ("lorenz63", {"latent_dim": 5, "n_bases": 3}),
    "lstm": ("lorenz96", {"hidden_dim": 8}),
    "gru": ("lorenz96", {"hidden_dim": 8}),
}


@functools.cache
def _dataset(name: str) -> data.Dataset:
    return data.load(name)


def _members(name: str, seeds: tuple[int, ...] = (0, 1, 2)) -> tuple[list[torch.nn.Module], data.Dataset]:
    dataset, params = CASES[name]
    ds = _dataset(dataset)
    factory = functools.partial(build, name, **params)
    result = fit(factory, ds.train, ds.dt, "bptt", seeds=list(seeds), budget=5, batch_size=4, seq_len=20,
                 progress=False)  # fmt: skip
    return result.members, ds


def _assert_same(batched: Outcome, alone: Outcome) -> None:
    assert (batched.status, batched.reason) == (alone.status, alone.reason)
    assert batched.metrics == alone.metrics and batched.runs == alone.runs and batched.info == alone.info
    assert batched.artifacts.keys() == alone.artifacts.keys()
    for key, value in batched.artifacts.items():
        assert np.array_equal(value, alone.artifacts[key], equal_nan=True)


@pytest.mark.parametrize("name", CASES)
def test_batched_members_score_exactly_as_alone(name: str) -> None:
    models, ds = _members(name)
    ref = reference(ds)
    batched = evaluate_members(models, ds, SETTINGS, ref, [None, "training diverged at update 4", None])
    alone = [evaluate(m, ds, SETTINGS, ref, training_failure=f)
             for m, f in zip(models, [None, "training diverged at update 4", None])]  # fmt: skip
    for b, a in zip(batched, alone, strict=True):
        _assert_same(b, a)
    assert batched[0].metrics != batched[2].metrics  # different members, really scored apart
    assert batched[1].status == "diverged"


def test_a_member_whose_runs_diverge_diverges_alone() -> None:
    models, ds = _members("shplrnn")
    with torch.no_grad():
        models[1].A.fill_(3.0)  # the orbit grows by 3 per step: inf within a few hundred steps
    ref = reference(ds)
    batched = evaluate_members(models, ds, SETTINGS, ref)
    assert [o.status for o in batched] == ["ok", "diverged", "ok"]
    assert batched[1].reason.startswith("8 of 8 free runs diverged")
    for i, model in enumerate(models):
        _assert_same(batched[i], evaluate(model, ds, SETTINGS, ref))


class Fragile(ShPLRNN):
    """A shPLRNN whose native view raises in ``step`` when a member is ``broken``."""

    def __init__(self, obs_dim: int, hidden_dim: int = 8) -> None:
        super().__init__(obs_dim, hidden_dim=hidden_dim)
        self.register_buffer("broken", torch.zeros(()))

    def stacked(self, params: Mapping[str, torch.Tensor]) -> StackedShPLRNN:
        view = super().stacked(params)
        step, broken = view.step, bool(params["broken"].any())

        def fragile(z: torch.Tensor) -> Any:
            if broken:
                raise RuntimeError("member broke")
            return step(z)

        view.step = fragile  # type: ignore[method-assign]
        return view


def test_a_member_that_raises_fails_alone() -> None:
    ds = _dataset("lorenz63")
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(Fragile(3))
    models[2].broken.fill_(1.0)
    ref = reference(ds)
    batched = evaluate_members(models, ds, SETTINGS, ref)
    assert [o.status for o in batched] == ["ok", "ok", "failed"]
    assert batched[2].reason == "generate: RuntimeError: member broke"
    for i in range(2):
        _assert_same(batched[i], evaluate(models[i], ds, SETTINGS, ref))


def test_members_that_do_not_stack_are_scored_one_by_one() -> None:
    models, ds = _members("shplrnn", seeds=(0,))
    other, _ = _members("dendplrnn", seeds=(0,))
    ref = reference(ds)
    mixed = evaluate_members([models[0], other[0]], ds, SETTINGS, ref)
    _assert_same(mixed[0], evaluate(models[0], ds, SETTINGS, ref))
    _assert_same(mixed[1], evaluate(other[0], ds, SETTINGS, ref))


def test_one_batch_gives_every_member_its_own_spectrum() -> None:
    models, ds = _members("lstm")
    starts = ds.test[:2000:400]
    batch = Members.of(models).spectra(starts, k=4, n_steps=50, transient=20)
    for model, exponents in zip(models, batch, strict=True):
        assert np.isfinite(exponents).all()
        assert np.array_equal(exponents, Members.of([model]).spectra(starts, k=4, n_steps=50, transient=20)[0])
