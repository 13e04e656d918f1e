"""``nas.search``: run a search experiment (strategies x rounds against an oracle) from Python."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from nas.experiment import ExperimentConfig, ExperimentResult


@dataclass(frozen=True)
class BestArchitecture:
    """The best final choice over every strategy and round: where it was found and what it scored."""

    arch: str
    strategy: str
    round: int
    #: the oracle metric the search optimised (e.g. ``valid_acc``)
    metric: str
    value: float
    #: the metric the final choice is reported with (e.g. ``test_acc``, the test twin)
    reported_metric: str
    reported_value: float


class SearchResult:
    """The outcome of :func:`search`: every run's trajectory as DataFrames, the summary, the plot.

    ``experiment`` holds the underlying :class:`nas.experiment.ExperimentResult` (runs by
    strategy label and round) and ``config`` the experiment's configuration.
    """

    def __init__(
        self,
        experiment: ExperimentResult,
        data_dir: str | os.PathLike[str] | None = None,
        files: Mapping[str, Path] | None = None,
    ):
        self.experiment = experiment
        #: the report files written so far, by name (``summary.md``, ``search.png``, ...)
        self.files: dict[str, Path] = dict(files or {})
        self._data_dir = data_dir
        self._history: pd.DataFrame | None = None

    @property
    def config(self) -> ExperimentConfig:
        """The experiment's configuration."""
        return self.experiment.config

    @property
    def out_dir(self) -> Path:
        """Where the runs (``runs.jsonl``, what resuming reads) and the report are."""
        return self.experiment.out_dir

    @property
    def history(self) -> pd.DataFrame:
        """One row per trained model: strategy, round, step, arch, the oracle metric, best so far, simulated seconds.

        ``simulated_seconds`` sums the benchmark's training time of the models trained so far in
        the run (NaN when the table has no training times).
        """
        if self._history is None:
            from nas.benchmarks import open_table
            from nas.reports.search import history_frame

            if self.config.oracle.kind == "train":  # each run keeps its models' real training seconds
                self._history = history_frame(self.experiment)
                return self._history
            table = open_table(self.config.space, self._data_dir)
            dataset = self.config.dataset
            seconds = None
            if "train_seconds" in table.metrics(dataset):
                seconds = lambda arch: table.lookup(arch, dataset, "train_seconds")  # noqa: E731
            self._history = history_frame(self.experiment, seconds)
        return self._history

    @property
    def summary(self) -> pd.DataFrame:
        """Per strategy: mean and std over rounds of the best metric after k trained models and of the final choice."""
        from nas.reports.search import summary_frame

        return summary_frame(self.experiment)

    @property
    def best(self) -> BestArchitecture | None:
        """The final choice with the best oracle metric (the lowest for a perplexity) over all strategies and rounds (None if no run trained a model)."""
        runs = [run for runs in self.experiment.runs.values() for run in runs if run.final_arch is not None]
        if not runs:
            return None
        sign = 1.0 if self.experiment.maximise else -1.0
        top = max(runs, key=lambda run: -math.inf if math.isnan(run.final_value) else sign * run.final_value)
        assert top.final_arch is not None
        return BestArchitecture(
            top.final_arch, top.label, top.round, self.config.metric, top.final_value,
            self.experiment.final_metric, top.final_test,
        )

    def plot(self) -> Figure:
        """Best metric against trained models: per strategy the median over rounds and the interquartile band."""
        from nas.reports.search import search_figure

        return search_figure(self.experiment)

    def to_markdown(self) -> str:
        """The summary as Markdown (what ``summary.md`` holds)."""
        from nas.reports.search import markdown, summarise

        return markdown(self.experiment, summarise(self.experiment))

    def save(self, directory: str | os.PathLike[str] | None = None) -> dict[str, Path]:
        """Write the report (trajectories, summary.md/.csv, search.png) into ``directory`` (default: the output directory)."""
        from dataclasses import replace

        from nas.errors import NasError
        from nas.reports.search import write_reports

        target = self.out_dir if directory is None else Path(directory)
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NasError(f"cannot create {str(target)!r}: {exc.strerror or exc}") from None
        files = write_reports(replace(self.experiment, out_dir=target)).files
        self.files.update(files)
        return files

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __repr__(self) -> str:
        labels = ", ".join(self.experiment.runs)
        return f"<SearchResult {self.config.name}: {self.experiment.rounds} rounds of {labels}>"


def search(
    config: str | os.PathLike[str] | ExperimentConfig | Mapping[str, Any] | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    rounds: int | None = None,
    resume: bool = False,
    progress: bool = False,
    executor: str = "auto",
    workers: int | None = None,
    ray_address: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    report: bool = True,
    **settings: Any,
) -> SearchResult:
    """Run a search experiment: every strategy for every round, with a benchmark table (or, with ``oracle: train``, real training: :mod:`nas.training`) as the training oracle.

    ``config`` is a YAML file (as ``nas search``), an :class:`~nas.experiment.ExperimentConfig`,
    or the file's content as a mapping; or leave it out and give the file's keys as keyword
    arguments (``space``, ``dataset``, ``metric``, ``oracle``, ``budget``, ``strategies``, ``proxy``,
    ``rounds``, ``seed``, ``name``). Runs are written to ``out`` (default ``runs/<name>``) as
    they finish; with ``resume=True`` the runs already there are kept and only the missing ones
    run, so an interrupted search continues where it stopped. ``rounds`` overrides the
    configuration's. With ``report`` (the default) the report files are written too. Proxy
    scores go through the score store in ``cache_dir``; missing ones are computed with
    ``executor`` (``"auto"``, ``"serial"``, ``"local"`` with ``workers`` processes, ``"ray"`` with
    ``workers`` actors at ``ray_address``), which also trains models for ``oracle: train``.

    >>> result = nas.search("configs/quickstart.yaml", rounds=2, out="runs/qs")  # doctest: +SKIP
    >>> result.summary  # doctest: +SKIP
    >>> result.best.arch  # doctest: +SKIP
    """
    from nas.errors import NasError
    from nas.experiment import ExperimentConfig, load_config, parse_config, run_experiment
    from nas.reports.search import write_reports

    if config is not None and settings:
        raise NasError(f"search takes a configuration or keyword settings, not both (got {', '.join(settings)})")
    if isinstance(config, ExperimentConfig):
        parsed = config
    elif isinstance(config, Mapping):
        parsed = parse_config(dict(config), "<config>", data_dir=data_dir)
    elif config is not None:
        parsed = load_config(config, data_dir=data_dir)
    elif settings:
        parsed = parse_config(settings, "<keyword arguments>", data_dir=data_dir)
    else:
        raise NasError("search needs a configuration: a YAML path, an ExperimentConfig, a mapping or keyword settings")
    experiment = run_experiment(
        parsed,
        Path("runs") / parsed.name if out is None else out,
        rounds=rounds,
        resume=resume,
        progress=progress,
        executor=executor,
        workers=workers,
        data_dir=data_dir,
        cache_dir=cache_dir,
        ray_address=ray_address,
    )
    files = write_reports(experiment).files if report else {}
    return SearchResult(experiment, data_dir, files)
