"""The zero-cost proxies other than epsilon, on real NAS-Bench-201 networks and real CIFAR-10 images."""

from __future__ import annotations

import math
from typing import Callable

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.data import load_batch
from nas.datasets import dataset_spec
from nas.errors import NasError
from nas.proxies import PROXIES, create_proxy
from nas.proxies.base import Batch, ProxyContext, ProxyResult
from nas.spaces import create_space

ROW0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_POOL = "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"

OURS = (
    "synflow", "snip", "grad_norm", "fisher", "grasp", "naswot", "jacob_cov",
    "params", "flops", "das_da", "das_units", "das",
)
CONTEXT = ProxyContext(space="nb201", dataset="cifar10", num_classes=10, seed=0)


@pytest.fixture(scope="module")
def batch(data_dir: object) -> Batch:
    """16 real CIFAR-10 training images with their labels."""
    return load_batch("cifar10", size=16, seed=0)


@pytest.fixture(scope="module")
def score(build: Callable[..., nn.Module], batch: Batch) -> Callable[..., ProxyResult]:
    """Score (cached per proxy, architecture and settings) a freshly built network."""
    cache: dict[tuple[str, str, tuple[tuple[str, object], ...]], ProxyResult] = {}

    def run(proxy: str, arch: str, **settings: object) -> ProxyResult:
        key = (proxy, arch, tuple(sorted(settings.items())))
        if key not in cache:
            cache[key] = create_proxy(proxy, **settings).score(build(arch), batch, CONTEXT)
        return cache[key]

    return run


def test_every_proxy_is_registered_with_a_description() -> None:
    for name in OURS:
        cls = PROXIES.get(name)
        assert cls.name == name
        assert cls.summary and cls.__doc__
        assert cls.needs <= {"data", "labels", "gradients"}
        assert isinstance(cls.higher_is_better, bool)
    assert "data" not in PROXIES.get("synflow").needs
    assert PROXIES.get("snip").needs == {"data", "labels", "gradients"}


@pytest.mark.parametrize("proxy", OURS)
def test_each_proxy_is_finite_on_two_real_architectures(proxy: str, score: Callable[..., ProxyResult]) -> None:
    for arch in (ROW0, ALL_CONV):
        result = score(proxy, arch)
        assert math.isfinite(result.value), (arch, result)
        assert result.reason is None


def test_params_equals_the_space_count_for_row_0(score: Callable[..., ProxyResult]) -> None:
    space = create_space("nb201")
    assert score("params", ROW0).value == 129_306
    assert score("params", ROW0).value == space.count_parameters(space.parse(ROW0), dataset_spec("cifar10"))


@pytest.mark.parametrize("proxy", ["params", "flops", "synflow"])
def test_all_conv_network_scores_above_all_pool(proxy: str, score: Callable[..., ProxyResult]) -> None:
    assert score(proxy, ALL_CONV).value > score(proxy, ALL_POOL).value > 0


def test_synflow_is_huge_in_float64_and_overflows_float32(score: Callable[..., ProxyResult]) -> None:
    big = score("synflow", ALL_CONV)
    assert math.isfinite(big.value) and big.value > 1e30
    overflow = score("synflow", ALL_CONV, precision="float32")
    assert overflow.is_nan and "float32" in (overflow.reason or "")


def test_synflow_reads_no_data(build: Callable[..., nn.Module], batch: Batch) -> None:
    noise = load_batch("cifar10", data="normal", size=3, seed=5)
    synflow = create_proxy("synflow")
    on_real = synflow.score(build(ROW0), batch, CONTEXT)
    on_noise = synflow.score(build(ROW0), noise, CONTEXT)
    assert on_real.value == on_noise.value > 0  # exact: synflow runs on the same all-ones input either way, the same computation


def test_network_without_a_path_has_zero_synflow_and_zero_loss_gradients(score: Callable[..., ProxyResult]) -> None:
    # every cell edge is `none`: the cells output x * 0, the last BN+ReLU outputs 0, the
    # logits are the classifier's bias, so no weight of a Conv2d/Linear gets a gradient
    for proxy in ("synflow", "snip", "grad_norm", "grasp"):
        assert score(proxy, ALL_NONE).value == 0.0, proxy  # exact: no path, every weight gradient is exactly 0
    assert score("snip", ROW0).value > 0 and score("grad_norm", ROW0).value > 0


def test_codes_that_do_not_distinguish_examples_give_nan_with_reason(score: Callable[..., ProxyResult]) -> None:
    # with every edge `none`, every ReLU sees zeros: all examples share one code, K is the
    # all-N_A matrix, singular, and log|det K| = -inf
    for proxy in ("naswot", "das_da", "das"):
        result = score(proxy, ALL_NONE)
        assert result.is_nan and "distinguish" in (result.reason or ""), proxy
    jacobian = score("jacob_cov", ALL_NONE)
    assert jacobian.is_nan and "constant" in (jacobian.reason or "")


