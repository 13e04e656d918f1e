"""VKDNW: the per-example Jacobian against plain autograd, the Fisher matrix and its spectrum, the decile
entropy by hand, the tensor count of NAS-Bench-201 networks, and the proxy on real networks."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn as nn

from nas.data import load_batch
from nas.errors import NasError
from nas.proxies import PROXIES, create_proxy
from nas.proxies.base import Batch, ProxyContext, ProxyResult
from nas.proxies.vkdnw import (
    categorical_cholesky,
    decile_entropy,
    fisher_eigenvalues,
    fisher_factors,
    fisher_matrix,
    per_example_jacobian,
    selected_parameters,
    smoothed_probabilities,
    trainable_tensors,
)

CONTEXT = ProxyContext(space="nb201", dataset="cifar10", num_classes=10, seed=0)

# test accuracies (CIFAR-10, 200 epochs) from the shared NAS-Bench-201 table; k = convolution edges
STRONG = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"  # 94.36, k = 5
WEAK_POOL = "|avg_pool_3x3~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|avg_pool_3x3~2|"  # 63.27, k = 0
SKIP_POOL = "|skip_connect~0|+|avg_pool_3x3~0|skip_connect~1|+|avg_pool_3x3~0|skip_connect~1|avg_pool_3x3~2|"  # 53.46, k = 0
# one 1x1 convolution whose node feeds nothing (it still has its tensors), k = 1
DEAD_CONV = "|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
MIXED = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"  # k = 3


def _batch(inputs: torch.Tensor) -> Batch:
    return Batch(inputs=inputs, targets=None, identity="test", dataset="cifar10")


class _Tiny(nn.Module):
    """Convolutions (bias, stride, reflect padding, dilation), eval-mode batch norms with non-trivial
    running statistics, an in-place ReLU on a batch norm's output and a linear layer used twice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 5, 3, stride=2, padding=2, dilation=2, bias=False, padding_mode="reflect")
        self.bn2 = nn.BatchNorm2d(5)
        self.shared = nn.Linear(5, 5)
        self.head = nn.Linear(5, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu_(self.bn1(self.conv1(x)))
        x = nn.functional.relu(self.bn2(self.conv2(x)), inplace=True)
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.head(torch.tanh(self.shared(torch.tanh(self.shared(x)))))


def _tiny() -> nn.Module:
    torch.manual_seed(3)
    model = _Tiny()
    with torch.no_grad():
        for bn in (model.bn1, model.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    return model.eval()


def _reference_jacobian(model: nn.Module, inputs: torch.Tensor, names: list[str]) -> torch.Tensor:
    """``d logit_c(x_n) / d parameter.flatten()[0]`` by one autograd call per example and class (float64)."""
    parameters = dict(model.named_parameters())
    rows = []
    for n in range(inputs.shape[0]):
        logits = model(inputs[n : n + 1])[0]
        per_class = []
        for c in range(logits.shape[0]):
            grads = torch.autograd.grad(logits[c], [parameters[name] for name in names], retain_graph=True)
            per_class.append(torch.stack([g.flatten()[0] for g in grads]))
        rows.append(torch.stack(per_class))
    return torch.stack(rows).to(torch.float64)


# ---- the Jacobian --------------------------------------------------------------------------------


def test_per_example_jacobian_equals_autograd_per_example() -> None:
    model = _tiny()
    inputs = torch.randn(4, 3, 9, 9, generator=torch.Generator().manual_seed(1))
    weights = selected_parameters(model, 100)
    names = [name for name, _ in weights]
    assert len(weights) == trainable_tensors(model) == 11  # conv1 (2 tensors), conv2 (1), 2 bn (4), 2 linear (4)
    found = per_example_jacobian(model, inputs, weights)
    assert not isinstance(found, ProxyResult), found
    jacobian, logits = found
    assert jacobian.shape == (4, 6, 11) and jacobian.dtype == torch.float64
    expected = _reference_jacobian(model, inputs, names)
    scale = expected.abs().max()
    assert scale > 0.1 and bool((expected != 0).any(dim=0).any(dim=0).all())  # every weight moves some logit
    assert float((jacobian - expected).abs().max() / scale) < 1e-6
    assert torch.allclose(logits, model(inputs), atol=1e-6)
    # the parameters' requires_grad is restored and no weight gradient was left behind
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    # fewer tensors: the first ones in registration order, the same columns
    first = per_example_jacobian(model, inputs, selected_parameters(model, 3))
    assert not isinstance(first, ProxyResult)
    assert [name for name, _ in selected_parameters(model, 3)] == ["conv1.weight", "conv1.bias", "bn1.weight"]
    assert float((first[0] - jacobian[:, :, :3]).abs().max() / scale) < 1e-6


def test_jacobian_of_unsupported_modules_is_nan_with_a_reason() -> None:
    layer_norm = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2)).eval()
    result = per_example_jacobian(layer_norm, torch.randn(2, 3), selected_parameters(layer_norm, 6))
    assert isinstance(result, ProxyResult) and result.is_nan and "LayerNorm" in (result.reason or "")
    # the LayerNorm's tensors not selected: fine
    assert not isinstance(per_example_jacobian(layer_norm, torch.randn(2, 3), selected_parameters(layer_norm, 2)), ProxyResult)
    no_stats = nn.Sequential(nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2, track_running_stats=False), nn.Flatten(), nn.Linear(8, 2)).eval()
    result = per_example_jacobian(no_stats, torch.randn(2, 3, 2, 2), selected_parameters(no_stats, 2))
    assert isinstance(result, ProxyResult) and "running statistics" in (result.reason or "")
    proxy = create_proxy("vkdnw", init="model")
    result = proxy.score(no_stats, _batch(torch.randn(2, 3, 2, 2)), CONTEXT)
    assert result.is_nan and (result.reason or "").startswith("vkdnw: batch norm")


