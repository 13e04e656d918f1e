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
        if self.settings["warmup"]:
            pool = context.sample_pool(self.settings["pool"])
            for arch in context.rank_by_proxy(pool)[: self.settings["warmup_steps"]]:
                if context.exhausted:
                    break
                context.train(arch)
        while not context.exhausted:
            context.train(context.space.sample(context.rng))
        return SearchResult.from_oracle(context.oracle)
