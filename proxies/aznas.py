"""AZ-NAS: expressivity, progressivity and trainability of a network's stages (Lee & Ham, CVPR 2024).

Lee and Ham, "AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search" (CVPR 2024;
code: ``cvlab-yonsei/AZ-NAS``, NAS-Bench-201 part ``NB201/ZeroShotProxy/compute_az_nas_score.py``
and ``NB201/tss_general.ipynb``). AZ-NAS scores an architecture with four proxies taken from one
forward and one backward pass over the outputs of the network's stages (the stem and every cell):

* **expressivity**: the sum over stages of the entropy of the normalised eigenvalue spectrum of
  the channels' covariance of the stage's feature map;
* **progressivity**: the smallest increase of that entropy from one stage to the next;
* **trainability**: the mean over consecutive stages of ``2 - s - 1/s``, ``s`` the spectral norm
  of the (sampled) Jacobian of the stage, which is 0 when ``s = 1`` and negative otherwise;
* **complexity**: the FLOPs of the network.

The four are combined over a *population* of architectures, not per architecture: each proxy's
scores are ranked (1 = worst, N = best) and AZ-NAS is ``sum over proxies of log(rank / N)``, a
soft AND of the proxies (an architecture must rank well on all of them to score well).

**Design in this library.** A proxy scores one architecture (``Proxy.score -> ProxyResult``, a
float or NaN with a reason: it cannot carry several components), and the AZ-NAS aggregate is
defined only over a set of architectures. So this module registers the three per-architecture
components as proxies of their own, ``az_expressivity``, ``az_progressivity`` and
``az_trainability``; the complexity is the existing ``flops`` proxy (multiply-accumulates of
one example, which orders architectures as the benchmark's FLOPs do); and
:func:`aznas_aggregate` is the population-level combination (the analogue of
:func:`nas.comparing.vote`, with ``log(rank / N)`` summed instead of fractional ranks averaged,
and missing scores ranked worst instead of skipped). ``AZNAS_MEMBERS`` names the four proxies.
Each proxy runs its own pass (``az_expressivity`` and ``az_progressivity`` one forward pass
without gradients, ``az_trainability`` one forward pass and the stages' vector-Jacobian
products), so the three cost about four forward passes instead of the authors' one forward and
backward pass; the values are those of the shared pass. (The scoring engine builds a fresh
network for every architecture and proxy, possibly in different processes, so the proxies have
no built network in common whose pass they could share.)

**Speed.** The network and its inputs are put in channels-last memory order before the pass
(:func:`nas.proxies._util.channels_last`): on one CPU core the convolutions, batch norms and
poolings of NAS-Bench-201 then run 2 to 4 times faster. Scores equal those of the default layout
up to float32 rounding (the layout changes the order in which sums are accumulated): measured on
20 random NAS-Bench-201 CIFAR-10 networks at the defaults, differences below 1e-6 relative
(expressivity), 2e-6 absolute (progressivity, a difference of entropies) and 4e-4 relative
(trainability, whose terms ``2 - s - 1/s`` are small differences of numbers near 1). Against the
same networks computed in float64, float32 channels-last scores were off by up to 4e-7, 4e-6 and
2e-4 relative, default-layout ones by up to 2e-9, 2e-7 and 3e-5: float32 rounding either way,
the channels-last convolutions rounding a little more. The definition is unchanged (so is the
version). Measured CPU time per NAS-Bench-201 network at batch 64, one thread (mean of 20):
about 0.33 s for ``az_expressivity`` and for ``az_progressivity``, 0.66 s for
``az_trainability``, half of the default layout's.

Published Spearman correlations on NAS-Bench-201 (all 15,625 architectures): 0.913 on CIFAR-10 by
the authors; 0.892 / 0.880 / 0.859 on CIFAR-10 / CIFAR-100 / ImageNet16-120 as re-run in the
VKDNW paper.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy import stats

from nas.errors import NasError
from nas.metrics import oriented_scores
from nas.initialisation import position_seed
from nas.proxies import register_proxy
from nas.proxies._util import ForwardHooks, all_finite, channels_last, checked, inputs_for
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult

#: the proxies whose scores :func:`aznas_aggregate` combines into AZ-NAS (complexity = ``flops``)
AZNAS_MEMBERS: tuple[str, ...] = ("az_expressivity", "az_progressivity", "az_trainability", "flops")

#: values of the setting ``init``
INITS = ("kaiming", "model")
#: values of the setting ``inputs``
INPUTS = ("batch", "normal")

#: inside the entropy's logarithm, as the authors' ``torch.log(p + 1e-8)``
_LOG_EPS = 1e-8
#: inside the trainability's ``1 / (s + eps)``, as the authors' code
_INV_EPS = 1e-6

_SETTINGS_DOC = """
    Settings (shared by the three AZ-NAS proxies):

    * ``init``: ``"kaiming"`` (default, the authors' ``init_model(model, 'kaiming_norm_fanin')``):
      before scoring, the ``weight`` of every ``nn.Conv2d`` and ``nn.Linear`` is redrawn from
      ``N(0, 2 / fan_in)`` (Kaiming normal, fan-in, ReLU gain), biases are set to 0, and affine
      ``BatchNorm2d``/``GroupNorm`` get weight 1 and bias 0; each module draws from its own
      generator seeded by :func:`nas.initialisation.position_seed` ``(context.seed, name)``, so the
      weights depend only on the seed and the module's position, as with the library's own
      initialisation. ``"model"`` keeps the model's weights (the library's initialisation).
    * ``inputs``: ``"normal"`` (default, the authors' protocol on NAS-Bench-201:
      ``trainloader=None``, random inputs of the search loader's batch size) replaces the batch
      by values drawn from ``N(0, 1)`` of the batch's shape, from a generator seeded by
      ``context.seed``, so only the batch's shape matters; ``"batch"`` scores the batch it is
      given. The default batch size for these proxies is 64, the authors'
      (``weight-sharing.config``: ``batch_size`` 64). Measured on 200 random NAS-Bench-201
      architectures (CIFAR-10): with Gaussian inputs the aggregate reaches Spearman 0.914, with
      real images 0.819 (progressivity alone drops from 0.65 to 0.11).
"""


# ---- the network's stages ----------------------------------------------------------------------


def stage_modules(model: nn.Module) -> list[tuple[str, nn.Module]] | None:
    """The stages whose outputs AZ-NAS scores, with their names; ``None`` if the model has none.

    The authors' NAS-Bench-201 network returns the stem's output and every cell's output (the
    ``ResNetBasicblock`` reductions included: they are cells of ``TinyNetwork.cells``). Here: a
    model with attributes ``stem`` and ``cells`` (an iterable container, as
    :class:`~nas.spaces.nb201.NB201Network`) gives ``[stem, *cells]``; a model with an
    ``nn.Sequential`` ``features`` (as the NAS-Bench-101 network) gives its children.
    """
    stem = getattr(model, "stem", None)
    cells = getattr(model, "cells", None)
    if isinstance(stem, nn.Module) and isinstance(cells, (nn.Sequential, nn.ModuleList)):
        return [("stem", stem), *((f"cells.{i}", cell) for i, cell in enumerate(cells))]
    features = getattr(model, "features", None)
    if isinstance(features, nn.Sequential):
        return [(f"features.{i}", layer) for i, layer in enumerate(features)]
    return None


class _StageOutputs(ForwardHooks):
    """Forward hooks that keep each stage's output tensor (the graph is kept when gradients are on)."""

    def __init__(self, stages: Sequence[tuple[str, nn.Module]]) -> None:
        super().__init__(module for _, module in stages)
        self._index = {id(module): i for i, (_, module) in enumerate(stages)}
        self.outputs: list[list[torch.Tensor]] = [[] for _ in stages]

    def _hook(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        self.outputs[self._index[id(module)]].append(output)


def stage_features(
    model: nn.Module, inputs: torch.Tensor, *, grad: bool
) -> tuple[list[str], list[torch.Tensor]] | ProxyResult:
    """Forward ``inputs`` (training mode) and return the stages' names and output tensors, or NaN with the reason.

    With ``grad`` the outputs keep their autograd graph (for :func:`trainability_scores`).
    Every stage must run exactly once and return a floating tensor of shape
    ``(batch, channels, height, width)``.
    """
    stages = stage_modules(model)
    if not stages:
        return ProxyResult.nan(
            "az-nas: the model has no stages to score (it needs attributes stem and cells, or a Sequential features)"
        )
    model.train()
    with _StageOutputs(stages) as hooks, torch.set_grad_enabled(grad):
        model(inputs)
    names = [name for name, _ in stages]
    features = []
    for name, outputs in zip(names, hooks.outputs):
        if len(outputs) != 1:
            return ProxyResult.nan(f"az-nas: stage {name!r} ran {len(outputs)} times in one forward pass, not once")
        out = outputs[0]
        if not isinstance(out, torch.Tensor) or not out.is_floating_point() or out.dim() != 4:
            return ProxyResult.nan(f"az-nas: stage {name!r} did not return a (batch, channels, height, width) feature map")
        if not all_finite(out):
            return ProxyResult.nan(f"az-nas: the output of stage {name!r} is not finite")
        features.append(out)
    if len(features) < 2:
        return ProxyResult.nan("az-nas: the model has fewer than two stages")
    return names, features


# ---- the components --------------------------------------------------------------------------


def spectral_entropy(feature: torch.Tensor) -> float | None:
    """Entropy of the normalised eigenvalues of a feature map's channel covariance; ``None`` if it is zero.

    ``feature`` is ``(batch, channels, ...)``: every example and position is one observation of
    the channels (``b*h*w`` rows of ``c`` values, as the authors' ``permute(0,2,3,1).view(b*h*w, c)``).
    The covariance is the population one (divided by the number of observations), the eigenvalues
    ``s`` are normalised to ``p = s / sum(s)`` and the entropy is ``sum -p log(p + 1e-8)`` (natural
    log). Computed in float64 with eigenvalues clipped at 0 (a covariance is positive semi-definite;
    the authors' float32 ``eigvalsh`` can return tiny negative values, whose ``log`` is NaN when
    below ``-1e-8``). A zero covariance (a constant feature map) gives ``None`` (the authors'
    ``0/0`` = NaN, which they turn into ``-inf``).
    """
    columns = _channel_columns(feature)
    columns -= columns.mean(dim=1, keepdim=True)
    covariance = columns @ columns.T / columns.shape[1]
    eigenvalues = torch.linalg.eigvalsh(covariance).clamp_min(0.0)
    total = eigenvalues.sum()
    if not bool(total > 0):
        return None
    p = eigenvalues / total
    return float((-p * torch.log(p + _LOG_EPS)).sum())


def _channel_columns(feature: torch.Tensor) -> torch.Tensor:
    """A ``(batch, channels, height, width)`` map as a new float64 ``channels x (b*h*w)`` matrix, row-major.

    One copy (the conversion); products ``A @ B.T`` of such matrices are the float64 matrix
    products over the observations that run fastest on the CPU.
    """
    channels = feature.shape[1]
    columns = feature.detach().transpose(0, 1).to(torch.float64, copy=True, memory_format=torch.contiguous_format)
    return columns.reshape(channels, -1)


def stage_entropies(names: Sequence[str], features: Sequence[torch.Tensor]) -> list[float] | ProxyResult:
    """:func:`spectral_entropy` of every stage's feature map, or NaN naming the first constant one."""
    entropies = []
    for name, feature in zip(names, features):
        value = spectral_entropy(feature)
        if value is None:
            return ProxyResult.nan(
                f"az-nas: the feature map of stage {name!r} is constant (zero covariance, so no spectrum; "
                "the authors' code gives -inf)"
            )
        entropies.append(value)
    return entropies


def expressivity_from_entropies(entropies: Sequence[float]) -> float:
    """AZ-NAS expressivity: the sum of the stages' spectral entropies."""
    return float(sum(entropies))


def progressivity_from_entropies(entropies: Sequence[float]) -> float:
    """AZ-NAS progressivity: the smallest increase of the spectral entropy from one stage to the next."""
    if len(entropies) < 2:
        raise NasError("progressivity needs at least two stages")
    return float(min(b - a for a, b in zip(entropies[:-1], entropies[1:])))


def trainability_term(sigma: float) -> float:
    """``2 - sigma - 1 / (sigma + 1e-6)``: 0 at a spectral norm of 1, below 0 otherwise (the authors' term)."""
    return 2.0 - sigma - 1.0 / (sigma + _INV_EPS)


def jacobian_spectral_norm(g_in: torch.Tensor, g_out: torch.Tensor) -> float:
    """The largest singular value of ``E[g_in g_out^T]`` over examples and positions (float64).

    ``g_out`` is ``(b, co, ho, wo)`` and ``g_in`` its vector-Jacobian product ``(b, ci, hi, wi)``;
    when the resolution differs, ``g_in`` is first pixel-unshuffled by the stride ``hi / ho`` (the
    authors' ``nn.PixelUnshuffle``), giving ``ci * stride**2`` channels at ``ho x wo``. The matrix
    is ``ci' x co``: ``sum over (b, h, w) of g_in[:, h, w] g_out[:, h, w]^T / (b * ho * wo)``.
    """
    if g_in.shape[2:] != g_out.shape[2:]:
        stride = g_in.shape[2] // g_out.shape[2]
        if stride < 1 or g_in.shape[2] != g_out.shape[2] * stride or g_in.shape[3] != g_out.shape[3] * stride:
            raise NasError(f"az-nas: cannot match a {tuple(g_in.shape[2:])} input to a {tuple(g_out.shape[2:])} output")
        g_in = F.pixel_unshuffle(g_in, stride)
    b, co, ho, wo = g_out.shape
    matrix = _channel_columns(g_in) @ _channel_columns(g_out).T / (b * ho * wo)
    return float(torch.linalg.svdvals(matrix).max())


def trainability_scores(
    names: Sequence[str], features: Sequence[torch.Tensor], generator: torch.Generator
) -> list[float] | ProxyResult:
    """The trainability term of every pair of consecutive stages, last pair first; NaN if a stage is the identity.

    For the pair ``(f_in, f_out)``: ``g_out`` is a Rademacher (+1/-1 with probability 1/2) tensor
    of ``f_out``'s shape drawn from ``generator``, ``g_in = g_out^T df_out/df_in`` by autograd
    (a stage whose output does not depend on its input has ``g_in = 0``, so ``s = 0`` and a term
    of about ``-1e6``, as the authors' ``x * 0``), ``s`` is :func:`jacobian_spectral_norm` and the
    term :func:`trainability_term`. A stage that passes the gradient through unchanged
    (``g_in == g_out`` exactly: the stage is the identity map) gets ``-inf`` in the authors' code,
    which makes the mean ``-inf``; here that is NaN naming the stage.
    """
    terms = []
    for index in reversed(range(1, len(features))):
        f_in, f_out = features[index - 1], features[index]
        g_out = torch.randint(0, 2, f_out.shape, generator=generator, dtype=f_out.dtype).mul_(2).sub_(1)
        g_out = g_out.to(f_out.device).contiguous(memory_format=_memory_format(f_out))
        g_in = None
        if f_out.requires_grad and f_in.requires_grad:
            (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=False, allow_unused=True)
        if g_in is None:
            g_in = torch.zeros_like(f_in)
        if g_in.shape == g_out.shape and bool(torch.equal(g_in, g_out)):
            return ProxyResult.nan(
                f"az-nas: stage {names[index]!r} is the identity map (its Jacobian is I; the authors' trainability is -inf)"
            )
        terms.append(trainability_term(jacobian_spectral_norm(g_in.detach(), g_out)))
    return terms


def _memory_format(tensor: torch.Tensor) -> torch.memory_format:
    """``torch.channels_last`` for a 4-D tensor stored channels-last (and not also contiguous), else contiguous."""
    if tensor.dim() == 4 and not tensor.is_contiguous() and tensor.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


# ---- initialisation, inputs, the proxies -------------------------------------------------------


def kaiming_reinitialise(model: nn.Module, seed: int) -> None:
    """The authors' ``kaiming_norm_fanin`` initialisation, each module from its own position seed.

    Conv2d and Linear weights ``~ N(0, 2 / fan_in)`` (``fan_in`` = input channels per group times
    the kernel's size), biases 0; affine BatchNorm2d and GroupNorm weight 1, bias 0.
    """
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                generator = torch.Generator(device="cpu").manual_seed(position_seed(seed, name))
                weight = module.weight
                std = math.sqrt(2.0 / weight[0].numel())
                drawn = torch.empty(weight.shape, dtype=weight.dtype).normal_(0.0, std, generator=generator)
                weight.copy_(drawn)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)) and module.affine:
                module.weight.fill_(1.0)
                module.bias.zero_()


