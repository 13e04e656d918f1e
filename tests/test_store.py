"""The score store: round trips, NaNs, concurrent writers, CSV export, interrupted runs."""

from __future__ import annotations

import csv
import math
import multiprocessing
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch.nn as nn

from nas.data import load_batch
from nas.errors import NasError
from nas.proxies import create_proxy
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult
from nas.scoring import Scorer
from nas.spaces import create_space
from nas.store import STORE_FILE, ScoreKey, ScoreStore

KEY = ScoreKey("nb201", "arch-a", "synflow", "2", '{"precision": "float64"}', "cifar10:real:n64:abc", "float64", 0)
ARCH = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"


class WeightSum(Proxy):
    """The sum of the initial weights: depends on the architecture and on the initialisation."""

    name = "test_weight_sum"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        return ProxyResult(float(sum(p.detach().double().sum() for p in model.parameters())))


class Interrupting(ScoreStore):
    """A store whose process is "interrupted" (Ctrl-C) when it is asked to write once too often."""

    def __init__(self, path: Path, allowed: int):
        super().__init__(path)
        self.allowed = allowed

    def put(self, key: ScoreKey, arch: str, result: ProxyResult, seconds: float) -> None:
        if self.allowed == 0:
            raise KeyboardInterrupt
        self.allowed -= 1
        super().put(key, arch, result, seconds)


def test_put_then_get_round_trips(tmp_path):
    with ScoreStore.open(tmp_path) as store:
        assert store.get(KEY) is None
        store.put(KEY, ARCH, ProxyResult(1.5e49), 0.25)
        stored = store.get(KEY)
    assert stored is not None
    assert (stored.value, stored.reason, stored.seconds) == (1.5e49, None, 0.25)
    assert stored.result == ProxyResult(1.5e49)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", stored.written)
    assert (tmp_path / STORE_FILE).is_file()


def test_the_default_location_is_the_cache_directory():
    with ScoreStore.open() as store:
        store.put(KEY, ARCH, ProxyResult(2.0), 0.1)
    assert Path(store.path) == Path(os.environ["NAS_CACHE_DIR"]).resolve() / STORE_FILE
    with ScoreStore.open() as reopened:  # a later process sees it
        assert reopened.get(KEY).value == 2.0


def test_nan_round_trips_with_its_reason_and_is_null_in_sqlite(tmp_path):
    with ScoreStore.open(tmp_path) as store:
        store.put(KEY, ARCH, ProxyResult.nan("epsilon: outputs are constant"), 0.5)
        stored = store.get(KEY)
    assert math.isnan(stored.value) and stored.result.is_nan
    assert stored.reason == "epsilon: outputs are constant"
    with sqlite3.connect(tmp_path / STORE_FILE) as raw:
        assert raw.execute("SELECT value, reason FROM scores").fetchall() == [(None, "epsilon: outputs are constant")]


def test_every_key_field_separates_scores_and_put_replaces(tmp_path):
    variants = [KEY] + [
        replace(KEY, **{field: value})
        for field, value in [
            ("space", "nb101"),
            ("arch_key", "arch-b"),
            ("version", "3"),
            ("proxy", "snip"),
            ("settings", "{}"),
            ("batch", "cifar10:real:n64:def"),
            ("precision", "float32"),
            ("seed", 1),
        ]
    ]
    with ScoreStore.open(tmp_path) as store:
        for i, key in enumerate(variants):
            store.put(key, ARCH, ProxyResult(float(i)), 0.0)
        store.put(KEY, ARCH, ProxyResult(-1.0), 0.0)  # replaces, does not add
        assert len(store) == len(variants)
        found = store.get_many(variants + [replace(KEY, arch_key="missing")])
    assert [found[key].value for key in variants] == [-1.0] + [float(i) for i in range(1, len(variants))]
    assert replace(KEY, arch_key="missing") not in found


