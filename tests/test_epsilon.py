"""The epsilon proxy: formula, NaN reasons, precision, settings and default weights."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn as nn

from nas.data import load_batch
from nas.datasets import dataset_spec
from nas.errors import NasError
from nas.proxies import create_proxy
from nas.proxies.base import Batch, ProxyContext
from nas.spaces import create_space

ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
NO_PATH = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"
NORMAL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
NB201 = ProxyContext(space="nb201", dataset="cifar10", num_classes=10)


@pytest.fixture(scope="module")
def batch(data_dir) -> Batch:
    return load_batch("cifar10", size=16, seed=0)


def _score(arch: str, batch: Batch, **settings: object):
    space = create_space("nb201")
    return create_proxy("epsilon", **settings).score(space.build(space.parse(arch), dataset_spec("cifar10")), batch, NB201)


@pytest.mark.parametrize("arch", [ALL_NONE, NO_PATH])
def test_no_signal_gives_nan_with_the_constant_output_reason(arch: str, batch: Batch) -> None:
    assert not create_space("nb201").has_path(create_space("nb201").parse(arch))
    result = _score(arch, batch)
    assert result.is_nan
    assert "constant output" in (result.reason or "")


@pytest.mark.parametrize("collapse", ["auto", "off"])
def test_normal_architecture_is_finite_and_higher_is_better(collapse: str, batch: Batch) -> None:
    proxy = create_proxy("epsilon", collapse=collapse, precision="float64")
    assert proxy.higher_is_better and proxy.needs == frozenset({"data"})
    result = _score(NORMAL, batch, collapse=collapse, precision="float64")
    assert not result.is_nan and result.value > 0


@pytest.mark.slow
def test_float64_removes_float32_underflow(batch: Batch) -> None:
    space, rng = create_space("nb201"), random.Random(3)
    archs = [space.format(space.sample(rng)) for _ in range(8)]
    nan32 = [_score(a, batch) for a in archs]
    nan64 = [_score(a, batch, precision="float64") for a in archs]
    underflow = [r for r in nan32 if r.is_nan and "underflowed in float32" in (r.reason or "")]
    assert underflow, "the sample should contain float32 underflow at [1e-7, 1]"
    assert sum(r.is_nan for r in nan64) < sum(r.is_nan for r in nan32)


class _Fixed(nn.Module):
    """Returns x + a^2 x^2 for a parameter a, which epsilon sets to each weight."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.a**2 * x**2


def test_formula_matches_a_hand_computation() -> None:
    batch = Batch(torch.tensor([0.0, 1.0, 2.0, 3.0]), None, "hand", "none")
    context = ProxyContext(space="custom", dataset="none", num_classes=1)
    result = create_proxy("epsilon", weights="1:2").score(_Fixed(), batch, context)
    # w=1: [0, 2, 6, 12] -> [0, 1/6, 1/2, 1];  w=2: [0, 5, 18, 39] -> [0, 5/39, 18/39, 1]; zeros are missing
    delta = (abs(1 / 6 - 5 / 39) + abs(1 / 2 - 18 / 39) + 0) / 3
    mu = (1 / 6 + 1 / 2 + 1 + 5 / 39 + 18 / 39 + 1) / 6
    # the outputs are small integers, exact in float32; epsilon then takes a few float64 steps
    # in another order than this formula: rel 1e-6 is far above that rounding (~1e-15) and far
    # below any formula error
    assert result.value == pytest.approx(delta / mu, rel=1e-6)


@pytest.mark.parametrize("weights, message", [
    ("1:1e-3", "increasing"),
    ("-1:1", "positive"),
    ("1:2:3", "exactly two"),
    ("a:b", "two numbers"),
    (5, "two numbers"),
])
def test_weights_are_validated(weights: object, message: str) -> None:
    with pytest.raises(NasError, match=message):
        create_proxy("epsilon", weights=weights)


def test_other_settings_are_validated() -> None:
    with pytest.raises(NasError, match="precision"):
        create_proxy("epsilon", precision="float16")
    with pytest.raises(NasError, match="collapse"):
        create_proxy("epsilon", collapse="always")
    with pytest.raises(NasError, match="weights"):
        create_proxy("epsilon").weights_for("my-space")


def test_space_default_weights_are_used(batch: Batch) -> None:
    proxy = create_proxy("epsilon")
    assert proxy.weights_for("nb201") == (1e-7, 1.0)
    assert proxy.weights_for("nb101") == (1e-4, 10.0)
    assert proxy.weights_for("nlp") == (1e-5, 1e-3)
    assert create_proxy("epsilon", weights=[0.5, 2]).weights_for("nb201") == (0.5, 2.0)
    default = _score(NORMAL, batch, precision="float64")
    explicit = _score(NORMAL, batch, precision="float64", weights="1e-7:1")
    other = _score(NORMAL, batch, precision="float64", weights="1e-3:1")
    # exact: default and explicit run the same code on the same network, batch and weights
    # (the defaults are these very floats) in one process, so the result is the same bits
    assert default.value == explicit.value != other.value


