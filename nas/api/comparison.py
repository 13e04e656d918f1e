"""``nas.compare``: proxies side by side against trained accuracy, as DataFrames, figures and a report."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from nas.comparing import CompareConfig, ComparisonData


class Comparison:
    """The outcome of :func:`compare`: scores, correlations with intervals, paired differences.

    Every table is a pandas DataFrame; :meth:`plot` returns matplotlib figures; :meth:`save`
    writes what ``nas compare --report DIR`` writes. ``data`` holds the underlying arrays
    (:class:`nas.comparing.ComparisonData`) and ``config`` everything that determined them.

    >>> c = nas.compare(["epsilon", "synflow"], sample=100)  # doctest: +SKIP
    >>> c.table[["coverage", "own_spearman", "common_spearman", "nan_worst_spearman"]]  # doctest: +SKIP
    """

    def __init__(self, data: ComparisonData):
        self.data = data

    @property
    def config(self) -> CompareConfig:
        """Everything that determined the comparison."""
        return self.data.config

    @property
    def table(self) -> pd.DataFrame:
        """One row per column (proxy or combination): coverage, Spearman/Kendall with 95% bounds on each set, paper columns, s/arch.

        The sets are ``own`` (what the proxy scored), ``common`` (what every column scored: the
        like-for-like comparison) and ``nan_worst`` (missing scores ranked last); column names
        are ``<set>_<statistic>``, e.g. ``common_spearman``, ``common_spearman_low``.
        """
        from nas.reports.compare import metrics_frame

        return metrics_frame(self.data)

    @property
    def scores(self) -> pd.DataFrame:
        """One row per architecture (indexed by its string): trained metric, parameter count, each column's score."""
        from nas.reports.compare import scores_frame

        return scores_frame(self.data)

    @property
    def differences(self) -> pd.DataFrame:
        """Paired bootstrap differences (a minus b) of Spearman and Kendall on the common set, indexed ``(a, b)``."""
        from nas.reports.compare import differences_frame

        return differences_frame(self.data)

    @property
    def command(self) -> str:
        """The ``nas compare`` command line that reproduces this comparison."""
        return command_line(self.config)

    def plot(self, kind: Literal["scatter", "bars"] = "scatter", columns: Sequence[str] | None = None) -> Figure:
        """A matplotlib figure: ``"scatter"`` (score against accuracy per column) or ``"bars"`` (Spearman per set, with intervals)."""
        from nas.errors import NasError
        from nas.reports.compare import bars_figure, scatter_figure

        if kind == "scatter":
            return scatter_figure(self.data, columns)
        if kind == "bars":
            return bars_figure(self.data)
        raise NasError(f"plot kind must be 'scatter' or 'bars', got {kind!r}")

    def to_markdown(self) -> str:
        """The Markdown report (what ``comparison.md`` holds)."""
        from nas.reports.compare import markdown_report

        return markdown_report(self.data, self.command)

    def save(self, directory: str | os.PathLike[str], table_format: str = "csv") -> list[Path]:
        """Write the report into ``directory``, as ``nas compare --report`` does; return the files written."""
        from nas.reports.compare import write_report

        return write_report(self.data, directory, self.command, table_format)

    def _repr_markdown_(self) -> str:
        from nas.reports.compare import markdown_table

        return markdown_table(self.data)

    def __repr__(self) -> str:
        columns = ", ".join(self.data.scores)
        return f"<Comparison {self.config.space}/{self.config.dataset}: {self.data.selection}; {columns}>"


