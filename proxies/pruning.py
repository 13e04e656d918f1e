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
from typing import Sequence

import numpy as np
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
from nas.errors import NasError
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult, SharedPass

_NEEDS = frozenset({"data", "labels", "gradients"})


def fast_layout(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Channels-last ``model`` and ``inputs`` (:func:`channels_last`) when the inputs are float32 images.

    Other inputs (float64, token ids, non-image tensors) keep the default layout: float64
    convolutions have no oneDNN kernel and are not faster channels-last.
    """
    if inputs.dim() == 4 and inputs.dtype == torch.float32:
        return channels_last(model, inputs)
    return inputs


def _loss(proxy: str, model: nn.Module, batch: Batch) -> torch.Tensor:
    """Cross-entropy of ``model`` (training mode, default memory layout) on the batch, with a graph for gradients."""
    model.train()
    inputs = inputs_for(model, batch)
    targets = targets_for(proxy, model, batch)
    with torch.enable_grad():
        return cross_entropy(logits_of(model(inputs)), targets)


class _FisherTerms:
    """Fisher's per-channel terms, collected from the gradients that reach each layer's output.

    While registered (a context manager), a forward hook on every ``nn.Conv2d`` and ``nn.Linear``
    layer attaches a gradient hook to the layer's output; the next backward pass through those
    outputs adds each call's term to :attr:`terms`. :meth:`stop` detaches the gradient hooks, so a
    later backward pass (jacob_cov's) adds nothing.
    """

    def __init__(self, layers: Sequence[nn.Module]) -> None:
        self.layers = list(layers)
        self.terms: dict[nn.Module, torch.Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._gradient_handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> "_FisherTerms":
        self._handles = [layer.register_forward_hook(self._forward_hook) for layer in self.layers]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self.stop()

    def stop(self) -> None:
        """Remove the gradient hooks: later backward passes add no term."""
        for handle in self._gradient_handles:
            handle.remove()
        self._gradient_handles = []

    def _forward_hook(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
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
            self.terms[module] = self.terms[module] + term if module in self.terms else term

        self._gradient_handles.append(output.register_hook(on_gradient))

    def value(self) -> float:
        """The Fisher sum: each channel's absolute term counted once per weight of that output channel."""
        total = 0.0
        for layer in self.layers:
            if layer in self.terms:
                total += float(self.terms[layer].abs().sum()) * math.prod(layer.weight.shape[1:])
        return total


class LossGradientPass(SharedPass):
    """SNIP, grad_norm, Fisher and jacob_cov from one forward pass of the model on its batch.

    The network runs once in training mode on the batch (float32 images channels-last,
    :func:`fast_layout`); the cross-entropy loss is backpropagated once, filling the weights'
    gradients (read by SNIP and grad_norm) and passing each ``Conv2d``/``Linear`` output's
    gradient to Fisher's hooks; then, on the same graph, the sum of the outputs is differentiated
    with respect to the input for jacob_cov. What a proxy reads does not depend on which others
    were asked: when neither SNIP nor grad_norm is, the parameters are set not to require
    gradients, so the backward passes compute activation and input gradients only (no weight
    gradient); the input requires a gradient only when jacob_cov is asked or Fisher is asked
    without weight gradients. ``tests/test_shared_pass.py`` checks that every combination gives
    each proxy its own score bit for bit (the kernels that compute a gradient do not change when
    another gradient is also asked). Asked together, the four cost about one third of their four
    separate runs on NAS-Bench-201 (``docs/performance.md``).
    """

    name = "loss_gradient"
    #: the proxies this pass scores
    members = ("snip", "grad_norm", "fisher", "jacob_cov")

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext, proxies: Sequence[Proxy]) -> list[ProxyResult]:
        """The result of each of ``proxies`` (snip, grad_norm, fisher, jacob_cov) on ``model`` and the batch."""
        names = [proxy.name for proxy in proxies]
        unknown = sorted(set(names) - set(self.members))
        if unknown:
            raise NasError(f"the {self.name} pass scores {', '.join(self.members)}, not {unknown[0]!r}")
        wants_weights = "snip" in names or "grad_norm" in names
        wants_fisher = "fisher" in names
        wants_jacobian = "jacob_cov" in names
        floating = batch.inputs.is_floating_point()
        found: dict[str, ProxyResult] = {}
        if wants_jacobian and not floating:
            found["jacob_cov"] = ProxyResult.nan("jacob_cov: inputs are not floating point (token ids have no input Jacobian)")
            wants_jacobian = False
        model.train()
        model.zero_grad(set_to_none=True)
        if floating and not wants_weights:  # Fisher and jacob_cov read no weight gradient
            for parameter in model.parameters():
                parameter.requires_grad_(False)
        # the input needs a gradient for jacob_cov, and for Fisher's activations when no weight has one
        input_gradient = floating and (wants_jacobian or not wants_weights)
        inputs = inputs_for(model, batch)
        if input_gradient:
            inputs = inputs.detach().clone()  # the batch's own tensor is left alone
        inputs = fast_layout(model, inputs)
        if input_gradient:
            inputs.requires_grad_(True)
        loss_proxies = [name for name in names if name != "jacob_cov"]
        fisher = _FisherTerms(prunable_layers(model) if wants_fisher else [])
        with fisher, torch.enable_grad():
            output = logits_of(model(inputs))
            if loss_proxies:
                failure = self._backward(loss_proxies[0], model, batch, output, inputs, wants_weights or not floating, wants_jacobian)
                fisher.stop()
                for name in loss_proxies:
                    if failure:
                        found[name] = ProxyResult.nan(f"{name}: {failure}")
                    elif name == "fisher":
                        found[name] = checked(fisher.value(), "fisher sum")
                    elif name == "snip":
                        found[name] = checked(_snip_sum(model), "snip sum")
                    else:
                        found[name] = checked(_grad_norm_sum(model), "grad_norm sum")
            if wants_jacobian:
                found["jacob_cov"] = jacobian_score(output, inputs)
        return [found[name] for name in names]

    @staticmethod
    def _backward(
        proxy: str, model: nn.Module, batch: Batch, output: torch.Tensor, inputs: torch.Tensor,
        weights: bool, keep_graph: bool,
    ) -> str | None:
        """Backpropagate the cross-entropy (to the weights, else to the input only); what failed, if it did."""
        targets = targets_for(proxy, model, batch)
        loss = cross_entropy(output, targets)
        if not torch.isfinite(loss):
            return f"loss is not finite ({float(loss)})"
        if loss.requires_grad:
            if weights:
                loss.backward(retain_graph=keep_graph)
            else:
                torch.autograd.grad(loss, inputs, retain_graph=keep_graph, allow_unused=True)
        return None


def _snip_sum(model: nn.Module) -> float:
    """Sum over the prunable weights of ``|w * dL/dw|`` (from the weights' ``.grad``)."""
    return sum_over_weights(model, lambda layer: None if layer.weight.grad is None else (layer.weight * layer.weight.grad).abs())


def _grad_norm_sum(model: nn.Module) -> float:
    """Sum over the prunable layers of ``||dL/dW||_2`` (from the weights' ``.grad``)."""
    return sum_over_weights(model, lambda layer: None if layer.weight.grad is None else layer.weight.grad.norm())


#: the small constant of jacob_cov's score, as in the paper and ``eval_score`` of the reference code
JACOB_COV_K = 1e-5


def jacobian_score(output: torch.Tensor, inputs: torch.Tensor) -> ProxyResult:
    """jacob_cov's score of the input Jacobian of ``output.sum()`` (see :class:`nas.proxies.jacob_cov.JacobCov`)."""
    if not output.requires_grad or not inputs.requires_grad:
        return ProxyResult.nan("jacob_cov: the output does not depend on the input")
    (jacobian,) = torch.autograd.grad(output.sum(), inputs, allow_unused=True)
    if jacobian is None:
        return ProxyResult.nan("jacob_cov: the output does not depend on the input")
    rows = jacobian.reshape(jacobian.shape[0], -1).detach().cpu().to(torch.float64).numpy()
    if not np.isfinite(rows.sum()) and not np.all(np.isfinite(rows)):
        return ProxyResult.nan("jacob_cov: the input Jacobian is not finite")
    if np.any(rows.std(axis=1) == 0):
        return ProxyResult.nan("jacob_cov: an example's input Jacobian is constant (correlation undefined)")
    eigenvalues = np.linalg.eigvalsh(np.corrcoef(rows))
    shifted = eigenvalues + JACOB_COV_K
    if np.any(shifted <= 0):
        return ProxyResult.nan("jacob_cov: correlation matrix has an eigenvalue below -k (numerical error)")
    return checked(float(-np.sum(np.log(shifted) + 1.0 / shifted)), "jacob_cov score")


#: the pass SNIP, grad_norm, Fisher and jacob_cov share
LOSS_GRADIENT = LossGradientPass()


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
    shared_pass = LOSS_GRADIENT
    summary = "SNIP (Lee 2019; Abdelfattah 2021): sum |w * dL/dw|, cross-entropy on a real batch (paper: 64)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` on the labelled batch."""
        return LOSS_GRADIENT.score(model, batch, context, [self])[0]


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
    shared_pass = LOSS_GRADIENT
    summary = "grad_norm (Abdelfattah 2021): sum over layers of ||dL/dW||_2, cross-entropy on a real batch (paper: 64)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` on the labelled batch."""
        return LOSS_GRADIENT.score(model, batch, context, [self])[0]


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
    backward pass computes activation gradients only, no weight gradients (unless SNIP or
    grad_norm are scored in the same :class:`LossGradientPass`).
    """

    name = "fisher"
    higher_is_better = True
    version = "2"
    invariance = "live"
    needs = _NEEDS
    shared_pass = LOSS_GRADIENT
    summary = "Fisher (Turner 2020; Abdelfattah 2021): 0.5*mean(sum a*dL/da)^2 per conv/linear channel (paper: 64)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` on the labelled batch."""
        return LOSS_GRADIENT.score(model, batch, context, [self])[0]


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
            loss = _loss(self.name, model, batch)
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
