"""How well a proxy's scores predict trained accuracy: the metrics of the zero-cost literature.

Every function takes two aligned 1-D arrays, ``scores`` (one proxy's score per architecture)
and ``accuracies`` (the trained accuracy of the same architectures), plus the proxy's direction.
Conventions shared by all of them:

* **Direction.** A proxy with ``higher_is_better=False`` is negated before anything is ranked, so
  every reported correlation and overlap reads "higher is better" (a perfect proxy has rho = 1).
* **Missing values.** An architecture whose score or accuracy is NaN or infinite is left out
  (pairwise omission, as in Abdelfattah et al. 2021 and the epsilon paper); :func:`count_missing`
  reports how many scores were left out.
* **Top sets.** "Top ``f``" of ``n`` kept architectures means the best ``ceil(f * n)`` of them.
  Correlations within the top-10% by accuracy keep every architecture whose accuracy is at least
  the ``k``-th best one (ties at the boundary are all kept). Overlaps between a top set by proxy
  and a top set by accuracy are expected values under random tie-breaking: an architecture tied
  at a boundary where ``r`` of its ``m`` tied values fit counts as ``r / m`` of a member. Without
  ties they are plain counts.
* Rank correlations are scipy's Spearman rho and Kendall tau-b (average ranks for ties); they
  are NaN when fewer than two architectures remain or either side is constant.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from nas.errors import NasError

#: the fraction of architectures in the "top-10%" metrics
TOP_FRACTION = 0.10
#: how many of the proxy's best architectures the top-64 metric looks at
TOP_COUNT = 64
#: the fraction of architectures, by accuracy, that the top-64 metric counts hits in
TOP64_TARGET_FRACTION = 0.05


@dataclass(frozen=True)
class ProxyMetrics:
    """All comparison metrics of one proxy against trained accuracy."""

    #: architectures used (finite score and finite accuracy)
    pairs: int
    #: scores that are NaN or infinite
    missing: int
    spearman: float
    kendall: float
    #: Spearman rho within the top-10% by trained accuracy
    top10_spearman: float
    #: Kendall tau within the top-10% by trained accuracy
    top10_kendall: float
    #: percentage of the top-10% by proxy that are in the top-10% by accuracy
    top10_in_top10: float
    #: how many of the proxy's top-64 are in the top-5% by accuracy
    top64_in_top5: float


def oriented(scores: ArrayLike, higher_is_better: bool = True) -> np.ndarray:
    """``scores`` as float64, negated when lower scores are better."""
    values = np.asarray(scores, dtype=np.float64)
    return values if higher_is_better else -values


def count_missing(scores: ArrayLike) -> int:
    """How many scores are NaN or infinite."""
    return int(np.count_nonzero(~np.isfinite(np.asarray(scores, dtype=np.float64))))


def top_count(n: int, fraction: float) -> int:
    """The size of the top ``fraction`` of ``n`` items: ``ceil(fraction * n)``, at most ``n``."""
    if not 0.0 < fraction <= 1.0:
        raise NasError(f"a top fraction must be in (0, 1], got {fraction}")
    # the small slack keeps e.g. 0.1 * 1000 from rounding up to 101 through float error
    return min(n, math.ceil(fraction * n - 1e-9))


def spearman(scores: ArrayLike, accuracies: ArrayLike, higher_is_better: bool = True) -> float:
    """Spearman's rank correlation between the (oriented) scores and the accuracies."""
    x, y = _pairs(scores, accuracies, higher_is_better)
    return _correlation(stats.spearmanr, x, y)


def kendall(scores: ArrayLike, accuracies: ArrayLike, higher_is_better: bool = True) -> float:
    """Kendall's tau-b between the (oriented) scores and the accuracies."""
    x, y = _pairs(scores, accuracies, higher_is_better)
    return _correlation(stats.kendalltau, x, y)


def top_spearman(
    scores: ArrayLike, accuracies: ArrayLike, higher_is_better: bool = True, fraction: float = TOP_FRACTION
) -> float:
    """Spearman's rho within the top ``fraction`` of the architectures by accuracy."""
    x, y = _top_by_accuracy(*_pairs(scores, accuracies, higher_is_better), fraction)
    return _correlation(stats.spearmanr, x, y)


def top_kendall(
    scores: ArrayLike, accuracies: ArrayLike, higher_is_better: bool = True, fraction: float = TOP_FRACTION
) -> float:
    """Kendall's tau-b within the top ``fraction`` of the architectures by accuracy."""
    x, y = _top_by_accuracy(*_pairs(scores, accuracies, higher_is_better), fraction)
    return _correlation(stats.kendalltau, x, y)


