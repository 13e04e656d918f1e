"""The package installs as one import package ``nas`` and imports from outside the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_installed_package_imports_from_outside_the_repository(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO)],
        check=True,
        capture_output=True,
    )
    # Only `nas` (and its metadata) lands at the top: nothing generic named search or proxies.
    top_level = {p.name for p in target.iterdir() if not p.name.endswith((".dist-info", ".egg-info"))}
    top_level.discard("bin")
    assert top_level == {"nas"}
    for sub in ("proxies", "search", "spaces", "benchmarks", "cli", "reports"):
        assert (target / "nas" / sub / "__init__.py").is_file(), sub

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    code = (
        "import nas, nas.proxies, nas.spaces, nas.benchmarks, nas.search, nas.cli;"
        "print(nas.__file__); print(nas.proxies.__file__); print(nas.search.__file__)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    result = subprocess.run([sys.executable, "-c", code], cwd=outside, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for line in result.stdout.split():
        assert Path(line).is_relative_to(target), line
