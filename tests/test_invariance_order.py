"""Scores must not depend on the order architectures are scored in (see ``test_invariance.py``).

80 architectures (40 pairs of class-mates) are scored by every built-in proxy forward and
reversed, in two fresh stores; each proxy's test then compares its two sets of scores. The
scoring is one module-scoped computation shared by the per-proxy tests (a failure names the
proxy). This is a file of its own so that pytest-xdist (``--dist loadfile``) runs it beside
the rest of ``test_invariance.py``, and with one test per proxy xdist hands it out among the
first files (it orders files by their number of tests) instead of last, where a long file
leaves the other worker idle. The networks are ``test_invariance.NarrowNB201``'s (2 channels,
one cell per stage): keys, classes and the per-position initialisation do not depend on the width.
"""

from __future__ import annotations

import random

import pytest

from nas.data import load_batch
from nas.proxies import create_proxy
from nas.proxies.base import Batch
from nas.scoring import AUTO_SERIAL_LIMIT, Scorer
from nas.store import ScoreStore
from test_invariance import BUILT_IN, NarrowNB201, _classes, _same

#: settings that keep the order test short without changing what it checks (the same code paths)
_CHEAP: dict[str, dict[str, object]] = {"swap": {"repeats": 2}}

#: Pairs of class-mates scored. Each score is computed on a freshly built model, initialised by
#: position, in whichever worker gets it, so an order dependence (state carried from one scoring
#: to the next in a worker, a class key answered by whichever mate came first) shows on any
#: architecture whose predecessors change; 40 pairs (80 architectures) reverse the predecessors
#: of every one of them as 100 pairs did, at 2/5 of the cost. It stays above AUTO_SERIAL_LIMIT
#: distinct keys even for epsilon (one key per pair), so both directions run on the local pool,
#: results arriving out of order from its two workers, as they did with 100 pairs.
PAIRS = 40


@pytest.fixture(scope="module")
def batch(data_dir) -> Batch:
    return load_batch("cifar10", data="real", size=2, seed=0, data_dir=data_dir)


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, batch: Batch) -> dict[str, dict[str, dict[str, float]]]:
    """direction -> proxy -> architecture string -> score, for every built-in proxy, in two fresh stores."""
    space = NarrowNB201()
    rng = random.Random(2)
    pairs = rng.sample([c for c in _classes(space, "function")], PAIRS)
    archs = [arch for members in pairs for arch in rng.sample(members, 2)]
    assert len(set(archs)) == 2 * PAIRS and PAIRS > AUTO_SERIAL_LIMIT
    stores = tmp_path_factory.mktemp("order")
    results = {}
    for direction, order in (("forward", archs), ("reversed", archs[::-1])):
        with ScoreStore.open(stores / direction) as store, Scorer(space, "cifar10", batch, store=store) as scorer:
            results[direction] = {
                name: dict(zip(map(space.format, order), scorer.values(order, create_proxy(name, **_CHEAP.get(name, {})))))
                for name in BUILT_IN
            }
            assert scorer._executor is not None  # the local pool ran (more than AUTO_SERIAL_LIMIT misses)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("name", BUILT_IN)
def test_scores_do_not_depend_on_the_order_architectures_are_scored_in(scored, name: str) -> None:
    """80 architectures (40 pairs of class-mates), forward and reversed, in two fresh stores."""
    forward, reversed_ = scored["forward"][name], scored["reversed"][name]
    assert len(forward) == len(reversed_) == 2 * PAIRS and forward.keys() == reversed_.keys()
    differing = [s for s in forward if not _same(forward[s], reversed_[s], 0.0)]
    assert not differing, (name, len(differing), differing[:3])  # exact: same strings, same values