def reinitialised_inputs(proxy: str, settings: Mapping[str, Any], model: nn.Module, batch: Batch, seed: int) -> torch.Tensor:
    """Apply the settings ``init`` and ``inputs`` (AZ-NAS's, shared by VKDNW) and return the inputs to score.

    ``init="kaiming"`` re-initialises ``model`` by :func:`kaiming_reinitialise`; ``inputs="normal"``
    replaces the batch by ``N(0, 1)`` values of its shape from a generator seeded by ``seed``
    (a ``NasError`` naming ``proxy`` for non-floating inputs); ``"batch"`` keeps it.
    """
    if settings["init"] == "kaiming":
        kaiming_reinitialise(model, seed)
    inputs = inputs_for(model, batch)
    if settings["inputs"] == "normal":
        if not inputs.is_floating_point():
            raise NasError(f"proxy {proxy!r}: inputs=normal needs floating inputs, the batch has {inputs.dtype}")
        generator = torch.Generator(device="cpu").manual_seed(seed)
        inputs = torch.randn(inputs.shape, generator=generator, dtype=inputs.dtype).to(inputs.device)
    return inputs


class _AzProxy(Proxy):
    """Shared settings, initialisation and inputs of the three AZ-NAS proxies."""

    higher_is_better = True
    version = "1"
    batch_size = 64  # the AZ-NAS authors' NAS-Bench-201 batch (weight-sharing.config)
    needs = frozenset({"data"})
    defaults: dict[str, Any] = {"init": "kaiming", "inputs": "normal"}

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        if self.settings["init"] not in INITS:
            raise NasError(f"proxy {self.name!r}: setting 'init' must be one of {', '.join(INITS)}, got {self.settings['init']!r}")
        if self.settings["inputs"] not in INPUTS:
            raise NasError(
                f"proxy {self.name!r}: setting 'inputs' must be one of {', '.join(INPUTS)}, got {self.settings['inputs']!r}"
            )

    def _prepared_inputs(self, model: nn.Module, batch: Batch, context: ProxyContext) -> torch.Tensor:
        return channels_last(model, reinitialised_inputs(self.name, self.settings, model, batch, context.seed))

    def _entropies(self, model: nn.Module, batch: Batch, context: ProxyContext) -> list[float] | ProxyResult:
        inputs = self._prepared_inputs(model, batch, context)
        found = stage_features(model, inputs, grad=False)
        if isinstance(found, ProxyResult):
            return found
        return stage_entropies(*found)


