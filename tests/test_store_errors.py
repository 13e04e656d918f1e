"""A score store that cannot be used is one line naming the file and what to do; failed writes keep the stored rows.

Covered: a file that is not SQLite, an SQLite database of another program or table layout, a
read-only store, a full disk. Read-only is simulated portably by opening the store with SQLite's
``mode=ro`` URI (so every write really fails inside SQLite with "attempt to write a readonly
database"; chmod does not stop root) and for real with a read-only bind mount; a full disk
portably with ``PRAGMA max_page_count`` (SQLite then fails writes with SQLITE_FULL, "database or
disk is full") and for real with a small tmpfs. The mount tests need root and ``unshare`` and are
skipped without them.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nas.store
from nas.cli import main
from nas.errors import NasError
from nas.proxies.base import ProxyResult
from nas.store import STORE_FILE, ScoreKey, ScoreStore

FAST = ["--proxy", "params", "--dataset", "cifar10", "--data", "normal", "--batch-size", "4", "--no-progress"]
FAST += ["--executor", "serial"]


def _key(i: int) -> ScoreKey:
    return ScoreKey("nb201", f"exact:arch-{i}", "synflow", "2", "{}", "cifar10:normal:n4:abc", "float32", 0)


def _one_line(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("nas: error: "), err
    for needle in needles:
        assert needle in err, err
    return err


def _snapshot(path: Path) -> dict[str, object]:
    """Every row of the store at ``path`` (opened read-only), and its integrity check."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as raw:
        rows = raw.execute("SELECT * FROM scores ORDER BY arch_key").fetchall()
        check = raw.execute("PRAGMA integrity_check").fetchall()
    return {"rows": rows, "integrity": check}


def _fill(cache: Path, sample: int = 5) -> Path:
    """A store in ``cache`` with the params scores of a 5-architecture sample."""
    assert main(["score", *FAST, "--sample", str(sample), "--cache-dir", str(cache)]) == 0
    return cache / STORE_FILE


@pytest.mark.parametrize("content", [b"this is a text file, not a database\n" * 50, os.urandom(8192)])
def test_a_file_that_is_not_sqlite_is_one_line_and_left_as_it_was(tmp_path, capsys, content):
    path = tmp_path / STORE_FILE
    path.write_bytes(content)
    with pytest.raises(NasError) as error:
        ScoreStore(path)
    message = str(error.value)
    assert "\n" not in message and repr(str(path)) in message and "move or delete it" in message
    assert main(["score", *FAST, "--sample", "2", "--cache-dir", str(tmp_path)]) == 2
    _one_line(capsys, str(path), "not a database", "--cache-dir")
    assert path.read_bytes() == content


def test_an_sqlite_file_of_another_layout_is_one_line_and_left_as_it_was(tmp_path, capsys):
    path = tmp_path / STORE_FILE
    with sqlite3.connect(path) as raw:  # schema version 2, but the columns of an older draft
        raw.execute("CREATE TABLE scores (space TEXT, arch_id TEXT, proxy TEXT, value REAL)")
        raw.execute("INSERT INTO scores VALUES ('nb201', 'a', 'synflow', 1.0)")
        raw.execute("PRAGMA user_version = 2")
    before = path.read_bytes()
    assert main(["score", *FAST, "--sample", "2", "--cache-dir", str(tmp_path)]) == 2
    _one_line(capsys, str(path), "no column arch_key", "move or delete the file")
    assert path.read_bytes() == before


def test_an_sqlite_database_of_another_program_is_refused_not_extended(tmp_path, capsys):
    path = tmp_path / STORE_FILE
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE bookmarks (url TEXT, title TEXT)")
    before = path.read_bytes()
    assert main(["score", *FAST, "--sample", "2", "--cache-dir", str(tmp_path)]) == 2
    _one_line(capsys, str(path), "not a score store", "bookmarks", "another --cache-dir")
    assert path.read_bytes() == before


