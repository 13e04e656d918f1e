"""``nas list spaces|proxies|strategies|datasets``: what this installation offers."""

from __future__ import annotations

import argparse

from nas.datasets import DATASETS, USER_FORMS
from nas.errors import NasError


def _rows(kind: str) -> list[tuple[str, str]]:
    """``(name, summary)`` of every entry; built-ins come from the registries' tables, so this
    imports no space, proxy or strategy module (and not torch) unless plugins are installed."""
    if kind == "spaces":
        from nas.spaces import SPACES

        return list(SPACES.summaries().items())
    if kind == "proxies":
        from nas.proxies import PROXIES

        return list(PROXIES.summaries().items())
    if kind == "strategies":
        from nas.search import STRATEGIES

        return list(STRATEGIES.summaries().items())
    if kind == "datasets":
        return [(spec.name, spec.description) for spec in DATASETS.values()] + list(USER_FORMS.items())
    raise NasError(f"unknown list {kind!r}; choose from spaces, proxies, strategies, datasets")


def run(args: argparse.Namespace) -> int:
    """Print one line per entry: its name and what it is."""
    rows = _rows(args.kind)
    width = max((len(name) for name, _ in rows), default=0)
    for name, text in rows:
        print(f"{name:<{width}}  {text}".rstrip())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``list`` sub-command."""
    parser = subparsers.add_parser(
        "list",
        help="list spaces, proxies, strategies or datasets",
        description="List what this installation offers (plugins included): the search spaces, the zero-cost "
        "proxies (with their direction and what they need), the search strategies or the datasets, one per line "
        "with a short description.",
    )
    parser.add_argument(
        "kind", choices=("spaces", "proxies", "strategies", "datasets"), help="what to list: %(choices)s"
    )
    parser.set_defaults(func=run)
