"""Importing official benchmark files (built here with the authors' own classes) into the nb201 table.

The files are small but laid out like the official ones: all 15,625 architecture strings (taken
from the shared data) and results for a few architectures, made of the packages' ``ArchResults``
and ``ResultsCount`` objects. Expected values come from the official APIs' ``get_more_info``.
"""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from nas.benchmarks.importers import import_table
from nas.benchmarks.nb201 import NB201Table
from nas.cli import main
from nas.errors import NasError

EVALUATED = (0, 1, 7777)
SETS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("x-valid", "x-test", "ori-test"),
    "ImageNet16-120": ("x-valid", "x-test", "ori-test"),
}
SEEDS_200 = {"cifar10-valid": [777, 888], "cifar10": [777, 888, 999], "cifar100": [999, 777], "ImageNet16-120": [888]}
PARAMS = {"cifar10-valid": 1.531546, "cifar10": 1.531546, "cifar100": 1.537396, "ImageNet16-120": 1.538696}
OURS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "ImageNet16-120"}


@pytest.fixture(scope="module")
def archs(data_dir: Path) -> list[str]:
    with open(data_dir / "nb201" / "nats_tss_test_acc_200ep.csv", newline="") as handle:
        return [row["ArchitectureString"] for row in csv.DictReader(handle)]


def _trial(api: ModuleType, rng: random.Random, arch: str, dataset: str, seed: int, epochs: int) -> Any:
    """One training run's ResultsCount with random curves."""
    result = api.ResultsCount(dataset, None, None, None, PARAMS[dataset], 10.0, {"arch_str": arch}, seed, epochs, [0.01])
    result.update_train_info(
        {e: rng.uniform(10, 100) for e in range(epochs)},
        None,
        {e: rng.uniform(0, 3) for e in range(epochs)},
        {e: rng.uniform(5, 15) for e in range(epochs)},
    )
    keys = [f"{name}@{e}" for name in SETS[dataset] for e in range(epochs)]
    result.update_eval({k: rng.uniform(10, 100) for k in keys}, {k: rng.uniform(0, 3) for k in keys}, {k: rng.uniform(1, 2) for k in keys})
    return result


def _results(api: ModuleType, rng: random.Random, index: int, arch: str, epochs: int) -> dict[str, Any]:
    """The state dict of one architecture's ArchResults for one schedule."""
    results = api.ArchResults(index, arch)
    for dataset in SETS:
        for seed in SEEDS_200[dataset] if epochs == 200 else [777]:
            results.update(dataset, seed, _trial(api, rng, arch, dataset, seed, epochs))
    return results.state_dict()


def _check_against(official: Any, table: NB201Table, archs: list[str]) -> None:
    """The imported table equals what the official API's get_more_info reports."""
    for index in EVALUATED:
        arch = archs[index]
        for ours, theirs in OURS.items():
            info = official.get_more_info(index, theirs, hp="200", is_random=False)
            assert table.lookup(arch, ours, "test_acc") == pytest.approx(info["test-accuracy"], rel=1e-12)
            seed = min(SEEDS_200[theirs])
            one = official.get_more_info(index, theirs, hp="200", is_random=seed)
            assert table.lookup(arch, ours, "test_acc_one_seed") == pytest.approx(one["test-accuracy"], rel=1e-12)
            low = official.get_more_info(index, theirs, hp="12", is_random=False)
            assert table.lookup(arch, ours, "test_acc_12ep") == pytest.approx(low["test-accuracy"], rel=1e-12)
            setting = "cifar10-valid" if ours == "cifar10" else theirs
            valid = official.get_more_info(index, setting, hp="200", is_random=False)
            assert table.lookup(arch, ours, "valid_acc") == pytest.approx(valid["valid-accuracy"], rel=1e-12)
            assert table.lookup(arch, ours, "train_seconds") == pytest.approx(valid["train-all-time"], rel=1e-12)
            assert table.lookup(arch, ours, "params") == round(PARAMS[theirs] * 1e6)
    assert math.isnan(table.lookup(archs[2], "cifar10", "test_acc"))
    assert table.arch_at(7777) == archs[7777] and len(table) == 15625


def test_nb201_pth_round_trip(archs: list[str], tmp_path: Path) -> None:
    import nas_201_api

    rng = random.Random(0)
    data = {
        "meta_archs": archs,
        "arch2infos": {
            i: {"full": _results(nas_201_api, rng, i, archs[i], 200), "less": _results(nas_201_api, rng, i, archs[i], 12)}
            for i in EVALUATED
        },
        "evaluated_indexes": list(EVALUATED),
    }
    path = tmp_path / "NAS-Bench-201-mini.pth"
    torch.save(data, path)
    written = import_table("nb201-pth", path, tmp_path / "out")
    assert written == tmp_path / "out" / "nb201" / "nas_nb201_table.csv"
    table = NB201Table.open(tmp_path / "out")
    assert table.source == str(written)
    _check_against(nas_201_api.NASBench201API(data, verbose=False), table, archs)

    # the CLI: same import, refusing to overwrite without --force
    args = ["import-table", "--from", "nb201-pth", str(path), "--out", str(tmp_path / "out")]
    assert main(args) == 2
    assert main([*args, "--force"]) == 0


def test_nats_tss_round_trip(archs: list[str], tmp_path: Path) -> None:
    nats_bench = pytest.importorskip("nats_bench")
    rng = random.Random(1)
    infos = {i: {"200": _results(nats_bench, rng, i, archs[i], 200), "12": _results(nats_bench, rng, i, archs[i], 12)} for i in EVALUATED}
    # the "-simple" directory: meta.pickle.pbz2 plus one file per evaluated architecture
    simple = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    simple.mkdir()
    nats_bench.pickle_save({"meta_archs": archs}, str(simple / "meta.pickle"))
    for index, info in infos.items():
        nats_bench.pickle_save(info, str(simple / f"{index:06d}.pickle"))
    import_table("nats-tss", simple, tmp_path / "out")
    table = NB201Table.open(tmp_path / "out")
    whole = {"meta_archs": archs, "arch2infos": infos, "evaluated_indexes": list(EVALUATED)}
    _check_against(nats_bench.create(whole, "tss", verbose=False), table, archs)
    # the single-file form, NATS-tss-v1_0-3ffb9.pickle.pbz2, gives the same table
    nats_bench.pickle_save(whole, str(tmp_path / "NATS-tss-v1_0-3ffb9.pickle"))
    import_table("nats-tss", tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2", tmp_path / "single")
    single = NB201Table.open(tmp_path / "single")
    for dataset in table.datasets:
        for metric in table.metrics(dataset):
            assert single.values(dataset, metric).tobytes() == table.values(dataset, metric).tobytes()


def test_bad_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="does not exist"):
        import_table("nb201-pth", tmp_path / "missing.pth", tmp_path)
    with pytest.raises(NasError, match="unknown import source"):
        import_table("nb301", tmp_path, tmp_path)
    not_a_benchmark = tmp_path / "other.pth"
    torch.save({"weights": [1, 2]}, not_a_benchmark)
    with pytest.raises(NasError, match="not a NAS-Bench-201 file"):
        import_table("nb201-pth", not_a_benchmark, tmp_path)
