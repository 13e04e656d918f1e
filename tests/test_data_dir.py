"""Where the data directory comes from, and one-line errors naming every place tried (issue 15).

Order: ``--data-dir``, ``$NAS_DATA_DIR``, ``../shared/data`` next to the working directory,
``../shared/data`` next to the source checkout (so ``cd docs && nas info ...`` works).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import nas.paths
from nas.errors import NasError
from nas.paths import data_dir, data_file, repository

REPO = Path(__file__).resolve().parent.parent
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
HOW = "pass --data-dir DIR or set NAS_DATA_DIR"


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp/work`` as the working directory, ``tmp/repo`` as the checkout, no data anywhere, no $NAS_DATA_DIR."""
    (tmp_path / "work").mkdir()
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.delenv("NAS_DATA_DIR", raising=False)
    monkeypatch.setattr(nas.paths, "repository", lambda: tmp_path / "repo")
    return tmp_path


def _env_without_data_dir() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "NAS_DATA_DIR"}


def test_this_checkout_is_found() -> None:
    assert repository() == REPO


def test_nothing_found_is_one_line_naming_every_place_tried(layout: Path) -> None:
    # tmp/work/../shared/data and tmp/repo/../shared/data are the same directory: it is listed once
    with pytest.raises(NasError) as caught:
        data_dir()
    assert str(caught.value) == (
        "no data directory: tried --data-dir (not given), $NAS_DATA_DIR (not set), "
        f"../shared/data next to the working directory ({layout / 'shared' / 'data'}: missing); {HOW}"
    )


def test_both_defaults_are_listed_when_they_differ(layout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (layout / "elsewhere" / "repo").mkdir(parents=True)
    monkeypatch.setattr(nas.paths, "repository", lambda: layout / "elsewhere" / "repo")
    with pytest.raises(NasError) as caught:
        data_dir()
    assert str(caught.value) == (
        "no data directory: tried --data-dir (not given), $NAS_DATA_DIR (not set), "
        f"../shared/data next to the working directory ({layout / 'shared' / 'data'}: missing), "
        f"../shared/data next to the checkout {layout / 'elsewhere' / 'repo'} "
        f"({layout / 'elsewhere' / 'shared' / 'data'}: missing); {HOW}"
    )


def test_the_working_directory_default_comes_first(layout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (layout / "shared" / "data").mkdir(parents=True)
    (layout / "elsewhere" / "shared" / "data").mkdir(parents=True)
    monkeypatch.setattr(nas.paths, "repository", lambda: layout / "elsewhere" / "repo")
    assert data_dir() == (layout / "shared" / "data").resolve()


def test_the_checkout_default_is_used_from_any_working_directory(layout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (layout / "elsewhere" / "shared" / "data").mkdir(parents=True)
    monkeypatch.setattr(nas.paths, "repository", lambda: layout / "elsewhere" / "repo")
    assert data_dir() == (layout / "elsewhere" / "shared" / "data").resolve()


def test_explicit_and_environment_come_before_the_defaults(layout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (layout / "shared" / "data").mkdir(parents=True)
    (layout / "env").mkdir()
    (layout / "explicit").mkdir()
    monkeypatch.setenv("NAS_DATA_DIR", str(layout / "env"))
    assert data_dir(layout / "explicit") == (layout / "explicit").resolve()
    assert data_dir() == (layout / "env").resolve()


def test_a_missing_explicit_or_environment_directory_is_an_error_not_a_fallback(
    layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (layout / "shared" / "data").mkdir(parents=True)
    with pytest.raises(NasError, match=r"data directory '.*/nope' \(from --data-dir\) does not exist"):
        data_dir(layout / "nope")
    monkeypatch.setenv("NAS_DATA_DIR", str(layout / "nope"))
    with pytest.raises(NasError, match=r"data directory '.*/nope' \(from \$NAS_DATA_DIR\) does not exist; fix or unset"):
        data_dir()


def test_a_missing_file_names_the_file_the_directory_and_how_it_was_found(layout: Path) -> None:
    (layout / "shared" / "data").mkdir(parents=True)
    with pytest.raises(NasError) as caught:
        data_file("nb101/zc_nasbench101_500.json")
    message = str(caught.value)
    assert message.startswith(
        f"missing data file 'nb101/zc_nasbench101_500.json' in data directory '{(layout / 'shared' / 'data').resolve()}'; "
        "data directory from --data-dir (not given), $NAS_DATA_DIR (not set), ../shared/data next to the working directory"
    )
    assert message.endswith(f"{HOW} to use one that has it") and "\n" not in message


# --- the command line, in a fresh process without $NAS_DATA_DIR -----------------------------------


@pytest.mark.skipif(not (REPO.parent / "shared" / "data").is_dir(), reason="no ../shared/data next to this checkout")
def test_nas_info_works_from_another_directory(tmp_path: Path) -> None:
    """The issue's ``cd docs && nas info``: the checkout's ../shared/data is found from anywhere."""
    done = subprocess.run(
        [sys.executable, "-m", "nas", "info", "--arch", ARCH, "--json"],
        cwd=tmp_path, env=_env_without_data_dir(), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert '"test_acc": 94.36' in done.stdout


def test_nas_without_any_data_directory_fails_with_one_line(tmp_path: Path) -> None:
    """As if installed without a checkout next to ../shared/data: the error lists what was tried."""
    work = tmp_path / "work"
    work.mkdir()
    script = (
        "import sys, nas.paths; nas.paths.repository = lambda: None\n"
        "from nas.cli import main\n"
        f"raise SystemExit(main(['info', '--arch', {ARCH!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=work, env=_env_without_data_dir(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "nas: error: no data directory: tried --data-dir (not given), $NAS_DATA_DIR (not set), "
        f"../shared/data next to the working directory ({tmp_path / 'shared' / 'data'}: missing); {HOW}"
    )
