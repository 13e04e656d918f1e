"""Pruning-at-initialisation saliencies summed into architecture scores (Abdelfattah et al., ICLR 2021).

``snip``, ``grad_norm``, ``fisher`` and ``grasp`` follow the NAS adaptation of "Zero-Cost
Proxies for Lightweight NAS" and its reference code (``SamsungLabs/zero-cost-nas``): a
saliency per weight of every ``nn.Conv2d`` and ``nn.Linear`` layer, computed on one batch
of real data with the cross-entropy loss, summed over the whole network. The model is in
training mode (batch norm uses batch statistics). On NAS-Bench-201 the paper used one
random batch of 64 training images (``batch_size=64``, ``dataload=random``); the reference's
splitting of the batch for GPU memory is not needed here (the sums are the same).

Speed (issue 18, measured with ``nas perf``, one thread, batch 64; see ``docs/performance.md``):
SNIP, grad_norm and Fisher run the network in channels-last memory order when the model is
float32 (:func:`fast_layout`): on one CPU core NB201's convolutions, batch norms and poolings,
forward and backward, are about twice as fast there. The price is rounding: oneDNN's
channels-last batch norm accumulates its batch statistics less accurately than the default
layout's, so against a float64 computation these scores are off by a median 4e-4 relative
instead of 1e-5 (at most 1.6e-3 instead of 8e-4 on 10 NB201 networks, batch 64). GraSP, whose
sum of terms of both signs amplifies that, keeps the default layout; it takes ``g`` and the
graph of ``dL/dtheta`` from ONE forward and backward pass instead of the reference's two forward
passes (same batch, weights and training-mode batch norm, so ``g`` is the same gradient).
``tests/test_performance.py`` checks all four against :mod:`nas.perf`'s plain reference code on
50 NB201 networks, to the tolerances stated there.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from nas.proxies import register_proxy
from nas.proxies._util import (
    channels_last,
    checked,
    cross_entropy,
    inputs_for,
    logits_of,
    prunable_layers,
    sum_over_weights,
    targets_for,
)
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult

_NEEDS = frozenset({"data", "labels", "gradients"})


def fast_layout(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Channels-last ``model`` and ``inputs`` (:func:`channels_last`) when the inputs are float32 images.

    Other inputs (float64, token ids, non-image tensors) keep the default layout: float64
    convolutions have no oneDNN kernel and are not faster channels-last.
    """
    if inputs.dim() == 4 and inputs.dtype == torch.float32:
        return channels_last(model, inputs)
    return inputs


def _loss(proxy: str, model: nn.Module, batch: Batch, fast: bool = True) -> torch.Tensor:
    """Cross-entropy of ``model`` (training mode) on the batch, with a graph for gradients.

    ``fast``: in :func:`fast_layout` (else the default layout).
    """
    model.train()
    inputs = inputs_for(model, batch)
    if fast:
        inputs = fast_layout(model, inputs)
    targets = targets_for(proxy, model, batch)
    with torch.enable_grad():
        return cross_entropy(logits_of(model(inputs)), targets)


def _backward(proxy: str, model: nn.Module, batch: Batch) -> str | None:
    """Fill the weights' ``.grad`` with dL/dw; the reason when the loss is not finite."""
    model.zero_grad(set_to_none=True)
    loss = _loss(proxy, model, batch)
    if not torch.isfinite(loss):
        return f"{proxy}: loss is not finite ({float(loss)})"
    if loss.requires_grad:
        loss.backward()
    return None


def _activation_backward(proxy: str, model: nn.Module, batch: Batch) -> str | None:
    """Backpropagate the loss to the activations only (their tensor hooks see dL/da); the reason when it is not finite.

    Fisher reads no weight gradient. With image inputs the parameters are set not to require
    gradients and the input does, so the backward pass runs every layer's input-gradient
    kernel and skips the weight-gradient convolutions (the gradients reaching the activations
    are the same). Token-id inputs cannot require gradients: those models take the full
    backward pass of :func:`_backward`.
    """
    if not batch.inputs.is_floating_point():
        return _backward(proxy, model, batch)
    model.train()
    model.zero_grad(set_to_none=True)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    inputs = fast_layout(model, inputs_for(model, batch).detach().clone()).requires_grad_(True)
    targets = targets_for(proxy, model, batch)
    with torch.enable_grad():
        loss = cross_entropy(logits_of(model(inputs)), targets)
        if not torch.isfinite(loss):
            return f"{proxy}: loss is not finite ({float(loss)})"
        if loss.requires_grad:
            torch.autograd.grad(loss, inputs, allow_unused=True)
    return None


