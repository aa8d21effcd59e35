"""Dataset cards: the YAML that says how a frozen dataset follows from its system.

A card names the system and its parameters, the sampling step, lengths, transient and seed,
what is observed (components, delay embedding, noise) and how it is normalised. The block after
``COMPUTED_MARKER`` is written by ``chaosbench data build`` (reference Lyapunov quantities) and
everything above it is authored by hand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chaosbench.errors import ChaosbenchError
from chaosbench.yamlio import parse_yaml

COMPUTED_MARKER = "# --- computed by `chaosbench data build --lyapunov`; do not edit below ---"

_REQUIRED = ("name", "version", "system", "dt", "train_length", "test_length")


@dataclass(frozen=True)
class Embedding:
    """Delay embedding ``(x(t), x(t - lag), ..., x(t - (dim - 1) lag))`` of each observed component."""

    dim: int
    lag: int

    @property
    def span(self) -> int:
        """Extra leading samples the embedding consumes."""
        return (self.dim - 1) * self.lag


@dataclass(frozen=True)
class Card:
    name: str
    version: int
    system: str
    dt: float
    train_length: int
    test_length: int
    params: dict[str, float] = field(default_factory=dict)
    transient: int = 1000
    seed: int = 0
    observed: tuple[int, ...] | None = None
    embedding: Embedding | None = None
    train_noise: float = 0.0
    normalization: str = "zscore_train"
    description: str = ""
    citation: str = ""
    sampling_note: str = ""
    computed: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The card as a plain mapping, computed quantities merged in at the top level."""
        out = asdict(self)
        out.pop("computed")
        out["observed"] = list(self.observed) if self.observed is not None else None
        out.update(self.computed)
        return out


def parse(text: str, source: str) -> Card:
    """Parse and validate card YAML; every problem is a one-line ChaosbenchError naming ``source``."""
    raw = parse_yaml(text, source)
    if not isinstance(raw, dict):
        raise ChaosbenchError(f"{source}: a dataset card must be a YAML mapping")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise ChaosbenchError(f"{source}: missing key(s) {', '.join(missing)}")
    known = {f for f in Card.__dataclass_fields__} | {"lyapunov"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ChaosbenchError(f"{source}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    computed = {"lyapunov": raw.pop("lyapunov")} if "lyapunov" in raw else {}
    try:
        emb = raw.pop("embedding", None)
        embedding = Embedding(int(emb["dim"]), int(emb["lag"])) if emb else None
        observed = raw.pop("observed", None)
        card = Card(
            **{k: v for k, v in raw.items() if k not in ("dt", "train_noise")},
            dt=float(raw["dt"]),
            train_noise=float(raw.get("train_noise", 0.0)),
            observed=tuple(int(i) for i in observed) if observed is not None else None,
            embedding=embedding,
            computed=computed,
        )
    except (TypeError, ValueError, KeyError) as err:
        raise ChaosbenchError(f"{source}: invalid value ({err})") from None
    _check(card, source)
    return card


def _check(card: Card, source: str) -> None:
    def bad(msg: str) -> ChaosbenchError:
        return ChaosbenchError(f"{source}: {msg}")

    for key in ("train_length", "test_length", "transient", "seed", "version"):
        value = getattr(card, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise bad(f"'{key}' must be a non-negative integer, got {value!r}")
    if card.train_length < 2 or card.test_length < 2:
        raise bad("train_length and test_length must be at least 2")
    if not card.dt > 0:
        raise bad(f"'dt' must be positive, got {card.dt}")
    if not 0 <= card.train_noise < 10:
        raise bad(f"'train_noise' must be a relative standard deviation in [0, 10), got {card.train_noise}")
    if card.normalization not in ("zscore_train", "none"):
        raise bad(f"'normalization' must be 'zscore_train' or 'none', got {card.normalization!r}")
    if card.embedding is not None and (card.embedding.dim < 1 or card.embedding.lag < 1):
        raise bad("embedding dim and lag must be positive")


def read(path: Path) -> Card:
    try:
        text = path.read_text()
    except OSError as err:
        raise ChaosbenchError(f"cannot read dataset card {path}: {err.strerror}") from None
    return parse(text, str(path))


def write_computed(path: Path, computed: dict[str, Any]) -> None:
    """Replace the computed block at the end of the card file, keeping the authored part."""
    authored = path.read_text().split(COMPUTED_MARKER)[0].rstrip("\n")
    block = yaml.safe_dump(computed, sort_keys=False, default_flow_style=None, width=100)
    path.write_text(f"{authored}\n\n{COMPUTED_MARKER}\n{block}")
