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
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from abc import ABC, abstractmethod
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, TypeVar

from nas.errors import NasError

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("serial", "local", "ray")

#: consecutive items that each kill a fresh worker before the run is given up as broken
_MAX_CONSECUTIVE_DEATHS = 3


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

    ``workers`` defaults to ``os.cpu_count()``; ``start_method`` is a :mod:`multiprocessing`
    start method (default ``"spawn"``, safe with threads in the parent). The pool is started on
    first use and kept, for the same job, across :meth:`map_unordered` calls.
    """

    def __init__(self, workers: int | None = None, start_method: str = "spawn", in_flight_per_worker: int = 2):
        check_executor("local", workers)
        self.workers = workers or os.cpu_count() or 1
        self._context = multiprocessing.get_context(start_method)
        self._window = self.workers * in_flight_per_worker
        self._pool: ProcessPoolExecutor | None = None
        self._job: Any = None

    def _pool_for(self, job: Callable[[Any], Any], workers: int | None = None) -> ProcessPoolExecutor:
        if self._pool is None or self._job is not job:
            self.close()
            self._pool = ProcessPoolExecutor(
                max_workers=workers or self.workers,
                mp_context=self._context,
                initializer=_install_job,
                initargs=(job,),
            )
            self._job = job
        return self._pool

    def map_unordered(self, job: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R | Failure]]:
        stream = iter(items)
        pending: dict[Future[Any], T] = {}
        suspects: deque[T] = deque()
        deaths = 0
        try:
            while True:
                if suspects:
                    # after a worker died: rerun its unfinished items one at a time in a fresh
                    # pool, so that the one that kills a worker again is identified
                    item = suspects.popleft()
                    self.close()
                    future = self._pool_for(job, workers=1).submit(_run_job, item)
                    try:
                        yield item, future.result()
                        deaths = 0
                    except BrokenProcessPool:
                        deaths += 1
                        if deaths >= _MAX_CONSECUTIVE_DEATHS:
                            raise NasError(
                                f"{deaths} worker processes in a row died at start or on their first item; "
                                "is the job importable and picklable in a fresh process?"
                            ) from None
                        yield item, Failure("error: WorkerDied: the worker process died (crash or out of memory)")
                    if not suspects:
                        self.close()  # back to a full pool
                    continue
                pool = self._pool_for(job)
                for item in stream:
                    pending[pool.submit(_run_job, item)] = item
                    if len(pending) >= self._window:
                        break
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    item = pending.pop(future)
                    try:
                        yield item, future.result()
                    except BrokenProcessPool:
                        suspects.append(item)
                if suspects:
                    suspects.extend(pending.values())
                    pending.clear()
        finally:
            for future in pending:
                future.cancel()
            if suspects or pending:
                self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._job = None


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

    def _actors_for(self, job: Callable[[Any], Any]) -> list[Any]:
        if self._job is not job:
            self._kill_actors()
            job_ref = self._ray.put(job)
            self._actors = [self._actor_class.remote(job_ref) for _ in range(self.workers)]
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
                    actor = self._actor_class.remote(self._ray.put(job))
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
        self._job = None

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
    """The executor called ``name``: ``"serial"``, ``"local"`` (process pool) or ``"ray"``."""
    check_executor(name, workers, ray_address)
    if name == "serial":
        return SerialExecutor()
    if name == "local":
        return LocalExecutor(workers)
    return RayExecutor(workers, ray_address)


_END = object()

# The job installed in this worker process by the pool's initializer.
_worker_job: Callable[[Any], Any] | None = None


def _single_threaded() -> None:
    import torch

    torch.set_num_threads(1)


def _install_job(job: Callable[[Any], Any]) -> None:
    """Pool initializer: keep the job, use one thread, leave Ctrl-C to the parent."""
    global _worker_job
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _single_threaded()
    _worker_job = job


def _run_job(item: Any) -> Any:
    assert _worker_job is not None, "worker started without a job"
    return _call(_worker_job, item)


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
