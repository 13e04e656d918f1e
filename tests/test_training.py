"""The training oracle: real training on the shared CIFAR-10 images, its cache, and searches on it.

Networks and data are cut to the bone (NAS-Bench-201 cells with 4 channels and one cell per
stage, a few hundred images, one epoch): the claims here are about determinism, caching, the
split and the search loop, not about accuracy.
"""

from __future__ import annotations

import importlib.util
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from nas.errors import NasError
from nas.experiment.config import parse_config
from nas.spaces import create_space
from nas.training import (
    TRAINING_FILE,
    Recipe,
    Trainer,
    TrainingOracle,
    TrainingStore,
    train_architecture,
)
from nas.data import load_cifar10
from nas.userdata import load_split

TINY = Recipe(epochs=1, batch_size=64, train_examples=256, valid_examples=128, network={"channels": 4, "cells_per_stage": 1})
ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"


def test_a_run_is_deterministic_and_keeps_its_weights(tmp_path: Path) -> None:
    space = create_space("nb201")
    arch = space.parse(ARCH)
    first = train_architecture(space, arch, "cifar10", TINY, seed=3, weights_path=str(tmp_path / "w.pt"))
    second = train_architecture(space, arch, "cifar10", TINY, seed=3)
    assert (first.valid_acc, first.valid_loss) == (second.valid_acc, second.valid_loss)  # one thread, same seed
    assert 0 <= first.valid_acc <= 100 and math.isfinite(first.valid_loss)
    assert len(first.curve) == 1 and first.curve[0]["epoch"] == 1.0
    other = train_architecture(space, arch, "cifar10", TINY, seed=4)
    assert (other.valid_acc, other.valid_loss) != (first.valid_acc, first.valid_loss)
    # the saved weights are the trained network: its validation accuracy is reproduced from them
    model = space.build(arch, space.dataset_spec("cifar10"), channels=4, cells_per_stage=1)
    model.load_state_dict(torch.load(tmp_path / "w.pt"))
    # exact: loaded values against freshly initialised ones; training must have changed some of them
    assert any(not torch.equal(p, q) for p, q in zip(model.state_dict().values(), space.build(arch, space.dataset_spec("cifar10"), channels=4, cells_per_stage=1).state_dict().values()))


def test_training_reads_only_the_train_part_of_the_split() -> None:
    train_x, _ = load_split("cifar10", "train")
    valid_x, _ = load_split("cifar10", "valid")
    total = len(load_cifar10()[0])  # the shared data's training files (a partial CIFAR-10 here)
    assert len(train_x) + len(valid_x) == total and abs(len(valid_x) - total / 10) <= 10  # 10 classes, rounded each
    # no validation image is among the training images (compared by content hashes of a sample)
    train_hashes = {hash(image.tobytes()) for image in train_x}
    assert not any(hash(image.tobytes()) in train_hashes for image in valid_x[:500])


