"""NAS-Bench-NLP benchmark table: the training logs of recurrent cells on Penn Treebank and WikiText-2.

Sources in the data directory (NAS-Bench-NLP's released logs: 50 epochs of a 3-layer language
model per cell):

* dataset ``ptb``: ``nlp/train_logs_ptb.zip``, 14,322 logs, one run per cell (11,598 with status
  ``OK``; 2,645 stopped with ``loss is nan!`` and 79 with ``Exception: math range error``, whose
  metrics are NaN except ``num_params``); ``num_params`` is for the 10,000-word PTB vocabulary;
* dataset ``wikitext2``: ``nlp/train_logs_wikitext-2.zip``, 345 logs (33,278-word vocabulary);
  some cells were trained more than once (up to 3 runs): their losses and times are the mean
  over the finished runs.

Metrics:

* ``val_loss``, ``test_loss``: cross-entropy (nats per token) after the final (50th) epoch;
* ``val_perplexity``, ``test_perplexity``: ``exp`` of those losses;
* ``num_params``: parameters of the trained model;
* ``train_seconds``: wall-clock training time, the sum of the epochs' times.

Losses and perplexities are minimised (:attr:`NlpTable.minimised_metrics`): comparisons rank
proxies against the negated perplexity and searches keep the lowest. A run whose loss became
NaN stopped early; a cell without a finished run has NaN for every metric except ``num_params``.
Each dataset's logs are read on first use.

Look-ups are by the :mod:`nas.spaces.nlp` string (compact JSON); any other JSON spelling of a
recipe in the table (e.g. the logs' own) is accepted too. Cells that differ only in node names
are separate entries (use :meth:`NlpSpace.canonical_id` to match those).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Iterator

from nas.benchmarks import register_table
from nas.benchmarks.base import BenchmarkTable
from nas.errors import NasError
from nas.paths import data_dir as resolve_data_dir
from nas.paths import data_file
from nas.spaces.nlp import NlpSpace, log_cell, read_logs

#: the logs of each dataset, relative to the data directory
LOGS = {"ptb": "nlp/train_logs_ptb.zip", "wikitext2": "nlp/train_logs_wikitext-2.zip"}
EPOCHS = 50
METRICS = ("val_loss", "test_loss", "val_perplexity", "test_perplexity", "num_params", "train_seconds")


@register_table("nlp")
class NlpTable(BenchmarkTable):
    """Final losses, perplexities, sizes and training times of the NAS-Bench-NLP logs, per dataset."""

    name: ClassVar[str] = "nlp"
    minimised_metrics: ClassVar[frozenset[str]] = frozenset({"val_loss", "test_loss", "val_perplexity", "test_perplexity"})

    def __init__(self, root: Path):
        self._root = root
        self._rows: dict[str, dict[str, dict[str, float]]] = {}

    @classmethod
    def open(cls, data_dir: str | Path | None = None) -> "NlpTable":
        """The table of the logs in the data directory (each dataset's logs are read on first use)."""
        return cls(resolve_data_dir(data_dir))

    @property
    def datasets(self) -> tuple[str, ...]:
        """``ptb`` and ``wikitext2``."""
        return tuple(LOGS)

    def metrics(self, dataset: str) -> tuple[str, ...]:
        """The metric names (the same for every cell; NaN where unknown)."""
        return METRICS

    def default_metric(self, dataset: str) -> str:
        """``test_perplexity``, the NAS-Bench-NLP paper's measure."""
        return "test_perplexity"

    def rows(self, dataset: str) -> dict[str, dict[str, float]]:
        """``{architecture string: {metric: value}}`` of ``dataset``, read from its logs on first use."""
        if dataset not in LOGS:
            raise NasError(f"table 'nlp' has no dataset {dataset!r}; it has: {', '.join(LOGS)}")
        if dataset not in self._rows:
            path = data_file(LOGS[dataset], self._root)
            self._rows[dataset] = _read_rows(str(path), path.stat().st_mtime_ns)
        return self._rows[dataset]

    def __len__(self) -> int:
        return len(self.rows(self.datasets[0]))

    def __iter__(self) -> Iterator[str]:
        """The cells of the default dataset (``ptb``), in file order; see :meth:`architectures` for another."""
        return iter(self.rows(self.datasets[0]))

    def architectures(self, dataset: str) -> list[str]:
        """The cells with a log for ``dataset``, in file order."""
        return list(self.rows(dataset))

    def __contains__(self, arch: str) -> bool:
        return any(self._find(arch, dataset) is not None for dataset in self.datasets)

    def lookup(self, arch: str, dataset: str, metric: str) -> float:
        """``metric`` of ``arch`` (any JSON spelling of its recipe) on ``dataset``."""
        self.check(dataset, metric)
        row = self._find(arch, dataset)
        if row is None:
            raise NasError(f"NAS-Bench-NLP cell is not among the {len(self.rows(dataset))} trained cells of {dataset}")
        return row[metric]

    def _find(self, arch: str, dataset: str) -> dict[str, float] | None:
        rows = self.rows(dataset)
        row = rows.get(arch)
        if row is None:
            space = NlpSpace()
            row = rows.get(space.format(space.parse(arch)))
        return row


@lru_cache(maxsize=4)
def _read_rows(path: str, mtime_ns: int) -> dict[str, dict[str, float]]:
    """The rows of one zip of logs (cached per file and modification time: reading 14,322 logs takes seconds)."""
    space = NlpSpace()
    runs: dict[str, list[dict]] = {}
    for log in read_logs(path):
        runs.setdefault(space.format(log_cell(log)), []).append(log)
    return {arch: _row(logs) for arch, logs in runs.items()}


def _row(logs: list[dict]) -> dict[str, float]:
    """The metrics of one cell from its runs."""
    try:
        finished = [log for log in logs if len(log["val_losses"]) == EPOCHS and len(log["test_losses"]) == EPOCHS]
        finished = [log for log in finished if math.isfinite(log["val_losses"][-1]) and math.isfinite(log["test_losses"][-1])]
        row = {"num_params": float(logs[0]["num_params"])}
        val = _mean([log["val_losses"][-1] for log in finished])
        test = _mean([log["test_losses"][-1] for log in finished])
        seconds = _mean([sum(log["wall_times"]) for log in finished])
    except (KeyError, TypeError, IndexError, ValueError, OverflowError) as exc:
        raise NasError(f"malformed NAS-Bench-NLP training log (missing or bad {str(exc)[:120]})") from None
    row.update(
        val_loss=val,
        test_loss=test,
        val_perplexity=math.exp(val) if math.isfinite(val) else math.nan,
        test_perplexity=math.exp(test) if math.isfinite(test) else math.nan,
        train_seconds=seconds,
    )
    return row


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan
