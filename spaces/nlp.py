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
and of the hidden states ``1..K-1`` (colour refinement plus individualisation with automorphism
pruning, so it is exact and takes polynomial time also on very symmetric cells): recipes that
differ only in node names, in the order of the inputs of commutative ops (``linear``,
``elementwise_*``) or in the numbering of the hidden states ``1..K-1`` share their id. Nodes
that feed no new hidden state are kept: they own parameters, as in the benchmark's models.

**Limits.** :meth:`NlpSpace.parse` reads recipes of at most :data:`MAX_RECIPE_CHARS` characters,
:data:`MAX_NODES` nodes and :data:`MAX_INPUTS` inputs per node (the benchmark's cells have at
most 21 nodes of at most 3 inputs); messages quote at most a short prefix of a name or value.

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
from pathlib import Path
from typing import ClassVar, Iterable, Sequence

import torch
import torch.nn as nn

from nas.datasets import DatasetSpec
from nas.errors import NasError
from nas.paths import data_file
from nas.proxies.collapse import CollapseError, RankOneOutput
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

_STATE = re.compile(r"^h_(prev|new)_(0|[1-9][0-9]{0,5})$")

#: the longest recipe string :meth:`NlpSpace.parse` reads (the logs' longest is 1,371 characters)
MAX_RECIPE_CHARS = 65_536
#: the most nodes of a recipe (the logs' cells have at most 21)
MAX_NODES = 128
#: the most inputs of one node (the logs' nodes have at most 3)
MAX_INPUTS = 64
#: how much of a name or value messages quote
_QUOTE = 40


def _quote(value: object) -> str:
    """``repr(value)`` cut to a short prefix for messages (never formatting a whole long value)."""
    if isinstance(value, str):
        text = repr(value[: _QUOTE + 1])
    elif isinstance(value, (int, float, bool)) or value is None:
        text = repr(value) if not isinstance(value, int) or value.bit_length() <= 64 else f"an integer of {value.bit_length()} bits"
    else:
        text = f"a JSON {'object' if isinstance(value, dict) else 'array' if isinstance(value, list) else type(value).__name__}"
    return text if len(text) <= _QUOTE else text[:_QUOTE] + "..."


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
    if len(recipe) > MAX_NODES:
        raise NasError(f"NAS-Bench-NLP recipe has {len(recipe)} nodes; at most {MAX_NODES} are supported (the benchmark's cells have at most 21)")
    nodes = []
    for name, spec in recipe.items():
        if not isinstance(name, str):
            raise NasError(f"recipe node names must be strings, got {_quote(name)}")
        if not isinstance(spec, dict) or set(spec) != {"op", "input"}:
            raise NasError(f"recipe node {_quote(name)} must be an object with exactly the keys 'op' and 'input'")
        op, inputs = spec["op"], spec["input"]
        if not isinstance(op, str) or op not in OP_ARITY:
            raise NasError(f"recipe node {_quote(name)} has unknown op {_quote(op)}; known: {', '.join(OP_ARITY)}")
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
            raise NasError(f"recipe node {_quote(name)} needs a non-empty list of input names")
        arity = OP_ARITY[op]
        if arity is not None and len(inputs) != arity:
            raise NasError(f"recipe node {_quote(name)}: op {op!r} takes {arity} inputs, got {len(inputs)}")
        if len(inputs) > MAX_INPUTS:
            raise NasError(f"recipe node {_quote(name)} has {len(inputs)} inputs; at most {MAX_INPUTS} are supported")
        if name == "x" or _state_index(name, "prev") is not None:
            raise NasError(f"recipe node name {_quote(name)} is reserved for an input of the cell")
        nodes.append(NlpNode(name, op, tuple(inputs)))
    cell = NlpCell(tuple(sorted(nodes, key=lambda n: n.name)))
    _check_graph(cell)
    return cell


def _check_graph(cell: NlpCell) -> None:
    names = {node.name for node in cell.nodes}
    states = sorted(i for i in (_state_index(n, "new") for n in names) if i is not None)
    if states != list(range(len(states))) or not states:
        defined = ", ".join(f"h_new_{i}" for i in states[:8]) + (", ..." if len(states) > 8 else "")
        raise NasError(f"recipe must define h_new_0 .. h_new_{{K-1}} without gaps; it defines [{defined}]")
    for node in cell.nodes:
        for source in node.inputs:
            prev = _state_index(source, "prev")
            if source == "x" or source in names:
                continue
            if prev is None:
                raise NasError(f"recipe node {_quote(node.name)} reads unknown input {_quote(source)}")
            if prev >= len(states):
                raise NasError(f"recipe node {_quote(node.name)} reads {source!r} but the cell has only {len(states)} hidden state(s)")
    _topological_order(cell)


