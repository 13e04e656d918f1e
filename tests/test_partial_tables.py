"""Spaces whose benchmark table covers only part of them: NAS-Bench-101's 500 cells, NAS-Bench-NLP's PTB logs."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import nas
from nas.benchmarks import open_table
from nas.benchmarks.base import Oracle
from nas.spaces import create_space
from nas.spaces.subset import SubsetSpace, table_subset


def _tokens(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9_.]+", text)


def test_a_subset_samples_and_mutates_inside_itself() -> None:
    space = create_space("nb201")
    rng = random.Random(0)
    members = list({space.format(a): a for a in (space.sample(rng) for _ in range(40))}.values())
    subset = SubsetSpace(space, members, "40 cells")
    names = {space.format(a) for a in members}
    assert subset.size() == len(members) and subset.name == "nb201"
    assert {space.format(subset.sample(rng)) for _ in range(400)} <= names
    for arch in members[:10]:
        neighbours = subset.neighbours(arch)
        own = space.format(arch)
        assert neighbours and all(space.format(n) in names and space.format(n) != own for n in neighbours)
        one_edit = {space.format(n) for n in space.neighbours(arch)} & names
        if one_edit:  # members one edit away are preferred
            assert {space.format(n) for n in neighbours} == one_edit
        else:  # else the members nearest in token Hamming distance, by brute force
            distance = {n: sum(a != b for a, b in zip(_tokens(own), _tokens(n))) for n in names - {own}}
            nearest = min(distance.values())
            assert {space.format(n) for n in neighbours} == {n for n, d in distance.items() if d == nearest}
    assert table_subset(space, [space.format(a) for a in space.enumerate()], "all") is space


def test_nb101_compare_ranks_the_tables_cells(data_dir: Path) -> None:
    comparison = nas.compare("params", space="nb101", sample=12, batch_size=8, bootstrap=0)
    table = open_table("nb101", data_dir)
    assert comparison.config.metric == "valid_acc" and "of the 500 architectures of the nb101 cifar10 table" in comparison.data.selection
    scores = comparison.scores
    assert len(scores) == 12 and all(arch in table for arch in scores.index)
    expected = stats.spearmanr(scores["params"], scores["valid_acc"]).statistic
    assert comparison.table.loc["params", "own_spearman"] == pytest.approx(expected)


def test_nb101_search_stays_inside_the_table(tmp_path: Path, data_dir: Path) -> None:
    result = nas.search(
        out=tmp_path / "nb101", name="nb101-test", space="nb101", dataset="cifar10", metric="valid_acc",
        proxy={"name": "params", "batch": {"data": "normal", "size": 2, "seed": 0}}, budget=8, rounds=2, seed=1,
        strategies=[
            {"name": "random", "strategy": "random"},
            {"name": "evolution", "strategy": "evolution",
             "settings": {"population": 4, "tournament": 2, "warmup": True, "pool": 12}},
        ],
    )
    table = open_table("nb101", data_dir)
    history = result.history
    assert len(history) == 2 * 2 * 8 and history["valid_acc"].notna().all()
    assert all(arch in table for arch in history["arch"])
    assert "Searched space: the 500 architectures of the nb101 cifar10 table" in result.to_markdown()


def test_the_ptb_table_holds_every_log(data_dir: Path) -> None:
    table = open_table("nlp", data_dir)
    archs = table.architectures("ptb")
    perplexity = np.array([table.lookup(a, "ptb", "test_perplexity") for a in archs])
    loss = np.array([table.lookup(a, "ptb", "test_loss") for a in archs])
    assert len(archs) == 14322 and np.isfinite(perplexity).sum() == 11598  # the data README's status counts
    assert np.allclose(perplexity[np.isfinite(loss)], np.exp(loss[np.isfinite(loss)]))
    assert table.default_metric("ptb") == "test_perplexity" and not table.higher_is_better("test_perplexity")
    space = create_space("nlp")
    arch = archs[0]
    assert table.lookup(arch, "ptb", "num_params") == space.count_parameters(space.parse(arch), space.dataset_spec("ptb"))
    assert len(table.architectures("wikitext2")) == 291


def test_nlp_compare_correlates_with_minus_perplexity(data_dir: Path) -> None:
    comparison = nas.compare("params", space="nlp", sample=10, seed=3, batch_size=2, bootstrap=0)
    assert comparison.config.dataset == "ptb" and comparison.config.metric == "test_perplexity"
    scores = comparison.scores.dropna()
    expected = stats.spearmanr(scores["params"], -scores["test_perplexity"]).statistic
    assert comparison.table.loc["params", "own_spearman"] == pytest.approx(expected)
    assert comparison.table.loc["flops", "coverage"] == 1.0  # token-id examples: flops counts language models
    assert "lower is better, so the correlations are with -test_perplexity" in comparison.to_markdown()


def test_a_minimised_metric_keeps_the_lowest(data_dir: Path) -> None:
    table = open_table("nlp", data_dir)
    archs = [a for a in table.architectures("ptb")[:40] if math.isfinite(table.lookup(a, "ptb", "val_perplexity"))]
    oracle = Oracle(table, "ptb", "val_perplexity", budget=len(archs))
    for arch in archs:
        oracle.train(arch)
    values = [table.lookup(a, "ptb", "val_perplexity") for a in archs]
    assert not oracle.maximise and [q.best for q in oracle.history] == list(np.minimum.accumulate(values))
