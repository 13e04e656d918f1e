"""AZ-NAS components and SWAP: hand-checked values on tiny networks, direction on real NAS-Bench-201 networks,
determinism, NaN cases and the AZ-NAS rank aggregate."""

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
from nas.proxies.aznas import (
    AZNAS_MEMBERS,
    aznas_aggregate,
    expressivity_from_entropies,
    jacobian_spectral_norm,
    progressivity_from_entropies,
    spectral_entropy,
    trainability_term,
)
from nas.proxies.base import Batch, ProxyContext, ProxyResult
from nas.proxies.swap import DEFAULT_REGULARISATION, count_distinct_patterns, pack_patterns, parameter_count, size_factor

CONTEXT = ProxyContext(space="nb201", dataset="cifar10", num_classes=10, seed=0)
AZ = ("az_expressivity", "az_progressivity", "az_trainability")

# test accuracies (CIFAR-10, 200 epochs) from the shared NAS-Bench-201 table
STRONG = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"  # 94.36
WEAK_POOL = "|avg_pool_3x3~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|avg_pool_3x3~2|"  # 63.27
SKIP_POOL = "|skip_connect~0|+|avg_pool_3x3~0|skip_connect~1|+|avg_pool_3x3~0|skip_connect~1|avg_pool_3x3~2|"  # 53.46
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"  # 10.00
# the cell's output is its input (node 3 = skip from node 0; the other terms are `none`)
IDENTITY_CELL = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"


def _batch(inputs: torch.Tensor) -> Batch:
    return Batch(inputs=inputs, targets=None, identity="test", dataset="cifar10")


