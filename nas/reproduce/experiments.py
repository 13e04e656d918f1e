"""The epsilon paper's experiments, rerun through the score store.

Every score is asked of the score store (:mod:`nas.scoring`), so a second run, or a run after
Ctrl-C or a crash, computes only what is missing. Each experiment returns an
:class:`ExperimentResult`: per row (a proxy on a dataset, a weight pair in a precision, an input)
our metrics (:mod:`nas.metrics`) on the three sets of ``nas compare`` (the row's own scored set,
the set every row of its table scored, and every architecture with NaN ranked worst), the
numbers of architectures asked and scored, and the published row
(:mod:`nas.reproduce.published`); Table 2 has rows of another kind (:class:`SelectionSection`),
and the figures carry their data (:class:`Figure`). :mod:`nas.reproduce.report` writes them.
Experiments that need the same ``nas compare`` run (Table 1, Table 2 and Figures 1/6; Tables 3-4
and Figure 2) share it within one reproduction.

**Table 1** (NAS-Bench-201; CIFAR-10, CIFAR-100, ImageNet16-120; ``test_acc``): two
``nas compare`` runs per dataset (:func:`nas.comparing.compare_proxies`). The proxies of
:data:`WHOLE_SPACE_PROXIES` (cheap enough for all 15,625 architectures on this project's
executors) are scored on the whole space; every proxy of :data:`TABLE1_PROXIES` is scored on a
seeded random sample of :data:`TABLE1_SAMPLE` architectures, whose common set is the table's
like-for-like comparison. A row's own and NaN-worst values come from the largest set its proxy
was scored on.

**Table 2** (zero-cost selection, NAS-Bench-201): from Table 1's whole-space (or wide) run, 500
seeded draws of N = 10, 100, 1,000 architectures; in each draw every proxy picks its best-scored
architecture (NaN ranked worst), *Random* one at random and *Optimal* the one with the best
validation accuracy (test accuracy where the table has none); the table gives the mean and
standard deviation of the picks' validation and test accuracy, and each proxy's cost in hours
per 1,000 architectures from the seconds the score store recorded here.

**Table 3** (NAS-Bench-101): ``nas compare`` of Table 1's proxies on the 500 cells of the shared
table (``valid_acc``). **Table 4** (NAS-Bench-NLP, Penn Treebank, ``test_perplexity``, minimised):
epsilon on a seeded sample of :data:`TABLE4_WIDE` cells, epsilon, synflow, snip, grad_norm and
grasp on one of :data:`TABLE4_SAMPLE`; correlations are shown with perplexity itself, as the
paper prints them (negative is good).

**Tables 5, 6 and 7** (epsilon's weights): every pair ``w1 < w2`` of a grid of powers of ten
(:func:`nas.calibration.weight_grid`; NAS-Bench-101 ``1e-4 .. 10``, NAS-Bench-201 and NLP
``1e-7 .. 1``, the author's grids), each pair one epsilon setting scored through the store.
NAS-Bench-201: architectures 0..4999 of the official index order, as the author's code
(``epsinas_main`` iterates ``searchspace[0..4999]``); NAS-Bench-101: the 500 cells of the shared
table (the author used the first 5,000 of the 423,624 cells); NLP: a seeded sample of the PTB
cells. Tables 5-6 in float32 (the paper's precision) and float64, Table 7 in float32.

**Table 9** (initialisation): the epsilon statistic of two random initialisations of each scheme
(:mod:`nas.proxies.epsilon_init`: uniform, normal, Kaiming uniform and normal, orthogonal) on a
seeded sample of :data:`TABLE9_SAMPLE` of NAS-Bench-201 CIFAR-10 architectures 0..4999 (the author
scored the whole space; a full-width forward pass at batch 256 costs seconds per architecture).
**Table 10** (embedding): epsilon on NAS-Bench-NLP PTB with the embedding table drawn from each of
the author's six distributions (:data:`EMBEDDING_VARIANTS`), on a seeded sample of
:data:`TABLE10_SAMPLE` cells. **Table 11** (input): epsilon on NAS-Bench-201 CIFAR-10
architectures 0..4999 with real images and the synthetic inputs of :func:`nas.data.load_batch`
(grey, normal, uniform, uniform+).

**Figures 1/6** (NAS-Bench-201, every proxy and dataset) and **Figure 2** (NAS-Bench-101, NLP):
each proxy's score against the trained metric, coloured by parameter count, from the runs of
Tables 1, 3 and 4.

**Figure 4** (batch size): epsilon on a seeded sample of :data:`FIG4_ARCHS` NAS-Bench-201
architectures, scored on real CIFAR-10 batches of every size of :data:`FIG4_BATCH_SIZES`, each
size with :data:`FIG4_BATCH_SEEDS` batches (batch seeds ``0, 1, ...``; one scorer per batch, the
models initialised with the run's seed); per size the median and quartiles of the batches'
Spearman rho with ``test_acc``. A size larger than the training images of the data directory
(or than :func:`nas.data.max_batch_size`) is left out and the report says why.

**Figure 3** (search): :func:`nas.experiment.run_experiment` with the benchmark-table oracle
on NAS-Bench-201 (a configuration built here as ``configs/nb201-cifar10.yaml`` does: steered by
``valid_acc`` where the table has it, reported with ``test_acc``): ageing evolution (plain, with
epsilon warm-up, with warm-up and the proxy choosing the parent) and random search (plain, with
warm-up), :data:`SEARCH_ROUNDS` seeded rounds of :data:`SEARCH_BUDGET` trained models, warm-up
pools of :data:`SEARCH_POOL`. Epsilon's scores go through the store; when the rounds' pools
draw at least as many architectures as the space has, the whole space is scored first in one
call. The searches themselves are table look-ups (seconds) and are rerun each time. Per
strategy: the test accuracy of the choice after k trained models (the best by the steering
metric so far, first on ties), median and quartiles over the rounds.

**Figure 5** (warm-up with every proxy): Figure 3's ageing evolution and random search with the
warm-up, once per proxy of :data:`TABLE1_PROXIES`, on the same rounds and sizes. The gradient
proxies cannot be scored on the whole space here (hours each), so every round's warm-up pool is
drawn from one fixed pool: a :class:`~nas.spaces.subset.SubsetSpace` of a seeded sample of
:data:`FIG5_POOL` architectures (Table 1's sample; the same for every proxy and dataset), scored
once per proxy through the store. The searches themselves train architectures of the whole
space, with the round seeds of :func:`nas.experiment.run_experiment`. Per dataset, strategy and
proxy the same curves and table as Figure 3.

**Sizes.** :data:`FULL` is the paper's setting; :data:`QUICK` (``--quick``) uses small samples
and a grid of three weights; ``sample`` overrides every size with one number of architectures.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
from tqdm import tqdm

from nas.benchmarks import Oracle, open_table
from nas.bootstrap import Interval
from nas.calibration import weight_grid
from nas.comparing import CompareConfig, ComparisonData, agreements, compare_proxies, parse_columns, select_architectures
from nas.data import STAND_IN, load_batch, load_cifar10, load_cifar100, max_batch_size
from nas.errors import NasError
from nas.experiment import ExperimentConfig, parse_config, reported_metric, round_seed, run_experiment
from nas.experiment.proxy_source import ProxySource
from nas.experiment.results import Run
from nas.metrics import ProxyMetrics, spearman
from nas.proxies import create_proxy
from nas.proxies.epsilon import DEFAULT_WEIGHTS
from nas.reports.search import BUDGET_MARKS, Statistic
from nas.reproduce import EXPERIMENTS
from nas.reproduce.published import PublishedRow, PublishedValues, load_published, weights_key
from nas.scoring import Scorer
from nas.search.base import ArchitectureCache, SearchContext
from nas.search.base import SearchResult as StrategyRun
from nas.spaces import Architecture, SearchSpace, create_space
from nas.spaces.subset import SubsetSpace
from nas.store import ScoreStore

#: Table 1's datasets (NAS-Bench-201)
TABLE1_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")
#: Table 1's proxies, in the order of its rows (Table 3's too)
TABLE1_PROXIES: tuple[str, ...] = (
    "epsilon", "synflow", "snip", "grad_norm", "fisher", "grasp", "jacob_cov", "naswot", "params", "flops",
)
#: Table 1's proxies scored on the whole space in the full setting (the others cost seconds per architecture)
WHOLE_SPACE_PROXIES: tuple[str, ...] = ("epsilon", "synflow", "params", "flops")
#: the seeded sample every Table 1 proxy is scored on in the full setting (the issue asks for at least 5,000)
TABLE1_SAMPLE = 5000
#: Table 2: the sizes of the pools a proxy picks from, and the number of seeded draws of each
SELECTION_SIZES: tuple[int, ...] = (10, 100, 1000)
SELECTION_RUNS = 500
#: Table 4's proxies (NAS-Bench-NLP), params and flops added as baselines
TABLE4_PROXIES: tuple[str, ...] = ("epsilon", "synflow", "snip", "grad_norm", "grasp")
#: Table 4's proxies scored on the wide sample (epsilon costs about 0.4 s per cell, grasp about 13 s)
TABLE4_WIDE_PROXIES: tuple[str, ...] = ("epsilon", "params", "flops")
#: Table 4's sample sizes in the full setting: epsilon (the issue asks for 5,000 cells), every proxy
TABLE4_WIDE = 5000
TABLE4_SAMPLE = 500
#: Table 11's inputs: the published row's key -> the input kind of :func:`nas.data.load_batch`
INPUT_KINDS: dict[str, str] = {
    "real_batch": "real",
    "grey_scale": "grey",
    "random_normal": "normal",
    "random_uniform": "uniform",
    "random_uniform_pos": "uniform+",
}
#: Table 9's schemes (the published rows' keys; settings ``init`` of ``epsilon_init``) and its sample in the full
#: setting (of architectures 0..4999: two full-width forward passes at batch 256 cost seconds per architecture)
TABLE9_SCHEMES: tuple[str, ...] = ("uniform", "normal", "kaiming_uniform", "kaiming_normal", "orthogonal")
TABLE9_SAMPLE = 500
#: Table 10's embedding draws: the published row's key -> epsilon's settings ``embedding`` and ``embedding_scale``
#: (matched by name: the author's notebook cell does not show how it draws each), and its cells (the author's 1,000)
EMBEDDING_VARIANTS: dict[str, tuple[str, float]] = {
    "uniform_positive_0.1": ("uniform_positive", 0.1),
    "uniform_positive_1": ("uniform_positive", 1.0),
    "uniform_centered_0.1": ("uniform_centered", 0.1),
    "uniform_centered_1": ("uniform_centered", 1.0),
    "random_0.1": ("normal", 0.1),
    "random_1": ("normal", 1.0),
}
TABLE10_SAMPLE = 1000
#: the experiment id of each experiment's rows in the published data file (where it differs from the name)
PUBLISHED_EXPERIMENT: dict[str, str] = {
    "table3": "nb101-comparison",
    "table7": "nlp-weights",
    "table9": "nb201-initialisation",
    "table10": "nlp-embedding",
    "table11": "nb201-synthetic",
}
#: the training images of the full CIFAR-10 and CIFAR-100 training sets (a data directory with fewer is partial)
FULL_TRAINING_IMAGES = 50_000
#: the batch epsilon is scored on (the paper's)
EPSILON_BATCH = 256
#: Figure 4: the batch sizes (the paper's), the architectures and the batches per size of the full setting
FIG4_BATCH_SIZES: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512, 1024)
FIG4_ARCHS = 1000
FIG4_BATCH_SEEDS = 5
#: Figure 3 in the full setting: seeded rounds, trained models per run, warm-up pool and datasets
SEARCH_ROUNDS = 100
SEARCH_BUDGET = 300
SEARCH_POOL = 3000
#: Figure 3's evolution population and tournament, and random search's warm-up models (configs/nb201-cifar10.yaml);
#: scaled down when the budget is under three populations
SEARCH_POPULATION = 64
SEARCH_TOURNAMENT = 10
#: Figure 5 in the full setting: the seeded sample every warm-up pool is drawn from (Table 1's sample: the gradient
#: proxies cost seconds per architecture, too much for the whole space here)
FIG5_POOL = 5000
#: Figure 5's proxies in ``--quick``: those that cost well under a second per architecture (``nas perf``; the
#: others of Table 1 cost seconds)
FIG5_QUICK_PROXIES: tuple[str, ...] = ("epsilon", "synflow", "params", "flops")
#: the correlations whose sign follows the trained metric (shown with the metric itself where it is minimised)
SIGNED_METRICS: tuple[str, ...] = ("spearman", "kendall", "top10_spearman", "top10_kendall")


@dataclass(frozen=True)
class SearchSizes:
    """A search figure's sizes: seeded rounds, trained models per run, the warm-up pool and the datasets."""

    rounds: int
    budget: int
    pool: int
    datasets: tuple[str, ...]
    #: Figure 5: the seeded sample of architectures every warm-up pool is drawn from (``None``: the whole space)
    fixed: int | None = None

    def text(self) -> str:
        """E.g. "100 rounds of 300 trained models with pools of 3,000 from a fixed pool of 5,000"."""
        fixed = "" if self.fixed is None else f" from a fixed pool of {self.fixed:,}"
        return f"{self.rounds} rounds of {self.budget} trained models with pools of {self.pool:,}{fixed}"


