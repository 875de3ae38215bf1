"""Model-parameter randomisation (Adebayo et al. 2018, "Sanity Checks for Saliency Maps",
arXiv 1810.03292, section 3.1).

The layers that can be randomised are the modules that own a ``reset_parameters`` method and
parameters (``Conv2d``, ``Linear``, ``BatchNorm2d``, ...), in ``named_modules`` order, the
order Quantus uses. Each is re-initialised with its *own* initialiser (``reset_parameters``,
PyTorch's default init for that layer), after ``torch.manual_seed(seed)``:

* **cascading**: from the logits down, each step randomises one more layer on top of the ones
  above it (step k: the top k layers random);
* **independent**: one layer at a time, every other layer trained.

Quantus's ``get_random_layer_generator`` seeds with ``seed + 1`` before each layer; with its
seed ``s - 1`` it builds exactly the models these generators build with seed ``s`` (the test
that checks the similarity scores against Quantus relies on that).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
from torch import nn

from convscope.errors import ConvscopeError

SEED_STREAM = 21  # derive_seed key of the re-initialisation (1-4: the training loop's streams)

CASCADING = "cascading"
INDEPENDENT = "independent"
ORDERS = (CASCADING, INDEPENDENT)


def randomisable_layers(model: nn.Module) -> list[str]:
    """Names of the modules with ``reset_parameters`` and parameters, input to output."""
    out = []
    for name, m in model.named_modules():
        if name and hasattr(m, "reset_parameters") and any(True for _ in m.parameters(False)):
            out.append(name)
    if not out:
        raise ConvscopeError("model has no layer with reset_parameters; nothing to randomise")
    return out


def _reset(model: nn.Module, name: str, seed: int) -> None:
    torch.manual_seed(seed)
    model.get_submodule(name).reset_parameters()  # type: ignore[operator]


def randomised(
    model: nn.Module, order: str, seed: int, layers: list[str] | None = None
) -> Iterator[tuple[str, nn.Module]]:
    """Yield ``(layer, model)`` for each layer from the top (the logits) down.

    ``order`` is :data:`CASCADING` (the yielded model has this layer and every layer above
    it randomised; one copy, changed in place between yields) or :data:`INDEPENDENT` (only
    this layer randomised). The trained ``model`` is never changed. The global torch RNG is
    restored afterwards.
    """
    if order not in ORDERS:
        raise ConvscopeError(f"randomisation order {order!r}: expected one of {', '.join(ORDERS)}")
    names = randomisable_layers(model) if layers is None else list(layers)
    state = torch.random.get_rng_state()
    try:
        work = copy.deepcopy(model)
        trained = {k: v.clone() for k, v in work.state_dict().items()}
        for name in reversed(names):
            if order == INDEPENDENT:
                work.load_state_dict(trained)
            _reset(work, name, seed)
            work.eval()
            yield name, work
    finally:
        torch.random.set_rng_state(state)


def fully_randomised(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` with every randomisable layer re-initialised (the cascade's end)."""
    last = None
    for _, m in randomised(model, CASCADING, seed):
        last = m
    assert last is not None
    return last


def randomisation_seed(run_seed: int, seed: int = 0) -> int:
    """The ``torch.manual_seed`` of the re-initialisation: derived from the run's training seed
    and ``seed``, never the training seed itself. The training loop builds the model right after
    ``torch.manual_seed(run_seed)``, so re-initialising after that same seed gives the first
    layer back its own initial weights, and a first layer that moved little in training would
    look "unchanged by randomisation"."""
    from convscope.train.steps import derive_seed

    out = derive_seed(run_seed, SEED_STREAM, seed)
    return out if out != run_seed else derive_seed(out, SEED_STREAM, seed)
