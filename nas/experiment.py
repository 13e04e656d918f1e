"""Search experiments: several strategies, many seeded rounds, one YAML file, resumable.

An experiment file (see ``configs/``) names a space, dataset and oracle metric, a proxy with
its settings and input batch, a budget of trained models, a number of rounds, a seed and the
strategies to compare::

    name: quickstart
    space: nb201
    dataset: cifar10
    metric: valid_acc
    proxy: {name: epsilon, settings: {}, batch: {data: real, size: 256, seed: 0}}
    budget: 100
    rounds: 10
    seed: 0
    strategies:
      - {name: evolution, strategy: evolution}
      - {name: evolution+warmup, strategy: evolution, settings: {warmup: true, pool: 300}}

Every strategy runs once per round; round ``r`` of every strategy uses the same seed
(:func:`round_seed`), so strategies are compared on paired random streams. Each finished run is
appended to ``runs.jsonl`` in the output directory at once, so an interrupted experiment
resumes where it stopped and ends with exactly the result of an uninterrupted one. At the end
the directory holds ``trajectories.json``/``.csv`` (best-so-far after every trained model),
``summary.md``/``.csv`` and ``search.png`` (see :mod:`nas.reports.search`).

The *final choice* of a run is the trained architecture with the best oracle metric (the first
one on ties). When the metric is a validation metric (``valid_*``) and the table has the
matching test metric, the final choice is reported with its test value: the search never sees
test accuracy.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import yaml
from tqdm import tqdm

from nas.benchmarks import TABLES, open_table
from nas.benchmarks.base import BenchmarkTable, Oracle
from nas.errors import NasError
from nas.proxies import PROXIES, create_proxy
from nas.proxies.base import Batch, Proxy
from nas.search import STRATEGIES
from nas.search.base import ArchitectureCache, CachedProxyScores, SearchContext, Strategy, check_type
from nas.spaces import SPACES, create_space
from nas.spaces.base import Architecture, SearchSpace

#: spaces up to this size have all their stored proxy scores read in one query before searching
PREFETCH_LIMIT = 100_000

_TOP_KEYS = ("name", "description", "space", "dataset", "metric", "proxy", "budget", "rounds", "seed", "strategies")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_REQUIRED = ("space", "dataset", "metric", "budget", "strategies")


@dataclass(frozen=True)
class BatchConfig:
    """The input batch the proxy scores on (see :func:`nas.data.load_batch`)."""

    data: str = "real"
    size: int = 256
    seed: int = 0


@dataclass(frozen=True)
class ProxyConfig:
    """The proxy: registry name, settings (complete, defaults filled in), batch and initialisation seed."""

    name: str
    settings: dict[str, Any]
    batch: BatchConfig
    seed: int = 0

    def create(self) -> Proxy:
        """A new instance of the proxy."""
        return create_proxy(self.name, **self.settings)


@dataclass(frozen=True)
class StrategyConfig:
    """One compared strategy: its label, registry name and settings (complete, defaults filled in)."""

    label: str
    strategy: str
    settings: dict[str, Any]

    def create(self) -> Strategy:
        """A new instance of the strategy."""
        return STRATEGIES.create(self.strategy, **self.settings)


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated experiment file (see the module docstring)."""

    name: str
    space: str
    dataset: str
    metric: str
    proxy: ProxyConfig | None
    budget: int
    rounds: int
    seed: int
    strategies: tuple[StrategyConfig, ...]
    description: str = ""
    source: str = "<config>"

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain data (what ``trajectories.json`` records)."""
        return {
            "name": self.name,
            "description": self.description,
            "space": self.space,
            "dataset": self.dataset,
            "metric": self.metric,
            "proxy": None
            if self.proxy is None
            else {
                "name": self.proxy.name,
                "settings": self.proxy.settings,
                "batch": vars(self.proxy.batch),
                "seed": self.proxy.seed,
            },
            "budget": self.budget,
            "rounds": self.rounds,
            "seed": self.seed,
            "strategies": [{"name": s.label, "strategy": s.strategy, "settings": s.settings} for s in self.strategies],
        }

    def identity(self) -> dict[str, Any]:
        """What must not change between a run and its resumption (everything but rounds and texts)."""
        data = self.to_dict()
        for key in ("name", "description", "rounds"):
            data.pop(key)
        return json.loads(json.dumps(data))


# ---------------------------------------------------------------------------------------------
# reading and validating


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects duplicate keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_config(path: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None) -> ExperimentConfig:
    """Read and validate an experiment file; :class:`NasError` with the file and key path otherwise.

    ``data_dir`` is where the benchmark table is read from to check the metric.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise NasError(f"cannot read experiment file {source!r}: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise NasError(f"{where}: malformed YAML: {problem}") from None
    default_name = Path(path).stem
    return parse_config(data, source, data_dir=data_dir, default_name=default_name)


def parse_config(
    data: Any,
    source: str = "<config>",
    data_dir: str | os.PathLike[str] | None = None,
    default_name: str = "experiment",
) -> ExperimentConfig:
    """Validate an experiment given as plain data (e.g. parsed YAML); see :func:`load_config`."""

    def fail(key: str, problem: str) -> NasError:
        return NasError(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")

    if not isinstance(data, Mapping):
        raise fail("", f"expected a mapping of experiment settings, got {_kind(data)}")
    _check_keys(data, _TOP_KEYS, "", fail)
    for key in _REQUIRED:
        if key not in data:
            raise fail(key, "missing (required)")

    def typed(key: str, expected: type, default: Any = None) -> Any:
        return check_type(data[key], expected, f"{source}: {key}") if key in data else default

    name = typed("name", str, default_name)
    if not _NAME.fullmatch(name):
        raise fail("name", f"use letters, digits and . _ + - only (it names the output directory), got {name!r}")
    description = typed("description", str, "")
    budget = typed("budget", int)
    rounds = typed("rounds", int, 1)
    seed = typed("seed", int, 0)
    for key, value in (("budget", budget), ("rounds", rounds)):
        if value < 1:
            raise fail(key, f"must be at least 1, got {value}")
    if seed < 0:
        raise fail("seed", f"must not be negative, got {seed}")

    space_name = typed("space", str)
    if space_name not in SPACES:
        raise fail("space", _unknown("space", space_name, SPACES.names()))
    space = create_space(space_name)
    try:
        dataset = space.dataset_spec(typed("dataset", str)).name
    except NasError as exc:
        raise fail("dataset", str(exc)) from None
    metric = typed("metric", str)
    if space_name not in TABLES:
        raise fail("space", f"space {space_name!r} has no benchmark table to use as the training oracle")
    table = open_table(space_name, data_dir)  # a missing data file is not the experiment file's fault
    try:
        table.check(dataset, metric)
    except NasError as exc:
        raise fail("metric", str(exc)) from None

    strategies = _parse_strategies(data["strategies"], source, fail)
    proxy = _parse_proxy(data["proxy"], source, fail) if "proxy" in data and data["proxy"] is not None else None
    if proxy is None:
        needing = [s.label for s in strategies if s.create().needs_proxy()]
        if needing:
            raise fail("proxy", f"missing, but strategy {needing[0]!r} uses proxy scores")
    return ExperimentConfig(
        name=name,
        space=space_name,
        dataset=dataset,
        metric=metric,
        proxy=proxy,
        budget=budget,
        rounds=rounds,
        seed=seed,
        strategies=strategies,
        description=description,
        source=source,
    )


def _parse_strategies(items: Any, source: str, fail: Callable[[str, str], NasError]) -> tuple[StrategyConfig, ...]:
    if not isinstance(items, list) or not items:
        raise fail("strategies", f"expected a non-empty list, got {_kind(items)}")
    parsed: list[StrategyConfig] = []
    for i, item in enumerate(items):
        where = f"strategies[{i}]"
        if not isinstance(item, Mapping):
            raise fail(where, f"expected a mapping with keys name, strategy, settings; got {_kind(item)}")
        _check_keys(item, ("name", "strategy", "settings"), where, fail)
        for key in ("name", "strategy"):
            if key not in item:
                raise fail(f"{where}.{key}", "missing (required)")
            if not isinstance(item[key], str):
                raise fail(f"{where}.{key}", f"expected str, got {item[key]!r}")
        label, strategy = item["name"], item["strategy"]
        if label in {s.label for s in parsed}:
            raise fail(f"{where}.name", f"duplicate strategy name {label!r}")
        if strategy not in STRATEGIES:
            raise fail(f"{where}.strategy", _unknown("strategy", strategy, STRATEGIES.names()))
        settings = item.get("settings") or {}
        cls = STRATEGIES.get(strategy)
        merged = cls.validate(settings, f"{source}: {where}.settings")
        parsed.append(StrategyConfig(label, strategy, merged))
    return tuple(parsed)


def _parse_proxy(item: Any, source: str, fail: Callable[[str, str], NasError]) -> ProxyConfig:
    if not isinstance(item, Mapping):
        raise fail("proxy", f"expected a mapping with keys name, settings, batch, seed; got {_kind(item)}")
    _check_keys(item, ("name", "settings", "batch", "seed"), "proxy", fail)
    name = item.get("name")
    if not isinstance(name, str):
        raise fail("proxy.name", "missing (required)" if name is None else f"expected str, got {name!r}")
    if name not in PROXIES:
        raise fail("proxy.name", _unknown("proxy", name, PROXIES.names()))
    settings = item.get("settings") or {}
    if not isinstance(settings, Mapping):
        raise fail("proxy.settings", f"expected a mapping, got {_kind(settings)}")
    defaults = PROXIES.get(name).defaults
    for key, value in settings.items():
        if key not in defaults:
            raise fail("proxy.settings", f"unknown key {key!r} for proxy {name!r}; known: {', '.join(sorted(defaults)) or 'none'}")
        default = defaults[key]
        if default is not None and not isinstance(default, (list, tuple)):
            check_type(value, type(default), f"{source}: proxy.settings.{key}")
    try:
        proxy = create_proxy(name, **settings)
    except NasError as exc:
        raise fail("proxy.settings", str(exc)) from None
    batch = item.get("batch") or {}
    if not isinstance(batch, Mapping):
        raise fail("proxy.batch", f"expected a mapping, got {_kind(batch)}")
    _check_keys(batch, ("data", "size", "seed"), "proxy.batch", fail)
    values: dict[str, Any] = {}
    for key, expected in (("data", str), ("size", int), ("seed", int)):
        if key in batch:
            values[key] = check_type(batch[key], expected, f"{source}: proxy.batch.{key}")
    from nas.data import DATA_KINDS

    if values.get("data", "real") not in DATA_KINDS:
        raise fail("proxy.batch.data", f"expected one of {', '.join(DATA_KINDS)}, got {values['data']!r}")
    if values.get("size", 1) < 1:
        raise fail("proxy.batch.size", f"must be at least 1, got {values['size']}")
    seed = check_type(item.get("seed", 0), int, f"{source}: proxy.seed")
    if seed < 0:
        raise fail("proxy.seed", f"must not be negative, got {seed}")
    return ProxyConfig(name, dict(proxy.settings), BatchConfig(**values), seed)


def _check_keys(item: Mapping[Any, Any], known: Sequence[str], where: str, fail: Callable[[str, str], NasError]) -> None:
    for key in item:
        if key not in known:
            raise fail(f"{where}.{key}" if where else str(key), f"unknown key; known: {', '.join(known)}")


def _unknown(kind: str, name: str, known: Sequence[str]) -> str:
    return f"unknown {kind} {name!r}; known: {', '.join(known)}"


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"


# ---------------------------------------------------------------------------------------------
# running


def round_seed(seed: int, round_index: int) -> int:
    """The seed of round ``round_index`` of an experiment seeded ``seed`` (numpy SeedSequence spawn)."""
    sequence = np.random.SeedSequence(seed, spawn_key=(round_index,))
    return int(sequence.generate_state(1, dtype=np.uint64)[0])


@dataclass(frozen=True)
class Run:
    """One strategy's run in one round: the trained architectures, their metric, the running best and the final choice."""

    label: str
    round: int
    seed: int
    archs: tuple[str, ...]
    values: tuple[float, ...]
    best: tuple[float, ...]
    final_arch: str | None
    final_value: float
    final_test: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN as null)."""
        return {
            "label": self.label,
            "round": self.round,
            "seed": self.seed,
            "archs": list(self.archs),
            "values": [_json_float(v) for v in self.values],
            "best": [_json_float(v) for v in self.best],
            "final_arch": self.final_arch,
            "final_value": _json_float(self.final_value),
            "final_test": _json_float(self.final_test),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Run":
        """The inverse of :meth:`to_json`."""
        return cls(
            label=data["label"],
            round=int(data["round"]),
            seed=int(data["seed"]),
            archs=tuple(data["archs"]),
            values=tuple(_from_json_float(v) for v in data["values"]),
            best=tuple(_from_json_float(v) for v in data["best"]),
            final_arch=data["final_arch"],
            final_value=_from_json_float(data["final_value"]),
            final_test=_from_json_float(data["final_test"]),
        )


@dataclass
class ExperimentResult:
    """All runs of an experiment, by strategy label and round, and where the outputs were written."""

    config: ExperimentConfig
    rounds: int
    out_dir: Path
    runs: dict[str, list[Run]] = field(default_factory=dict)
    final_metric: str = ""
    files: dict[str, Path] = field(default_factory=dict)
    summary_markdown: str = ""
    #: what the proxy scored on (:func:`nas.data.describe_input`), e.g. a named stand-in input
    proxy_input: str = ""

    def trajectories(self) -> dict[str, list[list[float]]]:
        """Best-so-far after each trained model, per strategy label, one list per round."""
        return {label: [list(run.best) for run in runs] for label, runs in self.runs.items()}


def reported_metric(table: BenchmarkTable, dataset: str, metric: str) -> str:
    """The metric the final choice is reported with: the test twin of a ``valid_*`` metric if the table has one."""
    if metric.startswith("valid"):
        twin = "test" + metric[len("valid") :]
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
) -> ExperimentResult:
    """Run every strategy of ``config`` for ``rounds`` rounds (default: the config's) and write the reports.

    Proxy scores are read from the score store in ``cache_dir`` and missing ones are computed
    with ``executor`` (``"auto"``, ``"serial"`` or ``"local"`` with ``workers`` processes; see
    :class:`nas.scoring.Scorer`) and stored.
    With ``resume``, runs already in ``out_dir`` are kept and only the missing ones are run; an
    existing, non-empty ``out_dir`` without ``resume`` is an error.
    """
    from nas.reports.search import write_reports

    total_rounds = config.rounds if rounds is None else rounds
    if total_rounds < 1:
        raise NasError(f"rounds must be at least 1, got {total_rounds}")
    out = Path(out_dir)
    done = _open_out_dir(out, config, resume)
    table = open_table(config.space, data_dir)
    final_metric = reported_metric(table, config.dataset, config.metric)
    space = create_space(config.space)
    cache = ArchitectureCache(space)
    strategies = {s.label: s.create() for s in config.strategies}
    todo = [(r, label) for r in range(total_rounds) for label in strategies if (label, r) not in done]
    source = _ProxySource(config, space, cache, executor, workers, progress, data_dir, cache_dir)
    try:
        with open(out / "runs.jsonl", "a", encoding="utf-8") as log, tqdm(
            total=len(todo), desc=config.name, unit="run", file=sys.stderr, disable=not progress
        ) as bar:
            for r, label in todo:
                run = _run_one(config, strategies[label], label, r, space, table, cache, source, final_metric)
                log.write(json.dumps(run.to_json()) + "\n")
                log.flush()
                os.fsync(log.fileno())
                done[(label, r)] = run
                bar.update()
        proxy_input = source.input_description() if any(s.needs_proxy() for s in strategies.values()) else ""
    finally:
        source.close()
    result = ExperimentResult(config, total_rounds, out, final_metric=final_metric, proxy_input=proxy_input)
    for label in strategies:
        result.runs[label] = [done[(label, r)] for r in range(total_rounds)]
    write_reports(result)
    return result


def _run_one(
    config: ExperimentConfig,
    strategy: Strategy,
    label: str,
    round_index: int,
    space: SearchSpace,
    table: BenchmarkTable,
    cache: ArchitectureCache,
    source: "_ProxySource",
    final_metric: str,
) -> Run:
    seed = round_seed(config.seed, round_index)
    oracle = Oracle(table, config.dataset, config.metric, config.budget)
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
        final_test = table.lookup(final_arch, config.dataset, final_metric)
    return Run(label, round_index, seed, result.archs, result.values, result.best, final_arch, final_value, final_test)


def _open_out_dir(out: Path, config: ExperimentConfig, resume: bool) -> dict[tuple[str, int], Run]:
    """Prepare ``out``; with ``resume``, the runs it already holds, by (label, round)."""
    header = out / "experiment.json"
    if out.exists() and not out.is_dir():
        raise NasError(f"output path {str(out)!r} is a file, not a directory")
    non_empty = out.is_dir() and any(out.iterdir())
    if non_empty and not resume:
        raise NasError(f"output directory {str(out)!r} is not empty: pass --resume to continue it, or another --out")
    if non_empty and not header.is_file():
        raise NasError(f"output directory {str(out)!r} holds no experiment to resume (no experiment.json)")
    done: dict[tuple[str, int], Run] = {}
    if non_empty:
        try:
            recorded = json.loads(header.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise NasError(f"cannot read {str(header)!r} to resume: {exc}") from None
        if recorded.get("identity") != config.identity():
            raise NasError(
                f"output directory {str(out)!r} holds results of a different experiment configuration; "
                "use another --out"
            )
        for run in _read_runs(out / "runs.jsonl"):
            done[(run.label, run.round)] = run
        return done
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NasError(f"cannot create output directory {str(out)!r}: {exc.strerror}") from None
    header.write_text(
        json.dumps({"config": config.to_dict(), "identity": config.identity()}, indent=2) + "\n", encoding="utf-8"
    )
    return done


def _read_runs(path: Path) -> Iterator[Run]:
    """The runs logged in ``path``; a last line cut short by a kill is ignored (and rewritten cleanly)."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    good: list[str] = []
    for line in lines:
        try:
            run = Run.from_json(json.loads(line))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            break
        good.append(line if line.endswith("\n") else line + "\n")
        yield run
    if len(good) != len(lines) or (lines and not lines[-1].endswith("\n")):
        path.write_text("".join(good), encoding="utf-8")


class _ProxySource:
    """Direction-normalised proxy scores for the strategies, through the score store.

    Everything is created on first need (a run of plain strategies reads no data): the batch,
    the store and the :class:`~nas.scoring.Scorer`. For enumerable spaces, the first call reads
    every score the store already holds for the whole space in one query.
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
    ):
        self._config = config
        self._space = space
        self._cache = cache
        self._options = (executor, workers, progress, data_dir, cache_dir)
        self._scores: CachedProxyScores | None = None
        self._scorer: Any = None
        self._batch: Batch | None = None

    def __call__(self, archs: Sequence[Architecture]) -> np.ndarray:
        if self._scores is None:
            self._scores = self._start()
        return self._scores(archs)

    def _load_batch(self) -> Batch:
        """The proxy's input batch (loaded once)."""
        from nas.data import load_batch

        if self._config.proxy is None:
            raise NasError(f"{self._config.source}: proxy: missing, but a strategy uses proxy scores")
        if self._batch is None:
            spec = self._config.proxy.batch
            self._batch = load_batch(
                self._config.dataset, data=spec.data, size=spec.size, seed=spec.seed, data_dir=self._options[3]
            )
        return self._batch

    def input_description(self) -> str:
        """What the proxy scores on, for the reports ("" without a proxy)."""
        from nas.data import describe_input

        return "" if self._config.proxy is None else describe_input(self._load_batch())

    def _start(self) -> CachedProxyScores:
        from nas.scoring import Scorer
        from nas.store import ScoreStore

        batch = self._load_batch()
        executor, workers, progress, data_dir, cache_dir = self._options
        settings = self._config.proxy
        assert settings is not None  # checked by _load_batch
        proxy = settings.create()
        self._scorer = Scorer(
            self._space, self._config.dataset, batch, store=ScoreStore.open(cache_dir), executor=executor,
            workers=workers, progress=progress, seed=settings.seed,
        )
        scorer = self._scorer
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
        if self._scorer is not None:
            self._scorer.close()


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else value


def _from_json_float(value: float | None) -> float:
    return math.nan if value is None else float(value)
