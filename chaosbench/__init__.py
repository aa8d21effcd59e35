"""chaosbench: a benchmark for reconstructing chaotic dynamical systems with recurrent models."""

import os
from importlib.metadata import PackageNotFoundError, version

# MKL's conditional numerical reproducibility: without it the batched products of an ensemble
# take code paths that depend on the batch (the member count), and a seed trained inside an
# ensemble drifts from the same seed trained alone (measured after 300 BPTT updates of the smoke
# suite: up to 0.075 in a shPLRNN's parameters; docs/protocol.md, "Seeds and ensembles"). MKL
# reads it when torch loads it; a value the user set is kept.
os.environ.setdefault("MKL_CBWR", "AUTO")

try:
    __version__ = version("chaosbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"

__all__ = ["__version__"]
