"""Seeded bootstrap confidence intervals for rank correlations, and for differences between proxies.

A comparison of proxies on a sample of architectures is itself a sample: another 1,000
architectures would give other correlations. The bootstrap estimates how much: draw the
architectures with replacement ``resamples`` times, recompute the statistic on each draw and
take the central ``level`` share of the values (the percentile interval). The draws are
seeded, so a report is reproducible.

A **paired** bootstrap answers "is proxy A better than proxy B": both are recomputed on the
same draws, and the interval is that of the difference. When it excludes zero, the sample
supports the difference at that level.

Within one draw an architecture drawn twice is two tied observations (average ranks), as
usual for rank statistics under the bootstrap.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
from scipy import stats

from nas.errors import NasError

#: default number of bootstrap draws
RESAMPLES = 1000
#: default coverage of an interval
LEVEL = 0.95
#: draws ranked at once (bounds memory: CHUNK * n values per array)
_CHUNK = 100
#: largest sample whose Kendall draws use the n x n pair matrix (8 * n^2 bytes: 50 MB at 2,500)
_KENDALL_MATRIX_LIMIT = 2500


@dataclass(frozen=True)
class Interval:
    """A statistic on the whole sample, and its bootstrap percentile interval (NaN when undefined)."""

    value: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        """Whether the whole interval lies on one side of zero."""
        return self.low > 0 or self.high < 0


def draws(n: int, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """``resamples`` rows of ``n`` indices drawn with replacement from ``range(n)``, seeded."""
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise NasError(f"the number of bootstrap resamples must be a positive integer, got {resamples!r}")
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n)) if n else np.zeros((resamples, 0), int)


def spearman_draws(x: np.ndarray, y: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Spearman's rho of ``(x, y)`` on each row of ``indices`` (NaN where a side is constant)."""
    out = np.empty(len(indices))
    for start in range(0, len(indices), _CHUNK):
        rows = indices[start : start + _CHUNK]
        out[start : start + len(rows)] = _row_pearson(
            stats.rankdata(x[rows], axis=1), stats.rankdata(y[rows], axis=1)
        )
    return out


def kendall_draws(x: np.ndarray, y: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of ``(x, y)`` on each row of ``indices`` (NaN where a side is constant).

    Up to :data:`_KENDALL_MATRIX_LIMIT` points, all draws at once: a draw is the sample with
    multiplicities ``w`` (how often each point was drawn), and with the pair matrix
    ``S[i, j] = sign(x_i - x_j) * sign(y_i - y_j)`` its concordant minus discordant pairs are
    ``w @ S @ w / 2`` (copies of one point are tied pairs, ``S[i, i] = 0``); the pairs tied in
    ``x`` are ``(sum over groups of equal x of (group weight)^2 - n) / 2``, likewise ``y``. This is
    exactly scipy's tau-b of the drawn values, as one matrix product instead of a loop.
    """
    n = len(x)
    if n > _KENDALL_MATRIX_LIMIT:
        return np.array([_kendall(x[row], y[row]) for row in indices])
    out = np.full(len(indices), np.nan)
    if n < 2:
        return out
    pairs = np.sign(x[:, None] - x[None, :]) * np.sign(y[:, None] - y[None, :])
    x_groups, y_groups = np.unique(x, return_inverse=True)[1], np.unique(y, return_inverse=True)[1]
    total = n * (n - 1) / 2.0
    for start in range(0, len(indices), _CHUNK):
        rows = indices[start : start + _CHUNK]
        weights = _multiplicities(rows, n)
        difference = 0.5 * np.einsum("ri,ri->r", weights @ pairs, weights)
        tied_x = (_group_squares(weights, x_groups) - n) / 2.0
        tied_y = (_group_squares(weights, y_groups) - n) / 2.0
        denominator = np.sqrt((total - tied_x) * (total - tied_y))
        with np.errstate(invalid="ignore", divide="ignore"):
            tau = np.where(denominator > 0, difference / denominator, np.nan)
        out[start : start + len(rows)] = np.clip(tau, -1.0, 1.0)
    return out


def _multiplicities(rows: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``range(n)`` occurs in each row, as float64 (rows x n)."""
    offsets = (np.arange(len(rows)) * n)[:, None]
    return np.bincount((rows + offsets).ravel(), minlength=len(rows) * n).reshape(len(rows), n).astype(np.float64)


def _group_squares(weights: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per row, the sum over groups (equal values) of the squared total weight of the group."""
    sums = np.zeros((len(weights), int(groups.max()) + 1))
    np.add.at(sums.T, groups, weights.T)
    return (sums * sums).sum(axis=1)


def interval(value: float, samples: np.ndarray, level: float = LEVEL) -> Interval:
    """``value`` with the central ``level`` percentile interval of ``samples`` (NaN draws ignored).

    When more than half of the draws are undefined the interval is NaN: it would describe
    only the draws that happen to be defined.
    """
    finite = samples[np.isfinite(samples)]
    if math.isnan(value) or len(finite) * 2 <= len(samples):
        return Interval(value, math.nan, math.nan)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return Interval(value, float(low), float(high))


def correlation_intervals(
    x: np.ndarray, y: np.ndarray, indices: np.ndarray, level: float = LEVEL
) -> tuple[Interval, Interval, np.ndarray, np.ndarray]:
    """Spearman and Kendall intervals of ``(x, y)`` over the draws, and the draws' values (for pairing)."""
    rho, tau = spearman_draws(x, y, indices), kendall_draws(x, y, indices)
    return (
        interval(_statistic(stats.spearmanr, x, y), rho, level),
        interval(_statistic(stats.kendalltau, x, y), tau, level),
        rho,
        tau,
    )


def paired_differences(
    values: Mapping[str, float], samples: Mapping[str, np.ndarray], level: float = LEVEL
) -> dict[tuple[str, str], Interval]:
    """For every ordered pair ``(a, b)`` of names: ``values[a] - values[b]`` with its paired interval.

    ``samples[name]`` must hold the statistic of ``name`` on the same draws, in the same order.
    """
    names = list(values)
    return {
        (a, b): interval(values[a] - values[b], samples[a] - samples[b], level)
        for a in names
        for b in names
        if a != b
    }


def _statistic(function: Callable[..., object], x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(function(x, y).statistic)  # type: ignore[attr-defined]


def _kendall(x: np.ndarray, y: np.ndarray) -> float:
    return _statistic(stats.kendalltau, x, y)


def _row_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson's r of each row of ``a`` with the same row of ``b``; NaN where a row is constant or empty."""
    if a.shape[1] == 0:
        return np.full(a.shape[0], np.nan)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=1) / denominator
    return np.where(denominator > 0, np.clip(r, -1.0, 1.0), np.nan)
