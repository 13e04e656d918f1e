"""Compare zero-cost proxies against trained accuracy on a benchmark (``nas compare``).

:func:`compare` scores a fixed set of architectures with each requested proxy through the score
store (so a re-run only computes what is missing), looks up their trained accuracy in the
space's benchmark table and computes the metrics of :mod:`nas.metrics` for each proxy.
:mod:`nas.reports.compare` writes the result as tables and plots.

**Columns.** A comparison's columns are proxy names plus, optionally, vote columns:

* ``vote``: the average rank (:func:`vote`) of every other plain proxy requested, e.g.
  ``epsilon,synflow,snip,vote``;
* ``vote(a+b+c)``: the average rank of the named proxies, which are scored even when they are
  not columns themselves, e.g. ``epsilon,vote(synflow+jacob_cov+snip)`` (Abdelfattah et al.'s
  trio).

**Batches.** Each proxy is scored on one batch of the dataset's training split (or synthetic
input, see :func:`nas.data.load_batch`), by default of the size its paper used (:data:`DEFAULT_BATCH_SIZES`); a single ``batch_size`` or per-proxy
``batch_sizes`` override it. Proxies of equal batch size share one batch.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from scipy import stats

from nas.benchmarks import open_table
from nas.data import load_batch
from nas.errors import NasError
from nas.metrics import ProxyMetrics, evaluate
from nas.proxies import PROXIES, Proxy, create_proxy
from nas.scoring import Scorer
from nas.spaces import Architecture, SearchSpace, create_space
from nas.store import ScoreStore

#: Batch size per proxy, as in each proxy's paper on NAS-Bench-201:
#: epsilon 256 (the epsilon paper); naswot 128 (Mellor et al. 2021, N = 128);
#: snip, grad_norm, fisher, grasp, jacob_cov and synflow 64 (Abdelfattah et al. 2021 scored every
#: proxy on one batch of 64, ``nasbench2_pred.py --batch_size 64 --dataload_info 1``; synflow
#: reads only the input shape). Proxies not listed use :data:`FALLBACK_BATCH_SIZE`.
DEFAULT_BATCH_SIZES: dict[str, int] = {
    "epsilon": 256,
    "naswot": 128,
    "snip": 64,
    "grad_norm": 64,
    "fisher": 64,
    "grasp": 64,
    "jacob_cov": 64,
    "synflow": 64,
}
#: batch size of proxies without an entry in :data:`DEFAULT_BATCH_SIZES`
FALLBACK_BATCH_SIZE = 64
#: the proxy whose scores colour the scatter plots (parameter count)
PARAMS_PROXY = "params"

_VOTE = re.compile(r"vote(?:\((?P<members>[^()]*)\))?")


@dataclass(frozen=True)
class Column:
    """One column of a comparison: a proxy, or a vote over several (``members``)."""

    name: str
    members: tuple[str, ...] = ()

    @property
    def is_vote(self) -> bool:
        """Whether this column is a vote over other proxies."""
        return bool(self.members)


def parse_columns(text: str) -> list[Column]:
    """The columns of a ``--proxies`` list such as ``"epsilon,synflow,vote"``.

    Proxy names are checked against the registry; ``vote`` without members votes over every
    other plain proxy of the list (at least two).
    """
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise NasError("no proxies given: pass e.g. --proxies epsilon,synflow,snip")
    duplicates = sorted({item for item in items if items.count(item) > 1})
    if duplicates:
        raise NasError(f"proxy {duplicates[0]!r} is listed twice")
    plain = [item for item in items if not _VOTE.fullmatch(item)]
    for name in plain:
        PROXIES.get(name)
    columns = []
    for item in items:
        match = _VOTE.fullmatch(item)
        if match is None:
            columns.append(Column(item))
            continue
        if match["members"] is None:
            members = tuple(plain)
        else:
            members = tuple(m.strip() for m in match["members"].split("+") if m.strip())
            for name in members:
                PROXIES.get(name)
        if len(members) < 2 or len(set(members)) != len(members):
            raise NasError(f"{item!r} needs at least two different proxies to vote, e.g. vote(synflow+snip)")
        columns.append(Column(item, members))
    return columns


def parse_settings(items: Sequence[str]) -> dict[str, dict[str, str]]:
    """Proxy settings from ``--set proxy.key=value`` items, as ``{proxy: {key: value}}``."""
    settings: dict[str, dict[str, str]] = {}
    for item in items:
        target, sep, value = item.partition("=")
        proxy, dot, key = target.partition(".")
        if not sep or not dot or not proxy.strip() or not key.strip():
            raise NasError(f"--set expects proxy.key=value, got {item!r}")
        settings.setdefault(proxy.strip(), {})[key.strip()] = value.strip()
    return settings


def parse_batch_sizes(items: Sequence[str]) -> tuple[int | None, dict[str, int]]:
    """``--batch-size`` items: ``B`` (every proxy) or ``proxy=B``; returns (global, per proxy)."""
    overall: int | None = None
    per_proxy: dict[str, int] = {}
    for item in items:
        name, sep, size = item.rpartition("=")
        try:
            value = int(size)
        except ValueError:
            value = 0
        if value < 1 or (sep and not name.strip()):
            raise NasError(f"--batch-size expects a positive integer B or proxy=B, got {item!r}")
        if sep:
            per_proxy[name.strip()] = value
        else:
            overall = value
    return overall, per_proxy


def vote(scores: Mapping[str, np.ndarray], directions: Mapping[str, bool]) -> np.ndarray:
    """Combine several proxies' scores of one set of architectures by their average rank.

    Each proxy's finite scores are oriented by ``directions`` (``higher_is_better``), ranked
    (average ranks for ties) and divided by the number of finite scores, giving a fractional
    rank in (0, 1], 1 for the proxy's best architecture. The vote is the mean fractional rank over
    the proxies that scored the architecture (NaN scores are skipped), NaN where none did.
    Higher is better. Without NaNs it orders architectures exactly as the mean rank does.
    """
    if not scores:
        raise NasError("a vote needs at least one proxy")
    missing = sorted(set(scores) - set(directions))
    if missing:
        raise NasError(f"no direction (higher_is_better) given for proxy {missing[0]!r}")
    arrays = {name: np.asarray(values, dtype=np.float64) for name, values in scores.items()}
    shapes = {values.shape for values in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise NasError(f"vote needs 1-D score arrays of equal length, got shapes {sorted(shapes)}")
    total = np.zeros(next(iter(shapes)))
    counts = np.zeros_like(total)
    for name, values in arrays.items():
        oriented = values if directions[name] else -values
        finite = np.isfinite(oriented)
        if not finite.any():
            continue
        total[finite] += stats.rankdata(oriented[finite]) / np.count_nonzero(finite)
        counts[finite] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)


@dataclass(frozen=True)
class CompareConfig:
    """Everything that determines a comparison."""

    space: str
    dataset: str
    columns: tuple[Column, ...]
    #: architectures drawn at random (without replacement); ``None`` = every architecture
    sample: int | None
    #: seed of the architecture sample
    seed: int = 0
    metric: str = "test_acc"
    #: batch size of every proxy, overriding the defaults
    batch_size: int | None = None
    #: batch size per proxy, overriding ``batch_size`` and the defaults
    batch_sizes: Mapping[str, int] = field(default_factory=dict)
    #: kind of input passed to :func:`nas.data.load_batch` (e.g. ``"real"``)
    data: str = "real"
    #: proxy settings, ``{proxy: {key: value}}``
    settings: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    executor: str = "serial"
    workers: int | None = None
    ray_address: str | None = None
    progress: bool = False
    data_dir: str | None = None
    cache_dir: str | None = None


@dataclass
class Comparison:
    """The outcome of :func:`compare`: per-architecture scores and per-column metrics."""

    config: CompareConfig
    #: the architectures compared, in the space's string format and index order
    archs: list[str]
    #: trained accuracy (``config.metric``) of each architecture
    accuracies: np.ndarray
    #: scores per column (raw, in the proxy's own direction), aligned with ``archs``
    scores: dict[str, np.ndarray]
    #: direction per column
    higher_is_better: dict[str, bool]
    metrics: dict[str, ProxyMetrics]
    #: mean stored computation time per scored architecture (votes: sum over members)
    seconds_per_arch: dict[str, float]
    #: batch size per proxy (vote columns: none)
    batch_sizes: dict[str, int]
    #: parameter count of each architecture
    params: np.ndarray
    #: which architectures: e.g. "random sample of 1000 of 15625 (seed 0)"
    selection: str
    #: the input the proxies saw, e.g. "real cifar10 training images (cifar10:real:train:n64:seed0:...)"
    inputs: list[str]


def batch_size_for(proxy: str, config: CompareConfig) -> int:
    """The batch size ``proxy`` is scored with under ``config``."""
    if proxy in config.batch_sizes:
        return config.batch_sizes[proxy]
    if config.batch_size is not None:
        return config.batch_size
    return DEFAULT_BATCH_SIZES.get(proxy, FALLBACK_BATCH_SIZE)


def select_architectures(space: SearchSpace, sample: int | None, seed: int) -> tuple[list[Architecture], str]:
    """The architectures to compare and a description of the choice.

    ``sample=None`` takes every architecture; otherwise ``sample`` distinct ones are drawn with
    ``random.Random(seed)``, returned in the space's index order.
    """
    size = space.size()
    if size is None:
        raise NasError(f"space {space.name!r} cannot be enumerated, so it has no architectures to compare")
    every = list(space.enumerate())
    if sample is None:
        return every, f"all {size} architectures"
    if isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= size:
        raise NasError(f"--sample must be from 1 to {size} (the size of space {space.name!r}), got {sample!r}")
    chosen = sorted(random.Random(seed).sample(range(size), sample))
    return [every[i] for i in chosen], f"random sample of {sample} of {size} architectures (seed {seed})"


def compare(config: CompareConfig) -> Comparison:
    """Score the selected architectures with every column's proxies and compute the metrics."""
    space = create_space(config.space)
    spec = space.dataset_spec(config.dataset)
    table = open_table(space.name, config.data_dir)
    table.check(spec.name, config.metric)

    proxy_names = _proxies_to_score(config.columns)
    unused = sorted((set(config.settings) | set(config.batch_sizes)) - set(proxy_names))
    if unused:
        raise NasError(f"proxy {unused[0]!r} has settings or a batch size but is not compared")
    proxies = {name: create_proxy(name, **dict(config.settings.get(name, {}))) for name in proxy_names}

    archs, selection = select_architectures(space, config.sample, config.seed)
    names = [space.format(arch) for arch in archs]
    accuracies = np.array([table.lookup(name, spec.name, config.metric) for name in names], dtype=np.float64)

    store = ScoreStore.open(config.cache_dir)
    try:
        raw, seconds, batch_sizes, inputs = _score_all(space, spec.name, archs, proxies, config, store)
    finally:
        store.close()

    scores: dict[str, np.ndarray] = {}
    directions: dict[str, bool] = {}
    per_arch: dict[str, float] = {}
    for column in config.columns:
        if column.is_vote:
            scores[column.name] = vote(
                {m: raw[m] for m in column.members}, {m: proxies[m].higher_is_better for m in column.members}
            )
            directions[column.name] = True
            per_arch[column.name] = float(sum(seconds[m] for m in column.members))
        else:
            scores[column.name] = raw[column.name]
            directions[column.name] = proxies[column.name].higher_is_better
            per_arch[column.name] = seconds[column.name]
    return Comparison(
        config=config,
        archs=names,
        accuracies=accuracies,
        scores=scores,
        higher_is_better=directions,
        metrics={name: evaluate(scores[name], accuracies, directions[name]) for name in scores},
        seconds_per_arch=per_arch,
        batch_sizes={name: size for name, size in batch_sizes.items() if name in scores},
        params=raw[PARAMS_PROXY],
        selection=selection,
        inputs=inputs,
    )