def top_overlap_percent(
    scores: ArrayLike, accuracies: ArrayLike, higher_is_better: bool = True, fraction: float = TOP_FRACTION
) -> float:
    """Percentage of the top ``fraction`` by proxy that are also in the top ``fraction`` by accuracy."""
    x, y = _pairs(scores, accuracies, higher_is_better)
    if len(x) == 0:
        return math.nan
    k = top_count(len(x), fraction)
    return 100.0 * _expected_overlap(x, k, y, k) / k


def top_hits(
    scores: ArrayLike,
    accuracies: ArrayLike,
    higher_is_better: bool = True,
    count: int = TOP_COUNT,
    fraction: float = TOP64_TARGET_FRACTION,
) -> float:
    """How many of the ``count`` best architectures by proxy are in the top ``fraction`` by accuracy.

    With fewer than ``count`` architectures, all of them are the proxy's "top".
    """
    if count < 1:
        raise NasError(f"the number of top architectures must be positive, got {count}")
    x, y = _pairs(scores, accuracies, higher_is_better)
    if len(x) == 0:
        return math.nan
    return _expected_overlap(x, min(count, len(x)), y, top_count(len(x), fraction))


def evaluate(scores: ArrayLike, accuracies: ArrayLike, higher_is_better: bool = True) -> ProxyMetrics:
    """Every metric of :class:`ProxyMetrics` for one proxy."""
    x, y = _pairs(scores, accuracies, higher_is_better)
    return ProxyMetrics(
        pairs=len(x),
        missing=count_missing(scores),
        spearman=spearman(x, y),
        kendall=kendall(x, y),
        top10_spearman=top_spearman(x, y),
        top10_kendall=top_kendall(x, y),
        top10_in_top10=top_overlap_percent(x, y),
        top64_in_top5=top_hits(x, y),
    )


def _pairs(scores: ArrayLike, accuracies: ArrayLike, higher_is_better: bool) -> tuple[np.ndarray, np.ndarray]:
    """Oriented scores and accuracies where both are finite."""
    x = oriented(scores, higher_is_better)
    y = np.asarray(accuracies, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape:
        raise NasError(
            f"scores and accuracies must be 1-D arrays of equal length, got shapes {x.shape} and {y.shape}"
        )
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _correlation(function: Callable[[np.ndarray, np.ndarray], Any], x: np.ndarray, y: np.ndarray) -> float:
    """``function(x, y)``'s statistic, NaN when it is undefined (too few or constant values)."""
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(function(x, y).statistic)


def _top_by_accuracy(x: np.ndarray, y: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The pairs whose accuracy is at least the ``k``-th best, ``k = top_count(len, fraction)``."""
    if len(y) == 0:
        return x, y
    k = top_count(len(y), fraction)
    threshold = np.sort(y)[::-1][k - 1]
    keep = y >= threshold
    return x[keep], y[keep]


def _membership(values: np.ndarray, k: int) -> np.ndarray:
    """Each value's probability of being among the ``k`` largest when ties are broken at random."""
    weights = np.zeros(len(values))
    if k <= 0:
        return weights
    threshold = np.sort(values)[::-1][k - 1]
    above = values > threshold
    tied = values == threshold
    weights[above] = 1.0
    weights[tied] = (k - np.count_nonzero(above)) / np.count_nonzero(tied)
    return weights


def _expected_overlap(x: np.ndarray, k_x: int, y: np.ndarray, k_y: int) -> float:
    """Expected size of (top ``k_x`` by ``x``) ∩ (top ``k_y`` by ``y``) under random tie-breaking."""
    return float(np.sum(_membership(x, k_x) * _membership(y, k_y)))


def oriented_scores(
    scores: Mapping[str, ArrayLike], directions: Mapping[str, bool], what: str
) -> dict[str, np.ndarray]:
    """Each proxy's scores as a float64 array with higher better (lower-is-better ones negated).

    The arrays must be 1-D and of equal length; ``what`` names the combination in the
    :class:`NasError` otherwise (e.g. ``"vote"``), and when ``scores`` is empty or a proxy has
    no direction.
    """
    if not scores:
        raise NasError(f"{what} needs at least one proxy")
    missing = sorted(set(scores) - set(directions))
    if missing:
        raise NasError(f"no direction (higher_is_better) given for proxy {missing[0]!r}")
    arrays = {name: np.asarray(values, dtype=np.float64) for name, values in scores.items()}
    shapes = {values.shape for values in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise NasError(f"{what} needs 1-D score arrays of equal length, got shapes {sorted(shapes)}")
    return {name: values if directions[name] else -values for name, values in arrays.items()}
