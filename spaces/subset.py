"""A search space restricted to a fixed set of its architectures, e.g. the cells a benchmark table has.

NAS-Bench-101's shared table has 500 of its 423,624 cells, and NAS-Bench-NLP's logs cover
14,322 cells of an unbounded space. A search that uses such a table as its training oracle can
only train architectures the table has, and a comparison can only rank those. :class:`SubsetSpace`
wraps the full space so that strategies and comparisons see exactly the table's architectures:

* :meth:`~SubsetSpace.sample` draws uniformly from the members;
* :meth:`~SubsetSpace.neighbours` returns the members one edit away in the full space when there
  are any, else the members nearest to the architecture in token Hamming distance (the number
  of positions at which the two architecture strings' tokens differ: for NAS-Bench-101, the
  adjacency bits and op codes that differ), so ageing evolution's mutation stays a small,
  local step inside the table;
* naming, identities and networks (``parse``, ``format``, ``canonical_id``, ``live_id``,
  ``representative``, ``build``, counts) are the full space's, and so is ``name``: scores
  stored for the full space are the same scores.
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from nas.errors import NasError
from nas.spaces.base import Architecture, SearchSpace

if TYPE_CHECKING:
    import torch
    import torch.nn as nn

    from nas.datasets import DatasetSpec

_TOKENS = re.compile(r"[A-Za-z0-9_.]+")


class SubsetSpace(SearchSpace):
    """``space`` restricted to ``members`` (architectures of ``space``, distinct, in a fixed order)."""

    def __init__(self, space: SearchSpace, members: Sequence[Architecture], description: str):
        if not members:
            raise NasError(f"a restriction of space {space.name!r} needs at least one architecture")
        self.base = space
        self.name = space.name
        self.datasets = space.datasets
        #: what the members are, for reports (e.g. "the 500 cells of the nb101 table")
        self.description = description
        self._members = list(members)
        self._index = {space.format(arch): i for i, arch in enumerate(self._members)}
        if len(self._index) != len(self._members):
            raise NasError(f"the restriction of space {space.name!r} lists an architecture twice")
        self._tokens: np.ndarray | None = None

    def parse(self, text: str) -> Architecture:
        """The full space's parse."""
        return self.base.parse(text)

    def format(self, arch: Architecture) -> str:
        """The full space's string."""
        return self.base.format(arch)

    def canonical_id(self, arch: Architecture) -> str:
        """The full space's canonical id."""
        return self.base.canonical_id(arch)

    def live_id(self, arch: Architecture) -> str:
        """The full space's live id."""
        return self.base.live_id(arch)

    def representative(self, arch: Architecture) -> Architecture | None:
        """The full space's representative."""
        return self.base.representative(arch)

    def size(self) -> int:
        """The number of members."""
        return len(self._members)

    def enumerate(self) -> Iterator[Architecture]:
        """The members in their fixed order."""
        return iter(self._members)

    def __contains__(self, arch: Architecture) -> bool:
        return self.base.format(arch) in self._index

    def sample(self, rng: random.Random) -> Architecture:
        """A member drawn uniformly."""
        return self._members[rng.randrange(len(self._members))]

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        """Members one edit away in the full space; if there are none, the nearest members in token Hamming distance."""
        own = self.base.format(arch)
        adjacent = [n for n in self.base.neighbours(arch) if self.base.format(n) in self._index and self.base.format(n) != own]
        if adjacent:
            return adjacent
        distances = self._distances(own)
        if own in self._index:
            distances[self._index[own]] = np.iinfo(distances.dtype).max
        nearest = np.flatnonzero(distances == distances.min())
        return [self._members[i] for i in nearest]

    def build(self, arch: Architecture, dataset: DatasetSpec) -> nn.Module:
        """The full space's network."""
        return self.base.build(arch, dataset)

    def collapsed_output(self, arch: Architecture, dataset: DatasetSpec, inputs: torch.Tensor, weight: float) -> torch.Tensor | None:
        """The base space's collapsed output of ``arch``."""
        return self.base.collapsed_output(arch, dataset, inputs, weight)

    def closed_form_parameters(self, arch: Architecture, dataset: DatasetSpec) -> int | None:
        """The base space's closed-form parameter count."""
        return self.base.closed_form_parameters(arch, dataset)

    def closed_form_flops(self, arch: Architecture, dataset: DatasetSpec) -> int | None:
        """The base space's closed-form FLOP count."""
        return self.base.closed_form_flops(arch, dataset)

    def count_parameters(self, arch: Architecture, dataset: DatasetSpec) -> int:
        """The full space's count."""
        return self.base.count_parameters(arch, dataset)

    def count_flops(self, arch: Architecture, dataset: DatasetSpec) -> int:
        """The full space's count."""
        return self.base.count_flops(arch, dataset)

    def _distances(self, text: str) -> np.ndarray:
        """Token Hamming distance from ``text`` to every member (different lengths differ in the extra tokens)."""
        if self._tokens is None:
            self._vocabulary: dict[str, int] = {}
            rows = [self._encode(self.base.format(arch)) for arch in self._members]
            width = max(len(row) for row in rows)
            self._tokens = np.full((len(rows), width), -1, dtype=np.int64)
            for i, row in enumerate(rows):
                self._tokens[i, : len(row)] = row
        query = self._encode(text)
        width = self._tokens.shape[1]
        padded = np.full(max(width, len(query)), -1, dtype=np.int64)
        padded[: len(query)] = query
        differing = (self._tokens != padded[:width]).sum(axis=1)
        return differing + max(0, len(query) - width)

    def _encode(self, text: str) -> list[int]:
        return [self._vocabulary.setdefault(token, len(self._vocabulary)) for token in _TOKENS.findall(text)]


def table_subset(space: SearchSpace, archs: Sequence[str] | None, table_name: str) -> SearchSpace:
    """``space`` itself when ``archs`` (a benchmark table's architectures) cover it, else the :class:`SubsetSpace` of them.

    ``archs=None`` (a table that cannot list its architectures) also gives ``space`` itself.
    Architectures the space cannot parse are left out (a table may hold cells a space's string
    format does not accept); none left is an error.
    """
    size = space.size()
    if archs is None or (size is not None and len(archs) >= size):
        return space
    members = []
    for text in archs:
        try:
            members.append(space.parse(text))
        except NasError:
            continue
    return SubsetSpace(space, members, f"the {len(members)} architectures of the {table_name} table")
