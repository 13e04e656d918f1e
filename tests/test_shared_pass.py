"""SNIP, grad_norm, Fisher and jacob_cov from one pass: the same scores, bit for bit, and fewer models.

:data:`nas.proxies.pruning.LOSS_GRADIENT` scores any subset of the four on one forward pass;
the store keeps one key per proxy, so what a proxy gets must not depend on which others were
asked with it. These tests check that on real networks of the three spaces (full-width
NAS-Bench-201 cells on real CIFAR-10 and ImageNet16-120 stand-in images, NAS-Bench-101 cells,
NAS-Bench-NLP cells on Penn Treebank tokens), and that :func:`nas.scoring.score_architectures`
builds one model per architecture for the four and stores every score.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from nas.data import load_batch
from nas.errors import NasError
from nas.initialisation import build_initialised
from nas.proxies import create_proxy
from nas.proxies.base import Batch, ProxyContext, ProxyResult
from nas.proxies.pruning import LOSS_GRADIENT, Fisher
from nas.scoring import Scorer, score_architectures, shared_pass_companions
from nas.spaces import create_space
from nas.spaces.base import arch_key
from nas.store import ScoreStore

MEMBERS = ("snip", "grad_norm", "fisher", "jacob_cov")


def _same(a: ProxyResult, b: ProxyResult) -> bool:
    """Bit-equal values (NaN for NaN) and the same reason."""
    values = a.value == b.value or (math.isnan(a.value) and math.isnan(b.value))
    return values and a.reason == b.reason


def _model(space_name: str, dataset: str, arch: object) -> torch.nn.Module:
    space = create_space(space_name)
    return build_initialised(space, arch, space.dataset_spec(dataset), 0)


@pytest.mark.parametrize(
    ("space_name", "dataset", "count", "batch_size"),
    [("nb201", "cifar10", 2, 16), ("nb201", "imagenet16-120", 2, 32), ("nb101", "cifar10", 1, 8), ("nlp", "ptb", 1, 8)],
)
def test_combinations_give_each_proxy_its_own_score_bit_for_bit(
    data_dir, space_name: str, dataset: str, count: int, batch_size: int
) -> None:
    """Subsets of the four in one pass equal each proxy's own score exactly (value and reason).

    NAS-Bench-201: every subset; the larger NAS-Bench-101 and NLP networks: all four, and Fisher
    with jacob_cov (the pass without weight gradients).
    """
    space = create_space(space_name)
    spec = space.dataset_spec(dataset)
    batch = load_batch(spec.name, size=batch_size, seed=0)
    context = ProxyContext(space_name, spec.name, spec.num_classes, 0)
    rng = np.random.default_rng(11)
    for arch in [space.sample(rng) for _ in range(count)]:
        alone = {name: create_proxy(name).score(_model(space_name, spec.name, arch), batch, context) for name in MEMBERS}
        # exact: a gradient's kernels do not change when another gradient is also asked (checked here)
        combos = [c for size in range(2, len(MEMBERS) + 1) for c in itertools.combinations(MEMBERS, size)]
        if space_name != "nb201":
            combos = [MEMBERS, ("fisher", "jacob_cov")]
        for combo in combos:
            joint = LOSS_GRADIENT.score(
                _model(space_name, spec.name, arch), batch, context, [create_proxy(name) for name in combo]
            )
            for name, result in zip(combo, joint):
                assert _same(result, alone[name]), (space.format(arch), combo, name, result, alone[name])
        finite = [name for name in MEMBERS if not alone[name].is_nan]
        assert finite, "no proxy gave a score: the check above compared NaNs only"
        if space_name == "nlp":
            assert alone["jacob_cov"].is_nan and "token ids" in alone["jacob_cov"].reason


def test_score_architectures_builds_one_model_per_architecture_for_the_four(data_dir, monkeypatch) -> None:
    """Scored together, the four build each network once, store every score, and equal separate scoring."""
    space = create_space("nb201")
    rng = np.random.default_rng(3)
    archs = [space.sample(rng) for _ in range(3)]
    proxies = {name: create_proxy(name) for name in MEMBERS}
    built: list[object] = []
    original = type(space).build

    def counting(self, arch, dataset):  # type: ignore[no-untyped-def]
        built.append(arch)
        return original(self, arch, dataset)

    monkeypatch.setattr(type(space), "build", counting)
    store = ScoreStore.in_memory()
    together = score_architectures(
        space, "cifar10", archs, proxies, {name: 16 for name in MEMBERS}, store=store, executor="serial"
    )
    assert len(built) == len(archs)  # one model per architecture, not four
    for name in MEMBERS:
        stats = together.stats[name]
        assert stats.computed == len(archs) and stats.from_store == 0, (name, stats)
        assert stats.seconds > 0
    built.clear()
    batch = load_batch("cifar10", size=16, seed=0)
    for name in MEMBERS:  # each alone, in a fresh store: the same results
        with Scorer(space, "cifar10", batch, executor="serial") as scorer:
            separate = scorer.score(archs, create_proxy(name))
        assert all(_same(a, b) for a, b in zip(separate, together.results[name])), name
    assert len(built) == len(MEMBERS) * len(archs)
    again = score_architectures(
        space, "cifar10", archs, proxies, {name: 16 for name in MEMBERS}, store=store, executor="serial"
    )
    assert all(again.stats[name].computed == 0 for name in MEMBERS)  # a rerun is answered by the store


def test_companions_already_stored_are_not_recomputed(data_dir) -> None:
    """A companion score in the store is kept (same row, same recorded time); only the missing ones are computed."""
    space = create_space("nb201")
    rng = np.random.default_rng(4)
    archs = [space.sample(rng) for _ in range(2)]
    batch = load_batch("cifar10", size=16, seed=0)
    store = ScoreStore.in_memory()
    with Scorer(space, "cifar10", batch, store=store, executor="serial") as scorer:
        scorer.score(archs[:1], create_proxy("grad_norm"))
        first_key = scorer.key(arch_key(space, archs[0], "live")[0], create_proxy("grad_norm"))
        before = store.get_many([first_key])[first_key]
        scorer.score(archs, create_proxy("snip"), [create_proxy("grad_norm")])
        after = store.get_many([first_key])[first_key]
        assert after.seconds == before.seconds and _same(after.result, before.result)
        scorer.score(archs, create_proxy("grad_norm"))
        assert scorer.last_stats is not None
        assert scorer.last_stats.computed == 1 and scorer.last_stats.from_store == 1


def test_companions_must_share_the_pass(data_dir) -> None:
    space = create_space("nb201")
    batch = load_batch("cifar10", size=8, seed=0)
    with Scorer(space, "cifar10", batch) as scorer:
        with pytest.raises(NasError, match="not scored by the same shared pass"):
            scorer.score([space.sample(np.random.default_rng(0))], create_proxy("snip"), [create_proxy("grasp")])
        with pytest.raises(NasError, match="given twice"):
            scorer.score([space.sample(np.random.default_rng(0))], create_proxy("snip"), [create_proxy("snip")])

        class PreparedFisher(Fisher):  # the same pass and invariance, another model preparation
            def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
                return model.double()

        with pytest.raises(NasError, match="prepares its model otherwise than 'snip'"):
            scorer.score([space.sample(np.random.default_rng(0))], create_proxy("snip"), [PreparedFisher()])
        assert shared_pass_companions([create_proxy("snip"), PreparedFisher()], batch) == [[], []]
    with pytest.raises(NasError, match="scores snip, grad_norm, fisher, jacob_cov, not 'grasp'"):
        LOSS_GRADIENT.score(torch.nn.Linear(2, 2), batch, ProxyContext("nb201", "cifar10", 10, 0), [create_proxy("grasp")])


def test_no_companions_on_an_unlabelled_batch_or_across_passes(data_dir) -> None:
    """Without labels the loss proxies would fail jacob_cov with them: each is then scored alone."""
    labelled = load_batch("cifar10", size=8, seed=0)
    unlabelled = Batch(labelled.inputs, None, labelled.identity + "-unlabelled", labelled.dataset, labelled.kind)
    proxies = [create_proxy(name) for name in ("snip", "synflow", "grad_norm", "jacob_cov", "grasp", "fisher")]
    groups = shared_pass_companions(proxies, labelled)
    assert [[p.name for p in group] for group in groups] == [["grad_norm", "jacob_cov", "fisher"], [], [], [], [], []]
    assert all(group == [] for group in shared_pass_companions(proxies, unlabelled))


def test_perf_times_the_shared_pass_and_checks_it_bit_for_bit(data_dir, capsys) -> None:
    """``nas perf`` times the pass beside the proxies' own lines and finds their values equal."""
    import json

    from nas.cli import main

    assert main(["perf", "--proxies", "snip,fisher,synflow", "--sample", "2", "--batch-size", "8", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (entry,) = report["shared_passes"]
    assert entry["proxies"] == "snip+fisher" and entry["pass"] == "loss_gradient"
    assert entry["equal"] == entry["compared"] == 4
    own = {p["proxy"]: p["ms_per_arch"] for p in report["proxies"]}
    assert entry["separate_ms_per_arch"] == pytest.approx(own["snip"] + own["fisher"])
    assert entry["ms_per_arch"] > 0
