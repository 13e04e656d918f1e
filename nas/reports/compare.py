"""The report of a proxy comparison (:class:`nas.compare.Comparison`).

:func:`write_report` fills a directory with

* ``comparison.md``: the metrics table, the command line, the architectures and input used, the date;
* ``comparison.csv``: the same metrics at full precision, one row per column;
* ``scores.csv``: every architecture's trained accuracy, parameter count and scores;
* ``scatter_<column>.png``: score against trained accuracy, coloured by parameter count.

Plots are drawn with matplotlib's Agg canvas (no display, no global backend change).
"""

from __future__ import annotations

import csv
import math
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
from matplotlib import colormaps

from nas.compare import Comparison
from nas.datasets import dataset_spec
from nas.errors import NasError

#: ratio of the largest to the smallest positive score above which the x axis is logarithmic
LOG_SCALE_RATIO = 100.0
_MAX_TICKS = 8

_HEADER = (
    "proxy",
    "batch",
    "Spearman ρ",
    "Kendall τ",
    "top-10% ρ",
    "top-10% τ",
    "top-10%/top-10% (%)",
    "top-64 in top-5%",
    "NaNs",
    "s/arch",
)
_CSV_HEADER = (
    "proxy",
    "higher_is_better",
    "batch_size",
    "pairs",
    "nans",
    "spearman",
    "kendall",
    "top10_spearman",
    "top10_kendall",
    "top10_in_top10_percent",
    "top64_in_top5",
    "seconds_per_arch",
)


def markdown_table(comparison: Comparison) -> str:
    """The metrics of every column as a Markdown table (correlations read "higher is better")."""
    lines = ["| " + " | ".join(_HEADER) + " |", "|" + "|".join(["---"] + ["---:"] * (len(_HEADER) - 1)) + "|"]
    for name, result in comparison.metrics.items():
        batch = comparison.batch_sizes.get(name)
        cells = (
            name,
            "-" if batch is None else str(batch),
            _number(result.spearman, 3),
            _number(result.kendall, 3),
            _number(result.top10_spearman, 3),
            _number(result.top10_kendall, 3),
            _number(result.top10_in_top10, 1),
            _number(result.top64_in_top5, 1 if result.top64_in_top5 % 1 else 0),
            str(result.missing),
            _seconds(comparison.seconds_per_arch[name]),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(comparison: Comparison, directory: str | Path, command: str) -> list[Path]:
    """Write the report files of ``comparison`` into ``directory`` (created); return their paths."""
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = [
            _write_markdown(comparison, out / "comparison.md", command),
            _write_metrics_csv(comparison, out / "comparison.csv"),
            _write_scores_csv(comparison, out / "scores.csv"),
        ]
        for name in comparison.scores:
            written.append(_write_scatter(comparison, name, out / f"scatter_{file_stem(name)}.png"))
    except OSError as exc:
        raise NasError(f"cannot write the report into {str(out)!r}: {exc.strerror or exc}") from None
    return written


def file_stem(column: str) -> str:
    """A file-name-safe form of a column name: ``vote(synflow+snip)`` -> ``vote_synflow_snip``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", column).strip("_")


def _write_markdown(comparison: Comparison, path: Path, command: str) -> Path:
    config = comparison.config
    spec = dataset_spec(config.dataset)
    votes = [f"`{name}` = average rank of {', '.join(members)}" for name, members in _votes(comparison)]
    lines = [
        f"# Zero-cost proxies against trained accuracy: {config.space} / {spec.name}",
        "",
        f"- Command: `{command}`",
        f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Architectures: {comparison.selection}; trained accuracy: `{config.metric}` of the {config.space} benchmark table",
        f"- Dataset: {spec.description}",
        "- Input of the proxies:",
        *[f"  - {line}" for line in comparison.inputs],
        *([f"- Votes: {'; '.join(votes)}"] if votes else []),
        "",
        markdown_table(comparison),
        "",
        "Correlations are Spearman's rho and Kendall's tau-b with the trained accuracy, over all "
        "architectures and within the top-10% by accuracy; lower-is-better proxies are negated first, "
        "so higher is better throughout. top-10%/top-10%: percentage of the proxy's top-10% that are in "
        "the top-10% by accuracy; top-64 in top-5%: how many of the proxy's 64 best are in the top-5% by "
        "accuracy (expected values when ties straddle a boundary). NaN or infinite scores are left out "
        "(NaNs: how many). s/arch: mean computation time per scored architecture from the score store "
        "(votes: the sum over their members).",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _write_metrics_csv(comparison: Comparison, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(_CSV_HEADER)
        for name, result in comparison.metrics.items():
            writer.writerow(
                (
                    name,
                    comparison.higher_is_better[name],
                    comparison.batch_sizes.get(name, ""),
                    result.pairs,
                    result.missing,
                    result.spearman,
                    result.kendall,
                    result.top10_spearman,
                    result.top10_kendall,
                    result.top10_in_top10,
                    result.top64_in_top5,
                    comparison.seconds_per_arch[name],
                )
            )
    return path


def _write_scores_csv(comparison: Comparison, path: Path) -> Path:
    names = list(comparison.scores)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("arch", comparison.config.metric, "params", *names))
        for i, arch in enumerate(comparison.archs):
            writer.writerow(
                (
                    arch,
                    float(comparison.accuracies[i]),
                    float(comparison.params[i]),
                    *(float(comparison.scores[name][i]) for name in names),
                )
            )
    return path


def _write_scatter(comparison: Comparison, name: str, path: Path) -> Path:
    scores, accuracies = comparison.scores[name], comparison.accuracies
    keep = np.isfinite(scores) & np.isfinite(accuracies)
    x, y, params = scores[keep], accuracies[keep], comparison.params[keep]
    figure = Figure(figsize=(6.4, 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colour_map = colormaps["viridis"].with_extremes(bad="lightgrey")
    positive = params[np.isfinite(params) & (params > 0)]
    norm = LogNorm(positive.min(), positive.max()) if len(positive) and positive.min() < positive.max() else None
    points = axes.scatter(x, y, c=np.where(params > 0, params, np.nan), cmap=colour_map, norm=norm, s=10, alpha=0.8)
    _scale_x(axes, x)
    figure.colorbar(points, ax=axes, label="parameters")
    direction = "" if comparison.higher_is_better[name] else " (lower is better)"
    axes.set_xlabel(f"{name} score{direction}")
    axes.set_ylabel(f"{comparison.config.metric} ({comparison.config.dataset})")
    result = comparison.metrics[name]
    axes.set_title(f"{name}: Spearman ρ = {_number(result.spearman, 3)} (n = {result.pairs})")
    figure.savefig(path, dpi=100)
    return path


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


def _votes(comparison: Comparison) -> list[tuple[str, tuple[str, ...]]]:
    return [(column.name, column.members) for column in comparison.config.columns if column.is_vote]


def _number(value: float, digits: int) -> str:
    return "nan" if math.isnan(value) else f"{value:.{digits}f}"


def _seconds(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.3g}"
