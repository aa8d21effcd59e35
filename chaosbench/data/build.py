"""``build`` writes the frozen arrays and MANIFEST; ``verify`` checks hashes and rebuilds cards.

Rebuild tolerance: the integrator uses only elementwise IEEE arithmetic, so on one machine a
rebuild reproduces the frozen float32 arrays bit for bit, and ``verify`` compares whole arrays
within ``VERIFY_ATOL`` (normalised units). On another platform the last bit of a transcendental
function or of a vectorised power may differ, and a chaotic orbit amplifies that difference until
the two series are unrelated (the forced Duffing orbit separates within its 1 000-sample transient
between AVX-512 and AVX2 builds of numpy). A split that separated is then accepted when it is the
full noise-free state and every sample is one sampling step of its predecessor under the card's
equations within ``VERIFY_STEP_ATOL`` (float32 storage leaves < 1e-6 on every v1 card; a changed parameter or a
forged stretch leaves far more: Duffing with gamma 0.45 instead of 0.5 leaves ~1e-2). Observed,
delay-embedded or noisy splits cannot be checked step by step and must match whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from chaosbench.data import card as cards
from chaosbench.data import reference
from chaosbench.data.dataset import names as dataset_names
from chaosbench.data.generate import build_arrays, raw_trajectories, required_length, stepping, system_of
from chaosbench.data.store import data_dir as resolve_data_dir
from chaosbench.data.store import (
    load_npz,
    read_manifest,
    save_npz,
    sha256_file,
    write_manifest,
)
from chaosbench.errors import ChaosbenchError, IntegrityError
from chaosbench.systems.integrate import advance

VERIFY_ATOL = 1e-5
VERIFY_STEP_ATOL = 1e-4


def _source_key(card: cards.Card) -> tuple:
    """Cards with equal keys share one raw trajectory (e.g. the lorenz63 family)."""
    return (card.system, tuple(sorted(card.params.items())), card.dt, card.transient, card.seed)


def build_all(
    selected: Iterable[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Generate and write ``<name>.npz`` for the selected cards (all by default), then the MANIFEST."""
    base = resolve_data_dir(data_dir)
    chosen = list(selected) if selected is not None else dataset_names(base)
    all_cards = {n: cards.read(base / f"{n}.yaml") for n in dataset_names(base)}
    unknown = [n for n in chosen if n not in all_cards]
    if unknown:
        from chaosbench.data.dataset import read_card

        read_card(unknown[0], base)  # raises with suggestions
    # One integration per source, as long as the longest card that shares it needs; sources are
    # independent, so they run in parallel processes.
    lengths: dict[tuple, int] = {}
    first_card: dict[tuple, cards.Card] = {}
    for name in chosen:
        key = _source_key(all_cards[name])
        lengths[key] = max(lengths.get(key, 0), required_length(all_cards[name]))
        first_card.setdefault(key, all_cards[name])
    jobs = [(first_card[key], n) for key, n in lengths.items()]
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    with ProcessPoolExecutor(workers) if workers > 1 else _InProcess() as pool:
        futures = [pool.submit(raw_trajectories, card, n) for card, n in jobs]
        states = {}
        for key, future in tqdm(zip(lengths, futures), total=len(futures), desc="integrating", disable=not progress):
            states[key] = future.result()
    written = {}
    for name in chosen:
        card = all_cards[name]
        arrays = build_arrays(card, states[_source_key(card)])
        path = base / f"{name}.npz"
        save_npz(path, train=arrays.train, test=arrays.test, mean=arrays.mean, std=arrays.std)
        written[name] = path
    update_manifest(base)
    return written


