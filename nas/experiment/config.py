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

``proxy.name`` may also be a rank combination of several proxies (:mod:`nas.ensembles`):
``ensemble(a+b+c)``, ``aznas`` or ``vote(a+b+c)``; its ``settings`` then map members to their
settings (``{epsilon: {precision: float64}}``), every member is scored on the one batch, and the
strategies rank by the combination computed over the architectures they choose among (see
:class:`nas.search.base.CombinedProxyScores`).

:func:`load_config` reads such a file (duplicate keys are an error) and :func:`parse_config`
validates the same content given as plain data; either gives one :class:`~nas.errors.NasError`
naming the file and the key path of the first problem, or an :class:`ExperimentConfig` with
every strategy's and the proxy's settings complete (defaults filled in).

**Limits.** A file is UTF-8 text of at most :data:`MAX_FILE_BYTES` bytes whose YAML, with every
alias expanded, has at most :data:`MAX_YAML_NODES` nodes nested at most :data:`MAX_YAML_DEPTH`
deep (checked on the parsed node graph before any value is built, so an alias bomb costs
nothing); ``budget`` is at most the space's number of architectures (:data:`MAX_BUDGET` for
spaces that are not enumerated), ``rounds`` at most :data:`MAX_ROUNDS`, seeds below 2**63, the
proxy's batch within :func:`nas.data.max_batch_size` and ``name`` at most 128 characters.
Messages quote at most a short prefix of an offending value.
"""

from __future__ import annotations

import json
import os
import re
from reprlib import Repr
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

from nas.benchmarks import TABLES, open_table
from nas.ensembles import parse_combination
from nas.errors import NasError
from nas.proxies import PROXIES, create_proxy
from nas.proxies.base import Proxy
from nas.search import STRATEGIES
from nas.search.base import Strategy
from nas.spaces import SPACES, create_space
from nas.training import TRAINING_METRICS, Recipe

_TOP_KEYS = ("name", "description", "space", "dataset", "metric", "oracle", "proxy", "budget", "rounds", "seed", "strategies")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_REQUIRED = ("space", "dataset", "metric", "budget", "strategies")

#: the largest experiment file read (real ones are a few kB)
MAX_FILE_BYTES = 64 * 1024
#: the most YAML nodes a file may have, also once its aliases are expanded (real files have about 50)
MAX_YAML_NODES = 5_000
#: the deepest nesting of YAML values (real files nest 4 levels)
MAX_YAML_DEPTH = 32
#: the largest budget of a space that cannot be enumerated (otherwise: the space's size)
MAX_BUDGET = 1_000_000
#: the most rounds of an experiment
MAX_ROUNDS = 10_000
#: seeds are below this (SQLite integers)
SEED_LIMIT = 2**63
#: how much of an offending value messages quote
_QUOTE = 60
_REPR = Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, _QUOTE, _QUOTE
_repr = _REPR.repr


@dataclass(frozen=True)
class BatchConfig:
    """The input batch the proxy scores on (see :func:`nas.data.load_batch`).

    ``size`` ``None`` (the key left out of the file): each proxy scores on its standard batch,
    its :attr:`~nas.proxies.base.Proxy.batch_size` (256 for epsilon, 1 for meco, 64 for most),
    as in ``nas compare``; the members of a combination then each get their own batch of the
    same data and seed. A number: every proxy and member scores on that many examples.
    """

    data: str = "real"
    size: int | None = None
    seed: int = 0

    def size_for(self, proxy: Proxy) -> int:
        """The number of examples ``proxy`` scores on."""
        return proxy.batch_size if self.size is None else self.size


@dataclass(frozen=True)
class ProxyConfig:
    """The proxy: registry name, settings (complete, defaults filled in), batch and initialisation seed.

    ``name`` may also be a rank combination of several proxies (:mod:`nas.ensembles`):
    ``ensemble(a+b+c)``, ``aznas`` or ``vote(a+b+c)``. Then ``members`` names them and
    ``settings`` maps each member to its settings (complete); every member is scored on the
    data of ``batch`` (its own standard batch size unless ``batch.size`` gives one) with the one
    ``seed``.
    """

    name: str
    settings: dict[str, Any]
    batch: BatchConfig
    seed: int = 0
    #: the proxies a combination ranks; empty for a single proxy
    members: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """``"proxy"``, or the combination (a key of :data:`nas.ensembles.KINDS`) that starts the name."""
        return self.name.partition("(")[0] if self.members else "proxy"

    def create(self) -> Proxy:
        """A new instance of the proxy (of a single proxy: a combination has :meth:`create_members`)."""
        if self.members:
            raise NasError(f"{self.name!r} combines several proxies: create them with create_members()")
        return create_proxy(self.name, **self.settings)

    def create_members(self) -> dict[str, Proxy]:
        """A new instance of every proxy scored, by name: the proxy itself, or each member of a combination."""
        if not self.members:
            return {self.name: self.create()}
        return {name: create_proxy(name, **self.settings[name]) for name in self.members}


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
class OracleConfig:
    """What answers "trained accuracy": the benchmark ``table`` (default) or real training (``train``) with its recipe."""

    kind: str = "table"
    recipe: Recipe | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``{"kind": ..., "recipe": {...}}``."""
        return {"kind": self.kind, "recipe": None if self.recipe is None else self.recipe.to_dict()}


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
    oracle: OracleConfig = OracleConfig()

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain data (what ``trajectories.json`` records; ``oracle`` only when it is not the table)."""
        data = {
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
        if self.oracle.kind != "table":
            data["oracle"] = self.oracle.to_dict()
        return data

    def identity(self) -> dict[str, Any]:
        """What must not change between a run and its resumption (everything but rounds and texts)."""
        data = self.to_dict()
        for key in ("name", "description", "rounds"):
            data.pop(key)
        return json.loads(json.dumps(data))


# ---------------------------------------------------------------------------------------------
# reading and validating


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects duplicate keys and stops composing at :data:`MAX_YAML_NODES` nodes
    or :data:`MAX_YAML_DEPTH` levels."""

    _composed = 0
    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._composed += 1
        if self._composed > MAX_YAML_NODES:
            raise _TooLarge(self.peek_event().start_mark, f"more than {MAX_YAML_NODES} values")
        if self._depth >= MAX_YAML_DEPTH:
            raise _TooLarge(self.peek_event().start_mark, f"nested more than {MAX_YAML_DEPTH} levels deep")
        self._depth += 1
        try:
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1


