"""Fused training windows of the gated cells: one autograd node per window, backward by hand.

Under plain autograd a step of an LSTM or GRU ensemble view records ~15 small operations and
replays ~40 kernels backward, each a few microseconds of dispatch on tensors of a few thousand
elements. :func:`unroll_window` instead runs a whole training window (every step and the forcing
between steps) as one ``torch.autograd.Function``: the forward computes the cell without recording
it (one product and one sigmoid for all gates per step) and keeps the few activations the
gradients need; the backward walks the window in reverse with the closed-form gradients of the
cell, and forms the weight gradient of all steps with one product at the end.

The ``tanh`` of a gate is ``2 sigmoid(2 x) - 1``: the caller doubles that gate's rows of the
weights and biases (an exact scaling), so one sigmoid covers every gate. Tensors are ``(E, B,
...)`` with per-member weights ``(E, K, rows)`` and biases ``(E, 1, rows)``, on any device.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


class GatedCell(Protocol):
    """The element-wise part of a cell whose pre-activations are ``h @ weight_t + bias``."""

    def forward(self, z: Tensor, weight_t: Tensor, bias: Tensor) -> tuple[Tensor, Tensor, Any]:
        """``(z', h, saved)``: the next state, the product's input ``h`` and what ``backward``
        needs."""
        ...

    def backward(self, grad: Tensor, saved: Any, weight: Tensor) -> tuple[Tensor, Tensor]:
        """``(d loss / d pre-activations, d loss / d z)`` from ``grad = d loss / d z'``."""
        ...


def _sigmoid_slope(s: Tensor) -> Tensor:
    """``s (1 - s)``, the derivative of the sigmoid at the point where it equals ``s``."""
    return torch.addcmul(s, s, s, value=-1)


class LSTMCell:
    """``[h, c] -> [o tanh(c'), c']`` with ``c' = f c + i g``, gates ``i, f, g, o`` (``g`` doubled)."""

    def __init__(self, minus_one: Tensor) -> None:
        self.minus_one = minus_one

    def forward(self, z: Tensor, weight_t: Tensor, bias: Tensor) -> tuple[Tensor, Tensor, Any]:
        h, c = z.chunk(2, dim=-1)
        s = torch.sigmoid(torch.baddbmm(bias, h, weight_t))
        i, f, s_g, o = s.chunk(4, dim=-1)
        g = torch.add(self.minus_one, s_g, alpha=2)
        c_new = torch.addcmul(f * c, i, g)
        tanh_c = torch.tanh(c_new)
        h_new = o * tanh_c
        # d h' / d c' = o (1 - tanh(c')^2); d c' / d (i, f, s_g) = (g, c, 2 i); d h' / d o = tanh(c')
        out_slope = torch.addcmul(o, h_new, tanh_c, value=-1)
        gate_slopes = torch.cat([g, c, i + i, tanh_c], dim=-1) * _sigmoid_slope(s)
        return torch.cat([h_new, c_new], dim=-1), h, (f, out_slope, gate_slopes)

    def backward(self, grad: Tensor, saved: Any, weight: Tensor) -> tuple[Tensor, Tensor]:
        f, out_slope, gate_slopes = saved
        grad_h, grad_c = grad.chunk(2, dim=-1)
        grad_c = torch.addcmul(grad_c, grad_h, out_slope)  # all of d loss / d c'
        grad_a = torch.cat([grad_c, grad_c, grad_c, grad_h], dim=-1) * gate_slopes
        return grad_a, torch.cat([torch.bmm(grad_a, weight), grad_c * f], dim=-1)


class GRUCell:
    """``h -> (1 - u) n + u h`` with ``n = tanh(x_n + r h_n)``.

    The pre-activations are those of ``r`` and ``u`` (input and hidden parts summed), then the
    doubled input part ``x_n`` and hidden part ``h_n`` of the candidate.
    """

    def __init__(self, minus_one: Tensor) -> None:
        self.minus_one = minus_one

    def forward(self, h: Tensor, weight_t: Tensor, bias: Tensor) -> tuple[Tensor, Tensor, Any]:
        hidden = h.shape[-1]
        ru, x_n, h_n = torch.baddbmm(bias, h, weight_t).split((2 * hidden, hidden, hidden), -1)
        s = torch.sigmoid(ru)
        r, u = s.chunk(2, dim=-1)
        s_n = torch.sigmoid(torch.addcmul(x_n, r, h_n))
        n = torch.add(self.minus_one, s_n, alpha=2)
        return torch.lerp(n, h, u), h, (h, s, h_n, s_n, n)

    def backward(self, grad: Tensor, saved: Any, weight: Tensor) -> tuple[Tensor, Tensor]:
        h, s, h_n, s_n, n = saved
        r, u = s.chunk(2, dim=-1)
        grad_n = torch.addcmul(grad, grad, u, value=-1)
        # d n / d p = 2 s_n (1 - s_n) for the doubled pre-activation p (n = 2 sigmoid(p) - 1)
        grad_p = (grad_n + grad_n) * _sigmoid_slope(s_n)
        grad_ru = torch.cat([grad_p * h_n, grad * (h - n)], dim=-1) * _sigmoid_slope(s)
        grad_a = torch.cat([grad_ru, grad_p, grad_p * r], dim=-1)
        return grad_a, torch.baddbmm(grad * u, grad_a, weight)


def unroll_window(
    cell: GatedCell,
    z: Tensor,
    n_steps: int,
    forced: Sequence[int],
    targets: Tensor | None,
    alpha: Tensor,
    weight_t: Tensor,
    bias: Tensor,
) -> Tensor:
    """The states ``z_1 .. z_L`` (``(E, B, L, M)``) of ``n_steps`` cell steps from ``z``.

    After step ``t`` in ``forced`` (ascending) the state is mixed with the next target,
    ``z <- (1 - alpha) z + alpha targets[:, :, k]`` (``targets`` ``(E, B, len(forced), M)``,
    ``alpha`` broadcasting against ``(E, B, M)``); the returned states are those before mixing.
    ``alpha`` is not differentiated.
    """
    return _Window.apply(cell, n_steps, tuple(forced), z, targets, alpha, weight_t, bias)


class _Window(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        cell: GatedCell,
        n_steps: int,
        forced: tuple[int, ...],
        z: Tensor,
        targets: Tensor | None,
        alpha: Tensor,
        weight_t: Tensor,
        bias: Tensor,
    ) -> Tensor:
        mix = dict(zip(forced, targets.unbind(2))) if targets is not None else {}
        states, inputs, saved = [], [], []
        for t in range(1, n_steps + 1):
            z, h, keep = cell.forward(z, weight_t, bias)
            states.append(z)
            inputs.append(h)
            saved.append(keep)
            if t in mix:
                z = torch.lerp(z, mix[t], alpha)
        ctx.cell, ctx.forced, ctx.inputs, ctx.saved = cell, forced, inputs, saved
        ctx.has_targets = targets is not None
        ctx.save_for_backward(weight_t, alpha)
        return torch.stack(states, dim=2)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_states: Tensor) -> tuple[Tensor | None, ...]:
        weight_t, alpha = ctx.saved_tensors
        weight, forced = weight_t.mT, frozenset(ctx.forced)
        grads = grad_states.unbind(2)
        grad_targets: dict[int, Tensor] = {}
        grad_pre: list[Tensor] = []
        grad = grads[-1]
        for t in range(len(grads), 0, -1):  # grad: d loss / d z_t before mixing
            grad_a, grad = ctx.cell.backward(grad, ctx.saved[t - 1], weight)
            grad_pre.append(grad_a)
            if t > 1:
                if t - 1 in forced:
                    grad_targets[t - 1] = grad * alpha
                    grad = grad - grad_targets[t - 1]
                grad = grad + grads[t - 2]
        grad_pre_all = torch.cat(grad_pre[::-1], dim=1)
        grad_w = torch.bmm(torch.cat(ctx.inputs, dim=1).mT, grad_pre_all)
        grad_b = grad_pre_all.sum(dim=1, keepdim=True)
        grad_t = torch.stack([grad_targets[t] for t in ctx.forced], 2) if ctx.has_targets else None
        return None, None, None, grad, grad_t, None, grad_w, grad_b
