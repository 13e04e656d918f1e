"""Jacobian covariance: the first NASWOT score (Mellor et al., arXiv:2006.04647v1, 2020)."""

from __future__ import annotations

import torch.nn as nn

from nas.proxies import register_proxy
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult
from nas.proxies.pruning import LOSS_GRADIENT


@register_proxy()
class JacobCov(Proxy):
    """``-sum_i (log(v_i + k) + 1/(v_i + k))`` over the eigenvalues ``v`` of the Jacobians' correlation.

    As ``jacob_cov`` in ``SamsungLabs/zero-cost-nas`` (which follows Mellor et al. v1): the
    model runs in training mode on the batch, the gradient of the SUM of its outputs with
    respect to each input gives one flattened Jacobian row per example, the rows' correlation
    matrix (``numpy.corrcoef``) has eigenvalues ``v``, ``k = 1e-5``. Higher is better (the score
    is largest when the Jacobians are uncorrelated). Mellor et al. used batch 128; Abdelfattah
    et al. 64 on NAS-Bench-201. NaN (with the reason) when a Jacobian row is constant (e.g. a
    network whose output does not depend on its input), or when inputs are token ids.

    Speed (issue 18; ``docs/performance.md``): the parameters are set not to require gradients
    (the model is modified in place), so the backward pass computes the input's gradient only
    and skips every weight gradient, and float32 images run channels-last
    (:func:`nas.proxies.pruning.fast_layout`). Together about 2.5x faster on one core; the
    scores are those of the plain implementation up to float rounding. The pass is
    :data:`nas.proxies.pruning.LOSS_GRADIENT`, which also scores SNIP, grad_norm and Fisher on the
    same forward pass when they are asked together.
    """

    name = "jacob_cov"
    higher_is_better = True
    version = "2"
    invariance = "live"
    needs = frozenset({"data", "gradients"})
    shared_pass = LOSS_GRADIENT
    summary = "jacob_cov (Mellor 2020 v1; Abdelfattah 2021): score of the input-Jacobian correlation (batch 64/128)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` on the batch's inputs (labels unused)."""
        return LOSS_GRADIENT.score(model, batch, context, [self])[0]
