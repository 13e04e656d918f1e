"""The comparison metrics against cases worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nas import metrics
from nas.errors import NasError

NAN, INF = math.nan, math.inf


def test_spearman_and_kendall_by_hand() -> None:
    # ranks of the scores 1 2 3 4 5, of the accuracies 2 1 4 3 5: d = 1 -1 1 -1 0, sum d^2 = 4,
    # rho = 1 - 6 * 4 / (5 * (25 - 1)) = 0.8.
    # Of the 10 pairs only (0, 1) and (2, 3) are discordant: tau = (8 - 2) / 10 = 0.6.
    scores, acc = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5]
    assert metrics.spearman(scores, acc) == pytest.approx(0.8)
    assert metrics.kendall(scores, acc) == pytest.approx(0.6)


def test_direction_negates_lower_is_better_proxies() -> None:
    scores, acc = [5, 4, 3, 2, 1], [10, 20, 30, 40, 50]
    assert metrics.spearman(scores, acc, higher_is_better=False) == pytest.approx(1.0)
    assert metrics.kendall(scores, acc, higher_is_better=False) == pytest.approx(1.0)
    assert metrics.spearman(scores, acc, higher_is_better=True) == pytest.approx(-1.0)
    assert list(metrics.oriented([1.0, -2.0], higher_is_better=False)) == [-1.0, 2.0]


def test_ties_use_average_ranks_and_tau_b() -> None:
    # scores 1 1 2 3 -> ranks 1.5 1.5 3 4; accuracies 1 2 3 4 -> ranks 1 2 3 4 (means 2.5).
    # centred: x = -1 -1 .5 1.5, y = -1.5 -.5 .5 1.5; sum xy = 4.5, sum x^2 = 4.5, sum y^2 = 5:
    # rho = 4.5 / sqrt(4.5 * 5) = sqrt(0.9).
    # tau-b: 5 concordant pairs, 0 discordant, 1 pair tied in the scores only:
    # tau = 5 / sqrt((6 - 1) * (6 - 0)) = 5 / sqrt(30).
    scores, acc = [1, 1, 2, 3], [1, 2, 3, 4]
    assert metrics.spearman(scores, acc) == pytest.approx(math.sqrt(0.9))
    assert metrics.kendall(scores, acc) == pytest.approx(5 / math.sqrt(30))


def test_nan_and_infinite_scores_are_omitted_pairwise() -> None:
    # left: scores 1 3 5 2 with accuracies 1 3 5 6 -> ranks 1 3 4 2 vs 1 2 3 4,
    # d = 0 1 1 -2, sum d^2 = 6, rho = 1 - 6 * 6 / (4 * 15) = 0.4.
    scores = [1, NAN, 3, INF, 5, 2, 7]
    acc = [1, 2, 3, 4, 5, 6, NAN]
    assert metrics.count_missing(scores) == 2
    assert metrics.spearman(scores, acc) == pytest.approx(0.4)
    result = metrics.evaluate(scores, acc)
    assert result.pairs == 4 and result.missing == 2


def test_undefined_correlations_are_nan() -> None:
    assert math.isnan(metrics.spearman([1, 1, 1], [1, 2, 3]))  # constant scores
    assert math.isnan(metrics.kendall([1, NAN, NAN], [1, 2, 3]))  # one pair left
    empty = metrics.evaluate([NAN, NAN], [1, 2])
    assert empty.pairs == 0 and empty.missing == 2
    assert math.isnan(empty.spearman) and math.isnan(empty.top10_in_top10) and math.isnan(empty.top64_in_top5)


def _thirty() -> tuple[np.ndarray, np.ndarray]:
    """30 architectures with accuracies 1..30, scored by their accuracy except four."""
    acc = np.arange(1.0, 31.0)
    scores = acc.copy()
    scores[acc == 28], scores[acc == 29], scores[acc == 30] = 30.0, 28.0, 29.0
    scores[acc == 1] = 100.0  # the worst architecture gets the best score
    return scores, acc


def test_top10_correlations_by_hand() -> None:
    # top-10% of 30 by accuracy = accuracies 28 29 30, scored 30 28 29: ranks 3 1 2 vs 1 2 3,
    # d = 2 -1 -1, rho = 1 - 6 * 6 / (3 * 8) = -0.5; pairs (28,29) and (28,30) are discordant,
    # (29,30) concordant: tau = (1 - 2) / 3.
    scores, acc = _thirty()
    assert metrics.top_spearman(scores, acc) == pytest.approx(-0.5)
    assert metrics.top_kendall(scores, acc) == pytest.approx(-1 / 3)


def test_top10_overlap_by_hand() -> None:
    # top-3 by proxy: scores 100 (accuracy 1), 30 (accuracy 28), 29 (accuracy 30);
    # two of them are in the top-3 by accuracy: 2 / 3 = 66.7 %.
    scores, acc = _thirty()
    assert metrics.top_overlap_percent(scores, acc) == pytest.approx(200 / 3)
    # as a lower-is-better proxy its top-3 are accuracies 2 3 4: no hit.
    assert metrics.top_overlap_percent(scores, acc, higher_is_better=False) == 0.0


def test_top10_within_keeps_accuracy_ties_at_the_boundary() -> None:
    # 20 architectures, top-10% = 2; the 2nd best accuracy (17) is shared, so three are kept:
    # scores 1 2 3 with accuracies 17 17 18 -> ranks 1 2 3 vs 1.5 1.5 3; centred x = -1 0 1,
    # y = -.5 -.5 1: rho = 1.5 / sqrt(2 * 1.5) = sqrt(3) / 2.
    # tau-b: 2 concordant, 0 discordant, one pair tied in accuracy: 2 / sqrt(3 * 2).
    acc = np.array([*range(17), 17, 17, 18], dtype=float)
    scores = np.arange(20.0)
    scores[17:] = [1.0, 2.0, 3.0]
    assert metrics.top_spearman(scores, acc) == pytest.approx(math.sqrt(3) / 2)
    assert metrics.top_kendall(scores, acc) == pytest.approx(2 / math.sqrt(6))


def test_top64_in_top5_by_hand() -> None:
    # 200 architectures with accuracy = index; top-5% = accuracies 190..199 (10 of them).
    # Four of those (190..193) get negative scores; the proxy's top-64 are then
    # 199..194 (6) and 189..132 (58): 6 hits.
    acc = np.arange(200.0)
    scores = acc.copy()
    scores[190:194] = -acc[190:194]
    assert metrics.top_hits(scores, acc) == 6.0
    assert metrics.top_hits(-acc, acc) == 0.0
    assert metrics.top_hits(-acc, acc, higher_is_better=False) == 10.0


def test_overlaps_with_proxy_ties_are_expected_values() -> None:
    # 10 architectures, accuracy = index; the four best share one score.
    # top-1 by proxy is one of the four at random: the best-by-accuracy one with probability 1/4.
    # top-2 (count=2) against the top-20% by accuracy (indices 8, 9): each tied one is picked
    # with probability 2/4, so 8 and 9 are expected to give 0.5 + 0.5 = 1 hit.
    acc = np.arange(10.0)
    scores = np.array([0, 1, 2, 3, 4, 5, 9, 9, 9, 9], dtype=float)
    assert metrics.top_overlap_percent(scores, acc) == pytest.approx(25.0)
    assert metrics.top_hits(scores, acc, count=2, fraction=0.2) == pytest.approx(1.0)


def test_small_sets_take_everything_as_the_proxy_top() -> None:
    # 12 architectures: the top-5% is ceil(0.6) = 1 architecture, and the proxy's "top-64" is all 12.
    acc = np.arange(12.0)
    assert metrics.top_count(12, 0.05) == 1
    assert metrics.top_count(1000, 0.1) == 100
    assert metrics.top_hits(acc[::-1].copy(), acc) == 1.0


def test_evaluate_matches_the_single_metrics() -> None:
    scores, acc = _thirty()
    scores[5] = NAN
    result = metrics.evaluate(scores, acc, higher_is_better=True)
    assert result.pairs == 29 and result.missing == 1
    assert result.spearman == metrics.spearman(scores, acc)
    assert result.kendall == metrics.kendall(scores, acc)
    assert result.top10_spearman == metrics.top_spearman(scores, acc)
    assert result.top10_kendall == metrics.top_kendall(scores, acc)
    assert result.top10_in_top10 == metrics.top_overlap_percent(scores, acc)
    assert result.top64_in_top5 == metrics.top_hits(scores, acc)


def test_bad_input_is_a_nas_error() -> None:
    with pytest.raises(NasError, match="equal length"):
        metrics.spearman([1, 2, 3], [1, 2])
    with pytest.raises(NasError, match="top fraction"):
        metrics.top_overlap_percent([1, 2], [1, 2], fraction=0.0)
