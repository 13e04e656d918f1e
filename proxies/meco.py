"""MeCo: minimum eigenvalue of the feature maps' correlation (Jiang et al., NeurIPS 2023).

Jiang, Wang and Bie, "MeCo: Zero-Shot NAS with One Data and Single Forward Pass via Minimum
Eigenvalue of Correlation" (NeurIPS 2023; code: ``HamsterMimi/MeCo``). The score of a network
is the sum, over its layers, of the smallest eigenvalue of the Pearson correlation matrix of
that layer's feature map on ONE example, computed from a single forward pass (no labels, no
gradients). The paper reports a Spearman correlation of about 0.89 on NAS-Bench-201 (NATS-Bench
TSS) CIFAR-10.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
import torch.nn as nn

from nas.errors import NasError
from nas.proxies import register_proxy
from nas.proxies._util import ForwardHooks, all_finite, checked, inputs_for
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult

#: how feature maps are collected (see :class:`Meco`)
LAYER_MODES = ("modules", "distinct")


def min_correlation_eigenvalue(feature: torch.Tensor) -> tuple[float, bool]:
    """The smallest eigenvalue of the channels' Pearson correlation matrix of one example's feature map.

    ``feature`` has the channels on its first axis; every other axis is flattened into the
    observations, so the matrix is ``channels x channels``. As in the authors' code (which sets
    the NaN entries of ``torch.corrcoef`` to 0), a constant channel has an all-zero row and
    column, so the matrix then has eigenvalue 0; with a single observation every channel is
    constant. Computed in float64 with a symmetric eigensolver (the authors' ``torch.linalg.eig``
    on float32 gives the same value up to rounding). Returns the eigenvalue and whether every
    channel was constant.

    The matrix is positive semi-definite, so its smallest eigenvalue is exactly 0 whenever it is
    singular, and that is known without an eigensolver (which would return 0 up to a rounding
    residue of about 1e-16): when a channel is constant, and when there are no more observations
    than channels (the centred channels then span at most ``observations - 1`` dimensions; e.g.
    the 64 channels of an 8x8 map of NAS-Bench-201's last stage).
    """
    rows = feature.detach().reshape(feature.shape[0], -1).to(torch.float64)
    centred = rows - rows.mean(dim=1, keepdim=True)
    norms = torch.linalg.vector_norm(centred, dim=1)
    varying = norms > 0
    if not bool(varying.any()):
        return 0.0, True
    if rows.shape[1] <= rows.shape[0] or not bool(varying.all()):
        return 0.0, False
    units = centred / norms[:, None]
    correlation = (units @ units.T).clamp(-1.0, 1.0)
    eigenvalues = torch.linalg.eigvalsh(correlation)
    return float(eigenvalues.min()), False


class _FeatureMaps(ForwardHooks):
    """Forward hooks that turn each hooked module's output into its MeCo term as the forward pass runs.

    The term is computed inside the hook, so later in-place operations (e.g. an in-place ReLU
    on a batch norm's output) do not change it. An output tensor already seen (the same tensor
    object at the same in-place version: the output of a container that returns its last child's
    output, or of an identity) is skipped by ``mode="distinct"``; ``mode="modules"`` counts it
    again with the term computed the first time (the same computation on the same values). Seen
    tensors are remembered by weak reference, so a freed tensor whose id is reused by a new one
    is not taken for it, and no feature map is kept alive.
    """

    def __init__(self, model: nn.Module, mode: str) -> None:
        super().__init__(model.modules())
        self.mode = mode
        self.terms: list[float] = []
        self.constant = 0
        self.not_finite: str | None = None
        #: id of a seen output -> (weak reference to it, its in-place version, its term or None if not finite)
        self._seen: dict[int, tuple[weakref.ref[torch.Tensor], int, tuple[float, bool] | None]] = {}
        self._names = {id(m): name or type(m).__name__ for name, m in model.named_modules()}

    def _hook(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        if not isinstance(output, torch.Tensor) or not output.is_floating_point() or output.dim() < 2:
            return
        seen = self._seen.get(id(output))
        if seen is not None and seen[0]() is output and seen[1] == output._version:
            if self.mode == "distinct":
                return
            term = seen[2]
        else:
            feature = output[0]
            term = min_correlation_eigenvalue(feature) if all_finite(feature) else None
            self._seen[id(output)] = (weakref.ref(output), output._version, term)
        if term is None:
            if self.not_finite is None:
                self.not_finite = self._names.get(id(module), type(module).__name__)
            return
        self.terms.append(term[0])
        self.constant += term[1]


@register_proxy()
class Meco(Proxy):
    """MeCo: sum over layers of ``lambda_min`` of the correlation matrix of the layer's feature map.

    Definition, as in the authors' NAS-Bench-201 script (``correlation/NAS_Bench_201.py`` of
    ``HamsterMimi/MeCo``, the code behind the paper's table):

    * one forward pass of the model in training mode (a freshly built network, as the authors
      score it; batch norm uses the batch's statistics), no gradients, labels unused;
    * which layers: a forward hook on EVERY module of ``model.modules()`` (the model itself,
      containers, convolutions, batch norms, ReLUs, poolings, identities, ...), as the authors'
      ``net.named_modules()`` loop. Only floating tensor outputs with a batch axis and at least
      one more axis count (a module returning a tuple or list is skipped; the authors' hook
      would take the tuple's first element);
    * which feature map: the module's output for the FIRST example of the batch
      (``output[0]``, as the authors' ``data_output[0]``), reshaped to ``channels x positions``:
      the channels are the variables and the spatial positions the observations (for other
      shapes the first axis after the batch axis is the variables' axis, as in the authors'
      ``reshape(fea.shape[0], -1)``: e.g. the time steps of a ``(batch, time, features)`` output);
    * the Pearson correlation matrix of the channels; a constant channel gives NaN in
      ``torch.corrcoef`` and the authors replace NaN (and inf) by 0, so that channel's row and
      column are zero and the layer's minimum eigenvalue is 0 (the rest of the matrix is positive
      semi-definite). A layer with one spatial position (e.g. a linear layer's ``(batch,
      features)`` output, or the global pooling) therefore contributes 0, as in the authors' code;
      a layer with a single non-constant channel contributes 1 (its ``1 x 1`` matrix; the
      authors' ``torch.linalg.eig`` fails on the 0-d result of ``torch.corrcoef`` there);
    * the score is the sum of the layers' minimum eigenvalues (eigenvalues are real for a
      symmetric matrix; computed in float64 with ``eigvalsh``). Higher is better (the paper:
      a larger minimum eigenvalue means faster convergence and better generalisation).

    The paper uses one example (the authors' script: ``batch_size=1``, one CIFAR training image;
    its abstract says "one random data"), so the default batch size for this proxy is 1. With a
    larger batch the whole batch runs (batch norm uses its statistics) and only the first
    example's feature maps are scored.

    The authors' hooks count a feature map once per module that returns it: an ``nn.Sequential``
    returns its last child's output, so a ``ReLU-Conv-BN`` block counts the batch norm's output
    twice, and the count then depends on how the network's modules are nested (the authors'
    NAS-Bench-201 model wraps more than this library's, e.g. its ``ReLUConvBN`` is a module
    around a ``Sequential``, so their scores count the output of each ReLU-Conv-BN operation 3x
    where this library's network counts it 2x). ``layers="modules"`` (the default) follows the
    authors' code on the model it is given; ``layers="distinct"`` counts each distinct output
    tensor once (a container or identity that returns an already counted tensor adds nothing; an
    in-place ReLU's output counts, as its values changed), which does not depend on the nesting.
    Only the paper's abstract could be consulted while writing this module, so which of the two
    its "layers" mean is not settled here; on 60 random NAS-Bench-201 architectures both gave
    the same Spearman correlation (0.917 and 0.918).

    Differences from the authors' code: a feature map with a non-finite value gives NaN with
    the reason (the authors' code replaces the resulting NaN correlations by 0 silently), and a network in
    which every hooked feature map of the example has only constant channels (e.g. one that
    multiplies its input by 0 first, so nothing depends on the input) gives NaN with the reason
    rather than 0. The ``MeCo_opt`` variant (8 random channels per layer) is not implemented.

    Speed: a feature map counted again (``layers="modules"``) reuses its term, and a singular
    correlation matrix (a constant channel, or no more positions than channels) gives 0 without
    an eigensolver (:func:`min_correlation_eigenvalue`). The scores differ from the earlier
    implementation's only by the eigensolver's rounding residues (below 1e-12); about 0.08 s of
    one CPU core per NAS-Bench-201 network, 1.8 times less.
    """

    name = "meco"
    higher_is_better = True
    batch_size = 1  # the MeCo paper scores one image
    version = "1"
    needs = frozenset({"data"})
    defaults: dict[str, Any] = {"layers": "modules"}
    summary = "MeCo (Jiang 2023): sum over layers of min eigenvalue of the channel correlation of one example (paper: 1)"

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        if self.settings["layers"] not in LAYER_MODES:
            raise NasError(f"proxy 'meco': setting 'layers' must be one of {', '.join(LAYER_MODES)}, got {self.settings['layers']!r}")

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` on the first example of the batch (one forward pass, labels unused)."""
        model.train()
        inputs = inputs_for(model, batch)
        with _FeatureMaps(model, self.settings["layers"]) as maps, torch.no_grad():
            model(inputs)
        if maps.not_finite is not None:
            return ProxyResult.nan(f"meco: the feature map of {maps.not_finite!r} is not finite")
        if not maps.terms:
            return ProxyResult.nan("meco: no module returned a feature map (a floating tensor with a batch axis)")
        if maps.constant == len(maps.terms):
            return ProxyResult.nan("meco: every feature map is constant on the example (the network ignores its input)")
        return checked(sum(maps.terms), "meco sum")
