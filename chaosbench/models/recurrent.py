"""Standard recurrent cells as autonomous latent models: vanilla tanh RNN, LSTM and GRU.

The latent state is the hidden state (``[h, c]`` for the LSTM, so its Lyapunov spectrum has
``2 * hidden_dim`` exponents). The cell's input is its own previous observation, making the model
autonomous: ``x_t = observe(z_t)``, ``z_{t+1} = cell(x_t, z_t)``. ``observe`` is a learned linear
readout of ``h``; ``encode`` a learned linear map from observation to state. Weights follow
torch's recurrent layers (same gate order, uniform in ``+-1/sqrt(hidden_dim)``); each model has
an analytic Jacobian, checked against autograd in the tests.

Each also evaluates an ensemble natively (``stacked``, see :mod:`chaosbench.models.contract`).
Since the input is a linear readout of ``h``, the view folds it into the recurrent weights once
per call (``W_ih @ readout.weight + W_hh``), so a step costs one batched product; the gate
arithmetic after the products is shared with the models' own methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn

from chaosbench.models._init import uniform
from chaosbench.models.contract import LatentModel, positive_int
from chaosbench.models.fused import Cell, GRUCell, LSTMCell, unroll_window
from chaosbench.models.registry import register


def _rows(d: Tensor, m: Tensor) -> Tensor:
    """``diag(d) @ m`` for ``d`` of shape ``(..., H)`` and ``m`` of shape ``([...,] H, K)``."""
    return d[..., :, None] * m


def _affine(bias: Tensor, x: Tensor, weight_T: Tensor) -> Tensor:
    """``bias + x @ weight_T`` per member for ``x`` of shape ``(E, ..., K)`` (one ``baddbmm``)."""
    flat = torch.baddbmm(bias, x.reshape(x.shape[0], -1, x.shape[-1]), weight_T)
    return flat.reshape(*x.shape[:-1], flat.shape[-1])


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


class _StackedRecurrent:
    """The ensemble view shared by the cells: states ``(E, B, M)``, parameters ``(E, ...)``.

    ``input_w``/``input_b`` are the cell input's part of the pre-activations as a map of ``h``
    (``W_ih @ readout.weight``, ``W_ih @ readout.bias + b_ih``).
    """

    def __init__(self, hidden_dim: int, params: Mapping[str, Tensor]) -> None:
        self.hidden_dim = hidden_dim
        readout_w, readout_b = params["readout.weight"], params["readout.bias"]
        self.readout_T, self.readout_b = readout_w.mT, readout_b[:, None]
        self.encoder_T = params["encoder.weight"].mT
        self.encoder_b = params["encoder.bias"][:, None]
        self.input_w = params["W_ih"] @ readout_w
        # a product and a row sum, not a batched matrix-vector product, whose rounding depends on E
        self.input_b = (params["W_ih"] * readout_b[:, None]).sum(-1) + params["b_ih"]
        self.W_hh, self.b_hh = params["W_hh"], params["b_hh"]

    def observe(self, z: Tensor) -> Tensor:
        return self.read(z[..., : self.hidden_dim])

    def read(self, h: Tensor) -> Tensor:
        """The observation read out of the hidden state ``h``."""
        return _affine(self.readout_b, h, self.readout_T)

    def encode(self, x: Tensor) -> Tensor:
        return _affine(self.encoder_b, x, self.encoder_T)

    def force(self, z: Tensor, x: Tensor, alpha: float | Tensor = 1.0) -> Tensor:
        return (1 - alpha) * z + alpha * self.encode(x)


class _StackedFused(_StackedRecurrent):
    """A view whose pre-activations are one product: ``W = input_w + W_hh``, ``b`` likewise."""

    def __init__(self, hidden_dim: int, params: Mapping[str, Tensor]) -> None:
        super().__init__(hidden_dim, params)
        self.W = self.input_w + self.W_hh
        self.W_T = self.W.mT
        self.b = (self.input_b + self.b_hh)[:, None]

    def _pre(self, h: Tensor) -> Tensor:
        return _affine(self.b, h, self.W_T)


class _Windowed:
    """``unroll``, a whole training window as one fused node (:func:`unroll_window`), for views
    that set ``cell``, ``window_w_t`` and ``window_b`` (pre-activations ``h @ window_w_t +
    window_b``) and force by mixing with ``encode(x)``."""

    cell: Cell
    window_w_t: Tensor
    window_b: Tensor
    encode: Callable[[Tensor], Tensor]
    read: Callable[[Tensor], Tensor]

    def unroll(self, z: Tensor, x: Tensor, forced: Sequence[int], alpha: Tensor) -> Tensor:
        """The observations predicted over ``x.shape[-2]`` steps from ``z``, the state forced
        towards ``x[..., t - 1, :]`` after each step ``t`` in ``forced`` (see
        :class:`chaosbench.training.loop.Rollout`)."""
        targets = self.encode(x[..., [t - 1 for t in forced], :]) if forced else None
        hidden = unroll_window(self.cell, z, x.shape[-2], forced, targets, alpha,
                               self.window_w_t, self.window_b)
        return self.read(hidden)


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

    def stacked(self, params: Mapping[str, Tensor]) -> StackedRNN:
        return StackedRNN(self.hidden_dim, params)


class StackedRNN(_StackedFused):
    """:class:`RNN` over a leading member axis."""

    def step(self, z: Tensor) -> Tensor:
        return torch.tanh(self._pre(z))

    def jacobian(self, z: Tensor) -> Tensor:
        return _rows(1 - self.step(z) ** 2, self.W[:, None])


def _lstm_gates(a: Tensor, c: Tensor) -> tuple[Tensor, ...]:
    """From the pre-activations ``a`` (gates ``i, f, g, o``) and the cell state ``c``:
    ``c, i, f, g, o, c', tanh(c')``."""
    ai, af, ag, ao = a.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(ai), torch.sigmoid(af), torch.tanh(ag), torch.sigmoid(ao)
    c_new = f * c + i * g
    return c, i, f, g, o, c_new, torch.tanh(c_new)


def _lstm_step(gates: tuple[Tensor, ...]) -> Tensor:
    _, _, _, _, o, c_new, tanh_c = gates
    return torch.cat([o * tanh_c, c_new], dim=-1)


def _lstm_jacobian(gates: tuple[Tensor, ...], u: Tensor) -> Tensor:
    """``d [h', c'] / d [h, c]`` given ``u = d a / d h`` (``([...,] 4H, H)``)."""
    c, i, f, g, o, _, tanh_c = gates
    ui, uf, ug, uo = u.chunk(4, dim=-2)
    dc_dh = _rows(c * f * (1 - f), uf) + _rows(g * i * (1 - i), ui) + _rows(i * (1 - g**2), ug)
    out_slope = o * (1 - tanh_c**2)
    dh_dh = _rows(tanh_c * o * (1 - o), uo) + _rows(out_slope, dc_dh)
    dh_dc = torch.diag_embed(out_slope * f)
    top = torch.cat([dh_dh, dh_dc], dim=-1)
    bottom = torch.cat([dc_dh, torch.diag_embed(f)], dim=-1)
    return torch.cat([top, bottom], dim=-2)


class LSTM(_Recurrent):
    """LSTM cell (gates ``i, f, g, o``) with latent state ``z = [h, c]``."""

    citation = "Hochreiter & Schmidhuber, Long short-term memory, Neural Computation 9 (1997)"
    n_gates = 4
    state_blocks = 2

    def __init__(self, obs_dim: int, hidden_dim: int = 50) -> None:
        super().__init__(obs_dim, hidden_dim)

    def _gates(self, z: Tensor) -> tuple[Tensor, ...]:
        h, c = z[..., : self.hidden_dim], z[..., self.hidden_dim :]
        return _lstm_gates(self._input_part(h) + h @ self.W_hh.T + self.b_hh, c)

    def step(self, z: Tensor) -> Tensor:
        return _lstm_step(self._gates(z))

    def jacobian(self, z: Tensor) -> Tensor:
        return _lstm_jacobian(self._gates(z), self._input_jacobian() + self.W_hh)

    def stacked(self, params: Mapping[str, Tensor]) -> StackedLSTM:
        return StackedLSTM(self.hidden_dim, params)


class StackedLSTM(_Windowed, _StackedFused):
    """:class:`LSTM` over a leading member axis; ``unroll`` fuses a window (:class:`LSTMCell`)."""

    def __init__(self, hidden_dim: int, params: Mapping[str, Tensor]) -> None:
        super().__init__(hidden_dim, params)
        scale = self.W.new_tensor((1.0, 1.0, 2.0, 1.0)).repeat_interleave(hidden_dim)
        self.window_w_t, self.window_b = self.W_T * scale, self.b * scale
        self.cell = LSTMCell(self.W.new_full((), -1.0))

    def _gates(self, z: Tensor) -> tuple[Tensor, ...]:
        h, c = z[..., : self.hidden_dim], z[..., self.hidden_dim :]
        return _lstm_gates(self._pre(h), c)

    def step(self, z: Tensor) -> Tensor:
        return _lstm_step(self._gates(z))

    def jacobian(self, z: Tensor) -> Tensor:
        return _lstm_jacobian(self._gates(z), self.W[:, None])


def _gru_gates(input_part: Tensor, hidden_part: Tensor) -> tuple[Tensor, ...]:
    """``r, u, n, hn`` from ``W_ih x + b_ih`` and ``W_hh h + b_hh`` (gates ``r, u, n``)."""
    xr, xu, xn = input_part.chunk(3, dim=-1)
    hr, hu, hn = hidden_part.chunk(3, dim=-1)
    r = torch.sigmoid(xr + hr)
    u = torch.sigmoid(xu + hu)
    n = torch.tanh(xn + r * hn)
    return r, u, n, hn


def _gru_step(z: Tensor, gates: tuple[Tensor, ...]) -> Tensor:
    _, u, n, _ = gates
    return (1 - u) * n + u * z


def _gru_jacobian(z: Tensor, gates: tuple[Tensor, ...], input_w: Tensor, w_hh: Tensor) -> Tensor:
    """``d h' / d h`` given ``input_w = d (W_ih x) / d h`` and ``W_hh`` (``([...,] 3H, H)``)."""
    r, u, n, hn = gates
    ir, iu, i_n = input_w.chunk(3, dim=-2)
    wr, wu, wn = w_hh.chunk(3, dim=-2)
    dr = _rows(r * (1 - r), ir + wr)
    du = _rows(u * (1 - u), iu + wu)
    dn = _rows(1 - n**2, i_n + _rows(r, wn) + _rows(hn, dr))
    return _rows(1 - u, dn) + _rows(z - n, du) + torch.diag_embed(u)


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
        return _gru_gates(self._input_part(h), h @ self.W_hh.T + self.b_hh)

    def step(self, z: Tensor) -> Tensor:
        return _gru_step(z, self._gates(z))

    def jacobian(self, z: Tensor) -> Tensor:
        return _gru_jacobian(z, self._gates(z), self._input_jacobian(), self.W_hh)

    def stacked(self, params: Mapping[str, Tensor]) -> StackedGRU:
        return StackedGRU(self.hidden_dim, params)


