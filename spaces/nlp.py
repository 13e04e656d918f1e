"""NAS-Bench-NLP: recurrent cells given as recipes, in a 3-layer AWD-style language model.

A *recipe* (Klyuchnikov et al., 2020, "NAS-Bench-NLP"; the ``recepie`` field of the training
logs) maps node names to ``{"op": ..., "input": [...]}``. Inputs are other nodes, the token
input ``x`` or the previous hidden states ``h_prev_0 .. h_prev_{K-1}``; the nodes
``h_new_0 .. h_new_{K-1}`` are the new hidden states (``h_new_0`` is also the cell's output).
Operations and their number of inputs:

* ``linear`` (1 or more): one linear map of the concatenated inputs (one bias);
* ``blend`` (3): ``z * a + (1 - z) * b`` for inputs ``[z, a, b]``;
* ``elementwise_prod``, ``elementwise_sum`` (2);
* ``activation_tanh``, ``activation_sigm``, ``activation_leaky_relu`` (1).

**Architecture.** An :class:`NlpCell`: the nodes as a tuple of :class:`NlpNode` sorted by name.
**String format**: the recipe as compact JSON with sorted keys,
``{"h_new_0":{"input":["x","h_prev_0"],"op":"linear"}}``; :meth:`NlpSpace.parse` accepts any
JSON spelling of a recipe (e.g. the logs' own), :meth:`NlpSpace.format` writes the compact one.

**Canonical id.** A hash of the recipe after canonical relabelling of its intermediate nodes
(colour refinement plus individualisation, so it is exact for these small graphs): recipes that
differ only in node names, in the order of the inputs of commutative ops (``linear``,
``elementwise_*``) or in the numbering of the hidden states ``1..K-1`` share their id. Nodes
that feed no new hidden state are kept: they own parameters, as in the benchmark's models.

**Sampling.** Uniform over the distinct cells (by canonical id) of the 345 NAS-Bench-NLP
WikiText-2 training logs in the data directory (``nlp/train_logs_wikitext-2.zip``); the
benchmark's own random generator is not reimplemented, so :meth:`NlpSpace.sample` draws only
cells that have a trained table entry. :meth:`NlpSpace.neighbours` changes one node's op to
another op taking the same number of inputs, so they reach cells outside the logs.

**Network** (NAS-Bench-NLP's ``AWDRNNModel`` with ``CustomRNN``): an ``nn.Embedding`` of 400
dimensions, 3 recurrent layers of the cell with hidden sizes 600, 600 and 400 (the last one
equals the embedding size because the decoder is tied to the embedding, as in the benchmark's
runs, ``tied=True``) and a decoder to the vocabulary whose weight *is* the embedding's. Initial
weights as in the benchmark: embedding/decoder uniform(-0.1, 0.1), decoder bias 0, cell
parameters uniform(-1/sqrt(hidden), 1/sqrt(hidden)). The training-time dropouts (input,
hidden, weight and output dropout) are left out: they are regularisation of training, not
part of the function a zero-cost proxy scores. The built model takes a LongTensor of token ids
``(batch, seq)``, starts from zero hidden states and returns logits ``(batch, seq, vocab)``.
With a 33,278-word vocabulary (WikiText-2) its parameter count equals the logs' ``num_params``.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations
from pathlib import Path
from typing import ClassVar, Iterable, Sequence

import torch
import torch.nn as nn

from nas.datasets import DatasetSpec
from nas.errors import NasError
from nas.paths import data_file
from nas.spaces import register_space
from nas.spaces.base import Architecture, SearchSpace

#: ops and their number of inputs (``None``: one or more)
OP_ARITY: dict[str, int | None] = {
    "linear": None,
    "blend": 3,
    "elementwise_prod": 2,
    "elementwise_sum": 2,
    "activation_tanh": 1,
    "activation_sigm": 1,
    "activation_leaky_relu": 1,
}
#: ops whose inputs can be reordered without changing the function class
COMMUTATIVE_OPS = frozenset({"linear", "elementwise_prod", "elementwise_sum"})

EMBEDDING_SIZE = 400
HIDDEN_SIZE = 600
NUM_LAYERS = 3
LOGS_PATH = "nlp/train_logs_wikitext-2.zip"

_STATE = re.compile(r"^h_(prev|new)_(0|[1-9][0-9]*)$")


@dataclass(frozen=True)
class NlpNode:
    """One node of a recipe: its name, op and ordered input names."""

    name: str
    op: str
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class NlpCell:
    """A validated recipe: its nodes sorted by name."""

    nodes: tuple[NlpNode, ...]

    @property
    def num_states(self) -> int:
        """Number of hidden states ``K`` (the nodes ``h_new_0 .. h_new_{K-1}``)."""
        return sum(1 for node in self.nodes if _state_index(node.name, "new") is not None)

    def recipe(self) -> dict[str, dict[str, object]]:
        """The recipe as a JSON-ready dict."""
        return {node.name: {"input": list(node.inputs), "op": node.op} for node in self.nodes}


def _state_index(name: str, kind: str) -> int | None:
    match = _STATE.match(name)
    return int(match.group(2)) if match and match.group(1) == kind else None


def make_cell(recipe: object) -> NlpCell:
    """An :class:`NlpCell` from a recipe dict, checked; :class:`NasError` names the first problem."""
    if not isinstance(recipe, dict) or not recipe:
        raise NasError("NAS-Bench-NLP recipe must be a non-empty JSON object of nodes")
    nodes = []
    for name, spec in recipe.items():
        if not isinstance(spec, dict) or set(spec) != {"op", "input"}:
            raise NasError(f"recipe node {name!r} must be an object with exactly the keys 'op' and 'input'")
        op, inputs = spec["op"], spec["input"]
        if op not in OP_ARITY:
            raise NasError(f"recipe node {name!r} has unknown op {op!r}; known: {', '.join(OP_ARITY)}")
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
            raise NasError(f"recipe node {name!r} needs a non-empty list of input names")
        arity = OP_ARITY[op]
        if arity is not None and len(inputs) != arity:
            raise NasError(f"recipe node {name!r}: op {op!r} takes {arity} inputs, got {len(inputs)}")
        if name == "x" or _state_index(name, "prev") is not None:
            raise NasError(f"recipe node name {name!r} is reserved for an input of the cell")
        nodes.append(NlpNode(name, op, tuple(inputs)))
    cell = NlpCell(tuple(sorted(nodes, key=lambda n: n.name)))
    _check_graph(cell)
    return cell


def _check_graph(cell: NlpCell) -> None:
    names = {node.name for node in cell.nodes}
    states = sorted(i for i in (_state_index(n, "new") for n in names) if i is not None)
    if states != list(range(len(states))) or not states:
        raise NasError(f"recipe must define h_new_0 .. h_new_{{K-1}} without gaps; it defines {['h_new_%d' % i for i in states]}")
    for node in cell.nodes:
        for source in node.inputs:
            prev = _state_index(source, "prev")
            if source == "x" or source in names:
                continue
            if prev is None:
                raise NasError(f"recipe node {node.name!r} reads unknown input {source!r}")
            if prev >= len(states):
                raise NasError(f"recipe node {node.name!r} reads {source!r} but the cell has only {len(states)} hidden state(s)")
    _topological_order(cell)


def _topological_order(cell: NlpCell) -> list[NlpNode]:
    """Nodes in dependency order (ties by name); :class:`NasError` on a cycle."""
    by_name = {node.name: node for node in cell.nodes}
    pending = {node.name: {i for i in node.inputs if i in by_name} for node in cell.nodes}
    order: list[NlpNode] = []
    while pending:
        ready = sorted(name for name, deps in pending.items() if not deps)
        if not ready:
            raise NasError(f"recipe has a cycle through {', '.join(sorted(pending))}")
        for name in ready:
            order.append(by_name[name])
            del pending[name]
        for deps in pending.values():
            deps.difference_update(ready)
    return order


# -- canonical form ---------------------------------------------------------------------------


def canonical_form(cell: NlpCell) -> str:
    """The recipe with intermediate nodes renamed canonically, as a JSON string.

    New hidden states keep their names (up to a renumbering of states ``1..K-1``, which is
    tried exhaustively), inputs of commutative ops are sorted, and the remaining nodes are
    named ``n0, n1, ...`` in an order fixed by colour refinement and, where that leaves ties,
    the smallest result over every way of breaking them.
    """
    k = cell.num_states
    best: str | None = None
    for perm in permutations(range(1, k)):
        renumber = {0: 0, **{i + 1: p for i, p in enumerate(perm)}}
        form = _canonical_fixed_states(_renumber_states(cell, renumber))
        if best is None or form < best:
            best = form
    assert best is not None
    return best


def _renumber_states(cell: NlpCell, renumber: dict[int, int]) -> NlpCell:
    def rename(name: str) -> str:
        match = _STATE.match(name)
        return f"h_{match.group(1)}_{renumber[int(match.group(2))]}" if match else name

    return NlpCell(tuple(NlpNode(rename(n.name), n.op, tuple(map(rename, n.inputs))) for n in cell.nodes))


def _digest(*parts: object) -> str:
    return hashlib.md5(repr(parts).encode("utf-8")).hexdigest()


def _canonical_fixed_states(cell: NlpCell) -> str:
    nodes = {node.name: node for node in cell.nodes}
    consumers: dict[str, list[tuple[str, int]]] = {name: [] for name in nodes}
    for node in cell.nodes:
        for position, source in enumerate(node.inputs):
            if source in nodes:
                consumers[source].append((node.name, position))
    fixed = {name for name in nodes if _state_index(name, "new") is not None}
    colours = {name: _digest(node.op, name if name in fixed else "") for name, node in nodes.items()}

    def colour_of(name: str, current: dict[str, str]) -> str:
        return current.get(name, name)  # cell inputs (x, h_prev_k) are coloured by their name

    def refine(current: dict[str, str]) -> dict[str, str]:
        while True:
            updated = {}
            for name, node in nodes.items():
                ins = [colour_of(i, current) for i in node.inputs]
                if node.op in COMMUTATIVE_OPS:
                    ins.sort()
                outs = sorted(
                    (current[c], -1 if nodes[c].op in COMMUTATIVE_OPS else p) for c, p in consumers[name]
                )
                updated[name] = _digest(current[name], ins, outs)
            if len(set(updated.values())) == len(set(current.values())):
                return current
            current = updated

    def serialise(current: dict[str, str]) -> str:
        anonymous = sorted((n for n in nodes if n not in fixed), key=lambda n: current[n])
        rename = {n: f"n{i}" for i, n in enumerate(anonymous)}
        entries = []
        for name, node in nodes.items():
            ins = [rename.get(i, i) for i in node.inputs]
            if node.op in COMMUTATIVE_OPS:
                ins.sort()
            entries.append([rename.get(name, name), node.op, ins])
        return json.dumps(sorted(entries), separators=(",", ":"))

    def search(current: dict[str, str]) -> str:
        current = refine(current)
        classes: dict[str, list[str]] = {}
        for name in nodes:
            classes.setdefault(current[name], []).append(name)
        ties = [members for colour, members in sorted(classes.items()) if len(members) > 1]
        if not ties:
            return serialise(current)
        return min(search({**current, name: _digest(current[name], "individualised")}) for name in ties[0])

    return search(colours)


# -- the space ----------------------------------------------------------------------------------


@register_space("nlp")
class NlpSpace(SearchSpace):
    """The NAS-Bench-NLP recurrent-cell space (not enumerable)."""

    name: ClassVar[str] = "nlp"
    datasets: ClassVar[tuple[str, ...]] = ("ptb", "wikitext2")

    def __init__(self, data_dir: str | Path | None = None):
        self._data_dir = data_dir

    def parse(self, text: str) -> NlpCell:
        """The cell of a recipe written as JSON."""
        if not isinstance(text, str):
            raise NasError(f"NAS-Bench-NLP architecture must be a JSON string, got {type(text).__name__}")
        try:
            recipe = json.loads(text)
        except ValueError as exc:
            raise NasError(f"malformed NAS-Bench-NLP recipe (not JSON: {exc})") from None
        return make_cell(recipe)

    def format(self, arch: Architecture) -> str:
        """The recipe as compact JSON with sorted keys."""
        return json.dumps(_as_cell(arch).recipe(), sort_keys=True, separators=(",", ":"))

    def canonical_id(self, arch: Architecture) -> str:
        """MD5 of :func:`canonical_form`."""
        return hashlib.md5(canonical_form(_as_cell(arch)).encode("utf-8")).hexdigest()

    def known_cells(self) -> tuple[NlpCell, ...]:
        """The distinct cells (by canonical id) of the training logs, in file order."""
        return _known_cells(str(data_file(LOGS_PATH, self._data_dir)))

    def sample(self, rng: random.Random) -> NlpCell:
        """A cell drawn uniformly from :meth:`known_cells` (see the module docstring)."""
        return rng.choice(self.known_cells())

    def neighbours(self, arch: Architecture) -> list[NlpCell]:
        """Cells with one node's op replaced by another op of the same arity.

        Nodes in name order, ops in :data:`OP_ARITY` order; edits giving an already listed cell
        or the cell itself (by canonical id) are dropped.
        """
        cell = _as_cell(arch)
        seen = {self.canonical_id(cell)}
        result = []
        for index, node in enumerate(cell.nodes):
            for op in _same_arity_ops(node):
                nodes = list(cell.nodes)
                nodes[index] = NlpNode(node.name, op, node.inputs)
                candidate = NlpCell(tuple(nodes))
                key = self.canonical_id(candidate)
                if key not in seen:
                    seen.add(key)
                    result.append(candidate)
        return result

    def build(self, arch: Architecture, dataset: DatasetSpec) -> nn.Module:
        """The language model of the cell; ``dataset.num_classes`` is the vocabulary size."""
        if dataset.kind != "text":
            raise NasError(f"space 'nlp' builds language models; dataset {dataset.name!r} is {dataset.kind}")
        return NlpLanguageModel(_as_cell(arch), vocab_size=dataset.num_classes)

    def count_flops(self, arch: Architecture, dataset: DatasetSpec) -> int:
        """Multiply-accumulates of one sequence of ``dataset.input_shape`` tokens.

        :func:`nas.flops.count_flops` feeds a float input; the model is wrapped so that input
        becomes token ids (the wrapper adds no operations).
        """
        from nas.flops import count_flops

        return count_flops(_FloatToTokens(self.build(arch, dataset), dataset.num_classes), dataset.input_shape)


class _FloatToTokens(nn.Module):
    """Runs a language model on token ids drawn from a uniform [0, 1) float tensor."""

    def __init__(self, model: nn.Module, vocab_size: int):
        super().__init__()
        self.model = model
        self.vocab_size = vocab_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x * self.vocab_size).long().clamp_(0, self.vocab_size - 1))


def _same_arity_ops(node: NlpNode) -> list[str]:
    n = len(node.inputs)
    return [op for op, arity in OP_ARITY.items() if op != node.op and (arity == n or (arity is None and n >= 1))]


def _as_cell(arch: Architecture) -> NlpCell:
    if not isinstance(arch, NlpCell):
        raise NasError(f"not a NAS-Bench-NLP architecture: {arch!r}")
    return arch


def read_logs(path: str | Path) -> list[dict]:
    """Every training log in the zip, in name order (each the parsed JSON object)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if n.endswith(".json"))
            return [json.loads(archive.read(name)) for name in names]
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise NasError(f"cannot read NAS-Bench-NLP logs {str(path)!r}: {exc}") from None