def _old_store(path: Path) -> None:
    """A store as the first version wrote it: canonical ids for every proxy, no schema version."""
    with sqlite3.connect(path) as raw:
        raw.execute(
            "CREATE TABLE scores (space TEXT, arch_id TEXT, proxy TEXT, settings TEXT, batch TEXT, precision TEXT, "
            "seed INTEGER, value REAL, reason TEXT, seconds REAL, written TEXT, "
            "PRIMARY KEY (space, proxy, settings, batch, precision, seed, arch_id))"
        )
        raw.execute("INSERT INTO scores VALUES ('nb201', '#+(0)@nor_conv_1x1+0', 'params', '{}', 'b', 'float32', 0, "
                    "129306.0, NULL, 0.1, '2026-11-30T00:00:00+00:00')")


def test_an_old_store_is_refused_with_what_to_do_and_is_left_untouched(tmp_path, capsys):
    from nas.cli import main
    from nas.store import StoreVersionError

    _old_store(tmp_path / STORE_FILE)
    before = (tmp_path / STORE_FILE).read_bytes()
    with pytest.raises(StoreVersionError, match="schema version 0.*move or delete the file, or use another --cache-dir"):
        ScoreStore.open(tmp_path)
    arch = "|skip_connect~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    code = main(["score", "--proxy", "params", "--arch", arch, "--cache-dir", str(tmp_path), "--dataset", "cifar10",
                 "--data", "normal", "--batch-size", "4", "--no-progress"])
    out, err = capsys.readouterr()
    assert code != 0 and out == "" and "129306" not in out
    assert len(err.strip().splitlines()) == 1 and "schema version 0" in err
    assert (tmp_path / STORE_FILE).read_bytes() == before  # nothing the user had is lost


def test_get_many_answers_more_keys_than_one_query_can_bind(tmp_path):
    keys = [replace(KEY, arch_key=f"a{i}") for i in range(1200)]
    with ScoreStore.open(tmp_path) as store:
        store.put_many((key, ARCH, ProxyResult(float(i)), 0.0) for i, key in enumerate(keys) if i % 3)
        found = store.get_many(keys)
    assert len(found) == 800
    assert all(found[key].value == i for i, key in enumerate(keys) if i % 3)


def _write_rows(cache: str, writer: int, count: int) -> None:
    with ScoreStore.open(cache) as store:
        for i in range(count):
            store.put(replace(KEY, arch_key=f"w{writer}-{i}"), ARCH, ProxyResult(float(i)), 0.0)
            store.put(KEY, ARCH, ProxyResult(float(writer)), 0.0)  # every writer also rewrites one shared row


def test_concurrent_writers_lose_no_rows(tmp_path):
    ScoreStore.open(tmp_path).close()
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_write_rows, args=(str(tmp_path), w, 150)) for w in range(3)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)
    assert [p.exitcode for p in writers] == [0, 0, 0]
    with ScoreStore.open(tmp_path) as store:
        assert len(store) == 3 * 150 + 1
        rows = store.get_many([replace(KEY, arch_key=f"w{w}-{i}") for w in range(3) for i in range(150)])
        assert len(rows) == 450
        assert store.get(KEY).value in (0.0, 1.0, 2.0)


