"""The engine behind ``nas compare`` and :func:`nas.compare`: proxies against trained accuracy on a benchmark.

:func:`compare_proxies` scores a fixed set of architectures with each requested proxy through the score
store (so a re-run only computes what is missing), looks up their trained accuracy in the
space's benchmark table and computes the metrics of :mod:`nas.metrics` for each proxy.
:mod:`nas.reports.compare` writes the result as tables and plots.

**Columns.** A comparison's columns are proxy names plus, optionally, rank combinations of
several proxies (:mod:`nas.ensembles`), whose members are scored even when they are not columns
themselves:

* ``vote``: the average rank (:func:`~nas.ensembles.vote`) of every other plain proxy requested,
  e.g. ``epsilon,synflow,snip,vote``; ``vote(a+b+c)``: that of the named proxies, e.g.
  ``epsilon,vote(synflow+jacob_cov+snip)`` (Abdelfattah et al.'s trio);
* ``ensemble(a+b+c)``: the rank ensemble (:func:`~nas.ensembles.rank_ensemble`, AZ-NAS's sum of
  ``log(rank / N)`` where an architecture keeps the ranks of the members that scored it);
  ``ensemble`` alone combines every other plain proxy requested;
* ``aznas``: the AZ-NAS aggregate of its four proxies (:func:`~nas.ensembles.aznas`, missing
  scores ranked worst, as the authors).

A combination ranks the compared architectures, so its value for one architecture depends on
the set compared.

**Batches.** Each proxy is scored on one batch of the dataset's training split (or synthetic
input, see :func:`nas.data.load_batch`), by default of the size its paper used
(:attr:`nas.proxies.base.Proxy.batch_size`: epsilon 256, naswot 128, meco 1, zico 256, most others
64); a single ``batch_size`` or per-proxy ``batch_sizes`` override it. Proxies of equal batch
size share one batch.

**Fair sets.** A proxy that cannot score an architecture (NaN) is not better for it: a
correlation over the architectures a proxy could score is not comparable with one over all of
them. Every column is therefore measured on three sets of architectures (:data:`SETS`): its
``own`` scored set, the ``common`` set that every column scored, and ``nan_worst``, every
architecture with the missing scores ranked below all others (what a search using the proxy
sees). ``coverage`` is the share of architectures a column scored.

**Uncertainty.** Spearman's rho and Kendall's tau carry seeded 95% bootstrap intervals
(:mod:`nas.bootstrap`, 1,000 draws by default), and every pair of columns gets a paired
bootstrap interval for its difference on the common set. ``seeds`` repeats the scoring with
other initialisation and batch seeds and reports the spread of the correlations.

**Baselines.** ``params`` and ``flops`` are always compared, asked for or not: a proxy that does
not beat the parameter count adds little.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from nas import bootstrap
from nas.benchmarks import open_table
from nas.bootstrap import Interval
from nas.ensembles import combine, is_combination, parse_combination
from nas.ensembles import vote as vote  # re-exported: ``nas.comparing.vote`` predates nas.ensembles
from nas.errors import NasError
from nas.metrics import ProxyMetrics, evaluate
from nas.proxies import PROXIES, Proxy, create_proxy
from nas.scoring import batch_size_of, score_architectures
from nas.spaces import Architecture, SearchSpace, create_space
from nas.spaces.subset import SubsetSpace, table_subset
from nas.store import ScoreStore
from nas.training import TRAINING_METRICS, Recipe

#: the proxy whose scores colour the scatter plots (parameter count)
PARAMS_PROXY = "params"
#: baselines compared whether asked for or not
BASELINES: tuple[str, ...] = ("params", "flops")
#: the sets of architectures every column is measured on (see the module docstring)
SETS: tuple[str, ...] = ("own", "common", "nan_worst")


@dataclass(frozen=True)
class Column:
    """One column of a comparison: a proxy, or a rank combination of several (``members``)."""

    name: str
    members: tuple[str, ...] = ()

    @property
    def is_combination(self) -> bool:
        """Whether this column combines other proxies (a vote, a rank ensemble or AZ-NAS)."""
        return bool(self.members)

    @property
    def kind(self) -> str:
        """``"proxy"``, or the combination (a key of :data:`nas.ensembles.KINDS`) that starts the name."""
        return self.name.partition("(")[0] if self.members else "proxy"


def parse_columns(text: str) -> list[Column]:
    """The columns of a ``--proxies`` list such as ``"epsilon,synflow,vote,ensemble(meco+flops)"``.

    Proxy names are checked against the registry; combinations are read by
    :func:`nas.ensembles.parse_combination`, ``vote`` and ``ensemble`` without members combining
    every other plain proxy of the list (at least two).
    """
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise NasError("no proxies given: pass e.g. --proxies epsilon,synflow,snip")
    duplicates = sorted({item for item in items if items.count(item) > 1})
    if duplicates:
        raise NasError(f"proxy {duplicates[0]!r} is listed twice")
    plain = [item for item in items if not is_combination(item)]
    for name in plain:
        PROXIES.get(name)
    columns = []
    for item in items:
        combination = parse_combination(item, plain)
        columns.append(Column(item) if combination is None else Column(item, combination[1]))
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
    #: the benchmark table's trained metric; ``None``: the table's default (``test_acc`` where it
    #: has one, ``valid_acc`` for the NAS-Bench-101 table, ``test_perplexity`` for NAS-Bench-NLP)
    metric: str | None = None
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
    #: initialisation and batch seeds; the first gives the scores, the metrics and the intervals,
    #: all of them the spread over seeds
    seeds: tuple[int, ...] = (0,)
    #: the training oracle's recipe: the trained metric (``valid_acc``/``valid_loss``) comes from
    #: training each compared architecture (:mod:`nas.training`, cached) instead of a benchmark table
    recipe: Recipe | None = None
    #: bootstrap draws per interval (0: no intervals)
    resamples: int = bootstrap.RESAMPLES
    #: seed of the bootstrap draws
    bootstrap_seed: int = 0
    #: recompute stored scores that failed with an error
    retry_failed: bool = False


@dataclass(frozen=True)
class Agreement:
    """How one column's scores agree with trained accuracy on one set of architectures."""

    #: every metric of :mod:`nas.metrics` on the set
    metrics: ProxyMetrics
    #: Spearman's rho with its bootstrap interval
    spearman: Interval
    #: Kendall's tau-b with its bootstrap interval
    kendall: Interval


