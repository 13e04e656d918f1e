"""``nas search``: run the search experiment of a YAML file and write its report."""

from __future__ import annotations

import argparse
import sys

from nas.cli import add_common_options, add_executor_options, show_progress


def run(args: argparse.Namespace) -> int:
    """Load and validate the experiment, run it (or resume it), print where the report is and its table."""
    from nas.api.searching import search
    from nas.errors import NasError
    from nas.executors import check_executor

    if args.rounds is not None and args.rounds < 1:
        raise NasError(f"--rounds must be at least 1, got {args.rounds}")
    check_executor(args.executor, args.workers, args.ray_address)
    result = search(
        args.config,
        out=args.out,
        rounds=args.rounds,
        resume=args.resume,
        progress=show_progress(args),
        executor=args.executor,
        workers=args.workers,
        ray_address=args.ray_address,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
    )
    print(result.to_markdown(), end="")
    sys.stderr.write(
        f"nas: summary table {result.files['summary.md']} (and .csv), plot {result.files['search.png']}, "
        f"trajectories {result.files['trajectories.csv']}\n"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``search`` command."""
    parser = subparsers.add_parser(
        "search",
        help="run a search experiment described by a YAML file",
        description="Run every strategy of an experiment file (see configs/) for its rounds, then write "
        "trajectories, summary.md/.csv and search.png to the output directory.",
    )
    parser.add_argument("config", metavar="CONFIG.yaml", help="experiment file")
    parser.add_argument("--rounds", type=int, help="number of rounds (default: the file's)")
    parser.add_argument("--out", help="output directory (default: runs/<experiment name>)")
    parser.add_argument("--resume", action="store_true", help="continue the runs already in the output directory")
    add_executor_options(parser)
    add_common_options(parser)
    parser.set_defaults(func=run)
