"""The command line starts without torch where it does not need it (issue 15, "First contact").

``nas --help``, ``nas list ...`` and ``nas <command> --help`` used to take 2-5 s because every
command module, the registries and the built-in proxy/space modules were imported up front, and
with them torch. Each case runs in a fresh interpreter and reports which heavy modules it loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nas.cli import _COMMANDS

#: runs ``main(argv)`` and reports, on the last line of stderr, whether torch was imported
_PROBE = """
import json, sys
from nas.cli import main
try:
    code = main(json.loads(sys.argv[1]))
except SystemExit as exc:
    code = exc.code
sys.stderr.write("\\nIMPORTED_TORCH=" + json.dumps("torch" in sys.modules) + "\\n")
raise SystemExit(code)
"""


def _probe(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[int, str, str, bool]:
    """``(exit status, stdout, stderr without the probe line, whether torch was imported)``."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argv)],
        capture_output=True, text=True, timeout=120, env=env, cwd=cwd,
    )
    *rest, last = done.stderr.rstrip("\n").split("\n")
    assert last.startswith("IMPORTED_TORCH="), done.stderr
    return done.returncode, done.stdout, "\n".join(rest).strip(), json.loads(last.split("=", 1)[1])


CASES = [
    ["--help"],
    ["--version"],
    ["list", "spaces"],
    ["list", "proxies"],
    ["list", "strategies"],
    ["list", "datasets"],
    *[[name, "--help"] for name in _COMMANDS],
    ["cache", "info", "--help"],
]


@pytest.mark.parametrize("argv", CASES, ids=lambda argv: " ".join(argv))
def test_help_and_list_do_not_import_torch(argv: list[str]) -> None:
    code, out, err, torch = _probe(argv)
    assert code == 0, err
    assert out.strip()
    assert not torch, f"nas {' '.join(argv)} imported torch; see python -X importtime -m nas {' '.join(argv)}"


def test_list_output_is_the_registries_own() -> None:
    """The static tables print what the classes would: one line per built-in, sorted by name."""
    code, out, err, _ = _probe(["list", "proxies"])
    assert code == 0, err
    lines = out.splitlines()
    names = [line.split()[0] for line in lines]
    assert names == sorted(names)
    assert {"epsilon", "synflow", "snip", "naswot", "params"} <= set(names)
    epsilon = next(line for line in lines if line.startswith("epsilon "))
    assert epsilon.endswith("[higher is better; needs data]")


def test_nas_help_lists_every_command_with_the_help_its_module_registers() -> None:
    """``_COMMANDS`` (shown by ``nas --help`` without importing the modules) matches the modules."""
    import argparse

    from nas.cli import build_parser

    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    registered = {choice.dest: choice.help for choice in subparsers._choices_actions}
    expected = {name: summary for name, (_, summary) in _COMMANDS.items()}
    assert registered == expected, "update _COMMANDS in nas/cli/__init__.py to the modules' help= texts"


def test_an_unknown_command_is_one_line_and_status_2() -> None:
    code, out, err, torch = _probe(["bogus"])
    assert code == 2 and not torch
    assert err.startswith("nas: error: argument COMMAND: invalid choice: 'bogus'") and len(err.splitlines()) == 1


def _plugin_site(tmp_path: Path) -> Path:
    """A site directory with a torch-free plugin proxy ``fake_l0`` and a broken plugin ``gone``."""
    site = tmp_path / "site"
    info = site / "nas_fake_plugins-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nas-fake-plugins\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "[nas.proxies]\nfake_l0 = nas_fake_plugin:FakeL0\ngone = nas_fake_plugin_gone:Gone\n"
    )
    (site / "nas_fake_plugin.py").write_text(
        "class FakeL0:\n"
        '    """Count of non-zero weights (a test plugin)."""\n'
        "    name = 'fake_l0'\n"
        "    summary = ''\n"
        "    higher_is_better = False\n"
        "    needs = frozenset()\n"
    )
    return site


def test_plugins_are_listed_and_a_broken_one_is_one_warning(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(_plugin_site(tmp_path)))
    code, out, err, _ = _probe(["list", "proxies"], env=env)
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert {"epsilon", "synflow", "fake_l0"} <= set(rows) and "gone" not in rows
    assert rows["fake_l0"].split(None, 1)[1] == "Count of non-zero weights (a test plugin). [lower is better; needs nothing]"
    warnings = err.splitlines()
    assert len(warnings) == 1, err
    assert warnings[0].startswith("nas: warning: proxy plugin 'gone' (nas_fake_plugin_gone:Gone) failed to load")