@dataclass(frozen=True)
class SeedRun:
    """The correlations of one initialisation and batch seed: ``spearman[set][column]``, ``kendall[set][column]``."""

    seed: int
    spearman: dict[str, dict[str, float]]
    kendall: dict[str, dict[str, float]]


@dataclass
class ComparisonData:
    """The outcome of :func:`compare_proxies`: per-architecture scores and per-column metrics.

    ``agreement[set][column]`` holds the metrics and intervals of each column on each of
    :data:`SETS`; ``differences[(a, b)]`` the paired bootstrap intervals of ``a``'s minus
    ``b``'s Spearman and Kendall on the common set; ``seed_runs`` one entry per seed.
    """

    config: CompareConfig
    #: the architectures compared, in the space's string format and index order
    archs: list[str]
    #: whether a larger trained metric is better (False for losses and perplexities, which the
    #: correlations negate)
    metric_higher_is_better: bool
    #: trained accuracy (``config.metric``) of each architecture
    accuracies: np.ndarray
    #: scores per column (raw, in the proxy's own direction), aligned with ``archs``
    scores: dict[str, np.ndarray]
    #: direction per column
    higher_is_better: dict[str, bool]
    #: mean stored computation time per scored architecture (combinations: sum over members)
    seconds_per_arch: dict[str, float]
    #: batch size per proxy (combination columns: none)
    batch_sizes: dict[str, int]
    #: parameter count of each architecture
    params: np.ndarray
    #: which architectures: e.g. "random sample of 1000 of 15625 (seed 0)"
    selection: str
    #: the input the proxies saw, e.g. "real cifar10 training images (cifar10:real:train:n64:seed0:...)"
    inputs: list[str]
    #: architectures with a known trained accuracy (the denominator of coverage)
    asked: int
    #: architectures (with known accuracy) each column scored
    scored: dict[str, int]
    #: which architectures every column scored (aligned with ``archs``)
    common: np.ndarray
    agreement: dict[str, dict[str, Agreement]]
    #: (a, b) -> (Spearman difference, Kendall difference), a minus b, on the common set
    differences: dict[tuple[str, str], tuple[Interval, Interval]]
    seed_runs: list[SeedRun]

    @property
    def metrics(self) -> dict[str, ProxyMetrics]:
        """Each column's metrics on its own scored set."""
        return {name: a.metrics for name, a in self.agreement["own"].items()}

    def coverage(self, column: str) -> float:
        """The share of the architectures (with known accuracy) that ``column`` scored."""
        return self.scored[column] / self.asked if self.asked else math.nan

    def spread(self, statistic: str, set_name: str, column: str) -> tuple[float, float]:
        """Mean and sample standard deviation of a correlation over the seeds (sd NaN for one seed)."""
        values = np.array([getattr(run, statistic)[set_name][column] for run in self.seed_runs])
        sd = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
        return float(np.mean(values)), sd


