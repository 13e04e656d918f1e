"""Which architectures may share a score: each proxy's declared invariance, checked on real NAS-Bench-201 classes.

A proxy declared ``"function"`` must give equal scores to every member of a canonical class, one
declared ``"live"`` to every member of a live class (architectures that differ only in dead
operations, under per-position initialisation), and every other proxy is keyed on the exact
architecture, so the store never answers one architecture with another's score. Scores must
not depend on the order architectures are scored in.

The networks are NAS-Bench-201's own cells at a reduced width and depth (2 channels, one cell
per stage) so that hundreds of architectures and every proxy fit in the suite's time; keys,
classes and the per-position initialisation do not depend on the width.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Any

import pytest
import torch.nn as nn

from nas.data import load_batch
from nas.datasets import dataset_spec
from nas.initialisation import initialise_by_position
from nas.proxies import PROXIES, create_proxy
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult
from nas.scoring import Scorer, ScoringJob
from nas.spaces import create_space
from nas.spaces.base import arch_key
from nas.spaces.nb201 import NB201Space, live_arch, parse_arch
from nas.store import ScoreStore

#: every proxy that ships with the package (plugins, registered from other packages, may add more)
BUILT_IN = tuple(name for name in PROXIES.names() if PROXIES.get(name).__module__.startswith("nas.proxies."))


class NarrowNB201(NB201Space):
    """NAS-Bench-201 with 2 channels and one cell per stage: the same cells, keys and classes, cheaper networks."""

    def build(self, arch: Any, dataset: Any, **_: Any) -> nn.Module:
        return super().build(arch, dataset, channels=2, cells_per_stage=1)


@pytest.fixture(scope="module")
def batch(data_dir) -> Batch:
    return load_batch("cifar10", data="real", size=2, seed=0, data_dir=data_dir)


def _classes(space: NB201Space, key: str) -> list[list[Any]]:
    """The multi-member classes of ``key`` ("function" or "live"), members in the official index order."""
    members: dict[str, list[Any]] = defaultdict(list)
    for arch in space.enumerate():
        members[arch_key(space, arch, key)[0]].append(arch)
    return [group for group in members.values() if len(group) > 1]


def _direct(space: NB201Space, batch: Batch, proxy: Proxy, arch: Any) -> ProxyResult:
    """The proxy's value on ``arch`` itself, computed without any store."""
    job = ScoringJob(space, dataset_spec("cifar10"), batch, seed=0)
    return job((space.format(arch), arch, (proxy,)))[0][0]


