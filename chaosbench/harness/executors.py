"""Executors run work units and hand each result back to the driver as soon as it is ready.

A unit function takes ``(unit, context)`` and returns the unit's run records as JSON texts (one
per seed); the driver alone writes them to the record store, so every executor produces the same
files. ``LocalExecutor`` runs in this process (or in a pool of processes); ``RayExecutor`` runs
one Ray task per unit on a local instance or an existing cluster (optional extra ``ray``).
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from chaosbench.errors import ChaosbenchError, first_line

U = TypeVar("U")
UnitFn = Callable[[Any, Any], list[str]]


class Executor(Protocol):
    """Runs ``fn(unit, context)`` for every unit; yields ``(unit, result)`` in completion order."""

    name: str

    def map(self, fn: UnitFn, units: Sequence[U], context: Any) -> Iterator[tuple[U, list[str]]]: ...


def _positive(key: str, value: Any, *, allow_zero: bool = False) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ChaosbenchError(f"{key} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")


class LocalExecutor:
    """Units one after another in this process (``workers=1``), or in ``workers`` processes.

    Worker processes are spawned (never forked: torch's thread pools do not survive a fork);
    each unit's result travels back to the driver, which writes it. An interrupt or an error
    stops every worker at once.
    """

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ChaosbenchError(f"workers must be a positive integer, got {workers!r}")
        self.workers = workers

    def map(self, fn: UnitFn, units: Sequence[U], context: Any) -> Iterator[tuple[U, list[str]]]:
        if self.workers == 1 or len(units) <= 1:
            for unit in units:
                yield unit, fn(unit, context)
            return
        jobs = [(fn, i, unit, context) for i, unit in enumerate(units)]
        spawn = multiprocessing.get_context("spawn")
        pool = spawn.Pool(min(self.workers, len(units)), initializer=_ignore_interrupt)
        try:
            for index, result in pool.imap_unordered(_call, jobs):
                yield units[index], result
        finally:  # on Ctrl-C or an error too: no worker runs on unseen
            pool.terminate()
            pool.join()


def _ignore_interrupt() -> None:
    """Workers leave Ctrl-C to the driver, which stops them all."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _call(job: tuple[UnitFn, int, Any, Any]) -> tuple[int, list[str]]:
    fn, index, unit, context = job
    return index, fn(unit, context)


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error naming the extra that provides it."""
    try:
        import ray
    except ImportError:
        raise ChaosbenchError(
            "the Ray executor needs ray: pip install 'chaosbench[ray]' (or use --executor local)"
        ) from None
    return ray


class RayExecutor:
    """One Ray task per unit with ``num_cpus`` / ``num_gpus`` (fractions allowed) per task.

    ``address`` joins an existing cluster (``"auto"`` or ``host:port``); without it a private
    local instance is started on the loopback interface without dashboard (``workers`` CPUs, all
    when ``None``) and shut down afterwards. Workers import chaosbench themselves, so a cluster's
    nodes need it installed, along with the datasets.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: float = 1,
        num_gpus: float = 0,
        workers: int | None = None,
    ) -> None:
        _positive("num_cpus", num_cpus)
        _positive("num_gpus", num_gpus, allow_zero=True)
        if workers is not None:
            _positive("workers", workers)
        self.ray = import_ray()
        self.address = address
        self.num_cpus, self.num_gpus, self.workers = num_cpus, num_gpus, workers

    def _start(self) -> bool:
        """Connect to Ray; True when this executor started the instance (and must stop it)."""
        ray = self.ray
        if ray.is_initialized():
            return False
        common = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        try:
            if self.address:
                ray.init(address=self.address, **common)
            else:
                ray.init(num_cpus=self.workers, _node_ip_address="127.0.0.1", **common)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise ChaosbenchError(f"cannot start or reach Ray ({first_line(err)})") from None
        return True

    def _result(self, ref: Any) -> list[str]:
        """A task's result; a user error raised in the task is raised here as itself (one line)."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as err:
            if isinstance(err.cause, ChaosbenchError):
                raise err.cause from None
            raise

    def map(self, fn: UnitFn, units: Sequence[U], context: Any) -> Iterator[tuple[U, list[str]]]:
        if not units:
            return
        ray = self.ray
        started = self._start()
        pending: dict[Any, U] = {}
        try:
            task = ray.remote(num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=0)(fn)
            pending = {task.remote(unit, context): unit for unit in units}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    yield pending.pop(ref), self._result(ref)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()


def make(kind: str, *, workers: int | None = None, address: str | None = None, num_cpus: float = 1,
         num_gpus: float = 0) -> Executor:  # fmt: skip
    """The executor ``kind`` (``local`` or ``ray``) with its options.

    ``workers`` ``None`` means one in-process worker locally, and every CPU of a local Ray instance.
    """
    if kind == "local":
        if address is not None:
            raise ChaosbenchError("--address is for the Ray executor (add --executor ray)")
        return LocalExecutor(1 if workers is None else workers)
    if kind == "ray":
        return RayExecutor(address, num_cpus, num_gpus, workers)
    raise ChaosbenchError(f"unknown executor '{kind}' (choose from local, ray)")
