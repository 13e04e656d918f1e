"""Running an experiment: every strategy once per seeded round, each finished run logged at once.

Every strategy runs once per round; round ``r`` of every strategy uses the same seed
(:func:`round_seed`), so strategies are compared on paired random streams. Each finished run is
appended to ``runs.jsonl`` in the output directory at once (see :mod:`nas.experiment.resume`),
so an interrupted experiment resumes where it stopped and ends with exactly the result of an
uninterrupted one.

The *final choice* of a run is the trained architecture with the best oracle metric (the first
one on ties). When the metric is a validation metric (``valid_*``) and the table has the
matching test metric, the final choice is reported with its test value: the search never sees
test accuracy.

This module writes no reports: pass the :class:`~nas.experiment.results.ExperimentResult` to
:func:`nas.reports.search.write_reports` for those.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nas.benchmarks import TABLES, open_table
from nas.benchmarks.base import BenchmarkTable, Oracle
from nas.errors import NasError
from nas.experiment.config import ExperimentConfig
from nas.experiment.proxy_source import ProxySource
from nas.experiment.results import ExperimentResult, Run
from nas.experiment.resume import _open_out_dir
from nas.search.base import ArchitectureCache, SearchContext, Strategy
from nas.spaces import create_space
from nas.spaces.subset import SubsetSpace, table_subset
from nas.spaces.base import SearchSpace
from nas.training import TRAINING_METRICS, Trainer, TrainingOracle, TrainingResult


def round_seed(seed: int, round_index: int) -> int:
    """The seed of round ``round_index`` of an experiment seeded ``seed`` (numpy SeedSequence spawn)."""
    sequence = np.random.SeedSequence(seed, spawn_key=(round_index,))
    return int(sequence.generate_state(1, dtype=np.uint64)[0])


def reported_metric(table: BenchmarkTable, dataset: str, metric: str) -> str:
    """The metric the final choice is reported with: the test twin of a ``valid_*``/``val_*`` metric if the table has one."""
    for prefix in ("valid", "val"):
        if metric.startswith(prefix):
            twin = "test" + metric[len(prefix) :]
            if twin in table.metrics(dataset):
                return twin
    return metric


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | os.PathLike[str],
    rounds: int | None = None,
    resume: bool = False,
    progress: bool = False,
    executor: str = "auto",
    workers: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    ray_address: str | None = None,
) -> ExperimentResult:
    """Run every strategy of ``config`` for ``rounds`` rounds (default: the config's) and return the result.

    ``out_dir`` gets ``experiment.json`` and one line of ``runs.jsonl`` per finished run (what
    resuming reads); the report files are written by :func:`nas.reports.search.write_reports`.
    Proxy scores are read from the score store in ``cache_dir`` and missing ones are computed
    with ``executor`` (``"auto"``, ``"serial"``, ``"local"`` with ``workers`` processes, or
    ``"ray"`` with ``workers`` actors on the cluster at ``ray_address``; see
    :class:`nas.scoring.Scorer`) and stored. The training oracle (``oracle: train``) trains on
    the same kind of executor (``"auto"`` meaning local processes).
    With ``resume``, runs already in ``out_dir`` are kept and only the missing ones are run; an
    existing, non-empty ``out_dir`` without ``resume`` is an error.
    """
    total_rounds = config.rounds if rounds is None else rounds
    if total_rounds < 1:
        raise NasError(f"rounds must be at least 1, got {total_rounds}")
    out = Path(out_dir)
    done = _open_out_dir(out, config, resume)
    training = config.oracle.kind == "train"
    table = benchmark_table(config, data_dir)
    if training:
        # the whole space is searched; the final choice is reported with the table's test metric
        # when a benchmark table knows the dataset (e.g. NAS-Bench-201 on CIFAR-10), else its own
        space: SearchSpace = create_space(config.space)
        final_metric = config.metric if table is None else reported_metric(table, config.dataset, "valid_acc")
    else:
        assert table is not None
        final_metric = reported_metric(table, config.dataset, config.metric)
        space = table_subset(create_space(config.space), table.architectures(config.dataset), f"{config.space} {config.dataset}")
    cache = ArchitectureCache(space)
    strategies = {s.label: s.create() for s in config.strategies}
    todo = [(r, label) for r in range(total_rounds) for label in strategies if (label, r) not in done]
    source = ProxySource(config, space, cache, executor, workers, progress, data_dir, cache_dir, ray_address)
    trainer = None
    if training:
        assert config.oracle.recipe is not None
        trainer = Trainer(
            config.space, config.dataset, config.oracle.recipe, config.seed, executor if executor != "auto" else "local",
            workers, ray_address, data_dir=data_dir, cache_dir=cache_dir, on_result=_training_progress if progress else None,
        )

    def new_oracle() -> Oracle | TrainingOracle:
        if trainer is not None:
            return TrainingOracle(trainer, config.metric, config.budget)
        assert table is not None
        return Oracle(table, config.dataset, config.metric, config.budget)

    try:
        with open(out / "runs.jsonl", "a", encoding="utf-8") as log, tqdm(
            total=len(todo), desc=config.name, unit="run", file=sys.stderr, disable=not progress
        ) as bar:
            for r, label in todo:
                run = _run_one(config, strategies[label], label, r, space, new_oracle(), table, cache, source, final_metric)
                log.write(json.dumps(run.to_json()) + "\n")
                log.flush()
                os.fsync(log.fileno())
                done[(label, r)] = run
                bar.update()
        proxy_input = source.input_description() if any(s.needs_proxy() for s in strategies.values()) else ""
    finally:
        source.close()
        if trainer is not None:
            trainer.close()
    searched = space.description if isinstance(space, SubsetSpace) else ""
    result = ExperimentResult(
        config,
        total_rounds,
        out,
        final_metric=final_metric,
        proxy_input=proxy_input,
        searched=searched,
        maximise=TRAINING_METRICS[config.metric] if training else table.higher_is_better(config.metric),  # type: ignore[union-attr]
        oracle_text=_oracle_text(config, final_metric) if training else "",
        training_wall_seconds=trainer.wall_seconds if trainer is not None else 0.0,
    )
    for label in strategies:
        result.runs[label] = [done[(label, r)] for r in range(total_rounds)]
    return result


def _run_one(
    config: ExperimentConfig,
    strategy: Strategy,
    label: str,
    round_index: int,
    space: SearchSpace,
    oracle: Oracle | TrainingOracle,
    table: BenchmarkTable | None,
    cache: ArchitectureCache,
    source: ProxySource,
    final_metric: str,
) -> Run:
    seed = round_seed(config.seed, round_index)
    context = SearchContext(space, oracle, source, random.Random(seed), cache)
    result = strategy.run(context)
    choice = result.final_choice()
    final_arch = None if choice is None else result.archs[choice]
    final_value = math.nan if choice is None else result.values[choice]
    if final_arch is None:
        final_test = math.nan
    elif final_metric == config.metric:
        final_test = final_value
    else:
        assert table is not None
        final_test = _lookup_or_nan(table, final_arch, config.dataset, final_metric)
    training = isinstance(oracle, TrainingOracle)
    train_seconds = oracle.simulated_seconds if training else 0.0
    seconds = tuple(q.seconds for q in oracle.history) if training else ()
    return Run(label, round_index, seed, result.archs, result.values, result.best, final_arch, final_value, final_test, train_seconds, seconds)


def benchmark_table(config: ExperimentConfig, data_dir: str | os.PathLike[str] | None) -> BenchmarkTable | None:
    """The space's benchmark table when it knows the experiment's dataset; required by the table oracle."""
    if config.oracle.kind == "table":
        return open_table(config.space, data_dir)
    if config.space not in TABLES:
        return None
    try:
        table = open_table(config.space, data_dir)
        table.check(config.dataset, "valid_acc" if "valid_acc" in table.metrics(config.dataset) else table.default_metric(config.dataset))
    except NasError:
        return None
    return table


def _lookup_or_nan(table: BenchmarkTable, arch: str, dataset: str, metric: str) -> float:
    """The table's value, NaN for an architecture it does not hold (the training oracle searches beyond it)."""
    try:
        return table.lookup(arch, dataset, metric)
    except NasError:
        return math.nan


def _training_progress(arch: str, result: TrainingResult, cached: bool) -> None:
    """One line on stderr per finished training run."""
    how = "from the cache" if cached else f"trained in {result.seconds:.0f} s"
    print(f"  {arch[:70]}: valid_acc {result.valid_acc:.2f} ({how}, {result.epochs:g} epochs)", file=sys.stderr)


def _oracle_text(config: ExperimentConfig, final_metric: str) -> str:
    """The report's line on the training oracle: recipe, data and what the final choice is reported with."""
    assert config.oracle.recipe is not None
    text = f"real training on `{config.dataset}` ({config.oracle.recipe.describe()}), seed {config.seed}"
    if final_metric != config.metric:
        text += (
            f"; the final choice is also looked up in the `{config.space}` benchmark table: its `{final_metric}` "
            "there (the benchmark's own full-size training) is the last column"
        )
    return text
