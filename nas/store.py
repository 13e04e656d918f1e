"""The score store: every computed proxy score, kept in one SQLite file in the cache directory.

A score is keyed by what determines it: the space, the architecture key (the exact
architecture string, unless the proxy is declared invariant: see :attr:`Proxy.invariance`), the
proxy, its version and its settings, the batch, the numeric precision and the initialisation
seed. Each row also keeps the string of the architecture that was computed, the NaN reason, the
seconds the computation took and when it was written.

The schema is versioned (SQLite's ``user_version``). A store written by an older version of
the package is refused with a message saying what to do, never read: its rows were keyed
differently and might answer one architecture with another's score.

Several processes may write to the same file at once: the database runs in WAL mode with a
busy timeout, writes are retried while the file is locked, and every write is committed at
once, so an interrupted run keeps everything it wrote.

``nas cache info|clear|vacuum`` reports, deletes and compacts the store
(:meth:`ScoreStore.counts`, :meth:`ScoreStore.delete`, :meth:`ScoreStore.vacuum`, :func:`store_path`,
:func:`disk_size`, :func:`remove_store_files`).
"""

from __future__ import annotations

import csv
import math
import os
import random
import sqlite3
import time
from dataclasses import astuple, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TypeVar

from nas import paths
from nas.errors import NasError
from nas.proxies.base import ProxyResult

#: file name of the store inside the cache directory
STORE_FILE = "scores.sqlite"

_BUSY_TIMEOUT_MS = 30_000
_LOCK_RETRIES = 20
_IN_CHUNK = 500  # keys per SELECT (SQLite limits the number of bound parameters)

