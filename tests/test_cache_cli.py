"""``nas cache info|clear|vacuum`` and the store methods behind them (counts, delete, vacuum)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from nas.cli import main
from nas.errors import NasError
from nas.proxies.base import ProxyResult
from nas.store import STORE_FILE, ScoreKey, ScoreStore, disk_size, store_path

KEY = ScoreKey("nb201", "exact:a", "synflow", "2", '{"precision": "float64"}', "cifar10:real:n64:abc", "float64", 0)
ARCH = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"


def _fill(cache: Path, counts: dict[tuple[str, str], int]) -> None:
    """``counts[(space, proxy)]`` rows of each space and proxy in the store of ``cache``."""
    with ScoreStore.open(cache) as store:
        for (space, proxy), n in counts.items():
            for i in range(n):
                store.put(replace(KEY, space=space, proxy=proxy, arch_key=f"exact:{i}"), ARCH, ProxyResult(float(i)), 0.1)


def _old_store(path: Path) -> None:
    """A store of schema version 0 (no user_version, another table layout), as the first version wrote it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE scores (space TEXT, arch_id TEXT, proxy TEXT, value REAL)")
        raw.execute("INSERT INTO scores VALUES ('nb201', '#+(0)@nor_conv_1x1+0', 'params', 129306.0)")
    raw.close()


def _cache(*argv: str) -> list[str]:
    return ["cache", *argv]


# --- the store methods -----------------------------------------------------------------------


def test_counts_delete_and_vacuum_on_the_store(tmp_path: Path) -> None:
    _fill(tmp_path, {("nb201", "synflow"): 3, ("nb201", "epsilon"): 2, ("nb101", "synflow"): 1})
    with ScoreStore.open(tmp_path) as store:
        assert store.counts() == [("nb101", "synflow", 1), ("nb201", "epsilon", 2), ("nb201", "synflow", 3)]
        assert store.delete(space="nb201", proxy="synflow") == 3
        assert store.counts() == [("nb101", "synflow", 1), ("nb201", "epsilon", 2)]
        with pytest.raises(NasError, match="cannot filter scores by 'colour'"):
            store.delete(colour="red")
        assert len(store) == 3  # nothing deleted by the refused filter
        assert store.delete(proxy="unknown") == 0
        assert store.delete() == 3
        assert store.counts() == [] and len(store) == 0
        store.vacuum()
    with ScoreStore.in_memory() as memory:  # no file, no WAL: vacuum still works
        memory.vacuum()


def test_store_path_does_not_create_the_cache_directory(tmp_path: Path) -> None:
    cache = tmp_path / "not" / "there"
    assert store_path(cache) == cache.resolve() / STORE_FILE
    assert not cache.exists()
    assert disk_size(store_path(cache)) == (0, 0)


# --- nas cache info ----------------------------------------------------------------------------


def test_info_on_a_missing_store_says_so_and_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "fresh"
    assert main(_cache("info", "--cache-dir", str(cache))) == 0
    out = capsys.readouterr().out
    assert "no score store" in out and str(cache / STORE_FILE) in out
    assert not cache.exists()


def test_info_uses_nas_cache_dir_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    import os

    _fill(Path(os.environ["NAS_CACHE_DIR"]), {("nb201", "params"): 2})
    assert main(_cache("info")) == 0
    out = capsys.readouterr().out
    assert str(Path(os.environ["NAS_CACHE_DIR"]).resolve() / STORE_FILE) in out
    assert "params" in out


def test_info_prints_path_size_and_an_aligned_table_of_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(tmp_path, {("nb201", "synflow"): 12, ("nb201", "epsilon"): 3, ("nb101", "jacob_cov"): 1})
    assert main(_cache("info", "--cache-dir", str(tmp_path))) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["store", str(tmp_path / STORE_FILE)]
    file, wal = disk_size(tmp_path / STORE_FILE)
    assert lines[1].startswith("size") and f"{file + wal:,} bytes" in lines[1]
    assert lines[2].split() == ["rows", "16"]
    table = lines[lines.index("") + 1 :]
    assert [line.split() for line in table] == [
        ["space", "proxy", "rows"],
        ["nb101", "jacob_cov", "1"],
        ["nb201", "epsilon", "3"],
        ["nb201", "synflow", "12"],
    ]
    assert len({len(line) for line in table}) == 1  # aligned: rows right-aligned under their header
    assert len({line.index(line.split()[1]) for line in table}) == 1  # the proxy column starts at one place


def test_info_on_an_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ScoreStore.open(tmp_path).close()
    assert main(_cache("info", "--cache-dir", str(tmp_path))) == 0
    out = capsys.readouterr().out
    assert "rows   0 (the store is empty)" in out


def test_info_on_an_old_store_is_one_line_error_with_the_way_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _old_store(tmp_path / STORE_FILE)
    before = (tmp_path / STORE_FILE).read_bytes()
    assert main(_cache("info", "--cache-dir", str(tmp_path))) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("nas: error: ") and "schema version 0" in err and "'nas cache clear'" in err
    assert (tmp_path / STORE_FILE).read_bytes() == before


