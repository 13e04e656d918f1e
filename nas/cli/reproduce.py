"""``nas reproduce epsilon-paper``: rerun the epsilon paper's experiments and report them beside the published values."""

from __future__ import annotations

import argparse
import shlex
import sys

from nas.cli import add_common_options, add_executor_options
from nas.reproduce import EXPERIMENTS, TARGETS

#: where the report goes unless ``--out`` says otherwise
DEFAULT_OUT = "reports/epsilon-paper"


def run(args: argparse.Namespace) -> int:
    """Run the chosen experiments (through the score store), write the report after each, print a summary."""
    from nas.cli.compare import check_report_dir, run_options
    from nas.reproduce.experiments import TABLE1_DATASETS, TABLE1_PROXIES, ReproduceConfig, parse_experiments, reproduce
    from nas.reproduce.published import load_published
    from nas.reproduce.report import summary, write_report

    experiments = parse_experiments(args.only)
    check_report_dir(args.out)  # before any scoring
    config = ReproduceConfig(
        experiments=experiments,
        quick=args.quick,
        sample=args.sample,
        datasets=_names(args.datasets, "--datasets") or TABLE1_DATASETS,
        proxies=_names(args.proxies, "--proxies") or TABLE1_PROXIES,
        run=run_options(args),
    )
    published = load_published()
    command = _command(args)
    results = []
    for result in reproduce(config):
        results.append(result)
        left_out = [name for name in EXPERIMENTS if name not in {r.name for r in results}]
        write_report(results, published, args.out, command, config.describe(), left_out)
    print(summary(results))
    sys.stderr.write(f"nas: report written to {args.out}/report.md\n")
    return 0


def _names(text: str | None, option: str) -> tuple[str, ...]:
    """A comma-separated list of names (empty when the option was not given)."""
    from nas.errors import NasError

    if text is None:
        return ()
    names = tuple(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))
    if not names:
        raise NasError(f"{option} needs at least one name")
    return names


def _command(args: argparse.Namespace) -> str:
    """The command line of this run (as the report states it)."""
    words = ["nas", "reproduce", args.target]
    if args.quick:
        words.append("--quick")
    for option, value in (("--only", args.only), ("--sample", args.sample), ("--datasets", args.datasets),
                          ("--proxies", args.proxies)):
        if value is not None:
            words += [option, str(value)]
    words += ["--out", args.out]
    return shlex.join(words)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``reproduce`` sub-command."""
    experiments = "; ".join(f"{name}: {text}" for name, text in EXPERIMENTS.items())
    parser = subparsers.add_parser(
        "reproduce",
        help="rerun a paper's experiments and report them beside its published values",
        description=(
            "Rerun the experiments of a paper through the score store (a second run, or a run after Ctrl-C or a "
            "crash, computes only what is missing) and write one Markdown report: per row the published value, "
            "ours and the difference, the architectures asked, scored and NaN, Spearman and Kendall on the own, "
            "common and NaN-worst sets, and notes where our setting differs from the paper's (stand-in input, "
            "partial data, partial tables). The full epsilon-paper run takes hours; --quick takes minutes. "
            f"Experiments: {experiments}."
        ),
    )
    parser.add_argument("target", choices=tuple(TARGETS), help="what to reproduce: " + "; ".join(
        f"{name} ({text})" for name, text in TARGETS.items()))
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"report directory: report.md and one CSV per experiment (default: {DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true",
                        help="small samples of every experiment: minutes instead of the full run's hours (the "
                        "report's Setting line lists the sizes)")
    parser.add_argument("--only", metavar="NAMES",
                        help=f"comma-separated experiments to run (default: all of {', '.join(EXPERIMENTS)})")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="override: N architectures for every experiment and table (Figure 3: warm-up pools of N "
                        "and at most N trained models per run; Figure 5: a fixed pool of N, warm-up pools of at most "
                        "N; smoke tests; the report says the setting was overridden)")
    parser.add_argument("--datasets", metavar="NAMES",
                        help="override: the NAS-Bench-201 datasets of Tables 1-2, Figures 1/6 and Figures 3 and 5 "
                        "(default: cifar10,cifar100,imagenet16-120; Figures 3 and 5 with --quick: cifar10)")
    parser.add_argument("--proxies", metavar="NAMES",
                        help="override: the proxies of Tables 1 and 3 (default: epsilon,synflow,snip,grad_norm,fisher,"
                        "grasp,jacob_cov,naswot; params and flops are always added); Table 4 keeps those of "
                        "epsilon,synflow,snip,grad_norm,grasp among them (epsilon when none); Figure 5 runs exactly "
                        "these (default: every proxy of Table 1; --quick: epsilon,synflow,params,naswot)")
    add_executor_options(parser)
    add_common_options(parser)
    parser.set_defaults(func=run)