#: Figures 3 and 5 in the full setting
FIG3_FULL = SearchSizes(SEARCH_ROUNDS, SEARCH_BUDGET, SEARCH_POOL, TABLE1_DATASETS)
FIG5_FULL = replace(FIG3_FULL, fixed=FIG5_POOL)


@dataclass(frozen=True)
class Sizes:
    """How many architectures each experiment scores (``None``: all of the experiment's set)."""

    #: Table 1, the proxies of :data:`WHOLE_SPACE_PROXIES` (``None``: the whole space)
    table1_wide: int | None
    #: Table 1, every proxy
    table1_sample: int
    #: Tables 5, 6 and 11 (``None``: NB201 architectures 0..4999, the 500 NB101 cells)
    weights: int | None
    #: Tables 5-7 use the three weights of :attr:`WeightsSpec.quick_weights` instead of the whole grid
    small_grid: bool
    #: Table 3 (``None``: the 500 cells)
    table3: int | None = None
    #: Table 4: the proxies of :data:`TABLE4_WIDE_PROXIES`, and every proxy
    table4_wide: int = TABLE4_WIDE
    table4_sample: int = TABLE4_SAMPLE
    #: Table 7 (NLP cells)
    nlp_weights: int = TABLE4_SAMPLE
    #: Table 9 (of NAS-Bench-201 architectures 0..4999) and Table 10 (NLP cells)
    table9: int = TABLE9_SAMPLE
    table10: int = TABLE10_SAMPLE
    #: Figure 4: architectures, batch sizes and batches (seeds ``0 ..``) per size
    fig4_archs: int = FIG4_ARCHS
    fig4_batch_sizes: tuple[int, ...] = FIG4_BATCH_SIZES
    fig4_batch_seeds: int = FIG4_BATCH_SEEDS
    #: Figures 3 and 5: rounds, trained models per run, the warm-up pool and the datasets (Figure 5: its fixed pool)
    fig3: SearchSizes = FIG3_FULL
    fig5: SearchSizes = FIG5_FULL
    #: Figure 5's proxies
    fig5_proxies: tuple[str, ...] = TABLE1_PROXIES


#: the paper's setting
FULL = Sizes(table1_wide=None, table1_sample=TABLE1_SAMPLE, weights=None, small_grid=False)
#: ``--quick``: small samples, minutes rather than hours
QUICK = Sizes(table1_wide=200, table1_sample=4, weights=50, small_grid=True, table3=3, table4_wide=12,
              table4_sample=4, nlp_weights=12, table9=2, table10=4, fig4_archs=30, fig4_batch_seeds=2,
              fig3=SearchSizes(3, 30, 100, ("cifar10",)), fig5=SearchSizes(2, 30, 60, ("cifar10",), 200),
              fig5_proxies=FIG5_QUICK_PROXIES)


@dataclass(frozen=True)
class WeightsSpec:
    """One weight-ablation table: the space, its grid and the architectures the author scored."""

    experiment: str
    space: str
    dataset: str
    #: the grid's exponents: weights ``10**low .. 10**high``
    low: int
    high: int
    #: the grid of ``--quick``: three weights of the full grid, the space's default pair among their pairs
    quick_weights: tuple[float, float, float]
    #: NB201: the first ``first`` architectures of the official index order; ``None``: the table's cells
    first: int | None
    #: how many architectures the author scored (``None``: not stated)
    author_archs: int | None = 5000
    #: the precisions every pair is scored in
    precisions: tuple[str, ...] = ("float32", "float64")
    #: the attribute of :class:`Sizes` that says how many of the architectures are scored
    size: str = "weights"


WEIGHTS_SPECS: dict[str, WeightsSpec] = {
    "table5": WeightsSpec("table5", "nb101", "cifar10", -4, 1, (1e-4, 1e-2, 10.0), None),
    "table6": WeightsSpec("table6", "nb201", "cifar10", -7, 0, (1e-7, 1e-3, 1.0), 5000),
    "table7": WeightsSpec("table7", "nlp", "ptb", -7, 0, (1e-7, 1e-5, 1e-3), None, None, ("float32",), "nlp_weights"),
}
#: Table 11's architectures: those of Table 6
INPUTS_SPEC = WeightsSpec("table11", "nb201", "cifar10", -7, 0, (1e-7, 1e-3, 1.0), 5000, precisions=("float32",))
#: Table 9's architectures: a sample of Table 6's (the author scored the whole space); Table 10's: NLP cells
INITIALISATION_SPEC = WeightsSpec("table9", "nb201", "cifar10", -7, 0, (1e-7, 1e-3, 1.0), 5000, 15625, ("float32",), "table9")
EMBEDDING_SPEC = WeightsSpec("table10", "nlp", "ptb", -7, 0, (1e-7, 1e-5, 1e-3), None, 1000, ("float32",), "table10")


@dataclass(frozen=True)
class ReproduceConfig:
    """Everything that determines a reproduction run."""

    experiments: tuple[str, ...] = tuple(EXPERIMENTS)
    quick: bool = False
    #: architectures per experiment, overriding the sizes of :data:`FULL` / :data:`QUICK` (smoke tests)
    sample: int | None = None
    #: Table 1's datasets (default :data:`TABLE1_DATASETS`)
    datasets: tuple[str, ...] = TABLE1_DATASETS
    #: Table 1's and Table 3's proxies (default :data:`TABLE1_PROXIES`; params and flops are always added);
    #: Table 4 takes those of them it has (epsilon alone when none)
    proxies: tuple[str, ...] = TABLE1_PROXIES
    #: seed of the samples, the batches and the models' initialisation
    seed: int = 0
    #: how missing scores are computed and where data and scores are, as keyword arguments of
    #: :class:`~nas.comparing.CompareConfig`: ``executor``, ``workers``, ``ray_address``, ``progress``,
    #: ``data_dir``, ``cache_dir`` (:func:`nas.cli.compare.run_options` reads them from the command line)
    run: Mapping[str, Any] = field(default_factory=lambda: {"executor": "auto"})
    #: Table 2: pool sizes and draws (the paper's by default; tests use smaller ones)
    selection_sizes: tuple[int, ...] = SELECTION_SIZES
    selection_runs: int = SELECTION_RUNS
    #: Figure 4's batch sizes, and the rounds and trained models per run of Figures 3 and 5 (``None``: those of the
    #: sizes; tests use fewer)
    batch_sizes: tuple[int, ...] | None = None
    search_rounds: int | None = None
    search_budget: int | None = None

    @property
    def data_dir(self) -> str | None:
        """The data directory (``None``: the default)."""
        return self.run.get("data_dir")

    @property
    def cache_dir(self) -> str | None:
        """The score store's directory (``None``: the default)."""
        return self.run.get("cache_dir")

    @property
    def progress(self) -> bool:
        """Whether progress bars are shown."""
        return bool(self.run.get("progress", False))

    @property
    def sizes(self) -> Sizes:
        """The sizes of this run: :data:`QUICK` or :data:`FULL`, every size ``sample`` when it is given (Figure 3:
        pools of ``sample`` and at most ``sample`` trained models; Figure 5: a fixed pool of ``sample``, pools of at
        most ``sample``), and the batch sizes, rounds and budget of this config."""
        sizes = QUICK if self.quick else FULL
        if self.sample is not None:
            n = self.sample
            sizes = replace(sizes, table1_wide=n, table1_sample=n, weights=n, table3=n, table4_wide=n, table4_sample=n,
                            nlp_weights=n, table9=n, table10=n, fig4_archs=n, fig3=replace(sizes.fig3, pool=n, budget=min(n, sizes.fig3.budget)),
                            fig5=replace(sizes.fig5, fixed=n, pool=min(n, sizes.fig5.pool)))
        if self.batch_sizes is not None:
            sizes = replace(sizes, fig4_batch_sizes=self.batch_sizes)
        searches = {"rounds": self.search_rounds, "budget": self.search_budget}
        chosen = {name: value for name, value in searches.items() if value is not None}
        return replace(sizes, fig3=replace(sizes.fig3, **chosen), fig5=replace(sizes.fig5, **chosen))

    def search_datasets(self, search: SearchSizes) -> tuple[str, ...]:
        """A search figure's datasets: those of ``--datasets`` when it was given, else ``search``'s."""
        return self.datasets if self.datasets != TABLE1_DATASETS else search.datasets

    @property
    def fig5_proxies(self) -> tuple[str, ...]:
        """Figure 5's proxies: those of ``--proxies`` when it was given (Table 1's order), else the sizes'."""
        return self.sizes.fig5_proxies if self.proxies == TABLE1_PROXIES else tuple(_table1_order(self.proxies))

    @property
    def overridden(self) -> list[str]:
        """The options that change the paper's (or ``--quick``'s) setting, as command-line text."""
        changed = []
        if self.sample is not None:
            changed.append(f"--sample {self.sample}")
        if self.datasets != TABLE1_DATASETS:
            changed.append(f"--datasets {','.join(self.datasets)}")
        if self.proxies != TABLE1_PROXIES:
            changed.append(f"--proxies {','.join(self.proxies)}")
        return changed

    def describe(self) -> str:
        """One paragraph saying which setting this run used: the paper's, ``--quick``'s, and any override."""
        sizes = self.sizes
        if self.sample is None and not self.quick:
            text = (
                f"full (the paper's): Table 1 on the whole space for {', '.join(WHOLE_SPACE_PROXIES)} and on a seeded "
                f"sample of {TABLE1_SAMPLE:,} for every proxy; Table 3 on the 500 NAS-Bench-101 cells; Table 4 on "
                f"{TABLE4_WIDE:,} NLP cells (epsilon) and {TABLE4_SAMPLE:,} (every proxy); Tables 5, 6 and 11 on "
                "NAS-Bench-201 architectures 0..4999 and the 500 NAS-Bench-101 cells, every pair of the author's "
                f"weight grids; Table 7 on {TABLE4_SAMPLE:,} NLP cells; Table 9 on a seeded sample of {TABLE9_SAMPLE} of "
                f"NAS-Bench-201 architectures 0..4999; Table 10 on {TABLE10_SAMPLE:,} NLP cells; Figure 4 on a seeded sample of {sizes.fig4_archs:,} "
                f"NAS-Bench-201 architectures, {sizes.fig4_batch_seeds} batches per size; Figure 3 {sizes.fig3.text()}, "
                f"on {', '.join(self.search_datasets(sizes.fig3))}; Figure 5 {sizes.fig5.text()}, on "
                f"{', '.join(self.search_datasets(sizes.fig5))}, proxies {', '.join(self.fig5_proxies)}."
            )
        else:
            text = (
                f"{'--quick' if self.quick else 'sized'}: Table 1 on seeded samples of "
                f"{sizes.table1_wide} ({', '.join(WHOLE_SPACE_PROXIES)}) and {sizes.table1_sample} (every proxy) "
                f"architectures per dataset; Table 3 on {sizes.table3} cells; Table 4 on {sizes.table4_wide} and "
                f"{sizes.table4_sample} cells; Tables 5, 6 and 11 on {sizes.weights} architectures; Table 7 on "
                f"{sizes.nlp_weights} cells{'; three weights per grid' if sizes.small_grid else ''}; Table 9 on "
                f"{sizes.table9} architectures; Table 10 on {sizes.table10} cells; Figure 4 on "
                f"{sizes.fig4_archs} architectures, {sizes.fig4_batch_seeds} batches per size; Figure 3 "
                f"{sizes.fig3.text()}, on {', '.join(self.search_datasets(sizes.fig3))}; Figure 5 {sizes.fig5.text()}, "
                f"on {', '.join(self.search_datasets(sizes.fig5))}, proxies {', '.join(self.fig5_proxies)}. Small samples: "
                "the differences from the published values mostly measure the sample, not the method."
            )
        if self.overridden:
            text += f" Overridden: {' '.join(self.overridden)}."
        return text


