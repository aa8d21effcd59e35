"""One small generic registry used for systems, datasets, models, regimes and metrics."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from chaosbench.errors import ChaosbenchError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (classes, factories, specs) with free-form metadata.

    ``loader`` is called once, on first lookup, to register entries that are expensive or
    optional (entry points, third-party packages), so importing chaosbench stays cheap.
    """

    def __init__(self, kind: str, loader: Callable[[Registry[T]], None] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._loader = loader

    def register(self, name: str, obj: T, *, overwrite: bool = False, **meta: Any) -> T:
        """Register ``obj`` under ``name``; a second registration of a name is an error."""
        if not overwrite and name in self._entries:
            raise ChaosbenchError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = obj
        self._meta[name] = dict(meta)
        return obj

    def _load(self) -> None:
        if self._loader is not None:
            loader, self._loader = self._loader, None
            loader(self)

    def get(self, name: str) -> T:
        """The object registered as ``name``; an unknown name raises with the closest names."""
        if name not in self._entries:
            self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def meta(self, name: str) -> dict[str, Any]:
        self.get(name)
        return dict(self._meta[name])

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def in_order(self) -> list[str]:
        """The names in the order they were registered (``names`` sorts them)."""
        self._load()
        return list(self._entries)

    def unknown_message(self, name: str) -> str:
        known = self.names()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        if not close:
            close = [k for k in known if name.lower() in k.lower()][:3]
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} '{name}'{hint} (known: {', '.join(known)})"

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())
