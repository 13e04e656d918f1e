"""The scoring engine: proxy scores of many architectures, answered from the store or computed.

:class:`Scorer` scores architectures of one space on one batch. Each score is keyed by
:func:`~nas.spaces.base.arch_key`: the exact architecture string, unless the proxy declares that its score
depends on less (:attr:`Proxy.invariance`), in which case architectures with equal live ids or
equal canonical ids share one computation and one store row. Scores already in the store are
returned from it; the rest are computed by an executor (serially, in local processes or on
Ray) and written to the store one by one as they arrive, so an interrupted run keeps its work
and a rerun continues where it stopped.

Scorers in several processes sharing one store do not compute a score twice: each missing score
is claimed in the store (:meth:`~nas.store.ScoreStore.claim`, a short-lived lease) just before it
is handed to the executor; a score another live process has claimed is skipped, and once this
process has computed everything it could claim it waits for the others' results and reads them
from the store (taking over any score whose claimant died or whose lease expired).

Each (architecture, proxy) score is computed on a freshly built model whose modules are
initialised by position (:func:`nas.initialisation.initialise_by_position`), so scores are
reproducible and independent of the order or the process they are computed in. A proxy that can
score from the architecture alone (an :class:`ArchitectureProxy`: ``params`` and ``flops`` in a
space with closed-form counts) is asked first, and no model is built when it answers.
"""

from __future__ import annotations

import math
import os
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
import torch
from tqdm import tqdm

from nas.data import load_batch
from nas.datasets import DatasetSpec
from nas.errors import NasError
from nas.executors import Executor, Failure, SerialExecutor, check_executor, create_executor, failure_of
from nas.initialisation import build_initialised
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult
from nas.spaces.base import Architecture, SearchSpace, arch_key
from nas.store import ScoreKey, ScoreStore, StoredScore

#: seeds must fit the store's signed 64-bit INTEGER column
SEED_LIMIT = 2**63


