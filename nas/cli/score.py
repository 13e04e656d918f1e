"""``nas score``: zero-cost proxy scores of architectures, through the score store.

Scores already in the store are answered from it, the rest are computed (serially, in local
processes or on Ray) and stored one by one, so an interrupted run keeps its work and the same
command continues where it stopped. ``nas score --export FILE`` writes the store as CSV.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
from typing import TYPE_CHECKING, Sequence, TextIO

from nas.cli import add_common_options, add_executor_options, show_progress
from nas.errors import NasError

if TYPE_CHECKING:
    from nas.proxies.base import Proxy, ProxyResult
    from nas.spaces.base import Architecture, SearchSpace

PRECISIONS = ("float32", "float64")


def run(args: argparse.Namespace) -> int:
    """``nas score``: export the store, or score the chosen architectures and report."""
    if args.export:
        return export(args)
    missing = [flag for flag, value in (("--proxy", args.proxy), ("--dataset", args.dataset)) if not value]
    if not (args.arch or args.sample is not None or args.all):
        missing.append("one of --arch, --sample, --all")
    if missing:
        raise NasError(f"nas score needs {', '.join(missing)} (or --export FILE)")

    from nas.data import load_batch
    from nas.scoring import Scorer
    from nas.spaces import create_space
    from nas.store import ScoreStore

    space = create_space(args.space or "nb201")
    proxies = make_proxies(args.proxy, args.set or [], args.precision)
    archs = select(space, args.arch, args.sample, args.all, args.seed)
    batch = load_batch(args.dataset, data=args.data, size=args.batch_size, seed=args.seed, data_dir=args.data_dir)
    results: dict[str, list[ProxyResult]] = {}
    with ScoreStore.open(args.cache_dir) as store, Scorer(
        space,
        args.dataset,
        batch,
        store=store,
        executor=args.executor,
        workers=args.workers,
        progress=show_progress(args),
        ray_address=args.ray_address,
        seed=args.seed,
        retry_failed=args.retry_failed,
    ) as scorer:
        for name, proxy in proxies.items():
            results[name] = scorer.score(archs, proxy)
            stats = scorer.last_stats
            assert stats is not None
            sys.stderr.write(
                f"nas: {name}: {stats.archs} architectures ({stats.unique} distinct), {stats.nans} NaN, "
                f"{stats.seconds_per_arch:.4g} s/arch, {stats.from_store} from the store, {stats.computed} computed\n"
            )
    rows = [
        [space.format(arch), space.canonical_id(arch)]
        + [_number(results[name][i].value) for name in proxies]
        + [results[name][i].reason or "" for name in proxies]
        for i, arch in enumerate(archs)
    ]
    header = ["arch", "canonical_id", *proxies, *(f"{name}_reason" for name in proxies)]
    if args.out:
        try:
            with open(args.out, "w", newline="") as handle:
                _write_csv(handle, header, rows)
        except OSError as exc:
            raise NasError(f"cannot write {args.out!r}: {exc.strerror}") from None
        sys.stderr.write(f"nas: {len(rows)} rows written to {args.out}\n")
    else:
        _write_csv(sys.stdout, header, rows)
    return 0


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


def make_proxies(names: str, settings: Sequence[str], precision: str | None) -> dict[str, Proxy]:
    """The proxies named in ``names`` (comma-separated) with ``--set`` and ``--precision`` applied."""
    from nas.compare import parse_settings
    from nas.proxies import PROXIES, create_proxy

    wanted = [name.strip() for name in names.split(",") if name.strip()]
    if not wanted:
        raise NasError("--proxy needs at least one proxy name")
    if len(set(wanted)) != len(wanted):
        raise NasError(f"--proxy names a proxy twice: {names!r}")
    per_proxy = parse_settings(settings)
    stray = sorted(set(per_proxy) - set(wanted))
    if stray:
        raise NasError(f"--set names proxy {stray[0]!r}, which is not among --proxy {names!r}")
    if precision is not None:
        with_precision = [name for name in wanted if "precision" in PROXIES.get(name).defaults]
        if not with_precision:
            raise NasError(f"--precision: none of {', '.join(wanted)} has a precision setting")
        for name in with_precision:
            per_proxy.setdefault(name, {}).setdefault("precision", precision)
    return {name: create_proxy(name, **per_proxy.get(name, {})) for name in wanted}


def select(
    space: SearchSpace, arch_strings: Sequence[str] | None, sample: int | None, every: bool, seed: int
) -> list[Architecture]:
    """The architectures chosen by ``--arch`` (repeatable), ``--sample N`` or ``--all``."""
    if arch_strings:
        return [space.parse(text) for text in arch_strings]
    size = space.size()
    if every:
        if size is None:
            raise NasError(f"space {space.name!r} cannot be enumerated; use --sample N")
        return list(space.enumerate())
    if sample is None or sample < 1 or (size is not None and sample > size):
        raise NasError(f"--sample must be from 1 to {size if size is not None else 'any number'}, got {sample}")
    rng = random.Random(seed)
    chosen: dict[str, Architecture] = {}
    for _ in range(100 * sample):
        arch = space.sample(rng)
        chosen.setdefault(space.format(arch), arch)
        if len(chosen) == sample:
            return list(chosen.values())
    raise NasError(f"could not draw {sample} distinct architectures from space {space.name!r}")


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else repr(value)


def _write_csv(handle: TextIO, header: list[str], rows: list[list[str]]) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``score`` sub-command."""
    parser = subparsers.add_parser(
        "score",
        help="proxy scores of architectures (kept in the score store)",
        description=(
            "Score architectures with zero-cost proxies. Scores come from the score store when it has "
            "them; the rest are computed and stored as they arrive, so an interrupted run (Ctrl-C) keeps "
            "its work and a rerun continues. Prints a summary per proxy on stderr and the scores as CSV "
            "(arch, canonical_id, one column per proxy, one reason column per proxy) on stdout or into --out."
        ),
    )
    parser.add_argument("--space", help="search space (default: nb201; with --export: every space)")
    parser.add_argument("--proxy", help="proxy, or comma-separated proxies (e.g. epsilon,synflow)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--arch", action="append", metavar="STR", help="an architecture string; repeatable")
    which.add_argument("--sample", type=int, metavar="N", help="N distinct architectures drawn at random")
    which.add_argument("--all", action="store_true", help="every architecture of the space")
    which.add_argument("--export", metavar="FILE", help="write the stored scores (filtered by --space/--proxy) as CSV")
    parser.add_argument("--dataset", help="dataset the networks are built for (e.g. cifar10)")
    parser.add_argument("--data", default="real", help="input: real, grey, normal, uniform or uniform+ (default: real)")
    parser.add_argument("--batch-size", type=int, default=256, help="examples in the batch (default: 256)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of --sample, of the batch and of the initialisation (default: 0)"
    )
    parser.add_argument("--precision", choices=PRECISIONS, help="precision of the proxies that have a precision setting")
    parser.add_argument("--set", action="append", metavar="PROXY.KEY=VALUE", help="a proxy setting; repeatable")
    add_executor_options(parser)
    parser.add_argument("--out", metavar="FILE", help="write the scores as CSV to FILE instead of stdout")
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="recompute stored scores that failed with an error (e.g. after fixing a proxy or the data)",
    )
    add_common_options(parser)
    parser.set_defaults(func=run)