def test_a_store_from_before_leases_is_read_and_gains_the_lease_table(tmp_path):
    path = tmp_path / STORE_FILE
    with sqlite3.connect(path) as raw:  # schema version 2 as written before the leases table existed
        raw.execute(nas.store._SCHEMA)
        raw.execute("PRAGMA user_version = 2")
        raw.execute("INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'arch', 1.5, NULL, 0.1, 'then')", tuple(vars(_key(0)).values()))
    with ScoreStore(path) as store:
        assert store.get(_key(0)).value == 1.5
        assert store.claim([_key(0), _key(1)]).claimed == [_key(1)]
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 2
        assert {name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == {"scores", "leases"}


def _read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Open every store read-only (SQLite ``mode=ro``): reads work, each write fails inside SQLite."""

    def connect(path: str) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, isolation_level=None)

    monkeypatch.setattr(nas.store, "_connect", connect)


def test_a_read_only_store_answers_what_it_has_and_refuses_writes_in_one_line(tmp_path, capsys, monkeypatch):
    path = _fill(tmp_path)
    before = _snapshot(path)
    capsys.readouterr()
    _read_only(monkeypatch)

    assert main(["score", *FAST, "--sample", "5", "--cache-dir", str(tmp_path)]) == 0  # all stored: reading is enough
    assert "5 from the store, 0 computed" in capsys.readouterr().err
    assert main(["score", *FAST, "--sample", "8", "--cache-dir", str(tmp_path)]) == 2  # 3 to compute and store
    _one_line(capsys, str(path), "attempt to write a readonly database", "writable --cache-dir")
    with ScoreStore(path) as store, pytest.raises(NasError, match="readonly"):
        store.put(_key(0), "arch", ProxyResult(1.0), 0.1)
    assert _snapshot(path) == before


def test_a_read_only_store_from_before_leases_still_reads_and_says_read_only_on_write(tmp_path, monkeypatch):
    path = tmp_path / STORE_FILE
    with sqlite3.connect(path) as raw:
        raw.execute(nas.store._SCHEMA)
        raw.execute("PRAGMA user_version = 2")
        raw.execute("INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'arch', 1.5, NULL, 0.1, 'then')", tuple(vars(_key(0)).values()))
    _read_only(monkeypatch)
    with ScoreStore(path) as store:
        assert store.get(_key(0)).value == 1.5 and store.leases() == []
        for write in (lambda: store.claim([_key(1)]), lambda: store.put(_key(1), "arch", ProxyResult(2.0), 0.1)):
            with pytest.raises(NasError, match="attempt to write a readonly database"):
                write()


def test_query_only_makes_every_write_one_line(tmp_path):
    with ScoreStore.open(tmp_path) as store:
        store.put(_key(0), "arch", ProxyResult(1.0), 0.1)
        store._db.execute("PRAGMA query_only = ON")
        writes = [
            lambda: store.put(_key(1), "arch", ProxyResult(1.0), 0.1),
            lambda: store.claim([_key(2)]),
            lambda: store.delete(),
        ]
        for write in writes:
            with pytest.raises(NasError) as error:
                write()
            assert "\n" not in str(error.value) and "readonly" in str(error.value) and str(tmp_path) in str(error.value)
        assert store.get(_key(0)).value == 1.0 and len(store) == 1


def _limited(monkeypatch: pytest.MonkeyPatch, extra_pages: int) -> None:
    """Let every store grow by at most ``extra_pages`` pages: further writes fail with SQLITE_FULL."""
    connect = nas.store._connect

    def limited(path: str) -> sqlite3.Connection:
        db = connect(path)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages + extra_pages}")
        return db

    monkeypatch.setattr(nas.store, "_connect", limited)


def test_a_full_disk_is_one_line_and_keeps_what_was_stored(tmp_path, capsys, monkeypatch):
    path = _fill(tmp_path, sample=20)
    before = _snapshot(path)
    capsys.readouterr()
    with monkeypatch.context() as patch:
        _limited(patch, extra_pages=0)
        assert main(["score", *FAST, "--sample", "400", "--cache-dir", str(tmp_path)]) == 2
        _one_line(capsys, str(path), "database or disk is full", "free some space", "already stored are kept")
    after = _snapshot(path)
    assert after["integrity"] == [("ok",)]
    assert set(before["rows"]) <= set(after["rows"])  # rows stored before the disk filled are all there, unchanged
    with ScoreStore(path) as store:  # the earlier rows answer as before, no lease is left behind
        assert store.leases() == []
    assert main(["score", *FAST, "--sample", "20", "--cache-dir", str(tmp_path)]) == 0
    assert "20 from the store, 0 computed" in capsys.readouterr().err


def test_a_store_filling_up_mid_run_keeps_every_row_written_before(tmp_path):
    with ScoreStore.open(tmp_path) as store:
        for i in range(30):
            store.put(_key(i), "a" * 200, ProxyResult(float(i)), 0.1)
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages + 2}")
        written = 30
        with pytest.raises(NasError, match="database or disk is full"):
            for i in range(30, 5000):
                store.put(_key(i), "b" * 2000, ProxyResult(float(i)), 0.1)
                written += 1
        with pytest.raises(NasError, match="database or disk is full"):  # a batch is all or nothing
            store.put_many([(_key(i), "c" * 2000, ProxyResult(-1.0), 0.1) for i in range(10_000, 10_050)])
        assert store._db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    with ScoreStore.open(tmp_path) as store:
        assert len(store) == written
        assert [store.get(_key(i)).value for i in range(written)] == [float(i) for i in range(written)]


def _can_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(not _can_mount(), reason="needs root and unshare -m to mount file systems")


def _in_mount_namespace(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run a shell ``script`` in a private mount namespace (its mounts vanish with it)."""
    env = dict(os.environ, NAS_PYTHON=sys.executable, OMP_NUM_THREADS="1")
    return subprocess.run(
        ["unshare", "-m", "sh", "-eu", "-c", textwrap.dedent(script)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.mark.slow
@needs_mount
def test_a_really_full_disk_is_one_line_and_keeps_what_was_stored(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    arguments = " ".join(FAST)
    result = _in_mount_namespace(
        f"""
        mount -t tmpfs -o size=256k tmpfs {mount}
        set +e
        "$NAS_PYTHON" -m nas score {arguments} --sample 2000 --cache-dir {mount} > /dev/null 2> {tmp_path}/err
        echo "status $?"
        cp {mount}/{STORE_FILE}* {tmp_path}/
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "status 2" in result.stdout
    err = (tmp_path / "err").read_text()
    assert err.count("\n") == 1 and err.startswith("nas: error: "), err
    assert str(mount / STORE_FILE) in err and ("disk is full" in err or "disk I/O error" in err)
    snapshot = _snapshot(tmp_path / STORE_FILE)  # the copy, with its write-ahead log
    assert snapshot["integrity"] == [("ok",)] and len(snapshot["rows"]) > 0


@pytest.mark.slow
@needs_mount
def test_a_store_on_a_read_only_mount_is_one_line(tmp_path):
    cache = tmp_path / "cache"
    path = _fill(cache)
    before = _snapshot(path)
    arguments = " ".join(FAST)
    result = _in_mount_namespace(
        f"""
        mount --bind {cache} {cache}
        mount -o remount,bind,ro {cache}
        set +e
        "$NAS_PYTHON" -m nas score {arguments} --sample 8 --cache-dir {cache} > /dev/null 2> {tmp_path}/err
        echo "status $?"
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "status 2" in result.stdout
    err = (tmp_path / "err").read_text()
    assert err.count("\n") == 1 and err.startswith("nas: error: ") and str(path) in err, err
    assert "read-only" in err and "writable --cache-dir" in err
    assert _snapshot(path) == before


def test_the_store_path_is_named_even_when_its_directory_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    assert main(["score", *FAST, "--sample", "2", "--cache-dir", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nas: error: ") and str(blocker) in err
