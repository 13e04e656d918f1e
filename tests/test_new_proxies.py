"""MeCo and ZiCo: hand-checked values on tiny networks, direction on real NAS-Bench-201 networks, NaN cases."""

from __future__ import annotations

import math
from typing import Callable

import pytest
import torch
import torch.nn as nn

from nas.data import load_batch
from nas.errors import NasError
from nas.proxies import PROXIES, create_proxy
from nas.proxies.base import Batch, ProxyContext, ProxyResult
from nas.proxies.meco import min_correlation_eigenvalue
from nas.proxies.zico import zico_from_gradients

CONTEXT = ProxyContext(space="nb201", dataset="cifar10", num_classes=10, seed=0)

# test accuracies (CIFAR-10, 200 epochs) from the shared NAS-Bench-201 table
STRONG = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"  # 94.36
WEAK_POOL = "|avg_pool_3x3~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|avg_pool_3x3~2|"  # 63.27
SKIP_POOL = "|skip_connect~0|+|avg_pool_3x3~0|skip_connect~1|+|avg_pool_3x3~0|skip_connect~1|avg_pool_3x3~2|"  # 53.46
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"  # 10.00

# two centred, orthogonal unit "channels" over 4 positions (a 2x2 map)
U = torch.tensor([1.0, -1.0, 1.0, -1.0]) / 2
V = torch.tensor([1.0, 1.0, -1.0, -1.0]) / 2


def _batch(inputs: torch.Tensor, targets: torch.Tensor | None = None) -> Batch:
    return Batch(inputs=inputs, targets=targets, identity="test", dataset="cifar10")


def _one_example(*channels: torch.Tensor) -> Batch:
    """One example whose channels are the given 4-vectors laid out as 2x2 maps."""
    return _batch(torch.stack(channels).reshape(1, len(channels), 2, 2))


