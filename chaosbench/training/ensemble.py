"""A batched ensemble: the models of several seeds with their parameters stacked on a leading axis.

Training all seeds of one (model, regime, dataset) as one ensemble runs every tensor operation
once for all of them (``torch.func.vmap`` over ``torch.func.functional_call``) instead of once
per seed, which is the main speed lever on CPU and GPU alike. Member ``i`` is initialised exactly
as a solo run with its seed: torch's global generator is seeded with that seed right before the
factory builds it (the caller's generator state is restored afterwards).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from chaosbench.errors import ChaosbenchError

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
    stacked tensors in explicitly through :meth:`apply`.
    """

    def __init__(
        self, factory: ModelFactory, obs_dim: int, seeds: Sequence[int], device: torch.device
    ) -> None:
        self.seeds = [int(s) for s in seeds]
        models = [build_member(factory, obs_dim, s).to(device) for s in self.seeds]
        self.params, self.buffers = stack_module_state(models)
        self.template = models[0]

    @property
    def size(self) -> int:
        return len(self.seeds)

    def trainable(self) -> list[Tensor]:
        """The stacked parameters the optimiser updates."""
        return [p for p in self.params.values() if p.requires_grad]

    def apply(self, wrapper: nn.Module, *args: Tensor) -> Tensor:
        """``wrapper(*args)`` for every member at once; each arg and the result lead with ``E``.

        ``wrapper`` is a module holding :attr:`template` as its submodule ``model``. A single
        member skips ``vmap`` (same operations, less dispatch overhead).
        """
        tensors = {f"model.{k}": v for k, v in {**self.params, **self.buffers}.items()}
        if self.size == 1:
            solo = {k: v[0] for k, v in tensors.items()}
            return functional_call(wrapper, solo, tuple(a[0] for a in args))[None]
        return vmap(lambda t, *a: functional_call(wrapper, t, a))(tensors, *args)

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
