"""The nb201 benchmark table read from the shared NAS-Bench-201 / NATS-Bench CSV files."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from nas.benchmarks import open_table
from nas.benchmarks.nb201 import NB201Table
from nas.errors import NasError

ROWS = (0, 1, 2, 1000, 7777, 15624)


def _raw(data_dir: Path, name: str) -> list[dict[str, str]]:
    with open(data_dir / "nb201" / name, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def table(data_dir: Path) -> NB201Table:
    return open_table("nb201", data_dir)


def test_size_datasets_and_metrics(table: NB201Table) -> None:
    assert len(table) == 15625
    assert table.datasets == ("cifar10", "cifar100", "imagenet16-120")
    assert set(table.metrics("cifar10")) == {"test_acc", "test_acc_12ep", "test_acc_one_seed", "valid_acc", "train_seconds"}
    assert set(table.metrics("cifar100")) == {"test_acc", "test_acc_12ep", "test_acc_one_seed"}


def test_lookups_equal_the_raw_200_epoch_file(table: NB201Table, data_dir: Path) -> None:
    raw = _raw(data_dir, "nats_tss_test_acc_200ep.csv")
    columns = {"cifar10": "CIFAR10TestAccuracy200Epochs", "cifar100": "CIFAR100TestAccuracy200Epochs", "imagenet16-120": "ImageNetTestAccuracy200Epochs"}
    for row in ROWS:
        arch = raw[row]["ArchitectureString"]
        for dataset, column in columns.items():
            assert table.lookup(arch, dataset, "test_acc") == float(raw[row][column])


def test_lookups_equal_the_raw_12_epoch_one_seed_file(table: NB201Table, data_dir: Path) -> None:
    raw = _raw(data_dir, "nats_tss_test_acc_12ep_200ep_one_seed.csv")
    for row in ROWS:
        arch = raw[row]["ArchitectureString"]
        assert table.lookup(arch, "cifar10", "test_acc_12ep") == float(raw[row]["Cifar10TestAccuracy12Epochs"])
        assert table.lookup(arch, "cifar100", "test_acc_12ep") == float(raw[row]["Cifar100TestAccuracy12Epochs"])
        assert table.lookup(arch, "imagenet16-120", "test_acc_one_seed") == float(raw[row]["ImageNet16TestAccuracy200Epochs"])


def test_lookups_equal_the_raw_cifar10_valid_file(table: NB201Table, data_dir: Path) -> None:
    raw = _raw(data_dir, "cifar10_valid_200ep_avg.csv")
    for row in ROWS:
        arch = raw[row]["arch_str"]
        assert table.lookup(arch, "cifar10", "valid_acc") == float(raw[row]["valid-accuracy"])
        assert table.lookup(arch, "cifar10", "train_seconds") == float(raw[row]["train-all-time"])


def test_index_and_arch_mapping(table: NB201Table, data_dir: Path) -> None:
    raw = _raw(data_dir, "cifar10_valid_200ep_avg.csv")
    for row in ROWS:
        arch = raw[row]["arch_str"]
        assert int(raw[row]["index"]) == row
        assert table.arch_at(row) == arch
        assert table.index_of(arch) == row
    assert table.arch_at(0) == "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    with pytest.raises(NasError, match="out of range"):
        table.arch_at(15625)


def test_best_values(table: NB201Table) -> None:
    best = [round(float(table.values(d, "test_acc").max()), 3) for d in table.datasets]
    assert best == [94.373, 73.513, 47.311]


def test_values_are_in_index_order_and_read_only(table: NB201Table) -> None:
    values = table.values("cifar100", "test_acc")
    assert values.shape == (15625,)
    for row in ROWS:
        assert values[row] == table.lookup(table.arch_at(row), "cifar100", "test_acc")
    with pytest.raises(ValueError):
        values[0] = 0.0
    assert np.isfinite(values).all() and 0 < values.min() and values.max() < 100


def test_unknown_and_malformed_architectures(table: NB201Table) -> None:
    with pytest.raises(NasError, match="no_such_op"):
        table.lookup("|no_such_op~0|+|none~0|none~1|+|none~0|none~1|none~2|", "cifar10", "test_acc")
    with pytest.raises(NasError, match="not an architecture"):
        table.lookup("not an architecture", "cifar10", "test_acc")
    assert "not an architecture" not in table
    assert table.arch_at(5) in table


def test_unknown_dataset_and_metric(table: NB201Table) -> None:
    arch = table.arch_at(0)
    with pytest.raises(NasError, match="valid_acc"):
        table.lookup(arch, "cifar100", "valid_acc")
    with pytest.raises(NasError, match="unknown dataset"):
        table.lookup(arch, "mnist", "test_acc")
    assert table.lookup(arch, "cifar-10", "test_acc") == table.lookup(arch, "cifar10", "test_acc")


def test_open_is_cached(table: NB201Table, data_dir: Path) -> None:
    assert open_table("nb201", data_dir) is table


def test_disagreeing_files_are_refused(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "nb201").mkdir()
    for name in ("nats_tss_test_acc_200ep.csv", "nats_tss_test_acc_12ep_200ep_one_seed.csv"):
        shutil.copy(data_dir / "nb201" / name, tmp_path / "nb201" / name)
    with open(data_dir / "nb201" / "cifar10_valid_200ep_avg.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    rows[3][5], rows[4][5] = rows[4][5], rows[3][5]  # swap the arch strings of indexes 2 and 3
    with open(tmp_path / "nb201" / "cifar10_valid_200ep_avg.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(NasError, match="disagrees"):
        NB201Table.open(tmp_path)


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="nats_tss_test_acc_200ep.csv"):
        NB201Table.open(tmp_path)
