"""Device selection for training: ``auto`` takes a GPU when torch sees one, else the CPU.

:func:`cpu_threads` caps the CPU threads of torch and of every BLAS library loaded (numpy's
too, through threadpoolctl): the models are small, and measured on a 2-core machine one thread
trains a 5-seed shPLRNN ensemble faster than two (86 vs 113 ms per update), so one
single-threaded process per core is the fast layout. The cap also fixes the numbers: a BLAS
product may sum in another order with another thread count (the ESN's D_stsp on the smoke suite,
median of 2 seeds, was 1.18 with one OpenBLAS thread and 1.32 with two when only torch was capped).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from threadpoolctl import threadpool_info, threadpool_limits

from chaosbench.errors import ChaosbenchError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device for ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:<index>"``.

    Asking for CUDA on a machine without a usable GPU is a user error, not a silent fallback:
    results must say truthfully where they were computed.
    """
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ChaosbenchError(
                f"device '{name}' requested but torch sees no CUDA GPU "
                f"(torch {torch.__version__}); use --device cpu or auto"
            )
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise ChaosbenchError(f"invalid device '{name}'") from None
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ChaosbenchError(
                f"device '{name}' requested but only {torch.cuda.device_count()} GPU(s) exist"
            )
        return dev
    raise ChaosbenchError(f"unknown device '{name}' (choose from {', '.join(DEVICE_CHOICES)})")


@contextlib.contextmanager
def cpu_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads and ``n`` threads in every loaded BLAS library."""
    threads = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(threads)


def thread_counts() -> dict[str, int]:
    """The CPU threads this process computes with now: torch's (its intra-op pool, which also sets
    the MKL that torch links), and the most that any BLAS library threadpoolctl finds may use
    (numpy's and scipy's OpenBLAS), when one is loaded."""
    counts = {"torch": torch.get_num_threads()}
    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    if blas:
        counts["blas"] = max(blas)
    return counts