# ---- the Fisher matrix and its spectrum ----------------------------------------------------------


def test_categorical_cholesky_factors_the_multinomial_covariance() -> None:
    generator = torch.Generator().manual_seed(0)
    for classes in (2, 3, 10, 100):
        p = torch.distributions.Dirichlet(torch.ones(classes)).sample((5,)).to(torch.float64)
        p = p / p.sum(dim=1, keepdim=True)
        p = 0.5 * p + 0.5 * torch.softmax(torch.randn(5, classes, generator=generator, dtype=torch.float64), dim=1)
        L = categorical_cholesky(p)
        covariance = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
        assert torch.allclose(L @ L.transpose(1, 2), covariance, atol=1e-13, rtol=0)
        # exact: tril copies the entries on and below the diagonal and writes zeros above it
        assert torch.equal(L, torch.tril(L)) and bool((L[:, :, -1] == 0).all())
        assert bool((torch.diagonal(L, dim1=1, dim2=2)[:, :-1] > 0).all())
    # by hand, two classes: diag(p) - p p^T = [[ab, -ab], [-ab, ab]] = l l^T with l = sqrt(ab) (1, -1)
    L = categorical_cholesky(torch.tensor([[0.2, 0.8]], dtype=torch.float64))[0]
    assert torch.allclose(L, torch.tensor([[0.4, 0.0], [-0.4, 0.0]], dtype=torch.float64), atol=1e-15)


