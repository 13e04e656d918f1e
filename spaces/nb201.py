"""The NAS-Bench-201 search space (the topology search space of NATS-Bench).

A cell is a 4-node DAG; each of its 6 edges ``j <- i`` (``i < j``) carries one of 5 operations.
An architecture is the tuple of the 6 edge operations in the order of the official string
format: ``(1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)``, written e.g.
``|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|``.

The official index order (index ``i`` = architecture ``i`` of the benchmark) is derived, not
read from data: NAS-Bench-201 listed the product of the operations (first edge varying
slowest) and shuffled it with Python's ``random`` seeded with 88 (Dong & Yang, 2020).

The network (:class:`NB201Network`) is the benchmark's ``TinyNetwork``/``InferCell``: its
parameter and FLOP counts equal the published ones.
"""

from __future__ import annotations

import itertools
import random
import weakref
from functools import cache
from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.datasets import DatasetSpec
from nas.errors import NasError, quoted
from nas.spaces import register_space
from nas.spaces.base import SearchSpace

#: The operations an edge can carry, in the official order.
OPERATIONS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: The cell's edges as ``(to_node, from_node)``, in the order of the string format.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
#: Number of nodes of a cell (node 0 is the input, node 3 the output).
NUM_NODES = 4

#: An NAS-Bench-201 architecture: the operation of each edge, in the order of :data:`EDGES`.
NB201Arch = tuple[str, str, str, str, str, str]

#: the benchmark network's width of the first stage, cells per stage and stages
_STEM_CHANNELS, _CELLS_PER_STAGE, _STAGES = 16, 5, 3

_SHUFFLE_SEED = 88
_FORMAT_HINT = "expected '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'"
_ZERO = "#"


def format_arch(arch: NB201Arch) -> str:
    """The official string of ``arch`` (no validation; see :meth:`NB201Space.format`)."""
    nodes = []
    for node in range(1, NUM_NODES):
        nodes.append("|" + "|".join(f"{arch[k]}~{src}" for k, (dst, src) in enumerate(EDGES) if dst == node) + "|")
    return "+".join(nodes)


def parse_arch(text: str) -> NB201Arch:
    """The architecture written as ``text``; :class:`NasError` naming what is wrong otherwise."""
    if not isinstance(text, str):
        raise NasError(f"an NB201 architecture string must be a str, got {type(text).__name__}")
    stripped = text.strip()
    groups = stripped.split("+")
    if len(groups) != NUM_NODES - 1:
        raise NasError(
            f"NB201 architecture {quoted(text)} has {len(groups)} node(s) separated by '+', "
            f"needs {NUM_NODES - 1}: {_FORMAT_HINT}"
        )
    ops: list[str] = []
    for node, group in enumerate(groups, start=1):
        if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
            raise NasError(f"node {node} of NB201 architecture {quoted(text)} is {quoted(group)}, not '|...|': {_FORMAT_HINT}")
        edges = group[1:-1].split("|")
        if len(edges) != node:
            raise NasError(
                f"node {node} of NB201 architecture {quoted(text)} has {len(edges)} edge(s), needs {node} "
                f"(one from each of nodes 0..{node - 1}): {_FORMAT_HINT}"
            )
        for src, edge in enumerate(edges):
            op, sep, index = edge.partition("~")
            if not sep:
                raise NasError(f"edge {quoted(edge)} of node {node} in NB201 architecture {quoted(text)} is not 'op~input'")
            if op not in OPERATIONS:
                raise NasError(
                    f"unknown operation {quoted(op)} on edge {node}<-{src} of NB201 architecture {quoted(text)}; "
                    f"known: {', '.join(OPERATIONS)}"
                )
            if index != str(src):
                raise NasError(
                    f"edge {quoted(edge)} of node {node} in NB201 architecture {quoted(text)} reads from {quoted(index)}, "
                    f"must read from node {src} (edges of node {node} list inputs 0..{node - 1} in order)"
                )
            ops.append(op)
    return tuple(ops)  # type: ignore[return-value]


def check_arch(arch: object) -> NB201Arch:
    """``arch`` itself if it is a valid NB201 architecture tuple; :class:`NasError` otherwise."""
    if isinstance(arch, str):
        raise NasError(f"expected an NB201 architecture tuple, got the string {arch!r}; parse it first")
    if not isinstance(arch, tuple) or len(arch) != len(EDGES):
        raise NasError(f"an NB201 architecture is a tuple of {len(EDGES)} operations, got {arch!r}")
    for op in arch:
        if op not in OPERATIONS:
            raise NasError(f"unknown operation {op!r} in NB201 architecture {arch!r}; known: {', '.join(OPERATIONS)}")
    return arch  # type: ignore[return-value]


