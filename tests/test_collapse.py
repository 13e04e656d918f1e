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


# The collapsed and the direct network compute the same function with different kernels and
# summation orders (width-1 depthwise convolutions and a hand-written batch norm against full
# convolutions, GEMMs and the generic batch norm), and which kernel runs depends on the CPU. So
# they agree to rounding, never bit for bit: the tolerances below say how much rounding.

#: Outputs: relative to each output's magnitude (plus, as an absolute part, to the largest
#: output, for entries that are ~0 in one path and rounding-sized in the other). Measured on
#: AVX2: <= 7e-7 (float32) and <= 4e-15 (float64) of the output scale, through up to 5 cells
#: with batch norm. 1e-4 and 1e-12 leave >100x margin; a collapse bug (a wrong fan-in scale,
#: a wrong normalisation) changes outputs by factors, not by 1e-4.
OUTPUT_TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-12}

#: Epsilon (rel_tol, abs_tol). Epsilon = delta / mu where delta is the mean absolute difference
#: of two min-max normalised outputs in [0, 1]; when those are nearly equal (epsilon << 1)
#: delta is a difference of nearly equal numbers (catastrophic cancellation) and carries the
#: ABSOLUTE rounding error of the normalised values, ~(outputs' relative agreement) / mu, not a
#: relative one: e.g. float32 epsilon 8.85e-5 differs by 5e-4 relative (4.4e-8 absolute)
#: between the two paths. float32: absolute 1e-5 covers ~1e-6 error in the normalised values
#: with mu >= 0.1 (measured <= 4e-7), relative 1e-4 covers large epsilons. float64: the same
#: argument scaled by the unit roundoff ratio 2**-29 ~ 2e-9 with a 50x margin: absolute 1e-12
#: (measured <= 3e-15), relative 1e-11.
EPSILON_TOLERANCE = {"float32": (1e-4, 1e-5), "float64": (1e-11, 1e-12)}


def _agree(direct, collapsed, precision: str) -> bool:
    if direct.is_nan or collapsed.is_nan:
        return direct.is_nan and collapsed.is_nan and direct.reason == collapsed.reason
    rel_tol, abs_tol = EPSILON_TOLERANCE[precision]
    return math.isclose(direct.value, collapsed.value, rel_tol=rel_tol, abs_tol=abs_tol)


def _assert_same_outputs(collapsed: list[torch.Tensor], direct: list[torch.Tensor], examples: int) -> None:
    """Every output feature of the direct network equals the collapsed network's one feature, to rounding."""
    for fast, slow in zip(collapsed, direct, strict=True):
        slow = slow.view(examples, -1)
        tolerance = OUTPUT_TOLERANCE[slow.dtype]
        # finfo.tiny: an output that underflows to 0 in one path may be subnormal in the other
        atol = tolerance * float(slow.abs().max()) + torch.finfo(slow.dtype).tiny
        torch.testing.assert_close(fast[:, None].expand_as(slow), slow, rtol=tolerance, atol=atol)


