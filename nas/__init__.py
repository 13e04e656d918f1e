"""nas: neural architecture search with zero-cost proxies.

The Python API is this package's top level (listed in :data:`__all__`)::

    import nas
    frame = nas.score(sample=100, proxies=["epsilon", "synflow"])   # a pandas DataFrame
    comparison = nas.compare("epsilon,synflow,meco", sample=500)    # tables, plots, report
    result = nas.search("configs/quickstart.yaml")                 # history, summary, plot
    nas.score_model(torchvision.models.resnet18(), loader, proxies=["synflow", "snip"])

Importing ``nas`` is cheap: the API's modules (and PyTorch) load on first use.

One import package with five parts:

* ``nas`` (this package): registries, data, the score store, executors, metrics, reports, CLI;
* ``nas.spaces``: search spaces that name, sample, mutate and build architectures;
* ``nas.proxies``: zero-cost proxies that score a built, untrained model on one batch;
* ``nas.benchmarks``: benchmark tables, the training oracle of the search strategies;
* ``nas.search``: search strategies and experiments.
"""

from __future__ import annotations

from importlib import import_module as _import_module
from importlib import metadata as _metadata
from pathlib import Path as _Path
from typing import Any as _Any

try:
    __version__ = _metadata.version("nas-zero-cost")
except _metadata.PackageNotFoundError:  # imported from a source checkout that is not installed
    __version__ = "0+unknown"

#: the public API: name -> module that defines it (imported on first use)
_API = {
    "score": "nas.api.scores",
    "compare": "nas.api.comparison",
    "Comparison": "nas.api.comparison",
    "SearchResult": "nas.api.searching",
    "BestArchitecture": "nas.api.searching",
    "score_model": "nas.api.models",
    "space": "nas.api.catalog",
    "proxy": "nas.api.catalog",
    "strategy": "nas.api.catalog",
    "table": "nas.api.catalog",
    "build": "nas.api.catalog",
    "list_spaces": "nas.api.catalog",
    "list_proxies": "nas.api.catalog",
    "list_strategies": "nas.api.catalog",
    "list_datasets": "nas.api.catalog",
    "export_model": "nas.export",
    "export_run": "nas.export",
    "NasError": "nas.errors",
}

__all__ = sorted([*_API, "search"]) + ["__version__"]


def __getattr__(name: str) -> _Any:
    """Import the API's functions on first use, so that ``import nas`` stays fast and torch-free.

    ``nas.search`` is the sub-package of search strategies, and calling it runs a search
    (:func:`nas.api.searching.search`): the package is a callable module.
    """
    if name == "search":
        return _import_module("nas.search")
    if name in _API:
        value = getattr(_import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))


def _support_source_checkout() -> None:
    """Let ``nas.proxies`` & co. import from a source checkout as well as from an install.

    The sub-packages live in top-level folders (``proxies/``, ``search/``, ...) that the
    installer maps into ``nas``. When Python imports ``nas`` straight from a checkout (the
    repository root on ``sys.path``), adding the root to ``__path__`` gives the same mapping.
    """
    root = _Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "proxies" / "__init__.py").is_file():
        if str(root) not in __path__:
            __path__.append(str(root))


_support_source_checkout()
