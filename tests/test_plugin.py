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


# --- a broken plugin does not break the built-ins --------------------------------------------


def _broken_entry_points(monkeypatch: pytest.MonkeyPatch, *value: tuple[str, str]) -> None:
    """Make ``nas.proxies`` entry points ``name = value`` (and nothing else) appear installed, on a fresh PROXIES."""
    from importlib.metadata import EntryPoint

    import nas.registry

    PROXIES.names()  # the built-ins are registered (their modules are imported once per process)
    eps = [EntryPoint(name=name, value=target, group="nas.proxies") for name, target in value]
    monkeypatch.setattr(nas.registry, "entry_points", lambda group: eps if group == "nas.proxies" else [])
    monkeypatch.setattr(nas.registry, "_WARNED", set())
    monkeypatch.setattr(PROXIES, "_entries", dict(PROXIES._entries))
    monkeypatch.setattr(PROXIES, "_broken", {})
    monkeypatch.setattr(PROXIES, "_loaded", False)


@pytest.mark.parametrize("target, error", [
    ("nas_no_such_plugin_module:Proxy", "ModuleNotFoundError: No module named 'nas_no_such_plugin_module'"),
    ("nas.errors:NoSuchProxy", "AttributeError"),
    ("nas_plugin_raising:Proxy", "RuntimeError: the plugin's import failed on purpose"),
])
def test_a_broken_plugin_is_a_warning_and_only_its_own_name_is_an_error(
    target: str, error: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from nas.errors import NasError
    from nas.proxies import create_proxy

    (tmp_path / "nas_plugin_raising.py").write_text("raise RuntimeError(\"the plugin's import failed on purpose\\nsecond line\")\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _broken_entry_points(monkeypatch, ("broken", target))

    names = PROXIES.names()
    assert {"epsilon", "synflow", "snip", "params"} <= set(names) and "broken" not in names
    assert create_proxy("synflow").name == "synflow"
    assert "broken" not in PROXIES
    with pytest.raises(NasError, match=r"proxy plugin 'broken' \(" + target.replace(".", r"\.") + r"\) failed to load: ") as caught:
        create_proxy("broken")
    assert error in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(NasError, match="plugins that failed to load: broken"):
        create_proxy("no_such_proxy")

    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one line, once, however often the registry is asked
    assert lines[0].startswith("nas: warning: proxy plugin 'broken'") and target in lines[0] and error in lines[0]


def test_a_broken_plugin_is_reported_once_per_process_and_other_plugins_still_load(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from nas.proxies.base import Proxy

    _broken_entry_points(
        monkeypatch, ("broken", "nas_no_such_plugin_module:Proxy"), ("working", "nas.proxies.base:Proxy")
    )
    assert PROXIES.get("working") is Proxy  # a good plugin after the broken one is registered
    monkeypatch.setattr(PROXIES, "_loaded", False)  # a second load in the same process (another registry, a reload)
    monkeypatch.setattr(PROXIES, "_broken", {})
    PROXIES.names()
    assert "working" in PROXIES
    err = capsys.readouterr().err
    assert err.count("nas: warning:") == 1 and "'broken' (nas_no_such_plugin_module:Proxy)" in err, err
    assert "working" not in err


def test_nas_score_with_a_builtin_works_when_an_installed_plugin_is_broken(tmp_path: Path):
    site = tmp_path / "site"
    info = site / "nas_broken_plugin-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nas-broken-plugin\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[nas.proxies]\nbroken_proxy = nas_broken_plugin_gone:BrokenProxy\n")

    done = _nas_score(site, "--proxy", "synflow", "--arch", ARCH, "--dataset", "cifar10", "--data", "normal",
                      "--batch-size", "4", "--no-progress", "--executor", "serial")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("arch,canonical_id,synflow,")
    warnings = [line for line in done.stderr.splitlines() if line.startswith("nas: warning:")]
    assert len(warnings) == 1 and "broken_proxy" in warnings[0] and "nas_broken_plugin_gone" in warnings[0]

    done = _nas_score(site, "--proxy", "broken_proxy", "--arch", ARCH, "--dataset", "cifar10", "--data", "normal")
    assert done.returncode == 2
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("nas: error: proxy plugin 'broken_proxy' (nas_broken_plugin_gone:BrokenProxy) failed to load")
    assert "No module named 'nas_broken_plugin_gone'" in error
