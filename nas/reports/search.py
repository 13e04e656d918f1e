"""The report of a search experiment: trajectories, summary table and plot.

:func:`write_reports` writes them from an :class:`~nas.experiment.ExperimentResult` (what
:func:`nas.experiment.run_experiment` returns) into the experiment's output directory:

* ``trajectories.json``: the configuration and, per strategy and round, the best-so-far
  metric after each trained model and the final choice;
* ``trajectories.csv``: one row per trained model: ``strategy, round, trained, value, best``;
* ``summary.csv`` / ``summary.md``: per strategy, mean ± standard deviation over rounds of the
  best metric among the first k trained models (k = 10, 50, 100, 300 up to the budget) and of
  the final choice's reported metric; ``summary.md`` then lists each round's final choice
  (architecture, oracle metric, reported metric, training seconds), the first rounds of each strategy;
* ``search.png``: best metric vs trained models, median over rounds with the interquartile band.

Plots are drawn with matplotlib's Agg canvas (no display, no global backend change).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nas.ensembles import KINDS
from nas.experiment import ExperimentResult

#: numbers of trained models at which the summary reports the best metric reached
BUDGET_MARKS = (10, 50, 100, 300)


@dataclass(frozen=True)
class Statistic:
    """Mean and sample standard deviation over rounds (NaN values left out), and how many rounds had a value."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> "Statistic":
        """The statistic of ``values``."""
        known = np.array([v for v in values if not math.isnan(v)], dtype=np.float64)
        if known.size == 0:
            return cls(math.nan, math.nan, 0)
        std = float(known.std(ddof=1)) if known.size > 1 else math.nan  # undefined for one value
        return cls(float(known.mean()), std, int(known.size))

    def text(self, digits: int = 2) -> str:
        """``"mean ± std"``; the mean alone for one value; ``"-"`` without values."""
        if self.n == 0:
            return "-"
        return f"{self.mean:.{digits}f}" if self.n == 1 else f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


@dataclass(frozen=True)
class SummaryRow:
    """The summary of one strategy over all rounds."""

    label: str
    strategy: str
    rounds: int
    trained: float
    best_after: dict[int, Statistic]
    final: Statistic


def best_after(best: Sequence[float], k: int) -> float:
    """The best metric among the first ``k`` trained models of a trajectory (all of it if shorter)."""
    return best[min(k, len(best)) - 1] if best else math.nan


def summarise(result: ExperimentResult) -> list[SummaryRow]:
    """One :class:`SummaryRow` per strategy, in the configuration's order."""
    marks = [k for k in BUDGET_MARKS if k <= result.config.budget]
    rows = []
    for spec in result.config.strategies:
        runs = result.runs[spec.label]
        rows.append(
            SummaryRow(
                label=spec.label,
                strategy=spec.strategy,
                rounds=len(runs),
                trained=float(np.mean([len(run.best) for run in runs])) if runs else math.nan,
                best_after={k: Statistic.of([best_after(run.best, k) for run in runs]) for k in marks},
                final=Statistic.of([run.final_test for run in runs]),
            )
        )
    return rows


