"""Per-position initialisation: each module's random weights depend on the seed and its place only.

Building a network draws every module's initial weights from one global random stream, so an
operation whose output never reaches the network's output (a *dead* operation) still consumes
random numbers and shifts the weights of every module built after it. Two architectures that
differ only in dead operations would then get different weights for the operations they share,
and a randomly initialised proxy would score them differently.

:func:`initialise_by_position` re-initialises every module that owns parameters from a seed
derived from ``(seed, qualified module name)``: a module's weights depend on nothing but the
seed, its position in the network (its name, e.g. ``cells.3.edges.2.1``) and its own type and
shape. The scorer applies it to every model it builds, before the proxy sees it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
import torch.nn as nn

from nas.errors import NasError


def position_seed(seed: int, name: str) -> int:
    """A 63-bit seed derived from ``seed`` and a module's qualified ``name`` (stable across processes)."""
    digest = hashlib.blake2b(f"{seed}:{name}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def build_initialised(space: Any, arch: Any, dataset: Any, seed: int) -> nn.Module:
    """``space.build(arch, dataset)`` as the scorer builds it: the global CPU generator seeded with
    ``seed`` first, then every module initialised by position (:func:`initialise_by_position`)."""
    torch.default_generator.manual_seed(seed)  # models are built on the CPU
    return initialise_by_position(space.build(arch, dataset), seed)


def initialise_by_position(model: nn.Module, seed: int) -> nn.Module:
    """Re-initialise each parameter-owning module of ``model`` from :func:`position_seed`; returns ``model``.

    Every module that owns parameters directly must have a ``reset_parameters`` method (all of
    PyTorch's layers do; ``nn.MultiheadAttention``'s is ``_reset_parameters``, also used);
    otherwise :class:`NasError` names it, since its weights would still
    depend on the build order. The global random state is left seeded with ``seed``, so what a
    proxy draws afterwards is reproducible too.
    """
    generator = torch.default_generator  # the CPU generator PyTorch's initialisers draw from
    with torch.no_grad():
        for name, module in model.named_modules():
            if next(module.parameters(recurse=False), None) is None:
                continue
            reset = getattr(module, "reset_parameters", None) or getattr(module, "_reset_parameters", None)
            if not callable(reset):
                raise NasError(
                    f"module {name or '<root>'!r} ({type(module).__name__}) owns parameters but has no "
                    "reset_parameters(), so it cannot be initialised by position"
                )
            generator.manual_seed(position_seed(seed, name))  # torch.manual_seed also seeds accelerators: slow
            reset()
    generator.manual_seed(seed)
    return model
