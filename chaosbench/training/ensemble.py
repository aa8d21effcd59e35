"""A batched ensemble: the models of several seeds with their parameters stacked on a leading axis.

Training all seeds of one (model, regime, dataset) as one ensemble runs every tensor operation
once for all of them instead of once per seed, which is the main speed lever on CPU and GPU
alike. Two paths compute the members:

- *native*: a model that declares ``stacked(params)`` (see :mod:`chaosbench.models.contract`;
  every built-in latent baseline does) returns a view whose methods broadcast over the leading
  member axis ``E`` with batched matrix products. This is used for every ensemble size, one
  seed included, so a seed runs the same operations alone or in any ensemble.
- *vmap*, the fallback for every other model: ``torch.func.vmap`` over
  ``torch.func.functional_call`` of the model itself (a single member skips ``vmap``). It costs
  ~14 us of dispatch per operation, more than the arithmetic on these small tensors.

The two paths compute the same maps up to floating-point reordering (``tests/test_training.py``
pins the tolerance). Member ``i`` is initialised exactly as a solo run with its seed: torch's
global generator is seeded with that seed right before the factory builds it (the caller's
generator state is restored afterwards). On the native path a member then trains exactly as the
seed alone does (docs/protocol.md, "Seeds and ensembles").
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from chaosbench.errors import ChaosbenchError
from chaosbench.models.contract import StackedLatent, supports_stacked

MemberFn = Callable[..., Tensor]
"""``fn(model, *args)`` computed per member: ``model`` is that member's latent model, or the
native view of all members at once; ``fn`` reduces over trailing axes only, so that both give
``(E, ...)`` results."""

ModelFactory = Callable[[int], nn.Module]
"""Builds a fresh latent model for ``obs_dim`` observed dimensions, e.g.
``functools.partial(chaosbench.models.build, "shplrnn", hidden_dim=50)``."""

_LATENT_METHODS = ("step", "observe", "encode", "force")


def build_member(factory: ModelFactory, obs_dim: int, seed: int) -> nn.Module:
    """The model ``factory(obs_dim)`` initialised under ``torch.manual_seed(seed)``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = factory(obs_dim)
    check_latent_model(model, obs_dim)
    return model


def check_latent_model(model: object, obs_dim: int) -> None:
    """A one-line error unless ``model`` follows the latent model contract for ``obs_dim``."""
    name = type(model).__name__
    if not isinstance(model, nn.Module):
        raise ChaosbenchError(f"the model factory must return a torch.nn.Module, got {name}")
    missing = [m for m in _LATENT_METHODS if not callable(getattr(model, m, None))]
    if missing:
        raise ChaosbenchError(f"{name} is not a latent model: it lacks {', '.join(missing)}")
    if getattr(model, "obs_dim", None) != obs_dim:
        raise ChaosbenchError(
            f"{name} has obs_dim {getattr(model, 'obs_dim', None)!r} but the data has {obs_dim}"
        )
    if not any(p.requires_grad for p in model.parameters()):
        raise ChaosbenchError(f"{name} has no trainable parameters")


class Ensemble:
    """The models of ``seeds``, built by ``factory`` and stacked (``params[name]``: ``(E, ...)``).

    ``template`` is member 0's module, used only for its structure: every computation passes the
    stacked tensors in explicitly through :meth:`apply`. ``native=False`` forces the vmap path
    even for a model with a native one (to compare the two).
    """

    def __init__(
        self,
        factory: ModelFactory,
        obs_dim: int,
        seeds: Sequence[int],
        device: torch.device,
        native: bool = True,
    ) -> None:
        self.seeds = [int(s) for s in seeds]
        models = [build_member(factory, obs_dim, s).to(device) for s in self.seeds]
        self.params, self.buffers = stack_module_state(models)
        self.template = models[0]
        self.native = native and supports_stacked(self.template)

    @property
    def size(self) -> int:
        return len(self.seeds)

    def trainable(self) -> list[Tensor]:
        """The stacked parameters the optimiser updates."""
        return [p for p in self.params.values() if p.requires_grad]

    def apply(self, fn: MemberFn, *args: Tensor) -> Tensor:
        """``fn(model, *args)`` for every member at once; each arg and the result lead with ``E``."""
        tensors = {**self.params, **self.buffers}
        if self.native:
            return fn(self.template.stacked(tensors), *args)
        bound = _Bound(self.template, fn)
        tensors = {f"model.{k}": v for k, v in tensors.items()}
        if self.size == 1:
            solo = {k: v[0] for k, v in tensors.items()}
            return functional_call(bound, solo, tuple(a[0] for a in args))[None]
        return vmap(lambda t, *a: functional_call(bound, t, a))(tensors, *args)

    def member(self, i: int) -> nn.Module:
        """An independent copy of member ``i`` as an ordinary module (to evaluate or save)."""
        model = copy.deepcopy(self.template)
        with torch.no_grad():
            for name, tensor in (*model.named_parameters(), *model.named_buffers()):
                source = self.params[name] if name in self.params else self.buffers[name]
                tensor.copy_(source[i])
        return model.eval()

    def members(self) -> list[nn.Module]:
        return [self.member(i) for i in range(self.size)]


def native_view(models: Sequence[nn.Module]) -> StackedLatent | None:
    """The native ensemble view of trained ``models`` (their parameters stacked on a leading
    member axis), or None unless they are all of one class with one configuration and that class
    has a view (:func:`~chaosbench.models.contract.supports_stacked`)."""
    first = models[0]
    if not supports_stacked(first) or any(_layout(m) != _layout(first) for m in models):
        return None
    params, buffers = stack_module_state(list(models))
    return first.stacked({**params, **buffers})


def _layout(model: nn.Module) -> tuple[object, ...]:
    """What members must share to be stacked: class, configuration, tensor shapes and dtypes."""
    tensors = (*model.named_parameters(), *model.named_buffers())
    return type(model), getattr(model, "config", None), [(k, t.shape, t.dtype, t.device) for k, t in tensors]


class _Bound(nn.Module):
    """``fn(model, *args)`` as a module holding ``model``, for ``functional_call``."""

    def __init__(self, model: nn.Module, fn: MemberFn) -> None:
        super().__init__()
        self.model = model
        self.fn = fn

    def forward(self, *args: Tensor) -> Tensor:
        return self.fn(self.model, *args)
