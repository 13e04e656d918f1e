"""Rank combinations: the rank ensemble by hand, parsing, and real ``nas compare`` and ``nas search`` runs on NB201."""

from __future__ import annotations

import csv
import math
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dummy_space as dummy
import nas
from nas.benchmarks import open_table
from nas.benchmarks.base import Oracle
from nas.cli import main
from nas.comparing import Column, parse_columns
from nas.ensembles import combine, parse_combination, rank_ensemble, vote
from nas.errors import NasError
from nas.experiment import parse_config, round_seed, run_experiment
from nas.proxies.aznas import AZNAS_MEMBERS, aznas_aggregate
from nas.reports.search import write_reports
from nas.search import ArchitectureCache, CachedProxyScores, SearchContext, create_strategy
from nas.search.base import CombinedProxyScores
from nas.spaces import create_space
from nas.store import ScoreStore

NAN = math.nan
LOG = math.log


def test_rank_ensemble_by_hand_with_a_nan_member() -> None:
    # a (higher is better) ranks 1 2 3 4 of 4; b (lower is better) is negated first: the same ranks.
    # c skips its NaN: 5 1 3 rank 3 1 2 of 3. Each architecture: 3 members x the mean of its log(rank / n).
    scores = {
        "a": np.array([1.0, 2.0, 3.0, 4.0]),
        "b": np.array([40.0, 30.0, 20.0, 10.0]),
        "c": np.array([NAN, 5.0, 1.0, 3.0]),
    }
    expected = [
        3 * (LOG(1 / 4) + LOG(1 / 4)) / 2,  # c did not score it: the mean of a's and b's terms
        LOG(2 / 4) + LOG(2 / 4) + LOG(3 / 3),
        LOG(3 / 4) + LOG(3 / 4) + LOG(1 / 3),
        LOG(4 / 4) + LOG(4 / 4) + LOG(2 / 3),
    ]
    assert rank_ensemble(scores, {"a": True, "b": False, "c": True}) == pytest.approx(expected)


def test_ties_share_the_average_rank_and_all_nan_gives_nan() -> None:
    # a: 1 1 2 -> ranks 1.5 1.5 3 of 3; b: 0 0 7 the same; the last architecture has no score at all
    scores = {"a": np.array([1.0, 1.0, 2.0, NAN]), "b": np.array([0.0, 0.0, 7.0, math.inf])}
    result = rank_ensemble(scores, {"a": True, "b": True})
    assert result[:3] == pytest.approx([2 * LOG(0.5), 2 * LOG(0.5), 0.0])
    assert math.isnan(result[3])
    # a member that scored nothing adds nothing; none at all gives NaN everywhere
    assert rank_ensemble({**scores, "c": np.full(4, NAN)}, {"a": True, "b": True, "c": True})[:3] == pytest.approx(
        1.5 * result[:3]
    )
    assert np.isnan(rank_ensemble({"a": np.full(3, NAN), "b": np.full(3, NAN)}, {"a": True, "b": True})).all()


def test_a_nan_member_keeps_the_architecture_where_aznas_ranks_it_worst() -> None:
    # architecture 0 is the best of both members that scored it; the third could not score it
    scores = {"a": np.array([9.0, 1.0, 2.0]), "b": np.array([9.0, 2.0, 1.0]), "c": np.array([NAN, 1.0, 2.0])}
    directions = {name: True for name in scores}
    ensemble = rank_ensemble(scores, directions)
    assert ensemble[0] == 0.0 and np.argmax(ensemble) == 0
    authors = combine("aznas", scores, directions)
    assert authors == pytest.approx(aznas_aggregate(scores, directions))
    assert authors[0] == pytest.approx(2 * LOG(1.0) + LOG(1 / 3))  # the NaN ties at the bottom with rank 1 of 3
    assert np.isfinite(vote(scores, directions)).all()


def test_without_nans_the_ensemble_is_the_aznas_aggregate_and_directions_negate() -> None:
    rng = np.random.default_rng(0)
    scores = {name: rng.normal(size=40) for name in "abcd"}
    directions = {"a": True, "b": False, "c": True, "d": False}
    assert rank_ensemble(scores, directions) == pytest.approx(aznas_aggregate(scores, directions))
    flipped = {name: values if directions[name] else -values for name, values in scores.items()}
    assert rank_ensemble(flipped, {name: True for name in scores}) == pytest.approx(rank_ensemble(scores, directions))
    with pytest.raises(NasError, match="equal length"):
        rank_ensemble({"a": np.ones(3), "b": np.ones(4)}, {"a": True, "b": True})


