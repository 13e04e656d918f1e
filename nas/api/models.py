"""``nas.score_model``: zero-cost proxies of any PyTorch model, outside the search spaces.

The model is scored as the search spaces' networks are: each proxy gets its own deep copy (so
the caller's model, its parameters and buffers are never changed), in training mode, with
one batch of data (a tensor, an ``(inputs, targets)`` pair, or the first ``batches`` batches
of a ``DataLoader``). Nothing is stored: scores of arbitrary models have no key.
"""

from __future__ import annotations

import copy
import hashlib
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from nas.errors import NasError

if TYPE_CHECKING:
    import torch
    import torch.nn as nn

    from nas.proxies.base import Batch, Proxy, ProxyResult

#: the proxies that apply to a general module, scored when none are named
MODEL_PROXIES = ("epsilon", "synflow", "snip", "grad_norm", "fisher", "grasp", "naswot", "jacob_cov", "params", "flops")

#: epsilon's constant weights when none are given: the NAS-Bench-201 pair of the paper, for
#: convolutional networks with batch normalisation; other families may need their own pair
DEFAULT_EPSILON_WEIGHTS = (1e-7, 1.0)


def score_model(
    model: nn.Module,
    data: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | Iterable[Any],
    proxies: str | Sequence[str | Proxy] | None = None,
    *,
    batches: int = 1,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    num_classes: int | None = None,
    initialise: bool = False,
    seed: int = 0,
) -> dict[str, ProxyResult]:
    """Score a ``torch.nn.Module`` with zero-cost proxies; return ``{proxy: ProxyResult}``.

    ``data`` is an input tensor (unlabelled), an ``(inputs, targets)`` pair, or an iterable such
    as a ``DataLoader`` yielding either, of which the first ``batches`` batches are joined into
    one. ``proxies`` defaults to :data:`MODEL_PROXIES`; any registered proxy may be named (or
    passed as ``nas.proxy(name, **settings)``). A proxy that cannot apply returns NaN with the
    reason (``result.reason``), for example a gradient proxy without labels.

    The caller's model is not changed: each proxy scores a deep copy, put in training mode.
    ``initialise=True`` re-initialises the copy by position with ``seed``
    (:func:`nas.initialisation.initialise_by_position`, as the search spaces' networks are);
    by default the model's own weights are scored. ``num_classes`` defaults to the size of the
    model's last output dimension. Epsilon uses ``weights`` from ``settings`` if given, else
    :data:`DEFAULT_EPSILON_WEIGHTS`. PyTorch's global random state is left as it was.

    >>> import torchvision  # doctest: +SKIP
    >>> scores = nas.score_model(torchvision.models.resnet18(), loader, ["synflow", "snip"])  # doctest: +SKIP
    >>> scores["snip"].value  # doctest: +SKIP
    """
    import torch
    import torch.nn as nn

    from nas.api.scores import make_proxies
    from nas.initialisation import initialise_by_position
    from nas.proxies.base import ProxyContext, ProxyResult
    from nas.executors import failure_of

    if not isinstance(model, nn.Module):
        raise NasError(f"score_model needs a torch.nn.Module, got {type(model).__name__}")
    per_proxy = {name: dict(values) for name, values in (settings or {}).items()}
    named = proxies if proxies is not None else MODEL_PROXIES
    names = [n.strip() for n in named.split(",")] if isinstance(named, str) else [n for n in named if isinstance(n, str)]
    if "epsilon" in names:
        per_proxy.setdefault("epsilon", {}).setdefault("weights", list(DEFAULT_EPSILON_WEIGHTS))
    created = make_proxies(named, per_proxy, None)
    batch = model_batch(data, batches)
    classes = num_classes if num_classes is not None else _output_size(model, batch.inputs)
    context = ProxyContext("model", "model", classes, seed, tuple(batch.inputs.shape[1:]))
    results: dict[str, ProxyResult] = {}
    for name, proxy in created.items():
        if "labels" in proxy.needs and batch.targets is None:
            results[name] = ProxyResult.nan("needs labels: pass (inputs, targets) or a DataLoader that yields them")
            continue
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            try:
                scored = copy.deepcopy(model).train()
                if initialise:
                    scored = initialise_by_position(scored, seed)
                results[name] = proxy.score(proxy.prepare(scored), batch, context)
            except Exception as exc:  # one proxy's failure is its NaN, with the reason
                results[name] = ProxyResult.nan(failure_of(exc).reason)
    return results


def model_batch(data: Any, batches: int = 1) -> Batch:
    """One :class:`~nas.proxies.base.Batch` from a tensor, an ``(inputs, targets)`` pair or the first ``batches`` of an iterable."""
    import torch

    from nas.proxies.base import Batch

    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 1:
        raise NasError(f"batches must be a positive integer, got {batches!r}")
    if isinstance(data, torch.Tensor) or _is_pair(data):
        parts = [data]
    else:
        try:
            iterator = iter(data)
        except TypeError:
            raise NasError(
                f"data must be a tensor, an (inputs, targets) pair or an iterable of them, got {type(data).__name__}"
            ) from None
        parts = []
        for item in iterator:
            parts.append(item)
            if len(parts) == batches:
                break
        if not parts:
            raise NasError("data yielded no batch")
    inputs, targets = zip(*(_split(part) for part in parts))
    if any(t is None for t in targets) and not all(t is None for t in targets):
        raise NasError("some batches have targets and others do not")
    joined = torch.cat(inputs)
    labels = None if targets[0] is None else torch.cat(targets)
    if labels is not None and len(labels) != len(joined):
        raise NasError(f"{len(joined)} inputs but {len(labels)} targets")
    digest = hashlib.blake2b(joined.detach().cpu().contiguous().numpy().tobytes(), digest_size=8).hexdigest()
    return Batch(joined, labels, f"model:n{len(joined)}:{digest}", "model", "user")


def _is_pair(data: Any) -> bool:
    import torch

    return isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(x, torch.Tensor) for x in data)


def _split(item: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    import torch

    if isinstance(item, torch.Tensor):
        return item, None
    if _is_pair(item):
        return item[0], item[1]
    if isinstance(item, Mapping) and "inputs" in item:
        return item["inputs"], item.get("targets")
    raise NasError(f"a batch must be a tensor or an (inputs, targets) pair of tensors, got {type(item).__name__}")


def _output_size(model: nn.Module, inputs: torch.Tensor) -> int:
    """The size of the model's last output dimension, from one forward pass of a copy on two examples."""
    import torch

    probe = copy.deepcopy(model).eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        output = probe(inputs[:2])
    while isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, torch.Tensor) or output.dim() < 1:
        raise NasError("the model's output is not a tensor; pass num_classes")
    return int(output.shape[-1])
