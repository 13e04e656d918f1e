"""Dataset readers and seeded batches, on the real shared data and on small files in official layouts."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.data import (
    DATA_KINDS,
    NORMALISATION,
    STAND_IN,
    describe_input,
    load_batch,
    load_cifar10,
    load_cifar100,
    load_imagenet16,
    load_ptb,
)
from nas.errors import NasError


def test_cifar_readers(data_dir: Path) -> None:
    images, labels = load_cifar10(data_dir, "train")
    assert images.dtype == np.uint8 and images.shape[1:] == (3, 32, 32) and len(images) == len(labels) > 5000
    assert labels.dtype == np.int64 and set(np.unique(labels)) == set(range(10))
    with open(data_dir / "cifar-10-batches-py" / "test_batch", "rb") as handle:
        raw = pickle.load(handle, encoding="bytes")
    test_images, test_labels = load_cifar10(data_dir, "test")
    assert test_labels.tolist() == list(raw[b"labels"])
    assert test_images[3].tobytes() == bytes(raw[b"data"][3])  # row-major CHW, as released
    images100, labels100 = load_cifar100(data_dir, "test")
    assert images100.shape[1:] == (3, 32, 32) and 0 <= labels100.min() and labels100.max() <= 99


def test_missing_files_are_named(tmp_path: Path, data_dir: Path) -> None:
    (tmp_path / "cifar-10-batches-py").mkdir()
    shutil.copy(data_dir / "cifar-10-batches-py" / "data_batch_1", tmp_path / "cifar-10-batches-py")
    with pytest.raises(NasError, match="data_batch_2"):
        load_cifar10(tmp_path, "train")
    with pytest.raises(NasError, match="cifar-100-python/test"):
        load_batch("cifar100", data_dir=tmp_path, split="test")
    with pytest.raises(NasError, match="ptb.train.txt"):
        load_ptb(tmp_path, "valid")
    with pytest.raises(NasError, match="unknown split"):
        load_cifar10(data_dir, "valid")


def test_real_batches_are_fixed_by_their_seed(data_dir: Path) -> None:
    first = load_batch("cifar10", size=64, seed=3, data_dir=data_dir)
    again = load_batch("cifar10", size=64, seed=3, data_dir=data_dir)
    other = load_batch("cifar10", size=64, seed=4, data_dir=data_dir)
    # exact: the same file bytes, seed and element-wise normalisation (no reduction to reorder): the same bits
    assert torch.equal(first.inputs, again.inputs) and torch.equal(first.targets, again.targets)
    assert first.identity == again.identity and first.identity.startswith("cifar10:real:train:n64:seed3:")
    assert not torch.equal(first.inputs, other.inputs) and first.identity != other.identity  # exact comparison is right: another seed draws other images
    assert first.inputs.dtype == torch.float32 and first.inputs.shape == (64, 3, 32, 32)
    assert torch.isfinite(first.inputs).all() and 0 <= int(first.targets.min()) and int(first.targets.max()) <= 9
    assert first.kind == "real" and len(first) == 64


def test_real_batches_are_normalised(data_dir: Path) -> None:
    batch = load_batch("cifar100", size=400, data_dir=data_dir)
    mean, std = NORMALISATION["cifar100"]
    pixels = batch.inputs * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)
    assert float(pixels.min()) >= -1e-5 and float(pixels.max()) <= 1 + 1e-5  # undoing it gives 0-1 pixels
    assert batch.inputs.mean(dim=(0, 2, 3)).abs().max() < 0.25
    assert (batch.inputs.std(dim=(0, 2, 3)) - 1).abs().max() < 0.25
    with pytest.raises(NasError, match="exceeds"):
        load_batch("cifar100", size=100000, data_dir=data_dir)


def test_imagenet16_stand_in_is_named(data_dir: Path) -> None:
    batch = load_batch("imagenet16-120", size=32, data_dir=data_dir)
    assert batch.kind == STAND_IN and STAND_IN in batch.identity
    assert batch.inputs.shape == (32, 3, 16, 16) and torch.isfinite(batch.inputs).all()
    assert 0 <= int(batch.targets.min()) and int(batch.targets.max()) < 120
    assert "STAND-IN" in describe_input(batch) and "CIFAR-100" in describe_input(batch)


def _write_imagenet16(folder: Path, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, list[int]]]:
    folder.mkdir()
    written = {}
    for name in [f"train_data_batch_{i}" for i in range(1, 11)] + ["val_data"]:
        data = rng.integers(0, 256, size=(6, 768), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(1, 1001, size=6)]
        labels[0], labels[1] = 1, 120  # the edges of ImageNet16-120
        with open(folder / name, "wb") as handle:
            pickle.dump({"data": data, "labels": labels, "mean": np.zeros(768)}, handle)
        written[name] = (data, labels)
    return written


def test_imagenet16_reader_on_official_layout(tmp_path: Path) -> None:
    written = _write_imagenet16(tmp_path / "ImageNet16", np.random.default_rng(0))
    images, labels = load_imagenet16(tmp_path / "ImageNet16", "test")
    data, raw = written["val_data"]
    kept = [i for i, label in enumerate(raw) if label <= 120]
    assert labels.tolist() == [raw[i] - 1 for i in kept]
    assert images.shape == (len(kept), 3, 16, 16) and images[0].tobytes() == data[kept[0]].tobytes()
    train_images, train_labels = load_imagenet16(tmp_path / "ImageNet16", "train")
    assert len(train_images) == sum(sum(1 for v in written[f"train_data_batch_{i}"][1] if v <= 120) for i in range(1, 11))
    assert 0 <= train_labels.min() and train_labels.max() <= 119
    one_file, _ = load_imagenet16(tmp_path / "ImageNet16" / "val_data", num_classes=1000)
    assert len(one_file) == 6

    # a data directory with ImageNet16/ gives real ImageNet16 batches
    batch = load_batch("imagenet16-120", size=10, data_dir=tmp_path)
    assert batch.kind == "real" and batch.inputs.shape == (10, 3, 16, 16) and int(batch.targets.max()) < 120


def test_imagenet16_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="train_data_batch_1"):
        load_imagenet16(tmp_path, "train")


@pytest.mark.parametrize("kind", DATA_KINDS[1:])
def test_synthetic_inputs(kind: str) -> None:
    batch = load_batch("cifar10", kind, size=16, seed=1)
    again = load_batch("cifar10", kind, size=16, seed=1)
    other = load_batch("cifar10", kind, size=16, seed=2)
    # exact: the same generator, seed and code in one process give the same bits
    assert torch.equal(batch.inputs, again.inputs) and not torch.equal(batch.inputs, other.inputs)
    assert batch.kind == kind and batch.identity.startswith(f"cifar10:{kind}:n16:seed1:")
    assert batch.inputs.shape == (16, 3, 32, 32) and batch.inputs.dtype == torch.float32
    assert 0 <= int(batch.targets.min()) and int(batch.targets.max()) <= 9
    x = batch.inputs
    if kind == "grey":
        assert 0 <= float(x.min()) and float(x.max()) <= 1
        flat = x.reshape(16, -1)
        # exact: one level per image, copied (expand) to every pixel and channel, not computed per pixel
        assert torch.equal(flat, flat[:, :1].expand_as(flat))
        assert flat[:, 0].unique().numel() == 16
    elif kind == "normal":
        assert abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1) < 0.05 and float(x.min()) < -1
    elif kind == "uniform":
        assert -1 <= float(x.min()) < -0.99 and 0.99 < float(x.max()) <= 1
    else:
        assert 0 <= float(x.min()) < 0.01 and 0.99 < float(x.max()) <= 1
    assert kind in describe_input(batch)


def test_ptb_reader_and_batches(data_dir: Path) -> None:
    tokens, vocab = load_ptb(data_dir, "valid")
    assert len(vocab) == 10000 and "<eos>" in vocab and "<unk>" in vocab
    first_line = (data_dir / "ptb" / "ptb.valid.txt").read_text().split("\n", 1)[0].split()
    assert [vocab[i] for i in tokens[: len(first_line) + 1]] == [*first_line, "<eos>"]
    assert tokens.dtype == np.int64
    batch = load_batch("ptb", size=8, seed=5, data_dir=data_dir, split="valid")
    assert batch.inputs.shape == (8, 35) and batch.targets.shape == (8, 35)
    assert torch.equal(batch.inputs[:, 1:], batch.targets[:, :-1])  # exact: integer token ids; targets are the next tokens
    assert torch.equal(batch.inputs, load_batch("ptb", size=8, seed=5, data_dir=data_dir, split="valid").inputs)  # exact: token ids
    with pytest.raises(NasError, match="real data"):
        load_batch("ptb", "normal")


def test_bad_arguments() -> None:
    with pytest.raises(NasError, match="unknown input data"):
        load_batch("cifar10", "noise")
    with pytest.raises(NasError, match="batch size"):
        load_batch("cifar10", "normal", size=0)
    with pytest.raises(NasError, match="unknown dataset"):
        load_batch("mnist", "normal")


def _cifar10_layout(root: Path, images: np.ndarray, labels: list[int]) -> Path:
    """A CIFAR-10 folder in the official layout (every training file the same images and labels)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as handle:
            pickle.dump({b"data": images, b"labels": labels}, handle, protocol=2)
    return root


