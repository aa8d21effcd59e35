"""Run records: one JSON file per (model, regime, dataset, seed[, budget]), checked, hashed, written atomically.

A record is the unit of the leaderboard and of resumption. Layout of a store::

    <root>/<dataset>/<model>/<regime>/seed<k>.json              a suite with one budget
    <root>/<dataset>/<model>/<regime>/b<budget>/seed<k>.json    a rung of a suite's budget ladder

A rung's key carries its budget (``RecordKey.budget``, written in the file's ``key`` block); a
single-budget record's key has no budget (``None``, absent from its ``key`` block), so the
records made before budget ladders existed keep their place, content and hash. The two are told
apart by the key, and on disk by the depth of the path (four parts or five).

Each file carries ``record_sha256``, the sha256 of the canonical JSON (sorted keys, no spaces,
ASCII, no NaN) of every other field, so an edited or truncated file is detected. A file with a
key twice in one object is refused (:class:`MalformedRecordError`): JSON readers differ in which
of the two they keep, so the hash would vouch for content other tools read differently. This is an
integrity check against accidents and silent edits, not a signature: whoever rewrites a record
can recompute its hash, which the repository history then shows.

``versions`` names the libraries, metric spec and dataset version a record was made with and,
in records made since it was added, ``threads``: the torch and BLAS thread counts it computed
with (these too can change the last digits of a result).

Metric values are finite numbers or ``null``; the metric keys are those of the
``chaosbench.metrics.METRICS`` registry. An ``ok`` record has every one of them and all of them
finite; a ``diverged`` record may carry ``null`` for a metric it could not score, which the
leaderboard counts as the worst possible value; a ``failed`` record (crash, with a reason) may
carry any subset and is never scored. ``metrics_runs`` (optional; records of evaluation
protocol v3 on) keeps, per metric scored on each free run, the list of the runs' values (finite
numbers, or ``null`` where a registered metric gave none).

Writes go to a temporary file in the target directory, are fsynced and then renamed over the
target (``os.replace``), so a killed process leaves either the old file or the new one, plus at
most a stray ``.seed<k>.json.*.tmp`` file that readers ignore.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import platform
import re
import secrets
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from chaosbench import __version__
from chaosbench.errors import ChaosbenchError, IntegrityError
from chaosbench.metrics import directions

SCHEMA_VERSION = "1"
STATUSES = ("ok", "diverged", "failed")
MAX_RUNS = 1024  # per-run values a record may keep for one metric
VERSION_FIELDS = ("chaosbench", "torch", "numpy", "python", "metric_spec", "dataset")
# Artifacts are small arrays for plots: rows x dims for the trajectory, dims x bins for spectra.
MAX_ARTIFACT_DIMS = 3
ARTIFACT_LIMITS = {"trajectory_sample": (2000, MAX_ARTIFACT_DIMS), "power_spectrum": (MAX_ARTIFACT_DIMS, 512)}
ARTIFACT_DIGITS = 4  # significant digits kept by RunRecord.create: plenty for a plot

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=:-]{0,127}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}(-dirty)?")
_RECORD_FILE = re.compile(r"seed(0|[1-9][0-9]*)\.json")
_RUNG_FOLDER = re.compile(r"b[1-9][0-9]*")
KEY_FIELDS = ("dataset", "model", "regime", "seed")  # plus "budget" in a rung's key
_FIELDS = (
    "schema_version", "key", "status", "reason", "metrics", "budget", "wall_time_s", "device",
    "versions", "git_commit", "dataset_sha256", "config", "created", "artifacts",
)  # fmt: skip


class MalformedRecordError(IntegrityError):
    """A record file that is not strict JSON (syntax, NaN, a key twice in one object)."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ChaosbenchError(message)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _path_part(name: str) -> str:
    """``:`` (as in ``dysts:Lorenz`` or ``module:Class``) is not portable in file names."""
    return name.replace(":", "~")


