"""What an experiment produces: one :class:`Run` per strategy and round, gathered in an :class:`ExperimentResult`.

Plain data only: a run converts to and from the JSON lines of ``runs.jsonl`` (NaN as null), and
the result is what :func:`nas.reports.search.write_reports` turns into report files. Nothing
here runs a search or writes a report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from nas.experiment.config import ExperimentConfig


@dataclass(frozen=True)
class Run:
    """One strategy's run in one round: the trained architectures, their metric, the running best and the final choice."""

    label: str
    round: int
    seed: int
    archs: tuple[str, ...]
    values: tuple[float, ...]
    best: tuple[float, ...]
    final_arch: str | None
    final_value: float
    final_test: float
    #: training oracle: the sum of the run's models' training seconds (what training them all took,
    #: whether this invocation trained them or read them from the cache); 0 for the table oracle
    train_seconds: float = 0.0
    #: training oracle: each trained model's training seconds, aligned with ``archs`` (empty for the table oracle)
    seconds: tuple[float, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN as null)."""
        return {
            "label": self.label,
            "round": self.round,
            "seed": self.seed,
            "archs": list(self.archs),
            "values": [_json_float(v) for v in self.values],
            "best": [_json_float(v) for v in self.best],
            "final_arch": self.final_arch,
            "final_value": _json_float(self.final_value),
            "final_test": _json_float(self.final_test),
            "train_seconds": self.train_seconds,
            "seconds": list(self.seconds),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Run":
        """The inverse of :meth:`to_json`."""
        return cls(
            label=data["label"],
            round=int(data["round"]),
            seed=int(data["seed"]),
            archs=tuple(data["archs"]),
            values=tuple(_from_json_float(v) for v in data["values"]),
            best=tuple(_from_json_float(v) for v in data["best"]),
            final_arch=data["final_arch"],
            final_value=_from_json_float(data["final_value"]),
            final_test=_from_json_float(data["final_test"]),
            train_seconds=float(data.get("train_seconds", 0.0)),
            seconds=tuple(float(v) for v in data.get("seconds", ())),
        )


@dataclass
class ExperimentResult:
    """All runs of an experiment, by strategy label and round, and the output directory they were logged in.

    The report files are written from it by :func:`nas.reports.search.write_reports`.
    """

    config: ExperimentConfig
    rounds: int
    out_dir: Path
    runs: dict[str, list[Run]] = field(default_factory=dict)
    final_metric: str = ""
    #: what the proxy scored on (:func:`nas.data.describe_input`), e.g. a named stand-in input
    proxy_input: str = ""
    #: where the strategies searched when the table covers only part of the space, e.g.
    #: "the 500 architectures of the nb101 table" (see :mod:`nas.spaces.subset`); "" for the whole space
    searched: str = ""
    #: whether a larger metric is better (False for a perplexity: "best" is then the lowest)
    maximise: bool = True
    #: the training oracle's recipe and data, for reports ("" for the table oracle)
    oracle_text: str = ""
    #: wall seconds this invocation spent training (runs read from the training cache cost none)
    training_wall_seconds: float = 0.0

    def trajectories(self) -> dict[str, list[list[float]]]:
        """Best-so-far after each trained model, per strategy label, one list per round."""
        return {label: [list(run.best) for run in runs] for label, runs in self.runs.items()}


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else value


def _from_json_float(value: float | None) -> float:
    return math.nan if value is None else float(value)
