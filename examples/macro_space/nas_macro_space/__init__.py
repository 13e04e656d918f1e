"""``macro``: an example search-space plugin for ``nas`` — plain convolutional networks of three stages.

An architecture chooses, for each of :data:`NUM_STAGES` stages in turn, a **depth** (how many
conv-BN-ReLU blocks the stage has, :data:`DEPTHS`), a **width** (the output channels of every
block of the stage, :data:`WIDTHS`) and a **kernel** size (of every convolution of the stage,
:data:`KERNELS`). It is written stage by stage, ``d<depth>-w<width>-k<kernel>``, with the stages
joined by ``|``, for example::

    d2-w32-k3|d1-w64-k5|d3-w64-k3

The network (:class:`MacroNetwork`) is a single chain: the blocks of the three stages, then
global average pooling and a linear classifier. The first block of every stage after the first
has stride 2 (it halves the height and width; padding ``kernel // 2`` so any input size works),
every other block stride 1. The first block reads the dataset's own input channels, so the space
builds for any image dataset — CIFAR-10/100, ImageNet16-120, and your own data
(``imagefolder:PATH``, ``npz:PATH``, ``cifar:DIR``), grey or colour, of any size.

The space has ``(3 * 3 * 2) ** 3 = 5,832`` architectures (:meth:`MacroSpace.size`), few enough to
enumerate. The package registers nothing itself: its ``pyproject.toml`` names
:class:`MacroSpace` under the entry-point group ``nas.spaces``, which is how ``nas`` finds it.
"""

from __future__ import annotations

import itertools
import random
import re
from typing import Iterator, NamedTuple

import torch.nn as nn

from nas.datasets import DatasetSpec
from nas.errors import NasError, quoted
from nas.spaces.base import SearchSpace

#: Number of stages of every network.
NUM_STAGES = 3
#: The depth choices: conv-BN-ReLU blocks per stage.
DEPTHS: tuple[int, ...] = (1, 2, 3)
#: The width choices: output channels of every block of a stage (before ``width_divisor``).
WIDTHS: tuple[int, ...] = (16, 32, 64)
#: The kernel-size choices: the square kernel of every convolution of a stage.
KERNELS: tuple[int, ...] = (3, 5)

#: The field letters of a stage's string, with each field's choices.
_FIELDS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("d", "depth", DEPTHS),
    ("w", "width", WIDTHS),
    ("k", "kernel", KERNELS),
)
_STAGE_PATTERN = re.compile(r"d(?P<depth>\d+)-w(?P<width>\d+)-k(?P<kernel>\d+)")
_FORMAT_HINT = "expected 'dD-wW-kK|dD-wW-kK|dD-wW-kK', e.g. 'd2-w32-k3|d1-w64-k5|d3-w64-k3'"


class Stage(NamedTuple):
    """The choices of one stage: blocks, their output channels and their kernel size."""

    depth: int
    width: int
    kernel: int


#: A macro architecture: the choices of each of the :data:`NUM_STAGES` stages, first to last.
MacroArch = tuple[Stage, ...]


def format_arch(arch: MacroArch) -> str:
    """The string of ``arch``, e.g. ``d2-w32-k3|d1-w64-k5|d3-w64-k3`` (no validation)."""
    return "|".join(f"d{s.depth}-w{s.width}-k{s.kernel}" for s in arch)