def _conv1x1(weight: list[list[float]]) -> nn.Conv2d:
    w = torch.tensor(weight)
    conv = nn.Conv2d(w.shape[1], w.shape[0], 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(w[:, :, None, None])
    return conv


# ---- registry ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*AZ, "swap"])
def test_registered_with_description_and_version(name: str) -> None:
    cls = PROXIES.get(name)
    assert cls.name == name and name in PROXIES.names()
    assert cls.summary and cls.__doc__ and ("regularis" if name == "swap" else "Settings") in cls.__doc__
    assert cls.version == ("2" if name == "swap" else "1") and cls.invariance == "exact" and cls.higher_is_better is True
    assert create_proxy(name).name == name
    assert getattr(cls, "batch_size", None) == (16 if name == "swap" else 64)
    assert AZNAS_MEMBERS == (*AZ, "flops") and "flops" in PROXIES


def test_needs() -> None:
    assert PROXIES.get("az_expressivity").needs == {"data"}
    assert PROXIES.get("az_progressivity").needs == {"data"}
    assert PROXIES.get("az_trainability").needs == {"data", "gradients"}
    assert PROXIES.get("swap").needs == {"data"}


def test_bad_settings_are_refused() -> None:
    for settings in ({"init": "xavier"}, {"inputs": "uniform"}):
        with pytest.raises(NasError):
            create_proxy("az_trainability", **settings)
    for settings in (
        {"repeats": 0},
        {"init": "model", "repeats": 32},  # one set of weights cannot be repeated 32 times
        {"init": "uniform"},
        {"mu": 1.0},  # sigma missing
        {"mu": 1.0, "sigma": -1.0},
        {"mu": "big", "sigma": 1.0},
    ):
        with pytest.raises(NasError):
            create_proxy("swap", **settings)
    assert create_proxy("swap", mu="1.5", sigma="0.5").settings["mu"] == 1.5  # CLI strings are converted


# ---- SWAP by hand --------------------------------------------------------------------------------


def _relu_layer() -> nn.Sequential:
    """A 1x1 identity convolution on 2 channels, then a ReLU: 2 units per position."""
    return nn.Sequential(_conv1x1([[1.0, 0.0], [0.0, 1.0]]), nn.ReLU())


def _points(*rows: tuple[float, float]) -> Batch:
    """One 1x1 'image' of 2 channels per row."""
    return _batch(torch.tensor(rows)[:, :, None, None])


def test_pack_and_count_patterns_by_hand() -> None:
    active = torch.tensor([[True, False, True], [True, True, True]])  # 2 examples, 3 units
    # unit 0 = (1, 1) -> 0b11, unit 1 = (0, 1) -> 0b10, unit 2 = (1, 1)
    assert pack_patterns(active)[:, 0].tolist() == [3, 2, 3]
    assert count_distinct_patterns(active) == 2
    # more than 63 examples: several words per pattern; equals a brute-force count of distinct columns
    rng = np.random.default_rng(0)
    for examples in (63, 64, 130):
        matrix = rng.random((examples, 400)) < 0.5
        matrix[:, 200:] = matrix[:, :200]  # duplicated columns
        matrix[:, 5] = matrix[:, 7]
        expected = len({tuple(column) for column in matrix.T})
        assert count_distinct_patterns(torch.from_numpy(matrix)) == expected


def test_swap_of_a_two_unit_relu_layer() -> None:
    plain = create_proxy("swap", init="model", repeats=1, regularise=False)
    # unit 0 is active on examples 1 and 2, unit 1 on examples 2 and 3: two distinct patterns
    assert plain.score(_relu_layer(), _points((1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)), CONTEXT).value == 2.0
    # both units active on the same examples: one pattern
    assert plain.score(_relu_layer(), _points((1.0, 2.0), (-1.0, -3.0), (4.0, 0.5)), CONTEXT).value == 1.0
    # every unit inactive everywhere is one pattern too (all zeros)
    assert plain.score(_relu_layer(), _points((-1.0, -1.0), (-2.0, -0.5)), CONTEXT).value == 1.0
    # 2x2 positions x 2 channels = 8 units over 2 examples: at most 2**2 = 4 patterns
    images = torch.tensor([[[[1.0, -1.0], [1.0, -1.0]], [[1.0, 1.0], [-1.0, -1.0]]], [[[1.0, 1.0], [-1.0, -1.0]], [[-1.0, 1.0], [-1.0, 1.0]]]])
    # unit patterns (ex1, ex2): ch0 (1,1) (0,1) (1,0) (0,0); ch1 (1,0) (1,1) (0,0) (0,1): 4 distinct
    assert plain.score(_relu_layer(), _batch(images), CONTEXT).value == 4.0


def test_swap_counts_only_relus_on_feature_maps_and_every_call() -> None:
    plain = create_proxy("swap", init="model", repeats=1, regularise=False)
    flat = nn.Sequential(nn.Flatten(), nn.Linear(2, 2), nn.ReLU())  # a ReLU on a 2-D input is not counted
    result = plain.score(flat, _points((1.0, -1.0), (1.0, 1.0)), CONTEXT)
    assert result.is_nan and "no nn.ReLU" in (result.reason or "")
    # the same ReLU module run twice: its units count twice, but equal patterns are one pattern
    relu = nn.ReLU()
    twice = nn.Sequential(_conv1x1([[1.0, 0.0], [0.0, 1.0]]), relu, _conv1x1([[-1.0, 0.0], [0.0, 1.0]]), relu)
    # first ReLU: unit0 (1,0), unit1 (0,1); second: -relu(x0) -> 0 everywhere -> (0,0), unit1 (0,1)
    assert plain.score(twice, _points((1.0, -1.0), (-1.0, 1.0)), CONTEXT).value == 3.0


def test_swap_regularisation_by_hand() -> None:
    layer = _relu_layer()
    assert parameter_count(layer) == 4
    batch = _points((1.0, -1.0), (1.0, 1.0), (-1.0, 1.0))  # 2 patterns
    mu, sigma = 0.5, 0.25  # millions of parameters
    result = create_proxy("swap", init="model", repeats=1, mu=mu, sigma=sigma).score(layer, batch, CONTEXT)
    assert result.value == pytest.approx(2.0 * math.exp(-((4e-6 - mu) ** 2) / sigma), rel=1e-12)
    assert size_factor(mu, mu, sigma) == 1.0
    # the NB201 default: mu = largest network, sigma = mean size; the factor grows with size
    mu201, sigma201 = DEFAULT_REGULARISATION[("nb201", "cifar10")]
    assert size_factor(0.073306, mu201, sigma201) < size_factor(0.8, mu201, sigma201) < size_factor(1.5, mu201, sigma201) <= 1.0
    no_default = ProxyContext(space="nb101", dataset="cifar10", num_classes=10)
    with pytest.raises(NasError, match="mu and sigma"):
        create_proxy("swap", init="model", repeats=1).score(layer, batch, no_default)


def test_swap_nan_cases_carry_a_reason() -> None:
    plain = create_proxy("swap", init="model", repeats=1, regularise=False)
    one = plain.score(_relu_layer(), _points((1.0, 1.0)), CONTEXT)
    assert one.is_nan and "at least 2" in (one.reason or "")
    broken = nn.Sequential(_conv1x1([[1.0, 0.0], [0.0, 1.0]]), nn.ReLU())
    with torch.no_grad():
        broken[0].weight[0, 0] = math.inf
    result = plain.score(broken, _points((1.0, -1.0), (1.0, 1.0)), CONTEXT)
    assert result.is_nan and "not finite" in (result.reason or "")


# ---- AZ-NAS by hand ------------------------------------------------------------------------------

# two centred, orthogonal channels of equal norm over 4 positions (a 2x2 map)
U = torch.tensor([1.0, -1.0, 1.0, -1.0])
V = torch.tensor([1.0, 1.0, -1.0, -1.0])


def _map(*channels: torch.Tensor) -> torch.Tensor:
    return torch.stack(channels).reshape(1, len(channels), 2, 2)


def test_spectral_entropy_by_hand() -> None:
    # covariance diag(1, 1): p = (1/2, 1/2), entropy ln 2 (the 1e-8 inside the log shifts it by ~2e-8)
    assert spectral_entropy(_map(U, V)) == pytest.approx(math.log(2), abs=1e-7)
    # scale and shift do not matter; a rotation of the channels does not either
    assert spectral_entropy(_map(3 * U + 1, 3 * V - 2)) == pytest.approx(math.log(2), abs=1e-7)
    assert spectral_entropy(_map(U + V, U - V)) == pytest.approx(math.log(2), abs=1e-7)
    # identical channels: eigenvalues (0, 2), p = (0, 1), entropy 0
    assert spectral_entropy(_map(U, U)) == pytest.approx(0.0, abs=1e-7)
    # variances 1 and 3 (uncorrelated): p = (1/4, 3/4)
    expected = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert spectral_entropy(_map(U, math.sqrt(3) * V)) == pytest.approx(expected, abs=1e-7)
    # the observations are every example and position: two examples of a 1x2 map of 2 channels
    two = torch.stack([torch.stack([U[:2], V[:2]]), torch.stack([U[2:], V[2:]])]).reshape(2, 2, 1, 2)
    assert spectral_entropy(two) == pytest.approx(math.log(2), abs=1e-7)
    # a constant map has no spectrum
    assert spectral_entropy(torch.ones(2, 3, 2, 2)) is None


def test_expressivity_and_progressivity_from_entropies() -> None:
    entropies = [1.0, 3.0, 2.5, 4.0]
    assert expressivity_from_entropies(entropies) == 10.5
    assert progressivity_from_entropies(entropies) == -0.5
    assert progressivity_from_entropies([1.0, 2.0, 4.0]) == 1.0


def test_trainability_term_and_spectral_norm_by_hand() -> None:
    assert trainability_term(1.0) == pytest.approx(0.0, abs=1e-5)
    assert trainability_term(2.0) == pytest.approx(-0.5, abs=1e-5)
    assert trainability_term(0.5) == pytest.approx(-0.5, abs=1e-5)
    assert trainability_term(0.0) == pytest.approx(2.0 - 1e6)
    # rows (1,1), (1,-1), (-1,1), (-1,-1): G^T G / 4 = I, so a stage that doubles has s = 2
    g_out = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])[:, :, None, None]
    assert jacobian_spectral_norm(2 * g_out, g_out) == pytest.approx(2.0)
    # a reduction: g_in (1, 1, 2, 2) is pixel-unshuffled to (1, 4, 1, 1); one observation, so the
    # matrix is the outer product g_in g_out^T, of spectral norm |g_in| |g_out|
    g_in = torch.tensor([1.0, -2.0, 2.0, 4.0]).reshape(1, 1, 2, 2)
    g_red = torch.tensor([3.0, 4.0]).reshape(1, 2, 1, 1)
    assert jacobian_spectral_norm(g_in, g_red) == pytest.approx(5.0 * 5.0)


