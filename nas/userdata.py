"""Datasets of your own, and the seeded, stratified train/validation split of every image dataset.

**Names.** Wherever a dataset is named (``--dataset``, ``dataset:`` in an experiment file,
``nas.score(dataset=...)``), three forms read your data:

``imagefolder:PATH[?size=N]``
    A folder with one sub-folder per class (its name is the class name), the images of each
    class anywhere under its folder. Files ending in ``.png``, ``.jpg``, ``.jpeg``, ``.bmp``,
    ``.gif``, ``.tif``, ``.tiff``, ``.webp``, ``.ppm``, ``.pgm`` or ``.pbm`` (any case) are
    images; other files, hidden files and folders (``.name``) and files directly in ``PATH``
    are ignored. Every image is converted to RGB (grey is repeated, transparency dropped, the
    first frame of an animation taken) and resized to ``N`` x ``N`` (default
    :data:`DEFAULT_SIZE`, at most :data:`MAX_SIZE`): scaled, keeping its aspect ratio, until
    its shorter side is ``N``, then the centre ``N`` x ``N`` square is cut out (bilinear,
    antialiased: Pillow's ``ImageOps.fit``).
``npz:PATH``
    A NumPy ``.npz`` archive (``numpy.savez``/``savez_compressed``; other arrays in it are
    ignored) with images ``x`` and labels ``y``. ``x`` is ``(N, H, W, C)`` or ``(N, C, H, W)``
    with ``C`` 1 or 3 channels, or ``(N, H, W)`` grey. The layout is read from the shape: the
    last axis is channels when it has 1 or 3 entries (this wins when axis 1 has too, e.g.
    ``(N, 3, 5, 3)``), else axis 1 when it has 1 or 3. ``x`` is ``uint8`` (0-255), another
    integer type with values in 0..255, or floating point in [0, 1] (stored as
    ``round(255 * x)``). ``y`` holds one integer label per image (an integer type, or whole
    floating-point numbers), shape ``(N,)`` or ``(N, 1)``.
``cifar:DIR``
    CIFAR-style python pickles in ``DIR``: the training data is ``data_batch_1``,
    ``data_batch_2``, ... (CIFAR-10 layout) or else ``train`` (CIFAR-100 layout); ``test_batch``
    and ``test`` are not read. Each file is a pickled dict with ``data`` (``(N, 3*S*S)`` uint8
    rows, channel planes of S x S images, as in CIFAR; or ``(N, H, W, C)``/``(N, C, H, W)`` as
    for ``npz``) and ``labels`` or ``fine_labels`` (taken first when both are present). The
    pickles are read with :func:`nas.safe_pickle.load`: plain data only, no code runs.

``PATH`` is taken as written up to the last ``?`` that is followed by ``key=value`` options
(only ``imagefolder`` has one: ``size``); ``~`` is expanded and a relative path is relative
to the working directory (not to the data directory nor the experiment file). The dataset's
canonical name, its :class:`~nas.datasets.DatasetSpec` ``name``, is the form with the
absolute path (symbolic links resolved) and, for ``imagefolder``, ``?size=N`` spelled out.

**Specs.** The input shape ``(C, H, W)`` and the number of classes come from the data. Labels
are renumbered 0..K-1 in sorted order of the original labels (folder names sorted for
``imagefolder``); :attr:`UserData.classes` keeps the original label of each class number. The
data is read once per process and cached (keyed by the resolved path, the option and the
size and modification time of every file read), as read-only arrays.

**Split.** :func:`load_split` splits a dataset's training data into a "train" and a "valid"
part, for built-in image datasets (CIFAR-10's and CIFAR-100's training files, ImageNet16-120's
or its stand-in: CIFAR-100's training images resized to 16x16) and user datasets alike. The
split is stratified: each class with n >= 2 examples puts ``round(valid_fraction * n)`` of
them, but at least one and at most n - 1, in "valid" (a class with one example keeps it in
"train"); which ones is drawn by ``seed`` for each class independently. The parts are
disjoint, cover the data, and depend only on the labels, ``valid_fraction`` and ``seed``.
Proxy batches of user datasets (:func:`nas.data.load_batch`) are drawn from the "train" part
of the default split (:data:`DEFAULT_VALID_FRACTION`, :data:`DEFAULT_SPLIT_SEED`), never from
"valid", and normalised with :func:`normalisation`: the per-channel mean and (population)
standard deviation of that train part's pixels on the 0-1 scale (a channel with no spread
gets standard deviation 1). Built-in datasets keep their published statistics
(:data:`nas.data.NORMALISATION`).

**Identity.** :func:`dataset_identity` is a short hash of the decoded training data (the
images' shape and bytes and the renumbered labels), the same on every machine and run for
the same data: a key for stored results that depend on the data.

**Bad data** raises one-line :class:`~nas.errors.NasError` messages naming the path: a missing
path, no class folders, an empty class folder, an unreadable or corrupt image (the file is
named), a single class, ``x``/``y`` of different lengths, ``x`` not image-shaped, labels that
are not integers, and data beyond the limits :data:`MAX_FILES`, :data:`MAX_SOURCE_PIXELS`,
:data:`MAX_EXAMPLES`, :data:`MAX_BYTES` and :data:`MAX_SIZE`, checked before the data is
decoded, so that a wrong path cannot exhaust memory.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from nas.datasets import USER_SCHEMES, DatasetSpec, dataset_spec, is_user_dataset
from nas.errors import NasError, quoted

__all__ = [
    "DEFAULT_SIZE",
    "DEFAULT_SPLIT_SEED",
    "DEFAULT_VALID_FRACTION",
    "IMAGE_SUFFIXES",
    "MAX_BYTES",
    "MAX_EXAMPLES",
    "MAX_FILES",
    "MAX_SIZE",
    "MAX_SOURCE_PIXELS",
    "PARTS",
    "UserData",
    "dataset_identity",
    "load_split",
    "normalisation",
    "split_indices",
    "user_dataset",
    "user_spec",
]

PathLike = str | os.PathLike[str]

#: the side of ``imagefolder`` images when the name does not say ``?size=N``
DEFAULT_SIZE = 32
#: the largest ``?size=N``, and the largest height or width of ``npz``/``cifar`` images
MAX_SIZE = 1024
#: the most files looked at under an image folder (images or not)
MAX_FILES = 200_000
#: the most pixels of one image file, read from its header before it is decoded
MAX_SOURCE_PIXELS = 40_000_000
#: the most examples of a dataset
MAX_EXAMPLES = 1_000_000
#: the most bytes of a dataset's decoded uint8 images, and of the npz arrays or pickle files read
MAX_BYTES = 2 * 1024**3
#: the validation fraction of the split that proxy batches avoid, and :func:`load_split`'s default
DEFAULT_VALID_FRACTION = 0.1
#: the seed of that split
DEFAULT_SPLIT_SEED = 0
#: the two parts of a split
PARTS = ("train", "valid")
#: file endings (lower case) of the images of an image folder
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")

_OPTIONS = re.compile(r"[a-z_]+=[^&]*(&[a-z_]+=[^&]*)*")
_CIFAR_BATCH = re.compile(r"data_batch_(\d+)")
_CHANNELS = (1, 3)
#: examples per chunk when computing statistics (bounds the float64 temporaries)
_CHUNK = 1024


@dataclass(frozen=True)
class UserData:
    """A user dataset read into memory: ``images`` (N, C, H, W) uint8 and ``labels`` (N,) int64, read-only.

    ``labels`` are class numbers 0..K-1; ``classes[k]`` is class k's original label (the
    folder name for ``imagefolder``, the integer label for ``npz`` and ``cifar``).
    ``identity`` is the content hash of :func:`dataset_identity`.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...] | tuple[int, ...]
    identity: str

    @property
    def spec(self) -> DatasetSpec:
        """The dataset's spec: kind "image", input shape (C, H, W), K classes."""
        scheme, _, path = self.name.partition(":")
        if scheme == "imagefolder":
            path = path.rpartition("?")[0]
        what = {"imagefolder": "image folder", "npz": "NumPy file", "cifar": "CIFAR-style pickles"}[scheme]
        shape = tuple(int(n) for n in self.images.shape[1:])
        return DatasetSpec(
            self.name,
            "image",
            shape,
            len(self.classes),
            f"{what} {path}: {len(self.images)} images of {'x'.join(map(str, shape))}, {len(self.classes)} classes",
        )


