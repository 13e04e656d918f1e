"""The report of ``nas reproduce epsilon-paper``: our values beside the published ones.

:func:`write_report` writes ``report.md`` (every experiment's tables: per row the published
value, ours and the difference for each metric, the architectures asked, scored and NaN, the
own, common and NaN-worst sets, and notes where our setting differs from the paper's; Table 2's
picks as mean and standard deviation; Figure 4's rho per batch size and the search results of Figures
3 and 5, which have no published numbers; the figures), one CSV per table with every number at full
precision, and each figure as PNG (:func:`draw_figure`, matplotlib). Correlations against a
minimised metric (perplexity) are shown with the metric itself, as the paper prints them
(:attr:`~nas.reproduce.experiments.Section.sign`). :func:`summary` is the short version the
command prints.
"""

from __future__ import annotations

import math
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from nas.reproduce.experiments import (
    FIGURE_ONLY,
    SIGNED_METRICS,
    BatchSizeSection,
    CurvePanel,
    ExperimentResult,
    Figure,
    Panel,
    Pick,
    RowResult,
    SearchSection,
    Section,
    SelectionSection,
    Table,
)
from nas.reproduce.published import PublishedValues

#: the metrics of every table: ``(column in the data file and ProxyMetrics field, header, our decimals,
#: the published decimals)``
METRICS: tuple[tuple[str, str, int, int], ...] = (
    ("spearman", "ρ", 3, 2),
    ("kendall", "τ", 3, 2),
    ("top10_spearman", "top-10% ρ", 3, 2),
    ("top10_kendall", "top-10% τ", 3, 2),
    ("top10_in_top10", "top-10%/top-10% (%)", 1, 2),
    ("top64_in_top5", "top-64/top-5%", 1, 0),
)
#: the correlations also shown on the common and NaN-worst sets
SET_METRICS: tuple[str, ...] = ("spearman", "kendall")
_SET_TITLES = {"common": "common", "nan_worst": "NaN worst"}

#: how to read the tables (report.md and the README)
READING = (
    "Each row gives, for every metric, the published value, ours and the difference (ours − published). "
    "*Ours* is on the row's **own** set: the architectures it scored (NaN left out), as the paper computes it. "
    "Beside it, Spearman's ρ and Kendall's τ on the **common** set (the architectures every row of the table "
    "scored: the like-for-like comparison) and with **NaN worst** (every architecture asked, the missing "
    "scores ranked below all others: what a search using the score sees). *Asked* is the number of "
    "architectures the row was computed on (each with a trained accuracy), *scored* those with a finite score, "
    "*NaN* the rest. *Notes* name where our setting differs from the paper's; the notes under each table say how."
)
#: how the metrics are computed here and by the author's code
DEFINITIONS = (
    "Metrics are those of `nas.metrics`: the top-10% are the ⌈n/10⌉ best (ties at the boundary counted "
    "fractionally), top-64/top-5% counts the 64 best by score among the ⌈n/20⌉ best by accuracy. The "
    "author's `compute_stats` takes the architectures strictly above the 90th (95th) percentile, and "
    "top-10%/top-10% divides by the number above the score's 90th percentile: the top sets differ by about "
    "one architecture at the boundary, which matters on a few dozen architectures and little on thousands. "
    "With fewer than 64 architectures every one is in the top-64, so top-64/top-5% is not comparable there."
)