@functools.total_ordering
@dataclass(frozen=True)
class RecordKey:
    """Identity of a run. Names are restricted so that they are safe path components.

    ``budget`` is the rung of a budget ladder the record scores (gradient updates), ``None`` for
    a suite with one budget and for evaluable models (one record per dataset and seed).
    """

    dataset: str
    model: str
    regime: str
    seed: int
    budget: int | None = None

    def __post_init__(self) -> None:
        for part in ("dataset", "model", "regime"):
            name = getattr(self, part)
            _check(
                isinstance(name, str) and _NAME.fullmatch(name) is not None,
                f"invalid {part} name {name!r}: use letters, digits and _ . + = : - "
                "(not first), at most 128 characters",
            )
        _check(
            isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0,
            f"invalid seed {self.seed!r}: expected an integer >= 0",
        )
        _check(
            self.budget is None
            or (isinstance(self.budget, int) and not isinstance(self.budget, bool) and self.budget >= 1),
            f"invalid budget {self.budget!r}: expected an integer >= 1 or none",
        )

    def _order(self) -> tuple[str, str, str, int, int]:
        return (self.dataset, self.model, self.regime, self.budget or 0, self.seed)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, RecordKey):
            return NotImplemented
        return self._order() < other._order()

    def as_dict(self) -> dict[str, Any]:
        """The ``key`` block of a record file (no ``budget`` entry for a single-budget record)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in KEY_FIELDS}
        return out if self.budget is None else {**out, "budget": self.budget}

    @property
    def relpath(self) -> Path:
        """Location of the record inside a store."""
        parts = (self.dataset, self.model, self.regime)
        rung = () if self.budget is None else (f"b{self.budget}",)
        return Path(*map(_path_part, parts), *rung, f"seed{self.seed}.json")

    def __str__(self) -> str:
        rung = "" if self.budget is None else f"/b{self.budget}"
        return f"{self.dataset}/{self.model}/{self.regime}{rung}/seed{self.seed}"


def canonical_json(obj: Any) -> str:
    """The byte-stable JSON form used for hashing (floats round-trip exactly through repr)."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ChaosbenchError(f"value is not strict JSON: {err}") from None


def config_sha256(settings: Mapping[str, Any]) -> str:
    """The sha256 of a unit's resolved settings in canonical JSON: a record's configuration identity."""
    return hashlib.sha256(canonical_json(dict(settings)).encode()).hexdigest()


def _check_metrics(status: str, metrics: Any) -> None:
    _check(isinstance(metrics, dict), "metrics must be an object")
    known = directions()
    unknown = sorted(set(metrics) - set(known))
    _check(not unknown, f"unknown metrics {unknown}; the registry defines {sorted(known)}")
    for name, value in metrics.items():
        _check(
            value is None or (_is_number(value) and math.isfinite(value)),
            f"metric {name} must be a finite number or null, got {value!r}",
        )
    if status == "ok":
        missing = sorted(set(known) - set(metrics))
        _check(not missing, f"status ok but metrics {missing} are missing")
        nulls = sorted(name for name, value in metrics.items() if value is None)
        _check(not nulls, f"status ok but metrics {nulls} are null (a non-finite score is 'diverged')")


def _check_metrics_runs(runs: Any) -> None:
    _check(isinstance(runs, dict), "metrics_runs must be an object")
    unknown = sorted(set(runs) - set(directions()))
    _check(not unknown, f"unknown metrics {unknown} in metrics_runs")
    lengths = {len(v) for v in runs.values() if isinstance(v, list)}
    for name, values in runs.items():
        _check(
            isinstance(values, list) and 0 < len(values) <= MAX_RUNS
            and all(v is None or (_is_number(v) and math.isfinite(v)) for v in values),
            f"metrics_runs {name} must be a list of 1 to {MAX_RUNS} finite numbers or nulls",
        )  # fmt: skip
    _check(len(lengths) <= 1, "metrics_runs must hold the same number of runs for every metric")


def _check_artifacts(artifacts: Any) -> None:
    _check(isinstance(artifacts, dict), "artifacts must be an object")
    for name, value in artifacts.items():
        _check(name in ARTIFACT_LIMITS, f"unknown artifact {name!r}; known: {sorted(ARTIFACT_LIMITS)}")
        max_rows, max_cols = ARTIFACT_LIMITS[name]
        _check(
            isinstance(value, list) and 0 < len(value) <= max_rows,
            f"artifact {name} must be a list of 1 to {max_rows} rows",
        )
        rows = f"artifact {name} must have rows of equal length 1 to {max_cols}"
        _check(all(type(row) is list for row in value), rows)
        # JSON gives only these types; exact types keep bools and strings out (thousands of values
        # per record: checked as a set of types and one array, not value by value).
        kinds = {type(x) for row in value for x in row}
        _check(kinds <= {int, float, type(None)}, f"artifact {name} holds a value that is not a finite number or null")
        try:
            array = np.asarray(value, dtype=float)  # null -> nan
        except ValueError:  # ragged
            array = np.empty((0, 0))
        _check(array.ndim == 2 and 0 < array.shape[1] <= max_cols, rows)
        _check(not np.isinf(array).any(), f"artifact {name} holds a value that is not a finite number or null")