def test_batch_identity_covers_the_labels(tmp_path: Path) -> None:
    images = np.random.default_rng(1).integers(0, 256, size=(30, 3072), dtype=np.uint8)
    labels = [i % 10 for i in range(30)]
    first = load_batch("cifar10", size=16, seed=2, data_dir=_cifar10_layout(tmp_path / "a", images, labels))
    relabelled = load_batch("cifar10", size=16, seed=2, data_dir=_cifar10_layout(tmp_path / "b", images, [(v + 1) % 10 for v in labels]))
    # exact: the same file bytes and seed give the same inputs; only the labels differ
    assert torch.equal(first.inputs, relabelled.inputs) and not torch.equal(first.targets, relabelled.targets)
    assert first.identity != relabelled.identity  # the score store keys scores by the identity
    again = load_batch("cifar10", size=16, seed=2, data_dir=_cifar10_layout(tmp_path / "c", images, labels))
    assert again.identity == first.identity


def test_labels_out_of_range_are_a_data_error(tmp_path: Path) -> None:
    images = np.zeros((4, 3072), dtype=np.uint8)
    for bad in (99, -1, 10):
        root = _cifar10_layout(tmp_path / str(bad), images, [0, 1, bad, 2])
        with pytest.raises(NasError, match=f"label {bad} of example 2 is outside the dataset's classes 0..9") as info:
            load_batch("cifar10", size=2, data_dir=root)
        assert "data_batch_1" in str(info.value) and "\n" not in str(info.value)