@register_proxy()
class Snip(Proxy):
    """SNIP (Lee et al., ICLR 2019) for NAS: sum over weights of ``|theta * dL/dtheta|``.

    The reference computes the gradient with respect to a multiplicative mask of ones, which
    equals ``theta * dL/dtheta``. Paper batch on NAS-Bench-201: 64.

    Speed (issue 18; ``docs/performance.md``): the forward and backward passes run channels-last
    (:func:`fast_layout`), about 2x faster on one core; the score moves by float32 rounding only,
    though channels-last batch norm rounds more coarsely (see the module docstring).
    """

    name = "snip"
    higher_is_better = True
    version = "2"
    invariance = "live"
    needs = _NEEDS
    summary = "SNIP (Lee 2019; Abdelfattah 2021): sum |w * dL/dw|, cross-entropy on a real batch (paper: 64)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` on the labelled batch."""
        reason = _backward(self.name, model, batch)
        if reason:
            return ProxyResult.nan(reason)
        value = sum_over_weights(
            model, lambda layer: None if layer.weight.grad is None else (layer.weight * layer.weight.grad).abs()
        )
        return checked(value, "snip sum")


@register_proxy()
class GradNorm(Proxy):
    """Gradient norm: sum over ``Conv2d``/``Linear`` layers of the L2 norm of ``dL/dW``.

    As in the reference code, each layer's weight gradient contributes its (unsquared)
    Euclidean norm and the per-layer norms are summed. Paper batch on NAS-Bench-201: 64.

    Speed (issue 18; ``docs/performance.md``): the forward and backward passes run channels-last
    (:func:`fast_layout`), about 2x faster on one core; the score moves by float32 rounding only,
    though channels-last batch norm rounds more coarsely (see the module docstring).
    """

    name = "grad_norm"
    higher_is_better = True
    version = "2"
    invariance = "live"
    needs = _NEEDS
    summary = "grad_norm (Abdelfattah 2021): sum over layers of ||dL/dW||_2, cross-entropy on a real batch (paper: 64)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` on the labelled batch."""
        reason = _backward(self.name, model, batch)
        if reason:
            return ProxyResult.nan(reason)
        value = sum_over_weights(model, lambda layer: None if layer.weight.grad is None else layer.weight.grad.norm())
        return checked(value, "grad_norm sum")


@register_proxy()
class Fisher(Proxy):
    """Fisher (Theis et al. 2018; Turner et al. 2020) for NAS, as in the reference code.

    The activations hooked are the OUTPUTS of every ``nn.Conv2d`` and ``nn.Linear`` layer
    (the reference wraps each such layer's output in an identity with a backward hook). For
    an activation ``a`` with gradient ``g = dL/da``, channel ``k`` gets
    ``0.5 * mean_n (sum_{spatial} a[n,k] * g[n,k])**2`` (for a ``Linear``, the channel is the
    last axis and any axes between batch and features are summed like spatial ones). The
    reference then broadcasts each channel's absolute value to every weight of that output
    channel before summing over weights, so a channel counts ``weight[k].numel()`` times;
    this implementation reproduces that sum. A layer that runs several times accumulates
    one term per call. Paper batch on NAS-Bench-201: 64.

    Speed (issue 18; ``docs/performance.md``): the forward and backward passes run channels-last
    (:func:`fast_layout`), about 2x faster on one core; the score moves by float32 rounding only,
    though channels-last batch norm rounds more coarsely (see the module docstring). The
    backward pass computes activation gradients only, no weight gradients
    (:func:`_activation_backward`).
    """

    name = "fisher"
    higher_is_better = True
    version = "2"
    invariance = "live"
    needs = _NEEDS
    summary = "Fisher (Turner 2020; Abdelfattah 2021): 0.5*mean(sum a*dL/da)^2 per conv/linear channel (paper: 64)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` on the labelled batch."""
        layers = prunable_layers(model)
        fisher: dict[nn.Module, torch.Tensor] = {}

        def forward_hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            if not output.requires_grad:
                return
            activation = output.detach()

            def on_gradient(gradient: torch.Tensor) -> None:
                product = activation * gradient.detach()
                if isinstance(module, nn.Conv2d):
                    per_channel = product.sum(dim=tuple(range(2, product.dim())))
                else:
                    per_channel = product.reshape(product.shape[0], -1, product.shape[-1]).sum(dim=1)
                term = per_channel.pow(2).mean(dim=0).mul(0.5)
                fisher[module] = fisher[module] + term if module in fisher else term

            output.register_hook(on_gradient)

        handles = [layer.register_forward_hook(forward_hook) for layer in layers]
        try:
            reason = _activation_backward(self.name, model, batch)
        finally:
            for handle in handles:
                handle.remove()
        if reason:
            return ProxyResult.nan(reason)
        value = 0.0
        for layer in layers:
            if layer in fisher:
                value += float(fisher[layer].abs().sum()) * math.prod(layer.weight.shape[1:])
        return checked(value, "fisher sum")