@dataclass(frozen=True)
class RowResult:
    """One reproduced row: our metrics on the three sets, the counts, the published row and notes."""

    #: the row's key: a proxy name, a weight pair ``"w1:w2"`` or an input
    key: str
    #: ``"float32"``/``"float64"`` for a weight pair; ``None`` for a proxy (scored in its own precision)
    precision: str | None
    #: which architectures were asked, e.g. "random sample of 5000 of 15625 architectures (seed 0)"
    architectures: str
    asked: int
    scored: int
    own: ProxyMetrics
    common: ProxyMetrics
    nan_worst: ProxyMetrics
    #: Spearman's rho on the own set with its 95% bootstrap interval (``None``: not computed)
    spearman_interval: Interval | None
    published: PublishedRow | None
    #: keys of the section's notes that apply to this row (see :attr:`Section.notes`)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Table:
    """What every table of the report has: a title, the input its scores saw and its footnotes."""

    title: str
    #: one line per batch of input the scores saw
    inputs: tuple[str, ...] = ()
    #: the footnotes the rows refer to: ``key: text``
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Section(Table):
    """One table of correlations: a dataset of Table 1, a precision of Table 5 or 6, ..."""

    rows: tuple[RowResult, ...]
    #: what the rows are: the header of the first column
    row_kind: str = "proxy"
    #: the trained metric the scores are compared with
    metric: str
    #: 1, or -1 where the metric is minimised: the correlations of :data:`SIGNED_METRICS` are then shown
    #: with the metric itself (the rows hold them with the negated metric, higher is better)
    sign: int = 1
    #: architectures in the common set (scored by every row of the section), and what that set is
    common: int
    common_of: str


@dataclass(frozen=True)
class Pick:
    """Table 2: what one way of choosing picked over the draws of one pool size."""

    #: a proxy name, ``"Optimal"`` or ``"Random"``
    method: str
    #: the pool size N
    pool: int
    runs: int
    #: mean and standard deviation (over the draws) of the pick's validation and test accuracy
    valid_mean: float
    valid_std: float
    test_mean: float
    test_std: float
    #: draws in which every architecture of the pool had NaN for the proxy (the pick was then at random)
    all_nan: int
    #: architectures of the set drawn from that the proxy scored (``None``: Optimal and Random)
    scored: int | None
    #: hours per 1,000 architectures, from the seconds the score store recorded here (``None``: no proxy)
    hours_per_1000: float | None


@dataclass(frozen=True, kw_only=True)
class SelectionSection(Table):
    """Table 2 on one dataset: the picks of every method and pool size."""

    picks: tuple[Pick, ...]
    #: the architectures the pools are drawn from (how many, what they are), and the best validation and test
    #: accuracy among them
    asked: int
    architectures: str
    best_valid: float
    best_test: float
    #: the metrics the picks are measured with
    valid_metric: str
    test_metric: str
    #: pool sizes left out because the set is smaller
    skipped: tuple[int, ...]


@dataclass(frozen=True)
class Panel:
    """One scatter plot: a proxy's scores against a trained metric, coloured by parameter count."""

    title: str
    proxy: str
    metric: str
    scores: np.ndarray
    values: np.ndarray
    params: np.ndarray


@dataclass(frozen=True)
class Curve:
    """One line of a :class:`CurvePanel`: the median over repetitions at each x and the quartiles around it."""

    label: str
    x: np.ndarray
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class CurvePanel:
    """One line plot: curves with their quartile bands."""

    title: str
    xlabel: str
    ylabel: str
    curves: tuple[Curve, ...]
    log_x: bool = False


@dataclass(frozen=True)
class Figure:
    """A figure of the report: its file name (without suffix), caption and panels."""

    name: str
    caption: str
    panels: tuple[Panel | CurvePanel, ...]
    #: panels per row of the grid
    columns: int = 3


#: what a figure without typed values says in place of the published column
FIGURE_ONLY = "figure only, no published numbers"


@dataclass(frozen=True)
class BatchSizeRow:
    """Figure 4: epsilon's Spearman rho on each batch of one size."""

    size: int
    #: the batch seeds, and the rho of each batch (NaN: fewer than two architectures scored)
    seeds: tuple[int, ...]
    spearman: tuple[float, ...]
    #: architectures times batches, and the scores among them that are finite
    asked: int
    scored: int
    notes: tuple[str, ...] = ()

    @property
    def quartiles(self) -> tuple[float, float, float]:
        """The 25th, 50th and 75th percentile of the batches' rho (NaN rhos left out)."""
        low, median, high = _quartiles(np.array(self.spearman, dtype=np.float64)[:, None])
        return float(low[0]), float(median[0]), float(high[0])


@dataclass(frozen=True, kw_only=True)
class BatchSizeSection(Table):
    """Figure 4's table: per batch size the batches' rho with the trained metric."""

    rows: tuple[BatchSizeRow, ...]
    metric: str
    #: the architectures scored on every batch, and what they are
    archs: tuple[str, ...]
    architectures: str
    #: batch sizes left out: ``size: why``
    skipped: dict[int, str]


@dataclass(frozen=True)
class SearchRow:
    """Figures 3 and 5: one strategy (with one proxy) over the rounds: the choice's reported metric after k trained
    models and at the end."""

    strategy: str
    #: the proxy of the warm-up ("": a strategy without one)
    proxy: str
    rounds: int
    #: trained models per run (every run of a row trains as many)
    trained: float
    #: after k trained models (the marks of :data:`nas.reports.search.BUDGET_MARKS` within the budget)
    best_after: dict[int, Statistic]
    final: Statistic
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SearchSection(Table):
    """A search figure's table: Figure 3 on one dataset (a row per strategy), Figure 5 on one dataset and strategy
    (a row per proxy)."""

    rows: tuple[SearchRow, ...]
    #: the metric that steers the search, the one the choice is reported with
    metric: str
    reported: str
    #: the architectures searched, described
    searched: str
    #: what tells the rows apart: ``"strategy"`` or ``"proxy"``
    row_kind: str = "strategy"

    def label(self, row: SearchRow) -> str:
        """The row's first cell: its strategy or its proxy (:attr:`row_kind`)."""
        return row.proxy if self.row_kind == "proxy" else row.strategy


#: every kind of table a result holds
AnySection = Section | SelectionSection | BatchSizeSection | SearchSection


@dataclass
class ExperimentResult:
    """What one experiment produced, and what it cost."""

    name: str
    title: str
    #: how the experiment was set up, one sentence each
    setting: list[str]
    sections: list[AnySection]
    #: rows added to the score store while it ran (0 when everything was stored already)
    new_scores: int
    wall_seconds: float
    figures: list[Figure] = field(default_factory=list)


@dataclass
class _Outcome:
    """What an experiment's runner returns."""

    setting: list[str]
    sections: list[AnySection] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


@dataclass
class _Context:
    """One reproduction: its configuration, the published values and the ``nas compare`` runs done so far."""

    config: ReproduceConfig
    published: PublishedValues
    runs: dict[tuple[Any, ...], ComparisonData] = field(default_factory=dict)

    def compare(self, space: str, dataset: str, proxies: Sequence[str], sample: int | None) -> ComparisonData:
        """One ``nas compare`` run (``sample=None``: every architecture), done once per reproduction."""
        key = (space, dataset, tuple(proxies), sample)
        if key not in self.runs:
            self.runs[key] = compare_proxies(
                CompareConfig(
                    space=space,
                    dataset=dataset,
                    columns=tuple(parse_columns(",".join(proxies))),
                    sample=sample,
                    seed=self.config.seed,
                    seeds=(self.config.seed,),
                    **self.config.run,
                )
            )
        return self.runs[key]

    def run_with(self, space: str, dataset: str, proxies: Sequence[str], sample: int | None) -> ComparisonData:
        """A run of this reproduction that scored ``proxies`` on ``sample`` architectures, else a new one of them."""
        for (run_space, run_dataset, _, size), run in self.runs.items():
            if (run_space, run_dataset, size) == (space, dataset, sample) and set(proxies) <= set(run.scores):
                return run
        return self.compare(space, dataset, proxies, sample)

    def published_row(self, experiment: str, key: str, dataset: str | None = None) -> PublishedRow | None:
        """The published row of ``experiment`` (by its id in the data file) for ``key``."""
        return self.published.find(PUBLISHED_EXPERIMENT.get(experiment, experiment), key, dataset)