def test_a_decoder_tied_to_its_embedding_keeps_the_random_embedding() -> None:
    import torch

    from nas.proxies.epsilon import set_constant_weights
    from nas.spaces import create_space

    space = create_space("nlp")
    cell = space.parse('{"h_new_0":{"input":["l"],"op":"activation_tanh"},"l":{"input":["x","h_prev_0"],"op":"linear"}}')
    model = space.build(cell, space.dataset_spec("ptb"))
    assert model.decoder.weight is model.embedding.weight
    set_constant_weights(model, 0.5, seed=1)
    embedding = model.embedding.weight.detach()
    assert embedding.std() > 0.5  # seeded standard normals, not the constant (a later owner must not overwrite it)
    assert torch.all(model.decoder.bias == 0)
    recurrent = [p for n, p in model.named_parameters() if n.startswith("layers.") and not n.endswith("bias")]
    assert recurrent and all(torch.all(p == 0.5) for p in recurrent)


def test_the_embedding_settings_at_their_defaults_keep_the_store_key_of_before() -> None:
    """``embedding`` and ``embedding_scale`` came after scores were stored: at their defaults they are not in the key."""
    import json

    default = create_proxy("epsilon")
    # the key every epsilon score was stored under before the embedding settings existed
    assert default.settings_key() == json.dumps({"collapse": "auto", "precision": "float32", "weights": None}, sort_keys=True)
    assert create_proxy("epsilon", embedding="normal", embedding_scale=1).settings_key() == default.settings_key()
    other = create_proxy("epsilon", embedding="uniform_positive", embedding_scale=0.1).settings_key()
    assert json.loads(other) == {"collapse": "auto", "precision": "float32", "weights": None,
                                 "embedding": "uniform_positive", "embedding_scale": 0.1}


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"embedding": "laplace"}, "embedding must be one of normal, uniform_centered, uniform_positive"),
     ({"embedding_scale": 0}, "embedding_scale must be positive"),
     ({"embedding_scale": "inf"}, "embedding_scale must be positive")],
)
def test_bad_embedding_settings_are_one_clear_error(settings: dict[str, object], message: str) -> None:
    with pytest.raises(NasError, match=message):
        create_proxy("epsilon", **settings)


@pytest.mark.parametrize(
    ("kind", "scale", "low", "high"),
    [("uniform_positive", 0.1, 0.0, 0.1), ("uniform_centered", 1.0, -1.0, 1.0), ("uniform_positive", 1.0, 0.0, 1.0)],
)
def test_uniform_embeddings_fill_their_interval(kind: str, scale: float, low: float, high: float) -> None:
    from nas.proxies.epsilon import draw_embedding

    values = draw_embedding(torch.Size([200, 50]), torch.Generator().manual_seed(0), (kind, scale))
    assert values.dtype == torch.float64 and low <= float(values.min()) and float(values.max()) < high
    # 10,000 uniform draws: the extremes lie within 1% of the interval's ends, the mean near its middle
    width = high - low
    assert float(values.min()) < low + 0.01 * width and float(values.max()) > high - 0.01 * width
    assert abs(float(values.mean()) - (low + high) / 2) < 0.02 * width


def test_normal_embeddings_scale_the_default_draw() -> None:
    from nas.proxies.epsilon import draw_embedding

    default = draw_embedding(torch.Size([100, 100]), torch.Generator().manual_seed(3))
    scaled = draw_embedding(torch.Size([100, 100]), torch.Generator().manual_seed(3), ("normal", 0.1))
    assert torch.allclose(scaled, default * 0.1, rtol=0, atol=1e-15)
    assert abs(float(default.std()) - 1.0) < 0.03


def test_the_embedding_setting_changes_a_language_model_score_and_the_default_is_the_normal_draw() -> None:
    from nas.proxies.epsilon import set_constant_weights

    space = create_space("nlp")
    cell = space.parse('{"h_new_0":{"input":["l"],"op":"activation_tanh"},"l":{"input":["x","h_prev_0"],"op":"linear"}}')
    model = space.build(cell, space.dataset_spec("ptb"))
    set_constant_weights(model, 0.5, seed=1, embedding=("uniform_positive", 0.1))
    embedding = model.embedding.weight.detach()
    assert float(embedding.min()) >= 0 and float(embedding.max()) < 0.1
    inputs = torch.randint(0, 10000, (35, 4), generator=torch.Generator().manual_seed(0))
    batch = Batch(inputs=inputs, targets=None, identity="tokens", dataset="ptb")
    context = ProxyContext(space="nlp", dataset="ptb", num_classes=10000, seed=0)
    scores = {
        settings: create_proxy("epsilon", **dict(settings)).score(space.build(cell, space.dataset_spec("ptb")), batch, context).value
        for settings in [(), (("embedding", "normal"), ("embedding_scale", 1.0)), (("embedding", "uniform_positive"),)]
    }
    values = list(scores.values())
    # exact: the default and the explicit default run the same code on the same draws
    assert values[0] == values[1] and values[0] != values[2]
