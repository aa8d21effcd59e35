"""Shared fixtures of the benchmark suites: one CPU thread, as the harness runs a unit, and
datasets loaded once per process."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest

from chaosbench import data
from chaosbench.training import cpu_threads


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    with cpu_threads(1):
        yield


@functools.cache
def dataset(name: str) -> data.Dataset:
    """A frozen dataset, loaded once."""
    return data.load(name)
