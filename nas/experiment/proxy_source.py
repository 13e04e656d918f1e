"""The proxy scores an experiment's strategies see, read from and added to the score store.

:class:`ProxySource` is the callable a :class:`~nas.search.base.SearchContext` gets as its
proxy: direction-normalised scores of architectures, created lazily so that an experiment
of plain strategies reads no data and opens no store. A rank combination (``ensemble(a+b+c)``,
``aznas``, ``vote(a+b+c)``) keeps one memoised score source per member, each read from and
added to the store like a single proxy (one store row per member and architecture), and
combines the members' scores over the architectures of each call
(:class:`~nas.search.base.CombinedProxyScores`).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from nas.ensembles import combine
from nas.errors import NasError
from nas.experiment.config import ExperimentConfig
from nas.proxies.base import Batch, Proxy
from nas.search.base import ArchitectureCache, CachedProxyScores, CombinedProxyScores, ProxyScores
from nas.spaces.base import Architecture, SearchSpace

#: spaces up to this size have all their stored proxy scores read in one query before searching
PREFETCH_LIMIT = 100_000


class ProxySource:
    """Direction-normalised proxy scores for the strategies, through the score store.

    Everything is created on first need (a run of plain strategies reads no data): the batch,
    the store and the :class:`~nas.scoring.Scorer`. For enumerable spaces, the first call reads
    every score the store already holds for the whole space in one query (for every member of a
    combination).
    """

    def __init__(
        self,
        config: ExperimentConfig,
        space: SearchSpace,
        cache: ArchitectureCache,
        executor: str,
        workers: int | None,
        progress: bool,
        data_dir: str | os.PathLike[str] | None,
        cache_dir: str | os.PathLike[str] | None,
        ray_address: str | None = None,
    ):
        self._config = config
        self._ray_address = ray_address
        self._space = space
        self._cache = cache
        self._options = (executor, workers, progress, data_dir, cache_dir)
        self._scores: ProxyScores | None = None
        self._scorers: dict[int, Any] = {}  # batch size -> its Scorer
        self._batches: dict[int, Batch] = {}  # batch size -> the batch

    def __call__(self, archs: Sequence[Architecture]) -> np.ndarray:
        """The direction-normalised proxy scores of ``archs`` (higher is better)."""
        if self._scores is None:
            self._scores = self._start()
        return self._scores(archs)

    def _sizes(self) -> dict[str, int]:
        """The batch size of every proxy scored (the proxy, or each member of a combination), by name."""
        if self._config.proxy is None:
            raise NasError(f"{self._config.source}: proxy: missing, but a strategy uses proxy scores")
        batch = self._config.proxy.batch
        return {name: batch.size_for(proxy) for name, proxy in self._config.proxy.create_members().items()}

    def _load_batch(self, size: int) -> Batch:
        """The proxy's input batch of ``size`` examples (loaded once)."""
        from nas.data import load_batch

        if size not in self._batches:
            assert self._config.proxy is not None  # checked by _sizes
            spec = self._config.proxy.batch
            self._batches[size] = load_batch(
                self._config.dataset, data=spec.data, size=size, seed=spec.seed, data_dir=self._options[3]
            )
        return self._batches[size]

    def input_description(self) -> str:
        """What the proxy scores on, for the reports ("" without a proxy); with the members' names when they differ."""
        from nas.data import describe_input

        if self._config.proxy is None:
            return ""
        sizes = self._sizes()
        if len(set(sizes.values())) == 1:
            return describe_input(self._load_batch(next(iter(sizes.values()))))
        by_size: dict[int, list[str]] = {}
        for name, size in sizes.items():
            by_size.setdefault(size, []).append(name)
        return "; ".join(f"{', '.join(names)}: {describe_input(self._load_batch(size))}" for size, names in by_size.items())

    def _scorer(self, size: int) -> Any:
        """The scorer of the batch of ``size`` examples (created once)."""
        from nas.scoring import Scorer
        from nas.store import ScoreStore

        if size not in self._scorers:
            executor, workers, progress, data_dir, cache_dir = self._options
            settings = self._config.proxy
            assert settings is not None  # checked by _sizes
            self._scorers[size] = Scorer(
                self._space, self._config.dataset, self._load_batch(size), store=ScoreStore.open(cache_dir),
                executor=executor, workers=workers, ray_address=self._ray_address, progress=progress, seed=settings.seed,
            )
        return self._scorers[size]

    def _start(self) -> ProxyScores:
        settings = self._config.proxy
        sizes = self._sizes()
        assert settings is not None  # checked by _sizes
        members = {name: self._member_scores(proxy, self._scorer(sizes[name])) for name, proxy in settings.create_members().items()}
        if not settings.members:
            return members[settings.name]
        kind, upright = settings.kind, {name: True for name in members}  # member scores are direction-normalised
        return CombinedProxyScores(members, lambda scores: combine(kind, scores, upright))

    def _member_scores(self, proxy: Proxy, scorer: Any) -> CachedProxyScores:
        """The memoised, direction-normalised scores of one proxy from ``scorer``, preloaded from the store for small spaces."""
        scores = CachedProxyScores(
            self._cache, lambda archs: scorer.values(archs, proxy), proxy.higher_is_better, proxy.invariance
        )
        size = self._space.size()
        if size is not None and size <= PREFETCH_LIMIT:
            scores.preload(self._stored_scores(scorer, proxy))
        return scores

    def _stored_scores(self, scorer: Any, proxy: Proxy) -> dict[str, float]:
        """The raw scores the store holds for the space's architectures, by score key."""
        ids = {self._cache.score_key(arch, proxy.invariance) for arch in self._space.enumerate()}
        keys = {scorer.key(arch_id, proxy): arch_id for arch_id in ids}
        stored = scorer.store.get_many(list(keys))
        return {keys[key]: row.result.value for key, row in stored.items()}

    def close(self) -> None:
        """Shut the scorers' workers down (if any were started)."""
        for scorer in self._scorers.values():
            scorer.close()
        self._scorers = {}
