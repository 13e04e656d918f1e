"""Executors through the Scorer: same scores everywhere, failures isolated, streams bounded."""

from __future__ import annotations

import importlib.util
import os
import random
import signal

import numpy as np
import pytest
import torch.nn as nn

from nas.data import load_batch
from nas.datasets import dataset_spec
from nas.errors import NasError
from nas.executors import Failure, LocalExecutor, SerialExecutor, create_executor
from nas.proxies import create_proxy
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult
from nas.scoring import Scorer
from nas.spaces import create_space


class WeightSum(Proxy):
    """Depends on the initialisation: the sum of the initial weights."""

    name = "test_weight_sum"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        return ProxyResult(float(sum(p.detach().double().sum() for p in model.parameters())))


class Fragile(Proxy):
    """Counts parameters, but fails on the network with ``victim`` parameters: raises or kills its process."""

    name = "test_fragile"
    defaults = {"victim": 0, "how": "raise"}

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        count = sum(p.numel() for p in model.parameters())
        if count == self.settings["victim"]:
            if self.settings["how"] == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise ValueError(f"refusing {count} parameters")
        return ProxyResult(float(count))


@pytest.fixture(scope="module")
def space():
    return create_space("nb201")


@pytest.fixture(scope="module")
def batch() -> Batch:
    """16 images: the same-bytes test's epsilon reduces over them; the other proxies here ignore the batch or not its size."""
    return load_batch("cifar10", data="normal", size=16, seed=0)


@pytest.fixture(scope="module")
def archs(space) -> list:
    rng = random.Random(7)
    return [space.sample(rng) for _ in range(12)]


@pytest.fixture(scope="module")
def local(space, batch):
    """One local-process scorer for the module (its worker pool is started once)."""
    with Scorer(space, "cifar10", batch, executor="local", workers=2) as scorer:
        yield scorer


def _counts(space, archs) -> list[int]:
    return [space.count_parameters(arch, dataset_spec("cifar10")) for arch in archs]


def _victim(space, archs) -> tuple[int, int]:
    """An architecture index whose parameter count no other sampled architecture has, and that count."""
    counts = _counts(space, archs)
    for index, count in enumerate(counts):
        if counts.count(count) == 1:
            return index, count
    raise AssertionError("no architecture with a unique parameter count in the sample")


def test_serial_and_local_agree(space, batch, archs, local):
    proxy = WeightSum()
    with Scorer(space, "cifar10", batch) as serial:
        expected = serial.values(archs, proxy)
    got = local.values(archs, proxy)
    assert np.isfinite(expected).all()
    # exact: the same code, seed and initial weights, single-threaded (worker and this process) on the same CPU
    np.testing.assert_array_equal(got, expected)


def test_scores_are_reproducible_whatever_the_order_and_depend_on_the_seed(space, batch, archs):
    proxy = WeightSum()
    with Scorer(space, "cifar10", batch, seed=0) as a, Scorer(space, "cifar10", batch, seed=0) as b:
        forward = a.values(archs[:4], proxy)
        # exact: each network's weights come from the seed, whatever the order, and are summed by the same code
        np.testing.assert_array_equal(b.values(archs[:4][::-1], proxy)[::-1], forward)
    with Scorer(space, "cifar10", batch, seed=1) as c:
        other = c.values(archs[:4], proxy)
    assert not np.isclose(other, forward).any()


@pytest.mark.parametrize("executor", ["serial", "local"])
def test_an_exception_is_that_architecture_s_nan(space, batch, archs, local, executor):
    index, count = _victim(space, archs)
    proxy = Fragile(victim=count)
    scorer = local if executor == "local" else Scorer(space, "cifar10", batch)
    results = scorer.score(archs, proxy)
    assert results[index].is_nan
    assert results[index].reason == f"error: ValueError: refusing {count} parameters"
    others = [r for i, r in enumerate(results) if i != index]
    assert not any(r.is_nan for r in others)
    assert [r.value for r in others] == [float(c) for i, c in enumerate(_counts(space, archs)) if i != index]


def test_a_dying_worker_is_that_architecture_s_nan(space, archs, local):
    index, count = _victim(space, archs)
    results = local.score(archs, Fragile(victim=count, how="kill"))
    assert results[index].is_nan
    assert results[index].reason.startswith("error: WorkerDied:") and "SIGKILL" in results[index].reason
    assert sum(r.is_nan for r in results) == 1
    # the pool has recovered: the next run works on every architecture
    again = local.values(archs, Fragile(victim=-1, how="kill"))
    assert np.isfinite(again).all()


