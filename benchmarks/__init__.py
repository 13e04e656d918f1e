"""Benchmark tables: the trained metrics of architectures, used as the training oracle.

Open one by name with :func:`open_table`; a new table is one module with a class decorated
``@register_table``.
"""

from __future__ import annotations

from pathlib import Path

from nas.benchmarks.base import BenchmarkTable, Oracle
from nas.registry import Registry

_BUILTIN = ("nas.benchmarks.nb201", "nas.benchmarks.nb101", "nas.benchmarks.nlp")

TABLES: Registry[BenchmarkTable] = Registry("benchmark table", _BUILTIN, entry_point_group="nas.benchmarks")
register_table = TABLES.register


def open_table(space: str, data_dir: str | Path | None = None) -> BenchmarkTable:
    """The benchmark table of ``space`` (registered under the space's name), read from ``data_dir``."""
    return TABLES.get(space).open(data_dir)


__all__ = ["BenchmarkTable", "Oracle", "TABLES", "open_table", "register_table"]