def _topological_order(cell: NlpCell) -> list[NlpNode]:
    """Nodes in dependency order (ties by name); :class:`NasError` on a cycle."""
    by_name = {node.name: node for node in cell.nodes}
    pending = {node.name: {i for i in node.inputs if i in by_name} for node in cell.nodes}
    order: list[NlpNode] = []
    while pending:
        ready = sorted(name for name, deps in pending.items() if not deps)
        if not ready:
            names = sorted(pending)
            shown = ", ".join(_quote(n).strip("'") for n in names[:8]) + (", ..." if len(names) > 8 else "")
            raise NasError(f"recipe has a cycle through {shown}")
        for name in ready:
            order.append(by_name[name])
            del pending[name]
        for deps in pending.values():
            deps.difference_update(ready)
    return order


# -- canonical form ---------------------------------------------------------------------------

#: the most refinements :func:`canonical_form` spends on one cell (real cells need a few; the
#: automorphism pruning keeps even very symmetric cells to a few hundred)
MAX_REFINEMENTS = 5_000


class _Graph:
    """A cell as a vertex-labelled graph for canonical labelling.

    Vertices: the cell inputs ``x``, ``h_prev_0 .. h_prev_{K-1}`` (all of them, read or not) and
    the nodes. Labels: ``x``, ``h_prev_0`` and ``h_new_0`` are fixed by name, every node carries
    its op, new states ``1..K-1`` are marked as such; each ``h_new_k`` is paired with its
    ``h_prev_k`` (renumbering a state renames both). Edges: a node's inputs, ordered unless
    the op is commutative.
    """

    def __init__(self, cell: NlpCell):
        k = cell.num_states
        self.names: list[str] = ["x", *(f"h_prev_{i}" for i in range(k)), *(node.name for node in cell.nodes)]
        index = {name: i for i, name in enumerate(self.names)}
        self.ops: list[str | None] = [None] * (k + 1) + [node.op for node in cell.nodes]
        self.commutative = [op in COMMUTATIVE_OPS for op in self.ops]
        self.inputs: list[tuple[int, ...]] = [()] * (k + 1) + [tuple(index[i] for i in node.inputs) for node in cell.nodes]
        self.partner = [-1] * len(self.names)
        self.state: list[int | None] = [None] * len(self.names)  # k of h_new_k
        for v, name in enumerate(self.names):
            new = _state_index(name, "new") if self.ops[v] is not None else None
            if new is not None:
                self.state[v] = new
                self.partner[v], self.partner[new + 1] = new + 1, v
        self.consumers: list[list[tuple[int, int]]] = [[] for _ in self.names]
        for v, ins in enumerate(self.inputs):
            for position, u in enumerate(ins):
                self.consumers[u].append((v, -1 if self.commutative[v] else position))
        labels = [self._label(v) for v in range(len(self.names))]
        self.initial = _ranks(labels)
        self.twin_key = [self._twin_key(v) for v in range(len(self.names))]
        self.refinements = 0

    def _label(self, v: int) -> tuple[str, ...]:
        name, op = self.names[v], self.ops[v]
        if op is None:  # a cell input: x and h_prev_0 by name, the other previous states alike
            return ("input", name if name in ("x", "h_prev_0") else "h_prev")
        return ("node", op, "h_new_0" if self.state[v] == 0 else "h_new" if self.state[v] is not None else "")

    def _ins(self, v: int, of: Sequence[int]) -> tuple[int, ...]:
        values = tuple(of[u] for u in self.inputs[v])
        return tuple(sorted(values)) if self.commutative[v] else values

    def _twin_key(self, v: int) -> object:
        """Equal for candidate twins: vertices with the same neighbours (a state with its partner).

        Exchanging two twins (and their partners) is usually an automorphism of the cell;
        :meth:`exchangeable` checks it.
        """
        node = v if self.ops[v] is not None else self.partner[v]
        if node < 0 or self.state[node] == 0:
            return ("fixed", v)
        prev = self.partner[node]
        own = {node: -2, prev: -2} if prev >= 0 else {node: -2}  # the state's own pair, named alike
        of = [own.get(u, u) for u in range(len(self.names))]
        key = (self._ins(node, of), tuple(sorted(self.consumers[node])))
        if prev >= 0:
            key += (tuple(sorted((own.get(c, c), p) for c, p in self.consumers[prev])),)
        return (self.ops[v] is None, key)

    def exchangeable(self, v: int, w: int) -> bool:
        """Whether exchanging ``v`` and ``w`` (and their partners) is an automorphism of the cell."""
        mapping = list(range(len(self.names)))
        mapping[v], mapping[w] = w, v
        if self.partner[v] >= 0 and self.partner[w] >= 0:
            mapping[self.partner[v]], mapping[self.partner[w]] = self.partner[w], self.partner[v]
        return self.is_automorphism(mapping)

    def refine(self, colours: list[int]) -> list[int]:
        """The coarsest equitable refinement of ``colours`` (ranks; the order of old classes is kept)."""
        self.refinements += 1
        if self.refinements > MAX_REFINEMENTS:
            raise NasError(
                f"NAS-Bench-NLP cell too symmetric to canonicalise within {MAX_REFINEMENTS} refinements "
                f"({len(self.names)} vertices); real cells need a few"
            )
        count = len(set(colours))
        while True:
            sizes: dict[int, int] = {}
            for c in colours:
                sizes[c] = sizes.get(c, 0) + 1
            signatures = [
                (
                    colours[v],
                    self._ins(v, colours),
                    tuple(sorted((colours[c], p) for c, p in self.consumers[v])),
                    colours[self.partner[v]] if self.partner[v] >= 0 else -1,
                )
                if sizes[colours[v]] > 1
                else (colours[v],)  # a class of one cannot split: its neighbours need not be looked at
                for v in range(len(colours))
            ]
            refined = _ranks(signatures)
            new_count = max(refined) + 1
            if new_count == count:
                return refined
            colours, count = refined, new_count

    def certificate(self, colours: list[int]) -> str:
        """The recipe renamed by the discrete colouring ``colours``, as compact JSON."""
        order = sorted(range(len(colours)), key=colours.__getitem__)
        rename: dict[int, str] = {}
        anonymous = [v for v in order if self.ops[v] is not None and self.state[v] is None]
        rename.update((v, f"n{i}") for i, v in enumerate(anonymous))
        states = [v for v in order if self.state[v] is not None and self.state[v] != 0]
        for i, v in enumerate(states, start=1):
            rename[v], rename[self.partner[v]] = f"h_new_{i}", f"h_prev_{i}"
        entries = []
        for v, name in enumerate(self.names):
            if self.ops[v] is None:
                continue
            ins = [rename.get(u, self.names[u]) for u in self.inputs[v]]
            if self.commutative[v]:
                ins.sort()
            entries.append([rename.get(v, name), self.ops[v], ins])
        return json.dumps(sorted(entries), separators=(",", ":"))

    def is_automorphism(self, mapping: Sequence[int]) -> bool:
        for v in range(len(mapping)):
            w = mapping[v]
            if self.initial[v] != self.initial[w] or (self.partner[v] >= 0) != (self.partner[w] >= 0):
                return False
            if self.partner[v] >= 0 and mapping[self.partner[v]] != self.partner[w]:
                return False
            if self._ins(v, mapping) != self._ins(w, range(len(mapping))):
                return False
        return True