def unique_string(arch: NB201Arch) -> str:
    """The official NAS-Bench-201 isomorphism string of ``arch`` (the ``UniqueString`` column).

    Each node is written as the sum of its incoming terms, sorted as strings and joined by
    ``+``: node 0 is ``0``; an edge with ``skip_connect`` contributes its input node's string
    unchanged; ``none``, or any edge from a node that is exactly zero, contributes the zero
    term ``#``; any other operation ``op`` on input ``x`` contributes ``(x)@op``. The output
    node's string is the id. Equal strings mean the same expression up to the order of
    summands, hence the same function; zero terms are kept as ``#`` (a node ``#+#`` is not
    reduced), which is the convention behind the benchmark's 6,466 unique architectures.
    """
    nodes = ["0"]
    for node in range(1, NUM_NODES):
        terms = []
        for op, (dst, src) in zip(arch, EDGES):
            if dst != node:
                continue
            if op == "none" or nodes[src] == _ZERO:
                terms.append(_ZERO)
            elif op == "skip_connect":
                terms.append(nodes[src])
            else:
                terms.append(f"({nodes[src]})@{op}")
        nodes.append("+".join(sorted(terms)))
    return nodes[-1]


def has_path(arch: NB201Arch, operations: frozenset[str] | None = None) -> bool:
    """Whether some input-to-output path of the cell avoids ``none`` edges.

    Without one the cell's output is constant zero, whatever its input. With ``operations``,
    only edges whose operation is one of them count (e.g. a path of parameter-free operations).
    """
    reached = {0}
    for op, (dst, src) in zip(arch, EDGES):  # edges are ordered by destination node
        if op != "none" and src in reached and (operations is None or op in operations):
            reached.add(dst)
    return NUM_NODES - 1 in reached


def live_arch(arch: NB201Arch) -> NB201Arch:
    """``arch`` with every dead edge set to ``none``.

    An edge is dead when its destination node cannot reach the output (node 3) through edges
    other than ``none``: its result then feeds only nodes the output never reads, so it changes
    neither the output nor any gradient. (Edges *from* a zero node are not dead: a convolution
    there still receives gradients.)
    """
    ops = dict(zip(EDGES, arch))
    alive = {NUM_NODES - 1}
    for node in range(NUM_NODES - 2, 0, -1):  # a node's successors are the higher nodes
        if any(ops[(dst, node)] != "none" for dst in alive if dst > node):
            alive.add(node)
    return tuple(op if dst in alive else "none" for op, (dst, _) in zip(arch, EDGES))  # type: ignore[return-value]


@cache
def _class_representatives() -> dict[str, NB201Arch]:
    """Each isomorphism class's first member in the official index order, by :func:`unique_string`."""
    first: dict[str, NB201Arch] = {}
    for arch in official_order():
        first.setdefault(unique_string(arch), arch)
    return first


@cache
def official_order() -> tuple[NB201Arch, ...]:
    """All 15,625 architectures in the official benchmark index order.

    NAS-Bench-201 listed the product of :data:`OPERATIONS` over :data:`EDGES` (first edge
    varying slowest) and shuffled it with ``random.seed(88)``; this recomputes that order.
    """
    archs = list(itertools.product(OPERATIONS, repeat=len(EDGES)))
    random.Random(_SHUFFLE_SEED).shuffle(archs)
    return tuple(archs)  # type: ignore[arg-type]


@cache
def _official_index() -> dict[NB201Arch, int]:
    return {arch: i for i, arch in enumerate(official_order())}


# ---- network -------------------------------------------------------------------------------


class ReLUConvBN(nn.Sequential):
    """ReLU, then a bias-free convolution, then batch normalisation (affine, running stats)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=True, track_running_stats=True),
        )


class Zero(nn.Module):
    """The ``none`` operation: zeros of the input's shape, as ``x * 0`` so NaN/inf propagate."""

    #: channel-wise only: the width-collapsed epsilon (nas.proxies.collapse) may shrink it
    collapsible = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.0


class Pool(nn.AvgPool2d):
    """The ``avg_pool_3x3`` operation: 3x3 average pooling, stride 1, padding not counted."""

    def __init__(self) -> None:
        super().__init__(kernel_size=3, stride=1, padding=1, count_include_pad=False)


