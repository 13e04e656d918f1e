"""Experiments from YAML: validation, determinism, resumption, reports and the ``nas search`` command."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import dummy_space as dummy
from nas.cli import main
from nas.errors import NasError
from nas.experiment import load_config, parse_config, round_seed, run_experiment
from nas.reports.search import SearchReport, best_after, write_reports
from nas.search.evolution import AgeingEvolution

REPO = Path(__file__).resolve().parent.parent

DUMMY = {
    "name": "dummy-test",
    "space": "dummy",
    "dataset": "cifar10",
    "metric": "valid_acc",
    "proxy": {"name": "dummy-quality", "batch": {"data": "normal", "size": 2, "seed": 0}},
    "budget": 30,
    "rounds": 4,
    "seed": 7,
    "strategies": [
        {"name": "random", "strategy": "random"},
        {"name": "evolution", "strategy": "evolution", "settings": {"population": 8, "tournament": 3}},
        {
            "name": "evolution+warmup",
            "strategy": "evolution",
            "settings": {"population": 8, "tournament": 3, "warmup": True, "pool": 60, "move": "neighbour"},
        },
        {"name": "zero-cost", "strategy": "zero_cost", "settings": {"n": 40}},
    ],
}


def write(tmp_path: Path, data: Any, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def error_of(tmp_path: Path, data: Any) -> str:
    path = write(tmp_path, data)
    with pytest.raises(NasError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def changed(**changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(DUMMY))
    data.update(changes)
    return data


def test_a_valid_file_loads_with_defaults_filled_in(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, DUMMY))
    assert [s.label for s in config.strategies] == ["random", "evolution", "evolution+warmup", "zero-cost"]
    assert config.strategies[1].settings == {**AgeingEvolution.defaults, "population": 8, "tournament": 3}
    assert config.proxy is not None and config.proxy.batch.size == 2


@pytest.mark.parametrize(
    "data, expected",
    [
        (changed(budgett=3), "budgett: unknown key"),
        (changed(name="../elsewhere"), "name: use letters, digits"),
        (changed(budget="many"), "budget: expected int, got 'many'"),
        (changed(rounds=0), "rounds: must be at least 1"),
        (changed(space="dumy"), "space: unknown space 'dumy'"),
        (changed(metric="train_acc"), "metric: table 'dummy' has no metric 'train_acc'"),
        (changed(dataset="ptb"), "dataset: space 'dummy' has no dataset 'ptb'"),
        (changed(proxy={"name": "nope"}), "proxy.name: unknown proxy 'nope'"),
        (changed(proxy={"name": "dummy-quality", "settings": {"x": 1}}), "proxy.settings: unknown key 'x'"),
        (changed(proxy={"name": "dummy-quality", "batch": {"size": "big"}}), "proxy.batch.size: expected int"),
        (changed(proxy={"name": "dummy-quality", "batch": {"data": "fake"}}), "proxy.batch.data: expected one of"),
        (changed(proxy=None), "proxy: missing, but strategy 'evolution+warmup' uses proxy scores"),
        (changed(strategies=[]), "strategies: expected a non-empty list"),
        (changed(strategies=[{"name": "a", "strategy": "anneal"}]), "strategies[0].strategy: unknown strategy 'anneal'"),
        (changed(strategies=[{"name": "a", "strategy": "random"}] * 2), "strategies[1].name: duplicate strategy name"),
        (
            changed(strategies=[{"name": "a", "strategy": "random"}, {"name": "b", "strategy": "evolution", "settings": {"population": "abc"}}]),
            "strategies[1].settings.population: expected int, got 'abc'",
        ),
        (changed(strategies=[{"name": "a", "strategy": "random", "extra": 1}]), "strategies[0].extra: unknown key"),
        (["not", "a", "mapping"], "expected a mapping of experiment settings"),
    ],
)
def test_invalid_files_give_one_clear_message_naming_the_key(tmp_path: Path, data: Any, expected: str) -> None:
    assert expected in error_of(tmp_path, data)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    text = "name: x\nspace: dummy\nstrategies:\n  - {name: a, strategy: random\nbudget: 3\n"
    message = error_of(tmp_path, text)
    assert ":5: malformed YAML" in message


def test_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, "space: dummy\nbudget: 3\nbudget: 4\n")
    assert ":3: malformed YAML: duplicate key 'budget'" in message


def test_shipped_configs_are_valid(data_dir: Path) -> None:
    paths = sorted((REPO / "configs").glob("*.yaml"))
    assert {p.stem for p in paths} >= {"nb201-cifar10", "nb201-cifar100", "nb201-imagenet16-120", "nb201-zero-cost", "quickstart"}
    for path in paths:
        config = load_config(path, data_dir=data_dir)
        assert config.name == path.stem
        # the proxy is epsilon, or the one the file is named after (the searches with MeCo and with the ensemble)
        named = {"meco": "meco", "ensemble": "ensemble(epsilon_auto+meco)"}.get(path.stem.rpartition("-")[2], "epsilon")
        assert config.proxy is not None and config.proxy.name == named


def test_round_seeds_are_deterministic_and_distinct() -> None:
    seeds = [round_seed(0, r) for r in range(100)] + [round_seed(1, r) for r in range(100)]
    assert len(set(seeds)) == 200
    assert round_seed(0, 5) == round_seed(0, 5)


def run(tmp_path: Path, out: str, **kwargs: Any) -> Any:
    """Run the dummy experiment into ``tmp_path / out`` and write its reports."""
    result = run_experiment(parse_config(DUMMY, "dummy"), tmp_path / out, **kwargs)
    write_reports(result)
    return result


def test_running_writes_only_the_run_log_and_reports_are_written_from_the_result(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_experiment(parse_config(DUMMY, "dummy"), out, rounds=2)
    assert {p.name for p in out.iterdir()} == {"experiment.json", "runs.jsonl"}
    before = json.dumps({label: [r.to_json() for r in runs] for label, runs in result.runs.items()})
    report = write_reports(result)
    assert isinstance(report, SearchReport)
    assert set(report.files) == {"trajectories.json", "trajectories.csv", "summary.csv", "summary.md", "search.png"}
    for name, path in report.files.items():
        assert path == out / name and path.is_file() and path.stat().st_size > 0, name
    assert report.markdown == (out / "summary.md").read_text(encoding="utf-8")
    assert "| random | 2 | 30 |" in report.markdown
    assert json.dumps({label: [r.to_json() for r in runs] for label, runs in result.runs.items()}) == before


def test_the_experiment_package_imports_nothing_of_the_reports() -> None:
    # reports depend on results, never the reverse; the lazily imported run-time modules count too
    code = (
        "import sys, nas.experiment, nas.experiment.runner, nas.data, nas.scoring, nas.store\n"
        "bad = sorted(m for m in sys.modules if m == 'nas.reports' or m.startswith('nas.reports.'))\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_experiment_writes_reports_consistent_with_its_runs(tmp_path: Path) -> None:
    result = run(tmp_path, "out")
    out = tmp_path / "out"
    for name in ("trajectories.json", "trajectories.csv", "summary.md", "summary.csv", "search.png", "runs.jsonl"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert result.final_metric == "test_acc"
    table = dummy.DummyTable()
    for label, runs in result.runs.items():
        assert [r.round for r in runs] == [0, 1, 2, 3]
        for r in runs:
            assert len(r.best) == (1 if label == "zero-cost" else 30)
            assert r.seed == round_seed(7, r.round)
            # final choice: the best validation accuracy trained, reported with its test accuracy
            assert r.final_value == max(r.values)
            assert r.final_test == table.lookup(r.final_arch, "cifar10", "test_acc")
    with open(out / "summary.csv") as handle:
        rows = {row["strategy"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(result.runs)
    assert "best_after_50_mean" not in rows["random"]  # only marks within the budget of 30
    runs = result.runs["evolution"]
    mean10 = sum(best_after(r.best, 10) for r in runs) / len(runs)
    assert math.isclose(float(rows["evolution"]["best_after_10_mean"]), mean10)
    assert math.isclose(float(rows["zero-cost"]["best_after_10_mean"]), sum(r.best[0] for r in result.runs["zero-cost"]) / 4)
    with open(out / "trajectories.csv") as handle:
        assert sum(1 for _ in handle) == 1 + 4 * (30 * 3 + 1)
    assert "| evolution+warmup | 4 | 30 |" in (out / "summary.md").read_text()


def test_same_config_and_seed_give_identical_trajectories(tmp_path: Path) -> None:
    first, second = run(tmp_path, "a"), run(tmp_path, "b")
    assert first.runs == second.runs
    assert (tmp_path / "a" / "trajectories.json").read_text() == (tmp_path / "b" / "trajectories.json").read_text()


def test_resume_after_a_kill_finishes_with_the_uninterrupted_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    original = AgeingEvolution.run

    def dies_on_the_fifth_run(self: AgeingEvolution, context: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 5:  # round 2's first evolution run: rounds 0-1 complete, round 2 partly
            raise KeyboardInterrupt
        return original(self, context)

    monkeypatch.setattr(AgeingEvolution, "run", dies_on_the_fifth_run)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "killed")
    monkeypatch.setattr(AgeingEvolution, "run", original)
    logged = (tmp_path / "killed" / "runs.jsonl").read_text().splitlines()
    assert len(logged) == 9  # 4 strategies x 2 rounds + round 2's random run
    with open(tmp_path / "killed" / "runs.jsonl", "a") as handle:
        handle.write('{"label": "evolution", "round"')  # a line cut short by the kill
    with pytest.raises(NasError, match="not empty: pass --resume"):
        run(tmp_path, "killed")
    resumed = run(tmp_path, "killed", resume=True)
    whole = run(tmp_path, "whole")
    assert resumed.runs == whole.runs
    for name in ("trajectories.json", "summary.csv", "summary.md", "trajectories.csv"):
        assert (tmp_path / "killed" / name).read_text() == (tmp_path / "whole" / name).read_text()


def test_resume_refuses_a_different_configuration(tmp_path: Path) -> None:
    run(tmp_path, "out", rounds=1)
    other = changed(budget=31)
    with pytest.raises(NasError, match="different experiment configuration"):
        run_experiment(parse_config(other, "other"), tmp_path / "out", resume=True)
    more = run(tmp_path, "out", rounds=2, resume=True)  # more rounds of the same experiment is fine
    assert [r.round for r in more.runs["random"]] == [0, 1]


def test_lower_is_better_proxy_gives_the_same_search(tmp_path: Path) -> None:
    reversed_proxy = changed(proxy={"name": "dummy-cost", "batch": {"data": "normal", "size": 2}})
    a = run(tmp_path, "a", rounds=2)
    b = run_experiment(parse_config(reversed_proxy, "b"), tmp_path / "b", rounds=2)
    assert a.runs == b.runs


def test_cli_runs_a_search_and_prints_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path, changed(rounds=2))
    out = tmp_path / "cli"
    assert main(["search", str(config), "--out", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "| random | 2 | 30 |" in captured.out
    assert str(out / "search.png") in captured.err
    assert main(["search", str(config), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--resume" in err
    assert main(["search", str(config), "--out", str(out), "--resume", "--rounds", "3", "--no-progress"]) == 0
    assert "| random | 3 | 30 |" in capsys.readouterr().out


def test_cli_reports_a_bad_file_in_one_line_with_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, changed(strategies=[{"name": "e", "strategy": "evolution", "settings": {"population": "abc"}}]))
    assert main(["search", str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err == f"nas: error: {bad}: strategies[0].settings.population: expected int, got 'abc'\n"
    malformed = write(tmp_path, "budget: [1, 2\n", "bad.yaml")
    assert main(["search", str(malformed)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "malformed YAML" in err
    assert not (tmp_path / "x").exists()


def test_imagenet16_reports_name_the_stand_in_input(tmp_path: Path, data_dir: Path) -> None:
    config = write(tmp_path, {
        "name": "stand-in",
        "space": "nb201",
        "dataset": "imagenet16-120",
        "metric": "test_acc",
        "proxy": {"name": "params", "batch": {"data": "real", "size": 4, "seed": 0}},
        "budget": 5,
        "rounds": 1,
        "seed": 0,
        "strategies": [{"name": "warm", "strategy": "random", "settings": {"warmup": True, "pool": 10, "warmup_steps": 3}}],
    })
    assert not (data_dir / "ImageNet16").exists()
    result = run_experiment(load_config(config), tmp_path / "out")
    write_reports(result)
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "STAND-IN input: CIFAR-100 images resized to 16x16" in summary
    assert "stand-in:cifar100-16x16" in result.proxy_input
