"""A third-party proxy reaches ``nas`` through the ``nas.proxies`` entry point alone.

``tests/plugin_example`` is a separate, installable package with a ``weight_l1`` proxy. It is
installed with pip into a throw-away directory (no dependencies: ``nas`` and torch come from the
running environment) and ``nas score`` runs in a subprocess with that directory on
``PYTHONPATH``, where :mod:`importlib.metadata` finds its ``dist-info`` and entry point.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nas.datasets import dataset_spec
from nas.proxies import PROXIES
from nas.initialisation import initialise_by_position
from nas.spaces import create_space

PLUGIN = Path(__file__).resolve().parent / "plugin_example"
ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the installed example plugin (built from a copy: the source stays clean)."""
    work = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(PLUGIN, work / "source")
    target = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(source)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert any(target.glob("nas_plugin_example-*.dist-info/entry_points.txt"))
    return target


def _nas_score(plugin_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(plugin_path), OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "nas", "score", *arguments], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_plugin_proxy_scores_from_the_cli(plugin_path: Path, tmp_path: Path):
    out = tmp_path / "scores.csv"
    arguments = ["--proxy", "weight_l1", "--arch", ARCH, "--dataset", "cifar10", "--data", "normal"]
    arguments += ["--batch-size", "4", "--seed", "5", "--out", str(out)]
    done = _nas_score(plugin_path, *arguments)
    assert done.returncode == 0, done.stderr
    with open(out, newline="") as handle:
        (row,) = list(csv.DictReader(handle))

    space = create_space("nb201")
    model = initialise_by_position(space.build(space.parse(ARCH), dataset_spec("cifar10")), 5)  # as the scorer does
    expected = sum(p.detach().double().abs().sum().item() for p in model.parameters())
    # both sum |w| in float64 but in another order (and another process): a reordered sum of
    # n ~ 1e5-1e6 non-negative float64 terms moves by at most n * 2**-53 ~ 1e-10 relative
    assert float(row["weight_l1"]) == pytest.approx(expected, rel=1e-9)
    assert row["weight_l1_reason"] == ""


def test_without_the_plugin_the_proxy_is_unknown():
    assert importlib.util.find_spec("nas_plugin_example") is None
    assert "weight_l1" not in PROXIES
