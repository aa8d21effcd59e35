"""Shared fixtures: the external recordings live outside the project, in a folder the user names."""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

import pytest
import torch

# The models under test are small: one thread avoids OpenMP overhead (and oversubscription
# when the machine is busy) and makes results independent of the core count.
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]


def baseline_names(kind: str | None = None) -> list[str]:
    """The in-tree baselines (registered from chaosbench's own modules), of one ``kind``
    (``"latent"`` or ``"evaluable"``) or all: tests iterate these, never a list of their own."""
    from chaosbench.models import names, registry

    metas = {name: registry.meta(name) for name in names()}
    return [name for name, meta in metas.items() if meta["source"].startswith("chaosbench.")
            and kind in (None, meta["kind"])]  # fmt: skip


def external_dir() -> Path | None:
    """``$CHAOSBENCH_EXTERNAL_DIR``, else ``../shared/external`` beside the checkout, if present."""
    env = os.environ.get("CHAOSBENCH_EXTERNAL_DIR")
    candidates = [Path(env)] if env else [REPO_ROOT.parent / "shared" / "external"]
    for path in candidates:
        if path.is_dir():
            return path
    return None


@pytest.fixture
def external() -> Path:
    path = external_dir()
    if path is None:
        pytest.skip("external recordings not found (set CHAOSBENCH_EXTERNAL_DIR)")
    return path


@pytest.fixture()
def baselines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of baselines/ that the resolver reads."""
    from chaosbench.models.registry import baselines_dir

    copy = tmp_path / "baselines"
    shutil.copytree(baselines_dir(), copy)
    for name in ("chaosbench.training.config", "chaosbench.models.registry", "chaosbench.harness.suites"):
        module = importlib.import_module(name)
        if hasattr(module, "baselines_dir"):
            monkeypatch.setattr(module, "baselines_dir", lambda: copy)
    return copy
