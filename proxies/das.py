"""DAS: NASWOT decoupled into distinguishing ability and activation units (Liu et al., arXiv:2212.12132).

Liu, Li, Sun and Liu, "DAS: Neural Architecture Search via Distinguishing Activation Score"
(2022), decouple the NASWOT score into two atomic metrics: the network's ability to
distinguish inputs and its number of activation units, and then recombine them.

Only the paper's abstract could be consulted while writing this module, so the definitions
below are this library's reading of that decoupling, not a transcription of the paper's
equations. With ``K`` the NASWOT kernel of a batch of ``N`` examples (``K[i, j]`` = number of
ReLU units on which examples ``i`` and ``j`` agree) and ``N_A`` the number of units, the exact
identity ``log|det K| = N log N_A + log|det(K / N_A)|`` splits NASWOT into

* ``das_da`` (distinguishing ability): ``log|det(K / N_A)|``. ``K / N_A`` has ones on its
  diagonal and the fraction of agreeing units elsewhere, so the score does not grow with
  the network's size; it is at most 0 (Hadamard's inequality) and ``-inf`` when two examples
  have the same code (the result is then NaN with that reason); higher is better;
* ``das_units`` (activation units): ``N_A``, the number of ReLU units per example;
* ``das``: ``das_da + units_weight * N * log(N_A)``. ``units_weight = 1`` (the default)
  recovers NASWOT exactly; the paper's tuned combination rule was not available, so the
  weight is a setting rather than a claim about the paper's rule.
"""

from __future__ import annotations

import math
from typing import Any

import torch.nn as nn

from nas.proxies import register_proxy
from nas.proxies._util import ActivationCodes, activation_codes, log_abs_det
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult


def _distinguishing_ability(codes: ActivationCodes) -> ProxyResult:
    """``log|det(K / N_A)|``, or NaN with the reason."""
    if codes.units == 0:
        return ProxyResult.nan("das: no ReLU module ran, so there are no activation codes")
    value = log_abs_det(codes.kernel / codes.units)
    if not math.isfinite(value):
        return ProxyResult.nan("das: the ReLU codes do not distinguish the examples (normalised kernel singular)")
    return ProxyResult(value)


@register_proxy()
class DasDistinguishingAbility(Proxy):
    """DAS distinguishing ability: ``log|det(K / N_A)|`` of the normalised NASWOT kernel (see module doc)."""

    name = "das_da"
    higher_is_better = True
    batch_size = 128  # the naswot batch, so das_da + N log das_units is naswot
    version = "2"
    needs = frozenset({"data"})
    summary = "DAS distinguishing ability (Liu 2022, as read here): log|det(K/N_A)| of the normalised NASWOT kernel"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` on the batch's inputs (labels unused)."""
        return _distinguishing_ability(activation_codes(model, batch))


@register_proxy()
class DasUnits(Proxy):
    """DAS activation units: ``N_A``, the number of ReLU units per example that run in a forward pass.

    The count depends on the input's shape only, not its content, so no real data is needed.
    """

    name = "das_units"
    higher_is_better = True
    batch_size = 128  # as naswot
    version = "2"
    needs: frozenset[str] = frozenset()
    summary = "DAS activation units (Liu 2022): number of ReLU units per example (N_A of NASWOT)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Count the units of the ReLUs that run on the batch."""
        codes = activation_codes(model, batch)
        if codes.units == 0:
            return ProxyResult.nan("das_units: no ReLU module ran")
        return ProxyResult(float(codes.units))


@register_proxy()
class Das(Proxy):
    """DAS combination: ``das_da + units_weight * N * log(N_A)`` (``units_weight = 1`` equals NASWOT).

    ``N`` is the batch size. See the module docstring for why the weight is a setting.
    """

    name = "das"
    higher_is_better = True
    batch_size = 128  # as naswot
    version = "2"
    needs = frozenset({"data"})
    defaults: dict[str, Any] = {"units_weight": 1.0}
    summary = "DAS (Liu 2022, as read here): distinguishing ability + units_weight * N log N_A (1.0 = NASWOT)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` on the batch's inputs (labels unused)."""
        codes = activation_codes(model, batch)
        ability = _distinguishing_ability(codes)
        if ability.is_nan:
            return ability
        n = codes.kernel.shape[0]
        return ProxyResult(ability.value + self.settings["units_weight"] * n * math.log(codes.units))