class StackedGRU(_Windowed, _StackedRecurrent):
    """:class:`GRU` over a leading member axis; ``unroll`` fuses a window (:class:`GRUCell`).

    ``step`` and the Jacobian take input and hidden parts in one product (``6H`` rows); the
    window's product sums them for ``r`` and ``u`` and doubles the candidate's (``4H`` rows).
    """

    def __init__(self, hidden_dim: int, params: Mapping[str, Tensor]) -> None:
        super().__init__(hidden_dim, params)
        self.W_T = torch.cat([self.input_w, self.W_hh], dim=-2).mT
        self.b = torch.cat([self.input_b, self.b_hh], dim=-1)[:, None]
        rows = 2 * hidden_dim
        w_ru = self.input_w[:, :rows] + self.W_hh[:, :rows]
        b_ru = self.input_b[:, :rows] + self.b_hh[:, :rows]
        w_n = torch.cat([self.input_w[:, rows:], self.W_hh[:, rows:]], dim=-2)
        b_n = torch.cat([self.input_b[:, rows:], self.b_hh[:, rows:]], dim=-1)
        self.window_w_t = torch.cat([w_ru, w_n + w_n], dim=-2).mT
        self.window_b = torch.cat([b_ru, b_n + b_n], dim=-1)[:, None]
        self.cell = GRUCell(self.W_T.new_full((), -1.0))

    def _gates(self, h: Tensor) -> tuple[Tensor, ...]:
        return _gru_gates(*_affine(self.b, h, self.W_T).chunk(2, dim=-1))

    def step(self, z: Tensor) -> Tensor:
        return _gru_step(z, self._gates(z))

    def jacobian(self, z: Tensor) -> Tensor:
        return _gru_jacobian(z, self._gates(z), self.input_w[:, None], self.W_hh[:, None])


register("rnn", RNN)
register("lstm", LSTM)
register("gru", GRU)