def write_report(
    results: Sequence[ExperimentResult],
    published: PublishedValues,
    directory: str | Path,
    command: str,
    mode: str,
    left_out: Sequence[str] = (),
) -> list[Path]:
    """Write ``report.md``, ``<experiment>.csv`` and the figures' PNG files into ``directory``; return the files written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    report = out / "report.md"
    report.write_text(markdown_report(results, published, command, mode, left_out), encoding="utf-8")
    written = [report]
    for result in results:
        if result.sections:
            path = out / f"{result.name}.csv"
            results_frame(result).to_csv(path, index=False, na_rep="nan", lineterminator="\n")
            written.append(path)
        written += [draw_figure(figure, out / f"{figure.name}.png") for figure in result.figures]
    return written


def draw_figure(figure: Figure, path: Path) -> Path:
    """A grid of panels as PNG: scatter plots (score against the trained metric, coloured by log10 parameter
    count) and line plots (median curves with their quartile bands)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = figure.panels
    columns = min(figure.columns, max(1, len(panels)))
    rows = max(1, math.ceil(len(panels) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, panel in zip(axes.flat, panels):
        if isinstance(panel, CurvePanel):
            _draw_curves(ax, panel)
        else:
            _draw_scatter(fig, ax, panel)
        ax.tick_params(labelsize=7)
    fig.suptitle(textwrap.fill(figure.caption, 60 * columns), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _draw_scatter(fig: Any, ax: Any, panel: Panel) -> None:
    """A proxy's scores against the trained metric, coloured by log10 parameter count (NaN scores not drawn)."""
    import numpy as np

    keep = np.isfinite(panel.scores) & np.isfinite(panel.values) & (panel.params > 0)
    x, y, colour = panel.values[keep], panel.scores[keep], np.log10(panel.params[keep])
    points = ax.scatter(x, y, c=colour, s=6, cmap="viridis", alpha=0.8, linewidths=0)
    if len(y) and np.all(y > 0) and np.max(y) > 100 * np.min(y):
        ax.set_yscale("log")
    ax.set_title(f"{panel.title}: {panel.proxy} ({len(y):,} of {len(panel.scores):,})", fontsize=9)
    ax.set_xlabel(panel.metric, fontsize=8)
    ax.set_ylabel(panel.proxy, fontsize=8)
    if len(y):
        fig.colorbar(points, ax=ax).set_label("log10 params", fontsize=7)


def _draw_curves(ax: Any, panel: CurvePanel) -> None:
    """Each curve's median with markers where it has few points, and its quartile band."""
    styles = ("-", "--", "-.", ":")  # curves of strategies on the same random streams can coincide
    few = all(len(curve.x) <= _FEW_POINTS for curve in panel.curves)
    for i, curve in enumerate(panel.curves):
        (line,) = ax.plot(curve.x, curve.median, label=curve.label, linestyle=styles[i % len(styles)],
                          marker="o" if few else None, markersize=4, linewidth=1.4)
        ax.fill_between(curve.x, curve.low, curve.high, color=line.get_color(), alpha=0.18, linewidth=0)
    if panel.log_x:
        ax.set_xscale("log")
    if few and panel.curves:  # a tick at every point, labelled with its value
        ax.minorticks_off()
        ticks = sorted({float(x) for curve in panel.curves for x in curve.x})
        ax.set_xticks(ticks, [f"{x:g}" for x in ticks])
    ax.set_title(panel.title, fontsize=9)
    ax.set_xlabel(panel.xlabel, fontsize=8)
    ax.set_ylabel(panel.ylabel, fontsize=8)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6, loc="lower right")


#: a line plot with at most this many points per curve marks them and ticks each
_FEW_POINTS = 12


def markdown_report(
    results: Sequence[ExperimentResult],
    published: PublishedValues,
    command: str,
    mode: str,
    left_out: Sequence[str] = (),
) -> str:
    """The whole Markdown report."""
    paper = published.paper
    written = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Reproducing the epsilon paper",
        "",
        f"{paper['author']}, \"{paper['title']}\", arXiv:{paper['arxiv']} ({paper['journal']}); code "
        f"{paper['code']}.",
        "",
        f"Command: `{command}`  ",
        f"Written: {written}  ",
        f"Setting: {mode}",
    ]
    if left_out:
        lines.append(f"Not run this time: {', '.join(left_out)} (`--only` chooses).")
    lines += ["", f"**Published values.** {published.provenance}", "", f"**Reading the tables.** {READING}", "",
              f"**Metrics.** {DEFINITIONS}", ""]
    for result in results:
        lines += _experiment(result)
    return "\n".join(lines).rstrip() + "\n"


def _experiment(result: ExperimentResult) -> list[str]:
    lines = [f"## {result.title}", ""]
    lines += [f"- {sentence}" for sentence in result.setting]
    lines += [
        f"- This run: {_duration(result.wall_seconds)} wall time; {result.new_scores:,} new scores computed "
        "(everything else was answered by the score store).",
        "",
    ]
    tables = [section for section in result.sections if isinstance(section, Section)]
    sources = {row.published.source for section in tables for row in section.rows if row.published}
    for source in sorted(sources, key=lambda s: (s.path, s.cell)):
        lines += [f"Published: {source.url}, cell {source.cell}, under the heading “{source.heading}”. "
                  f"Its setting: {source.setting}.", ""]
    missing = [f"{row.key} ({section.title})" for section in tables for row in section.rows if not row.published]
    if missing and sources:
        lines += [f"No published value is typed in for: {', '.join(missing)} (shown as —).", ""]
    elif any(isinstance(section, (BatchSizeSection, SearchSection)) for section in result.sections):
        lines += [f"Published: {FIGURE_ONLY} (the paper draws the figure without printing its values).", ""]
    elif result.sections and not sources:
        lines += ["No published values of this table are typed in (the data file has none; shown as —).", ""]
    for section in result.sections:
        lines += _SECTION_WRITERS[type(section)](section)
    for figure in result.figures:
        lines += [f"![{figure.caption}]({figure.name}.png)", "", f"*{figure.caption}* ({figure.name}.png; "
                  f"{len(figure.panels)} panels).", ""]
    return lines


def _section(section: Section) -> list[str]:
    columns = _columns(section)
    selections = sorted({row.architectures for row in section.rows})
    lines = [f"Architectures: {'; '.join(selections)}; trained metric {section.metric}.  "]
    lines += [f"Common set: {section.common:,} architectures ({section.common_of}).", ""]
    lines.append("| " + " | ".join(header for header, _ in columns) + " |")
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|")
    for row in section.rows:
        lines.append("| " + " | ".join(cell(row) for _, cell in columns) + " |")
    return _framed(section, lines)


def _framed(section: Table, body: list[str]) -> list[str]:
    """A table's Markdown: its heading and inputs, ``body`` (the table), and its notes."""
    lines = [f"### {section.title}", ""]
    lines += [f"Input: {text}  " for text in section.inputs]
    return lines + body + [""] + [f"- **{key}**: {text}." for key, text in section.notes.items()] + [""]


def _selection(section: SelectionSection) -> list[str]:
    """Table 2 on one dataset: per pool size and method, the picks' accuracy (no published values typed in)."""
    lines = [
        f"Architectures: {section.architectures}; best {section.valid_metric} {_number(section.best_valid, 2)}, "
        f"best {section.test_metric} {_number(section.best_test, 2)}.",
        "",
        f"| N | method | runs | {section.valid_metric} published | {section.valid_metric} ours (mean ± std) | "
        f"{section.test_metric} published | {section.test_metric} ours (mean ± std) | asked | scored | NaN | "
        "pools all NaN | hours / 1,000 archs |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for pick in section.picks:
        hours = "—" if pick.hours_per_1000 is None else f"{pick.hours_per_1000:.3g}"
        counts = "— | —" if pick.scored is None else f"{pick.scored:,} | {section.asked - pick.scored:,}"
        lines.append(
            f"| {pick.pool:,} | {pick.method} | {pick.runs} | — | {_spread(pick.valid_mean, pick.valid_std)} | — | "
            f"{_spread(pick.test_mean, pick.test_std)} | {section.asked:,} | {counts} | {pick.all_nan} | {hours} |"
        )
    return _framed(section, lines)


def _batch_sizes(section: BatchSizeSection) -> list[str]:
    """Figure 4: per batch size the batches' rho (median and quartiles), the scores asked, scored and NaN."""
    lines = [
        f"Architectures: {section.architectures}; trained metric {section.metric}; asked: architectures × batches.",
        "",
        "| batch size | batches | asked | scored | NaN (%) | ρ published | ρ median | ρ 25% | ρ 75% | notes |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in section.rows:
        low, median, high = row.quartiles
        lines.append(
            f"| {row.size} | {len(row.seeds)} | {row.asked:,} | {row.scored:,} | "
            f"{_number(100 * (row.asked - row.scored) / row.asked, 1)} | — | {_number(median, 3)} | {_number(low, 3)} | "
            f"{_number(high, 3)} | {', '.join(row.notes)} |"
        )
    return _framed(section, lines)


def _search(section: SearchSection) -> list[str]:
    """Figure 3 on one dataset (Figure 5 on one dataset and strategy): per strategy (proxy) the choice's reported
    metric after k models and at the end."""
    marks = sorted({k for row in section.rows for k in row.best_after})
    reported = section.reported
    headers = [section.row_kind, "rounds", "trained", *(f"{reported} after {k}" for k in marks), f"{reported} final choice",
               "published", "notes"]
    lines = [
        f"Searched: {section.searched}; steered by {section.metric}, reported with {reported} "
        "(mean ± std over the rounds).",
        "",
        "| " + " | ".join(headers) + " |",
        "|---|" + "---:|" * (len(headers) - 2) + "---|",
    ]
    for row in section.rows:
        cells = [section.label(row), str(row.rounds), f"{row.trained:g}",
                 *(row.best_after[k].text() if k in row.best_after else "—" for k in marks), row.final.text(), "—",
                 ", ".join(row.notes)]
        lines.append("| " + " | ".join(cells) + " |")
    return _framed(section, lines)


#: the Markdown of each kind of table
_SECTION_WRITERS: dict[type, Callable[[Any], list[str]]] = {
    Section: _section,
    SelectionSection: _selection,
    BatchSizeSection: _batch_sizes,
    SearchSection: _search,
}


def _spread(mean: float, std: float) -> str:
    return "nan" if math.isnan(mean) else f"{mean:.2f} ± {std:.2f}"


Cell = Callable[[RowResult], str]


def _columns(section: Section) -> list[tuple[str, Cell]]:
    """The report columns: the row, its counts and notes, then published / ours / Δ per metric."""
    weights = section.row_kind != "proxy"
    sign = section.sign
    columns: list[tuple[str, Cell]] = [(section.row_kind, lambda row: row.key)]
    columns += [("asked", lambda row: f"{row.asked:,}")]
    if weights:
        columns += [
            ("scored published", _published_scored),
            ("scored ours", lambda row: _share(row.scored, row.asked)),
            ("Δ scored (points)", _scored_difference),
        ]
    else:
        columns += [("scored", lambda row: f"{row.scored:,}")]
    columns += [("NaN", lambda row: f"{row.asked - row.scored:,}"), ("notes", lambda row: ", ".join(row.notes))]
    for name, header, digits, printed in METRICS:
        columns += [
            (f"{header} published", _published_cell(name, printed)),
            (f"{header} ours", _ours_cell(name, digits, sign)),
            (f"Δ {header}", _difference_cell(name, digits, sign)),
        ]
        if name == "spearman" and not weights:
            columns.append(("ρ ours 95%", lambda row: _interval(row, sign)))
        if name in SET_METRICS:
            columns += [
                (f"{header} {title}", _set_cell(set_name, name, digits, sign)) for set_name, title in _SET_TITLES.items()
            ]
    return columns


def shown(value: float, name: str, sign: int) -> float:
    """A metric as the report shows it: the correlations of :data:`SIGNED_METRICS` times ``sign``."""
    return sign * value if name in SIGNED_METRICS else value


def _published_cell(name: str, digits: int) -> Cell:
    def cell(row: RowResult) -> str:
        value = _published(row, name)
        return "—" if value is None else _number(value, digits)

    return cell


def _ours_cell(name: str, digits: int, sign: int) -> Cell:
    return lambda row: _number(shown(getattr(row.own, name), name, sign), digits)


def _difference_cell(name: str, digits: int, sign: int) -> Cell:
    def cell(row: RowResult) -> str:
        value = _published(row, name)
        ours = shown(getattr(row.own, name), name, sign)
        if value is None or math.isnan(ours):
            return "—"
        return f"{ours - value:+.{max(digits - 1, 1)}f}"

    return cell


def _set_cell(set_name: str, name: str, digits: int, sign: int) -> Cell:
    return lambda row: _number(shown(getattr(getattr(row, set_name), name), name, sign), digits)


def _published(row: RowResult, name: str) -> float | None:
    if row.published is None:
        return None
    return row.published.values.get(name)


def _published_scored(row: RowResult) -> str:
    value = _published(row, "scored")
    total = row.published.source.architectures if row.published else None
    if value is None or total is None:
        return "—"
    return _share(int(value), total)


def _scored_difference(row: RowResult) -> str:
    value = _published(row, "scored")
    total = row.published.source.architectures if row.published else None
    if value is None or not total or not row.asked:
        return "—"
    return f"{100 * (row.scored / row.asked - value / total):+.1f}"


def _share(part: int, whole: int) -> str:
    return f"{part:,}/{whole:,} ({100 * part / whole:.1f}%)" if whole else f"{part:,}/0"


def _interval(row: RowResult, sign: int) -> str:
    interval = row.spearman_interval
    if interval is None or math.isnan(interval.low):
        return "—"
    low, high = sorted((sign * interval.low, sign * interval.high))
    return f"[{low:.2f}, {high:.2f}]"


def _number(value: float, digits: int) -> str:
    return "nan" if math.isnan(value) else f"{value:.{digits}f}"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min {rest} s" if hours else f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


def results_frame(result: ExperimentResult) -> pd.DataFrame:
    """One record per reproduced row (counts, every metric on every set as shown, the published values, the
    notes); for Table 2 per pick, for Figure 4 per batch size, for Figures 3 and 5 per dataset, strategy (and
    proxy)."""
    records: list[dict[str, object]] = []
    for section in result.sections:
        if isinstance(section, SelectionSection):
            records += [_pick_record(result, section, pick) for pick in section.picks]
            continue
        if isinstance(section, BatchSizeSection):
            records += _batch_size_records(result, section)
            continue
        if isinstance(section, SearchSection):
            records += _search_records(result, section)
            continue
        for row in section.rows:
            record: dict[str, object] = {
                "experiment": result.name,
                "section": section.title,
                "row": row.key,
                "precision": row.precision or "",
                "architectures": row.architectures,
                "metric": section.metric,
                "correlation_sign": section.sign,
                "asked": row.asked,
                "scored": row.scored,
                "nan": row.asked - row.scored,
            }
            for set_name in ("own", "common", "nan_worst"):
                metrics = getattr(row, set_name)
                record[f"{set_name}_pairs"] = metrics.pairs
                for name, *_ in METRICS:
                    record[f"{set_name}_{name}"] = shown(getattr(metrics, name), name, section.sign)
            for name in ("scored", *(name for name, *_ in METRICS)):
                value = _published(row, name)
                record[f"published_{name}"] = math.nan if value is None else value
            record["published_source"] = (
                f"{row.published.source.url}#cell{row.published.source.cell}" if row.published else ""
            )
            record["notes"] = "; ".join(row.notes)
            records.append(record)
    return pd.DataFrame.from_records(records)


def _pick_record(result: ExperimentResult, section: SelectionSection, pick: Pick) -> dict[str, object]:
    return {
        "experiment": result.name,
        "section": section.title,
        "pool": pick.pool,
        "method": pick.method,
        "runs": pick.runs,
        "valid_metric": section.valid_metric,
        "valid_mean": pick.valid_mean,
        "valid_std": pick.valid_std,
        "test_metric": section.test_metric,
        "test_mean": pick.test_mean,
        "test_std": pick.test_std,
        "asked": section.asked,
        "scored": math.nan if pick.scored is None else pick.scored,
        "pools_all_nan": pick.all_nan,
        "hours_per_1000": math.nan if pick.hours_per_1000 is None else pick.hours_per_1000,
        "architectures": section.architectures,
        "notes": "; ".join(f"{key}: {text}" for key, text in section.notes.items()),
    }


def _batch_size_records(result: ExperimentResult, section: BatchSizeSection) -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    for row in section.rows:
        low, median, high = row.quartiles
        records.append({
            "experiment": result.name,
            "section": section.title,
            "batch_size": row.size,
            "batches": len(row.seeds),
            "batch_seeds": ";".join(map(str, row.seeds)),
            "metric": section.metric,
            "asked": row.asked,
            "scored": row.scored,
            "nan": row.asked - row.scored,
            "nan_share": (row.asked - row.scored) / row.asked,
            "spearman_median": median,
            "spearman_q25": low,
            "spearman_q75": high,
            "spearman_per_batch": ";".join(repr(value) for value in row.spearman),
            "published": FIGURE_ONLY,
            "architectures": section.architectures,
            "notes": "; ".join(row.notes),
        })
    return records


def _search_records(result: ExperimentResult, section: SearchSection) -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    for row in section.rows:
        record: dict[str, object] = {
            "experiment": result.name,
            "section": section.title,
            "strategy": row.strategy,
            "proxy": row.proxy,
            "rounds": row.rounds,
            "trained": row.trained,
            "metric": section.metric,
            "reported_metric": section.reported,
        }
        for k, statistic in row.best_after.items():
            record[f"after_{k}_mean"], record[f"after_{k}_std"] = statistic.mean, statistic.std
        record["final_mean"], record["final_std"] = row.final.mean, row.final.std
        record.update(published=FIGURE_ONLY, searched=section.searched, notes="; ".join(row.notes))
        records.append(record)
    return records


def summary(results: Sequence[ExperimentResult]) -> str:
    """A short text for the terminal: per experiment and table, each row's Spearman ρ, published and ours
    (Table 2: each pick's test accuracy; figures: their files)."""
    lines = []
    for result in results:
        lines.append(f"{result.title} ({_duration(result.wall_seconds)}, {result.new_scores:,} new scores)")
        for section in result.sections:
            lines.append(f"  {section.title}")
            if isinstance(section, SelectionSection):
                lines.append(f"    {'N':>6} {'method':<14} {section.test_metric + ' mean ± std':>22}")
                lines += [f"    {pick.pool:>6} {pick.method:<14} {_spread(pick.test_mean, pick.test_std):>22}"
                          for pick in section.picks]
                continue
            if isinstance(section, BatchSizeSection):
                lines.append(f"    {'batch':>6} {'scored':>13} {'ρ median':>9} {'ρ 25%':>7} {'ρ 75%':>7}")
                for row in section.rows:
                    low, median, high = row.quartiles
                    lines.append(f"    {row.size:>6} {f'{row.scored}/{row.asked}':>13} {_number(median, 3):>9} "
                                 f"{_number(low, 3):>7} {_number(high, 3):>7}")
                continue
            if isinstance(section, SearchSection):
                lines.append(f"    {section.row_kind:<36} {section.reported + ' final choice':>24}")
                lines += [f"    {section.label(row):<36} {row.final.text():>24}" for row in section.rows]
                continue
            lines.append(f"    {'row':<18} {'asked':>6} {'scored':>6} {'ρ published':>11} {'ρ ours':>7} {'Δ':>6} "
                         f"{'ρ NaN worst':>11}")
            for row in section.rows:
                value = _published(row, "spearman")
                ours = shown(row.own.spearman, "spearman", section.sign)
                text = "—" if value is None else _number(value, 2)
                delta = "—" if value is None or math.isnan(ours) else f"{ours - value:+.2f}"
                worst = shown(row.nan_worst.spearman, "spearman", section.sign)
                lines.append(
                    f"    {row.key:<18} {row.asked:>6} {row.scored:>6} {text:>11} {_number(ours, 3):>7} {delta:>6} "
                    f"{_number(worst, 3):>11}"
                )
        lines += [f"  {figure.name}.png: {figure.caption}" for figure in result.figures]
    return "\n".join(lines)