def parse_experiments(text: str | None) -> tuple[str, ...]:
    """The experiments of an ``--only`` list (every one of :data:`EXPERIMENTS` when ``None``), in their order."""
    if text is None:
        return tuple(EXPERIMENTS)
    names = [item.strip() for item in text.split(",") if item.strip()]
    if not names:
        raise NasError(f"--only needs at least one experiment; known: {', '.join(EXPERIMENTS)}")
    unknown = [name for name in names if name not in EXPERIMENTS]
    if unknown:
        shown = unknown[0] if len(unknown[0]) <= 40 else unknown[0][:37] + "..."
        raise NasError(f"--only: unknown experiment {shown!r}; known: {', '.join(EXPERIMENTS)}")
    return tuple(name for name in EXPERIMENTS if name in names)


def reproduce(config: ReproduceConfig) -> Iterator[ExperimentResult]:
    """Run the experiments of ``config`` one after the other, yielding each result as it is done."""
    if config.sample is not None and (isinstance(config.sample, bool) or config.sample < 2):
        raise NasError(f"--sample must be at least 2 architectures (a rank correlation needs two), got {config.sample!r}")
    unknown = sorted(set(config.datasets) - set(TABLE1_DATASETS))
    if unknown:
        raise NasError(f"--datasets: Table 1 has no dataset {unknown[0]!r}; it has {', '.join(TABLE1_DATASETS)}")
    parse_columns(",".join(config.proxies))  # unknown proxy names are an error before anything is scored
    context = _Context(config, load_published())
    runners: dict[str, Callable[[_Context], _Outcome]] = {
        "table1": _table1,
        "table2": _table2,
        "table3": _table3,
        "table4": _table4,
        "table5": lambda c: _weights(WEIGHTS_SPECS["table5"], c),
        "table6": lambda c: _weights(WEIGHTS_SPECS["table6"], c),
        "table7": lambda c: _weights(WEIGHTS_SPECS["table7"], c),
        "table9": _initialisations,
        "table10": _embeddings,
        "table11": _inputs,
        "fig1": _figure1,
        "fig2": _figure2,
        "fig3": _figure3,
        "fig4": _figure4,
        "fig5": _figure5,
    }
    for name in config.experiments:
        start = time.perf_counter()
        before = _stored_rows(config.cache_dir)
        outcome = runners[name](context)
        yield ExperimentResult(
            name=name,
            title=EXPERIMENTS[name],
            setting=outcome.setting,
            sections=outcome.sections,
            new_scores=_stored_rows(config.cache_dir) - before,
            wall_seconds=time.perf_counter() - start,
            figures=outcome.figures,
        )


def _stored_rows(cache_dir: str | None) -> int:
    """How many scores the store holds."""
    with ScoreStore.open(cache_dir) as store:
        return len(store)


def _bar(config: ReproduceConfig, name: str, total: int) -> tqdm:
    """The experiment's progress bar on stderr (one step per scoring run)."""
    return tqdm(total=total, desc=name, unit="step", file=sys.stderr, disable=not config.progress, position=0)


def _table1_order(names: Sequence[str]) -> list[str]:
    """``names`` (distinct) in the order of Table 1's rows, those it does not have after them in their order."""
    return [name for name in TABLE1_PROXIES if name in names] + [name for name in names if name not in TABLE1_PROXIES]


def _table1_proxies(config: ReproduceConfig) -> tuple[list[str], list[str]]:
    """Table 1's (and 3's) proxies in the paper's row order, params and flops added; and those of them scored widely."""
    proxies = _table1_order(list(dict.fromkeys([*config.proxies, "params", "flops"])))
    return proxies, [name for name in proxies if name in WHOLE_SPACE_PROXIES]


def _two_runs(
    context: _Context, space: str, dataset: str, proxies: Sequence[str], wide: Sequence[str],
    wide_size: int | None, sample_size: int | None,
) -> tuple[ComparisonData, ComparisonData]:
    """The wide run (of ``wide``) and the sampled run (of every proxy); one run when their sizes are equal."""
    sample_run = context.compare(space, dataset, proxies, sample_size)
    if wide_size == sample_size or not wide:
        return sample_run, sample_run
    return context.compare(space, dataset, wide, wide_size), sample_run


def _table1_runs(context: _Context, dataset: str) -> tuple[ComparisonData, ComparisonData]:
    """Table 1's two runs on ``dataset`` (Figures 1/6 draw them, Table 2 draws from the wide one)."""
    sizes = context.config.sizes
    proxies, wide = _table1_proxies(context.config)
    return _two_runs(context, "nb201", dataset, proxies, wide, sizes.table1_wide, sizes.table1_sample)


def _table1(context: _Context) -> _Outcome:
    """Table 1: a whole-space (or wide) run and a sampled run of ``nas compare`` per dataset."""
    config = context.config
    sizes = config.sizes
    proxies, wide = _table1_proxies(config)
    two_runs = sizes.table1_wide != sizes.table1_sample and bool(wide)
    wide_text = "the whole space" if sizes.table1_wide is None else f"a seeded sample of {sizes.table1_wide}"
    setting = [
        f"NAS-Bench-201, datasets {', '.join(config.datasets)}; trained metric test_acc (200 epochs, mean over seeds).",
        (
            f"{', '.join(wide)} on {wide_text}; every proxy on a seeded random sample of {sizes.table1_sample} "
            f"architectures (seed {config.seed}), which gives the common set."
            if two_runs
            else f"every proxy on a seeded random sample of {sizes.table1_sample} architectures (seed {config.seed})."
        ),
        "Each proxy on a batch of its paper's size (epsilon 256 at weights 1e-7:1 in float32, naswot 128, the "
        "others 64) of real training images; initialisation and batch seed "
        f"{config.seed}; 95% bootstrap intervals from 1,000 seeded draws.",
    ]
    sections = []
    with _bar(config, "table1", len(config.datasets)) as bar:
        for dataset in config.datasets:
            wide_run, sample_run = _table1_runs(context, dataset)
            bar.update()
            sections.append(_comparison_section(context, "table1", _DATASET_TITLES[dataset], proxies, wide,
                                                wide_run, sample_run))
    return _Outcome(setting, sections)


def _comparison_section(
    context: _Context,
    experiment: str,
    title: str,
    proxies: Sequence[str],
    wide: Sequence[str],
    wide_run: ComparisonData,
    sample_run: ComparisonData,
    extra_notes: Mapping[str, str] | None = None,
) -> Section:
    """One table of proxies: each proxy's own and NaN-worst values from its largest run, common from the sample."""
    dataset = sample_run.config.dataset
    notes = _input_notes(dataset, [*wide_run.inputs, *sample_run.inputs], context.config.data_dir)
    notes.update(extra_notes or {})
    shared = tuple(notes)
    if sample_run.config.sample is not None:
        notes["sample"] = "scored on a seeded random sample, not on the whole set as in the paper"
    rows = []
    for name in proxies:
        run = wide_run if name in wide else sample_run
        own = run.agreement["own"][name]
        row_notes = shared + (("sample",) if run.config.sample is not None else ())
        rows.append(
            RowResult(
                key=name,
                precision=None,
                architectures=run.selection,
                asked=run.asked,
                scored=run.scored[name],
                own=own.metrics,
                common=sample_run.agreement["common"][name].metrics,
                nan_worst=run.agreement["nan_worst"][name].metrics,
                spearman_interval=own.spearman,
                published=context.published_row(experiment, name, dataset),
                notes=row_notes,
            )
        )
    common_of = f"the architectures of the {sample_run.selection} that every proxy scored"
    inputs = tuple(dict.fromkeys([*wide_run.inputs, *sample_run.inputs]))
    metric = sample_run.config.metric or ""
    return Section(title=title, rows=tuple(rows), metric=metric, common=int(np.count_nonzero(sample_run.common)),
                   common_of=common_of, inputs=inputs, notes=notes, sign=1 if sample_run.metric_higher_is_better else -1)


_DATASET_TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16-120": "ImageNet16-120", "ptb": "Penn Treebank"}


def _input_notes(dataset: str, inputs: Sequence[str], data_dir: str | None) -> dict[str, str]:
    """Notes on where the input differs from the paper's: a stand-in, or a partial copy of the images."""
    notes: dict[str, str] = {}
    stand_in = any(STAND_IN in line for line in inputs)
    if stand_in:
        notes["stand-in"] = (
            "ImageNet16-120 input is a stand-in: CIFAR-100 training images resized to 16x16 (no ImageNet16-120 "
            "images are available here); the paper used ImageNet16-120 images"
        )
    source = "cifar10" if dataset == "cifar10" else "cifar100" if dataset == "cifar100" or stand_in else None
    if source is not None:
        images = len((load_cifar10 if source == "cifar10" else load_cifar100)(data_dir)[0])
        if images < FULL_TRAINING_IMAGES:
            notes["partial"] = (
                f"the batches are drawn from {images:,} {_DATASET_TITLES[source]} training images (a partial copy of "
                f"the {FULL_TRAINING_IMAGES:,}), so they are not the paper's batches"
            )
    return notes


def _table2(context: _Context) -> _Outcome:
    """Table 2: best of N by each widely scored proxy, Optimal and Random, over seeded draws from Table 1's wide run."""
    config = context.config
    _, wide = _table1_proxies(config)
    sizes = config.selection_sizes
    runs = config.selection_runs
    sections: list[AnySection] = []
    table = open_table("nb201", config.data_dir)
    with _bar(config, "table2", len(config.datasets)) as bar:
        for dataset in config.datasets:
            # Table 1's wide run (its only run when both have one size), without its sample of every proxy
            wide_run = context.run_with("nb201", dataset, wide, config.sizes.table1_wide)
            methods = [name for name in wide if name in wide_run.scores]
            valid_metric = "valid_acc" if "valid_acc" in table.metrics(dataset) else wide_run.config.metric or "test_acc"
            valid = np.array([table.lookup(name, dataset, valid_metric) for name in wide_run.archs], dtype=np.float64)
            sections.append(_selection_section(context, dataset, wide_run, methods, valid, valid_metric, sizes, runs))
            bar.update()
    setting = [
        f"NAS-Bench-201, datasets {', '.join(config.datasets)}: the architectures of Table 1's "
        f"{'whole-space' if config.sizes.table1_wide is None else 'wide'} run ({', '.join(wide)}) with a trained "
        "accuracy form the set the pools are drawn from.",
        f"{runs} seeded draws (seed {config.seed}) of N distinct architectures for each N of "
        f"{', '.join(f'{n:,}' for n in sizes)}, the same draws for every method; each proxy picks its best-scored "
        "architecture (NaN ranked worst; a pool all NaN is picked from at random and counted), Random one at random, "
        "Optimal the one with the best validation accuracy (test accuracy where the table has no validation "
        "accuracy).",
        "Cost: hours of computation per 1,000 architectures, from the mean seconds per architecture the score store "
        "recorded for the proxy here (one process on this machine).",
    ]
    return _Outcome(setting, sections)