#: version of the table layout and of the meaning of its keys; bumped on every incompatible change
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    space     TEXT    NOT NULL,
    arch_key  TEXT    NOT NULL,
    proxy     TEXT    NOT NULL,
    version   TEXT    NOT NULL,
    settings  TEXT    NOT NULL,
    batch     TEXT    NOT NULL,
    precision TEXT    NOT NULL,
    seed      INTEGER NOT NULL,
    arch      TEXT    NOT NULL,
    value     REAL,
    reason    TEXT,
    seconds   REAL    NOT NULL,
    written   TEXT    NOT NULL,
    PRIMARY KEY (space, proxy, version, settings, batch, precision, seed, arch_key)
)
"""

R = TypeVar("R")


class StoreVersionError(NasError):
    """The store file was written with another schema version and cannot be used.

    ``path`` is the file and ``version`` its schema version.
    """

    def __init__(self, message: str, path: str = "", version: int = 0):
        super().__init__(message)
        self.path = path
        self.version = version


@dataclass(frozen=True)
class ScoreKey:
    """What determines one score.

    ``arch_key`` is the architecture's key for this proxy (``"exact:<string>"``,
    ``"live:<live id>"`` or ``"function:<canonical id>"``, see :func:`nas.spaces.base.arch_key`),
    ``version`` the proxy's :meth:`~nas.proxies.base.Proxy.version_key`, ``settings`` its
    canonical settings JSON (:meth:`~nas.proxies.base.Proxy.settings_key`), ``batch`` the batch
    identity (:attr:`Batch.identity`), ``precision`` the proxy's ``precision`` setting
    (``"float32"`` when it has none) and ``seed`` the seed of the model's initialisation.
    """

    space: str
    arch_key: str
    proxy: str
    version: str
    settings: str
    batch: str
    precision: str
    seed: int = 0


@dataclass(frozen=True)
class StoredScore:
    """A stored score: the architecture computed, value (NaN when missing), NaN reason, seconds taken, UTC write time."""

    arch: str
    value: float
    reason: str | None
    seconds: float
    written: str

    @property
    def result(self) -> ProxyResult:
        """The score as a :class:`ProxyResult`."""
        return ProxyResult(self.value, self.reason)


_KEY_COLUMNS = tuple(f.name for f in fields(ScoreKey))
_GROUP_COLUMNS = tuple(c for c in _KEY_COLUMNS if c != "arch_key")
_EXPORT_COLUMNS = _KEY_COLUMNS + ("arch", "value", "reason", "seconds", "written")


class ScoreStore:
    """Persistent proxy scores in an SQLite file, safe for concurrent writers.

    Open the store of the cache directory with :meth:`open`, or a private, throw-away one with
    :meth:`in_memory`. A store is used from the process (and thread) that opened it; other
    processes open their own.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            self._retry(self._initialise)
        except StoreVersionError:
            self._db.close()
            raise
        except sqlite3.DatabaseError as exc:
            raise NasError(f"cannot open score store {self.path!r}: {exc}") from None

    @classmethod
    def open(cls, cache_dir: str | os.PathLike[str] | None = None) -> "ScoreStore":
        """The store of the cache directory (``--cache-dir``, ``NAS_CACHE_DIR`` or ``~/.cache/nas``)."""
        return cls(paths.cache_dir(cache_dir) / STORE_FILE)

    @classmethod
    def in_memory(cls) -> "ScoreStore":
        """A store that lives in memory and is gone when closed."""
        return cls(":memory:")

    def _initialise(self) -> None:
        self._db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        self._check_version()  # before anything is written, so a refused file stays as it was
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._check_version()  # again under the lock: another process may have created it
            self._db.execute(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _check_version(self) -> None:
        """Raise :class:`StoreVersionError` if the file holds a table of another schema version."""
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        has_table = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'scores'").fetchone()
        if has_table and version != SCHEMA_VERSION:
            raise StoreVersionError(
                f"score store {self.path!r} has schema version {version}, this version of nas needs "
                f"{SCHEMA_VERSION} (older stores shared scores between different architectures); "
                "its rows cannot be reused: move or delete the file, or use another --cache-dir "
                "('nas cache clear' with the same --cache-dir deletes it)",
                path=self.path,
                version=version,
            )

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> "ScoreStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self._retry(lambda: self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]))

    def get(self, key: ScoreKey) -> StoredScore | None:
        """The stored score of ``key``, or ``None``."""
        return self.get_many([key]).get(key)

    def get_many(self, keys: Sequence[ScoreKey]) -> dict[ScoreKey, StoredScore]:
        """The stored scores of those ``keys`` that are in the store."""
        groups: dict[tuple[Any, ...], dict[str, ScoreKey]] = {}
        for key in keys:
            group = tuple(getattr(key, c) for c in _GROUP_COLUMNS)
            groups.setdefault(group, {})[key.arch_key] = key
        found: dict[ScoreKey, StoredScore] = {}
        where = " AND ".join(f"{c} = ?" for c in _GROUP_COLUMNS)
        for group, by_id in groups.items():
            ids = list(by_id)
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                query = (
                    "SELECT arch_key, arch, value, reason, seconds, written FROM scores "
                    f"WHERE {where} AND arch_key IN ({', '.join('?' * len(chunk))})"
                )
                rows = self._retry(lambda: self._db.execute(query, (*group, *chunk)).fetchall())
                for arch_key, arch, value, reason, seconds, written in rows:
                    found[by_id[arch_key]] = StoredScore(arch, _from_sql(value), reason, seconds, written)
        return found

    def put(self, key: ScoreKey, arch: str, result: ProxyResult, seconds: float) -> None:
        """Store (or replace) the score of ``key``, computed on architecture ``arch``, and commit it."""
        self.put_many([(key, arch, result, seconds)])

    def put_many(self, items: Iterable[tuple[ScoreKey, str, ProxyResult, float]]) -> None:
        """Store (or replace) several ``(key, arch, result, seconds)`` scores in one transaction."""
        written = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = [
            (*astuple(key), arch, _to_sql(result.value), result.reason, float(seconds), written)
            for key, arch, result, seconds in items
        ]
        if not rows:
            return
        columns, marks = ", ".join(_EXPORT_COLUMNS), ", ".join("?" * len(_EXPORT_COLUMNS))
        statement = f"INSERT OR REPLACE INTO scores ({columns}) VALUES ({marks})"

        def write() -> None:
            with self._db:  # BEGIN ... COMMIT, rolled back on error
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(statement, rows)

        self._retry(write)

    def rows(self, **filters: str | int) -> list[tuple[Any, ...]]:
        """Stored rows (the key's fields, arch, value, reason, seconds, written) whose columns equal ``filters``."""
        where = _where(filters)
        order = ", ".join(_GROUP_COLUMNS)
        query = f"SELECT {', '.join(_EXPORT_COLUMNS)} FROM scores WHERE {where} ORDER BY {order}, arch_key"
        n = len(_KEY_COLUMNS) + 1
        found = self._retry(lambda: self._db.execute(query, tuple(filters.values())).fetchall())
        return [(*row[:n], _from_sql(row[n]), *row[n + 1 :]) for row in found]

    def counts(self) -> list[tuple[str, str, int]]:
        """``(space, proxy, rows)`` for every space and proxy with stored scores, sorted by space and proxy."""
        query = "SELECT space, proxy, COUNT(*) FROM scores GROUP BY space, proxy ORDER BY space, proxy"
        return [(space, proxy, int(n)) for space, proxy, n in self._retry(lambda: self._db.execute(query).fetchall())]

    def delete(self, **filters: str | int) -> int:
        """Delete the stored rows whose columns equal ``filters`` (every row without filters), in one transaction.

        Returns the number of rows deleted. The file does not shrink until :meth:`vacuum`.
        """
        statement = f"DELETE FROM scores WHERE {_where(filters)}"
        values = tuple(filters.values())

        def write() -> int:
            with self._db:  # BEGIN ... COMMIT, rolled back on error
                self._db.execute("BEGIN IMMEDIATE")
                return int(self._db.execute(statement, values).rowcount)

        return self._retry(write)

    def vacuum(self) -> None:
        """Rebuild the file without its free pages (SQLite ``VACUUM``), then checkpoint and truncate the WAL.

        A checkpoint cannot finish while another process is reading; the WAL is then left for
        SQLite to fold in later, and nothing is lost.
        """
        self._retry(lambda: self._db.execute("VACUUM"))
        if self.path != ":memory:":
            self._retry(lambda: self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())

    def export_csv(self, path: str | os.PathLike[str], **filters: str | int) -> int:
        """Write the stored rows matching ``filters`` (e.g. ``space="nb201"``) as CSV; return the count."""
        rows = self.rows(**filters)
        try:
            with open(path, "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(_EXPORT_COLUMNS)
                writer.writerows(rows)
        except OSError as exc:
            raise NasError(f"cannot write {str(path)!r}: {exc.strerror}") from None
        return len(rows)

    def _retry(self, action: Callable[[], R]) -> R:
        """Run ``action``, retrying with jittered back-off while another process holds the lock."""
        attempt = 0
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                message = str(exc).lower()
                attempt += 1
                if ("locked" not in message and "busy" not in message) or attempt >= _LOCK_RETRIES:
                    raise
                time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))


