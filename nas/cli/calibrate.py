"""``nas calibrate``: choose the epsilon proxy's two weights automatically for a space."""

from __future__ import annotations

import argparse

from nas.calibration import calibrate


def run(args: argparse.Namespace) -> int:
    """Print the NaN share of every weight pair and the chosen pair."""
    from nas.spaces import SPACES

    dataset = args.dataset or SPACES.get(args.space).datasets[0]
    result = calibrate(
        args.space,
        dataset,
        sample=args.sample,
        seed=args.seed,
        precision=args.precision,
        batch_size=args.batch_size,
        data=args.data,
        max_nan=args.max_nan,
        low=args.low,
        high=args.high,
        data_dir=args.data_dir,
    )
    scored = result.sample - result.excluded
    print(
        f"{args.space} on {dataset}: {result.sample} architectures (seed {args.seed}), "
        f"{result.excluded} excluded (constant output at every weight), {scored} scored; {args.precision}"
    )
    print(f"{'w1':>8} {'w2':>8} {'log10(w2/w1)':>12} {'NaN':>5} {'NaN share':>9}")
    for pair in sorted(result.pairs, key=lambda p: (-p.width, p.w1)):
        mark = "  <- chosen" if pair == result.chosen else ""
        print(f"{pair.w1:>8.0e} {pair.w2:>8.0e} {pair.width:>12.0f} {pair.nan_count:>5} {pair.nan_fraction:>9.1%}{mark}")
    if result.chosen is None:
        print(f"no pair keeps the NaN share under {result.max_nan:.0%}; try --precision float64")
        return 1
    print(f"chosen: weights={result.chosen.w1:g}:{result.chosen.w2:g} ({result.chosen.nan_fraction:.1%} NaN)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` sub-command."""
    from nas.cli import add_common_options

    parser = subparsers.add_parser(
        "calibrate",
        help="choose the epsilon weights automatically",
        description="Choose the epsilon proxy's two constant weights for a space: score a seeded sample of "
        "architectures with every pair of a grid of powers of ten, print the NaN share of each pair and choose "
        "the widest pair whose NaN share stays under --max-nan.",
    )
    parser.add_argument("--space", default="nb201", help="search space (default: nb201)")
    parser.add_argument("--dataset", help="dataset (default: the space's first, cifar10 for nb201)")
    parser.add_argument("--sample", type=int, default=50, help="architectures in the seeded sample (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and the batch (default 0)")
    parser.add_argument(
        "--precision",
        choices=("float32", "float64"),
        default="float32",
        help="precision the networks run in: float32 (the paper's, where small weights underflow to NaN) "
        "or float64 (default: float32)",
    )
    parser.add_argument("--batch-size", type=int, default=256, help="examples in the batch (default 256)")
    parser.add_argument("--data", default="real", help="input data: real or a synthetic kind (default real)")
    parser.add_argument("--max-nan", type=float, default=0.1, help="largest accepted NaN share (default 0.1)")
    parser.add_argument("--low", type=int, default=-8, help="smallest grid exponent (default -8: 1e-8)")
    parser.add_argument("--high", type=int, default=2, help="largest grid exponent (default 2: 1e2)")
    add_common_options(parser)
    parser.set_defaults(func=run)
