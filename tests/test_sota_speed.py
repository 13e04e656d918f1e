"""The fast AZ-NAS, SWAP, MeCo and ZiCo implementations against plain reference implementations.

Each reference below is written the obvious way from the proxy's definition (one forward pass with
hooks, ``torch.cov`` / ``torch.corrcoef`` / ``numpy.std``, one unique over integer-coded
patterns, no layout tricks), so it computes what the first implementations of these proxies
computed. The proxies now run their networks in channels-last memory order (AZ-NAS, ZiCo),
which changes the order of float32 sums: in float64 they must equal the references to rounding,
in float32 to float32 rounding (measured tolerances, see the proxies' docstrings). SWAP and MeCo
run the same network computation as before, so SWAP's counts are equal and MeCo equal to 1e-12.
"""

from __future__ import annotations

import math
import random
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.data import load_batch
from nas.proxies import create_proxy
from nas.proxies._util import all_finite, channels_last
from nas.proxies.aznas import kaiming_reinitialise
from nas.proxies.base import Batch, ProxyContext
from nas.proxies.swap import DEFAULT_REGULARISATION, gaussian_reinitialise, parameter_count, size_factor

CONTEXT = ProxyContext(space="nb201", dataset="cifar10", num_classes=10, seed=0)

STRONG = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
WEAK_POOL = "|avg_pool_3x3~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|avg_pool_3x3~2|"
SKIP_POOL = "|skip_connect~0|+|avg_pool_3x3~0|skip_connect~1|+|avg_pool_3x3~0|skip_connect~1|avg_pool_3x3~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
IDENTITY_CELL = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"


def _sampled(count: int) -> list[str]:
    """``count`` architectures of a seeded NB201 sample, as strings."""
    from nas.spaces import create_space

    space = create_space("nb201")
    rng = random.Random(3)
    return [space.format(space.sample(rng)) for _ in range(count)]


#: hand-picked cells (a strong one, pools, a skip chain, the NaN cases) and a seeded sample
ARCHS = [STRONG, WEAK_POOL, SKIP_POOL, ALL_NONE, IDENTITY_CELL, *_sampled(3)]


def _same(new: float, reference: float, *, rel: float, abs_: float = 0.0) -> bool:
    """Equal within the tolerances, NaN (or an infinity) matching NaN."""
    if not math.isfinite(reference) or not math.isfinite(new):
        return not math.isfinite(reference) and math.isnan(new)
    return abs(new - reference) <= max(rel * abs(reference), abs_)


# ---- the references ----------------------------------------------------------------------------


def reference_az(model: nn.Module, inputs: torch.Tensor, seed: int) -> tuple[float, float, float]:
    """AZ-NAS expressivity, progressivity and trainability of ``model`` on ``inputs`` (its own weights), the obvious way.

    One forward pass with gradients, hooks keeping the stem's and every cell's output; per stage
    the entropy of the normalised eigenvalues of ``torch.cov`` (population) of the ``b*h*w``
    observations; per pair of stages, last first, a Rademacher ``g_out`` from a generator seeded
    with ``seed``, its vector-Jacobian product, the pixel-unshuffled ``g_in`` at a reduction, and
    the largest singular value of ``E[g_in g_out^T]``. NaN for a constant stage output (no
    spectrum) and for a stage whose Jacobian is the identity.
    """
    stages = [model.stem, *model.cells]
    outputs: list[torch.Tensor] = []
    handles = [stage.register_forward_hook(lambda module, args, out: outputs.append(out)) for stage in stages]
    model.train()
    model(inputs)
    for handle in handles:
        handle.remove()
    entropies = []
    for out in outputs:
        rows = out.detach().to(torch.float64).permute(0, 2, 3, 1).reshape(-1, out.shape[1])
        eigenvalues = torch.linalg.eigvalsh(torch.cov(rows.T, correction=0)).clamp_min(0.0)
        p = eigenvalues / eigenvalues.sum()
        entropies.append(float(-(p * torch.log(p + 1e-8)).sum()))
    expressivity = sum(entropies)
    progressivity = float(np.min(np.diff(entropies)))
    generator = torch.Generator().manual_seed(seed)
    terms = []
    for index in reversed(range(1, len(outputs))):
        f_in, f_out = outputs[index - 1], outputs[index]
        g_out = (torch.randint(0, 2, f_out.shape, generator=generator) * 2 - 1).to(f_out.dtype)
        (g_in,) = torch.autograd.grad(f_out, f_in, g_out, retain_graph=True, allow_unused=True)
        if g_in is None:
            g_in = torch.zeros_like(f_in)
        if torch.equal(g_in, g_out):  # exact: an identity stage passes the same tensor values through
            terms.append(math.nan)
            continue
        if g_in.shape[2] != g_out.shape[2]:
            g_in = F.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
        rows_in = g_in.to(torch.float64).permute(0, 2, 3, 1).reshape(-1, g_in.shape[1])
        rows_out = g_out.to(torch.float64).permute(0, 2, 3, 1).reshape(-1, g_out.shape[1])
        s = float(torch.linalg.svdvals(rows_in.T @ rows_out / rows_in.shape[0]).max())
        terms.append(2.0 - s - 1.0 / (s + 1e-6))
    return expressivity, progressivity, float(np.mean(terms))


