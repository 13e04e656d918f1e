"""``nas score``: zero-cost proxy scores of architectures, through the score store.

Scores already in the store are answered from it, the rest are computed (serially, in local
processes or on Ray) and stored one by one, so an interrupted run keeps its work and the same
command continues where it stopped. ``nas score --export FILE`` writes the store as CSV.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nas.cli import add_common_options, add_executor_options
from nas.errors import NasError

PRECISIONS = ("float32", "float64")


def run(args: argparse.Namespace) -> int:
    """``nas score``: export the store, or score the chosen architectures and report."""
    if args.export:
        return export(args)
    missing = [flag for flag, value in (("--proxy", args.proxy),) if not value]
    if not (args.arch or args.sample is not None or args.all):
        missing.append("one of --arch, --sample, --all")
    if missing:
        raise NasError(f"nas score needs {', '.join(missing)} (or --export FILE)")
    if args.format == "parquet" and not args.out:
        raise NasError("--format parquet is binary: name the output file with --out FILE")
    if args.out:
        check_out(args.out, args.force)  # before any scoring: a run must not end unable to write its result

    from nas.api.scores import score_frame
    from nas.cli.compare import run_options
    from nas.comparing import parse_batch_sizes, parse_settings
    from nas.reports.tables import write_frame

    batch_size, batch_sizes = parse_batch_sizes(args.batch_size or [])
    frame, scored = score_frame(
        args.arch,
        proxies=args.proxy,
        space=args.space or "nb201",
        dataset=args.dataset,
        sample=args.sample,
        every=args.all,
        seed=args.seed,
        data=args.data,
        batch_size=batch_size,
        batch_sizes=batch_sizes,
        settings=parse_settings(args.set or []),
        precision=args.precision,
        metrics=False if args.no_metrics else None,
        retry_failed=args.retry_failed,
        **run_options(args),
    )
    for name, stats in scored.stats.items():
        sys.stderr.write(
            f"nas: {name}: {stats.archs} architectures ({stats.unique} distinct), {stats.nans} NaN, "
            f"batch {scored.batch_sizes[name]}, {stats.seconds_per_arch:.4g} s/arch, {stats.from_store} from the store, "
            f"{stats.computed} computed\n"
        )
    if args.out:
        try:
            write_frame(frame, Path(args.out), args.format)
        except OSError as exc:
            raise NasError(f"cannot write {args.out!r}: {exc.strerror}") from None
        sys.stderr.write(f"nas: {len(frame)} rows written to {args.out}\n")
    else:
        write_frame(frame, sys.stdout, args.format)
    return 0


def check_out(out: str, force: bool) -> None:
    """Raise :class:`NasError` unless ``--out`` can be written: a regular file there only with ``--force``, and a writable directory.

    The directory is tried by creating (and deleting) a temporary file in it, which also catches
    read-only file systems. Non-regular files (``/dev/null``, a named pipe) are written as they are.
    """
    import tempfile

    path = Path(out)
    if path.is_dir():
        raise NasError(f"--out {out!r} is a directory: name a file")
    if path.is_file() or path.is_symlink():
        if not force:
            raise NasError(f"--out {out!r} exists: pass --force to overwrite it, or choose another file")
        try:
            with open(path, "r+b"):  # writable? (opened without truncating it)
                pass
        except OSError as exc:
            raise NasError(f"cannot write --out {out!r}: {exc.strerror}") from None
        return
    if path.exists():
        return
    directory = path.parent
    if not directory.is_dir():
        raise NasError(f"cannot write --out {out!r}: directory {str(directory)!r} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".nas-out-check-"):
            pass
    except OSError as exc:
        raise NasError(f"cannot write --out {out!r}: {exc.strerror} (directory {str(directory)!r})") from None


def export(args: argparse.Namespace) -> int:
    """``nas score --export FILE [--space S] [--proxy P]``: the store's rows as CSV."""
    from nas.store import ScoreStore

    from nas.proxies import PROXIES
    from nas.spaces import SPACES

    if args.proxy and "," in args.proxy:
        raise NasError("--export filters by one --proxy at a time")
    if args.proxy:
        PROXIES.get(args.proxy)  # an unknown name is an error, not an empty export
    if args.space:
        SPACES.get(args.space)
    filters = {"space": args.space, "proxy": args.proxy}
    with ScoreStore.open(args.cache_dir) as store:
        count = store.export_csv(args.export, **{k: v for k, v in filters.items() if v})
    sys.stderr.write(f"nas: {count} stored scores written to {args.export}\n")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``score`` sub-command."""
    parser = subparsers.add_parser(
        "score",
        help="proxy scores of architectures (kept in the score store)",
        description=(
            "Score architectures with zero-cost proxies. Scores come from the score store when it has "
            "them; the rest are computed and stored as they arrive, so an interrupted run (Ctrl-C) keeps "
            "its work and a rerun continues. Prints a summary per proxy on stderr and the scores as CSV, "
            "JSON or Parquet (arch, canonical_id, one column per proxy, one reason column per proxy, and the "
            "benchmark table's trained metrics when available) on stdout or into --out. The same table as "
            "the Python function nas.score."
        ),
    )
    parser.add_argument("--space", help="search space (default: nb201; with --export: every space)")
    parser.add_argument("--proxy", help="proxy, or comma-separated proxies (e.g. epsilon,synflow)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--arch", action="append", metavar="STR", help="an architecture string; repeatable")
    which.add_argument("--sample", type=int, metavar="N", help="N distinct architectures drawn at random")
    which.add_argument("--all", action="store_true", help="every architecture of the space")
    which.add_argument("--export", metavar="FILE", help="write the stored scores (filtered by --space/--proxy) as CSV")
    parser.add_argument(
        "--dataset",
        help="dataset the networks are built for (default: the space's first, e.g. cifar10), or your own: "
        "imagefolder:PATH[?size=N], npz:PATH, cifar:DIR",
    )
    parser.add_argument("--data", default="real", help="input: real, grey, normal, uniform or uniform+ (default: real)")
    parser.add_argument(
        "--batch-size",
        action="append",
        metavar="B|PROXY=B",
        help="batch size of every proxy (B) or of one (PROXY=B); repeatable. Default: the size each "
        "proxy's paper used (epsilon 256, naswot 128, most others 64)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of --sample, of the batch and of the initialisation (default: 0)"
    )
    parser.add_argument("--precision", choices=PRECISIONS, help="precision of the proxies that have a precision setting")
    parser.add_argument("--set", action="append", metavar="PROXY.KEY=VALUE", help="a proxy setting; repeatable")
    add_executor_options(parser)
    parser.add_argument(
        "--out", metavar="FILE", help="write the scores to FILE instead of stdout (checked before scoring; not an existing file unless --force)"
    )
    parser.add_argument("--force", action="store_true", help="let --out overwrite an existing file")
    parser.add_argument(
        "--format", default="csv", choices=("csv", "json", "parquet"), help="table format (default: csv; parquet needs pyarrow and --out)"
    )
    parser.add_argument(
        "--no-metrics", action="store_true", help="leave out the benchmark table's trained metrics (added by default when the table is available)"
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="recompute stored scores that failed with an error (e.g. after fixing a proxy or the data)",
    )
    add_common_options(parser)
    parser.set_defaults(func=run)
