"""NAS-Bench-NLP's width-collapsed, rank-one forward gives epsilon as the full language model does.

With constant recurrent weights every hidden unit of a token takes one value ``s_n``, and the
decoder tied to the random embedding makes the logits ``s_n * r_v`` (``r`` the embedding's row
sums). ``NlpLanguageModel.collapsed_forward`` returns those factors and
``epsilon_from_rank_one`` scores them without forming the ``(tokens x vocabulary)`` logits.
These tests check the algebra on hand-made factors (exactly, in float64) and the whole path on
real Penn Treebank cells and sentences against the full network (``direct_outputs``).
"""

from __future__ import annotations

import math
import random

import pytest
import torch

from nas.data import load_batch
from nas.proxies import create_proxy
from nas.proxies.base import Batch, ProxyContext
from nas.proxies.collapse import CollapseError, RankOneOutput
from nas.proxies.epsilon import (
    DEFAULT_WEIGHTS,
    direct_outputs,
    epsilon_from_outputs,
    epsilon_from_rank_one,
    own_collapsed_outputs,
)
from nas.spaces import create_space
from nas.spaces.nlp import NlpLanguageModel

WEIGHTS = DEFAULT_WEIGHTS["nlp"]  # the paper's (1e-5, 1e-3)
CONTEXT = ProxyContext(space="nlp", dataset="ptb", num_classes=10000, seed=0)


def _pair(rows1: list[float], rows2: list[float], cols: list[float]) -> list[RankOneOutput]:
    c = torch.tensor(cols, dtype=torch.float64)
    return [RankOneOutput(torch.tensor(rows1, dtype=torch.float64), c), RankOneOutput(torch.tensor(rows2, dtype=torch.float64), c)]


@pytest.mark.parametrize(
    "rows1, rows2, cols",
    [
        # mixed signs on both sides: the minimum is a negative corner product
        ([0.5, -1.0, 2.0, 0.25], [1.5, 0.5, -0.75, 2.0], [1.0, -2.0, 0.5, 3.0, -0.25]),
        # ties at the extremes: several rows and columns attain the minimum (many exact zeros)
        ([1.0, 1.0, 3.0, 1.0], [2.0, -1.0, -1.0, 4.0], [-2.0, -2.0, 1.0, 5.0, 5.0]),
        # a zero row and a zero column, all factors non-negative: the minimum 0 is attained by a
        # whole row and a whole column
        ([0.0, 1.0, 2.0], [3.0, 0.0, 1.0], [0.0, 1.0, 4.0, 2.0]),
        # a row factor equal in both outputs: positions where a == b
        ([1.0, 2.0, 3.0], [1.0, 2.5, 3.0], [1.0, 2.0, 3.0]),
    ],
)
def test_rank_one_epsilon_equals_epsilon_of_the_formed_outputs(rows1, rows2, cols) -> None:
    factors = _pair(rows1, rows2, cols)
    expected = epsilon_from_outputs([f.dense() for f in factors], WEIGHTS, "float64")
    got = epsilon_from_rank_one(factors, WEIGHTS, "float64")
    # the same sums in another order, each term exact in float64 for these small dyadic inputs
    assert got.value == pytest.approx(expected.value, rel=1e-12)


def test_rank_one_epsilon_on_random_factors_and_its_nan_reasons() -> None:
    generator = torch.Generator().manual_seed(3)
    cols = torch.randn(500, generator=generator, dtype=torch.float64)
    for _ in range(5):
        factors = [RankOneOutput(torch.randn(300, generator=generator, dtype=torch.float64), cols) for _ in range(2)]
        expected = epsilon_from_outputs([f.dense() for f in factors], WEIGHTS, "float64")
        assert epsilon_from_rank_one(factors, WEIGHTS, "float64").value == pytest.approx(expected.value, rel=1e-10)
    # the same NaN reasons as for formed outputs
    zero = RankOneOutput(torch.zeros(300, dtype=torch.float64), cols)
    live = RankOneOutput(torch.randn(300, generator=generator, dtype=torch.float64), cols)
    for pair in ([zero, zero], [zero, live]):
        expected = epsilon_from_outputs([f.dense() for f in pair], WEIGHTS, "float64")
        got = epsilon_from_rank_one(pair, WEIGHTS, "float64")
        assert math.isnan(got.value) and got.reason == expected.reason
    # beyond float32's largest number (3.4e38): the full network in float32 would give inf
    huge = RankOneOutput(1e39 * torch.rand(300, generator=generator, dtype=torch.float64), cols)
    assert "non-finite output" in (epsilon_from_rank_one([live, huge], WEIGHTS, "float32").reason or "")
    with pytest.raises(ValueError, match="same columns"):
        epsilon_from_rank_one([live, RankOneOutput(live.rows, cols + 1)], WEIGHTS)


@pytest.fixture(scope="module")
def cells() -> list:
    """Five NAS-Bench-NLP cells drawn with a fixed seed from the benchmark's logged cells."""
    return random.Random(7).sample(list(create_space("nlp").known_cells()), 5)