def batch_size_for(proxy: str, config: CompareConfig) -> int:
    """The batch size ``proxy`` is scored with under ``config``."""
    return batch_size_of(PROXIES.get(proxy)(), config.batch_size, config.batch_sizes)


def select_architectures(space: SearchSpace, sample: int | None, seed: int) -> tuple[list[Architecture], str]:
    """The architectures to compare and a description of the choice.

    ``sample=None`` takes every architecture; otherwise ``sample`` distinct ones are drawn with
    ``random.Random(seed)``, returned in the space's index order. A :class:`SubsetSpace` (the
    architectures of a benchmark table that covers part of a space) is described as such.
    """
    size = space.size()
    if size is None:
        raise NasError(f"space {space.name!r} cannot be enumerated, so it has no architectures to compare")
    every = list(space.enumerate())
    of = space.description if isinstance(space, SubsetSpace) else f"{size} architectures"
    if sample is None:
        return every, f"all {of}" if not isinstance(space, SubsetSpace) else f"all of {of}"
    if isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= size:
        raise NasError(f"--sample must be from 1 to {size} (the architectures of {space.name!r} with trained metrics), got {sample!r}")
    chosen = sorted(random.Random(seed).sample(range(size), sample))
    return [every[i] for i in chosen], f"random sample of {sample} of {of} (seed {seed})"


