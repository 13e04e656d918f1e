"""SynFlow (Tanaka et al., NeurIPS 2020), as adapted to NAS by Abdelfattah et al. (ICLR 2021)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from nas.errors import NasError
from nas.proxies import register_proxy
from nas.proxies._util import checked, logits_of, model_device, remove_batchnorm, sum_over_weights
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@register_proxy()
class Synflow(Proxy):
    """Synaptic flow: sum over weights of ``|theta * dR/dtheta|`` of the linearised network.

    Following the reference code of Abdelfattah et al. (``synflow`` in ``SamsungLabs/
    zero-cost-nas``): batch-norm layers are removed (replaced by identities, the reference's
    ``bn=False``), every parameter is replaced by its absolute value, the network is converted
    to ``precision`` and fed ONE input of all ones shaped like an example of the batch;
    ``R`` is the sum of the outputs. Saliencies are summed over the weights of every
    ``Conv2d`` and ``Linear`` layer. No data is read: only the batch's example shape is used.

    Precision defaults to float64 as in the reference: NAS-Bench-201 scores reach ~1e49, which
    overflows float32 (the result is then NaN with the reason). A network whose output does
    not depend on its weights' paths (e.g. every cell edge ``none``) scores exactly 0.

    Speed (issue 18; ``docs/performance.md``): unchanged, about 35 ms per NB201 network on one
    core, most of it float64 convolutions, which have no oneDNN kernel. Two changes were measured
    and dropped: channels-last (no faster in float64), and reading each layer's saliency from its
    output and the output's gradient (``sum w * dR/dw = sum y * dR/dy`` for a bias-free linear
    layer; exact here since every term is non-negative), which skips the weight-gradient
    convolutions but whose hooks and sign checks cost as much as it saved (36.8 vs 36.1 ms).
    """

    name = "synflow"
    higher_is_better = True
    version = "2"
    invariance = "live"
    needs = frozenset({"gradients"})
    defaults: dict[str, Any] = {"precision": "float64"}
    summary = "SynFlow (Tanaka 2020; Abdelfattah 2021): sum |w * dR/dw| of the |w| network on all-ones input, float64"

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        if self.settings["precision"] not in _DTYPES:
            raise NasError(f"proxy 'synflow': precision must be float32 or float64, got {self.settings['precision']!r}")

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` (modified in place: no batch norm, absolute weights, new dtype)."""
        dtype = _DTYPES[self.settings["precision"]]
        remove_batchnorm(model)
        model.train()
        model.to(dtype)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.abs_()
        model.zero_grad(set_to_none=True)
        # token-id inputs (text models) stay integer: the "all ones" input is then token 1
        input_dtype = dtype if batch.inputs.is_floating_point() else batch.inputs.dtype
        ones = torch.ones((1, *batch.inputs.shape[1:]), dtype=input_dtype, device=model_device(model))
        with torch.enable_grad():
            output = logits_of(model(ones))
            total = output.sum()
            if not torch.isfinite(total):
                return ProxyResult.nan(f"synflow: network output is not finite in {self.settings['precision']}")
            if total.requires_grad:
                total.backward()
        value = sum_over_weights(
            model, lambda layer: None if layer.weight.grad is None else (layer.weight * layer.weight.grad).abs()
        )
        return checked(value, f"synflow sum in {self.settings['precision']}")
