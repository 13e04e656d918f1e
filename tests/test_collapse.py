"""The width-collapsed fast path equals the direct computation of epsilon, and refuses what it cannot do."""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn as nn

from nas.data import load_batch
from nas.datasets import dataset_spec
from nas.proxies.collapse import CollapseError, can_collapse, collapse, register_collapsible
from nas.proxies.epsilon import collapsed_outputs, direct_outputs, epsilon_from_outputs
from nas.spaces import create_space

WEIGHTS = (1e-7, 1.0)
NO_PATH = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@pytest.fixture(scope="module")
def images(data_dir) -> torch.Tensor:
    return load_batch("cifar10", size=8, seed=0).inputs


def _nb201_sample(count: int, seed: int) -> list:
    space = create_space("nb201")
    rng = random.Random(seed)
    return [space.parse(NO_PATH), space.parse(ALL_NONE)] + [space.sample(rng) for _ in range(count - 2)]


def _agree(direct, collapsed, precision: str) -> bool:
    if direct.is_nan or collapsed.is_nan:
        return direct.is_nan and collapsed.is_nan and direct.reason == collapsed.reason
    # epsilon is a difference of nearly equal outputs for some cells: allow rounding in absolute terms too
    tolerance = {"float32": 1e-5, "float64": 1e-11}[precision]
    return math.isclose(direct.value, collapsed.value, rel_tol=tolerance, abs_tol=tolerance)


@pytest.mark.slow
@pytest.mark.parametrize("dtype, count", [(torch.float32, 10), (torch.float64, 5)])
def test_nb201_collapsed_equals_direct(images: torch.Tensor, dtype: torch.dtype, count: int) -> None:
    space, spec = create_space("nb201"), dataset_spec("cifar10")
    inputs = images.to(dtype)
    precision = str(dtype).removeprefix("torch.")
    results = []
    for arch in _nb201_sample(count, seed=7):
        model = space.build(arch, spec).to(dtype)
        assert can_collapse(model), can_collapse(model).reason
        fast = epsilon_from_outputs(collapsed_outputs(model, inputs, WEIGHTS), WEIGHTS, precision)
        slow = epsilon_from_outputs(direct_outputs(model, inputs, WEIGHTS), WEIGHTS, precision)
        assert _agree(slow, fast, precision), (space.format(arch), slow, fast)
        results.append(slow)
    assert any(r.is_nan for r in results) and any(not r.is_nan for r in results)
    if dtype == torch.float32:  # the sample covers both kinds of NaN
        assert any("underflowed" in (r.reason or "") for r in results)
        assert any("both weights" in (r.reason or "") for r in results)


def test_direct_logits_are_identical_across_classes(images: torch.Tensor) -> None:
    space = create_space("nb201")
    model = space.build(space.parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_1x1~2|"), dataset_spec("cifar10"))
    logits = direct_outputs(model, images, (1.0,))[0].view(len(images), -1)
    assert logits.shape[1] == 10
    assert torch.equal(logits, logits[:, :1].expand_as(logits))
    collapsed = collapsed_outputs(model, images, (1.0,))[0]
    assert collapsed.shape == (len(images),)
    torch.testing.assert_close(collapsed, logits[:, 0], rtol=1e-4, atol=0)


@pytest.mark.parametrize("space_name, dataset, culprit", [("nb101", "cifar10", "Nb101CellModule"), ("nlp", "ptb", "Embedding")])
def test_concatenating_and_embedding_spaces_do_not_collapse(space_name: str, dataset: str, culprit: str) -> None:
    space = create_space(space_name)
    model = space.build(space.sample(random.Random(0)), dataset_spec(dataset))
    check = can_collapse(model)
    assert not check
    assert check.reason and culprit in check.reason
    with pytest.raises(CollapseError):
        collapse(model, 1.0)


class _Concat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.a(x), self.b(x)], dim=1)


class _Scaled(nn.Module):
    collapsible = True

    def __init__(self) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(4))


class _Residual(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _MyConv(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)[:, :1]


def test_unsafe_modules_are_refused_with_a_reason() -> None:
    assert "_Concat" in (can_collapse(nn.Sequential(_Concat())).reason or "")
    assert "grouped" in (can_collapse(nn.Conv2d(4, 4, 3, groups=2)).reason or "")
    assert "owns parameters" in (can_collapse(_Scaled()).reason or "")
    assert "not known" in (can_collapse(_Residual(4)).reason or "")  # undeclared custom forward
    assert "not known" in (can_collapse(_MyConv(3, 4, 3)).reason or "")  # subclass overriding forward


def test_registered_generic_network_collapses_exactly(images: torch.Tensor) -> None:
    register_collapsible(_Residual)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=True),
        nn.BatchNorm2d(8),
        _Residual(8),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 12, 3, stride=2, padding=1, padding_mode="reflect"),
        nn.BatchNorm2d(12, affine=False),
        nn.ReLU(),
        nn.Flatten(),  # 12 x 8 x 8 features: a width-1 input stands for 12 each
        nn.Linear(768, 20),
        nn.ReLU(),
        nn.Linear(20, 5),
    ).double()
    assert can_collapse(model)
    inputs = images.double()
    fast = epsilon_from_outputs(collapsed_outputs(model, inputs, (0.1, 2.0)), (0.1, 2.0))
    slow = epsilon_from_outputs(direct_outputs(model, inputs, (0.1, 2.0)), (0.1, 2.0))
    assert not slow.is_nan
    assert fast.value == pytest.approx(slow.value, rel=1e-9)
