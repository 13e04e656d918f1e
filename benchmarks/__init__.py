"""Benchmark tables: the trained metrics of architectures, used as the training oracle.

Open one by name with :func:`open_table`; a new table is one module with a class decorated
``@register_table`` and listed in ``_BUILTIN`` below.
"""

from __future__ import annotations

from pathlib import Path

from nas.benchmarks.base import BenchmarkTable, Oracle
from nas.registry import Registry

#: The built-in tables: ``name`` (the space's) ``: (module, summary)``; the summary is the first
#: line of the class's docstring (tests/test_registry.py checks it against the class).
_BUILTIN: dict[str, tuple[str, str]] = {
    "nb201": ("nas.benchmarks.nb201", "Trained metrics of the 15,625 NAS-Bench-201 architectures (see the module docstring)."),
    "nb101": ("nas.benchmarks.nb101", "Validation accuracy, parameters and published zero-cost scores of 500 NAS-Bench-101 cells."),
    "nlp": ("nas.benchmarks.nlp", "Final losses, perplexities, sizes and training times of the NAS-Bench-NLP logs, per dataset."),
}

TABLES: Registry[BenchmarkTable] = Registry("benchmark table", _BUILTIN, entry_point_group="nas.benchmarks")
register_table = TABLES.register


def open_table(space: str, data_dir: str | Path | None = None) -> BenchmarkTable:
    """The benchmark table of ``space`` (registered under the space's name), read from ``data_dir``."""
    return TABLES.get(space).open(data_dir)


__all__ = ["BenchmarkTable", "Oracle", "TABLES", "open_table", "register_table"]
