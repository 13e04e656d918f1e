"""Search strategies: find good architectures with few trained models, helped by proxies.

Create one by name with :func:`create_strategy`. A new strategy is one module with a
:class:`~nas.search.base.Strategy` subclass decorated ``@register_strategy()`` and listed in
``_BUILTIN`` below (or shipped as a plugin under the entry-point group ``nas.strategies``).
Experiments (several strategies, many seeded rounds, reports) live in :mod:`nas.experiment`.

Importing this package imports neither numpy nor torch: :mod:`nas.search.base` and the strategy
modules are imported on first use, and ``nas list strategies`` reads the summaries from ``_BUILTIN``.

Calling the package, ``nas.search(config, ...)``, runs an experiment from Python: it is
:func:`nas.api.searching.search` (this package is a callable module, so that ``nas.search``
names both the strategies and the function that runs them).
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from nas.registry import Registry

if TYPE_CHECKING:
    from nas.search.base import ArchitectureCache, CachedProxyScores, SearchContext, SearchResult, Strategy

#: The built-in strategies: ``name: (module, summary)``; the summary is the first line of the
#: class's docstring, printed by ``nas list strategies`` without importing the module
#: (tests/test_registry.py checks it against the class).
_BUILTIN: dict[str, tuple[str, str]] = {
    "random": ("nas.search.random_search", "Random search with optional proxy warm-up."),
    "evolution": ("nas.search.evolution", "Regularised evolution with optional proxy warm-up and proxy-guided moves."),
    "zero_cost": ("nas.search.zero_cost", "Pick the proxy's best of ``n`` random architectures and train that one."),
}

STRATEGIES: Registry[Strategy] = Registry("strategy", _BUILTIN, entry_point_group="nas.strategies")
register_strategy = STRATEGIES.register


def create_strategy(name: str, **settings: Any) -> Strategy:
    """The strategy registered as ``name`` with ``settings`` overriding its defaults."""
    return STRATEGIES.create(name, **settings)


_LAZY = ("ArchitectureCache", "CachedProxyScores", "SearchContext", "SearchResult", "Strategy")


def __getattr__(name: str) -> Any:
    """The classes of :mod:`nas.search.base` listed in ``__all__``, imported on first use."""
    if name in _LAZY:
        from nas.search import base

        value = globals()[name] = getattr(base, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


class _CallableModule(types.ModuleType):
    """This package's module type: calling it runs :func:`nas.api.searching.search`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from nas.api.searching import search

        return search(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
