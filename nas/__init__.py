"""nas: neural architecture search with zero-cost proxies.

One import package with five parts:

* ``nas`` (this package): registries, data, the score store, executors, metrics, reports, CLI;
* ``nas.spaces``: search spaces that name, sample, mutate and build architectures;
* ``nas.proxies``: zero-cost proxies that score a built, untrained model on one batch;
* ``nas.benchmarks``: benchmark tables, the training oracle of the search strategies;
* ``nas.search``: search strategies and experiments.
"""

from __future__ import annotations

from pathlib import Path as _Path

__version__ = "0.1.0"


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
