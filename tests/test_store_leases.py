"""Leases: concurrent scorers compute each distinct score once; a dead or stuck claimant's lease is taken over.

Concurrent runs are real ``nas score`` processes sharing one --cache-dir, on overlapping seeded
samples (``--sample N --seed 0`` draws the first N of one sequence, so smaller samples are
prefixes of larger ones); each reports on stderr how many scores it computed. Before leases,
two processes (samples 70 and 50) computed 117 scores for 70 distinct ones, four (70, 60, 50,
40) computed 215.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nas.data import load_batch
from nas.proxies import create_proxy
from nas.proxies.base import ProxyResult
from nas.scoring import Scorer
from nas.spaces import create_space
from nas.spaces.base import arch_key
from nas.store import LEASE_ENV, STORE_FILE, ScoreKey, ScoreStore

SUMMARY = re.compile(r"params: (\d+) architectures \((\d+) distinct\), 0 NaN, .* (\d+) from the store, (\d+) computed")


def _concurrent(samples: list[int], cache: Path) -> list[dict[str, object]]:
    """Run ``nas score`` on each sample size at once (same seed, same cache); each one's summary and scores."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "nas", "score", "--proxy", "params", "--dataset", "cifar10", "--data", "normal"]
    command += ["--batch-size", "8", "--executor", "serial", "--no-progress", "--seed", "0", "--no-metrics"]
    command += ["--cache-dir", str(cache)]
    runs = [
        subprocess.Popen([*command, "--sample", str(n)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in samples
    ]
    outcomes = []
    for run in runs:
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, err
        summary = SUMMARY.search(err)
        assert summary, err
        archs, distinct, from_store, computed = map(int, summary.groups())
        scores = dict(re.findall(r"^(\|[^,]+\|),[^,]*,([^,]+),", out, flags=re.M))
        outcomes.append({"archs": archs, "distinct": distinct, "from_store": from_store, "computed": computed, "scores": scores})
    return outcomes


@pytest.mark.slow
@pytest.mark.parametrize("samples", [[40, 30], [40, 35, 30, 25]], ids=["two", "four"])
def test_concurrent_processes_compute_each_distinct_score_once(samples, tmp_path):
    cache = tmp_path / "cache"
    outcomes = _concurrent(samples, cache)
    distinct = max(outcome["distinct"] for outcome in outcomes)
    assert distinct == 40  # params is keyed on the exact string: the largest sample holds every other
    assert sum(outcome["computed"] for outcome in outcomes) == distinct, outcomes
    for outcome in outcomes:
        assert outcome["from_store"] + outcome["computed"] == outcome["distinct"]
    merged: dict[str, str] = {}
    for outcome in outcomes:  # every process answers every architecture with the same value
        for arch, value in outcome["scores"].items():
            assert merged.setdefault(arch, value) == value
    assert len(merged) == distinct
    with ScoreStore.open(cache) as store:
        assert len(store) == distinct
        assert store.leases() == []  # every lease ended with its score


@pytest.fixture()
def setting():
    """NB201 architectures, the params proxy, a batch and the store keys a ``nas score`` of them uses."""
    space = create_space("nb201")
    proxy = create_proxy("params")
    batch = load_batch("cifar10", data="normal", size=4, seed=0)
    archs = [space.sample(random.Random(i)) for i in range(6)]
    with Scorer(space, "cifar10", batch) as scorer:
        keys = [scorer.key(arch_key(space, arch, proxy.invariance)[0], proxy) for arch in archs]
        expected = scorer.values(archs, proxy)
    return space, proxy, batch, archs, keys, expected


HOLDER = """
import json, os, signal, sys, time
from nas.proxies.base import ProxyResult
from nas.store import ScoreKey, ScoreStore
path, action, keys = sys.argv[1], sys.argv[2], [ScoreKey(*k) for k in json.loads(sys.argv[3])]
store = ScoreStore(path)
claim = store.claim(keys)
print(len(claim.claimed), flush=True)
if action == "die":
    os.kill(os.getpid(), signal.SIGKILL)
elif action == "hang":
    time.sleep(120)
else:  # "finish": compute (here: a marker value) after a while, then store
    time.sleep(float(action))
    for key in keys:
        store.put(key, "held", ProxyResult(-1.0), 0.5)
"""


def _holder(path: Path, action: str, keys: list[ScoreKey], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A process that opens the store, claims ``keys``, says how many it got, then dies, hangs or stores them."""
    payload = json.dumps([list(vars(key).values()) for key in keys])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), action, payload],
        env=dict(os.environ, **(env or {})), stdout=subprocess.PIPE, text=True,
    )
    assert int(holder.stdout.readline()) == len(keys)
    return holder


def test_a_live_claimant_is_waited_for_and_its_scores_read_not_recomputed(setting, tmp_path):
    space, proxy, batch, archs, keys, expected = setting
    path = tmp_path / STORE_FILE
    ScoreStore(path).close()
    holder = _holder(path, "1.5", keys[:3])
    start = time.monotonic()
    with ScoreStore(path) as store, Scorer(space, "cifar10", batch, store=store) as scorer:
        values = scorer.values(archs, proxy)
        stats = scorer.last_stats
        leases = store.leases()
    assert holder.wait(timeout=60) == 0
    assert (stats.from_store, stats.computed) == (3, 3)  # the held three were waited for, not computed
    assert list(values[:3]) == [-1.0] * 3 and list(values[3:]) == list(expected[3:])
    assert time.monotonic() - start >= 1.0 and leases == []


def test_a_killed_claimant_s_leases_are_taken_over_at_once(setting, tmp_path):
    space, proxy, batch, archs, keys, expected = setting
    path = tmp_path / STORE_FILE
    ScoreStore(path).close()
    holder = _holder(path, "die", keys)
    assert holder.wait(timeout=60) == -signal.SIGKILL
    with ScoreStore(path) as store:
        left = store.leases()
        assert [key for key, _, _ in left] == sorted(keys, key=lambda k: k.arch_key) and store.lease_seconds == 600
        assert all(expires > time.time() + 500 for _, _, expires in left)  # far from expiring: liveness decides
        start = time.monotonic()
        with Scorer(space, "cifar10", batch, store=store) as scorer:
            values = scorer.values(archs, proxy)
        assert time.monotonic() - start < 60
        assert (scorer.last_stats.from_store, scorer.last_stats.computed) == (0, len(archs))
        np.testing.assert_array_equal(values, expected)
        assert store.leases() == []


def test_a_stuck_claimant_s_lease_expires_after_nas_lease_seconds(setting, tmp_path, monkeypatch):
    space, proxy, batch, archs, keys, expected = setting
    path = tmp_path / STORE_FILE
    ScoreStore(path).close()
    holder = _holder(path, "hang", keys[:2], env={LEASE_ENV: "3"})  # alive, but never finishes
    try:
        monkeypatch.setenv(LEASE_ENV, "3")
        start = time.monotonic()
        with ScoreStore(path) as store, Scorer(space, "cifar10", batch, store=store) as scorer:
            assert store.lease_seconds == 3.0
            values = scorer.values(archs, proxy)
        waited = time.monotonic() - start
    finally:
        holder.kill()
        holder.wait()
    assert 2.5 <= waited < 60
    assert (scorer.last_stats.from_store, scorer.last_stats.computed) == (0, len(archs))
    np.testing.assert_array_equal(values, expected)


def test_a_lease_of_another_host_lasts_until_it_expires(setting, tmp_path):
    space, proxy, batch, archs, keys, expected = setting
    with ScoreStore.open(tmp_path) as store:
        store.claim(keys[:1])
        store._db.execute("UPDATE leases SET claimant = 'elsewhere:1:abc', expires = ?", (time.time() + 2,))
        assert store.claim(keys[:1]).held == keys[:1]  # its process cannot be checked from here
        start = time.monotonic()
        with Scorer(space, "cifar10", batch, store=store) as scorer:
            values = scorer.values(archs, proxy)
        assert time.monotonic() - start >= 1.5
        np.testing.assert_array_equal(values, expected)


def test_claims_skip_stored_and_held_keys_and_put_ends_the_lease(tmp_path):
    key = lambda i: ScoreKey("nb201", f"exact:a{i}", "params", "1", "{}", "b", "float32", 0)  # noqa: E731
    with ScoreStore.open(tmp_path) as first, ScoreStore.open(tmp_path) as second:
        first.put(key(0), "a0", ProxyResult(0.0), 0.1)
        claim = first.claim([key(0), key(1), key(2)])
        assert claim.claimed == [key(1), key(2)] and list(claim.stored) == [key(0)] and claim.held == []
        other = second.claim([key(1), key(2), key(3)])  # the same process, another claimant: still live
        assert other.held == [key(1), key(2)] and other.claimed == [key(3)]
        renewed = first.claim([key(1)])  # a claimant's own lease is renewed, not held
        assert renewed.claimed == [key(1)]
        second.put(key(1), "a1", ProxyResult(1.0), 0.1)  # whoever stores a score ends its lease
        assert [k for k, _, _ in first.leases()] == [key(2), key(3)]
        first.release()
        assert [(k, who) for k, who, _ in first.leases()] == [(key(3), second.claimant)]
        assert second.claim([key(2)]).claimed == [key(2)]
        assert first.claim([key(1)]).stored[key(1)].value == 1.0
        failed = lambda row: (row.reason or "").startswith("error:")  # noqa: E731
        second.put(key(4), "a4", ProxyResult.nan("error: ValueError: x"), 0.1)
        assert first.claim([key(4)], failed).claimed == [key(4)]  # a stored failure to recompute counts as missing


def test_a_bad_lease_duration_is_one_line(tmp_path, monkeypatch):
    from nas.errors import NasError

    monkeypatch.setenv(LEASE_ENV, "soon")
    with pytest.raises(NasError, match="NAS_LEASE_SECONDS must be a positive number of seconds, got 'soon'"):
        ScoreStore.open(tmp_path)