def test_export_csv_writes_the_filtered_rows(tmp_path):
    out = tmp_path / "scores.csv"
    with ScoreStore.open(tmp_path) as store:
        store.put(KEY, ARCH, ProxyResult(3.0), 0.5)
        store.put(replace(KEY, arch_key="arch-b"), ARCH, ProxyResult.nan("overflow"), 0.25)
        store.put(replace(KEY, proxy="snip"), ARCH, ProxyResult(4.0), 0.125)
        assert store.export_csv(out, proxy="synflow") == 2
        with open(out, newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [(r["arch_key"], r["proxy"], r["value"], r["reason"], r["seconds"]) for r in rows] == [
            ("arch-a", "synflow", "3.0", "", "0.5"),
            ("arch-b", "synflow", "nan", "overflow", "0.25"),
        ]
        key_columns = ["space", "arch_key", "proxy", "version", "settings", "batch", "precision", "seed"]
        assert list(rows[0]) == key_columns + ["arch", "value", "reason", "seconds", "written"]
        assert {r["arch"] for r in rows} == {ARCH}
        assert store.export_csv(out) == 3
        with pytest.raises(NasError, match="cannot filter scores by 'colour'"):
            store.export_csv(tmp_path / "never.csv", colour="red")
    assert not (tmp_path / "never.csv").exists()


def test_an_interrupted_run_keeps_its_scores_and_a_rerun_computes_only_the_rest(tmp_path):
    space = create_space("nb201")
    batch = load_batch("cifar10", data="normal", size=4, seed=0)
    rng = random.Random(11)
    archs = [space.sample(rng) for _ in range(10)]
    unique = len({space.format(a) for a in archs})  # WeightSum is keyed on the exact architecture
    with Scorer(space, "cifar10", batch) as fresh:
        expected = fresh.values(archs, WeightSum())

    store = Interrupting(tmp_path / STORE_FILE, allowed=4)
    with pytest.raises(KeyboardInterrupt), Scorer(space, "cifar10", batch, store=store) as interrupted:
        interrupted.score(archs, WeightSum())
    store.close()
    with ScoreStore.open(tmp_path) as store, Scorer(space, "cifar10", batch, store=store) as resumed:
        assert len(store) == 4
        values = resumed.values(archs, WeightSum())
        stats = resumed.last_stats
    assert (stats.from_store, stats.computed, stats.unique) == (4, unique - 4, unique)
    np.testing.assert_array_equal(values, expected)  # exact: stored values are the values written, recomputed ones the same code, seed and thread count


@pytest.mark.slow
def test_a_killed_cli_run_resumes_where_it_stopped(tmp_path):
    env = dict(os.environ, NAS_CACHE_DIR=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "nas", "score", "--proxy", "params", "--sample", "150", "--dataset", "cifar10"]
    command += ["--data", "normal", "--batch-size", "4", "--no-progress"]
    database = tmp_path / "cache" / STORE_FILE
    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    kept, lock = 0, None
    try:
        # Each look holds the store's write lock while it counts, and the look that finds 5 rows
        # keeps it until the kill: the run cannot commit another score meanwhile (it waits on the
        # lock), so it is killed mid-run however fast it scores (params may take microseconds).
        while run.poll() is None and time.monotonic() < deadline:
            if lock is None and database.exists():
                lock = sqlite3.connect(database, timeout=10, isolation_level=None)
            if lock is not None:
                try:
                    lock.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError:  # the run held it too long (creating the schema): look again
                    time.sleep(0.01)
                    continue
                kept = lock.execute("SELECT COUNT(*) FROM scores").fetchone()[0] if _has_table(lock) else 0
                if kept >= 5:
                    break
                lock.execute("ROLLBACK")
            time.sleep(0.01)
        run.send_signal(signal.SIGKILL)
        run.wait()
    finally:
        if lock is not None:
            lock.close()  # rolls back: the lock only ever read
    assert run.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    with sqlite3.connect(database) as raw:
        kept = raw.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    assert 5 <= kept < 150

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    pattern = r"params: 150 architectures \((\d+) distinct\), 0 NaN, .* (\d+) from the store, (\d+) computed"
    summary = re.search(pattern, again.stderr)
    assert summary, again.stderr
    distinct, from_store, computed = map(int, summary.groups())
    assert (from_store, computed) == (kept, distinct - kept)

    rows = list(csv.DictReader(again.stdout.splitlines()))
    space = create_space("nb201")
    archs = [space.parse(row["arch"]) for row in rows]
    # in this process, without a worker pool (executors give the same values: test_executors.py)
    with Scorer(space, "cifar10", load_batch("cifar10", data="normal", size=4, seed=0), executor="serial") as direct:
        expected = direct.values(archs, create_proxy("params"))
    np.testing.assert_array_equal([float(row["params"]) for row in rows], expected)


def _has_table(raw: sqlite3.Connection) -> bool:
    return raw.execute("SELECT 1 FROM sqlite_master WHERE name = 'scores'").fetchone() is not None