def store_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the store of the cache directory is, without creating the directory (unlike :meth:`ScoreStore.open`)."""
    return paths.cache_dir(cache_dir, create=False) / STORE_FILE


def disk_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Bytes on disk of the store file ``path`` and of its write-ahead log (0 for a missing file)."""
    return _file_size(Path(path)), _file_size(Path(f"{path}-wal"))


def remove_store_files(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the store file ``path`` with its ``-wal`` and ``-shm`` files; return the files removed.

    For a store nothing may read any more (another schema version): no open connection is
    expected, and none of its rows can be used.
    """
    removed = []
    for file in (Path(path), Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            file.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise NasError(f"cannot delete {str(file)!r}: {exc.strerror}") from None
        removed.append(file)
    return removed


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _where(filters: dict[str, str | int]) -> str:
    """The WHERE condition matching ``filters`` (key columns only; values bound in order), "1" without filters."""
    unknown = sorted(set(filters) - set(_KEY_COLUMNS))
    if unknown:
        raise NasError(f"cannot filter scores by {unknown[0]!r}; filters: {', '.join(_KEY_COLUMNS)}")
    return " AND ".join(f"{c} = ?" for c in filters) or "1"


def _to_sql(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _from_sql(value: float | None) -> float:
    return math.nan if value is None else float(value)
