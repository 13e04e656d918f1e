"""epsilon_auto: the shortcut rule, a hand computation, equality with epsilon, and NB201 cells epsilon cannot score."""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn as nn

from nas.data import load_batch
from nas.datasets import dataset_spec
from nas.errors import NasError
from nas.proxies import create_proxy
from nas.proxies.base import Batch, ProxyContext
from nas.proxies.epsilon_auto import PARAMETER_FREE_OPERATIONS, IdentityShortcut, add_shortcuts, has_path
from nas.spaces import create_space
from nas.spaces.nb201 import Cell

NB201 = ProxyContext(space="nb201", dataset="cifar10", num_classes=10)
#: the chain of one convolution: a path, but no parameter-free one
CHAIN = ("none", "none", "none", "nor_conv_1x1", "none", "none")


def test_paths_and_parameter_free_paths() -> None:
    space = create_space("nb201")
    best = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    assert has_path(best) and has_path(best, PARAMETER_FREE_OPERATIONS)  # the skip edge 3<-0
    assert has_path(CHAIN) and not has_path(CHAIN, PARAMETER_FREE_OPERATIONS)
    # pool then skip is parameter-free; a skip into a node that only a convolution leaves is not
    assert has_path(space.parse("|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"), PARAMETER_FREE_OPERATIONS)
    assert not has_path(space.parse("|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|"), PARAMETER_FREE_OPERATIONS)
    assert not has_path(space.parse("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"))  # no path
    # the rule agrees with the space's own has_path on every architecture
    for arch in space.enumerate():
        assert has_path(arch) == space.has_path(arch)


class _OneCell(nn.Module):
    """One NB201 cell of width 1 on (N, 1, 1, 1) inputs, returning one value per example."""

    collapsible = True

    def __init__(self, arch: tuple[str, ...]) -> None:
        super().__init__()
        self.cell = Cell(arch, 1)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cell(x).flatten(1)


def _hand_epsilon(first: list[float], second: list[float]) -> float:
    """The paper's formula written out: min-max normalise, zeros missing, delta / mu."""
    norm = [[(v - min(o)) / (max(o) - min(o)) for v in o] for o in (first, second)]
    both = [(a, b) for a, b in zip(*norm) if a != 0 and b != 0]
    delta = sum(abs(a - b) for a, b in both) / len(both)
    known = [v for o in norm for v in o if v != 0]
    return delta / (sum(known) / len(known))


@pytest.mark.parametrize("collapse", ["off", "auto"])
def test_hand_computation_on_a_one_convolution_cell(collapse: str) -> None:
    """x + BN(w * conv(relu(x))) computed by hand at w = 1e-7 and w = 1.

    Without the shortcut the cell's normalised output is relu(x) centred, whatever w: epsilon 0.
    """
    xs = [-1.0, 0.0, 1.0, 3.0]
    batch = Batch(torch.tensor(xs, dtype=torch.float64).reshape(4, 1, 1, 1), None, "hand", "none")
    context = ProxyContext(space="custom", dataset="none", num_classes=1)
    settings = {"weights": "1e-7:1", "precision": "float64", "collapse": collapse}

    def cell_output(w: float) -> list[float]:
        pre = [w * max(x, 0.0) for x in xs]  # ReLU, then the 1x1 convolution of weight w
        mean = sum(pre) / 4
        var = sum((p - mean) ** 2 for p in pre) / 4  # batch statistics, biased
        return [x + w * (p - mean) / math.sqrt(var + 1e-5) for x, p in zip(xs, pre)]  # BN scale w, + x

    expected = _hand_epsilon(cell_output(1e-7), cell_output(1.0))
    result = create_proxy("epsilon_auto", **settings).score(_OneCell(CHAIN), batch, context)
    assert result.value == pytest.approx(expected, rel=1e-9)
    assert result.value > 0.05
    paper = create_proxy("epsilon", **settings).score(_OneCell(CHAIN), batch, context)
    assert paper.value == pytest.approx(0.0, abs=1e-9)  # the chain's shape does not depend on w


