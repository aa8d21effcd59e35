"""The empirical-data path: a user's own recording (``.npy`` or ``.csv``) wrapped as a Dataset."""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import numpy as np

from chaosbench.data.dataset import Dataset, with_lyapunov
from chaosbench.data.store import sha256_file
from chaosbench.errors import ChaosbenchError, first_line

MIN_STEPS = 100  # fewer samples cannot train or score anything meaningful
FLOAT32_MAX = float(np.finfo(np.float32).max)


def read_recording(path: str | os.PathLike[str]) -> np.ndarray:
    """A ``(T, N)`` float array from ``.npy`` (no pickle) or ``.csv``; a 1-D series becomes ``(T, 1)``."""
    path = Path(path)
    if not path.is_file():
        raise ChaosbenchError(f"recording {path} does not exist")
    try:
        if path.suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        elif path.suffix in (".csv", ".txt"):
            data = np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=1)
        else:
            raise ChaosbenchError(f"recording {path}: unsupported format (use .npy or .csv)")
    except (ValueError, EOFError, OSError) as err:  # EOFError: an empty or truncated .npy
        raise ChaosbenchError(f"recording {path}: cannot parse ({first_line(err)})") from None
    if data.dtype.kind not in "fiu":
        raise ChaosbenchError(f"recording {path}: expected numbers, got dtype {data.dtype}")
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[1] == 0:
        raise ChaosbenchError(f"recording {path}: expected a (T, N) array, got shape {data.shape}")
    if len(data) < MIN_STEPS:
        raise ChaosbenchError(f"recording {path}: {len(data)} time steps, at least {MIN_STEPS} needed")
    bad = ~np.isfinite(data)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ChaosbenchError(f"recording {path}: {int(bad.sum())} non-finite values (first at row {row})")
    largest = float(np.abs(data).max())
    if largest > FLOAT32_MAX:  # models train in float32; also keeps the statistics finite
        raise ChaosbenchError(f"recording {path}: a value of magnitude {largest:.3g} exceeds the float32 "
                              f"range ({FLOAT32_MAX:.3g})")
    return data.astype(np.float64)


def load_file(
    path: str | os.PathLike[str],
    *,
    dt: float,
    test_path: str | os.PathLike[str] | None = None,
    test_fraction: float = 0.2,
    name: str | None = None,
    lambda_max: float | None = None,
    normalize: bool = True,
) -> Dataset:
    """Wrap a recording as a Dataset.

    The test set is ``test_path`` when given, else the last ``test_fraction`` of the recording.
    Both are z-scored with train statistics. ``lambda_max`` (per time unit) may be given; when it
    is not, consumers estimate it from the series (``chaosbench.lyapunov.from_timeseries``).
    """
    if isinstance(dt, bool) or not (isinstance(dt, numbers.Real) and math.isfinite(dt) and dt > 0):
        raise ChaosbenchError(f"dt must be a positive finite number, got {dt!r}")
    data = read_recording(path)
    if test_path is not None:
        train, test = data, read_recording(test_path)
        if test.shape[1] != train.shape[1]:
            raise ChaosbenchError(f"test recording has {test.shape[1]} channels, train has {train.shape[1]}")
    else:
        if not 0 < test_fraction < 1:
            raise ChaosbenchError(f"test_fraction must lie in (0, 1), got {test_fraction}")
        split = int(round(len(data) * (1 - test_fraction)))
        train, test = data[:split], data[split:]
        if min(len(train), len(test)) < MIN_STEPS:
            raise ChaosbenchError(f"recording {path}: too short to split into train and test")
    mean, std = (train.mean(0), train.std(0)) if normalize else (0.0, 1.0)
    if normalize and np.any(std == 0):
        raise ChaosbenchError(f"recording {path}: a channel is constant")
    with np.errstate(over="ignore"):
        train, test = (((x - mean) / std).astype(np.float32) for x in (train, test))
    if not (np.isfinite(train).all() and np.isfinite(test).all()):
        raise ChaosbenchError(f"recording {path}: the test series exceeds float32 once scaled by the "
                              "training series' statistics")
    files = {"train": str(path), "train_sha256": sha256_file(Path(path))}
    if test_path is not None:
        files.update(test=str(test_path), test_sha256=sha256_file(Path(test_path)))
    card = {
        "name": name or Path(path).stem,
        "version": 1,
        "empirical": True,
        "dt": float(dt),
        "normalization": "zscore_train" if normalize else "none",
        "files": files,
        "lambda_max": lambda_max,
    }
    return Dataset(
        name=card["name"],
        train=train,
        test=test,
        dt=float(dt),
        card=with_lyapunov(card, dt),
        sha256=files["train_sha256"],
    )