@pytest.fixture(scope="module")
def tokens() -> torch.Tensor:
    """Three real 35-token Penn Treebank sequences (the claim does not depend on the batch size)."""
    return load_batch("ptb", size=3, seed=0).inputs


# Tolerances. The collapsed forward adds a token's identical units as ``weight x (value x width)``
# where the full network sums ``weight x value`` 400-600 times in a GEMM, then carries that through
# 35 recurrent steps of three layers: in float64 the hidden values and the logits agree to ~1e-13
# of the largest logit (measured on these cells), so 1e-9 leaves room for other CPUs' kernels.
LOGIT_REL = 1e-9
# Epsilon itself is compared more loosely, because "exact zeros are missing values" is not a
# continuous rule: tokens whose units saturate (e.g. a sigmoid at exactly 0.5) share one hidden
# value, so up to ~100 logits tie at the minimum in exact arithmetic (and in the factors), while
# the full network's GEMM rounds those rows differently and leaves only one of them exactly zero.
# Measured: up to 3.3e-5 relative in float64 here, up to 9.4e-5 in float32 on 20 random PTB cells
# at 32 sequences, below float32's own error (the full network in float32 differs from float64
# by up to 2.6e-4 relative on the same cells).
EPSILON_REL = 1e-3


def test_collapsed_language_model_scores_as_the_full_network(cells, tokens) -> None:
    space = create_space("nlp")
    spec = space.dataset_spec("ptb")
    finite = 0
    for cell in cells:
        model = space.build(cell, spec).to(torch.float64)
        factors = own_collapsed_outputs(model, tokens, WEIGHTS)
        direct = direct_outputs(model, tokens, WEIGHTS)
        for factor, logits in zip(factors, direct):
            assert isinstance(factor, RankOneOutput)
            scale = float(logits.abs().max())
            assert float((factor.dense() - logits).abs().max()) <= LOGIT_REL * scale
        formed = epsilon_from_outputs([f.dense() for f in factors], WEIGHTS, "float64")
        assert epsilon_from_rank_one(factors, WEIGHTS, "float64").value == pytest.approx(formed.value, rel=1e-10)
        model32 = model.to(torch.float32)
        for precision, factored_outputs, full_outputs in (
            ("float64", factors, direct),
            ("float32", own_collapsed_outputs(model32, tokens, WEIGHTS), direct_outputs(model32, tokens, WEIGHTS)),
        ):
            factored = epsilon_from_rank_one(factored_outputs, WEIGHTS, precision)
            full = epsilon_from_outputs(full_outputs, WEIGHTS, precision)
            if math.isnan(full.value):
                assert math.isnan(factored.value) and factored.reason == full.reason
            else:
                finite += 1
                assert factored.value == pytest.approx(full.value, rel=EPSILON_REL)
    assert finite >= 5  # most of these cells are finite in both precisions


def test_the_proxy_takes_the_rank_one_path(cells, tokens, monkeypatch: pytest.MonkeyPatch) -> None:
    import nas.proxies.epsilon as epsilon_module

    space = create_space("nlp")
    expected = epsilon_from_rank_one(own_collapsed_outputs(space.build(cells[0], space.dataset_spec("ptb")), tokens, WEIGHTS), WEIGHTS)

    def refuse(*args, **kwargs):
        raise AssertionError("the full network was evaluated")

    monkeypatch.setattr(epsilon_module, "direct_outputs", refuse)
    batch = load_batch("ptb", size=3, seed=0)
    result = create_proxy("epsilon").score(space.build(cells[0], space.dataset_spec("ptb")), batch, CONTEXT)
    assert result.value == pytest.approx(expected.value, rel=1e-12) or (math.isnan(result.value) and math.isnan(expected.value))


def test_a_cell_reading_the_raw_input_outside_a_linear_falls_back_to_the_full_network() -> None:
    space = create_space("nlp")
    # tanh of the embedding itself: its features differ, so the units do not collapse
    cell = space.parse(
        '{"h_new_0":{"input":["t","l"],"op":"elementwise_sum"},"t":{"input":["x"],"op":"activation_tanh"},'
        '"l":{"input":["x","h_prev_0"],"op":"linear"}}'
    )
    model = NlpLanguageModel(cell, vocab_size=50, embedding_size=8, hidden_size=8, num_layers=2).to(torch.float64)
    tokens = torch.randint(0, 50, (3, 5), generator=torch.Generator().manual_seed(0))
    with pytest.raises(CollapseError, match="raw input"):
        own_collapsed_outputs(model, tokens, WEIGHTS)
    context = ProxyContext(space="nlp", dataset="ptb", num_classes=50, seed=0)
    batch = Batch(inputs=tokens, targets=None, identity="test:tokens", dataset="ptb")
    result = create_proxy("epsilon", precision="float64").score(model, batch, context)
    expected = epsilon_from_outputs(direct_outputs(model, tokens, WEIGHTS), WEIGHTS, "float64")
    assert result.value == pytest.approx(expected.value, rel=1e-12)