def test_the_value_depends_on_the_set_ranked() -> None:
    scores = {"a": np.array([1.0, 2.0, 3.0]), "b": np.array([3.0, 2.0, 1.0])}
    on_three = rank_ensemble(scores, {"a": True, "b": True})
    on_two = rank_ensemble({k: v[1:] for k, v in scores.items()}, {"a": True, "b": True})
    assert on_three[1] == pytest.approx(2 * LOG(2 / 3)) and on_two[0] == pytest.approx(LOG(1 / 2))


def test_parse_columns_with_ensembles_and_aznas() -> None:
    columns = parse_columns("epsilon,synflow,ensemble(meco+flops),aznas,ensemble")
    assert columns[2] == Column("ensemble(meco+flops)", ("meco", "flops")) and columns[2].kind == "ensemble"
    assert columns[3] == Column("aznas", AZNAS_MEMBERS) and columns[3].kind == "aznas"
    assert columns[4] == Column("ensemble", ("epsilon", "synflow"))
    assert columns[0].kind == "proxy" and not columns[0].is_combination
    assert parse_combination("synflow") is None


@pytest.mark.parametrize(
    ("proxies", "message"),
    [
        ("ensemble(synflow)", "'ensemble(synflow)' needs at least two different proxies to combine"),
        ("ensemble(synflow+synflow)", "needs at least two different proxies"),
        ("ensemble(nosuch+snip)", "'ensemble(nosuch+snip)': unknown proxy 'nosuch'"),
        ("aznas(synflow+snip)", "aznas takes no members"),
    ],
)
def test_bad_combinations_are_one_line_and_status_2(
    proxies: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(NasError, match=re.escape(message)):
        parse_columns(proxies)
    assert main(["compare", "--proxies", proxies, "--sample", "5", "--report", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nas: error:") and message in err and len(err.strip().splitlines()) == 1


def test_experiment_proxies_may_be_combinations(data_dir: Path) -> None:
    base = {"space": "nb201", "dataset": "cifar10", "metric": "valid_acc", "budget": 5,
            "strategies": [{"name": "zc", "strategy": "zero_cost", "settings": {"n": 5}}]}  # fmt: skip
    config = parse_config({**base, "proxy": {"name": "aznas"}}, "x.yaml", data_dir=data_dir)
    assert config.proxy is not None and config.proxy.members == AZNAS_MEMBERS and config.proxy.kind == "aznas"
    assert config.to_dict()["proxy"]["settings"]["az_trainability"]["init"] == "kaiming"
    for proxy, message in [
        ({"name": "ensemble(synflow)"}, "x.yaml: proxy.name: 'ensemble(synflow)' needs at least two different proxies"),
        ({"name": "vote"}, "x.yaml: proxy.name: 'vote' needs at least two different proxies"),
        ({"name": "ensemble(nosuch+snip)"}, "x.yaml: proxy.name: 'ensemble(nosuch+snip)': unknown proxy 'nosuch'"),
        ({"name": "vote(synflow+snip)", "settings": {"naswot": {}}}, "x.yaml: proxy.settings: 'naswot' is not a member"),
        ({"name": "vote(synflow+snip)", "settings": {"snip": {"x": 1}}}, "x.yaml: proxy.settings.snip: unknown key 'x'"),
    ]:
        with pytest.raises(NasError, match=re.escape(message)) as info:
            parse_config({**base, "proxy": proxy}, "x.yaml", data_dir=data_dir)
        assert "\n" not in str(info.value)


def test_combined_scores_rank_exactly_the_architectures_of_each_call() -> None:
    space = create_space("nb201")
    cache = ArchitectureCache(space)
    fetched: list[int] = []

    def member(values: dict[int, float]) -> CachedProxyScores:
        def raw(archs: list[Any]) -> np.ndarray:
            fetched.append(len(archs))
            return np.array([values[space.index_of(a)] for a in archs])

        return CachedProxyScores(cache, raw)

    archs = [space.arch_at(i) for i in (0, 1, 2)]
    scores = CombinedProxyScores(
        {"a": member({0: 1.0, 1: 2.0, 2: 3.0}), "b": member({0: NAN, 1: 1.0, 2: 0.5})},
        lambda s: rank_ensemble(s, {"a": True, "b": True}),
    )
    assert scores(archs) == pytest.approx([2 * LOG(1 / 3), LOG(2 / 3) + 0.0, 0.0 + LOG(1 / 2)])
    assert scores(archs[:2]) == pytest.approx([2 * LOG(1 / 2), 0.0])  # ranked among the two only
    assert fetched == [3, 3]  # each member fetched each architecture once


class _MutationRecorder(dummy.DummySpace):
    """The dummy space, recording the parents passed to ``mutate``."""

    def __init__(self) -> None:
        self.parents: list[Any] = []

    def mutate(self, arch: Any, rng: random.Random) -> Any:
        self.parents.append(arch)
        return super().mutate(arch, rng)


def test_evolution_ranks_the_pool_then_each_tournament_by_an_ensemble_over_them() -> None:
    space = _MutationRecorder()
    calls: list[list[Any]] = []

    def member(score: Any) -> Any:
        return lambda archs: np.array([score(a) for a in archs], dtype=np.float64)

    combined = CombinedProxyScores(
        {"quality": member(dummy.proxy_value), "first": member(lambda a: float(a[0]))},
        lambda s: rank_ensemble(s, {"quality": True, "first": True}),
    )

    def recorded(archs: Any) -> np.ndarray:
        calls.append(list(archs))
        return combined(archs)

    oracle = Oracle(dummy.DummyTable(), "cifar10", "valid_acc", 30)
    context = SearchContext(space, oracle, recorded, random.Random(4))
    create_strategy("evolution", population=6, tournament=3, warmup=True, pool=40, move="parent").run(context)
    assert len(calls[0]) == 40 and [len(c) for c in calls[1:]] == [3] * (30 - 6)
    for contestants, parent in zip(calls[1:], space.parents):
        assert parent == contestants[int(np.nanargmax(combined(contestants)))]


# --- real NAS-Bench-201 runs -----------------------------------------------------------------

ENSEMBLE = "ensemble(synflow+epsilon+flops)"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_compare_on_nb201_has_a_full_coverage_ensemble_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """epsilon at a batch of 16 leaves NaNs; the ensemble still scores every architecture."""
    report = tmp_path / "report"
    status = main(
        ["compare", "--space", "nb201", "--dataset", "cifar10", "--proxies", f"params,flops,synflow,epsilon,{ENSEMBLE}",
         "--sample", "12", "--seed", "1", "--batch-size", "16", "--bootstrap", "0", "--executor", "serial",
         "--report", str(report)]
    )  # fmt: skip
    assert status == 0
    printed = capsys.readouterr().out
    assert f"| {ENSEMBLE} | - | 100.0% (12) |" in printed
    rows = _read_csv(report / "scores.csv")
    members = {name: np.array([float(row[name]) for row in rows]) for name in ("synflow", "epsilon", "flops")}
    assert 0 < np.isnan(members["epsilon"]).sum() < 12, "the test needs epsilon NaNs at a batch of 16"
    ensemble = np.array([float(row[ENSEMBLE]) for row in rows])
    assert ensemble == pytest.approx(rank_ensemble(members, {name: True for name in members}))
    summary = {row["proxy"]: row for row in _read_csv(report / "comparison.csv")}
    assert float(summary[ENSEMBLE]["coverage"]) == 1.0 and summary[ENSEMBLE]["batch_size"] == ""
    seconds = sum(float(summary[name]["seconds_per_arch"]) for name in members)
    assert float(summary[ENSEMBLE]["seconds_per_arch"]) == pytest.approx(seconds)
    text = (report / "comparison.md").read_text()
    assert f"`{ENSEMBLE}` = rank ensemble" in text and "depend on that set" in text


def test_search_on_nb201_warms_up_with_the_ensemble_over_the_pool(tmp_path: Path, data_dir: Path) -> None:
    proxy = {"name": "ensemble(synflow+epsilon)", "settings": {"epsilon": {"precision": "float32"}},
             "batch": {"data": "real", "size": 16, "seed": 0}}  # fmt: skip
    config = parse_config(
        {
            "name": "ensemble-warmup",
            "space": "nb201",
            "dataset": "cifar10",
            "metric": "valid_acc",
            "proxy": proxy,
            "budget": 6,
            "rounds": 1,
            "seed": 3,
            "strategies": [
                {"name": "random+warmup", "strategy": "random", "settings": {"warmup": True, "pool": 10, "warmup_steps": 4}},
                {"name": "evolution+move", "strategy": "evolution",
                 "settings": {"population": 3, "tournament": 2, "warmup": True, "pool": 10, "move": "parent"}},
            ],
        },
        data_dir=data_dir,
    )  # fmt: skip
    assert config.proxy is not None and config.proxy.members == ("synflow", "epsilon")
    assert config.proxy.settings["epsilon"]["precision"] == "float32" and "precision" in config.proxy.settings["synflow"]
    result = run_experiment(config, tmp_path / "out", executor="serial")

    # the pool the random search drew, ranked by the ensemble of the members' stored scores
    space = create_space("nb201")
    oracle = Oracle(open_table("nb201", data_dir), "cifar10", "valid_acc", 1)
    pool = SearchContext(space, oracle, _no_scores, random.Random(round_seed(3, 0))).sample_pool(10)
    names = [space.format(arch) for arch in pool]
    raw = nas.score(names, proxies=["synflow", "epsilon"], batch_size=16, metrics=False, executor="serial")
    assert raw.attrs["stats"]["epsilon"]["computed"] == 0 and raw.attrs["stats"]["synflow"]["computed"] == 0
    ensemble = rank_ensemble({k: raw[k].to_numpy() for k in ("synflow", "epsilon")}, {"synflow": True, "epsilon": True})
    order = sorted(range(10), key=lambda i: (math.isnan(ensemble[i]), 0.0 if math.isnan(ensemble[i]) else -ensemble[i]))
    assert list(result.runs["random+warmup"][0].archs[:4]) == [names[i] for i in order[:4]]

    store = ScoreStore.open()
    try:
        counts = {proxy_name: n for space_name, proxy_name, n in store.counts() if space_name == "nb201"}
    finally:
        store.close()
    assert set(counts) == {"synflow", "epsilon"}  # one row per member and scored architecture, nothing else
    assert "`ensemble(synflow+epsilon)`: the rank ensemble" in write_reports(result).markdown



def _no_scores(archs: Any) -> np.ndarray:
    """Proxy scores that drawing a pool never asks for."""
    raise AssertionError("no proxy scores are needed to draw a pool")


def test_search_members_score_on_their_standard_batches_as_in_compare(tmp_path: Path, data_dir: Path) -> None:
    """Without ``batch.size`` each member scores on its own standard batch (meco 1, synflow 64), so a
    zero-cost search ranks by the same stored scores that ``nas compare`` reads, and computes none again."""
    config = parse_config(
        {
            "name": "standard-batches", "space": "nb201", "dataset": "cifar10", "metric": "valid_acc",
            "proxy": {"name": "ensemble(meco+synflow)", "batch": {"data": "real", "seed": 0}},
            "budget": 1, "rounds": 2, "seed": 4,
            "strategies": [{"name": "zc", "strategy": "zero_cost", "settings": {"n": 6}}],
        },
        data_dir=data_dir,
    )  # fmt: skip
    assert config.proxy is not None and config.proxy.batch.size is None
    assert {name: config.proxy.batch.size_for(p) for name, p in config.proxy.create_members().items()} == {"meco": 1, "synflow": 64}
    result = run_experiment(config, tmp_path / "out", executor="serial")
    assert "meco: cifar10: real images, 1 x 3x32x32" in result.proxy_input and "synflow: cifar10: real images, 64 x" in result.proxy_input

    space = create_space("nb201")
    oracle = Oracle(open_table("nb201", data_dir), "cifar10", "valid_acc", 1)
    for round_index, run in enumerate(result.runs["zc"]):
        pool = SearchContext(space, oracle, _no_scores, random.Random(round_seed(4, round_index))).sample_pool(6)
        names = [space.format(arch) for arch in pool]
        raw = nas.score(names, proxies=["meco", "synflow"], metrics=False, executor="serial")  # standard batches
        assert raw.attrs["stats"]["meco"]["computed"] == 0 and raw.attrs["stats"]["synflow"]["computed"] == 0
        ensemble = rank_ensemble({k: raw[k].to_numpy() for k in ("meco", "synflow")}, {"meco": True, "synflow": True})
        assert ensemble[names.index(run.archs[0])] == np.nanmax(ensemble)  # the choice has the best ensemble score
    assert "`ensemble(meco+synflow)`: the rank ensemble" in write_reports(result).markdown
    base = {"space": "nb201", "dataset": "cifar10", "metric": "valid_acc", "budget": 1,
            "strategies": [{"name": "zc", "strategy": "zero_cost", "settings": {"n": 5}}]}  # fmt: skip
    with pytest.raises(NasError, match="proxy.batch.size: at most"):
        parse_config({**base, "proxy": {"name": "meco", "batch": {"size": 10**9}}}, "x.yaml", data_dir=data_dir)
    zico = parse_config({**base, "proxy": {"name": "zico"}}, "x.yaml", data_dir=data_dir).proxy
    assert zico is not None and zico.batch.size_for(nas.proxy("zico")) == 256
