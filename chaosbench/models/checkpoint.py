"""Latent model checkpoints: ``<path>.safetensors`` (tensors) + ``<path>.json`` (how to rebuild).

Never pickle: loading someone else's checkpoint must not be able to run code. The JSON names the
model by its registered name and gives its constructor ``config`` (plain data); the class comes
from the model registry, never from an import path in the file, unless the caller passes
``allow_import=True``. The tensors file's sha256 is recorded in the JSON and checked on load, so a
corrupt or altered file raises :class:`~chaosbench.errors.IntegrityError`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from chaosbench import __version__
from chaosbench.errors import ChaosbenchError, IntegrityError
from chaosbench.models.contract import LatentModel
from chaosbench.models.registry import registry, resolve

FORMAT = "chaosbench-model"
FORMAT_VERSION = 1


def checkpoint_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(<path>.safetensors, <path>.json)``; either suffix on ``path`` itself is ignored."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_spec(model: LatentModel) -> str:
    """The registered name of ``model``'s class, else its ``module:Class`` import path."""
    cls = type(model)
    for name in registry.names():
        if registry.get(name) is cls:
            return name
    return f"{cls.__module__}:{cls.__qualname__}"


def _write_atomic(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save(model: LatentModel, path: str | os.PathLike[str], *, record: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``<path>.safetensors`` and ``<path>.json``; returns the JSON path.

    ``record``: plain data naming the run record the model was scored for (a checkpoint of
    record, see ``chaosbench.harness.verify``), kept in the JSON.
    """
    if not isinstance(model, LatentModel):
        raise ChaosbenchError(
            "only latent models (chaosbench.models.LatentModel) have checkpoints, "
            f"got {type(model).__name__}"
        )
    tensors_path, meta_path = checkpoint_paths(path)
    tensors_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    _write_atomic(tensors_path, lambda tmp: safetensors.torch.save_file(tensors, str(tmp)))
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model_spec(model),
        "config": model.config,
        "sha256": sha256_file(tensors_path),
        "chaosbench_version": __version__,
        **({"record": record} if record is not None else {}),
    }
    _write_atomic(meta_path, lambda tmp: tmp.write_text(json.dumps(meta, indent=2) + "\n"))
    return meta_path


def describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint's JSON description (format checked; the tensors are not read)."""
    return _read_meta(checkpoint_paths(path)[1])


def _read_meta(meta_path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise ChaosbenchError(f"checkpoint description {meta_path} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ChaosbenchError(f"{meta_path}: not valid JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ChaosbenchError(f"{meta_path}: not a chaosbench model checkpoint")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ChaosbenchError(
            f"{meta_path}: checkpoint format version {meta.get('format_version')!r} "
            f"is not supported (this chaosbench reads version {FORMAT_VERSION})"
        )
    types = {"model": str, "config": dict, "sha256": str}
    bad = [k for k, t in types.items() if not isinstance(meta.get(k), t)]
    if bad:
        raise ChaosbenchError(f"{meta_path}: missing or malformed field(s) {', '.join(bad)}")
    return meta


def _model_class(spec: str, allow_import: bool, meta_path: Path) -> type[LatentModel]:
    if ":" in spec and not allow_import:
        raise ChaosbenchError(
            f"{meta_path} names the model '{spec}', which is not registered; importing it would "
            "run its code. Register the model, or pass allow_import=True if you trust this file"
        )
    cls = resolve(spec)
    if not (isinstance(cls, type) and issubclass(cls, LatentModel)):
        raise ChaosbenchError(f"{meta_path}: model '{spec}' is not a latent model")
    return cls


def load(
    path: str | os.PathLike[str], *, allow_import: bool = False, device: str | torch.device = "cpu"
) -> LatentModel:
    """Rebuild the model saved at ``path`` (after verifying the tensors' sha256) on ``device``."""
    tensors_path, meta_path = checkpoint_paths(path)
    meta = _read_meta(meta_path)
    if not tensors_path.is_file():
        raise ChaosbenchError(f"checkpoint tensors {tensors_path} not found")
    actual = sha256_file(tensors_path)
    if actual != meta["sha256"]:
        raise IntegrityError(
            f"{tensors_path}: sha256 {actual} does not match {meta['sha256']} recorded in "
            f"{meta_path.name} (corrupt or altered file)"
        )
    cls = _model_class(meta["model"], allow_import, meta_path)
    try:
        model = cls(**meta["config"])
    except TypeError as err:
        raise ChaosbenchError(
            f"{meta_path}: config does not fit model '{meta['model']}': {err}"
        ) from None
    tensors = safetensors.torch.load_file(str(tensors_path), device=str(device))
    try:
        model.load_state_dict(tensors, strict=True, assign=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise ChaosbenchError(
            f"{tensors_path}: tensors do not fit model '{meta['model']}' ({' '.join(first)})"
        ) from None
    return model.to(device)
