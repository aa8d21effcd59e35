"""Executors run work units and hand each result back to the driver as soon as it is ready.

A unit function takes ``(unit, context)`` and returns the unit's run records as JSON texts (one
per seed); the driver alone writes them to the record store, so every executor produces the same
files. Units are drawn from an iterable one at a time, when a worker is free (the driver locks a
unit as it hands it out). A unit whose worker ends without a result (killed, crashed, exited, or
stopped at the unit's time limit) comes back as :class:`Lost` with a one-line reason, and the
other units go on. An exception raised by the unit function itself stops the run.

``LocalExecutor`` runs each unit in its own spawned process, at most ``workers`` at a time, which
sends the result back on a pipe. The driver waits on those pipes: end-of-file without a result
means the process died, and its exit code names the signal; a process past its limit is killed.
One process per unit rather than a pool of reused workers: a pool must guess which unit a dead
worker held and restart itself, whereas here a death or a timeout concerns exactly one unit, and no
unit inherits another's state. The price is a process start per unit (Python, torch and chaosbench
imported): measured at 5.8 CPU-seconds, against 1 to 18 minutes per unit of the standard suite
(about 3 % of its 11.2 core-hours) and 5 to 10 s per unit of smoke (whose CPU time grew from 51 to
65 s). With one worker and no time limit a unit runs in this process (for a debugger).
``RayExecutor`` runs one Ray task per unit on a local instance or an existing cluster (optional
extra ``ray``), at most as many at a time as the cluster has room for.

Progress within a unit: code running a unit calls :func:`report_progress` (training does, at each
logged update); the local executor forwards it to the driver's ``on_progress`` (from a unit's
process on the same pipe, at most every ``PROGRESS_EVERY_S``). Ray tasks send none.
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import multiprocessing.util
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol, TypeVar

from chaosbench.errors import ChaosbenchError, first_line

U = TypeVar("U")
UnitFn = Callable[[Any, Any], list[str]]
Timeout = Callable[[Any], float | None]  # seconds a unit may run (None: no limit)
OnProgress = Callable[[Any, int, int], None]  # (unit, updates done, updates in all)
START_TIMEOUT_S = 300.0  # a unit's process must have started (imports done) within this
PROGRESS_EVERY_S = 0.5  # a unit's process reports its progress at most this often

_progress_sink: Callable[[int, int], None] | None = None


def report_progress(done: int, total: int) -> None:
    """Tell the driver how far the running unit has come (``done`` of ``total`` updates); a no-op
    outside a unit run by an executor."""
    if _progress_sink is not None:
        _progress_sink(done, total)


@contextmanager
def _reporting_to(sink: Callable[[int, int], None] | None) -> Iterator[None]:
    global _progress_sink
    previous, _progress_sink = _progress_sink, sink
    try:
        yield
    finally:
        _progress_sink = previous


class _Throttled:
    """Sends ``(done, total)`` on a unit's pipe, at most every ``PROGRESS_EVERY_S`` (and the last)."""

    def __init__(self, conn: Connection) -> None:
        self.conn, self.last = conn, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S or done >= total:
            self.last = now
            self.conn.send(("progress", (done, total)))


@dataclass(frozen=True)
class Lost:
    """A unit whose worker ended without a result: why, in one line, and how long it ran."""

    reason: str
    wall_time_s: float


Result = list[str] | Lost


def no_limit(unit: Any) -> None:
    """The default :data:`Timeout`: units run as long as they take."""
    return None


class Executor(Protocol):
    """Runs ``fn(unit, context)`` for every unit; yields ``(unit, result)`` in completion order;
    calls ``on_progress(unit, done, total)`` as a unit reports progress (if the executor can)."""

    name: str

    def map(
        self, fn: UnitFn, units: Iterable[U], context: Any, timeout: Timeout = no_limit,
        on_progress: OnProgress | None = None,
    ) -> Iterator[tuple[U, Result]]: ...


def _positive(key: str, value: Any, *, allow_zero: bool = False) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ChaosbenchError(f"{key} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")


class LocalExecutor:
    """Each unit in its own spawned process, at most ``workers`` at once (see the module docstring).

    Processes are spawned, never forked (torch's thread pools do not survive a fork). Ctrl-C
    reaches the driver only, which kills every unit's process; a unit's process exits as soon
    as the driver is gone.
    """

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ChaosbenchError(f"workers must be a positive integer, got {workers!r}")
        self.workers = workers

    def map(
        self, fn: UnitFn, units: Iterable[U], context: Any, timeout: Timeout = no_limit,
        on_progress: OnProgress | None = None,
    ) -> Iterator[tuple[U, Result]]:
        todo = iter(units)
        running: list[_Process] = []
        try:
            while True:
                drawn = list(itertools.islice(todo, self.workers - len(running)))
                if not drawn and not running:
                    return
                for unit in drawn:
                    limit = timeout(unit)
                    if limit is None and self.workers == 1:
                        yield unit, _in_this_process(fn, unit, context, on_progress)
                    else:
                        running.append(_Process(fn, unit, context, limit, on_progress))
                if running:
                    yield from _next_results(running)
        finally:  # on Ctrl-C or an error too: no unit runs on unseen
            for process in running:
                process.stop()