def _selection_section(
    context: _Context,
    dataset: str,
    run: ComparisonData,
    methods: Sequence[str],
    valid: np.ndarray,
    valid_metric: str,
    sizes: Sequence[int],
    runs: int,
) -> SelectionSection:
    """Table 2 on one dataset: the seeded draws and every method's picks."""
    test = run.accuracies
    known = np.flatnonzero(np.isfinite(test))
    rng = np.random.default_rng(context.config.seed)
    picks: list[Pick] = []
    skipped = tuple(n for n in sizes if n > len(known))
    oracle = np.where(np.isfinite(valid), valid, -np.inf) if np.isfinite(valid).any() else test
    for n in (n for n in sizes if n <= len(known)):
        draws = np.stack([rng.choice(known, size=n, replace=False) for _ in range(runs)])
        chosen: dict[str, np.ndarray] = {
            "Optimal": draws[np.arange(runs), np.argmax(oracle[draws], axis=1)],
            "Random": draws[np.arange(runs), rng.integers(0, n, size=runs)],
        }
        nan_pools: dict[str, int] = {"Optimal": 0, "Random": 0}
        for name in methods:
            scores = run.scores[name] if run.higher_is_better[name] else -run.scores[name]
            pooled = scores[draws]
            empty = ~np.isfinite(pooled).any(axis=1)
            best = np.argmax(np.where(np.isfinite(pooled), pooled, -np.inf), axis=1)
            best[empty] = rng.integers(0, n, size=int(np.count_nonzero(empty)))
            chosen[name] = draws[np.arange(runs), best]
            nan_pools[name] = int(np.count_nonzero(empty))
        for method, picked in chosen.items():
            seconds = run.seconds_per_arch.get(method)
            picks.append(
                Pick(
                    method=method,
                    pool=n,
                    runs=runs,
                    valid_mean=_nanmean(valid[picked]),
                    valid_std=_nanstd(valid[picked]),
                    test_mean=float(np.mean(test[picked])),
                    test_std=float(np.std(test[picked])),
                    all_nan=nan_pools[method],
                    scored=int(np.count_nonzero(np.isfinite(run.scores[method][known]))) if method in run.scores else None,
                    hours_per_1000=None if seconds is None else seconds * 1000 / 3600,
                )
            )
    notes = _input_notes(dataset, run.inputs, context.config.data_dir)
    if run.config.sample is not None:
        notes["sample"] = "the pools are drawn from a seeded sample, not from the whole space as in the paper"
    if skipped:
        notes["pool"] = (
            f"N = {', '.join(f'{n:,}' for n in skipped)} left out: larger than the {len(known):,} architectures drawn from"
        )
    if valid_metric == "valid_acc" and dataset == "cifar10":
        notes["valid"] = (
            "validation accuracy is that of NAS-Bench-201's cifar10-valid setting (trained on the training half), test "
            "accuracy that of its cifar10 setting (trained on training and validation half), as NAS-Bench-201 reports them"
        )
    elif valid_metric != "valid_acc":
        notes["valid"] = (
            f"the shared {dataset} table has no validation accuracy: the validation columns repeat {valid_metric}"
        )
    return SelectionSection(
        title=_DATASET_TITLES[dataset],
        picks=tuple(picks),
        asked=len(known),
        architectures=f"the {len(known):,} architectures with a trained accuracy of the {run.selection}",
        valid_metric=valid_metric,
        test_metric=run.config.metric or "test_acc",
        best_valid=_nanmax(valid[known]),
        best_test=float(np.max(test[known])) if len(known) else math.nan,
        skipped=skipped,
        inputs=tuple(run.inputs),
        notes=notes,
    )


def _nanmean(values: np.ndarray) -> float:
    return float(np.mean(values[np.isfinite(values)])) if np.isfinite(values).any() else math.nan


def _nanstd(values: np.ndarray) -> float:
    return float(np.std(values[np.isfinite(values)])) if np.isfinite(values).any() else math.nan


def _nanmax(values: np.ndarray) -> float:
    return float(np.max(values[np.isfinite(values)])) if np.isfinite(values).any() else math.nan


def _table3_runs(context: _Context) -> tuple[list[str], ComparisonData]:
    """Table 3's proxies and its run (Figure 2 takes epsilon's scores from it)."""
    proxies, _ = _table1_proxies(context.config)
    return proxies, context.compare("nb101", "cifar10", proxies, context.config.sizes.table3)


def _table3(context: _Context) -> _Outcome:
    """Table 3: Table 1's proxies on the NAS-Bench-101 cells of the shared table."""
    proxies, run = _table3_runs(context)
    notes = {"nb101": _NB101_NOTE}
    section = _comparison_section(context, "table3", "NAS-Bench-101 CIFAR-10", proxies, (), run, run, notes)
    setting = [
        f"NAS-Bench-101 CIFAR-10: {run.selection}; trained metric {run.config.metric} (the table's; the paper "
        "used the mean test accuracy).",
        "Each proxy on a batch of its paper's size of real CIFAR-10 training images (epsilon at the NAS-Bench-101 "
        f"weights {weights_key(DEFAULT_WEIGHTS['nb101'])}, float32); seed {context.config.seed}; 95% bootstrap "
        "intervals from 1,000 seeded draws.",
    ]
    return _Outcome(setting, [section])


_NB101_NOTE = (
    "NAS-Bench-101: the 500 cells of the shared table (of 423,624) with their validation accuracy; the author "
    "scored the first 5,000 cells of the benchmark (Table 3: the cells of the author's evaluation file) against "
    "their mean test accuracy"
)


_PERPLEXITY_NOTE = (
    "correlations are with test perplexity, as the paper prints them: negative is good (the top-10% are the cells of "
    "lowest perplexity; the overlap and top-64 columns count the best-scored cells). The author's compute_stats "
    "divides the top-10%/top-10% overlap for a minimised metric by the number of cells below the score's 10th "
    "percentile, not above its 90th, so that column is not comparable"
)
_EMBEDDING_NOTE = (
    "epsilon draws the embedding table from a seeded normal distribution; the author's code draws it from U(0, 1)"
)
_EMBEDDING_NAMES_NOTE = (
    "the draws are matched to the author's by name (uniform_positive_s = U(0, s), uniform_centered_s = U(-s, s), "
    "random_s = N(0, s^2)): the author's notebook cell names them but does not show how it draws each; the author "
    "scored 1,000 single-run logs, we a seeded sample of the PTB table's cells"
)


def _table4_proxies(config: ReproduceConfig) -> tuple[list[str], list[str]]:
    """Table 4's proxies (those of ``--proxies`` it has, epsilon alone when none; params and flops added)."""
    chosen = [name for name in TABLE4_PROXIES if name in config.proxies] or ["epsilon"]
    proxies = chosen + ["params", "flops"]
    return proxies, [name for name in proxies if name in TABLE4_WIDE_PROXIES]


def _table4_runs(context: _Context) -> tuple[list[str], list[str], ComparisonData, ComparisonData]:
    """Table 4's proxies and runs (Figure 2 takes epsilon's scores from the wide one)."""
    sizes = context.config.sizes
    proxies, wide = _table4_proxies(context.config)
    wide_run, sample_run = _two_runs(context, "nlp", "ptb", proxies, wide, sizes.table4_wide, sizes.table4_sample)
    return proxies, wide, wide_run, sample_run


def _table4(context: _Context) -> _Outcome:
    """Table 4: NAS-Bench-NLP on Penn Treebank against test perplexity (minimised)."""
    proxies, wide, wide_run, sample_run = _table4_runs(context)
    notes = {
        "perplexity": _PERPLEXITY_NOTE,
        "nlp": "NAS-Bench-NLP: the PTB cells of the shared logs (one training run each, the benchmark's main set); "
        "cells whose run did not finish have no perplexity and are not asked",
        "embedding": _EMBEDDING_NOTE,
    }
    section = _comparison_section(context, "table4", "NAS-Bench-NLP Penn Treebank", proxies, wide, wide_run,
                                  sample_run, notes)
    setting = [
        f"NAS-Bench-NLP, Penn Treebank; trained metric {sample_run.config.metric} (minimised).",
        f"{', '.join(wide)} on the {wide_run.selection}; every proxy on the {sample_run.selection} (the common set).",
        "Each proxy on a batch of its paper's size of PTB training token windows (epsilon at the NLP weights "
        f"{weights_key(DEFAULT_WEIGHTS['nlp'])}, float32); seed {context.config.seed}; 95% bootstrap intervals from "
        "1,000 seeded draws.",
    ]
    return _Outcome(setting, [section])


def _weights(spec: WeightsSpec, context: _Context) -> _Outcome:
    """Table 5, 6 or 7: epsilon at every weight pair of the grid, in each precision, through the store."""
    config = context.config
    grid = list(spec.quick_weights) if config.sizes.small_grid else weight_grid(spec.low, spec.high)
    default = DEFAULT_WEIGHTS[spec.space]
    pairs = [(w1, w2) for w1, w2 in itertools.combinations(grid, 2) if w1 < w2]
    variants = [
        # the default pair as the default setting: it shares its stored scores with Table 1 and nas score
        _Variant(weights_key(pair), precision, {"weights": None if weights_key(pair) == weights_key(default) else list(pair)})
        for precision in spec.precisions
        for pair in pairs
    ]
    sections, selection, metric = _epsilon_variants(spec, variants, context, "weights w1:w2")
    setting = [
        f"{spec.space} {spec.dataset}: {selection}; trained metric {metric}.",
        f"epsilon at every pair w1 < w2 of the weights {', '.join(f'{w:g}' for w in grid)} ({len(pairs)} pairs; "
        f"the space's default is {weights_key(default)}), each pair in "
        f"{' and '.join(spec.precisions)}, on one batch of {EPSILON_BATCH} real training "
        f"{'token windows' if spec.space == 'nlp' else 'images'} (seed {config.seed}); no bootstrap intervals.",
    ]
    return _Outcome(setting, sections)


def _inputs(context: _Context) -> _Outcome:
    """Table 11: epsilon with real and synthetic input on NAS-Bench-201 CIFAR-10."""
    variants = [_Variant(key, "float32", {}, kind) for key, kind in INPUT_KINDS.items()]
    sections, selection, metric = _epsilon_variants(INPUTS_SPEC, variants, context, "input")
    setting = [
        f"nb201 cifar10: {selection}; trained metric {metric}.",
        f"epsilon at {weights_key(DEFAULT_WEIGHTS['nb201'])} in float32 on one batch of {EPSILON_BATCH} inputs "
        f"(seed {context.config.seed}) of each kind: " + ", ".join(f"{key} = {kind}" for key, kind in INPUT_KINDS.items())
        + " (nas.data.load_batch: grey is one constant level per image, normal N(0, 1), uniform U(-1, 1), "
        "uniform+ U(0, 1)); no bootstrap intervals.",
    ]
    return _Outcome(setting, sections)


