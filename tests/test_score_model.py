"""``nas.score_model``: proxies of any PyTorch model, which is never changed."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

import nas
from nas.api.models import MODEL_PROXIES


class _BasicBlock(nn.Module):
    def __init__(self, inputs: int, outputs: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.relu = nn.ReLU(inplace=True)  # reused twice per block, as in torchvision
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.downsample = (
            None
            if stride == 1 and inputs == outputs
            else nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18(nn.Module):
    """torchvision's ResNet-18 layout (7x7 stem, max-pool, 4 stages of 2 basic blocks, 11.2 M parameters for 10 classes)."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, width = [], 64
        for outputs, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(nn.Sequential(_BasicBlock(width, outputs, stride), _BasicBlock(outputs, outputs, 1)))
            width = outputs
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


class TransformerBlock(nn.Module):
    """A token embedding, one pre-norm-free encoder layer, mean pooling and a classifier."""

    def __init__(self, features: int = 8, width: int = 32, classes: int = 5):
        super().__init__()
        self.embed = nn.Linear(features, width)
        self.layer = nn.TransformerEncoderLayer(width, 4, 64, dropout=0.0, batch_first=True)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layer(self.embed(x)).mean(1))


def _loader(n: int = 16) -> torch.utils.data.DataLoader:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(n, 3, 32, 32, generator=generator)
    labels = torch.randint(0, 10, (n,), generator=generator)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=8)


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.clone() for name, value in model.state_dict().items()}


def test_a_resnet18_gets_every_general_proxy_and_is_left_unchanged() -> None:
    model = ResNet18()
    model.eval()
    before = _state(model)
    scores = nas.score_model(model, _loader(), batches=2, proxies=[p for p in MODEL_PROXIES if p != "epsilon"])
    assert set(scores) == set(MODEL_PROXIES) - {"epsilon"}
    for name, result in scores.items():
        assert math.isfinite(result.value), (name, result.reason)
    assert scores["params"].value == sum(p.numel() for p in model.parameters()) == 11_181_642
    assert scores["flops"].value > 3e7  # conv/linear multiply-adds of one 32x32 image
    assert scores["synflow"].value > 0 and scores["snip"].value > 0 and scores["grad_norm"].value > 0
    after = model.state_dict()
    # exact: the caller's parameters and BN statistics must be untouched, not recomputed
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert not model.training  # the caller's mode too


def test_scores_are_reproducible_and_the_global_random_state_is_kept() -> None:
    model = TransformerBlock()
    generator = torch.Generator().manual_seed(1)
    data = (torch.randn(16, 6, 8, generator=generator), torch.randint(0, 5, (16,), generator=generator))
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = nas.score_model(model, data, "snip,jacob_cov,params", initialise=True, seed=4)
    assert torch.rand(1).item() == expected_next.item()
    second = nas.score_model(model, data, ["snip", "jacob_cov", "params"], initialise=True, seed=4)
    assert {k: v.value for k, v in first.items()} == {k: v.value for k, v in second.items()}
    assert first["params"].value == sum(p.numel() for p in model.parameters())


def test_a_proxy_that_cannot_apply_says_why() -> None:
    model = TransformerBlock()
    unlabelled = torch.randn(8, 6, 8)
    scores = nas.score_model(model, unlabelled, ["snip", "naswot", "params", "epsilon"])
    assert math.isnan(scores["snip"].value) and "needs labels" in scores["snip"].reason
    # no ReLU module in the block (its activation is functional): naswot has no codes to compare
    assert math.isnan(scores["naswot"].value) and "ReLU" in scores["naswot"].reason
    # layer normalisation makes every constant-weight network's output constant: epsilon is undefined
    assert math.isnan(scores["epsilon"].value) and scores["epsilon"].reason
    assert scores["params"].value > 0


def test_bad_data_is_one_clear_error() -> None:
    model = TransformerBlock()
    with pytest.raises(nas.NasError, match="torch.nn.Module"):
        nas.score_model("resnet", torch.randn(2, 6, 8))  # type: ignore[arg-type]
    with pytest.raises(nas.NasError, match="data must be"):
        nas.score_model(model, 3)  # type: ignore[arg-type]
    with pytest.raises(nas.NasError, match="4 inputs but 3 targets"):
        nas.score_model(model, (torch.randn(4, 6, 8), torch.zeros(3, dtype=torch.long)))
    with pytest.raises(nas.NasError, match="batches must be"):
        nas.score_model(model, torch.randn(4, 6, 8), batches=0)


def test_a_torchvision_resnet18_when_torchvision_works() -> None:
    try:
        import torchvision
    except (ImportError, RuntimeError, OSError) as exc:  # the PyPI wheel needs CUDA libraries next to a CPU torch
        pytest.skip(f"torchvision is not usable here: {type(exc).__name__}: {exc}")
    model = torchvision.models.resnet18(num_classes=10)
    before = _state(model)
    scores = nas.score_model(model, _loader(8), ["synflow", "snip", "params"])
    assert scores["params"].value == 11_181_642 and math.isfinite(scores["snip"].value)
    # exact: the caller's model must be untouched, not recomputed
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())
