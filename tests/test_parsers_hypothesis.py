"""Property tests: every parser of user text answers a valid result or one NasError line, quickly.

Random and adversarial strings go to the architecture parsers (``nb201``, ``nb101``, ``nlp``:
``create_space(name).parse``), the ``--set`` parser (:func:`nas.comparing.parse_settings`) and
the experiment-file reader (:func:`nas.experiment.load_config` and :func:`parse_config`). Each
call either returns a valid result (an architecture that formats and parses back to itself, a
settings dict, an :class:`ExperimentConfig`) or raises :class:`NasError` with a one-line message;
any other exception, or a call slower than :data:`DEADLINE`, fails. The examples are drawn
deterministically (``derandomize``) and nothing is written to a Hypothesis database.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import dummy_space  # noqa: E402,F401 - registers the "dummy" space and table
from nas.comparing import parse_settings  # noqa: E402
from nas.errors import NasError  # noqa: E402
from nas.experiment import ExperimentConfig, load_config, parse_config  # noqa: E402
from nas.spaces import create_space  # noqa: E402
from nas.spaces.nlp import OP_ARITY  # noqa: E402

#: the most one parse may take (generous: the test machine may be shared)
DEADLINE = timedelta(seconds=2)
PROPERTY = settings(
    max_examples=150,
    deadline=DEADLINE,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
#: the longest message a parser may give (messages quote a prefix of what they reject)
LONGEST_MESSAGE = 1000


def outcome(call: Callable[[], Any]) -> Any:
    """``call()``'s result, or ``None`` after a one-line NasError; any other exception propagates."""
    start = time.perf_counter()
    try:
        return call()
    except NasError as exc:
        message = str(exc)
        assert message and "\n" not in message and "\r" not in message, repr(message[:300])
        return None
    finally:
        assert time.perf_counter() - start < DEADLINE.total_seconds()


def _short_messages(call: Callable[[], Any]) -> None:
    try:
        call()
    except NasError as exc:
        assert len(str(exc)) < LONGEST_MESSAGE, f"{len(str(exc))} characters: {str(exc)[:100]}..."


def check_architecture(space_name: str, text: str) -> None:
    space = create_space(space_name)
    arch = outcome(lambda: space.parse(text))
    if arch is not None:  # a valid architecture: its string form parses back to it
        formatted = space.format(arch)
        assert space.parse(formatted) == arch and space.format(space.parse(formatted)) == formatted
        assert outcome(lambda: space.canonical_id(arch)) is not None


# -- strategies ---------------------------------------------------------------------------------

#: unicode text, including surrogates-free control characters and very long runs
TEXT = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(max_codepoint=127), max_size=300),
    st.builds(lambda c, n: c * n, st.sampled_from(["|", "[", "{", "(", "9", "~", "+", ",", "\n", "\x00", "é"]), st.integers(0, 70_000)),
)


def tokens(*words: str, max_size: int = 60) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(words), max_size=max_size).map("".join)


NB201_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
NB201_NEAR = st.builds(
    lambda ops, sources, seps: "".join(
        f"|{op}~{src}{sep}" for op, src, sep in zip(ops, sources, seps)
    ),
    st.lists(st.one_of(st.sampled_from(NB201_OPS), st.text(max_size=5)), min_size=0, max_size=8),
    st.lists(st.one_of(st.integers(-2, 4).map(str), st.integers(0, 10**40).map(str), st.text(max_size=3)), min_size=0, max_size=8),
    st.lists(st.sampled_from(["|", "|+", "|+|", "", "+"]), min_size=0, max_size=8),
).map(lambda s: s + "|")
NB201_VALID = st.lists(st.sampled_from(NB201_OPS), min_size=6, max_size=6).map(
    lambda o: f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"
)
NB201 = st.one_of(
    TEXT,
    NB201_NEAR,
    NB201_VALID,
    # a valid string with one character changed, removed or repeated
    st.tuples(NB201_VALID, st.integers(0, 60), st.sampled_from(["", "|", "~", "+", "0", "3", " ", "x", "||"])).map(
        lambda v: v[0][: v[1]] + v[2] + v[0][v[1] + 1 :]
    ),
    tokens("|", "+", "~", "0", "1", "2", "3", *NB201_OPS, " ", "\n", "|+|", "~0|"),
)