def test_naswot_kernel_of_a_hand_made_network() -> None:
    # Linear(2, 2) with identity weights then ReLU: inputs (1, 1), (1, -1), (-1, -1) have codes
    # 11, 10, 00; N_A = 2, K = [[2, 1, 0], [1, 2, 1], [0, 1, 2]], det K = 2*3 - 1*2 = 4
    for relu in (nn.ReLU(), nn.ReLU(inplace=True)):
        linear = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            linear.weight.copy_(torch.eye(2))
        model = nn.Sequential(linear, relu)
        batch = Batch(torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]]), None, "hand", "hand")
        assert create_proxy("naswot").score(model, batch, CONTEXT).value == pytest.approx(math.log(4))
        assert create_proxy("das_units").score(model, batch, CONTEXT).value == 2
        # normalised kernel K / 2 has det 4 / 2**3
        assert create_proxy("das_da").score(model, batch, CONTEXT).value == pytest.approx(math.log(0.5))


def test_das_parts_recombine_into_naswot(
    score: Callable[..., ProxyResult], build: Callable[..., nn.Module], batch: Batch
) -> None:
    from nas.perf import reference_naswot

    # DAS reads the ReLU codes in the default memory layout, as the plain NASWOT of nas.perf does;
    # the naswot proxy runs channels-last (issue 18), where a unit within float32 rounding of 0
    # can flip a code and move log|det K| by ~1e-8 relative (tests/test_performance.py)
    naswot = reference_naswot(build(ROW0), batch)
    assert score("naswot", ROW0).value == pytest.approx(naswot, rel=1e-6)
    ability, units = score("das_da", ROW0).value, score("das_units", ROW0).value
    assert ability <= 0 < units
    assert ability + len(batch) * math.log(units) == pytest.approx(naswot, rel=1e-9)  # float64 slogdet of integer K vs K/N_A (cond ~44): ~1e-13 absolute on ~190
    assert score("das", ROW0).value == pytest.approx(naswot, rel=1e-9)  # same float64 recombination as the line above
    assert score("das", ROW0, units_weight=0.0).value == pytest.approx(ability, rel=1e-9)  # same float64 slogdet plus 0
    # more units: the all-conv network has a ReLU in front of every cell edge
    assert score("das_units", ALL_CONV).value > score("das_units", ALL_POOL).value


def test_scores_are_deterministic_for_a_seed(build: Callable[..., nn.Module], batch: Batch) -> None:
    for proxy in ("snip", "naswot", "jacob_cov"):
        first = create_proxy(proxy).score(build(ROW0, seed=3), batch, CONTEXT)
        again = create_proxy(proxy).score(build(ROW0, seed=3), batch, CONTEXT)
        other = create_proxy(proxy).score(build(ROW0, seed=4), batch, CONTEXT)
        assert first.value == again.value, proxy  # exact: same seed, network, batch and code in one process: same bits
        assert first.value != other.value, proxy


def _tiny_model() -> nn.Sequential:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def _tiny_batch() -> Batch:
    generator = torch.Generator().manual_seed(2)
    return Batch(torch.randn(5, 4, generator=generator), torch.tensor([0, 1, 1, 0, 1]), "tiny", "tiny")


def test_fisher_matches_activation_gradients_computed_with_retain_grad() -> None:
    model, batch = _tiny_model(), _tiny_batch()
    first, relu, last = model
    hidden = first(batch.inputs)
    hidden.retain_grad()
    logits = last(relu(hidden))
    logits.retain_grad()
    F.cross_entropy(logits, batch.targets).backward()
    expected = 0.0
    for activation, layer in ((hidden, first), (logits, last)):
        per_channel = 0.5 * (activation.detach() * activation.grad).pow(2).mean(dim=0)
        expected += float(per_channel.sum()) * layer.weight.shape[1]  # broadcast to each weight of a channel
    assert create_proxy("fisher").score(_tiny_model(), batch, CONTEXT).value == pytest.approx(expected, rel=1e-5)  # same float32 formula, other order: ~12 roundings of non-negative terms (<= 7e-7)


def test_grasp_is_minus_weights_times_hessian_gradient_product() -> None:
    model, batch = _tiny_model(), _tiny_batch()
    names = ["0.weight", "2.weight"]
    params = {name: p.detach() for name, p in model.named_parameters()}

    def loss_of(w0: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
        values = dict(params, **{"0.weight": w0, "2.weight": w2})
        return F.cross_entropy(torch.func.functional_call(model, values, (batch.inputs,)), batch.targets)

    weights = tuple(params[name] for name in names)
    primal = tuple(w.clone().requires_grad_() for w in weights)
    gradient = torch.autograd.grad(loss_of(*primal), primal)
    _, hessian_gradient = torch.autograd.functional.hvp(loss_of, weights, tuple(g.detach() for g in gradient))
    expected = -sum(float((w * hg).sum()) for w, hg in zip(weights, hessian_gradient))
    assert create_proxy("grasp").score(_tiny_model(), batch, CONTEXT).value == pytest.approx(expected, rel=1e-5)  # float32 hvp vs the proxy's double backward, other op order; sum |w Hg| / |sum w Hg| ~ 1.1, no cancellation


def test_bad_settings_and_missing_labels_are_user_errors(build: Callable[..., nn.Module], batch: Batch) -> None:
    with pytest.raises(NasError, match="precision"):
        create_proxy("synflow", precision="float16")
    with pytest.raises(NasError, match="no setting"):
        create_proxy("snip", precision="float64")
    assert create_proxy("das", units_weight="0.5").settings["units_weight"] == 0.5
    unlabelled = Batch(batch.inputs, None, "no-labels", "cifar10")
    with pytest.raises(NasError, match="needs labels"):
        create_proxy("snip").score(build(ROW0), unlabelled, CONTEXT)
