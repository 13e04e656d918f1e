"""Experiment files: the configuration dataclasses and the strict YAML reader that validates them.

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

:func:`load_config` reads such a file (duplicate keys are an error) and :func:`parse_config`
validates the same content given as plain data; either gives one :class:`~nas.errors.NasError`
naming the file and the key path of the first problem, or an :class:`ExperimentConfig` with
every strategy's and the proxy's settings complete (defaults filled in).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

from nas.benchmarks import TABLES, open_table
from nas.errors import NasError
from nas.proxies import PROXIES, create_proxy
from nas.proxies.base import Proxy
from nas.search import STRATEGIES
from nas.search.base import Strategy, check_type
from nas.spaces import SPACES, create_space

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
