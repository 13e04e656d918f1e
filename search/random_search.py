"""Random search, optionally warmed up with a zero-cost proxy.

Plain: train uniformly sampled architectures until the budget is used up. With warm-up
(Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021): score a pool of
``pool`` random architectures with the proxy and train the pool's ``warmup_steps`` best first,
in proxy order; after that, sample uniformly. A proxy that ranks a set (a rank combination such
as ``ensemble(a+b+c)``, see :class:`~nas.search.base.CombinedProxyScores`) is computed over the
whole pool.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from nas.search import register_strategy
from nas.search.base import SearchContext, SearchResult, Strategy, at_least


@register_strategy()
class RandomSearch(Strategy):
    """Random search with optional proxy warm-up."""

    name = "random"
    summary = "random search; warm-up: train the proxy's top-K of a random pool first"
    defaults = {"warmup": False, "pool": 3000, "warmup_steps": 64}

    @classmethod
    def problems(cls, settings: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
        yield from at_least(settings, 1, "pool")
        yield from at_least(settings, 0, "warmup_steps")

    def needs_proxy(self) -> bool:
        return bool(self.settings["warmup"])

    def run(self, context: SearchContext) -> SearchResult:
        # no choice depends on a result: the warm-up list, then the random draws, are each trained
        # in one call (in parallel on a training oracle)
        if self.settings["warmup"]:
            pool = context.sample_pool(self.settings["pool"])
            context.train_many(context.rank_by_proxy(pool)[: min(self.settings["warmup_steps"], context.budget)])
        remaining = context.budget - context.oracle.queries
        context.train_many([context.space.sample(context.rng) for _ in range(remaining)])
        return SearchResult.from_oracle(context.oracle)
