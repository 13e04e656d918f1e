"""SWAP: the number of distinct sample-wise activation patterns (Peng et al., ICLR 2024).

Peng, Song, Fayek, Ciesielski and Chang, "SWAP-NAS: Sample-Wise Activation Patterns for
Ultra-fast NAS" (ICLR 2024 spotlight; code: ``pym1024/SWAP``, ``src/metrics/swap.py`` and
``correlation.py``). Feed a small batch of B examples through the untrained network and record,
for every ReLU unit (every channel at every position of every ReLU's output), which of the B
examples activate it: a binary pattern of length B. SWAP is the number of *distinct* patterns
over all units of the network, at most ``2**B``. The regularised SWAP-Score multiplies it by a
Gaussian-shaped factor of the model size, ``exp(-(params - mu)**2 / sigma)``. The paper reports
a Spearman correlation of 0.90 between the regularised SWAP-Score and CIFAR-100 validation
accuracy on NAS-Bench-201 (0.80 for the second-best metric, NASWOT).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn

from nas.errors import NasError
from nas.initialisation import position_seed
from nas.proxies import register_proxy
from nas.proxies._util import ForwardHooks, all_finite, checked, inputs_for
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult

#: values of the setting ``init``
INITS = ("normal", "model")

#: examples per word of a packed pattern: a word is a float32 matrix product of 0/1 values and
#: powers of two, exact below 2**24
_WORD_BITS = 24
#: up to this many examples, the distinct patterns are marked in a table of 2**examples flags
#: (1 MiB at most) instead of being sorted
_TABLE_BITS = 20

#: default (mu, sigma) of the size regulariser, in millions of parameters, per (space, dataset):
#: mu = the largest network of the space, sigma = the mean size of its networks (uniform over
#: architectures); see :class:`Swap` for why. NAS-Bench-201 (parameters of this library's
#: benchmark network, equal to the published counts): largest 1.531546 / 1.537396 / 1.538696 M
#: (all edges nor_conv_3x3), mean 0.398554 / 0.404404 / 0.405704 M.
DEFAULT_REGULARISATION: dict[tuple[str, str], tuple[float, float]] = {
    ("nb201", "cifar10"): (1.531546, 0.398554),
    ("nb201", "cifar100"): (1.537396, 0.404404),
    ("nb201", "imagenet16-120"): (1.538696, 0.405704),
}


def pack_patterns(active: torch.Tensor) -> torch.Tensor:
    """Each unit's activation pattern over the examples as integers: ``(units, words)`` int64.

    ``active`` is a boolean ``(examples, units)`` matrix; the pattern of unit ``u`` is column
    ``u``. Examples are packed 24 to a word (bit ``k`` of word ``w`` is example ``24 w + k``), so
    two units have equal rows exactly when their patterns are equal. Each word is one float32
    product of the powers of two with the 0/1 rows (exact: every value is an integer below 2**24).
    """
    examples, units = active.shape
    values = active.to(torch.float32)
    words = []
    for start in range(0, examples, _WORD_BITS):
        chunk = values[start : start + _WORD_BITS]
        powers = torch.pow(2.0, torch.arange(chunk.shape[0], dtype=torch.float32, device=chunk.device))
        words.append((powers @ chunk).to(torch.int64))
    if not words:
        return torch.zeros(units, 0, dtype=torch.int64)
    return torch.stack(words, dim=1)


def unique_patterns(packed: torch.Tensor) -> torch.Tensor:
    """The distinct rows of packed patterns ``(units, words)`` (a 1-D unique when one word holds them: faster)."""
    if packed.shape[1] == 1:
        return torch.unique(packed[:, 0])[:, None]
    return torch.unique(packed, dim=0)


def count_distinct_patterns(active: torch.Tensor) -> int:
    """The number of distinct columns of a boolean ``(examples, units)`` matrix (SWAP of one activation matrix)."""
    if active.shape[1] == 0:
        return 0
    return int(unique_patterns(pack_patterns(active)).shape[0])


class _ActivationPatterns(ForwardHooks):
    """Forward hooks on every ``nn.ReLU`` that collect the distinct patterns of its units while the forward pass runs.

    As the authors' hook, only a ReLU whose input is 4-D (a convolutional feature map) counts,
    and every call of a module counts (a module run twice adds its units twice). A unit is active
    on an example where the ReLU's output is positive (``torch.sign`` of a ReLU output is 1 there
    and 0 elsewhere). The patterns are packed per call (:func:`pack_patterns`); for up to
    ``_TABLE_BITS`` examples each pattern sets its flag in a table of ``2**examples`` flags, else
    the patterns are deduplicated per call and ``count`` deduplicates them over the whole network.
    """

    def __init__(self, model: nn.Module, examples: int, device: torch.device) -> None:
        super().__init__(m for m in model.modules() if isinstance(m, nn.ReLU))
        self._names = {id(m): name or type(m).__name__ for name, m in model.named_modules()}
        self.table = torch.zeros(2**examples, dtype=torch.bool, device=device) if examples <= _TABLE_BITS else None
        self.patterns: list[torch.Tensor] = []
        self.units = 0
        self.not_finite: str | None = None

    def _hook(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        if not inputs or not isinstance(inputs[0], torch.Tensor) or inputs[0].dim() != 4:
            return
        if not all_finite(output):
            if self.not_finite is None:
                self.not_finite = self._names.get(id(module), type(module).__name__)
            return
        active = output.detach() > 0
        packed = pack_patterns(active.reshape(active.shape[0], -1))
        self.units += packed.shape[0]
        if self.table is not None:
            self.table[packed[:, 0]] = True
        else:
            self.patterns.append(unique_patterns(packed))

    def count(self) -> int:
        """The number of distinct patterns over every unit seen."""
        if self.table is not None:
            return int(self.table.sum())
        if not self.patterns:
            return 0
        return int(unique_patterns(torch.cat(self.patterns)).shape[0])


def gaussian_reinitialise(model: nn.Module, seed: int, repeat: int) -> None:
    """The authors' ``network_weight_gaussian_init``, each module from its own position seed.

    Conv2d and Linear weights ``~ N(0, 1)``, biases 0; BatchNorm2d and GroupNorm weight 1, bias 0.
    Module ``name`` draws from a generator seeded by ``position_seed(seed, f"{name}#swap{repeat}")``,
    so every repeat gets new weights that depend only on the seed, the repeat and the position.
    """
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                generator = torch.Generator(device="cpu").manual_seed(position_seed(seed, f"{name}#swap{repeat}"))
                weight = module.weight
                weight.copy_(torch.empty(weight.shape, dtype=weight.dtype).normal_(0.0, 1.0, generator=generator))
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)) and module.affine:
                module.weight.fill_(1.0)
                module.bias.zero_()


def parameter_count(model: nn.Module) -> int:
    """Parameters counted as the authors' ``count_parameters``: every named parameter whose name lacks ``"auxiliary"``."""
    return sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name)