@register_proxy()
class AzExpressivity(_AzProxy):
    __doc__ = (
        """AZ-NAS expressivity: sum over the network's stages of the entropy of the channel covariance's spectrum.

    Definition, as the authors' ``compute_az_nas_score.py`` (NAS-Bench-201):

    * one forward pass, training mode (batch norm uses the batch's statistics), no labels;
    * the stages: the stem and every cell, the stride-2 residual blocks included
      (:func:`stage_modules`; 18 feature maps for a NAS-Bench-201 network);
    * per stage, :func:`spectral_entropy`: the ``b*h*w`` observations of the ``c`` channels, their
      population covariance, its eigenvalues normalised to sum 1, ``sum -p log(p + 1e-8)``;
    * the score is the sum over stages. Higher is better (an isotropic feature spectrum: the
      features use all their dimensions).

    NaN with the reason where the authors' code gives NaN and then ``-inf`` (ranked worst): a
    constant stage output (e.g. a cell with no path from input to output makes every later
    feature map constant), a non-finite output; and when the model has no stages.
"""
        + _SETTINGS_DOC
        + """
    Deviations from the authors' code: float64 and eigenvalues clipped at 0 (see
    :func:`spectral_entropy`); a constant feature map is NaN rather than ``-inf``.
    Published: see the module docstring (AZ-NAS as a whole; the components alone are weaker).
    """
    )

    name = "az_expressivity"
    summary = "AZ-NAS (Lee 2024) expressivity: sum over stages of the entropy of the channel-covariance spectrum (paper: 64)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model``'s stages on the batch (one forward pass, no labels)."""
        entropies = self._entropies(model, batch, context)
        if isinstance(entropies, ProxyResult):
            return entropies
        return checked(expressivity_from_entropies(entropies), "az_expressivity")


