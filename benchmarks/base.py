"""The interface of a benchmark table and the counting oracle that search strategies query."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Iterator, Mapping, Sequence

from nas.errors import NasError

if TYPE_CHECKING:
    from nas.spaces.base import SearchSpace


class BenchmarkTable(ABC):
    """Trained metrics of the architectures of one space.

    Metrics are named; every table documents which it has. Common names:
    ``test_acc`` (test accuracy after the full schedule, %), ``valid_acc`` (validation accuracy, %),
    ``test_acc_12ep`` (low fidelity), ``params`` (parameters), ``train_seconds`` (simulated
    training time of one model). Looking a metric up here does not count as training; use an
    :class:`Oracle` for that.
    """

    #: the space this table belongs to (also its registry name)
    name: ClassVar[str]
    #: metrics where lower is better (losses, perplexities); all others are maximised
    minimised_metrics: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    @abstractmethod
    def open(cls, data_dir: str | Path | None = None) -> "BenchmarkTable":
        """Read the table from the data directory (see :mod:`nas.paths`)."""

    @property
    @abstractmethod
    def datasets(self) -> tuple[str, ...]:
        """Datasets the table has metrics for."""

    @abstractmethod
    def metrics(self, dataset: str) -> tuple[str, ...]:
        """Metric names available for ``dataset``."""

    @abstractmethod
    def lookup(self, arch: str, dataset: str, metric: str) -> float:
        """The value of ``metric`` for architecture string ``arch`` (NaN if the table lacks it).

        Raises :class:`NasError` for an architecture, dataset or metric the table does not have.
        """

    def default_metric(self, dataset: str) -> str:
        """The metric comparisons use unless told otherwise: ``test_acc`` if the table has it, else ``valid_acc``, else the first."""
        metrics = self.metrics(dataset)
        for preferred in ("test_acc", "valid_acc"):
            if preferred in metrics:
                return preferred
        return metrics[0]

    def higher_is_better(self, metric: str) -> bool:
        """Whether a larger ``metric`` is better (accuracies) or a smaller one (losses, perplexities)."""
        return metric not in self.minimised_metrics

    def architectures(self, dataset: str) -> list[str] | None:
        """The architecture strings the table has ``dataset``'s metrics for, in the table's order.

        ``None`` for a table that cannot list its architectures (one without ``__iter__``):
        searches and comparisons then use the whole space.
        """
        if not hasattr(self, "__iter__"):
            return None
        metric = self.metrics(dataset)[0]
        found = []
        for arch in self:  # type: ignore[attr-defined]
            try:
                self.lookup(arch, dataset, metric)
            except NasError:
                continue
            found.append(arch)
        return found

    def __contains__(self, arch: str) -> bool:
        try:
            self.lookup(arch, self.datasets[0], self.metrics(self.datasets[0])[0])
        except NasError:
            return False
        return True

    def check(self, dataset: str, metric: str) -> None:
        """Raise :class:`NasError` unless the table has ``metric`` for ``dataset``."""
        if dataset not in self.datasets:
            raise NasError(f"table {self.name!r} has no dataset {dataset!r}; it has: {', '.join(self.datasets)}")
        if metric not in self.metrics(dataset):
            raise NasError(
                f"table {self.name!r} has no metric {metric!r} for {dataset}; it has: {', '.join(self.metrics(dataset))}"
            )


class RowTable(BenchmarkTable):
    """A table of one dataset held as ``{architecture string: {metric: value}}``.

    Subclasses set ``dataset``, ``metric_names`` and ``missing`` (how to name the table in the
    error for an architecture it lacks) and implement :meth:`space` (to normalise other spellings
    of an architecture string) and :meth:`open`.
    """

    dataset: ClassVar[str]
    metric_names: ClassVar[tuple[str, ...]]
    missing: ClassVar[str]

    def __init__(self, rows: Mapping[str, Mapping[str, float]]):
        self._rows = {arch: dict(values) for arch, values in rows.items()}

    @staticmethod
    @abstractmethod
    def space() -> "SearchSpace":
        """The space whose ``format(parse(arch))`` normalises an architecture string."""

    @property
    def datasets(self) -> tuple[str, ...]:
        """The one dataset of the table."""
        return (self.dataset,)

    def metrics(self, dataset: str) -> tuple[str, ...]:
        """The metric names (the same for every architecture; NaN where unknown)."""
        return self.metric_names

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[str]:
        """The architecture strings of the table, in file order."""
        return iter(self._rows)

    def lookup(self, arch: str, dataset: str, metric: str) -> float:
        """``metric`` of ``arch`` (any spelling the space parses)."""
        self.check(dataset, metric)
        row = self._rows.get(arch)
        if row is None:
            space = self.space()
            row = self._rows.get(space.format(space.parse(arch)))
        if row is None:
            shown = arch if len(arch) <= 120 else arch[:117] + "..."
            raise NasError(f"{self.missing}: {shown}")
        return row.get(metric, math.nan)


@dataclass
class Query:
    """One oracle query: which architecture, its metric value and the best value so far."""

    arch: str
    value: float
    best: float
    seconds: float


@dataclass
class Oracle:
    """The training oracle: "training" a model is looking up its trained metric.

    Every :meth:`train` call counts as one trained model against the budget and is recorded
    with the running best, so a search's trajectory is ``[q.best for q in oracle.history]``.
    """

    table: BenchmarkTable
    dataset: str
    metric: str
    budget: int | None = None
    history: list[Query] = field(default_factory=list)
    #: whether a larger metric is better (:meth:`BenchmarkTable.higher_is_better`); the running best follows it
    maximise: bool = field(init=False, default=True)

    def __post_init__(self) -> None:
        self.table.check(self.dataset, self.metric)
        self.maximise = self.table.higher_is_better(self.metric)

    @property
    def queries(self) -> int:
        """Number of models trained so far."""
        return len(self.history)

    @property
    def exhausted(self) -> bool:
        """Whether the budget is used up."""
        return self.budget is not None and self.queries >= self.budget

    @property
    def simulated_seconds(self) -> float:
        """Sum of the simulated training times of the trained models (0 where unknown)."""
        return sum(q.seconds for q in self.history)

    def train_many(self, archs: Sequence[str]) -> list[float]:
        """:meth:`train` each of ``archs`` in order; raises when they do not fit in the remaining budget.

        A strategy asks for several models at once where its algorithm allows (an initial
        population): a training oracle (:class:`nas.training.TrainingOracle`) trains them in parallel.
        """
        if self.budget is not None and self.queries + len(archs) > self.budget:
            raise RuntimeError(f"oracle budget of {self.budget} trained models is used up")
        return [self.train(arch) for arch in archs]

    def train(self, arch: str) -> float:
        """"Train" ``arch``: look up its metric, count the query, record the running best."""
        if self.exhausted:
            raise RuntimeError(f"oracle budget of {self.budget} trained models is used up")
        value = self.table.lookup(arch, self.dataset, self.metric)
        seconds = 0.0
        if "train_seconds" in self.table.metrics(self.dataset):
            seconds = self.table.lookup(arch, self.dataset, "train_seconds")
            seconds = 0.0 if math.isnan(seconds) else seconds
        better = max if self.maximise else min
        previous = self.history[-1].best if self.history else math.nan
        best = value if math.isnan(previous) else previous if math.isnan(value) else better(previous, value)
        self.history.append(Query(arch, value, best, seconds))
        return value
