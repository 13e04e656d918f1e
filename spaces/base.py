"""The interface every search space implements."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import ClassVar, Hashable, Iterator

import torch.nn as nn

from nas.datasets import DatasetSpec, dataset_spec
from nas.errors import NasError

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
        if spec.name not in self.datasets:
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

    def count_parameters(self, arch: Architecture, dataset: DatasetSpec) -> int:
        """Trainable parameters of the built network."""
        model = self.build(arch, dataset)
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    def count_flops(self, arch: Architecture, dataset: DatasetSpec) -> int:
        """Multiply-accumulate operations of one forward pass of one example."""
        from nas.flops import count_flops

        return count_flops(self.build(arch, dataset), dataset.input_shape)