def _initialisations(context: _Context) -> _Outcome:
    """Table 9: the epsilon statistic of two random initialisations of each scheme on NAS-Bench-201 CIFAR-10."""
    variants = [_Variant(scheme, "float32", {"init": scheme}, proxy="epsilon_init") for scheme in TABLE9_SCHEMES]
    sections, selection, metric = _epsilon_variants(INITIALISATION_SPEC, variants, context, "initialisation")
    setting = [
        f"nb201 cifar10: {selection}; trained metric {metric}.",
        "epsilon_init (nas.proxies.epsilon_init): the network initialised twice by the scheme instead of twice by a "
        "constant, the epsilon statistic of the two outputs; convolution weights by the scheme (uniform U(0, 1), "
        "normal N(0, 1), kaiming_uniform fan-in, kaiming_normal fan-out ReLU, orthogonal), linear weights "
        "N(0, 0.01^2), normalisation scales 1, biases 0, as the author's notebook; float32, one batch of "
        f"{EPSILON_BATCH} real training images (seed {context.config.seed}); no bootstrap intervals.",
    ]
    return _Outcome(setting, sections)


def _embeddings(context: _Context) -> _Outcome:
    """Table 10: epsilon on NAS-Bench-NLP with each of the author's embedding draws."""
    variants = [
        _Variant(key, "float32", {"embedding": kind, "embedding_scale": scale})
        for key, (kind, scale) in EMBEDDING_VARIANTS.items()
    ]
    sections, selection, metric = _epsilon_variants(EMBEDDING_SPEC, variants, context, "embedding")
    setting = [
        f"nlp ptb: {selection}; trained metric {metric}.",
        f"epsilon at {weights_key(DEFAULT_WEIGHTS['nlp'])} in float32 on one batch of {EPSILON_BATCH} PTB training "
        f"token windows (seed {context.config.seed}), the embedding table drawn (seeded) from: "
        + ", ".join(f"{key} = {_embedding_text(kind, scale)}" for key, (kind, scale) in EMBEDDING_VARIANTS.items())
        + "; no bootstrap intervals.",
    ]
    return _Outcome(setting, sections)


def _embedding_text(kind: str, scale: float) -> str:
    """An embedding draw as a distribution, e.g. ``U(0, 0.1)``."""
    return {"normal": f"N(0, {scale:g}^2)", "uniform_centered": f"U(-{scale:g}, {scale:g})",
            "uniform_positive": f"U(0, {scale:g})"}[kind]


@dataclass(frozen=True)
class _Variant:
    """One row of a weight, initialisation, embedding or input table: a proxy's settings and an input."""

    key: str
    precision: str
    #: the proxy's settings besides ``precision`` (epsilon: ``weights`` ``None`` is the space's default pair)
    settings: Mapping[str, Any]
    data: str = "real"
    proxy: str = "epsilon"


def _epsilon_variants(
    spec: WeightsSpec, variants: Sequence[_Variant], context: _Context, row_kind: str
) -> tuple[list[AnySection], str, str]:
    """Score every variant through the store on the spec's architectures; one section per precision."""
    config = context.config
    space = create_space(spec.space)
    table = open_table(spec.space, config.data_dir)
    archs, selection = _weight_architectures(spec, space, table.architectures(spec.dataset), config)
    names = [space.format(arch) for arch in archs]
    metric = table.default_metric(spec.dataset)
    values = np.array([table.lookup(name, spec.dataset, metric) for name in names], dtype=np.float64)
    higher = table.higher_is_better(metric)
    target = values if higher else -values
    kinds = list(dict.fromkeys(variant.data for variant in variants))
    batches = {
        kind: load_batch(spec.dataset, data=kind, size=EPSILON_BATCH, seed=config.seed, data_dir=config.data_dir)
        for kind in kinds
    }
    inputs = tuple(f"epsilon: {batch.kind} input, batch of {len(batch)} ({batch.identity})" for batch in batches.values())
    scores: dict[str, dict[str, np.ndarray]] = {}
    options = _scorer_options(config)
    store = ScoreStore.open(config.cache_dir)
    try:
        with _bar(config, spec.experiment, len(variants)) as bar:
            for kind, batch in batches.items():
                with Scorer(space, spec.dataset, batch, store=store, seed=config.seed, **options) as scorer:
                    for variant in (v for v in variants if v.data == kind):
                        proxy = create_proxy(variant.proxy, precision=variant.precision, **variant.settings)
                        scores.setdefault(variant.precision, {})[variant.key] = scorer.values(archs, proxy)
                        bar.update()
    finally:
        store.close()
    notes = _input_notes(spec.dataset, [line for line in inputs if "real" in line or STAND_IN in line], config.data_dir)
    if spec.author_archs is not None and len(archs) < spec.author_archs:
        notes["sample"] = f"scored on {len(archs)} architectures, not the author's {spec.author_archs:,}"
    elif spec.author_archs is None and spec.first is None and len(archs) < len(table.architectures(spec.dataset)):
        notes["sample"] = f"scored on a seeded sample of {len(archs)} cells of the table"
    if spec.space == "nb101":
        notes["nb101"] = _NB101_NOTE
    if any(variant.data != "real" for variant in variants):
        notes["input"] = (
            "our inputs are those of nas.data.load_batch, matched to the author's by name (real_batch, grey_scale, "
            "random_normal, random_uniform, random_uniform_pos); the author's generators were not compared"
        )
    if not higher:
        notes["perplexity"] = _PERPLEXITY_NOTE
    if spec.space == "nlp":
        notes["embedding"] = _EMBEDDING_NAMES_NOTE if spec is EMBEDDING_SPEC else _EMBEDDING_NOTE
    sections: list[AnySection] = []
    asked = int(np.count_nonzero(np.isfinite(values)))
    data = {variant.key: variant.data for variant in variants}
    for precision, by_key in scores.items():
        section_notes = dict(notes)
        if precision != "float32":
            section_notes["precision"] = f"{precision}: the published values are float32, the paper's precision"
        agreement, _, common = agreements(by_key, target, {key: True for key in by_key}, resamples=0)
        rows = tuple(
            RowResult(
                key=key,
                precision=precision,
                architectures=selection,
                asked=asked,
                scored=agreement["own"][key].metrics.pairs,
                own=agreement["own"][key].metrics,
                common=agreement["common"][key].metrics,
                nan_worst=agreement["nan_worst"][key].metrics,
                spearman_interval=None,
                published=context.published_row(spec.experiment, key),
                notes=tuple(note for note in section_notes if data[key] == "real" or note not in _REAL_INPUT_NOTES),
            )
            for key in by_key
        )
        title = f"{precision}" + (" (the paper's precision)" if precision == "float32" else "")
        sections.append(Section(title=title, rows=rows, metric=metric, common=int(np.count_nonzero(common)),
                                common_of=f"the architectures every row scored in {precision}", inputs=inputs,
                                notes=section_notes, row_kind=row_kind, sign=1 if higher else -1))
    return sections, selection, metric


#: the notes about real images, which a synthetic input's row does not carry
_REAL_INPUT_NOTES = ("partial", "stand-in")


def _weight_architectures(
    spec: WeightsSpec, space: SearchSpace, cells: list[str] | None, config: ReproduceConfig
) -> tuple[list[Architecture], str]:
    """The architectures of a weight table and their description (a seeded sample of them when sized)."""
    if spec.first is not None:
        candidates = list(itertools.islice(space.enumerate(), spec.first))
        described = f"architectures 0..{spec.first - 1} of the official index order (as the author's code)"
    else:
        if cells is None:
            raise NasError(f"the {spec.space} table cannot list its architectures")
        candidates = [space.parse(cell) for cell in cells]
        described = f"the {len(cells)} cells of the {spec.space} table"
    size = getattr(config.sizes, spec.size)
    if size is None or size >= len(candidates):
        return candidates, described
    chosen = sorted(random.Random(config.seed).sample(range(len(candidates)), size))
    return [candidates[i] for i in chosen], f"a random sample (seed {config.seed}) of {size} of {described}"


def _panels(run: ComparisonData, proxies: Sequence[str], title: str) -> list[Panel]:
    """One panel per proxy of ``run``."""
    metric = run.config.metric or ""
    return [
        Panel(title, name, metric, run.scores[name], run.accuracies, run.params)
        for name in proxies
        if name in run.scores
    ]


def _figure1(context: _Context) -> _Outcome:
    """Figures 1 and 6: every proxy's score against test accuracy on NAS-Bench-201, coloured by parameter count."""
    config = context.config
    proxies, wide = _table1_proxies(config)
    by_proxy: dict[str, list[Panel]] = {name: [] for name in proxies}  # a row per proxy, a column per dataset
    for dataset in config.datasets:
        wide_run, sample_run = _table1_runs(context, dataset)
        for name in proxies:
            by_proxy[name] += _panels(wide_run if name in wide else sample_run, [name], _DATASET_TITLES[dataset])
    columns = len(config.datasets)
    figures = [
        Figure("fig1", "Figure 1: epsilon against test accuracy on NAS-Bench-201, coloured by log10 parameter count",
               tuple(by_proxy.get("epsilon", [])), columns),
        Figure("fig6", "Figure 6: every proxy against test accuracy on NAS-Bench-201, coloured by log10 parameter count",
               tuple(panel for panels in by_proxy.values() for panel in panels), columns),
    ]
    sizes = config.sizes
    setting = [
        f"The scores of Table 1's runs: {', '.join(wide)} on "
        f"{'the whole space' if sizes.table1_wide is None else f'a seeded sample of {sizes.table1_wide}'}, the others "
        f"on a seeded sample of {sizes.table1_sample} architectures per dataset; NaN scores are not drawn.",
    ]
    return _Outcome(setting, figures=figures)


def _figure2(context: _Context) -> _Outcome:
    """Figure 2: epsilon against the trained metric on NAS-Bench-101 and NAS-Bench-NLP."""
    sizes = context.config.sizes
    nb101 = context.run_with("nb101", "cifar10", ["epsilon"], sizes.table3)
    nlp = context.run_with("nlp", "ptb", ["epsilon"], sizes.table4_wide)
    panels = _panels(nb101, ["epsilon"], "NAS-Bench-101") + _panels(nlp, ["epsilon"], "NAS-Bench-NLP")
    setting = [
        f"Epsilon's scores of Tables 3 and 4 (scored here when they did not run): NAS-Bench-101 {nb101.selection} "
        f"({nb101.config.metric}); NAS-Bench-NLP {nlp.selection} (test perplexity, lower is better); NaN scores are "
        "not drawn.",
    ]
    caption = "Figure 2: epsilon against the trained metric on NAS-Bench-101 and NAS-Bench-NLP, coloured by log10 parameter count"
    return _Outcome(setting, figures=[Figure("fig2", caption, tuple(panels), 2)])


