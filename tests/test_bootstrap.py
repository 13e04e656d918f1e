"""Bootstrap intervals: the vectorised statistics equal scipy's, intervals cover the truth, pairs are paired."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from nas import bootstrap
from nas.errors import NasError


def test_draws_are_seeded_and_in_range() -> None:
    first, again, other = bootstrap.draws(50, 20, seed=4), bootstrap.draws(50, 20, seed=4), bootstrap.draws(50, 20, 5)
    assert first.shape == (20, 50) and first.min() >= 0 and first.max() < 50
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    with pytest.raises(NasError, match="positive integer"):
        bootstrap.draws(50, 0)


def test_vectorised_spearman_and_kendall_equal_scipy_row_by_row() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=80)
    y = np.round(x + rng.normal(size=80), 1)  # rounding makes ties, which both must average
    indices = bootstrap.draws(80, 25, seed=1)
    rho, tau = bootstrap.spearman_draws(x, y, indices), bootstrap.kendall_draws(x, y, indices)
    for row, r, t in zip(indices, rho, tau):
        # Pearson of average ranks, computed row-wise instead of one by one: float64 rounding only
        assert r == pytest.approx(stats.spearmanr(x[row], y[row]).statistic, abs=1e-12)
        assert t == pytest.approx(stats.kendalltau(x[row], y[row]).statistic, abs=1e-12)


@pytest.mark.parametrize("limit", [2500, 10])  # the pair-matrix path and the row-by-row path
def test_kendall_draws_with_ties_on_both_sides_equal_scipy(limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap, "_KENDALL_MATRIX_LIMIT", limit)
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=60), 1)
    y = np.round(x + rng.normal(size=60), 0)
    indices = np.vstack([bootstrap.draws(60, 30, seed=2), np.zeros((1, 60), dtype=int)])  # the last draw is constant
    tau = bootstrap.kendall_draws(x, y, indices)
    for row, t in zip(indices[:-1], tau[:-1]):
        # one matrix product sums integer pair counts exactly; only the final division rounds
        assert t == pytest.approx(stats.kendalltau(x[row], y[row]).statistic, abs=1e-12)
    assert math.isnan(tau[-1])


def test_constant_draws_are_nan_and_too_many_undefined_draws_give_no_interval() -> None:
    x = np.array([1.0, 2.0, 3.0])
    indices = np.array([[0, 0, 0], [0, 1, 2]])
    assert math.isnan(bootstrap.spearman_draws(x, x, indices)[0])
    assert bootstrap.spearman_draws(x, x, indices)[1] == pytest.approx(1.0)
    result = bootstrap.interval(1.0, np.array([np.nan, np.nan, 1.0]))
    assert result.value == 1.0 and math.isnan(result.low) and math.isnan(result.high)


def test_intervals_cover_the_population_spearman_about_95_percent_of_the_time() -> None:
    """Bivariate normal samples with r = 0.6, whose population Spearman is (6 / pi) asin(r / 2)."""
    r = 0.6
    truth = 6 / math.pi * math.asin(r / 2)
    rng = np.random.default_rng(7)
    covered = 0
    trials = 120
    for trial in range(trials):
        x = rng.normal(size=80)
        y = r * x + math.sqrt(1 - r * r) * rng.normal(size=80)
        value = stats.spearmanr(x, y).statistic
        found = bootstrap.interval(value, bootstrap.spearman_draws(x, y, bootstrap.draws(80, 400, seed=trial)))
        covered += found.low <= truth <= found.high
    # binomial(120, 0.95) lies in [104, 119] with probability > 0.999; percentile intervals
    # under-cover slightly at n = 80, hence the lower bound's slack
    assert 100 <= covered <= 119, covered


def test_paired_differences_cancel_shared_noise() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=200)
    shared = y + 0.7 * rng.normal(size=200)  # an error both proxies make, as related proxies do
    good = shared + 0.1 * rng.normal(size=200)
    worse = shared + 0.6 * rng.normal(size=200)
    indices = bootstrap.draws(200, 500, seed=0)
    samples = {name: bootstrap.spearman_draws(v, y, indices) for name, v in (("good", good), ("worse", worse))}
    values = {name: stats.spearmanr(v, y).statistic for name, v in (("good", good), ("worse", worse))}
    differences = bootstrap.paired_differences(values, samples)
    ahead = differences[("good", "worse")]
    assert ahead.value == pytest.approx(values["good"] - values["worse"])
    assert ahead.excludes_zero and ahead.low > 0
    behind = differences[("worse", "good")]
    assert behind.value == pytest.approx(-ahead.value) and behind.high < 0
    # pairing cancels the noise both share (the same y): independent draws for the two proxies
    # give a much wider interval for the same difference
    unpaired = samples["good"] - bootstrap.spearman_draws(worse, y, bootstrap.draws(200, 500, seed=1))
    wide = bootstrap.interval(ahead.value, unpaired)
    assert ahead.high - ahead.low < 0.8 * (wide.high - wide.low)
    same = bootstrap.paired_differences({"a": 0.5, "b": 0.5}, {"a": samples["good"], "b": samples["good"]})
    assert same[("a", "b")] == bootstrap.Interval(0.0, 0.0, 0.0) and not same[("a", "b")].excludes_zero
