"""Where frozen datasets live, and their integrity: the sha256 MANIFEST and checked reads.

The data directory is, in order: an explicit argument, ``$CHAOSBENCH_DATA_DIR``, the
``datasets/`` folder of a source checkout, or the copy shipped inside the installed package.
``MANIFEST`` uses the ``sha256sum`` format (``<hex>  <file>``), so ``sha256sum -c MANIFEST`` works.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from chaosbench.errors import ChaosbenchError, IntegrityError

MANIFEST = "MANIFEST"
ENV_DATA_DIR = "CHAOSBENCH_DATA_DIR"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The directory holding dataset cards, arrays and the MANIFEST."""
    if explicit is not None or os.environ.get(ENV_DATA_DIR):
        path = Path(explicit if explicit is not None else os.environ[ENV_DATA_DIR]).expanduser()
        if not path.is_dir():
            raise ChaosbenchError(f"data directory {path} does not exist")
        return path
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / "datasets", here.parents[1] / "_datasets"):
        if (candidate / MANIFEST).is_file() or any(candidate.glob("*.yaml")):
            return candidate
    raise ChaosbenchError(f"no dataset directory found; set {ENV_DATA_DIR} or pass --data-dir")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(root: Path) -> dict[str, str]:
    path = root / MANIFEST
    if not path.is_file():
        return {}
    entries = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise IntegrityError(f"{path}:{lineno}: malformed manifest line")
        entries[parts[1]] = parts[0]
    return entries


def write_manifest(root: Path, entries: dict[str, str]) -> None:
    atomic_write_bytes(root / MANIFEST, "".join(f"{h}  {f}\n" for f, h in sorted(entries.items())).encode())


def checked_path(root: Path, filename: str) -> tuple[Path, str]:
    """``root/filename`` and its sha256, checked against the manifest; never an unverified file."""
    path = root / filename
    if not path.is_file():
        raise ChaosbenchError(f"data file {path} is missing (run `chaosbench data build`)")
    expected = read_manifest(root).get(filename)
    if expected is None:
        raise IntegrityError(f"{path} is not listed in {root / MANIFEST}; refusing to load it")
    actual = sha256_file(path)
    if actual != expected:
        raise IntegrityError(f"{path} does not match its sha256 in the manifest (corrupt or modified)")
    return path, actual


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file, without pickle."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as err:
        raise ChaosbenchError(f"cannot read {path}: {err}") from None


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Compressed ``.npz`` written atomically (zip entries carry a fixed date: reproducible bytes)."""
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as tmp:
        np.savez_compressed(tmp, **arrays)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)