def log_cell(log: dict) -> NlpCell:
    """The cell of one training log (its ``recepie`` field)."""
    try:
        return make_cell(json.loads(log["recepie"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise NasError(f"training log without a readable 'recepie': {exc}") from None


@lru_cache(maxsize=4)
def _known_cells(path: str) -> tuple[NlpCell, ...]:
    space = NlpSpace()
    seen: set[str] = set()
    cells = []
    for log in read_logs(path):
        cell = log_cell(log)
        key = space.canonical_id(cell)
        if key not in seen:
            seen.add(key)
            cells.append(cell)
    return tuple(cells)


# -- network ------------------------------------------------------------------------------------

_ACTIVATIONS = {
    "activation_tanh": torch.tanh,
    "activation_sigm": torch.sigmoid,
    "activation_leaky_relu": nn.functional.leaky_relu,
}


class RecurrentCell(nn.Module):
    """One step of a recipe: ``(x, states) -> new states``; ``states[0]`` is the output.

    Nodes that feed no new hidden state are not computed (they cannot change the result) but
    their ``linear`` parameters exist, as in the benchmark's models.
    """

    def __init__(self, cell: NlpCell, input_size: int, hidden_size: int):
        super().__init__()
        self.num_states = cell.num_states
        self.hidden_size = hidden_size
        order = _topological_order(cell)
        needed = _ancestors(cell, [f"h_new_{k}" for k in range(self.num_states)])
        self.steps = [node for node in order if node.name in needed]
        self.linears = nn.ModuleDict()
        self._linear_keys: dict[str, str] = {}
        for index, node in enumerate(order):
            if node.op == "linear":
                width = sum(input_size if i == "x" else hidden_size for i in node.inputs)
                key = f"node{index}"
                self.linears[key] = nn.Linear(width, hidden_size)
                self._linear_keys[node.name] = key

    def forward(self, x: torch.Tensor, states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        values: dict[str, torch.Tensor] = {"x": x}
        values.update({f"h_prev_{k}": state for k, state in enumerate(states)})
        for node in self.steps:
            ins = [values[i] for i in node.inputs]
            if node.op == "linear":
                value = self.linears[self._linear_keys[node.name]](torch.cat(ins, dim=-1) if len(ins) > 1 else ins[0])
            elif node.op == "blend":
                value = ins[0] * ins[1] + (1 - ins[0]) * ins[2]
            elif node.op == "elementwise_prod":
                value = ins[0] * ins[1]
            elif node.op == "elementwise_sum":
                value = ins[0] + ins[1]
            else:
                value = _ACTIVATIONS[node.op](ins[0])
            values[node.name] = value
        return tuple(values[f"h_new_{k}"] for k in range(self.num_states))


def _ancestors(cell: NlpCell, targets: Iterable[str]) -> set[str]:
    by_name = {node.name: node for node in cell.nodes}
    seen: set[str] = set()
    frontier = [t for t in targets if t in by_name]
    while frontier:
        name = frontier.pop()
        if name in seen:
            continue
        seen.add(name)
        frontier.extend(i for i in by_name[name].inputs if i in by_name)
    return seen


class RecurrentLayer(nn.Module):
    """A :class:`RecurrentCell` unrolled over time from zero states."""

    def __init__(self, cell: NlpCell, input_size: int, hidden_size: int):
        super().__init__()
        self.cell = RecurrentCell(cell, input_size, hidden_size)
        bound = 1.0 / math.sqrt(hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(batch, seq, input_size) -> (batch, seq, hidden_size)``."""
        batch = inputs.shape[0]
        states = tuple(inputs.new_zeros(batch, self.cell.hidden_size) for _ in range(self.cell.num_states))
        outputs = []
        for step in inputs.unbind(dim=1):
            states = self.cell(step, states)
            outputs.append(states[0])
        return torch.stack(outputs, dim=1)


class NlpLanguageModel(nn.Module):
    """Embedding, 3 recurrent layers of the cell and a decoder tied to the embedding.

    Input: token ids ``(batch, seq)``; output: logits ``(batch, seq, vocab_size)``.
    """

    def __init__(self, cell: NlpCell, vocab_size: int, embedding_size: int = EMBEDDING_SIZE, hidden_size: int = HIDDEN_SIZE, num_layers: int = NUM_LAYERS):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        sizes = [embedding_size] + [hidden_size] * (num_layers - 1) + [embedding_size]
        self.layers = nn.ModuleList(RecurrentLayer(cell, sizes[i], sizes[i + 1]) for i in range(num_layers))
        self.decoder = nn.Linear(embedding_size, vocab_size)
        self.decoder.weight = self.embedding.weight
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden = self.embedding(tokens)
        for layer in self.layers:
            hidden = layer(hidden)
        return self.decoder(hidden)
