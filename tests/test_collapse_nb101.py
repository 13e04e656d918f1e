"""NAS-Bench-101's hand-written width-collapsed forward equals the full network, for epsilon.

``Nb101Network.collapsed_forward`` evaluates the network with every weight one constant on one
width-1 tensor per group of identical channels (cells concatenate their vertices' outputs, so
the generic transform of :mod:`nas.proxies.collapse` cannot). These tests compare it with the
full network (``direct_outputs``, what ``collapse=off`` computes) on real cells of the 500-cell
table and real CIFAR-10 images: every class output of every example, the epsilon values and
the NaN reasons.
"""

from __future__ import annotations

import math

import pytest
import torch

from nas.benchmarks.nb101 import Nb101Table
from nas.data import load_batch
from nas.datasets import dataset_spec
from nas.proxies import create_proxy
from nas.proxies.base import Batch, ProxyContext
from nas.proxies.collapse import CollapseError, can_collapse
from nas.proxies.epsilon import DEFAULT_WEIGHTS, direct_outputs, epsilon_from_outputs
from nas.spaces.nb101 import Nb101Network, prune

WEIGHTS = DEFAULT_WEIGHTS["nb101"]  # the paper's (1e-4, 10)
CONTEXT = ProxyContext(space="nb101", dataset="cifar10", num_classes=10, seed=0)

#: Cells of the 500-cell table (its architecture strings), chosen for their structure. In float32
#: at the paper's weights on the 8-image batch, the 7-vertex cell and the 9-edge cell without an
#: input->output edge underflow (NaN, "output all zeros at w=0.0001"); the others are finite.
CELLS = {
    # input -> output only: every cell is one 1x1 projection
    "input-output": "(0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 4, 4, 3, 2, 1)",
    # 7 vertices, 8 edges, vertex widths 43/43/42/43/42: truncation and a 3-way concatenation
    "7-vertices": "(0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 2, 3, 3, 4, 1)",
    # 9 edges with input -> output, all 1x1 convolutions, truncation 43 -> 42
    "9-edges-io": "(0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3, 1)",
    # 9 edges, no input -> output edge, 3x3 convolutions, truncation
    "9-edges": "(0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 4, 4, 3, 4, 1)",
    # 9 edges with input -> output, max-pools feeding the output and 3x3 convolutions
    "9-edges-pools": "(0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 4, 4, 4, 1)",
    # mostly max-pools, truncation of a max-pool's output, no input -> output edge
    "pools": "(0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 3, 2, 2, 1)",
}
#: A cheap cell for the full-size batch (3 cheap convolutions per cell), yet with groups: a 1x1
#: vertex and a max-pool of it, 64 channels each, concatenated, plus the input -> output projection.
CELL_256 = "(0, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 4, 3, 2, 2, 1)"

# The collapsed and the full network compute the same function in a different order: the full
# network sums 128-512 channels x 9 taps per output in a GEMM or oneDNN kernel, the collapsed
# one multiplies a width-1 window sum by (weight x channel count) and normalises one channel
# with a hand-written two-pass batch norm. Only floating-point reassociation separates them,
# which differs by CPU, so they are compared with tolerances, never bit for bit.
#
#: Outputs, relative to the largest output of the batch (every class column of every example
#: against the example's collapsed value). The rounding of each layer (float32 unit roundoff
#: 6e-8, float64 1.1e-16, times the depth of a blocked sum of up to 512 x 9 terms) passes
#: through ~30 batch norms; subtracting a batch mean that is large next to the standard
#: deviation (after max-pools and ReLUs) magnifies it by that ratio. Measured on AVX2 over the
#: cells above: <= 1.8e-5 (float32, the max-pool cell; 1e-6 to 3e-6 for the others, 1.3e-5 at
#: batch 256) and <= 2.1e-14 (float64, all six cells) of the output scale. 1e-4 and 1e-11 leave
#: >= 5x and ~500x margin. What it catches: weighting the groups of a sum equally instead of by their
#: channel counts moves the outputs by 2e-4 to 3e-2 of their scale on four of these cells.
#: (A uniform scale error before a batch norm would hardly show: batch norm removes it.)
OUTPUT_TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-11}

