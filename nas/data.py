"""Dataset readers and the fixed, seeded batches that proxies score models on.

Readers (files in their official layouts, inside the data directory of :mod:`nas.paths`):

* :func:`load_cifar10`, :func:`load_cifar100`: the python-pickle releases
  (``cifar-10-batches-py/data_batch_1..5``, ``test_batch``; ``cifar-100-python/train``, ``test``);
* :func:`load_imagenet16`: ImageNet16 as released for NAS-Bench-201 (``train_data_batch_1..10``,
  ``val_data``; pickled dicts with ``data`` of shape (N, 768) uint8 and 1-based ``labels``);
* :func:`load_ptb`: Mikolov's Penn Treebank (``ptb/ptb.{train,valid,test}.txt``).

:func:`load_batch` draws a batch; ``data`` chooses its content:

=============  =================================================================================
``real``       examples of the dataset, chosen without replacement by ``seed``, scaled to 0-1 and
               normalised per channel with the usual means and standard deviations
               (:data:`NORMALISATION`); labels are the real labels
``grey``       solid grey images: each image one constant level drawn from U(0, 1), the same on
               every pixel and channel (0-1 scale, not normalised)
``normal``     every value drawn from N(0, 1)
``uniform``    every value drawn from U(-1, 1)
``uniform+``   every value drawn from U(0, 1)
=============  =================================================================================

The synthetic kinds (the input ablation of the epsilon paper) need no files, have the dataset's
input shape (:func:`nas.datasets.dataset_spec`) and labels drawn uniformly from the dataset's
classes by the same seed. ImageNet16-120 with ``real`` data uses ``<data dir>/ImageNet16/`` when it
exists; otherwise a documented stand-in: CIFAR-100 images resized to 16x16 (bilinear,
antialiased), normalised with the ImageNet16 statistics, labelled with their CIFAR-100 class
(0-99, inside ImageNet16-120's 120 classes but not ImageNet classes). Such a batch's ``kind``
and ``identity`` say ``stand-in:cifar100-16x16``. For ``ptb``, a batch is ``size`` windows of 35
consecutive tokens at seeded start offsets, targets the next tokens; both are int64 token ids
(an embedding needs integers), while image inputs are float32.

**Your own data** (``imagefolder:PATH``, ``npz:PATH``, ``cifar:DIR``; see :mod:`nas.userdata`):
``real`` batches are drawn from the "train" part of the dataset's default seeded, stratified
split (validation fraction :data:`nas.userdata.DEFAULT_VALID_FRACTION`, split seed
:data:`nas.userdata.DEFAULT_SPLIT_SEED`), never from its "valid" part, and normalised per
channel with the mean and standard deviation of that train part
(:func:`nas.userdata.normalisation`); only ``split="train"`` exists for them. Their identity
starts with the scheme and the content hash (:func:`nas.userdata.dataset_identity`) instead of
the path, so moving the data keeps its stored scores.

A batch's ``identity`` ends with a hash of its inputs *and* its labels (proxies such as snip and
grasp read the labels, and the score store keys scores by the identity). Labels outside the
dataset's classes are a data error (:class:`NasError`) raised when the files are read, before
anything is scored.

**Untrusted files.** The CIFAR and ImageNet16 files are Python pickles; they are read with
:func:`nas.safe_pickle.load`, which allows only plain data and NumPy arrays, so a crafted file
cannot run code. **Limits.** A batch has at most :data:`MAX_BATCH_SIZE` examples (4096, far
above every proxy's batch; the environment variable ``NAS_MAX_BATCH_SIZE`` raises it), because
a synthetic batch has no natural bound and a proxy holds several activations of the whole batch
in memory (100,000 CIFAR-sized examples need tens of GB); seeds are below 2**63.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nas import safe_pickle
from nas.datasets import DatasetSpec, dataset_spec, is_user_dataset
from nas.errors import NasError
from nas.paths import data_dir as resolve_data_dir
from nas.proxies.base import Batch

PathLike = str | os.PathLike[str]

#: per-channel (mean, std) on the 0-1 scale
NORMALISATION: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet16-120": ((0.481, 0.457, 0.408), (0.247, 0.240, 0.255)),
}
#: the values of ``load_batch(data=...)``
DATA_KINDS = ("real", "grey", "normal", "uniform", "uniform+")
#: the ``kind`` of an ImageNet16-120 batch made of resized CIFAR-100 images
STAND_IN = "stand-in:cifar100-16x16"
#: tokens per PTB sequence
PTB_SEQUENCE = 35
#: the largest batch :func:`load_batch` makes, unless the environment variable ``NAS_MAX_BATCH_SIZE`` says otherwise
MAX_BATCH_SIZE = 4096
#: seeds are below this (they are stored as SQLite integers)
SEED_LIMIT = 2**63

_IMAGE_SPLITS = ("train", "test")
_PTB_SPLITS = ("train", "valid", "test")


def _root(data_dir: PathLike | None) -> Path:
    return resolve_data_dir(data_dir)


def _check_split(split: str, allowed: tuple[str, ...], what: str) -> None:
    if split not in allowed:
        raise NasError(f"unknown split {split!r} for {what}; known: {', '.join(allowed)}")


def _unpickle(path: Path, encoding: str) -> dict:
    if not path.is_file():
        raise NasError(f"missing data file {str(path)!r}")
    entry = safe_pickle.load(path, encoding=encoding, what="data file")  # plain data only: never runs code
    if not isinstance(entry, dict):
        raise NasError(f"{str(path)!r} is not a pickled dict as in the official release")
    return entry


def _images(entry: dict, data_key: object, label_key: object, path: Path, side: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, side, side) uint8 images and int64 labels of one unpickled batch file."""
    if data_key not in entry or label_key not in entry:
        raise NasError(f"{str(path)!r} lacks the {data_key!r} or {label_key!r} entry of the official layout")
    try:
        data = np.asarray(entry[data_key], dtype=np.uint8)
        labels = np.asarray(entry[label_key], dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise NasError(f"{str(path)!r}: the {data_key!r} or {label_key!r} entry is not an array of integers ({exc})") from None
    if labels.ndim != 1:
        raise NasError(f"{str(path)!r}: the {label_key!r} entry must be a flat list of labels, got shape {labels.shape}")
    if data.ndim != 2 or data.shape[1] != 3 * side * side or len(labels) != len(data):
        raise NasError(f"{str(path)!r}: data of shape {data.shape} and {len(labels)} labels do not form {side}x{side} images")
    return data.reshape(-1, 3, side, side), labels


def _read_only(*arrays: np.ndarray) -> None:
    for array in arrays:
        array.setflags(write=False)


def _check_labels(labels: np.ndarray, low: int, high: int, where: str) -> None:
    """:class:`NasError` (a data error) if a label is outside ``low..high``."""
    bad = np.flatnonzero((labels < low) | (labels > high))
    if bad.size:
        raise NasError(
            f"{where}: label {int(labels[bad[0]])} of example {int(bad[0])} is outside the dataset's classes "
            f"{low}..{high} ({bad.size} such labels); the data file is corrupt"
        )


@lru_cache(maxsize=8)
def _cifar(folder: str, files: tuple[str, ...], label_key: bytes, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    parts = []
    for name in files:
        path = Path(folder) / name
        images, labels = _images(_unpickle(path, "bytes"), b"data", label_key, path, 32)
        _check_labels(labels, 0, num_classes - 1, repr(str(path)))
        parts.append((images, labels))
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    _read_only(images, labels)
    return images, labels


def load_cifar10(data_dir: PathLike | None = None, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 ``split`` ("train" or "test"): uint8 images (N, 3, 32, 32) and int64 labels 0-9.

    Arrays are cached and read-only. Missing or malformed files raise :class:`NasError`.
    """
    _check_split(split, _IMAGE_SPLITS, "cifar10")
    files = tuple(f"data_batch_{i}" for i in range(1, 6)) if split == "train" else ("test_batch",)
    return _cifar(str(_root(data_dir) / "cifar-10-batches-py"), files, b"labels", 10)


def load_cifar100(data_dir: PathLike | None = None, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-100 ``split`` ("train" or "test"): uint8 images (N, 3, 32, 32) and int64 fine labels 0-99."""
    _check_split(split, _IMAGE_SPLITS, "cifar100")
    return _cifar(str(_root(data_dir) / "cifar-100-python"), (split,), b"fine_labels", 100)


@lru_cache(maxsize=4)
def _imagenet16(files: tuple[str, ...], num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    parts = []
    for name in files:
        images, labels = _images(_unpickle(Path(name), "latin1"), "data", "labels", Path(name), 16)
        _check_labels(labels, 1, 1000, repr(name))  # ImageNet's 1000 classes, numbered from 1
        parts.append((images, labels))
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    keep = (labels >= 1) & (labels <= num_classes)
    images, labels = np.ascontiguousarray(images[keep]), labels[keep] - 1
    _read_only(images, labels)
    return images, labels


def load_imagenet16(path_or_dir: PathLike, split: str = "train", num_classes: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """ImageNet16 images (N, 3, 16, 16) uint8 and int64 labels 0..num_classes-1.

    ``path_or_dir`` is the folder of the official release (``train_data_batch_1..10`` for
    ``split="train"``, ``val_data`` for ``"test"``; NAS-Bench-201 splits the latter into its
    valid and test halves) or one such file. Only the examples of the first ``num_classes``
    classes are kept (labels 1..num_classes in the files, 0-based here): 120 gives ImageNet16-120.
    """
    _check_split(split, _IMAGE_SPLITS, "imagenet16")
    if not 1 <= num_classes <= 1000:
        raise NasError(f"num_classes must be in 1..1000, got {num_classes}")
    path = Path(path_or_dir)
    if path.is_dir():
        names = [f"train_data_batch_{i}" for i in range(1, 11)] if split == "train" else ["val_data"]
        files = tuple(str(path / name) for name in names)
    else:
        files = (str(path),)
    return _imagenet16(files, num_classes)


@lru_cache(maxsize=1)
def _ptb_vocabulary(train_file: str) -> tuple[str, ...]:
    vocab: dict[str, int] = {}
    for word in _ptb_words(Path(train_file)):
        vocab.setdefault(word, len(vocab))
    return tuple(vocab)


def _ptb_words(path: Path) -> list[str]:
    if not path.is_file():
        raise NasError(f"missing data file {str(path)!r}")
    words: list[str] = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                words.extend(line.split())
                words.append("<eos>")
    except OSError as exc:
        raise NasError(f"cannot read data file {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise NasError(f"data file {str(path)!r} is not UTF-8 text (byte {exc.start}); is it the Penn Treebank text?") from None
    return words


@lru_cache(maxsize=3)
def _ptb(folder: str, split: str) -> tuple[np.ndarray, tuple[str, ...]]:
    vocab = _ptb_vocabulary(str(Path(folder) / "ptb.train.txt"))
    ids = {word: i for i, word in enumerate(vocab)}
    words = _ptb_words(Path(folder) / f"ptb.{split}.txt")
    unknown = next((w for w in words if w not in ids), None)
    if unknown is not None:
        raise NasError(f"ptb.{split}.txt has the word {unknown!r}, which is not in ptb.train.txt's vocabulary")
    tokens = np.fromiter((ids[w] for w in words), dtype=np.int64, count=len(words))
    _read_only(tokens)
    return tokens, vocab


def load_ptb(data_dir: PathLike | None = None, split: str = "train") -> tuple[np.ndarray, tuple[str, ...]]:
    """Penn Treebank ``split`` ("train", "valid", "test") as int64 token ids, and the vocabulary.

    Each line's words are followed by ``<eos>``. The vocabulary is that of the training file in
    order of first appearance (id = position), shared by all splits.
    """
    _check_split(split, _PTB_SPLITS, "ptb")
    return _ptb(str(_root(data_dir) / "ptb"), split)


def load_batch(
    dataset: str,
    data: str = "real",
    size: int = 256,
    seed: int = 0,
    data_dir: PathLike | None = None,
    split: str = "train",
) -> Batch:
    """A fixed batch of ``size`` examples of ``dataset``; the same arguments give the same tensors.

    See the module docstring for the kinds of ``data``. ``split`` selects the real data's split
    (synthetic batches do not depend on it).
    """
    spec = dataset_spec(dataset)
    if data not in DATA_KINDS:
        raise NasError(f"unknown input data {data!r}; known: {', '.join(DATA_KINDS)}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise NasError(f"batch size must be a positive integer, got {_short(size)}")
    limit = max_batch_size()
    if size > limit:
        raise NasError(
            f"batch size {size} exceeds the limit of {limit} examples: a proxy keeps activations of the whole "
            "batch in memory, so larger batches exhaust it (set NAS_MAX_BATCH_SIZE to raise the limit)"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise NasError(f"seed must be an integer from 0 to 2**63 - 1, got {_short(seed)}")
    if spec.kind == "text":
        if data != "real":
            raise NasError(f"{spec.name} takes only real data (token ids), not {data!r}")
        _check_split(split, _PTB_SPLITS, spec.name)
        inputs, targets = _text_batch(load_ptb(data_dir, split)[0], size, seed)
        return _batch(inputs, targets, spec.name, "real", f"{split}:n{size}:seed{seed}")
    if is_user_dataset(spec.name):
        return _user_batch(spec, data, size, seed, split)
    _check_split(split, _IMAGE_SPLITS, spec.name)
    if data != "real":
        inputs, targets = _synthetic(data, (size, *spec.input_shape), spec.num_classes, seed)
        return _batch(inputs, targets, spec.name, data, f"n{size}:seed{seed}")
    kind = "real"
    if spec.name == "cifar10":
        images, labels = load_cifar10(data_dir, split)
    elif spec.name == "cifar100":
        images, labels = load_cifar100(data_dir, split)
    elif (_root(data_dir) / "ImageNet16").is_dir():
        images, labels = load_imagenet16(_root(data_dir) / "ImageNet16", split)
    else:
        images, labels = load_cifar100(data_dir, split)
        kind = STAND_IN
    chosen = _choose(len(images), size, seed, f"{spec.name} {split} ({'CIFAR-100 for the stand-in' if kind == STAND_IN else 'real'})")
    pixels = torch.from_numpy(images[chosen].astype(np.float32) / 255.0)
    if kind == STAND_IN:
        pixels = F.interpolate(pixels, size=spec.input_shape[1:], mode="bilinear", align_corners=False, antialias=True)
    inputs = _normalised(pixels, NORMALISATION[spec.name])
    return _batch(inputs, torch.from_numpy(labels[chosen].copy()), spec.name, kind, f"{split}:n{size}:seed{seed}")


def _normalised(pixels: torch.Tensor, statistics: tuple[tuple[float, ...], tuple[float, ...]]) -> torch.Tensor:
    """``pixels`` (N, C, H, W) on the 0-1 scale, normalised with per-channel ``(mean, std)``."""
    mean, std = (torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1) for v in statistics)
    return ((pixels - mean) / std).contiguous()


def _user_batch(spec: DatasetSpec, data: str, size: int, seed: int, split: str) -> Batch:
    """A batch of a user dataset: real examples only from the train part of its default split."""
    from nas import userdata

    if split != "train":
        raise NasError(f"proxy batches of your own data come from the train part of its split only, not {split!r}")
    prefix = f"{spec.name.split(':', 1)[0]}:{userdata.dataset_identity(spec.name)}"
    if data != "real":
        inputs, targets = _synthetic(data, (size, *spec.input_shape), spec.num_classes, seed)
        return _batch(inputs, targets, spec.name, data, f"n{size}:seed{seed}", prefix)
    images, labels = userdata.load_split(spec.name, "train")
    if size > len(images):
        raise NasError(
            f"batch size {size} exceeds the {len(images)} examples of the train part of {spec.name}; "
            "choose a smaller batch (--batch-size B) or add data"
        )
    chosen = _choose(len(images), size, seed, f"the train part of {spec.name}")
    inputs = _normalised(torch.from_numpy(images[chosen].astype(np.float32) / 255.0), userdata.normalisation(spec.name))
    split_name = f"train{userdata.DEFAULT_VALID_FRACTION:g}/{userdata.DEFAULT_SPLIT_SEED}"
    return _batch(inputs, torch.from_numpy(labels[chosen].copy()), spec.name, "real", f"{split_name}:n{size}:seed{seed}", prefix)


def max_batch_size() -> int:
    """The largest batch :func:`load_batch` makes: ``$NAS_MAX_BATCH_SIZE`` if set, else :data:`MAX_BATCH_SIZE`."""
    text = os.environ.get("NAS_MAX_BATCH_SIZE", "").strip()
    if not text:
        return MAX_BATCH_SIZE
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise NasError(f"NAS_MAX_BATCH_SIZE must be a positive integer, got {_short(text)}")
    return value


def _short(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters for messages."""
    text = f"an integer of {value.bit_length()} bits" if isinstance(value, int) and value.bit_length() > 64 else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _choose(available: int, size: int, seed: int, what: str) -> np.ndarray:
    """``size`` distinct indices below ``available``, drawn by ``seed``."""
    if size > available:
        raise NasError(f"batch size {size} exceeds the {available} examples of {what}")
    return np.random.default_rng(seed).choice(available, size=size, replace=False)


def _text_batch(tokens: np.ndarray, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    starts = _choose(len(tokens) - PTB_SEQUENCE, size, seed, "ptb windows")
    windows = starts[:, None] + np.arange(PTB_SEQUENCE + 1)[None, :]
    sequences = torch.from_numpy(tokens[windows])
    return sequences[:, :-1].contiguous(), sequences[:, 1:].contiguous()


def _synthetic(kind: str, shape: tuple[int, ...], num_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    if kind == "grey":
        levels = torch.rand((shape[0],) + (1,) * (len(shape) - 1), generator=generator)
        inputs = levels.expand(shape).contiguous()
    elif kind == "normal":
        inputs = torch.randn(shape, generator=generator)
    elif kind == "uniform":
        inputs = torch.rand(shape, generator=generator) * 2 - 1
    else:  # uniform+
        inputs = torch.rand(shape, generator=generator)
    targets = torch.randint(0, num_classes, (shape[0],), generator=generator)
    return inputs, targets


def _batch(
    inputs: torch.Tensor, targets: torch.Tensor, dataset: str, kind: str, details: str, prefix: str | None = None
) -> Batch:
    """The batch, its identity ending with a hash of the inputs and the labels (what proxies may read).

    The identity starts with ``prefix``, by default the dataset's name.
    """
    num_classes = dataset_spec(dataset).num_classes
    if targets.numel() and not (0 <= int(targets.min()) and int(targets.max()) < num_classes):
        raise NasError(f"{dataset} batch has labels outside 0..{num_classes - 1}; the data is corrupt")
    content = hashlib.sha256(inputs.numpy().tobytes())
    content.update(b"labels:" + targets.numpy().astype("<i8", copy=False).tobytes())
    digest = content.hexdigest()[:12]
    return Batch(inputs, targets, f"{prefix or dataset}:{kind}:{details}:{digest}", dataset, kind)


def describe_input(batch: Batch) -> str:
    """One line saying what ``batch`` is, for reports (stand-ins and synthetic data are named)."""
    shape = "x".join(str(n) for n in batch.inputs.shape[1:])
    if batch.kind == STAND_IN:
        what = "STAND-IN input: CIFAR-100 images resized to 16x16 (no ImageNet16 files found)"
    elif batch.kind == "real":
        what = "real tokens" if batch.inputs.dtype == torch.int64 else "real images"
    else:
        what = f"synthetic '{batch.kind}' input"
    return f"{batch.dataset}: {what}, {len(batch)} x {shape} [{batch.identity}]"