def _conv1x1(weight: list[list[float]]) -> nn.Conv2d:
    w = torch.tensor(weight)
    conv = nn.Conv2d(w.shape[1], w.shape[0], 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(w[:, :, None, None])
    return conv


# ---- registry --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["meco", "zico"])
def test_registered_with_description_and_version(name: str) -> None:
    cls = PROXIES.get(name)
    assert cls.name == name
    assert cls.summary and cls.__doc__
    assert cls.version == "1"
    assert cls.invariance == "exact"
    assert cls.higher_is_better is True
    assert name in PROXIES.names() and name in PROXIES
    assert create_proxy(name).name == name


def test_needs() -> None:
    assert PROXIES.get("meco").needs == {"data"}
    assert PROXIES.get("zico").needs == {"data", "labels", "gradients"}


def test_bad_settings_are_refused() -> None:
    with pytest.raises(NasError):
        create_proxy("meco", layers="convs")
    with pytest.raises(NasError):
        create_proxy("zico", splits=1)


# ---- MeCo by hand ----------------------------------------------------------------------------


def test_min_eigenvalue_of_known_correlation_matrices() -> None:
    u, v = U.double(), V.double()
    # identical channels: correlation [[1, 1], [1, 1]], eigenvalues 0 and 2
    assert min_correlation_eigenvalue(torch.stack([u, u])) == (pytest.approx(0.0, abs=1e-12), False)
    # opposite channels: [[1, -1], [-1, 1]], eigenvalues 0 and 2
    assert min_correlation_eigenvalue(torch.stack([u, -3 * u + 5])) == (pytest.approx(0.0, abs=1e-12), False)
    # orthogonal channels: the identity, eigenvalue 1 (twice); shifts and scales do not matter
    assert min_correlation_eigenvalue(torch.stack([u, 7 * v + 2])) == (pytest.approx(1.0, abs=1e-12), False)
    # correlation rho: eigenvalues 1 - |rho| and 1 + |rho|
    rho = 0.5
    assert min_correlation_eigenvalue(torch.stack([u, rho * u + math.sqrt(1 - rho**2) * v]))[0] == pytest.approx(0.5, abs=1e-12)
    # a constant channel has a zero row and column (the authors' NaN -> 0): eigenvalue 0
    assert min_correlation_eigenvalue(torch.stack([u, v, torch.full((4,), 3.0)]))[0] == pytest.approx(0.0, abs=1e-12)
    # one channel: the 1x1 matrix [1]; one observation: every channel constant
    assert min_correlation_eigenvalue(u[None])[0] == pytest.approx(1.0)
    assert min_correlation_eigenvalue(torch.ones(5, 1)) == (0.0, True)  # exact: the all-constant path returns 0.0


def test_meco_of_a_one_conv_network() -> None:
    meco = create_proxy("meco")
    # the model is the convolution itself: one module, one feature map
    identity = _conv1x1([[1.0, 0.0], [0.0, 1.0]])
    assert meco.score(identity, _one_example(U, V), CONTEXT).value == pytest.approx(1.0, abs=1e-6)
    duplicate = _conv1x1([[1.0, 0.0], [1.0, 0.0]])  # two identical output channels
    result = meco.score(duplicate, _one_example(U, V), CONTEXT)
    assert result.reason is None and result.value == pytest.approx(0.0, abs=1e-6)
    mixing = _conv1x1([[1.0, 0.0], [0.5, math.sqrt(0.75)]])  # output channels of correlation 0.5
    assert meco.score(mixing, _one_example(U, V), CONTEXT).value == pytest.approx(0.5, abs=1e-6)


def test_meco_counts_every_module_or_each_distinct_feature_map() -> None:
    model = nn.Sequential(_conv1x1([[1.0, 0.0], [0.0, 1.0]]), nn.Identity())
    batch = _one_example(U, V)
    # the Sequential, the conv and the identity all return the same map: 3 x 1 (the authors' hooks)
    assert create_proxy("meco").score(model, batch, CONTEXT).value == pytest.approx(3.0, abs=1e-6)
    assert create_proxy("meco", layers="distinct").score(model, batch, CONTEXT).value == pytest.approx(1.0, abs=1e-6)
    # an in-place ReLU changes the tensor it returns: the conv's term (correlation 0.5, so 0.5) is
    # taken before the ReLU overwrites it, and the ReLU's output is a new map
    w = torch.stack([U, 0.5 * U + math.sqrt(0.75) * V])
    after_relu, _ = min_correlation_eigenvalue(w.clamp_min(0))
    assert 0.01 < abs(after_relu - 0.5)
    relu_model = nn.Sequential(_conv1x1([[1.0, 0.0], [0.0, 1.0]]), nn.ReLU(inplace=True))
    correlated = _one_example(*w)
    # modules: conv, ReLU and the Sequential (the ReLU's output again)
    assert create_proxy("meco").score(relu_model, correlated, CONTEXT).value == pytest.approx(0.5 + 2 * after_relu, abs=1e-6)
    distinct = create_proxy("meco", layers="distinct").score(relu_model, correlated, CONTEXT).value
    assert distinct == pytest.approx(0.5 + after_relu, abs=1e-6)


def test_meco_reads_only_the_first_example() -> None:
    conv = _conv1x1([[1.0, 0.0], [0.0, 1.0]])
    first = _one_example(U, V).inputs
    other = _one_example(U, U).inputs  # identical channels: would score 0
    meco = create_proxy("meco")
    assert meco.score(conv, _batch(torch.cat([first, other])), CONTEXT).value == pytest.approx(1.0, abs=1e-6)
    assert meco.score(conv, _batch(torch.cat([other, first])), CONTEXT).value == pytest.approx(0.0, abs=1e-6)


class _Silenced(nn.Module):
    """Multiplies the input by 0 before a convolution: no feature map depends on the input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = _conv1x1([[1.0, 0.0], [0.0, 1.0]])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x * 0.0)


class _Summing(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=(1, 2, 3))


class _Exploding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = _conv1x1([[1.0, 0.0], [0.0, 1.0]])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) / 0.0


def test_meco_nan_cases_carry_a_reason() -> None:
    meco = create_proxy("meco")
    batch = _one_example(U, V)
    silenced = meco.score(_Silenced(), batch, CONTEXT)
    assert silenced.is_nan and "constant" in (silenced.reason or "")
    no_maps = meco.score(_Summing(), batch, CONTEXT)
    assert no_maps.is_nan and "no module" in (no_maps.reason or "")
    # the conv's map is finite, the model's output (x / 0) is not
    exploding = meco.score(_Exploding(), batch, CONTEXT)
    assert exploding.is_nan and "not finite" in (exploding.reason or "")


# ---- ZiCo by hand ----------------------------------------------------------------------------

# a 2 -> 2 linear layer with zero weights gives logits 0, softmax (1/2, 1/2), and for one example
# (x, y) the gradient dL/dW[k] = (1/2 - [y == k]) x. With x = (1, 0), then (3, 2), both of class 0:
# part 1: W[0] -> (-0.5, 0), W[1] -> (0.5, 0); part 2: W[0] -> (-1.5, -1), W[1] -> (1.5, 1).
# mean|g| / std(g): W00 = 1 / 0.5 = 2, W01 = 0.5 / 0.5 = 1, W10 = 2, W11 = 1; the layer: ln 6.
HAND_INPUTS = torch.tensor([[1.0, 0.0], [3.0, 2.0]])
HAND_TARGETS = torch.tensor([0, 0])


def _zero_linear() -> nn.Linear:
    layer = nn.Linear(2, 2, bias=False)
    nn.init.zeros_(layer.weight)
    return layer


def test_zico_formula_by_hand() -> None:
    gradients = torch.tensor([[-0.5, 0.0, 0.5, 0.0], [-1.5, -1.0, 1.5, 1.0]])
    assert zico_from_gradients([gradients]) == (pytest.approx(math.log(6.0)), 1)
    # a weight whose gradient does not vary is left out: only W01 and W11 remain, 1 + 1
    assert zico_from_gradients([torch.tensor([[-0.5, -0.5, 0.0, 0.0], [-0.5, -0.5, 1.0, 1.0]])])[0] == pytest.approx(math.log(2.0))
    # a layer without varying gradients adds nothing
    assert zico_from_gradients([torch.ones(2, 3), gradients]) == (pytest.approx(math.log(6.0)), 1)


def test_zico_of_a_linear_model_by_hand() -> None:
    # natural log; each part from zero gradients (accumulating, part 2 would see g1 + g2, and
    # W00 would give mean|g| / std = 1.25 / 0.75 instead of 2)
    batch = _batch(HAND_INPUTS, HAND_TARGETS)
    assert create_proxy("zico").score(_zero_linear(), batch, CONTEXT).value == pytest.approx(math.log(6.0), abs=1e-6)


class _TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = _zero_linear()
        self.b = _zero_linear()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.b(x)


def test_zico_sums_layers_and_skips_layers_without_varying_gradients() -> None:
    batch = _batch(HAND_INPUTS, HAND_TARGETS)
    # both heads get the gradients of the single layer above: 2 ln 6
    assert create_proxy("zico").score(_TwoHeads(), batch, CONTEXT).value == pytest.approx(2 * math.log(6.0), abs=1e-6)
    # identity then zero layer: the first layer's gradient is 0 (through zero weights), the second's as above
    first = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        first.weight.copy_(torch.eye(2))
    model = nn.Sequential(first, _zero_linear())
    assert create_proxy("zico").score(model, batch, CONTEXT).value == pytest.approx(math.log(6.0), abs=1e-6)


def test_zico_equals_a_direct_computation_on_a_small_conv_net() -> None:
    # three parts of two examples, each part's gradients by autograd from scratch
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
    inputs, targets = torch.randn(6, 3, 4, 4), torch.tensor([0, 1, 2, 3, 4, 0])
    expected = []
    for layer in (model[0], model[3]):
        parts = []
        for chunk in (slice(0, 2), slice(2, 4), slice(4, 6)):
            loss = nn.functional.cross_entropy(model(inputs[chunk]), targets[chunk])
            (grad,) = torch.autograd.grad(loss, layer.weight)
            parts.append(grad.reshape(-1).double())
        stacked = torch.stack(parts)
        std = stacked.std(dim=0, unbiased=False)
        expected.append(math.log(float((stacked.abs().mean(dim=0)[std > 0] / std[std > 0]).sum())))
    result = create_proxy("zico", splits=3).score(model, _batch(inputs, targets), CONTEXT)
    assert result.value == pytest.approx(sum(expected), rel=1e-6)


class _Blind(nn.Module):
    """A linear classifier of ``x * 0``: the output does not depend on the input."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x * 0.0)


def test_zico_nan_cases_carry_a_reason() -> None:
    zico = create_proxy("zico")
    blind = zico.score(_Blind(), _batch(HAND_INPUTS, HAND_TARGETS), CONTEXT)
    assert blind.is_nan and "vary" in (blind.reason or "")
    small = zico.score(_zero_linear(), _batch(HAND_INPUTS[:1], HAND_TARGETS[:1]), CONTEXT)
    assert small.is_nan and "cannot be split" in (small.reason or "")
    inf_model = nn.Sequential(_zero_linear(), nn.Softplus(), nn.Linear(2, 2))
    with torch.no_grad():
        inf_model[2].bias.fill_(math.inf)
    diverged = zico.score(inf_model, _batch(HAND_INPUTS, HAND_TARGETS), CONTEXT)
    assert diverged.is_nan and "not finite" in (diverged.reason or "")
    with pytest.raises(NasError, match="labels"):
        zico.score(_zero_linear(), _batch(HAND_INPUTS), CONTEXT)


# ---- real NAS-Bench-201 networks and CIFAR-10 images ------------------------------------------


@pytest.fixture(scope="module")
def batches(data_dir: object) -> dict[str, Batch]:
    """MeCo's one real image; 16 real labelled images for ZiCo (two parts of 8)."""
    return {"meco": load_batch("cifar10", data="real", size=1, seed=0), "zico": load_batch("cifar10", data="real", size=16, seed=0)}


@pytest.fixture(scope="module")
def score(build: Callable[..., nn.Module], batches: dict[str, Batch]) -> Callable[..., ProxyResult]:
    cache: dict[tuple[str, str, int], ProxyResult] = {}

    def run(proxy: str, arch: str, seed: int = 0) -> ProxyResult:
        if (proxy, arch, seed) not in cache:
            cache[proxy, arch, seed] = create_proxy(proxy).score(build(arch, seed), batches[proxy], CONTEXT)
        return cache[proxy, arch, seed]

    return run


@pytest.mark.parametrize("proxy", ["meco", "zico"])
@pytest.mark.parametrize("weak", [WEAK_POOL, SKIP_POOL])
def test_strong_architecture_scores_above_weak_ones(proxy: str, weak: str, score: Callable[..., ProxyResult]) -> None:
    for seed in (0, 1):
        strong, poor = score(proxy, STRONG, seed), score(proxy, weak, seed)
        assert strong.reason is None and poor.reason is None
        assert strong.value > poor.value, (seed, strong, poor)


def test_all_none_network(score: Callable[..., ProxyResult]) -> None:
    # every cell edge is `none`: the logits are the classifier's bias, no weight gradient varies
    result = score("zico", ALL_NONE)
    assert result.is_nan and "vary" in (result.reason or "")
    # MeCo still sees the stem's feature maps (they depend on the image), so it is a small number
    meco = score("meco", ALL_NONE)
    assert math.isfinite(meco.value) and 0 <= meco.value < score("meco", WEAK_POOL).value
