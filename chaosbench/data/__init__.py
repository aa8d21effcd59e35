"""Datasets: cards, frozen arrays with hashes, loading, and the empirical-data path.

``load(name)`` returns a :class:`Dataset` (``train``, ``test``, ``dt``, ``card``) after checking
its files against the MANIFEST; ``load_file(path, dt=...)`` wraps a user's own recording.
"""

from chaosbench.data.build import build_all, build_lyapunov, update_manifest, verify
from chaosbench.data.card import Card
from chaosbench.data.dataset import DATASET_VERSION, Dataset, load, names, read_card
from chaosbench.data.empirical import load_file, read_recording
from chaosbench.data.store import data_dir

__all__ = [
    "DATASET_VERSION",
    "Card",
    "Dataset",
    "build_all",
    "build_lyapunov",
    "data_dir",
    "load",
    "load_file",
    "names",
    "read_card",
    "read_recording",
    "update_manifest",
    "verify",
]
