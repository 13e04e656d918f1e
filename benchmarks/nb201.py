"""The NAS-Bench-201 benchmark table (15,625 cells; also NATS-Bench's topology space).

Sources, in order of preference (inside the data directory, see :mod:`nas.paths`):

1. ``nb201/nas_nb201_table.csv``, the project's own table, written by
   ``nas import-table`` from an official benchmark file (format below);
2. else the three shared CSV files ``nb201/nats_tss_test_acc_200ep.csv``,
   ``nb201/nats_tss_test_acc_12ep_200ep_one_seed.csv`` and ``nb201/cifar10_valid_200ep_avg.csv``
   (row ``i`` of each is architecture index ``i``; the three must agree on every row's
   architecture string, or the table refuses to open).

Metrics (accuracies in %, 0-100; an empty cell or a missing file column means "not known"):

=====================  ==========================================================================
``test_acc``           test accuracy after 200 epochs, mean over the training seeds
                       (``cifar10``: trained on train+valid, tested on the test set;
                       ``cifar100`` / ``imagenet16-120``: NAS-Bench-201's ``x-test`` split)
``test_acc_12ep``      the same after the 12-epoch schedule (low fidelity)
``test_acc_one_seed``  test accuracy after 200 epochs of a single training seed
                       (imported tables: the trial with the smallest seed)
``valid_acc``          validation accuracy after 200 epochs, mean over seeds (``cifar10``: the
                       "cifar10-valid" setting, trained on the train half, validated on the
                       other half; other datasets: ``x-valid``; shared files: ``cifar10`` only)
``train_seconds``      simulated time to train the model for 200 epochs (``cifar10``: in the
                       cifar10-valid setting, matching ``valid_acc``)
``params``             trainable parameters (count) of the network (imported tables only)
=====================  ==========================================================================

The project's table format (``nb201/nas_nb201_table.csv``)
----------------------------------------------------------

A UTF-8, comma-separated file with a header row and then exactly one row per architecture
of the space, 15,625 rows in NAS-Bench-201 index order:

* column ``index``: the NAS-Bench-201 architecture index, ``0`` on the first row, then
  ``1``, ``2``, ... (no gaps);
* column ``arch``: the architecture string exactly as in NAS-Bench-201, e.g.
  ``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|``
  (each string at most once);
* any number of further columns named ``<dataset>/<metric>``, ``<dataset>`` one of
  ``cifar10``, ``cifar100``, ``imagenet16-120`` and ``<metric>`` lower-case letters, digits
  and ``_`` (the names above, or new ones); each cell a decimal number or empty when unknown
  (e.g. an architecture the benchmark did not evaluate).

Example::

    index,arch,cifar10/test_acc,cifar10/valid_acc,cifar100/test_acc
    0,|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|,85.86,81.98,52.91
    1,|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|,93.66,,70.29
"""

from __future__ import annotations

import csv
import math
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from nas.benchmarks import BenchmarkTable, register_table
from nas.errors import NasError
from nas.paths import data_dir as resolve_data_dir

#: the project's own table, relative to the data directory
TABLE_FILE = "nb201/nas_nb201_table.csv"
#: the shared files read when the project's table is absent
SHARED_FILES = (
    "nb201/nats_tss_test_acc_200ep.csv",
    "nb201/nats_tss_test_acc_12ep_200ep_one_seed.csv",
    "nb201/cifar10_valid_200ep_avg.csv",
)
#: datasets a table may have columns for
DATASETS = ("cifar10", "cifar100", "imagenet16-120")
#: number of architectures in the space
NUM_ARCHS = 15625

_METRIC_NAME = re.compile(r"^[a-z0-9_]+$")