def check_seed(seed: object) -> int:
    """``seed`` if it is an integer from 0 to 2**63 - 1 (what the score store can key), else :class:`NasError`."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        shown = repr(seed) if len(repr(seed)) <= 40 else repr(seed)[:37] + "..."
        raise NasError(
            f"seed must be an integer from 0 to 2**63 - 1 = {SEED_LIMIT - 1} "
            f"(the score store keeps it as a 64-bit integer), got {shown}"
        )
    return seed


@dataclass(frozen=True)
class ScoreStats:
    """How one :meth:`Scorer.score` call went.

    ``unique`` counts distinct architecture keys (:func:`~nas.spaces.base.arch_key`) among the ``archs`` requested; of those,
    ``from_store`` were answered by the store and ``computed`` were computed now. ``seconds`` is
    the summed computation time of the unique architectures (as recorded in the store for the
    stored ones), ``wall_seconds`` the duration of the call.
    """

    proxy: str
    archs: int
    unique: int
    from_store: int
    computed: int
    nans: int
    seconds: float
    wall_seconds: float

    @property
    def seconds_per_arch(self) -> float:
        """Mean computation time of one architecture (NaN when there were none)."""
        return self.seconds / self.unique if self.unique else math.nan


#: exceptions that say nothing about the architecture (the run ran out of memory or time): their
#: NaN is returned to the caller but never stored, so a rerun computes the score again
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (MemoryError, TimeoutError)


@dataclass(frozen=True)
class TransientFailure(ProxyResult):
    """A NaN caused by the run rather than by the architecture (a dead worker, out of memory): never stored."""


@runtime_checkable
class ArchitectureProxy(Protocol):
    """A proxy that may score an architecture without building its network.

    :meth:`score_architecture` returns the result computed from the architecture, the dataset and
    the batch alone (``params`` and ``flops``: the space's closed-form counts; ``epsilon``: the
    space's :meth:`~nas.spaces.base.SearchSpace.collapsed_output`), or ``None`` when it needs the
    network; :class:`ScoringJob` then builds it and calls :meth:`Proxy.score`. Both ways must
    give the same value (the store does not say which one computed it).
    """

    def score_architecture(
        self, space: SearchSpace, arch: Architecture, dataset: DatasetSpec, batch: Batch
    ) -> ProxyResult | None:
        """The result for ``arch`` on ``batch`` without its network, or ``None``."""


@dataclass(frozen=True)
class ScoringJob:
    """What the workers share: the space, the dataset, the batch and the initialisation seed.

    Called with ``(arch_key, arch, proxies)``, it returns the result of each proxy (aligned) and
    the seconds taken. Several proxies are scored on ONE model when they name the same
    :attr:`~nas.proxies.base.Proxy.shared_pass` (which gives each the value of its own
    :meth:`~nas.proxies.base.Proxy.score`); a single proxy that is an :class:`ArchitectureProxy`
    is asked first; otherwise (or when it answers ``None``) the job builds the model fresh,
    initialises it by position and scores it. An exception becomes a NaN with reason
    ``"error: <ExcType>: <message>"`` for every proxy of the item (a :class:`TransientFailure`
    for :data:`TRANSIENT_ERRORS`). Every call runs with one intra-op thread, wherever it runs (in
    this process or in a worker), so a key always means the same value: different thread counts
    split reductions differently and change the last bits of a score.
    """

    space: SearchSpace
    dataset: DatasetSpec
    batch: Batch
    seed: int

    def __call__(self, item: tuple[str, Architecture, tuple[Proxy, ...]]) -> tuple[list[ProxyResult], float]:
        _, arch, proxies = item
        start = time.perf_counter()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            results = [_checked(proxy, found) for proxy, found in zip(proxies, self._score(arch, proxies))]
        except TRANSIENT_ERRORS as exc:
            results = [TransientFailure(math.nan, failure_of(exc).reason) for _ in proxies]
        except Exception as exc:  # one architecture's failure is its NaN, not the run's end
            results = [ProxyResult.nan(failure_of(exc).reason) for _ in proxies]
        finally:
            torch.set_num_threads(threads)
        return results, time.perf_counter() - start

    def _score(self, arch: Architecture, proxies: tuple[Proxy, ...]) -> list[ProxyResult]:
        first = proxies[0]
        if len(proxies) == 1 and isinstance(first, ArchitectureProxy):
            found = first.score_architecture(self.space, arch, self.dataset, self.batch)
            if found is not None:
                return [found]
        model = first.prepare(build_initialised(self.space, arch, self.dataset, self.seed))
        context = ProxyContext(self.space.name, self.dataset.name, self.dataset.num_classes, self.seed)
        if len(proxies) == 1:
            return [first.score(model, self.batch, context)]
        assert first.shared_pass is not None  # Scorer groups proxies of one pass only
        return first.shared_pass.score(model, self.batch, context, list(proxies))


#: with executor "auto", jobs of at most this many missing architectures start in this process
AUTO_SERIAL_LIMIT = 16
#: ... and move to the worker pool when, after one score, the ones left would take longer than this here
AUTO_POOL_SECONDS = 10.0
_SERIAL = SerialExecutor()
#: longest pause between two looks at the store while waiting for scores other processes compute
WAIT_POLL_SECONDS = 0.5
#: what the executor runs: (architecture key, architecture, the proxies scored on one model)
Item = tuple[str, Architecture, tuple[Proxy, ...]]


class Scorer:
    """Scores architectures of one space on one batch through the store; misses are computed by an executor.

    ``store`` defaults to a private in-memory store (nothing is written to disk); pass
    ``ScoreStore.open(cache_dir)`` to keep scores across runs. ``executor`` is ``"serial"``,
    ``"local"`` (a pool of ``workers`` processes, default all cores), ``"auto"`` (the default:
    serial while at most :data:`AUTO_SERIAL_LIMIT` architectures are missing, where starting
    worker processes would cost more than it saves, unless the first score shows that the rest
    would take more than :data:`AUTO_POOL_SECONDS` here; local otherwise) or ``"ray"`` (``workers``
    actors on the Ray cluster at ``ray_address``, or on a local Ray instance), or an
    :class:`~nas.executors.Executor`. ``progress`` shows a progress bar on stderr. ``seed`` seeds
    each model's initialisation. Close the scorer (or use it as a context manager) to stop the
    workers.

    Failures of the run rather than of the architecture (a dead worker, out of memory) are
    returned as NaN but never stored. ``retry_failed`` recomputes stored failures (NaNs whose
    reason starts with ``"error:"``, i.e. exceptions), e.g. after fixing a proxy or the data (when
    several processes retry the same failures at once, each may recompute one that fails again).
    ``seed`` must be from 0 to 2**63 - 1 (:func:`check_seed`).
    """

    def __init__(
        self,
        space: SearchSpace,
        dataset: str,
        batch: Batch,
        store: ScoreStore | None = None,
        executor: str | Executor = "auto",
        workers: int | None = None,
        progress: bool = False,
        ray_address: str | None = None,
        seed: int = 0,
        retry_failed: bool = False,
    ):
        check_seed(seed)
        spec = space.dataset_spec(dataset)
        if batch.dataset != spec.name:
            raise NasError(f"the batch is from dataset {batch.dataset!r}, not {spec.name!r}")
        self.space = space
        self.dataset = spec
        self.batch = batch
        self.seed = seed
        self.retry_failed = retry_failed
        self.progress = progress
        self._own_store = store is None
        self.store = ScoreStore.in_memory() if store is None else store
        self._executor: Executor | None = None
        self._own_executor = not isinstance(executor, Executor)
        if isinstance(executor, Executor):
            self._executor = executor
        else:
            check_executor(executor, workers, ray_address)  # started on first need
            self._executor_args = (executor, workers, ray_address)
        self._job = ScoringJob(space, spec, batch, seed)
        #: store keys of companion scores this scorer computed (see :meth:`score`)
        self._shared: set[ScoreKey] = set()
        #: statistics of the last :meth:`score` call
        self.last_stats: ScoreStats | None = None

    def key(self, key: str, proxy: Proxy) -> ScoreKey:
        """The store key of the architecture key ``key`` (see :func:`~nas.spaces.base.arch_key`) scored by ``proxy``."""
        precision = str(proxy.settings.get("precision", "float32"))
        settings = proxy.settings_key()
        return ScoreKey(
            self.space.name, key, proxy.name, proxy.version_key(), settings, self.batch.identity, precision, self.seed
        )

    def score(self, archs: Sequence[Architecture], proxy: Proxy, companions: Sequence[Proxy] = ()) -> list[ProxyResult]:
        """The score of each architecture (aligned with ``archs``); failures are NaN with a reason.

        Missing scores are claimed in the store before they are computed (see the module's
        documentation), so concurrent scorers compute each one once; the scores other processes
        computed meanwhile count as answered by the store.

        ``companions`` are proxies of ``proxy``'s :attr:`~nas.proxies.base.Proxy.shared_pass`
        (and its invariance): each model built for a missing score of ``proxy`` also gives their
        missing scores of that architecture, which are stored (not returned). A later call for a
        companion finds them in the store and counts them as computed by this scorer. The time of
        such a model is recorded in equal shares for the scores it gave.
        """
        _check_companions(proxy, companions)
        start = time.perf_counter()
        ids: list[str] = []
        todo: dict[str, Architecture] = {}
        for arch in archs:
            key, computed = arch_key(self.space, arch, proxy.invariance)
            ids.append(key)
            todo.setdefault(key, computed)
        keys = {arch_id: self.key(arch_id, proxy) for arch_id in todo}
        redo = _is_stored_failure if self.retry_failed else None
        stored = self.store.get_many(list(keys.values()))
        if redo is not None:
            stored = {key: row for key, row in stored.items() if not redo(row)}
        results = {arch_id: stored[key].result for arch_id, key in keys.items() if key in stored}
        seconds = sum(stored[key].seconds for key in keys.values() if key in stored)
        computed = sum(key in self._shared for key in keys.values() if key in stored)  # given by an earlier model
        missing = [arch_id for arch_id in todo if arch_id not in results]
        extra_keys = {c.name: {arch_id: self.key(arch_id, c) for arch_id in missing} for c in companions}
        extra_stored = [self.store.get_many(list(extra_keys[c.name].values())) for c in companions]
        if redo is not None:
            extra_stored = [{k: row for k, row in rows.items() if not redo(row)} for rows in extra_stored]
        misses: list[Item] = [
            (arch_id, todo[arch_id], (proxy,) + tuple(
                c for c, rows in zip(companions, extra_stored) if extra_keys[c.name][arch_id] not in rows
            ))
            for arch_id in missing
        ]
        if misses:
            bar = tqdm(total=len(misses), desc=proxy.name, unit="arch", file=sys.stderr, disable=not self.progress)
            executor = self._get_executor(len(misses))

            def found(arch_id: str, row: StoredScore) -> None:  # stored by another process meanwhile
                nonlocal seconds
                results[arch_id] = row.result
                seconds += row.seconds
                bar.update()

            def claimed(pending: list[Item], held: list[Item]) -> Iterator[Item]:
                """The items of ``pending`` this process claims, claimed one by one as the executor asks."""
                for item in pending:
                    claim = self.store.claim([keys[item[0]]], redo)
                    if claim.claimed:
                        yield item
                    elif claim.stored:
                        found(item[0], next(iter(claim.stored.values())))
                    else:
                        held.append(item)

            try:
                with bar:
                    pending = misses
                    while pending:
                        held: list[Item] = []
                        switched = False
                        with closing(executor.map_unordered(self._job, claimed(pending, held))) as outcomes:
                            for (arch_id, arch, scored), outcome in outcomes:
                                if isinstance(outcome, Failure):  # the worker died: nothing is known about the architecture
                                    given, took = [TransientFailure(math.nan, outcome.reason)] * len(scored), 0.0
                                else:
                                    given, took = outcome
                                result = given[0]
                                if isinstance(result, TransientFailure):  # never stored: another run may compute it
                                    self.store.release([keys[arch_id]])
                                else:  # committed at once (an interruption keeps it); ends its lease
                                    self.store.put(keys[arch_id], self.space.format(arch), result, took / len(scored))
                                for companion, extra in zip(scored[1:], given[1:]):
                                    if not isinstance(extra, TransientFailure):
                                        extra_key = extra_keys[companion.name][arch_id]
                                        self.store.put(extra_key, self.space.format(arch), extra, took / len(scored))
                                        self._shared.add(extra_key)
                                results[arch_id] = result
                                seconds += took / len(scored)
                                computed += 1
                                bar.update()
                                if executor is _SERIAL and self._pool_pays(
                                    took, sum(item[0] not in results and item not in held for item in pending)
                                ):
                                    executor, switched = self._start_executor(), True
                                    break
                        if switched:  # the rest on the pool (held items are claimed again)
                            pending = [item for item in pending if item[0] not in results]
                            continue
                        pending = self._wait_for(held, keys, redo, found)
            finally:
                try:  # an interrupted run leaves no lease behind (a killed one leaves leases that die with it)
                    self.store.release()
                except NasError:
                    pass
        self.last_stats = ScoreStats(
            proxy=proxy.name,
            archs=len(ids),
            unique=len(todo),
            from_store=len(todo) - computed,
            computed=computed,
            nans=sum(results[arch_id].is_nan for arch_id in ids),
            seconds=seconds,
            wall_seconds=time.perf_counter() - start,
        )
        return [results[arch_id] for arch_id in ids]

    def _wait_for(
        self,
        held: list[Item],
        keys: Mapping[str, ScoreKey],
        redo: Callable[[StoredScore], bool] | None,
        found: Callable[[str, StoredScore], None],
    ) -> list[Item]:
        """Wait until the scores of ``held`` (claimed by other processes) are stored; return those to compute here.

        Polls the store with a growing pause (up to :data:`WAIT_POLL_SECONDS`): stored scores are
        taken as they appear; as soon as some can be claimed (their claimant released them
        without a result, died or let the lease expire), those, with the ones still held, are
        returned to be claimed again and computed.
        """
        pause = 0.02
        while held:
            claim = self.store.claim([keys[item[0]] for item in held], redo)
            for item in held:
                if keys[item[0]] in claim.stored:
                    found(item[0], claim.stored[keys[item[0]]])
            if claim.claimed:
                return [item for item in held if keys[item[0]] not in claim.stored]
            held = [item for item in held if keys[item[0]] not in claim.stored]
            if held:
                time.sleep(pause)
                pause = min(WAIT_POLL_SECONDS, pause * 2)
        return []

    def values(self, archs: Sequence[Architecture], proxy: Proxy) -> np.ndarray:
        """The scores as a float64 array aligned with ``archs``, NaN where missing."""
        return np.array([result.value for result in self.score(archs, proxy)], dtype=np.float64)

    def _get_executor(self, pending: int) -> Executor:
        if self._executor is None:
            if self._executor_args[0] == "auto" and pending <= AUTO_SERIAL_LIMIT:
                return _SERIAL
            return self._start_executor()
        return self._executor

    def _start_executor(self) -> Executor:
        if self._executor is None:
            self._executor = create_executor(*self._executor_args)
        return self._executor

    def _pool_pays(self, took: float, left: int) -> bool:
        """Whether ``left`` more scores of ``took`` seconds each are worth starting ``"auto"``'s worker pool.

        Only for ``"auto"`` with more than one worker, when the scores left would take more than
        :data:`AUTO_POOL_SECONDS` in this process (starting the workers costs a few seconds).
        """
        if self._own_executor is False or self._executor_args[0] != "auto" or left == 0:
            return False
        workers = self._executor_args[1] or os.cpu_count() or 1
        return workers > 1 and took * left > AUTO_POOL_SECONDS

    def close(self) -> None:
        """Stop the workers of the executor it started (and drop its private in-memory store, if any)."""
        if self._executor is not None and self._own_executor:
            self._executor.close()
        if self._own_store:
            self.store.close()

    def __enter__(self) -> "Scorer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _why_not_companion(proxy: Proxy, other: Proxy, names: Sequence[str]) -> str | None:
    """Why ``other`` cannot be scored on ``proxy``'s models (``names``: those already scored there), or ``None``.

    A companion shares ``proxy``'s :attr:`~nas.proxies.base.Proxy.shared_pass`, its invariance
    (so the same architecture key) and its model preparation, and is not one of ``names``.
    """
    if proxy.shared_pass is None or other.shared_pass is not proxy.shared_pass:
        return f"proxy {other.name!r} is not scored by the same shared pass as {proxy.name!r}"
    if other.invariance != proxy.invariance:
        return f"proxy {other.name!r} keys its scores by {other.invariance!r}, {proxy.name!r} by {proxy.invariance!r}"
    if type(other).prepare is not type(proxy).prepare:
        return f"proxy {other.name!r} prepares its model otherwise than {proxy.name!r}"
    if other.name in names:
        return f"proxy {other.name!r} is given twice"
    return None


def _check_companions(proxy: Proxy, companions: Sequence[Proxy]) -> None:
    """:class:`NasError` unless every companion can be scored on ``proxy``'s models (:func:`_why_not_companion`)."""
    names = [proxy.name]
    for companion in companions:
        reason = _why_not_companion(proxy, companion, names)
        if reason:
            raise NasError(reason)
        names.append(companion.name)


def shared_pass_companions(proxies: Sequence[Proxy], batch: Batch) -> list[list[Proxy]]:
    """For each of ``proxies`` (scored in this order on ``batch``), the later ones its models can also score.

    A proxy's companions are the later proxies that can be scored on its models
    (:func:`_why_not_companion`: the same shared pass, invariance and model preparation) and are
    not a companion of an earlier proxy. None on a batch without labels (the pass would fail for
    every proxy that reads the loss) or for proxies without a pass.
    """
    taken: set[int] = set()
    groups: list[list[Proxy]] = []
    for i, proxy in enumerate(proxies):
        group: list[Proxy] = []
        if proxy.shared_pass is not None and batch.targets is not None and i not in taken:
            names = [proxy.name]
            for j in range(i + 1, len(proxies)):
                if j not in taken and _why_not_companion(proxy, proxies[j], names) is None:
                    group.append(proxies[j])
                    names.append(proxies[j].name)
                    taken.add(j)
        groups.append(group)
    return groups


def _is_stored_failure(row: StoredScore) -> bool:
    """A stored NaN of an exception (recomputed by ``retry_failed``)."""
    return (row.reason or "").startswith("error:")


def _checked(proxy: Proxy, result: object) -> ProxyResult:
    """The proxy's result as a plain-float :class:`ProxyResult`, with a reason on every NaN."""
    if not isinstance(result, ProxyResult):
        raise TypeError(f"proxy {proxy.name!r} returned {type(result).__name__}, not ProxyResult")
    value = float(result.value)
    if math.isnan(value):
        return ProxyResult(value, result.reason or "proxy returned NaN")
    return ProxyResult(value, result.reason)


def batch_size_of(proxy: Proxy, batch_size: int | None = None, batch_sizes: Mapping[str, int] | None = None) -> int:
    """The batch ``proxy`` is scored on: its entry in ``batch_sizes``, else ``batch_size``, else :attr:`Proxy.batch_size`."""
    if batch_sizes and proxy.name in batch_sizes:
        return batch_sizes[proxy.name]
    return proxy.batch_size if batch_size is None else batch_size


@dataclass(frozen=True)
class ScoredArchitectures:
    """The outcome of :func:`score_architectures`: per proxy, the results aligned with the architectures."""

    #: each proxy's result per architecture, NaN with a reason where missing
    results: dict[str, list[ProxyResult]]
    #: how each proxy's scoring went (store hits, computations, seconds)
    stats: dict[str, ScoreStats]
    #: the batch size each proxy was scored on
    batch_sizes: dict[str, int]
    #: one line per batch: the proxies that saw it and its identity
    inputs: list[str]

    def values(self, proxy: str) -> np.ndarray:
        """``proxy``'s scores as a float64 array, NaN where missing."""
        return np.array([result.value for result in self.results[proxy]], dtype=np.float64)


def score_architectures(
    space: SearchSpace,
    dataset: str,
    archs: Sequence[Architecture],
    proxies: Mapping[str, Proxy],
    batch_sizes: Mapping[str, int],
    *,
    data: str = "real",
    seed: int = 0,
    store: ScoreStore | None = None,
    executor: str | Executor = "auto",
    workers: int | None = None,
    progress: bool = False,
    ray_address: str | None = None,
    data_dir: str | None = None,
    retry_failed: bool = False,
) -> ScoredArchitectures:
    """Score ``archs`` with every proxy of ``proxies`` (name -> proxy), each on a batch of its size.

    ``batch_sizes`` gives each proxy's batch size (see :func:`batch_size_of`); proxies of equal
    batch size share one batch of ``data`` (see :func:`nas.data.load_batch`) drawn with
    ``seed``, which also seeds the models' initialisation. The other arguments are
    :class:`Scorer`'s.
    """
    check_seed(seed)  # before the batch is drawn with it
    groups: dict[int, list[str]] = {}
    for name in proxies:
        groups.setdefault(batch_sizes[name], []).append(name)
    results: dict[str, list[ProxyResult]] = {}
    stats: dict[str, ScoreStats] = {}
    inputs: list[str] = []
    for size, names in groups.items():
        batch = load_batch(dataset, data=data, size=size, seed=seed, data_dir=data_dir)
        inputs.append(f"{', '.join(names)}: {batch.kind} input, batch of {len(batch)} ({batch.identity})")
        with Scorer(
            space,
            dataset,
            batch,
            store=store,
            executor=executor,
            workers=workers,
            progress=progress,
            ray_address=ray_address,
            seed=seed,
            retry_failed=retry_failed,
        ) as scorer:
            companions = shared_pass_companions([proxies[name] for name in names], batch)
            for name, others in zip(names, companions):
                results[name] = scorer.score(archs, proxies[name], others)
                assert scorer.last_stats is not None
                stats[name] = scorer.last_stats
    ordered = {name: results[name] for name in proxies}
    return ScoredArchitectures(ordered, stats, {name: batch_sizes[name] for name in proxies}, inputs)