def _ranks(values: Sequence[object]) -> list[int]:
    """Each value's rank among the distinct values (equal values, equal ranks)."""
    rank = {value: i for i, value in enumerate(sorted(set(values)))}  # type: ignore[type-var]
    return [rank[value] for value in values]


def _individualise(colours: list[int], chosen: Sequence[int]) -> list[int]:
    """``chosen`` (members of one colour class) given new colours before the rest of their class, in order."""
    position = {v: i for i, v in enumerate(chosen)}
    last = len(chosen)
    return _ranks([(c, position.get(v, last)) for v, c in enumerate(colours)])


class _Search:
    """Individualisation-refinement with automorphism pruning: the smallest certificate of any leaf.

    A leaf is a discrete colouring reached by repeatedly individualising a vertex of the first
    non-singleton class and refining. Every leaf's certificate names an isomorphic recipe, and
    the smallest over all leaves is the same for isomorphic cells. Branches known to be images
    of explored ones under an automorphism fixing the path are skipped: exchangeable twins
    (individualised all at once), automorphisms found as two leaves with equal certificates
    (which map one path onto the other) and automorphisms guessed from two sibling colourings
    and verified. Symmetric cells so cost polynomial time instead of factorial time.
    """

    def __init__(self, graph: _Graph):
        self.graph = graph
        self.best: str | None = None
        self.leaves: dict[str, tuple[list[int], list[int]]] = {}  # certificate -> (path, leaf colouring)
        self.automorphisms: list[list[int]] = []

    def run(self) -> str:
        self.visit(self.graph.refine(self.graph.initial), [])
        assert self.best is not None
        return self.best

    def visit(self, colours: list[int], path: list[int]) -> int | None:
        """Explore below ``path`` (``colours`` refined); returns the level to return to when a branch proved redundant."""
        graph = self.graph
        classes: dict[int, list[int]] = {}
        for v, c in enumerate(colours):
            classes.setdefault(c, []).append(v)
        target = next((members for _, members in sorted(classes.items()) if len(members) > 1), None)
        if target is None:
            return self.leaf(colours, path)
        groups: dict[object, list[int]] = {}
        for v in target:
            members = groups.setdefault(graph.twin_key[v], [])
            if not members or graph.exchangeable(members[0], v):
                members.append(v)
            else:
                groups[("alone", v)] = [v]
        if len(groups) == 1:  # all exchangeable: every order of individualising them is equivalent
            return self.visit(graph.refine(_individualise(colours, target)), path + target)
        orbits = _Orbits(len(colours))
        used = 0
        explored: list[tuple[int, list[int]]] = []
        for candidates in groups.values():
            v = candidates[0]  # its twins give images of the same subtree
            for mapping in self.automorphisms[used:]:
                if all(mapping[u] == u for u in path):
                    orbits.join(mapping)
            used = len(self.automorphisms)
            if any(orbits.same(v, u) for u, _ in explored):
                continue
            child = graph.refine(_individualise(colours, [v]))
            if any(self.guess(first, child, path, u, v) for u, first in explored[:1]):
                continue
            explored.append((v, child))
            back = self.visit(child, path + [v])
            if back is not None and back < len(path):
                return back
        return None

    def guess(self, first: list[int], other: list[int], path: list[int], v: int, w: int) -> bool:
        """Whether an automorphism fixing ``path`` maps the colouring ``first`` (``v`` chosen) onto ``other`` (``w``).

        The guess maps vertices of equal colour onto each other: alike when both colourings put
        them in the same class, else the few left over. It is kept only if it is an automorphism.
        """
        mine: dict[int, list[int]] = {}
        theirs: dict[int, list[int]] = {}
        for u, c in enumerate(first):
            mine.setdefault(c, []).append(u)
        for u, c in enumerate(other):
            theirs.setdefault(c, []).append(u)
        if sorted((c, len(m)) for c, m in mine.items()) != sorted((c, len(m)) for c, m in theirs.items()):
            return False
        mapping = list(range(len(first)))
        for c, members in mine.items():
            images = theirs[c]
            if len(members) == 1:
                mapping[members[0]] = images[0]
                continue
            common = set(members) & set(images)
            left, right = [u for u in members if u not in common], [u for u in images if u not in common]
            if len(left) > 1:
                return False
            if left:
                mapping[left[0]] = right[0]
        if mapping[v] != w or any(mapping[u] != u for u in path) or not self.graph.is_automorphism(mapping):
            return False
        self.automorphisms.append(mapping)
        return True

    def leaf(self, colours: list[int], path: list[int]) -> int | None:
        certificate = self.graph.certificate(colours)
        if self.best is None or certificate < self.best:
            self.best = certificate
        seen = self.leaves.get(certificate)
        if seen is None:
            self.leaves[certificate] = (path, colours)
            return None
        seen_path, seen_colours = seen
        by_colour = {c: v for v, c in enumerate(colours)}
        mapping = [by_colour[seen_colours[v]] for v in range(len(colours))]
        level = next((i for i, (a, b) in enumerate(zip(seen_path, path)) if a != b), min(len(path), len(seen_path)))
        if not self.graph.is_automorphism(mapping) or any(mapping[v] != v for v in path[:level]):
            return None
        self.automorphisms.append(mapping)
        return level  # the branch at ``level`` is the image of an explored one


