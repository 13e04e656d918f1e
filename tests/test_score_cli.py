"""``nas score`` end to end: one architecture, a sample into CSV, the store, the export, bad input."""

from __future__ import annotations

import csv

import pytest

from nas.benchmarks import open_table
from nas.cli import main
from nas.datasets import dataset_spec
from nas.spaces import create_space

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SMALL = "|nor_conv_1x1~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|nor_conv_1x1~2|"
FAST = ["--dataset", "cifar10", "--data", "normal", "--batch-size", "4", "--no-progress"]


def _read(path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_one_architecture_is_scored_then_answered_from_the_store(capsys):
    space = create_space("nb201")
    assert main(["score", "--proxy", "params,flops", "--arch", BEST, *FAST]) == 0
    out, err = capsys.readouterr()
    rows = list(csv.DictReader(out.splitlines()))
    assert len(rows) == 1 and rows[0]["arch"] == BEST
    assert rows[0]["canonical_id"] == space.canonical_id(space.parse(BEST))
    assert float(rows[0]["params"]) == space.count_parameters(space.parse(BEST), dataset_spec("cifar10"))
    assert float(rows[0]["flops"]) > 0 and rows[0]["params_reason"] == rows[0]["flops_reason"] == ""
    assert "params: 1 architectures (1 distinct), 0 NaN" in err and "0 from the store, 1 computed" in err

    assert main(["score", "--proxy", "params", "--arch", BEST, *FAST]) == 0
    out, err = capsys.readouterr()
    assert list(csv.DictReader(out.splitlines()))[0]["params"] == rows[0]["params"]
    assert "1 from the store, 0 computed" in err


def test_a_sample_goes_to_csv_and_the_store_exports(tmp_path, capsys):
    out_file, export_file = tmp_path / "scores.csv", tmp_path / "store.csv"
    assert main(["score", "--proxy", "params", "--sample", "5", "--seed", "3", *FAST, "--out", str(out_file)]) == 0
    rows = _read(out_file)
    table = open_table("nb201")
    metrics = list(table.metrics("cifar10"))
    assert list(rows[0]) == ["arch", "canonical_id", "params", "params_reason", *metrics]
    for row in rows:  # the trained metrics of the benchmark table, beside the scores
        for metric in metrics:
            assert float(row[metric]) == pytest.approx(table.lookup(row["arch"], "cifar10", metric), nan_ok=True)
    space = create_space("nb201")
    archs = [space.parse(row["arch"]) for row in rows]
    assert len({row["arch"] for row in rows}) == 5
    assert [row["canonical_id"] for row in rows] == [space.canonical_id(a) for a in archs]
    assert [float(row["params"]) for row in rows] == [space.count_parameters(a, dataset_spec("cifar10")) for a in archs]

    assert main(["score", "--export", str(export_file), "--proxy", "params"]) == 0
    stored = _read(export_file)
    assert {row["arch"] for row in stored} == {row["arch"] for row in rows}  # params is keyed exactly
    assert {row["arch_key"] for row in stored} == {"exact:" + row["arch"] for row in rows}
    assert {row["batch"].split(":")[:3] == ["cifar10", "normal", "n4"] for row in stored} == {True}
    assert main(["score", "--export", str(export_file), "--space", "nb101"]) == 0
    assert _read(export_file) == []
    assert "0 stored scores written" in capsys.readouterr().err


def test_precision_and_set_reach_the_proxy_and_the_store_key(tmp_path, capsys):
    export_file = tmp_path / "store.csv"
    assert main(["score", "--proxy", "synflow", "--arch", SMALL, *FAST, "--precision", "float32"]) == 0
    assert main(["score", "--proxy", "synflow", "--arch", SMALL, *FAST, "--set", "synflow.precision=float64"]) == 0
    capsys.readouterr()
    assert main(["score", "--export", str(export_file)]) == 0
    stored = _read(export_file)
    assert sorted(row["precision"] for row in stored) == ["float32", "float64"]
    values = {row["precision"]: float(row["value"]) for row in stored}
    assert values["float32"] != values["float64"]  # computed twice, in two precisions
    # synflow sums non-negative terms (|w| network, all-ones input): no cancellation, so float32
    # stays within ~1e-6 relative of float64 (measured 7e-8); rel 1e-5 still catches a wrong formula
    assert values["float32"] == pytest.approx(values["float64"], rel=1e-5)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--proxy", "no_such_proxy", "--arch", BEST], "unknown proxy 'no_such_proxy'"),
        (["--space", "no_such_space", "--proxy", "params", "--arch", BEST], "unknown space 'no_such_space'"),
        (["--proxy", "params", "--arch", "|nor_conv_3x3~0|"], "NB201 architecture"),
        (["--proxy", "params", "--arch", BEST, "--dataset", "mnist"], "unknown dataset 'mnist'"),
        (["--proxy", "params", "--arch", BEST, "--set", "params.bogus=1"], "has no setting 'bogus'"),
        (["--proxy", "params", "--arch", BEST, "--set", "params"], "--set expects proxy.key=value"),
        (["--proxy", "params", "--arch", BEST, "--set", "snip.mode=x"], "not among the proxies named"),
        (["--proxy", "params", "--arch", BEST, "--precision", "float64"], "has a precision setting"),
        (["--proxy", "params", "--sample", "0"], "sample must be from 1 to 15625"),
        (["--proxy", "params"], "one of --arch, --sample, --all"),
        (["--proxy", "params", "--arch", BEST, "--executor", "local", "--workers", "0"], "at least 1"),
        (["--proxy", "params", "--arch", BEST, "--executor", "threads"], "invalid choice: 'threads'"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(arguments, message, capsys):
    if "--dataset" not in arguments:
        arguments = [*arguments, "--dataset", "cifar10"]
    try:
        status = main(["score", *arguments, "--data", "normal", "--batch-size", "4"])
    except SystemExit as exit:  # argparse's own usage errors
        status = exit.code
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("nas: error: ") and message in err


def _store_file():
    from nas.store import store_path

    return store_path()


@pytest.mark.parametrize("seed", [str(2**63), str(2**64 + 5), "-1"])
def test_a_seed_the_store_cannot_key_is_one_line_before_scoring(seed, capsys):
    assert main(["score", "--proxy", "params", "--sample", "3", *FAST, "--seed", seed]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("nas: error: seed must be an integer from 0 to 2**63 - 1")
    assert "OverflowError" not in err


def test_the_largest_seed_is_scored_and_stored(capsys):
    from nas.store import ScoreStore

    assert main(["score", "--proxy", "params", "--arch", SMALL, *FAST, "--seed", str(2**63 - 1)]) == 0
    assert "0 from the store, 1 computed" in capsys.readouterr().err
    with ScoreStore.open() as store:
        assert [row[7] for row in store.rows()] == [2**63 - 1]


def test_out_is_checked_before_scoring_and_replaced_only_with_force(tmp_path, capsys):
    out_file = tmp_path / "scores.csv"
    out_file.write_text("precious\n")
    command = ["score", "--proxy", "params", "--arch", SMALL, *FAST, "--out", str(out_file)]
    assert main(command) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "exists: pass --force to overwrite it" in err and str(out_file) in err
    assert out_file.read_text() == "precious\n" and not _store_file().exists()  # nothing was scored

    assert main([*command, "--force"]) == 0
    assert _read(out_file)[0]["arch"] == SMALL


@pytest.mark.parametrize(
    "where, message",
    [
        (lambda tmp: tmp / "missing" / "scores.csv", "does not exist"),
        (lambda tmp: tmp / "file.txt" / "scores.csv", "does not exist"),
        (lambda tmp: tmp, "is a directory"),
    ],
)
def test_an_out_that_cannot_be_written_is_one_line_before_scoring(where, message, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("x")
    out = where(tmp_path)
    assert main(["score", "--proxy", "params", "--arch", SMALL, *FAST, "--out", str(out)]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("nas: error: ") and message in err and str(out) in err
    assert not _store_file().exists()


def test_out_on_a_read_only_file_system_is_one_line_before_scoring(tmp_path, capsys, monkeypatch):
    import errno
    import os
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)  # what a read-only mount answers (root ignores chmod)
    out = tmp_path / "scores.csv"
    assert main(["score", "--proxy", "params", "--arch", SMALL, *FAST, "--out", str(out)]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "Read-only file system" in err and str(out) in err
    assert not out.exists() and not _store_file().exists()


@pytest.mark.parametrize(
    "where, message",
    [
        (lambda tmp: tmp / "file.txt", "is not a directory"),
        (lambda tmp: tmp / "file.txt" / "report", "is not a directory"),
    ],
)
def test_compare_checks_its_report_directory_before_scoring(where, message, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("x")
    report = where(tmp_path)
    arguments = ["compare", "--proxies", "params", "--sample", "5", "--dataset", "cifar10", "--data", "normal"]
    assert main([*arguments, "--batch-size", "4", "--no-progress", "--report", str(report)]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("nas: error: ") and message in err and str(report) in err
    assert not _store_file().exists()
    assert (tmp_path / "file.txt").read_text() == "x"
