"""Width-collapsed evaluation of a network whose weights are all one constant.

When every weight of a convolution or linear layer is the same constant ``w`` (biases zero),
all of its output channels are identical: each is ``w`` times the sum of the inputs in the
receptive field. Channel-wise operations (batch normalisation with batch statistics and a
constant scale, ReLU, pooling, sums, skip connections) keep identical channels identical. So
such a network computes, channel for channel, what the same network with every hidden width 1
computes, provided each layer's constant is multiplied by (its real fan-in / the fan-in it
sees). That network is 10-100 times cheaper to run, and it is what makes scoring a whole
search space with the epsilon proxy feasible on a CPU.

The transform here is generic: :func:`collapse` walks a built ``nn.Module`` and replaces every
``Conv2d``, ``Linear`` and ``BatchNorm1d/2d`` by a width-1 layer carrying the scaled constant.
A layer's collapsed fan-in is read from its input at run time, so the first layer, which sees
the data's real channels, keeps its constant (scale ``C_in / C_in = 1``), while later layers,
which see one channel standing for ``C_in`` identical ones, get ``w * C_in``.

The result is exact only if every module keeps identical channels identical and never depends
on the channel count (concatenation, channel slicing or shuffling, per-channel parameters,
embeddings, recurrent cells all break it). :func:`can_collapse` therefore accepts a model only
if each of its modules is of a known-safe type: the torch layers in :data:`SAFE_MODULES`,
subclasses of those that do not override ``forward``, classes registered with
:func:`register_collapsible`, and classes that declare ``collapsible = True`` in their own body
(a subclass does not inherit the declaration, since it may override ``forward``). A declared
class must be a pure container: it may own sub-modules but no parameters of its own.

**Hand-written collapsed forwards.** Concatenation breaks the generic transform but not the
idea: with constant weights a concatenation of tensors whose channels are each identical is a
sequence of *groups* of identical channels, and every layer can be written on one width-1
tensor per group with its multiplicity. A convolution or linear layer sums over its input
channels, so its one output channel is ``w * sum_g m_g * window_sum(x_g)``; batch norm with batch
statistics, ReLU and pooling act per group; truncating to the first ``c`` channels keeps the
groups (or parts of groups) that cover them; concatenation joins the lists. A model whose class
defines a method ``collapsed_forward(inputs, weight) -> Tensor`` computing this way declares it
is exact: with ``collapse="auto"`` the epsilon proxy calls it (under ``torch.no_grad()``, with
``inputs`` already in the chosen precision) instead of running the full network, before trying
:func:`collapse`. It must return the value every output feature of the model takes with every
weight equal to ``weight``, every bias 0 and batch statistics: one value per example (any shape
whose flattening has one entry per example); it may raise :class:`CollapseError` to fall back
to the direct computation. :func:`constant_conv2d`, :func:`width1_batch_norm` and
:func:`width1_pool` are the width-1 kernels to build it from. NAS-Bench-101's
``Nb101Network.collapsed_forward`` (in :mod:`nas.spaces.nb101`) is the example;
``tests/test_collapse_nb101.py`` proves it equal to the direct computation. Before each call the
epsilon proxy sets the model's parameters as for the direct computation (constants, zero biases,
seeded random embeddings), so a collapsed forward may read the parameters that are not constant.

**Rank-one outputs.** A layer whose weight is *not* constant, fed by identical features, gives
each example an output proportional to one fixed vector: a language model's decoder tied to its
random embedding turns the identical hidden units ``s_n`` of position ``n`` into the logits
``s_n * r_v`` with ``r_v`` the sum of word ``v``'s embedding. A collapsed forward may then return
a :class:`RankOneOutput` (the factors ``s`` and ``r``) instead of the ``N x V`` logits; epsilon is
computed from the factors exactly, without forming the product (NAS-Bench-NLP's
``NlpLanguageModel.collapsed_forward``, proved equal in ``tests/test_collapse_nlp.py``).

One pass per constant: stacking both constants into one pass (the batch repeated, statistics
kept per copy) is exact too but measured no faster, since the cost is per element, not per
call, and per-copy statistics need strided reductions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.errors import NasError

#: torch module types that keep identical channels identical (with constant weights, zero
#: biases and batch statistics) and whose forward does not depend on the channel count.
SAFE_MODULES: frozenset[type[nn.Module]] = frozenset(
    {
        nn.Conv2d,
        nn.Linear,
        nn.BatchNorm1d,
        nn.BatchNorm2d,
        nn.ReLU,
        nn.Identity,
        nn.Flatten,
        nn.AvgPool2d,
        nn.MaxPool2d,
        nn.AdaptiveAvgPool2d,
        nn.AdaptiveMaxPool2d,
        nn.Sequential,
        nn.ModuleList,
        nn.ModuleDict,
    }
)

#: Classes (or "module.QualName" strings) declared safe with :func:`register_collapsible`.
_REGISTERED: set[type[nn.Module] | str] = set()

M = TypeVar("M", bound=type[nn.Module])


class CollapseError(NasError):
    """A model cannot be evaluated width-collapsed (raised at run time by a collapsed layer)."""


@dataclass(frozen=True)
class RankOneOutput:
    """A model output given by two factors: its flattened value is ``outer(rows, cols).flatten()``.

    ``rows`` has one entry per example position (e.g. each token of each sequence) and ``cols``
    one per output feature (e.g. each word of the vocabulary); both are 1-D tensors.
    """

    rows: torch.Tensor
    cols: torch.Tensor

    def __post_init__(self) -> None:
        if self.rows.dim() != 1 or self.cols.dim() != 1:
            raise ValueError("RankOneOutput needs 1-D rows and cols")

    def numel(self) -> int:
        """The number of entries of the output it stands for."""
        return self.rows.numel() * self.cols.numel()

    def dense(self) -> torch.Tensor:
        """The flattened output itself (``rows x cols`` entries; for tests and small outputs)."""
        return torch.outer(self.rows, self.cols).flatten()


def register_collapsible(cls: M) -> M:
    """Class decorator: declare ``cls`` safe to collapse (a container of safe modules).

    Use it for module classes that cannot carry ``collapsible = True`` in their body. The
    class's ``forward`` must only combine its children's outputs channel-wise (sums, products
    by scalars, channel-wise activations): no concatenation, no channel indexing, no channel
    counts; and it must own no parameters outside its sub-modules.
    """
    _REGISTERED.add(cls)
    return cls


@dataclass(frozen=True)
class CollapseCheck:
    """Whether a model can be width-collapsed exactly; if not, the first reason why."""

    ok: bool
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.ok


def can_collapse(model: nn.Module) -> CollapseCheck:
    """Whether :func:`collapse` is exact for ``model`` (judged from its module types).

    The reason names an embedding if there is one, else the innermost refused module.
    """
    refused = []
    for name, module in model.named_modules():
        reason = _unsafe_reason(module)
        if reason is not None:
            refused.append((isinstance(module, nn.Embedding), f"{name or 'the model itself'} ({type(module).__name__}) {reason}"))
    if not refused:
        return CollapseCheck(True)
    embeddings = [text for is_embedding, text in refused if is_embedding]
    return CollapseCheck(False, embeddings[0] if embeddings else refused[-1][1])


def _safe_base(cls: type) -> type[nn.Module] | None:
    """The torch type in :data:`SAFE_MODULES` that ``cls`` is or extends without a new forward."""
    for base in cls.__mro__:
        if base in SAFE_MODULES:
            return base if cls.forward is base.forward else None  # type: ignore[attr-defined]
    return None


def _declares_collapsible(cls: type) -> bool:
    return (
        vars(cls).get("collapsible") is True
        or cls in _REGISTERED
        or f"{cls.__module__}.{cls.__qualname__}" in _REGISTERED
    )


def _unsafe_reason(module: nn.Module) -> str | None:
    if isinstance(module, nn.Embedding):
        return "is an embedding, whose weights are random per token, not constant"
    base = _safe_base(type(module))
    if base is nn.Conv2d and module.groups != 1:  # type: ignore[union-attr]
        return "is a grouped convolution, which mixes channel groups"
    if base is not None:
        return None
    if _declares_collapsible(type(module)):
        own = [name for name, _ in module.named_parameters(recurse=False)]
        if own:
            return f"is declared collapsible but owns parameters ({', '.join(own)}) outside safe layers"
        return None
    return (
        "is not known to keep channels identical (a module class can declare "
        "'collapsible = True' or be passed to nas.proxies.collapse.register_collapsible)"
    )


def collapse(model: nn.Module, weight: float) -> nn.Module:
    """A width-1 copy of ``model`` computing its output with every weight equal to ``weight``.

    The copy takes the same input as ``model``. Its output has one feature (or channel) where
    ``model``'s has several identical ones: those of ``model`` with every weight set to
    ``weight`` and every bias to zero, batch normalisation using batch statistics and a scale
    of ``weight`` (1 without affine parameters). ``model`` itself is not modified.

    Raises :class:`CollapseError` if :func:`can_collapse` rejects the model; a collapsed layer
    raises it at run time if its input width does not divide its real fan-in.
    """
    check = can_collapse(model)
    if not check:
        raise CollapseError(f"cannot collapse the model: {check.reason}")
    return _rebuild(model, float(weight))


def _rebuild(module: nn.Module, weight: float) -> nn.Module:
    base = _safe_base(type(module))
    if base is nn.Conv2d:
        return _CollapsedConv2d(module, weight)  # type: ignore[arg-type]
    if base is nn.Linear:
        return _CollapsedLinear(module, weight)  # type: ignore[arg-type]
    if base in (nn.BatchNorm1d, nn.BatchNorm2d):
        return _CollapsedBatchNorm(module, weight)  # type: ignore[arg-type]
    if base in (nn.AvgPool2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d):
        return _FoldedPool(module)
    if not module._modules:
        return module  # parameter-free leaf (ReLU, Identity, ...): shared, it holds no state
    clone = copy.copy(module)  # shallow: a safe container owns no parameters of its own
    clone.__dict__["_modules"] = {
        name: None if child is None else _rebuild(child, weight) for name, child in module._modules.items()
    }
    return clone


# Layout. A width-1 activation of N examples has shape (N, 1, H, W). One-channel kernels are
# slow on CPU (a 3x3 convolution runs ~20x slower than the same work as a depthwise one), so
# the collapsed layers view it as (1, N, H, W), one image of N channels, and run depthwise
# convolution and pooling on that. For float32 the examples are kept innermost in memory
# (channels-last of that view, oneDNN's fast layout); then the views cost nothing, and the
# element-wise operations in between (ReLU, sums) preserve the layout. float64 has no oneDNN
# kernels; its fastest layout is the plain one.


def _fold(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) -> (1, N, H, W), in the fast memory layout for its dtype."""
    folded = x.permute(1, 0, 2, 3)
    layout = torch.channels_last if x.dtype == torch.float32 else torch.contiguous_format
    return folded if folded.is_contiguous(memory_format=layout) else folded.contiguous(memory_format=layout)


