"""The ``nas`` command line.

Each sub-command is one module of this package with a ``register(subparsers)`` function that
adds its parser and sets ``func`` (called with the parsed arguments, returning an exit status).
User errors (:class:`nas.errors.NasError`) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from typing import Sequence

from nas import __version__
from nas.errors import NasError

_COMMANDS = ("list", "info", "score", "compare", "search", "perf", "calibrate", "import_table", "cache")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"nas: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every sub-command."""
    parser = _Parser(prog="nas", description="Neural architecture search with zero-cost proxies.")
    parser.add_argument("--version", action="version", version=f"nas {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for command in _COMMANDS:
        try:
            module = import_module(f"nas.cli.{command}")
        except ModuleNotFoundError as exc:
            if exc.name == f"nas.cli.{command}":
                continue
            raise
        module.register(subparsers)
    return parser


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--data-dir`` and ``--cache-dir``, shared by the commands that read data or scores."""
    parser.add_argument("--data-dir", help="data directory (default: $NAS_DATA_DIR, else ../shared/data)")
    add_cache_option(parser)


def add_cache_option(parser: argparse.ArgumentParser) -> None:
    """``--cache-dir``: where the score store is."""
    parser.add_argument("--cache-dir", help="cache directory of the score store (default: $NAS_CACHE_DIR, else ~/.cache/nas)")


def add_executor_options(parser: argparse.ArgumentParser, ray: bool = True) -> None:
    """``--executor``, ``--workers``, ``--ray-address`` (with ``ray``) and ``--progress``.

    They say how missing proxy scores are computed (see :class:`nas.scoring.Scorer`).
    """
    from nas.executors import EXECUTORS

    choices = EXECUTORS if ray else tuple(name for name in EXECUTORS if name != "ray")
    parser.add_argument(
        "--executor",
        default="auto",
        choices=choices,
        help="where missing scores are computed: auto (a local process pool for more than a few "
        f"architectures, else this process), {', '.join(choices[1:])} (default: auto)",
    )
    workers = "worker processes or Ray actors" if ray else "worker processes"
    parser.add_argument("--workers", type=int, help=f"{workers} (default: all cores)")
    if ray:
        parser.add_argument("--ray-address", help="Ray cluster address (with --executor ray; default: a local Ray instance)")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars on stderr (default: when stderr is a terminal)",
    )


def show_progress(args: argparse.Namespace) -> bool:
    """Whether to show progress bars: ``--progress``/``--no-progress``, else when stderr is a terminal."""
    return sys.stderr.isatty() if args.progress is None else bool(args.progress)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nas`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NasError as exc:
        sys.stderr.write(f"nas: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("nas: interrupted; everything scored so far is kept in the score store\n")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