def _check_body(rec: RunRecord) -> None:
    """Schema v1, field by field; the message names the field at fault."""
    _check(rec.schema_version == SCHEMA_VERSION, f"unknown schema_version {rec.schema_version!r}")
    _check(isinstance(rec.key, RecordKey), "key must be a RecordKey")
    _check(rec.status in STATUSES, f"status must be one of {STATUSES}, got {rec.status!r}")
    if rec.status == "ok":
        _check(rec.reason is None, "status ok must have reason null")
    else:
        _check(
            isinstance(rec.reason, str) and rec.reason.strip() != "", f"status {rec.status} needs a reason"
        )
    _check_metrics(rec.status, rec.metrics)
    _check_metrics_runs(rec.metrics_runs)
    budget = rec.budget
    _check(
        isinstance(budget, dict) and set(budget) == {"updates", "used"}
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in budget.values())
        and budget["used"] <= budget["updates"],
        f"budget must be {{updates, used}} with integers 0 <= used <= updates, got {budget!r}",
    )  # fmt: skip
    _check(
        rec.key.budget is None or rec.key.budget == budget["updates"],
        f"budget.updates {budget['updates']} differs from the key's budget {rec.key.budget}",
    )
    _check(
        _is_number(rec.wall_time_s) and math.isfinite(rec.wall_time_s) and rec.wall_time_s >= 0,
        f"wall_time_s must be a finite number >= 0, got {rec.wall_time_s!r}",
    )
    _check(isinstance(rec.device, str) and rec.device != "", "device must be a non-empty string")
    versions = rec.versions
    _check(
        isinstance(versions, dict) and set(versions) - {"threads"} == set(VERSION_FIELDS)
        and all(isinstance(versions[k], str) and versions[k] != "" for k in VERSION_FIELDS),
        f"versions must map exactly {list(VERSION_FIELDS)} to non-empty strings (and may have threads)",
    )  # fmt: skip
    threads = versions.get("threads", {"torch": 1})
    _check(
        isinstance(threads, dict) and "torch" in threads and all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 1
            for k, v in threads.items()
        ),
        f"versions.threads must map torch (and blas) to thread counts >= 1, got {threads!r}",
    )  # fmt: skip
    _check(
        rec.git_commit is None
        or (isinstance(rec.git_commit, str) and _COMMIT.fullmatch(rec.git_commit) is not None),
        f"git_commit must be null or a 40-digit hex commit (optionally '-dirty'), got {rec.git_commit!r}",
    )
    _check(
        isinstance(rec.dataset_sha256, str) and _SHA256.fullmatch(rec.dataset_sha256) is not None,
        "dataset_sha256 must be 64 lowercase hex digits",
    )
    _check(isinstance(rec.config, dict), "config must be an object")
    canonical_json(rec.config)
    try:
        datetime.fromisoformat(rec.created)
    except (TypeError, ValueError):
        raise ChaosbenchError(f"created must be an ISO 8601 time, got {rec.created!r}") from None
    _check_artifacts(rec.artifacts)


