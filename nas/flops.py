"""Counting the multiply-accumulate operations (FLOPs) of one forward pass.

Convention (that of NAS-Bench-201 / NATS-Bench, whose published "FLOPs" it reproduces):

* ``nn.Conv1d``/``nn.Conv2d``: ``kernel elements * in_channels / groups * out_channels`` per
  output position, plus one per output element when the layer has a bias;
* ``nn.Linear``: ``in_features * out_features`` per row, plus ``out_features`` with a bias;
* everything else (batch norm, activations, pooling, additions) counts 0.

Counts are per example: the model runs once on one random input of ``input_shape`` (eval
mode, no gradients) and forward hooks read each layer's actual output size, so layers that
run several times are counted each time and layers that never run are not counted.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn

from nas.errors import NasError


def _conv_flops(module: nn.Module, output: torch.Tensor) -> int:
    assert isinstance(module, (nn.Conv1d, nn.Conv2d))
    positions = math.prod(output.shape[2:])
    per_position = math.prod(module.kernel_size) * module.in_channels // module.groups * module.out_channels
    bias = module.out_channels if module.bias is not None else 0
    return positions * (per_position + bias)


def _linear_flops(module: nn.Module, output: torch.Tensor) -> int:
    assert isinstance(module, nn.Linear)
    rows = output.numel() // module.out_features
    bias = module.out_features if module.bias is not None else 0
    return rows * (module.in_features * module.out_features + bias)


def count_flops(model: nn.Module, input_shape: Sequence[int], dtype: torch.dtype = torch.float32) -> int:
    """Multiply-accumulates of ``model`` on one example of shape ``input_shape`` (no batch axis).

    See the module docstring for what is counted. An integer ``dtype`` (token ids of a language
    model) gives an example of zeros, a floating one uniform noise. The model's training mode is
    restored.
    """
    shape = tuple(input_shape)
    if not shape or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
        raise NasError(f"input shape must be positive integers (without the batch axis), got {input_shape!r}")
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Linear):
            total += _linear_flops(module, output)
        else:
            total += _conv_flops(module, output)

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))
    ]
    was_training = model.training
    try:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        model.eval()
        with torch.no_grad():
            example = (
                torch.rand((1, *shape), device=device, dtype=dtype)
                if dtype.is_floating_point
                else torch.zeros((1, *shape), device=device, dtype=dtype)
            )
            model(example)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return total
