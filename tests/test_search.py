"""Search strategies on the seeded dummy space and on the real NAS-Bench-201 table."""

from __future__ import annotations

import math
import random
import time
from typing import Any

import numpy as np
import pytest

import dummy_space as dummy
from nas.benchmarks import open_table
from nas.benchmarks.base import Oracle
from nas.errors import NasError
from nas.search import STRATEGIES, ArchitectureCache, CachedProxyScores, SearchContext, create_strategy
from nas.spaces import create_space


def dummy_scores(archs: Any) -> np.ndarray:
    return np.array([dummy.proxy_value(a) for a in archs], dtype=np.float64)


class RecordingRandom(random.Random):
    """A Random that records the tournaments drawn with ``sample``."""

    def __init__(self, seed: int):
        super().__init__(seed)
        self.samples: list[list[int]] = []

    def sample(self, population: Any, k: int, **kwargs: Any) -> list[Any]:  # type: ignore[override]
        drawn = super().sample(population, k, **kwargs)
        self.samples.append(list(drawn))
        return drawn


class RecordingSpace(dummy.DummySpace):
    """The dummy space, recording the parents passed to ``mutate`` and ``neighbours``."""

    def __init__(self) -> None:
        self.mutated: list[tuple[int, ...]] = []
        self.expanded: list[tuple[int, ...]] = []

    def mutate(self, arch: Any, rng: random.Random) -> Any:
        self.mutated.append(arch)
        return super().mutate(arch, rng)

    def neighbours(self, arch: Any) -> list[Any]:
        self.expanded.append(arch)
        return super().neighbours(arch)


def context(budget: int, seed: int = 0, space: Any = None, rng: random.Random | None = None) -> SearchContext:
    space = space or dummy.DummySpace()
    oracle = Oracle(dummy.DummyTable(), "cifar10", "valid_acc", budget)
    return SearchContext(space, oracle, dummy_scores, rng or random.Random(seed))


def proxy_ranking(pool: list[Any]) -> list[Any]:
    """The pool sorted by dummy proxy score, best first, NaN last, stable."""
    scored = [(dummy.proxy_value(a), i, a) for i, a in enumerate(pool)]
    numbers = sorted((s for s in scored if not math.isnan(s[0])), key=lambda s: (-s[0], s[1]))
    return [a for _, _, a in numbers] + [a for s, _, a in scored if math.isnan(s)]


@pytest.mark.parametrize(
    "name, settings",
    [
        ("random", {}),
        ("random", {"warmup": True, "pool": 200, "warmup_steps": 20}),
        ("evolution", {"population": 12, "tournament": 4}),
        ("evolution", {"population": 12, "tournament": 4, "warmup": True, "pool": 100, "move": "parent"}),
        ("evolution", {"population": 12, "tournament": 4, "move": "neighbour"}),
    ],
)
def test_budget_is_respected_and_every_query_counted(name: str, settings: dict[str, Any]) -> None:
    ctx = context(budget=57)
    result = create_strategy(name, **settings).run(ctx)
    assert ctx.oracle.queries == result.trained == 57
    assert len(result.values) == len(result.best) == 57
    assert list(result.best) == list(np.maximum.accumulate(result.values))
    assert result.final_choice() == int(np.argmax(result.values))


def test_budget_smaller_than_population_stops_during_initialisation() -> None:
    result = create_strategy("evolution", population=20, tournament=5).run(context(budget=7))
    assert result.trained == 7


def test_zero_cost_trains_exactly_the_proxy_best_of_its_sample() -> None:
    ctx = context(budget=300, seed=3)
    result = create_strategy("zero_cost", n=80).run(ctx)
    assert result.trained == ctx.oracle.queries == 1
    pool = context(budget=1, seed=3).sample_pool(80)
    assert len(pool) == 80
    assert result.archs[0] == dummy.DummySpace().format(proxy_ranking(pool)[0])