#: Epsilon (rel_tol, abs_tol). Epsilon = delta / mu of the two outputs min-max normalised to
#: [0, 1], so it inherits the outputs' disagreement as an ABSOLUTE error of the normalised values
#: (the output gap above, relative to the outputs' range), not a relative one; and when the two
#: normalised outputs nearly coincide (the input-output cell: batch norm makes it scale-invariant
#: and its epsilon, ~2e-7 collapsed against ~1.6e-6 direct, is pure rounding) delta is a
#: difference of nearly equal numbers. Measured on AVX2: float32 <= 9.4e-6 absolute (the max-pool
#: cell, whose outputs agree to 1.8e-5; 1.1e-4 relative), <= 4e-6 elsewhere; float64 <= 2.5e-14
#: absolute, <= 3e-12 relative. Float32 (1e-3, 1e-4) leaves ~10x margin and still pins epsilon,
#: whose values here are 0.08-0.2, to three significant digits; float64 (1e-9, 1e-12) ~40x.
EPSILON_TOLERANCE = {"float32": (1e-3, 1e-4), "float64": (1e-9, 1e-12)}


@pytest.fixture(scope="module")
def table(data_dir) -> Nb101Table:
    return Nb101Table.open()


@pytest.fixture(scope="module")
def batch(data_dir) -> Batch:
    return load_batch("cifar10", size=8, seed=0)


@pytest.fixture(scope="module")
def images(batch: Batch) -> torch.Tensor:
    return batch.inputs


def _network(table: Nb101Table, arch: str, dtype: torch.dtype = torch.float32) -> Nb101Network:
    assert table.lookup(arch, "cifar10", "valid_acc") > 0  # a cell of the table (raises if not)
    space = table.space()
    model = space.build(space.parse(arch), dataset_spec("cifar10")).to(dtype)
    assert isinstance(model, Nb101Network)
    return model


def _collapsed(model: Nb101Network, inputs: torch.Tensor, weights=WEIGHTS) -> list[torch.Tensor]:
    with torch.no_grad():
        return [model.collapsed_forward(inputs, w).flatten() for w in weights]


def _output_difference(collapsed: list[torch.Tensor], direct: list[torch.Tensor], examples: int) -> float:
    """Largest |collapsed - direct| over every class output, relative to the largest output (0 if all 0)."""
    worst = 0.0
    for fast, slow in zip(collapsed, direct, strict=True):
        slow = slow.view(examples, -1)
        assert slow.shape[1] == 10 and fast.shape == (examples,)
        scale = float(slow.abs().max())
        gap = float((fast[:, None] - slow).abs().max())
        worst = max(worst, gap / scale if scale > 0 else gap)
    return worst


def _assert_same(model: Nb101Network, inputs: torch.Tensor, precision: str) -> tuple[float, object]:
    """Outputs and epsilon of the collapsed and the full network agree; returns (output gap, epsilon)."""
    collapsed, direct = _collapsed(model, inputs), direct_outputs(model, inputs, WEIGHTS)
    gap = _output_difference(collapsed, direct, len(inputs))
    assert gap <= OUTPUT_TOLERANCE[inputs.dtype], gap
    fast = epsilon_from_outputs(collapsed, WEIGHTS, precision)
    # epsilon of the first class column: the other columns are copies whose minimum may differ
    # by an ulp, which changes which exact zeros epsilon drops (see tests/test_collapse.py)
    slow = epsilon_from_outputs([out.view(len(inputs), -1)[:, 0] for out in direct], WEIGHTS, precision)
    full = epsilon_from_outputs(direct, WEIGHTS, precision)
    assert fast.is_nan == slow.is_nan == full.is_nan and fast.reason == slow.reason == full.reason
    if not fast.is_nan:
        rel_tol, abs_tol = EPSILON_TOLERANCE[precision]
        assert math.isclose(fast.value, slow.value, rel_tol=rel_tol, abs_tol=abs_tol), (fast, slow)
    return gap, fast


def test_nb101_networks_are_not_generically_collapsible_but_collapse_by_hand(table: Nb101Table) -> None:
    model = _network(table, CELLS["9-edges-io"])
    assert not can_collapse(model)  # concatenation: the generic transform refuses
    assert callable(getattr(model, "collapsed_forward", None))