class _Orbits:
    """Union-find of vertices joined by automorphisms."""

    def __init__(self, size: int):
        self.parent = list(range(size))

    def find(self, u: int) -> int:
        while self.parent[u] != u:
            self.parent[u] = self.parent[self.parent[u]]
            u = self.parent[u]
        return u

    def join(self, mapping: Sequence[int]) -> None:
        for u, w in enumerate(mapping):
            self.parent[self.find(u)] = self.find(w)

    def same(self, u: int, w: int) -> bool:
        return self.find(u) == self.find(w)


def canonical_form(cell: NlpCell) -> str:
    """The recipe with intermediate nodes and states ``1..K-1`` renamed canonically, as JSON.

    ``x``, ``h_prev_0`` and ``h_new_0`` keep their names; the other nodes become ``n0, n1, ...``
    and the other states ``h_new_k``/``h_prev_k`` are renumbered (both together), inputs of
    commutative ops sorted: the smallest such renaming over a search by colour refinement and
    individualisation (:class:`_Search`), in polynomial time for the symmetric cells that made
    an exhaustive search factorial. Two cells get the same form exactly when they are equal up
    to these renamings.
    """
    return _Search(_Graph(cell)).run()


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
        if len(text) > MAX_RECIPE_CHARS:
            raise NasError(
                f"NAS-Bench-NLP recipe of {len(text)} characters starting {_quote(text)}; at most {MAX_RECIPE_CHARS} are supported"
            )
        try:
            recipe = json.loads(text)
        except ValueError as exc:
            raise NasError(f"malformed NAS-Bench-NLP recipe (not JSON: {exc})") from None
        except RecursionError:
            raise NasError(f"malformed NAS-Bench-NLP recipe (JSON nested too deeply): {_quote(text)}") from None
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

    def closed_form_parameters(self, arch: Architecture, dataset: DatasetSpec) -> int:
        """Trainable parameters of :meth:`build`'s language model, in closed form (see :func:`network_counts`)."""
        return network_counts(_as_cell(arch), dataset)[0]

    def closed_form_flops(self, arch: Architecture, dataset: DatasetSpec) -> int:
        """Multiply-accumulates of one sequence of ``dataset.input_shape`` tokens, in closed form (see :func:`network_counts`)."""
        return network_counts(_as_cell(arch), dataset)[1]


