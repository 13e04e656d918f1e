"""``nas cache info|clear|vacuum``: look at, empty and compact the score store.

``info`` says where the store file is, its size on disk (file and write-ahead log) and how many
scores it holds per space and proxy; it creates nothing. ``clear`` deletes stored scores, all of
them or those of one ``--proxy`` and/or ``--space``; a store of an older schema version (which
every other command refuses) is deleted as a whole by ``clear`` without filters. ``vacuum``
gives the space of deleted rows back to the file system.
"""

from __future__ import annotations

import argparse

from nas.errors import NasError


def info(args: argparse.Namespace) -> int:
    """Print the store's path, size and rows per (space, proxy)."""
    from nas.store import ScoreStore, disk_size, store_path

    path = store_path(args.cache_dir)
    if not path.is_file():
        print(f"no score store at {path} (nothing has been scored with this cache directory yet)")
        return 0
    size = _size_text(*disk_size(path))
    with ScoreStore(path) as store:  # an old schema version raises StoreVersionError: one line, status 2
        counts = store.counts()
    print(f"store  {path}")
    print(f"size   {size}")
    if not counts:
        print("rows   0 (the store is empty)")
        return 0
    print(f"rows   {sum(n for _, _, n in counts):,}")
    print()
    table = [("space", "proxy", "rows")] + [(space, proxy, f"{n:,}") for space, proxy, n in counts]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for space, proxy, n in table:
        print(f"{space:<{widths[0]}}  {proxy:<{widths[1]}}  {n:>{widths[2]}}")
    return 0


def clear(args: argparse.Namespace) -> int:
    """Delete the matching rows (every row without filters) and print how many."""
    from nas.store import SCHEMA_VERSION, ScoreStore, StoreVersionError, disk_size, remove_store_files, store_path

    path = store_path(args.cache_dir)
    filters = {key: value for key, value in (("space", args.space), ("proxy", args.proxy)) if value}
    if not path.is_file():
        _check_names(filters, set(), set())
        print(f"no score store at {path}; nothing to delete")
        return 0
    try:
        store = ScoreStore(path)
    except StoreVersionError as exc:
        if filters:
            raise NasError(
                f"score store {str(path)!r} has schema version {exc.version} (this version of nas needs "
                f"{SCHEMA_VERSION}): its rows can be neither used nor selected by --proxy/--space; "
                "'nas cache clear' without filters deletes the whole file"
            ) from None
        size = sum(disk_size(path))
        removed = remove_store_files(path)
        print(f"deleted the score store of old schema version {exc.version} (this version of nas needs "
              f"{SCHEMA_VERSION}; none of its scores could be used), {_bytes(size)}: "
              f"{', '.join(str(file) for file in removed)}")
        return 0
    with store:
        counts = store.counts()
        _check_names(filters, {space for space, _, _ in counts}, {proxy for _, proxy, _ in counts})
        deleted = store.delete(**filters)
        left = len(store)
    which = " ".join(f"{key} {value}" for key, value in filters.items())
    print(f"deleted {deleted:,} stored score{'' if deleted == 1 else 's'}{f' ({which})' if which else ''} "
          f"from {path}; {left:,} left")
    if deleted:
        print("the file keeps its size until 'nas cache vacuum'")
    return 0


def vacuum(args: argparse.Namespace) -> int:
    """Compact the store file and print its size before and after."""
    from nas.store import ScoreStore, disk_size, store_path

    path = store_path(args.cache_dir)
    if not path.is_file():
        print(f"no score store at {path}; nothing to vacuum")
        return 0
    before = disk_size(path)
    with ScoreStore(path) as store:
        store.vacuum()
    after = disk_size(path)
    print(f"vacuumed {path}")
    print(f"before  {_size_text(*before)}")
    print(f"after   {_size_text(*after)}")
    return 0


def _check_names(filters: dict[str, str], spaces: set[str], proxies: set[str]) -> None:
    """An unknown --space/--proxy is an error, unless the store holds rows of that name (e.g. a removed plugin)."""
    from nas.proxies import PROXIES
    from nas.spaces import SPACES

    for key, registry, stored in (("space", SPACES, spaces), ("proxy", PROXIES, proxies)):
        name = filters.get(key)
        if name is None or name in stored or name in registry:
            continue
        try:
            registry.get(name)
        except NasError as exc:
            found = f"; the store has {key} rows for: {', '.join(sorted(stored))}" if stored else ""
            raise NasError(f"{exc}{found}") from None


def _size_text(file: int, wal: int) -> str:
    text = f"{_bytes(file + wal)} ({file + wal:,} bytes"
    return f"{text}: file {_bytes(file)} + WAL {_bytes(wal)})" if wal else f"{text})"


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``cache`` sub-command and its ``info``, ``clear`` and ``vacuum`` actions."""
    from nas.cli import _Parser, add_cache_option

    parser = subparsers.add_parser(
        "cache",
        help="show, clear or compact the score store",
        description="Look after the score store (the SQLite file in the cache directory that keeps every "
        "computed score): 'info' shows where it is, its size and its rows per space and proxy; 'clear' deletes "
        "stored scores; 'vacuum' shrinks the file after a clear.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True

    def add(name: str, help: str, description: str) -> argparse.ArgumentParser:
        action = actions.add_parser(name, help=help, description=description)
        add_cache_option(action)
        return action

    add(
        "info",
        "where the store is, its size and its rows per space and proxy",
        "Print the path of the score store, its size on disk (file and write-ahead log) and the number of "
        "stored scores per space and proxy. Creates nothing.",
    ).set_defaults(func=info)
    action = add(
        "clear",
        "delete stored scores (all, or those of --proxy/--space)",
        "Delete the stored scores of --proxy and/or --space, or every stored score without them, and print how "
        "many were deleted. A store of an older schema version, which no command can read, is deleted as a "
        "whole when no filter is given.",
    )
    action.add_argument("--proxy", help="delete only this proxy's scores (a registered proxy or one in the store)")
    action.add_argument("--space", help="delete only this space's scores (a registered space or one in the store)")
    action.set_defaults(func=clear)
    add(
        "vacuum",
        "shrink the store file (SQLite VACUUM) and print its size before and after",
        "Rebuild the score store file without the space of deleted rows (SQLite VACUUM, then a checkpoint of "
        "the write-ahead log) and print its size before and after.",
    ).set_defaults(func=vacuum)