#: small and huge integers (thousands of digits; the 5,000-digit case is tested below)
NB101_INT = st.one_of(st.integers(-3, 6), st.integers(-(10**4000), 10**4000))
NB101_NEAR = st.one_of(
    st.lists(NB101_INT, max_size=70).map(lambda v: "(" + ", ".join(map(str, v)) + ")"),
    st.tuples(st.lists(st.integers(0, 1), min_size=49, max_size=49), st.lists(st.integers(0, 4), min_size=7, max_size=7)).map(
        lambda bits_ops: "(" + ", ".join(map(str, bits_ops[0] + bits_ops[1])) + ")"
    ),
)
_UPPER = [(i, j) for i in range(7) for j in range(i + 1, 7) if (i, j) != (0, 6)]


def _nb101_cell(edges: list[tuple[int, int]], ops: list[int]) -> str:
    """A 56-integer string: the edges (always 0->6, so the input reaches the output) and op codes."""
    matrix = [[0] * 7 for _ in range(7)]
    for i, j in [(0, 6), *edges]:
        matrix[i][j] = 1
    return "(" + ", ".join(map(str, [bit for row in matrix for bit in row] + [0, *ops, 1])) + ")"


NB101_VALID = st.builds(_nb101_cell, st.lists(st.sampled_from(_UPPER), max_size=8, unique=True), st.lists(st.integers(2, 4), min_size=5, max_size=5))
NB101 = st.one_of(
    TEXT,
    NB101_NEAR,
    NB101_VALID,
    st.builds(_nb101_cell, st.lists(st.sampled_from(_UPPER + [(1, 0), (6, 6)]), max_size=14), st.lists(st.integers(-1, 6), min_size=5, max_size=5)),
    tokens("(", ")", ",", " ", "0", "1", "4", "-", "\n", "0, ", "1, "),
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)
NLP_NAMES = ["x", "h_prev_0", "h_prev_1", "h_prev_2", "h_new_0", "h_new_1", "h_new_2", "a", "b", "c", "d"]
NLP_NODE = st.fixed_dictionaries(
    {
        "op": st.one_of(st.sampled_from(list(OP_ARITY)), JSON),
        "input": st.one_of(st.lists(st.sampled_from(NLP_NAMES), min_size=0, max_size=4), JSON),
    }
)
NLP_RECIPE = st.dictionaries(st.sampled_from(NLP_NAMES[4:]) | st.text(max_size=6), NLP_NODE | JSON, max_size=8)
NLP = st.one_of(
    TEXT,
    JSON.map(json.dumps),
    NLP_RECIPE.map(json.dumps),
    st.builds(lambda n, inner: '{"h_new_0": ' * n + inner + "}" * n, st.integers(0, 6000), st.sampled_from(["1", "[]", '{"op": "linear", "input": ["x"]}'])),
    # k identical nodes feeding one node, and k alike states: the cells that made canonicalisation factorial
    st.builds(
        lambda k, op, top: json.dumps({**{f"t{i}": {"op": op, "input": ["x"]} for i in range(k)}, "h_new_0": {"op": top, "input": [f"t{i}" for i in range(k)]}}),
        st.integers(1, 64),
        st.sampled_from(["activation_tanh", "activation_sigm", "linear"]),
        st.sampled_from(["linear", "elementwise_sum"]),
    ),
    st.builds(
        lambda k, own: json.dumps({f"h_new_{i}": {"op": "activation_tanh", "input": [f"h_prev_{i}" if own else "x"]} for i in range(k)}),
        st.integers(1, 40),
        st.booleans(),
    ),
)


# -- architecture parsers -----------------------------------------------------------------------


@PROPERTY
@given(NB201)
def test_nb201_parser(text: str) -> None:
    check_architecture("nb201", text)


@PROPERTY
@given(NB101)
def test_nb101_parser(text: str) -> None:
    check_architecture("nb101", text)


