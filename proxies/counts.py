"""Size baselines: parameter count and FLOPs of the network (no data, no training).

Both proxies count from the architecture alone when the space has a closed form
(:meth:`SearchSpace.closed_form_parameters`, :meth:`SearchSpace.closed_form_flops`, equal to the
built network's counts): the scorer then calls :meth:`Params.score_architecture` /
:meth:`Flops.score_architecture` and builds no network (see :class:`nas.scoring.ArchitectureProxy`).
Otherwise, e.g. for a plugin space or a model scored outside a space, they count the built model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch.nn as nn

from nas.datasets import DatasetSpec, dataset_spec
from nas.flops import count_flops
from nas.proxies import register_proxy
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult

if TYPE_CHECKING:
    from nas.spaces.base import Architecture, SearchSpace


@register_proxy()
class Params(Proxy):
    """Number of trainable parameters of the model (``requires_grad``), as ``SearchSpace.count_parameters``."""

    name = "params"
    higher_is_better = True
    version = "2"
    needs: frozenset[str] = frozenset()
    summary = "number of trainable parameters (baseline)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Count the model's trainable parameters; the batch is not used."""
        return ProxyResult(float(sum(p.numel() for p in model.parameters() if p.requires_grad)))

    def score_architecture(
        self, space: SearchSpace, arch: Architecture, dataset: DatasetSpec, batch: Batch | None = None
    ) -> ProxyResult | None:
        """The space's closed-form parameter count of ``arch``; ``None`` when it has none (then :meth:`score` counts the built model)."""
        count = space.closed_form_parameters(arch, dataset)
        return None if count is None else ProxyResult(float(count))


@register_proxy()
class Flops(Proxy):
    """Multiply-accumulates of one forward pass of one example (:func:`nas.flops.count_flops`).

    The example's shape is ``context.input_shape`` when given (a model scored outside a search
    space), else the dataset's (``context.dataset``); its type is the batch's (token ids for a
    language model, images otherwise), whose values are not used.
    """

    name = "flops"
    higher_is_better = True
    version = "3"  # 3: token-id examples for language models (NLP flops were an error)
    needs: frozenset[str] = frozenset()
    summary = "multiply-accumulates of one example's forward pass (baseline)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Count the model's FLOPs on one example of the context's dataset."""
        shape = context.input_shape or dataset_spec(context.dataset).input_shape
        return ProxyResult(float(count_flops(model, shape, batch.inputs.dtype)))

    def score_architecture(
        self, space: SearchSpace, arch: Architecture, dataset: DatasetSpec, batch: Batch | None = None
    ) -> ProxyResult | None:
        """The space's closed-form FLOPs of ``arch`` on one example of ``dataset``; ``None`` when it has none."""
        count = space.closed_form_flops(arch, dataset)
        return None if count is None else ProxyResult(float(count))
