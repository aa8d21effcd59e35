"""Turn a dataset card into arrays: integrate the system, observe, add noise, normalise.

Train and test start from two different perturbations of the system's reference point, each
followed by the card's transient, so both lie on the attractor but on unrelated stretches of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chaosbench import systems
from chaosbench.data.card import Card
from chaosbench.errors import ChaosbenchError
from chaosbench.systems import System, trajectory

IC_PERTURBATION = 0.1  # absolute std of the initial-condition perturbation, per free component


@dataclass(frozen=True)
class Arrays:
    train: np.ndarray  # (T_train, N) float32, normalised
    test: np.ndarray  # (T_test, N) float32, normalised
    mean: np.ndarray  # (N,) float64 normalisation statistics of the (noisy) raw train data
    std: np.ndarray


def system_of(card: Card) -> System:
    return systems.get(card.system, **card.params)


def stepping(card: Card, system: System) -> tuple[int, int]:
    """``(substeps, every)``: RK4 steps per sample for flows, map steps per sample for maps."""
    if system.kind == "map":
        every = card.dt / system.dt
        if not math.isclose(every, round(every), rel_tol=1e-9) or round(every) < 1:
            raise ChaosbenchError(
                f"dataset '{card.name}': dt {card.dt} is not a multiple of the map's step {system.dt}"
            )
        return 1, int(round(every))
    # Keep the RK4 step no larger than the system's own resolution dt / substeps.
    return max(1, math.ceil(system.substeps * card.dt / system.dt - 1e-9)), 1


def raw_trajectories(card: Card, n: int) -> np.ndarray:
    """``(n, 2, dim)`` float64 raw states: index 0 the train orbit, 1 the test orbit."""
    system = system_of(card)
    substeps, every = stepping(card, system)
    rng = np.random.default_rng(card.seed)
    x0 = np.repeat(system.x0[None, :].astype(np.float64), 2, axis=0)
    free = list(system.free_components) if system.free_components is not None else list(range(system.dim))
    x0[:, free] += IC_PERTURBATION * rng.standard_normal((2, len(free)))
    states = trajectory(
        system, x0, n, dt=card.dt if system.kind == "flow" else None,
        substeps=substeps, every=every, transient=card.transient,
    )
    if not np.isfinite(states).all():
        raise ChaosbenchError(f"dataset '{card.name}': the trajectory left the finite range (check parameters)")
    return states


def independent_orbits(card: Card, mean: np.ndarray, std: np.ndarray, n_orbits: int, length: int,
                       seeds: Sequence[int] = (0,)) -> np.ndarray:  # fmt: skip
    """``(length, len(seeds) * n_orbits, N)`` float64: fresh test-like series of the true system.

    For each seed, ``n_orbits`` orbits start from their own perturbations of the reference point
    (drawn from the seed, a stream apart from the card's), run the card's transient, are observed
    like the test split and normalised with the frozen dataset's ``mean`` and ``std``: what the
    test split would have been from another initial condition. Column ``i n_orbits + j`` is orbit
    ``j`` of ``seeds[i]``. All orbits are integrated as one batch (one RK4 step for all of them),
    which gives each the same values as its integration alone. These orbits measure the sampling
    floor of a metric.
    """
    system = system_of(card)
    substeps, every = stepping(card, system)
    span = card.embedding.span if card.embedding else 0
    free = list(system.free_components) if system.free_components is not None else list(range(system.dim))
    x0 = np.repeat(system.x0[None, :].astype(np.float64), len(seeds) * n_orbits, axis=0)
    perturbations = [np.random.default_rng([card.seed, 2, seed]).standard_normal((n_orbits, len(free))) for seed in seeds]
    x0[:, free] += IC_PERTURBATION * np.concatenate(perturbations)
    states = trajectory(system, x0, length + span, dt=card.dt if system.kind == "flow" else None,
                        substeps=substeps, every=every, transient=card.transient, keep=card.observed)  # fmt: skip
    return (embed(card, states) - mean) / std


def observe(card: Card, states: np.ndarray) -> np.ndarray:
    """Observed components of ``states`` ``(n, ..., dim)``, delay-embedded when the card says so:
    ``(n - span, ..., N)``."""
    return embed(card, states if card.observed is None else states[..., list(card.observed)])


def embed(card: Card, obs: np.ndarray) -> np.ndarray:
    """The card's delay embedding of observed series ``(n, ..., n_obs)`` (``obs`` itself without one)."""
    if card.embedding is None:
        return obs
    span, lag = card.embedding.span, card.embedding.lag
    n = len(obs) - span
    # Column block k holds x(t - k lag); row t is time span + t of the raw series.
    return np.concatenate([obs[span - k * lag : span - k * lag + n] for k in range(card.embedding.dim)], axis=-1)


def required_length(card: Card) -> int:
    span = card.embedding.span if card.embedding else 0
    return max(card.train_length, card.test_length) + span


def build_arrays(card: Card, states: np.ndarray | None = None) -> Arrays:
    """The dataset's arrays from raw states ``(n, 2, dim)`` (generated here when not given)."""
    span = card.embedding.span if card.embedding else 0
    if states is None:
        states = raw_trajectories(card, required_length(card))
    train = observe(card, states[: card.train_length + span, 0])
    test = observe(card, states[: card.test_length + span, 1])
    if card.train_noise > 0:
        noise_rng = np.random.default_rng([card.seed, 1])
        train = train + card.train_noise * train.std(axis=0) * noise_rng.standard_normal(train.shape)
    if card.normalization == "zscore_train":
        mean, std = train.mean(axis=0), train.std(axis=0)
        if np.any(std == 0):
            raise ChaosbenchError(f"dataset '{card.name}': an observed component is constant")
    else:
        mean, std = np.zeros(train.shape[1]), np.ones(train.shape[1])
    return Arrays(
        train=((train - mean) / std).astype(np.float32),
        test=((test - mean) / std).astype(np.float32),
        mean=mean,
        std=std,
    )
