"""Search strategies: find good architectures with few trained models, helped by proxies.

Create one by name with :func:`create_strategy`. A new strategy is one module with a
:class:`~nas.search.base.Strategy` subclass decorated ``@register_strategy()`` and listed in
``_BUILTIN`` below (or shipped as a plugin under the entry-point group ``nas.strategies``).
Experiments (several strategies, many seeded rounds, reports) live in :mod:`nas.experiment`.
"""

from __future__ import annotations

from typing import Any

from nas.registry import Registry
from nas.search.base import ArchitectureCache, CachedProxyScores, SearchContext, SearchResult, Strategy

_BUILTIN = ("nas.search.random_search", "nas.search.evolution", "nas.search.zero_cost")

STRATEGIES: Registry[Strategy] = Registry("strategy", _BUILTIN, entry_point_group="nas.strategies")
register_strategy = STRATEGIES.register


def create_strategy(name: str, **settings: Any) -> Strategy:
    """The strategy registered as ``name`` with ``settings`` overriding its defaults."""
    return STRATEGIES.create(name, **settings)


__all__ = [
    "ArchitectureCache",
    "CachedProxyScores",
    "SearchContext",
    "SearchResult",
    "Strategy",
    "STRATEGIES",
    "create_strategy",
    "register_strategy",
]
