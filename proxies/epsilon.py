"""The epsilon proxy: output sensitivity to two constant shared weight initialisations.

Gracheva, "Neural architecture search via two constant shared weights initialisations" (the
author's code: github.com/egracheva/epsinas). Every weight of the untrained network is set to
one constant ``w`` and every bias to zero, one unlabelled batch is forwarded with batch
normalisation using batch statistics, and the outputs are flattened; this is done for two
constants ``w1 < w2``. Each output vector is min-max normalised to [0, 1] and exact zeros are
treated as missing; then ``delta`` is the mean absolute difference of the two vectors, ``mu``
the mean of both together and ``epsilon = delta / mu``. Higher is better.

As in the author's code, "every weight" means every parameter except biases: convolution and
linear weights and the scale of affine batch normalisation all get ``w``. Embedding tables are
the exception: constant embeddings would erase the input, so they are drawn at random, seeded by
``ProxyContext.seed``: from N(0, 1) by default, or as the settings ``embedding`` and
``embedding_scale`` say (the paper's Table 10 compares such draws; the author's code uses U(0, 1)). Dropout layers and recurrent modules are put in
evaluation mode so that the score is deterministic.

Networks made only of channel-wise-safe modules (see :mod:`nas.proxies.collapse`) are evaluated
width-collapsed, 10-50 times faster; the scores equal the direct ones to rounding.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch
import torch.nn as nn
from torch.nn.modules.dropout import _DropoutNd

from nas.errors import NasError
from nas.proxies import register_proxy
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult
from nas.proxies.collapse import CollapseError, RankOneOutput, can_collapse, collapse

if TYPE_CHECKING:
    from nas.datasets import DatasetSpec
    from nas.spaces.base import Architecture, SearchSpace

#: The paper's weights per search space.
DEFAULT_WEIGHTS: dict[str, tuple[float, float]] = {
    "nb201": (1e-7, 1.0),
    "nb101": (1e-4, 10.0),
    "nlp": (1e-5, 1e-3),
}

PRECISIONS: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}
COLLAPSE_MODES = ("auto", "off")
#: how embedding tables are drawn (setting ``embedding``), each scaled by ``embedding_scale`` (s):
#: N(0, s^2), U(-s, s) and U(0, s)
EMBEDDINGS = ("normal", "uniform_centered", "uniform_positive")


def parse_weights(value: Any) -> tuple[float, float]:
    """Two positive, increasing constants from a pair of numbers or a string ``"w1:w2"``/``"w1,w2"``."""
    items: Sequence[Any]
    if isinstance(value, str):
        items = value.replace(",", ":").split(":")
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise NasError(f"epsilon: setting 'weights' must be two numbers w1:w2, got {value!r}")
    try:
        pair = tuple(float(item) for item in items)
    except (TypeError, ValueError):
        raise NasError(f"epsilon: setting 'weights' must be two numbers w1:w2, got {value!r}") from None
    if len(pair) != 2:
        raise NasError(f"epsilon: setting 'weights' needs exactly two numbers w1:w2, got {len(pair)}")
    w1, w2 = pair
    if not all(math.isfinite(w) and w > 0 for w in pair):
        raise NasError(f"epsilon: weights must be positive and finite, got {w1:g}, {w2:g}")
    if not w1 < w2:
        raise NasError(f"epsilon: weights must be increasing (w1 < w2), got {w1:g}, {w2:g}")
    return w1, w2


@register_proxy("epsilon")
class Epsilon(Proxy):
    """Epsilon (epsinas): output difference between two constant shared-weight initialisations.

    Settings: ``weights`` (two constants ``w1 < w2``; default: the paper's pair for the space),
    ``precision`` (``float32`` as in the paper, or ``float64``, which avoids most underflow),
    ``collapse`` (``auto``: use the exact width-collapsed fast path when the model allows it;
    ``off``: always evaluate the full network), and for models with embedding tables (language
    models) ``embedding`` (one of :data:`EMBEDDINGS`, default ``normal``) and ``embedding_scale``
    (default 1): how their random values are drawn. The two embedding settings were added after
    scores were stored; at their defaults they are left out of the store key.
    """

    name = "epsilon"
    higher_is_better = True
    batch_size = 256  # the paper's batch
    version = "4"  # 3: a tied decoder keeps the random embedding; 4: language models scored from rank-one factors
    invariance = "function"
    needs = frozenset({"data"})
    defaults = {"weights": None, "precision": "float32", "collapse": "auto", "embedding": "normal", "embedding_scale": 1.0}
    keyless_defaults = frozenset({"embedding", "embedding_scale"})
    summary = "output difference between two constant shared-weight initialisations (Gracheva)"

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        if self.settings["weights"] is not None:
            self.settings["weights"] = list(parse_weights(self.settings["weights"]))
        if self.settings["precision"] not in PRECISIONS:
            raise NasError(
                f"epsilon: precision must be one of {', '.join(PRECISIONS)}, got {self.settings['precision']!r}"
            )
        if self.settings["collapse"] not in COLLAPSE_MODES:
            raise NasError(
                f"epsilon: collapse must be one of {', '.join(COLLAPSE_MODES)}, got {self.settings['collapse']!r}"
            )
        if self.settings["embedding"] not in EMBEDDINGS:
            raise NasError(
                f"epsilon: embedding must be one of {', '.join(EMBEDDINGS)}, got {self.settings['embedding']!r}"
            )
        scale = self.settings["embedding_scale"]
        if not (math.isfinite(scale) and scale > 0):
            raise NasError(f"epsilon: embedding_scale must be positive and finite, got {scale!r}")

    @property
    def embedding(self) -> tuple[str, float]:
        """How embedding tables are drawn: ``(distribution, scale)`` (settings ``embedding``, ``embedding_scale``)."""
        return self.settings["embedding"], self.settings["embedding_scale"]

    def weights_for(self, space: str) -> tuple[float, float]:
        """The two constants used for ``space``: the ``weights`` setting, else the space default."""
        if self.settings["weights"] is not None:
            w1, w2 = self.settings["weights"]
            return w1, w2
        try:
            return DEFAULT_WEIGHTS[space]
        except KeyError:
            raise NasError(
                f"epsilon has no default weights for space {space!r} (defaults exist for "
                f"{', '.join(DEFAULT_WEIGHTS)}); pass the setting weights=w1:w2"
            ) from None

    def effective_settings(self, space: str) -> dict[str, Any]:
        """The settings with ``weights`` resolved to the space's default pair when not given."""
        return {**self.settings, "weights": list(self.weights_for(space))}

    def score_architecture(self, space: SearchSpace, arch: Architecture, dataset: DatasetSpec, batch: Batch) -> ProxyResult | None:
        """Epsilon of ``arch`` from the space's :meth:`~nas.spaces.base.SearchSpace.collapsed_output`, building no network.

        ``None`` (the scorer then builds the network and calls :meth:`score`) when ``collapse`` is
        ``off`` or the space has no collapsed output for the architecture. The outputs are those
        of the built network's ``collapsed_forward`` to the bit, so both ways give the same score.
        """
        if self.settings["collapse"] != "auto" or not batch.inputs.is_floating_point():
            return None
        return self.epsilon_of_collapsed(lambda inputs, weight: space.collapsed_output(arch, dataset, inputs, weight), space.name, batch)

    def epsilon_of_collapsed(
        self, output_of: Callable[[torch.Tensor, float], torch.Tensor | None], space: str, batch: Batch
    ) -> ProxyResult | None:
        """Epsilon from ``output_of(inputs, weight)``, a network's collapsed output at each of the space's two weights.

        The inputs are the batch's in the setting's precision; ``None`` when ``output_of`` gives
        ``None`` (no collapsed output for that network).
        """
        weights = self.weights_for(space)
        inputs = batch.inputs.to(PRECISIONS[self.settings["precision"]])
        outputs = []
        with torch.no_grad():
            for weight in weights:
                output = output_of(inputs, weight)
                if output is None:
                    return None
                outputs.append(output.detach().flatten())
        return epsilon_from_outputs(outputs, weights, self.settings["precision"])

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """Epsilon of ``model`` on ``batch`` (NaN with a reason when undefined)."""
        weights = self.weights_for(context.space)
        dtype = PRECISIONS[self.settings["precision"]]
        model = model.to(dtype)
        inputs = batch.inputs.to(dtype) if batch.inputs.is_floating_point() else batch.inputs
        outputs = None
        # A model's own exact width-collapsed forward first (the extension point described in
        # nas.proxies.collapse), then the generic transform, then the full network.
        collapsed_forward = getattr(model, "collapsed_forward", None)
        if self.settings["collapse"] == "auto" and callable(collapsed_forward):
            try:
                factored = own_collapsed_outputs(model, inputs, weights, seed=context.seed, embedding=self.embedding)
            except CollapseError:
                factored = None
            if factored is not None and all(isinstance(out, RankOneOutput) for out in factored):
                return epsilon_from_rank_one(factored, weights, self.settings["precision"])  # type: ignore[arg-type]
            if factored is not None and all(isinstance(out, torch.Tensor) for out in factored):
                outputs = factored  # type: ignore[assignment]
        if outputs is None and self.settings["collapse"] == "auto" and can_collapse(model):
            try:
                outputs = collapsed_outputs(model, inputs, weights)
            except CollapseError:
                outputs = None
        if outputs is None:
            outputs = direct_outputs(model, inputs, weights, seed=context.seed, embedding=self.embedding)
        return epsilon_from_outputs(outputs, weights, self.settings["precision"])


#: positions normalised and summed at once by :func:`epsilon_from_outputs` (bounds its memory)
_CHUNK = 1 << 22


def draw_embedding(shape: torch.Size, generator: torch.Generator, embedding: tuple[str, float] = ("normal", 1.0)) -> torch.Tensor:
    """Random embedding values in float64: ``embedding = (distribution, scale)``, one of :data:`EMBEDDINGS` and its scale."""
    kind, scale = embedding
    if kind == "normal":
        values = torch.randn(shape, generator=generator, dtype=torch.float64)
    elif kind == "uniform_centered":
        values = torch.rand(shape, generator=generator, dtype=torch.float64) * 2.0 - 1.0
    elif kind == "uniform_positive":
        values = torch.rand(shape, generator=generator, dtype=torch.float64)
    else:
        raise NasError(f"epsilon: embedding must be one of {', '.join(EMBEDDINGS)}, got {kind!r}")
    return values if scale == 1.0 else values * scale


def set_constant_weights(
    model: nn.Module, weight: float, seed: int = 0, embeddings: bool = True, embedding: tuple[str, float] = ("normal", 1.0)
) -> None:
    """Set every parameter of ``model`` to ``weight``, biases to 0, embeddings to seeded random values.

    A parameter shared by several modules is set once, by the first that owns it: a decoder tied
    to its embedding (NAS-Bench-NLP's language models) keeps the embedding's random values.
    ``embeddings=False`` leaves the embeddings as they are, for a second constant after a first
    call with the same ``seed`` (drawing a language model's 4 million normals takes 0.2 s);
    ``embedding`` says how they are drawn (:func:`draw_embedding`).
    """
    generator = torch.Generator().manual_seed(seed)
    done: set[int] = set()
    with torch.no_grad():
        for module in model.modules():
            for name, param in module.named_parameters(recurse=False):
                if id(param) in done:
                    continue
                done.add(id(param))
                if isinstance(module, nn.Embedding):
                    if not embeddings:
                        continue
                    param.copy_(draw_embedding(param.shape, generator, embedding).to(param.dtype))
                elif "bias" in name:
                    param.zero_()
                else:
                    param.fill_(weight)


def deterministic_train_mode(model: nn.Module) -> None:
    """Batch statistics for normalisation; dropout and recurrent dropout off."""
    model.train()
    for module in model.modules():
        if isinstance(module, (_DropoutNd, nn.RNNBase)):
            module.eval()


def first_tensor(output: Any) -> torch.Tensor:
    """The model's output tensor (the first element when a model returns a tuple)."""
    while isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise NasError(f"epsilon: the model returned {type(output).__name__}, not a tensor")
    return output


def direct_outputs(
    model: nn.Module, inputs: torch.Tensor, weights: Sequence[float], seed: int = 0, embedding: tuple[str, float] = ("normal", 1.0)
) -> list[torch.Tensor]:
    """The flattened outputs of the full ``model`` with each constant of ``weights`` (embeddings drawn as ``embedding``)."""
    deterministic_train_mode(model)
    outputs = []
    with torch.no_grad():
        for index, weight in enumerate(weights):
            set_constant_weights(model, weight, seed, embeddings=index == 0, embedding=embedding)
            outputs.append(first_tensor(model(inputs)).detach().flatten().clone())
    return outputs


def own_collapsed_outputs(
    model: nn.Module, inputs: torch.Tensor, weights: Sequence[float], seed: int = 0, embedding: tuple[str, float] = ("normal", 1.0)
) -> list[torch.Tensor | RankOneOutput]:
    """The outputs of ``model.collapsed_forward`` with each constant of ``weights``.

    Before each call the parameters are set as for :func:`direct_outputs` (constants, zero biases,
    seeded random embeddings), so the method may read the ones that are not constant. Each output
    is a flattened tensor, or a :class:`~nas.proxies.collapse.RankOneOutput`. Raises
    :class:`~nas.proxies.collapse.CollapseError` when the model refuses the inputs.
    """
    deterministic_train_mode(model)
    outputs: list[torch.Tensor | RankOneOutput] = []
    with torch.no_grad():
        for index, weight in enumerate(weights):
            set_constant_weights(model, weight, seed, embeddings=index == 0, embedding=embedding)
            output = model.collapsed_forward(inputs, weight)  # type: ignore[operator]
            if isinstance(output, RankOneOutput):
                outputs.append(RankOneOutput(output.rows.detach().clone(), output.cols.detach().clone()))
            else:
                outputs.append(first_tensor(output).detach().flatten().clone())
    return outputs


def collapsed_outputs(model: nn.Module, inputs: torch.Tensor, weights: Sequence[float]) -> list[torch.Tensor]:
    """The flattened outputs of the width-collapsed ``model`` with each constant of ``weights``.

    Each output has one entry per example where ``model`` has one per example and output
    feature; those features are identical, so epsilon is the same. Raises
    :class:`nas.proxies.collapse.CollapseError` when the model cannot be collapsed.
    """
    outputs = []
    with torch.no_grad():
        for weight in weights:
            outputs.append(first_tensor(collapse(model, weight)(inputs)).detach().flatten().clone())
    return outputs


def epsilon_from_outputs(
    outputs: Sequence[torch.Tensor], weights: Sequence[float] | None, precision: str = "float32"
) -> ProxyResult:
    """Epsilon from the flattened outputs at the two constants ``weights`` (computed in float64).

    NaN reasons: the output is constant at both constants (no signal reaches the output, e.g.
    every input-output path passes a ``none`` op); the output is non-finite or constant at one
    constant (overflow or underflow in ``precision``); no position is non-zero in both vectors.
    ``weights=None``: the outputs of two other initialisations (the reasons then name the first
    and the second, without the advice about weights).

    The outputs stay in their own precision; each is min-max normalised and summed in float64
    in chunks of :data:`_CHUNK` positions, so a language model's 90 million logits need no
    float64 copies of the whole vectors (the sums' order, and so their last bits, follow the chunks).
    """
    if len(outputs) != 2 or (weights is not None and len(weights) != 2):
        raise ValueError("epsilon needs exactly two outputs and two weights")
    if weights is None:
        labels, advice = ("the first initialisation", "the second initialisation"), ("", "")
    else:
        labels = tuple(f"w={weight:g}" for weight in weights)
        advice = ("; try precision float64 or smaller weights", "; try precision float64 or larger weights")
    vectors = [out.detach().flatten().cpu() for out in outputs]
    if vectors[0].numel() != vectors[1].numel() or vectors[0].numel() == 0:
        raise ValueError("epsilon needs two non-empty outputs of the same size")
    bounds = [tuple(float(b) for b in torch.aminmax(vector)) for vector in vectors]  # NaN and inf show in the bounds
    for (low, high), label in zip(bounds, labels):
        if not (math.isfinite(low) and math.isfinite(high)):
            return ProxyResult.nan(f"non-finite output at {label} (overflow or invalid values in {precision}{advice[0]})")
    constant = [low == high for low, high in bounds]
    if all(constant):
        return ProxyResult.nan(
            "constant output at both weights: no signal reaches the output "
            "(e.g. every input-output path passes a 'none' op)"
        )
    for vector, label, flat in zip(vectors, labels, constant):
        if flat:
            what = "output all zeros" if bool((vector == 0).all()) else "constant output"
            return ProxyResult.nan(f"{what} at {label} (the signal underflowed in {precision}{advice[1]})")
    # exact zeros of a normalised vector (its minimum) are missing values: they add nothing to
    # the sums, so only the counts and the pairs need masks
    sum_abs = sum_values = 0.0
    count_both = count_values = 0
    for start in range(0, vectors[0].numel(), _CHUNK):
        first, second = (
            (vector[start : start + _CHUNK].to(torch.float64) - low) / (high - low)
            for vector, (low, high) in zip(vectors, bounds)
        )
        first_known, second_known = first != 0, second != 0
        both = first_known & second_known
        sum_abs += float(torch.where(both, (first - second).abs_(), 0.0).sum())
        count_both += int(both.sum())
        sum_values += float(first.sum()) + float(second.sum())
        count_values += int(first_known.sum()) + int(second_known.sum())
    if count_both == 0:
        return ProxyResult.nan("no output position is non-zero in both normalised outputs")
    return ProxyResult((sum_abs / count_both) / (sum_values / count_values))


def epsilon_from_rank_one(outputs: Sequence[RankOneOutput], weights: Sequence[float], precision: str = "float32") -> ProxyResult:
    """Epsilon of two rank-one outputs ``outer(s_k, r)`` sharing their columns ``r``, never formed.

    Equal, up to the rounding of the sums, to :func:`epsilon_from_outputs` of the flattened
    products (the same NaN reasons; ``tests/test_collapse_nlp.py`` checks both). The products are
    taken in float64, where a product of two float32 numbers is exact. With the normalised outputs
    ``a = (s1_n r_v - L1) / D1`` and ``b = (s2_n r_v - L2) / D2``, ``a - b = c_n r_v - d`` is linear
    in ``r_v``, so with ``r`` sorted and its prefix sums each row's sum of ``|a - b|`` is closed-form
    after one binary search, and the sums of ``a`` and ``b`` factor. The exact zeros (missing
    values) lie where ``s_n r_v`` attains its minimum: in rows whose ``s_n`` is an extreme or zero,
    or columns whose ``r_v`` is; only that band is formed, to remove them from the sums and counts.
    Cost: ``O(N log V)`` plus the band, instead of ``O(N V)``.
    """
    if len(outputs) != 2 or len(weights) != 2:
        raise ValueError("epsilon needs exactly two outputs and two weights")
    if not torch.equal(outputs[0].cols, outputs[1].cols):
        raise ValueError("rank-one epsilon needs outputs with the same columns")
    cols = outputs[0].cols.detach().cpu().to(torch.float64)
    rows = [out.rows.detach().cpu().to(torch.float64) for out in outputs]
    n, v = rows[0].numel(), cols.numel()
    if rows[1].numel() != n or n == 0 or v == 0:
        raise ValueError("epsilon needs two non-empty outputs of the same size")
    limit = torch.finfo(torch.float32).max if precision == "float32" else math.inf
    col_low, col_high = (float(b) for b in torch.aminmax(cols))
    bounds = []
    for s, weight in zip(rows, weights):
        row_low, row_high = (float(b) for b in torch.aminmax(s))
        corners = [row_low * col_low, row_low * col_high, row_high * col_low, row_high * col_high]
        if not all(math.isfinite(c) and abs(c) <= limit for c in corners):
            return ProxyResult.nan(
                f"non-finite output at w={weight:g} (overflow or invalid values in {precision}; "
                "try precision float64 or smaller weights)"
            )
        bounds.append((min(corners), max(corners)))
    constant = [low == high for low, high in bounds]
    if all(constant):
        return ProxyResult.nan(
            "constant output at both weights: no signal reaches the output "
            "(e.g. every input-output path passes a 'none' op)"
        )
    for (low, high), weight, flat in zip(bounds, weights, constant):
        if flat:
            what = "output all zeros" if low == high == 0 else "constant output"
            return ProxyResult.nan(
                f"{what} at w={weight:g} (the signal underflowed in {precision}; "
                "try precision float64 or larger weights)"
            )
    (low1, high1), (low2, high2) = bounds
    span1, span2 = high1 - low1, high2 - low2
    # sum over all positions of |a - b| = |c_n r_v - d|: closed form per row over sorted r
    c = rows[0] / span1 - rows[1] / span2
    d = low1 / span1 - low2 / span2
    ordered = torch.sort(cols).values
    prefix = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(ordered, 0)])
    nonzero = c != 0
    split = torch.searchsorted(ordered, torch.where(nonzero, d / torch.where(nonzero, c, 1.0), 0.0))
    below, above = prefix[split], prefix[-1] - prefix[split]
    per_row = c.abs() * (above - below) - torch.sign(c) * d * (v - 2 * split).to(torch.float64)
    sum_abs = float(torch.where(nonzero, per_row, v * abs(d)).sum())
    total_cols = float(cols.sum())
    sum_values = (float(rows[0].sum()) * total_cols - n * v * low1) / span1
    sum_values += (float(rows[1].sum()) * total_cols - n * v * low2) / span2
    # the band holding every exact zero: rows with an extreme or zero s, columns with an extreme or zero r
    band_rows = torch.zeros(n, dtype=torch.bool)
    for s in rows:
        band_rows |= (s == s.min()) | (s == s.max()) | (s == 0)
    band_cols = (cols == col_low) | (cols == col_high) | (cols == 0)
    zeros_first = zeros_second = zeros_either = 0
    for row_index, col_index in ((band_rows, None), (~band_rows, band_cols)):
        part_rows = [s[row_index] for s in rows]
        part_cols = cols if col_index is None else cols[col_index]
        step = max(1, _CHUNK // max(1, part_cols.numel()))
        for start in range(0, part_rows[0].numel(), step):
            first, second = (torch.outer(s[start : start + step], part_cols) for s in part_rows)
            first_zero, second_zero = first == low1, second == low2
            either = first_zero | second_zero
            difference = ((first - low1) / span1 - (second - low2) / span2).abs_()
            sum_abs -= float(torch.where(either, difference, 0.0).sum())
            zeros_first += int(first_zero.sum())
            zeros_second += int(second_zero.sum())
            zeros_either += int(either.sum())
    count_both = n * v - zeros_either
    if count_both == 0:
        return ProxyResult.nan("no output position is non-zero in both normalised outputs")
    count_values = 2 * n * v - zeros_first - zeros_second
    return ProxyResult((sum_abs / count_both) / (sum_values / count_values))
