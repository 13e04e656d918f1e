"""The NAS-Bench-201 space against the real benchmark table."""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

import pytest
import torch

from nas.datasets import dataset_spec
from nas.errors import NasError
from nas.spaces import create_space
from nas.spaces.nb201 import EDGES, OPERATIONS, Cell, NB201Space

ROW0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def space() -> NB201Space:
    created = create_space("nb201")
    assert isinstance(created, NB201Space)
    return created


@pytest.fixture(scope="module")
def rows(data_dir: Path) -> list[dict[str, str]]:
    with open(data_dir / "nb201" / "nats_tss_test_acc_200ep.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_enumerate_is_the_official_index_order(space: NB201Space, rows: list[dict[str, str]]) -> None:
    archs = list(space.enumerate())
    assert space.size() == len(archs) == len(set(archs)) == 15625 == len(rows)
    assert [space.format(a) for a in archs] == [row["ArchitectureString"] for row in rows]
    assert space.format(space.arch_at(0)) == ROW0
    for index in (0, 1, 9, 123, 15624):
        assert space.index_of(space.arch_at(index)) == index


def test_every_table_string_round_trips(space: NB201Space, rows: list[dict[str, str]]) -> None:
    for row in rows:
        text = row["ArchitectureString"]
        arch = space.parse(text)
        assert isinstance(arch, tuple) and len(arch) == 6
        assert space.format(arch) == text


def test_canonical_id_reproduces_the_unique_string_grouping(space: NB201Space, rows: list[dict[str, str]]) -> None:
    ours: dict[str, list[int]] = {}
    official: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        ours.setdefault(space.canonical_id(space.parse(row["ArchitectureString"])), []).append(i)
        official.setdefault(row["UniqueString"], []).append(i)
    assert len(official) == 6466
    assert sorted(ours.values()) == sorted(official.values())
    # the id is the benchmark's own string, so it can be matched against the table directly
    assert all(space.canonical_id(space.parse(r["ArchitectureString"])) == r["UniqueString"] for r in rows[:500])


def test_341_cells_have_no_path_from_input_to_output(space: NB201Space) -> None:
    without = [a for a in space.enumerate() if not space.has_path(a)]
    assert len(without) == 341
    assert not space.has_path(space.parse("|none~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|"))
    assert space.has_path(space.parse("|none~0|+|skip_connect~0|none~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|"))


@pytest.mark.parametrize(
    "text, params",
    [
        (ROW0, 129_306),
        (BEST, 1_288_506),
        # NATS-Bench issue #36 (get_cost_info, hp="12"): 0.802426 M parameters
        ("|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|", 802_426),
    ],
)
def test_official_parameter_counts(space: NB201Space, text: str, params: int) -> None:
    assert space.count_parameters(space.parse(text), dataset_spec("cifar10")) == params


def test_forward_shapes(space: NB201Space) -> None:
    torch.manual_seed(0)
    model = space.build(space.parse(BEST), dataset_spec("cifar10"))
    out = model(torch.randn(2, 3, 32, 32))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 10)
    model = space.build(space.parse(ROW0), dataset_spec("imagenet16-120"))
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 120)
    assert space.build(space.parse(ROW0), dataset_spec("cifar100")).classifier.out_features == 100


def test_width_and_depth_keywords(space: NB201Space) -> None:
    narrow = space.build(space.parse(BEST), dataset_spec("cifar10"), channels=1, cells_per_stage=1)
    assert narrow(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    assert narrow.classifier.in_features == 4
    assert sum(1 for m in narrow.modules() if isinstance(m, Cell)) == 3
    with pytest.raises(NasError, match="channels"):
        space.build(space.parse(BEST), dataset_spec("cifar10"), channels=0)
    with pytest.raises(NasError, match="images"):
        space.build(space.parse(BEST), dataset_spec("ptb"))


def test_zero_operation_propagates_nan(space: NB201Space) -> None:
    cell_only_none = space.build(space.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"), dataset_spec("cifar10"))
    out = cell_only_none.cells[0](torch.full((1, 16, 8, 8), math.nan))
    assert torch.isnan(out).all()
    # exact: 'none' multiplies a finite input by 0 and the cell sums those zeros: 0 in any order
    assert torch.equal(cell_only_none.cells[0](torch.ones(1, 16, 8, 8)), torch.zeros(1, 16, 8, 8))


def test_sample_is_seeded_and_uniform(space: NB201Space) -> None:
    assert [space.sample(random.Random(7)) for _ in range(3)] == [space.sample(random.Random(7)) for _ in range(3)]
    rng = random.Random(2)
    draws = [space.sample(rng) for _ in range(2000)]
    for edge in range(len(EDGES)):
        counts = [sum(a[edge] == op for a in draws) for op in OPERATIONS]
        assert all(300 < c < 500 for c in counts), counts  # 400 expected, sd 18


def test_neighbours_are_the_24_single_edge_changes(space: NB201Space) -> None:
    arch = space.parse(BEST)
    neighbours = space.neighbours(arch)
    assert len(neighbours) == len(set(neighbours)) == len(EDGES) * (len(OPERATIONS) - 1) == 24
    for other in neighbours:
        assert sum(a != b for a, b in zip(arch, other)) == 1
    assert neighbours == space.neighbours(arch)
    assert space.mutate(arch, random.Random(0)) in neighbours


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "1 node"),
        ("resnet", "1 node"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "2 node"),
        (BEST + "+|none~0|", "4 node"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation 'conv' on edge 1<-0"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must read from node 0"),
        ("|none~0|+|none~0|none~x|+|none~0|none~1|none~2|", "must read from node 1"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 .* 1 edge"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|none~3|", "node 3 .* 4 edge"),
        ("|none|+|none~0|none~1|+|none~0|none~1|none~2|", "not 'op~input'"),
        ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "not '|...|'"),
    ],
)
def test_malformed_strings_give_one_clear_error(space: NB201Space, text: str, message: str) -> None:
    with pytest.raises(NasError, match=message):
        space.parse(text)


def test_invalid_architecture_values(space: NB201Space) -> None:
    with pytest.raises(NasError, match="parse it first"):
        space.build(BEST, dataset_spec("cifar10"))  # type: ignore[arg-type]
    with pytest.raises(NasError, match="unknown operation"):
        space.format(("none",) * 5 + ("conv",))  # type: ignore[arg-type]
    with pytest.raises(NasError, match="0 to 15624"):
        space.arch_at(15625)
