"""How well does the training oracle's cheap recipe rank architectures? Train a seeded sample of
NAS-Bench-201 architectures with a configuration's recipe and correlate the validation accuracies
with the benchmark table (the full-size networks trained for 200 epochs).

    python examples/training_oracle_vs_table.py configs/nb201-cifar10-train.yaml --sample 20

Runs go through the training cache (``trainings.sqlite`` in the cache directory), so they are
shared with searches that use the same recipe, and a rerun costs nothing. Prints one row per
architecture and the Spearman rank correlations.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from scipy import stats

import nas
from nas.experiment.config import load_config
from nas.spaces import create_space
from nas.training import Trainer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="an experiment file with oracle: train (its space, dataset, recipe and seed)")
    parser.add_argument("--sample", type=int, default=20, help="architectures (default 20)")
    parser.add_argument("--sample-seed", type=int, default=0, help="seed of the sample (default 0)")
    parser.add_argument("--executor", default="local", help="serial, local or ray (default local)")
    parser.add_argument("--workers", type=int, default=None, help="workers (default: all cores)")
    args = parser.parse_args()
    config = load_config(args.config)
    if config.oracle.kind != "train" or config.oracle.recipe is None:
        sys.exit(f"{args.config}: needs oracle: train")
    space = create_space(config.space)
    table = nas.table(config.space, config.dataset)
    seen: set[str] = set()
    archs: list[str] = []
    rng = random.Random(args.sample_seed)
    while len(archs) < args.sample:
        arch = space.sample(rng)
        key = space.canonical_id(arch)
        if key not in seen:
            seen.add(key)
            archs.append(space.format(arch))
    trainer = Trainer(config.space, config.dataset, config.oracle.recipe, config.seed, args.executor, args.workers)
    started = time.perf_counter()
    try:
        results = trainer.results(archs)
    finally:
        trainer.close()
    wall = time.perf_counter() - started
    print(f"Recipe: {config.oracle.recipe.describe()}; seed {config.seed}.\n")
    print("| architecture | valid_acc (trained here) | training s | table test_acc | table valid_acc |")
    print("|---|---:|---:|---:|---:|")
    for arch in archs:
        row = table.loc[arch]
        print(f"| `{arch}` | {results[arch].valid_acc:.2f} | {results[arch].seconds:.0f} | {row['test_acc']:.2f} | {row['valid_acc']:.2f} |")
    ours = [results[a].valid_acc for a in archs]
    for column in ("test_acc", "valid_acc"):
        rho = stats.spearmanr(ours, [table.loc[a, column] for a in archs]).statistic
        print(f"\nSpearman with the table's {column}: {rho:.3f} over {len(archs)} architectures", end="")
    total = sum(results[a].seconds for a in archs)
    print(f"\n\nTraining: {total:.0f} s summed over the runs; {wall:.0f} s of wall time here (cached runs cost none).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