@PROPERTY
@given(NLP)
def test_nlp_parser(text: str) -> None:
    check_architecture("nlp", text)
    _short_messages(lambda: create_space("nlp").parse(text))


def test_nb101_parser_with_an_integer_of_5000_digits() -> None:
    check_architecture("nb101", "(" + "9" * 5000 + ")")


@pytest.mark.parametrize("space_name", ["nb201", "nb101"])
def test_messages_of_the_nb_parsers_quote_a_prefix_only(space_name: str) -> None:
    _short_messages(lambda: create_space(space_name).parse("|" * 100_000))


# -- the --set parser ---------------------------------------------------------------------------

SET_ITEM = st.one_of(
    st.text(max_size=60),
    tokens("epsilon", "snip", ".", "=", "key", "weights", " ", "1", ",", "==", "..", "\n", max_size=12),
)


@PROPERTY
@given(st.lists(SET_ITEM, max_size=5))
def test_set_parser(items: list[str]) -> None:
    parsed = outcome(lambda: parse_settings(items))
    if parsed is not None:
        assert isinstance(parsed, dict)
        for proxy, values in parsed.items():
            assert isinstance(proxy, str) and proxy and isinstance(values, dict)
            assert all(isinstance(k, str) and k and isinstance(v, str) for k, v in values.items())


# -- experiment files ---------------------------------------------------------------------------

TOP_KEYS = ["name", "description", "space", "dataset", "metric", "proxy", "budget", "rounds", "seed", "strategies"]
GOOD_LINES = [
    "name: fuzz\n",
    "space: dummy\n",
    "dataset: cifar10\n",
    "metric: valid_acc\n",
    "budget: 3\n",
    "strategies: [{name: r, strategy: random}]\n",
]
YAML_WORDS = [
    *GOOD_LINES,
    *(f"{key}: " for key in TOP_KEYS),
    "&a ", "*a", "&b ", "*b", "[", "]", "{", "}", ", ", ": ", "\n", "  ", "- ", "? ", "!!python/object:os.system ",
    "!!binary ", "99999999999", "-1", "1e999", "nan", "~", "true", "'", '"', "|", ">", "#", "%YAML 1.1\n", "---\n", "...\n",
    "<<: ", "\t", "\x00", "é", "nb201", "epsilon", "{name: epsilon, batch: {size: ", "}}",
    "9" * 5000, "0x" + "f" * 4000, "1" + "0" * 400 + ".5",
]
YAML_TEXT = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300),
    st.lists(st.sampled_from(YAML_WORDS), max_size=40).map("".join),
    st.lists(st.sampled_from(GOOD_LINES), min_size=6, max_size=6, unique=True).map("".join),
)


@pytest.fixture(scope="module")
def yaml_dir() -> Any:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


@PROPERTY
@given(content=YAML_TEXT)
def test_yaml_loader(yaml_dir: Path, content: str | bytes) -> None:
    path = yaml_dir / "experiment.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    config = outcome(lambda: load_config(path))
    assert config is None or isinstance(config, ExperimentConfig)
    _short_messages(lambda: load_config(path))


PLAIN_KEY = st.one_of(st.sampled_from(TOP_KEYS + ["strategy", "settings", "batch", "size"]), st.text(max_size=6))


def _plain_containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(inner, max_size=4), st.dictionaries(PLAIN_KEY, inner, max_size=5))


PLAIN = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
        st.sampled_from(["dummy", "cifar10", "valid_acc", "random", "evolution"]),
    ),
    _plain_containers,
    max_leaves=30,
)
BASE = {"space": "dummy", "dataset": "cifar10", "metric": "valid_acc", "budget": 3, "strategies": [{"name": "r", "strategy": "random"}]}


@PROPERTY
@given(changes=st.dictionaries(st.sampled_from(TOP_KEYS), PLAIN, max_size=4), whole=PLAIN)
def test_parse_config(changes: dict[str, Any], whole: Any) -> None:
    for data in ({**BASE, **changes}, whole):
        config = outcome(lambda: parse_config(data))
        assert config is None or isinstance(config, ExperimentConfig)
        _short_messages(lambda: parse_config(data))
