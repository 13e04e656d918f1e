"""NAS-Bench-101 benchmark table: the 500 cells of NASLib's zero-cost file.

Source: ``nb101/zc_nasbench101_500.json`` in the data directory (NASLib, ``zc_nasbench101.json``),
keyed by the :mod:`nas.spaces.nb101` string of each specification. Dataset ``cifar10``; metrics:

* ``valid_acc``: NAS-Bench-101 validation accuracy after 108 epochs, % (the file's
  ``val_accuracy``, already on the 0-100 scale; one training seed per entry, so isomorphic
  specifications in the file can have different values);
* ``params``: trainable parameters (the file's ``params`` is in millions; converted to a count);
* ``published_<name>``: the file's zero-cost scores as published by NASLib, for reference
  (``synflow``, ``snip``, ``grad_norm``, ``jacov``, ``fisher``, ``grasp``, ``plain``, ``l2_norm``,
  ``epe_nas``, ``flops`` in MFLOPs and ``params`` in millions).

Look-ups are by architecture string; a string that is not in the file raises :class:`NasError`
even when an isomorphic cell is (use :meth:`Nb101Space.canonical_id` to match those).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from nas.benchmarks import register_table
from nas.benchmarks.base import RowTable
from nas.errors import NasError
from nas.paths import data_file
from nas.spaces.nb101 import Nb101Space

RELATIVE_PATH = "nb101/zc_nasbench101_500.json"
DATASET = "cifar10"
_PUBLISHED = ("synflow", "snip", "grad_norm", "jacov", "fisher", "grasp", "plain", "l2_norm", "epe_nas", "flops", "params")
METRICS = ("valid_acc", "params") + tuple(f"published_{key}" for key in _PUBLISHED)


@register_table("nb101")
class Nb101Table(RowTable):
    """Validation accuracy, parameters and published zero-cost scores of 500 NAS-Bench-101 cells."""

    name: ClassVar[str] = "nb101"
    dataset: ClassVar[str] = DATASET
    metric_names: ClassVar[tuple[str, ...]] = METRICS
    missing: ClassVar[str] = "NAS-Bench-101 cell is not in the 500-cell table"

    @staticmethod
    def space() -> Nb101Space:
        """The nb101 space (its string format)."""
        return Nb101Space()

    @classmethod
    def open(cls, data_dir: str | Path | None = None) -> "Nb101Table":
        """Read the table from ``nb101/zc_nasbench101_500.json`` in the data directory."""
        path = data_file(RELATIVE_PATH, data_dir)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            entries = raw["nasbench101"][DATASET]
            if not isinstance(entries, dict):
                raise TypeError(f"'nasbench101.{DATASET}' is a {type(entries).__name__}, not an object of cells")
        except OSError as exc:
            raise NasError(f"cannot read NAS-Bench-101 table {str(path)!r}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise NasError(f"NAS-Bench-101 table {str(path)!r} is not UTF-8 JSON text (byte {exc.start}); is the file corrupt?") from None
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise NasError(f"cannot read NAS-Bench-101 table {str(path)!r}: {type(exc).__name__}: {str(exc)[:120]}") from None
        rows: dict[str, dict[str, float]] = {}
        for arch, entry in entries.items():
            try:
                row = {"valid_acc": float(entry["val_accuracy"]), "params": float(round(entry["params"] * 1e6))}
                row.update({f"published_{key}": float(entry[key]) for key in _PUBLISHED})
            except (KeyError, TypeError, ValueError, OverflowError) as exc:
                shown = arch if len(arch) <= 80 else arch[:80] + "..."
                raise NasError(f"NAS-Bench-101 table {str(path)!r}: entry {shown!r} has a missing or bad field ({str(exc)[:120]})") from None
            rows[arch] = row
        return cls(rows)
