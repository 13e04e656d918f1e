"""VKDNW: entropy of the Fisher information spectrum of an untrained network (Tybl & Neumann, CVPR 2025).

Týbl and Neumann, "Training-free Neural Architecture Search through Variance of Knowledge of
Deep Network Weights" (CVPR 2025, arXiv 2502.04975; code: ``ondratybl/VKDNW``, NAS-Bench-201
part ``NB201/ZeroShotProxy/compute_vkdnw_score.py``, driver ``NB201/tss_general_.py`` and the
analysis notebooks ``NB201/tss_analyze.ipynb`` and ``NB201/paper_preparation.ipynb``, which
print the comparison of the paper's Table 1; the driver and ``paper_preparation.ipynb`` are only in
the repository's history, removed by its commit "prepare" of 2025-02-07).

The empirical Fisher information matrix (FIM) of the network's predictive distribution is formed
on a small set of sampled weights at initialisation, on random inputs, without labels; VKDNW is
the entropy of its normalised eigenvalue deciles (Eq. 11 of the paper): high when the spectrum
is even, i.e. when the weights are about equally hard to estimate in every direction (the
Cramér-Rao motivation). The paper's single-proxy ranking, VKDNW_single (Eq. 12), puts the
network's size ``aleph`` (its number of trainable layers) in front: ``aleph + VKDNW``.

Published Spearman correlations on NAS-Bench-201 (the paper's Table 1, mean of 5 runs, the 9,445
architectures the authors kept; test accuracy): VKDNW_single 0.815 / 0.829 / 0.814 on CIFAR-10 /
CIFAR-100 / ImageNet16-120 (Kendall 0.618 / 0.634 / 0.622); ``aleph`` alone 0.767 / 0.787 /
0.764; VKDNW_agg (the log-rank product of VKDNW_single, jacob_cov, AZ-NAS expressivity and
trainability and FLOPs, a population-level aggregate, not this proxy) 0.919 / 0.919 / 0.906.
The paper reports no correlation for the entropy alone. The last version of the authors'
notebook in the repository's history (commit ``779a3a8``, 2024-11-12, "table 1 adjust (sample
first layers)") prints VKDNW_single 0.811 / 0.820 / 0.809 (Kendall 0.613 / 0.624 / 0.616) for its
five "final" runs per dataset and the same ``aleph`` row; the published values are in no version
of the notebook, so they come from runs whose code and settings the history does not show.

**Speed.** The Jacobian of the logits with respect to the sampled weights is computed for the
whole batch at once, from gradients with respect to the modules' outputs only. For each sampled
weight ``w``, a forward hook on its module keeps the derivative of the module's output channel 0
with respect to ``w``, per example and position (a value the forward pass already knows: a
one-hot convolution of the input's channel 0, the input feature, or the normalised input), and
registers a gradient hook on that output. In the backward pass of ``sum_n logit_c(x_n)``, the
gradient hook receives the gradient ``g`` with respect to the output, multiplies its channel 0 by
the kept derivative and sums over positions: by the chain rule that is example ``n``'s
``d logit_c(x_n) / d w`` (the examples do not interact in eval mode), see
:class:`_OutputGradients`. One forward pass and one backward pass per class (no weight gradient
is formed) give the ``(examples, classes, weights)`` Jacobian, where the authors'
``vmap(jacrev(...))`` over per-example functional calls forms, for every example and class, the
gradient of each sampled tensor and keeps one element of it. Both give the same values up to
float32 rounding (4e-7 relative on NAS-Bench-201 networks, tests/test_vkdnw.py checks it on a
small network); on one CPU core the hooks took 2.4 to 3 times less time than
``vmap(jacrev)`` (batch 64). The network and its inputs are put in channels-last memory order
(:func:`nas.proxies._util.channels_last`).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from nas.errors import NasError
from nas.proxies import register_proxy
from nas.proxies._util import ForwardHooks, all_finite, channels_last, checked, logits_of
from nas.proxies.aznas import reinitialised_inputs
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult

#: values of the setting ``init``
INITS = ("kaiming", "model")
#: values of the setting ``inputs``
INPUTS = ("normal", "batch")
#: values of the setting ``fisher``: the authors' code's matrix or the paper's (see :func:`fisher_matrix`)
FISHER_FORMS = ("code", "paper")
#: the authors' ``params_grad_len``: how many parameter tensors (in registration order) give a weight
DEFAULT_PARAMETERS = 128
#: the authors' ``alpha``: the predicted probabilities are mixed with the uniform distribution
DEFAULT_SMOOTHING = 0.05
#: the eigenvalue quantiles whose entropy is VKDNW: the deciles 0.1, ..., 0.9 (the authors'
#: ``torch.arange(0.1, 1., 0.1)``), without the extreme eigenvalues 0 and 1
DECILES: tuple[float, ...] = tuple(k / 10 for k in range(1, 10))
#: the authors' ``1e-10``, in the deciles' normalisation and inside the logarithm
_EPS = 1e-10


# ---- which weights -----------------------------------------------------------------------------


def trainable_tensors(model: nn.Module) -> int:
    """``aleph``, the size term of VKDNW_single: the number of the model's parameter tensors.

    The authors' ``vkdnw_dim = len(list(model.named_parameters()))`` (the paper's "number of
    trainable layers"): every weight and bias tensor counts once (a tensor shared by two modules
    once). In a NAS-Bench-201 network every convolution edge brings a bias-free convolution and an
    affine batch norm, 3 tensors, in each of the 15 cells: ``aleph = 21 + 45 k`` for ``k``
    convolution edges (1x1 or 3x3, reaching the output or not) of the cell.
    """
    return len(list(model.named_parameters()))


def selected_parameters(model: nn.Module, count: int) -> list[tuple[str, nn.Parameter]]:
    """The parameter tensors one weight of which enters the FIM: the first ``count`` in registration order.

    The authors' ``dict(list(params_grad.items())[0:params_grad_len])`` over
    ``model.named_parameters()``; of each tensor, the element at flat index 0 is the weight
    (their ``v.flatten()[param_idx:param_idx+1]`` with ``param_idx = 0``, the setting behind the
    paper's Table 1; a later commit samples several elements per tensor). For a NAS-Bench-201
    network the order is stem, the cells and reduction blocks in order, the last batch norm and
    the classifier, so 128 tensors stop inside the third stage when the cell has 3 or more
    convolution edges (``aleph > 128``).
    """
    return list(model.named_parameters())[:count]


# ---- the per-example Jacobian ------------------------------------------------------------------


class _OutputGradients(ForwardHooks):
    """Per-example derivatives of a scalar of the outputs with respect to the selected weights, from the backward pass.

    ``weights[j]`` is the element at flat index 0 of parameter tensor ``j``; it writes channel 0
    of its module's output (the last axis for ``nn.Linear``, axis 1 otherwise), and
    ``d output[n, 0, ...] / d weight`` is a *factor* known in the forward pass:

    * ``nn.Conv1d/2d/3d`` weight (output channel 0, input channel 0, kernel offset 0): the
      convolution of input channel 0 with a one-hot kernel (same stride, padding, padding mode and
      dilation); bias: 1;
    * ``nn.Linear`` weight (output 0, input 0): input feature 0; bias: 1;
    * batch norm in eval mode with running statistics, weight: input channel 0 normalised by the
      running statistics; bias: 1.

    The forward hook keeps each factor (one channel, no graph) and registers a gradient hook on
    the module's output; in a backward pass of a scalar ``s`` of the logits, the hook receives
    ``g = ds/d output`` and adds ``sum over positions of g[n, 0] * factor[n]`` (``= ds/d weight``
    for example ``n``, the examples being independent) to ``row[j, n]``. A module run twice adds
    both uses (the derivative of a shared weight). An output that does not require gradients (it
    does not depend on the input) is replaced by a leaf that does, kept in ``leaves`` for the
    backward pass. ``problem`` names the first module whose output is not ``(batch, channels, ...)``.
    """

    def __init__(self, model: nn.Module, weights: Sequence[nn.Parameter], examples: int) -> None:
        owners: dict[int, list[tuple[nn.Module, str]]] = {}
        for module in model.modules():
            for role, parameter in module.named_parameters(recurse=False):
                owners.setdefault(id(parameter), []).append((module, role))
        self.examples = examples
        self.row: torch.Tensor = torch.zeros(len(weights), examples)
        self.leaves: list[torch.Tensor] = []
        self.problem: str | None = None
        self._terms: dict[int, list[tuple[str, int]]] = {}
        modules: dict[int, nn.Module] = {}
        for j, parameter in enumerate(weights):
            for module, role in owners.get(id(parameter), []):
                modules[id(module)] = module
                self._terms.setdefault(id(module), []).append((role, j))
        super().__init__(modules.values())

    def _hook(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
        if not isinstance(output, torch.Tensor) or output.dim() < 2 or output.shape[0] != self.examples:
            self.problem = self.problem or f"a {type(module).__name__}'s output is not (batch, channels, ...)"
            return None
        linear = isinstance(module, nn.Linear)
        with torch.no_grad():
            terms = [(j, _derivative(module, role, inputs[0].detach())) for role, j in self._terms[id(module)]]
        replaced = None
        if not output.requires_grad:
            replaced = output = output.detach().requires_grad_(True)
            self.leaves.append(output)

        def gradient(grad: torch.Tensor) -> None:
            channel = (grad[..., 0] if linear else grad[:, 0]).detach()
            for j, factor in terms:
                value = channel if factor is None else channel * factor
                self.row[j] += value.reshape(self.examples, -1).sum(dim=1).to(self.row.dtype)

        output.register_hook(gradient)
        return replaced


def _derivative(module: nn.Module, role: str, x: torch.Tensor) -> torch.Tensor | None:
    """``d output[:, channel 0] / d parameter.flatten()[0]`` per example; ``None`` for 1 (see :class:`_OutputGradients`)."""
    if role == "bias":
        return None
    if isinstance(module, _ConvNd):
        kernel = torch.zeros((1, 1, *module.kernel_size), dtype=x.dtype, device=x.device)
        kernel.view(-1)[0] = 1.0
        channel = x[:, :1]
        conv = (F.conv1d, F.conv2d, F.conv3d)[x.dim() - 3]
        padding = module.padding
        if module.padding_mode != "zeros":
            channel, padding = F.pad(channel, module._reversed_padding_repeated_twice, mode=module.padding_mode), 0
        return conv(channel, kernel, None, module.stride, padding, module.dilation)[:, 0]
    if isinstance(module, nn.Linear):
        return x[..., 0]
    assert isinstance(module, _BatchNorm) and module.running_mean is not None and module.running_var is not None
    return (x[:, 0] - module.running_mean[0]) / torch.sqrt(module.running_var[0] + module.eps)


def unsupported_parameter(model: nn.Module, weights: Sequence[tuple[str, nn.Parameter]]) -> str | None:
    """Why a per-example derivative of one of ``weights`` cannot be formed, or ``None``.

    Every selected tensor must be the ``weight`` or ``bias`` of a convolution (not transposed),
    an ``nn.Linear`` or a batch norm, and every batch norm of the model must have running
    statistics (without them, eval mode normalises by the batch's statistics, which couples the
    examples).
    """
    owners: dict[int, list[nn.Module]] = {}
    for module in model.modules():
        for _, parameter in module.named_parameters(recurse=False):
            owners.setdefault(id(parameter), []).append(module)
    for module_name, module in model.named_modules():
        if isinstance(module, _BatchNorm) and (module.running_mean is None or module.running_var is None):
            return f"batch norm {module_name!r} has no running statistics (in eval mode it would couple the examples)"
    for name, parameter in weights:
        for module in owners.get(id(parameter), []):
            role = name.rsplit(".", 1)[-1]
            kind = type(module).__name__
            if role not in ("weight", "bias"):
                return f"parameter {name!r} of {kind} is neither a weight nor a bias"
            if isinstance(module, _ConvNd) and not module.transposed:
                continue
            if isinstance(module, nn.Linear):
                continue
            if isinstance(module, _BatchNorm):
                continue
            return f"no per-example derivative for parameter {name!r} of {kind}"
    return None


def per_example_jacobian(
    model: nn.Module, inputs: torch.Tensor, weights: Sequence[tuple[str, nn.Parameter]]
) -> tuple[torch.Tensor, torch.Tensor] | ProxyResult:
    """``(jacobian, logits)``: ``jacobian[n, c, j] = d logit_c(x_n) / d weights[j].flatten()[0]``, or NaN with the reason.

    The model runs as it is (the caller puts it in eval mode); the examples must not interact
    (true in eval mode for the supported modules, see :func:`unsupported_parameter`). One forward
    pass with :class:`_OutputGradients`, then one backward pass per class ``c`` of
    ``sum_n logit_c(x_n)`` to the inputs, during which the gradient hooks read off row ``c``
    (the parameters' ``requires_grad`` is switched off meanwhile, so no weight gradient is
    formed). ``logits`` must be ``(examples, classes)``. The Jacobian is float64 (summed from the
    model's float32 gradients), the logits in the model's dtype.
    """
    why = unsupported_parameter(model, weights)
    if why is not None:
        return ProxyResult.nan(f"vkdnw: {why}")
    examples = inputs.shape[0]
    hooks = _OutputGradients(model, [parameter for _, parameter in weights], examples)
    flags = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    try:
        for parameter, _ in flags:
            parameter.requires_grad_(False)
        x = inputs.detach().clone().requires_grad_(inputs.is_floating_point())
        with hooks, torch.enable_grad():
            logits = logits_of(model(x))
        if hooks.problem is not None:
            return ProxyResult.nan(f"vkdnw: {hooks.problem}")
        if logits.dim() != 2 or logits.shape[0] != examples:
            return ProxyResult.nan(f"vkdnw: the model's logits have shape {tuple(logits.shape)}, not (batch, classes)")
        if not all_finite(logits):
            return ProxyResult.nan("vkdnw: the logits are not finite")
        classes = logits.shape[1]
        jacobian = torch.zeros(examples, classes, len(weights), dtype=torch.float64)
        sources = [t for t in (x, *hooks.leaves) if t.requires_grad]
        if logits.requires_grad and sources:
            for c in range(classes):
                hooks.row = torch.zeros(len(weights), examples, dtype=torch.float64, device=logits.device)
                torch.autograd.grad(logits[:, c].sum(), sources, retain_graph=c < classes - 1, allow_unused=True)
                jacobian[:, c, :] = hooks.row.T.cpu()
        return jacobian, logits.detach()
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


# ---- the Fisher information and its entropy ----------------------------------------------------


def smoothed_probabilities(logits: torch.Tensor, smoothing: float) -> torch.Tensor:
    """``(1 - smoothing) * softmax(logits) + smoothing / classes`` in float64 (the authors' ``alpha``)."""
    probabilities = torch.softmax(logits.to(torch.float64), dim=-1)
    return probabilities * (1.0 - smoothing) + smoothing / logits.shape[-1]


def categorical_cholesky(probabilities: torch.Tensor) -> torch.Tensor:
    """The lower-triangular ``L`` with ``L L^T = diag(p) - p p^T``, per row of ``probabilities`` (float64).

    The closed form of Tanabe and Sagae (JRSS B 1992, Theorem 1), as the authors'
    ``cholesky_covariance``: with ``q_i = sum_{k > i} p_k`` (so ``q_{C-1} = 0``) and ``q_{-1} = 1``,
    ``L[i, i] = d_i = sqrt(p_i q_i / q_{i-1})`` and ``L[i, j] = -p_i d_j / q_j`` below the diagonal
    (``j < i``). The last column is 0 (the covariance has rank ``C - 1``). ``q`` is summed from the
    tail; the authors' ``1 - cumsum(p)`` equals it when ``p`` sums to 1, but their ``p`` sums to
    about 1.00017 (see :class:`Vkdnw`'s deviations: their ``alpha`` is a float16 tensor).
    """
    p = probabilities.to(torch.float64)
    tail = torch.flip(torch.cumsum(torch.flip(p, dims=[-1]), dim=-1), dims=[-1])
    q = torch.cat([tail[..., 1:], torch.zeros_like(p[..., :1])], dim=-1)  # q_i = sum_{k > i} p_k
    q_before = torch.cat([torch.ones_like(p[..., :1]), q[..., :-1]], dim=-1)
    d = torch.sqrt(p * q / q_before)
    below = -p.unsqueeze(-1) * torch.where(q > 0, d / torch.where(q > 0, q, 1.0), 0.0).unsqueeze(-2)
    return torch.tril(below, diagonal=-1) + torch.diag_embed(d)


def fisher_factors(jacobian: torch.Tensor, logits: torch.Tensor, form: str = "code", smoothing: float = DEFAULT_SMOOTHING) -> torch.Tensor:
    """``A`` of shape ``(examples, classes, weights)``, float64, with the FIM ``= mean_n A_n^T A_n``.

    ``p_n`` = :func:`smoothed_probabilities` of example ``n``'s logits, ``J_n`` its
    ``(classes, weights)`` Jacobian of the logits, ``L_n`` = :func:`categorical_cholesky` of ``p_n``:

    * ``form="code"`` (default): ``A_n = L_n J_n``, as the authors' ``get_fisher``
      (``torch.matmul(cholesky_covariance(logits), jacobian)``, then ``mean(A^T A)``), which gives
      ``J^T L^T L J``. ``L^T L`` is not the covariance ``L L^T`` (they differ on and off the
      diagonal, by up to 0.09 for 10 equally likely classes), so this is not the paper's matrix;
      it is what the authors' code computes;
    * ``form="paper"``: the paper's ``A_n = (diag p - p p^T)^{1/2} J_n`` (Eqs. 9-10), here
      ``diag(sqrt p)(J_n - 1 p^T J_n)``, so that ``A^T A = J^T (diag p - p p^T) J``, the empirical
      FIM of the predictive distribution: ``E_{c ~ p}[g_c g_c^T]`` with ``g_c`` the gradient of
      ``log p_c``.
    """
    if form not in FISHER_FORMS:
        raise NasError(f"vkdnw: fisher form must be one of {', '.join(FISHER_FORMS)}, got {form!r}")
    j = jacobian.to(torch.float64)
    p = smoothed_probabilities(logits, smoothing)
    if form == "code":
        return categorical_cholesky(p) @ j
    centred = j - torch.einsum("nc,ncw->nw", p, j).unsqueeze(1)
    return p.sqrt().unsqueeze(-1) * centred


def fisher_matrix(jacobian: torch.Tensor, logits: torch.Tensor, form: str = "code", smoothing: float = DEFAULT_SMOOTHING) -> torch.Tensor:
    """The ``(weights, weights)`` FIM ``mean_n A_n^T A_n`` of :func:`fisher_factors` (float64)."""
    a = fisher_factors(jacobian, logits, form, smoothing)
    return torch.einsum("ncw,ncv->wv", a, a) / a.shape[0]


def fisher_eigenvalues(jacobian: torch.Tensor, logits: torch.Tensor, form: str = "code", smoothing: float = DEFAULT_SMOOTHING) -> np.ndarray:
    """The FIM's eigenvalues, ascending, float64: squared singular values of the stacked ``A / sqrt(N)``.

    Equal to the eigenvalues of :func:`fisher_matrix` (the authors take ``torch.svd(fisher).S``,
    the singular values of the PSD matrix, i.e. its eigenvalues), without forming the matrix and
    with the small ones accurate to float64 rounding of ``A``; a FIM of rank below its size gets
    zeros for the rest.
    """
    a = fisher_factors(jacobian, logits, form, smoothing)
    examples, classes, weights = a.shape
    singular = torch.linalg.svdvals(a.reshape(examples * classes, weights) / math.sqrt(examples))
    values = np.zeros(weights)
    values[: singular.numel()] = singular.numpy() ** 2
    return np.sort(values)


def decile_entropy(eigenvalues: Sequence[float] | np.ndarray) -> float:
    """VKDNW (Eq. 11): ``-sum_k t_k log(t_k + 1e-10)``, ``t = q / (sum q + 1e-10)``, ``q`` the 9 deciles.

    ``q`` are the quantiles 0.1, ..., 0.9 of the eigenvalues with linear interpolation
    (``torch.quantile``'s default, as the authors); the extreme eigenvalues (quantiles 0 and 1) are
    left out, as in the authors' NAS-Bench-201 code (their MobileNetV2 code,
    ``ImageNet_MBV2/ZeroShotProxy/compute_vkdnw_score.py``, takes the 11 quantiles 0, 0.1, ...,
    1). Natural logarithm. At most ``log 9 = 2.197`` (equal deciles); 0 when every decile is 0 (the authors' epsilons make the
    empty spectrum 0, not NaN). The epsilons are the authors' and make the value depend on the
    spectrum's scale when its deciles sum to less than about 1e-8.
    """
    values = np.asarray(eigenvalues, dtype=np.float64)
    q = np.quantile(values, DECILES)
    t = q / (q.sum() + _EPS)
    return float(-(t * np.log(t + _EPS)).sum())


# ---- the proxy ---------------------------------------------------------------------------------


@register_proxy()
class Vkdnw(Proxy):
    """VKDNW_single: ``aleph + VKDNW``, tensor count plus the entropy of the deciles of a sampled Fisher spectrum.

    Definition, as the authors' ``NB201/ZeroShotProxy/compute_vkdnw_score.py`` of commit ``945250a``
    (2024-11-02, "params first": the first tensors instead of the last; unchanged until
    2024-11-17, so the code of the "final" runs the notebook of commit ``779a3a8``, 2024-11-12,
    lists for its Table 1), driven by ``NB201/tss_general_.py`` of that commit with its defaults
    (VKDNW the first proxy on each freshly built network), and ranked as in
    ``NB201/paper_preparation.ipynb`` and ``NB201/tss_analyze.ipynb``:

    * the network: NAS-Bench-201's own per-architecture network (``custom/tss_model.py``: affine
      batch norms with running statistics, as this library's); re-initialised as the authors'
      ``init_model(model, 'kaiming_norm_fanin')`` (setting ``init``);
    * the inputs: ``torch.randn`` of the batch's shape, no labels (``trainloader=None`` for VKDNW
      in ``tss_general_.py`` unless ``--real_input``; setting ``inputs``); batch 64 (its
      ``--batch_size`` default);
    * the mode: ``model.eval()`` on the freshly built network, so batch norm normalises by its
      initial running statistics (mean 0, variance 1): an affine map ``x / sqrt(1 + eps)``, and the
      examples do not interact (the authors evaluate each example alone under ``vmap``). The
      running statistics are reset before scoring, so that a pass the model went through before
      does not change that;
    * the weights: element 0 of each of the first ``parameters`` (128) parameter tensors in
      registration order (:func:`selected_parameters`), biases and batch-norm parameters included;
    * the FIM: :func:`per_example_jacobian` of the logits at those weights, then
      ``mean_n A_n^T A_n`` with the authors' factor ``A_n = L_n J_n`` (setting ``fisher``, see
      :func:`fisher_factors`) on the probabilities mixed with ``smoothing = 0.05`` of the uniform
      distribution (the authors' ``alpha``);
    * VKDNW: :func:`decile_entropy` of the FIM's eigenvalues (:func:`fisher_eigenvalues`);
    * the score: ``aleph + VKDNW`` with ``aleph`` = :func:`trainable_tensors` (the paper's Eq. 12;
      setting ``size_term``). The authors' notebook ranks the pairs ``(aleph, VKDNW)``
      lexicographically, which orders as the sum whenever ``aleph`` moves in steps above
      ``log 9 = 2.2`` (45 on NAS-Bench-201). Higher is better (the authors rank ascending).

    Settings:

    * ``init``: ``"kaiming"`` (default): every ``Conv2d``/``Linear`` weight from ``N(0, 2/fan_in)``,
      biases 0, affine batch norms weight 1 and bias 0, each module from its own position seed
      (:func:`nas.proxies.aznas.kaiming_reinitialise`, AZ-NAS's, which VKDNW's code copies);
      ``"model"`` keeps the model's weights;
    * ``inputs``: ``"normal"`` (default) replaces the batch by ``N(0, 1)`` values of its shape from
      a generator seeded by ``context.seed``; ``"batch"`` scores the batch as given;
    * ``parameters`` (128): how many parameter tensors give a weight (the authors' ``params_grad_len``);
    * ``fisher``: ``"code"`` (default, the authors' matrix) or ``"paper"`` (the paper's FIM);
    * ``smoothing`` (0.05): the weight of the uniform distribution in the probabilities;
    * ``size_term`` (true): add ``aleph``; false gives VKDNW alone (Eq. 11).

    NaN with the reason: a selected parameter of a module other than a convolution, ``nn.Linear``
    or a batch norm with running statistics; logits that are not ``(batch, classes)`` or not
    finite; a Jacobian that is not finite; a model without parameters.

    Deviations from the authors' code: the FIM, its eigenvalues and the entropy in float64 (the
    authors' in float32, on GPUs that may round convolutions to TF32), the eigenvalues from the
    singular values of the stacked factors instead of an SVD of the matrix; the per-example
    Jacobian by hooks instead of ``vmap(jacrev)`` (the same derivatives); channels-last memory;
    the smoothing exactly ``0.05``: the authors' ``alpha`` is a float16 tensor, so their ``1 -
    alpha`` is 0.9502 and, at 10 classes, ``alpha / 10`` is 0.0049973, and their probabilities sum
    to about 1.00017 (on two NAS-Bench-201 networks their float32 pipeline, float16 ``alpha``
    included, gave entropies within 0.001 of these).
    """

    name = "vkdnw"
    higher_is_better = True
    version = "1"
    batch_size = 64  # tss_general_.py --batch_size default
    needs = frozenset({"data", "gradients"})
    defaults: dict[str, Any] = {
        "init": "kaiming",
        "inputs": "normal",
        "parameters": DEFAULT_PARAMETERS,
        "fisher": "code",
        "smoothing": DEFAULT_SMOOTHING,
        "size_term": True,
    }
    summary = "VKDNW (Tybl 2025): tensor count + entropy of the Fisher spectrum's deciles on 128 sampled weights (paper: 64)"

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        for key, allowed in (("init", INITS), ("inputs", INPUTS), ("fisher", FISHER_FORMS)):
            if self.settings[key] not in allowed:
                raise NasError(f"proxy 'vkdnw': setting {key!r} must be one of {', '.join(allowed)}, got {self.settings[key]!r}")
        if self.settings["parameters"] < 1:
            raise NasError(f"proxy 'vkdnw': setting 'parameters' must be at least 1, got {self.settings['parameters']}")
        if not 0.0 <= self.settings["smoothing"] <= 1.0:
            raise NasError(f"proxy 'vkdnw': setting 'smoothing' must be from 0 to 1, got {self.settings['smoothing']}")

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Score ``model``: one forward pass and one backward pass per class on the batch (no labels)."""
        weights = selected_parameters(model, self.settings["parameters"])
        if not weights:
            return ProxyResult.nan("vkdnw: the model has no parameters")
        inputs = reinitialised_inputs(self.name, self.settings, model, batch, context.seed)
        for module in model.modules():
            if isinstance(module, _BatchNorm) and module.track_running_stats:
                module.reset_running_stats()
        model.eval()
        inputs = channels_last(model, inputs)
        found = per_example_jacobian(model, inputs, weights)
        if isinstance(found, ProxyResult):
            return found
        jacobian, logits = found
        if not all_finite(jacobian):
            return ProxyResult.nan("vkdnw: the Jacobian of the logits is not finite")
        eigenvalues = fisher_eigenvalues(jacobian.cpu(), logits.cpu(), self.settings["fisher"], self.settings["smoothing"])
        value = decile_entropy(eigenvalues)
        if self.settings["size_term"]:
            value += trainable_tensors(model)
        return checked(value, "vkdnw")
