"""The report of a proxy comparison (:class:`nas.compare.Comparison`).

:func:`write_report` fills a directory with

* ``comparison.md``: the tables (coverage and correlations on the own, common and NaN-worst
  sets with 95% bootstrap intervals; the paper's columns on the common set; paired differences;
  the spread over seeds), the command line, the architectures and input used, the date;
* ``comparison.csv``: the same metrics at full precision, one row per column;
* ``differences.csv``: every ordered pair's paired difference in Spearman and Kendall on the common set;
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

from nas.bootstrap import Interval
from nas.compare import SETS, Comparison
from nas.datasets import dataset_spec
from nas.errors import NasError

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


def markdown_table(comparison: Comparison) -> str:
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


def paper_table(comparison: Comparison) -> str:
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


def differences_table(comparison: Comparison) -> str:
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


def seeds_table(comparison: Comparison) -> str:
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


def write_report(comparison: Comparison, directory: str | Path, command: str) -> list[Path]:
    """Write the report files of ``comparison`` into ``directory`` (created); return their paths."""
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = [
            _write_markdown(comparison, out / "comparison.md", command),
            _write_metrics_csv(comparison, out / "comparison.csv"),
            _write_differences_csv(comparison, out / "differences.csv"),
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
    common = int(comparison.common.sum())
    seeds = ", ".join(map(str, config.seeds))
    lines = [
        f"# Zero-cost proxies against trained accuracy: {config.space} / {spec.name}",
        "",
        f"- Command: `{command}`",
        f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Architectures: {comparison.selection}; trained accuracy: `{config.metric}` of the {config.space} "
        f"benchmark table ({comparison.asked} with a known accuracy)",
        f"- Common set: {common} architectures scored by every proxy",
        f"- Dataset: {spec.description}",
        f"- Initialisation and batch seed: {config.seeds[0]}" + (f" (spread over seeds {seeds} below)" if len(config.seeds) > 1 else ""),
        f"- Intervals: 95% percentile bootstrap, {config.resamples} draws, seed {config.bootstrap_seed}",
        "- Input of the proxies:",
        *[f"  - {line}" for line in comparison.inputs],
        *([f"- Votes: {'; '.join(votes)}"] if votes else []),
        "",
        "## Rank correlation with trained accuracy",
        "",
        markdown_table(comparison),
        "",
        COLUMNS_EXPLAINED + " Spearman's ρ and Kendall's τ-b; lower-is-better proxies are negated first, so "
        "higher is better throughout. s/arch: mean computation time per scored architecture from the score "
        "store (votes: the sum over their members). `params` and `flops` are always included as baselines.",
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
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _write_metrics_csv(comparison: Comparison, path: Path) -> Path:
    header = ["proxy", "higher_is_better", "batch_size", "asked", "scored", "coverage", "nans"]
    header += [f"{s}_{field}" for s in SETS for field in _METRIC_FIELDS]
    if len(comparison.seed_runs) > 1:
        header += [f"{s}_{stat}_{kind}" for s in SETS for stat in ("spearman", "kendall") for kind in ("mean", "sd")]
    header.append("seconds_per_arch")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for name in comparison.scores:
            row: list[object] = [
                name,
                comparison.higher_is_better[name],
                comparison.batch_sizes.get(name, ""),
                comparison.asked,
                comparison.scored[name],
                comparison.coverage(name),
                comparison.agreement["own"][name].metrics.missing,
            ]
            for set_name in SETS:
                agreement = comparison.agreement[set_name][name]
                m = agreement.metrics
                row += [m.pairs, m.spearman, agreement.spearman.low, agreement.spearman.high, m.kendall]
                row += [agreement.kendall.low, agreement.kendall.high, m.top10_spearman, m.top10_kendall]
                row += [m.top10_in_top10, m.top64_in_top5]
            if len(comparison.seed_runs) > 1:
                for set_name in SETS:
                    for statistic in ("spearman", "kendall"):
                        row += list(comparison.spread(statistic, set_name, name))
            row.append(comparison.seconds_per_arch[name])
            writer.writerow(row)
    return path


def _write_differences_csv(comparison: Comparison, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("a", "b", "set", "architectures", "spearman_difference", "spearman_low", "spearman_high",
                         "kendall_difference", "kendall_low", "kendall_high"))
        common = int(comparison.common.sum())
        for (a, b), (rho, tau) in comparison.differences.items():
            writer.writerow((a, b, "common", common, rho.value, rho.low, rho.high, tau.value, tau.low, tau.high))
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
    left_out = int(np.count_nonzero(~np.isfinite(scores) & np.isfinite(accuracies)))
    axes.set_title(
        f"{name}: Spearman ρ = {_number(result.spearman, 3)} (n = {result.pairs}; {left_out} NaN left out)"
    )
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


def _interval(interval: Interval) -> str:
    if math.isnan(interval.value):
        return "nan"
    if math.isnan(interval.low):
        return f"{interval.value:.3f}"
    return f"{interval.value:.3f} [{interval.low:.2f}, {interval.high:.2f}]"


def _signed(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:+.2f}"


def _coverage(comparison: Comparison, name: str) -> str:
    return f"{100 * comparison.coverage(name):.1f}% ({comparison.scored[name]})"


def _seconds(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.3g}"
