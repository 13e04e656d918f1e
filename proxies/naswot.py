"""NASWOT: "Neural Architecture Search without Training" (Mellor et al., ICML 2021)."""

from __future__ import annotations

import math
import weakref
from typing import Any

import torch
import torch.nn as nn

from nas.proxies import register_proxy
from nas.proxies._util import RELU_TYPES, ForwardHooks, inputs_for, log_abs_det
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult
from nas.proxies.pruning import fast_layout

#: activation modules whose code bit (output > 0) is exactly "input > 0", so two of them on the
#: same unchanged input tensor give the same codes
_SIGN_OF_INPUT = (nn.ReLU, nn.ReLU6)


def _integer_gemm_is_fast() -> bool:
    """Whether this CPU runs ``torch._int_mm`` faster than a float32 GEMM (AVX-512 kernels).

    Measured at 128 x 16,384 codes on one core: with AVX-512 the int8 product was about 3x
    faster than float32; on an AVX2-only CPU (no VNNI) it was 33x slower (244 ms against 7.5 ms).
    """
    return "AVX512" in torch.backends.cpu.get_cpu_capability()


#: a float32 GEMM of 0/1 codes is exact below this many units: every partial sum is an integer <= 2**24
_FLOAT32_EXACT_UNITS = 2**24


def _agreements(codes: torch.Tensor) -> torch.Tensor:
    """``K[i, j]`` = units on which rows ``i`` and ``j`` of the 0/1 ``codes`` (n x units, int8) agree, int64.

    Agreements are ``c c^T + (1 - c)(1 - c)^T = 2 c c^T - s_i - s_j + units`` (``s``: active
    counts): one exact matrix product. On CPUs with AVX-512 that is the integer GEMM
    (``torch._int_mm``, int8 in, int32 out); elsewhere a float32 GEMM of the codes, exact while a
    layer has fewer than 2**24 units (every partial sum of 0/1 products is a small integer);
    float64 beyond. The active counts are the product's diagonal.
    """
    units = codes.shape[1]
    product: torch.Tensor | None = None
    if units < 2**31 - 1 and codes.device.type == "cpu" and _integer_gemm_is_fast():
        try:
            product = torch._int_mm(codes, codes.T).to(torch.int64)
        except (RuntimeError, AttributeError):  # no integer GEMM for this build or shape
            product = None
    if product is None:
        as_float = codes.to(torch.float32 if units < _FLOAT32_EXACT_UNITS else torch.float64)
        product = (as_float @ as_float.T).round().to(torch.int64)
    active = product.diagonal()  # c_i . c_i = s_i for 0/1 codes: no pass over the codes to count them
    return 2 * product - active[:, None] - active[None, :] + units


class _Codes(ForwardHooks):
    """NASWOT's kernel of the binary ReLU codes of a batch, accumulated while a forward pass runs.

    Same kernel as :class:`nas.proxies._util.ActivationCodes` (every executed ReLU-type module
    contributes its units, a code bit is 1 where the module's OUTPUT is positive), computed
    faster: the codes are read in the activation's own memory order (a unit permutation, the
    same for every example, leaves every agreement count unchanged), as int8 (the comparison's
    bool tensor reinterpreted, no copy) and multiplied with an integer GEMM; and a ``ReLU`` or
    ``ReLU6`` whose input is a tensor an earlier one already read, unchanged (same object, same
    version counter), reuses that kernel term instead of recomputing it (in NB201 cells every
    node feeds up to three ReLU-conv-BN edges, so most terms repeat). The sums are exact integers.
    """

    def __init__(self, model: nn.Module, n: int) -> None:
        super().__init__(m for m in model.modules() if isinstance(m, RELU_TYPES))
        self.kernel = torch.zeros(n, n, dtype=torch.int64)
        self.units = 0
        # (id, version) of an input tensor -> (a weak reference to it, to tell a reused id; its term)
        self._terms: dict[tuple[int, int], tuple[weakref.ref[torch.Tensor], torch.Tensor]] = {}

    def _hook(self, module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        key = None
        if type(module) in _SIGN_OF_INPUT and inputs and isinstance(inputs[0], torch.Tensor):
            key = (id(inputs[0]), inputs[0]._version)
            seen = self._terms.get(key)
            if seen is not None and seen[0]() is inputs[0]:
                term = seen[1]
                self.kernel += term
                self.units += output[0].numel()
                return
        values = output.detach()
        if values.dim() == 4 and values.is_contiguous(memory_format=torch.channels_last):
            values = values.permute(0, 2, 3, 1)  # a view: the memory order, units permuted alike per example
        codes = (values.reshape(values.shape[0], -1) > 0).view(torch.int8)
        term = _agreements(codes).cpu()
        self.kernel += term
        self.units += codes.shape[1]
        if key is not None:
            self._terms[key] = (weakref.ref(inputs[0]), term)


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

    Speed (issue 18; ``docs/performance.md``): float32 images run channels-last
    (:func:`nas.proxies.pruning.fast_layout`), and the kernel is summed by :class:`_Codes`
    (int8 codes, integer GEMM, repeated terms reused). The kernel is the same integer matrix as
    before, so the score is unchanged (up to the rounding of the forward pass's convolutions,
    which can flip the sign of an activation within rounding of zero).
    """

    name = "naswot"
    higher_is_better = True
    batch_size = 128  # Mellor et al. 2021, N = 128
    version = "2"
    needs = frozenset({"data"})
    summary = "NASWOT (Mellor 2021): log|det| of the Hamming kernel of binary ReLU codes (paper batch: 128)"

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model`` on the batch's inputs (labels unused)."""
        model.train()
        inputs = fast_layout(model, inputs_for(model, batch))
        # no_grad rather than inference_mode: the reuse of terms reads tensors' version counters,
        # which inference tensors do not keep (and inference_mode measured no faster here)
        with _Codes(model, inputs.shape[0]) as codes, torch.no_grad():
            model(inputs)
        if codes.units == 0:
            return ProxyResult.nan("naswot: no ReLU module ran, so there are no activation codes")
        value = log_abs_det(codes.kernel.to(torch.float64))
        if not math.isfinite(value):
            return ProxyResult.nan(
                "naswot: the ReLU codes do not distinguish the examples (kernel singular, log|det K| = -inf)"
            )
        return ProxyResult(value)
