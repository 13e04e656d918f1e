"""``nas calibrate`` says what it calibrated, on what, what it chose, how that ranks, and how to use it."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from nas.calibration import Calibration, calibrate
from nas.cli import main
from nas.proxies.epsilon import DEFAULT_WEIGHTS, parse_weights

SETTINGS = dict(sample=6, seed=0, batch_size=8, low=-8, high=0)


@pytest.fixture(scope="module")
def result() -> Calibration:
    """A small NB201 CIFAR-10 calibration on real data (grid 1e-8 .. 1, which holds the default 1e-7:1)."""
    return calibrate("nb201", "cifar10", **SETTINGS)


def test_the_result_carries_the_default_pair_and_both_correlations(result: Calibration) -> None:
    assert result.grid == tuple(10.0**k for k in range(-8, 1)) and len(result.pairs) == 9 * 8 // 2
    assert result.selection == "drawn from the space (seed 0)"
    assert result.default is not None
    assert (result.default.w1, result.default.w2) == pytest.approx(DEFAULT_WEIGHTS["nb201"], rel=1e-9)
    assert result.metric == "test_acc" and result.metric_higher_is_better and not result.no_correlation
    assert result.chosen is not None
    pairs = [corr.weights for corr in result.correlations]
    assert pairs[0] == (result.chosen.w1, result.chosen.w2)
    for corr, pair in zip(result.correlations, (result.chosen, result.default)):
        # every NB201 architecture has a test accuracy; a pair scores those that are neither NaN at
        # that pair nor dead (constant output at every weight: excluded from the NaN share)
        assert corr.with_metric == result.sample
        assert corr.scored == result.sample - result.excluded - pair.nan_count
        for rho in (corr.rho, corr.rho_nan_last):
            assert math.isnan(rho) or -1.0 <= rho <= 1.0


def test_the_command_prints_what_it_calibrated_the_choice_the_correlations_and_the_usage(
    result: Calibration, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import nas.calibration

    monkeypatch.setattr(nas.calibration, "calibrate", lambda *args, **kwargs: result)  # computed once, above
    argv = ["calibrate", "--sample", "6", "--batch-size", "8", "--low", "-8", "--high", "0"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("nb201 on cifar10: 6 architectures (seed 0), ")
    assert lines[1].startswith("calibrated: the epsilon proxy's two weights w1 < w2, every pair of the 9 weights "
                               "1e-08 .. 1e+00 (36 pairs), on a batch of 8 real inputs; sample drawn from the space")
    assert sum("<- chosen" in line for line in lines) == 1
    assert sum("default" in line and line.lstrip().startswith("1e-07    1e+00") for line in lines) == 1

    chosen = re.search(r"^chosen: weights=(\S+) \(", out, re.M)
    assert chosen, out
    weights = chosen.group(1)
    assert parse_weights(weights) == pytest.approx((result.chosen.w1, result.chosen.w2))
    assert "the default for nb201 (the paper's) is 1e-07:1 with " in out

    assert "Spearman rho of epsilon with test_acc of the nb201 table (cifar10) on the 6 sampled architectures" in out
    assert re.search(rf"^  {re.escape(weights)} \(chosen\) +\d/6 +(-?\d\.\d{{3}}|n/a) +(-?\d\.\d{{3}}|n/a)$", out, re.M), out
    if (result.chosen.w1, result.chosen.w2) != (result.default.w1, result.default.w2):
        assert re.search(r"^  1e-07:1 \(default\) +\d/6 ", out, re.M), out

    assert f"  nas score --space nb201 --dataset cifar10 --proxy epsilon --set epsilon.weights={weights} --sample N" in lines
    assert f"  nas compare --space nb201 --dataset cifar10 --proxies epsilon --set epsilon.weights={weights} --sample N" in lines
    w1, w2 = weights.split(":")
    assert f"  search config (YAML):  proxy: {{name: epsilon, settings: {{weights: [{w1}, {w2}]}}}}" in lines


def test_without_a_readable_table_the_calibration_says_why_there_is_no_correlation(tmp_path: Path) -> None:
    result = calibrate("nb201", "cifar10", sample=2, batch_size=4, data="normal", low=-1, high=0, data_dir=tmp_path)
    assert result.correlations == () and result.metric is None
    assert result.no_correlation.startswith("the nb201 table cannot be read (missing data file ")


def test_a_dataset_the_space_does_not_build_for_is_an_error() -> None:
    from nas.errors import NasError

    with pytest.raises(NasError, match="space 'nb101' has no dataset 'cifar100'"):
        calibrate("nb101", "cifar100", sample=1)