class _Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


class _Staged(nn.Module):
    """A stem and cells, as the NB201 network: the stages AZ-NAS reads."""

    def __init__(self, *cells: nn.Module) -> None:
        super().__init__()
        self.stem = _conv1x1([[1.0, 0.0], [0.0, 1.0]])
        self.cells = nn.Sequential(*cells)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cells(self.stem(x)).mean(dim=(1, 2, 3))


def test_az_proxies_on_a_tiny_staged_network() -> None:
    batch = _batch(_map(U, V))
    model = _Staged(_Scale(2.0), _conv1x1([[1.0, 0.0], [0.0, 0.0]]))  # doubling, then keep channel 0
    keep = {"init": "model", "inputs": "batch"}  # the hand-checked weights and inputs
    # stages: stem (ln 2), x2 (ln 2), keep channel 0 only (entropy 0)
    assert create_proxy("az_expressivity", **keep).score(model, batch, CONTEXT).value == pytest.approx(2 * math.log(2), abs=1e-6)
    assert create_proxy("az_progressivity", **keep).score(model, batch, CONTEXT).value == pytest.approx(-math.log(2), abs=1e-6)
    # trainability: the same Rademacher draws as the proxy (a generator seeded by context.seed, last pair first)
    generator = torch.Generator().manual_seed(CONTEXT.seed)
    g_last = torch.randint(0, 2, (1, 2, 2, 2), generator=generator).float() * 2 - 1
    g_first = torch.randint(0, 2, (1, 2, 2, 2), generator=generator).float() * 2 - 1
    last = jacobian_spectral_norm(g_last * torch.tensor([1.0, 0.0])[None, :, None, None], g_last)  # projection
    first = jacobian_spectral_norm(2 * g_first, g_first)  # doubling
    expected = (trainability_term(last) + trainability_term(first)) / 2
    result = create_proxy("az_trainability", **keep).score(model, batch, CONTEXT)
    assert result.value == pytest.approx(expected, rel=1e-9)


