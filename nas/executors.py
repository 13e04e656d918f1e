"""Executors: run one job over a stream of items, serially, in local processes or on Ray.

A *job* is a picklable callable ``job(item) -> result`` that carries everything its items share
(for scoring: the space, the batch and the seed). It is sent to each worker once, when the
worker starts; items are streamed to the workers with a bounded number in flight, so a long
stream is never materialised, and results come back as they arrive:

    with create_executor("local", workers=4) as executor:
        for item, result in executor.map_unordered(job, items):
            ...

A failed item does not stop the run: when ``job(item)`` raises, the item's result is a
:class:`Failure` with reason ``"error: <ExcType>: <message>"``; when the worker process dies
(segfault, out of memory), the item that killed it is found and gets a :class:`Failure` too.

A local worker whose parent process is gone (``kill -9`` of the main process) exits quietly: its
pipe to the parent is closed, and a watcher thread notices the new parent process id within
:data:`PARENT_POLL_SECONDS`, even in the middle of an item.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, TypeVar

from nas.errors import NasError

T = TypeVar("T")
R = TypeVar("R")

#: executor names; "auto" is "local" for large jobs and "serial" for small ones (see nas.scoring)
EXECUTORS = ("auto", "serial", "local", "ray")

_END = object()  # marks the end of an item stream

#: how often a local worker checks that the process that started it is still its parent
PARENT_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Failure:
    """The result of an item whose job raised or whose worker process died."""

    reason: str


def failure_of(exc: BaseException) -> Failure:
    """The :class:`Failure` recording ``exc``: ``"error: <ExcType>: <message>"``."""
    return Failure(f"error: {type(exc).__name__}: {exc}")


class Executor(ABC):
    """Runs a job over a stream of items and yields ``(item, result)`` pairs as they finish."""

    workers: int

    @abstractmethod
    def map_unordered(self, job: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R | Failure]]:
        """``(item, job(item))`` for every item, in completion order; failures as :class:`Failure`."""

    def close(self) -> None:
        """Release the workers."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """Runs every item in the calling process, in order."""

    workers = 1

    def map_unordered(self, job: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R | Failure]]:
        for item in items:
            yield item, _call(job, item)


class LocalExecutor(Executor):
    """A pool of local worker processes, each single-threaded (``torch.set_num_threads(1)``).

    ``workers`` defaults to ``os.cpu_count()``. ``start_method`` is a :mod:`multiprocessing`
    start method; the default, ``"spawn"``, is safe whatever threads the parent runs (Ray,
    tqdm, torch) and costs a few seconds of start-up per pool, paid once while the job stays the
    same. Each worker runs one item at a time, so when a worker process dies the item it was
    running is known: that item gets a :class:`Failure` and the worker is replaced.
    """

    def __init__(self, workers: int | None = None, start_method: str = "spawn"):
        check_executor("local", workers)
        self.workers = workers or os.cpu_count() or 1
        self._context = multiprocessing.get_context(start_method)
        self._pool: list[_Worker] = []
        self._job: Any = None

    def _pool_for(self, job: Callable[[Any], Any]) -> list[_Worker]:
        if self._job is not job:
            self.close()
            self._pool = [_Worker(self._context, job) for _ in range(self.workers)]
            self._job = job
        return self._pool

    def map_unordered(self, job: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R | Failure]]:
        pool = self._pool_for(job)
        stream = iter(items)
        running: dict[_Worker, T] = {}
        exhausted = False
        try:
            while True:
                for worker in pool:
                    if worker not in running and not exhausted:
                        item = next(stream, _END)
                        if item is _END:
                            exhausted = True
                            break
                        worker.send(item)
                        running[worker] = item
                if not running:
                    return
                ready = set(multiprocessing.connection.wait([w.conn for w in running] + [w.sentinel for w in running]))
                for worker in [w for w in running if w.conn in ready or w.sentinel in ready]:
                    item = running.pop(worker)
                    try:
                        result = worker.receive()
                    except (EOFError, OSError):
                        result = Failure(f"error: WorkerDied: {worker.death()}")
                        pool[pool.index(worker)] = _Worker(self._context, job)
                    yield item, result
        finally:
            if running:  # interrupted: stop the items in progress, restart the pool on next use
                for worker in running:
                    worker.kill()
                self.close()

    def close(self) -> None:
        for worker in self._pool:
            worker.stop()
        self._pool = []
        self._job = None


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, context: Any, job: Callable[[Any], Any]):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, job), daemon=True)
        self.process.start()
        child.close()
        self.sentinel = self.process.sentinel
        self.finished = 0

    def send(self, item: Any) -> None:
        self.conn.send(item)

    def receive(self) -> Any:
        result = self.conn.recv()
        self.finished += 1
        return result

    def death(self) -> str:
        """Why the process died; :class:`NasError` if it never got going (its job did not load)."""
        self.process.join(timeout=5)
        self.conn.close()
        code = self.process.exitcode
        if code is not None and code < 0:
            return f"the worker process was killed by signal {signal.Signals(-code).name} (crash or out of memory)"
        if self.finished == 0:
            raise NasError(f"a worker process failed to start (exit status {code}); its error is printed above")
        return f"the worker process exited with status {code}"

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.kill()
        self.conn.close()


class RayExecutor(Executor):
    """A pool of Ray actors, one CPU each, each holding the job (``pip install 'nas-zero-cost[ray]'``).

    Connects to the cluster at ``address`` (``ray.init(address=...)``), or starts a local Ray
    instance when Ray is not initialised and no address is given; a Ray instance started here is
    shut down by :meth:`close`. ``workers`` defaults to the cluster's CPU count.
    """

    def __init__(self, workers: int | None = None, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise NasError("the ray executor needs Ray: pip install 'nas-zero-cost[ray]'") from None
        check_executor("ray", workers, address)
        self._ray = ray
        self._started_ray = False
        if not ray.is_initialized():
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, ValueError) as exc:
                raise NasError(f"cannot connect to Ray at {address!r}: {exc}") from None
            self._started_ray = True
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._actor_class = ray.remote(num_cpus=1)(_RayWorker)
        self._actors: list[Any] = []
        self._job: Any = None
        self._job_ref: Any = None

    def _actors_for(self, job: Callable[[Any], Any]) -> list[Any]:
        if self._job is not job:
            self._kill_actors()
            self._job_ref = self._ray.put(job)
            self._actors = [self._actor_class.remote(self._job_ref) for _ in range(self.workers)]
            self._job = job
        return self._actors

    def map_unordered(self, job: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R | Failure]]:
        ray = self._ray
        idle = list(self._actors_for(job))
        running: dict[Any, tuple[Any, T]] = {}  # result ref -> (actor, item)
        stream = iter(items)
        exhausted = False
        try:
            while True:
                while idle and not exhausted:
                    item = next(stream, _END)
                    if item is _END:
                        exhausted = True
                        break
                    actor = idle.pop()
                    running[actor.run.remote(item)] = (actor, item)
                if not running:
                    return
                (ref,), _ = ray.wait(list(running), num_returns=1)
                actor, item = running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayActorError:
                    # the actor's process died on this item: replace the actor, record the item
                    self._actors.remove(actor)
                    actor = self._actor_class.remote(self._job_ref)
                    self._actors.append(actor)
                    result = Failure("error: WorkerDied: the worker process died (crash or out of memory)")
                idle.append(actor)
                yield item, result
        finally:
            for ref in running:
                ray.cancel(ref, force=False)

    def _kill_actors(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []
        self._job = self._job_ref = None

    def close(self) -> None:
        self._kill_actors()
        if self._started_ray:
            self._ray.shutdown()
            self._started_ray = False


def check_executor(name: str, workers: int | None = None, ray_address: str | None = None) -> None:
    """Raise :class:`NasError` unless the arguments of :func:`create_executor` are valid."""
    if name not in EXECUTORS:
        raise NasError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise NasError(f"--workers must be at least 1, got {workers}")
    if ray_address is not None and name != "ray":
        raise NasError("--ray-address needs --executor ray")


def create_executor(name: str, workers: int | None = None, ray_address: str | None = None) -> Executor:
    """The executor called ``name``: ``"serial"``, ``"local"`` (process pool; also ``"auto"``) or ``"ray"``."""
    check_executor(name, workers, ray_address)
    if name == "serial" or name == "auto" and (workers == 1 or os.cpu_count() == 1):
        return SerialExecutor()
    if name in ("local", "auto"):
        return LocalExecutor(workers)
    return RayExecutor(workers, ray_address)


def _single_threaded() -> None:
    import torch

    torch.set_num_threads(1)
    keep_freed_memory()


#: glibc ``mallopt`` parameters (malloc.h) and the values :func:`keep_freed_memory` sets
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 64 << 20
TRIM_THRESHOLD_BYTES = 512 << 20


def keep_freed_memory() -> bool:
    """Let this process's allocator reuse freed blocks instead of returning them to the system (glibc only).

    Scoring allocates and frees the same megabyte-sized tensors thousands of times. glibc serves
    blocks over its (adaptive) mmap threshold with fresh mappings and unmaps them when freed, so
    every such tensor costs a page fault per 4 KiB page on first touch: measured on whole-space
    NB201 epsilon, 6,200 faults and 20 ms of system time per architecture, a quarter of the
    scoring time. Blocks up to :data:`MMAP_THRESHOLD_BYTES` now come from the heap, which is
    returned to the system only when :data:`TRIM_THRESHOLD_BYTES` lie free at its top. Called in
    every worker process and by the command line; returns whether the settings took (``False``
    off glibc, where nothing changes).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


def _worker_main(conn: Any, job: Callable[[Any], Any]) -> None:
    """A worker process: run the job on each item received until ``None`` arrives, or the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _exit_with_parent()
    _single_threaded()
    try:
        while (item := conn.recv()) is not None:
            conn.send(_call(job, item))
    except (EOFError, OSError):  # the parent closed its end of the pipe (it died): nobody to answer
        os._exit(0)


def _exit_with_parent() -> None:
    """Exit this process (quietly, at once) when the process that started it dies: a watcher thread.

    A process whose parent dies is adopted by another (init, or a subreaper), so its parent
    process id changes; the watcher checks every :data:`PARENT_POLL_SECONDS`.
    """
    parent = os.getppid()  # (a parent that died before this line closed the pipe: recv() ends the worker)

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="nas-exit-with-parent", daemon=True).start()


def _call(job: Callable[[T], R], item: T) -> R | Failure:
    try:
        return job(item)
    except Exception as exc:  # one failing item must not stop the run
        return failure_of(exc)


class _RayWorker:
    """A Ray actor holding one job."""

    def __init__(self, job: Callable[[Any], Any]):
        _single_threaded()
        self._job = job

    def run(self, item: Any) -> Any:
        return _call(self._job, item)