def parse_arch(text: str) -> MacroArch:
    """The architecture written as ``text`` (surrounding blanks ignored); :class:`NasError` naming what is wrong.

    Every value must be written exactly as one of its choices (``d2``, not ``d02``), so that
    ``format_arch(parse_arch(s)) == s.strip()``.
    """
    if not isinstance(text, str):
        raise NasError(f"a macro architecture string must be a str, got {type(text).__name__}")
    parts = text.strip().split("|")
    if len(parts) != NUM_STAGES:
        raise NasError(
            f"macro architecture {quoted(text)} has {len(parts)} stage(s) separated by '|', needs {NUM_STAGES}: {_FORMAT_HINT}"
        )
    stages = []
    for number, part in enumerate(parts, start=1):
        match = _STAGE_PATTERN.fullmatch(part)
        if match is None:
            raise NasError(f"stage {number} of macro architecture {quoted(text)} is {quoted(part)}, not 'dD-wW-kK': {_FORMAT_HINT}")
        values = []
        for letter, field, choices in _FIELDS:
            written = match.group(field)
            if written not in {str(choice) for choice in choices}:
                raise NasError(
                    f"stage {number} of macro architecture {quoted(text)} has {field} {letter}{written}; "
                    f"choices: {', '.join(f'{letter}{c}' for c in choices)}"
                )
            values.append(int(written))
        stages.append(Stage(*values))
    return tuple(stages)


def check_arch(arch: object) -> MacroArch:
    """``arch`` as a :data:`MacroArch` if it is a valid one (a tuple of stage triples); :class:`NasError` otherwise."""
    if isinstance(arch, str):
        raise NasError(f"expected a macro architecture tuple, got the string {quoted(arch)}; parse it first")
    if not isinstance(arch, tuple) or len(arch) != NUM_STAGES:
        raise NasError(f"a macro architecture is a tuple of {NUM_STAGES} stages, got {quoted(arch)}")
    stages = []
    for stage in arch:
        if not isinstance(stage, tuple) or len(stage) != len(_FIELDS):
            raise NasError(f"a macro stage is a (depth, width, kernel) tuple, got {quoted(stage)}")
        for value, (_, field, choices) in zip(stage, _FIELDS):
            if isinstance(value, bool) or value not in choices:
                raise NasError(f"macro stage {quoted(stage)} has {field} {value!r}; choices: {', '.join(map(str, choices))}")
        stages.append(Stage(*stage))
    return tuple(stages)


# ---- network -------------------------------------------------------------------------------