def _first_feature(direct: list[torch.Tensor], examples: int) -> list[torch.Tensor]:
    """The direct outputs reduced to their first feature per example (what the collapsed network outputs).

    Epsilon is compared on these, after :func:`_assert_same_outputs` has checked that every
    feature agrees with the collapsed one. Epsilon of the full direct output is not a continuous
    function of the outputs: normalised values that are exactly 0 are dropped as missing, and
    the copies of the smallest example's output across features, equal in exact arithmetic,
    may differ by one ulp (a GEMM kernel sums some output columns in another order), so on one
    CPU all copies are dropped and on another only those that round to the minimum. On AVX2,
    the generic network below gets epsilon 8.2262e-7 from its full direct output against
    8.1103e-7 collapsed: the factor 71/70 (to 1e-9) of one more value counted in mu.
    """
    return [out.view(examples, -1)[:, 0] for out in direct]


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
        collapsed, direct = collapsed_outputs(model, inputs, WEIGHTS), direct_outputs(model, inputs, WEIGHTS)
        _assert_same_outputs(collapsed, direct, len(inputs))
        fast = epsilon_from_outputs(collapsed, WEIGHTS, precision)
        slow = epsilon_from_outputs(_first_feature(direct, len(inputs)), WEIGHTS, precision)
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
    # Not bit-equal: every logit is the same sum of the 64 pooled features (non-negative, after
    # the last ReLU) times weight 1, but the GEMM kernel may sum some columns in another order
    # (up to 3.8e-6 apart at ~64, one float32 ulp, on AVX2). A reordered sum of n non-negative
    # float32 terms moves by at most ~n * 2**-24 = 3.8e-6 relative for n = 64: rtol 1e-5.
    # atol 0: an example whose features are all 0 has logits exactly 0 in every column.
    torch.testing.assert_close(logits, logits[:, :1].expand_as(logits), rtol=1e-5, atol=0)
    collapsed = collapsed_outputs(model, images, (1.0,))
    assert collapsed[0].shape == (len(images),)
    _assert_same_outputs(collapsed, [logits.flatten()], len(images))  # float32: 1e-4 of the logits' scale


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
    inputs, weights = images.double(), (0.1, 2.0)
    collapsed, direct = collapsed_outputs(model, inputs, weights), direct_outputs(model, inputs, weights)
    # "exactly" is the claim about the outputs, the inputs of epsilon's subtraction: equal to
    # float64 rounding after different summation orders (1e-12 of the output scale)
    _assert_same_outputs(collapsed, direct, len(inputs))
    fast = epsilon_from_outputs(collapsed, weights, "float64")
    slow = epsilon_from_outputs(_first_feature(direct, len(inputs)), weights, "float64")
    assert not slow.is_nan
    # Epsilon here is ~8e-7: the output at w=2 is ~400 times the output at w=0.1 (batch norm
    # makes the network nearly scale-invariant), so the two normalised vectors, values ~0.5,
    # agree to ~6 digits and delta is a difference of nearly equal numbers. Their float64
    # rounding, ~1e-15 absolute, is ~1e-9 of delta, so a relative tolerance of 1e-9 on epsilon
    # (as before) measured rounding, not correctness. Absolute 1e-12 (float64 EPSILON_TOLERANCE)
    # still pins epsilon to ~6 significant digits. (The 1.4% gap between collapsed and full direct
    # epsilon seen on AVX2 is not this rounding but the zero rule: see _first_feature.)
    assert _agree(slow, fast, "float64"), (slow, fast)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nb201_hand_written_collapsed_output_is_the_generic_collapse_to_the_bit(images: torch.Tensor, dtype: torch.dtype) -> None:
    """``NB201Space.collapsed_output`` (no network built, each distinct edge of a cell computed once)
    runs the generic collapse's width-1 kernels in the generic collapse's order, so it is bit-identical;
    the built network's own ``collapsed_forward`` is the same function of the architecture."""
    space, spec = create_space("nb201"), dataset_spec("cifar10")
    inputs = images.to(dtype)
    archs = _nb201_sample(24, seed=11) + [space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")]
    for arch in archs:
        model = space.build(arch, spec).to(dtype)
        for weight in WEIGHTS + (1e-3,):
            generic = collapse(model, weight)(inputs).flatten()
            hand = space.collapsed_output(arch, spec, inputs, weight)
            own = model.collapsed_forward(inputs, weight)
            assert hand.dtype == dtype and hand.shape == (len(inputs),)
            # exact: the same kernels on the same inputs in the same order (dedup repeats a computation, not a sum)
            assert torch.equal(hand, generic) or (hand.isnan().all() and generic.isnan().all()), space.format(arch)
            assert torch.equal(own, hand)  # exact: the method calls the same function


def test_nb201_collapsed_forward_refuses_a_changed_network(images: torch.Tensor) -> None:
    """A cell wrapped after the build (epsilon_auto's shortcuts) is not what the hand-written form computes."""
    from nas.proxies.epsilon_auto import IdentityShortcut

    space, spec = create_space("nb201"), dataset_spec("cifar10")
    model = space.build(space.parse(NO_PATH), spec)
    model.cells[0] = IdentityShortcut(model.cells[0])
    with pytest.raises(CollapseError, match="changed after its build"):
        model.collapsed_forward(images, 1.0)


def test_scorer_scores_nb201_epsilon_without_building_the_network(data_dir, monkeypatch) -> None:
    """The scoring job takes epsilon from ``collapsed_output`` and builds nothing; the score equals the built network's."""
    from nas.proxies import create_proxy
    from nas.proxies.base import ProxyContext
    from nas.scoring import ScoringJob

    space, spec = create_space("nb201"), dataset_spec("cifar10")
    batch = load_batch("cifar10", size=8, seed=0)
    archs = _nb201_sample(8, seed=3)
    built = []
    for arch in archs:
        proxy = create_proxy("epsilon")
        built.append(proxy.score(proxy.prepare(space.build(arch, spec)), batch, ProxyContext("nb201", "cifar10", 10, 0)))

    def refuse(*args, **kwargs):
        raise AssertionError("epsilon built a network")

    monkeypatch.setattr(type(space), "build", refuse)
    job = ScoringJob(space, spec, batch, 0)
    for arch, expected in zip(archs, built):
        (result,), _ = job(("key", arch, (create_proxy("epsilon"),)))
        assert result.reason == expected.reason
        assert result.value == expected.value or (result.is_nan and expected.is_nan)  # exact: the same outputs
    (off,), _ = job(("key", archs[2], (create_proxy("epsilon", collapse="off"),)))  # the direct path still builds
    assert off.is_nan and "epsilon built a network" in off.reason