class _TooLarge(Exception):
    def __init__(self, mark: Any, problem: str):
        super().__init__(problem)
        self.mark, self.problem = mark, problem


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


def _node_children(node: Any) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _data_children(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [part for pair in value.items() for part in pair]
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return []


def _expanded_size(root: Any, children: Callable[[Any], list[Any]], limit: int) -> Any:
    """The first value (a YAML node or plain data) whose expansion exceeds ``limit`` items, or ``None``.

    Shared parts (YAML aliases compose to one shared node; plain data may share objects) are
    sized once and memoised, without recursion: linear in the distinct values, however far the
    sharing would expand. :class:`RecursionError` for a value that contains itself.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            active.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children(node))
            if sizes[key] > limit:
                return node
            continue
        if key in sizes:
            continue
        if key in active:
            raise RecursionError("a value contains itself")
        active.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children(node) if id(child) not in sizes)
    return None


def _check_expansion(root: yaml.Node, source: str, limit: int = MAX_YAML_NODES) -> None:
    """:class:`NasError` if the composed YAML, aliases expanded, has more than ``limit`` nodes or a cycle."""
    try:
        culprit = _expanded_size(root, _node_children, limit)
    except RecursionError:
        raise NasError(f"{source}: malformed YAML: an alias refers to a value that contains it (a recursive alias)") from None
    if culprit is not None:
        line = culprit.start_mark.line + 1 if culprit.start_mark is not None else 0
        raise NasError(
            f"{source}:{line}: YAML too large: its aliases expand to more than {limit} values "
            "(an alias bomb?); experiment files are small"
        )


def _read_yaml(text: str, source: str) -> Any:
    """The document of ``text``, its alias expansion checked before any value is built."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, source)
        return loader.construct_document(node)
    except _TooLarge as exc:
        line = exc.mark.line + 1 if exc.mark is not None else 0
        raise NasError(f"{source}:{line}: YAML too large: {exc.problem}; experiment files are small") from None
    finally:
        loader.dispose()


def load_config(path: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None) -> ExperimentConfig:
    """Read and validate an experiment file; :class:`NasError` with the file and key path otherwise.

    ``data_dir`` is where the benchmark table is read from to check the metric. See the module
    docstring for the limits on a file.
    """
    source = str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise NasError(f"cannot read experiment file {source!r}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise NasError(f"{source}: experiment file larger than {MAX_FILE_BYTES // 1024} KiB; is it the right file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NasError(f"{source}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); is it a YAML file?") from None
    try:
        data = _read_yaml(text, source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        problem = f"{problem} ({context})" if context else problem
        raise NasError(f"{where}: malformed YAML: {_cut(str(problem), 200)}") from None
    except RecursionError:
        raise NasError(f"{source}: malformed YAML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts (4,300)
        raise NasError(f"{source}: malformed YAML: {_cut(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 200)}") from None
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
    try:
        too_large = _expanded_size(data, _data_children, MAX_YAML_NODES) is not None
    except RecursionError:
        raise fail("", "a value contains itself") from None
    if too_large:
        raise fail("", f"too large: more than {MAX_YAML_NODES} values (with shared parts counted each time they occur)")
    _check_keys(data, _TOP_KEYS, "", fail)
    for key in _REQUIRED:
        if key not in data:
            raise fail(key, "missing (required)")

    def typed(key: str, expected: type, default: Any = None) -> Any:
        return _check_type(data[key], expected, f"{source}: {key}") if key in data else default

    name = typed("name", str, default_name)
    if len(name) > 128 or not _NAME.fullmatch(name):
        raise fail("name", f"use letters, digits and . _ + - only, at most 128 (it names the output directory), got {_quote(name)}")
    description = typed("description", str, "")
    budget = typed("budget", int)
    rounds = typed("rounds", int, 1)
    seed = typed("seed", int, 0)
    for key, value in (("budget", budget), ("rounds", rounds)):
        if value < 1:
            raise fail(key, f"must be at least 1, got {_quote(value)}")
    if rounds > MAX_ROUNDS:
        raise fail("rounds", f"at most {MAX_ROUNDS} rounds, got {_quote(rounds)}")
    _check_seed(seed, "seed", fail)

    space_name = typed("space", str)
    if space_name not in SPACES:
        raise fail("space", _unknown("space", space_name, SPACES.names()))
    space = create_space(space_name)
    size = space.size()
    limit = min(size, MAX_BUDGET) if size is not None else MAX_BUDGET
    if budget > limit:
        why = f"the number of architectures in space {space_name!r}" if size is not None and size <= MAX_BUDGET else "the limit of the project"
        raise fail("budget", f"at most {limit} trained models ({why}), got {_quote(budget)}")
    try:
        dataset = space.dataset_spec(typed("dataset", str)).name
    except NasError as exc:
        raise fail("dataset", _cut(str(exc))) from None
    metric = typed("metric", str)
    oracle = _parse_oracle(data.get("oracle"), fail)
    if oracle.kind == "train":
        if metric not in TRAINING_METRICS:
            raise fail("metric", f"the training oracle answers {', '.join(TRAINING_METRICS)}, got {_quote(metric)}")
    else:
        if space_name not in TABLES:
            raise fail("space", f"space {space_name!r} has no benchmark table to use as the training oracle (use oracle: train)")
        table = open_table(space_name, data_dir)  # a missing data file is not the experiment file's fault
        try:
            table.check(dataset, metric)
        except NasError as exc:
            raise fail("metric", _cut(str(exc))) from None

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
        oracle=oracle,
    )


def _parse_oracle(value: Any, fail: Callable[[str, str], NasError]) -> OracleConfig:
    """``oracle:``: absent or ``table``; ``train`` (the default recipe); or ``{kind: train, recipe: {...}}``."""
    if value is None or value == "table":
        return OracleConfig()
    if value == "train":
        return OracleConfig("train", Recipe())
    if isinstance(value, Mapping):
        _check_keys(value, ("kind", "recipe"), "oracle", fail)
        kind = value.get("kind", "table")
        if kind == "table":
            if "recipe" in value:
                raise fail("oracle.recipe", "only the training oracle (kind: train) has a recipe")
            return OracleConfig()
        if kind == "train":
            recipe = value.get("recipe") or {}
            if not isinstance(recipe, Mapping):
                raise fail("oracle.recipe", f"expected a mapping of recipe settings, got {_kind(recipe)}")
            try:
                return OracleConfig("train", Recipe.from_mapping(recipe))
            except (NasError, TypeError) as exc:
                raise fail("oracle.recipe", _cut(str(exc))) from None
        raise fail("oracle.kind", f"'table' or 'train', got {_quote(kind)}")
    raise fail("oracle", f"'table', 'train' or a mapping {{kind: train, recipe: {{...}}}}, got {_quote(value)}")


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
                raise fail(f"{where}.{key}", f"expected str, got {_quote(item[key])}")
        label, strategy = item["name"], item["strategy"]
        if label in {s.label for s in parsed}:
            raise fail(f"{where}.name", f"duplicate strategy name {_quote(label)}")
        if strategy not in STRATEGIES:
            raise fail(f"{where}.strategy", _unknown("strategy", strategy, STRATEGIES.names()))
        settings = item.get("settings") or {}
        cls = STRATEGIES.get(strategy)
        try:
            merged = cls.validate(settings, f"{source}: {where}.settings")
        except NasError as exc:
            raise NasError(_cut(str(exc))) from None
        parsed.append(StrategyConfig(label, strategy, merged))
    return tuple(parsed)


def _parse_proxy(item: Any, source: str, fail: Callable[[str, str], NasError]) -> ProxyConfig:
    if not isinstance(item, Mapping):
        raise fail("proxy", f"expected a mapping with keys name, settings, batch, seed; got {_kind(item)}")
    _check_keys(item, ("name", "settings", "batch", "seed"), "proxy", fail)
    name = item.get("name")
    if not isinstance(name, str):
        raise fail("proxy.name", "missing (required)" if name is None else f"expected str, got {_quote(name)}")
    try:
        combination = parse_combination(name)
    except NasError as exc:
        raise fail("proxy.name", _cut(str(exc))) from None
    if combination is None and name not in PROXIES:
        raise fail("proxy.name", _unknown("proxy", name, PROXIES.names()))
    settings = item.get("settings") or {}
    if not isinstance(settings, Mapping):
        raise fail("proxy.settings", f"expected a mapping, got {_kind(settings)}")
    if combination is None:
        members: tuple[str, ...] = ()
        complete = _proxy_settings(name, settings, "proxy.settings", source, fail)
    else:
        members = combination[1]
        complete = _member_settings(name, members, settings, source, fail)
    batch = item.get("batch") or {}
    if not isinstance(batch, Mapping):
        raise fail("proxy.batch", f"expected a mapping, got {_kind(batch)}")
    _check_keys(batch, ("data", "size", "seed"), "proxy.batch", fail)
    values: dict[str, Any] = {}
    for key, expected in (("data", str), ("size", int), ("seed", int)):
        if key in batch:
            values[key] = _check_type(batch[key], expected, f"{source}: proxy.batch.{key}")
    from nas.data import DATA_KINDS, max_batch_size

    if values.get("data", "real") not in DATA_KINDS:
        raise fail("proxy.batch.data", f"expected one of {', '.join(DATA_KINDS)}, got {_quote(values['data'])}")
    if values.get("size", 1) < 1:
        raise fail("proxy.batch.size", f"must be at least 1, got {_quote(values['size'])}")
    try:
        limit = max_batch_size()
    except NasError as exc:
        raise fail("proxy.batch.size", str(exc)) from None
    if values.get("size", 1) > limit:
        raise fail(
            "proxy.batch.size",
            f"at most {limit} examples (a proxy keeps activations of the whole batch in memory; "
            f"set NAS_MAX_BATCH_SIZE to raise the limit), got {_quote(values['size'])}",
        )
    if "size" not in values:
        standard = {m: PROXIES.get(m).batch_size for m in (members or (name,))}
        too_large = {m: size for m, size in standard.items() if size > limit}
        if too_large:
            member, size = next(iter(too_large.items()))
            raise fail("proxy.batch.size", f"missing, and {member}'s standard batch of {size} is over the limit of {limit}: give a size")
    _check_seed(values.get("seed", 0), "proxy.batch.seed", fail)
    seed = _check_type(item.get("seed", 0), int, f"{source}: proxy.seed")
    _check_seed(seed, "proxy.seed", fail)
    return ProxyConfig(name, complete, BatchConfig(**values), seed, members)


def _proxy_settings(
    name: str, settings: Mapping[Any, Any], key: str, source: str, fail: Callable[[str, str], NasError]
) -> dict[str, Any]:
    """The settings of proxy ``name`` checked and completed with its defaults; errors name ``key``."""
    defaults = PROXIES.get(name).defaults
    for setting, value in settings.items():
        if setting not in defaults:
            raise fail(key, f"unknown key {_quote(setting)} for proxy {name!r}; known: {', '.join(sorted(defaults)) or 'none'}")
        default = defaults[setting]
        if default is not None and not isinstance(default, (list, tuple)):
            _check_type(value, type(default), f"{source}: {key}.{setting}")
    try:
        proxy = create_proxy(name, **settings)
    except NasError as exc:
        raise fail(key, _cut(str(exc))) from None
    except TypeError as exc:  # e.g. a setting of another type than its default None or list suggests
        raise fail(key, _cut(str(exc))) from None
    return dict(proxy.settings)


def _member_settings(
    name: str, members: Sequence[str], settings: Mapping[Any, Any], source: str, fail: Callable[[str, str], NasError]
) -> dict[str, Any]:
    """A combination's settings, ``{member: {key: value}}``, each member's checked and completed."""
    for member, values in settings.items():
        if member not in members:
            raise fail("proxy.settings", f"{_quote(member)} is not a member of {name!r}; members: {', '.join(members)}")
        if not isinstance(values, Mapping):
            raise fail(f"proxy.settings.{member}", f"expected a mapping of {member}'s settings, got {_kind(values)}")
    return {
        member: _proxy_settings(member, settings.get(member) or {}, f"proxy.settings.{member}", source, fail)
        for member in members
    }


def _check_keys(item: Mapping[Any, Any], known: Sequence[str], where: str, fail: Callable[[str, str], NasError]) -> None:
    for key in item:
        if key not in known:
            shown = _cut(key if isinstance(key, str) else _quote(key), _QUOTE)
            raise fail(f"{where}.{shown}" if where else shown, f"unknown key; known: {', '.join(known)}")


def _check_type(value: Any, expected: type, where: str) -> Any:
    """As :func:`nas.search.base.check_type` (an int is accepted as a float), quoting at most a prefix of a wrong value."""
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return value
    raise NasError(f"{where}: expected {expected.__name__}, got {_quote(value)}")


def _check_seed(seed: int, key: str, fail: Callable[[str, str], NasError]) -> None:
    if not 0 <= seed < SEED_LIMIT:
        raise fail(key, f"must be an integer from 0 to 2**63 - 1, got {_quote(seed)}")


def _quote(value: Any, limit: int = _QUOTE) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters (long values are never formatted whole)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    try:
        text = _repr(value)  # a few items and levels of containers, a prefix of strings: never the whole value
    except Exception:  # noqa: BLE001 - any value can be named by its type
        text = f"a {type(value).__name__}"
    return _cut(text, limit)


def _cut(text: str, limit: int = 300) -> str:
    """``text`` cut to ``limit`` characters."""
    return text if len(text) <= limit else text[:limit] + "..."


def _unknown(kind: str, name: str, known: Sequence[str]) -> str:
    return f"unknown {kind} {_quote(name)}; known: {', '.join(known)}"


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {_quote(value)}"
