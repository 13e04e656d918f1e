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
classes registered with :func:`register_collapsible`, and classes that declare
``collapsible = True`` in their own body (a subclass does not inherit the declaration, since it
may override ``forward``). A declared class must be a pure container: it may own sub-modules
but no parameters of its own.

Several constants can be evaluated in one pass: the batch is repeated once per constant and
each collapsed layer scales each copy by its own constant (batch normalisation keeps separate
statistics per copy), which is exact because every collapsed layer is linear in its constant.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Sequence, TypeVar

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

_REGISTERED: set[type[nn.Module]] = set()

M = TypeVar("M", bound=type[nn.Module])


class CollapseError(NasError):
    """A model cannot be evaluated width-collapsed (raised at run time by a collapsed layer)."""


def register_collapsible(cls: M) -> M:
    """Class decorator: declare ``cls`` safe to collapse (a container of safe modules).

    Use it for module classes of other packages that cannot carry ``collapsible = True``.
    The class's ``forward`` must only combine its children's outputs channel-wise (sums,
    products by scalars, channel-wise activations): no concatenation, no channel indexing.
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
    """Whether :func:`collapse` is exact for ``model`` (judged from its module types)."""
    for name, module in model.named_modules():
        reason = _unsafe_reason(module)
        if reason is not None:
            where = name or "the model itself"
            return CollapseCheck(False, f"{where} ({type(module).__name__}) {reason}")
    return CollapseCheck(True)


def _declares_collapsible(cls: type) -> bool:
    return vars(cls).get("collapsible") is True or cls in _REGISTERED


def _unsafe_reason(module: nn.Module) -> str | None:
    cls = type(module)
    if cls in SAFE_MODULES:
        if cls is nn.Conv2d and module.groups != 1:  # type: ignore[union-attr]
            return "is a grouped convolution, which mixes channel groups"
        return None
    if isinstance(module, nn.Embedding):
        return "is an embedding, whose weights are random per token, not constant"
    if _declares_collapsible(cls):
        own = [name for name, _ in module.named_parameters(recurse=False)]
        if own:
            return f"is declared collapsible but owns parameters ({', '.join(own)}) outside safe layers"
        return None
    return (
        "is not known to keep channels identical (a module class can declare "
        "'collapsible = True' or be passed to nas.proxies.collapse.register_collapsible)"
    )


def collapse(model: nn.Module, weights: Sequence[float]) -> nn.Module:
    """A width-1 copy of ``model`` evaluating it with each constant of ``weights`` at once.

    The copy takes the same input as ``model`` and returns, for an input of ``n`` examples,
    ``len(weights) * n`` rows: rows ``[k*n, (k+1)*n)`` are the output of ``model`` with every
    weight set to ``weights[k]`` and every bias to zero, with one feature/channel standing for
    the identical ones of ``model``'s output. Batch normalisation uses batch statistics and a
    scale of ``weights[k]`` (1 without affine parameters). ``model`` itself is not modified.

    Raises :class:`CollapseError` if :func:`can_collapse` rejects the model; a collapsed layer
    raises it at run time if its input width does not divide its real fan-in.
    """
    check = can_collapse(model)
    if not check:
        raise CollapseError(f"cannot collapse the model: {check.reason}")
    if not weights:
        raise ValueError("collapse needs at least one weight")
    return _Stacked(_rebuild(model, tuple(float(w) for w in weights)), len(weights))


def _rebuild(module: nn.Module, weights: tuple[float, ...]) -> nn.Module:
    cls = type(module)
    if cls is nn.Conv2d:
        return _CollapsedConv2d(module, weights)  # type: ignore[arg-type]
    if cls is nn.Linear:
        return _CollapsedLinear(module, weights)  # type: ignore[arg-type]
    if cls in (nn.BatchNorm1d, nn.BatchNorm2d):
        return _CollapsedBatchNorm(module, weights)  # type: ignore[arg-type]
    if cls in (nn.AvgPool2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d):
        return _FoldedPool(module)
    if not module._modules:
        return module  # parameter-free leaf (ReLU, Identity, ...): shared, it holds no state
    clone = copy.copy(module)  # shallow: a safe container owns no parameters of its own
    clone.__dict__["_modules"] = {
        name: None if child is None else _rebuild(child, weights) for name, child in module._modules.items()
    }
    return clone


# Layout. A width-1 activation of R rows has shape (R, 1, H, W). Per-row kernels are slow on
# CPU for one channel, so the collapsed layers view it as (1, R, H, W), one image of R
# channels, and run depthwise convolutions and pooling on that. For float32 the rows are kept
# innermost in memory (channels-last of that view), the fast layout of oneDNN; then these
# views cost nothing and element-wise operations in between preserve the layout.


def _fold(x: torch.Tensor) -> torch.Tensor:
    """(R, 1, H, W) -> (1, R, H, W), in the fast memory layout for its dtype."""
    folded = x.permute(1, 0, 2, 3)
    layout = torch.channels_last if x.dtype == torch.float32 else torch.contiguous_format
    return folded if folded.is_contiguous(memory_format=layout) else folded.contiguous(memory_format=layout)


def _unfold(y: torch.Tensor) -> torch.Tensor:
    """(1, R, H, W) -> (R, 1, H, W), a view."""
    return y.permute(1, 0, 2, 3)


def _fan_in_scale(real: int, seen: int, layer: str) -> float:
    if seen <= 0 or real % seen:
        raise CollapseError(f"collapsed {layer} expected a width dividing {real}, got {seen}")
    return real / seen


def _copy_chunks(x: torch.Tensor, copies: int) -> tuple[torch.Tensor, ...]:
    if x.shape[0] % copies:
        raise CollapseError(f"collapsed layer got {x.shape[0]} rows, not a multiple of {copies} copies")
    return x.chunk(copies, dim=0)


class _CollapsedConv2d(nn.Module):
    """A ``Conv2d`` with constant weights, producing the one channel all its channels equal."""

    def __init__(self, conv: nn.Conv2d, weights: tuple[float, ...]):
        super().__init__()
        self.in_channels = conv.in_channels
        self.kernel_size = conv.kernel_size
        self.stride, self.dilation = conv.stride, conv.dilation
        self.padding: Any = conv.padding
        self.padding_mode = conv.padding_mode
        self._pad = conv._reversed_padding_repeated_twice
        self.weights = weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen = x.shape[1]
        scale = _fan_in_scale(self.in_channels, seen, "Conv2d")
        padding = self.padding
        if seen > 1:  # the data's channels (or another non-collapsed input): one conv per copy
            outputs = []
            for chunk, weight in zip(_copy_chunks(x, len(self.weights)), self.weights):
                if self.padding_mode != "zeros":
                    chunk, padding = F.pad(chunk, self._pad, mode=self.padding_mode), 0
                kernel = chunk.new_full((1, seen, *self.kernel_size), weight * scale)
                outputs.append(F.conv2d(chunk, kernel, None, self.stride, padding, self.dilation))
            return torch.cat(outputs)
        rows = x.shape[0]
        per_row = _copy_column(self.weights, rows, x, scale)
        folded = _fold(x)
        if self.padding_mode != "zeros":
            folded, padding = F.pad(folded, self._pad, mode=self.padding_mode), 0
        kernel = per_row.view(rows, 1, 1, 1).expand(rows, 1, *self.kernel_size).contiguous()
        return _unfold(F.conv2d(folded, kernel, None, self.stride, padding, self.dilation, groups=rows))


def _copy_column(weights: tuple[float, ...], rows: int, like: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """One value per row: ``weights[k] * scale`` for the rows of copy ``k``."""
    if rows % len(weights):
        raise CollapseError(f"collapsed layer got {rows} rows, not a multiple of {len(weights)} copies")
    values = torch.tensor([w * scale for w in weights], dtype=like.dtype, device=like.device)
    return values.repeat_interleave(rows // len(weights))


class _CollapsedLinear(nn.Module):
    """A ``Linear`` with constant weights, producing the one feature all its features equal."""

    def __init__(self, linear: nn.Linear, weights: tuple[float, ...]):
        super().__init__()
        self.in_features = linear.in_features
        self.weights = weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen = x.shape[-1]
        scale = _fan_in_scale(self.in_features, seen, "Linear")
        chunks = _copy_chunks(x, len(self.weights))
        return torch.cat(
            [F.linear(chunk, chunk.new_full((1, seen), w * scale)) for chunk, w in zip(chunks, self.weights)]
        )


class _CollapsedBatchNorm(nn.Module):
    """Batch normalisation with batch statistics kept per copy of the batch, any width."""

    def __init__(self, norm: nn.BatchNorm1d | nn.BatchNorm2d, weights: tuple[float, ...]):
        super().__init__()
        self.eps = norm.eps
        self.scales = weights if norm.affine else tuple(1.0 for _ in weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        copies, width = len(self.scales), x.shape[1]
        rows = x.shape[0] // copies
        if x.shape[0] % copies:
            raise CollapseError(f"collapsed BatchNorm got {x.shape[0]} rows, not a multiple of {copies} copies")
        # Arrange as (positions, copies * width, rows per copy): one call, statistics per copy
        # and channel. For a width-1 activation in the folded layout this is a view.
        spatial = tuple(range(2, x.dim()))
        moved = x.permute(*spatial, 0, 1)  # (*spatial, copies * rows, width)
        grouped = moved.reshape(-1, copies, rows, width).transpose(2, 3).reshape(-1, copies * width, rows)
        gamma = torch.tensor(self.scales, dtype=x.dtype, device=x.device).repeat_interleave(width)
        out = F.batch_norm(grouped, None, None, gamma, torch.zeros_like(gamma), True, 0.0, self.eps)
        out = out.reshape(-1, copies, width, rows).transpose(2, 3).reshape(moved.shape)
        inverse = [0] * x.dim()
        for position, dim in enumerate((*spatial, 0, 1)):
            inverse[dim] = position
        return out.permute(*inverse)


class _FoldedPool(nn.Module):
    """A 2-d pooling layer run on the folded view of width-1 activations (same values)."""

    def __init__(self, pool: nn.Module):
        super().__init__()
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            return self.pool(x)
        return _unfold(self.pool(_fold(x)))


class _Stacked(nn.Module):
    """Runs the collapsed network on one copy of the batch per constant."""

    def __init__(self, body: nn.Module, copies: int):
        super().__init__()
        self.body = body
        self.copies = copies

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.copies > 1:
            x = x.repeat(self.copies, *([1] * (x.dim() - 1)))
        return self.body(x)