def _unfold(y: torch.Tensor) -> torch.Tensor:
    """(1, N, H, W) -> (N, 1, H, W), a view."""
    return y.permute(1, 0, 2, 3)


# Shared width-1 kernels: the collapsed layers below use them, and so do hand-written collapsed
# forwards (see "Hand-written collapsed forwards" in the module docstring).


def constant_conv2d(
    x: torch.Tensor,
    value: float,
    kernel_size: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    padding: Any = (0, 0),
    dilation: tuple[int, int] = (1, 1),
) -> torch.Tensor:
    """Any output channel of a zero-padded ``Conv2d`` whose weights all equal ``value`` (no bias).

    ``x`` has shape (N, 1, H, W): the layer's input summed over its channels (with a constant
    kernel only that sum matters). Returns (N, 1, H', W').
    """
    if kernel_size == (1, 1) and padding in ((0, 0), "valid"):
        return x[:, :, :: stride[0], :: stride[1]] * value  # a 1x1 convolution of one channel
    folded = _fold(x)
    rows = folded.shape[1]
    kernel = x.new_full((rows, 1, *kernel_size), value)
    return _unfold(F.conv2d(folded, kernel, None, stride, padding, dilation, groups=rows))


def width1_batch_norm(x: torch.Tensor, scale: float, eps: float) -> torch.Tensor:
    """Batch normalisation of one channel with batch statistics, scale ``scale`` and shift 0.

    ``x`` holds one channel (shape (N, 1, ...)): the statistics are over the whole tensor,
    whatever its memory layout; two reductions and two element-wise passes are ~2x faster than
    the generic kernel.
    """
    mean = x.mean()
    centred = x - mean
    variance = torch.linalg.vector_norm(centred).square() / centred.numel()
    return centred * (scale * torch.rsqrt(variance + eps))


