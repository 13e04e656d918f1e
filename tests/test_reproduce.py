"""``nas reproduce epsilon-paper``: the published values, the report, the store and the errors (issue 12)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from nas.cli import main
from nas.errors import NasError
from nas.reproduce import EXPERIMENTS
from nas.reproduce.experiments import (
    QUICK,
    ReproduceConfig,
    _Context,
    _selection_section,
    parse_experiments,
    reproduce,
)
from nas.reproduce.published import COLUMNS, load_published, quoted_values
from nas.reproduce.report import results_frame, write_report
from nas.store import ScoreStore

#: a tiny Table 1: two datasets (one with the stand-in input), two proxies (params and flops are added), 6 architectures
TINY_TABLE1 = ["--quick", "--only", "table1", "--sample", "6", "--datasets", "cifar10,imagenet16-120",
               "--proxies", "epsilon,synflow", "--executor", "serial"]


def test_every_typed_value_equals_its_quote() -> None:
    published = load_published()
    assert len(published.experiment("table1")) == 7
    assert len(published.experiment("table5")) == 15  # the 6-weight grid 1e-4 .. 10
    assert len(published.experiment("table6")) == 28  # the 8-weight grid 1e-7 .. 1
    for row in published.rows:
        assert set(row.values) <= set(COLUMNS)
        assert row.values == quoted_values(row), row.quote
        assert row.label in row.quote
        assert row.source.header_text.startswith("|") and row.source.commit in row.source.url


@pytest.mark.parametrize(
    ("experiment", "key", "column", "value", "printed"),
    [
        ("table1", "epsilon", "spearman", 0.87, "|  epsinas  |        0.87       |        0.50        |       0.69"),
        ("table1", "epsilon", "top64_in_top5", 62, "67.06      |     62.00     |"),
        ("table1", "synflow", "kendall", 0.54, "|  synflow  |        0.74       |        0.18        |       0.54"),
        ("table1", "jacob_cov", "top10_in_top10", 24.72, "|   jacov   |        0.73 "),
        ("table1", "fisher", "top10_spearman", -0.38, "|   fisher  |        0.36       |       -0.38 "),
        ("table6", "1e-07:1", "scored", 2957, "|    [1e-07, 1]   |  2957 |        0.87 "),
        ("table6", "0.001:0.01", "scored", 4802, "|  [0.001, 0.01]  |  4802 |        0.25 "),
        ("table6", "0.1:1", "kendall", -0.03, "|     [0.1, 1]    |  4907 |        0.01       |        0.26        |      -0.03"),
        ("table5", "0.0001:10", "spearman", 0.61, "|   [0.0001, 10]  |  2120 |        0.61 "),
        ("table5", "1:10", "spearman", -0.44, "|     [1, 10]     |  5000 |       -0.44 "),
    ],
)
def test_a_handful_of_published_values_against_the_printed_rows(
    experiment: str, key: str, column: str, value: float, printed: str
) -> None:
    row = load_published().find(experiment, key, "cifar10")
    assert row is not None
    assert row.values[column] == pytest.approx(value)
    assert printed in row.quote


def test_only_names_experiments_in_their_order() -> None:
    assert parse_experiments(None) == tuple(EXPERIMENTS)
    assert parse_experiments(" table6,table1 ") == ("table1", "table6")
    assert parse_experiments("fig2,table11,table2") == ("table2", "table11", "fig2")
    assert parse_experiments("fig5,fig4,fig3") == ("fig3", "fig4", "fig5")
    assert parse_experiments("table11,table10,table9") == ("table9", "table10", "table11")
    with pytest.raises(NasError, match=r"unknown experiment 'fig7'; known: table1, table2, .*fig4, fig5$"):
        parse_experiments("table1,fig7")


@pytest.mark.parametrize("only", ["table1,tabel6", ",", "table8"])
def test_a_bad_only_is_one_line_and_status_2(only: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", "epsilon-paper", "--only", only, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nas: error: --only") and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_the_setting_says_quick_and_what_was_overridden() -> None:
    config = ReproduceConfig(quick=True, sample=6, datasets=("cifar10",))
    assert config.sizes.table1_sample == config.sizes.weights == 6 and config.sizes.small_grid
    text = config.describe()
    assert text.startswith("--quick: ") and "Overridden: --sample 6 --datasets cifar10." in text
    assert QUICK.table1_wide == 200 and ReproduceConfig().describe().startswith("full (the paper's)")


def test_quick_table1_writes_the_report_and_a_second_run_computes_nothing(
    tmp_path: Path, _isolated_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    assert main(["reproduce", "epsilon-paper", *TINY_TABLE1, "--out", str(out)]) == 0
    first = capsys.readouterr()
    with ScoreStore.open(_isolated_cache) as store:
        stored = len(store)
    assert stored > 0
    report = (out / "report.md").read_text()
    assert "Not run this time: table2, table3, table4, table5" in report and "Overridden: --sample 6" in report
    header = next(line for line in report.splitlines() if line.startswith("| proxy |"))
    for column in ("asked", "scored", "NaN", "ρ published", "ρ ours", "Δ ρ", "ρ common", "ρ NaN worst",
                   "top-64/top-5% published", "Δ top-64/top-5%"):
        assert f"| {column} |" in header
    epsilon = next(line for line in report.splitlines() if line.startswith("| epsilon | 6 |"))
    assert "| 0.87 |" in epsilon  # published CIFAR-10 rho, beside ours
    assert "### ImageNet16-120" in report and "- **stand-in**: ImageNet16-120 input is a stand-in" in report
    assert re.search(r"- \*\*partial\*\*: the batches are drawn from [\d,]+ CIFAR-10 training images", report)
    assert "- **sample**: scored on a seeded random sample" in report
    assert (out / "table1.csv").read_text().startswith("experiment,section,row,")
    assert "epsilon" in first.out and "report written to" in first.err

    assert main(["reproduce", "epsilon-paper", *TINY_TABLE1, "--out", str(out)]) == 0
    with ScoreStore.open(_isolated_cache) as store:
        assert len(store) == stored
    assert "0 new scores computed" in (out / "report.md").read_text()
    assert "0 new scores)" in capsys.readouterr().out


def test_weight_tables_score_every_pair_in_both_precisions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "weights"
    argv = ["reproduce", "epsilon-paper", "--quick", "--only", "table5,table6", "--sample", "3", "--executor", "serial"]
    assert main([*argv, "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert report.count("### float32 (the paper's precision)") == 2 and report.count("### float64") == 2
    row = next(line for line in report.splitlines() if line.startswith("| 1e-07:1 | 3 |"))
    assert "| 2,957/5,000 (59.1%) |" in row  # the published share of scored architectures, beside ours
    assert "- **nb101**: NAS-Bench-101: the 500 cells of the shared table" in report
    assert "- **precision**: float64: the published values are float32" in report
    assert "18 new scores" in capsys.readouterr().out  # 3 architectures x 3 pairs x 2 precisions, per table


def test_selection_picks_the_best_scored_of_each_pool() -> None:
    """Table 2 on a made-up run of 30 architectures: a proxy equal to the test accuracy picks each pool's best,
    a proxy that is NaN everywhere picks at random (and says so), Optimal follows the validation accuracy."""
    test = np.linspace(60.0, 90.0, 30)
    valid = test - 3.0
    run = SimpleNamespace(
        accuracies=test,
        scores={"oracle": test.copy(), "blank": np.full(30, np.nan), "inverse": test.copy()},
        higher_is_better={"oracle": True, "blank": True, "inverse": False},
        seconds_per_arch={"oracle": 3.6, "blank": 0.0, "inverse": 0.0},
        inputs=[],
        selection="all 30 made-up architectures",
        config=SimpleNamespace(sample=None, metric="test_acc"),
    )
    context = _Context(ReproduceConfig(), load_published())
    section = _selection_section(context, "cifar10", run, ["oracle", "blank", "inverse"], valid, "valid_acc",
                                 (5, 10, 100), 200)
    assert section.skipped == (100,) and "N = 100 left out" in section.notes["pool"]
    picks = {(pick.method, pick.pool): pick for pick in section.picks}
    for n in (5, 10):
        best = picks[("oracle", n)]
        assert best.runs == 200 and best.all_nan == 0
        assert best.test_mean == pytest.approx(picks[("Optimal", n)].test_mean)  # valid = test - 3: the same picks
        assert best.valid_mean == pytest.approx(best.test_mean - 3.0)
        assert picks[("inverse", n)].test_mean < picks[("Random", n)].test_mean < best.test_mean
        assert picks[("blank", n)].all_nan == 200 and picks[("blank", n)].scored == 0 and best.scored == 30
        assert best.hours_per_1000 == pytest.approx(1.0) and picks[("Random", n)].hours_per_1000 is None
    assert picks[("oracle", 10)].test_mean > picks[("oracle", 5)].test_mean  # a larger pool has a better best
    assert section.best_test == pytest.approx(90.0) and section.best_valid == pytest.approx(87.0)


def test_table2_and_figures_reuse_table1_and_write_their_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "selection"
    argv = ["reproduce", "epsilon-paper", "--quick", "--only", "table1,table2,fig1", "--sample", "12", "--datasets",
            "cifar10", "--proxies", "epsilon", "--executor", "serial", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert re.search(r"Table 2: .*\(.*, 0 new scores\)", printed)  # every score came from Table 1's run
    report = (out / "report.md").read_text()
    assert "| N | method | runs | valid_acc published | valid_acc ours (mean ± std) |" in report
    rows = [line for line in report.splitlines() if line.startswith("| 10 | ")]
    assert [line.split(" | ")[1] for line in rows] == ["Optimal", "Random", "epsilon", "params", "flops"]
    assert all("| 500 | — |" in line for line in rows)
    assert rows[0].endswith("| 12 | — | — | 0 | — |")  # Optimal: no proxy, so no scored count and no cost
    assert re.search(r"\| 12 \| \d+ \| \d+ \| \d+ \| [\d.e-]+ \|$", rows[2]), rows[2]  # epsilon: scored, NaN, cost
    assert "- **pool**: N = 100, 1,000 left out: larger than the 12 architectures" in report
    assert "![Figure 6: every proxy" in report and (out / "fig6.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "fig1.png").is_file() and (out / "table2.csv").read_text().startswith("experiment,section,pool,")


def test_nb101_nlp_and_input_tables_on_tiny_samples(tmp_path: Path) -> None:
    """Tables 3, 4, 7, 11 and Figure 2 on 4 architectures: counts, published rows, the perplexity sign, the notes."""
    config = ReproduceConfig(experiments=("table3", "table4", "table7", "table11", "fig2"), quick=True, sample=4,
                             proxies=("epsilon",), run={"executor": "serial"})
    results = {result.name: result for result in reproduce(config)}
    table3 = results["table3"].sections[0]
    assert [row.key for row in table3.rows] == ["epsilon", "params", "flops"] and table3.sign == 1
    assert table3.rows[0].published is not None and table3.rows[0].published.values["spearman"] == pytest.approx(0.62)
    assert table3.metric == "valid_acc" and "nb101" in table3.notes

    table4 = results["table4"].sections[0]
    assert table4.metric == "test_perplexity" and table4.sign == -1 and "perplexity" in table4.notes
    frame = results_frame(results["table4"])
    for row, record in zip(table4.rows, frame.to_dict("records")):
        assert record["own_spearman"] == pytest.approx(-row.own.spearman, nan_ok=True)  # shown with perplexity
        assert record["asked"] == row.asked <= 4 and record["correlation_sign"] == -1

    table7 = results["table7"].sections
    assert [section.title for section in table7] == ["float32 (the paper's precision)"]
    keys = [row.key for row in table7[0].rows]
    assert keys == ["1e-07:1e-05", "1e-07:0.001", "1e-05:0.001"]  # the quick grid, the NLP default pair among them
    assert table7[0].rows[2].published is not None and table7[0].rows[2].published.values["scored"] == 3879

    table11 = results["table11"].sections[0]
    assert [row.key for row in table11.rows] == ["real_batch", "grey_scale", "random_normal", "random_uniform",
                                                 "random_uniform_pos"]
    assert all(row.published is not None and row.asked == 4 for row in table11.rows)
    assert "partial" in table11.rows[0].notes and "partial" not in table11.rows[1].notes
    assert len(table11.inputs) == 5

    figure = results["fig2"].figures[0]
    assert [panel.title for panel in figure.panels] == ["NAS-Bench-101", "NAS-Bench-NLP"]
    assert all(len(panel.scores) == len(panel.values) == len(panel.params) == 4 for panel in figure.panels)


def test_initialisation_and_embedding_tables_on_tiny_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables 9 and 10 on 2 architectures (a batch of 16): one row per scheme and draw, each beside its published row."""
    from nas.reproduce import experiments

    monkeypatch.setattr(experiments, "EPSILON_BATCH", 16)
    config = ReproduceConfig(experiments=("table9", "table10"), quick=True, sample=2, run={"executor": "serial"})
    results = {result.name: result for result in reproduce(config)}
    table9 = results["table9"].sections[0]
    assert [row.key for row in table9.rows] == list(experiments.TABLE9_SCHEMES)
    assert all(row.published is not None and row.asked == 2 for row in table9.rows)
    assert table9.sign == 1 and "sample" in table9.notes
    assert any("epsilon_init" in line for line in results["table9"].setting)

    table10 = results["table10"].sections[0]
    assert [row.key for row in table10.rows] == list(experiments.EMBEDDING_VARIANTS)
    assert all(row.published is not None and row.asked == 2 for row in table10.rows)
    assert table10.sign == -1 and {"perplexity", "embedding"} <= set(table10.notes)
    frame = results_frame(results["table10"])
    assert len(frame) == len(experiments.EMBEDDING_VARIANTS) and (frame["asked"] == 2).all()


