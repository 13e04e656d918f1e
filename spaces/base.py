"""The interface every search space implements."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, Hashable, Iterator

from nas.datasets import DatasetSpec, builds_for, dataset_spec
from nas.errors import NasError

if TYPE_CHECKING:  # only for annotations: importing a space's interface does not import torch
    import torch
    import torch.nn as nn

#: A space's own, immutable and hashable representation of one architecture.
Architecture = Hashable


class SearchSpace(ABC):
    """A set of architectures with a string format, a sampler, edits and a network builder.

    Architectures are immutable, hashable values of the space's own type; ``parse`` and
    ``format`` convert from and to the space's string format (``format(parse(s)) == s`` for
    every well-formed ``s``). ``canonical_id`` is equal exactly for architectures that compute
    the same function, so scores and look-ups can be shared between them.
    """

    #: registry name, e.g. "nb201"
    name: ClassVar[str]
    #: datasets this space has builders (and, usually, benchmark tables) for
    datasets: ClassVar[tuple[str, ...]]

    def dataset_spec(self, name: str) -> DatasetSpec:
        """The spec of dataset ``name``; :class:`NasError` unless the space builds for it."""
        spec = dataset_spec(name)
        if not builds_for(self.datasets, spec):
            raise NasError(f"space {self.name!r} has no dataset {name!r}; it has: {', '.join(self.datasets)}")
        return spec

    @abstractmethod
    def parse(self, text: str) -> Architecture:
        """The architecture written as ``text``; :class:`nas.errors.NasError` if malformed."""

    @abstractmethod
    def format(self, arch: Architecture) -> str:
        """The string form of ``arch`` (inverse of :meth:`parse`)."""

    @abstractmethod
    def canonical_id(self, arch: Architecture) -> str:
        """An id equal exactly for architectures that compute the same function."""

    def live_id(self, arch: Architecture) -> str:
        """An id equal only for architectures whose built networks differ at most in dead operations.

        A dead operation is one whose result cannot reach the network's output: it changes
        neither the output nor any gradient of the output. With per-position initialisation
        (:func:`nas.initialisation.initialise_by_position`) the live operations then get the same
        weights, so proxies declared ``invariance = "live"`` may share a score across such
        architectures. The default, the exact string, is always safe.
        """
        return self.format(arch)

    def representative(self, arch: Architecture) -> Architecture | None:
        """One fixed member of ``arch``'s class (same :meth:`canonical_id`), the same for every member.

        A proxy declared ``invariance = "function"`` is computed on it, so the score stored for
        the class does not depend on which member was asked first. ``None`` (the default) when
        the space cannot name one; such a proxy then falls back to :meth:`live_id`.
        """
        return None

    def size(self) -> int | None:
        """The number of architectures, or ``None`` when the space is not enumerable."""
        return None

    def enumerate(self) -> Iterator[Architecture]:
        """Every architecture, in the space's index order (only for finite spaces)."""
        raise NotImplementedError(f"space {self.name!r} cannot be enumerated")

    @abstractmethod
    def sample(self, rng: random.Random) -> Architecture:
        """One architecture drawn uniformly (as far as the space allows) using ``rng``."""

    @abstractmethod
    def neighbours(self, arch: Architecture) -> list[Architecture]:
        """Every architecture one edit away from ``arch``, in a fixed order."""

    def mutate(self, arch: Architecture, rng: random.Random) -> Architecture:
        """One random edit of ``arch`` (a neighbour drawn uniformly)."""
        return rng.choice(self.neighbours(arch))

    @abstractmethod
    def build(self, arch: Architecture, dataset: DatasetSpec) -> nn.Module:
        """An untrained network for ``dataset`` (its input shape and class count)."""

    def collapsed_output(self, arch: Architecture, dataset: DatasetSpec, inputs: torch.Tensor, weight: float) -> torch.Tensor | None:
        """The output of ``build(arch, dataset)`` with every weight ``weight``, width-collapsed, without building it; ``None`` if unknown.

        Optional, like :meth:`closed_form_parameters`: a space whose network can be evaluated
        this way overrides it and returns what the built network's own ``collapsed_forward``
        (:mod:`nas.proxies.collapse`) returns, to the bit: one value per example, every weight
        ``weight``, biases 0, batch statistics, computed in the dtype of ``inputs``. The epsilon
        proxy (``collapse=auto``) then scores the architecture without building its network.
        The default is ``None``.
        """
        return None

    def closed_form_parameters(self, arch: Architecture, dataset: DatasetSpec) -> int | None:
        """Trainable parameters of ``build(arch, dataset)``, computed without building it; ``None`` if unknown.

        Optional: a space that can count from the architecture alone overrides this (and
        :meth:`closed_form_flops`); the value must equal the built network's count exactly.
        :meth:`count_parameters` and the ``params`` proxy use it when it is not ``None`` and
        build the network otherwise. The default is ``None``.
        """
        return None

    def closed_form_flops(self, arch: Architecture, dataset: DatasetSpec) -> int | None:
        """:func:`nas.flops.count_flops` of ``build(arch, dataset)`` on one example, without building it; ``None`` if unknown.

        Optional, like :meth:`closed_form_parameters`: the value must equal the count of the built
        network (every convolution and linear layer each time it runs, per example; see
        :mod:`nas.flops`). :meth:`count_flops` and the ``flops`` proxy use it when it is not
        ``None``. The default is ``None``.
        """
        return None

    def count_parameters(self, arch: Architecture, dataset: DatasetSpec) -> int:
        """Trainable parameters of the built network (:meth:`closed_form_parameters` when the space has it)."""
        closed = self.closed_form_parameters(arch, dataset)
        if closed is not None:
            return closed
        model = self.build(arch, dataset)
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    def count_flops(self, arch: Architecture, dataset: DatasetSpec) -> int:
        """Multiply-accumulate operations of one forward pass of one example.

        :meth:`closed_form_flops` when the space has it; otherwise the built network is run on
        one example (token ids for a text dataset, an image otherwise) by :func:`nas.flops.count_flops`.
        """
        closed = self.closed_form_flops(arch, dataset)
        if closed is not None:
            return closed
        import torch

        from nas.flops import count_flops

        dtype = torch.long if dataset.kind == "text" else torch.float32
        return count_flops(self.build(arch, dataset), dataset.input_shape, dtype)


def arch_key(space: SearchSpace, arch: Architecture, invariance: str) -> tuple[str, Architecture]:
    """The store key of ``arch`` for a proxy of this invariance, and the architecture to compute.

    ``"exact"``: ``"exact:"`` + the architecture string, computed on ``arch``. ``"live"``:
    ``"live:"`` + :meth:`SearchSpace.live_id`, computed on ``arch`` (every member gives the same
    value). ``"function"``: ``"function:"`` + :meth:`SearchSpace.canonical_id`, computed on the
    class's :meth:`SearchSpace.representative`, so the stored value does not depend on which
    member was asked first; a space without representatives falls back to ``"live"``.
    """
    if invariance == "function":
        representative = space.representative(arch)
        if representative is not None:
            return "function:" + space.canonical_id(arch), representative
        invariance = "live"
    if invariance == "live":
        return "live:" + space.live_id(arch), arch
    if invariance == "exact":
        return "exact:" + space.format(arch), arch
    raise NasError(f"unknown invariance {invariance!r}; known: function, live, exact")
