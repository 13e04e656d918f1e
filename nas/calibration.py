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

**Sample.** Drawn from the space with ``random.Random(seed)``; for a space that cannot be
enumerated whose benchmark table lists its architectures (NAS-Bench-101's 500-cell table, the
NAS-Bench-NLP logs), drawn without replacement from the table's architectures instead, so that
every one has a trained metric.

**Correlation.** The chosen pair and the space's default pair (the paper's, see
:data:`nas.proxies.epsilon.DEFAULT_WEIGHTS`) are then compared by what a search cares about:
Spearman's rho of their epsilon scores with the table's trained metric (the first of
:data:`CORRELATION_METRICS` the table has) on the sampled architectures, once on the
architectures each pair can score and once with the NaN scores ranked last, as in
``nas compare``. This costs nothing extra when the default weights are on the grid.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import torch

from nas.benchmarks.base import BenchmarkTable
from nas.data import load_batch
from nas.datasets import dataset_spec
from nas.errors import NasError
from nas.metrics import spearman
from nas.proxies.collapse import CollapseError, can_collapse
from nas.proxies.epsilon import DEFAULT_WEIGHTS, PRECISIONS, collapsed_outputs, direct_outputs, epsilon_from_outputs
from nas.spaces import create_space
from nas.spaces.base import Architecture, SearchSpace

#: the trained metrics the calibration correlates with, in order of preference: ``(name, higher is better)``
CORRELATION_METRICS: tuple[tuple[str, bool], ...] = (
    ("test_acc", True),
    ("valid_acc", True),
    ("test_loss", False),
    ("val_loss", False),
)
#: the fewest architectures with a score and a metric for which a rank correlation is reported
MIN_CORRELATION_PAIRS = 3


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
class Correlation:
    """How well one weight pair's epsilon ranks the sampled architectures by their trained metric."""

    weights: tuple[float, float]
    #: architectures with a finite metric value, and how many of them this pair scores (not NaN)
    with_metric: int
    scored: int
    #: Spearman's rho on the scored ones, and with every NaN score tied below all others (NaN: undefined)
    rho: float
    rho_nan_last: float


@dataclass(frozen=True)
class Calibration:
    """Every pair's result, the chosen pair (``None`` if no pair qualifies), the sample and the correlations."""

    pairs: tuple[PairResult, ...]
    chosen: PairResult | None
    sample: int
    excluded: int
    max_nan: float
    #: the weights tried (``10**low`` .. ``10**high``)
    grid: tuple[float, ...] = ()
    #: how the sample was drawn, e.g. "drawn from the space (seed 0)"
    selection: str = ""
    #: the space's default weights (``None`` if it has none) and their NaN share on the sample
    default: PairResult | None = None
    #: the table metric the correlations use (``None``: no correlation, see ``no_correlation``)
    metric: str | None = None
    metric_higher_is_better: bool = True
    #: the chosen pair's and the default pair's correlation (the chosen one first; one entry if they are equal)
    correlations: tuple[Correlation, ...] = ()
    #: why there is no correlation (no table, the table lacks the dataset, too few architectures)
    no_correlation: str = ""


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
    spec = search_space.dataset_spec(spec.name)
    table, metric, no_correlation = _metric_table(space, spec.name, data_dir)
    archs, selection = _sample(search_space, table, sample, seed)
    default = DEFAULT_WEIGHTS.get(space)
    weights = list(grid) + [w for w in (default or ()) if _index(grid, w) is None]
    batch = load_batch(spec.name, data=data, size=batch_size, seed=seed, data_dir=data_dir)
    dtype = PRECISIONS[precision]
    inputs = batch.inputs.to(dtype) if batch.inputs.is_floating_point() else batch.inputs
    outputs_per_arch = []
    for arch in archs:
        model = search_space.build(arch, spec).to(dtype)
        outputs_per_arch.append(_outputs(model, inputs, weights, seed))
    dead = [all(bool(out.max() == out.min()) for out in outputs[: len(grid)]) for outputs in outputs_per_arch]

    def scores(i: int, j: int) -> list[float]:
        """Epsilon of every sampled architecture with ``weights[i]`` and ``weights[j]`` (NaN where undefined)."""
        pair = (weights[i], weights[j])
        return [epsilon_from_outputs((outs[i], outs[j]), pair, precision).value for outs in outputs_per_arch]

    def nan_share(i: int, j: int, values: list[float]) -> PairResult:
        live = [value for value, is_dead in zip(values, dead) if not is_dead]
        return PairResult(weights[i], weights[j], sum(math.isnan(value) for value in live), len(live))

    pairs, pair_scores = [], {}
    for i in range(len(grid)):
        for j in range(i + 1, len(grid)):
            values = scores(i, j)
            pairs.append(nan_share(i, j, values))
            pair_scores[(weights[i], weights[j])] = values
    qualifying = [p for p in pairs if p.scored and p.nan_fraction < max_nan]
    chosen = min(qualifying, key=lambda p: (-p.width, p.nan_fraction, p.w1), default=None)

    default_result = None
    if default is not None:
        i, j = _index(weights, default[0]), _index(weights, default[1])
        assert i is not None and j is not None
        if (weights[i], weights[j]) not in pair_scores:  # off the grid, or w1 > w2 on it (never for the defaults)
            pair_scores[(weights[i], weights[j])] = scores(i, j)
        default_result = nan_share(i, j, pair_scores[(weights[i], weights[j])])

    correlations: tuple[Correlation, ...] = ()
    if table is not None and metric is not None:
        values = np.array([_lookup(table, search_space.format(arch), spec.name, metric[0]) for arch in archs])
        compared = [(p.w1, p.w2) for p in (chosen, default_result) if p is not None]
        compared = list(dict.fromkeys(compared))
        correlations = tuple(_correlation(pair, pair_scores[pair], values, metric[1]) for pair in compared)
        with_metric = int(np.isfinite(values).sum())
        if with_metric < MIN_CORRELATION_PAIRS:
            no_correlation = (
                f"only {with_metric} of the {len(archs)} sampled architectures have a {metric[0]} in the "
                f"{space} table (a rank correlation needs {MIN_CORRELATION_PAIRS})"
            )
            correlations = ()
    return Calibration(
        tuple(pairs),
        chosen,
        len(archs),
        sum(dead),
        max_nan,
        grid=tuple(grid),
        selection=selection,
        default=default_result,
        metric=metric[0] if metric and correlations else None,
        metric_higher_is_better=metric[1] if metric else True,
        correlations=correlations,
        no_correlation=no_correlation,
    )


