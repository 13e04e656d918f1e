"""NAS-Bench-101: cells of up to 7 vertices and 9 edges stacked into a CIFAR-10 network.

A cell is a DAG given by a 7x7 upper-triangular adjacency matrix and one operation per vertex:
vertex 0 is the input, vertex 6 the output, and vertices 1-5 each hold ``conv3x3-bn-relu``,
``conv1x1-bn-relu`` or ``maxpool3x3`` (Ying et al., 2019, "NAS-Bench-101").

**Architecture.** An :class:`Nb101Cell` holds the 7-vertex *specification* exactly as written
(matrix as a tuple of row tuples, ops as a tuple of names). It is not pruned in place, because
the shared table's keys are unpruned specifications (some have 16 edges, of which at most 9
survive pruning) and ``format(parse(s)) == s`` must hold for them. Pruning, as done by
NAS-Bench-101's ``ModelSpec``, removes every vertex that is not on an input->output path; it is
what :meth:`Nb101Space.canonical_id`, validity and :meth:`Nb101Space.build` use, so
specifications that prune to the same cell share their id and build the same network.

**String format** (the keys of ``nb101/zc_nasbench101_500.json``, NASLib's tuple form): a Python
tuple of 56 integers, ``"(0, 1, 1, ..., 4, 1)"``, written with ``", "`` between items: the 49
adjacency bits row by row, then one op code per vertex:

====  ===================
code  operation
====  ===================
0     input
1     output
2     maxpool3x3
3     conv1x1-bn-relu
4     conv3x3-bn-relu
====  ===================

(NASLib's ``all_ops = [input, output, maxpool3x3, conv1x1-bn-relu, conv3x3-bn-relu]``; the
mapping is confirmed by the parameter counts: every cell of the shared table builds to exactly
its published ``params``.)

**Canonical id.** The NAS-Bench-101 graph hash of the pruned cell (``graph_util.hash_module``:
iterated MD5 hashing of in/out degrees, op labels and neighbour hashes), so ids are the hashes
that index the full NAS-Bench-101 dataset.

**Validity.** Upper-triangular 0/1 matrix; input and output ops at the ends and interior ops
from the three above; after pruning, the input still reaches the output and at most 9 edges
remain.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterable, Iterator

import torch
import torch.nn as nn

from nas.datasets import DatasetSpec
from nas.errors import NasError, quoted
from nas.proxies.collapse import CollapseError, constant_conv2d, width1_batch_norm, width1_pool
from nas.spaces import register_space
from nas.spaces.base import Architecture, SearchSpace

INPUT = "input"
OUTPUT = "output"
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"

#: operations of the interior vertices, in NAS-Bench-101's ``available_ops`` order (hash labels)
INTERIOR_OPS: tuple[str, ...] = (CONV3X3, CONV1X1, MAXPOOL3X3)
#: op code (index) of each operation in the string format (NASLib's order)
OP_CODES: tuple[str, ...] = (INPUT, OUTPUT, MAXPOOL3X3, CONV1X1, CONV3X3)

NUM_VERTICES = 7
MAX_EDGES = 9

STEM_CHANNELS = 128
NUM_STACKS = 3
CELLS_PER_STACK = 3
#: batch-norm settings of the official builder (TensorFlow decay 0.997 = PyTorch momentum 0.003)
BN_MOMENTUM = 1.0 - 0.997
BN_EPS = 1e-5

Matrix = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Nb101Cell:
    """One NAS-Bench-101 specification: a 7x7 adjacency matrix and the 7 vertex operations.

    Construction checks the structure (shape, upper-triangular 0/1 matrix, known ops in the
    right places) and raises :class:`NasError`; whether the cell is a *valid* NAS-Bench-101
    cell (connected, at most 9 edges after pruning) is :meth:`Nb101Space.is_valid`.
    """

    matrix: Matrix
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        n = NUM_VERTICES
        if len(self.matrix) != n or any(len(row) != n for row in self.matrix):
            raise NasError(f"NAS-Bench-101 cell needs a {n}x{n} adjacency matrix")
        for i, row in enumerate(self.matrix):
            for j, bit in enumerate(row):
                if bit not in (0, 1):
                    raise NasError(f"adjacency entry ({i}, {j}) is {bit!r}; entries must be 0 or 1")
                if bit and j <= i:
                    raise NasError(f"adjacency matrix must be upper triangular; entry ({i}, {j}) is 1")
        if len(self.ops) != n:
            raise NasError(f"NAS-Bench-101 cell needs {n} ops, got {len(self.ops)}")
        if self.ops[0] != INPUT or self.ops[-1] != OUTPUT:
            raise NasError(f"the first op must be {INPUT!r} and the last {OUTPUT!r}, got {self.ops[0]!r} and {self.ops[-1]!r}")
        for op in self.ops[1:-1]:
            if op not in INTERIOR_OPS:
                raise NasError(f"interior op {op!r} is not one of {', '.join(INTERIOR_OPS)}")

    @property
    def num_edges(self) -> int:
        """Edges of the specification as written (before pruning)."""
        return sum(map(sum, self.matrix))


@dataclass(frozen=True)
class PrunedCell:
    """A cell after pruning: only the vertices on an input->output path (2 to 7 of them)."""

    matrix: Matrix
    ops: tuple[str, ...]

    @property
    def num_vertices(self) -> int:
        """Vertices left, input and output included."""
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        """Edges left."""
        return sum(map(sum, self.matrix))


def prune(cell: Nb101Cell) -> PrunedCell | None:
    """The cell without vertices off every input->output path; ``None`` if input and output are disconnected."""
    n = NUM_VERTICES
    m = cell.matrix
    from_input = _reachable(0, lambda v: (w for w in range(v + 1, n) if m[v][w]))
    to_output = _reachable(n - 1, lambda v: (u for u in range(v) if m[u][v]))
    keep = sorted(from_input & to_output)
    if n - 1 not in keep or 0 not in keep:
        return None
    matrix = tuple(tuple(m[i][j] for j in keep) for i in keep)
    return PrunedCell(matrix, tuple(cell.ops[i] for i in keep))


def _reachable(start: int, successors: Callable[[int], Iterable[int]]) -> set[int]:
    seen, frontier = {start}, [start]
    while frontier:
        for nxt in successors(frontier.pop()):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return seen


def graph_hash(cell: PrunedCell) -> str:
    """NAS-Bench-101's isomorphism-invariant MD5 hash of a pruned cell (``graph_util.hash_module``).

    Vertex labels are -1 (input), -2 (output) and the op's index in :data:`INTERIOR_OPS`; each
    vertex starts from the hash of ``(out-degree, in-degree, label)`` and is re-hashed
    ``num_vertices`` times from its sorted in- and out-neighbour hashes.
    """
    n = cell.num_vertices
    m = cell.matrix
    labels = [-1] + [INTERIOR_OPS.index(op) for op in cell.ops[1:-1]] + [-2]
    in_degree = [sum(m[i][j] for i in range(n)) for j in range(n)]
    out_degree = [sum(row) for row in m]
    hashes = [_md5(str((out_degree[v], in_degree[v], labels[v]))) for v in range(n)]
    for _ in range(n):
        hashes = [
            _md5(
                "".join(sorted(hashes[u] for u in range(n) if m[u][v]))
                + "|"
                + "".join(sorted(hashes[w] for w in range(n) if m[v][w]))
                + "|"
                + hashes[v]
            )
            for v in range(n)
        ]
    return _md5(str(sorted(hashes)))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def vertex_channels(in_channels: int, out_channels: int, matrix: Matrix) -> list[int]:
    """Output channels of every vertex of a pruned cell (NAS-Bench-101's ``compute_vertex_channels``).

    The output's channels are split evenly over the interior vertices that feed it (the first
    ``remainder`` of them get one more); every other interior vertex gets the largest channel
    count among its interior successors. The input keeps ``in_channels``.
    """
    n = len(matrix)
    channels = [0] * n
    channels[0], channels[n - 1] = in_channels, out_channels
    if n == 2:
        return channels
    feeding = [v for v in range(1, n - 1) if matrix[v][n - 1]]
    base, extra = divmod(out_channels, len(feeding))
    for k, v in enumerate(feeding):
        channels[v] = base + (1 if k < extra else 0)
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            channels[v] = max((channels[w] for w in range(v + 1, n - 1) if matrix[v][w]), default=0)
    if any(c <= 0 for c in channels[1:-1]):
        raise AssertionError(f"vertex without channels in {matrix}")
    return channels


@register_space("nb101")
class Nb101Space(SearchSpace):
    """The NAS-Bench-101 space (423,624 unique cells; not enumerated here)."""

    name: ClassVar[str] = "nb101"
    datasets: ClassVar[tuple[str, ...]] = ("cifar10",)

    _PATTERN: ClassVar[re.Pattern[str]] = re.compile(r"^\(\s*(\d+(?:\s*,\s*\d+)*)\s*,?\s*\)$")

    # -- string form -------------------------------------------------------------------------

    def parse(self, text: str) -> Nb101Cell:
        """The cell written as a 56-integer tuple (49 adjacency bits, 7 op codes)."""
        if not isinstance(text, str):
            raise NasError(f"NAS-Bench-101 architecture must be a string, got {type(text).__name__}")
        match = self._PATTERN.match(text.strip())
        if not match:
            raise NasError(f"malformed NAS-Bench-101 architecture {quoted(text)}: expected a tuple of 56 integers like '(0, 1, ..., 1)'")
        items = [item.strip() for item in match.group(1).split(",")]
        large = next((item for item in items if len(item) > 3), None)
        if large is not None:  # bits are 0/1 and op codes < 10; int() of thousands of digits is refused anyway
            raise NasError(f"malformed NAS-Bench-101 architecture: the integer {quoted(large, 20)} is not a bit or an op code")
        values = [int(item) for item in items]
        n = NUM_VERTICES
        if len(values) != n * n + n:
            raise NasError(f"malformed NAS-Bench-101 architecture: {len(values)} integers, expected {n * n + n}")
        codes = values[n * n :]
        for code in codes:
            if code >= len(OP_CODES):
                raise NasError(f"unknown NAS-Bench-101 op code {code}; codes: " + ", ".join(f"{i}={op}" for i, op in enumerate(OP_CODES)))
        matrix = tuple(tuple(values[i * n : (i + 1) * n]) for i in range(n))
        cell = Nb101Cell(matrix, tuple(OP_CODES[c] for c in codes))
        self.check(cell)
        return cell

    def format(self, arch: Architecture) -> str:
        """The 56-integer tuple string of ``arch``."""
        cell = _as_cell(arch)
        values = [bit for row in cell.matrix for bit in row] + [OP_CODES.index(op) for op in cell.ops]
        return "(" + ", ".join(map(str, values)) + ")"

    # -- identity and validity -------------------------------------------------------------

    def canonical_id(self, arch: Architecture) -> str:
        """The NAS-Bench-101 hash of the pruned cell."""
        return graph_hash(self._pruned(_as_cell(arch)))

    def live_id(self, arch: Architecture) -> str:
        """The pruned cell (matrix rows, then ops): the network is built from it alone."""
        pruned = self._pruned(_as_cell(arch))
        return "|".join("".join(map(str, row)) for row in pruned.matrix) + "|" + ",".join(pruned.ops)

    def is_valid(self, cell: Nb101Cell) -> bool:
        """Whether ``cell`` is in NAS-Bench-101: connected, at most 9 edges after pruning."""
        pruned = prune(cell)
        return pruned is not None and pruned.num_edges <= MAX_EDGES

    def check(self, cell: Nb101Cell) -> None:
        """Raise :class:`NasError` unless ``cell`` is valid."""
        self._pruned(cell)

    def _pruned(self, cell: Nb101Cell) -> PrunedCell:
        """The pruned ``cell``; :class:`NasError` unless it is valid."""
        pruned = prune(cell)
        if pruned is None:
            raise NasError("NAS-Bench-101 cell is invalid: no path from the input to the output")
        if pruned.num_edges > MAX_EDGES:
            raise NasError(f"NAS-Bench-101 cell is invalid: {pruned.num_edges} edges after pruning, at most {MAX_EDGES} allowed")
        return pruned

    # -- sampling and edits ----------------------------------------------------------------

    def sample(self, rng: random.Random) -> Nb101Cell:
        """A valid specification by rejection, as NAS-Bench-101 and NASLib sample.

        Each of the 21 upper-triangular bits is 1 with probability 1/2 and each interior op is
        drawn uniformly; draws that are not valid are rejected. This is uniform over valid
        *specifications*, which over-weights unique cells with many equivalent specifications.
        """
        n = NUM_VERTICES
        while True:
            matrix = tuple(tuple(int(j > i and rng.random() < 0.5) for j in range(n)) for i in range(n))
            ops = (INPUT,) + tuple(rng.choice(INTERIOR_OPS) for _ in range(n - 2)) + (OUTPUT,)
            cell = Nb101Cell(matrix, ops)
            if self.is_valid(cell):
                return cell

    def neighbours(self, arch: Architecture) -> list[Nb101Cell]:
        """Valid cells one edit away: one edge flipped (row-major order), then one interior op changed.

        Edits that leave the pruned cell unchanged are dropped, and of several edits reaching
        the same cell (same canonical id) only the first is kept.
        """
        cell = _as_cell(arch)
        seen = {self.canonical_id(cell)}
        result: list[Nb101Cell] = []
        for candidate in self._edits(cell):
            if not self.is_valid(candidate):
                continue
            key = graph_hash(self._pruned(candidate))
            if key not in seen:
                seen.add(key)
                result.append(candidate)
        return result

    @staticmethod
    def _edits(cell: Nb101Cell) -> Iterator[Nb101Cell]:
        n = NUM_VERTICES
        for i in range(n):
            for j in range(i + 1, n):
                rows = [list(row) for row in cell.matrix]
                rows[i][j] = 1 - rows[i][j]
                yield Nb101Cell(tuple(map(tuple, rows)), cell.ops)
        for v in range(1, n - 1):
            for op in INTERIOR_OPS:
                if op != cell.ops[v]:
                    yield Nb101Cell(cell.matrix, cell.ops[:v] + (op,) + cell.ops[v + 1 :])

    # -- network ---------------------------------------------------------------------------

    def build(self, arch: Architecture, dataset: DatasetSpec) -> nn.Module:
        """The NAS-Bench-101 network of the pruned cell for an image dataset."""
        if dataset.kind != "image":
            raise NasError(f"space 'nb101' builds image classifiers; dataset {dataset.name!r} is {dataset.kind}")
        return Nb101Network(self._pruned(_as_cell(arch)), in_channels=dataset.input_shape[0], num_classes=dataset.num_classes)

    def closed_form_parameters(self, arch: Architecture, dataset: DatasetSpec) -> int:
        """Trainable parameters of :meth:`build`'s network, in closed form (see :func:`network_counts`)."""
        return network_counts(self._pruned(_as_cell(arch)), dataset)[0]

    def closed_form_flops(self, arch: Architecture, dataset: DatasetSpec) -> int:
        """Multiply-accumulates of one example through :meth:`build`'s network, in closed form (see :func:`network_counts`)."""
        return network_counts(self._pruned(_as_cell(arch)), dataset)[1]


