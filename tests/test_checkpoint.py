"""Checkpoints: safetensors + JSON, round trip, integrity, and no code from the file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import chaosbench.models as cm
from chaosbench import __version__
from chaosbench.errors import ChaosbenchError, IntegrityError
from chaosbench.models import checkpoint
from conftest import baseline_names

LATENT = baseline_names("latent")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """These tensors are tiny: extra intra-op threads only add wake-up latency (severe on a
    loaded machine), so the module runs single-threaded and restores the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Unregistered(cm.LatentModel):
    """A latent model that no registry knows: loading it needs an explicit import."""

    def __init__(self, obs_dim: int, gain: float = 0.5) -> None:
        super().__init__(obs_dim, obs_dim, {"gain": gain})
        self.a = torch.nn.Parameter(torch.full((obs_dim,), gain))

    def step(self, z: torch.Tensor) -> torch.Tensor:
        return self.a * z

    def observe(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _meta(path: Path) -> dict:
    return json.loads(path.with_name(path.name + ".json").read_text())


@pytest.mark.parametrize("name", LATENT)
def test_round_trip_restores_the_exact_model(name: str, tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = cm.build(name, 4).double()
    json_path = checkpoint.save(model, tmp_path / "sub" / "ckpt")
    assert json_path == tmp_path / "sub" / "ckpt.json"
    assert (tmp_path / "sub" / "ckpt.safetensors").is_file()
    meta = _meta(tmp_path / "sub" / "ckpt")
    assert meta["model"] == name and meta["config"] == model.config
    assert meta["chaosbench_version"] == __version__ and len(meta["sha256"]) == 64
    loaded = checkpoint.load(tmp_path / "sub" / "ckpt.safetensors")  # either suffix names it
    assert type(loaded) is type(model) and loaded.config == model.config
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    for key in original:
        assert restored[key].dtype == torch.float64
        assert torch.equal(original[key], restored[key]), key
    assert all(p.requires_grad for p in loaded.parameters())
    z = torch.randn(5, model.latent_dim, dtype=torch.float64)
    assert torch.equal(loaded.step(z), model.step(z))


def test_altered_tensors_raise_integrity_error(tmp_path: Path) -> None:
    checkpoint.save(cm.PLRNN(3, 5), tmp_path / "m")
    tensors = tmp_path / "m.safetensors"
    data = bytearray(tensors.read_bytes())
    data[-3] ^= 0x01  # flip one bit of the last parameter
    tensors.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match .* recorded in m.json"):
        checkpoint.load(tmp_path / "m")


def test_unregistered_class_needs_explicit_permission(tmp_path: Path) -> None:
    model = Unregistered(3, gain=0.25)
    checkpoint.save(model, tmp_path / "u")
    spec = _meta(tmp_path / "u")["model"]
    assert spec.endswith(":Unregistered")
    with pytest.raises(ChaosbenchError, match="not registered; importing it would run its code"):
        checkpoint.load(tmp_path / "u")
    loaded = checkpoint.load(tmp_path / "u", allow_import=True)
    assert isinstance(loaded, Unregistered) and float(loaded.a[0].detach()) == 0.25


def test_a_checkpoint_cannot_name_arbitrary_callables(tmp_path: Path) -> None:
    checkpoint.save(cm.RNN(3, 4), tmp_path / "r")
    meta_path = tmp_path / "r.json"
    for spec in ("os:system", "builtins:eval", "subprocess:run"):
        meta = json.loads(meta_path.read_text())
        meta["model"] = spec
        meta_path.write_text(json.dumps(meta))
        with pytest.raises(ChaosbenchError, match="not registered"):
            checkpoint.load(tmp_path / "r")
        with pytest.raises(ChaosbenchError, match="is not a model"):
            checkpoint.load(tmp_path / "r", allow_import=True)


def test_mismatched_or_malformed_descriptions(tmp_path: Path) -> None:
    checkpoint.save(cm.GRU(3, 4), tmp_path / "g")
    meta_path = tmp_path / "g.json"
    good = json.loads(meta_path.read_text())
    cases = [
        ({**good, "config": {"obs_dim": 3, "hidden_dim": 5}}, "tensors do not fit model 'gru'"),
        ({**good, "config": {"obs_dim": 3, "width": 4}}, "config does not fit model 'gru'"),
        ({**good, "model": "no_such_model"}, "unknown model 'no_such_model'"),
        ({**good, "format_version": 99}, "format version 99 is not supported"),
        ({**good, "format": "other"}, "not a chaosbench model checkpoint"),
        ({k: v for k, v in good.items() if k != "sha256"}, "missing or malformed field.*sha256"),
    ]
    for meta, message in cases:
        meta_path.write_text(json.dumps(meta))
        with pytest.raises(ChaosbenchError, match=message):
            checkpoint.load(tmp_path / "g")
    meta_path.write_text("{not json")
    with pytest.raises(ChaosbenchError, match="not valid JSON"):
        checkpoint.load(tmp_path / "g")
    with pytest.raises(ChaosbenchError, match="not found"):
        checkpoint.load(tmp_path / "missing")


def test_only_latent_models_are_saved(tmp_path: Path) -> None:
    with pytest.raises(ChaosbenchError, match="only latent models"):
        checkpoint.save(cm.ESN(3), tmp_path / "esn")
    assert not list(tmp_path.iterdir())


def test_tensors_file_is_plain_safetensors(tmp_path: Path) -> None:
    """A safetensors file is an 8-byte header length, a JSON header, then raw bytes: no pickle."""
    checkpoint.save(cm.LSTM(3, 2), tmp_path / "l")
    raw = (tmp_path / "l.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    assert set(header) - {"__metadata__"} == set(cm.LSTM(3, 2).state_dict())
    assert b"\x80\x04" not in raw[:2] and not raw.startswith(b"PK")  # neither pickle nor torch zip
