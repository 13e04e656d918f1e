"""The search report's wording and plots: resolved proxy settings, one round, zero-cost selection."""

from __future__ import annotations

from pathlib import Path

import nas
from nas.reports.search import search_figure


def _zero_cost(tmp_path: Path, rounds: int) -> nas.SearchResult:
    return nas.search(
        out=tmp_path / f"zc{rounds}",
        name="zc",
        space="nb201",
        dataset="cifar10",
        metric="valid_acc",
        proxy={"name": "epsilon", "batch": {"data": "real", "size": 16, "seed": 0}},
        budget=1,
        rounds=rounds,
        seed=0,
        strategies=[
            {"name": "N=5", "strategy": "zero_cost", "settings": {"n": 5}},
            {"name": "N=20", "strategy": "zero_cost", "settings": {"n": 20}},
        ],
    )


def test_one_round_reads_as_one_round_with_the_settings_used(tmp_path: Path) -> None:
    result = _zero_cost(tmp_path, 1)
    text = (tmp_path / "zc1" / "summary.md").read_text()
    assert "budget 1 trained model, 1 round, seed 0." in text
    assert "weights=1e-07:1" in text and "None" not in text  # the space's default pair, not "weights=None"
    assert "±" not in text.split("| strategy |")[1].split("## Final choices")[0]  # no standard deviation of one value
    assert result.summary["final_std"].isna().all()
    # the final choices: each strategy's architecture (pipes escaped for the table) and both metrics
    choices = text.split("## Final choices")[1]
    for label, (run,) in result.experiment.runs.items():
        arch = run.final_arch.replace("|", "\\|")
        row = next(line for line in choices.splitlines() if line.startswith(f"| {label} | 0 |"))
        assert row == f"| {label} | 0 | `{arch}` | {run.final_value:.2f} | {run.final_test:.2f} |"
        assert run.final_arch in set(run.archs)


def test_zero_cost_selection_plots_the_final_choices_not_a_curve(tmp_path: Path) -> None:
    result = _zero_cost(tmp_path, 4)
    figure = search_figure(result.experiment)
    axes = figure.axes[0]
    assert [label.get_text() for label in axes.get_xticklabels()] == ["N=5", "N=20"]
    assert axes.get_ylabel() == "test_acc of the final choice"  # what the summary reports, not valid_acc
    plotted = sorted(float(y) for collection in axes.collections[::2] for _, y in collection.get_offsets())
    finals = sorted(run.final_test for runs in result.experiment.runs.values() for run in runs)
    assert plotted == finals
    text = (tmp_path / "zc4" / "summary.md").read_text()
    assert "4 rounds" in text and "±" in text