class ResidualBlock(nn.Module):
    """The stride-2 ResNet basic block between stages.

    Two :class:`ReLUConvBN` 3x3 convolutions (the first with stride 2) plus a shortcut of 2x2
    average pooling and a bias-free 1x1 convolution.
    """

    #: channel-wise only: the width-collapsed epsilon (nas.proxies.collapse) may shrink it
    collapsible = True

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2, padding=1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, stride=1, padding=1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def make_operation(op: str, channels: int) -> nn.Module:
    """The module of edge operation ``op`` on ``channels`` channels (stride 1)."""
    if op == "none":
        return Zero()
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, stride=1, padding=0)
    if op == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, stride=1, padding=1)
    if op == "avg_pool_3x3":
        return Pool()
    raise NasError(f"unknown NB201 operation {op!r}; known: {', '.join(OPERATIONS)}")


class Cell(nn.Module):
    """One cell: node ``j`` is the sum over its edges ``j <- i`` of ``op(node i)``; returns node 3.

    Every edge gets its module, including edges whose result cannot reach the output, as in the
    benchmark (so parameter counts match the published ones).
    """

    #: channel-wise only: the width-collapsed epsilon (nas.proxies.collapse) may shrink it
    collapsible = True

    def __init__(self, arch: NB201Arch, channels: int):
        super().__init__()
        self.arch = arch
        self.edges = nn.ModuleList(make_operation(op, channels) for op in arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in range(1, NUM_NODES):
            total: torch.Tensor | None = None
            for edge, (dst, src) in zip(self.edges, EDGES):
                if dst == node:
                    out = edge(nodes[src])
                    total = out if total is None else total + out
            assert total is not None  # every node has at least one incoming edge
            nodes.append(total)
        return nodes[-1]


class NB201Network(nn.Module):
    """The NAS-Bench-201 network: stem, 3 stages of cells joined by :class:`ResidualBlock`, head.

    Stem: 3x3 convolution (no bias) to ``channels`` and batch norm. Stages have ``channels``,
    ``2 * channels`` and ``4 * channels`` channels and ``cells_per_stage`` cells each. Head:
    batch norm, ReLU, global average pooling, linear classifier. ``forward`` returns logits.
    """

    #: channel-wise only: the width-collapsed epsilon (nas.proxies.collapse) may shrink it
    collapsible = True

    def __init__(
        self,
        arch: NB201Arch,
        num_classes: int,
        in_channels: int = 3,
        channels: int = _STEM_CHANNELS,
        cells_per_stage: int = _CELLS_PER_STAGE,
    ):
        super().__init__()
        self.arch = arch
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        layers: list[nn.Module] = []
        c_prev = channels
        for stage in range(_STAGES):
            c_stage = channels * 2**stage
            if stage > 0:
                layers.append(ResidualBlock(c_prev, c_stage))
            layers.extend(Cell(arch, c_stage) for _ in range(cells_per_stage))
            c_prev = c_stage
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.lastact(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(self.global_pooling(features), 1))

    def collapsed_forward(self, inputs: torch.Tensor, weight: float) -> torch.Tensor:
        """The network's output with every weight ``weight``, width-collapsed: one value per example.

        :func:`collapsed_output` of this network's architecture, width and depth (the module's own
        parameters are not read; the epsilon proxy uses this with ``collapse=auto``, see
        :mod:`nas.proxies.collapse`). Raises :class:`~nas.proxies.collapse.CollapseError` when a
        stage module is no longer a plain :class:`Cell` or :class:`ResidualBlock` (a cell wrapped
        or replaced after the build), so that the generic transform handles the changed network.
        """
        from nas.proxies.collapse import CollapseError

        plain = all(type(layer) in (Cell, ResidualBlock) for layer in self.cells)
        eps = {m.eps for m in self.modules() if isinstance(m, nn.BatchNorm2d)}
        if not plain or eps != {_BN_EPS}:
            raise CollapseError("the NB201 network was changed after its build: no hand-written collapsed form")
        cells = sum(type(layer) is Cell for layer in self.cells)
        return collapsed_output(self.arch, inputs, weight, self.stem[0].out_channels, cells // _STAGES)


#: batch-norm eps of every NB201 network (PyTorch's default, as the benchmark's)
_BN_EPS = 1e-5


def collapsed_output(
    arch: NB201Arch,
    inputs: torch.Tensor,
    weight: float,
    channels: int = _STEM_CHANNELS,
    cells_per_stage: int = _CELLS_PER_STAGE,
    shortcut: bool = False,
) -> torch.Tensor:
    """The output of :class:`NB201Network` with every weight ``weight`` (biases 0, batch statistics), width-collapsed.

    With one constant weight every channel of every activation is the same, and so is every
    logit of an example (:mod:`nas.proxies.collapse`): this returns that value, shape (N,),
    computed on (N, 1, H, W) tensors with the width-1 kernels of :mod:`nas.proxies.collapse`,
    exactly the operations, in the same order, that the generic
    :func:`~nas.proxies.collapse.collapse` of the built network runs, so the result is the same
    to the bit (``tests/test_collapse.py``). It is faster because it builds no network and
    computes each distinct edge of a cell once: two edges that apply the same operation to the
    same node give the same tensor when every weight is one constant. ``inputs`` (N, C, H, W)
    in the dtype to compute in; ``channels`` and ``cells_per_stage`` as in :meth:`NB201Space.build`.
    ``shortcut``: every cell computes ``x + cell(x)`` (the network whose cells the
    ``epsilon_auto`` proxy wraps in an identity shortcut, in the order its wrapper adds).
    """
    from nas.proxies.collapse import CollapseError, constant_conv2d, width1_batch_norm, width1_pool

    if inputs.dim() != 4:
        raise CollapseError(f"NAS-Bench-201 network expects (N, C, H, W) images, got shape {tuple(inputs.shape)}")
    pool3, pool2, global_pool = _POOL3, nn.AvgPool2d(kernel_size=2, stride=2, padding=0), nn.AdaptiveAvgPool2d(1)

    def conv_bn(rectified: torch.Tensor, fan_in: int, kernel: int, stride: int = 1) -> torch.Tensor:
        """A constant ``kernel`` x ``kernel`` convolution of ``fan_in`` channels of a ReLU's output, then batch norm."""
        padding = (kernel // 2, kernel // 2)
        y = constant_conv2d(rectified, weight * (fan_in / 1), (kernel, kernel), (stride, stride), padding)
        return width1_batch_norm(y, weight, _BN_EPS)

    def cell(x: torch.Tensor, width: int) -> torch.Tensor:
        nodes = [x]
        edges: dict[tuple[int, str], torch.Tensor] = {}  # (source node, operation) -> its output, computed once
        rectified: dict[int, torch.Tensor] = {}  # source node -> its ReLU, shared by its convolutions
        for node in range(1, NUM_NODES):
            total = None
            for op, (dst, src) in zip(arch, EDGES):
                if dst != node:
                    continue
                out = edges.get((src, op))
                if out is None:
                    source = nodes[src]
                    if op == "none":
                        out = source * 0.0
                    elif op == "skip_connect":
                        out = source
                    elif op == "avg_pool_3x3":
                        out = width1_pool(pool3, source)
                    else:
                        if src not in rectified:
                            rectified[src] = torch.relu(source)
                        out = conv_bn(rectified[src], width, 1 if op == "nor_conv_1x1" else 3)
                    edges[(src, op)] = out
                total = out if total is None else total + out
            nodes.append(total)
        return nodes[-1]

    x = _collapsed_stem(inputs, weight)
    width = channels
    for stage in range(_STAGES):
        if stage > 0:
            wider = channels * 2**stage
            downsampled = constant_conv2d(width1_pool(pool2, x), weight * (width / 1), (1, 1))
            x = downsampled + conv_bn(torch.relu(conv_bn(torch.relu(x), width, 3, stride=2)), wider, 3)
            width = wider
        for _ in range(cells_per_stage):
            x = x + cell(x, width) if shortcut else cell(x, width)
    x = torch.relu(width1_batch_norm(x, weight, _BN_EPS))
    pooled = torch.flatten(width1_pool(global_pool, x), 1)
    return F.linear(pooled, pooled.new_full((1, 1), weight * (width / 1))).flatten()


#: the ``avg_pool_3x3`` operation's pooling, shared by the collapsed forward (it holds no state)
_POOL3 = Pool()
#: :func:`_collapsed_stem`'s recent results: (id, version, weight) of the inputs -> (a weak reference to them, stem output)
_STEMS: dict[tuple[int, int, float], tuple[weakref.ref[torch.Tensor], torch.Tensor]] = {}
_STEMS_KEPT = 8


def _collapsed_stem(inputs: torch.Tensor, weight: float) -> torch.Tensor:
    """The collapsed stem (constant 3x3 convolution of the data's channels, batch norm) of ``inputs``.

    Every architecture has the same stem, so scoring many of them on one batch computes it once
    per weight: the result is kept for the same, unchanged input tensor (same object, same
    version counter) and handed out again (callers never modify it in place).
    """
    from nas.proxies.collapse import constant_conv2d, width1_batch_norm

    key = (id(inputs), inputs._version, weight)
    kept = _STEMS.get(key)
    if kept is not None and kept[0]() is inputs:
        return kept[1]
    # the stem sees the data's channels: with a constant kernel only their sum matters (scale 1)
    summed = inputs.sum(dim=1, keepdim=True)
    out = width1_batch_norm(constant_conv2d(summed, weight * 1.0, (3, 3), padding=(1, 1)), weight, _BN_EPS)
    if len(_STEMS) >= _STEMS_KEPT:
        _STEMS.pop(next(iter(_STEMS)))
    _STEMS[key] = (weakref.ref(inputs), out)
    return out


# ---- the space -----------------------------------------------------------------------------


@register_space("nb201")
class NB201Space(SearchSpace):
    """NAS-Bench-201: 5 operations on the 6 edges of a 4-node cell, 15,625 architectures.

    Architectures are tuples of 6 operation names (see :data:`EDGES`); :meth:`enumerate`,
    :meth:`arch_at` and :meth:`index_of` use the official benchmark index order.
    """

    name = "nb201"
    datasets = ("cifar10", "cifar100", "imagenet16-120")

    def parse(self, text: str) -> NB201Arch:
        """The architecture written as ``text`` (official format; surrounding blanks ignored)."""
        return parse_arch(text)

    def format(self, arch: NB201Arch) -> str:
        """The official string of ``arch``."""
        return format_arch(check_arch(arch))

    def canonical_id(self, arch: NB201Arch) -> str:
        """The official isomorphism string of ``arch`` (see :func:`unique_string`)."""
        return unique_string(check_arch(arch))

    def live_id(self, arch: NB201Arch) -> str:
        """The string of ``arch`` with its dead edges set to ``none`` (see :func:`live_arch`)."""
        return format_arch(live_arch(check_arch(arch)))

    def representative(self, arch: NB201Arch) -> NB201Arch:
        """The member of ``arch``'s isomorphism class with the lowest official index."""
        return _class_representatives()[unique_string(check_arch(arch))]

    def has_path(self, arch: NB201Arch) -> bool:
        """Whether some input-to-output path avoids ``none`` (see :func:`has_path`)."""
        return has_path(check_arch(arch))

    def size(self) -> int:
        """15,625 (5 operations on 6 edges)."""
        return len(OPERATIONS) ** len(EDGES)

    def enumerate(self) -> Iterator[NB201Arch]:
        """Every architecture in the official benchmark index order."""
        return iter(official_order())

    def arch_at(self, index: int) -> NB201Arch:
        """The architecture with official benchmark index ``index`` (0 to 15,624)."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.size():
            raise NasError(f"NB201 index must be an integer from 0 to {self.size() - 1}, got {index!r}")
        return official_order()[index]

    def index_of(self, arch: NB201Arch) -> int:
        """The official benchmark index of ``arch``."""
        return _official_index()[check_arch(arch)]

    def sample(self, rng: random.Random) -> NB201Arch:
        """An architecture drawn uniformly: each edge's operation drawn independently."""
        return tuple(rng.choice(OPERATIONS) for _ in EDGES)  # type: ignore[return-value]

    def neighbours(self, arch: NB201Arch) -> list[NB201Arch]:
        """The 24 architectures that differ from ``arch`` in one edge, by edge then operation."""
        arch = check_arch(arch)
        return [
            arch[:k] + (op,) + arch[k + 1 :]  # type: ignore[misc]
            for k in range(len(EDGES))
            for op in OPERATIONS
            if op != arch[k]
        ]

    def build(
        self, arch: NB201Arch, dataset: DatasetSpec, *, channels: int = _STEM_CHANNELS, cells_per_stage: int = _CELLS_PER_STAGE
    ) -> NB201Network:
        """The untrained benchmark network of ``arch`` for ``dataset``.

        ``channels`` (width of the first stage, doubled at each of the two reductions) and
        ``cells_per_stage`` default to the benchmark's 16 and 5; other values build the same
        family at another width or depth (e.g. ``channels=1``).
        """
        arch = check_arch(arch)
        in_channels, _, _ = _image_shape(dataset)
        for label, value in (("channels", channels), ("cells_per_stage", cells_per_stage)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise NasError(f"NB201 {label} must be a positive integer, got {value!r}")
        return NB201Network(arch, dataset.num_classes, in_channels, channels, cells_per_stage)

    def collapsed_output(self, arch: NB201Arch, dataset: DatasetSpec, inputs: torch.Tensor, weight: float) -> torch.Tensor:
        """:func:`collapsed_output` of the benchmark network of ``arch`` (:meth:`build`'s defaults), built on no network."""
        arch = check_arch(arch)
        _image_shape(dataset)
        return collapsed_output(arch, inputs, weight)

    def closed_form_parameters(self, arch: NB201Arch, dataset: DatasetSpec) -> int:
        """Trainable parameters of the benchmark network of ``arch`` (:meth:`build`'s defaults), in closed form.

        Equal to the built network's count (see :func:`network_counts`), in microseconds instead
        of the tens of milliseconds a build takes.
        """
        return network_counts(check_arch(arch), dataset)[0]

    def closed_form_flops(self, arch: NB201Arch, dataset: DatasetSpec) -> int:
        """Multiply-accumulates of one example through the benchmark network of ``arch``, in closed form.

        Equal to :func:`nas.flops.count_flops` of the built network (see :func:`network_counts`).
        """
        return network_counts(check_arch(arch), dataset)[1]


def _image_shape(dataset: DatasetSpec) -> tuple[int, int, int]:
    """``(channels, height, width)`` of ``dataset``'s images; :class:`NasError` unless NB201 networks take them."""
    if dataset.kind != "image" or len(dataset.input_shape) != 3:
        raise NasError(f"NB201 networks take images (C, H, W); dataset {dataset.name!r} is {dataset.kind}")
    in_channels, height, width = dataset.input_shape
    if height % 4 or width % 4:
        raise NasError(
            f"NB201 networks halve the resolution twice; input {height}x{width} of {dataset.name!r} "
            "must have height and width divisible by 4"
        )
    return in_channels, height, width


#: kernel elements of the edge operations that hold a convolution (a :class:`ReLUConvBN`)
_CONV_KERNEL_ELEMENTS = {"nor_conv_1x1": 1, "nor_conv_3x3": 9}


def network_counts(arch: NB201Arch, dataset: DatasetSpec) -> tuple[int, int]:
    """``(parameters, flops)`` of :class:`NB201Network` for ``arch`` and ``dataset``, without building it.

    The benchmark network (16 channels, 5 cells per stage), counted as the built module is:
    parameters are every convolution weight (no biases), both affine parameters of every batch
    norm and the classifier's weight and bias; FLOPs (:mod:`nas.flops`) are each convolution's
    ``kernel elements * c_in * c_out`` per output position plus the classifier's
    ``c * classes + classes``, per example. Every edge of every cell holds its module and runs,
    dead or not (``none``, ``skip_connect`` and ``avg_pool_3x3`` hold no parameters and count no
    FLOPs), so a cell on ``c`` channels and ``h x w`` positions has ``k c^2 + 2 c m`` parameters
    and ``k c^2 h w`` FLOPs, ``k`` the summed kernel elements and ``m`` the number of its
    convolutions. A reduction block from ``a`` to ``b`` channels (3x3 stride-2 and 3x3
    convolutions, 1x1 shortcut after 2x2 pooling, all at the halved resolution) has
    ``9ab + 9b^2 + ab`` weights and two batch norms.
    """
    in_channels, height, width = _image_shape(dataset)
    kernel = sum(_CONV_KERNEL_ELEMENTS.get(op, 0) for op in arch)
    convs = sum(op in _CONV_KERNEL_ELEMENTS for op in arch)
    channels = _STEM_CHANNELS
    stem = 9 * in_channels * channels
    params, flops = stem + 2 * channels, stem * height * width
    previous = channels
    for stage in range(_STAGES):
        c = channels * 2**stage
        positions = (height >> stage) * (width >> stage)  # each reduction halves both sides
        if stage > 0:
            block = 9 * previous * c + 9 * c * c + previous * c
            params += block + 4 * c
            flops += block * positions
        cell = kernel * c * c
        params += _CELLS_PER_STAGE * (cell + 2 * c * convs)
        flops += _CELLS_PER_STAGE * cell * positions
        previous = c
    classifier = previous * dataset.num_classes + dataset.num_classes
    return params + 2 * previous + classifier, flops + classifier