def _random_jacobian(examples: int, classes: int, weights: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    jacobian = torch.randn(examples, classes, weights, generator=generator, dtype=torch.float64)
    logits = 2.0 * torch.randn(examples, classes, generator=generator)
    return jacobian, logits


def test_fisher_matrix_forms() -> None:
    jacobian, logits = _random_jacobian(7, 5, 12)
    p = smoothed_probabilities(logits, 0.05)
    assert torch.allclose(p.sum(dim=1), torch.ones(7, dtype=torch.float64), atol=1e-15)
    assert torch.allclose(p, 0.95 * torch.softmax(logits.double(), dim=1) + 0.01, atol=1e-15)
    covariance = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    paper = torch.einsum("ncw,ncd,ndv->wv", jacobian, covariance, jacobian) / 7
    assert torch.allclose(fisher_matrix(jacobian, logits, "paper"), paper, atol=1e-12)
    # the authors' code: (L J)^T (L J) = J^T L^T L J, not J^T L L^T J
    L = categorical_cholesky(p)
    code = torch.einsum("ncw,ndc,nde,nev->wv", jacobian, L, L, jacobian) / 7
    assert torch.allclose(fisher_matrix(jacobian, logits, "code"), code, atol=1e-12)
    assert not torch.allclose(code, paper, atol=1e-3)
    assert torch.allclose(fisher_factors(jacobian, logits, "code"), L @ jacobian, atol=1e-13)
    # smoothing 1: uniform probabilities whatever the logits
    uniform = smoothed_probabilities(logits, 1.0)
    assert torch.allclose(uniform, torch.full_like(uniform, 0.2), atol=1e-15)
    with pytest.raises(NasError, match="fisher form must be one of code, paper"):
        fisher_factors(jacobian, logits, "exact")


@pytest.mark.parametrize("form", ["code", "paper"])
@pytest.mark.parametrize("shape", [(7, 5, 12), (2, 3, 12)])  # full rank; rank 2 * (3 - 1) = 4 of 12
def test_fisher_eigenvalues_are_those_of_the_matrix(form: str, shape: tuple[int, int, int]) -> None:
    jacobian, logits = _random_jacobian(*shape, seed=1)
    values = fisher_eigenvalues(jacobian, logits, form)
    expected = torch.linalg.eigvalsh(fisher_matrix(jacobian, logits, form)).numpy()
    assert values.shape == (shape[2],) and np.all(np.diff(values) >= 0) and values[0] >= 0
    assert np.allclose(values, expected, atol=1e-10 * expected.max())
    if shape[0] == 2:
        assert np.count_nonzero(values > 1e-9 * values.max()) == 4


# ---- the entropy -----------------------------------------------------------------------------------


def test_decile_entropy_by_hand() -> None:
    assert decile_entropy(np.full(50, 3.7)) == pytest.approx(math.log(9), abs=1e-9)
    # 0, 1, ..., 10: the deciles are 1, ..., 9 (linear interpolation), t_k = k / 45
    t = np.arange(1, 10) / 45
    assert decile_entropy(np.arange(11.0)) == pytest.approx(float(-(t * np.log(t)).sum()), abs=1e-9)
    # order does not matter; the scale does not (above the epsilons)
    rng = np.random.default_rng(0)
    values = rng.exponential(size=128)
    assert decile_entropy(rng.permutation(values)) == pytest.approx(decile_entropy(values), abs=1e-12)
    assert decile_entropy(values * 1e3) == pytest.approx(decile_entropy(values), abs=1e-8)
    # one dominant decile: entropy near 0; an empty spectrum: 0, not NaN
    spiky = np.zeros(100)
    spiky[89:] = 1.0  # only the 0.9 decile (position 89.1) is non-zero
    assert decile_entropy(spiky) == pytest.approx(0.0, abs=1e-8)
    assert decile_entropy(np.zeros(20)) == 0.0
    # within (0, log 9) for a spread spectrum
    assert 0.0 < decile_entropy(values) < math.log(9)


# ---- NAS-Bench-201 networks --------------------------------------------------------------------------


@pytest.mark.parametrize(("arch", "convs"), [(WEAK_POOL, 0), (SKIP_POOL, 0), (DEAD_CONV, 1), (MIXED, 3), (STRONG, 5)])
def test_tensor_count_of_nb201_networks(build: Callable[..., nn.Module], arch: str, convs: int) -> None:
    model = build(arch)
    assert trainable_tensors(model) == 21 + 45 * convs
    selected = selected_parameters(model, 128)
    assert len(selected) == min(128, 21 + 45 * convs)
    assert selected[0][0] == "stem.0.weight"
    if convs == 0:
        assert selected[-1][0] == "classifier.bias"


@pytest.fixture(scope="module")
def batch(data_dir: object) -> Batch:
    """16 real CIFAR-10 images (the proxy's default inputs=normal replaces them by N(0, 1) values of that shape)."""
    return load_batch("cifar10", data="real", size=16, seed=0)


@pytest.fixture(scope="module")
def score(build: Callable[..., nn.Module], batch: Batch) -> Callable[..., ProxyResult]:
    cache: dict[tuple[str, int, tuple[tuple[str, object], ...]], ProxyResult] = {}

    def run(arch: str, seed: int = 0, **settings: object) -> ProxyResult:
        key = (arch, seed, tuple(sorted(settings.items())))
        if key not in cache:
            context = ProxyContext(space="nb201", dataset="cifar10", num_classes=10, seed=seed)
            cache[key] = create_proxy("vkdnw", **settings).score(build(arch, seed + 100), batch, context)
        return cache[key]

    return run


def test_registered() -> None:
    cls = PROXIES.get("vkdnw")
    assert cls.name == "vkdnw" and cls.version == "1" and cls.higher_is_better is True
    assert cls.needs == {"data", "gradients"} and cls.batch_size == 64
    assert cls.summary and cls.__doc__ and "Settings" in cls.__doc__
    assert create_proxy("vkdnw").settings == {
        "init": "kaiming", "inputs": "normal", "parameters": 128, "fisher": "code", "smoothing": 0.05, "size_term": True,
    }


def test_real_networks_finite_in_range_and_ordered(score: Callable[..., ProxyResult]) -> None:
    values = {}
    for arch, convs in ((STRONG, 5), (WEAK_POOL, 0), (SKIP_POOL, 0)):
        result = score(arch)
        assert result.reason is None and math.isfinite(result.value), result
        entropy = result.value - (21 + 45 * convs)
        assert 0.0 < entropy < math.log(9), (arch, result)
        values[arch] = result.value
    assert values[STRONG] > values[WEAK_POOL] and values[STRONG] > values[SKIP_POOL]


def test_size_term_and_determinism(build: Callable[..., nn.Module], batch: Batch, score: Callable[..., ProxyResult]) -> None:
    full = score(WEAK_POOL)
    alone = score(WEAK_POOL, size_term=False)
    assert alone.value == pytest.approx(full.value - 21, abs=1e-9)
    # the same seed gives the same value: a fresh network from another construction seed (kaiming
    # re-initialises by position) whose running statistics a training-mode pass has moved
    model = build(WEAK_POOL, 7)
    model.train()
    with torch.no_grad():
        model(3.0 * torch.randn(8, 3, 32, 32) + 1.0)
    assert create_proxy("vkdnw").score(model, batch, CONTEXT).value == full.value
    # another seed: other weights and inputs, another value
    assert score(WEAK_POOL, seed=1).value != full.value
    # inputs=normal uses the batch's shape only; inputs=batch scores the images
    other = load_batch("cifar10", data="real", size=16, seed=1)
    assert create_proxy("vkdnw").score(build(WEAK_POOL), other, CONTEXT).value == full.value
    assert create_proxy("vkdnw", inputs="batch").score(build(WEAK_POOL), batch, CONTEXT).value != full.value


def test_bad_settings_are_refused() -> None:
    for settings, message in (
        ({"init": "xavier"}, "setting 'init' must be one of kaiming, model, got 'xavier'"),
        ({"inputs": "uniform"}, "setting 'inputs' must be one of normal, batch, got 'uniform'"),
        ({"fisher": "exact"}, "setting 'fisher' must be one of code, paper, got 'exact'"),
        ({"parameters": 0}, "setting 'parameters' must be at least 1, got 0"),
        ({"smoothing": 1.5}, "setting 'smoothing' must be from 0 to 1, got 1.5"),
        ({"weights": 64}, "has no setting 'weights'"),
    ):
        with pytest.raises(NasError) as error:
            create_proxy("vkdnw", **settings)
        assert message in str(error.value) and "vkdnw" in str(error.value)
        assert "\n" not in str(error.value)
    assert create_proxy("vkdnw", parameters="64", size_term="false").settings["parameters"] == 64  # CLI strings
    with pytest.raises(NasError, match="inputs=normal needs floating inputs"):
        create_proxy("vkdnw").score(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), _batch(torch.ones(2, 4, dtype=torch.long)), CONTEXT)
    result = create_proxy("vkdnw").score(nn.Sequential(nn.Flatten()), _batch(torch.ones(2, 4)), CONTEXT)
    assert result.is_nan and result.reason == "vkdnw: the model has no parameters"