def _index(weights: list[float], weight: float) -> int | None:
    """The position of ``weight`` in ``weights`` (to rounding: ``1e-7`` is ``10.0**-7``), else ``None``."""
    return next((k for k, w in enumerate(weights) if math.isclose(w, weight, rel_tol=1e-9)), None)


def _metric_table(
    space: str, dataset: str, data_dir: str | None
) -> tuple[BenchmarkTable | None, tuple[str, bool] | None, str]:
    """The space's benchmark table, the metric to correlate with, or why there is none."""
    from nas.benchmarks import TABLES, open_table

    if space not in TABLES:
        return None, None, f"space {space!r} has no benchmark table"
    try:
        table = open_table(space, data_dir)
    except NasError as exc:
        return None, None, f"the {space} table cannot be read ({exc})"
    if dataset not in table.datasets:
        return None, None, f"the {space} table has no dataset {dataset!r} (it has {', '.join(table.datasets)})"
    metrics = table.metrics(dataset)
    metric = next(((name, higher) for name, higher in CORRELATION_METRICS if name in metrics), None)
    if metric is None:
        return table, None, f"the {space} table has none of the metrics {', '.join(n for n, _ in CORRELATION_METRICS)}"
    return table, metric, ""


def _sample(
    search_space: SearchSpace, table: BenchmarkTable | None, sample: int, seed: int
) -> tuple[list[Architecture], str]:
    """The architectures to calibrate on and how they were drawn (see the module docstring)."""
    rng = random.Random(seed)
    if search_space.size() is None and table is not None and hasattr(table, "__iter__"):
        cells = list(table)
        chosen = rng.sample(cells, min(sample, len(cells)))
        return [search_space.parse(cell) for cell in chosen], (
            f"drawn without replacement from the {len(cells)} architectures of the {search_space.name} table "
            f"(seed {seed})"
        )
    return [search_space.sample(rng) for _ in range(sample)], f"drawn from the space (seed {seed})"


def _lookup(table: BenchmarkTable, arch: str, dataset: str, metric: str) -> float:
    """``metric`` of ``arch`` in ``table``, NaN when the table does not have the architecture."""
    try:
        return float(table.lookup(arch, dataset, metric))
    except NasError:
        return math.nan


def _correlation(pair: tuple[float, float], scores: list[float], metric: np.ndarray, higher_is_better: bool) -> Correlation:
    """Spearman's rho of ``scores`` with ``metric``, on the scored architectures and with NaNs ranked last."""
    x = np.array(scores, dtype=np.float64)
    y = metric if higher_is_better else -metric
    known = np.isfinite(y)
    x, y = x[known], y[known]
    finite = np.isfinite(x)
    floor = x[finite].min() - 1.0 if finite.any() else 0.0
    return Correlation(
        weights=pair,
        with_metric=int(known.sum()),
        scored=int(finite.sum()),
        rho=spearman(x, y),
        rho_nan_last=spearman(np.where(finite, x, floor), y),
    )


def _outputs(model: torch.nn.Module, inputs: torch.Tensor, weights: list[float], seed: int) -> list[torch.Tensor]:
    """The model's outputs at every weight of ``weights``, width-collapsed where that is exact."""
    if can_collapse(model):
        try:
            return collapsed_outputs(model, inputs, weights)
        except CollapseError:
            pass
    return direct_outputs(model, inputs, weights, seed=seed)