def markdown(result: ExperimentResult, rows: Sequence[SummaryRow]) -> str:
    """The summary as a Markdown document (title, set-up, table)."""
    config = result.config
    proxy = "none" if config.proxy is None else _proxy_text(result)
    marks = sorted({k for row in rows for k in row.best_after})
    header = (
        ["strategy", "rounds", "trained"]
        + [f"best {config.metric} after {k}" for k in marks]
        + [f"final choice {result.final_metric}"]
    )
    lines = [
        f"# Search: {config.name}",
        "",
        *([config.description.strip(), ""] if config.description.strip() else []),
        f"Space `{config.space}`, dataset `{config.dataset}`, oracle metric `{config.metric}`, proxy {proxy}; "
        f"budget {_count(config.budget, 'trained model')}, {_count(result.rounds, 'round')}, seed {config.seed}.",
        "",
        *([f"Proxy input: {result.proxy_input}.", ""] if result.proxy_input else []),
        *([f"Oracle: {result.oracle_text}.", "", _training_text(result), ""] if result.oracle_text else []),
        *(
            [f"Searched space: {result.searched} (the table covers only part of `{config.space}`: sampling and "
             "mutation stay inside it; a mutation takes a table architecture one edit away, else one nearest "
             "in token Hamming distance).", ""]
            if result.searched
            else []
        ),
        f"Mean ± standard deviation over rounds of the best `{config.metric}` among the first k trained "
        f"models, and of the `{result.final_metric}` of the final choice (the trained architecture with "
        f"the best `{config.metric}`)." + ("" if result.maximise else f" Lower `{config.metric}` is better: best is lowest."),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    for row in rows:
        cells = [row.label, str(row.rounds), f"{row.trained:g}"]
        cells += [row.best_after[k].text() if k in row.best_after else "-" for k in marks]
        cells.append(row.final.text())
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", *_final_choices(result)]) + "\n"


#: rounds per strategy listed in the summary's table of final choices (all are in trajectories.json)
LISTED_ROUNDS = 5


def _final_choices(result: ExperimentResult) -> list[str]:
    """The final choice of each strategy's first rounds: architecture, oracle metric, reported metric, training time."""
    config = result.config
    training = bool(result.oracle_text)
    header = ["strategy", "round", "final choice", config.metric, result.final_metric] + (["training s"] if training else [])
    lines = [
        "## Final choices",
        "",
        f"The trained architecture with the best `{config.metric}` in each round"
        + (" and the summed training seconds of the round's models" if training else "")
        + (f" (the first {LISTED_ROUNDS} rounds; every round is in `trajectories.json`)" if result.rounds > LISTED_ROUNDS else "")
        + ".",
        "",
        "| " + " | ".join(header) + " |",
        "|---|---:|---|" + "---:|" * (len(header) - 3),
    ]
    for spec in config.strategies:
        for run in result.runs[spec.label][:LISTED_ROUNDS]:
            arch = "-" if run.final_arch is None else "`" + run.final_arch.replace("|", "\\|") + "`"  # a pipe ends a table cell
            cells = [spec.label, str(run.round), arch]
            cells += [_number(run.final_value), _number(run.final_test)]
            cells += [f"{run.train_seconds:.0f}"] if training else []
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _number(value: float) -> str:
    """``value`` with two decimals, ``-`` for NaN."""
    return "-" if math.isnan(value) else f"{value:.2f}"


@dataclass(frozen=True)
class SearchReport:
    """What :func:`write_reports` wrote: the report files by name, and the summary as Markdown."""

    #: ``trajectories.json``, ``trajectories.csv``, ``summary.csv``, ``summary.md`` and ``search.png``, by name
    files: dict[str, Path]
    #: the text of ``summary.md`` (see :func:`markdown`)
    markdown: str


def write_reports(result: ExperimentResult) -> SearchReport:
    """Write every report file into ``result.out_dir`` and return what was written; ``result`` is not changed."""
    out = result.out_dir
    rows = summarise(result)
    summary = markdown(result, rows)
    files = {
        "trajectories.json": _write_json(result, out / "trajectories.json"),
        "trajectories.csv": _write_trajectories_csv(result, out / "trajectories.csv"),
        "summary.csv": _write_summary_csv(result, rows, out / "summary.csv"),
        "summary.md": _write_text(summary, out / "summary.md"),
        "search.png": plot(result, out / "search.png"),
    }
    return SearchReport(files, summary)


def plot(result: ExperimentResult, path: Path) -> Path:
    """Write :func:`search_figure` to ``path`` (PNG)."""
    search_figure(result).savefig(path, dpi=130)
    return path


def search_figure(result: ExperimentResult) -> Figure:
    """Best metric vs trained models: per strategy the median over rounds and the interquartile band.

    When no run trained more than one model (zero-cost selection, budget 1) there is no curve:
    the figure shows instead each round's final choice, with its reported metric, per strategy.
    """
    if all(len(run.best) <= 1 for runs in result.runs.values() for run in runs):
        return _final_choices_figure(result)
    config = result.config
    figure = Figure(figsize=(7.5, 4.8))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colours = _colours(len(config.strategies))
    # strategies share random streams per round, so curves can coincide: vary the line style too
    styles = ("-", "--", "-.", ":")
    for i, (colour, spec) in enumerate(zip(colours, config.strategies)):
        curves = [list(run.best) for run in result.runs[spec.label] if run.best]
        if not curves:
            continue
        length = max(len(c) for c in curves)
        matrix = np.array([c + [c[-1]] * (length - len(c)) for c in curves], dtype=np.float64)
        low, median, high = np.nanpercentile(matrix, [25, 50, 75], axis=0)
        x = np.arange(1, length + 1)
        if length == 1:
            axes.errorbar(x, median, yerr=[median - low, high - median], fmt="o", color=colour, capsize=4, label=spec.label)
        else:
            axes.plot(x, median, color=colour, label=spec.label, linewidth=1.6, linestyle=styles[i % len(styles)])
            axes.fill_between(x, low, high, color=colour, alpha=0.18, linewidth=0)
    if config.budget >= 50:
        axes.set_xscale("log")
        axes.set_xlim(0.9, config.budget * 1.05)
    else:
        axes.set_xlim(0.5, config.budget + 0.5)
    axes.set_xlabel("trained models")
    axes.set_ylabel(f"best {config.metric} so far")
    axes.set_title(f"{config.name}: median and quartiles over {result.rounds} rounds", fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return figure


def _final_choices_figure(result: ExperimentResult) -> Figure:
    """Each round's final choice (its reported metric) per strategy: points, median and quartiles."""
    config = result.config
    labels = [spec.label for spec in config.strategies]
    figure = Figure(figsize=(max(5.0, 1.6 * len(labels) + 2), 4.8))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    jitter = np.random.default_rng(0)
    for i, (colour, label) in enumerate(zip(_colours(len(labels)), labels)):
        values = np.array([run.final_test for run in result.runs[label]], dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        axes.scatter(i + jitter.uniform(-0.18, 0.18, values.size), values, s=8, alpha=0.35, color=colour)
        low, median, high = np.percentile(values, [25, 50, 75])
        axes.errorbar(i, median, yerr=[[median - low], [high - median]], fmt="D", color="black", capsize=6)
    axes.set_xticks(range(len(labels)), labels)
    axes.set_xlim(-0.6, len(labels) - 0.4)
    axes.set_ylabel(f"{result.final_metric} of the final choice")
    axes.set_title(
        f"{config.name}: one trained model per round; {_count(result.rounds, 'round')}, median and quartiles",
        fontsize=10,
    )
    axes.grid(True, axis="y", alpha=0.3)
    figure.tight_layout()
    return figure


def _training_text(result: ExperimentResult) -> str:
    """Training cost: distinct models, their training seconds, and this invocation's wall time."""
    seconds: dict[str, float] = {}
    for runs in result.runs.values():
        for run in runs:
            if run.archs:
                share = run.train_seconds / len(run.archs)
                for arch in run.archs:
                    seconds.setdefault(arch, share)
    total = sum(run.train_seconds for runs in result.runs.values() for run in runs)
    return (
        f"Training cost: {len(seconds)} distinct models trained; {total:.0f} s of training summed over every run's "
        f"models (each counted in every run that trained it); this invocation spent {result.training_wall_seconds:.0f} s "
        "of wall time training (runs already in the training cache cost none)."
    )


def summary_frame(result: ExperimentResult) -> pd.DataFrame:
    """The summary (``summary.csv``) as a DataFrame indexed by strategy label: mean and std of the best metric after k models and of the final choice."""
    records = []
    for row in summarise(result):
        record: dict[str, object] = {"strategy": row.label, "kind": row.strategy, "rounds": row.rounds, "trained": row.trained}
        for k, statistic in sorted(row.best_after.items()):
            record[f"best_after_{k}_mean"], record[f"best_after_{k}_std"] = statistic.mean, statistic.std
        record.update(final_metric=result.final_metric, final_mean=row.final.mean, final_std=row.final.std)
        records.append(record)
    return pd.DataFrame(records).set_index("strategy")


def history_frame(result: ExperimentResult, train_seconds: Callable[[str], float] | None = None) -> pd.DataFrame:
    """Every trained model of every run: strategy, round, step, architecture, metric, best so far, simulated time.

    ``simulated_seconds`` is the running sum of the training time of each model trained so far in
    the run: the real training seconds for the training oracle (``Run.seconds``), else
    ``train_seconds(arch)`` (the benchmark's), NaN without either.
    """
    records = []
    for label, runs in result.runs.items():
        for run in runs:
            elapsed = 0.0
            for step, (arch, value, best) in enumerate(zip(run.archs, run.values, run.best), start=1):
                if run.seconds:
                    elapsed += run.seconds[step - 1]
                else:
                    elapsed += train_seconds(arch) if train_seconds is not None else math.nan
                records.append((label, run.round, step, arch, value, best, elapsed))
    columns = ["strategy", "round", "step", "arch", result.config.metric, "best", "simulated_seconds"]
    return pd.DataFrame.from_records(records, columns=columns)


def _colours(n: int) -> list[tuple[float, float, float, float]]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _proxy_text(result: ExperimentResult) -> str:
    """The proxy with the settings it ran with (defaults resolved for the space) and, unless the input line follows, its batch."""
    config = result.config.proxy
    assert config is not None
    proxies = config.create_members()
    described = [(name, _settings_text(proxy.effective_settings(result.config.space))) for name, proxy in proxies.items()]
    if config.members:
        members = ", ".join(f"{name} ({settings})" if settings else name for name, settings in described)
        text = f"`{config.name}`: the {KINDS[config.kind]} of {members}, computed over the candidates each strategy ranks"
    else:
        text = f"`{config.name}`" + (f" ({described[0][1]})" if described[0][1] else "")
    if result.proxy_input:  # the "Proxy input" line says what the batch was, stand-ins included
        return text
    batch = config.batch
    size = "each proxy's standard batch of" if batch.size is None else f"a batch of {batch.size}"
    return text + f" on {size} {batch.data} inputs (seed {batch.seed})"


def _settings_text(settings: Mapping[str, object]) -> str:
    """``key=value`` pairs of a proxy's settings, comma-separated."""
    return ", ".join(f"{k}={_setting(v)}" for k, v in settings.items())


def _setting(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ":".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _write_json(result: ExperimentResult, path: Path) -> Path:
    data = {
        "config": result.config.to_dict(),
        "rounds": result.rounds,
        "metric": result.config.metric,
        "final_metric": result.final_metric,
        "strategies": {
            label: [
                {
                    "round": run.round,
                    "seed": run.seed,
                    "best": [_json(v) for v in run.best],
                    "final_arch": run.final_arch,
                    "final_value": _json(run.final_value),
                    "final_test": _json(run.final_test),
                }
                for run in runs
            ]
            for label, runs in result.runs.items()
        },
    }
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def _write_trajectories_csv(result: ExperimentResult, path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["strategy", "round", "trained", "value", "best"])
        for label, runs in result.runs.items():
            for run in runs:
                for i, (value, best) in enumerate(zip(run.values, run.best), start=1):
                    writer.writerow([label, run.round, i, _csv(value), _csv(best)])
    return path


def _write_summary_csv(result: ExperimentResult, rows: Sequence[SummaryRow], path: Path) -> Path:
    marks = sorted({k for row in rows for k in row.best_after})
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        header = ["strategy", "kind", "rounds", "trained"]
        for k in marks:
            header += [f"best_after_{k}_mean", f"best_after_{k}_std"]
        header += ["final_metric", "final_mean", "final_std"]
        writer.writerow(header)
        for row in rows:
            cells: list[object] = [row.label, row.strategy, row.rounds, f"{row.trained:g}"]
            for k in marks:
                cells += [_csv(row.best_after[k].mean), _csv(row.best_after[k].std)]
            cells += [result.final_metric, _csv(row.final.mean), _csv(row.final.std)]
            writer.writerow(cells)
    return path


def _write_text(text: str, path: Path) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _json(value: float) -> float | None:
    return None if math.isnan(value) else value


def _csv(value: float) -> str:
    return "" if math.isnan(value) else repr(float(value))