def test_az_nan_cases_carry_a_reason() -> None:
    batch = _batch(_map(U, V))
    keep = {"init": "model", "inputs": "batch"}  # the hand-checked weights and inputs
    identity = create_proxy("az_trainability", **keep).score(_Staged(_Scale(2.0), nn.Identity()), batch, CONTEXT)
    assert identity.is_nan and "identity" in (identity.reason or "") and "cells.1" in (identity.reason or "")
    constant = create_proxy("az_expressivity", **keep).score(_Staged(_Scale(0.0)), batch, CONTEXT)
    assert constant.is_nan and "constant" in (constant.reason or "") and "cells.0" in (constant.reason or "")
    no_stages = create_proxy("az_progressivity", **keep).score(_relu_layer(), batch, CONTEXT)
    assert no_stages.is_nan and "no stages" in (no_stages.reason or "")


def test_kaiming_init_replaces_the_weights_by_position() -> None:
    batch = _batch(torch.randn(4, 2, 3, 3, generator=torch.Generator().manual_seed(1)))
    # the model's own weights do not matter with init=kaiming: two different models score the same
    first = _Staged(_conv1x1([[1.0, 2.0], [0.0, 1.0]]))
    second = _Staged(_conv1x1([[5.0, 0.0], [1.0, -1.0]]))
    proxy = create_proxy("az_expressivity", inputs="batch")
    assert proxy.score(first, batch, CONTEXT).value == proxy.score(second, batch, CONTEXT).value
    # with init=model the model's own weights are scored (a fresh model: scoring re-initialised `second` in place)
    own = create_proxy("az_expressivity", init="model", inputs="batch").score(_Staged(_conv1x1([[5.0, 0.0], [1.0, -1.0]])), batch, CONTEXT)
    assert own.value != proxy.score(second, batch, CONTEXT).value