@dataclass(frozen=True)
class _Source:
    """What a user dataset's content depends on: the canonical name and each file's (path, size, mtime)."""

    scheme: str
    path: str
    size: int
    files: tuple[tuple[str, int, int], ...]
    #: for imagefolder: (class folder name, number of its images), in order
    classes: tuple[tuple[str, int], ...] = ()

    @property
    def name(self) -> str:
        """The canonical dataset name."""
        return f"{self.scheme}:{self.path}" + (f"?size={self.size}" if self.scheme == "imagefolder" else "")


def _shown(path: PathLike) -> str:
    return quoted(str(path), 200)


def _reason(exc: BaseException) -> str:
    """The first line of what ``exc`` says, at most 120 characters, for messages."""
    text = str(getattr(exc, "strerror", None) or exc or type(exc).__name__)
    line = text.splitlines()[0] if text.strip() else type(exc).__name__
    return line if len(line) <= 120 else line[:117] + "..."


def _parse(name: str) -> tuple[str, Path, int]:
    """``(scheme, absolute path, size)`` of a user dataset name (size 0 when not imagefolder)."""
    scheme, _, rest = name.partition(":")
    scheme = scheme.lower()
    if scheme not in USER_SCHEMES:
        raise NasError(f"{quoted(name)} is not a user dataset name (imagefolder:PATH, npz:PATH or cifar:DIR)")
    path_text, options = rest, {}
    head, mark, query = rest.rpartition("?")
    if mark and _OPTIONS.fullmatch(query):
        path_text = head
        for item in query.split("&"):
            key, _, value = item.partition("=")
            if key in options:
                raise NasError(f"dataset {quoted(name)}: option {key!r} is given twice")
            options[key] = value
    allowed = {"size"} if scheme == "imagefolder" else set()
    unknown = sorted(set(options) - allowed)
    if unknown:
        takes = "takes only the option size=N" if allowed else "takes no options"
        raise NasError(f"dataset {quoted(name)}: unknown option {unknown[0]!r}; {scheme}:PATH {takes}")
    if not path_text:
        raise NasError(f"dataset {quoted(name)} names no path; write {scheme}:PATH")
    size = 0
    if scheme == "imagefolder":
        text = options.get("size", str(DEFAULT_SIZE))
        if not text.isdigit() or not 1 <= int(text) <= MAX_SIZE:
            raise NasError(f"dataset {quoted(name)}: size must be an integer from 1 to {MAX_SIZE}, got {quoted(text, 40)}")
        size = int(text)
    try:
        path = Path(path_text).expanduser().resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise NasError(f"dataset {quoted(name)}: cannot resolve the path ({exc})") from None
    return scheme, path, size