@register_proxy()
class AzProgressivity(_AzProxy):
    __doc__ = (
        """AZ-NAS progressivity: the smallest increase of the spectral entropy from one stage to the next.

    The same stages and per-stage entropies as ``az_expressivity`` (one forward pass, training
    mode, :func:`spectral_entropy`); the score is ``min over k of (e[k] - e[k-1])`` over
    consecutive stages (the authors' ``np.min(scores[1:] - scores[:-1])``), negative when some
    stage loses expressivity. Higher is better (the features should grow richer at every stage).

    NaN with the reason in the same cases as ``az_expressivity``.
"""
        + _SETTINGS_DOC
    )

    name = "az_progressivity"
    summary = "AZ-NAS (Lee 2024) progressivity: min over consecutive stages of the increase of the spectral entropy (paper: 64)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model``'s stages on the batch (one forward pass, no labels)."""
        entropies = self._entropies(model, batch, context)
        if isinstance(entropies, ProxyResult):
            return entropies
        return checked(progressivity_from_entropies(entropies), "az_progressivity")


@register_proxy()
class AzTrainability(_AzProxy):
    __doc__ = (
        """AZ-NAS trainability: mean over consecutive stages of ``2 - s - 1/s``, ``s`` the stage Jacobian's spectral norm.

    Definition, as the authors' ``compute_az_nas_score.py``:

    * one forward pass with gradients, training mode; the stages as ``az_expressivity``;
    * for each pair of consecutive stages, last pair first: a Rademacher ``g_out`` of the later
      stage's output shape, its vector-Jacobian product ``g_in`` by autograd (no labels, no loss),
      ``g_in`` pixel-unshuffled to the output's resolution at a reduction, and ``s`` the largest
      singular value of the ``c_in' x c_out`` matrix ``mean over (b, h, w) of g_in g_out^T``
      (:func:`jacobian_spectral_norm`), an estimate of the stage Jacobian's spectral norm;
    * the pair's term is ``2 - s - 1/(s + 1e-6)`` (:func:`trainability_term`): 0 when ``s = 1``
      (the gradient's scale is preserved), negative otherwise; the score is the mean over pairs.
      Higher is better.

    The Rademacher vectors come from a generator seeded by ``context.seed``, so the score is
    deterministic. NaN with the reason when a stage is the identity map (``g_in == g_out``; the
    authors' ``-inf``), when a stage output is not finite, or when the model has no stages.
"""
        + _SETTINGS_DOC
        + """
    Deviation from the authors' code: the matrix and its singular values in float64.
    """
    )

    name = "az_trainability"
    needs = frozenset({"data", "gradients"})
    summary = "AZ-NAS (Lee 2024) trainability: mean over stages of 2 - s - 1/s, s the stage Jacobian's spectral norm (paper: 64)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model``'s stages on the batch (one forward pass, one vector-Jacobian product per stage)."""
        inputs = self._prepared_inputs(model, batch, context)
        found = stage_features(model, inputs, grad=True)
        if isinstance(found, ProxyResult):
            return found
        generator = torch.Generator(device="cpu").manual_seed(context.seed)
        terms = trainability_scores(*found, generator)
        if isinstance(terms, ProxyResult):
            return terms
        return checked(float(np.mean(terms)), "az_trainability")


