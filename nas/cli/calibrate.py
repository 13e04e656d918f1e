"""``nas calibrate``: choose the epsilon proxy's two weights automatically for a space."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # nas.calibration imports torch: it is imported only when the command runs
    from nas.calibration import Calibration, PairResult


def run(args: argparse.Namespace) -> int:
    """Print what was calibrated, the NaN share of every weight pair, the chosen pair, how it ranks
    the sample against the default pair, and how to use it."""
    from nas.calibration import calibrate
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
    grid = result.grid
    print(
        f"calibrated: the epsilon proxy's two weights w1 < w2, every pair of the {len(grid)} weights "
        f"{grid[0]:.0e} .. {grid[-1]:.0e} ({len(result.pairs)} pairs), on a batch of {args.batch_size} {args.data} "
        f"inputs; sample {result.selection}; chosen: the widest pair (largest log10(w2/w1)) with under "
        f"{result.max_nan:.0%} NaN among the {scored} scored"
    )
    print(f"{'w1':>8} {'w2':>8} {'log10(w2/w1)':>12} {'NaN':>5} {'NaN share':>9}")
    default = result.default
    for pair in sorted(result.pairs, key=lambda p: (-p.width, p.w1)):
        marks = [label for label, other in (("chosen", result.chosen), ("default", default)) if _same(pair, other)]
        mark = f"  <- {' and '.join(marks)}" if marks else ""
        print(f"{pair.w1:>8.0e} {pair.w2:>8.0e} {pair.width:>12.0f} {pair.nan_count:>5} {pair.nan_fraction:>9.1%}{mark}")
    if default is not None and not any(_same(pair, default) for pair in result.pairs):
        print(f"{default.w1:>8.0e} {default.w2:>8.0e} {default.width:>12.0f} {default.nan_count:>5} "
              f"{default.nan_fraction:>9.1%}  <- default (off the grid)")
    default_text = (
        f"the default for {args.space} (the paper's) is {_weights(default)} with {default.nan_fraction:.1%} NaN"
        if default is not None
        else f"{args.space} has no default weights"
    )
    if result.chosen is None:
        print(f"no pair keeps the NaN share under {result.max_nan:.0%}; {default_text}; try --precision float64")
    else:
        print(f"chosen: weights={_weights(result.chosen)} ({result.chosen.nan_fraction:.1%} NaN); {default_text}")
    _print_correlations(result, args.space, dataset)
    if result.chosen is None:
        return 1
    _print_usage(_weights(result.chosen), args.precision, args.space, dataset)
    return 0


def _same(pair: PairResult | tuple[float, float], other: PairResult | None) -> bool:
    """Whether two weight pairs are the same (to rounding: 1e-7 is 10.0**-7)."""
    w1, w2 = pair if isinstance(pair, tuple) else (pair.w1, pair.w2)
    return other is not None and math.isclose(w1, other.w1, rel_tol=1e-9) and math.isclose(w2, other.w2, rel_tol=1e-9)


def _weights(pair: PairResult) -> str:
    """A pair as the ``weights`` setting takes it: ``w1:w2``."""
    return f"{pair.w1:g}:{pair.w2:g}"


def _print_correlations(result: Calibration, space: str, dataset: str) -> None:
    """Spearman's rho of the chosen and the default pair with the table's trained metric."""
    if not result.correlations:
        print(f"Spearman rho with trained accuracy: not measured: {result.no_correlation}")
        return
    sign = "" if result.metric_higher_is_better else "-"
    with_metric = result.correlations[0].with_metric
    print(
        f"Spearman rho of epsilon with {sign}{result.metric} of the {space} table ({dataset}) on the "
        f"{with_metric} sampled architectures that have it (NaN scores left out / ranked last):"
    )
    print(f"  {'weights':<24} {'scored':>9} {'rho':>7} {'rho, NaN last':>14}")
    for corr in result.correlations:
        labels = [name for name, other in (("chosen", result.chosen), ("default", result.default)) if _same(corr.weights, other)]
        text = f"{corr.weights[0]:g}:{corr.weights[1]:g} ({' = '.join(labels)})"
        rho = "n/a" if math.isnan(corr.rho) else f"{corr.rho:.3f}"
        last = "n/a" if math.isnan(corr.rho_nan_last) else f"{corr.rho_nan_last:.3f}"
        print(f"  {text:<24} {f'{corr.scored}/{corr.with_metric}':>9} {rho:>7} {last:>14}")
    if with_metric < 200:
        print(f"  (rough on {with_metric} architectures: a larger --sample, or nas compare with --set "
              "epsilon.weights=W1:W2, measures it on more)")


def _print_usage(weights: str, precision: str, space: str, dataset: str) -> None:
    """How to score with the chosen weights: the command line and a search config."""
    sets = f"--set epsilon.weights={weights}"
    settings = f"weights: [{weights.replace(':', ', ')}]"
    if precision != "float32":
        sets += f" --set epsilon.precision={precision}"
        settings += f", precision: {precision}"
    where = f"--space {space} --dataset {dataset}"
    print(f"use them (they were chosen for {space} on {dataset} in {precision}):")
    print(f"  nas score {where} --proxy epsilon {sets} --sample N")
    print(f"  nas compare {where} --proxies epsilon {sets} --sample N")
    print(f"  search config (YAML):  proxy: {{name: epsilon, settings: {{{settings}}}}}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` sub-command."""
    from nas.cli import add_common_options

    parser = subparsers.add_parser(
        "calibrate",
        help="choose the epsilon weights automatically",
        description="Choose the epsilon proxy's two constant weights for a space: score a seeded sample of "
        "architectures with every pair of a grid of powers of ten, print the NaN share of each pair and choose "
        "the widest pair whose NaN share stays under --max-nan. Then print how well the chosen pair and the "
        "space's default pair (the paper's) rank the sample by trained accuracy (Spearman's rho against the "
        "benchmark table, NaN scores left out and ranked last) and the options that use the chosen weights. "
        "In a space that cannot be enumerated (nb101, nlp), the sample is drawn from the benchmark table's "
        "architectures, so that each has a trained accuracy.",
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
