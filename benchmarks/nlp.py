"""NAS-Bench-NLP benchmark table: 345 WikiText-2 training logs of recurrent cells.

Source: ``nlp/train_logs_wikitext-2.zip`` in the data directory (NAS-Bench-NLP's released logs:
50 epochs of a 3-layer language model per cell). Dataset ``wikitext2``; metrics:

* ``val_loss``, ``test_loss``: cross-entropy (nats per token) after the final (50th) epoch;
* ``val_perplexity``, ``test_perplexity``: ``exp`` of those losses;
* ``num_params``: parameters of the trained model (33,278-word vocabulary);
* ``train_seconds``: wall-clock training time, the sum of the epochs' times.

Some cells were trained more than once (up to 3 runs); their losses and times are the mean over
the finished runs. A run whose loss became NaN stopped early; a cell without a finished run has
NaN for every metric except ``num_params``.

Look-ups are by the :mod:`nas.spaces.nlp` string (compact JSON); any other JSON spelling of a
recipe in the table (e.g. the logs' own) is accepted too. Cells that differ only in node names
are separate entries (use :meth:`NlpSpace.canonical_id` to match those).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

from nas.benchmarks import register_table
from nas.benchmarks.base import RowTable
from nas.errors import NasError
from nas.paths import data_file
from nas.spaces.nlp import LOGS_PATH, NlpSpace, log_cell, read_logs

DATASET = "wikitext2"
EPOCHS = 50
METRICS = ("val_loss", "test_loss", "val_perplexity", "test_perplexity", "num_params", "train_seconds")


@register_table("nlp")
class NlpTable(RowTable):
    """Final losses, perplexities, sizes and training times of the NAS-Bench-NLP logs."""

    name: ClassVar[str] = "nlp"
    dataset: ClassVar[str] = DATASET
    metric_names: ClassVar[tuple[str, ...]] = METRICS
    missing: ClassVar[str] = "NAS-Bench-NLP cell is not in the table of 345 trained cells"

    @staticmethod
    def space() -> NlpSpace:
        """The nlp space (its string format)."""
        return NlpSpace()

    @classmethod
    def open(cls, data_dir: str | Path | None = None) -> "NlpTable":
        """Read the table from ``nlp/train_logs_wikitext-2.zip`` in the data directory."""
        space = NlpSpace()
        runs: dict[str, list[dict]] = {}
        for log in read_logs(data_file(LOGS_PATH, data_dir)):
            runs.setdefault(space.format(log_cell(log)), []).append(log)
        return cls({arch: _row(logs) for arch, logs in runs.items()})


def _row(logs: list[dict]) -> dict[str, float]:
    """The metrics of one cell from its runs."""
    try:
        finished = [log for log in logs if len(log["val_losses"]) == EPOCHS and len(log["test_losses"]) == EPOCHS]
        finished = [log for log in finished if math.isfinite(log["val_losses"][-1]) and math.isfinite(log["test_losses"][-1])]
        row = {"num_params": float(logs[0]["num_params"])}
        val = _mean([log["val_losses"][-1] for log in finished])
        test = _mean([log["test_losses"][-1] for log in finished])
        seconds = _mean([sum(log["wall_times"]) for log in finished])
    except (KeyError, TypeError, IndexError) as exc:
        raise NasError(f"malformed NAS-Bench-NLP training log (missing or bad {exc})") from None
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