def _proxies_to_score(columns: Sequence[Column]) -> list[str]:
    """Every proxy the columns need, in column order, plus the parameter count for the plots."""
    names: list[str] = []
    for column in columns:
        for name in column.members or (column.name,):
            if name not in names:
                names.append(name)
    if PARAMS_PROXY not in names:
        names.append(PARAMS_PROXY)
    return names


def _score_all(
    space: SearchSpace,
    dataset: str,
    archs: Sequence[Architecture],
    proxies: Mapping[str, Proxy],
    config: CompareConfig,
    store: ScoreStore,
) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, int], list[str]]:
    """Scores and seconds per architecture of every proxy, one batch (and scorer) per batch size."""
    sizes = {name: batch_size_for(name, config) for name in proxies}
    groups: dict[int, list[str]] = {}
    for name, size in sizes.items():
        groups.setdefault(size, []).append(name)
    scores: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    inputs: list[str] = []
    for size, names in groups.items():
        batch = load_batch(dataset, data=config.data, size=size, data_dir=config.data_dir)
        inputs.append(f"{', '.join(names)}: {batch.kind} input, batch of {len(batch)} ({batch.identity})")
        with Scorer(
            space,
            dataset,
            batch,
            store=store,
            executor=config.executor,
            workers=config.workers,
            progress=config.progress,
            ray_address=config.ray_address,
        ) as scorer:
            for name in names:
                scores[name] = scorer.values(archs, proxies[name])
                assert scorer.last_stats is not None
                seconds[name] = scorer.last_stats.seconds_per_arch
    return scores, seconds, sizes, inputs