def compare_proxies(config: CompareConfig) -> ComparisonData:
    """Score the selected architectures with every column's proxies and compute the metrics."""
    _check_seeds(config)
    space = create_space(config.space)
    spec = space.dataset_spec(config.dataset)
    if config.recipe is not None:
        metric = config.metric or "valid_acc"
        if metric not in TRAINING_METRICS:
            raise NasError(f"with the training oracle the metric is one of {', '.join(TRAINING_METRICS)}, got {metric!r}")
        table = None
    else:
        table = open_table(space.name, config.data_dir)
        metric = config.metric or table.default_metric(spec.name)
        table.check(spec.name, metric)
    config = dataclasses.replace(config, dataset=spec.name, metric=metric)
    assert config.metric is not None

    columns = list(config.columns) + [Column(b) for b in BASELINES if b not in {c.name for c in config.columns}]
    proxy_names = _proxies_to_score(columns)
    unused = sorted((set(config.settings) | set(config.batch_sizes)) - set(proxy_names))
    if unused:
        raise NasError(f"proxy {unused[0]!r} has settings or a batch size but is not compared")
    proxies = {name: create_proxy(name, **dict(config.settings.get(name, {}))) for name in proxy_names}

    comparable = space if table is None else table_subset(space, table.architectures(spec.name), f"{space.name} {spec.name}")
    archs, selection = select_architectures(comparable, config.sample, config.seed)
    names = [space.format(arch) for arch in archs]
    if table is None:
        accuracies = trained_metrics(config, names)
        higher_is_better = TRAINING_METRICS[config.metric]
    else:
        accuracies = np.array([table.lookup(name, spec.name, config.metric) for name in names], dtype=np.float64)
        higher_is_better = table.higher_is_better(config.metric)
    # correlations are with "higher is better": a minimised metric (perplexity) is negated for them
    target = accuracies if higher_is_better else -accuracies

    runs = []
    store = ScoreStore.open(config.cache_dir)
    try:
        for seed in config.seeds:
            raw, seconds, batch_sizes, inputs = _score_all(space, spec.name, archs, proxies, config, store, seed)
            runs.append((raw, seconds, batch_sizes, inputs))
    finally:
        store.close()

    directions = {c.name: True if c.is_combination else proxies[c.name].higher_is_better for c in columns}
    # intervals and differences for the reported (first) seed only; the others give the spread
    evaluated = [
        agreements(_column_scores(columns, raw, proxies), target, directions, resamples, config.bootstrap_seed)
        for (raw, _, _, _), resamples in zip(runs, [config.resamples] + [0] * (len(runs) - 1))
    ]
    seed_runs = [
        SeedRun(
            seed,
            {k: {n: a.spearman.value for n, a in v.items()} for k, v in agreement.items()},
            {k: {n: a.kendall.value for n, a in v.items()} for k, v in agreement.items()},
        )
        for seed, (agreement, _, _) in zip(config.seeds, evaluated)
    ]
    agreement, differences, common = evaluated[0]
    raw, seconds, batch_sizes, inputs = runs[0]
    scores = _column_scores(columns, raw, proxies)
    per_arch = {
        c.name: float(sum(seconds[m] for m in c.members)) if c.is_combination else seconds[c.name] for c in columns
    }
    known = np.isfinite(accuracies)
    return ComparisonData(
        config=config,
        archs=names,
        metric_higher_is_better=higher_is_better,
        accuracies=accuracies,
        scores=scores,
        higher_is_better=directions,
        seconds_per_arch=per_arch,
        batch_sizes={name: size for name, size in batch_sizes.items() if name in scores},
        params=raw[PARAMS_PROXY],
        selection=selection,
        inputs=inputs,
        asked=int(np.count_nonzero(known)),
        scored={name: int(np.count_nonzero(np.isfinite(values) & known)) for name, values in scores.items()},
        common=common,
        agreement=agreement,
        differences=differences,
        seed_runs=seed_runs,
    )


def agreements(
    scores: Mapping[str, np.ndarray],
    accuracies: np.ndarray,
    directions: Mapping[str, bool],
    resamples: int = bootstrap.RESAMPLES,
    seed: int = 0,
) -> tuple[dict[str, dict[str, Agreement]], dict[tuple[str, str], tuple[Interval, Interval]], np.ndarray]:
    """Each column's :class:`Agreement` on each of :data:`SETS`, the paired differences and the common set.

    Architectures without a finite accuracy are in no set. ``resamples=0`` skips the bootstrap
    (intervals are NaN, no differences).
    """
    known = np.isfinite(accuracies)
    finite = {name: np.isfinite(values) & known for name, values in scores.items()}
    common = np.logical_and.reduce([known, *finite.values()])
    worst = {name: _nan_worst(values, directions[name]) for name, values in scores.items()}
    plans = {
        "own": lambda name: (scores[name], finite[name], directions[name]),
        "common": lambda name: (scores[name], common, directions[name]),
        "nan_worst": lambda name: (worst[name], known, True),
    }
    agreement: dict[str, dict[str, Agreement]] = {}
    common_draws: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    # every column is re-ranked on the same draws of the common set, which pairs the differences
    shared = bootstrap.draws(int(np.count_nonzero(common)), resamples, seed) if resamples else None
    for set_name, plan in plans.items():
        agreement[set_name] = {}
        for name in scores:
            values, mask, higher = plan(name)
            x = values[mask] if higher else -values[mask]
            y = accuracies[mask]
            metrics = evaluate(x, y)
            if resamples:
                indices = shared if set_name == "common" else bootstrap.draws(len(x), resamples, seed)
                assert indices is not None
                rho, tau, rho_draws, tau_draws = bootstrap.correlation_intervals(x, y, indices)
                if set_name == "common":
                    common_draws[name] = (rho_draws, tau_draws)
            else:
                rho = Interval(metrics.spearman, math.nan, math.nan)
                tau = Interval(metrics.kendall, math.nan, math.nan)
            agreement[set_name][name] = Agreement(
                dataclasses.replace(metrics, missing=int(np.count_nonzero(~np.isfinite(scores[name])))), rho, tau
            )
    differences: dict[tuple[str, str], tuple[Interval, Interval]] = {}
    if resamples:
        on_common = agreement["common"]
        rho_diff = bootstrap.paired_differences(
            {n: a.spearman.value for n, a in on_common.items()}, {n: d[0] for n, d in common_draws.items()}
        )
        tau_diff = bootstrap.paired_differences(
            {n: a.kendall.value for n, a in on_common.items()}, {n: d[1] for n, d in common_draws.items()}
        )
        differences = {pair: (rho_diff[pair], tau_diff[pair]) for pair in rho_diff}
    return agreement, differences, common