def network_counts(cell: PrunedCell, dataset: DatasetSpec) -> tuple[int, int]:
    """``(parameters, flops)`` of :class:`Nb101Network` for ``cell`` and ``dataset``, without building it.

    Counted as the built module is: every convolution weight (no biases) and both affine
    parameters of its batch norm, and the dense layer's weight and bias; FLOPs (:mod:`nas.flops`)
    are each convolution's ``kernel elements * c_in * c_out`` per position (all are stride 1,
    'same' padding, so positions are those of the stack: ``H x W``, then halved with rounding up by
    each ceil-mode 2x2 max-pool) plus the dense layer's ``c * classes + classes``, per example.
    Every vertex of the pruned cell and every input projection runs once per cell (see
    :func:`cell_counts`).
    """
    if dataset.kind != "image" or len(dataset.input_shape) != 3:
        raise NasError(f"space 'nb101' builds image classifiers; dataset {dataset.name!r} is {dataset.kind}")
    in_channels, height, width = dataset.input_shape
    stem = 9 * in_channels * STEM_CHANNELS
    params, flops = stem + 2 * STEM_CHANNELS, stem * height * width
    channels = STEM_CHANNELS
    cells: dict[tuple[int, int], tuple[int, int]] = {}  # the counts of each (in, out) channel pair, computed once
    for stack in range(NUM_STACKS):
        out_channels = channels
        if stack > 0:
            height, width = -(-height // 2), -(-width // 2)
            out_channels = channels * 2
        for _ in range(CELLS_PER_STACK):
            if (channels, out_channels) not in cells:
                cells[channels, out_channels] = cell_counts(cell, channels, out_channels)
            weights, norms = cells[channels, out_channels]
            params += weights + norms
            flops += weights * height * width
            channels = out_channels
    dense = channels * dataset.num_classes + dataset.num_classes
    return params + dense, flops + dense


def cell_counts(cell: PrunedCell, in_channels: int, out_channels: int) -> tuple[int, int]:
    """``(convolution weights, batch-norm parameters)`` of one :class:`Nb101CellModule`.

    The vertices' channels are :func:`vertex_channels` (the output's split over the vertices
    feeding it, the others the largest of their successors). Each interior ``conv3x3`` or
    ``conv1x1`` vertex of ``c`` channels has ``9c^2`` or ``c^2`` weights, a max-pool none; each
    vertex ``t`` the input feeds (the output included) has a 1x1 projection of ``in_channels *
    c_t`` weights; every convolution has a batch norm of ``2 c`` parameters.
    """
    matrix = cell.matrix
    channels = vertex_channels(in_channels, out_channels, matrix)
    weights = norms = 0
    for t in range(1, cell.num_vertices):
        if matrix[0][t]:
            weights += in_channels * channels[t]
            norms += 2 * channels[t]
    for t, op in enumerate(cell.ops[1:-1], start=1):
        if op != MAXPOOL3X3:
            weights += _KERNEL_ELEMENTS[op] * channels[t] ** 2
            norms += 2 * channels[t]
    return weights, norms


#: kernel elements of the convolution vertices
_KERNEL_ELEMENTS = {CONV3X3: 9, CONV1X1: 1}


def _as_cell(arch: Architecture) -> Nb101Cell:
    if not isinstance(arch, Nb101Cell):
        raise NasError(f"not a NAS-Bench-101 architecture: {arch!r}")
    return arch


#: An activation of the width-collapsed NB-101 network: its channels, in order, as groups of
#: identical channels, each a width-1 tensor (N, 1, H, W) and the number of channels it stands for.
Groups = list[tuple[torch.Tensor, int]]


class ConvBnRelu(nn.Sequential):
    """Convolution (no bias, 'same' padding), batch norm with the official settings, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM),
            nn.ReLU(),
        )


def _vertex_op(op: str, channels: int) -> nn.Module:
    if op == CONV3X3:
        return ConvBnRelu(channels, channels, 3)
    if op == CONV1X1:
        return ConvBnRelu(channels, channels, 1)
    return nn.MaxPool2d(3, stride=1, padding=1)


class Nb101CellModule(nn.Module):
    """One cell as in NAS-Bench-101's ``build_module``.

    Each interior vertex sums its predecessors' outputs (truncated to its channel count) and a
    1x1 projection of the cell input if the input feeds it, then applies its op. The output
    concatenates the interior vertices that feed it, plus a projection of the input when the
    input feeds the output too (only that projection when no interior vertex feeds it).
    """

    def __init__(self, cell: PrunedCell, in_channels: int, out_channels: int):
        super().__init__()
        self.matrix = cell.matrix
        n = cell.num_vertices
        self.channels = vertex_channels(in_channels, out_channels, cell.matrix)
        self.projections = nn.ModuleDict(
            {str(t): ConvBnRelu(in_channels, self.channels[t], 1) for t in range(1, n) if cell.matrix[0][t]}
        )
        self.vertex_ops = nn.ModuleList(_vertex_op(cell.ops[t], self.channels[t]) for t in range(1, n - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(self.matrix)
        out = n - 1
        values: list[torch.Tensor] = [x]
        for t in range(1, out):
            summands = [values[s][:, : self.channels[t]] for s in range(1, t) if self.matrix[s][t]]
            if self.matrix[0][t]:
                summands.append(self.projections[str(t)](x))
            total = summands[0]
            for extra in summands[1:]:
                total = total + extra
            values.append(self.vertex_ops[t - 1](total))
        feeding = [values[t] for t in range(1, out) if self.matrix[t][out]]
        if not feeding:
            return self.projections[str(out)](x)
        result = feeding[0] if len(feeding) == 1 else torch.cat(feeding, dim=1)
        if self.matrix[0][out]:
            result = result + self.projections[str(out)](x)
        return result

    def collapsed_groups(self, x: Groups, weight: float) -> Groups:
        """:meth:`forward` with every weight ``weight`` on groups of identical channels (see :data:`Groups`).

        The same steps in the same order: truncation keeps the groups covering the first
        channels, sums add group by group, the output concatenates the feeding vertices' groups.
        Every interior vertex's output is one group (its op is a convolution, or a max-pool of
        a sum of one-group tensors); only the output can have several.
        """
        n = len(self.matrix)
        out = n - 1
        values: list[Groups] = [x]
        for t in range(1, out):
            summands = [_truncate(values[s], self.channels[t]) for s in range(1, t) if self.matrix[s][t]]
            if self.matrix[0][t]:
                summands.append(_collapsed_conv_bn_relu(self.projections[str(t)], x, weight))
            total = summands[0]
            for extra in summands[1:]:
                total = _add(total, extra)
            values.append(_collapsed_vertex_op(self.vertex_ops[t - 1], total, weight))
        feeding = [values[t] for t in range(1, out) if self.matrix[t][out]]
        if not feeding:
            return _collapsed_conv_bn_relu(self.projections[str(out)], x, weight)
        result = [group for groups in feeding for group in groups]
        if self.matrix[0][out]:
            result = _add(result, _collapsed_conv_bn_relu(self.projections[str(out)], x, weight))
        return result


class Nb101Network(nn.Module):
    """The NAS-Bench-101 network: stem, 3 stacks of 3 cells with 2x2 max-pool downsampling
    (channels doubled) between stacks, global average pooling and a dense layer."""

    def __init__(self, cell: PrunedCell, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = [ConvBnRelu(in_channels, STEM_CHANNELS, 3)]
        channels = STEM_CHANNELS
        for stack in range(NUM_STACKS):
            out_channels = channels
            if stack > 0:
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
                out_channels = channels * 2
            for _ in range(CELLS_PER_STACK):
                layers.append(Nb101CellModule(cell, channels, out_channels))
                channels = out_channels
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))

    def collapsed_forward(self, inputs: torch.Tensor, weight: float) -> torch.Tensor:
        """The network's output with every weight ``weight``, width-collapsed: one value per example.

        Every weight (convolutions, batch-norm scales, the dense layer) equal to ``weight``, every
        bias 0, batch norm with batch statistics, as the epsilon proxy sets them (the module's
        own parameters are not read): then all ``num_classes`` outputs of an example are equal,
        and this returns that value, shape (N,), computed on width-1 tensors. A cell concatenates
        its vertices' outputs, so the generic :func:`nas.proxies.collapse.collapse` refuses it;
        here each activation is a list of groups of identical channels (:data:`Groups`), which
        is exact up to the order of floating-point sums. The dtype is that of ``inputs``. The
        epsilon proxy uses this with ``collapse=auto`` (the extension point is described in
        :mod:`nas.proxies.collapse`).
        """
        if inputs.dim() != 4:
            raise CollapseError(f"NAS-Bench-101 network expects (N, C, H, W) images, got shape {tuple(inputs.shape)}")
        groups: Groups = [(inputs[:, c : c + 1], 1) for c in range(inputs.shape[1])]
        for layer in self.features:
            if isinstance(layer, ConvBnRelu):
                groups = _collapsed_conv_bn_relu(layer, groups, weight)
            elif isinstance(layer, nn.MaxPool2d):
                groups = [(width1_pool(layer, x), m) for x, m in groups]
            elif isinstance(layer, Nb101CellModule):
                groups = layer.collapsed_groups(groups, weight)
            else:
                raise CollapseError(f"no collapsed form for layer {type(layer).__name__}")
        # global average pooling per group; the dense layer sums its inputs like a convolution
        if _width(groups) != self.classifier.in_features:
            raise CollapseError(f"dense layer expects {self.classifier.in_features} features, got {_width(groups)}")
        return _weighted_sum([(x.mean(dim=(1, 2, 3)), m) for x, m in groups]) * weight


def _width(groups: Groups) -> int:
    return sum(m for _, m in groups)


def _weighted_sum(groups: Groups) -> torch.Tensor:
    """The sum over all channels the groups stand for: ``sum_g m_g x_g``."""
    total = None
    for x, m in groups:
        term = x if m == 1 else x * m
        total = term if total is None else total + term
    if total is None:
        raise CollapseError("empty activation")
    return total


def _truncate(groups: Groups, channels: int) -> Groups:
    """The first ``channels`` channels (``x[:, :channels]``)."""
    if channels > _width(groups):
        raise CollapseError(f"cannot truncate {_width(groups)} channels to {channels}")
    kept: Groups = []
    left = channels
    for x, m in groups:
        if left == 0:
            break
        kept.append((x, min(m, left)))
        left -= min(m, left)
    return kept


def _add(a: Groups, b: Groups) -> Groups:
    """Channel-wise ``a + b``: groups are split where either operand's groups change."""
    if _width(a) != _width(b):
        raise CollapseError(f"cannot add {_width(a)} channels to {_width(b)}")
    result: Groups = []
    i = j = 0
    left_a, left_b = a[0][1], b[0][1]
    while i < len(a):
        take = min(left_a, left_b)
        result.append((a[i][0] + b[j][0], take))
        left_a, left_b = left_a - take, left_b - take
        if left_a == 0:
            i += 1
            left_a = a[i][1] if i < len(a) else 0
        if left_b == 0:
            j += 1
            left_b = b[j][1] if j < len(b) else 0
    return result