def _stat(path: Path) -> tuple[int, int]:
    try:
        status = path.stat()
    except OSError as exc:
        raise NasError(f"cannot read {_shown(path)}: {_reason(exc)}") from None
    return status.st_size, status.st_mtime_ns


def _source(name: str) -> _Source:
    """The dataset's files, checked to exist and to fit the limits (nothing is decoded)."""
    scheme, path, size = _parse(name)
    if scheme == "imagefolder":
        return _image_folder_source(path, size)
    if scheme == "npz":
        if not path.is_file():
            raise NasError(f"npz file {_shown(path)} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
        return _Source(scheme, str(path), 0, (("", *_stat(path)),))
    if not path.is_dir():
        raise NasError(f"CIFAR folder {_shown(path)} does not exist" + (" (it is a file)" if path.exists() else ""))
    try:
        numbered = sorted(
            (int(match.group(1)), entry.name)
            for entry in os.scandir(path)
            if (match := _CIFAR_BATCH.fullmatch(entry.name)) and entry.is_file()
        )
    except OSError as exc:
        raise NasError(f"cannot read CIFAR folder {_shown(path)}: {_reason(exc)}") from None
    names = [entry for _, entry in numbered]
    if not names and (path / "train").is_file():
        names = ["train"]
    if not names:
        raise NasError(
            f"CIFAR folder {_shown(path)} has no training files: expected data_batch_1, data_batch_2, ... "
            "(CIFAR-10 layout) or train (CIFAR-100 layout)"
        )
    files = tuple((entry, *_stat(path / entry)) for entry in names)
    total = sum(file[1] for file in files)
    if total > MAX_BYTES:
        raise NasError(f"CIFAR folder {_shown(path)}: its training files hold {total:,} bytes, over the limit of {MAX_BYTES:,}")
    return _Source(scheme, str(path), 0, files)


def _image_folder_source(root: Path, size: int) -> _Source:
    """The image files of each class folder under ``root``, with the structural checks."""
    if not root.is_dir():
        raise NasError(f"image folder {_shown(root)} does not exist" + (" (it is a file)" if root.exists() else ""))

    def refuse(exc: OSError) -> NoReturn:
        raise NasError(f"cannot read folder {_shown(exc.filename or root)}: {_reason(exc)}")

    try:
        class_names = sorted(entry.name for entry in os.scandir(root) if entry.is_dir() and not entry.name.startswith("."))
    except OSError as exc:
        refuse(exc)
    if not class_names:
        raise NasError(f"image folder {_shown(root)} has no class folders: put each class's images in a folder of its own, PATH/<class>/<image>")
    seen = 0
    files: list[tuple[str, int, int]] = []
    classes: list[tuple[str, int]] = []
    for class_name in class_names:
        found: list[tuple[str, int, int]] = []
        for folder, subfolders, names in os.walk(root / class_name, onerror=refuse):
            subfolders[:] = [sub for sub in subfolders if not sub.startswith(".")]
            seen += len(names)
            if seen > MAX_FILES:
                raise NasError(f"image folder {_shown(root)} has more than {MAX_FILES:,} files; is it the right folder?")
            for file_name in names:
                if not file_name.startswith(".") and os.path.splitext(file_name)[1].lower() in IMAGE_SUFFIXES:
                    file = Path(folder) / file_name
                    found.append((file.relative_to(root).as_posix(), *_stat(file)))
        if not found:
            raise NasError(
                f"image folder {_shown(root)}: class folder {quoted(class_name)} has no images "
                f"(files ending in {', '.join(IMAGE_SUFFIXES)})"
            )
        found.sort()
        files.extend(found)
        classes.append((class_name, len(found)))
    _check_class_count(len(classes), f"image folder {_shown(root)}", quoted(class_names[0]))
    _check_size(len(files), 3 * size * size, f"image folder {_shown(root)}")
    return _Source("imagefolder", str(root), size, tuple(files), tuple(classes))


def _check_class_count(count: int, where: str, only: str) -> None:
    if count < 2:
        raise NasError(f"{where} has one class only ({only}); a classifier needs two or more")


def _check_size(examples: int, pixels: int, where: str) -> None:
    """:class:`NasError` when ``examples`` images of ``pixels`` bytes each are over the limits."""
    if examples > MAX_EXAMPLES:
        raise NasError(f"{where} has {examples:,} examples, over the limit of {MAX_EXAMPLES:,}")
    if examples * pixels > MAX_BYTES:
        raise NasError(
            f"{where}: {examples:,} images of {pixels:,} bytes make {examples * pixels:,} bytes, over the limit of {MAX_BYTES:,}"
        )


def user_dataset(name: str) -> UserData:
    """The user dataset named ``name`` (``imagefolder:``, ``npz:`` or ``cifar:``), read and checked.

    Read once per process: later calls return the cached arrays while no file read changed.
    """
    return _read(_source(name))


def user_spec(name: str) -> DatasetSpec:
    """The :class:`~nas.datasets.DatasetSpec` of user dataset ``name``, read from the data."""
    return user_dataset(name).spec


@lru_cache(maxsize=4)
def _read(source: _Source) -> UserData:
    path = Path(source.path)
    if source.scheme == "imagefolder":
        images = _read_image_folder(source)
        labels = np.repeat(np.arange(len(source.classes), dtype=np.int64), [count for _, count in source.classes])
        classes: tuple[Any, ...] = tuple(name for name, _ in source.classes)
    else:
        if source.scheme == "npz":
            images, raw = _read_npz(path)
            where = f"npz file {_shown(path)}"
        else:
            images, raw = _read_cifar(path, [entry for entry, _, _ in source.files])
            where = f"CIFAR folder {_shown(path)}"
        labels, classes = _renumber(raw, where)
    images = np.ascontiguousarray(images)
    images.setflags(write=False)
    labels.setflags(write=False)
    return UserData(source.name, images, labels, classes, _content_hash(images, labels))


def _read_image_folder(source: _Source) -> np.ndarray:
    from PIL import Image, ImageOps

    root, size = Path(source.path), source.size
    images = np.empty((len(source.files), 3, size, size), dtype=np.uint8)
    for index, (relative, _, _) in enumerate(source.files):
        file = root / relative
        try:
            with Image.open(file) as image:
                width, height = image.size
                if width * height > MAX_SOURCE_PIXELS:
                    raise NasError(
                        f"image {_shown(file)} has {width}x{height} pixels, over the limit of {MAX_SOURCE_PIXELS:,}"
                    )
                fitted = ImageOps.fit(image.convert("RGB"), (size, size), method=Image.BILINEAR)
                images[index] = np.asarray(fitted, dtype=np.uint8).transpose(2, 0, 1)
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
            raise NasError(f"unreadable image {_shown(file)}: {_reason(exc)}") from None
    return images


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    where = f"npz file {_shown(path)}"
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise NasError(f"cannot read {where}: not a NumPy .npz archive ({_reason(exc)})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise NasError(f"{where} is a single .npy array, not an .npz archive with arrays 'x' and 'y' (use numpy.savez)")
    with archive:
        missing = [key for key in ("x", "y") if key not in archive.files]
        if missing:
            has = ", ".join(quoted(key, 40) for key in archive.files[:10]) or "nothing"
            raise NasError(f"{where} has no array {missing[0]!r}; it needs images 'x' and labels 'y' (it has {has})")
        total = sum(info.file_size for info in archive.zip.infolist() if info.filename in ("x.npy", "y.npy"))
        if total > MAX_BYTES:
            raise NasError(f"{where}: arrays 'x' and 'y' hold {total:,} bytes, over the limit of {MAX_BYTES:,}")
        try:
            x, y = archive["x"], archive["y"]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise NasError(f"cannot read {where}: {_reason(exc)}") from None
    images = _image_array(x, where, "x")
    return images, _labels_of(y, len(images), where, "x", "y")


def _labels_of(raw: np.ndarray, count: int, where: str, x_name: str, y_name: str) -> np.ndarray:
    """``raw`` as a flat array of ``count`` labels: shape (N,) or (N, 1)."""
    labels = raw.reshape(-1) if raw.ndim == 2 and raw.shape[1] == 1 else raw
    if labels.ndim != 1:
        raise NasError(f"{where}: {y_name} must hold one label per image, shape (N,) or (N, 1), got {tuple(raw.shape)}")
    if len(labels) != count:
        raise NasError(f"{where}: {x_name} has {count:,} images but {y_name} has {len(labels):,} labels; they must match one to one")
    return labels


def _image_array(x: np.ndarray, where: str, what: str) -> np.ndarray:
    """``x`` as (N, C, H, W) uint8 (see the module docstring for the layouts and value ranges)."""
    shape = tuple(x.shape)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and shape[3] in _CHANNELS:
        x = x.transpose(0, 3, 1, 2)
    elif not (x.ndim == 4 and shape[1] in _CHANNELS):
        raise NasError(
            f"{where}: {what} of shape {shape} is not image-shaped; expected (N, H, W, C) or (N, C, H, W) with C 1 or 3, or (N, H, W)"
        )
    count, channels, height, width = x.shape
    if count == 0 or height == 0 or width == 0:
        raise NasError(f"{where}: {what} of shape {shape} holds no images")
    if max(height, width) > MAX_SIZE:
        raise NasError(f"{where}: images of {height}x{width} are larger than the limit of {MAX_SIZE}x{MAX_SIZE}")
    _check_size(count, channels * height * width, where)
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind in "iu":
        low, high = int(x.min()), int(x.max())
        if low < 0 or high > 255:
            raise NasError(f"{where}: integer {what} must hold pixel values 0..255, found {low}..{high}")
        return x.astype(np.uint8)
    if x.dtype.kind == "f":
        low, high = float(np.min(x)), float(np.max(x))
        if not (0.0 <= low and high <= 1.0):  # also false for NaN
            raise NasError(f"{where}: floating-point {what} must hold pixel values in [0, 1], found {low:g}..{high:g}")
        scaled = np.empty(x.shape, dtype=np.uint8)
        for start in range(0, count, _CHUNK):  # in chunks: no float temporary of the whole array
            scaled[start : start + _CHUNK] = np.rint(x[start : start + _CHUNK] * 255.0)
        return scaled
    raise NasError(f"{where}: {what} has dtype {x.dtype}; images must be uint8 (0-255) or floating point in [0, 1]")


def _renumber(labels: np.ndarray, where: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """Flat ``labels`` as class numbers 0..K-1 (in sorted order of the labels) and the label of each class."""
    if labels.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(labels) | (labels != np.round(labels)))
        if bad.size:
            raise NasError(f"{where}: labels are not integers: label {float(labels[bad[0]])!r} of example {int(bad[0])}")
    elif labels.dtype.kind not in "iu":
        raise NasError(f"{where}: labels are not integers (dtype {labels.dtype})")
    classes, numbers = np.unique(labels, return_inverse=True)
    _check_class_count(len(classes), where, f"label {int(classes[0])}" if len(classes) else "no labels")
    return numbers.astype(np.int64).reshape(-1), tuple(int(c) for c in classes)


def _read_cifar(folder: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from nas import safe_pickle

    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for name in names:
        path = folder / name
        where = f"CIFAR file {_shown(path)}"
        entry = safe_pickle.load(path, encoding="bytes", what="CIFAR-style pickle")
        if not isinstance(entry, dict):
            raise NasError(f"{where} is not a pickled dict with 'data' and 'labels' (or 'fine_labels')")
        keys = {key.decode("latin1") if isinstance(key, bytes) else key: key for key in entry}
        label_key = next((keys[key] for key in ("fine_labels", "labels") if key in keys), None)
        if "data" not in keys or label_key is None:
            raise NasError(f"{where} lacks the 'data' or the 'labels' (or 'fine_labels') entry")
        try:
            data, labels = np.asarray(entry[keys["data"]]), np.asarray(entry[label_key])
        except (TypeError, ValueError, OverflowError) as exc:
            raise NasError(f"{where}: 'data' or the labels are not arrays ({_reason(exc)})") from None
        if data.ndim == 2:
            side = int(round((data.shape[1] / 3) ** 0.5))
            if data.shape[1] != 3 * side * side or side == 0:
                raise NasError(f"{where}: rows of {data.shape[1]} values are not 3 channel planes of S x S pixels")
            data = data.reshape(len(data), 3, side, side)
        images = _image_array(data, where, "'data'")
        labels = _labels_of(labels, len(images), where, "'data'", "the labels")
        if parts and images.shape[1:] != parts[0][0].shape[1:]:
            raise NasError(f"{where}: images of {images.shape[1:]} differ from the {parts[0][0].shape[1:]} of {names[0]!r}")
        parts.append((images, labels))
    _check_size(sum(len(p[0]) for p in parts), int(np.prod(parts[0][0].shape[1:])), f"CIFAR folder {_shown(folder)}")
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _content_hash(images: np.ndarray, labels: np.ndarray) -> str:
    digest = hashlib.sha256(f"images {images.shape} uint8\n".encode())
    digest.update(np.ascontiguousarray(images).data)
    digest.update(b"labels int64\n" + labels.astype("<i8").tobytes())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# splits, statistics and identities of every image dataset


def split_indices(labels: np.ndarray, valid_fraction: float = DEFAULT_VALID_FRACTION, seed: int = DEFAULT_SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices of the "train" and the "valid" part of examples labelled ``labels``.

    ``labels`` are non-negative integers. Stratified (see the module docstring): a class of
    n >= 2 examples puts ``clip(round(valid_fraction * n), 1, n - 1)`` of them (halves rounded
    up) in "valid", drawn by a generator seeded with ``(seed, label)``, so a class's draw does
    not depend on the other classes; a class of one example keeps it in "train".
    """
    _check_split_arguments(valid_fraction, seed)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or (labels.size and labels.min() < 0):
        raise NasError("split labels must be a flat array of non-negative integers")
    valid: list[np.ndarray] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = len(members)
        if count < 2:
            continue
        take = min(max(int(np.floor(valid_fraction * count + 0.5)), 1), count - 1)
        rng = np.random.default_rng([seed, int(label)])
        valid.append(rng.choice(members, size=take, replace=False))
    chosen = np.sort(np.concatenate(valid)) if valid else np.empty(0, dtype=np.int64)
    mask = np.zeros(len(labels), dtype=bool)
    mask[chosen] = True
    return np.flatnonzero(~mask), chosen.astype(np.int64)


def _check_split_arguments(valid_fraction: float, seed: int) -> None:
    if isinstance(valid_fraction, bool) or not isinstance(valid_fraction, (int, float)) or not 0 < valid_fraction < 1:
        raise NasError(f"valid_fraction must be a number strictly between 0 and 1, got {quoted(valid_fraction, 40)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise NasError(f"the split seed must be an integer from 0 to 2**63 - 1, got {quoted(seed, 40)}")


def _key(dataset: str, data_dir: PathLike | None) -> tuple[str, Any]:
    """A hashable key of a dataset's training data: ``("user", source)`` or ``("builtin", (name, data dir))``."""
    if is_user_dataset(dataset):
        return "user", _source(dataset)
    spec = dataset_spec(dataset)
    if spec.kind != "image":
        raise NasError(f"dataset {spec.name!r} is {spec.kind}; splits and statistics are for image datasets")
    from nas.paths import data_dir as resolve_data_dir

    return "builtin", (spec.name, str(resolve_data_dir(data_dir)))


def _arrays(key: tuple[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    kind, value = key
    if kind == "user":
        data = _read(value)
        return data.images, data.labels
    return _builtin(*value)


@lru_cache(maxsize=3)
def _builtin(name: str, root: str) -> tuple[np.ndarray, np.ndarray]:
    """The training images (N, 3, H, W) uint8 and labels of a built-in image dataset."""
    from nas import data

    if name == "cifar10":
        return data.load_cifar10(root, "train")
    if name == "cifar100":
        return data.load_cifar100(root, "train")
    if (Path(root) / "ImageNet16").is_dir():
        return data.load_imagenet16(Path(root) / "ImageNet16", "train")
    images, labels = data.load_cifar100(root, "train")  # the stand-in of nas.data: resized to 16x16
    side = dataset_spec(name).input_shape[1:]
    resized = np.concatenate([_resize(images[start : start + _CHUNK], side) for start in range(0, len(images), _CHUNK)])
    resized.setflags(write=False)
    return resized, labels


def _resize(images: np.ndarray, side: tuple[int, ...]) -> np.ndarray:
    """uint8 images (N, C, H, W) resized to ``side`` as the stand-in batches of :mod:`nas.data` are, rounded to uint8."""
    import torch
    import torch.nn.functional as F

    pixels = torch.from_numpy(images.astype(np.float32) / 255.0)
    resized = F.interpolate(pixels, size=tuple(side), mode="bilinear", align_corners=False, antialias=True)
    return (resized * 255.0).round().clamp(0, 255).to(torch.uint8).numpy()


@lru_cache(maxsize=2)  # each entry holds a copy of the data
def _parts(key: tuple[str, Any], valid_fraction: float, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    images, labels = _arrays(key)
    parts = {}
    for part, indices in zip(PARTS, split_indices(labels, valid_fraction, seed)):
        arrays = (images[indices], labels[indices])
        for array in arrays:
            array.setflags(write=False)
        parts[part] = arrays
    return parts


def load_split(
    dataset: str,
    part: str,
    *,
    data_dir: PathLike | None = None,
    valid_fraction: float = DEFAULT_VALID_FRACTION,
    seed: int = DEFAULT_SPLIT_SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``part`` ("train" or "valid") of ``dataset``'s training data: uint8 images (N, C, H, W) and int64 labels.

    ``dataset`` is a built-in image dataset (cifar10, cifar100, imagenet16-120: its training
    files in ``data_dir``, ImageNet16-120 by its stand-in when absent) or a user dataset. The
    split is seeded and stratified (see the module docstring); the two parts are disjoint and
    together are the whole training data. Arrays are cached and read-only.
    """
    if part not in PARTS:
        raise NasError(f"unknown part {quoted(part, 40)}; choose {' or '.join(PARTS)}")
    _check_split_arguments(valid_fraction, seed)
    return _parts(_key(dataset, data_dir), float(valid_fraction), seed)[part]


@lru_cache(maxsize=4)
def _statistics(key: tuple[str, Any], valid_fraction: float, seed: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    images = _parts(key, valid_fraction, seed)["train"][0]
    channels = images.shape[1]
    total = np.zeros(channels)
    squares = np.zeros(channels)
    for start in range(0, len(images), _CHUNK):
        chunk = images[start : start + _CHUNK].astype(np.float64) / 255.0
        total += chunk.sum(axis=(0, 2, 3))
        squares += np.square(chunk).sum(axis=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    std = np.where(std > 1e-12, std, 1.0)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def normalisation(
    dataset: str,
    data_dir: PathLike | None = None,
    *,
    valid_fraction: float = DEFAULT_VALID_FRACTION,
    seed: int = DEFAULT_SPLIT_SEED,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel ``(mean, std)`` on the 0-1 scale that ``dataset``'s inputs are normalised with.

    Built-in datasets: their published values (:data:`nas.data.NORMALISATION`, no data read).
    User datasets: the statistics of the "train" part of the split given by ``valid_fraction``
    and ``seed`` (by default the split proxy batches use); a channel with no spread gets std 1.
    """
    _check_split_arguments(valid_fraction, seed)
    if not is_user_dataset(dataset):
        from nas.data import NORMALISATION

        spec = dataset_spec(dataset)
        if spec.name not in NORMALISATION:
            raise NasError(f"dataset {spec.name!r} is {spec.kind}; it has no image normalisation")
        return NORMALISATION[spec.name]
    return _statistics(_key(dataset, data_dir), float(valid_fraction), seed)


@lru_cache(maxsize=8)
def _identity(key: tuple[str, Any]) -> str:
    if key[0] == "user":
        return _read(key[1]).identity
    return _content_hash(*_builtin(*key[1]))


def dataset_identity(dataset: str, data_dir: PathLike | None = None) -> str:
    """A 16-hex-digit hash of ``dataset``'s decoded training data, the same across runs and machines.

    It covers the images (shape and bytes, after resizing for ``imagefolder`` and for the
    ImageNet16-120 stand-in) and the class numbers of the labels, so it changes exactly when
    what is trained on changes; a key for results that depend on the data.
    """
    return _identity(_key(dataset, data_dir))