def compare(
    proxies: str | Sequence[str],
    *,
    space: str = "nb201",
    dataset: str | None = None,
    sample: int | None = None,
    all: bool = False,  # noqa: A002 - the name users expect, as ``nas compare --all``
    seed: int = 0,
    metric: str | None = None,
    batch_size: int | None = None,
    batch_sizes: Mapping[str, int] | None = None,
    data: str = "real",
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    seeds: Sequence[int] = (0,),
    bootstrap: int = 1000,
    bootstrap_seed: int = 0,
    executor: str = "auto",
    workers: int | None = None,
    ray_address: str | None = None,
    progress: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    retry_failed: bool = False,
    recipe: Mapping[str, Any] | None = None,
) -> Comparison:
    """Score architectures with each proxy and compare the scores with trained accuracy.

    ``proxies`` are columns, as a list or one comma-separated string: proxy names and rank
    combinations of several proxies (:mod:`nas.ensembles`), whose members are scored even when
    they are not columns: ``"vote"`` (the average rank of the other proxies) or ``"vote(a+b+c)"``;
    ``"ensemble(a+b+c)"``, AZ-NAS's sum of ``log(rank / N)`` where an architecture keeps the ranks
    of the members that scored it (``"ensemble"``: of the other proxies); ``"aznas"``, the AZ-NAS
    aggregate of its four proxies with the authors' rule (missing scores ranked worst). A
    combination ranks the compared architectures, so its values depend on that set. ``params``
    and ``flops`` are always added as baselines. Exactly one of ``sample=N`` (a seeded random sample) and
    ``all=True`` chooses the architectures (of the benchmark table, when it covers only part of
    the space: NAS-Bench-101's 500 cells, NAS-Bench-NLP's logs); ``dataset`` defaults to the
    space's first and ``metric`` to the table's default (``test_acc``; ``valid_acc`` for
    NAS-Bench-101; ``test_perplexity``, lower is better, for NAS-Bench-NLP). Each
    proxy sees a batch of its paper's size (:attr:`nas.proxies.base.Proxy.batch_size`) unless
    ``batch_size`` or ``batch_sizes={proxy: size}`` say otherwise; ``settings={proxy: {key:
    value}}`` configures proxies. Scores go through the score store in ``cache_dir``, so a
    second call computes only what is missing. With ``recipe`` (a training recipe,
    :class:`nas.training.Recipe`, as a mapping) the trained metric comes from the training oracle
    instead of a benchmark table: every compared architecture is trained (cached in the training
    store) and ``metric`` is ``valid_acc`` (default) or ``valid_loss``; this compares proxies on a
    space or dataset without a table (your own data, a plugin space). The rest is
    :class:`nas.comparing.CompareConfig`.

    >>> c = nas.compare("epsilon,synflow,vote", sample=200)  # doctest: +SKIP
    >>> c.table["common_spearman"]  # doctest: +SKIP
    >>> c.plot("bars")  # doctest: +SKIP
    """
    from nas.api.catalog import default_dataset
    from nas.comparing import CompareConfig, compare_proxies, parse_columns
    from nas.errors import NasError
    from nas.training import Recipe

    text = proxies if isinstance(proxies, str) else ",".join(proxies)
    if (sample is None) == (not all):
        raise NasError("compare needs exactly one of sample=N and all=True")
    config = CompareConfig(
        space=space,
        dataset=dataset or default_dataset(space),
        columns=tuple(parse_columns(text)),
        sample=None if all else sample,
        seed=seed,
        metric=metric,
        batch_size=batch_size,
        batch_sizes=dict(batch_sizes or {}),
        data=data,
        settings={name: dict(values) for name, values in (settings or {}).items()},
        executor=executor,
        workers=workers,
        ray_address=ray_address,
        progress=progress,
        data_dir=None if data_dir is None else os.fspath(data_dir),
        cache_dir=None if cache_dir is None else os.fspath(cache_dir),
        seeds=tuple(seeds),
        resamples=bootstrap,
        bootstrap_seed=bootstrap_seed,
        retry_failed=retry_failed,
        recipe=None if recipe is None else Recipe.from_mapping(recipe),
    )
    return Comparison(compare_proxies(config))


def command_line(config: CompareConfig, report: str | os.PathLike[str] | None = None) -> str:
    """The ``nas compare`` command that reproduces ``config`` (and writes its report into ``report``)."""
    columns = ",".join(column.name for column in config.columns)
    words = ["nas", "compare", "--space", config.space, "--dataset", config.dataset, "--proxies", columns]
    words += ["--all"] if config.sample is None else ["--sample", str(config.sample), "--seed", str(config.seed)]
    words += ["--metric", str(config.metric), "--data", config.data, "--seeds", ",".join(map(str, config.seeds))]
    words += ["--bootstrap", str(config.resamples)]
    if config.bootstrap_seed:
        words += ["--bootstrap-seed", str(config.bootstrap_seed)]
    words += ["--executor", config.executor]
    if config.batch_size is not None:
        words += ["--batch-size", str(config.batch_size)]
    for name, size in config.batch_sizes.items():
        words += ["--batch-size", f"{name}={size}"]
    for name, values in config.settings.items():
        for key, value in values.items():
            words += ["--set", f"{name}.{key}={_setting_text(value)}"]
    if config.workers is not None:
        words += ["--workers", str(config.workers)]
    if config.recipe is not None:
        words += ["--recipe", json.dumps(config.recipe.to_dict(), separators=(",", ":"))]
    if report is not None:
        words += ["--report", os.fspath(report)]
    return shlex.join(words)


def _setting_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ":".join(str(item) for item in value)
    return str(value)
