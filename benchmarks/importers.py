"""Import official benchmark files into the project's table format.

Two sources, both read through their authors' own packages:

* ``nb201-pth``: a NAS-Bench-201 file such as ``NAS-Bench-201-v1_1-096897.pth`` (a ``torch.save``
  of ``{"meta_archs", "arch2infos", "evaluated_indexes"}``), read with ``nas_201_api``
  (installed with this project);
* ``nats-tss``: NATS-Bench's topology benchmark, either the ``NATS-tss-v1_0-3ffb9-simple``
  directory or the single ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` file, read with ``nats_bench``
  (``pip install 'nas-zero-cost[nats]'``).

Both give, per architecture, ``ArchResults`` objects for the 200-epoch and the 12-epoch
schedules; every metric of :mod:`nas.benchmarks.nb201` is computed from them with the packages'
``get_metrics`` / ``get_compute_costs``, the calls their ``get_more_info`` makes
(``is_random=False``: mean over the training seeds). Architectures the file did not evaluate get
empty cells. The result is written to ``<out>/nb201/nas_nb201_table.csv``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from nas.benchmarks.nb201 import DATASETS, NUM_ARCHS, TABLE_FILE, Column, write_table
from nas.errors import NasError

#: the sources :func:`import_table` understands
SOURCES = ("nb201-pth", "nats-tss")

# our dataset name -> the benchmark's name of the dataset (for test_acc, test_acc_12ep, ...),
# the benchmark's name of the setting giving valid_acc / train_seconds, and the evaluation sets
_OFFICIAL = {
    "cifar10": ("cifar10", "cifar10-valid", "ori-test", "x-valid"),
    "cifar100": ("cifar100", "cifar100", "x-test", "x-valid"),
    "imagenet16-120": ("ImageNet16-120", "ImageNet16-120", "x-test", "x-valid"),
}
_METRICS = ("test_acc", "test_acc_12ep", "test_acc_one_seed", "valid_acc", "train_seconds", "params")

#: per architecture index: (200-epoch ArchResults, 12-epoch ArchResults), or None if not evaluated
ResultsOf = Callable[[int], tuple[Any, Any] | None]


def import_table(source: str, path: str | os.PathLike[str], out_dir: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Convert the official benchmark file ``path`` of kind ``source`` (one of :data:`SOURCES`).

    Writes ``<out_dir>/nb201/nas_nb201_table.csv`` and returns its path; refuses to replace an
    existing table unless ``overwrite``.
    """
    if source not in SOURCES:
        raise NasError(f"unknown import source {source!r}; known: {', '.join(SOURCES)}")
    path = Path(path)
    if not path.exists():
        raise NasError(f"benchmark file {str(path)!r} does not exist")
    target = Path(out_dir) / TABLE_FILE
    if target.exists() and not overwrite:
        raise NasError(f"{str(target)!r} exists; pass --force to replace it")
    archs, results_of = _open_nb201_pth(path) if source == "nb201-pth" else _open_nats_tss(path)
    return write_table(target, archs, table_columns(archs, results_of))


def table_columns(archs: list[str], results_of: ResultsOf) -> dict[Column, np.ndarray]:
    """Every (dataset, metric) column for ``archs``, from each architecture's ``ArchResults``."""
    columns = {(d, m): np.full(len(archs), math.nan) for d in DATASETS for m in _METRICS}
    for index in _progress(len(archs)):
        results = results_of(index)
        if results is None:
            continue
        full, less = results
        if full.arch_str != archs[index]:
            raise NasError(f"benchmark file: results of index {index} are for {full.arch_str!r}, not {archs[index]!r}")
        for dataset in DATASETS:
            for metric, value in _metrics(full, less, dataset).items():
                columns[(dataset, metric)][index] = value
    return {key: values for key, values in columns.items() if not np.isnan(values).all()}


