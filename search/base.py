"""The interface every search strategy implements, and what a strategy may use while it runs.

A strategy proposes architectures of a space, may rank candidates with a zero-cost proxy
(:meth:`SearchContext.proxy_scores`, cheap), and "trains" the ones it picks by querying the
training oracle (:meth:`SearchContext.train`, the budget). Its result is the oracle's history:
every trained architecture, its metric and the running best.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence

import numpy as np

from nas.benchmarks.base import Oracle
from nas.errors import NasError
from nas.spaces.base import Architecture, SearchSpace, arch_key

#: Proxy scores of architectures, aligned with them, direction-normalised (higher is better), NaN if missing.
ProxyScores = Callable[[Sequence[Architecture]], np.ndarray]


class ArchitectureCache:
    """Memoised string forms, canonical ids and score keys of one space's architectures.

    Shared by all rounds and strategies of an experiment, so each architecture is formatted and
    canonicalised once however often it is sampled.
    """

    def __init__(self, space: SearchSpace):
        self.space = space
        self._strings: dict[Architecture, str] = {}
        self._canonical: dict[Architecture, str] = {}
        self._keys: dict[tuple[Architecture, str], str] = {}

    def format(self, arch: Architecture) -> str:
        """``space.format(arch)``, memoised."""
        text = self._strings.get(arch)
        if text is None:
            text = self._strings[arch] = self.space.format(arch)
        return text

    def canonical_id(self, arch: Architecture) -> str:
        """``space.canonical_id(arch)``, memoised."""
        key = self._canonical.get(arch)
        if key is None:
            key = self._canonical[arch] = self.space.canonical_id(arch)
        return key

    def score_key(self, arch: Architecture, invariance: str) -> str:
        """The score key of ``arch`` for a proxy of this invariance (:func:`~nas.spaces.base.arch_key`), memoised."""
        key = self._keys.get((arch, invariance))
        if key is None:
            key = self._keys[(arch, invariance)] = arch_key(self.space, arch, invariance)[0]
        return key


@dataclass
class SearchContext:
    """Everything one run of a strategy may use: space, oracle, proxy scores and randomness.

    ``oracle`` must have a budget (the number of trained models); ``proxy_scores`` returns
    direction-normalised scores (higher is better, NaN where the proxy failed); ``rng`` is the
    run's only source of randomness, so a run is reproducible from its seed.
    """

    space: SearchSpace
    oracle: Oracle
    proxy_scores: ProxyScores
    rng: random.Random
    cache: ArchitectureCache | None = None

    def __post_init__(self) -> None:
        if self.oracle.budget is None or self.oracle.budget < 1:
            raise NasError(f"a search needs a budget of at least 1 trained model, got {self.oracle.budget!r}")
        if self.cache is None:
            self.cache = ArchitectureCache(self.space)
        elif self.cache.space is not self.space:
            raise ValueError("the architecture cache belongs to another space")

    @property
    def budget(self) -> int:
        """The number of models the run may train."""
        return int(self.oracle.budget)  # type: ignore[arg-type]

    @property
    def exhausted(self) -> bool:
        """Whether the budget is used up."""
        return self.oracle.exhausted

    def train(self, arch: Architecture) -> float:
        """Train (query) ``arch``: counts against the budget; returns its fitness (NaN if unknown).

        The fitness is the oracle's metric, negated when the metric is minimised (a perplexity),
        so strategies always maximise it; the oracle's history keeps the metric itself.
        """
        assert self.cache is not None
        value = self.oracle.train(self.cache.format(arch))
        return value if self.oracle.maximise else -value

    def train_many(self, archs: Sequence[Architecture]) -> list[float]:
        """Train (query) several architectures at once, in order: their fitnesses, as :meth:`train`.

        They must fit in the remaining budget. A training oracle trains them in parallel, so a
        strategy asks this way wherever its choices do not depend on each other's results.
        """
        assert self.cache is not None
        values = self.oracle.train_many([self.cache.format(arch) for arch in archs])
        return [value if self.oracle.maximise else -value for value in values]

    def sample_pool(self, size: int) -> list[Architecture]:
        """Up to ``size`` random architectures computing distinct functions, in sampling order.

        Draws uniformly with :meth:`SearchSpace.sample` and keeps the first architecture of each
        canonical id; stops after ``20 * size`` draws when the space has fewer distinct functions.
        """
        assert self.cache is not None
        canonical, sample, rng = self.cache.canonical_id, self.space.sample, self.rng
        seen: set[str] = set()
        pool: list[Architecture] = []
        for _ in range(20 * size):
            arch = sample(rng)
            key = canonical(arch)
            if key not in seen:
                seen.add(key)
                pool.append(arch)
                if len(pool) == size:
                    break
        return pool

    def rank_by_proxy(self, archs: Sequence[Architecture]) -> list[Architecture]:
        """``archs`` sorted by proxy score, best first, NaN scores last; ties keep their order.

        The scores of all ``archs`` are asked for in one call, so a proxy that ranks a set (a
        :class:`CombinedProxyScores`) ranks exactly ``archs``.
        """
        scores = self.proxy_scores(archs)
        order = sorted(range(len(archs)), key=lambda i: _descending(float(scores[i])))
        return [archs[i] for i in order]

    def best_by_proxy(self, archs: Sequence[Architecture]) -> Architecture:
        """The architecture of ``archs`` with the best proxy score (the first one on ties).

        As :meth:`rank_by_proxy`, one call scores all ``archs``: a combination is taken over them.
        """
        if not archs:
            raise ValueError("no architectures to choose from")
        scores = self.proxy_scores(archs)
        return archs[min(range(len(archs)), key=lambda i: _descending(float(scores[i])))]


class CachedProxyScores:
    """A :data:`ProxyScores` callable over a slower batched source, memoised per score key.

    ``values(archs)`` returns raw proxy scores (NaN where missing), e.g. a
    :class:`nas.scoring.Scorer`'s ``values``; it is called once per call of this object, with
    one architecture of each score key not seen before. Score keys follow the proxy's
    ``invariance`` (:func:`~nas.spaces.base.arch_key`), so architectures share a score exactly
    when the store would let them. Scores are negated when the proxy is lower-is-better, so the
    result is always higher-is-better.
    """

    def __init__(
        self,
        cache: ArchitectureCache,
        values: Callable[[list[Architecture]], np.ndarray],
        higher_is_better: bool = True,
        invariance: str = "exact",
    ):
        self.cache = cache
        self._values = values
        self._sign = 1.0 if higher_is_better else -1.0
        self.invariance = invariance
        self._scores: dict[str, float] = {}

    def key(self, arch: Architecture) -> str:
        """The score key of ``arch``."""
        assert self.cache is not None
        return self.cache.score_key(arch, self.invariance)

    def preload(self, raw: Mapping[str, float]) -> None:
        """Add raw scores known in advance, by score key (e.g. read from the store in one query)."""
        for key, value in raw.items():
            self._scores[key] = self._sign * float(value)

    def __call__(self, archs: Sequence[Architecture]) -> np.ndarray:
        key_of, scores = self.key, self._scores
        keys = [key_of(arch) for arch in archs]
        missing: dict[str, Architecture] = {}
        for key, arch in zip(keys, archs):
            if key not in scores and key not in missing:
                missing[key] = arch
        if missing:
            fetched = np.asarray(self._values(list(missing.values())), dtype=np.float64)
            if fetched.shape != (len(missing),):
                raise ValueError(f"proxy scores: expected {len(missing)} values, got shape {fetched.shape}")
            for key, value in zip(missing, fetched):
                scores[key] = self._sign * float(value)
        return np.fromiter((scores[key] for key in keys), dtype=np.float64, count=len(keys))


class CombinedProxyScores:
    """A :data:`ProxyScores` callable combining several proxies' scores over the architectures of each call.

    ``members`` maps each member proxy to its direction-normalised :data:`ProxyScores` (e.g. a
    :class:`CachedProxyScores` each, so members are scored once per architecture); ``combine``
    turns the members' scores of one set of architectures into one score per architecture, higher
    is better (e.g. a rank combination of :mod:`nas.ensembles`). The combination is taken over
    exactly the architectures of one call, so an architecture's score depends on the others of
    the call: what :meth:`SearchContext.rank_by_proxy` and :meth:`SearchContext.best_by_proxy`
    choose among (a warm-up pool, a tournament's contestants, a parent's neighbours).
    """

    def __init__(
        self, members: Mapping[str, ProxyScores], combine: Callable[[Mapping[str, np.ndarray]], np.ndarray]
    ):
        self.members = dict(members)
        self._combine = combine

    def __call__(self, archs: Sequence[Architecture]) -> np.ndarray:
        scores = {name: member(archs) for name, member in self.members.items()}
        return np.asarray(self._combine(scores), dtype=np.float64)


def _descending(score: float) -> tuple[bool, float]:
    """Sort key: higher scores first, NaN after every number."""
    return (True, 0.0) if math.isnan(score) else (False, -score)


@dataclass(frozen=True)
class SearchResult:
    """One run of a strategy: the trained architectures in order, their metric and the running best."""

    archs: tuple[str, ...]
    values: tuple[float, ...]
    best: tuple[float, ...]
    #: whether a larger metric is better (False for a perplexity)
    maximise: bool = True

    @classmethod
    def from_oracle(cls, oracle: Oracle) -> "SearchResult":
        """The oracle's history as a result."""
        history = oracle.history
        return cls(
            tuple(q.arch for q in history),
            tuple(q.value for q in history),
            tuple(q.best for q in history),
            oracle.maximise,
        )

    @property
    def trained(self) -> int:
        """Number of trained models."""
        return len(self.archs)

    def final_choice(self) -> int | None:
        """Index of the trained architecture with the best metric (first on ties); None if none is known."""
        sign = 1.0 if self.maximise else -1.0
        best: int | None = None
        for i, value in enumerate(self.values):
            if not math.isnan(value) and (best is None or sign * value > sign * self.values[best]):
                best = i
        return best