class _Interrupt(BaseException):
    """Ctrl-C while a unit runs in this process: model code that catches KeyboardInterrupt
    (or the runner, which records it as the model's failure) must not swallow the user's."""


@contextmanager
def _user_interrupts() -> Iterator[None]:
    """Meanwhile Ctrl-C raises :class:`_Interrupt` (if this thread would get KeyboardInterrupt)."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise _Interrupt

    signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _in_this_process(fn: UnitFn, unit: Any, context: Any, on_progress: OnProgress | None) -> list[str]:
    sink = None if on_progress is None else functools.partial(on_progress, unit)
    try:
        with _user_interrupts(), _reporting_to(sink):
            return fn(unit, context)
    except _Interrupt:
        raise KeyboardInterrupt from None


class _Process:
    """One unit in its own process; messages come on ``conn`` (see :func:`_work`)."""

    def __init__(self, fn: UnitFn, unit: Any, context: Any, limit: float | None, on_progress: OnProgress | None) -> None:
        spawn = multiprocessing.get_context("spawn")
        self.conn, send = spawn.Pipe(duplex=False)
        self.unit, self.limit, self.running, self.on_progress = unit, limit, False, on_progress
        self.process = spawn.Process(target=_work, args=(fn, unit, context, send), name=f"chaosbench {unit}")
        # Ctrl-C held back while the process starts: it starts with Ctrl-C blocked, then ignores it
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        send.close()  # the process holds the only writing end: its death means end-of-file
        self.started = time.monotonic()
        self.deadline: float | None = self.started + START_TIMEOUT_S

    def receive(self) -> Result | None:
        """The unit's result, :class:`Lost` if the process ended without one, or None (it started)."""
        try:
            if not self.conn.poll():  # it ended without a word (a process it started holds the pipe)
                raise EOFError
            kind, payload = self.conn.recv()
        except (EOFError, OSError):
            return self._lost(_death(self._end()))
        if kind == "started":  # the limit counts from here: process start-up is not the unit's
            self.running = True
            self.deadline = None if self.limit is None else time.monotonic() + self.limit
            return None
        if kind == "progress":
            if self.on_progress is not None:
                self.on_progress(self.unit, *payload)
            return None
        self._end()
        if kind == "error":
            error, remote = payload
            if isinstance(error, ChaosbenchError):
                raise error from None
            raise error from RemoteTraceback(remote)
        return payload

    def expire(self) -> Lost:
        """Stop the process past its deadline: at start-up, or at the unit's limit once started."""
        self.stop()
        if self.limit is None or not self.running:
            return self._lost(f"worker did not start within {START_TIMEOUT_S:g} s")
        return self._lost(f"timed out after {self.limit:g} s")

    def stop(self) -> None:
        """End the process: SIGTERM lets it release what it registered and exit, SIGKILL follows
        if it has not within a second (model code stuck outside Python)."""
        self.process.terminate()
        self._end(grace=1)

    def _end(self, grace: float = 5) -> int | None:
        """Wait for the process to end (killing it if it lingers); its exit code."""
        self.process.join(timeout=grace)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
        self.conn.close()
        return self.process.exitcode

    def _lost(self, reason: str) -> Lost:
        return Lost(reason, time.monotonic() - self.started)


def _next_results(running: list[_Process]) -> Iterator[tuple[Any, Result]]:
    """Wait for the next message, process end or deadline; yield the units finished or expired."""
    left = _until(p.deadline for p in running)
    ready = set(wait([*(p.conn for p in running), *(p.process.sentinel for p in running)], timeout=left))
    for process in [p for p in running if p.conn in ready or p.process.sentinel in ready]:
        result = process.receive()
        if result is not None:
            running.remove(process)
            yield process.unit, result
    now = time.monotonic()
    for process in [p for p in running if p.deadline is not None and now >= p.deadline]:
        running.remove(process)
        yield process.unit, process.expire()


def _until(deadlines: Iterable[float | None]) -> float | None:
    """Seconds to the nearest of the deadlines (``time.monotonic``), None when there is none."""
    ends = [end for end in deadlines if end is not None]
    return max(0.0, min(ends) - time.monotonic()) if ends else None


def _death(exitcode: int | None) -> str:
    """Why a process ended without a result, from its exit code (negative: the signal)."""
    if exitcode is not None and exitcode < 0:
        try:
            name = f" ({signal.Signals(-exitcode).name})"
        except ValueError:
            name = ""
        return f"worker died: signal {-exitcode}{name}"
    return f"worker exited with code {exitcode} before returning a result"


class RemoteTraceback(Exception):
    """The traceback of an error raised in a unit's process, as the cause of that error here."""

    def __str__(self) -> str:
        return "\n" + str(self.args[0])