@dataclass(frozen=True)
class RunRecord:
    """The outcome of one run; construction validates the schema (see the module docstring)."""

    key: RecordKey
    status: str
    reason: str | None
    metrics: dict[str, float | None]
    budget: dict[str, int]
    wall_time_s: float
    device: str
    versions: dict[str, Any]
    git_commit: str | None
    dataset_sha256: str
    config: dict[str, Any]
    created: str
    artifacts: dict[str, list[list[float | None]]] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION
    metrics_runs: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_body(self)

    def body(self) -> dict[str, Any]:
        """Every field except the hash, as plain JSON values (no ``metrics_runs`` when empty, as
        in records made before it existed)."""
        body = {**asdict(self), "key": self.key.as_dict()}
        if not body["metrics_runs"]:
            del body["metrics_runs"]
        return body

    @property
    def sha256(self) -> str:
        return hashlib.sha256(canonical_json(self.body()).encode()).hexdigest()

    def to_json(self) -> str:
        """File content: one field per line (sorted keys), arrays kept on one line each."""
        return _layout({**self.body(), "record_sha256": self.sha256}, "") + "\n"

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        """Parse and check a record file's content: strict JSON, hash, then schema."""
        try:
            data = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
        except (ValueError, RecursionError) as err:
            raise MalformedRecordError(f"not valid JSON ({err})") from None
        _check(isinstance(data, dict), "a record must be a JSON object")
        expected = set(_FIELDS) | {"record_sha256"}
        present = set(data) - {"metrics_runs"}  # optional
        _check(present == expected, f"fields differ from schema: missing {sorted(expected - present)}, "
               f"unexpected {sorted(present - expected)}")  # fmt: skip
        stored = data.pop("record_sha256")
        actual = hashlib.sha256(canonical_json(data).encode()).hexdigest()
        if stored != actual:
            raise IntegrityError("record_sha256 does not match the content (edited or damaged)")
        key = data.pop("key")
        _check(isinstance(key, dict) and set(key) - {"budget"} == set(KEY_FIELDS),
               "key must have exactly dataset, model, regime, seed (and budget, for a rung)")  # fmt: skip
        _check(key.get("budget", 0) is not None, "key budget must be an integer (a single-budget key has none)")
        return cls(key=RecordKey(**key), **data)

    @classmethod
    def create(
        cls,
        key: RecordKey,
        status: str,
        *,
        metrics: Mapping[str, Any],
        budget: Mapping[str, int],
        wall_time_s: float,
        device: str,
        metric_spec: str,
        dataset_version: str,
        dataset_sha256: str,
        config: Mapping[str, Any],
        reason: str | None = None,
        artifacts: Mapping[str, Any] | None = None,
        metrics_runs: Mapping[str, Any] | None = None,
        threads: Mapping[str, int] | None = None,
    ) -> RunRecord:
        """Build a record for a run that just finished, stamping versions, commit and time.

        Numpy scalars and arrays are converted; a non-finite metric becomes ``null`` (only a
        ``diverged`` or ``failed`` record accepts that); artifacts are rounded to
        ``ARTIFACT_DIGITS`` significant digits to keep files small. ``threads`` (the CPU thread
        counts the run computed with, ``chaosbench.training.thread_counts``) goes to
        ``versions.threads``: like a library version, it can change the last digits of a result.
        """
        versions: dict[str, Any] = environment_versions(metric_spec=metric_spec, dataset=dataset_version)
        if threads is not None:
            versions["threads"] = {name: int(n) for name, n in threads.items()}
        return cls(
            key=key,
            status=status,
            reason=reason,
            metrics={name: _finite_or_none(value) for name, value in metrics.items()},
            budget={name: int(value) for name, value in budget.items()},
            wall_time_s=float(wall_time_s),
            device=str(device),
            versions=versions,
            git_commit=git_commit(),
            dataset_sha256=dataset_sha256,
            config=json.loads(canonical_json(dict(config))),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            artifacts={name: _artifact(name, value) for name, value in (artifacts or {}).items()},
            metrics_runs={name: [_finite_or_none(v) for v in values] for name, values in (metrics_runs or {}).items()},
        )