def reference_swap(model: nn.Module, inputs: torch.Tensor, seed: int, repeats: int) -> float:
    """Mean over ``repeats`` Gaussian redraws of the number of distinct ReLU patterns (unregularised), the obvious way."""
    counts = []
    model.train()
    for repeat in range(repeats):
        gaussian_reinitialise(model, seed, repeat)
        active: list[torch.Tensor] = []

        def keep(module: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            if args[0].dim() == 4:
                active.append((out.detach() > 0).reshape(out.shape[0], -1))

        handles = [m.register_forward_hook(keep) for m in model.modules() if isinstance(m, nn.ReLU)]
        with torch.no_grad():
            model(inputs)
        for handle in handles:
            handle.remove()
        matrix = torch.cat(active, dim=1)  # (examples, units)
        codes = torch.zeros(matrix.shape[1], (len(matrix) + 61) // 62, dtype=torch.int64)  # 62 examples per word
        for example, row in enumerate(matrix):
            codes[:, example // 62] += row.to(torch.int64) << (example % 62)
        counts.append(torch.unique(codes, dim=0).shape[0])
    return sum(counts) / len(counts)


def reference_meco(model: nn.Module, inputs: torch.Tensor, distinct: bool) -> float:
    """MeCo, the obvious way: every module's output for the first example, ``torch.corrcoef`` (NaN -> 0), min eigenvalue."""
    terms: list[float] = []
    seen: list[tuple[torch.Tensor, int]] = []

    def term(module: nn.Module, args: tuple[object, ...], out: object) -> None:
        if not isinstance(out, torch.Tensor) or out.dim() < 2:
            return
        if distinct:
            if any(tensor is out and version == out._version for tensor, version in seen):
                return
            seen.append((out, out._version))
        feature = out[0].detach().reshape(out.shape[1], -1).to(torch.float64)
        correlation = torch.nan_to_num(torch.corrcoef(feature), nan=0.0).reshape(feature.shape[0], feature.shape[0])
        terms.append(float(torch.linalg.eigvalsh(correlation).min()))

    handles = [m.register_forward_hook(term) for m in model.modules()]
    model.train()
    with torch.no_grad():
        model(inputs)
    for handle in handles:
        handle.remove()
    return sum(terms)


def reference_zico(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, splits: int) -> float:
    """ZiCo, the obvious way (the authors' ``getgrad`` and ``caculate_zico``): per part the weight gradients, then numpy."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    gradients: list[list[np.ndarray]] = [[] for _ in layers]
    model.train()
    for part_inputs, part_targets in zip(torch.tensor_split(inputs, splits), torch.tensor_split(targets, splits)):
        model.zero_grad()
        F.cross_entropy(model(part_inputs), part_targets).backward()
        for index, layer in enumerate(layers):
            grad = layer.weight.grad
            gradients[index].append(np.zeros(layer.weight.numel()) if grad is None else grad.double().flatten().numpy())
    total = 0.0
    for per_part in gradients:
        stacked = np.stack(per_part)
        std = stacked.std(axis=0)
        nonzero = np.nonzero(std)[0]
        layer_sum = float((np.abs(stacked).mean(axis=0)[nonzero] / std[nonzero]).sum())
        if layer_sum != 0.0:
            total += math.log(layer_sum)
    return total


# ---- AZ-NAS ----------------------------------------------------------------------------------------


AZ = ("az_expressivity", "az_progressivity", "az_trainability")


def _az_scores(model: Callable[[], nn.Module], batch: Batch, **settings: str) -> tuple[float, float, float]:
    values = [create_proxy(name, **settings).score(model(), batch, CONTEXT).value for name in AZ]
    return values[0], values[1], values[2]


@pytest.mark.parametrize("arch", ARCHS)
def test_az_equals_the_reference_in_float64(arch: str, build: Callable[..., nn.Module]) -> None:
    """The library's weights and a real batch of 16 in float64: the channels-last pass changes only float64 rounding."""
    batch = load_batch("cifar10", data="real", size=16, seed=0)
    batch64 = Batch(batch.inputs.double(), None, batch.identity + ":f64", "cifar10")
    new = _az_scores(lambda: build(arch).double(), batch64, init="model", inputs="batch")
    reference = reference_az(build(arch).double(), batch64.inputs, CONTEXT.seed)
    for name, value, expected in zip(AZ, new, reference):
        assert _same(value, expected, rel=1e-9, abs_=1e-12), (name, value, expected)


@pytest.mark.parametrize("arch", ARCHS)
def test_az_defaults_equal_the_reference_to_float32_rounding(arch: str, build: Callable[..., nn.Module]) -> None:
    """The defaults (Kaiming redraw, Gaussian inputs, batch 64), float32: equal up to the float32 rounding of the layout."""
    batch = load_batch("cifar10", data="real", size=64, seed=0)
    new = _az_scores(lambda: build(arch), batch)
    model = build(arch)
    kaiming_reinitialise(model, CONTEXT.seed)
    inputs = torch.randn(batch.inputs.shape, generator=torch.Generator().manual_seed(CONTEXT.seed))
    expressivity, progressivity, trainability = reference_az(model, inputs, CONTEXT.seed)
    assert _same(new[0], expressivity, rel=1e-5), (new[0], expressivity)
    assert _same(new[1], progressivity, rel=1e-4, abs_=1e-5), (new[1], progressivity)
    assert _same(new[2], trainability, rel=2e-3, abs_=1e-5), (new[2], trainability)


# ---- SWAP ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", [STRONG, WEAK_POOL, ALL_NONE, *_sampled(2)])
def test_swap_counts_equal_the_reference(arch: str, build: Callable[..., nn.Module]) -> None:
    """Two Gaussian redraws at the standard batch of 16: the same counts, exactly (a table of 2**16 flags here)."""
    batch = load_batch("cifar10", data="real", size=16, seed=0)
    plain = create_proxy("swap", repeats=2, regularise=False).score(build(arch), batch, CONTEXT).value
    assert plain == reference_swap(build(arch), batch.inputs, CONTEXT.seed, 2)
    regularised = create_proxy("swap", repeats=2).score(build(arch), batch, CONTEXT).value
    mu, sigma = DEFAULT_REGULARISATION[("nb201", "cifar10")]
    assert regularised == plain * size_factor(parameter_count(build(arch)) / 1e6, mu, sigma)


@pytest.mark.parametrize("size", [23, 30])
def test_swap_counts_equal_the_reference_beyond_the_table(size: int, build: Callable[..., nn.Module]) -> None:
    """More than 20 examples: sorted unique codes (one word at 23 examples, two words at 30), still the same counts."""
    batch = load_batch("cifar10", data="real", size=size, seed=0)
    new = create_proxy("swap", regularise=False).score(build(SKIP_POOL), batch, CONTEXT).value
    assert new == reference_swap(build(SKIP_POOL), batch.inputs, CONTEXT.seed, 1)


def test_swap_default_is_one_redraw_and_the_authors_32_are_a_setting(build: Callable[..., nn.Module]) -> None:
    swap = create_proxy("swap")
    assert swap.settings["repeats"] == 1 and swap.version == "2"
    batch = load_batch("cifar10", data="real", size=16, seed=0)
    one = swap.score(build(STRONG), batch, CONTEXT).value
    four = create_proxy("swap", repeats=4).score(build(STRONG), batch, CONTEXT).value
    first = create_proxy("swap", repeats=1).score(build(STRONG), batch, CONTEXT).value
    assert one == first and one != four  # redraw 0 is the first of the authors' redraws


# ---- MeCo --------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings(r"ignore:cov\(\)")  # corrcoef of one observation ("degrees of freedom <= 0"): NaN, set to 0
@pytest.mark.parametrize("layers", ["modules", "distinct"])
@pytest.mark.parametrize("arch", ARCHS)
def test_meco_equals_the_reference(arch: str, layers: str, build: Callable[..., nn.Module]) -> None:
    """One real image: singular matrices now give exactly 0 (the eigensolver's residue was about 1e-16)."""
    batch = load_batch("cifar10", data="real", size=1, seed=0)
    new = create_proxy("meco", layers=layers).score(build(arch), batch, CONTEXT).value
    assert new == pytest.approx(reference_meco(build(arch), batch.inputs, layers == "distinct"), rel=1e-12, abs=1e-12)


# ---- ZiCo --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zico_batch(data_dir: object) -> Batch:
    """2 parts of 16 real labelled images (the equivalence does not depend on the part size; 2 x 128 is the default)."""
    return load_batch("cifar10", data="real", size=32, seed=0)


@pytest.mark.parametrize("arch", [STRONG, WEAK_POOL, SKIP_POOL, *_sampled(2)])
def test_zico_equals_the_reference_in_float64(arch: str, build: Callable[..., nn.Module], zico_batch: Batch) -> None:
    batch64 = Batch(zico_batch.inputs.double(), zico_batch.targets, zico_batch.identity + ":f64", "cifar10")
    new = create_proxy("zico").score(build(arch).double(), batch64, CONTEXT).value
    assert new == pytest.approx(reference_zico(build(arch).double(), batch64.inputs, batch64.targets, 2), rel=1e-9)


@pytest.mark.parametrize("arch", [STRONG, SKIP_POOL, *_sampled(2)])
def test_zico_in_float32_is_as_close_to_float64_as_the_reference(
    arch: str, build: Callable[..., nn.Module], zico_batch: Batch
) -> None:
    """ZiCo's ratios ``mean|g| / std(g)`` magnify rounding where two parts' gradients nearly agree: float32 scores
    of either memory layout (the reference's and the proxy's) are up to a few 1e-2 away from the float64 score."""
    exact = reference_zico(build(arch).double(), zico_batch.inputs.double(), zico_batch.targets, 2)
    new = create_proxy("zico").score(build(arch), zico_batch, CONTEXT).value
    reference = reference_zico(build(arch), zico_batch.inputs, zico_batch.targets, 2)
    assert new == pytest.approx(exact, rel=2e-2) and reference == pytest.approx(exact, rel=2e-2), (new, reference, exact)


def test_zico_no_path_is_nan(build: Callable[..., nn.Module], zico_batch: Batch) -> None:
    result = create_proxy("zico").score(build(ALL_NONE), zico_batch, CONTEXT)
    assert result.is_nan and "vary" in (result.reason or "")


# ---- helpers -------------------------------------------------------------------------------------------


def test_all_finite() -> None:
    assert all_finite(torch.randn(4, 5))
    big = torch.full((10,), 3e38)  # finite values whose float32 sum overflows
    assert not bool(torch.isfinite(big.sum())) and all_finite(big)
    for bad in (math.inf, -math.inf, math.nan):
        values = torch.randn(100)
        values[17] = bad
        assert not all_finite(values)
    both = torch.tensor([math.inf, -math.inf, 1.0])  # the sum is NaN
    assert not all_finite(both)


def test_channels_last_keeps_values_and_other_shapes() -> None:
    conv = nn.Conv2d(3, 4, 3)
    before = conv.weight.detach().clone()
    images = torch.randn(2, 3, 5, 5)
    moved = channels_last(conv, images)
    # exact: a change of memory layout copies the values, it computes nothing
    assert moved.is_contiguous(memory_format=torch.channels_last) and torch.equal(moved, images)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and torch.equal(conv.weight, before)  # exact: as above
    tokens = torch.randn(2, 7)
    assert channels_last(nn.Linear(7, 3), tokens) is tokens
