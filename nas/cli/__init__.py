"""The ``nas`` command line.

Each sub-command is one module of this package with a ``register(subparsers)`` function that
adds its parser and sets ``func`` (called with the parsed arguments, returning an exit status).
User errors (:class:`nas.errors.NasError`) print one line and exit with status 2.

Start-up is cheap: :func:`main` imports only the module of the command being run (``nas --help``
none), and the command modules import torch only inside the functions that need it, so
``nas --help``, ``nas list ...`` and ``nas <command> --help`` do not import torch
(tests/test_cli_startup.py checks).
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from typing import Iterable, Sequence

from nas import __version__
from nas.errors import NasError

#: The sub-commands in the order ``nas --help`` lists them: ``name: (module in nas.cli, help)``.
#: ``nas --help`` shows this help without importing the modules; each module's ``register``
#: passes the same text as ``help=`` (tests/test_cli_startup.py checks).
_COMMANDS: dict[str, tuple[str, str]] = {
    "list": ("list", "list spaces, proxies, strategies or datasets"),
    "info": ("info", "canonical form, size and benchmark metrics of one architecture"),
    "score": ("score", "proxy scores of architectures (kept in the score store)"),
    "compare": ("compare", "rank correlation of proxies with trained accuracy, with a report"),
    "search": ("search", "run a search experiment described by a YAML file"),
    "perf": ("perf", "measure proxy throughput (architectures/second)"),
    "calibrate": ("calibrate", "choose the epsilon weights automatically"),
    "reproduce": ("reproduce", "rerun a paper's experiments and report them beside its published values"),
    "import-table": ("import_table", "convert an official NAS-Bench-201 / NATS-Bench file into the project's nb201 table"),
    "cache": ("cache", "show, clear or compact the score store"),
    "export": ("export", "write an architecture or a search's best as TorchScript, ONNX and a state_dict"),
}


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"nas: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every sub-command (``commands``: only of those).

    With ``commands``, only those sub-commands' modules are imported and registered; the others
    are placeholders that ``nas --help`` lists (with their help from ``_COMMANDS``) but that
    cannot run.
    """
    wanted = set(_COMMANDS) if commands is None else set(commands)
    parser = _Parser(prog="nas", description="Neural architecture search with zero-cost proxies.")
    parser.add_argument("--version", action="version", version=f"nas {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name, (module_name, summary) in _COMMANDS.items():
        if name not in wanted:
            subparsers.add_parser(name, help=summary, description=summary)
            continue
        try:
            module = import_module(f"nas.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"nas.cli.{module_name}":
                continue
            raise
        module.register(subparsers)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (its first positional argument), if it is a known one."""
    for index, arg in enumerate(argv):
        if arg == "--":
            following = argv[index + 1 : index + 2]
            return following[0] if following and following[0] in _COMMANDS else None
        if not arg.startswith("-"):
            return arg if arg in _COMMANDS else None
    return None


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--data-dir`` and ``--cache-dir``, shared by the commands that read data or scores."""
    parser.add_argument(
        "--data-dir",
        help="data directory (default: $NAS_DATA_DIR, else ../shared/data next to the working directory, "
        "else ../shared/data next to this source checkout)",
    )
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
    argv = sys.argv[1:] if argv is None else [*argv]  # not list(): the sub-module nas.cli.list shadows it here
    command = _command_in(argv)
    args = build_parser([command] if command else []).parse_args(argv)
    if not callable(getattr(args, "func", None)):  # argparse chose another sub-command than _command_in
        args = build_parser().parse_args(argv)
    from nas.executors import keep_freed_memory

    keep_freed_memory()  # in-process scoring (serial executor, perf, calibrate) reuses freed tensors
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