def test_normal_inputs_ignore_the_batch_content() -> None:
    generator = torch.Generator().manual_seed(2)
    one, other = (_batch(torch.randn(4, 2, 3, 3, generator=generator)) for _ in range(2))
    model = lambda: _Staged(_conv1x1([[1.0, 0.5], [0.0, 1.0]]), nn.ReLU())  # noqa: E731
    proxy = create_proxy("az_expressivity")  # the defaults: init=kaiming, inputs=normal (the authors')
    assert proxy.settings["inputs"] == "normal"
    assert proxy.score(model(), one, CONTEXT).value == proxy.score(model(), other, CONTEXT).value
    by_batch = create_proxy("az_expressivity", inputs="batch")
    assert by_batch.score(model(), one, CONTEXT).value != by_batch.score(model(), other, CONTEXT).value
    seeded = ProxyContext(space="nb201", dataset="cifar10", num_classes=10, seed=5)
    assert proxy.score(model(), one, seeded).value != proxy.score(model(), one, CONTEXT).value


# ---- the AZ-NAS aggregate ------------------------------------------------------------------------


def test_aggregate_is_the_sum_of_log_fractional_ranks() -> None:
    result = aznas_aggregate({"a": [1.0, 2.0, 3.0], "b": [3.0, 2.0, 1.0]})
    expected = [math.log(1 / 3) + math.log(1.0), 2 * math.log(2 / 3), math.log(1.0) + math.log(1 / 3)]
    assert result == pytest.approx(expected)
    # ties take the average rank; a lower-is-better proxy is flipped
    tied = aznas_aggregate({"a": [1.0, 1.0, 2.0], "cost": [30.0, 20.0, 10.0]}, {"a": True, "cost": False})
    assert tied == pytest.approx([math.log(1.5 / 3) + math.log(1 / 3), math.log(1.5 / 3) + math.log(2 / 3), 0.0])
    # a missing score ranks worst (the authors' NaN -> -inf), missing scores tie
    assert aznas_aggregate({"a": [math.nan, 1.0, 2.0]}) == pytest.approx([math.log(1 / 3), math.log(2 / 3), 0.0])
    assert aznas_aggregate({"a": [math.nan, math.nan, 5.0]}) == pytest.approx([math.log(0.5), math.log(0.5), 0.0])
    # a soft AND: the architecture that is second on both beats ones that are first on one and last on the other
    soft_and = aznas_aggregate({"a": [3.0, 2.0, 1.0], "b": [1.0, 2.0, 3.0]})
    assert int(np.argmax(soft_and)) == 1


def test_aggregate_refuses_bad_input() -> None:
    with pytest.raises(NasError):
        aznas_aggregate({})
    with pytest.raises(NasError):
        aznas_aggregate({"a": [1.0, 2.0], "b": [1.0]})
    with pytest.raises(NasError):
        aznas_aggregate({"a": [1.0, 2.0]}, {"b": True})


