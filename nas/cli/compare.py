"""``nas compare``: proxies against trained accuracy on a benchmark, with a report."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from nas.cli import add_common_options, add_executor_options, show_progress


def run(args: argparse.Namespace) -> int:
    """Score, compute the metrics, write the report and print the Markdown table."""
    from nas.api.comparison import command_line, compare
    from nas.comparing import parse_batch_sizes, parse_settings
    from nas.reports.compare import markdown_table, write_report

    check_report_dir(args.report or "reports")  # before any scoring (the default is reports/compare-SPACE-DATASET)
    batch_size, batch_sizes = parse_batch_sizes(args.batch_size or [])
    comparison = compare(
        args.proxies,
        space=args.space,
        dataset=args.dataset,
        sample=args.sample,
        all=args.all,
        seed=args.seed,
        metric=args.metric,
        batch_size=batch_size,
        batch_sizes=batch_sizes,
        data=args.data,
        settings=parse_settings(args.set or []),
        seeds=parse_seeds(args.seeds),
        bootstrap=args.bootstrap,
        bootstrap_seed=args.bootstrap_seed,
        retry_failed=args.retry_failed,
        **run_options(args),
        recipe=parse_recipe(args.recipe),
    )
    config = comparison.config
    report = args.report or f"reports/compare-{config.space}-{config.dataset}"
    write_report(comparison.data, report, command_line(config, args.report), args.format)
    print(markdown_table(comparison.data))
    sys.stderr.write(f"nas: report written to {report}\n")
    return 0


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options of :func:`~nas.cli.add_executor_options` and :func:`~nas.cli.add_common_options` as keyword
    arguments: ``executor``, ``workers``, ``ray_address``, ``progress`` (``--progress``, else whether stderr is
    a terminal), ``data_dir`` and ``cache_dir``: how missing scores are computed and where data and scores are.

    The scoring commands (``compare``, ``score``, ``reproduce``) pass them on as they are.
    """
    return {
        "executor": args.executor,
        "workers": args.workers,
        "ray_address": args.ray_address,
        "progress": show_progress(args),
        "data_dir": args.data_dir,
        "cache_dir": args.cache_dir,
    }


def parse_recipe(text: str | None) -> dict | None:
    """``--recipe``: a training recipe as a YAML/JSON mapping, e.g. ``'{epochs: 2, network: {channels: 8}}'``."""
    import yaml

    from nas.errors import NasError

    if text is None:
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise NasError(f"--recipe is not a YAML mapping: {str(exc).splitlines()[0]}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise NasError(f"--recipe expects a mapping such as '{{epochs: 2}}', got {text[:60]!r}")
    return value


def check_report_dir(report: str) -> None:
    """Raise :class:`NasError` unless the directory ``report`` exists or can be created, and can be written.

    Tried by creating (and removing) a temporary directory in ``report``, or in its nearest
    existing ancestor when it does not exist yet; nothing is left behind.
    """
    import tempfile
    from pathlib import Path

    from nas.errors import NasError

    path = Path(report)
    if path.exists() and not path.is_dir():
        raise NasError(f"--report {report!r} exists and is not a directory: name a directory")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NasError(f"cannot create --report {report!r}: {str(existing)!r} is not a directory")
    try:
        os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".nas-report-check-"))
    except OSError as exc:
        raise NasError(f"cannot write the report into {report!r}: {exc.strerror} (directory {str(existing)!r})") from None


def parse_seeds(text: str) -> tuple[int, ...]:
    """``--seeds 0,1,2`` as a tuple of distinct integers."""
    from nas.errors import NasError

    try:
        seeds = tuple(int(item) for item in text.split(","))
    except ValueError:
        raise NasError(f"--seeds expects comma-separated integers such as 0,1,2, got {text!r}") from None
    if len(set(seeds)) != len(seeds):
        raise NasError(f"--seeds lists a seed twice: {text!r}")
    return seeds


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compare`` sub-command."""
    parser = subparsers.add_parser(
        "compare",
        help="rank correlation of proxies with trained accuracy, with a report",
        description=(
            "Score architectures of a benchmark space with zero-cost proxies (through the score store, "
            "so re-runs only compute what is missing) and compare the scores with trained accuracy: "
            "coverage, Spearman rho and Kendall tau on each proxy's own scored set, on the set every proxy "
            "scored and with NaN ranked worst, with 95%% bootstrap intervals; paired bootstrap differences "
            "between proxies; the paper's top-10%% and top-64 columns on the common set; params and flops "
            "always as baselines. Writes comparison.md, comparison.csv, differences.csv, scores.csv and "
            "scatter plots into --report DIR and prints the main table."
        ),
    )
    parser.add_argument("--space", default="nb201", help="search space (default: nb201)")
    parser.add_argument("--dataset", help="dataset (default: the space's first, e.g. cifar10 for nb201)")
    parser.add_argument(
        "--proxies",
        required=True,
        help="comma-separated proxies; 'vote' adds the average rank of the others, "
        "'vote(a+b+c)' that of a, b and c; 'ensemble(a+b+c)' their sum of log(rank/N), an "
        "architecture keeping the ranks of the members that scored it ('ensemble': of the others); "
        "'aznas' the AZ-NAS aggregate of its four proxies (missing scores ranked worst). Combinations "
        "rank the compared architectures, so their values depend on that set "
        "(e.g. epsilon,synflow,snip,vote,ensemble(meco+synflow+flops))",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--sample", type=int, metavar="N", help="compare N architectures drawn at random")
    which.add_argument("--all", action="store_true", help="compare every architecture of the space")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --sample draw (default: 0)")
    parser.add_argument(
        "--metric",
        help="trained metric of the benchmark table (default: the table's: test_acc; valid_acc for nb101; "
        "test_perplexity, lower is better, for nlp); with --recipe: valid_acc (default) or valid_loss",
    )
    parser.add_argument(
        "--recipe",
        metavar="YAML",
        help="train every compared architecture with this training recipe (the training oracle, cached) instead of "
        "reading a benchmark table, e.g. '{epochs: 2, network: {channels: 8, cells_per_stage: 1}}'; for spaces "
        "and datasets without a table",
    )
    parser.add_argument(
        "--batch-size",
        action="append",
        metavar="B|PROXY=B",
        help="batch size of every proxy (B) or of one (PROXY=B); repeatable. Default: the size each "
        "proxy's paper used (epsilon 256, naswot 128, others 64)",
    )
    parser.add_argument(
        "--data", default="real", help="input: real, or a synthetic kind of nas.data (grey, normal, ...; default: real)"
    )
    parser.add_argument("--set", action="append", metavar="PROXY.KEY=VALUE", help="a proxy setting; repeatable")
    parser.add_argument(
        "--seeds",
        default="0",
        metavar="S[,S...]",
        help="initialisation and batch seeds (default: 0); with several, the report adds the mean and "
        "spread of each correlation over them (the tables use the first)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap draws for the 95%% intervals and paired differences (default: 1000; 0: none)",
    )
    parser.add_argument(
        "--bootstrap-seed", type=int, default=0, metavar="S", help="seed of the bootstrap draws (default: 0)"
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="recompute stored scores that failed with an error (e.g. after fixing a proxy or the data)",
    )
    add_executor_options(parser)
    parser.add_argument("--report", metavar="DIR", help="report directory (default: reports/compare-SPACE-DATASET)")
    parser.add_argument(
        "--format",
        default="csv",
        choices=("csv", "json", "parquet"),
        help="format of the report's tables comparison, differences and scores (default: csv; parquet needs pyarrow)",
    )
    add_common_options(parser)
    parser.set_defaults(func=run)
