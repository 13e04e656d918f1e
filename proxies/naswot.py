"""NASWOT: "Neural Architecture Search without Training" (Mellor et al., ICML 2021)."""

from __future__ import annotations

import math

import torch.nn as nn

from nas.proxies import register_proxy
from nas.proxies._util import activation_codes, log_abs_det
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult


@register_proxy()
class Naswot(Proxy):
    """``log|det K|`` of the Hamming kernel of the examples' binary ReLU codes.

    The ICML version of the paper (``hook_logdet`` in ``BayesWatch/nas-without-training``):
    each example's code has one bit per unit of every ReLU-type module (1 where the unit is
    active); ``K[i, j] = N_A - Hamming(c_i, c_j)`` with ``N_A`` the number of units, and the
    score is ``log|det K|`` by ``slogdet``. The model runs once in training mode, as the
    reference scores freshly built networks. The paper used a batch of 128 images.

    The reference counts only ReLUs that a backward pass reaches; on the cell networks of
    NAS-Bench-201 that is every ReLU that runs (the reference's ``none`` op keeps its input on
    the graph), so this implementation counts every ReLU that runs and skips the backward.

    When the codes do not distinguish the examples (e.g. all codes equal, as for a network
    whose every cell edge is ``none``), ``K`` is singular, ``log|det K| = -inf``, and the result
    is NaN with that reason.
    """

    name = "naswot"
    higher_is_better = True
    batch_size = 128  # Mellor et al. 2021, N = 128
    version = "2"
    needs = frozenset({"data"})
    summary = "NASWOT (Mellor 2021): log|det| of the Hamming kernel of binary ReLU codes (paper batch: 128)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` on the batch's inputs (labels unused)."""
        codes = activation_codes(model, batch)
        if codes.units == 0:
            return ProxyResult.nan("naswot: no ReLU module ran, so there are no activation codes")
        value = log_abs_det(codes.kernel)
        if not math.isfinite(value):
            return ProxyResult.nan(
                "naswot: the ReLU codes do not distinguish the examples (kernel singular, log|det K| = -inf)"
            )
        return ProxyResult(value)