def _nan_worst(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Scores oriented higher-is-better, with every missing (non-finite) one tied below all others."""
    oriented = values if higher_is_better else -values
    finite = np.isfinite(oriented)
    floor = oriented[finite].min() - 1.0 if finite.any() else 0.0
    return np.where(finite, oriented, floor)


def _column_scores(
    columns: Sequence[Column], raw: Mapping[str, np.ndarray], proxies: Mapping[str, Proxy]
) -> dict[str, np.ndarray]:
    """Each column's scores: a proxy's raw scores, or the combination of its members' over the compared set."""
    return {
        c.name: combine(c.kind, {m: raw[m] for m in c.members}, {m: proxies[m].higher_is_better for m in c.members})
        if c.is_combination
        else raw[c.name]
        for c in columns
    }


def _check_seeds(config: CompareConfig) -> None:
    seeds = config.seeds
    if not seeds or len(set(seeds)) != len(seeds) or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
        raise NasError(f"seeds must be distinct integers, at least one, got {seeds!r}")
    if isinstance(config.resamples, bool) or not isinstance(config.resamples, int) or config.resamples < 0:
        raise NasError(f"the number of bootstrap resamples must be 0 or more, got {config.resamples!r}")


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
    seed: int,
) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, int], list[str]]:
    """Scores and seconds per architecture of every proxy, one batch (and scorer) per batch size.

    ``seed`` seeds both the batch drawn and the models' initialisation.
    """
    scored = score_architectures(
        space,
        dataset,
        archs,
        proxies,
        {name: batch_size_of(proxy, config.batch_size, config.batch_sizes) for name, proxy in proxies.items()},
        data=config.data,
        seed=seed,
        store=store,
        executor=config.executor,
        workers=config.workers,
        progress=config.progress,
        ray_address=config.ray_address,
        data_dir=config.data_dir,
        retry_failed=config.retry_failed,
    )
    scores = {name: scored.values(name) for name in proxies}
    seconds = {name: stats.seconds_per_arch for name, stats in scored.stats.items()}
    return scores, seconds, scored.batch_sizes, scored.inputs


def trained_metrics(config: CompareConfig, names: Sequence[str]) -> np.ndarray:
    """``config.metric`` of each architecture from the training oracle (:class:`nas.training.Trainer`, cached).

    The models train on ``config``'s executor (``auto``: local processes), one per worker; runs
    already in the training cache cost nothing. The initialisation seed is the first of ``config.seeds``.
    """
    from nas.training import Trainer

    assert config.recipe is not None and config.metric is not None
    executor = "local" if config.executor == "auto" else config.executor
    trainer = Trainer(
        config.space, config.dataset, config.recipe, config.seeds[0], executor, config.workers, config.ray_address,
        data_dir=config.data_dir, cache_dir=config.cache_dir,
    )
    try:
        results = trainer.results(list(names))
    finally:
        trainer.close()
    return np.array([results[name].metric(config.metric) for name in names], dtype=np.float64)
