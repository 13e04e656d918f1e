"""The ``nas list`` and ``nas info`` commands, and one-line errors for bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nas.cli import main

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def _table_row(data_dir: Path, arch: str) -> dict[str, str]:
    with open(data_dir / "nb201" / "nats_tss_test_acc_200ep.csv", newline="") as handle:
        return next(row for row in csv.DictReader(handle) if row["ArchitectureString"] == arch)


@pytest.mark.parametrize("kind, expected", [
    ("spaces", {"nb201", "nb101", "nlp"}),
    ("proxies", {"epsilon", "synflow", "snip", "grad_norm", "naswot"}),
    ("strategies", {"random", "evolution", "zero_cost"}),
    ("datasets", {"cifar10", "cifar100", "imagenet16-120"}),
])
def test_list(kind: str, expected: set[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", kind]) == 0
    names = {line.split()[0] for line in capsys.readouterr().out.splitlines()}
    assert expected <= names


def test_info_json_matches_the_official_counts_and_the_table(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--space", "nb201", "--arch", ARCH, "--dataset", "cifar10", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["arch"] == ARCH
    assert info["parameters"] == 1_288_506
    assert info["flops"] > 0
    row = _table_row(data_dir, ARCH)
    assert info["benchmark"]["test_acc"] == pytest.approx(float(row["CIFAR10TestAccuracy200Epochs"]))


def test_info_canonical_id_is_shared_by_isomorphic_cells(capsys: pytest.CaptureFixture[str]) -> None:
    # Edge 2<-1 feeds node 2, which reaches the output only through a `none` edge: both compute the same.
    a = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    b = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    ids = []
    for arch in (a, b):
        assert main(["info", "--arch", arch, "--json"]) == 0
        ids.append(json.loads(capsys.readouterr().out)["canonical_id"])
    assert ids[0] == ids[1]


@pytest.mark.parametrize("argv, fragment", [
    (["info", "--arch", "|nor_conv_3x3~0|+|bogus~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"], "bogus"),
    (["info", "--arch", "not an architecture"], "not an architecture"),
    (["info", "--space", "nb999", "--arch", ARCH], "unknown space 'nb999'"),
    (["info", "--arch", ARCH, "--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["info", "--arch", ARCH, "--data-dir", "/nonexistent/data"], "/nonexistent/data"),
])
def test_bad_input_is_one_line_and_exit_status_2(argv: list[str], fragment: str) -> None:
    result = subprocess.run([sys.executable, "-m", "nas", *argv], capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nas: error: ")
    assert fragment in lines[0]


def test_missing_data_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "nb201").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "nas", "info", "--arch", ARCH, "--data-dir", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "nats_tss_test_acc_200ep.csv" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_perf_measures_direct_and_collapsed_epsilon_and_checks_they_agree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["perf", "--space", "nb201", "--dataset", "cifar10", "--proxies", "epsilon,params",
                 "--sample", "3", "--batch-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "epsilon collapse=off" in out and "epsilon collapse=auto" in out and "params" in out
    assert "speed-up of the collapsed path" in out
    assert "NaN for NaN on 3/3 architectures" in out
