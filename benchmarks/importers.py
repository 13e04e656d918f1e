"""Import official benchmark files into the project's table format.

Two sources, both interpreted with their authors' own result classes:

* ``nb201-pth``: a NAS-Bench-201 file such as ``NAS-Bench-201-v1_1-096897.pth`` (a ``torch.save``
  of ``{"meta_archs", "arch2infos", "evaluated_indexes"}``), read with
  ``torch.load(weights_only=True)`` and ``nas_201_api.ArchResults`` (installed with this project);
* ``nats-tss``: NATS-Bench's topology benchmark, either the ``NATS-tss-v1_0-3ffb9-simple``
  directory (``meta.pickle.pbz2`` and one ``<index>.pickle.pbz2`` per architecture) or the single
  ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` file: bzip2-compressed pickles, read here with
  :func:`nas.safe_pickle.load` and ``nats_bench.api_utils.ArchResults``
  (``pip install 'nas-zero-cost[nats]'``).

All of these files are pickles. They are never unpickled with plain :mod:`pickle` (the authors'
APIs do that, which runs whatever code a crafted file holds): PyTorch's weights-only loader and
the project's restricted unpickler accept plain data only and refuse anything else with one
:class:`NasError` naming the file.

Both give, per architecture, ``ArchResults`` objects for the 200-epoch and the 12-epoch
schedules; every metric of :mod:`nas.benchmarks.nb201` is computed from them with the packages'
``get_metrics`` / ``get_compute_costs``, the calls their ``get_more_info`` makes
(``is_random=False``: mean over the training seeds). Architectures the file did not evaluate get
empty cells. The result is written to ``<out>/nb201/nas_nb201_table.csv``.
"""

from __future__ import annotations

import bz2
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from nas.benchmarks.nb201 import DATASETS, NUM_ARCHS, TABLE_FILE, Column, write_table
from nas import safe_pickle
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
        arch = getattr(full, "arch_str", None)
        if arch != archs[index]:
            raise NasError(f"benchmark file: results of index {index} are for {_short(repr(arch))}, not {archs[index]!r}")
        for dataset in DATASETS:
            try:
                values = _metrics(full, less, dataset)
            except NasError:
                raise
            except Exception as exc:  # noqa: BLE001 - results that are not the official structure
                raise NasError(f"benchmark file: malformed results of index {index} on {dataset} ({type(exc).__name__}: {_short(str(exc))})") from None
            for metric, value in values.items():
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


def _load_pth(path: Path) -> Any:
    """A ``torch.save`` file's content, with PyTorch's weights-only (plain data) unpickler.

    The official file holds dicts, lists, strings and numbers; NumPy values are allowed too.
    Anything else (a crafted file's code, or a raw pickle renamed ``.pth``) is refused.
    """
    import pickle
    import warnings

    import torch

    allowed = getattr(torch.serialization, "safe_globals", None)
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch's note on pickle protocols: the message says it all
            if allowed is None:  # torch < 2.5: plain data without NumPy values only
                return torch.load(path, map_location="cpu", weights_only=True)
            with allowed(safe_pickle.numpy_globals()):
                return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise NasError(
            f"refusing to load NAS-Bench-201 file {str(path)!r}: it is not a torch.save of plain data "
            f"({_short(_torch_reason(exc))}); it may be crafted"
        ) from None
    except OSError as exc:
        raise NasError(f"cannot read NAS-Bench-201 file {str(path)!r}: {exc.strerror or exc}") from None
    except MemoryError:
        raise NasError(f"cannot read NAS-Bench-201 file {str(path)!r}: it does not fit in memory") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt file is bad input: one line, never a traceback
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise NasError(f"cannot read NAS-Bench-201 file {str(path)!r}: {type(exc).__name__}: {_short(detail)}") from None


_TORCH_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation", "(1)", "(2)", "In PyTorch")


def _torch_reason(exc: Exception) -> str:
    """The informative part of PyTorch's multi-line weights-only refusal, on one line."""
    text = str(exc).replace("WeightsUnpickler error:", "\n")
    lines = [line.strip() for line in text.splitlines()]
    return "; ".join(line for line in lines if line and not line.startswith(_TORCH_BOILERPLATE)) or "not plain data"


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _open_nb201_pth(path: Path) -> tuple[list[str], ResultsOf]:
    """Architectures and results of a NAS-Bench-201 ``.pth`` file, via ``nas_201_api``'s ``ArchResults``."""
    from nas_201_api import ArchResults

    # Loaded here rather than by the official API, which unpickles fully (running any code a
    # crafted file holds) and deep-copies the whole benchmark.
    data = _load_pth(path)
    if not isinstance(data, dict) or not {"meta_archs", "arch2infos", "evaluated_indexes"} <= set(data):
        raise NasError(f"{str(path)!r} is not a NAS-Bench-201 file (no meta_archs/arch2infos/evaluated_indexes)")
    archs = _check_archs(data["meta_archs"], path)
    infos = data["arch2infos"]
    try:
        evaluated = set(data["evaluated_indexes"])
    except TypeError:
        raise NasError(f"{str(path)!r}: 'evaluated_indexes' is not a list of indices") from None

    def results_of(index: int) -> tuple[Any, Any] | None:
        if index not in evaluated:
            return None
        try:
            info = infos[index]
            return ArchResults.create_from_state_dict(info["full"]), ArchResults.create_from_state_dict(info["less"])
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise NasError(f"{str(path)!r}: no results for evaluated architecture {index} ({_short(str(exc))})") from None

    return archs, results_of


