"""The vote, the option parsing and ``nas compare`` end to end on a few NB201 architectures."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from scipy import stats
import pytest

from nas import metrics
from nas.cli import main
from nas.comparing import (
    Column,
    CompareConfig,
    batch_size_for,
    parse_batch_sizes,
    parse_columns,
    parse_settings,
    vote,
)
from nas.errors import NasError
from nas.proxies import PROXIES

NAN = math.nan


def test_vote_averages_fractional_ranks_by_hand() -> None:
    # a (higher is better) ranks 1 2 3 4 of 4 -> 1/4 2/4 3/4 1.
    # b (lower is better) is negated first: -40 -30 -20 -10 -> the same fractional ranks.
    # c skips its NaN: 5 1 3 are ranked 3 1 2 of 3 -> 1, 1/3, 2/3 for architectures 1, 2, 3.
    # vote: arch 0 = (1/4 + 1/4) / 2; arch 1 = (1/2 + 1/2 + 1) / 3; arch 2 = (3/4 + 3/4 + 1/3) / 3;
    # arch 3 = (1 + 1 + 2/3) / 3.
    scores = {
        "a": np.array([1.0, 2.0, 3.0, 4.0]),
        "b": np.array([40.0, 30.0, 20.0, 10.0]),
        "c": np.array([NAN, 5.0, 1.0, 3.0]),
    }
    result = vote(scores, {"a": True, "b": False, "c": True})
    assert result == pytest.approx([0.25, 2 / 3, (1.5 + 1 / 3) / 3, 8 / 9])


def test_vote_ties_and_missing_everywhere() -> None:
    # ties share the average rank: 1 1 2 -> ranks 1.5 1.5 3 of 3 -> 0.5 0.5 1.
    # the last architecture has no score from any proxy: NaN.
    result = vote({"a": np.array([1.0, 1.0, 2.0, NAN]), "b": np.array([0.0, 0.0, 7.0, math.inf])}, {"a": True, "b": True})
    assert result[:3] == pytest.approx([0.5, 0.5, 1.0])
    assert math.isnan(result[3])


def test_vote_orders_like_the_mean_rank_without_nans() -> None:
    rng = np.random.default_rng(0)
    scores = {name: rng.normal(size=50) for name in "abc"}
    directions = {"a": True, "b": False, "c": True}
    mean_rank = np.mean([np.argsort(np.argsort(s if directions[n] else -s)) for n, s in scores.items()], axis=0)
    # each proxy's fractional rank is (0-based rank + 1) / 50, so the vote is (mean rank + 1) / 50
    assert vote(scores, directions) == pytest.approx((mean_rank + 1) / 50)


def test_vote_rejects_bad_input() -> None:
    with pytest.raises(NasError, match="direction"):
        vote({"a": np.ones(3)}, {})
    with pytest.raises(NasError, match="equal length"):
        vote({"a": np.ones(3), "b": np.ones(4)}, {"a": True, "b": True})


def test_parse_columns() -> None:
    assert parse_columns("epsilon, synflow,vote") == [
        Column("epsilon"),
        Column("synflow"),
        Column("vote", ("epsilon", "synflow")),
    ]
    assert parse_columns("epsilon,vote(synflow+snip)")[1] == Column("vote(synflow+snip)", ("synflow", "snip"))
    with pytest.raises(NasError, match="did you mean 'synflow'"):
        parse_columns("synflw,snip")
    with pytest.raises(NasError, match="at least two"):
        parse_columns("epsilon,vote")
    with pytest.raises(NasError, match="listed twice"):
        parse_columns("snip,snip")


def test_batch_sizes_and_settings() -> None:
    assert parse_batch_sizes(["snip=32", "128"]) == (128, {"snip": 32})
    for bad in ("x", "0", "=8", "snip=-1"):
        with pytest.raises(NasError, match="--batch-size"):
            parse_batch_sizes([bad])
    config = CompareConfig("nb201", "cifar10", (), 10, batch_sizes={"snip": 32})
    assert batch_size_for("snip", config) == 32
    assert batch_size_for("epsilon", config) == PROXIES.get("epsilon").batch_size == 256
    assert batch_size_for("naswot", config) == 128
    assert parse_settings(["synflow.precision=float32"]) == {"synflow": {"precision": "float32"}}
    with pytest.raises(NasError, match="proxy.key=value"):
        parse_settings(["synflow=float32"])


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    return float(stats.spearmanr(x, y).statistic)


@pytest.mark.slow
def test_compare_end_to_end(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """epsilon at a batch of 8 leaves NaNs: own, common and NaN-worst sets must differ as defined."""
    from nas.benchmarks import open_table
    from nas.proxies import PROXIES

    report = tmp_path / "report"
    status = main(
        ["compare", "--space", "nb201", "--dataset", "cifar10", "--proxies", "epsilon,synflow,vote",
         "--sample", "16", "--seed", "3", "--batch-size", "8", "--set", "synflow.precision=float32",
         "--seeds", "0,1", "--bootstrap", "200", "--report", str(report)]
    )  # fmt: skip
    assert status == 0
    printed = capsys.readouterr().out
    names = ["epsilon", "synflow", "vote", "params", "flops"]  # the baselines are added unasked
    assert printed.startswith("| proxy |") and len(printed.strip().splitlines()) == 2 + len(names)

    rows = _read_csv(report / "scores.csv")
    assert len(rows) == 16 and len({row["arch"] for row in rows}) == 16
    table = open_table("nb201", data_dir)
    accuracies = np.array([float(row["test_acc"]) for row in rows])
    assert accuracies.tolist() == [table.lookup(row["arch"], "cifar10", "test_acc") for row in rows]
    columns = {name: np.array([float(row[name]) for row in rows]) for name in names}
    directions = {name: PROXIES.get(name).higher_is_better for name in names if name != "vote"}
    members = {k: columns[k] for k in ("epsilon", "synflow")}
    assert columns["vote"] == pytest.approx(vote(members, directions), nan_ok=True)
    nans = np.isnan(columns["epsilon"])
    assert 0 < nans.sum() < 16, "the test needs epsilon NaNs at a batch of 8"
    common = ~np.any([np.isnan(v) for v in columns.values()], axis=0)

    summary = {row["proxy"]: row for row in _read_csv(report / "comparison.csv")}
    assert list(summary) == names
    for name, scores in columns.items():
        row = summary[name]
        finite = ~np.isnan(scores)
        assert int(row["asked"]) == 16 and int(row["scored"]) == finite.sum() == int(row["own_pairs"])
        assert float(row["coverage"]) == pytest.approx(finite.sum() / 16)
        expected = metrics.evaluate(scores, accuracies, directions.get(name, True))
        assert float(row["own_spearman"]) == pytest.approx(expected.spearman)
        assert float(row["own_top64_in_top5"]) == pytest.approx(expected.top64_in_top5)
        on_common = metrics.evaluate(scores[common], accuracies[common], directions.get(name, True))
        assert int(row["common_pairs"]) == common.sum()
        for field in ("spearman", "kendall", "top10_spearman", "top10_in_top10_percent"):
            value = getattr(on_common, {"top10_in_top10_percent": "top10_in_top10"}.get(field, field))
            assert float(row[f"common_{field}"]) == pytest.approx(value, nan_ok=True), (name, field)
        oriented = scores if directions.get(name, True) else -scores
        worst = np.where(finite, oriented, np.nanmin(oriented) - 1)  # every NaN tied below every score
        assert float(row["nan_worst_spearman"]) == pytest.approx(_spearman(worst, accuracies))
        low, high = float(row["own_spearman_low"]), float(row["own_spearman_high"])
        assert -1 <= low <= high <= 1
        seeds = [float(row["own_spearman_mean"]), float(row["own_spearman_sd"])]
        assert all(np.isfinite(seeds)) and seeds[1] >= 0
    # the baselines do not depend on the seed
    assert float(summary["params"]["own_spearman_sd"]) == 0.0
    assert summary["synflow"]["batch_size"] == "8" and summary["vote"]["batch_size"] == ""

    differences = _read_csv(report / "differences.csv")
    assert len(differences) == len(names) * (len(names) - 1)
    pair = next(r for r in differences if (r["a"], r["b"]) == ("synflow", "epsilon"))
    expected = float(summary["synflow"]["common_spearman"]) - float(summary["epsilon"]["common_spearman"])
    assert float(pair["spearman_difference"]) == pytest.approx(expected)
    assert float(pair["spearman_low"]) <= float(pair["spearman_high"])

    text = (report / "comparison.md").read_text()
    assert printed.strip() in text and "--proxies epsilon,synflow,vote" in text and "seed 3" in text
    assert f"Common set: {common.sum()} architectures" in text and "Spread over initialisation and batch seeds 0, 1" in text
    for name in names:
        png = (report / f"scatter_{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--proxies", "synflw", "--sample", "5"], "unknown proxy 'synflw'"),
        (["--proxies", "params", "--sample", "20000"], "15625"),
        (["--proxies", "params", "--sample", "5", "--metric", "test_accuracy"], "no metric 'test_accuracy'"),
        (["--proxies", "params", "--sample", "5", "--seeds", "0,x"], "--seeds expects comma-separated integers"),
        (["--proxies", "params", "--sample", "5", "--seeds", "1,1"], "--seeds lists a seed twice"),
        (["--proxies", "params", "--sample", "5", "--bootstrap", "-1"], "bootstrap resamples must be 0 or more"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", "--report", str(tmp_path / "r"), *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nas: error:") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
