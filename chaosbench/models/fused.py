"""Fused training windows of the gated and dendritic cells: one autograd node per window.

Under plain autograd a step of an LSTM or GRU ensemble view records ~15 small operations and
replays ~40 kernels backward, each a few microseconds of dispatch on tensors of a few thousand
elements. :func:`unroll_window` instead runs a whole training window (every step and the forcing
between steps) as one ``torch.autograd.Function``: the forward computes the cell without
recording it and keeps the few activations the gradients need; the backward walks the window in
reverse with the cell's closed-form gradients and forms the weight gradient of all steps with one
product at the end. The gated cells write their activations into step-major buffers of the
window (slices cut once per window: a view costs as much dispatch as a small kernel) and form
their slopes a block of steps at a time just before stepping back through them, so that the
block is still in cache when read.

A cell's step is ``state' = cell(state, input @ weight_t + bias)`` for an ``input`` derived from
the state (the LSTM's and GRU's hidden state, the dendPLRNN's ``phi``). The state is the latent
vector cut into ``parts`` contiguous pieces (the LSTM's ``h`` and ``c``), which keeps every
element-wise operation on contiguous memory. The ``tanh`` of a gate is ``2 sigmoid(2 x) - 1``:
the caller doubles that gate's rows of the weights and biases (an exact scaling), so one sigmoid
covers every gate. Tensors are ``(E, B, ...)`` with per-member weights ``(E, K, rows)`` and
biases ``(E, 1, rows)``, on any device.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

State = tuple[Tensor, ...]
BLOCK = 25  # steps


class Cell(Protocol):
    """One step of a cell whose product is ``input @ weight_t + bias``; ``extra`` are its other
    parameters. The state has ``parts`` pieces of equal width."""

    parts: int

    def window(self, z: Tensor, n_steps: int, *extra: Tensor) -> Any:
        """What the steps of one window share: tables derived from ``extra``, buffers."""
        ...

    def forward(
        self, state: State, weight_t: Tensor, bias: Tensor, window: Any, t: int, *, inputs: Tensor
    ) -> State:
        """The state after step ``t`` (from 0); writes the product's input to ``inputs``
        ``(E, B, K)`` and what ``backward`` needs to ``window``."""
        ...

    def slopes(self, window: Any, inputs: Tensor) -> Any:
        """What ``backward`` needs, from the activations of many steps at once (``inputs``: the
        products' inputs, ``(E, L, B, K)``), before stepping back."""
        ...

    def backward(
        self, grad: State, t: int, weight: Tensor, slopes: Any, *, grad_pre: Tensor
    ) -> State:
        """From ``grad = d loss / d state'`` of step ``t``: ``d loss / d state`` through it;
        writes ``d loss / d`` the product to ``grad_pre``."""
        ...

    def extra_grads(self, slopes: Any, grad_pre: Tensor) -> tuple[Tensor, ...]:
        """``d loss / d`` each of ``extra`` over the whole window, once the steps are done."""
        ...


def _sigmoid_slope(s: Tensor, out: Tensor | None = None) -> Tensor:
    """``s (1 - s)``, the derivative of the sigmoid at the point where it equals ``s``."""
    return torch.addcmul(s, s, s, value=-1, out=out)


class _Blocks:
    """Per-step tensors formed on demand a block of :data:`BLOCK` steps at a time, by
    ``make(slice)``: the backward walks a window in reverse, and a block formed just before its
    steps are used stays in cache, where forming a whole window at once would not."""

    def __init__(self, make: Callable[[slice], list[Any]]) -> None:
        self.make = make
        self.done: dict[int, Any] = {}

    def __getitem__(self, t: int) -> Any:
        if t not in self.done:
            start = t - t % BLOCK
            self.done = dict(enumerate(self.make(slice(start, start + BLOCK)), start=start))
        return self.done[t]


class _Gated:
    """A gated cell: no extra parameters; ``minus_one`` turns a doubled gate's sigmoid ``s``
    into its ``tanh``, ``2 s - 1``."""

    def __init__(self, minus_one: Tensor) -> None:
        self.minus_one = minus_one

    def extra_grads(self, slopes: Any, grad_pre: Tensor) -> tuple[()]:
        return ()


class _LSTMWindow(NamedTuple):
    """Step-major buffers of :class:`LSTMCell`: the gates ``(L, E, B, 4 H)``, each step's ``c``
    and ``tanh(c')`` ``(L, E, B, 2 H)``, and, cut once per window, each step's slices of them."""

    acts: Tensor
    cells: Tensor
    pre: Sequence[Tensor]
    i: Sequence[Tensor]
    f: Sequence[Tensor]
    s_g: Sequence[Tensor]
    o: Sequence[Tensor]
    c: Sequence[Tensor]
    tanh_c: Sequence[Tensor]


class LSTMCell(_Gated):
    """``(h, c) -> (o tanh(c'), c')`` with ``c' = f c + i g``, gates ``i, f, g, o`` (``g``
    doubled). As :class:`GRUCell`, it keeps its activations in step-major buffers and forms the
    slopes a block of steps at a time."""

    parts = 2

    def window(self, z: Tensor, n_steps: int) -> _LSTMWindow:
        hidden = z.shape[-1] // 2
        acts = z.new_empty((n_steps, *z.shape[:-1], 4 * hidden))
        cells = z.new_empty((n_steps + 1, *z.shape))  # one more c: the last step's c'
        gates = [acts.narrow(-1, k * hidden, hidden).unbind(0) for k in range(4)]
        return _LSTMWindow(acts, cells, acts.unbind(0), *gates, *(
            cells.narrow(-1, k * hidden, hidden).unbind(0) for k in range(2)))

    def forward(
        self, state: State, weight_t: Tensor, bias: Tensor, window: _LSTMWindow, t: int, *,
        inputs: Tensor,
    ) -> State:
        """As :meth:`Cell.forward`; ``c'`` goes straight to the next step's slot of the
        window, copied there only when forcing replaced it."""
        w, (h, c) = window, state
        torch.sigmoid_(torch.baddbmm(bias, inputs.copy_(h), weight_t, out=w.pre[t]))
        g = torch.add(self.minus_one, w.s_g[t], alpha=2)
        if c is not w.c[t]:
            c = w.c[t].copy_(c)
        c_new = torch.addcmul(w.f[t] * c, w.i[t], g, out=w.c[t + 1])
        tanh_c = torch.tanh(c_new, out=w.tanh_c[t])
        return w.o[t] * tanh_c, c_new

    def slopes(self, window: _LSTMWindow, inputs: Tensor) -> tuple[_Blocks, Sequence[Tensor]]:
        """The gates' slopes and ``d h' / d c'``, formed a block at a time, and ``f``."""
        return _Blocks(functools.partial(self._slopes, window)), window.f

    def _slopes(self, window: _LSTMWindow, steps: slice) -> list[tuple[Tensor, Tensor]]:
        """Per step of ``steps``: ``d a / d`` the gates' pre-activations times the factor of
        ``d loss / d c'`` (``i, f, g``) or ``d loss / d h'`` (``o``) ``(E, B, 4 H)``, and
        ``d h' / d c'`` ``(E, B, H)``."""
        acts, cells = window.acts[steps], window.cells[:-1][steps]
        i, f, s_g, o = acts.chunk(4, dim=-1)
        c, tanh_c = cells.chunk(2, dim=-1)
        slopes = acts.new_empty((*acts.shape[:-1], 5 * c.shape[-1]))
        gates, out = slopes.split((4 * c.shape[-1], c.shape[-1]), dim=-1)
        s_i, s_f, s_s, s_o = _sigmoid_slope(acts, out=gates).chunk(4, dim=-1)
        # d c' / d (i, f, s_g) = (g, c, 2 i); d h' / d o = tanh(c'); d h' / d c' = o (1 - tanh^2)
        s_i.mul_(torch.add(self.minus_one, s_g, alpha=2))
        s_f.mul_(c)
        s_s.mul_(i).mul_(2)
        s_o.mul_(tanh_c)
        torch.addcmul(o, o * tanh_c, tanh_c, value=-1, out=out)
        return list(zip(gates.unbind(0), out.unbind(0)))

    def backward(
        self, grad: State, t: int, weight: Tensor, slopes: tuple[_Blocks, Sequence[Tensor]], *,
        grad_pre: Tensor,
    ) -> State:
        (grad_h, grad_c), (blocks, forget) = grad, slopes
        gates, out = blocks[t]
        grad_c = torch.addcmul(grad_c, grad_h, out)  # all of d loss / d c'
        both = torch.cat([grad_c, grad_c, grad_c, grad_h], dim=-1)
        grad_a = torch.mul(both, gates, out=grad_pre)
        return torch.bmm(grad_a, weight), grad_c * forget[t]


class _GRUWindow(NamedTuple):
    """A step-major ``(L, E, B, 4 H)`` buffer of the GRU's gates (:class:`GRUCell`) and, cut
    once per window, each step's slices of it: its pre-activations, ``r, u`` and ``x_n, h_n``
    (turned into ``r, u`` and ``s_n, h_n``)."""

    acts: Tensor
    pre: Sequence[Tensor]
    ru: Sequence[Tensor]
    r: Sequence[Tensor]
    u: Sequence[Tensor]
    x_n: Sequence[Tensor]
    h_n: Sequence[Tensor]


class GRUCell(_Gated):
    """``h -> (1 - u) n + u h`` with ``n = tanh(x_n + r h_n)``.

    The pre-activations are those of ``r`` and ``u`` (input and hidden parts summed), then the
    doubled input part ``x_n`` and hidden part ``h_n`` of the candidate. The window keeps per
    step ``r, u``, ``s_n`` (``n = 2 s_n - 1``) and ``h_n``, the pre-activations turned into them
    in place; the products' inputs are the states ``h``. The slopes are formed a block of steps
    at a time (:class:`_Blocks`), so that a step back is two products and a sum: on tensors of a
    few thousand elements each operation costs microseconds of dispatch, on a block of steps
    little more.
    """

    parts = 1

    def window(self, z: Tensor, n_steps: int) -> _GRUWindow:
        hidden = z.shape[-1]
        acts = z.new_empty((n_steps, *z.shape[:-1], 4 * hidden))
        views = [acts.narrow(-1, start * hidden, width * hidden).unbind(0)
                 for start, width in ((0, 4), (0, 2), (0, 1), (1, 1), (2, 1), (3, 1))]
        return _GRUWindow(acts, *views)

    def forward(
        self, state: State, weight_t: Tensor, bias: Tensor, window: _GRUWindow, t: int, *,
        inputs: Tensor,
    ) -> State:
        w, h = window, inputs.copy_(state[0])
        torch.baddbmm(bias, h, weight_t, out=w.pre[t])
        torch.sigmoid_(w.ru[t])
        s_n = torch.sigmoid_(torch.addcmul(w.x_n[t], w.r[t], w.h_n[t], out=w.x_n[t]))
        return (torch.lerp(torch.add(self.minus_one, s_n, alpha=2), h, w.u[t]),)

    def slopes(self, window: _GRUWindow, inputs: Tensor) -> tuple[_Blocks, Sequence[Tensor]]:
        """The gates' slopes, formed a block at a time, and ``u``."""
        return _Blocks(functools.partial(self._slopes, window, inputs.transpose(0, 1))), window.u

    def _slopes(self, window: _GRUWindow, inputs: Tensor, steps: slice) -> list[Tensor]:
        """``d a / d h'`` of ``steps`` for the pre-activations ``a`` (``4 H`` wide: a gradient
        ``d loss / d h'`` times it gives ``d loss / d a``), one tensor per step."""
        acts, h = window.acts[steps], inputs[steps]
        r, u, s_n, h_n = acts.chunk(4, dim=-1)
        slopes = _sigmoid_slope(acts)
        s_r, s_u, s_x, s_h = slopes.chunk(4, dim=-1)
        # d n / d p = 2 s_n (1 - s_n) for the doubled pre-activation p = x_n + r h_n
        s_x.mul_(torch.add(u, -1).mul_(-2))
        torch.mul(s_x, r, out=s_h)
        s_r.mul_(s_x).mul_(h_n)
        s_u.mul_(h - torch.add(self.minus_one, s_n, alpha=2))
        return list(slopes.unbind(0))

    def backward(
        self, grad: State, t: int, weight: Tensor, slopes: tuple[_Blocks, Sequence[Tensor]], *,
        grad_pre: Tensor,
    ) -> State:
        (grad,), (gates, u) = grad, slopes
        grad_a = torch.mul(torch.cat([grad] * 4, dim=-1), gates[t], out=grad_pre)
        return (torch.baddbmm(grad * u[t], grad_a, weight),)


class _DendWindow(NamedTuple):
    """A window of :class:`DendCell` steps: the parameters, the ramps' tables (thresholds sorted
    per unit, ``phi`` and its slope as cumulative sums over them) and per-step buffers, unit-major
    ``(L, E, M, B)`` as ``searchsorted`` needs them: the states, their buckets (the number of
    thresholds below), the slopes of ``phi`` there and ``d loss / d phi``."""

    a: Tensor
    alpha: Tensor
    thresholds: Tensor
    sorted_thresholds: Tensor
    slope_table: Tensor
    offset_table: Tensor
    states: Tensor
    buckets: Tensor
    slopes: Tensor
    grad_phi: Tensor


class DendCell:
    """``z -> A z + h + phi(z) @ weight_t``, ``phi_j(z) = sum_k alpha_k relu(z_j - H_jk)``.

    ``weight_t`` is ``W^T`` ``(E, M, M)``, the bias ``h`` ``(E, 1, M)``; the extra parameters are
    ``A`` ``(E, 1, M)``, ``alpha`` ``(E, K)`` and the thresholds ``H`` ``(E, M, K)``.

    ``phi_j`` is piecewise linear: with the thresholds of unit ``j`` sorted and ``n`` of them
    below ``z_j``, ``phi_j(z) = z_j S_n - T_n`` for the cumulative sums ``S_n`` of their
    ``alpha`` and ``T_n`` of their ``alpha H``, and its slope is ``S_n``. A step thus looks up
    ``n`` (``searchsorted``) and two table entries per unit instead of evaluating all ``K M``
    ramps, and the gradients of ``alpha`` and ``H``, sums over steps, batch and ramps, come
    from per-bucket sums of the window's ``d loss / d phi`` (``scatter_add``).
    """

    parts = 1

    def window(
        self, z: Tensor, n_steps: int, a: Tensor, alpha: Tensor, thresholds: Tensor
    ) -> _DendWindow:
        sorted_thresholds, order = thresholds.sort(dim=-1)
        sorted_alpha = alpha[:, None].expand_as(thresholds).gather(-1, order)
        slope_table = F.pad(sorted_alpha.cumsum(-1), (1, 0))
        offset_table = F.pad(-(sorted_alpha * sorted_thresholds).cumsum(-1), (1, 0))
        per_step = (n_steps, z.shape[0], z.shape[2], z.shape[1])
        return _DendWindow(
            a, alpha, thresholds, sorted_thresholds, slope_table, offset_table,
            states=z.new_empty(per_step),
            buckets=z.new_empty(per_step, dtype=torch.long),
            slopes=z.new_empty(per_step),
            grad_phi=z.new_empty(per_step),
        )

    def forward(
        self, state: State, weight_t: Tensor, bias: Tensor, window: _DendWindow, t: int, *,
        inputs: Tensor,
    ) -> State:
        (z,) = state
        w = window
        z_t = w.states[t].copy_(z.mT)  # (E, M, B): searchsorted runs along the last axis
        buckets = torch.searchsorted(w.sorted_thresholds, z_t, out=w.buckets[t])
        slope = torch.gather(w.slope_table, -1, buckets, out=w.slopes[t])
        torch.addcmul(torch.gather(w.offset_table, -1, buckets), z_t, slope, out=inputs.mT)
        return (torch.baddbmm(torch.addcmul(bias, w.a, z), inputs, weight_t),)

    def slopes(self, window: _DendWindow, inputs: Tensor) -> _DendWindow:
        return window

    def backward(
        self, grad: State, t: int, weight: Tensor, window: _DendWindow, *, grad_pre: Tensor
    ) -> State:
        (grad,) = grad
        w = window
        grad_pre.copy_(grad)
        grad_phi = torch.bmm(weight.mT, grad.mT, out=w.grad_phi[t]).mT  # grad @ W
        return (torch.addcmul(w.a * grad, grad_phi, w.slopes[t].mT),)

    def extra_grads(self, window: _DendWindow, grad_pre: Tensor) -> tuple[Tensor, ...]:
        # member by member: a reduction over the stacked (E, ...) tensors vectorises across
        # members and would round a member differently in ensembles of other sizes
        grads = [self._member_grads(window, grad_pre, e) for e in range(len(window.a))]
        return tuple(torch.stack(parts) for parts in zip(*grads))

    @staticmethod
    def _member_grads(w: _DendWindow, grad_pre: Tensor, e: int) -> tuple[Tensor, ...]:
        """Member ``e``'s gradients of ``A`` ``(1, M)``, ``alpha`` ``(K,)`` and ``H`` ``(M, K)``."""
        states, buckets, grad_phi = w.states[:, e], w.buckets[:, e], w.grad_phi[:, e]
        grad_a = (grad_pre[e].permute(0, 2, 1) * states).sum((0, 2))[None]
        # d loss / d phi summed over the samples above each sorted threshold: S0 of grad_phi,
        # S1 of grad_phi z; a ramp is active iff its bucket lies above its threshold's rank
        bins = grad_phi.new_zeros((2, len(states), *w.slope_table.shape[1:]))
        bins[0].scatter_add_(-1, buckets, grad_phi)
        bins[1].scatter_add_(-1, buckets, grad_phi * states)
        above = bins.sum(1).flip(-1).cumsum(-1).flip(-1)
        rank = torch.searchsorted(w.sorted_thresholds[e], w.thresholds[e]) + 1
        s0, s1 = above.gather(-1, rank.expand(2, *rank.shape))
        grad_thresholds = -w.alpha[e] * s0
        grad_alpha = torch.addcmul(s1, w.thresholds[e], s0, value=-1).sum(0)
        return grad_a, grad_alpha, grad_thresholds


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
        window = cell.window(z, n_steps, *extra)
        # the products' inputs of all steps, for one weight-gradient product in backward
        inputs = z.new_empty((z.shape[0], n_steps, z.shape[1], weight_t.shape[-2]))
        outputs = []
        for t, slot in enumerate(inputs.unbind(1), start=1):
            state = cell.forward(state, weight_t, bias, window, t - 1, inputs=slot)
            outputs.append(state[0])
            if t in mix:
                parts = zip(state, _parts(mix[t], cell.parts), weights)
                state = tuple(torch.lerp(p, target, w) for p, target, w in parts)
        ctx.cell, ctx.forced, ctx.window = cell, forced, window
        ctx.has_targets = targets is not None
        ctx.save_for_backward(inputs, weight_t, alpha)
        return torch.stack(outputs, dim=2)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_outputs: Tensor) -> tuple[Tensor | None, ...]:
        inputs, weight_t, alpha = ctx.saved_tensors
        cell, weight, forced = ctx.cell, weight_t.mT, frozenset(ctx.forced)
        weights = _parts(alpha, cell.parts)
        outputs = grad_outputs.unbind(2)
        grad_pre = inputs.new_empty((*inputs.shape[:3], weight_t.shape[-1]))
        grad_targets: dict[int, Tensor] = {}
        zeros = torch.zeros_like(outputs[-1])
        grad: State = (outputs[-1], *(zeros,) * (cell.parts - 1))
        slots = grad_pre.unbind(1)
        slopes = cell.slopes(ctx.window, inputs)
        for t in range(len(outputs), 0, -1):  # grad: d loss / d state_t before mixing
            grad = cell.backward(grad, t - 1, weight, slopes, grad_pre=slots[t - 1])
            if t == 1:
                break
            if t - 1 in forced:
                to_target = [g * w for g, w in zip(grad, weights)]
                grad_targets[t - 1] = torch.cat(to_target, dim=-1)
                grad = tuple(g - m for g, m in zip(grad, to_target))
            grad = (grad[0] + outputs[t - 2], *grad[1:])
        extra = cell.extra_grads(slopes, grad_pre)
        grad_pre = grad_pre.flatten(1, 2)
        grad_w = torch.bmm(inputs.flatten(1, 2).mT, grad_pre)
        grad_b = grad_pre.sum(dim=1, keepdim=True)
        grad_t = torch.stack([grad_targets[t] for t in ctx.forced], 2) if ctx.has_targets else None
        return (None, None, None, torch.cat(grad, dim=-1), grad_t, None, grad_w, grad_b, *extra)
