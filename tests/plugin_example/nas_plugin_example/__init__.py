"""An example third-party proxy: the L1 norm of a network's initial weights.

Installed, this package makes ``weight_l1`` available to ``nas`` through the entry point
``[project.entry-points."nas.proxies"] weight_l1 = "nas_plugin_example:WeightL1"``; no code in
``nas`` names it.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult


class WeightL1(Proxy):
    """Sum of the absolute values of every trainable parameter of the untrained network."""

    name = "weight_l1"
    higher_is_better = True
    summary = "L1 norm of the initial weights (example plugin)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        with torch.no_grad():
            total = sum(float(p.abs().sum(dtype=torch.float64)) for p in model.parameters() if p.requires_grad)
        return ProxyResult(total)