def test_imagenet16_labels_outside_imagenet_are_a_data_error(tmp_path: Path) -> None:
    folder = tmp_path / "ImageNet16"
    folder.mkdir()
    with open(folder / "val_data", "wb") as handle:
        pickle.dump({"data": np.zeros((2, 768), dtype=np.uint8), "labels": [1, 1001]}, handle)
    with pytest.raises(NasError, match="label 1001 of example 1 is outside the dataset's classes 1..1000"):
        load_imagenet16(folder, "test")


def test_sizes_and_seeds_are_bounded() -> None:
    from nas.data import MAX_BATCH_SIZE

    with pytest.raises(NasError, match=f"batch size {MAX_BATCH_SIZE + 1} exceeds the limit of {MAX_BATCH_SIZE} examples"):
        load_batch("cifar10", "normal", size=MAX_BATCH_SIZE + 1)
    with pytest.raises(NasError, match="seed must be an integer from 0 to 2\\*\\*63 - 1, got 9223372036854775808"):
        load_batch("cifar10", "normal", size=2, seed=2**63)
    assert len(load_batch("cifar10", "normal", size=2, seed=2**63 - 1)) == 2
    with pytest.raises(NasError, match="got an integer of 200 bits"):
        load_batch("cifar10", "normal", size=2, seed=2**199)
