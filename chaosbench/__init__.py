"""chaosbench: a benchmark for reconstructing chaotic dynamical systems with recurrent models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chaosbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"

__all__ = ["__version__"]