# ---- the population-level aggregate ------------------------------------------------------------


def aznas_aggregate(scores: Mapping[str, Sequence[float] | np.ndarray], directions: Mapping[str, bool] | None = None) -> np.ndarray:
    """AZ-NAS over a set of architectures: ``sum over proxies of log(rank / N)``; higher is better.

    ``scores`` maps each proxy to its scores of the same N architectures (e.g. the four of
    :data:`AZNAS_MEMBERS`); ``directions`` gives each proxy's ``higher_is_better`` (default: all
    True, as the four AZ-NAS proxies). Each proxy's scores are oriented so that higher is better and
    ranked with ``scipy.stats.rankdata`` (average ranks for ties; 1 = worst, N = best); the
    aggregate is the sum of ``log(rank / N)``, so it is at most 0 (best on every proxy) and an
    architecture must rank well on all proxies to score well. As in the authors' code (which turns
    NaN components into ``-inf``), a missing (non-finite) score ranks below every finite one,
    missing scores tying with each other. This differs from :func:`nas.comparing.vote`, which
    averages fractional ranks and skips missing scores. The result is finite wherever N > 0.
    """
    directions = dict(directions) if directions is not None else {name: True for name in scores}
    oriented_arrays = oriented_scores(scores, directions, "the AZ-NAS aggregate")
    n = len(next(iter(oriented_arrays.values())))
    total = np.zeros(n)
    if n == 0:
        return total
    for oriented in oriented_arrays.values():
        oriented = np.where(np.isfinite(oriented), oriented, -np.inf)
        total += np.log(stats.rankdata(oriented) / n)
    return total
