"""The Python API (``nas.score``, ``nas.compare``, ``nas.search``, the catalogue) against the CLI on the same inputs."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import nas
from nas.benchmarks import open_table
from nas.cli import main
from nas.datasets import dataset_spec
from nas.errors import NasError

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
#: real CIFAR-10 images, small batches: what the CLI and the API are both given
REAL = {"dataset": "cifar10", "batch_size": 16}
REAL_FLAGS = ["--dataset", "cifar10", "--batch-size", "16", "--no-progress"]


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_import_is_cheap_and_everything_public_resolves() -> None:
    code = "import sys, nas; assert 'torch' not in sys.modules and 'pandas' not in sys.modules; print(nas.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == metadata.version("nas-zero-cost") == nas.__version__
    for name in nas.__all__:
        assert getattr(nas, name) is not None, name
    assert callable(nas.search) and set(nas.list_strategies()) >= {"random", "evolution"}


def test_the_catalogue_answers_like_the_registries(data_dir: Path) -> None:
    assert {"nb201", "nb101", "nlp"} <= set(nas.list_spaces())
    assert {"epsilon", "synflow", "meco"} <= set(nas.list_proxies())
    assert nas.list_datasets("nb201") == ["cifar10", "cifar100", "imagenet16-120"]
    space = nas.space("nb201")
    model = nas.build("nb201", BEST, "cifar10")
    assert sum(p.numel() for p in model.parameters()) == space.count_parameters(space.parse(BEST), dataset_spec("cifar10"))
    assert nas.proxy("epsilon", precision="float64").settings["precision"] == "float64"
    with pytest.raises(NasError, match="has no setting 'nope'"):
        nas.proxy("epsilon", nope=1)
    table = nas.table("nb201", "cifar100", data_dir=data_dir)
    raw = open_table("nb201", data_dir)
    assert len(table) == 15625 and list(table.columns) == list(raw.metrics("cifar100"))
    assert table.loc[BEST, "test_acc"] == raw.lookup(BEST, "cifar100", "test_acc")
    assert table["test_acc"].max() == max(raw.lookup(a, "cifar100", "test_acc") for a in raw)


def test_score_returns_the_cli_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    frame = nas.score(sample=6, seed=2, proxies=["epsilon", "synflow", "params"], **REAL)
    assert main(["score", "--sample", "6", "--seed", "2", "--proxy", "epsilon,synflow,params", *REAL_FLAGS]) == 0
    out, err = capsys.readouterr()
    rows = _csv_rows(out)
    assert list(rows[0]) == list(frame.columns)
    assert [row["arch"] for row in rows] == list(frame["arch"])
    for name in ("epsilon", "synflow", "params", "test_acc", "valid_acc"):
        assert [float(row[name]) for row in rows] == pytest.approx(list(frame[name]), nan_ok=True, rel=0, abs=0)
    # every NaN carries its reason, every score none
    for name in ("epsilon", "synflow"):
        assert all(bool(isinstance(r, str) and r) == math.isnan(v) for v, r in zip(frame[name], frame[f"{name}_reason"]))
    assert "6 from the store, 0 computed" in err  # the CLI answered from what the API stored
    stats = frame.attrs["stats"]
    assert stats["epsilon"]["computed"] == 6 and stats["epsilon"]["batch_size"] == 16
    # the same table as JSON
    assert main(["score", "--sample", "6", "--seed", "2", "--proxy", "epsilon,synflow,params", *REAL_FLAGS,
                 "--format", "json", "--out", str(tmp_path / "s.json")]) == 0
    records = json.loads((tmp_path / "s.json").read_text())
    assert [r["arch"] for r in records] == list(frame["arch"])
    assert [r["epsilon"] for r in records] == [None if math.isnan(v) else v for v in frame["epsilon"]]


def test_score_defaults_to_each_proxys_paper_batch_and_validates() -> None:
    frame = nas.score([BEST], proxies="params,naswot", dataset="cifar10", data="normal")
    assert frame.attrs["stats"]["naswot"]["batch_size"] == 128 and frame.attrs["stats"]["params"]["batch_size"] == 64
    assert frame.loc[0, "arch"] == BEST and np.isfinite(frame.loc[0, "naswot"])
    for kwargs, message in (
        ({"proxies": "params"}, "exactly one of archs, sample=N and all=True"),
        ({"proxies": "params", "sample": 3, "archs": [BEST]}, "exactly one of"),
        ({"proxies": "params,params", "sample": 3}, "named twice"),
        ({"proxies": "params", "sample": 3, "settings": {"snip": {"mode": "x"}}}, "not among the proxies"),
        ({"proxies": "params", "sample": 3, "batch_sizes": {"snip": 8}}, "not among the proxies scored"),
        ({"proxies": "params", "sample": 3, "dataset": "mnist"}, "unknown dataset"),
    ):
        with pytest.raises(NasError, match=message):
            nas.score(**kwargs)  # type: ignore[arg-type]


def test_compare_returns_what_the_cli_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 16 architectures (5 with a NaN epsilon, so the NaN-handling columns are compared too): at most
    # AUTO_SERIAL_LIMIT, so they are scored in this process without starting a worker pool; the
    # claim (the API's comparison is the CLI's) does not depend on the sample size or the executor
    arguments = dict(sample=16, seed=1, batch_size=16, bootstrap=100)
    comparison = nas.compare(["epsilon", "synflow", "vote"], **arguments)
    report = tmp_path / "cli"
    assert main(["compare", "--proxies", "epsilon,synflow,vote", "--sample", "16", "--seed", "1", "--batch-size", "16",
                 "--bootstrap", "100", "--report", str(report), "--no-progress"]) == 0
    capsys.readouterr()
    table = comparison.table
    assert list(table.index) == ["epsilon", "synflow", "vote", "params", "flops"]
    with open(report / "comparison.csv", newline="") as handle:
        cli = {row["proxy"]: row for row in csv.DictReader(handle)}
    for name in table.index:
        for column in ("coverage", "own_spearman", "own_spearman_low", "common_kendall", "nan_worst_spearman"):
            assert float(cli[name][column]) == pytest.approx(table.loc[name, column], nan_ok=True, rel=1e-12), (name, column)
    scores = pd.read_csv(report / "scores.csv", index_col="arch")
    assert list(scores.index) == list(comparison.scores.index)
    assert np.allclose(scores["epsilon"], comparison.scores["epsilon"], equal_nan=True, rtol=0, atol=0)
    # the Markdown report is the CLI's but for the date and the command's --report
    cli_markdown = (report / "comparison.md").read_text()
    strip = lambda text: [line for line in text.splitlines() if not line.startswith(("- Date:", "- Command:"))]  # noqa: E731
    assert strip(comparison.to_markdown()) == strip(cli_markdown)
    assert comparison.command.startswith("nas compare --space nb201 --dataset cifar10 --proxies epsilon,synflow,vote")
    assert f"- Command: `{comparison.command} --report {report}`" in cli_markdown
    # differences: a minus b is minus (b minus a)
    differences = comparison.differences
    assert differences.loc[("epsilon", "synflow"), "spearman_difference"] == pytest.approx(
        -differences.loc[("synflow", "epsilon"), "spearman_difference"]
    )
    scatter, bars = comparison.plot("scatter", columns=["epsilon", "synflow"]), comparison.plot("bars")
    assert isinstance(scatter, Figure) and len([a for a in scatter.axes if a.get_label() != "<colorbar>"]) >= 2
    assert isinstance(bars, Figure) and len(bars.axes[0].patches) == 3 * len(table)
    written = comparison.save(tmp_path / "api", table_format="json")
    assert {p.name for p in written} >= {"comparison.md", "comparison.json", "scores.json", "differences.json"}
    records = json.loads((tmp_path / "api" / "comparison.json").read_text())
    assert [r["proxy"] for r in records] == list(table.index)
    with pytest.raises(NasError, match="plot kind"):
        comparison.plot("pie")  # type: ignore[arg-type]
    with pytest.raises(NasError, match="exactly one of sample=N and all=True"):
        nas.compare("epsilon")


def _search_config(tmp_path: Path) -> dict[str, object]:
    return {
        "name": "api-test",
        "space": "nb201",
        "dataset": "cifar10",
        "metric": "valid_acc",
        "proxy": {"name": "epsilon", "batch": {"data": "real", "size": 16, "seed": 0}},
        "budget": 15,
        "rounds": 2,
        "seed": 3,
        "strategies": [
            {"name": "evolution", "strategy": "evolution", "settings": {"population": 5, "tournament": 2}},
            {"name": "warm-up", "strategy": "evolution",
             # a pool of 16 (at most AUTO_SERIAL_LIMIT) is scored in this process, without a worker pool
             "settings": {"population": 5, "tournament": 2, "warmup": True, "pool": 16}},
        ],
    }


def test_search_matches_the_cli_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    import yaml

    settings = _search_config(tmp_path)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(settings))
    result = nas.search(out=tmp_path / "api", **settings)
    assert main(["search", str(path), "--out", str(tmp_path / "cli"), "--no-progress"]) == 0
    out, _ = capsys.readouterr()
    assert out == result.to_markdown()
    for name in ("summary.csv", "trajectories.csv", "summary.md"):
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    history = result.history
    assert len(history) == 2 * 2 * 15 and list(history.columns) == [
        "strategy", "round", "step", "arch", "valid_acc", "best", "simulated_seconds"]
    table = open_table("nb201", data_dir)
    run = history[(history["strategy"] == "warm-up") & (history["round"] == 1)]
    assert list(run["step"]) == list(range(1, 16))
    assert list(run["best"]) == list(np.maximum.accumulate(run["valid_acc"]))
    times = [table.lookup(a, "cifar10", "train_seconds") for a in run["arch"]]
    assert list(run["simulated_seconds"]) == pytest.approx(list(np.cumsum(times)))
    best = result.best
    assert best is not None and best.value == history["valid_acc"].max()
    assert best.reported_metric == "test_acc" and best.reported_value == table.lookup(best.arch, "cifar10", "test_acc")
    summary = result.summary
    assert list(summary.index) == ["evolution", "warm-up"] and summary.loc["warm-up", "rounds"] == 2
    assert isinstance(result.plot(), Figure)
    # resuming runs nothing new and gives the same result; without resume the directory is refused
    again = nas.search(path, out=tmp_path / "api", resume=True, report=False)
    assert again.history.equals(history)
    with pytest.raises(NasError):
        nas.search(path, out=tmp_path / "api")
    with pytest.raises(NasError, match="not both"):
        nas.search(path, budget=3)