# (file, column) -> (dataset, metric) of the shared files
_SHARED_COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    SHARED_FILES[0]: {
        "CIFAR10TestAccuracy200Epochs": ("cifar10", "test_acc"),
        "CIFAR100TestAccuracy200Epochs": ("cifar100", "test_acc"),
        "ImageNetTestAccuracy200Epochs": ("imagenet16-120", "test_acc"),
    },
    SHARED_FILES[1]: {
        "Cifar10TestAccuracy12Epochs": ("cifar10", "test_acc_12ep"),
        "Cifar100TestAccuracy12Epochs": ("cifar100", "test_acc_12ep"),
        "ImageNet16TestAccuracy12Epochs": ("imagenet16-120", "test_acc_12ep"),
        "Cifar10TestAccuracy200Epochs": ("cifar10", "test_acc_one_seed"),
        "Cifar100TestAccuracy200Epochs": ("cifar100", "test_acc_one_seed"),
        "ImageNet16TestAccuracy200Epochs": ("imagenet16-120", "test_acc_one_seed"),
    },
    SHARED_FILES[2]: {
        "valid-accuracy": ("cifar10", "valid_acc"),
        "train-all-time": ("cifar10", "train_seconds"),
    },
}
# per shared file: the column holding the architecture string, and the one holding the index
_SHARED_ARCH_COLUMN = {SHARED_FILES[0]: "ArchitectureString", SHARED_FILES[1]: "ArchitectureString", SHARED_FILES[2]: "arch_str"}
_SHARED_INDEX_COLUMN = {SHARED_FILES[0]: None, SHARED_FILES[1]: "", SHARED_FILES[2]: "index"}
_ARCH, _INDEX = ("", "arch"), ("", "index")  # keys of those two columns among the (dataset, metric) ones

Column = tuple[str, str]


