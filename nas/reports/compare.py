"""The report of a proxy comparison (:class:`nas.comparing.ComparisonData`).

:func:`write_report` fills a directory with

* ``comparison.md``: the tables (coverage and correlations on the own, common and NaN-worst
  sets with 95% bootstrap intervals; the paper's columns on the common set; paired differences;
  the spread over seeds), the command line, the architectures and input used, the date;
* ``comparison.csv``: the same metrics at full precision, one row per column (:func:`metrics_frame`);
* ``differences.csv``: every ordered pair's paired difference in Spearman and Kendall on the
  common set (:func:`differences_frame`);
* ``scores.csv``: every architecture's trained accuracy, parameter count and scores (:func:`scores_frame`);
* ``scatter_<column>.png``: score against trained accuracy, coloured by parameter count.

The tables can also be written as JSON or Parquet (:data:`nas.reports.tables.TABLE_FORMATS`). Plots are drawn with
matplotlib's Agg canvas (no display, no global backend change); :func:`scatter_figure` and
:func:`bars_figure` return the figures themselves.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
from matplotlib import colormaps

from nas.bootstrap import Interval
from nas.comparing import SETS, ComparisonData
from nas.datasets import dataset_spec
from nas.ensembles import KINDS
from nas.errors import NasError
from nas.reports.tables import write_frame

#: ratio of the largest to the smallest positive score above which the x axis is logarithmic
LOG_SCALE_RATIO = 100.0
_MAX_TICKS = 8

_SET_TITLES = {"own": "own", "common": "common", "nan_worst": "NaN worst"}
_PAPER_HEADER = ("proxy", "top-10% ρ", "top-10% τ", "top-10%/top-10% (%)", "top-64 in top-5%")
_METRIC_FIELDS = (
    "pairs",
    "spearman",
    "spearman_low",
    "spearman_high",
    "kendall",
    "kendall_low",
    "kendall_high",
    "top10_spearman",
    "top10_kendall",
    "top10_in_top10_percent",
    "top64_in_top5",
)

#: what the columns of the report mean, for comparison.md and the README
COLUMNS_EXPLAINED = (
    "Coverage is the share of the architectures a proxy could score (the rest are NaN). Each "
    "correlation is given on three sets: *own*, the architectures that proxy scored; *common*, "
    "the architectures every compared proxy scored (the only like-for-like comparison); and "
    "*NaN worst*, every architecture with the proxy's missing scores ranked below all others "
    "(what a search using the proxy sees). Brackets are seeded 95% bootstrap intervals."
)


def markdown_table(comparison: ComparisonData) -> str:
    """The main table: coverage and Spearman/Kendall on the three sets, with 95% intervals."""
    header = ["proxy", "batch", "coverage"]
    for statistic in ("ρ", "τ"):
        header += [f"{statistic} {_SET_TITLES[s]}" for s in SETS]
    header.append("s/arch")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for name in comparison.scores:
        batch = comparison.batch_sizes.get(name)
        cells = [name, "-" if batch is None else str(batch), _coverage(comparison, name)]
        for statistic in ("spearman", "kendall"):
            cells += [_interval(getattr(comparison.agreement[s][name], statistic)) for s in SETS]
        cells.append(_seconds(comparison.seconds_per_arch[name]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paper_table(comparison: ComparisonData) -> str:
    """The epsilon paper's columns (top-10% correlations and overlaps) on the common set."""
    lines = ["| " + " | ".join(_PAPER_HEADER) + " |", "|" + "|".join(["---"] + ["---:"] * 4) + "|"]
    for name, agreement in comparison.agreement["common"].items():
        result = agreement.metrics
        cells = (
            name,
            _number(result.top10_spearman, 3),
            _number(result.top10_kendall, 3),
            _number(result.top10_in_top10, 1),
            _number(result.top64_in_top5, 1 if result.top64_in_top5 % 1 else 0),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def differences_table(comparison: ComparisonData) -> str:
    """Row minus column Spearman rho on the common set, with paired 95% intervals; bold where it excludes 0."""
    names = list(comparison.scores)
    lines = ["| A \\ B | " + " | ".join(names) + " |", "|" + "|".join(["---"] + ["---:"] * len(names)) + "|"]
    for a in names:
        cells = [a]
        for b in names:
            if a == b:
                cells.append("")
                continue
            difference = comparison.differences[(a, b)][0]
            text = f"{difference.value:+.3f} [{_signed(difference.low)}, {_signed(difference.high)}]"
            cells.append(f"**{text}**" if difference.excludes_zero else text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seeds_table(comparison: ComparisonData) -> str:
    """Mean ± standard deviation of Spearman's rho over the seeds, on each set."""
    header = ["proxy", *(f"ρ {_SET_TITLES[s]}" for s in SETS), *(f"τ {_SET_TITLES[s]}" for s in SETS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for name in comparison.scores:
        cells = [name]
        for statistic in ("spearman", "kendall"):
            for set_name in SETS:
                mean, sd = comparison.spread(statistic, set_name, name)
                cells.append(f"{_number(mean, 3)} ± {_number(sd, 3)}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(comparison: ComparisonData, directory: str | Path, command: str, table_format: str = "csv") -> list[Path]:
    """Write the report files of ``comparison`` into ``directory`` (created); return their paths.

    The tables are written as ``table_format`` (:data:`nas.reports.tables.TABLE_FORMATS`); the Markdown report
    and the plots do not depend on it.
    """
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
        markdown = out / "comparison.md"
        markdown.write_text(markdown_report(comparison, command), encoding="utf-8")
        written = [markdown]
        for stem, frame in (
            ("comparison", metrics_frame(comparison)),
            ("differences", differences_frame(comparison)),
            ("scores", scores_frame(comparison)),
        ):
            written.append(write_frame(frame, out / f"{stem}.{table_format}", table_format))
        for name in comparison.scores:
            figure = scatter_figure(comparison, [name])
            path = out / f"scatter_{file_stem(name)}.png"
            figure.savefig(path, dpi=100)
            written.append(path)
    except OSError as exc:
        raise NasError(f"cannot write the report into {str(out)!r}: {exc.strerror or exc}") from None
    return written


def metrics_frame(comparison: ComparisonData) -> pd.DataFrame:
    """Every column's metrics at full precision, one row per column (indexed ``proxy``).

    Columns: direction, batch size, asked, scored, coverage, NaN count; per set of
    :data:`~nas.comparing.SETS` (prefix ``own_``, ``common_``, ``nan_worst_``) the pairs,
    Spearman and Kendall with their interval bounds and the paper's top-10%/top-64 columns;
    with several seeds the mean and sd of each correlation; seconds per architecture.
    """
    rows = []
    for name in comparison.scores:
        row: dict[str, object] = {
            "proxy": name,
            "higher_is_better": comparison.higher_is_better[name],
            "batch_size": comparison.batch_sizes.get(name),
            "asked": comparison.asked,
            "scored": comparison.scored[name],
            "coverage": comparison.coverage(name),
            "nans": comparison.agreement["own"][name].metrics.missing,
        }
        for set_name in SETS:
            agreement = comparison.agreement[set_name][name]
            m = agreement.metrics
            values = (
                m.pairs, m.spearman, agreement.spearman.low, agreement.spearman.high, m.kendall,
                agreement.kendall.low, agreement.kendall.high, m.top10_spearman, m.top10_kendall,
                m.top10_in_top10, m.top64_in_top5,
            )
            row.update({f"{set_name}_{field}": value for field, value in zip(_METRIC_FIELDS, values)})
        if len(comparison.seed_runs) > 1:
            for set_name in SETS:
                for statistic in ("spearman", "kendall"):
                    mean, sd = comparison.spread(statistic, set_name, name)
                    row[f"{set_name}_{statistic}_mean"], row[f"{set_name}_{statistic}_sd"] = mean, sd
        row["seconds_per_arch"] = comparison.seconds_per_arch[name]
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("proxy")
    sizes = [comparison.batch_sizes.get(name) for name in comparison.scores]
    frame["batch_size"] = pd.Series(sizes, index=frame.index, dtype=object)  # integers; combinations have none
    return frame


def differences_frame(comparison: ComparisonData) -> pd.DataFrame:
    """Every ordered pair's paired bootstrap difference (a minus b) in Spearman and Kendall on the common set."""
    common = int(comparison.common.sum())
    rows = [
        (a, b, "common", common, rho.value, rho.low, rho.high, tau.value, tau.low, tau.high)
        for (a, b), (rho, tau) in comparison.differences.items()
    ]
    columns = ("a", "b", "set", "architectures", "spearman_difference", "spearman_low", "spearman_high",
               "kendall_difference", "kendall_low", "kendall_high")
    return pd.DataFrame(rows, columns=columns).set_index(["a", "b"])


def scores_frame(comparison: ComparisonData) -> pd.DataFrame:
    """Every architecture's trained metric, parameter count and column scores (indexed ``arch``)."""
    columns = {comparison.config.metric: comparison.accuracies, "params": comparison.params}
    columns.update({name: comparison.scores[name] for name in comparison.scores if name != "params"})
    return pd.DataFrame(columns, index=pd.Index(comparison.archs, name="arch"))


def file_stem(column: str) -> str:
    """A file-name-safe form of a column name: ``vote(synflow+snip)`` -> ``vote_synflow_snip``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", column).strip("_")


def markdown_report(comparison: ComparisonData, command: str) -> str:
    """``comparison.md``: the tables with the command, the architectures, the input and the date."""
    config = comparison.config
    spec = dataset_spec(config.dataset)
    combinations = [
        f"`{column.name}` = {KINDS[column.kind]} of {', '.join(column.members)}"
        for column in comparison.config.columns
        if column.is_combination
    ]
    common = int(comparison.common.sum())
    seeds = ", ".join(map(str, config.seeds))
    lines = [
        f"# Zero-cost proxies against trained accuracy: {config.space} / {spec.name}",
        "",
        f"- Command: `{command}`",
        f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Architectures: {comparison.selection}; trained metric: `{config.metric}` "
        + (
            f"of the training oracle, each architecture trained here ({config.recipe.describe()})"
            if config.recipe is not None
            else f"of the {config.space} benchmark table"
        )
        + f" ({comparison.asked} with a known value)"
        + ("" if comparison.metric_higher_is_better else f"; lower is better, so the correlations are with -{config.metric}"),
        f"- Common set: {common} architectures scored by every proxy",
        f"- Dataset: {spec.description}",
        f"- Initialisation and batch seed: {config.seeds[0]}" + (f" (spread over seeds {seeds} below)" if len(config.seeds) > 1 else ""),
        f"- Intervals: 95% percentile bootstrap, {config.resamples} draws, seed {config.bootstrap_seed}",
        "- Input of the proxies:",
        *[f"  - {line}" for line in comparison.inputs],
        *(
            [f"- Rank combinations, computed over the {len(comparison.archs)} compared architectures (so their "
             f"values depend on that set): {'; '.join(combinations)}"]
            if combinations
            else []
        ),
        "",
        "## Rank correlation with trained accuracy",
        "",
        markdown_table(comparison),
        "",
        COLUMNS_EXPLAINED + " Spearman's ρ and Kendall's τ-b; lower-is-better proxies are negated first, so "
        "higher is better throughout. s/arch: mean computation time per scored architecture from the score "
        "store (rank combinations: the sum over their members). `params` and `flops` are always included as baselines.",
        "",
        f"## The paper's columns, on the common set ({common} architectures)",
        "",
        paper_table(comparison),
        "",
        "top-10% ρ/τ: correlations within the top-10% by accuracy; top-10%/top-10%: percentage of the "
        "proxy's top-10% that are in the top-10% by accuracy; top-64 in top-5%: how many of the proxy's 64 "
        "best are in the top-5% by accuracy (expected values when ties straddle a boundary).",
        "",
    ]
    if comparison.differences:
        lines += [
            f"## Is A better than B? Spearman ρ of A minus B on the common set ({common} architectures)",
            "",
            differences_table(comparison),
            "",
            "Paired bootstrap: both proxies are re-ranked on the same draws. **Bold**: the 95% interval "
            "excludes zero, so this sample supports the difference. Kendall differences are in differences.csv.",
            "",
        ]
    if len(config.seeds) > 1:
        lines += [
            f"## Spread over initialisation and batch seeds {seeds}",
            "",
            seeds_table(comparison),
            "",
            "Mean ± sample standard deviation over the seeds of each correlation; each seed draws its own "
            "batch and initialises the networks anew.",
            "",
        ]
    return "\n".join(lines)


def scatter_figure(comparison: ComparisonData, columns: Sequence[str] | None = None, ncols: int = 3) -> Figure:
    """Score against trained accuracy, coloured by parameter count: one panel per column (default: all).

    Architectures a column could not score are left out and counted in the panel's title.
    """
    names = list(comparison.scores) if columns is None else list(columns)
    unknown = [name for name in names if name not in comparison.scores]
    if unknown or not names:
        raise NasError(f"no column {unknown[0]!r} in this comparison; it has: {', '.join(comparison.scores)}"
                       if unknown else "scatter_figure needs at least one column")
    cols = min(ncols, len(names))
    rows = math.ceil(len(names) / cols)
    figure = Figure(figsize=(6.4 * cols, 4.8 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    for index, name in enumerate(names):
        _draw_scatter(comparison, name, figure, figure.add_subplot(rows, cols, index + 1))
    return figure


def bars_figure(comparison: ComparisonData, statistic: str = "spearman") -> Figure:
    """Each column's correlation (``"spearman"`` or ``"kendall"``) on the three sets, with 95% intervals."""
    if statistic not in ("spearman", "kendall"):
        raise NasError(f"statistic must be 'spearman' or 'kendall', got {statistic!r}")
    names = list(comparison.scores)
    figure = Figure(figsize=(max(6.4, 0.9 * len(names) + 2), 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.8 / len(SETS)
    positions = np.arange(len(names))
    for offset, set_name in enumerate(SETS):
        intervals = [getattr(comparison.agreement[set_name][name], statistic) for name in names]
        values = np.array([i.value for i in intervals])
        # a percentile bound can sit a rounding error inside the estimate: error bars are never negative
        low = np.array([max(i.value - i.low, 0.0) if math.isfinite(i.low) else 0.0 for i in intervals])
        high = np.array([max(i.high - i.value, 0.0) if math.isfinite(i.high) else 0.0 for i in intervals])
        axes.bar(positions + (offset - 1) * width, values, width, yerr=np.vstack([low, high]), capsize=2,
                 label=_SET_TITLES[set_name])
    axes.set_xticks(positions, names, rotation=30, ha="right")
    axes.set_ylabel(f"{'Spearman ρ' if statistic == 'spearman' else 'Kendall τ'} with {comparison.config.metric}")
    axes.axhline(0, color="black", linewidth=0.5)
    axes.legend(title="set")
    axes.set_title(f"{comparison.config.space} / {comparison.config.dataset}: {comparison.selection}")
    return figure


def _draw_scatter(comparison: ComparisonData, name: str, figure: Figure, axes: Axes) -> None:
    scores, accuracies = comparison.scores[name], comparison.accuracies
    keep = np.isfinite(scores) & np.isfinite(accuracies)
    x, y, params = scores[keep], accuracies[keep], comparison.params[keep]
    colour_map = colormaps["viridis"].with_extremes(bad="lightgrey")
    positive = params[np.isfinite(params) & (params > 0)]
    norm = LogNorm(positive.min(), positive.max()) if len(positive) and positive.min() < positive.max() else None
    points = axes.scatter(x, y, c=np.where(params > 0, params, np.nan), cmap=colour_map, norm=norm, s=10, alpha=0.8)
    _scale_x(axes, x)
    figure.colorbar(points, ax=axes, label="parameters")
    direction = "" if comparison.higher_is_better[name] else " (lower is better)"
    axes.set_xlabel(f"{name} score{direction}")
    lower = "" if comparison.metric_higher_is_better else ", lower is better"
    axes.set_ylabel(f"{comparison.config.metric} ({comparison.config.dataset}{lower})")
    result = comparison.metrics[name]
    left_out = int(np.count_nonzero(~np.isfinite(scores) & np.isfinite(accuracies)))
    axes.set_title(
        f"{name}: Spearman ρ = {_number(result.spearman, 3)} (n = {result.pairs}; {left_out} NaN left out)"
    )


def _scale_x(axes: Axes, x: np.ndarray) -> None:
    """A logarithmic x axis for non-negative scores whose positive values span a wide range.

    Zeros (e.g. synflow of a network without a weighted path) keep their place on a symlog axis
    that is linear below the smallest positive score.
    """
    positive = x[x > 0]
    if len(positive) == 0 or x.min() < 0 or positive.max() / positive.min() <= LOG_SCALE_RATIO:
        return
    if x.min() > 0:
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(LogLocator(numticks=_MAX_TICKS))
        return
    axes.set_xscale("symlog", linthresh=float(positive.min()))
    low, high = math.floor(math.log10(positive.min())), math.ceil(math.log10(positive.max()))
    step = max(1, math.ceil((high - low + 1) / (_MAX_TICKS - 1)))
    first = low if step == 1 else low + step  # the linear part near 0 is only one decade wide
    axes.set_xticks([0.0, *(10.0**d for d in range(first, high + 1, step))])
    axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: "0" if v == 0 else f"$10^{{{round(math.log10(v))}}}$"))
    axes.xaxis.set_minor_locator(NullLocator())


def _number(value: float, digits: int) -> str:
    return "nan" if math.isnan(value) else f"{value:.{digits}f}"


def _interval(interval: Interval) -> str:
    if math.isnan(interval.value):
        return "nan"
    if math.isnan(interval.low):
        return f"{interval.value:.3f}"
    return f"{interval.value:.3f} [{interval.low:.2f}, {interval.high:.2f}]"


def _signed(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:+.2f}"


def _coverage(comparison: ComparisonData, name: str) -> str:
    return f"{100 * comparison.coverage(name):.1f}% ({comparison.scored[name]})"


def _seconds(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.3g}"
