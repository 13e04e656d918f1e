"""ZiCo: inverse coefficient of variation of the gradients (Li et al., ICLR 2023).

Li, Yang, Bhardwaj and Marculescu, "ZiCo: Zero-shot NAS via Inverse Coefficient of Variation
on Gradients" (ICLR 2023; code: ``SLDGroup/ZiCo``, ``ZeroShotProxy/compute_zico.py``). Per
layer, the gradients of the loss with respect to the layer's weights are taken on several
batches; each weight's mean absolute gradient is divided by its gradient's standard deviation
across the batches, the ratios are summed over the layer's weights, and the logarithms of the
layers' sums are summed. The paper reports a Spearman correlation of 0.80 on NAS-Bench-201
(NATS-Bench TSS) CIFAR-10.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn

from nas.errors import NasError
from nas.proxies import register_proxy
from nas.proxies._util import channels_last, checked, cross_entropy, inputs_for, logits_of, prunable_layers, targets_for
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult


def zico_from_gradients(per_layer: list[torch.Tensor]) -> tuple[float, int]:
    """ZiCo from each layer's gradients stacked as ``(batches, weights)``; also the number of layers counted.

    For each weight: ``mean_b |g_b| / std_b(g_b)`` with the population standard deviation
    (``ddof=0``) of the signed gradients; weights whose standard deviation is 0 are left out;
    a layer adds the natural log of the sum of its ratios, and a layer whose sum is 0 (no weight
    left, or only zero means) adds nothing. Computed in float64.

    The standard deviation is the two-pass ``sqrt(mean_b (g_b - mean)**2)`` (elementwise along the
    weights, much faster than ``Tensor.std`` over the short batch axis); a weight counts as having
    standard deviation 0 exactly when its gradients are equal in every batch (the two-pass formula
    can leave a rounding residue there) or are not finite.
    """
    total = 0.0
    counted = 0
    for gradients in per_layer:
        gradients = gradients.to(torch.float64)
        std = (gradients - gradients.mean(dim=0)).square_().mean(dim=0).sqrt_()
        keep = (std > 0) & (gradients != gradients[:1]).any(dim=0)
        if not bool(keep.any()):
            continue
        ratios = gradients.abs().mean(dim=0).div_(std)
        layer_sum = float(ratios.masked_fill_(~keep, 0.0).sum())
        if layer_sum == 0.0:
            continue
        total += math.log(layer_sum)
        counted += 1
    return total, counted


@register_proxy()
class Zico(Proxy):
    """ZiCo: ``sum_l log( sum_{w in layer l} mean_b|dL/dw| / std_b(dL/dw) )`` over ``splits`` batches.

    Definition, as in the authors' ``compute_zico.py`` (``getgrad`` and ``caculate_zico``):

    * which parameters: the ``weight`` of every ``nn.Conv2d`` and ``nn.Linear`` module (biases
      and normalisation parameters are not used); a layer is one such module;
    * which batches: the proxy gets ONE batch and splits it into ``splits`` contiguous parts of
      equal size (``torch.tensor_split``: sizes differ by at most one when the batch size is
      not a multiple); each part is one of the paper's batches. Default 2, as the authors'
      search (``--maxbatch 2``, two loader batches) and the ``split_data=2`` of the ZiCo port in
      the MeCo authors' ``zero-cost-nas`` code. The authors' ImageNet search used batches of 128
      (``--batch_size 128``), so the default batch size for this proxy is 256 = 2 x 128;
    * per part: the model in training mode (batch norm uses the part's statistics), the mean
      cross-entropy of the part, gradients from zero (``zero_grad`` before every part, as in the
      authors' current code; the first public version and the MeCo port accumulate the
      gradients over the parts instead, which is not the paper's per-batch statistic);
    * per weight: the mean over the parts of the ABSOLUTE gradient and the standard deviation
      over the parts of the SIGNED gradient, population form (``numpy.std``, ``ddof=0``), as the
      code computes (only the paper's abstract could be consulted while writing this module, so
      wherever the paper's formula and the code might differ in such details, the code is
      followed);
    * weights whose standard deviation is exactly 0 are left out (the code's ``np.nonzero``),
      with no epsilon; a layer adds ``ln`` (natural log, ``np.log``) of the sum of its ratios,
      and a layer whose sum is 0 (e.g. every weight's gradient is the same in all parts, or the
      layer gets no gradient) adds nothing (the code's ``if tmpsum == 0: pass``);
    * the score is the sum over layers. Higher is better.

    NaN with the reason: when the batch has fewer examples than ``splits``, when a part's loss
    is not finite, or when no layer adds a term (e.g. a network whose output does not depend on
    its input, so no weight's gradient varies between the parts; the authors' code returns 0
    there).

    Speed: the network and the batch are put in channels-last memory order
    (:func:`nas.proxies._util.channels_last`; convolutions and their gradients run about twice as
    fast on one CPU core), and the ratios are computed elementwise along the weights. The
    definition is unchanged (so is the version), but a ratio ``mean|g| / std(g)`` is large and
    sensitive to rounding where the parts' gradients nearly agree, so float32 scores are only
    good to about 1e-2: on 10 NAS-Bench-201 CIFAR-10 networks at batch 256, channels-last float32
    scores were up to 3e-2 (mean 9e-3) away from the same network computed in float64, default
    layout ones up to 1.5e-2 (mean 6e-3), and the two up to 3e-2 from each other; in float64 the
    two layouts agree to 1e-9. Measured CPU time per NAS-Bench-201 network at batch 256, one
    thread: about 2 s, half of the default layout's; nearly all of it is the forward and backward
    passes of the 256 examples.
    """

    name = "zico"
    higher_is_better = True
    batch_size = 256  # two batches of 128, the ZiCo authors' search batches
    version = "1"
    needs = frozenset({"data", "labels", "gradients"})
    defaults: dict[str, Any] = {"splits": 2}
    summary = "ZiCo (Li 2023): sum over layers of log sum mean|dL/dw|/std(dL/dw) over batch parts (paper: 2 x 128)"

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        if self.settings["splits"] < 2:
            raise NasError(f"proxy 'zico': setting 'splits' must be at least 2, got {self.settings['splits']}")

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` on the labelled batch, split into ``splits`` parts."""
        splits = self.settings["splits"]
        if len(batch) < splits:
            return ProxyResult.nan(f"zico: a batch of {len(batch)} cannot be split into {splits} parts")
        model.train()
        layers = prunable_layers(model)
        inputs = channels_last(model, inputs_for(model, batch))
        targets = targets_for(self.name, model, batch)
        # row p of a layer's matrix: its weight gradient on part p; a part that leaves a layer off
        # its graph gave it gradient 0, and a layer no part reached is left out
        gradients = [torch.zeros(splits, layer.weight.numel(), dtype=layer.weight.dtype, device=layer.weight.device) for layer in layers]
        reached = [False] * len(layers)
        parts = zip(torch.tensor_split(inputs, splits), torch.tensor_split(targets, splits))
        for part, (part_inputs, part_targets) in enumerate(parts):
            model.zero_grad(set_to_none=True)
            with torch.enable_grad():
                loss = cross_entropy(logits_of(model(part_inputs)), part_targets)
                if not torch.isfinite(loss):
                    return ProxyResult.nan(f"zico: loss is not finite ({float(loss.detach())})")
                if loss.requires_grad:
                    loss.backward()
            for index, layer in enumerate(layers):
                if layer.weight.grad is not None:
                    gradients[index][part] = layer.weight.grad.detach().reshape(-1)
                    reached[index] = True
        model.zero_grad(set_to_none=True)
        value, counted = zico_from_gradients([matrix for matrix, used in zip(gradients, reached) if used])
        if counted == 0:
            return ProxyResult.nan("zico: no layer's weight gradients vary between the batch parts (std 0 everywhere)")
        return checked(value, "zico sum")
