"""Standard recurrent cells as autonomous latent models: vanilla tanh RNN, LSTM and GRU.

The latent state is the hidden state (``[h, c]`` for the LSTM, so its Lyapunov spectrum has
``2 * hidden_dim`` exponents). The cell's input is its own previous observation, making the model
autonomous: ``x_t = observe(z_t)``, ``z_{t+1} = cell(x_t, z_t)``. ``observe`` is a learned linear
readout of ``h``; ``encode`` a learned linear map from observation to state. Weights follow
torch's recurrent layers (same gate order, uniform in ``+-1/sqrt(hidden_dim)``); each model has
an analytic Jacobian, checked against autograd in the tests.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from chaosbench.models._init import uniform
from chaosbench.models.contract import LatentModel, positive_int


def _rows(d: Tensor, m: Tensor) -> Tensor:
    """``diag(d) @ m`` for ``d`` of shape ``(..., H)`` and ``m`` of shape ``([...,] H, K)``."""
    return d[..., :, None] * m


class _Recurrent(LatentModel):
    """Shared parameters: input and recurrent weights of ``n_gates`` blocks, readout, encoder."""

    n_gates: ClassVar[int]
    state_blocks: ClassVar[int] = 1

    def __init__(self, obs_dim: int, hidden_dim: int) -> None:
        hidden = positive_int(type(self).__name__, "hidden_dim", hidden_dim)
        config = {"obs_dim": obs_dim, "hidden_dim": hidden}
        super().__init__(obs_dim, self.state_blocks * hidden, config)
        self.hidden_dim = hidden
        rows = self.n_gates * hidden
        self.W_ih = nn.Parameter(uniform(rows, self.obs_dim, fan_in=hidden))
        self.W_hh = nn.Parameter(uniform(rows, hidden, fan_in=hidden))
        self.b_ih = nn.Parameter(uniform(rows, fan_in=hidden))
        self.b_hh = nn.Parameter(uniform(rows, fan_in=hidden))
        self.readout = nn.Linear(hidden, self.obs_dim)
        self.encoder = nn.Linear(self.obs_dim, self.latent_dim)

    def observe(self, z: Tensor) -> Tensor:
        return self.readout(z[..., : self.hidden_dim])

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def _input_part(self, h: Tensor) -> Tensor:
        """``W_ih x + b_ih`` for the cell's input ``x = observe(h)``."""
        return self.readout(h) @ self.W_ih.T + self.b_ih

    def _input_jacobian(self) -> Tensor:
        """``d (W_ih x) / d h = W_ih @ readout.weight``: ``(n_gates * H, H)``."""
        return self.W_ih @ self.readout.weight


class RNN(_Recurrent):
    """Vanilla Elman RNN ``h' = tanh(W_ih x + W_hh h + b)`` fed its own readout ``x = B h + c``."""

    citation = "Elman, Finding structure in time, Cognitive Science 14 (1990)"
    n_gates = 1

    def __init__(self, obs_dim: int, hidden_dim: int = 50) -> None:
        super().__init__(obs_dim, hidden_dim)

    def step(self, z: Tensor) -> Tensor:
        return torch.tanh(self._input_part(z) + z @ self.W_hh.T + self.b_hh)

    def jacobian(self, z: Tensor) -> Tensor:
        return _rows(1 - self.step(z) ** 2, self._input_jacobian() + self.W_hh)


class LSTM(_Recurrent):
    """LSTM cell (gates ``i, f, g, o``) with latent state ``z = [h, c]``."""

    citation = "Hochreiter & Schmidhuber, Long short-term memory, Neural Computation 9 (1997)"
    n_gates = 4
    state_blocks = 2

    def __init__(self, obs_dim: int, hidden_dim: int = 50) -> None:
        super().__init__(obs_dim, hidden_dim)

    def _gates(self, z: Tensor) -> tuple[Tensor, ...]:
        h, c = z[..., : self.hidden_dim], z[..., self.hidden_dim :]
        a = self._input_part(h) + h @ self.W_hh.T + self.b_hh
        ai, af, ag, ao = a.chunk(4, dim=-1)
        i, f, g, o = torch.sigmoid(ai), torch.sigmoid(af), torch.tanh(ag), torch.sigmoid(ao)
        c_new = f * c + i * g
        return c, i, f, g, o, c_new, torch.tanh(c_new)

    def step(self, z: Tensor) -> Tensor:
        _, _, _, _, o, c_new, tanh_c = self._gates(z)
        return torch.cat([o * tanh_c, c_new], dim=-1)

    def jacobian(self, z: Tensor) -> Tensor:
        c, i, f, g, o, _, tanh_c = self._gates(z)
        ui, uf, ug, uo = (self._input_jacobian() + self.W_hh).chunk(4, dim=0)
        dc_dh = _rows(c * f * (1 - f), uf) + _rows(g * i * (1 - i), ui) + _rows(i * (1 - g**2), ug)
        out_slope = o * (1 - tanh_c**2)
        dh_dh = _rows(tanh_c * o * (1 - o), uo) + _rows(out_slope, dc_dh)
        dh_dc = torch.diag_embed(out_slope * f)
        top = torch.cat([dh_dh, dh_dc], dim=-1)
        bottom = torch.cat([dc_dh, torch.diag_embed(f)], dim=-1)
        return torch.cat([top, bottom], dim=-2)


class GRU(_Recurrent):
    """GRU cell (gates ``r, u, n`` as in torch): ``h' = (1 - u) n + u h``."""

    citation = (
        "Cho et al., Learning phrase representations using RNN encoder-decoder for statistical "
        "machine translation, EMNLP 2014"
    )
    n_gates = 3

    def __init__(self, obs_dim: int, hidden_dim: int = 50) -> None:
        super().__init__(obs_dim, hidden_dim)

    def _gates(self, h: Tensor) -> tuple[Tensor, ...]:
        xr, xu, xn = self._input_part(h).chunk(3, dim=-1)
        hr, hu, hn = (h @ self.W_hh.T + self.b_hh).chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        u = torch.sigmoid(xu + hu)
        n = torch.tanh(xn + r * hn)
        return r, u, n, hn

    def step(self, z: Tensor) -> Tensor:
        _, u, n, _ = self._gates(z)
        return (1 - u) * n + u * z

    def jacobian(self, z: Tensor) -> Tensor:
        r, u, n, hn = self._gates(z)
        ir, iu, i_n = self._input_jacobian().chunk(3, dim=0)
        wr, wu, wn = self.W_hh.chunk(3, dim=0)
        dr = _rows(r * (1 - r), ir + wr)
        du = _rows(u * (1 - u), iu + wu)
        dn = _rows(1 - n**2, i_n + _rows(r, wn) + _rows(hn, dr))
        return _rows(1 - u, dn) + _rows(z - n, du) + torch.diag_embed(u)