def width1_pool(pool: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A 2-d pooling layer applied to the width-1 activations ``x`` (N, 1, H, W), on the folded view."""
    return _unfold(pool(_fold(x)))


def _fan_in_scale(real: int, seen: int, layer: str) -> float:
    """How many of the real inputs each seen input stands for."""
    if seen <= 0 or real % seen:
        raise CollapseError(f"collapsed {layer} expected a width dividing {real}, got {seen}")
    return real / seen


class _CollapsedConv2d(nn.Module):
    """A ``Conv2d`` with constant weights, producing the one channel all its channels equal."""

    def __init__(self, conv: nn.Conv2d, weight: float):
        super().__init__()
        self.in_channels = conv.in_channels
        self.kernel_size = conv.kernel_size
        self.stride, self.dilation = conv.stride, conv.dilation
        self.padding: Any = conv.padding
        self.padding_mode = conv.padding_mode
        self._pad = conv._reversed_padding_repeated_twice
        self.weight = weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen = x.shape[1]
        value = self.weight * _fan_in_scale(self.in_channels, seen, "Conv2d")
        padding = self.padding
        if seen > 1:
            # The data's channels (or another input that is not collapsed): with a constant
            # kernel only their sum matters, ~10x cheaper than a c-to-1 convolution on CPU.
            x = x.sum(dim=1, keepdim=True)
        if self.padding_mode == "zeros" or (self.kernel_size == (1, 1) and padding in ((0, 0), "valid")):
            return constant_conv2d(x, value, self.kernel_size, self.stride, padding, self.dilation)
        folded = F.pad(_fold(x), self._pad, mode=self.padding_mode)
        rows = folded.shape[1]
        kernel = x.new_full((rows, 1, *self.kernel_size), value)
        return _unfold(F.conv2d(folded, kernel, None, self.stride, 0, self.dilation, groups=rows))


class _CollapsedLinear(nn.Module):
    """A ``Linear`` with constant weights, producing the one feature all its features equal."""

    def __init__(self, linear: nn.Linear, weight: float):
        super().__init__()
        self.in_features = linear.in_features
        self.weight = weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen = x.shape[-1]
        value = self.weight * _fan_in_scale(self.in_features, seen, "Linear")
        return F.linear(x, x.new_full((1, seen), value))


class _CollapsedBatchNorm(nn.Module):
    """Batch normalisation with batch statistics and a constant scale, for any width."""

    def __init__(self, norm: nn.BatchNorm1d | nn.BatchNorm2d, weight: float):
        super().__init__()
        self.eps = norm.eps
        self.scale = weight if norm.affine else 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        width = x.shape[1]
        if width > 1:
            gamma = x.new_full((width,), self.scale)
            return F.batch_norm(x, None, None, gamma, torch.zeros_like(gamma), True, 0.0, self.eps)
        return width1_batch_norm(x, self.scale, self.eps)


class _FoldedPool(nn.Module):
    """A 2-d pooling layer run on the folded view of width-1 activations (same values)."""

    def __init__(self, pool: nn.Module):
        super().__init__()
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            return self.pool(x)
        return width1_pool(self.pool, x)
