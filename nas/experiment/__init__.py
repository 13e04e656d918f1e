"""Search experiments: several strategies, many seeded rounds, one YAML file, resumable.

An experiment file (see ``configs/`` and :mod:`nas.experiment.config`) names a space, dataset
and oracle metric, a proxy with its settings and input batch, a budget of trained models, a
number of rounds, a seed and the strategies to compare. :func:`load_config` reads and validates
it; :func:`run_experiment` runs every strategy once per round (round ``r`` of every strategy
uses the same seed, :func:`round_seed`) and returns an :class:`ExperimentResult`::

    from nas.experiment import load_config, run_experiment
    from nas.reports.search import write_reports

    result = run_experiment(load_config("configs/quickstart.yaml"), "runs/quickstart", resume=True)
    report = write_reports(result)  # trajectories.json/.csv, summary.md/.csv, search.png

Each finished run is appended to ``runs.jsonl`` in the output directory at once, so an
interrupted experiment resumes where it stopped and ends with exactly the result of an
uninterrupted one. The report files are written by :func:`nas.reports.search.write_reports`:
reports depend on results, never the reverse, and this package imports nothing of
:mod:`nas.reports`.

The package's modules:

* :mod:`nas.experiment.config`: the configuration dataclasses, :func:`load_config` and
  :func:`parse_config`;
* :mod:`nas.experiment.results`: :class:`Run` and :class:`ExperimentResult`;
* :mod:`nas.experiment.runner`: :func:`run_experiment`, :func:`round_seed` and
  :func:`reported_metric` (the final choice's metric policy);
* :mod:`nas.experiment.resume`: the output directory, ``experiment.json`` and ``runs.jsonl``;
* :mod:`nas.experiment.proxy_source`: the proxy scores the strategies see, through the score store.
"""

from __future__ import annotations

from nas.experiment.config import (
    BatchConfig,
    ExperimentConfig,
    ProxyConfig,
    StrategyConfig,
    load_config,
    parse_config,
)
from nas.experiment.proxy_source import PREFETCH_LIMIT, ProxySource
from nas.experiment.results import ExperimentResult, Run
from nas.experiment.runner import reported_metric, round_seed, run_experiment

__all__ = [
    "PREFETCH_LIMIT",
    "BatchConfig",
    "ExperimentConfig",
    "ExperimentResult",
    "ProxyConfig",
    "ProxySource",
    "Run",
    "StrategyConfig",
    "load_config",
    "parse_config",
    "reported_metric",
    "round_seed",
    "run_experiment",
]
