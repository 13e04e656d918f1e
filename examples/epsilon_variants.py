"""Epsilon variants for the NAS-Bench-201 cells epsilon cannot score: how well does each rank?

About 40% of NAS-Bench-201 cells have no parameter-free input-output path (every path passes a
convolution); in float32 the paper's epsilon underflows on them. ``epsilon_auto`` gives each such
cell an identity shortcut. This script measures that choice beside its alternatives, on the
architectures ``nas compare --sample N --seed S`` selects, from the width-collapsed outputs
(:func:`nas.spaces.nb201.collapsed_output`, no network built; about 0.1 s per architecture):

* ``epsilon``: the paper's, no shortcut (NaN where float32 underflows);
* ``epsilon_auto``: the shortcut around cells without a parameter-free path, at both weights;
* ``shortcut at w1 only``: the shortcut in the first (small-weight) pass only, so the reference
  is the shortcut network and the compared output the real one;
* ``shortcut on every cell``: the shortcut around every cell with a path (``shortcuts=all``).

    python examples/epsilon_variants.py --sample 1000 --seed 0

Prints, per variant, the architectures scored and Spearman's rho with ``test_acc`` over all of
them, within the cells without a parameter-free path and within the others, and the median
score of each group (a group on another scale ranks badly against the other).
"""

from __future__ import annotations

import argparse
import math
from typing import Callable

import numpy as np
import torch
from scipy import stats

import nas
from nas.comparing import select_architectures
from nas.data import load_batch
from nas.proxies.epsilon import DEFAULT_WEIGHTS, epsilon_from_outputs
from nas.proxies.epsilon_auto import PARAMETER_FREE_OPERATIONS, has_path
from nas.spaces import create_space
from nas.spaces.nb201 import collapsed_output

#: variant name -> whether the (first, second) pass has the shortcut, given "the cell lacks a parameter-free path"
VARIANTS: dict[str, Callable[[bool], tuple[bool, bool]]] = {
    "epsilon": lambda lacks: (False, False),
    "epsilon_auto": lambda lacks: (lacks, lacks),
    "shortcut at w1 only": lambda lacks: (lacks, False),
    "shortcut on every cell": lambda lacks: (True, True),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=1000, help="architectures, as nas compare --sample (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="sample and batch seed (default 0)")
    parser.add_argument("--dataset", default="cifar10", help="NB201 dataset (default cifar10)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = create_space("nb201")
    archs, described = select_architectures(space, args.sample, args.seed)
    inputs = load_batch(args.dataset, size=256, seed=args.seed).inputs
    accuracy = nas.table("nb201", args.dataset)["test_acc"]
    weights = DEFAULT_WEIGHTS["nb201"]
    rows = []
    for arch in archs:
        if not has_path(arch):
            continue  # constant output: NaN for every variant
        lacks = not has_path(arch, PARAMETER_FREE_OPERATIONS)
        scores = []
        for shortcuts in VARIANTS.values():
            first, second = shortcuts(lacks)
            outputs = [collapsed_output(arch, inputs, w, shortcut=s).flatten() for w, s in zip(weights, (first, second))]
            scores.append(epsilon_from_outputs(outputs, weights).value)
        rows.append((lacks, float(accuracy[space.format(arch)]), *scores))
    table = np.array(rows, dtype=float)
    lacks, acc = table[:, 0] == 1, table[:, 1]
    print(f"{described}, {args.dataset}; {len(rows)} with an input-output path, {int(lacks.sum())} of them without a parameter-free one")
    print(f"{'variant':<24} {'scored':>7} {'rho all':>8} {'rho lacking':>12} {'rho others':>11} {'median lacking':>15} {'median others':>14}")
    for column, name in enumerate(VARIANTS, start=2):
        values = table[:, column]
        scored = ~np.isnan(values)

        def rho(mask: np.ndarray) -> float:
            return float(stats.spearmanr(values[mask], acc[mask])[0]) if mask.sum() > 2 else math.nan

        print(
            f"{name:<24} {int(scored.sum()):>7} {rho(scored):>8.3f} {rho(scored & lacks):>12.3f} {rho(scored & ~lacks):>11.3f} "
            f"{np.median(values[scored & lacks]) if (scored & lacks).any() else math.nan:>15.3f} {np.median(values[scored & ~lacks]):>14.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