def test_pool_holds_distinct_functions() -> None:
    ctx = context(budget=1, seed=1)
    pool = ctx.sample_pool(1000)  # more than the 375 functions of the space
    ids = [ctx.space.canonical_id(a) for a in pool]
    assert len(ids) == len(set(ids)) == 375


def test_random_warmup_trains_the_pool_top_k_in_proxy_order_nan_last() -> None:
    space = dummy.DummySpace()
    ctx = context(budget=400, seed=5)
    result = create_strategy("random", warmup=True, pool=625, warmup_steps=375).run(ctx)
    pool = context(budget=1, seed=5).sample_pool(625)
    expected = [space.format(a) for a in proxy_ranking(pool)]
    assert list(result.archs[:375]) == expected
    assert math.isnan(dummy.proxy_value(space.parse(result.archs[374])))  # the dead architecture comes last


def test_evolution_warmup_initial_population_is_the_pool_top() -> None:
    space = dummy.DummySpace()
    result = create_strategy("evolution", population=16, tournament=4, warmup=True, pool=120).run(
        context(budget=30, seed=2)
    )
    pool = context(budget=1, seed=2).sample_pool(120)
    assert list(result.archs[:16]) == [space.format(a) for a in proxy_ranking(pool)[:16]]


def _tournaments(population: int, tournament: int, move: str) -> tuple[RecordingSpace, RecordingRandom, Any]:
    space, rng = RecordingSpace(), RecordingRandom(11)
    ctx = context(budget=80, space=space, rng=rng)
    result = create_strategy("evolution", population=population, tournament=tournament, move=move).run(ctx)
    assert len(rng.samples) == 80 - population
    return space, rng, result


def test_evolution_parent_is_the_tournament_best_of_the_last_population_trained() -> None:
    population = 10
    space, rng, result = _tournaments(population, 3, "none")
    assert len(space.mutated) == len(rng.samples)
    for step, (drawn, parent) in enumerate(zip(rng.samples, space.mutated)):
        # ageing: the population at this step is exactly the last `population` trained models
        members = list(range(step, step + population))
        contestants = [members[i] for i in drawn]
        best = max(contestants, key=lambda j: result.values[j])
        assert space.format(parent) == result.archs[best]


def test_evolution_move_parent_takes_the_tournament_member_with_best_proxy() -> None:
    population = 10
    space, rng, result = _tournaments(population, 4, "parent")
    for step, (drawn, parent) in enumerate(zip(rng.samples, space.mutated)):
        contestants = [result.archs[step + i] for i in drawn]
        scores = [dummy.proxy_value(space.parse(a)) for a in contestants]
        assert dummy.proxy_value(parent) == np.nanmax(scores)
        assert space.format(parent) in contestants


def test_evolution_move_neighbour_trains_the_proxy_best_neighbour() -> None:
    population = 10
    space, rng, result = _tournaments(population, 4, "neighbour")
    assert space.mutated == []
    assert len(space.expanded) == 80 - population
    for step, parent in enumerate(space.expanded):
        child = space.parse(result.archs[population + step])
        best = np.nanmax([dummy.proxy_value(n) for n in dummy.DummySpace().neighbours(parent)])
        assert child in dummy.DummySpace().neighbours(parent)
        assert dummy.proxy_value(child) == best


@pytest.mark.parametrize("name", ["random", "evolution", "zero_cost"])
def test_same_seed_same_trajectory(name: str) -> None:
    settings = {"evolution": {"population": 8, "tournament": 3, "warmup": True, "pool": 50}}.get(name, {})
    first = create_strategy(name, **settings).run(context(budget=40, seed=9))
    second = create_strategy(name, **settings).run(context(budget=40, seed=9))
    other = create_strategy(name, **settings).run(context(budget=40, seed=10))
    assert first == second
    assert first.archs != other.archs


