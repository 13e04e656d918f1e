"""Proxy timing beside plain reference implementations (``nas perf --reference``).

:data:`REFERENCES` holds the gradient and activation proxies written the obvious way: the
default memory layout, one forward pass, one backward pass, a sum over the weights of every
``Conv2d`` and ``Linear`` layer, no reuse and no shortcuts. They are what the optimised proxies
in :mod:`nas.proxies` are checked against (``tests/test_performance.py``) and timed beside
(``docs/performance.md``).

Timings are CPU seconds of the process (:func:`time.process_time`), so that other jobs on a
shared machine inflate them less than wall time; run with one torch thread. Achieved GFLOP/s
divide a proxy's nominal work by its time: the architecture's forward multiply-accumulates
(:meth:`SearchSpace.count_flops`, the ``flops`` proxy's value) x 2 x examples x the proxy's
forward-pass equivalents in :data:`PASSES`, against :func:`peak_gflops`, one core's float32
matrix multiply measured in the same run.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from nas.proxies._util import (
    activation_codes,
    cross_entropy,
    inputs_for,
    log_abs_det,
    logits_of,
    prunable_layers,
    remove_batchnorm,
    targets_for,
)
from nas.proxies.base import Batch

#: forward-pass equivalents of each proxy's nominal work: forward 1, backward 2 (input and weight
#: gradients), GraSP's Hessian-gradient product about another forward and backward pair twice
PASSES: dict[str, float] = {
    "snip": 3.0,
    "grad_norm": 3.0,
    "fisher": 3.0,
    "grasp": 6.0,
    "jacob_cov": 3.0,
    "naswot": 1.0,
    "synflow": 3.0,
}


def _weights_sum(model: nn.Module, saliency: Callable[[nn.Module], torch.Tensor]) -> float:
    total = 0.0
    for layer in prunable_layers(model):
        if layer.weight.grad is not None:
            total += float(saliency(layer).detach().sum())
    return total


def _backward(model: nn.Module, batch: Batch) -> None:
    model.train()
    loss = cross_entropy(logits_of(model(inputs_for(model, batch))), targets_for("reference", model, batch))
    loss.backward()


def reference_snip(model: nn.Module, batch: Batch) -> float:
    """Sum over weights of ``|w * dL/dw|``."""
    _backward(model, batch)
    return _weights_sum(model, lambda layer: (layer.weight * layer.weight.grad).abs())


def reference_grad_norm(model: nn.Module, batch: Batch) -> float:
    """Sum over layers of ``||dL/dW||``."""
    _backward(model, batch)
    return _weights_sum(model, lambda layer: layer.weight.grad.norm())


def reference_fisher(model: nn.Module, batch: Batch) -> float:
    """Per layer output channel ``0.5 * mean_n (sum a * dL/da)^2``, times the channel's weights, summed."""
    layers = prunable_layers(model)
    saved: dict[nn.Module, list[torch.Tensor]] = {layer: [] for layer in layers}

    def keep(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        output.retain_grad()
        saved[module].append(output)

    handles = [layer.register_forward_hook(keep) for layer in layers]
    try:
        _backward(model, batch)
    finally:
        for handle in handles:
            handle.remove()
    total = 0.0
    for layer in layers:
        for output in saved[layer]:
            if output.grad is None:
                continue
            product = (output * output.grad).detach()
            if isinstance(layer, nn.Conv2d):
                per_channel = product.sum(dim=(2, 3))
            else:
                per_channel = product.reshape(product.shape[0], -1, product.shape[-1]).sum(dim=1)
            channel = 0.5 * per_channel.pow(2).mean(dim=0)
            total += float(channel.abs().sum()) * math.prod(layer.weight.shape[1:])
    return total


def reference_grasp(model: nn.Module, batch: Batch) -> float:
    """``-sum w * (H g)``: ``g`` from a first pass, ``Hg`` from a second pass's gradient graph."""
    weights = [layer.weight for layer in prunable_layers(model)]
    model.train()
    inputs, targets = inputs_for(model, batch), targets_for("reference", model, batch)
    first = torch.autograd.grad(cross_entropy(logits_of(model(inputs)), targets), weights, allow_unused=True)
    loss = cross_entropy(logits_of(model(inputs)), targets)
    second = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
    product = sum((g.detach() * s).sum() for g, s in zip(first, second) if g is not None and s is not None)
    if isinstance(product, torch.Tensor) and product.requires_grad:
        product.backward()
    return _weights_sum(model, lambda layer: -(layer.weight * layer.weight.grad))


def reference_jacob_cov(model: nn.Module, batch: Batch) -> float:
    """``-sum (log(v + k) + 1 / (v + k))`` over the eigenvalues of the input Jacobians' correlation."""
    model.train()
    inputs = inputs_for(model, batch).clone().requires_grad_(True)
    logits_of(model(inputs)).sum().backward()
    if inputs.grad is None:
        return math.nan
    rows = inputs.grad.reshape(inputs.shape[0], -1).double().numpy()
    if not np.all(np.isfinite(rows)) or np.any(rows.std(axis=1) == 0):
        return math.nan
    shifted = np.linalg.eigvalsh(np.corrcoef(rows)) + 1e-5
    return float(-np.sum(np.log(shifted) + 1.0 / shifted)) if np.all(shifted > 0) else math.nan


def reference_naswot(model: nn.Module, batch: Batch) -> float:
    """``log|det K|`` of the Hamming kernel of the ReLU codes (float32 matrix products, every ReLU)."""
    codes = activation_codes(model, batch)
    value = log_abs_det(codes.kernel) if codes.units else math.nan
    return value if math.isfinite(value) else math.nan


def reference_synflow(model: nn.Module, batch: Batch) -> float:
    """Sum over weights of ``|w * dR/dw|`` of the BN-free ``|w|`` network in float64 on one all-ones input."""
    remove_batchnorm(model)
    model.train()
    model.double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.abs_()
    ones = torch.ones((1, *batch.inputs.shape[1:]), dtype=torch.float64)
    total = logits_of(model(ones)).sum()
    if not torch.isfinite(total):
        return math.nan
    total.backward()
    return _weights_sum(model, lambda layer: (layer.weight * layer.weight.grad).abs())


#: proxy name -> plain implementation ``(model, batch) -> score`` (the model is modified)
REFERENCES: dict[str, Callable[[nn.Module, Batch], float]] = {
    "snip": reference_snip,
    "grad_norm": reference_grad_norm,
    "fisher": reference_fisher,
    "grasp": reference_grasp,
    "jacob_cov": reference_jacob_cov,
    "naswot": reference_naswot,
    "synflow": reference_synflow,
}


def peak_gflops(size: int = 2048, repeats: int = 3) -> float:
    """One thread's float32 matrix-multiply rate (GFLOP/s): the best of ``repeats`` ``size``-square products."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)
    a @ b  # warm-up
    best = math.inf
    for _ in range(repeats):
        start = time.process_time()
        a @ b
        best = min(best, time.process_time() - start)
    return 2.0 * size**3 / max(best, 1e-9) / 1e9


def cpu_time(function: Callable[[], Any]) -> tuple[Any, float]:
    """``function()`` and the process CPU seconds it took."""
    start = time.process_time()
    result = function()
    return result, time.process_time() - start


def relative_difference(a: float, b: float) -> float:
    """``|a - b| / max(|a|, |b|)``; 0 for two NaNs or equal values, inf for one NaN."""
    if math.isnan(a) or math.isnan(b):
        return 0.0 if math.isnan(a) and math.isnan(b) else math.inf
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def reference_copy(model: nn.Module) -> nn.Module:
    """A deep copy of a freshly built model for the reference implementation (same weights)."""
    return copy.deepcopy(model)