def network_counts(cell: NlpCell, dataset: DatasetSpec) -> tuple[int, int]:
    """``(parameters, flops)`` of :class:`NlpLanguageModel` for ``cell`` and ``dataset``, without building it.

    ``V = dataset.num_classes`` is the vocabulary. Parameters: the embedding's ``V * 400``
    weights (the decoder's weight is the same tensor, counted once), the decoder's ``V`` biases,
    and in each of the 3 layers every ``linear`` node's ``w * h + h``, where ``h`` is the layer's
    hidden size (600, 600, 400) and ``w`` the node's concatenated input width (the layer's input
    size for ``x``, ``h`` for any other input). Every ``linear`` node has parameters, even one
    feeding no new hidden state. FLOPs (:mod:`nas.flops`) of one sequence of
    ``T = dataset.input_shape[0]`` tokens: per token, each layer's ``linear`` nodes that are
    computed (those some new hidden state depends on) count ``w * h + h`` and the decoder
    ``400 * V + V``; the embedding look-up and the element-wise ops count 0.
    """
    if dataset.kind != "text":
        raise NasError(f"space 'nlp' builds language models; dataset {dataset.name!r} is {dataset.kind}")
    vocab = dataset.num_classes
    needed = _ancestors(cell, [f"h_new_{k}" for k in range(cell.num_states)])
    sizes = [EMBEDDING_SIZE] + [HIDDEN_SIZE] * (NUM_LAYERS - 1) + [EMBEDDING_SIZE]
    params, per_token = vocab * EMBEDDING_SIZE + vocab, EMBEDDING_SIZE * vocab + vocab
    for input_size, hidden in zip(sizes, sizes[1:]):
        for node in cell.nodes:
            if node.op == "linear":
                linear = sum(input_size if i == "x" else hidden for i in node.inputs) * hidden + hidden
                params += linear
                per_token += linear if node.name in needed else 0
    return params, dataset.input_shape[0] * per_token


def _same_arity_ops(node: NlpNode) -> list[str]:
    n = len(node.inputs)
    return [op for op, arity in OP_ARITY.items() if op != node.op and (arity == n or (arity is None and n >= 1))]


def _as_cell(arch: Architecture) -> NlpCell:
    if not isinstance(arch, NlpCell):
        raise NasError(f"not a NAS-Bench-NLP architecture: {_quote(arch) if isinstance(arch, str) else type(arch).__name__}")
    return arch