def test_cached_proxy_scores_normalise_direction_and_fetch_each_function_once() -> None:
    space = dummy.DummySpace()
    calls: list[int] = []

    def cost(archs: list[Any]) -> np.ndarray:
        calls.append(len(archs))
        return -dummy_scores(archs)

    scores = CachedProxyScores(ArchitectureCache(space), cost, higher_is_better=False, invariance="function")
    archs = [(1, 2, 3, 4), (1, 2, 4, 3), (0, 0, 0, 0), (4, 4, 4, 4)]
    values = scores(archs)
    assert calls == [3]  # (1,2,3,4) and (1,2,4,3) are one function
    assert values[0] == values[1] == dummy.proxy_value((1, 2, 3, 4))
    assert math.isnan(values[2])
    scores(archs[:2])
    assert calls == [3]
    exact = CachedProxyScores(ArchitectureCache(space), cost)  # the default: nothing shared
    exact(archs)
    assert calls == [3, 4]


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"population": "abc"}, "settings.population: expected int, got 'abc'"),
        ({"warmup": 1}, "settings.warmup: expected bool, got 1"),
        ({"tournament": 65}, "settings.tournament: must not exceed the population (64)"),
        ({"move": "sideways"}, "settings.move: expected one of none, parent, neighbour"),
        ({"populaton": 3}, "unknown key 'populaton'"),
        ({"pool": 0}, "settings.pool: must be at least 1"),
    ],
)
def test_settings_are_validated(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(NasError, match=message.replace("(", r"\(").replace(")", r"\)")):
        create_strategy("evolution", **settings)


def test_registry_knows_the_builtin_strategies() -> None:
    assert {"random", "evolution", "zero_cost"} <= set(STRATEGIES.names())
    with pytest.raises(NasError, match="unknown strategy 'evolutoin'.*did you mean 'evolution'"):
        create_strategy("evolutoin")


def test_context_needs_a_budget() -> None:
    oracle = Oracle(dummy.DummyTable(), "cifar10", "valid_acc", None)
    with pytest.raises(NasError, match="budget"):
        SearchContext(dummy.DummySpace(), oracle, dummy_scores, random.Random(0))


# --- the real NAS-Bench-201 table ---------------------------------------------------------


@pytest.fixture(scope="module")
def nb201(data_dir: Any) -> tuple[Any, Any, dict[Any, float]]:
    """Space, table and a cheap proxy: the number of 3x3 convolutions in the cell (known to correlate)."""
    space = create_space("nb201")
    table = open_table("nb201", data_dir)
    scores = {arch: float(space.format(arch).count("nor_conv_3x3")) for arch in space.enumerate()}
    return space, table, scores


def test_evolution_on_nb201_finds_good_cells_within_budget(nb201: Any) -> None:
    space, table, scores = nb201
    values = table.values("cifar10", "test_acc")
    cache = ArchitectureCache(space)
    proxy = CachedProxyScores(cache, lambda archs: np.array([scores[a] for a in archs]))
    finals = []
    for seed in range(3):
        oracle = Oracle(table, "cifar10", "test_acc", 150)
        ctx = SearchContext(space, oracle, proxy, random.Random(seed), cache)
        result = create_strategy("evolution", warmup=True, pool=1000, move="parent").run(ctx)
        assert oracle.queries == 150
        assert all(table.lookup(a, "cifar10", "test_acc") == v for a, v in zip(result.archs, result.values))
        finals.append(result.best[-1])
    # better than 95% of the space in every round (a sanity bound, far from the optimum's 94.37)
    assert min(finals) > np.percentile(values, 95)


def test_evolution_with_warmup_on_nb201_is_fast(nb201: Any) -> None:
    """100 rounds of budget 300 with a pool of 3,000 must take well under a minute: 10 rounds < 6 s."""
    space, table, scores = nb201
    cache = ArchitectureCache(space)
    proxy = CachedProxyScores(cache, lambda archs: np.array([scores[a] for a in archs]))
    start = time.perf_counter()
    for seed in range(10):
        oracle = Oracle(table, "cifar10", "valid_acc", 300)
        ctx = SearchContext(space, oracle, proxy, random.Random(seed), cache)
        create_strategy("evolution", warmup=True, pool=3000, move="neighbour").run(ctx)
    assert time.perf_counter() - start < 6.0