class ConvBNReLU(nn.Sequential):
    """One block: a bias-free ``kernel`` x ``kernel`` convolution (padding ``kernel // 2``), batch norm, ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int):
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=False),
        )


class MacroNetwork(nn.Sequential):
    """The network of a macro architecture: the stages' blocks in one chain, global average pooling, a linear head.

    ``stages`` is a :class:`nn.Sequential` per stage of :class:`ConvBNReLU` blocks; the first
    block of every stage but the first has stride 2. A stage of width ``w`` has
    ``max(1, w // width_divisor)`` channels. ``forward`` takes ``(batch, in_channels, H, W)``
    images of any size and returns ``(batch, num_classes)`` logits.

    Only standard torch containers and layers are used (``forward`` is :class:`nn.Sequential`'s),
    so the network traces to TorchScript and ONNX as it is, and the epsilon proxy's
    width-collapsed path (:mod:`nas.proxies.collapse`) accepts it.
    """

    def __init__(self, arch: MacroArch, in_channels: int, num_classes: int, width_divisor: int = 1):
        stages: list[nn.Module] = []
        c_prev = in_channels
        for index, stage in enumerate(arch):
            c_out = max(1, stage.width // width_divisor)
            blocks = []
            for block in range(stage.depth):
                stride = 2 if index > 0 and block == 0 else 1
                blocks.append(ConvBNReLU(c_prev, c_out, stage.kernel, stride))
                c_prev = c_out
            stages.append(nn.Sequential(*blocks))
        super().__init__(
            nn.Sequential(*stages),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(1),
            nn.Linear(c_prev, num_classes),
        )


# ---- the space -----------------------------------------------------------------------------


class MacroSpace(SearchSpace):
    """Macro space of plain CNNs: depth, width and kernel of 3 stages, 5,832 architectures (example plugin).

    Architectures are tuples of three :class:`Stage` (depth, width, kernel) values, written
    ``d2-w32-k3|d1-w64-k5|d3-w64-k3`` (see :func:`parse_arch`). Choices per stage: depth 1, 2
    or 3 blocks; width 16, 32 or 64 channels; kernel 3 or 5.

    **Invariance.** The canonical id and the live id are the architecture string itself. Every
    block lies on the network's one path, so nothing is dead; and every choice changes the
    network — depth the number of layers, width the shapes of the weights, kernel the receptive
    field — so no two strings build the same function. Scores of every proxy are therefore kept
    per exact string.
    """

    name = "macro"
    #: any image dataset: these, and your own image data (``imagefolder:``, ``npz:``, ``cifar:``)
    datasets = ("cifar10", "cifar100", "imagenet16-120")

    def parse(self, text: str) -> MacroArch:
        """The architecture written as ``text`` (see :func:`parse_arch`)."""
        return parse_arch(text)

    def format(self, arch: MacroArch) -> str:
        """The string of ``arch``, e.g. ``d2-w32-k3|d1-w64-k5|d3-w64-k3``."""
        return format_arch(check_arch(arch))

    def canonical_id(self, arch: MacroArch) -> str:
        """The architecture string: no two architectures of this space compute the same function."""
        return self.format(arch)

    def size(self) -> int:
        """5,832: 3 depths x 3 widths x 2 kernels = 18 choices per stage, for each of 3 stages."""
        return (len(DEPTHS) * len(WIDTHS) * len(KERNELS)) ** NUM_STAGES

    def enumerate(self) -> Iterator[MacroArch]:
        """Every architecture: the first stage varies slowest; within a stage depth, then width, then kernel."""
        stages = [Stage(*choice) for choice in itertools.product(DEPTHS, WIDTHS, KERNELS)]
        return (tuple(arch) for arch in itertools.product(stages, repeat=NUM_STAGES))

    def sample(self, rng: random.Random) -> MacroArch:
        """An architecture drawn uniformly: each choice of each stage drawn independently."""
        return tuple(Stage(rng.choice(DEPTHS), rng.choice(WIDTHS), rng.choice(KERNELS)) for _ in range(NUM_STAGES))

    def neighbours(self, arch: MacroArch) -> list[MacroArch]:
        """The 15 architectures that differ from ``arch`` in one choice of one stage.

        In order: stage by stage; within a stage depth, width, then kernel; each field's other
        values in the order of their choices.
        """
        arch = check_arch(arch)
        result = []
        for index, stage in enumerate(arch):
            for _, field, choices in _FIELDS:
                for value in choices:
                    if value != getattr(stage, field):
                        changed = stage._replace(**{field: value})
                        result.append(arch[:index] + (changed,) + arch[index + 1 :])
        return result

    def build(self, arch: MacroArch, dataset: DatasetSpec, *, width_divisor: int = 1) -> MacroNetwork:
        """The untrained :class:`MacroNetwork` of ``arch`` for ``dataset``'s image channels and classes.

        ``width_divisor`` (a positive integer, default 1: the full widths) divides every stage's
        width, at least one channel kept: ``width_divisor: 4`` in a training recipe's
        ``network:`` trains the same architecture at a quarter of its widths (4, 8 or 16
        channels), as ``channels``/``cells_per_stage`` reduce NAS-Bench-201's networks.
        """
        arch = check_arch(arch)
        if dataset.kind != "image" or len(dataset.input_shape) != 3:
            raise NasError(f"macro networks take images (C, H, W); dataset {dataset.name!r} is {dataset.kind}")
        if isinstance(width_divisor, bool) or not isinstance(width_divisor, int) or width_divisor < 1:
            raise NasError(f"macro width_divisor must be a positive integer, got {width_divisor!r}")
        return MacroNetwork(arch, dataset.input_shape[0], dataset.num_classes, width_divisor)


__all__ = [
    "DEPTHS",
    "KERNELS",
    "MacroArch",
    "MacroNetwork",
    "MacroSpace",
    "NUM_STAGES",
    "Stage",
    "WIDTHS",
    "check_arch",
    "format_arch",
    "parse_arch",
]
