"""``nas import-table``: convert an official benchmark file into the project's table format."""

from __future__ import annotations

import argparse

from nas.paths import data_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``import-table`` sub-command."""
    parser = subparsers.add_parser(
        "import-table",
        help="convert an official NAS-Bench-201 / NATS-Bench file into the project's nb201 table",
        description=(
            "Read an official benchmark file with its authors' package and write "
            "DIR/nb201/nas_nb201_table.csv, which the nb201 table then uses instead of the shared files."
        ),
    )
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        nargs=2,
        metavar=("KIND", "PATH"),
        help="KIND is nb201-pth (e.g. NAS-Bench-201-v1_1-096897.pth) or nats-tss "
        "(the NATS-tss-v1_0-3ffb9-simple directory or NATS-tss-v1_0-3ffb9.pickle.pbz2)",
    )
    parser.add_argument("--out", metavar="DIR", help="directory to write into (default: the data directory)")
    parser.add_argument("--data-dir", help="data directory (default: $NAS_DATA_DIR, else ../shared/data)")
    parser.add_argument("--force", action="store_true", help="replace an existing table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Import the table and say where it went."""
    import numpy as np

    from nas.benchmarks.importers import import_table
    from nas.benchmarks.nb201 import NB201Table

    kind, path = args.source
    out = args.out if args.out is not None else data_dir(args.data_dir)
    written = import_table(kind, path, out, overwrite=args.force)
    table = NB201Table.open(written.parent.parent)
    keys = [(d, m) for d in table.datasets for m in table.metrics(d)]
    known = [~np.isnan(table.values(d, m)) for d, m in keys]
    evaluated = int(np.logical_or.reduce(known).sum()) if known else 0
    columns = ", ".join(f"{d}/{m}" for d, m in keys)
    print(f"wrote {written}: {len(table)} architectures, {evaluated} with results; columns: {columns or 'none'}")
    return 0