def test_a_dead_worker_is_not_stored_and_a_rerun_computes_it(space, batch, archs, tmp_path):
    from nas.store import ScoreStore

    index, count = _victim(space, archs)
    sample = [archs[index]] + [a for i, a in enumerate(archs) if i != index][:3]  # the victim and three others
    proxy = Fragile(victim=count, how="kill")
    with ScoreStore.open(tmp_path) as store, Scorer(space, "cifar10", batch, store=store, executor="local", workers=2) as scorer:
        assert scorer.score(sample, proxy)[0].reason.startswith("error: WorkerDied:")
        assert len(store) == len(set(map(space.format, sample))) - 1  # every score but the accident
        again = scorer.score(sample, proxy)  # computed again (and dies again: the proxy kills on purpose)
        assert scorer.last_stats.computed == 1 and again[0].reason.startswith("error: WorkerDied:")


def test_a_proxy_error_is_stored_and_retry_failed_recomputes_it(space, batch, archs, tmp_path):
    from nas.store import ScoreStore

    index, count = _victim(space, archs)
    with ScoreStore.open(tmp_path) as store:
        with Scorer(space, "cifar10", batch, store=store, executor="serial") as scorer:
            assert scorer.score(archs, Fragile(victim=count))[index].reason.startswith("error: ValueError")
            scorer.score(archs, Fragile(victim=count))
            assert scorer.last_stats.computed == 0  # a deterministic failure is a stored answer
        with Scorer(space, "cifar10", batch, store=store, executor="serial", retry_failed=True) as scorer:
            scorer.score(archs, Fragile(victim=count))
            assert scorer.last_stats.computed == 1  # only the failure is recomputed


def test_serial_and_local_scoring_give_the_same_bytes_whatever_the_caller_threads(space, batch, archs, local):
    import torch

    epsilon = create_proxy("epsilon", collapse="off")  # the direct path: reductions over many channels
    sample = archs[:4]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # as a user's process has; each scoring call must still run on one thread
    try:
        with Scorer(space, "cifar10", batch, executor="serial") as serial:
            in_process = serial.values(sample, epsilon)
    finally:
        torch.set_num_threads(threads)
    in_workers = local.values(sample, epsilon)  # the module's pool of 2 workers, on the same batch of 16
    # exact: one intra-op thread everywhere, the same code on the same CPU
    assert in_process.tobytes() == in_workers.tobytes()


def _square(x: int) -> int:
    return x * x


def test_local_executor_streams_with_a_bounded_number_in_flight():
    pulled = 0

    def items():
        nonlocal pulled
        for i in range(40):
            pulled += 1
            yield i

    with LocalExecutor(workers=2, start_method="fork") as executor:  # fork: quick to start
        seen = []
        for item, result in executor.map_unordered(_square, items()):
            seen.append(item)
            assert result == item * item
            assert pulled - len(seen) <= executor.workers - 1
    assert sorted(seen) == list(range(40))