def build_lyapunov(
    selected: Iterable[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> dict[str, dict]:
    """Compute reference Lyapunov blocks (once per system and parameters) into the cards."""
    base = resolve_data_dir(data_dir)
    chosen = list(selected) if selected is not None else dataset_names(base)
    blocks: dict[tuple, dict] = {}
    for name in tqdm(chosen, desc="Lyapunov spectra", disable=not progress):
        card = cards.read(base / f"{name}.yaml")
        key = (card.system, tuple(sorted(card.params.items())))
        if key not in blocks:
            blocks[key] = reference.compute(card, progress=progress)
        cards.write_computed(base / f"{name}.yaml", blocks[key])
    update_manifest(base)
    return {name: blocks[key] for name, key in zip(chosen, blocks)}


def update_manifest(base: Path) -> dict[str, str]:
    """Hash every card and array in ``base`` into the MANIFEST."""
    entries = {p.name: sha256_file(p) for p in sorted(base.glob("*.yaml")) + sorted(base.glob("*.npz"))}
    write_manifest(base, entries)
    return entries


class _InProcess:
    """The ``submit`` interface of an executor, run in this process (one job or one core)."""

    def __enter__(self) -> _InProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn, *args):
        future: Future = Future()
        future.set_result(fn(*args))
        return future


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str


def verify(
    selected: Iterable[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    rebuild: bool = True,
    lyapunov: bool = False,
    progress: bool = True,
) -> list[Check]:
    """Check every file's hash against the MANIFEST, (``rebuild``) that arrays follow from cards,
    and (``lyapunov``) that a fresh, cheaper engine run reproduces the stored ``lambda_max``."""
    base = resolve_data_dir(data_dir)
    chosen = list(selected) if selected is not None else dataset_names(base)
    checks = []
    manifest = read_manifest(base)
    listed = set(manifest)
    for name in tqdm(chosen, desc="verifying datasets", disable=not progress):
        problems = []
        for filename in (f"{name}.yaml", f"{name}.npz"):
            path = base / filename
            if filename not in listed:
                problems.append(f"{filename} not in MANIFEST")
            elif not path.is_file():
                problems.append(f"{filename} missing")
            elif sha256_file(path) != manifest[filename]:
                problems.append(f"{filename} sha256 mismatch (corrupt or modified)")
        if problems:
            checks.append(Check(name, False, "; ".join(problems)))
            continue
        message = "hashes ok"
        if rebuild:
            try:
                ok, message = _rebuild_matches(cards.read(base / f"{name}.yaml"), load_npz(base / f"{name}.npz"))
            except (ChaosbenchError, IntegrityError) as err:
                ok, message = False, str(err)
            if not ok:
                checks.append(Check(name, False, message))
                continue
        if lyapunov:
            ok, note = reference.recheck(cards.read(base / f"{name}.yaml"))
            message = f"{message}; {note}"
            if not ok:
                checks.append(Check(name, False, message))
                continue
        checks.append(Check(name, True, message))
    return checks


def _rebuild_matches(card: cards.Card, frozen: dict[str, np.ndarray]) -> tuple[bool, str]:
    arrays = build_arrays(card)
    notes = []
    for split in ("train", "test"):
        old, new = frozen[split], getattr(arrays, split)
        if old.shape != new.shape:
            return False, f"{split} shape {old.shape} != rebuilt {new.shape}"
        apart = np.flatnonzero(np.abs(old - new).max(axis=1) > VERIFY_ATOL)
        if apart.size == 0:
            notes.append(f"{split} identical")
            continue
        separation = f"{split} separates from the rebuilt array at sample {apart[0]}"
        if not _steppable(card, split):
            return False, (f"{separation} and cannot be checked step by step (observed, embedded or noisy); "
                           "on the machine that built it, this means the card no longer matches its arrays")  # fmt: skip
        residual = _step_residual(card, old, frozen["mean"], frozen["std"])
        if residual > VERIFY_STEP_ATOL:
            return False, (f"{separation}, and its samples do not follow the card's equations (one-step "
                           f"residual {residual:.2g} > {VERIFY_STEP_ATOL:g}): the card no longer matches its arrays")  # fmt: skip
        notes.append(f"{separation} (platform floating point), every step follows the card's equations "
                     f"(residual {residual:.1g})")  # fmt: skip
    return True, "rebuilt: " + ", ".join(notes)


def _steppable(card: cards.Card, split: str) -> bool:
    """A split that is the full, noise-free state, so that each sample is one step of its predecessor."""
    noisy = split == "train" and card.train_noise > 0
    return card.observed is None and card.embedding is None and not noisy


def _step_residual(card: cards.Card, series: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """Largest normalised distance between each sample and one sampling step of its predecessor."""
    system = system_of(card)
    substeps, every = stepping(card, system)
    states = series.astype(np.float64) * std + mean
    stepped = states[:-1]
    for _ in range(every):
        stepped = advance(system, stepped, card.dt if system.kind == "flow" else None, substeps)
    return float(np.max(np.abs(stepped - states[1:]) / std))
