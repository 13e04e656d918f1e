"""Jacobian covariance: the first NASWOT score (Mellor et al., arXiv:2006.04647v1, 2020)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from nas.proxies import register_proxy
from nas.proxies._util import checked, inputs_for, logits_of
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult
from nas.proxies.pruning import fast_layout

#: the small constant of the score, as in the paper and ``eval_score`` of the reference code
_K = 1e-5


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
    scores are those of the plain implementation up to float rounding.
    """

    name = "jacob_cov"
    higher_is_better = True
    version = "2"
    invariance = "live"
    needs = frozenset({"data", "gradients"})
    summary = "jacob_cov (Mellor 2020 v1; Abdelfattah 2021): score of the input-Jacobian correlation (batch 64/128)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` on the batch's inputs (labels unused)."""
        if not batch.inputs.is_floating_point():
            return ProxyResult.nan("jacob_cov: inputs are not floating point (token ids have no input Jacobian)")
        model.train()
        model.zero_grad(set_to_none=True)
        # only the input's gradient is read: no weight gradients are computed
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        inputs = fast_layout(model, inputs_for(model, batch).detach().clone()).requires_grad_(True)
        with torch.enable_grad():
            output = logits_of(model(inputs))
            if not output.requires_grad:
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
        shifted = eigenvalues + _K
        if np.any(shifted <= 0):
            return ProxyResult.nan("jacob_cov: correlation matrix has an eigenvalue below -k (numerical error)")
        return checked(float(-np.sum(np.log(shifted) + 1.0 / shifted)), "jacob_cov score")
