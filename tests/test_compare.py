"""The vote, the option parsing and ``nas compare`` end to end on a few NB201 architectures."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from nas import metrics
from nas.cli import main
from nas.compare import (
    DEFAULT_BATCH_SIZES,
    Column,
    CompareConfig,
    batch_size_for,
    parse_batch_sizes,
    parse_columns,
    parse_settings,
    vote,
)
from nas.errors import NasError

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
    assert batch_size_for("epsilon", config) == DEFAULT_BATCH_SIZES["epsilon"] == 256
    assert batch_size_for("naswot", config) == 128
    assert parse_settings(["synflow.precision=float32"]) == {"synflow": {"precision": "float32"}}
    with pytest.raises(NasError, match="proxy.key=value"):
        parse_settings(["synflow=float32"])


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_compare_end_to_end(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nas.benchmarks import open_table
    from nas.proxies import PROXIES

    report = tmp_path / "report"
    status = main(
        ["compare", "--space", "nb201", "--dataset", "cifar10", "--proxies", "params,flops,synflow,vote",
         "--sample", "12", "--seed", "3", "--batch-size", "8", "--set", "synflow.precision=float32",
         "--report", str(report)]
    )  # fmt: skip
    assert status == 0
    printed = capsys.readouterr().out
    assert printed.startswith("| proxy |") and len(printed.strip().splitlines()) == 2 + 4

    rows = _read_csv(report / "scores.csv")
    assert len(rows) == 12 and len({row["arch"] for row in rows}) == 12
    table = open_table("nb201", data_dir)
    accuracies = np.array([float(row["test_acc"]) for row in rows])
    assert accuracies.tolist() == [table.lookup(row["arch"], "cifar10", "test_acc") for row in rows]
    columns = {name: np.array([float(row[name]) for row in rows]) for name in ("params", "flops", "synflow", "vote")}
    assert columns["params"].tolist() == [float(row["params"]) for row in rows]
    directions = {name: PROXIES.get(name).higher_is_better for name in ("params", "flops", "synflow")}
    assert columns["vote"] == pytest.approx(vote({k: columns[k] for k in directions}, directions), nan_ok=True)

    summary = {row["proxy"]: row for row in _read_csv(report / "comparison.csv")}
    assert list(summary) == ["params", "flops", "synflow", "vote"]
    for name, scores in columns.items():
        expected = metrics.evaluate(scores, accuracies, directions.get(name, True))
        row = summary[name]
        assert int(row["pairs"]) == expected.pairs and int(row["nans"]) == expected.missing
        for field, value in (
            ("spearman", expected.spearman),
            ("kendall", expected.kendall),
            ("top10_spearman", expected.top10_spearman),
            ("top10_kendall", expected.top10_kendall),
            ("top10_in_top10_percent", expected.top10_in_top10),
            ("top64_in_top5", expected.top64_in_top5),
        ):
            assert float(row[field]) == pytest.approx(value, nan_ok=True), (name, field)
    assert float(summary["params"]["seconds_per_arch"]) >= 0
    assert summary["synflow"]["batch_size"] == "8" and summary["vote"]["batch_size"] == ""

    text = (report / "comparison.md").read_text()
    assert printed.strip() in text and "--proxies params,flops,synflow,vote" in text and "seed 3" in text
    for name in ("params", "flops", "synflow", "vote"):
        png = (report / f"scatter_{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--proxies", "synflw", "--sample", "5"], "unknown proxy 'synflw'"),
        (["--proxies", "params", "--sample", "20000"], "15625"),
        (["--proxies", "params", "--sample", "5", "--metric", "test_accuracy"], "no metric 'test_accuracy'"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", "--report", str(tmp_path / "r"), *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nas: error:") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