@register_table()
class NB201Table(BenchmarkTable):
    """Trained metrics of the 15,625 NAS-Bench-201 architectures (see the module docstring).

    Look-ups by architecture string are dictionary accesses; :meth:`values` gives a whole
    metric as an array in index order for vectorised work.
    """

    name = "nb201"

    def __init__(self, archs: Sequence[str], columns: Mapping[Column, np.ndarray], source: str):
        """A table of ``archs`` (index order) and ``columns`` ((dataset, metric) -> values)."""
        self._archs = tuple(archs)
        self._index = {arch: i for i, arch in enumerate(self._archs)}
        if len(self._index) != len(self._archs):
            raise NasError(f"{source}: an architecture string occurs twice")
        self._columns: dict[Column, np.ndarray] = {}
        for key, values in columns.items():
            array = np.array(values, dtype=np.float64)
            if array.shape != (len(self._archs),):
                raise NasError(f"{source}: column {key[0]}/{key[1]} has {array.size} values for {len(self._archs)} architectures")
            array.setflags(write=False)
            self._columns[key] = array
        self._datasets = tuple(d for d in DATASETS if any(key[0] == d for key in self._columns))
        #: where the values come from (file names), for reports
        self.source = source

    @classmethod
    def open(cls, data_dir: str | Path | None = None) -> "NB201Table":
        """The table from ``data_dir``: the project's table if present, else the shared files.

        Tables are cached per data directory and file modification times, so opening again
        is free and an import is picked up.
        """
        root = resolve_data_dir(data_dir)
        own = root / TABLE_FILE
        files = [own] if own.is_file() else [root / name for name in SHARED_FILES]
        for path in files:
            if not path.is_file():
                raise NasError(
                    f"missing data file {str(path.relative_to(root))!r} in data directory {str(root)!r} "
                    f"(the nb201 table needs {TABLE_FILE} or the shared files {', '.join(SHARED_FILES)})"
                )
        key = (str(root), tuple((str(p), p.stat().st_mtime_ns) for p in files))
        table = _CACHE.get(key)
        if table is None:
            table = _read_own(own) if files == [own] else _read_shared(root)
            _CACHE[key] = table
        return table

    @property
    def datasets(self) -> tuple[str, ...]:
        """Datasets with at least one metric column."""
        return self._datasets

    def metrics(self, dataset: str) -> tuple[str, ...]:
        """Metric names of ``dataset``, in file order."""
        return tuple(metric for (d, metric) in self._columns if d == dataset)

    def __len__(self) -> int:
        return len(self._archs)

    def __iter__(self) -> Iterator[str]:
        return iter(self._archs)

    def __contains__(self, arch: object) -> bool:
        return arch in self._index

    def arch_at(self, index: int) -> str:
        """The architecture string of NAS-Bench-201 index ``index``."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(self._archs):
            raise NasError(f"architecture index {index!r} is out of range 0..{len(self._archs) - 1}")
        return self._archs[index]

    def index_of(self, arch: str) -> int:
        """The NAS-Bench-201 index of architecture string ``arch``.

        Raises :class:`NasError` naming ``arch`` when it is malformed or not in the table.
        """
        try:
            return self._index[arch]
        except (KeyError, TypeError):
            pass
        from nas.spaces import create_space

        space = create_space(self.name)
        try:
            canonical = space.format(space.parse(arch))
        except NasError as exc:
            raise NasError(f"malformed NAS-Bench-201 architecture {_short(arch)}: {str(exc)[:200]}") from None
        if canonical in self._index:
            return self._index[canonical]
        raise NasError(f"architecture {_short(arch)} is not in the nb201 table ({self.source})")

    def lookup(self, arch: str, dataset: str, metric: str) -> float:
        """The value of ``metric`` on ``dataset`` for architecture string ``arch`` (NaN if unknown)."""
        column = self._columns.get((dataset, metric))
        if column is None:
            column = self._column(dataset, metric)
        return float(column[self.index_of(arch)])

    def values(self, dataset: str, metric: str) -> np.ndarray:
        """All values of ``metric`` on ``dataset`` in index order (a read-only float64 array)."""
        column = self._columns.get((dataset, metric))
        return column if column is not None else self._column(dataset, metric)

    def _column(self, dataset: str, metric: str) -> np.ndarray:
        """The column of (dataset, metric), accepting dataset aliases; NasError if absent."""
        from nas.datasets import dataset_spec

        dataset = dataset_spec(dataset).name
        self.check(dataset, metric)
        return self._columns[(dataset, metric)]


_CACHE: dict[tuple[str, tuple[tuple[str, int], ...]], NB201Table] = {}


def _float(text: str, where: str) -> float:
    if text == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise NasError(f"{where}: {_short(text)} is not a number") from None


def _short(text: str, limit: int = 80) -> str:
    """``repr(text)`` of at most a prefix of ``text``, for messages (an architecture string may be huge)."""
    if not isinstance(text, str):
        return f"a {type(text).__name__}"
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn the failures of reading a table file (unreadable, not UTF-8, not CSV) into one :class:`NasError`."""
    try:
        yield
    except OSError as exc:
        raise NasError(f"cannot read nb201 table file {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise NasError(f"nb201 table file {str(path)!r} is not UTF-8 text (byte {exc.start}); is the file corrupt?") from None
    except csv.Error as exc:
        raise NasError(f"nb201 table file {str(path)!r} is not valid CSV: {str(exc)[:120]}") from None


def _read_shared(root: Path) -> NB201Table:
    """The table from the three shared CSV files (checked to agree row by row)."""
    archs: list[str] | None = None
    columns: dict[Column, list[float]] = {}
    for name in SHARED_FILES:
        with _reading(root / name), open(root / name, newline="", encoding="utf-8") as handle:
            rows = csv.reader(handle)
            header = next(rows, None) or []
            wanted = {**_SHARED_COLUMNS[name], _SHARED_ARCH_COLUMN[name]: _ARCH}
            index_column = _SHARED_INDEX_COLUMN[name]
            if index_column is not None:
                wanted[index_column] = _INDEX
            missing = [column for column in wanted if column not in header]
            if missing:
                raise NasError(f"{name}: missing column {missing[0]!r}")
            positions = {key: header.index(column) for column, key in wanted.items()}
            arch_at = positions[_ARCH]
            file_archs: list[str] = []
            for key in _SHARED_COLUMNS[name].values():
                columns[key] = []
            for line, row in enumerate(rows, start=2):
                where = f"{name} line {line}"
                if len(row) != len(header):
                    raise NasError(f"{where}: {len(row)} fields, expected {len(header)}")
                if index_column is not None and row[positions[_INDEX]] != str(line - 2):
                    raise NasError(f"{where}: index {_short(row[positions[_INDEX]])}, expected {line - 2}")
                file_archs.append(row[arch_at])
                for key in _SHARED_COLUMNS[name].values():
                    columns[key].append(_float(row[positions[key]], where))
        if len(file_archs) != NUM_ARCHS:
            raise NasError(f"{name}: {len(file_archs)} architectures, expected {NUM_ARCHS}")
        if archs is None:
            archs = file_archs
        elif file_archs != archs:
            row = next(i for i, (a, b) in enumerate(zip(archs, file_archs)) if a != b)
            raise NasError(
                f"{name} disagrees with {SHARED_FILES[0]} on architecture index {row}: "
                f"{_short(file_archs[row])} vs {_short(archs[row])}; the shared nb201 files must list the same architectures in the same order"
            )
    assert archs is not None
    return NB201Table(archs, columns, source="shared files " + ", ".join(SHARED_FILES))


def _parse_column_name(name: str, where: str) -> Column:
    dataset, sep, metric = name.partition("/")
    if not sep or dataset not in DATASETS or not _METRIC_NAME.match(metric):
        raise NasError(
            f"{where}: column {_short(name)} is not '<dataset>/<metric>' with dataset one of {', '.join(DATASETS)} "
            "and metric of lower-case letters, digits and '_'"
        )
    return dataset, metric


def _read_own(path: Path) -> NB201Table:
    """The table from a file in the project's format (see the module docstring)."""
    name = str(path)
    with _reading(path), open(path, newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle)
        header = next(rows, None) or []
        if header[:2] != ["index", "arch"]:
            raise NasError(f"{name}: the header must start with 'index,arch', found {_short(','.join(header[:2]))}")
        keys = [_parse_column_name(column, name) for column in header[2:]]
        if len(set(keys)) != len(keys):
            raise NasError(f"{name}: a column name occurs twice")
        archs: list[str] = []
        values: list[list[float]] = []
        for line, row in enumerate(rows, start=2):
            where = f"{name} line {line}"
            if len(row) != len(header):
                raise NasError(f"{where}: {len(row)} fields, expected {len(header)}")
            if row[0] != str(line - 2):
                raise NasError(f"{where}: index {_short(row[0])}, expected {line - 2} (rows must be in index order)")
            archs.append(row[1])
            values.append([_float(cell, where) for cell in row[2:]])
    if len(archs) != NUM_ARCHS:
        raise NasError(f"{name}: {len(archs)} architectures, expected {NUM_ARCHS}")
    matrix = np.array(values, dtype=np.float64).reshape(len(archs), len(keys))
    return NB201Table(archs, {key: matrix[:, i] for i, key in enumerate(keys)}, source=name)


def write_table(path: str | os.PathLike[str], archs: Sequence[str], columns: Mapping[Column, Sequence[float]]) -> Path:
    """Write ``archs`` (index order) and ``columns`` in the project's table format to ``path``.

    Values are written with Python's shortest round-trip representation (NaN as an empty
    cell), so reading the file back gives exactly the same floats. The file is replaced
    atomically. Returns the path.
    """
    path = Path(path)
    if len(archs) != NUM_ARCHS:
        raise NasError(f"an nb201 table needs {NUM_ARCHS} architectures, got {len(archs)}")
    keys = list(columns)
    for dataset, metric in keys:
        _parse_column_name(f"{dataset}/{metric}", "write_table")
    data = [np.asarray(columns[key], dtype=np.float64) for key in keys]
    for key, array in zip(keys, data):
        if array.shape != (len(archs),):
            raise NasError(f"column {key[0]}/{key[1]} has {array.size} values for {len(archs)} architectures")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["index", "arch", *(f"{d}/{m}" for d, m in keys)])
            for i, arch in enumerate(archs):
                writer.writerow([i, arch, *("" if math.isnan(v) else repr(v) for v in (float(a[i]) for a in data))])
        os.replace(partial, path)
    except OSError as exc:
        raise NasError(f"cannot write {str(path)!r}: {exc.strerror}") from None
    return path