#: the extension of NATS-Bench's files (bzip2-compressed pickles)
NATS_EXT = ".pickle.pbz2"


def _load_pbz2(path: Path, what: str) -> Any:
    """The content of one NATS-Bench ``.pickle.pbz2`` file, unpickled safely (plain data only)."""
    if not path.is_file():
        raise NasError(f"missing NATS-Bench file {str(path)!r}")
    try:
        with bz2.open(path, "rb") as handle:
            return safe_pickle.load(handle, what=what, name=str(path))
    except OSError as exc:  # not bzip2 data, or unreadable
        raise NasError(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None


def _open_nats_tss(path: Path) -> tuple[list[str], ResultsOf]:
    """Architectures and results of NATS-Bench's topology benchmark, via ``nats_bench``'s ``ArchResults``.

    The files are read here, as the official API would read them (``create(path, "tss",
    fast_mode=path.is_dir())``), but with the restricted unpickler: the API itself unpickles them
    fully, which would run any code a crafted file holds.
    """
    try:
        from nats_bench.api_utils import ArchResults
    except ImportError:
        raise NasError("importing NATS-Bench needs the nats_bench package: pip install 'nas-zero-cost[nats]'") from None
    what = "NATS-Bench topology benchmark"

    def results(index: int, infos: Any, where: Path) -> tuple[Any, Any]:
        try:
            full = ArchResults.create_from_state_dict(infos["200"])
            less = ArchResults.create_from_state_dict(infos["12"]) if "12" in infos else None
        except Exception as exc:  # noqa: BLE001 - malformed results in a file are bad input
            raise NasError(f"{str(where)!r}: cannot read the results of architecture {index}: {_short(str(exc))}") from None
        return full, less

    if path.is_dir():  # the archive directory: meta.pickle.pbz2 and one file per evaluated architecture
        meta = _load_pbz2(path / f"meta{NATS_EXT}", what)
        if not isinstance(meta, dict) or "meta_archs" not in meta:
            raise NasError(f"{str(path / f'meta{NATS_EXT}')!r} is not a NATS-Bench meta file (no meta_archs)")
        archs = _check_archs(meta["meta_archs"], path)
        names = {p.name for p in path.iterdir()}

        def file_of(index: int) -> Path | None:
            for name in (f"{index:06d}{NATS_EXT}", f"{index}{NATS_EXT}"):
                if name in names:
                    return path / name
            return None

        def results_of(index: int) -> tuple[Any, Any] | None:
            where = file_of(index)
            if where is None:
                return None
            infos = _load_pbz2(where, what)  # read when needed: memory stays flat
            if not isinstance(infos, dict):
                raise NasError(f"{str(where)!r} is not a NATS-Bench architecture file (not a dict of results)")
            return results(index, infos, where)

        return archs, results_of

    data = _load_pbz2(path, what)
    if not isinstance(data, dict) or not {"meta_archs", "arch2infos", "evaluated_indexes"} <= set(data):
        raise NasError(f"{str(path)!r} is not a NATS-Bench topology file (no meta_archs/arch2infos/evaluated_indexes)")
    archs = _check_archs(data["meta_archs"], path)
    infos_of, evaluated = data["arch2infos"], data["evaluated_indexes"]
    try:
        evaluated = set(evaluated)
    except TypeError:
        raise NasError(f"{str(path)!r}: 'evaluated_indexes' is not a list of indices") from None

    def results_of_file(index: int) -> tuple[Any, Any] | None:
        if index not in evaluated:
            return None
        try:
            infos = infos_of[index]
        except (KeyError, TypeError, IndexError):
            raise NasError(f"{str(path)!r}: no results for evaluated architecture {index}") from None
        if not isinstance(infos, dict):
            raise NasError(f"{str(path)!r}: the results of architecture {index} are not a dict")
        return results(index, infos, path)

    return archs, results_of_file