def size_factor(params_millions: float, mu: float, sigma: float) -> float:
    """The regulariser ``exp(-(params - mu)**2 / sigma)`` (the authors' ``cal_regular_factor``), params in millions."""
    return math.exp(-((params_millions - mu) ** 2) / sigma)


@register_proxy()
class Swap(Proxy):
    """SWAP-Score, regularised: distinct sample-wise ReLU activation patterns times a model-size factor.

    Definition, as the authors' ``src/metrics/swap.py`` (class ``SWAP``, ``calSWAP``) and
    ``correlation.py``:

    * which tensors: the output of every ``nn.ReLU`` module whose input is a 4-D feature map
      (the authors' forward hook: ``len(input[0].size()) == 4``), every call of the module, in
      training mode (batch norm uses the batch's statistics), no gradients, labels unused;
      the authors hook ``nn.ReLU`` only (not ReLU6, LeakyReLU, ...). In a NAS-Bench-201 network
      that is the ReLU of every ReLU-Conv-BN operation (also where its input is a zero node), of
      the residual blocks, and the final ``lastact`` ReLU;
    * the activation matrix: each hooked output flattened per example and concatenated over the
      hooks, ``(B examples, units)``, binarised by ``sign`` (1 where the output is positive);
    * SWAP: the number of distinct columns of that matrix, i.e. of distinct binary patterns
      of the units over the B examples (the authors transpose and ``torch.unique(dim=0)``). Here
      each column is packed into integer words (:func:`pack_patterns`) and, for up to 20 examples,
      each pattern marks its flag in a table of ``2**B`` flags (no sort), which counts the same;
    * repeats: the authors' ``correlation.py`` re-initialises the network 32 times and averages
      SWAP; ``repeats`` does the same, default 1 (version 2; version 1 defaulted to the authors'
      32, ``repeats=32``). Measured on 200 random NAS-Bench-201 architectures (CIFAR-10, batch
      16, seed 0): the regularised score of one redraw has Spearman 0.9993 on average (0.9988 for
      the worst of the 32 redraws) with the mean of the other 31, and Spearman 0.815 with test
      accuracy (0.807 to 0.820 over the 32 redraws; the default redraw 0: 0.814) against 0.815 for
      the mean of 32; unregularised, 0.992 (worst 0.988) with the mean of the other 31. One
      redraw costs one forward pass: about 0.16 s of one core per architecture, 32 about 5 s;
    * initialisation (setting ``init``): ``"normal"`` (default, the authors'
      ``network_weight_gaussian_init``): Conv2d and Linear weights ``N(0, 1)``, biases 0, norm
      layers weight 1 and bias 0, redrawn for every repeat from per-position seeds
      (:func:`gaussian_reinitialise`), so the score is deterministic given ``context.seed``;
      ``"model"`` scores the model's own weights once (``repeats`` must then be 1);
    * batch: the authors use ``--input_samples 16`` real training images, so the default batch
      size for this proxy is 16 (SWAP is at most ``2**16`` there);
    * regularisation (setting ``regularise``, default true; the ``swap`` proxy is the paper's
      regularised SWAP-Score): the mean SWAP times ``exp(-(P - mu)**2 / sigma)``, ``P`` the number of
      parameters (the authors' ``count_parameters``: every named parameter, here in MILLIONS;
      the authors' code counts in thousands, so their ``(mu, sigma)`` in code units are
      ``(1000 mu, 1e6 sigma)`` here). Higher is better.

    ``mu`` and ``sigma`` (settings, millions of parameters; default: the space's): the
    paper tunes them per search space to steer the searched model size, and its NAS-Bench-201
    values were not available while writing this module (the authors' public code ships only
    the unregularised DARTS experiment). The defaults (:data:`DEFAULT_REGULARISATION`) follow the
    rule "mu = the largest network of the space, sigma = the mean network size" (an automatic
    setting found in a public port of this code, ``mu = describe()[max]``, ``sigma =
    describe()[mean]``): the factor then rises monotonically with size over the whole space,
    from ``exp(-5.3)`` for the smallest NAS-Bench-201 network to 1 for the largest, i.e. a strong
    prior towards larger networks. They are not the paper's values, and ``regularise=false``
    gives the plain SWAP-Score. Spaces without a default need ``mu`` and ``sigma`` (or
    ``regularise=false``).

    NaN with the reason: a ReLU output that is not finite; no ReLU on a 4-D feature map (e.g. a
    text model); a batch of fewer than 2 examples (every unit's pattern is then one bit).
    """

    name = "swap"
    higher_is_better = True
    version = "2"
    batch_size = 16  # the SWAP authors' --input_samples 16
    needs = frozenset({"data"})
    defaults: dict[str, Any] = {"repeats": 1, "init": "normal", "regularise": True, "mu": None, "sigma": None}
    summary = "SWAP (Peng 2024): distinct sample-wise ReLU patterns x exp(-(params-mu)^2/sigma) (paper: 16 images, 32 inits)"

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        s = self.settings
        if s["init"] not in INITS:
            raise NasError(f"proxy 'swap': setting 'init' must be one of {', '.join(INITS)}, got {s['init']!r}")
        if s["repeats"] < 1:
            raise NasError(f"proxy 'swap': setting 'repeats' must be at least 1, got {s['repeats']}")
        if s["init"] == "model" and s["repeats"] != 1:
            raise NasError("proxy 'swap': init=model scores the model's own weights, so repeats must be 1")
        for key in ("mu", "sigma"):
            if s[key] is not None:
                try:
                    s[key] = float(s[key])
                except (TypeError, ValueError):
                    raise NasError(f"proxy 'swap': setting {key!r} must be a number (millions of parameters), got {s[key]!r}") from None
        if (s["mu"] is None) != (s["sigma"] is None):
            raise NasError("proxy 'swap': give both mu and sigma (millions of parameters), or neither")
        if s["mu"] is not None and not (math.isfinite(s["mu"]) and math.isfinite(s["sigma"]) and s["sigma"] > 0):
            raise NasError(f"proxy 'swap': mu must be finite and sigma positive, got mu={s['mu']}, sigma={s['sigma']}")

    def regularisation_for(self, space: str, dataset: str) -> tuple[float, float]:
        """``(mu, sigma)`` in millions of parameters: the settings, else the default for the space and dataset."""
        if self.settings["mu"] is not None:
            return self.settings["mu"], self.settings["sigma"]
        try:
            return DEFAULT_REGULARISATION[(space, dataset)]
        except KeyError:
            known = ", ".join(f"{s}/{d}" for s, d in DEFAULT_REGULARISATION)
            raise NasError(
                f"swap has no default regularisation for space {space!r} on {dataset!r} (defaults exist for {known}); "
                "pass the settings mu and sigma (millions of parameters), or regularise=false"
            ) from None

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` on the batch (``repeats`` forward passes, labels unused)."""
        if len(batch) < 2:
            return ProxyResult.nan(f"swap: a batch of {len(batch)} example(s) has no sample-wise patterns (needs at least 2)")
        factor = 1.0
        if self.settings["regularise"]:
            mu, sigma = self.regularisation_for(context.space, context.dataset)
            factor = size_factor(parameter_count(model) / 1e6, mu, sigma)
        model.train()
        inputs = inputs_for(model, batch)
        counts = []
        for repeat in range(self.settings["repeats"]):
            if self.settings["init"] == "normal":
                gaussian_reinitialise(model, context.seed, repeat)
            with _ActivationPatterns(model, len(batch), inputs.device) as patterns, torch.no_grad():
                model(inputs)
            if patterns.not_finite is not None:
                return ProxyResult.nan(f"swap: the output of ReLU {patterns.not_finite!r} is not finite")
            if patterns.units == 0:
                return ProxyResult.nan("swap: no nn.ReLU ran on a 4-D feature map (no convolutional activations to count)")
            counts.append(patterns.count())
        return checked(sum(counts) / len(counts) * factor, "swap")
