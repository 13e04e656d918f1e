"""The interface every zero-cost proxy implements."""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Sequence

import torch
import torch.nn as nn

from nas.errors import NasError


@dataclass(frozen=True)
class Batch:
    """One batch of inputs (and, for real data, labels) with a stable identity.

    ``identity`` names the exact content (e.g. ``"cifar10:real:train:n256:seed0"`` plus a hash of
    the tensor); the score store keys scores on it.
    """

    inputs: torch.Tensor
    targets: torch.Tensor | None
    identity: str
    dataset: str
    kind: str = "real"

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


@dataclass(frozen=True)
class ProxyContext:
    """What a proxy may know besides the model and the batch."""

    space: str
    dataset: str
    num_classes: int
    seed: int = 0
    #: the shape of one example; ``None``: the dataset's (:func:`nas.datasets.dataset_spec`)
    input_shape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class ProxyResult:
    """A score, or NaN with the reason it could not be computed."""

    value: float
    reason: str | None = None

    @classmethod
    def nan(cls, reason: str) -> "ProxyResult":
        """A missing score with its reason."""
        return cls(math.nan, reason)

    @property
    def is_nan(self) -> bool:
        """Whether the score is missing."""
        return math.isnan(self.value)


#: Which architectures may share one stored score of a proxy (see :attr:`Proxy.invariance`).
Invariance = Literal["function", "live", "exact"]
INVARIANCES: tuple[str, ...] = ("function", "live", "exact")


class Proxy(ABC):
    """A zero-cost proxy.

    Subclasses set ``name``, ``higher_is_better``, ``needs`` (a subset of ``{"data", "labels",
    "gradients"}``) and ``defaults`` (setting name -> default value), and implement
    :meth:`score`. Settings are validated at construction: unknown names and values of the
    wrong type raise :class:`NasError`.

    ``invariance`` says what the score depends on, and so which architectures share one stored
    score: ``"exact"`` (the default, always safe) keys it on the exact architecture string;
    ``"live"`` declares that it depends only on the operations that reach the network's output
    (:meth:`SearchSpace.live_id`), given the per-position initialisation of
    :func:`nas.initialisation.initialise_by_position`; ``"function"`` declares that it depends
    only on the function the architecture computes (:meth:`SearchSpace.canonical_id`), and it
    is then computed on one fixed member of the class. Declare more than ``"exact"`` only
    where a test proves it (see ``tests/test_invariance.py``).

    ``version`` is part of the store key, so editing a proxy never serves its old scores: bump
    it when the scores change; when ``None`` it is a hash of the source of the proxy's module.
    ``batch_size`` is the batch the proxy is scored on when the caller gives none (64, the batch
    Abdelfattah et al. scored every proxy on, unless the proxy's own paper used another).
    """

    name: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    needs: ClassVar[frozenset[str]] = frozenset()
    defaults: ClassVar[dict[str, Any]] = {}
    #: one line for ``nas list proxies``
    summary: ClassVar[str] = ""
    #: which architectures may share one stored score: "function", "live" or "exact"
    invariance: ClassVar[Invariance] = "exact"
    #: the implementation's version (part of the store key); None: a hash of the module's source
    version: ClassVar[str | None] = None
    #: the batch size the proxy's paper used on NAS-Bench-201, used when none is given
    batch_size: ClassVar[int] = 64
    #: settings added after the proxy's scores were first stored, whose default reproduces the scores of before:
    #: left out of the store key while at their default, so those stored scores stay valid
    keyless_defaults: ClassVar[frozenset[str]] = frozenset()
    #: a computation whose one run over a model gives this proxy's score and those of the other proxies
    #: with the same pass, each equal bit for bit to its own :meth:`score` (None: the proxy has none)
    shared_pass: ClassVar["SharedPass | None"] = None

    def __init__(self, **settings: Any) -> None:
        unknown = sorted(set(settings) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise NasError(f"proxy {self.name!r} has no setting {unknown[0]!r}; its settings: {known}")
        merged = dict(self.defaults)
        for key, value in settings.items():
            merged[key] = _coerce(self.name, key, value, self.defaults[key])
        self.settings: dict[str, Any] = merged

    def settings_key(self) -> str:
        """The settings as canonical JSON, part of the score store's key (:attr:`keyless_defaults` at their default left out)."""
        keyed = {
            name: value
            for name, value in self.settings.items()
            if not (name in self.keyless_defaults and value == self.defaults[name])
        }
        return json.dumps(keyed, sort_keys=True, default=str)

    @classmethod
    def version_key(cls) -> str:
        """The version part of the store key: :attr:`version`, else ``"src-"`` + a hash of the module's source."""
        if cls.version is not None:
            return str(cls.version)
        module = sys.modules.get(cls.__module__)
        try:
            source = inspect.getsource(module) if module is not None else inspect.getsource(cls)
        except (OSError, TypeError):
            return "unknown"
        return "src-" + hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]

    def effective_settings(self, space: str) -> dict[str, Any]:
        """The settings as they apply in ``space`` (defaults that depend on the space resolved), for reports."""
        return dict(self.settings)

    def prepare(self, model: nn.Module) -> nn.Module:
        """Hook for proxies that need the model in a particular state; the identity by default."""
        return model

    @abstractmethod
    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score the untrained ``model`` on ``batch``. The model may be modified in place."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings})"


class SharedPass(ABC):
    """One run over a built, untrained model that scores several proxies at once.

    Proxies whose scores come from the same forward and backward passes (SNIP, grad_norm, Fisher
    and jacob_cov all read one cross-entropy pass on the same batch and initialisation) name the
    same pass in :attr:`Proxy.shared_pass`, and their :meth:`Proxy.score` runs it for themselves
    alone. :func:`nas.scoring.score_architectures` then scores every architecture once for all of
    them. A pass must give each proxy the value that proxy's own :meth:`Proxy.score` gives, bit for
    bit, whichever of its proxies are asked together: that is what lets the score store keep one
    key per proxy.
    """

    #: a short name for messages
    name: ClassVar[str]

    @abstractmethod
    def score(self, model: nn.Module, batch: Batch, context: ProxyContext, proxies: Sequence[Proxy]) -> list[ProxyResult]:
        """The result of each of ``proxies`` (aligned; each names this pass) on ``model`` and ``batch``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _coerce(proxy: str, key: str, value: Any, default: Any) -> Any:
    """Check one setting against its default's type, converting CLI strings."""
    try:
        return _convert(value, default)
    except (TypeError, ValueError):
        raise NasError(
            f"proxy {proxy!r}: setting {key!r} must be of type {type(default).__name__}, got {value!r}"
        ) from None


def _convert(value: Any, default: Any) -> Any:
    if default is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ValueError(value)
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(default, int):
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            return int(value)
        raise TypeError(value)
    if isinstance(default, float):
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            return float(value)
        raise TypeError(value)
    if isinstance(default, (list, tuple)):
        items = value.split(":") if isinstance(value, str) else list(value)
        element = type(default[0]) if default else str
        return type(default)(_convert(item, element()) for item in items)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise TypeError(value)
        return value
    return value