@pytest.mark.slow
def test_collapsed_equals_direct_on_table_cells_float32(table: Nb101Table, images: torch.Tensor) -> None:
    results = {}
    for name, arch in CELLS.items():
        gap, result = _assert_same(_network(table, arch), images, "float32")
        results[name] = result
        print(f"{name}: outputs within {gap:.1e} of their scale, epsilon {result}")
    # the sample covers both outcomes; the NaN is the float32 underflow at w1
    nans = {name for name, result in results.items() if result.is_nan}
    assert nans == {"7-vertices", "9-edges"}
    assert all("output all zeros at w=0.0001" in (results[name].reason or "") for name in nans)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["7-vertices", "9-edges-pools"])
def test_collapsed_equals_direct_float64(table: Nb101Table, images: torch.Tensor, name: str) -> None:
    gap, result = _assert_same(_network(table, CELLS[name], torch.float64), images.double(), "float64")
    assert not result.is_nan  # float64 does not underflow here
    print(f"{name}: outputs within {gap:.1e} of their scale, epsilon {result}")


@pytest.mark.slow
def test_collapsed_equals_direct_on_a_larger_batch(table: Nb101Table) -> None:
    inputs = load_batch("cifar10", size=64, seed=0).inputs  # the paper's 256 measured in the README; 64 keeps the suite short
    gap, result = _assert_same(_network(table, CELL_256), inputs, "float32")
    assert not result.is_nan
    print(f"batch 64: outputs within {gap:.1e} of their scale, epsilon {result}")


def test_epsilon_auto_uses_the_collapsed_forward(table: Nb101Table, batch: Batch, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = Nb101Network.collapsed_forward

    def counting(self: Nb101Network, inputs: torch.Tensor, weight: float) -> torch.Tensor:
        calls.append((inputs.dtype, weight, torch.is_grad_enabled()))
        return original(self, inputs, weight)

    monkeypatch.setattr(Nb101Network, "collapsed_forward", counting)
    for precision, dtype in (("float32", torch.float32), ("float64", torch.float64)):
        calls.clear()
        model = _network(table, CELLS["9-edges-pools"])
        result = create_proxy("epsilon", precision=precision).score(model, batch, CONTEXT)
        assert calls == [(dtype, WEIGHTS[0], False), (dtype, WEIGHTS[1], False)]
        expected = epsilon_from_outputs(_collapsed(model, batch.inputs.to(dtype)), WEIGHTS, precision)
        assert not result.is_nan and math.isclose(result.value, expected.value, rel_tol=1e-12)  # same computation


def test_a_collapse_error_falls_back_to_the_full_network(table: Nb101Table, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Nb101Network, inputs: torch.Tensor, weight: float) -> torch.Tensor:
        raise CollapseError("refused for the test")

    monkeypatch.setattr(Nb101Network, "collapsed_forward", refuse)
    batch = load_batch("cifar10", size=4, seed=0)
    model = _network(table, CELLS["input-output"])
    auto = create_proxy("epsilon", collapse="auto").score(model, batch, CONTEXT)
    off = create_proxy("epsilon", collapse="off").score(model, batch, CONTEXT)
    # the same full-network computation twice on the same input: equal to rounding
    assert auto.is_nan == off.is_nan and math.isclose(auto.value, off.value, rel_tol=1e-6, abs_tol=1e-12)


def test_groups_truncate_and_add_channel_by_channel() -> None:
    from nas.spaces.nb101 import _add, _truncate, _width

    a, b, c = (torch.full((1, 1, 1, 1), float(v)) for v in (1, 2, 4))
    groups = [(a, 3), (b, 2)]  # channels 1 1 1 2 2
    assert [m for _, m in _truncate(groups, 4)] == [3, 1] and _width(_truncate(groups, 2)) == 2
    with pytest.raises(CollapseError):
        _truncate(groups, 6)
    total = _add(groups, [(c, 4), (a, 1)])  # + 4 4 4 4 1 = 5 5 5 6 3
    expanded = [float(x) for x, m in total for _ in range(m)]
    assert expanded == [5.0, 5.0, 5.0, 6.0, 3.0]  # small integers: exact in float32
    with pytest.raises(CollapseError):
        _add(groups, [(c, 4)])