# --- nas cache clear ---------------------------------------------------------------------------


def test_clear_without_filters_deletes_every_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(tmp_path, {("nb201", "synflow"): 4, ("nb101", "epsilon"): 3})
    assert main(_cache("clear", "--cache-dir", str(tmp_path))) == 0
    out = capsys.readouterr().out
    assert "deleted 7 stored scores" in out and "0 left" in out
    with ScoreStore.open(tmp_path) as store:
        assert len(store) == 0


def test_clear_by_proxy_and_space_deletes_only_those(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(tmp_path, {("nb201", "synflow"): 4, ("nb201", "epsilon"): 2, ("nb101", "synflow"): 3})
    assert main(_cache("clear", "--cache-dir", str(tmp_path), "--proxy", "synflow", "--space", "nb201")) == 0
    assert "deleted 4 stored scores (space nb201 proxy synflow)" in capsys.readouterr().out
    with ScoreStore.open(tmp_path) as store:
        assert store.counts() == [("nb101", "synflow", 3), ("nb201", "epsilon", 2)]
    assert main(_cache("clear", "--cache-dir", str(tmp_path), "--proxy", "synflow")) == 0
    assert "deleted 3 stored scores (proxy synflow)" in capsys.readouterr().out
    assert main(_cache("clear", "--cache-dir", str(tmp_path), "--space", "nb101")) == 0  # registered, no rows left
    assert "deleted 0 stored scores (space nb101)" in capsys.readouterr().out
    with ScoreStore.open(tmp_path) as store:
        assert store.counts() == [("nb201", "epsilon", 2)]


@pytest.mark.parametrize("flag, name, known", [("--proxy", "synflw", "synflow"), ("--space", "nb999", "nb201")])
def test_clear_refuses_a_name_neither_registered_nor_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, name: str, known: str
) -> None:
    _fill(tmp_path, {("nb201", "synflow"): 2})
    assert main(_cache("clear", "--cache-dir", str(tmp_path), flag, name)) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert f"{name!r}" in err and known in err
    with ScoreStore.open(tmp_path) as store:
        assert len(store) == 2


def test_clear_refuses_an_unknown_name_without_a_store_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "fresh"
    assert main(_cache("clear", "--cache-dir", str(cache), "--proxy", "synflw")) == 2
    assert "unknown proxy 'synflw'" in capsys.readouterr().err
    assert main(_cache("clear", "--cache-dir", str(cache), "--proxy", "synflow")) == 0
    assert "nothing to delete" in capsys.readouterr().out
    assert not cache.exists()


def test_clear_accepts_a_proxy_no_longer_registered_that_has_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nas.proxies import PROXIES

    assert "weight_l1" not in PROXIES  # e.g. the plugin that computed them was uninstalled
    _fill(tmp_path, {("nb201", "weight_l1"): 5, ("nb201", "synflow"): 1})
    assert main(_cache("clear", "--cache-dir", str(tmp_path), "--proxy", "weight_l1")) == 0
    assert "deleted 5 stored scores (proxy weight_l1)" in capsys.readouterr().out
    with ScoreStore.open(tmp_path) as store:
        assert store.counts() == [("nb201", "synflow", 1)]


def test_clear_deletes_an_old_schema_store_only_without_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / STORE_FILE
    _old_store(path)
    before = path.read_bytes()
    assert main(_cache("clear", "--cache-dir", str(tmp_path), "--proxy", "params")) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert "schema version 0" in err and "without filters deletes the whole file" in err
    assert path.read_bytes() == before

    assert main(_cache("clear", "--cache-dir", str(tmp_path))) == 0
    out = capsys.readouterr().out
    assert "deleted the score store of old schema version 0" in out and str(path) in out
    assert not path.exists()
    with ScoreStore.open(tmp_path) as store:  # the way is clear for a new store
        assert len(store) == 0


# --- nas cache vacuum --------------------------------------------------------------------------


def test_vacuum_shrinks_the_file_after_a_clear_and_prints_both_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ScoreStore.open(tmp_path) as store:
        store.put_many((replace(KEY, arch_key=f"exact:{i}"), ARCH * 4, ProxyResult(float(i)), 0.1) for i in range(3000))
    assert main(_cache("clear", "--cache-dir", str(tmp_path))) == 0
    assert "'nas cache vacuum'" in capsys.readouterr().out
    before = sum(disk_size(tmp_path / STORE_FILE))
    assert main(_cache("vacuum", "--cache-dir", str(tmp_path))) == 0
    lines = capsys.readouterr().out.splitlines()
    after = sum(disk_size(tmp_path / STORE_FILE))
    assert after < before / 10
    assert lines[1].startswith("before") and f"{before:,} bytes" in lines[1]
    assert lines[2].startswith("after") and f"{after:,} bytes" in lines[2]


def test_vacuum_without_a_store_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_cache("vacuum", "--cache-dir", str(tmp_path / "fresh"))) == 0
    assert "nothing to vacuum" in capsys.readouterr().out
    assert not (tmp_path / "fresh").exists()
