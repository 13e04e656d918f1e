"""FLOP counting on tiny models with hand-computed counts, and NAS-Bench-201's published FLOPs."""

from __future__ import annotations

import pytest
import torch.nn as nn

from nas.datasets import dataset_spec
from nas.errors import NasError
from nas.flops import count_flops
from nas.spaces import create_space


def test_conv2d_without_and_with_bias() -> None:
    # 3x3 kernel, 3 -> 8 channels, 10x10 output: 9 * 3 * 8 * 100
    assert count_flops(nn.Conv2d(3, 8, 3, padding=1, bias=False), (3, 10, 10)) == 21_600
    # plus one addition per output element for the bias: 8 * 100
    assert count_flops(nn.Conv2d(3, 8, 3, padding=1), (3, 10, 10)) == 22_400


def test_conv2d_stride_and_groups() -> None:
    # stride 2 on 10x10 with padding 1 gives 5x5: 9 * 3 * 8 * 25
    assert count_flops(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), (3, 10, 10)) == 5_400
    # 2 groups of 2 input channels each: 9 * (4 / 2) * 8 * 36
    assert count_flops(nn.Conv2d(4, 8, 3, padding=1, groups=2, bias=False), (4, 6, 6)) == 5_184


def test_conv1d_and_linear() -> None:
    # kernel 3, 2 -> 4 channels, length 10 -> 8: 3 * 2 * 4 * 8 + bias 4 * 8
    assert count_flops(nn.Conv1d(2, 4, 3), (2, 10)) == 224
    assert count_flops(nn.Linear(20, 5), (20,)) == 105
    assert count_flops(nn.Linear(20, 5, bias=False), (3, 20)) == 300  # applied to 3 rows


def test_norm_activation_and_pooling_count_zero() -> None:
    model = nn.Sequential(nn.BatchNorm2d(4), nn.ReLU(), nn.AvgPool2d(2), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1))
    assert count_flops(model, (4, 8, 8)) == 0


def test_a_layer_run_twice_counts_twice_and_mode_is_restored() -> None:
    layer = nn.Linear(4, 4, bias=False)

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = layer

        def forward(self, x):  # type: ignore[no-untyped-def]
            return self.layer(self.layer(x))

    model = Twice().train()
    assert count_flops(model, (4,)) == 32
    assert model.training
    assert not layer._forward_hooks


@pytest.mark.parametrize("shape", [(), (3, 0, 4), (3, -1), (3.0, 4)])
def test_bad_input_shape(shape: tuple) -> None:
    with pytest.raises(NasError, match="input shape"):
        count_flops(nn.Linear(2, 2), shape)


@pytest.mark.parametrize(
    "dataset, flops",
    [("cifar10", 15_647_370), ("cifar100", 15_653_220), ("imagenet16-120", 3_919_480)],
)
def test_nas_bench_201_published_flops(dataset: str, flops: int) -> None:
    # NATS-Bench issue #24: architecture 0 has 15.64737 / 15.65322 / 3.91948 MFLOPs
    space = create_space("nb201")
    assert space.count_flops(space.arch_at(0), dataset_spec(dataset)) == flops