def test_serial_executor_records_exceptions():
    results = dict(SerialExecutor().map_unordered(lambda x: 1 // x, [1, 0, 2]))
    assert results[1] == 1 and results[2] == 0
    assert results[0] == Failure("error: ZeroDivisionError: integer division or modulo by zero")


def test_auto_runs_small_jobs_in_process_and_large_ones_on_a_local_pool(space, batch) -> None:
    from nas.scoring import AUTO_SERIAL_LIMIT

    rng = random.Random(11)
    archs = []
    while len({space.canonical_id(a) for a in archs}) <= AUTO_SERIAL_LIMIT + 3:
        archs.append(space.sample(rng))
    proxy = create_proxy("params")
    with Scorer(space, "cifar10", batch, executor="auto", workers=2) as scorer:
        small = scorer.values(archs[:3], proxy)
        assert scorer._executor is None  # three misses: scored in this process, no pool started
        large = scorer.values(archs, proxy)
        assert isinstance(scorer._executor, LocalExecutor)
    with Scorer(space, "cifar10", batch, executor="serial") as serial:
        assert np.array_equal(np.concatenate([small, large]), serial.values(archs[:3] + archs, proxy))  # exact: integer counts
    with create_executor("auto", workers=2) as executor:
        assert isinstance(executor, LocalExecutor)


def test_auto_moves_a_small_job_to_the_pool_when_its_first_score_shows_the_rest_is_slow(space, batch, monkeypatch) -> None:
    """After one score in this process, the rest goes to the pool when it would take longer than AUTO_POOL_SECONDS."""
    import nas.scoring as scoring

    rng = random.Random(12)
    archs = [space.sample(rng) for _ in range(5)]
    proxy = create_proxy("synflow")
    monkeypatch.setattr(scoring, "AUTO_POOL_SECONDS", 0.0)  # any score "slow": the first one decides for the pool
    with Scorer(space, "cifar10", batch, executor="auto", workers=2) as scorer:
        moved = scorer.values(archs, proxy)
        assert isinstance(scorer._executor, LocalExecutor)
        assert scorer.last_stats is not None and scorer.last_stats.computed == len(set(map(space.format, archs)))
    with Scorer(space, "cifar10", batch, executor="auto", workers=1) as one:
        alone = one.values(archs, proxy)
        assert one._executor is None  # one worker: nothing to move to
    with Scorer(space, "cifar10", batch, executor="serial") as serial:
        expected = serial.values(archs, proxy)
    # exact: every score is computed single-threaded from the same model and batch, wherever it runs
    assert np.array_equal(moved, expected, equal_nan=True) and np.array_equal(alone, expected, equal_nan=True)


def test_bad_executor_arguments_are_user_errors(space, batch):
    with pytest.raises(NasError, match="unknown executor 'threads'"):
        Scorer(space, "cifar10", batch, executor="threads")
    with pytest.raises(NasError, match="at least 1"):
        create_executor("local", workers=0)
    with pytest.raises(NasError, match="needs --executor ray"):
        create_executor("local", ray_address="127.0.0.1:6379")


@pytest.mark.slow
def test_parent_memory_stays_flat_while_streaming(space, local):
    """Scoring 400 more architectures must not grow the parent by anything like 400 models."""
    every = list(space.enumerate())
    rng = random.Random(3)
    rng.shuffle(every)
    proxy = create_proxy("params")

    def rss_mb() -> float:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    local.values(every[:100], proxy)
    before = rss_mb()
    values = local.values(every[100:500], proxy)
    after = rss_mb()
    assert np.isfinite(values).all()
    # one NB201 network weighs 0.3 to 6 MB: holding the 400 models would cost hundreds of MB
    assert after - before < 30, f"parent grew by {after - before:.1f} MB"


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install '.[ray]')")
def test_ray_agrees_with_local_and_serial(space, batch, archs, local):
    import ray

    proxy = create_proxy("grad_norm")
    with Scorer(space, "cifar10", batch) as serial:
        expected = serial.values(archs[:6], proxy)
    from_local = local.values(archs[:6], proxy)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with Scorer(space, "cifar10", batch, executor="ray", workers=2) as scorer:
            from_ray = scorer.values(archs[:6], proxy)
    finally:
        ray.shutdown()
    assert np.isfinite(expected).all()
    # exact: the same code on the same CPU, all single-threaded (see the fixture above), so even
    # float32 sums are rounded alike; this is a same-machine claim, never compared across machines
    np.testing.assert_array_equal(from_ray, from_local)
    np.testing.assert_array_equal(from_ray, expected)


def _children(pid: int) -> list[int]:
    """The live (not zombie) processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                state, parent = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[:2]
            except (OSError, ValueError):
                continue
            if int(parent) == pid and state not in ("Z", "X"):
                found.append(int(entry))
    return found


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            alive.append(pid)
    return alive


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the workers through /proc")
def test_workers_exit_quietly_when_the_main_process_is_killed(tmp_path, data_dir):
    """kill -9 of ``nas score`` during scoring: its local workers exit within seconds, without a traceback."""
    import sqlite3
    import subprocess
    import sys
    import time

    cache = tmp_path / "cache"
    command = [sys.executable, "-m", "nas", "score", "--executor", "local", "--workers", "2", "--sample", "40"]
    command += ["--proxy", "synflow", "--dataset", "cifar10", "--batch-size", "8", "--no-progress", "--cache-dir", str(cache)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # the workers inherit the parent's stderr: whatever they print arrives in this pipe
    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    database, stored, deadline, workers = cache / "scores.sqlite", 0, time.monotonic() + 300, []
    try:
        while stored == 0 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            if database.exists():
                try:
                    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as raw:
                        stored = raw.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
                except sqlite3.Error:  # not created yet
                    pass
        workers = _children(run.pid)
        assert run.poll() is None and stored > 0, "the run ended (or never stored a score) before it could be killed"
        assert len(workers) >= 2, workers
        run.kill()
        run.wait()
        gone_by = time.monotonic() + 5
        while _alive(workers) and time.monotonic() < gone_by:
            time.sleep(0.1)
        assert not _alive(workers), "workers outlived their parent by 5 s"
        err = run.stderr.read().decode(errors="replace")  # EOF: every writer (the workers too) has exited
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        for pid in _alive(workers):  # only if the test failed: leave no worker behind
            os.kill(pid, signal.SIGKILL)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