# ---- real NAS-Bench-201 networks and CIFAR-10 images ---------------------------------------------


@pytest.fixture(scope="module")
def batches(data_dir: object) -> dict[str, Batch]:
    """16 real images for every proxy here (the AZ-NAS default is 64; 16 keeps the file fast).

    The AZ-NAS proxies replace them by N(0, 1) values of the same shape (their default ``inputs=normal``).
    """
    batch = load_batch("cifar10", data="real", size=16, seed=0)
    return {"swap": batch, **{name: batch for name in AZ}}


@pytest.fixture(scope="module")
def score(build: Callable[..., nn.Module], batches: dict[str, Batch]) -> Callable[..., ProxyResult]:
    cache: dict[tuple[str, str, int], ProxyResult] = {}

    def run(proxy: str, arch: str, seed: int = 0) -> ProxyResult:
        if (proxy, arch, seed) not in cache:
            context = ProxyContext(space="nb201", dataset="cifar10", num_classes=10, seed=seed)
            cache[proxy, arch, seed] = create_proxy(proxy).score(build(arch, seed), batches[proxy], context)
        return cache[proxy, arch, seed]

    return run


@pytest.mark.parametrize("proxy", ["az_expressivity", "az_trainability", "swap"])
@pytest.mark.parametrize("weak", [WEAK_POOL, SKIP_POOL])
def test_strong_architecture_scores_above_weak_ones(proxy: str, weak: str, score: Callable[..., ProxyResult]) -> None:
    for seed in (0, 1):
        strong, poor = score(proxy, STRONG, seed), score(proxy, weak, seed)
        assert strong.reason is None and poor.reason is None
        assert strong.value > poor.value, (seed, strong, poor)


def test_all_none_and_identity_cells(score: Callable[..., ProxyResult]) -> None:
    # no path from input to output: every cell's output is 0, so no spectrum (the authors' -inf)
    for proxy in ("az_expressivity", "az_progressivity"):
        result = score(proxy, ALL_NONE)
        assert result.is_nan and "constant" in (result.reason or "")
    # ... and its stages pass almost no gradient: s ~ 0, a term of about -1e6
    assert score("az_trainability", ALL_NONE).value < -1e4
    # a cell that is its input passes the gradient unchanged: the authors' -inf
    identity = score("az_trainability", IDENTITY_CELL)
    assert identity.is_nan and "identity" in (identity.reason or "")
    # SWAP: every ReLU of the cells sees zeros; one pattern remains (plus the stem-fed ones: few)
    assert 0 < score("swap", ALL_NONE).value < score("swap", WEAK_POOL).value


def test_determinism(build: Callable[..., nn.Module], batches: dict[str, Batch], score: Callable[..., ProxyResult]) -> None:
    for proxy in ("az_trainability", "swap"):
        again = create_proxy(proxy).score(build(WEAK_POOL, 0), batches[proxy], CONTEXT)
        assert again.value == score(proxy, WEAK_POOL).value
    # the initialisation seed changes the draws (weights, Rademacher vectors)
    assert score("az_trainability", WEAK_POOL, 1).value != score("az_trainability", WEAK_POOL).value


def test_aggregate_on_real_networks(score: Callable[..., ProxyResult], batches: dict[str, Batch]) -> None:
    archs = [STRONG, WEAK_POOL, SKIP_POOL, ALL_NONE]
    flops = create_proxy("flops")
    from nas.datasets import dataset_spec
    from nas.spaces import create_space

    space = create_space("nb201")
    columns = {name: [score(name, arch).value for arch in archs] for name in AZ}
    columns["flops"] = [
        flops.score(space.build(space.parse(arch), dataset_spec("cifar10")), batches["swap"], CONTEXT).value
        for arch in archs
    ]
    aggregate = aznas_aggregate(columns)
    assert np.isfinite(aggregate).all()
    assert int(np.argmax(aggregate)) == 0 and int(np.argmin(aggregate)) == 3