class Strategy(ABC):
    """A search strategy.

    Subclasses set ``name``, ``summary`` and ``defaults`` (setting name -> default value; the
    type of the default is the setting's type), may restrict string settings with ``choices``,
    may check ranges in :meth:`problems`, and implement :meth:`run`. Settings are validated at
    construction: an unknown name or a value of the wrong type raises :class:`NasError`.
    """

    name: ClassVar[str]
    #: one line for listings
    summary: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    #: allowed values of string settings
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, **settings: Any) -> None:
        self.settings: dict[str, Any] = self.validate(settings, f"strategy {self.name!r}: settings")

    @classmethod
    def validate(cls, settings: Mapping[str, Any], where: str) -> dict[str, Any]:
        """``settings`` merged over the defaults, checked; errors name ``where.<key>``."""
        if not isinstance(settings, Mapping):
            raise NasError(f"{where}: expected a mapping, got {settings!r}")
        for key in settings:
            if key not in cls.defaults:
                known = ", ".join(sorted(cls.defaults)) or "none"
                raise NasError(f"{where}: unknown key {key!r} for strategy {cls.name!r}; known: {known}")
        merged = dict(cls.defaults)
        for key, value in settings.items():
            merged[key] = check_type(value, type(cls.defaults[key]), f"{where}.{key}")
            allowed = cls.choices.get(key)
            if allowed is not None and value not in allowed:
                raise NasError(f"{where}.{key}: expected one of {', '.join(allowed)}, got {value!r}")
        for key, problem in cls.problems(merged):
            raise NasError(f"{where}.{key}: {problem}")
        return merged

    @classmethod
    def problems(cls, settings: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
        """(setting, problem) pairs for values out of range; none by default."""
        return ()

    def needs_proxy(self) -> bool:
        """Whether :meth:`run` uses proxy scores with these settings."""
        return True

    @abstractmethod
    def run(self, context: SearchContext) -> SearchResult:
        """Search until the budget is used up (or the strategy is done); the oracle's history as result."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings})"


def check_type(value: Any, expected: type, where: str) -> Any:
    """``value`` if it is of type ``expected`` (an int is accepted as a float); NasError otherwise."""
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return value
    raise NasError(f"{where}: expected {expected.__name__}, got {value!r}")


def at_least(settings: Mapping[str, Any], minimum: int, *keys: str) -> Iterable[tuple[str, str]]:
    """Problems of the integer ``keys`` of ``settings`` that are below ``minimum``."""
    for key in keys:
        if settings[key] < minimum:
            yield key, f"must be at least {minimum}, got {settings[key]!r}"