def read_logs(path: str | Path) -> list[dict]:
    """Every training log in the zip, in name order (each the parsed JSON object)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if n.endswith(".json"))
            return [json.loads(archive.read(name)) for name in names]
    except (OSError, zipfile.BadZipFile, ValueError, RecursionError) as exc:
        raise NasError(f"cannot read NAS-Bench-NLP logs {str(path)!r}: {type(exc).__name__}: {str(exc)[:120]}") from None


def log_cell(log: dict) -> NlpCell:
    """The cell of one training log (its ``recepie`` field)."""
    try:
        return make_cell(json.loads(log["recepie"]))
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        raise NasError(f"training log without a readable 'recepie': {type(exc).__name__}: {str(exc)[:120]}") from None


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

    def collapsed_step(
        self, x_total: torch.Tensor, x_value: torch.Tensor | None, states: Sequence[torch.Tensor], weight: float
    ) -> tuple[torch.Tensor, ...]:
        """One step with every weight ``weight`` and zero biases, on width-collapsed values.

        Every hidden state and node output then has identical units, so each is one value per
        example, shape (B,). ``x_total`` is the sum of the input's features; ``x_value`` the value
        of each of them when they are identical too (every layer but the first), else ``None``:
        then an op other than ``linear`` reading the input raises :class:`CollapseError`.
        """
        values: dict[str, torch.Tensor] = {f"h_prev_{k}": state for k, state in enumerate(states)}
        for node in self.steps:
            if node.op == "linear":
                total = sum(x_total if i == "x" else values[i] * self.hidden_size for i in node.inputs)
                value = weight * total  # type: ignore[operator]
            else:
                if "x" in node.inputs and x_value is None:
                    raise CollapseError(f"node {node.name!r} applies {node.op!r} to the raw input")
                ins = [x_value if i == "x" else values[i] for i in node.inputs]
                if node.op == "blend":
                    value = ins[0] * ins[1] + (1 - ins[0]) * ins[2]  # type: ignore[operator]
                elif node.op == "elementwise_prod":
                    value = ins[0] * ins[1]  # type: ignore[operator]
                elif node.op == "elementwise_sum":
                    value = ins[0] + ins[1]  # type: ignore[operator]
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

    def collapsed(self, totals: torch.Tensor, values: torch.Tensor | None, weight: float) -> torch.Tensor:
        """The layer with every weight ``weight`` on width-collapsed inputs: ``(B, T) -> (B, T)``.

        ``totals`` holds each step's sum of input features, ``values`` each step's value of every
        feature when they are identical (``None`` for the first layer's embeddings); the result is
        the value of every hidden unit (see :meth:`RecurrentCell.collapsed_step`).
        """
        batch = totals.shape[0]
        states = tuple(totals.new_zeros(batch) for _ in range(self.cell.num_states))
        outputs = []
        for t in range(totals.shape[1]):
            value = None if values is None else values[:, t]
            states = self.cell.collapsed_step(totals[:, t], value, states, weight)
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

    def collapsed_forward(self, tokens: torch.Tensor, weight: float) -> RankOneOutput:
        """The logits with every recurrent weight ``weight``, as factors: ``logits[n, v] = s_n r_v``.

        With constant weights and zero biases every linear node gives all its units the same
        value, ``weight`` times the sum of its inputs, and the element-wise ops keep them equal, so
        each recurrent state is one value per token (the width-collapse of
        :mod:`nas.proxies.collapse`; only the first layer sees the embeddings' distinct features,
        and only through ``linear`` nodes, which read their sum). The tied decoder then maps a
        token whose hidden units all equal ``s_n`` to ``s_n`` times the row sums ``r`` of the
        embedding: a :class:`RankOneOutput`, which the epsilon proxy scores without forming the
        ``(B * T) x V`` logits. The embedding and the decoder's bias are read from the module (the
        epsilon proxy has set them: seeded random embedding, zero bias); a non-zero bias or a
        non-token input raises :class:`CollapseError`. Exact up to the order of floating-point sums.
        """
        if tokens.dim() != 2 or tokens.is_floating_point():
            raise CollapseError(f"the language model expects (batch, seq) token ids, got {tuple(tokens.shape)} {tokens.dtype}")
        if self.decoder.bias is not None and bool(self.decoder.bias.ne(0).any()):
            raise CollapseError("the decoder's bias is not zero: its logits are not rank one")
        embedded = self.embedding(tokens)
        totals, values = embedded.sum(dim=-1), None
        for layer in self.layers:
            values = layer.collapsed(totals, values, weight)
            totals = values * layer.cell.hidden_size
        return RankOneOutput(values.flatten(), self.decoder.weight.sum(dim=1))  # type: ignore[union-attr]
