"""Automatic choice of the epsilon proxy's two weights (the paper's stated future work).

On a seeded sample of architectures, every model is run once at each weight of a log grid
(``10**low`` to ``10**high``); every pair ``w1 < w2`` of the grid is then scored from those
outputs, and the widest pair (largest ``log10(w2 / w1)``) whose share of NaN scores stays
under ``max_nan`` is chosen; among pairs equally wide, the one with fewer NaNs, then the
smaller weights. This follows the author's search (windows from widest to narrowest, accept
below 10% NaN) on a wider grid.

Architectures whose output is constant at *every* grid weight are excluded from the NaN
share: no signal reaches their output (e.g. every NB201 path passes a ``none`` op), so no
choice of weights can score them, and counting them would only penalise every pair alike
(341 of NB201's 15,625 architectures are such).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from nas.data import load_batch
from nas.datasets import dataset_spec
from nas.errors import NasError
from nas.proxies.collapse import CollapseError, can_collapse
from nas.proxies.epsilon import PRECISIONS, collapsed_outputs, direct_outputs, epsilon_from_outputs
from nas.spaces import create_space


@dataclass(frozen=True)
class PairResult:
    """The NaN share of one weight pair on the calibration sample."""

    w1: float
    w2: float
    nan_count: int
    scored: int

    @property
    def width(self) -> float:
        """``log10(w2 / w1)``: how far apart the two weights are."""
        return math.log10(self.w2 / self.w1)

    @property
    def nan_fraction(self) -> float:
        """NaN scores / scored architectures (NaN if none was scored)."""
        return self.nan_count / self.scored if self.scored else math.nan


@dataclass(frozen=True)
class Calibration:
    """Every pair's result, the chosen pair (``None`` if no pair qualifies) and the sample."""

    pairs: tuple[PairResult, ...]
    chosen: PairResult | None
    sample: int
    excluded: int
    max_nan: float


def weight_grid(low: int = -8, high: int = 2) -> list[float]:
    """``10**k`` for ``k`` from ``low`` to ``high``."""
    if low >= high:
        raise NasError(f"the weight grid needs low < high exponents, got {low} and {high}")
    return [10.0**k for k in range(low, high + 1)]


def calibrate(
    space: str,
    dataset: str,
    sample: int = 50,
    seed: int = 0,
    precision: str = "float32",
    batch_size: int = 256,
    data: str = "real",
    max_nan: float = 0.1,
    low: int = -8,
    high: int = 2,
    data_dir: str | None = None,
) -> Calibration:
    """Choose the epsilon weights for ``space`` on ``dataset`` (see the module docstring)."""
    if precision not in PRECISIONS:
        raise NasError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if sample < 1:
        raise NasError(f"the calibration sample needs at least 1 architecture, got {sample}")
    if not 0 < max_nan <= 1:
        raise NasError(f"max NaN share must be in (0, 1], got {max_nan}")
    grid = weight_grid(low, high)
    search_space, spec = create_space(space), dataset_spec(dataset)
    batch = load_batch(spec.name, data=data, size=batch_size, seed=seed, data_dir=data_dir)
    dtype = PRECISIONS[precision]
    inputs = batch.inputs.to(dtype) if batch.inputs.is_floating_point() else batch.inputs
    rng = random.Random(seed)
    outputs_per_arch = []
    for _ in range(sample):
        model = search_space.build(search_space.sample(rng), spec).to(dtype)
        outputs_per_arch.append(_outputs(model, inputs, grid, seed))
    dead = [all(bool(out.max() == out.min()) for out in outputs) for outputs in outputs_per_arch]
    live = [outputs for outputs, is_dead in zip(outputs_per_arch, dead) if not is_dead]
    pairs = []
    for i, w1 in enumerate(grid):
        for j in range(i + 1, len(grid)):
            scores = [epsilon_from_outputs((outs[i], outs[j]), (w1, grid[j]), precision) for outs in live]
            pairs.append(PairResult(w1, grid[j], sum(s.is_nan for s in scores), len(scores)))
    qualifying = [p for p in pairs if p.scored and p.nan_fraction < max_nan]
    chosen = min(qualifying, key=lambda p: (-p.width, p.nan_fraction, p.w1), default=None)
    return Calibration(tuple(pairs), chosen, sample, sum(dead), max_nan)


def _outputs(model: torch.nn.Module, inputs: torch.Tensor, grid: list[float], seed: int) -> list[torch.Tensor]:
    """The model's outputs at every grid weight, width-collapsed where that is exact."""
    if can_collapse(model):
        try:
            return collapsed_outputs(model, inputs, grid)
        except CollapseError:
            pass
    return direct_outputs(model, inputs, grid, seed=seed)