def _metrics(full: Any, less: Any, dataset: str) -> dict[str, float]:
    """The metrics of one architecture on ``dataset`` (those the results have)."""
    name, setting, test_set, valid_set = _OFFICIAL[dataset]
    values: dict[str, float] = {}
    names = full.get_dataset_names()
    if name in names:
        values["test_acc"] = _number(full.get_metrics(name, test_set)["accuracy"])
        first_seed = min(full.get_dataset_seeds(name))
        values["test_acc_one_seed"] = _number(full.get_metrics(name, test_set, is_random=first_seed)["accuracy"])
        millions = _number(full.get_compute_costs(name)["params"])  # the benchmarks count in 1e6
        values["params"] = millions if math.isnan(millions) else float(round(millions * 1e6))
    if setting in names:
        values["valid_acc"] = _number(full.get_metrics(setting, valid_set)["accuracy"])
        values["train_seconds"] = _number(full.get_metrics(setting, "train")["all_time"])
    if less is not None and name in less.get_dataset_names():
        values["test_acc_12ep"] = _number(less.get_metrics(name, test_set)["accuracy"])
    return values


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _progress(total: int) -> Iterator[int]:
    """``range(total)`` with a progress bar on a terminal."""
    from tqdm import tqdm

    return iter(tqdm(range(total), desc="importing", unit="arch", disable=None, leave=False))


def _check_archs(archs: Any, path: Path) -> list[str]:
    if not isinstance(archs, (list, tuple)) or len(archs) != NUM_ARCHS or not all(isinstance(a, str) for a in archs):
        raise NasError(f"{str(path)!r}: 'meta_archs' must list the {NUM_ARCHS} NAS-Bench-201 architecture strings")
    return list(archs)


def _open_nb201_pth(path: Path) -> tuple[list[str], ResultsOf]:
    """Architectures and results of a NAS-Bench-201 ``.pth`` file, via ``nas_201_api``."""
    import torch
    from nas_201_api import ArchResults

    try:
        # The official file is a pickled dict of plain Python objects, which newer torch
        # refuses to load by default; like the official API, we unpickle it fully (only
        # import files you trust). Loading it ourselves also spares the API's deep copy.
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise NasError(f"cannot read NAS-Bench-201 file {str(path)!r}: {exc}") from None
    if not isinstance(data, dict) or not {"meta_archs", "arch2infos", "evaluated_indexes"} <= set(data):
        raise NasError(f"{str(path)!r} is not a NAS-Bench-201 file (no meta_archs/arch2infos/evaluated_indexes)")
    archs = _check_archs(data["meta_archs"], path)
    infos, evaluated = data["arch2infos"], set(data["evaluated_indexes"])

    def results_of(index: int) -> tuple[Any, Any] | None:
        if index not in evaluated:
            return None
        try:
            info = infos[index]
            return ArchResults.create_from_state_dict(info["full"]), ArchResults.create_from_state_dict(info["less"])
        except (KeyError, TypeError) as exc:
            raise NasError(f"{str(path)!r}: no results for evaluated architecture {index} ({exc})") from None

    return archs, results_of


def _open_nats_tss(path: Path) -> tuple[list[str], ResultsOf]:
    """Architectures and results of NATS-Bench's topology benchmark, via ``nats_bench``."""
    try:
        import nats_bench
    except ImportError:
        raise NasError("importing NATS-Bench needs the nats_bench package: pip install 'nas-zero-cost[nats]'") from None
    fast = path.is_dir()
    try:
        api = nats_bench.create(str(path), "tss", fast_mode=fast, verbose=False)
    except Exception as exc:
        raise NasError(f"cannot read NATS-Bench topology benchmark {str(path)!r}: {exc}") from None
    archs = _check_archs(api.meta_archs, path)
    if fast:
        names = {p.name for p in path.iterdir()}
        evaluated = {i for i in range(len(archs)) if f"{i:06d}.pickle.pbz2" in names or f"{i}.pickle.pbz2" in names}
    else:
        evaluated = set(api.evaluated_indexes)

    def results_of(index: int) -> tuple[Any, Any] | None:
        if index not in evaluated:
            return None
        try:
            full = api.query_meta_info_by_index(index, hp="200")
            has_12 = "12" in api.arch2infos_dict.get(index, {})
            less = api.query_meta_info_by_index(index, hp="12") if has_12 else None
        except Exception as exc:
            raise NasError(f"{str(path)!r}: cannot read the results of architecture {index}: {exc}") from None
        if fast:
            api.arch2infos_dict.pop(index, None)  # keep memory flat: each index is read once
        return full, less

    return archs, results_of