def _layout(value: Any, indent: str) -> str:
    """Objects one member per line, everything else compact: readable without bloating arrays."""
    if not isinstance(value, dict) or not value:
        return canonical_json(value)
    inner = indent + " "
    members = (f"{inner}{json.dumps(k)}: {_layout(value[k], inner)}" for k in sorted(value))
    return "{\n" + ",\n".join(members) + "\n" + indent + "}"


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in a record")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        twice = next(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
        raise ValueError(f"key {twice!r} appears twice in one object")
    return obj


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _artifact(name: str, value: Any) -> list[list[float | None]]:
    array = np.asarray(value, dtype=float)
    _check(array.ndim == 2, f"artifact {name} must be 2-d, got shape {array.shape}")
    rounded = [[float(f"{x:.{ARTIFACT_DIGITS}g}") for x in row] for row in array.tolist()]
    return [[x if math.isfinite(x) else None for x in row] for row in rounded]


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def environment_versions(*, metric_spec: str, dataset: str) -> dict[str, str]:
    """The ``versions`` block: library versions of this process plus the given spec versions."""
    return {
        "chaosbench": __version__,
        "torch": _package_version("torch"),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "metric_spec": str(metric_spec),
        "dataset": str(dataset),
    }


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """HEAD of the checkout chaosbench runs from (``-dirty`` if it has local changes), else None."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty else "")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old or the new content, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)  # the mode open() would give: umask applies
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _read_record(path: Path) -> RunRecord:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise IntegrityError(f"unreadable ({err.__class__.__name__}: {err})") from None
    return RunRecord.from_json(text)


def _naming(path: str | os.PathLike[str], load: Callable[[Path], RunRecord]) -> RunRecord:
    try:
        return load(Path(path))
    except ChaosbenchError as err:
        raise type(err)(f"{path}: {err}") from None


def read_record(path: str | os.PathLike[str]) -> RunRecord:
    """Load and check one record file wherever it lies; errors name the file."""
    return _naming(path, _read_record)


@dataclass(frozen=True)
class Problem:
    """Something wrong with one record file (or with a record that should exist)."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class ScanResult:
    """Intact records by path, and every file that is not one (corrupt, edited, misplaced)."""

    records: dict[Path, RunRecord]
    problems: list[Problem]


def _record_location(parts: tuple[str, ...]) -> bool:
    """A store-relative path of the single-budget layout (four parts) or of a rung (five)."""
    rung_ok = len(parts) == 4 or (len(parts) == 5 and _RUNG_FOLDER.fullmatch(parts[3]) is not None)
    return rung_ok and _RECORD_FILE.fullmatch(parts[-1]) is not None


class RecordStore:
    """Records under ``root``; a run is done when ``exists(key)`` (readable and intact)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path_for(self, key: RecordKey) -> Path:
        return self.root / key.relpath

    def writable_path(self, key: RecordKey) -> Path:
        """``path_for(key)``; a one-line error when a symbolic link takes its folder out of root
        (records and unit locks are written only inside the results folder)."""
        path = self.path_for(key)
        if not path.parent.resolve().is_relative_to(self.root.resolve()):
            raise ChaosbenchError(f"{path.parent} leads to {path.parent.resolve()} (a symbolic link), outside the "
                                  f"results folder {self.root}: refusing to write there")
        return path

    def _load(self, path: Path) -> RunRecord:
        record = _read_record(path)
        expected = self.path_for(record.key)
        if path.resolve() != expected.resolve():
            copy = " (a duplicate: that file exists too)" if expected.exists() else ""
            raise IntegrityError(f"holds the record of {record.key}, whose place is {expected}{copy}")
        return record

    def read(self, path: str | os.PathLike[str]) -> RunRecord:
        """Load one record of this store; a bad or misplaced file raises an error naming it."""
        return _naming(path, self._load)

    def exists(self, key: RecordKey) -> bool:
        """True only for an intact record of ``key``; a missing or bad file means "run it again"."""
        try:
            self.read(self.path_for(key))
        except ChaosbenchError:
            return False
        return True

    def write(self, record: RunRecord) -> Path:
        """Atomically (re)write the record at its place; replaces a corrupt file."""
        path = self.writable_path(record.key)
        atomic_write(path, record.to_json().encode("ascii"))
        return path

    def _files(self) -> Iterator[Path]:
        """Every non-hidden ``*.json`` below root (stray temp files are hidden and ignored)."""
        yield from sorted(p for p in self.root.rglob("*.json") if not p.name.startswith("."))

    def scan(self) -> ScanResult:
        """Read every record file; a bad one becomes a Problem (the runner recomputes its key)."""
        records: dict[Path, RunRecord] = {}
        problems: list[Problem] = []
        for path in self._files():
            if not _record_location(path.relative_to(self.root).parts):
                problems.append(Problem(path, "not a record location (<dataset>/<model>/<regime>/"
                                              "[b<budget>/]seed<k>.json)"))  # fmt: skip
                continue
            try:
                records[path] = self._load(path)
            except ChaosbenchError as err:
                problems.append(Problem(path, str(err)))
        return ScanResult(records, problems)

    def iter_records(self) -> Iterator[RunRecord]:
        """Intact records only; use :meth:`scan` to also see the bad files."""
        yield from self.scan().records.values()
