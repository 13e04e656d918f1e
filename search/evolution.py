"""Ageing (regularised) evolution, optionally guided by a zero-cost proxy.

Real et al., "Regularized Evolution for Image Classifier Architecture Search", AAAI 2019: keep
a population of the last ``population`` trained architectures; each step, sample
``tournament`` members, mutate the best one (one edit), train the child, add it and remove
the oldest member.

Proxy guidance, in the two forms of the literature:

* ``warmup: true``: the initial population is the proxy's best of a random pool of ``pool``
  architectures (trained in proxy order) instead of random architectures;
* ``move: parent``: the parent is the tournament member with the best proxy score instead of
  the best trained metric; ``move: neighbour``: the child is the proxy's best of all the
  parent's neighbours instead of a random one; ``move: none`` (default): plain evolution.

A proxy that ranks a set (a rank combination such as ``ensemble(a+b+c)`` or ``aznas``, see
:class:`~nas.search.base.CombinedProxyScores`) is computed over the architectures being chosen
among: the whole pool for the warm-up, the tournament's contestants for ``move: parent``, the
parent's neighbours for ``move: neighbour``. Each choice thus ranks its own candidates, as the
single-proxy choice does, and the rest of the population or pool does not shift it.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Iterable, Mapping

from nas.search import register_strategy
from nas.search.base import SearchContext, SearchResult, Strategy, at_least
from nas.spaces.base import Architecture


@register_strategy()
class AgeingEvolution(Strategy):
    """Regularised evolution with optional proxy warm-up and proxy-guided moves."""

    name = "evolution"
    summary = "ageing evolution (Real et al. 2019); proxy warm-up and parent/neighbour moves"
    defaults = {"population": 64, "tournament": 10, "warmup": False, "pool": 3000, "move": "none"}
    choices = {"move": ("none", "parent", "neighbour")}

    @classmethod
    def problems(cls, settings: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
        yield from at_least(settings, 1, "population", "tournament", "pool")
        if settings["tournament"] > settings["population"]:
            yield "tournament", f"must not exceed the population ({settings['population']}), got {settings['tournament']}"

    def needs_proxy(self) -> bool:
        return bool(self.settings["warmup"]) or self.settings["move"] != "none"

    def run(self, context: SearchContext) -> SearchResult:
        size, move = self.settings["population"], self.settings["move"]
        rng, space = context.rng, context.space
        if self.settings["warmup"]:
            initial = context.rank_by_proxy(context.sample_pool(self.settings["pool"]))[:size]
        else:
            initial = []
        # the initial population does not depend on its results: trained in one call (in parallel
        # on a training oracle); members are (architecture, trained metric), the left end the oldest
        count = min(size, context.budget - context.oracle.queries)
        first = initial[:count] + [space.sample(rng) for _ in range(count - len(initial[:count]))]
        population: deque[tuple[Architecture, float]] = deque(zip(first, context.train_many(first)))
        while not context.exhausted:
            contestants = rng.sample(range(len(population)), self.settings["tournament"])
            if move == "parent":
                parent = context.best_by_proxy([population[i][0] for i in contestants])
            else:
                parent = population[max(contestants, key=lambda i: _metric(population[i][1]))][0]
            if move == "neighbour":
                child = context.best_by_proxy(space.neighbours(parent))
            else:
                child = space.mutate(parent, rng)
            population.append((child, context.train(child)))
            if len(population) > size:
                population.popleft()
        return SearchResult.from_oracle(context.oracle)


def _metric(value: float) -> float:
    """Tournament key: unknown metrics lose."""
    return -math.inf if math.isnan(value) else value
