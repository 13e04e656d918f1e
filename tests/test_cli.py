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
    infos = []
    for arch in (a, b):
        assert main(["info", "--arch", arch, "--json"]) == 0
        infos.append(json.loads(capsys.readouterr().out))
    assert infos[0]["canonical_id"] == infos[1]["canonical_id"]
    # their dead edge 2<-1 is set to none in the live id, so live-invariant proxies share a score too
    assert infos[0]["live_id"] == infos[1]["live_id"] == "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    assert infos[0]["parameters"] != infos[1]["parameters"]  # but they are different networks


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


def _subcommands(parser, prefix: str = "nas"):
    """``(name, parser)`` of every sub-command, nested ones (``nas cache info``) included."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from _subcommands(sub, f"{prefix} {name}")


def test_every_subcommand_has_a_description_and_every_option_a_help(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from nas.cli import build_parser

    commands = dict(_subcommands(build_parser()))
    assert {"nas list", "nas info", "nas perf", "nas calibrate", "nas cache", "nas cache info"} <= set(commands)
    for name, parser in commands.items():
        assert parser.description and len(parser.description.split()) >= 5, f"{name} has no description"
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            label = "/".join(action.option_strings) or action.dest
            assert action.help and action.help != argparse.SUPPRESS, f"{name} {label} has no help"
        with pytest.raises(SystemExit) as done:
            main([*name.split()[1:], "--help"])
        assert done.value.code == 0
        out = capsys.readouterr().out
        assert " ".join(parser.description.split()[:4]) in " ".join(out.split()), name


def test_ray_is_mentioned_only_by_the_commands_that_support_it() -> None:
    from nas.cli import build_parser

    commands = dict(_subcommands(build_parser()))

    def options(command: str) -> set[str]:
        return {option for a in commands[command]._actions for option in a.option_strings}

    def workers_help(command: str) -> str:
        return next(a.help for a in commands[command]._actions if "--workers" in a.option_strings)

    # score, compare and search (scoring and the training oracle) run on Ray; the others do not offer it
    for command in ("nas score", "nas compare", "nas search"):
        assert "Ray" in workers_help(command) and "--ray-address" in options(command)
    for command, parser in commands.items():
        if "--ray-address" not in options(command):
            assert all("Ray" not in (a.help or "") for a in parser._actions), command


def test_perf_and_calibrate_default_to_nb201_and_its_first_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["perf", "--proxies", "params", "--sample", "1", "--batch-size", "2", "--data", "normal"]) == 0
    assert capsys.readouterr().out.startswith("nb201 on cifar10: 1 architectures")
    assert main(["calibrate", "--sample", "1", "--batch-size", "2", "--data", "normal", "--low", "-1", "--high", "0"]) in (0, 1)
    assert capsys.readouterr().out.startswith("nb201 on cifar10: 1 architectures")
    assert main(["perf", "--space", "nb101", "--proxies", "params", "--sample", "1", "--batch-size", "2",
                 "--data", "normal"]) == 0
    assert capsys.readouterr().out.startswith("nb101 on cifar10: 1 architectures")


def test_perf_refuses_a_dataset_the_space_does_not_build_for(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["perf", "--space", "nb101", "--dataset", "cifar100", "--proxies", "params", "--sample", "1"]) == 2
    assert "space 'nb101' has no dataset 'cifar100'" in capsys.readouterr().err