def _same(a: float, b: float, rel: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


def test_every_built_in_proxy_declares_an_invariance_and_a_version() -> None:
    assert {"epsilon", "synflow", "naswot", "params", "flops", "meco", "zico"} <= set(BUILT_IN)
    for name in BUILT_IN:
        cls = PROXIES.get(name)
        assert cls.invariance in ("function", "live", "exact"), name
        assert cls.version is not None, name  # built-ins bump it by hand when their scores change
    assert {n for n in BUILT_IN if PROXIES.get(n).invariance == "function"} == {"epsilon", "epsilon_auto"}
    live = {n for n in BUILT_IN if PROXIES.get(n).invariance == "live"}
    assert live == {"synflow", "snip", "grad_norm", "fisher", "grasp", "jacob_cov"}


def test_live_arch_drops_exactly_the_edges_that_cannot_reach_the_output() -> None:
    # node 2 feeds nothing (3<-2 is none): its incoming edges are dead, node 1 still reaches 3 directly
    arch = parse_arch("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    assert live_arch(arch) == parse_arch("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    # node 1 reaches the output only through node 2, which is live: nothing is dead
    arch = parse_arch("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|nor_conv_1x1~2|")
    assert live_arch(arch) == arch
    # an edge *from* a zero node is not dead (a convolution there still gets gradients)
    arch = parse_arch("|none~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|")
    assert live_arch(arch) == arch


def test_keys_follow_the_invariance() -> None:
    space = create_space("nb201")
    a = space.parse("|skip_connect~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    b = space.parse("|skip_connect~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    assert space.canonical_id(a) == space.canonical_id(b) and space.live_id(a) == space.live_id(b)
    assert arch_key(space, a, "exact") == ("exact:" + space.format(a), a)
    assert arch_key(space, a, "live") == ("live:" + space.format(b), a)
    key, computed = arch_key(space, a, "function")
    assert key == "function:" + space.canonical_id(a) and arch_key(space, b, "function")[1] == computed
    assert space.index_of(computed) == min(space.index_of(m) for m in space.enumerate()
                                           if space.canonical_id(m) == key.removeprefix("function:"))


@pytest.mark.slow
def test_function_invariant_proxies_agree_on_all_members_of_30_classes(data_dir) -> None:
    """epsilon and epsilon_auto: constant weights, so class members compute the same function, up to summation order.

    (epsilon_auto adds an identity around cells without a parameter-free path: members of a
    class have isomorphic cells, hence the same paths and the same shortcuts.)

    On the benchmark's own network and a real batch of 16 (a batch of 2 leaves batch norm
    nearly degenerate and most epsilons NaN or 0, which would prove little).
    """
    space = create_space("nb201")
    batch16 = load_batch("cifar10", data="real", size=16, seed=0, data_dir=data_dir)
    classes = [c for c in _classes(space, "function") if len(c) <= 6]  # all members of each chosen class
    chosen = random.Random(0).sample(classes, 30)
    for name in [n for n in BUILT_IN if PROXIES.get(n).invariance == "function"]:
        proxy = create_proxy(name, precision="float64")
        scored = 0
        for members in chosen:
            values = [_direct(space, batch16, proxy, arch).value for arch in members]
            # the same function in another module order: float64 rounding of sums, relative 1e-9
            assert all(_same(v, values[0], 1e-9) for v in values), (name, [space.format(m) for m in members], values)
            scored += not math.isnan(values[0]) and values[0] != 0
        assert scored >= 20, (name, scored)  # most classes have a real, non-zero score to compare


@pytest.mark.slow
def test_live_invariant_proxies_agree_across_dead_operations_on_30_classes(batch: Batch) -> None:
    """Members differing only in dead operations get identical live weights, hence identical scores."""
    space = NarrowNB201()
    rng = random.Random(1)
    chosen = rng.sample(_classes(space, "live"), 30)
    live = [n for n in BUILT_IN if PROXIES.get(n).invariance == "live"]
    for members in chosen:
        sample = [members[0]] + rng.sample(members[1:], min(4, len(members) - 1))  # up to 5 per class
        for name in live:
            proxy = create_proxy(name)
            values = [_direct(space, batch, proxy, arch).value for arch in sample]
            # the live part of the network is the same modules with the same weights, run in the
            # same order: the same float operations, so equal up to nothing but thread scheduling
            assert all(_same(v, values[0], 1e-12) for v in values), (name, [space.format(m) for m in sample], values)


def test_exact_proxies_never_answer_a_class_mate_with_its_score(batch: Batch) -> None:
    """The issue's example: params of a member scored after the rest of its class is its own count."""
    space = create_space("nb201")
    target = space.parse("|skip_connect~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    mates = [a for a in space.enumerate() if space.canonical_id(a) == space.canonical_id(target) and a != target]
    params = create_proxy("params")
    with ScoreStore.in_memory() as store, Scorer(space, "cifar10", batch, store=store, executor="serial") as scorer:
        scorer.score(mates, params)
        (value,) = scorer.values([target], params)
        assert scorer.last_stats.computed == 1
    assert value == 372346 == space.count_parameters(target, dataset_spec("cifar10"))


def test_every_exact_proxy_gets_its_own_value_for_class_mates(batch: Batch) -> None:
    space = NarrowNB201()
    a = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    b = space.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    exact = [n for n in BUILT_IN if PROXIES.get(n).invariance == "exact"]
    with Scorer(space, "cifar10", batch, executor="serial") as scorer:
        for name in exact:
            proxy = create_proxy(name)
            stored = scorer.values([a, b], proxy)
            assert scorer.last_stats.unique == 2, name
            direct = [_direct(space, batch, proxy, arch).value for arch in (a, b)]
            assert list(stored) == direct, name  # exact: the stored value is the one computed for that string
        # the dead convolutions are real parameters, so these two differ where the proxy sees them
        assert scorer.values([a], create_proxy("params"))[0] > scorer.values([b], create_proxy("params"))[0]


# test_scores_do_not_depend_on_the_order_architectures_are_scored_in is in test_invariance_order.py,
# a file of its own so that pytest-xdist runs it beside the tests of this file, not after them.


def test_initialisation_by_position_ignores_what_was_built_before() -> None:
    space = create_space("nb201")
    cifar = dataset_spec("cifar10")
    a = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    b = space.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    first, second = (initialise_by_position(space.build(arch, cifar), 3) for arch in (a, b))
    shared = dict(second.named_parameters())
    same = [name for name, p in first.named_parameters() if name in shared and p.shape == shared[name].shape]
    assert len(same) > 50
    for name in same:  # exact: the same generator state and the same initialiser give the same bits
        assert first.get_parameter(name).equal(shared[name]), name


def test_nb101_live_id_is_the_pruned_cell_and_functions_fall_back_to_it() -> None:
    from nas.spaces.nb101 import Nb101Cell

    space = create_space("nb101")
    ops = ("input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "conv1x1-bn-relu", "output")
    chain = [[0] * 7 for _ in range(7)]
    chain[0][1] = chain[1][4] = chain[4][6] = 1
    dangling = [row[:] for row in chain]
    dangling[0][2] = dangling[2][3] = 1  # vertices 2 and 3 never reach the output: pruned away
    a, b = (Nb101Cell(tuple(map(tuple, m)), ops) for m in (chain, dangling))
    assert space.format(a) != space.format(b)
    assert space.live_id(a) == space.live_id(b)  # the same pruned cell, hence the same built network
    assert arch_key(space, a, "function") == ("live:" + space.live_id(a), a)  # no representative: live
    cifar = dataset_spec("cifar10")
    first, second = (initialise_by_position(space.build(arch, cifar), 0) for arch in (a, b))
    assert [n for n, _ in first.named_parameters()] == [n for n, _ in second.named_parameters()]
    for (name, p), (_, q) in zip(first.named_parameters(), second.named_parameters()):
        assert p.equal(q), name  # exact: the same modules initialised from the same per-position seeds
