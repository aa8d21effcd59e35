"""Part 2: the norm of the loss gradient vs the length ``T`` of a free run.

Mikhaeil et al. (2022, theorems 1-3): for an RNN whose orbits are stable or cyclic the gradient of
a loss over ``T`` free-running steps stays bounded as ``T`` grows; for a chaotic RNN (largest
Lyapunov exponent ``lambda_max > 0``) it diverges, growing exponentially in ``T``.

The models: every member part 1 trained on ``gradients.dataset`` (each ``tau`` and BPTT, so that
models which came out chaotic and models which did not are both at hand), each also as a *damped
copy* with ``A`` and ``W1`` scaled by ``damping``
(``z' = c A z + c W1 relu(W2 z + h2) + h1``: at every state its Jacobian is ``c`` times the
original's at the same activation pattern, which pushes the spectrum towards stability). Every
model is classified by the sign of its own ``lambda_max``, measured by the QR method.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from chaosbench.errors import ChaosbenchError
from chaosbench.harness.evaluate import EvalSettings, model_spectrum
from chaosbench.models import checkpoint
from chaosbench.studies.cache import Entry
from chaosbench.studies.mikhaeil2022 import common
from chaosbench.studies.mikhaeil2022.settings import StudySettings
from chaosbench.training import resolve_device
from chaosbench.training.loop import Rollout

PART = "gradients"


def gradient_norms(model: nn.Module, windows: np.ndarray, lengths: Sequence[int]) -> np.ndarray:
    """``||d loss / d params||`` per (length, window): ``(len(lengths), n_windows)``.

    ``loss`` is the training loop's BPTT loss (:class:`chaosbench.training.loop.Rollout` without
    forcing) of a free run of ``T`` steps from ``encode`` of a window's first point, against its
    next ``T`` points; ``windows`` is ``(n_windows, >= max(lengths) + 1, N)``. Non-finite
    gradients give ``inf``.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    ref = params[0]
    x = torch.as_tensor(np.asarray(windows), dtype=ref.dtype, device=ref.device)
    if x.ndim != 3 or x.shape[1] < max(lengths) + 1:
        raise ChaosbenchError(f"windows must be (n, >= {max(lengths) + 1}, N), got {tuple(x.shape)}")
    rollout, alpha = Rollout(()), torch.ones((), dtype=ref.dtype, device=ref.device)
    out = np.empty((len(lengths), x.shape[0]))
    for i, length in enumerate(lengths):
        for j in range(x.shape[0]):
            loss = rollout(model, x[j : j + 1, : length + 1], alpha)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            norm = torch.sqrt(sum((g**2).sum() for g in grads if g is not None))
            out[i, j] = float(norm) if torch.isfinite(norm) else np.inf
    return out


def damped(model: nn.Module, factor: float) -> nn.Module:
    """A copy of a shallow PLRNN with ``A`` and ``W1`` scaled by ``factor``."""
    if not all(isinstance(getattr(model, k, None), torch.Tensor) for k in ("A", "W1")):
        raise ChaosbenchError(f"damping needs a shallow PLRNN (parameters A and W1), got {type(model).__name__}")
    out = copy.deepcopy(model)
    with torch.no_grad():
        out.A.mul_(factor)
        out.W1.mul_(factor)
    return out


def sources(settings: StudySettings, forcing: list[tuple[Entry, dict[str, Any]]]) -> list[tuple[Entry, dict[str, Any]]]:
    """Part 1's entries whose members this part uses: every configuration on its dataset (each
    seed whose training produced a model, saved as a checkpoint)."""
    return [(entry, result) for entry, result in forcing if result["dataset"] == settings.gradients.dataset]


def run(
    settings: StudySettings, root: Path, forcing: list[tuple[Entry, dict[str, Any]]], progress: bool
) -> list[dict[str, Any]]:
    """Gradient norms of every selected model (cached per model); their results."""
    part = settings.gradients
    todo = [(entry, result, member["seed"], damp) for entry, result in sources(settings, forcing)
            for member in result["seeds"] if member["checkpoint"] for damp in (False, True)]  # fmt: skip
    done = []
    for source, result, seed, damp in tqdm(todo, desc="part 2: gradients", disable=not progress, unit="model"):
        label = f"{result['dataset']}-{result['label']}-seed{seed}" + ("-damped" if damp else "")
        config = {"source": source.key, "member_seed": seed, "damped": damp, "settings": asdict(part),
                  "device": str(resolve_device(settings.device))}  # fmt: skip
        entry = Entry(root, PART, label, config)
        cached = entry.load()
        if cached is None:
            cached = entry.save(_measure(source, result, seed, damp, settings))
        done.append({**cached, "label": label})
    return done


def _measure(source: Entry, result: dict[str, Any], seed: int, damp: bool, settings: StudySettings) -> dict[str, Any]:
    part = settings.gradients
    ds = common.dataset(part.dataset)
    model = checkpoint.load(source.dir / f"seed{seed}", device=resolve_device(settings.device))
    if damp:
        model = damped(model, part.damping)
    lengths = part.lengths.values()
    rng = np.random.default_rng(part.seed)
    starts = rng.integers(0, len(ds.train) - lengths[-1] - 1, size=part.n_windows)
    windows = ds.train[starts[:, None] + np.arange(lengths[-1] + 1)]
    norms = gradient_norms(model, windows, lengths)
    lyap = EvalSettings(transient=part.lyapunov.transient, lyapunov_inits=part.lyapunov.n_init,
                        lyapunov_steps=part.lyapunov.n_steps)  # fmt: skip
    lam = float(model_spectrum(model, ds.test, 1, lyap)[0]) / ds.dt
    return {
        "regime": result["regime"],
        "tau": result["tau"],
        "seed": seed,
        "damped": damp,
        "lambda_max": lam,
        "lengths": lengths,
        "grad_norm_median": np.median(norms, axis=1).tolist(),
        "grad_norms": norms.tolist(),
    }
