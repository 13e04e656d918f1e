"""``nas list spaces|proxies|strategies|datasets``: what this installation offers."""

from __future__ import annotations

import argparse

from nas.datasets import DATASETS
from nas.errors import NasError


def _rows(kind: str) -> list[tuple[str, str]]:
    if kind == "spaces":
        from nas.spaces import SPACES

        return [(name, _first_line(SPACES.get(name).__doc__)) for name in SPACES.names()]
    if kind == "proxies":
        from nas.proxies import PROXIES

        rows = []
        for name in PROXIES.names():
            cls = PROXIES.get(name)
            direction = "higher is better" if cls.higher_is_better else "lower is better"
            needs = ", ".join(sorted(cls.needs)) or "nothing"
            rows.append((name, f"{cls.summary or _first_line(cls.__doc__)} [{direction}; needs {needs}]"))
        return rows
    if kind == "strategies":
        from nas.search import STRATEGIES

        return [(name, _first_line(STRATEGIES.get(name).__doc__)) for name in STRATEGIES.names()]
    if kind == "datasets":
        return [(spec.name, spec.description) for spec in DATASETS.values()]
    raise NasError(f"unknown list {kind!r}; choose from spaces, proxies, strategies, datasets")


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""


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