def _scorer_options(config: ReproduceConfig) -> dict[str, Any]:
    """The keyword arguments of :class:`~nas.scoring.Scorer` that ``config.run`` gives (executor, workers, ...)."""
    return {name: config.run[name] for name in ("executor", "workers", "progress", "ray_address") if name in config.run}


def _curve(label: str, x: Sequence[float], matrix: np.ndarray) -> Curve:
    """A curve over ``x``: the median and quartiles of the repetitions (the rows of ``matrix``) at each x."""
    low, median, high = _quartiles(matrix)
    return Curve(label, np.asarray(x, dtype=np.float64), median, low, high)


def _quartiles(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 25th, 50th and 75th percentile of each column of ``matrix``, NaN left out (NaN where a column is all NaN)."""
    known = np.isfinite(matrix).any(axis=0)
    low, median, high = (np.full(matrix.shape[1], math.nan) for _ in range(3))
    if known.any():
        low[known], median[known], high[known] = np.nanpercentile(matrix[:, known], [25, 50, 75], axis=0)
    return low, median, high


def _batch_size_limit(config: ReproduceConfig) -> tuple[int, dict[int, str]]:
    """The CIFAR-10 training images of the data directory, and each of Figure 4's batch sizes that does not fit: why."""
    images = len(load_cifar10(config.data_dir)[0])
    limit = max_batch_size()
    skipped = {}
    for size in config.sizes.fig4_batch_sizes:
        if size > images:
            skipped[size] = f"larger than the {images:,} CIFAR-10 training images of the data directory"
        elif size > limit:
            skipped[size] = f"above the batch limit of {limit:,} examples (NAS_MAX_BATCH_SIZE raises it)"
    return images, skipped


def _figure4(context: _Context) -> _Outcome:
    """Figure 4: epsilon's Spearman rho with CIFAR-10 test accuracy on several batches of each size."""
    config = context.config
    sizes = config.sizes
    space = create_space("nb201")
    table = open_table("nb201", config.data_dir)
    every = list(space.enumerate())
    count = min(sizes.fig4_archs, len(every))
    chosen = sorted(random.Random(config.seed).sample(range(len(every)), count))
    archs = [every[i] for i in chosen]
    metric = table.default_metric("cifar10")
    values = np.array([table.lookup(space.format(arch), "cifar10", metric) for arch in archs], dtype=np.float64)
    images, skipped = _batch_size_limit(config)
    batch_sizes = [size for size in sizes.fig4_batch_sizes if size not in skipped]
    seeds = tuple(range(sizes.fig4_batch_seeds))
    proxy = create_proxy("epsilon")
    rhos: dict[int, list[float]] = {size: [] for size in batch_sizes}
    scored: dict[int, int] = dict.fromkeys(batch_sizes, 0)
    inputs = []
    with ScoreStore.open(config.cache_dir) as store, _bar(config, "fig4", len(batch_sizes) * len(seeds)) as bar:
        for size in batch_sizes:
            identities = []
            for seed in seeds:
                batch = load_batch("cifar10", size=size, seed=seed, data_dir=config.data_dir)
                identities.append(batch.identity)
                with Scorer(space, "cifar10", batch, store=store, seed=config.seed, **_scorer_options(config)) as scorer:
                    scores = scorer.values(archs, proxy)
                rhos[size].append(spearman(scores, values, proxy.higher_is_better))
                scored[size] += int(np.count_nonzero(np.isfinite(scores) & np.isfinite(values)))
                bar.update()
            inputs.append(f"{batch.kind} input, batches of {size} ({', '.join(identities)})")
    notes = _input_notes("cifar10", inputs, config.data_dir)
    if count < FIG4_ARCHS:
        notes["sample"] = f"on a seeded sample of {count} architectures, not the full setting's {FIG4_ARCHS:,}"
    if len(seeds) < FIG4_BATCH_SEEDS:
        notes["batches"] = f"{len(seeds)} batches per size, not the full setting's {FIG4_BATCH_SEEDS}"
    if skipped:
        notes["left out"] = "batch sizes left out: " + "; ".join(f"{size} ({why})" for size, why in skipped.items())
    unrun = [size for size in FIG4_BATCH_SIZES if size not in sizes.fig4_batch_sizes]
    if unrun:
        notes["sizes"] = f"batch sizes {', '.join(map(str, unrun))} of the paper's were not run in this setting"
    row_notes = tuple(key for key in notes if key in ("partial", "sample", "batches"))
    rows = tuple(
        BatchSizeRow(size, seeds, tuple(rhos[size]), count * len(seeds), scored[size], row_notes) for size in batch_sizes
    )
    described = f"a random sample (seed {config.seed}) of {count:,} of the {len(every):,} NAS-Bench-201 architectures"
    section = BatchSizeSection(title="NAS-Bench-201 CIFAR-10", rows=rows, metric=metric,
                               archs=tuple(space.format(arch) for arch in archs), architectures=described,
                               skipped=skipped, inputs=tuple(inputs), notes=notes)
    matrix = np.array([rhos[size] for size in batch_sizes], dtype=np.float64).reshape(len(batch_sizes), len(seeds))
    panel = CurvePanel("NAS-Bench-201 CIFAR-10", "batch size", f"Spearman ρ with {metric}",
                       (_curve("epsilon", batch_sizes, matrix.T),), log_x=True)
    caption = (f"Figure 4: epsilon's Spearman ρ with {metric} against the batch size: median and quartiles over "
               f"{len(seeds)} batches per size, {count:,} architectures")
    setting = [
        f"NAS-Bench-201 CIFAR-10: {described}; trained metric {metric}.",
        f"epsilon at {weights_key(DEFAULT_WEIGHTS['nb201'])} in float32 on real CIFAR-10 training images (drawn from "
        f"{images:,}), batch sizes {', '.join(map(str, batch_sizes))}, {len(seeds)} batches per size (batch seeds "
        f"{', '.join(map(str, seeds))}; one scorer per batch, initialisation seed {config.seed}); per size the median "
        "and quartiles of the batches' Spearman ρ on the architectures each batch scored (NaN left out).",
    ]
    if skipped:
        setting.append("Left out: " + "; ".join(f"batch size {size} ({why})" for size, why in skipped.items()) + ".")
    return _Outcome(setting, [section], [Figure("fig4", caption, (panel,), 1)])


#: Figure 3's strategies: label -> (strategy, does it use the warm-up, move)
SEARCH_STRATEGIES: dict[str, tuple[str, bool, str]] = {
    "evolution": ("evolution", False, "none"),
    "evolution + warm-up": ("evolution", True, "none"),
    "evolution + warm-up + move (parent)": ("evolution", True, "parent"),
    "random": ("random", False, "none"),
    "random + warm-up": ("random", True, "none"),
}
#: Figure 5's strategies: those of Figure 3 with the warm-up and no move
FIG5_STRATEGIES: tuple[str, ...] = ("evolution + warm-up", "random + warm-up")


def _search_settings(
    budget: int, pool: int, labels: Sequence[str] = tuple(SEARCH_STRATEGIES)
) -> tuple[int, int, list[dict[str, Any]]]:
    """The population, tournament and strategies (those of ``labels``) for ``budget`` trained models and pools of ``pool``.

    The population (random search's warm-up models too) is :data:`SEARCH_POPULATION`, at most a third of the budget;
    the tournament :data:`SEARCH_TOURNAMENT`, at most half the population.
    """
    population = min(SEARCH_POPULATION, max(1, budget // 3))
    tournament = min(SEARCH_TOURNAMENT, max(1, population // 2))
    strategies = []
    for label in labels:
        strategy, warmup, move = SEARCH_STRATEGIES[label]
        if strategy == "evolution":
            settings: dict[str, Any] = {"population": population, "tournament": tournament, "move": move}
        else:
            settings = {"warmup_steps": population}
        if warmup:
            settings.update(warmup=True, pool=pool)
        strategies.append({"name": label, "strategy": strategy, "settings": settings})
    return population, tournament, strategies


def _search_experiment(
    name: str, dataset: str, search: SearchSizes, strategies: list[dict[str, Any]], proxy: str, config: ReproduceConfig
) -> ExperimentConfig:
    """A search configuration built as ``configs/nb201-cifar10.yaml`` is: the table oracle steered by ``valid_acc``
    where the table has it (else its default metric), ``proxy`` on a batch of its standard size of real images."""
    table = open_table("nb201", config.data_dir)
    metric = "valid_acc" if "valid_acc" in table.metrics(dataset) else table.default_metric(dataset)
    return parse_config(
        {
            "name": name, "space": "nb201", "dataset": dataset, "metric": metric, "budget": search.budget,
            "rounds": search.rounds, "seed": config.seed, "strategies": strategies,
            "proxy": {"name": proxy, "settings": {}, "seed": config.seed, "batch": {"data": "real", "seed": config.seed}},
        },
        f"<{name}>", data_dir=config.data_dir,
    )


def _choice_curve(run: Run | StrategyRun, reported: Callable[[str], float], maximise: bool) -> np.ndarray:
    """The reported metric of the run's choice after each trained model: the best by the steering metric so far
    (first on ties; NaN values never chosen)."""
    curve = np.full(len(run.archs), math.nan)
    best, value = -1, -math.inf
    for k, steering in enumerate(run.values):
        oriented = steering if maximise else -steering
        if not math.isnan(oriented) and (best < 0 or oriented > value):
            best, value = k, oriented
        if best >= 0:
            curve[k] = reported(run.archs[best])
    return curve


def _choice_curves(
    runs: Mapping[str, Sequence[Run | StrategyRun]], experiment: ExperimentConfig, config: ReproduceConfig
) -> dict[str, np.ndarray]:
    """Per strategy the rounds' choice curves (a row per round), reported with the test twin of the steering metric."""
    table = open_table(experiment.space, config.data_dir)
    reported = functools.lru_cache(maxsize=None)(functools.partial(
        table.lookup, dataset=experiment.dataset, metric=reported_metric(table, experiment.dataset, experiment.metric)
    ))
    maximise = table.higher_is_better(experiment.metric)
    return {label: np.stack([_choice_curve(run, reported, maximise) for run in of]) for label, of in runs.items()}


def _search_row(strategy: str, proxy: str, curve: np.ndarray, notes: Sequence[str]) -> SearchRow:
    """A table row from the rounds' choice curves: mean ± std after the marks within the runs and at the end."""
    marks = [k for k in BUDGET_MARKS if k <= curve.shape[1]]
    return SearchRow(strategy=strategy, proxy=proxy, rounds=curve.shape[0], trained=float(curve.shape[1]),
                     best_after={k: Statistic.of(curve[:, k - 1].tolist()) for k in marks},
                     final=Statistic.of(curve[:, -1].tolist()), notes=tuple(notes))


def _search_panel(title: str, curves: Mapping[str, np.ndarray], reported: str) -> CurvePanel:
    """A line plot of choice curves against trained models (log x from 50 models)."""
    width = max(curve.shape[1] for curve in curves.values())
    return CurvePanel(title, "trained models", f"{reported} of the choice",
                      tuple(_curve(label, range(1, curve.shape[1] + 1), curve) for label, curve in curves.items()),
                      log_x=width >= 50)


def _search_notes(
    experiment: ExperimentConfig, inputs: Sequence[str], search: SearchSizes, full: SearchSizes, population: int,
    config: ReproduceConfig,
) -> dict[str, str]:
    """A search table's notes: the input, the steering metric, the sizes and the population where they differ."""
    dataset, metric = experiment.dataset, experiment.metric
    notes = _input_notes(dataset, inputs, config.data_dir)
    if metric != "valid_acc":
        notes["steered by test"] = (
            f"the shared {dataset} table has no validation accuracy: the search is steered by {metric}, the metric it "
            "is reported with (the search sees test accuracy)"
        )
    elif dataset == "cifar10":
        notes["valid"] = (
            "the search is steered by NAS-Bench-201's cifar10-valid validation accuracy (trained on the training half), "
            "the choice reported with the cifar10 test accuracy (trained on training and validation half)"
        )
    if replace(search, datasets=full.datasets) != full:
        notes["size"] = f"{search.text()}, not the full setting's {full.text()}"
    if population < SEARCH_POPULATION:
        notes["population"] = (
            f"the population (and random search's warm-up models) is {population}, not {SEARCH_POPULATION}: at most a "
            "third of the budget, so that evolution evolves"
        )
    return notes


def _search_sentences(search: SearchSizes, datasets: Sequence[str], population: int, tournament: int,
                      config: ReproduceConfig) -> list[str]:
    """The setting of a search figure: the oracle, the rounds and the strategies' sizes."""
    return [
        f"NAS-Bench-201, datasets {', '.join(datasets)}; the benchmark-table oracle: the search is steered by valid_acc "
        "where the table has it (CIFAR-10) and the choice reported with test_acc; the curves and the table give the "
        "test accuracy of the choice after k trained models (the best by the steering metric so far).",
        f"{search.rounds} seeded rounds (seed {config.seed}; every strategy on the same seed in a round) of "
        f"{search.budget} trained models; ageing evolution with population {population} and tournament {tournament}; "
        f"warm-up: the proxy's best of a random pool of {search.pool:,} ({population} models for random search; "
        "evolution's first population).",
    ]


def _figure3(context: _Context) -> _Outcome:
    """Figure 3: search curves on NAS-Bench-201 with the benchmark-table oracle, each strategy over seeded rounds."""
    config = context.config
    search = config.sizes.fig3
    datasets = config.search_datasets(search)
    population, tournament, strategies = _search_settings(search.budget, search.pool)
    space = create_space("nb201")
    whole = search.rounds * search.pool >= (space.size() or 0)
    sections: list[AnySection] = []
    panels = []
    with _bar(config, "fig3", len(datasets)) as bar:
        for dataset in datasets:
            experiment = _search_experiment(f"fig3-{dataset}", dataset, search, strategies, "epsilon", config)
            if whole:  # the pools cover about the whole space: score it in one call, the searches then read the store
                _score_all(experiment, list(space.enumerate()), config)
            with tempfile.TemporaryDirectory(prefix="nas-fig3-") as runs:
                result = run_experiment(experiment, Path(runs) / dataset, **config.run)
            curves = _choice_curves(result.runs, experiment, config)
            inputs = [f"epsilon (warm-up, move): {result.proxy_input}"]
            notes = _search_notes(experiment, inputs, search, FIG3_FULL, population, config)
            rows = []
            for label, curve in curves.items():
                uses_proxy = SEARCH_STRATEGIES[label][1]
                keys = [key for key in notes if uses_proxy or key not in _REAL_INPUT_NOTES]
                rows.append(_search_row(label, "epsilon" if uses_proxy else "", curve, keys))
            searched = result.searched or f"the whole space ({space.size():,} architectures)"
            sections.append(SearchSection(title=_DATASET_TITLES[dataset], rows=tuple(rows), metric=experiment.metric,
                                          reported=result.final_metric, searched=searched, inputs=tuple(inputs),
                                          notes=notes))
            panels.append(_search_panel(_DATASET_TITLES[dataset], curves, result.final_metric))
            bar.update()
    caption = (f"Figure 3: test accuracy of the choice against trained models on NAS-Bench-201: median and "
               f"quartiles over {search.rounds} rounds")
    setting = _search_sentences(search, datasets, population, tournament, config) + [
        "Move (parent): the tournament's best by proxy is the parent.",
        f"epsilon at {weights_key(DEFAULT_WEIGHTS['nb201'])} in float32 on one batch of {EPSILON_BATCH} real training "
        f"images (seed {config.seed}), through the score store"
        + ("; the whole space is scored first (the pools cover it)." if whole else "; only the architectures the "
           "searches ask for are scored."),
    ]
    return _Outcome(setting, sections, [Figure("fig3", caption, tuple(panels), len(panels))])


def _score_all(experiment: ExperimentConfig, archs: list[Architecture], config: ReproduceConfig) -> None:
    """Score ``archs`` with the experiment's proxy through the store, on the batch its searches ask with."""
    proxy = experiment.proxy
    assert proxy is not None  # the figures' configurations have one
    scored = proxy.create()
    batch = load_batch(experiment.dataset, data=proxy.batch.data, size=proxy.batch.size_for(scored),
                       seed=proxy.batch.seed, data_dir=config.data_dir)
    with ScoreStore.open(config.cache_dir) as store, Scorer(
        create_space(experiment.space), experiment.dataset, batch, store=store, seed=proxy.seed,
        **_scorer_options(config),
    ) as scorer:
        scorer.values(archs, scored)


@dataclass
class _FixedPoolContext(SearchContext):
    """A search context that draws its warm-up pools with :attr:`pools` (a context of the fixed pool sharing this
    one's oracle, proxy scores and random stream); the rest of the search draws from the whole space."""

    pools: SearchContext = field(kw_only=True)

    def sample_pool(self, size: int) -> list[Architecture]:
        """Up to ``size`` random architectures of the fixed pool computing distinct functions, in sampling order."""
        return self.pools.sample_pool(size)


def _fixed_pool_runs(
    experiment: ExperimentConfig, fixed: SubsetSpace, config: ReproduceConfig
) -> tuple[dict[str, list[StrategyRun]], str]:
    """Every strategy of ``experiment`` for its rounds on the whole space with the round seeds of
    :func:`~nas.experiment.run_experiment`, the warm-up pools drawn from ``fixed``: per strategy the runs, and what
    the proxy scored on."""
    table = open_table(experiment.space, config.data_dir)
    space = create_space(experiment.space)
    cache, fixed_cache = ArchitectureCache(space), ArchitectureCache(fixed)
    run = config.run
    source = ProxySource(experiment, fixed, fixed_cache, run.get("executor", "auto"), run.get("workers"),
                         config.progress, config.data_dir, config.cache_dir, run.get("ray_address"))
    runs: dict[str, list[StrategyRun]] = {}
    try:
        for spec in experiment.strategies:
            strategy = spec.create()
            runs[spec.label] = []
            for r in range(experiment.rounds):
                oracle = Oracle(table, experiment.dataset, experiment.metric, experiment.budget)
                rng = random.Random(round_seed(experiment.seed, r))
                pools = SearchContext(fixed, oracle, source, rng, fixed_cache)
                runs[spec.label].append(strategy.run(_FixedPoolContext(space, oracle, source, rng, cache, pools=pools)))
        return runs, source.input_description()
    finally:
        source.close()


def _figure5(context: _Context) -> _Outcome:
    """Figure 5: the warm-up of ageing evolution and random search with every proxy, pools from a fixed pool."""
    config = context.config
    search = config.sizes.fig5
    datasets = config.search_datasets(search)
    proxies = config.fig5_proxies
    population, tournament, strategies = _search_settings(search.budget, search.pool, FIG5_STRATEGIES)
    table = open_table("nb201", config.data_dir)
    space = create_space("nb201")
    members, described = select_architectures(space, search.fixed, config.seed)
    fixed = SubsetSpace(space, members, f"a {described}")
    sections: list[AnySection] = []
    panels = []
    with _bar(config, "fig5", len(datasets) * len(proxies)) as bar:
        for dataset in datasets:
            curves: dict[str, dict[str, np.ndarray]] = {label: {} for label in FIG5_STRATEGIES}
            inputs = []
            for proxy in proxies:
                experiment = _search_experiment(f"fig5-{dataset}-{proxy}", dataset, search, strategies, proxy, config)
                _score_all(experiment, members, config)
                runs, proxy_input = _fixed_pool_runs(experiment, fixed, config)
                inputs.append(f"{proxy}: {proxy_input}")
                for label, curve in _choice_curves(runs, experiment, config).items():
                    curves[label][proxy] = curve
                bar.update()
            notes = _search_notes(experiment, inputs, search, FIG5_FULL, population, config)
            notes["fixed pool"] = (
                "every round's warm-up pool is drawn from one fixed pool (the same for every proxy and dataset), "
                f"{fixed.description}, scored once per proxy through the store: the gradient proxies cost seconds per "
                "architecture, too long for the whole space here; the paper draws the pools from the whole space"
            )
            title, reported = _DATASET_TITLES[dataset], reported_metric(table, dataset, experiment.metric)
            for label, by_proxy in curves.items():
                rows = tuple(_search_row(label, proxy, curve, tuple(notes)) for proxy, curve in by_proxy.items())
                sections.append(SearchSection(
                    title=f"{title}, {label}", rows=rows, metric=experiment.metric, reported=reported,
                    searched=f"the whole space ({space.size():,} architectures), the warm-up pools from the fixed pool",
                    inputs=tuple(inputs), notes=notes, row_kind="proxy",
                ))
                panels.append(_search_panel(f"{title}: {label}", by_proxy, reported))
    left_out = [name for name in TABLE1_PROXIES if name not in proxies]
    caption = (f"Figure 5: test accuracy of the choice against trained models with each proxy's warm-up on "
               f"NAS-Bench-201: median and quartiles over {search.rounds} rounds")
    setting = _search_sentences(search, datasets, population, tournament, config) + [
        f"Proxies {', '.join(proxies)}"
        + (f" (Table 1's {', '.join(left_out)} are left out in this setting)" if left_out else "")
        + "; each on a batch of its standard size of real training images (epsilon 256 at "
        f"{weights_key(DEFAULT_WEIGHTS['nb201'])} in float32, naswot 128, the others 64; seed {config.seed}), as "
        "Table 1 scores them.",
        f"Fixed pool: {fixed.description}, scored once per proxy through the store before the searches; every "
        "round's warm-up pool is drawn from it, the searches train architectures of the whole space.",
    ]
    return _Outcome(setting, sections, [Figure("fig5", caption, tuple(panels), len(FIG5_STRATEGIES))])
