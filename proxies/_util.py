"""Helpers shared by the gradient- and activation-based proxies (not a public API).

Conventions shared by these proxies, following the reference code of Abdelfattah et al.
(``SamsungLabs/zero-cost-nas``) and Mellor et al. (``BayesWatch/nas-without-training``):

* the model is put in training mode (batch norm uses the batch's statistics), as the
  reference code scores freshly built networks in training mode;
* per-weight saliencies are taken over the ``weight`` tensors of ``nn.Conv2d`` and
  ``nn.Linear`` layers (biases and normalisation parameters are not scored) and summed;
* a model returning a tuple or list (as the NAS-Bench-201 reference networks return
  ``(features, logits)``) is read as returning its last element, the logits.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, TypeVar

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from nas.errors import NasError
from nas.proxies.base import Batch, ProxyResult

#: layers whose weights carry the per-weight saliencies of the pruning-based proxies
PRUNABLE = (nn.Conv2d, nn.Linear)

#: activation modules whose sign pattern gives NASWOT's binary codes (the reference code hooks
#: every module whose type name contains "ReLU")
RELU_TYPES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU)


def prunable_layers(model: nn.Module) -> list[nn.Module]:
    """The ``nn.Conv2d`` and ``nn.Linear`` modules of ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, PRUNABLE)]


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating-point type of the model's first floating parameter (float32 otherwise)."""
    for parameter in model.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float32


def inputs_for(model: nn.Module, batch: Batch) -> torch.Tensor:
    """The batch's inputs on the model's device; floating inputs take the model's dtype."""
    inputs = batch.inputs.to(model_device(model))
    if inputs.is_floating_point():
        inputs = inputs.to(model_dtype(model))
    return inputs


def logits_of(output: object) -> torch.Tensor:
    """The logits in a model's output: the output itself, or the last element of a tuple/list."""
    if isinstance(output, (tuple, list)) and output:
        output = output[-1]
    if not isinstance(output, torch.Tensor):
        raise NasError(f"the model returned {type(output).__name__}, expected a tensor of logits")
    return output


def targets_for(proxy: str, model: nn.Module, batch: Batch) -> torch.Tensor:
    """The batch's labels on the model's device; :class:`NasError` when the batch has none."""
    if batch.targets is None:
        raise NasError(f"proxy {proxy!r} needs labels, but batch {batch.identity!r} has none")
    return batch.targets.to(model_device(model))


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy; sequence logits ``(..., classes)`` with targets ``(...)`` are flattened."""
    if logits.dim() > 2 and logits.dim() == targets.dim() + 1:
        logits = logits.reshape(-1, logits.shape[-1])
        targets = targets.reshape(-1)
    return F.cross_entropy(logits, targets)


def all_finite(tensor: torch.Tensor) -> bool:
    """Whether every value of ``tensor`` is finite; usually one summation instead of an elementwise test.

    A finite sum proves every value finite (a NaN or an infinity makes the sum NaN or infinite);
    only when the sum is not finite (a non-finite value, or finite values overflowing the sum)
    are the values tested one by one.
    """
    values = tensor.detach()
    return bool(torch.isfinite(values.sum())) or bool(torch.isfinite(values).all())


def channels_last(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Store ``model``'s 4-D parameters and buffers channels-last (in place); return 4-D ``inputs`` the same way.

    On one CPU core, convolutions, batch norm and average pooling of NAS-Bench-201's feature maps
    (16 to 64 channels) run 2 to 4 times faster on channels-last tensors than on the default
    layout. The values are those of the default layout up to float rounding (sums are accumulated
    in another order); the shapes, and so every index a proxy reads, are unchanged.
    """
    model.to(memory_format=torch.channels_last)
    if inputs.dim() == 4:
        return inputs.contiguous(memory_format=torch.channels_last)
    return inputs


def checked(value: float, what: str) -> ProxyResult:
    """``value`` as a result, or NaN naming ``what`` when it is not finite."""
    if math.isfinite(value):
        return ProxyResult(float(value))
    return ProxyResult.nan(f"{what} is not finite ({value})")


def sum_over_weights(model: nn.Module, saliency: Callable[[nn.Module], torch.Tensor | None]) -> float:
    """Sum of ``saliency(layer)`` over the prunable layers; ``None`` (no gradient) counts 0."""
    total = 0.0
    for layer in prunable_layers(model):
        value = saliency(layer)
        if value is not None:
            total += float(value.detach().sum())
    return total


def remove_batchnorm(model: nn.Module) -> None:
    """Replace every batch-norm layer of ``model`` by an identity, in place."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, _BatchNorm):
                setattr(parent, name, nn.Identity())


_Hooks = TypeVar("_Hooks", bound="ForwardHooks")


class ForwardHooks:
    """A context manager that calls ``self._hook(module, inputs, output)`` after each of ``modules`` runs.

    Subclasses pass the modules to hook and define ``_hook``; the hooks are registered on
    entering and removed on leaving, whatever happens in between.
    """

    def __init__(self, modules: Iterable[nn.Module]) -> None:
        self._modules = list(modules)
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _hook(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        raise NotImplementedError

    def __enter__(self: _Hooks) -> _Hooks:
        self._handles = [m.register_forward_hook(self._hook) for m in self._modules]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


class ActivationCodes(ForwardHooks):
    """Binary ReLU codes of a batch, accumulated as NASWOT's kernel while a forward pass runs.

    Use as a context manager around a forward pass of ``model`` on ``n`` examples. Every
    executed ReLU-type module (see ``RELU_TYPES``) contributes its units: an example's code
    bit is 1 where the unit's OUTPUT is positive, which equals "input > 0" for ReLU, ReLU6
    and leaky ReLU and is unaffected by in-place ReLUs (whose input tensor is overwritten by
    the output). Afterwards ``kernel`` is the ``n x n`` matrix ``K[i, j] = units - Hamming(c_i,
    c_j)`` (number of units on which examples ``i`` and ``j`` agree, float64) and ``units``
    is ``N_A``, the number of units per example. A module that runs twice contributes twice.
    """

    def __init__(self, model: nn.Module, n: int) -> None:
        super().__init__(m for m in model.modules() if isinstance(m, RELU_TYPES))
        self.kernel = torch.zeros(n, n, dtype=torch.float64)
        self.units = 0

    def _hook(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        codes = (output.detach().reshape(output.shape[0], -1) > 0).to(torch.float32)
        units = codes.shape[1]
        # agreements c c^T + (1-c)(1-c)^T = 2 c c^T - s_i - s_j + units (s: active counts), one
        # matrix product; every term is an integer below 2**24 for layers of < 2**23 units,
        # so float32 is exact there
        active = codes.sum(dim=1)
        agree = 2.0 * (codes @ codes.T) - active[:, None] - active[None, :] + units
        self.kernel += agree.to(torch.float64).cpu()
        self.units += units


def activation_codes(model: nn.Module, batch: Batch) -> ActivationCodes:
    """Run ``model`` (training mode, no gradients) on the batch and collect its ReLU codes."""
    model.train()
    inputs = inputs_for(model, batch)
    with ActivationCodes(model, inputs.shape[0]) as codes, torch.no_grad():
        model(inputs)
    return codes


def log_abs_det(matrix: torch.Tensor) -> float:
    """``log|det(matrix)|`` (``-inf`` when singular), computed in float64."""
    _sign, logdet = torch.linalg.slogdet(matrix.to(torch.float64))
    return float(logdet)