def test_add_shortcuts_wraps_only_cells_without_a_parameter_free_path() -> None:
    space, spec = create_space("nb201"), dataset_spec("cifar10")

    def wrapped(arch: tuple[str, ...], mode: str = "auto") -> int:
        model = space.build(arch, spec, channels=1, cells_per_stage=2)  # 6 cells
        count = add_shortcuts(model, mode)
        assert count == sum(isinstance(m, IdentityShortcut) for m in model.modules())
        assert add_shortcuts(model, mode) == 0  # a wrapped cell is not wrapped again
        return count

    assert wrapped(CHAIN) == 6
    # the skip 1<-0 is dead (node 1 feeds nothing), so the only path is still the convolution
    assert wrapped(("skip_connect",) + CHAIN[1:]) == 6
    skip = ("none", "none", "none", "skip_connect", "none", "none")
    assert wrapped(skip) == 0 and wrapped(skip, "all") == 6
    assert wrapped(CHAIN, "none") == 0
    assert wrapped(("nor_conv_3x3", "none", "none", "none", "none", "nor_conv_3x3")) == 0  # no path: left as is
    with pytest.raises(NasError, match="shortcuts must be one of auto, all, none"):
        create_proxy("epsilon_auto", shortcuts="some")


@pytest.fixture(scope="module")
def batch(data_dir) -> Batch:
    return load_batch("cifar10", size=256, seed=0, data_dir=data_dir)


def _score(name: str, arch: tuple[str, ...], batch: Batch, **settings: object):
    space = create_space("nb201")
    return create_proxy(name, **settings).score(space.build(arch, dataset_spec("cifar10")), batch, NB201)


def test_equals_epsilon_where_a_cell_has_a_parameter_free_path(batch: Batch) -> None:
    space, rng = create_space("nb201"), random.Random(1)
    archs = [a for a in (space.sample(rng) for _ in range(60)) if has_path(a, PARAMETER_FREE_OPERATIONS)][:6]
    for arch in archs:
        for precision in ("float32", "float64"):
            paper = _score("epsilon", arch, batch, precision=precision)
            auto = _score("epsilon_auto", arch, batch, precision=precision)
            assert not paper.is_nan and auto.value == paper.value, (space.format(arch), precision)


def test_no_path_stays_nan_with_the_constant_output_reason(batch: Batch) -> None:
    result = _score("epsilon_auto", ("nor_conv_3x3", "none", "none", "none", "none", "nor_conv_3x3"), batch)
    assert result.is_nan and "constant output" in (result.reason or "")


def test_scores_the_cells_float32_epsilon_leaves_nan_and_ranks_them_the_right_way(batch: Batch) -> None:
    """20 seeded NB201 cells whose every input-output path passes a convolution (float32 epsilon: NaN)."""
    import nas
    from scipy import stats

    space, rng = create_space("nb201"), random.Random(0)
    archs: list[tuple[str, ...]] = []
    while len(archs) < 20:
        arch = space.sample(rng)
        if has_path(arch) and not has_path(arch, PARAMETER_FREE_OPERATIONS) and arch not in archs:
            archs.append(arch)
    proxy = create_proxy("epsilon_auto")
    assert proxy.higher_is_better and proxy.settings["precision"] == "float32"
    scores = []
    for arch in archs:
        paper = _score("epsilon", arch, batch)
        assert paper.is_nan and "underflowed in float32" in (paper.reason or ""), space.format(arch)
        result = proxy.score(space.build(arch, dataset_spec("cifar10")), batch, NB201)
        assert not result.is_nan and result.value > 0, space.format(arch)
        scores.append(result.value)
    accuracy = nas.table("nb201", "cifar10").loc[[space.format(a) for a in archs], "test_acc"].to_numpy()
    # higher is better: the scores rise with the trained accuracy (measured rho 0.68 on these 20)
    assert stats.spearmanr(scores, accuracy)[0] > 0.3


@pytest.mark.parametrize("mode", ["auto", "all"])
def test_the_scorer_path_without_a_network_equals_the_wrapped_network(batch: Batch, mode: str) -> None:
    """``score_architecture`` (no network built) gives the built, wrapped network's score to the bit."""
    space, spec, rng = create_space("nb201"), dataset_spec("cifar10"), random.Random(5)
    archs = [CHAIN, ("nor_conv_3x3", "none", "none", "none", "none", "nor_conv_3x3")] + [space.sample(rng) for _ in range(6)]
    proxy = create_proxy("epsilon_auto", shortcuts=mode)
    for arch in archs:
        built = proxy.score(space.build(arch, spec), batch, NB201)
        fast = proxy.score_architecture(space, arch, spec, batch)
        assert fast is not None and fast.reason == built.reason, space.format(arch)
        assert fast.value == built.value or (fast.is_nan and built.is_nan)  # exact: the same width-1 kernels in the same order
    assert create_proxy("epsilon_auto", collapse="off").score_architecture(space, CHAIN, spec, batch) is None
