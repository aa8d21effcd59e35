"""Fused training windows of the gated and dendritic cells: one autograd node per window.

Under plain autograd a step of an LSTM or GRU ensemble view records ~15 small operations and
replays ~40 kernels backward, each a few microseconds of dispatch on tensors of a few thousand
elements. :func:`unroll_window` instead runs a whole training window (every step and the forcing
between steps) as one ``torch.autograd.Function``: the forward computes the cell without
recording it and keeps the few activations the gradients need; the backward walks the window in
reverse with the cell's closed-form gradients and forms the weight gradient of all steps with one
product at the end.

A cell's step is ``state' = cell(state, input @ weight_t + bias)`` for an ``input`` derived from
the state (the LSTM's and GRU's hidden state, the dendPLRNN's ramps). The state is the latent
vector cut into ``parts`` contiguous pieces (the LSTM's ``h`` and ``c``), which keeps every
element-wise operation on contiguous memory. The ``tanh`` of a gate is ``2 sigmoid(2 x) - 1``:
the caller doubles that gate's rows of the weights and biases (an exact scaling), so one sigmoid
covers every gate. Tensors are ``(E, B, ...)`` with per-member weights ``(E, K, rows)`` and
biases ``(E, 1, rows)``, on any device.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

State = tuple[Tensor, ...]


class Cell(Protocol):
    """One step of a cell whose product is ``input @ weight_t + bias``; ``extra`` are its other
    parameters (each ``(E, 1, ...)``). The state has ``parts`` pieces of equal width."""

    parts: int

    def forward(
        self, state: State, weight_t: Tensor, bias: Tensor, *extra: Tensor, inputs: Tensor
    ) -> tuple[State, Any]:
        """``(state', saved)``: the next state and what ``backward`` needs; writes the
        product's input to ``inputs`` ``(E, B, K)``."""
        ...

    def backward(
        self, grad: State, saved: Any, weight: Tensor, *extra: Tensor, grad_pre: Tensor
    ) -> tuple[State, tuple[Tensor, ...]]:
        """From ``grad = d loss / d state'``: ``d loss / d state`` and ``d loss / d`` each of
        ``extra`` through this step; writes ``d loss / d`` the product to ``grad_pre``."""
        ...


def _sigmoid_slope(s: Tensor) -> Tensor:
    """``s (1 - s)``, the derivative of the sigmoid at the point where it equals ``s``."""
    return torch.addcmul(s, s, s, value=-1)


class LSTMCell:
    """``(h, c) -> (o tanh(c'), c')`` with ``c' = f c + i g``, gates ``i, f, g, o`` (``g``
    doubled)."""

    parts = 2

    def __init__(self, minus_one: Tensor) -> None:
        self.minus_one = minus_one

    def forward(
        self, state: State, weight_t: Tensor, bias: Tensor, *, inputs: Tensor
    ) -> tuple[State, Any]:
        h, c = state
        s = torch.sigmoid(torch.baddbmm(bias, inputs.copy_(h), weight_t))
        i, f, s_g, o = s.chunk(4, dim=-1)
        g = torch.add(self.minus_one, s_g, alpha=2)
        c_new = torch.addcmul(f * c, i, g)
        tanh_c = torch.tanh(c_new)
        h_new = o * tanh_c
        # d h' / d c' = o (1 - tanh(c')^2); d c' / d (i, f, s_g) = (g, c, 2 i); d h' / d o = tanh(c')
        out_slope = torch.addcmul(o, h_new, tanh_c, value=-1)
        gate_slopes = torch.cat([g, c, i + i, tanh_c], dim=-1) * _sigmoid_slope(s)
        return (h_new, c_new), (f, out_slope, gate_slopes)

    def backward(
        self, grad: State, saved: Any, weight: Tensor, *, grad_pre: Tensor
    ) -> tuple[State, tuple]:
        f, out_slope, gate_slopes = saved
        grad_h, grad_c = grad
        grad_c = torch.addcmul(grad_c, grad_h, out_slope)  # all of d loss / d c'
        both = torch.cat([grad_c, grad_c, grad_c, grad_h], dim=-1)
        grad_a = torch.mul(both, gate_slopes, out=grad_pre)
        return (torch.bmm(grad_a, weight), grad_c * f), ()


class GRUCell:
    """``h -> (1 - u) n + u h`` with ``n = tanh(x_n + r h_n)``.

    The pre-activations are those of ``r`` and ``u`` (input and hidden parts summed), then the
    doubled input part ``x_n`` and hidden part ``h_n`` of the candidate.
    """

    parts = 1

    def __init__(self, minus_one: Tensor) -> None:
        self.minus_one = minus_one

    def forward(
        self, state: State, weight_t: Tensor, bias: Tensor, *, inputs: Tensor
    ) -> tuple[State, Any]:
        h = inputs.copy_(state[0])
        hidden = h.shape[-1]
        ru, x_n, h_n = torch.baddbmm(bias, h, weight_t).split((2 * hidden, hidden, hidden), -1)
        s = torch.sigmoid(ru)
        r, u = s.chunk(2, dim=-1)
        s_n = torch.sigmoid(torch.addcmul(x_n, r, h_n))
        n = torch.add(self.minus_one, s_n, alpha=2)
        return (torch.lerp(n, h, u),), (h, s, h_n, s_n, n)

    def backward(
        self, grad: State, saved: Any, weight: Tensor, *, grad_pre: Tensor
    ) -> tuple[State, tuple]:
        (grad,) = grad
        h, s, h_n, s_n, n = saved
        r, u = s.chunk(2, dim=-1)
        grad_n = torch.addcmul(grad, grad, u, value=-1)
        # d n / d p = 2 s_n (1 - s_n) for the doubled pre-activation p (n = 2 sigmoid(p) - 1)
        grad_p = (grad_n + grad_n) * _sigmoid_slope(s_n)
        grad_ru = torch.cat([grad_p * h_n, grad * (h - n)], dim=-1) * _sigmoid_slope(s)
        grad_a = torch.cat([grad_ru, grad_p, grad_p * r], dim=-1, out=grad_pre)
        return (torch.baddbmm(grad * u, grad_a, weight),), ()


class DendCell:
    """``z -> A z + h + ramps(z) @ weight_t`` with ``ramps(z)[k, j] = relu(z_j - H_jk)``.

    ``weight_t`` ``(E, K M, M)`` holds ``W_ij alpha_k`` at row ``k M + j``, the bias is ``h``; the
    extra parameters are ``A`` ``(E, 1, M)`` and the negated thresholds ``-H^T`` ``(E, 1, K, M)``.
    """

    parts = 1

    def forward(
        self,
        state: State,
        weight_t: Tensor,
        bias: Tensor,
        a: Tensor,
        neg_thresholds: Tensor,
        *,
        inputs: Tensor,
    ) -> tuple[State, Any]:
        (z,) = state
        ramps = torch.add(z[..., None, :], neg_thresholds, out=inputs.unflatten(-1, (-1, z.shape[-1])))
        torch.relu_(ramps)
        return (torch.baddbmm(torch.addcmul(bias, a, z), inputs, weight_t),), (z, ramps)

    def backward(
        self,
        grad: State,
        saved: Any,
        weight: Tensor,
        a: Tensor,
        neg_thresholds: Tensor,
        *,
        grad_pre: Tensor,
    ) -> tuple[State, tuple]:
        (grad,) = grad
        z, ramps = saved
        grad_pre.copy_(grad)
        grad_ramps = torch.bmm(grad, weight).view_as(ramps)
        grad_ramps = torch.ops.aten.threshold_backward(grad_ramps, ramps, 0)
        grad_z = torch.addcmul(grad_ramps.sum(dim=-2), a, grad)
        return (grad_z,), ((grad * z).sum(1, keepdim=True), grad_ramps.sum(1, keepdim=True))


def unroll_window(
    cell: Cell,
    z: Tensor,
    n_steps: int,
    forced: Sequence[int],
    targets: Tensor | None,
    alpha: Tensor,
    weight_t: Tensor,
    bias: Tensor,
    *extra: Tensor,
) -> Tensor:
    """The first part of the states ``z_1 .. z_L`` (``(E, B, L, M / parts)``) of ``n_steps``
    cell steps from ``z`` ``(E, B, M)``: the whole state for the GRU and dendPLRNN, ``h`` for the
    LSTM.

    After step ``t`` in ``forced`` (ascending, below ``n_steps``) the state is mixed with the
    next target, ``z <- (1 - alpha) z + alpha targets[:, :, k]`` (``targets`` ``(E, B,
    len(forced), M)``, ``None`` when nothing is forced; ``alpha`` ``(E, 1, 1)`` or ``(E, 1, M)``:
    a zero leaves a unit alone). The returned states are those before mixing. ``alpha`` is not
    differentiated.
    """
    if any(not 1 <= t < n_steps for t in forced):
        raise ValueError(f"forced steps must lie in [1, {n_steps}), got {tuple(forced)}")
    return _Window.apply(cell, n_steps, tuple(forced), z, targets, alpha, weight_t, bias, *extra)


def _parts(x: Tensor, n: int) -> State:
    """``x`` cut into ``n`` pieces along its last axis (``x`` itself when it has width 1)."""
    return (x,) * n if x.shape[-1] == 1 else x.chunk(n, dim=-1)


class _Window(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        cell: Cell,
        n_steps: int,
        forced: tuple[int, ...],
        z: Tensor,
        targets: Tensor | None,
        alpha: Tensor,
        weight_t: Tensor,
        bias: Tensor,
        *extra: Tensor,
    ) -> Tensor:
        mix = dict(zip(forced, targets.unbind(2))) if targets is not None else {}
        weights = _parts(alpha, cell.parts)
        state = _parts(z, cell.parts)
        # the products' inputs of all steps, for one weight-gradient product in backward
        inputs = z.new_empty((z.shape[0], n_steps, z.shape[1], weight_t.shape[-2]))
        outputs, saved = [], []
        for t, slot in enumerate(inputs.unbind(1), start=1):
            state, keep = cell.forward(state, weight_t, bias, *extra, inputs=slot)
            outputs.append(state[0])
            saved.append(keep)
            if t in mix:
                parts = zip(state, _parts(mix[t], cell.parts), weights)
                state = tuple(torch.lerp(p, target, w) for p, target, w in parts)
        ctx.cell, ctx.forced, ctx.saved = cell, forced, saved
        ctx.has_targets = targets is not None
        ctx.save_for_backward(inputs, weight_t, alpha, *extra)
        return torch.stack(outputs, dim=2)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_outputs: Tensor) -> tuple[Tensor | None, ...]:
        inputs, weight_t, alpha, *extra = ctx.saved_tensors
        cell, weight, forced = ctx.cell, weight_t.mT, frozenset(ctx.forced)
        weights = _parts(alpha, cell.parts)
        outputs = grad_outputs.unbind(2)
        grad_pre = inputs.new_empty((*inputs.shape[:3], weight_t.shape[-1]))
        grad_targets: dict[int, Tensor] = {}
        # the extra parameters' gradients, summed step by step: a sum over a stacked steps axis
        # vectorises over (member, unit) and so rounds a member differently in another ensemble
        grad_extra: tuple[Tensor, ...] | None = None
        zeros = torch.zeros_like(outputs[-1])
        grad: State = (outputs[-1], *(zeros,) * (cell.parts - 1))
        slots = grad_pre.unbind(1)
        for t in range(len(outputs), 0, -1):  # grad: d loss / d state_t before mixing
            grad, step_extra = cell.backward(
                grad, ctx.saved[t - 1], weight, *extra, grad_pre=slots[t - 1]
            )
            grad_extra = step_extra if grad_extra is None else tuple(map(torch.add, grad_extra, step_extra))
            if t == 1:
                break
            if t - 1 in forced:
                to_target = [g * w for g, w in zip(grad, weights)]
                grad_targets[t - 1] = torch.cat(to_target, dim=-1)
                grad = tuple(g - m for g, m in zip(grad, to_target))
            grad = (grad[0] + outputs[t - 2], *grad[1:])
        grad_pre = grad_pre.flatten(1, 2)
        grad_w = torch.bmm(inputs.flatten(1, 2).mT, grad_pre)
        grad_b = grad_pre.sum(dim=1, keepdim=True)
        grad_t = torch.stack([grad_targets[t] for t in ctx.forced], 2) if ctx.has_targets else None
        return (None, None, None, torch.cat(grad, dim=-1), grad_t, None, grad_w, grad_b, *(grad_extra or ()))