def _work(fn: UnitFn, unit: Any, context: Any, conn: Connection) -> None:
    """A unit's process: say it started, run the unit (its progress sent as it comes), send the
    result (or the error), exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the driver, which stops us
    signal.signal(signal.SIGTERM, lambda signum, frame: _quit())  # so: at a time limit, on Ctrl-C
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _exit_with_parent()
    try:
        conn.send(("started", None))
        try:
            with _reporting_to(_Throttled(conn)):
                message: tuple[str, Any] = ("result", fn(unit, context))
        except Exception as err:
            message = ("error", (_portable(err), traceback.format_exc()))
        conn.send(message)
    except OSError:  # the driver is gone: nobody to tell
        pass
    _quit()


def _portable(err: Exception) -> Exception:
    """``err`` if it survives pickling, else a RuntimeError with its type and first line."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {first_line(err)}")
    return err


def _exit_with_parent() -> None:
    """End this process at once, quietly, when the driver dies: its result has nowhere to go."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        _quit()

    threading.Thread(target=watch, name="exit-with-driver", daemon=True).start()


def _quit() -> None:
    """Exit now: the result is sent, and interpreter teardown would cost a second of CPU.

    Multiprocessing's finalizers still run, as at any process exit: they release what the unit
    registered with the driver's resource tracker (tqdm's lock is a semaphore), which would
    otherwise warn of leaked objects when the driver ends.
    """
    multiprocessing.util._run_finalizers()  # type: ignore[attr-defined]
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error naming the extra that provides it."""
    try:
        import ray
    except ImportError:
        raise ChaosbenchError(
            "the Ray executor needs ray: pip install 'chaosbench[ray]' (or use --executor local)"
        ) from None
    return ray


@dataclass
class _Task:
    """A unit submitted to Ray at ``started`` with its time limit."""

    unit: Any
    limit: float | None
    started: float

    @property
    def deadline(self) -> float | None:
        return None if self.limit is None else self.started + self.limit


class RayExecutor:
    """One Ray task per unit with ``num_cpus`` / ``num_gpus`` (fractions allowed) per task.

    ``address`` joins an existing cluster (``"auto"`` or ``host:port``); without it a private
    local instance is started on the loopback interface without dashboard (``workers`` CPUs, all
    when ``None``) and shut down afterwards. Workers import chaosbench themselves, so a cluster's
    nodes need it installed, along with the datasets. At most as many tasks are submitted as the
    cluster's CPUs (and GPUs) hold at once, so a task starts when it is submitted and its time
    limit counts from there; a task past it is cancelled (its worker killed). Tasks report no
    progress within a unit (``on_progress`` is not called).
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

    def _slots(self) -> int:
        """How many tasks the cluster runs at once (at least one)."""
        total = self.ray.cluster_resources()
        slots = total.get("CPU", 0) / self.num_cpus
        if self.num_gpus:
            slots = min(slots, total.get("GPU", 0) / self.num_gpus)
        return max(1, int(slots))

    def _result(self, ref: Any, task: _Task) -> Result:
        """A task's result; a user error raised in the task is raised here as itself (one line),
        a worker lost by Ray (crashed, killed, out of memory) gives :class:`Lost`."""
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as err:
            if isinstance(err.cause, ChaosbenchError):
                raise err.cause from None
            raise
        except ray.exceptions.RayError as err:
            return Lost(f"worker died: {type(err).__name__}: {first_line(err)}", time.monotonic() - task.started)

    def map(
        self, fn: UnitFn, units: Iterable[U], context: Any, timeout: Timeout = no_limit,
        on_progress: OnProgress | None = None,
    ) -> Iterator[tuple[U, Result]]:
        ray = self.ray
        todo = iter(units)
        first = next(todo, None)
        if first is None:
            return
        started = self._start()
        pending: dict[Any, _Task] = {}
        try:
            task = ray.remote(num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=0)(fn)
            slots = self._slots()
            todo = itertools.chain([first], todo)
            while True:
                for unit in itertools.islice(todo, slots - len(pending)):
                    pending[task.remote(unit, context)] = _Task(unit, timeout(unit), time.monotonic())
                if not pending:
                    return
                done, _ = ray.wait(list(pending), num_returns=1, timeout=_until(t.deadline for t in pending.values()))
                for ref in done:
                    item = pending.pop(ref)
                    yield item.unit, self._result(ref, item)
                now = time.monotonic()
                for ref, item in list(pending.items()):
                    if item.deadline is not None and now >= item.deadline:
                        ray.cancel(ref, force=True)
                        del pending[ref]
                        yield item.unit, Lost(f"timed out after {item.limit:g} s", now - item.started)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()


def make(kind: str, *, workers: int | None = None, address: str | None = None, num_cpus: float = 1,
         num_gpus: float = 0) -> Executor:  # fmt: skip
    """The executor ``kind`` (``local`` or ``ray``) with its options.

    ``workers`` ``None`` means one worker locally, and every CPU of a local Ray instance.
    """
    if kind == "local":
        if address is not None:
            raise ChaosbenchError("--address is for the Ray executor (add --executor ray)")
        return LocalExecutor(1 if workers is None else workers)
    if kind == "ray":
        return RayExecutor(address, num_cpus, num_gpus, workers)
    raise ChaosbenchError(f"unknown executor '{kind}' (choose from local, ray)")