@register_proxy()
class Grasp(Proxy):
    """GraSP (Wang et al., ICLR 2020) for NAS: sum over weights of ``-theta * (H g)``.

    ``g = dL/dtheta`` (first pass, detached) and ``H g`` is the Hessian-gradient product from
    a second pass (the gradient of ``g . dL/dtheta`` with respect to ``theta``), over the
    weights of every ``Conv2d`` and ``Linear`` layer, temperature 1, one iteration, as in the
    reference code. Direction: the reference negates GraSP's ``theta * Hg`` ("accuracy seems
    to be negatively correlated with this metric, so we add -ve sign here"), so the score
    ``-theta * Hg`` is higher-is-better. Paper batch on NAS-Bench-201: 64 random images (the
    GraSP paper's class-balanced sampling is the reference's non-default ``dataload=grasp``).

    Speed (issue 18; ``docs/performance.md``): ``g`` and the graph of ``dL/dtheta`` come from ONE
    forward and backward pass (the reference runs the forward pass twice), and batch-norm
    parameters are set not to require gradients, so the Hessian-gradient product differentiates
    the prunable weights only. It stays in the default memory layout (see :func:`fast_layout`).
    """

    name = "grasp"
    higher_is_better = True
    version = "2"
    invariance = "live"
    needs = _NEEDS
    summary = "GraSP (Wang 2020; Abdelfattah 2021): sum -w * (Hg), Hessian-gradient product, real batch (paper: 64)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` on the labelled batch."""
        layers = prunable_layers(model)
        weights = [layer.weight for layer in layers]
        model.zero_grad(set_to_none=True)
        # only the prunable weights' derivatives are read: batch-norm and bias parameters get none
        scored = {id(weight) for weight in weights}
        for parameter in model.parameters():
            if id(parameter) not in scored:
                parameter.requires_grad_(False)
        with torch.enable_grad():
            # default layout: GraSP sums terms of both signs, and channels-last batch norm's coarser
            # rounding moved well-conditioned scores by up to 0.4% (docs/performance.md)
            loss = _loss(self.name, model, batch, fast=False)
            if not torch.isfinite(loss):
                return ProxyResult.nan(f"grasp: loss is not finite ({float(loss)})")
            if not loss.requires_grad:
                return ProxyResult(0.0)
            # one pass gives both g (detached) and the graph of dL/dtheta for the Hessian product
            gradients = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
            used = [(w, g) for w, g in zip(weights, gradients) if g is not None]
            if not used:
                return ProxyResult(0.0)
            product = torch.stack([(g.detach() * g).sum() for _, g in used]).sum()
            if not product.requires_grad:
                return ProxyResult(0.0)
            hessian_gradient = torch.autograd.grad(product, [w for w, _ in used], allow_unused=True)
        value = 0.0
        for (weight, _), hg in zip(used, hessian_gradient):
            if hg is not None:
                value -= float((weight.detach() * hg).sum())
        return checked(value, "grasp sum")
