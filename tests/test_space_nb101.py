"""NAS-Bench-101 space and table, checked against the shared 500-cell file and published values."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest
import torch

from nas.benchmarks import open_table
from nas.datasets import dataset_spec
from nas.errors import NasError
from nas.spaces import create_space
from nas.spaces.nb101 import CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT, Nb101Cell, prune

CIFAR10 = dataset_spec("cifar10")

# Published NAS-Bench-101 entries (the dataset's first record, and the README's example query).
FIRST_RECORD = Nb101Cell(
    ((0, 1, 0, 0, 1, 1, 0), (0, 0, 1, 0, 0, 0, 0), (0, 0, 0, 1, 0, 0, 1), (0, 0, 0, 0, 0, 1, 0),
     (0, 0, 0, 0, 0, 1, 0), (0, 0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 0, 0, 0)),
    (INPUT, CONV3X3, MAXPOOL3X3, CONV3X3, CONV3X3, CONV1X1, OUTPUT),
)
FIRST_RECORD_HASH = "00005c142e6f48ac74fdcf73e3439874"
FIRST_RECORD_PARAMS = 8_555_530
README_CELL = Nb101Cell(
    ((0, 1, 1, 1, 1, 0, 0), (0, 0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 0, 0, 1),
     (0, 0, 0, 0, 0, 1, 0), (0, 0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 0, 0, 0)),
    (INPUT, CONV3X3, CONV1X1, MAXPOOL3X3, CONV3X3, CONV3X3, OUTPUT),
)
README_PARAMS = 2_694_282


@pytest.fixture(scope="module")
def space():
    return create_space("nb101")


@pytest.fixture(scope="module")
def raw_table(data_dir: Path) -> dict[str, dict[str, float]]:
    return json.loads((data_dir / "nb101" / "zc_nasbench101_500.json").read_text())["nasbench101"]["cifar10"]


def _cell(edges: list[tuple[int, int]], ops: list[str]) -> Nb101Cell:
    rows = [[0] * 7 for _ in range(7)]
    for i, j in edges:
        rows[i][j] = 1
    return Nb101Cell(tuple(map(tuple, rows)), tuple(ops))


def test_every_table_key_round_trips_and_is_valid(space, raw_table):
    assert len(raw_table) == 500
    for key in raw_table:
        cell = space.parse(key)
        assert space.format(cell) == key
        assert space.is_valid(cell)
        pruned = prune(cell)
        assert pruned is not None and pruned.num_edges <= 9 and pruned.num_vertices <= 7


def test_op_codes_follow_naslib(space):
    key = "(" + ", ".join(["0"] * 6 + ["1"] + ["0"] * 42 + ["0", "2", "3", "4", "2", "2", "1"]) + ")"
    cell = space.parse(key)
    assert cell.ops == (INPUT, MAXPOOL3X3, CONV1X1, CONV3X3, MAXPOOL3X3, MAXPOOL3X3, OUTPUT)


def test_hash_and_parameters_match_published_nasbench101(space):
    assert space.canonical_id(FIRST_RECORD) == FIRST_RECORD_HASH
    assert space.count_parameters(FIRST_RECORD, CIFAR10) == FIRST_RECORD_PARAMS
    assert space.count_parameters(README_CELL, CIFAR10) == README_PARAMS


def test_parameter_counts_match_the_table(space, raw_table):
    for key in list(raw_table)[::10]:  # 50 of the 500 cells
        expected = round(raw_table[key]["params"] * 1e6)
        with torch.device("meta"):
            assert space.count_parameters(space.parse(key), CIFAR10) == expected, key


def test_hash_is_equal_for_a_relabelled_cell_and_differs_otherwise(space):
    a = _cell([(0, 1), (0, 2), (1, 3), (2, 3), (3, 6), (0, 6)], [INPUT, CONV3X3, CONV1X1, MAXPOOL3X3, CONV3X3, CONV3X3, OUTPUT])
    swapped = _cell([(0, 1), (0, 2), (1, 3), (2, 3), (3, 6), (0, 6)], [INPUT, CONV1X1, CONV3X3, MAXPOOL3X3, CONV3X3, CONV3X3, OUTPUT])
    moved = _cell([(0, 2), (0, 4), (2, 5), (4, 5), (5, 6), (0, 6)], [INPUT, MAXPOOL3X3, CONV1X1, CONV1X1, CONV3X3, MAXPOOL3X3, OUTPUT])
    other_op = _cell([(0, 1), (0, 2), (1, 3), (2, 3), (3, 6), (0, 6)], [INPUT, CONV3X3, CONV3X3, MAXPOOL3X3, CONV3X3, CONV3X3, OUTPUT])
    other_edge = _cell([(0, 1), (0, 2), (1, 3), (2, 3), (3, 6)], [INPUT, CONV3X3, CONV1X1, MAXPOOL3X3, CONV3X3, CONV3X3, OUTPUT])
    assert space.format(a) != space.format(swapped) != space.format(moved)
    assert space.canonical_id(a) == space.canonical_id(swapped) == space.canonical_id(moved)
    assert space.canonical_id(other_op) != space.canonical_id(a)
    assert space.canonical_id(other_edge) != space.canonical_id(a)


def test_hash_is_invariant_under_every_order_preserving_relabelling(space, raw_table):
    for key in list(raw_table)[:5]:
        cell = space.parse(key)
        for perm in itertools.permutations(range(1, 6)):
            p = (0,) + perm + (6,)
            rows = [[0] * 7 for _ in range(7)]
            for i in range(7):
                for j in range(7):
                    rows[p[i]][p[j]] = cell.matrix[i][j]
            if any(rows[i][j] for i in range(7) for j in range(i + 1)):
                continue  # not upper triangular: not a NAS-Bench-101 spelling
            ops = [""] * 7
            for i in range(7):
                ops[p[i]] = cell.ops[i]
            relabelled = Nb101Cell(tuple(map(tuple, rows)), tuple(ops))
            assert space.canonical_id(relabelled) == space.canonical_id(cell)


def test_pruning_removes_vertices_off_every_path(space):
    # 2 is a dead end (no path to the output), 3 is unreachable from the input, 4 and 5 are isolated
    cell = _cell([(0, 1), (1, 6), (0, 2), (3, 6)], [INPUT, CONV3X3, CONV1X1, MAXPOOL3X3, CONV3X3, CONV3X3, OUTPUT])
    pruned = prune(cell)
    assert pruned is not None
    assert pruned.ops == (INPUT, CONV3X3, OUTPUT)
    assert pruned.matrix == ((0, 1, 0), (0, 0, 1), (0, 0, 0))
    clean = _cell([(0, 1), (1, 6)], [INPUT, CONV3X3, MAXPOOL3X3, MAXPOOL3X3, MAXPOOL3X3, MAXPOOL3X3, OUTPUT])
    assert space.canonical_id(cell) == space.canonical_id(clean)
    assert space.count_parameters(cell, CIFAR10) == space.count_parameters(clean, CIFAR10)


def test_invalid_cells_are_rejected(space):
    disconnected = _cell([(0, 1), (2, 6)], [INPUT, CONV3X3, CONV3X3, CONV3X3, CONV3X3, CONV3X3, OUTPUT])
    assert not space.is_valid(disconnected)
    too_many = _cell([(i, j) for i in range(5) for j in range(i + 1, 5)] + [(4, 6), (0, 6)], [INPUT] + [CONV3X3] * 5 + [OUTPUT])
    assert prune(too_many).num_edges == 12 and not space.is_valid(too_many)
    for cell in (disconnected, too_many):
        with pytest.raises(NasError):
            space.parse(space.format(cell))
        with pytest.raises(NasError):
            space.canonical_id(cell)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0, 1, 1",
        "(" + ", ".join(["0"] * 55) + ")",  # too short
        "(" + ", ".join(["0"] * 6 + ["1"] + ["0"] * 42 + ["0", "2", "2", "2", "2", "2", "5"]) + ")",  # op code 5
        "(" + ", ".join(["0"] * 6 + ["1"] + ["0"] * 42 + ["0", "2", "1", "2", "2", "2", "1"]) + ")",  # output inside
        "(" + ", ".join(["0"] * 6 + ["1"] + ["0"] * 42 + ["2", "2", "2", "2", "2", "2", "1"]) + ")",  # no input op
        "(" + ", ".join(["0"] * 6 + ["1"] + ["0"] * 35 + ["1"] + ["0"] * 6 + ["0", "2", "2", "2", "2", "2", "1"]) + ")",  # lower
        "(" + ", ".join(["0"] * 6 + ["2"] + ["0"] * 42 + ["0", "2", "2", "2", "2", "2", "1"]) + ")",  # bit 2
        "(a, b)",
    ],
)
def test_malformed_strings_raise_nas_error(space, text):
    with pytest.raises(NasError):
        space.parse(text)


def test_samples_are_valid_seeded_and_varied(space):
    first = [space.sample(random.Random(seed)) for seed in range(40)]
    again = [space.sample(random.Random(seed)) for seed in range(40)]
    assert first == again
    assert all(space.is_valid(cell) for cell in first)
    # rejection over specifications favours small cells (many specs prune to them), yet varies
    assert len({space.canonical_id(cell) for cell in first}) >= 20


def test_neighbours_are_valid_single_edits_with_distinct_ids(space, raw_table):
    for key in list(raw_table)[:10]:
        cell = space.parse(key)
        neighbours = space.neighbours(cell)
        assert neighbours and neighbours == space.neighbours(cell)
        ids = [space.canonical_id(n) for n in neighbours]
        assert len(set(ids)) == len(ids) and space.canonical_id(cell) not in ids
        for n in neighbours:
            assert space.is_valid(n)
            edge_changes = sum(a != b for ra, rb in zip(cell.matrix, n.matrix) for a, b in zip(ra, rb))
            op_changes = sum(a != b for a, b in zip(cell.ops, n.ops))
            assert edge_changes + op_changes == 1
        mutated = space.mutate(cell, random.Random(0))
        assert mutated in neighbours


def test_build_and_forward(space, raw_table):
    keys = sorted(raw_table, key=lambda k: raw_table[k]["params"])[:2]  # the two smallest networks
    torch.manual_seed(0)
    images = torch.randn(2, 3, 32, 32)
    for key in keys:
        model = space.build(space.parse(key), CIFAR10)
        with torch.no_grad():
            logits = model(images)
        assert logits.shape == (2, 10)
        assert torch.isfinite(logits).all()


def test_table_lookups_equal_the_raw_file(raw_table):
    table = open_table("nb101")
    assert table.datasets == ("cifar10",)
    keys = list(raw_table)[::97]
    for key in keys:
        entry = raw_table[key]
        assert table.lookup(key, "cifar10", "valid_acc") == entry["val_accuracy"]
        assert table.lookup(key, "cifar10", "params") == round(entry["params"] * 1e6)
        for name in ("synflow", "snip", "jacov", "flops"):
            assert table.lookup(key, "cifar10", f"published_{name}") == entry[name]
        assert table.lookup(key.replace(" ", ""), "cifar10", "valid_acc") == entry["val_accuracy"]
    accuracies = [table.lookup(k, "cifar10", "valid_acc") for k in table]
    assert 50 < min(accuracies) and max(accuracies) < 100  # percent, like NAS-Bench-201
    assert set(table) == set(raw_table) and len(table) == 500


def test_table_rejects_unknown_cells_and_metrics(space, raw_table):
    table = open_table("nb101")
    known = space.parse(next(iter(raw_table)))
    unknown = next(n for n in space.neighbours(known) if space.format(n) not in raw_table)
    with pytest.raises(NasError, match="500-cell table"):
        table.lookup(space.format(unknown), "cifar10", "valid_acc")
    with pytest.raises(NasError):
        table.lookup(next(iter(raw_table)), "cifar10", "test_acc")
    with pytest.raises(NasError):
        table.lookup(next(iter(raw_table)), "cifar100", "valid_acc")
    assert space.format(unknown) not in table
