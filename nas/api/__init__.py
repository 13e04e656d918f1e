"""The Python API: the functions and classes ``nas`` exports (see :data:`nas.__all__`).

The command line is a thin layer over these; each returns pandas DataFrames, matplotlib
figures or small typed objects that fit a notebook.
"""

from __future__ import annotations

from nas.api.catalog import (
    build,
    list_datasets,
    list_proxies,
    list_spaces,
    list_strategies,
    proxy,
    space,
    strategy,
    table,
)
from nas.api.comparison import Comparison, compare
from nas.api.models import score_model
from nas.api.scores import score
from nas.api.searching import BestArchitecture, SearchResult, search

__all__ = [
    "BestArchitecture",
    "Comparison",
    "SearchResult",
    "build",
    "compare",
    "list_datasets",
    "list_proxies",
    "list_spaces",
    "list_strategies",
    "proxy",
    "score",
    "score_model",
    "search",
    "space",
    "strategy",
    "table",
]
