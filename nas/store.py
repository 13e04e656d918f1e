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

Concurrent scorers do not repeat each other's work: before computing a missing score, a scorer
*claims* it (:meth:`ScoreStore.claim`) with a short-lived lease, a row of the ``leases`` table
naming the claimant (host, process id and a random token) and an expiry time. A key leased by
another live claimant is skipped and waited for, then read from the store once its claimant has
written it. Storing a score ends its lease, and renews the claimant's other leases, so a lease
lasts :data:`LEASE_SECONDS` (10 minutes; ``NAS_LEASE_SECONDS`` overrides) after its claimant's
last progress. A claimant that crashed is noticed at once when it ran on this host (its process
is gone); otherwise its leases expire. Leases only save work: a score computed twice is the same
score, written twice. The ``leases`` table is created (``IF NOT EXISTS``) when a store is opened,
so stores of schema version 2 written before it existed stay readable and gain it on first open.

Every failure of the file (not an SQLite database, a table layout of another program or version,
read-only, a full or failing disk) is a :class:`~nas.errors.NasError` of one line naming the file
and what to do. A write that fails is rolled back whole (SQLite's atomic commit), so the scores
already stored stay intact and readable.

``nas cache info|clear|vacuum`` reports, deletes and compacts the store
(:meth:`ScoreStore.counts`, :meth:`ScoreStore.delete`, :meth:`ScoreStore.vacuum`, :func:`store_path`,
:func:`disk_size`, :func:`remove_store_files`).
"""

from __future__ import annotations

import csv
import math
import os
import random
import secrets
import socket
import sqlite3
import time
from dataclasses import astuple, dataclass, field, fields
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
#: (adding the ``leases`` table was compatible: it is created when missing)
SCHEMA_VERSION = 2

#: seconds a lease lasts after its claimant's last progress (claim or stored score), unless the
#: environment variable ``NAS_LEASE_SECONDS`` says otherwise: long enough for any one proxy
#: computation, short enough that a claimant on another host that died is taken over the same day
LEASE_SECONDS = 600.0
LEASE_ENV = "NAS_LEASE_SECONDS"

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

_LEASES = """
CREATE TABLE IF NOT EXISTS leases (
    space     TEXT    NOT NULL,
    arch_key  TEXT    NOT NULL,
    proxy     TEXT    NOT NULL,
    version   TEXT    NOT NULL,
    settings  TEXT    NOT NULL,
    batch     TEXT    NOT NULL,
    precision TEXT    NOT NULL,
    seed      INTEGER NOT NULL,
    claimant  TEXT    NOT NULL,
    expires   REAL    NOT NULL,
    PRIMARY KEY (space, proxy, version, settings, batch, precision, seed, arch_key)
)
"""

_TABLES = {"scores", "leases"}
_HOST = socket.gethostname()

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


@dataclass(frozen=True)
class Claim:
    """The outcome of :meth:`ScoreStore.claim`: every key asked about is in exactly one of the three."""

    #: now leased to this store's claimant: compute them, then :meth:`~ScoreStore.put` (or :meth:`~ScoreStore.release`)
    claimed: list[ScoreKey] = field(default_factory=list)
    #: already in the store (perhaps written by another process a moment ago): use them
    stored: dict[ScoreKey, StoredScore] = field(default_factory=dict)
    #: leased by another live claimant: being computed elsewhere; claim them again later
    held: list[ScoreKey] = field(default_factory=list)


_KEY_COLUMNS = tuple(f.name for f in fields(ScoreKey))
_GROUP_COLUMNS = tuple(c for c in _KEY_COLUMNS if c != "arch_key")
_EXPORT_COLUMNS = _KEY_COLUMNS + ("arch", "value", "reason", "seconds", "written")
_LEASE_COLUMNS = _KEY_COLUMNS + ("claimant", "expires")
_KEY_WHERE = " AND ".join(f"{c} = ?" for c in _KEY_COLUMNS)


class ScoreStore:
    """Persistent proxy scores in an SQLite file, safe for concurrent writers.

    Open the store of the cache directory with :meth:`open`, or a private, throw-away one with
    :meth:`in_memory`. A store is used from the process (and thread) that opened it; other
    processes open their own. Each open store is one lease claimant (:attr:`claimant`), whose
    leases last ``lease_seconds`` after its last progress (default :data:`LEASE_SECONDS`, or
    ``NAS_LEASE_SECONDS``).
    """

    def __init__(self, path: str | os.PathLike[str], lease_seconds: float | None = None):
        self.path = str(path)
        #: seconds a lease lasts after the claimant's last progress (see :data:`LEASE_SECONDS`)
        self.lease_seconds = _lease_seconds() if lease_seconds is None else float(lease_seconds)
        #: who this store's leases belong to: host, process id and a random token
        self.claimant = f"{_HOST}:{os.getpid()}:{secrets.token_hex(6)}"
        try:
            self._db = _connect(self.path)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from None
        try:
            self._retry(self._initialise)
        except BaseException:
            self._db.close()
            raise

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
        tables = self._check_schema()  # before anything is written, so a refused file stays as it was
        try:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")  # a no-op on a store already in WAL mode
                self._db.execute("PRAGMA synchronous = NORMAL")
            if tables >= _TABLES:
                return  # nothing to write: a read-only store can still be read
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._check_schema()  # again under the lock: another process may have created it
                self._db.execute(_SCHEMA)
                self._db.execute(_LEASES)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.OperationalError as exc:
            if "scores" in tables and _is_read_only(exc):
                return  # a read-only store of this version (not in WAL mode, or without leases): readable; writes say why not
            raise

    def _check_schema(self) -> set[str]:
        """The tables of the file; raise unless it is empty or a store of this schema version and layout."""
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        tables = {name for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "scores" in tables and version != SCHEMA_VERSION:
            raise StoreVersionError(
                f"score store {self.path!r} has schema version {version}, this version of nas needs "
                f"{SCHEMA_VERSION} (older stores shared scores between different architectures); "
                "its rows cannot be reused: move or delete the file, or use another --cache-dir "
                "('nas cache clear' with the same --cache-dir deletes it)",
                path=self.path,
                version=version,
            )
        if tables and not tables & _TABLES:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise NasError(
                f"{self.path!r} is an SQLite database but not a score store (its tables: {shown}): "
                "move it away, or use another --cache-dir"
            )
        for table, columns in (("scores", _EXPORT_COLUMNS), ("leases", _LEASE_COLUMNS)):
            if table in tables:
                have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
                missing = [column for column in columns if column not in have]
                if missing:
                    raise NasError(
                        f"score store {self.path!r} has schema version {version} but its {table!r} table has no "
                        f"column {', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}: it was not written by "
                        "this version of nas; move or delete the file, or use another --cache-dir"
                    )
        return tables

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
        keys = [row[: len(_KEY_COLUMNS)] for row in rows]

        def write() -> None:
            with self._db:  # BEGIN ... COMMIT, rolled back on error
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(statement, rows)
                self._end_leases(keys)

        self._retry(write)

    def claim(
        self, keys: Sequence[ScoreKey], missing: Callable[[StoredScore], bool] | None = None
    ) -> Claim:
        """Lease those of ``keys`` that are neither stored nor leased by another live claimant, in one transaction.

        Returns a :class:`Claim`: the keys now leased to :attr:`claimant` (compute them and
        :meth:`put` them, which ends their leases, or :meth:`release` them), the keys already
        stored with their scores, and the keys another live claimant holds (claim them again
        later: by then they are usually stored). ``missing(stored)`` says that a stored score
        counts as missing (e.g. a stored failure to recompute). A lease of this claimant is
        renewed; an expired lease, or one whose claimant process on this host is gone, is
        taken over.
        """
        if not keys:
            return Claim()

        def write() -> Claim:
            outcome = Claim()
            now = time.time()
            with self._db:  # BEGIN ... COMMIT, rolled back on error
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(_LEASES)  # a store opened read-only and since made writable may lack it
                for key in keys:
                    values = astuple(key)
                    row = self._db.execute(
                        f"SELECT arch, value, reason, seconds, written FROM scores WHERE {_KEY_WHERE}", values
                    ).fetchone()
                    if row is not None:
                        stored = StoredScore(row[0], _from_sql(row[1]), row[2], row[3], row[4])
                        if missing is None or not missing(stored):
                            outcome.stored[key] = stored
                            continue
                    lease = self._db.execute(f"SELECT claimant, expires FROM leases WHERE {_KEY_WHERE}", values).fetchone()
                    if lease is not None and lease[0] != self.claimant and lease[1] > now and _claimant_alive(lease[0]):
                        outcome.held.append(key)
                        continue
                    self._db.execute(
                        f"INSERT OR REPLACE INTO leases ({', '.join(_LEASE_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(_LEASE_COLUMNS))})",
                        (*values, self.claimant, now + self.lease_seconds),
                    )
                    outcome.claimed.append(key)
            return outcome

        return self._retry(write)

    def release(self, keys: Iterable[ScoreKey] | None = None) -> None:
        """End this claimant's leases of ``keys`` (all of them, and every expired lease, when ``None``)."""
        rows = None if keys is None else [astuple(key) for key in keys]
        if rows == []:
            return

        def write() -> None:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                if not self._has_leases():
                    return
                if rows is None:
                    self._db.execute("DELETE FROM leases WHERE claimant = ? OR expires < ?", (self.claimant, time.time()))
                else:
                    self._db.executemany(
                        f"DELETE FROM leases WHERE {_KEY_WHERE} AND claimant = ?", [(*row, self.claimant) for row in rows]
                    )

        self._retry(write)

    def leases(self) -> list[tuple[ScoreKey, str, float]]:
        """Every lease: ``(key, claimant, expiry as a Unix time)``, sorted by key (for inspection and tests)."""

        def read() -> list[tuple[Any, ...]]:
            if not self._has_leases():
                return []
            order = ", ".join(_GROUP_COLUMNS)
            query = f"SELECT {', '.join(_LEASE_COLUMNS)} FROM leases ORDER BY {order}, arch_key"
            return self._db.execute(query).fetchall()

        n = len(_KEY_COLUMNS)
        return [(ScoreKey(*row[:n]), row[n], float(row[n + 1])) for row in self._retry(read)]

    def _has_leases(self) -> bool:
        return self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'leases'").fetchone() is not None

    def _end_leases(self, keys: list[tuple[Any, ...]]) -> None:
        """In the open transaction: end every lease of ``keys`` (now stored) and renew this claimant's others."""
        if not self._has_leases():
            return  # a store from before leases, opened read-only and since made writable: nothing to end
        self._db.executemany(f"DELETE FROM leases WHERE {_KEY_WHERE}", keys)
        self._db.execute(
            "UPDATE leases SET expires = ? WHERE claimant = ?", (time.time() + self.lease_seconds, self.claimant)
        )

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
        return retry(self.path, action)


def retry(path: str, action: Callable[[], R]) -> R:
    """Run ``action`` on the SQLite file ``path``, retrying with jittered back-off while another process holds the lock.

    Any other failure of the database is a one-line :class:`NasError` (see :func:`store_error`).
    """
    attempt = 0
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            message = str(exc).lower()
            attempt += 1
            if ("locked" not in message and "busy" not in message) or attempt >= _LOCK_RETRIES:
                raise store_error(path, exc) from None
            time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        except sqlite3.Error as exc:
            raise store_error(path, exc) from None


def store_error(path: str, exc: sqlite3.Error) -> NasError:
    """The one-line error of an SQLite failure on the store file ``path``: what went wrong and what to do."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    lower = text.lower()
    keep = "the scores already stored are kept"
    if _is_read_only(exc):
        hint = "the file or its directory is read-only: make both writable, or use a writable --cache-dir (or NAS_CACHE_DIR)"
    elif "full" in lower:
        hint = f"the disk is full: free some space, or use a --cache-dir on another disk; {keep}"
    elif "disk i/o" in lower or "ioerr" in lower:
        hint = f"reading or writing the file failed (a full or failing disk?): free some space, check the disk, or use another --cache-dir; {keep}"
    elif "not a database" in lower or "malformed" in lower or "encrypted" in lower:
        hint = "the file is not a (healthy) SQLite score store: move or delete it, or use another --cache-dir"
    elif "no such column" in lower or "no such table" in lower or "has no column" in lower:
        hint = "its tables are not those of this version of nas: move or delete the file, or use another --cache-dir"
    elif "locked" in lower or "busy" in lower:
        hint = "another process kept it locked for too long: try again when it has finished"
    elif ("unable to open" in lower or "cannot open" in lower) and _read_only_directory(path):
        hint = (
            "its directory is read-only, and SQLite must create the -wal and -shm files beside the store: "
            "make the directory writable, or use a writable --cache-dir (or NAS_CACHE_DIR)"
        )
    elif "unable to open" in lower or "cannot open" in lower:
        hint = "check that it is a file in an existing, accessible directory, or use another --cache-dir"
    else:
        hint = "move or delete the file, or use another --cache-dir"
    return NasError(f"score store {path!r}: {text}: {hint}")


def _is_read_only(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text or "read only" in text


def _read_only_directory(path: str) -> bool:
    """Whether the store file ``path`` exists in a directory this process cannot write (e.g. a read-only mount)."""
    file = Path(path)
    return file.is_file() and not os.access(file.parent, os.W_OK)


def _connect(path: str) -> sqlite3.Connection:
    """An autocommit connection to the store file ``path`` (tests replace it to simulate failing files)."""
    return sqlite3.connect(path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)


def _lease_seconds() -> float:
    """:data:`LEASE_SECONDS`, or the environment variable ``NAS_LEASE_SECONDS``."""
    text = os.environ.get(LEASE_ENV, "").strip()
    if not text:
        return LEASE_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (seconds > 0 and math.isfinite(seconds)):
        raise NasError(f"{LEASE_ENV} must be a positive number of seconds, got {text[:40]!r}")
    return seconds


def _claimant_alive(claimant: str) -> bool:
    """False when ``claimant`` (``host:pid:token``) ran on this host and its process is gone; True when it may live.

    A claimant on another host (or a process id that was reused) cannot be checked: its lease
    then lasts until it expires. A claimant in another PID namespace under the same host name
    (containers sharing a cache) may look dead: its score may then be computed twice, never wrongly.
    """
    host, pid_text, _ = (claimant.rsplit(":", 2) + ["", ""])[:3]
    if host != _HOST or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    try:  # a killed process that its parent has not reaped yet still has a pid: a zombie
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


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