def test_the_cache_answers_a_repeated_query_without_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nas.training as training

    store = TrainingStore(tmp_path / TRAINING_FILE)
    trainer = Trainer("nb201", "cifar10", TINY, seed=0, store=store, cache_dir=tmp_path)
    oracle = TrainingOracle(trainer, budget=2)
    value = oracle.train(ARCH)
    assert len(store) == 1 and oracle.queries == 1 and oracle.history[0].value == value

    def refuse(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(training, "train_architecture", refuse)
    again = TrainingOracle(Trainer("nb201", "cifar10", TINY, seed=0, store=store, cache_dir=tmp_path), budget=1)
    assert again.train(ARCH) == value
    # another recipe or seed is another run
    with pytest.raises(NasError, match="trained again"):
        TrainingOracle(Trainer("nb201", "cifar10", TINY, seed=1, store=store, cache_dir=tmp_path)).train(ARCH)
    with pytest.raises(RuntimeError, match="budget"):
        again.train(ARCH)
    store.close()


@pytest.mark.parametrize(
    "oracle, message",
    [
        ("trained", "oracle: 'table', 'train' or a mapping"),
        ({"kind": "gpu"}, "oracle.kind: 'table' or 'train'"),
        ({"kind": "train", "recipe": {"epochs": 0}}, "epochs must be a positive integer"),
        ({"kind": "train", "recipe": {"epoch": 2}}, "unknown key 'epoch'"),
        ({"kind": "train", "recipe": {"seconds": -1}}, "seconds must be a positive number"),
        ({"kind": "table", "recipe": {}}, "only the training oracle"),
    ],
)
def test_bad_oracle_settings_are_one_line_errors(oracle: object, message: str) -> None:
    data = {"space": "nb201", "dataset": "cifar10", "metric": "valid_acc", "budget": 2, "oracle": oracle,
            "strategies": [{"name": "random", "strategy": "random"}]}
    with pytest.raises(NasError, match=message) as caught:
        parse_config(data, "x.yaml")
    assert "\n" not in str(caught.value)


def test_the_training_oracle_answers_validation_metrics_only() -> None:
    data = {"space": "nb201", "dataset": "cifar10", "metric": "test_acc", "budget": 2, "oracle": "train",
            "strategies": [{"name": "random", "strategy": "random"}]}
    with pytest.raises(NasError, match="metric: the training oracle answers valid_acc, valid_loss"):
        parse_config(data, "x.yaml")


def _experiment(tmp_path: Path, budget: int, strategies: list[dict]) -> Path:
    config = {
        "name": "train-test",
        "space": "nb201",
        "dataset": "cifar10",
        "metric": "valid_acc",
        "oracle": {"kind": "train", "recipe": {**TINY.to_dict(), "network": dict(TINY.network)}},
        "proxy": {"name": "synflow", "batch": {"data": "real", "size": 16, "seed": 0}},
        "budget": budget,
        "rounds": 1,
        "seed": 0,
        "strategies": strategies,
    }
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_search_with_warm_up_on_the_training_oracle(tmp_path: Path) -> None:
    import nas

    path = _experiment(
        tmp_path,
        3,
        [{"name": "random", "strategy": "random"},
         {"name": "evolution+warm-up", "strategy": "evolution", "settings": {"population": 2, "tournament": 1, "warmup": True, "pool": 8}}],
    )
    result = nas.search(str(path), out=tmp_path / "out", cache_dir=tmp_path / "cache", executor="serial")
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "Oracle: real training on `cifar10`" in summary and "Training cost: " in summary
    frame = result.summary
    assert list(frame["trained"]) == [3, 3]
    # the final choices are reported with their NAS-Bench-201 test accuracy (the table's)
    assert frame["final_metric"].iloc[0] == "test_acc" and np.isfinite(frame["final_mean"]).all()
    # the best final choice exports with its trained weights and the recipe's reduced network
    from nas.export import export_run

    exported = export_run(tmp_path / "out", tmp_path / "model", cache_dir=tmp_path / "cache")
    assert exported.weights == "trained"
    best = max((run for runs in result.experiment.runs.values() for run in runs), key=lambda run: run.final_value)
    meta = yaml.safe_load((tmp_path / "model" / "export.json").read_text())
    assert meta["arch"] == best.final_arch and meta["network"] == dict(TINY.network)
    # every distinct trained architecture is one stored run
    store = TrainingStore(tmp_path / "cache" / TRAINING_FILE)
    assert len(store) == result.history["arch"].nunique()
    assert (result.history["simulated_seconds"] > 0).all()
    store.close()


def test_a_killed_search_resumes_without_retraining(tmp_path: Path) -> None:
    path = _experiment(tmp_path, 4, [{"name": "random", "strategy": "random"}])
    env = dict(os.environ, NAS_CACHE_DIR=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "nas", "search", str(path), "--out", str(tmp_path / "out"), "--executor", "serial", "--progress"]
    database = tmp_path / "cache" / TRAINING_FILE
    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    kept = 0
    while kept < 1 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
        if database.exists():
            with sqlite3.connect(database, timeout=10) as raw:
                has = raw.execute("SELECT 1 FROM sqlite_master WHERE name = 'trainings'").fetchone()
                kept = raw.execute("SELECT COUNT(*) FROM trainings").fetchone()[0] if has else 0
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL, "the search ended before it could be killed"
    with sqlite3.connect(database) as raw:
        stored = {arch for (arch,) in raw.execute("SELECT arch FROM trainings")}
    assert 1 <= len(stored) < 4

    again = subprocess.run(command + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    cached = [line for line in again.stderr.splitlines() if "(from the cache" in line]
    trained = [line for line in again.stderr.splitlines() if "(trained in" in line]
    assert len(cached) == len(stored) and len(trained) == 4 - len(stored)
    with sqlite3.connect(database) as raw:
        assert raw.execute("SELECT COUNT(*) FROM trainings").fetchone()[0] == 4


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install '.[ray]')")
def test_ray_actors_train_as_this_process_does(tmp_path: Path) -> None:
    import ray

    serial = TrainingOracle(Trainer("nb201", "cifar10", TINY, seed=2, cache_dir=tmp_path / "serial"))
    expected = serial.train_many([ARCH])
    serial.trainer.close()
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        trainer = Trainer("nb201", "cifar10", TINY, seed=2, executor="ray", workers=1, cache_dir=tmp_path / "ray")
        got = TrainingOracle(trainer).train_many([ARCH])
        trainer.close()
    finally:
        ray.shutdown()
    assert got == expected  # one thread per worker, the same seed: the same run


def test_compare_against_the_training_oracle(tmp_path: Path) -> None:
    import nas

    recipe = {**TINY.to_dict(), "network": dict(TINY.network)}
    comparison = nas.compare("synflow,params", sample=4, seed=1, recipe=recipe, cache_dir=tmp_path, executor="serial", bootstrap=50)
    data = comparison.data
    assert data.config.metric == "valid_acc" and len(data.archs) == 4
    # the trained metric is each architecture's stored training run
    store = TrainingStore(tmp_path / TRAINING_FILE)
    trainer = Trainer("nb201", "cifar10", TINY, seed=0, store=store, cache_dir=tmp_path)
    assert len(store) == 4
    assert [trainer.results([arch])[arch].valid_acc for arch in data.archs] == list(data.accuracies)
    store.close()
    assert "--recipe" in comparison.command
    assert "of the training oracle, each architecture trained here" in comparison.to_markdown()
