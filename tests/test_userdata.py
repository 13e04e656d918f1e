"""Datasets of your own (image folder, .npz, CIFAR-style pickles): specs, splits, batches, bad data, ``nas score``."""

from __future__ import annotations

import csv
import math
import os
import pickle
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

import nas.userdata as userdata
from nas.cli import main
from nas.data import NORMALISATION, load_batch
from nas.datasets import dataset_spec
from nas.errors import NasError
from nas.spaces import create_space
from nas.userdata import (
    DEFAULT_SPLIT_SEED,
    DEFAULT_VALID_FRACTION,
    dataset_identity,
    load_split,
    normalisation,
    split_indices,
    user_dataset,
)

CLASSES = ("ant", "bee", "cow")
PER_CLASS = (9, 7, 2)


def _noise_png(path: Path, width: int, height: int, rng: np.random.Generator, mode: str = "RGB") -> None:
    pixels = rng.integers(0, 256, size=(height, width, len(mode)), dtype=np.uint8)
    Image.fromarray(pixels.squeeze(-1) if mode == "L" else pixels, mode).save(path)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """Three class folders of noise PNGs of different sizes (one grey, one RGBA), plus files to ignore."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for name, count in zip(CLASSES, PER_CLASS):
        (root / name / "nested").mkdir(parents=True)
        for i in range(count):
            where = root / name / ("nested" if i == 0 else "") / f"{i}.png"
            _noise_png(where, int(rng.integers(5, 40)), int(rng.integers(5, 40)), rng, ("L", "RGBA", "RGB")[i % 3])
        (root / name / "notes.txt").write_text("not an image")
        (root / name / ".hidden.png").write_bytes(b"ignored")
    (root / "README.png").write_bytes(b"a file beside the class folders is ignored")
    return root


@pytest.fixture()
def npz_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    path = tmp_path / "data.npz"
    np.savez(path, x=rng.random((30, 12, 8, 3)).astype(np.float32), y=np.array([10, 20, 30] * 10), extra=np.zeros(2))
    return path


def _cifar_dir(root: Path, files: dict[str, dict[object, object]]) -> Path:
    root.mkdir()
    for name, content in files.items():
        with open(root / name, "wb") as handle:
            pickle.dump(content, handle, protocol=2)
    return root


def _rows(rng: np.random.Generator, count: int, side: int = 8) -> np.ndarray:
    return rng.integers(0, 256, size=(count, 3 * side * side), dtype=np.uint8)


@pytest.fixture()
def cifar_dir(tmp_path: Path) -> Path:
    """CIFAR-10 layout: two training batches (bytes keys, as the Python 2 release) and a test batch to ignore."""
    rng = np.random.default_rng(2)
    return _cifar_dir(
        tmp_path / "cifar",
        {
            "data_batch_1": {b"data": _rows(rng, 12), b"labels": [1, 3, 5, 7] * 3},
            "data_batch_2": {b"data": _rows(rng, 8), b"labels": [7, 5, 3, 1] * 2},
            "test_batch": {b"data": _rows(rng, 4, side=4), b"labels": [9, 9, 9, 9]},
        },
    )


def test_an_image_folder_is_read_from_its_data(folder: Path) -> None:
    spec = dataset_spec(f"imagefolder:{folder}")
    assert spec.name == f"imagefolder:{folder.resolve()}?size=32" and spec.kind == "image"
    assert spec.input_shape == (3, 32, 32) and spec.num_classes == 3
    assert dataset_spec(spec.name) == spec  # the canonical name gives the same spec
    data = user_dataset(spec.name)
    assert data.classes == CLASSES and len(data.images) == sum(PER_CLASS)
    assert data.labels.tolist() == [0] * 9 + [1] * 7 + [2] * 2
    assert data.images.dtype == np.uint8 and not data.images.flags.writeable and not data.labels.flags.writeable
    assert user_dataset(spec.name) is data  # read once per process
    assert dataset_spec(f"IMAGEFOLDER:{folder}?size=16").input_shape == (3, 16, 16)


def test_images_are_scaled_to_the_shorter_side_then_centre_cropped(tmp_path: Path) -> None:
    for name in ("wide", "other"):
        (tmp_path / "f" / name).mkdir(parents=True)
    wide = np.zeros((20, 40, 3), dtype=np.uint8)  # red | green (the middle half) | blue
    wide[:, :10, 0] = wide[:, 10:30, 1] = wide[:, 30:, 2] = 255
    Image.fromarray(wide).save(tmp_path / "f" / "wide" / "a.png")
    Image.fromarray(np.zeros((3, 3), dtype=np.uint8)).save(tmp_path / "f" / "other" / "b.png")
    images = user_dataset(f"imagefolder:{tmp_path / 'f'}?size=8").images
    assert images.shape == (2, 3, 8, 8)
    assert images[0].max() == 0  # class "other": grey became RGB
    inner = images[1, :, :, 1:7]  # red and blue at most blend into the outermost columns (antialiasing)
    assert (inner[1] == 255).all() and inner[0].max() == inner[2].max() == 0  # only the green middle survives


def test_npz_layouts_and_labels(tmp_path: Path, npz_file: Path) -> None:
    data = user_dataset(f"npz:{npz_file}")
    assert data.images.shape == (30, 3, 12, 8) and data.classes == (10, 20, 30)
    assert data.labels.tolist() == [0, 1, 2] * 10
    with np.load(npz_file) as raw:
        assert np.array_equal(data.images, np.rint(raw["x"].transpose(0, 3, 1, 2) * 255).astype(np.uint8))
    rng = np.random.default_rng(3)
    first = rng.integers(0, 256, size=(6, 1, 9, 9), dtype=np.uint8)  # (N, C, H, W), grey
    np.savez(tmp_path / "first.npz", x=first, y=np.array([[0.0], [1.0]] * 3))  # labels (N, 1), whole floats
    spec = dataset_spec(f"npz:{tmp_path / 'first.npz'}")
    assert spec.input_shape == (1, 9, 9) and spec.num_classes == 2
    assert np.array_equal(user_dataset(spec.name).images, first)
    np.savez(tmp_path / "plain.npz", x=first[:, 0].astype(np.int64), y=np.arange(6) % 2)  # (N, H, W), integers 0..255
    assert np.array_equal(user_dataset(f"npz:{tmp_path / 'plain.npz'}").images, first)


def test_cifar_style_pickles(tmp_path: Path, cifar_dir: Path) -> None:
    spec = dataset_spec(f"cifar:{cifar_dir}")
    assert spec.name == f"cifar:{cifar_dir.resolve()}" and spec.input_shape == (3, 8, 8) and spec.num_classes == 4
    data = user_dataset(spec.name)
    assert data.classes == (1, 3, 5, 7) and len(data.images) == 20  # the test batch is not read
    with open(cifar_dir / "data_batch_2", "rb") as handle:
        second = pickle.load(handle, encoding="bytes")
    assert data.images[12].tobytes() == second[b"data"][0].tobytes()  # channel planes, as CIFAR stores them
    assert data.labels[12:].tolist() == [3, 2, 1, 0, 3, 2, 1, 0]
    rng = np.random.default_rng(4)
    hundred = _cifar_dir(  # CIFAR-100 layout, str keys: fine labels are the classes
        tmp_path / "hundred", {"train": {"data": _rows(rng, 6), "fine_labels": [4, 0, 4, 0, 2, 2], "coarse_labels": [0] * 6}}
    )
    assert user_dataset(f"cifar:{hundred}").classes == (0, 2, 4)


def test_the_split_is_stratified_seeded_disjoint_and_covering(folder: Path) -> None:
    name = f"imagefolder:{folder}"
    data = user_dataset(name)
    train_x, train_y = load_split(name, "train")
    valid_x, valid_y = load_split(name, "valid")
    assert train_x.dtype == valid_x.dtype == np.uint8 and train_y.dtype == valid_y.dtype == np.int64
    assert train_x.shape[1:] == valid_x.shape[1:] == (3, 32, 32)
    # each class: round(0.1 n) clipped to 1..n-1 in valid: 9 -> 1, 7 -> 1, 2 -> 1
    assert np.bincount(valid_y).tolist() == [1, 1, 1] and np.bincount(train_y).tolist() == [8, 6, 1]
    train, valid = split_indices(data.labels)
    assert not set(train) & set(valid) and sorted([*train, *valid]) == list(range(len(data.labels)))
    assert np.array_equal(train_x, data.images[train]) and np.array_equal(valid_y, data.labels[valid])
    assert np.array_equal(load_split(name, "valid")[0], valid_x)  # deterministic
    assert not train_x.flags.writeable
    labels = np.repeat(np.arange(4), [1, 10, 40, 3])
    draws = {tuple(split_indices(labels, 0.25, seed)[1]) for seed in range(5)}
    assert len(draws) > 1  # the seed chooses
    for seed in range(5):
        train, valid = split_indices(labels, 0.25, seed)
        assert np.bincount(labels[valid], minlength=4).tolist() == [0, 3, 10, 1]  # one example: train only
        assert np.array_equal(np.sort(np.concatenate([train, valid])), np.arange(len(labels)))


def test_built_in_datasets_split_their_training_files(data_dir: Path) -> None:
    from nas.data import load_cifar100

    images, labels = load_cifar100(data_dir, "train")
    train_x, train_y = load_split("cifar100", "train", data_dir=data_dir, valid_fraction=0.2, seed=5)
    valid_x, valid_y = load_split("cifar100", "valid", data_dir=data_dir, valid_fraction=0.2, seed=5)
    assert len(train_x) + len(valid_x) == len(images) and train_x.shape[1:] == (3, 32, 32)
    assert np.array_equal(np.bincount(train_y, minlength=100) + np.bincount(valid_y, minlength=100), np.bincount(labels, minlength=100))
    stand_in_x, stand_in_y = load_split("imagenet16-120", "valid", data_dir=data_dir, valid_fraction=0.2, seed=5)
    assert stand_in_x.shape[1:] == (3, 16, 16) and np.array_equal(stand_in_y, valid_y)
    assert normalisation("cifar10") == NORMALISATION["cifar10"]
    assert dataset_identity("cifar100", data_dir) == dataset_identity("cifar100", data_dir) != dataset_identity("imagenet16-120", data_dir)
    with pytest.raises(NasError, match="ptb.*image datasets"):
        load_split("ptb", "train")


def test_proxy_batches_never_hold_validation_examples(folder: Path) -> None:
    name = f"imagefolder:{folder}"
    train_x, _ = load_split(name, "train", valid_fraction=DEFAULT_VALID_FRACTION, seed=DEFAULT_SPLIT_SEED)
    valid_x, _ = load_split(name, "valid")
    mean, std = normalisation(name)
    assert len(mean) == len(std) == 3
    pixels = train_x.astype(np.float64) / 255
    assert np.allclose(mean, pixels.mean(axis=(0, 2, 3))) and np.allclose(std, pixels.std(axis=(0, 2, 3)))
    train_rows = {image.tobytes() for image in train_x}
    valid_rows = {image.tobytes() for image in valid_x}
    for seed in range(3):
        batch = load_batch(name, size=len(train_x), seed=seed)
        back = batch.inputs.numpy() * np.array(std, dtype=np.float32)[:, None, None] + np.array(mean, dtype=np.float32)[:, None, None]
        rows = {image.tobytes() for image in np.rint(back * 255).astype(np.uint8)}
        assert rows == train_rows and not rows & valid_rows
        assert batch.dataset == dataset_spec(name).name and batch.kind == "real"
    assert abs(float(batch.inputs.mean())) < 1e-4  # normalised by the statistics of the train part
    with pytest.raises(NasError, match="15 examples of the train part"):
        load_batch(name, size=16)
    with pytest.raises(NasError, match="train part of its split only"):
        load_batch(name, size=4, split="test")
    assert tuple(load_batch(name, data="grey", size=4).inputs.shape) == (4, 3, 32, 32)


def test_identity_follows_the_content_not_the_path(folder: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    assert dataset_identity(f"imagefolder:{copy}") == dataset_identity(f"imagefolder:{folder}")
    assert load_batch(f"imagefolder:{copy}", size=4).identity == load_batch(f"imagefolder:{folder}", size=4).identity
    assert dataset_identity(f"imagefolder:{copy}?size=16") != dataset_identity(f"imagefolder:{copy}")
    image = copy / "bee" / "3.png"
    Image.fromarray(np.full((6, 6, 3), 7, dtype=np.uint8)).save(image)
    stamp = image.stat()
    os.utime(image, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))  # a changed file is read again
    assert dataset_identity(f"imagefolder:{copy}") != dataset_identity(f"imagefolder:{folder}")


def _bad_npz(x: object, y: object) -> Callable[[Path], str]:
    def make(tmp_path: Path) -> str:
        np.savez(tmp_path / "bad.npz", x=x, y=y)
        return f"npz:{tmp_path / 'bad.npz'}"

    return make


def _folder_with(change: Callable[[Path], None]) -> Callable[[Path], str]:
    def make(tmp_path: Path) -> str:
        root = tmp_path / "bad"
        for name in ("a", "b"):
            (root / name).mkdir(parents=True)
            Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(root / name / "ok.png")
        change(root)
        return f"imagefolder:{root}"

    return make


_IMAGES = np.zeros((4, 8, 8, 3), dtype=np.uint8)

BAD = {
    "missing folder": (lambda tmp: f"imagefolder:{tmp / 'nowhere'}", "image folder '.*nowhere' does not exist"),
    "missing npz": (lambda tmp: f"npz:{tmp / 'nothing.npz'}", "npz file '.*nothing.npz' does not exist"),
    "missing cifar": (lambda tmp: f"cifar:{tmp / 'nope'}", "CIFAR folder '.*nope' does not exist"),
    "no class folders": (_folder_with(lambda root: [shutil.rmtree(root / n) for n in "ab"]), "has no class folders"),
    "empty class folder": (_folder_with(lambda root: (root / "empty").mkdir()), "class folder 'empty' has no images"),
    "corrupt image": (
        _folder_with(lambda root: (root / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")),
        "unreadable image '.*/b/broken.png'",
    ),
    "one class folder": (_folder_with(lambda root: shutil.rmtree(root / "b")), "one class only \\('a'\\)"),
    "one class npz": (_bad_npz(_IMAGES, np.array([3, 3, 3, 3])), "one class only \\(label 3\\)"),
    "x/y lengths": (_bad_npz(_IMAGES, np.array([0, 1, 0])), "x has 4 images but y has 3 labels"),
    "x not images": (_bad_npz(np.zeros((4, 8, 8, 5)), np.array([0, 1, 0, 1])), "x of shape \\(4, 8, 8, 5\\) is not image-shaped"),
    "x out of range": (_bad_npz(np.full((4, 8, 8, 3), 2.0), np.array([0, 1, 0, 1])), "must hold pixel values in \\[0, 1\\]"),
    "labels not integers": (_bad_npz(_IMAGES, np.array([0.0, 1.5, 0.0, 1.0])), "labels are not integers: label 1.5 of example 1"),
    "string labels": (_bad_npz(_IMAGES, np.array(["a", "b", "a", "b"])), "labels are not integers \\(dtype <U1\\)"),
    "no y": (lambda tmp: (np.savez(tmp / "x.npz", x=_IMAGES), f"npz:{tmp / 'x.npz'}")[1], "has no array 'y'"),
    "not npz": (lambda tmp: ((tmp / "t.npz").write_text("text"), f"npz:{tmp / 't.npz'}")[1], "not a NumPy .npz archive"),
    "no cifar files": (lambda tmp: ((tmp / "c").mkdir(), f"cifar:{tmp / 'c'}")[1], "has no training files: expected data_batch_1"),
    "bad option": (lambda tmp: f"npz:{tmp}/a.npz?size=3", "unknown option 'size'; npz:PATH takes no options"),
    "bad size": (lambda tmp: f"imagefolder:{tmp}?size=0", "size must be an integer from 1 to 1024"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_data_is_one_clear_line(case: str, tmp_path: Path) -> None:
    make, pattern = BAD[case]
    name = make(tmp_path)
    with pytest.raises(NasError, match=pattern) as info:
        dataset_spec(name)
    assert "\n" not in str(info.value)


def test_limits_are_checked_before_decoding(folder: Path, npz_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(userdata, "MAX_BYTES", 1000)
    with pytest.raises(NasError, match="over the limit of 1,000"):
        dataset_spec(f"imagefolder:{folder}?size=30")
    with pytest.raises(NasError, match="over the limit of 1,000"):
        dataset_spec(f"npz:{npz_file}")
    monkeypatch.setattr(userdata, "MAX_FILES", 5)
    with pytest.raises(NasError, match="more than 5 files"):
        dataset_spec(f"imagefolder:{folder}?size=2")


def test_spaces_build_for_image_data_of_your_own(folder: Path, npz_file: Path, tmp_path: Path) -> None:
    nb201 = create_space("nb201")
    arch = nb201.parse("|nor_conv_1x1~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|nor_conv_1x1~2|")
    model = nb201.build(arch, nb201.dataset_spec(f"imagefolder:{folder}?size=16"))
    assert model.classifier.out_features == 3
    assert nb201.build(arch, nb201.dataset_spec(f"npz:{npz_file}")).classifier.out_features == 3
    with pytest.raises(NasError, match="has no dataset"):
        create_space("nlp").dataset_spec(f"npz:{npz_file}")
    np.savez(tmp_path / "odd.npz", x=np.zeros((2, 10, 10), dtype=np.uint8), y=np.array([0, 1]))
    with pytest.raises(NasError, match="divisible by 4"):  # the space's own check, on the data's shape
        nb201.build(arch, nb201.dataset_spec(f"npz:{tmp_path / 'odd.npz'}"))


def test_nas_score_on_an_image_folder(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scores.csv"
    argv = ["score", "--space", "nb201", "--dataset", f"imagefolder:{folder}", "--proxy", "synflow,epsilon", "--sample", "3"]
    assert main([*argv, "--batch-size", "8", "--no-progress", "--out", str(out)]) == 0
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 and list(rows[0]) == ["arch", "canonical_id", "synflow", "epsilon", "synflow_reason", "epsilon_reason"]
    assert all(math.isfinite(float(row["synflow"])) for row in rows)
    assert main([*argv, "--no-progress"]) == 2  # the default batches are larger than the data: one line
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("nas: error: batch size") and "--batch-size" in err[-1]
    assert main(["score", "--dataset", f"imagefolder:{tmp_path / 'missing'}", "--proxy", "params", "--sample", "1"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