def _markdown_rows(report: str, header: str) -> list[list[str]]:
    """The cells of every row of the report's table whose header line starts with ``header``."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _run_and_report(config: ReproduceConfig, out: Path) -> list:
    """Run ``config`` and write its report into ``out``, as the command does."""
    results = list(reproduce(config))
    write_report(results, load_published(), out, "nas reproduce epsilon-paper (test)", config.describe())
    return results


def test_fig4_rho_per_batch_size_agrees_with_nas_score_and_a_rerun_computes_nothing(tmp_path: Path) -> None:
    """Figure 4 on 5 architectures, batch sizes 8 and 16, 2 batches each: the table against an independent
    nas.score of the same architectures on batch seed 0, the CSV, the figure, and a rerun from the store."""
    import nas

    config = ReproduceConfig(experiments=("fig4",), quick=True, sample=5, batch_sizes=(8, 16),
                             run={"executor": "serial"})
    out = tmp_path / "fig4"
    [result] = _run_and_report(config, out)
    assert result.new_scores == 5 * 2 * 2  # architectures x sizes x batches
    section = result.sections[0]
    report = (out / "report.md").read_text()
    assert "Published: figure only, no published numbers" in report
    assert "- **sizes**: batch sizes 32, 64, 128, 256, 512, 1024 of the paper's were not run" in report
    rows = {int(cells[0]): cells for cells in _markdown_rows(report, "| batch size |")}
    assert sorted(rows) == [8, 16]
    csv = {record["batch_size"]: record for record in results_frame(result).to_dict("records")}
    for size, cells in rows.items():
        batches, asked, scored = int(cells[1]), int(cells[2]), int(cells[3])
        assert (batches, asked) == (2, 10) and 0 < scored <= asked
        assert float(cells[4]) == pytest.approx(100 * (asked - scored) / asked, abs=0.05)
        per_batch = [float(value) for value in csv[size]["spearman_per_batch"].split(";")]
        assert float(cells[6]) == pytest.approx(np.median(per_batch), abs=5e-4)
        assert float(cells[7]) <= float(cells[6]) <= float(cells[8]) and "partial" in cells[9]

        # independent: nas.score in another store, then scipy's Spearman on the finite scores (batch seed 0)
        frame = nas.score(list(section.archs), proxies="epsilon", batch_size=size, seed=0, executor="serial",
                          cache_dir=tmp_path / f"independent-{size}")
        finite = frame[np.isfinite(frame["epsilon"])]
        assert len(finite) <= scored
        assert per_batch[0] == pytest.approx(stats.spearmanr(finite["epsilon"], finite["test_acc"]).statistic, abs=1e-9)
    assert (out / "fig4.png").read_bytes()[:4] == b"\x89PNG" and (out / "fig4.csv").is_file()

    [rerun] = _run_and_report(config, tmp_path / "again")
    assert rerun.new_scores == 0
    assert "0 new scores computed" in (tmp_path / "again" / "report.md").read_text()


def test_fig3_search_table_agrees_with_nas_search_and_a_rerun_computes_nothing(
    tmp_path: Path, _isolated_cache: Path
) -> None:
    """Figure 3 on CIFAR-10, 2 rounds of 10 trained models, pools of 10: the table against nas.search of two of
    its strategies (whose proxy scores the store already holds), the CSV, the figure, and a rerun."""
    import nas

    config = ReproduceConfig(experiments=("fig3",), quick=True, sample=10, search_rounds=2, run={"executor": "serial"})
    out = tmp_path / "fig3"
    [result] = _run_and_report(config, out)
    assert result.new_scores > 0
    report = (out / "report.md").read_text()
    assert "Published: figure only, no published numbers" in report and "population 3 and tournament 1" in report
    assert "- **size**: 2 rounds of 10 trained models with pools of 10, not the full setting's 100 rounds" in report
    header = "| strategy | rounds | trained | test_acc after 10 | test_acc final choice | published | notes |"
    assert header in report
    rows = {cells[0]: cells for cells in _markdown_rows(report, header)}
    assert list(rows) == ["evolution", "evolution + warm-up", "evolution + warm-up + move (parent)", "random",
                          "random + warm-up"]
    assert all(cells[1:3] == ["2", "10"] and cells[5] == "—" for cells in rows.values())
    assert "partial" in rows["random + warm-up"][6] and "partial" not in rows["random"][6]
    csv = {record["strategy"]: record for record in results_frame(result).to_dict("records")}
    with ScoreStore.open(_isolated_cache) as store:
        stored = len(store)

    # independent: the same searches through nas.search (the population and tournament the report states)
    strategies = [
        {"name": "random", "strategy": "random"},
        {"name": "evolution + warm-up", "strategy": "evolution",
         "settings": {"population": 3, "tournament": 1, "warmup": True, "pool": 10}},
    ]
    searched = nas.search(name="check", space="nb201", dataset="cifar10", metric="valid_acc", budget=10, rounds=2,
                          seed=0, strategies=strategies, executor="serial", out=tmp_path / "search", report=False,
                          proxy={"name": "epsilon", "batch": {"data": "real", "size": 256, "seed": 0}})
    for label, runs in searched.experiment.runs.items():
        finals = [run.final_test for run in runs]
        mean, std = (float(value) for value in rows[label][4].split(" ± "))
        assert mean == pytest.approx(np.mean(finals), abs=0.005) and std == pytest.approx(np.std(finals, ddof=1), abs=0.005)
        assert csv[label]["final_mean"] == pytest.approx(np.mean(finals))
        assert csv[label]["after_10_mean"] == pytest.approx(np.mean(finals))  # the choice after all 10 models is the final
    with ScoreStore.open(_isolated_cache) as store:
        assert len(store) == stored  # nas.search found every warm-up score in the store
    assert (out / "fig3.png").read_bytes()[:4] == b"\x89PNG" and (out / "fig3.csv").is_file()

    [rerun] = _run_and_report(config, tmp_path / "again")
    assert rerun.new_scores == 0


def test_fig5_warm_up_of_each_proxy_agrees_with_an_independent_replay_and_a_rerun_computes_nothing(
    tmp_path: Path, data_dir: Path
) -> None:
    """Figure 5 on CIFAR-10 with epsilon and params, a fixed pool of 12, 2 rounds of 8 trained models: random search
    + warm-up replayed by hand (the pool from the fixed pool, the proxy's top 2 of it, then random architectures of
    the whole space) on scores of an independent nas.score, the table, the CSV, the figure, and a rerun."""
    import random

    import nas
    from nas.benchmarks import open_table
    from nas.experiment import round_seed
    from nas.spaces import create_space

    config = ReproduceConfig(experiments=("fig5",), quick=True, sample=12, search_rounds=2, search_budget=8,
                             proxies=("params", "epsilon"), run={"executor": "serial"})
    out = tmp_path / "fig5"
    [result] = _run_and_report(config, out)
    assert result.new_scores == 12 * 2  # the fixed pool, once per proxy
    report = (out / "report.md").read_text()
    assert "Published: figure only, no published numbers" in report and "population 2 and tournament 1" in report
    assert "Table 1's synflow, snip, grad_norm, fisher, grasp, jacob_cov, naswot, flops are left out" in report
    assert "- **fixed pool**: every round's warm-up pool is drawn from one fixed pool" in report
    assert [section.title for section in result.sections] == ["CIFAR-10, evolution + warm-up", "CIFAR-10, random + warm-up"]
    header = "| proxy | rounds | trained | test_acc final choice | published | notes |"
    rows = {cells[0]: cells for cells in _markdown_rows(report, header)}
    assert list(rows) == ["epsilon", "params"]  # Table 1's order
    assert all(cells[1:3] == ["2", "8"] and "fixed pool" in cells[5] for cells in rows.values())
    csv = {(record["section"], record["proxy"]): record for record in results_frame(result).to_dict("records")}

    # independent: the fixed pool as the report describes it (a random sample of 12 with seed 0, in index order),
    # its scores from nas.score in another store
    table, space = open_table("nb201", data_dir), create_space("nb201")
    archs = [table.arch_at(i) for i in sorted(random.Random(0).sample(range(15625), 12))]
    frame = nas.score(archs, proxies="epsilon,params", executor="serial", cache_dir=tmp_path / "independent")
    assert list(frame["arch"]) == archs and "a random sample of 12 of 15625 architectures (seed 0)" in report
    assert frame["canonical_id"].nunique() == 12  # so every pool of 12 is the whole fixed pool, in its drawing order
    for proxy in ("epsilon", "params"):
        score = dict(zip(archs, frame[proxy]))
        finals = []
        for r in range(2):
            rng = random.Random(round_seed(0, r))
            pool: list[str] = []
            while len(pool) < 12:
                arch = archs[rng.randrange(12)]
                if arch not in pool:
                    pool.append(arch)
            ranked = sorted(pool, key=lambda a: (np.isnan(score[a]), -np.nan_to_num(score[a], nan=0.0)))  # stable
            trained = ranked[:2] + [space.format(space.sample(rng)) for _ in range(6)]
            valid = [table.lookup(arch, "cifar10", "valid_acc") for arch in trained]
            choice = trained[int(np.nanargmax(valid))]  # the first of the best
            finals.append(table.lookup(choice, "cifar10", "test_acc"))
        record = csv[("CIFAR-10, random + warm-up", proxy)]
        assert record["final_mean"] == pytest.approx(np.mean(finals))
        assert record["final_std"] == pytest.approx(np.std(finals, ddof=1))
    assert rows["epsilon"][3] == f"{csv[('CIFAR-10, evolution + warm-up', 'epsilon')]['final_mean']:.2f} ± " \
        f"{csv[('CIFAR-10, evolution + warm-up', 'epsilon')]['final_std']:.2f}"
    assert (out / "fig5.png").read_bytes()[:4] == b"\x89PNG" and (out / "fig5.csv").is_file()
    assert [len(panel.curves) for panel in result.figures[0].panels] == [2, 2]

    [rerun] = _run_and_report(config, tmp_path / "again")
    assert rerun.new_scores == 0
