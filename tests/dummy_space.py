"""A small seeded search space, benchmark table and proxy for fast search tests.

Like Archai's dummy search space: every part is cheap and fully determined by a seed, so the
strategies and experiments can be tested end to end in milliseconds.

* space ``dummy``: architectures are tuples of 4 operations in ``0..4`` (625 of them), written
  ``"3-1-4-0"``; positions 2 and 3 commute, so ``(a, b, c, d)`` and ``(a, b, d, c)`` compute the
  same function (one canonical id); a neighbour changes one position.
* table ``dummy``: metrics ``valid_acc`` and ``test_acc`` for ``cifar10``, a seeded additive
  function of the operations plus per-architecture noise.
* proxy ``dummy-quality``: reads a noisy copy of the architecture's quality stored in the built
  model, so it correlates with the table; NaN for the all-zero architecture. The proxy
  ``dummy-cost`` scores the same quality negated and is lower-is-better.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn as nn

from nas.benchmarks import register_table
from nas.benchmarks.base import BenchmarkTable
from nas.datasets import DatasetSpec
from nas.errors import NasError
from nas.proxies import register_proxy
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult
from nas.spaces import register_space
from nas.spaces.base import SearchSpace

DummyArch = tuple[int, int, int, int]
OPS = 5
POSITIONS = 4
_RNG = np.random.default_rng(20240601)
_WEIGHTS = _RNG.normal(0.0, 3.0, size=(POSITIONS, OPS))
_ALL: tuple[DummyArch, ...] = tuple(
    (a, b, c, d) for a in range(OPS) for b in range(OPS) for c in range(OPS) for d in range(OPS)
)
_TRAINING_NOISE = {arch: _RNG.normal(0.0, 0.3, size=2) for arch in _ALL}
_PROXY_NOISE = {arch: float(_RNG.normal(0.0, 2.0)) for arch in _ALL}


def canonical(arch: DummyArch) -> DummyArch:
    """The representative of ``arch``'s class: positions 2 and 3 sorted."""
    a, b, c, d = arch
    return (a, b, min(c, d), max(c, d))


def quality(arch: DummyArch) -> float:
    """The noise-free quality of ``arch`` (equal for isomorphic architectures)."""
    return 70.0 + float(sum(_WEIGHTS[i, op] for i, op in enumerate(canonical(arch))))


def proxy_value(arch: DummyArch) -> float:
    """The ``dummy-quality`` proxy's score of ``arch`` (NaN for the all-zero architecture)."""
    key = canonical(arch)
    return float("nan") if key == (0, 0, 0, 0) else quality(arch) + _PROXY_NOISE[key]


@register_space()
class DummySpace(SearchSpace):
    """625 architectures of 4 operations; positions 2 and 3 commute."""

    name = "dummy"
    datasets = ("cifar10",)

    def parse(self, text: str) -> DummyArch:
        parts = text.split("-")
        if len(parts) != POSITIONS or not all(p.isdigit() and int(p) < OPS for p in parts):
            raise NasError(f"malformed dummy architecture {text!r}")
        return tuple(int(p) for p in parts)  # type: ignore[return-value]

    def format(self, arch: DummyArch) -> str:
        return "-".join(str(op) for op in arch)

    def canonical_id(self, arch: DummyArch) -> str:
        return self.format(canonical(arch))

    def representative(self, arch: DummyArch) -> DummyArch:
        return canonical(arch)

    def size(self) -> int:
        return len(_ALL)

    def enumerate(self) -> Iterator[DummyArch]:
        return iter(_ALL)

    def sample(self, rng: random.Random) -> DummyArch:
        return _ALL[rng.randrange(len(_ALL))]

    def neighbours(self, arch: DummyArch) -> list[DummyArch]:
        return [
            arch[:i] + (op,) + arch[i + 1 :]  # type: ignore[misc]
            for i in range(POSITIONS)
            for op in range(OPS)
            if op != arch[i]
        ]

    def build(self, arch: DummyArch, dataset: DatasetSpec) -> nn.Module:
        model = nn.Linear(1, 1)
        model.register_buffer("quality", torch.tensor(proxy_value(arch), dtype=torch.float64))
        return model


@register_table()
class DummyTable(BenchmarkTable):
    """Seeded accuracies of the dummy space (``valid_acc`` and ``test_acc`` on ``cifar10``)."""

    name = "dummy"

    @classmethod
    def open(cls, data_dir: str | Path | None = None) -> "DummyTable":
        return cls()

    @property
    def datasets(self) -> tuple[str, ...]:
        return ("cifar10",)

    def metrics(self, dataset: str) -> tuple[str, ...]:
        return ("valid_acc", "test_acc")

    def lookup(self, arch: str, dataset: str, metric: str) -> float:
        self.check(dataset, metric)
        parsed = DummySpace().parse(arch)
        noise = _TRAINING_NOISE[parsed][0 if metric == "valid_acc" else 1]
        return quality(parsed) + float(noise) - (1.0 if metric == "test_acc" else 0.0)


@register_proxy()
class DummyQuality(Proxy):
    """Reads the noisy quality stored in a dummy model (higher is better)."""

    name = "dummy-quality"
    summary = "test proxy of the dummy space"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        value = float(model.quality)  # type: ignore[arg-type]
        return ProxyResult.nan("dead architecture") if np.isnan(value) else ProxyResult(value)


@register_proxy()
class DummyCost(Proxy):
    """The dummy quality negated: a lower-is-better proxy."""

    name = "dummy-cost"
    summary = "lower-is-better test proxy of the dummy space"
    higher_is_better = False

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        value = -float(model.quality)  # type: ignore[arg-type]
        return ProxyResult.nan("dead architecture") if np.isnan(value) else ProxyResult(value)