def _collapsed_conv_bn_relu(layer: ConvBnRelu, groups: Groups, weight: float) -> Groups:
    """:class:`ConvBnRelu` with constant weights: one group of ``out_channels`` identical channels."""
    conv, norm = layer[0], layer[1]
    if not isinstance(conv, nn.Conv2d) or not isinstance(norm, nn.BatchNorm2d) or conv.groups != 1 or conv.padding_mode != "zeros":
        raise CollapseError("unexpected ConvBnRelu layout")
    if _width(groups) != conv.in_channels:
        raise CollapseError(f"convolution expects {conv.in_channels} channels, got {_width(groups)}")
    if len(groups) == 1:  # w * m * window_sum(x): one multiply
        x, m = groups[0]
        y = constant_conv2d(x, weight * m, conv.kernel_size, conv.stride, conv.padding, conv.dilation)
    else:
        y = constant_conv2d(_weighted_sum(groups), weight, conv.kernel_size, conv.stride, conv.padding, conv.dilation)
    y = width1_batch_norm(y, weight if norm.affine else 1.0, norm.eps)
    return [(torch.relu(y), conv.out_channels)]


def _collapsed_vertex_op(op: nn.Module, groups: Groups, weight: float) -> Groups:
    if isinstance(op, ConvBnRelu):
        return _collapsed_conv_bn_relu(op, groups, weight)
    if isinstance(op, nn.MaxPool2d):
        return [(width1_pool(op, x), m) for x, m in groups]
    raise CollapseError(f"no collapsed form for vertex op {type(op).__name__}")
