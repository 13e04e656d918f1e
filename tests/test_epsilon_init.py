"""epsilon_init: the epsilon statistic of two random initialisations (the epsilon paper's Table 9 ablation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from nas.data import load_batch
from nas.datasets import dataset_spec
from nas.errors import NasError
from nas.initialisation import position_seed
from nas.proxies import create_proxy
from nas.proxies.base import Batch, ProxyContext
from nas.proxies.epsilon_init import LINEAR_STD, SCHEMES, initialise
from nas.spaces import create_space

CONTEXT = ProxyContext(space="nb201", dataset="cifar10", num_classes=10, seed=0)
GOOD = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 3, padding=1)
        self.norm = nn.BatchNorm2d(64)
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.norm(self.conv(x))).mean(dim=(2, 3)))


def _epsilon_statistic(first: np.ndarray, second: np.ndarray) -> float:
    """The author's formula, written out: min-max normalise, exact zeros missing, mean |a - b| over the mean."""
    preds = np.array([(v - v.min()) / (v.max() - v.min()) for v in (first, second)])
    preds[preds == 0] = np.nan
    return float(np.nanmean(np.abs(preds[0] - preds[1])) / np.nanmean(preds))


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_each_scheme_sets_the_layers_as_the_author(scheme: str) -> None:
    model = _Tiny()
    initialise(model, scheme, seed=5)
    weight = model.conv.weight.detach()
    fan_in, fan_out = 3 * 9, 64 * 9
    expected_std = {"uniform": math.sqrt(1 / 12), "normal": 1.0, "kaiming_uniform": math.sqrt(2 / fan_in),
                    "kaiming_normal": math.sqrt(2 / fan_out)}
    if scheme == "uniform":
        assert float(weight.min()) >= 0 and float(weight.max()) < 1
    if scheme in expected_std:  # 1,728 draws: the standard deviation within 10%
        assert float(weight.std()) == pytest.approx(expected_std[scheme], rel=0.1)
    else:  # orthogonal: the flattened (64, 27) weight has orthonormal columns
        flat = weight.reshape(64, -1)
        assert torch.allclose(flat.T @ flat, torch.eye(27), atol=1e-5)
    assert float(model.head.weight.detach().std()) == pytest.approx(LINEAR_STD, rel=0.15)
    assert torch.all(model.conv.bias == 0) and torch.all(model.head.bias == 0)
    assert torch.all(model.norm.weight == 1) and torch.all(model.norm.bias == 0)


def test_the_draws_depend_on_the_seed_and_the_module_position_only() -> None:
    first, second = _Tiny(), _Tiny()
    initialise(first, "normal", seed=1)
    initialise(second, "normal", seed=1)
    # exact: the same position seeds draw the same numbers
    assert torch.equal(first.conv.weight, second.conv.weight) and torch.equal(first.head.weight, second.head.weight)
    initialise(second, "normal", seed=2)
    # exact: another seed draws other numbers (no rounding is involved in a copy of drawn values)
    assert not torch.equal(first.conv.weight, second.conv.weight)


def test_the_score_is_the_epsilon_statistic_of_the_two_draws() -> None:
    batch = Batch(inputs=torch.randn(8, 3, 6, 6, generator=torch.Generator().manual_seed(0)), targets=None,
                  identity="noise", dataset="cifar10")
    result = create_proxy("epsilon_init", init="kaiming_normal").score(_Tiny(), batch, CONTEXT)
    model = _Tiny().train()
    outputs = []
    with torch.no_grad():
        for draw in range(2):
            initialise(model, "kaiming_normal", position_seed(CONTEXT.seed, f"epsilon_init draw {draw}"))
            outputs.append(model(batch.inputs).flatten().double().numpy())
    assert result.value == pytest.approx(_epsilon_statistic(*outputs), rel=1e-9)
    assert result.value > 0


def test_a_module_it_cannot_initialise_is_one_clear_error() -> None:
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))
    with pytest.raises(NasError, match=r"module '0' \(Embedding\) owns parameters but is not a convolution"):
        initialise(model, "normal", seed=0)


def test_a_bad_scheme_is_one_clear_error() -> None:
    with pytest.raises(NasError, match="epsilon_init: init must be one of uniform, normal, kaiming_uniform"):
        create_proxy("epsilon_init", init="xavier")


def test_random_initialisations_score_real_nb201_networks_and_the_draws_differ(data_dir) -> None:
    space = create_space("nb201")
    batch = load_batch("cifar10", size=16, seed=0)
    network = space.build(space.parse(GOOD), dataset_spec("cifar10"))
    scores = {scheme: create_proxy("epsilon_init", init=scheme).score(network, batch, CONTEXT) for scheme in ("normal", "orthogonal")}
    assert all(not result.is_nan and result.value > 0 for result in scores.values())
    assert scores["normal"].value != scores["orthogonal"].value
