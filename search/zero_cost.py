"""Zero-cost selection: sample N architectures, train only the proxy's best one.

The cheapest use of a proxy (e.g. Mellor et al., "Neural Architecture Search without
Training", ICML 2021): one trained model, whatever the budget. A proxy that ranks a set (a rank
combination such as ``ensemble(a+b+c)``) is computed over the N sampled architectures.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from nas.search import register_strategy
from nas.search.base import SearchContext, SearchResult, Strategy, at_least


@register_strategy()
class ZeroCostSelection(Strategy):
    """Pick the proxy's best of ``n`` random architectures and train that one."""

    name = "zero_cost"
    summary = "sample N architectures, train only the proxy's best"
    defaults = {"n": 100}

    @classmethod
    def problems(cls, settings: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
        yield from at_least(settings, 1, "n")

    def run(self, context: SearchContext) -> SearchResult:
        context.train(context.best_by_proxy(context.sample_pool(self.settings["n"])))
        return SearchResult.from_oracle(context.oracle)
