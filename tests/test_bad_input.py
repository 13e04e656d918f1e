"""Bad input gets one ``nas: error:`` line and exit status 2, quickly, never a traceback.

Experiment files that are not UTF-8, binary or YAML alias bombs; NAS-Bench-NLP recipes that are
nested too deeply, give an op as an object or list, or are huge; data directories whose table
file is garbage or unreadable; sizes beyond what the machine can do (``budget``, batch size).
The commands run in-process through :func:`nas.cli.main`, the ``nas`` entry point.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import dummy_space  # noqa: F401 - registers the "dummy" space and table
from nas.benchmarks import open_table
from nas.cli import main
from nas.data import MAX_BATCH_SIZE, load_batch, load_cifar10, load_ptb
from nas.errors import NasError
from nas.experiment import load_config, parse_config
from nas.experiment.config import MAX_BUDGET, MAX_FILE_BYTES, MAX_YAML_NODES
from nas.spaces import create_space
from nas.spaces.nlp import MAX_NODES

ARCH = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
GOOD = {
    "name": "bad-input",
    "space": "dummy",
    "dataset": "cifar10",
    "metric": "valid_acc",
    "budget": 3,
    "strategies": [{"name": "random", "strategy": "random"}],
}


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str], seconds: float = 5.0) -> str:
    """Run ``nas argv``: exit status 2, one ``nas: error:`` line on stderr, within ``seconds``; the line."""
    capsys.readouterr()
    start = time.perf_counter()
    status = main(argv)
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith("nas: error: "), err[:2000]
    assert len(lines[0]) < 1000, f"{len(lines[0])} characters"
    assert elapsed < seconds, f"{elapsed:.1f} s"
    return lines[0]


def search_error(tmp_path: Path, content: str | bytes, capsys: pytest.CaptureFixture[str]) -> str:
    path = tmp_path / "experiment.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return one_line_error(["search", str(path), "--out", str(tmp_path / "out"), "--executor", "serial"], capsys)


# -- experiment files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("name: café\n".encode("latin-1"), "not UTF-8"),
        ("name: x\n".encode("utf-16"), "not UTF-8"),
        (bytes(range(256)) * 8, "not UTF-8"),
        (b"name: x\x00\x01\x02\n", "malformed YAML"),
        (b"\x89PNG\r\n\x1a\n" + bytes(200), "not UTF-8"),
        (b"a: " + b"[" * 60000, "nested"),
        (b"name: x\n" + b"#" * (MAX_FILE_BYTES + 10), "larger than"),
        (b"budget: " + b"9" * 5000 + b"\n", "malformed YAML: Exceeds the limit"),
    ],
)
def test_experiment_files_that_are_not_yaml_text(tmp_path: Path, content: bytes, fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert fragment in search_error(tmp_path, content, capsys)


def _bomb(levels: int = 9, width: int = 9) -> str:
    """A billion-laughs YAML anchor chain; ``*l{levels}`` expands to ``width ** levels`` strings."""
    lines = ["bomb:", "  - &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        lines.append(f"  - &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _with_bomb(where: str) -> str:
    """An experiment file whose ``where`` holds the bomb (the anchors sit in an unknown key first)."""
    data: dict[str, Any] = json.loads(json.dumps(GOOD))
    text = yaml.safe_dump(data, sort_keys=False)
    replacements = {
        "name": ("name: bad-input", "name: *l9"),
        "budget": ("budget: 3", "budget: *l9"),
        "metric": ("metric: valid_acc", "metric: *l9"),
        "settings": ("strategy: random", "strategy: random\n  settings: {warmup: *l9}"),
        "proxy": ("budget: 3", "budget: 3\nproxy: {name: dummy-quality, settings: {}, batch: {size: *l9}}"),
        "proxy-settings": ("budget: 3", "budget: 3\nproxy: {name: dummy-quality, settings: *l9}"),
        "strategies": ("strategies:", "strategies: *l9\nignored:"),
    }
    if where != "unknown":
        old, new = replacements[where]
        assert old in text
        text = text.replace(old, new)
    return _bomb() + text


@pytest.mark.parametrize("where", ["unknown", "name", "budget", "metric", "settings", "proxy", "proxy-settings", "strategies"])
def test_yaml_alias_bombs_fail_fast(tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]) -> None:
    message = search_error(tmp_path, _with_bomb(where), capsys)
    assert "YAML too large" in message and str(MAX_YAML_NODES) in message


def test_a_small_expansion_is_quoted_short(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # below the bound, a wrong value is named by a short prefix, not formatted whole
    inner = "[" + ", ".join(["x" * 200] * 9) + "]"
    text = yaml.safe_dump(GOOD, sort_keys=False).replace("budget: 3", f"budget: [&a {inner}, *a, *a, *a, *a, *a, *a, *a, *a]")
    message = search_error(tmp_path, text, capsys)
    assert "budget: expected int" in message and len(message) < 300


def test_recursive_aliases_are_malformed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "recursive alias" in search_error(tmp_path, "a: &a [*a]\n" + yaml.safe_dump(GOOD), capsys)


def test_plain_data_bombs_fail_fast() -> None:
    bomb: Any = ["lol"]
    for _ in range(12):
        bomb = [bomb] * 9  # 9**12 strings, shared
    for key in ("name", "budget", "metric", "seed"):
        start = time.perf_counter()
        with pytest.raises(NasError, match="too large") as info:
            parse_config({**GOOD, key: bomb})
        assert time.perf_counter() - start < 1 and len(str(info.value)) < 300


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"budget": 99_999_999_999}, "budget: at most 625 trained models (the number of architectures in space 'dummy')"),
        ({"budget": 10**40}, "budget: at most 625"),
        ({"seed": 2**64}, "seed: must be an integer from 0 to 2**63 - 1, got an integer of 65 bits"),
        ({"rounds": 10**9}, "rounds: at most"),
        ({"proxy": {"name": "dummy-quality", "batch": {"size": 100_000}}}, f"proxy.batch.size: at most {MAX_BATCH_SIZE} examples"),
        ({"proxy": {"name": "dummy-quality", "batch": {"seed": 2**70}}}, "proxy.batch.seed: must be"),
        ({"name": "/" * 10_000}, "name: use letters"),
    ],
)
def test_unbounded_sizes_are_refused_with_the_limit(tmp_path: Path, changes: dict[str, Any], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    message = search_error(tmp_path, yaml.safe_dump({**GOOD, **changes}, sort_keys=False), capsys)
    assert fragment in message


def test_budget_of_a_space_without_a_size() -> None:
    data = {**GOOD, "space": "nlp", "dataset": "ptb", "metric": "test_perplexity", "budget": MAX_BUDGET + 1}
    with pytest.raises(NasError, match=f"budget: at most {MAX_BUDGET} trained models"):
        parse_config(data)


def test_good_experiment_files_still_load(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    assert load_config(path).budget == 3
    # aliases within the bound are fine
    rest = yaml.safe_dump({k: v for k, v in GOOD.items() if k != "strategies"}, sort_keys=False)
    path.write_text(
        rest
        + "proxy: {name: dummy-quality, batch: {data: normal, size: 2}}\n"
        + "strategies:\n"
        + "  - {name: e1, strategy: evolution, settings: &s {population: 8, tournament: 3}}\n"
        + "  - {name: e2, strategy: evolution, settings: *s}\n"
    )
    config = load_config(path)
    assert [s.label for s in config.strategies] == ["e1", "e2"]
    assert config.strategies[0].settings == config.strategies[1].settings


# -- architecture strings -----------------------------------------------------------------------


def _nlp(recipe: Any) -> str:
    return json.dumps(recipe)


TANH = {"op": "activation_tanh", "input": ["x"]}


@pytest.mark.parametrize(
    "arch, fragment",
    [
        ("[" * 30_000 + "]" * 30_000, "nested too deeply"),
        ('{"h_new_0": ' * 5_000 + "1" + "}" * 5_000, "nested too deeply"),
        (_nlp({"h_new_0": {"op": {"linear": 1}, "input": ["x"]}}), "unknown op a JSON object"),
        (_nlp({"h_new_0": {"op": ["linear"], "input": ["x"]}}), "unknown op a JSON array"),
        (_nlp({"h_new_0": {"op": 1e400, "input": ["x"]}}), "unknown op"),
        (_nlp({"h_new_0": {"op": "linear", "input": [["x"]]}}), "list of input names"),
        (_nlp({"h_new_0": {"op": "linear", "input": ["x"] * 1000}}), "inputs; at most"),
        (_nlp({f"n{i}": TANH for i in range(MAX_NODES + 1)} | {"h_new_0": TANH}), "nodes; at most"),
        (_nlp({"h_new_0": {"op": "linear", "input": ["y" * 1_000_000]}}), "characters"),
        (_nlp({"h_new_0": {"op": "linear", "input": ["h_prev_" + "9" * 5000]}}), "reads unknown input"),
    ],
)
def test_malformed_nlp_recipes(arch: str, fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert fragment in one_line_error(["info", "--space", "nlp", "--dataset", "ptb", "--arch", arch], capsys)


def test_a_huge_architecture_string_gives_a_short_line(capsys: pytest.CaptureFixture[str]) -> None:
    # 10 MB: the line quotes a prefix only (spaces' own parsers are checked in test_parsers_hypothesis.py)
    huge = "|" + "nor_conv_3x3~0|" * 700_000
    with pytest.raises(NasError) as info:
        create_space("nlp").parse(huge)
    assert len(str(info.value)) < 300
    with pytest.raises(NasError) as info:
        open_table("nb201").index_of(huge)
    assert len(str(info.value)) < 500


# -- adversarial NAS-Bench-NLP cells: polynomial canonicalisation ---------------------------------


def _timed_canonical_id(recipe: dict[str, Any]) -> tuple[str, float]:
    space = create_space("nlp")
    cell = space.parse(json.dumps(recipe))
    start = time.perf_counter()
    key = space.canonical_id(cell)
    return key, time.perf_counter() - start


def _identical_tanh(k: int) -> dict[str, Any]:
    return {**{f"t{i}": TANH for i in range(k)}, "h_new_0": {"op": "linear", "input": [f"t{i}" for i in range(k)]}}


@pytest.mark.parametrize("k", [4, 5, 6, 8, 12, 60])
def test_identical_nodes_feeding_one_linear(k: int) -> None:
    # k! orderings of the tied nodes: 5 s for 5, past 100 s for 6 with the exhaustive search
    key, seconds = _timed_canonical_id(_identical_tanh(k))
    assert seconds < 1
    renamed = {f"z{k - i}": TANH for i in range(k)} | {"h_new_0": {"op": "linear", "input": [f"z{i + 1}" for i in range(k)]}}
    assert _timed_canonical_id(renamed)[0] == key
    assert _timed_canonical_id(_identical_tanh(k + 1))[0] != key


@pytest.mark.parametrize("k", [6, 12, 24])
def test_many_hidden_states(k: int) -> None:
    # states 1..K-1 were renumbered exhaustively: (K-1)! orders
    alike = {f"h_new_{i}": TANH for i in range(k)}
    own = {f"h_new_{i}": {"op": "activation_tanh", "input": [f"h_prev_{i}"]} for i in range(k)}
    ring = {f"h_new_{i}": {"op": "activation_sigm", "input": [f"h_prev_{(i + 1) % k}"]} for i in range(k)}
    for recipe in (alike, own, ring):
        key, seconds = _timed_canonical_id(recipe)
        assert seconds < 1
    # renumbering states 1..K-1 keeps the id; a real difference changes it
    sigma = {0: 0} | {i: k - i for i in range(1, k)}
    renumbered = {f"h_new_{sigma[i]}": {"op": "activation_sigm", "input": [f"h_prev_{sigma[(i + 1) % k]}"]} for i in range(k)}
    assert renumbered != ring and _timed_canonical_id(renumbered)[0] == _timed_canonical_id(ring)[0]
    broken = dict(ring, h_new_1={"op": "activation_sigm", "input": ["h_prev_1"]})
    assert _timed_canonical_id(broken)[0] != _timed_canonical_id(ring)[0]
    assert _timed_canonical_id(own)[0] != _timed_canonical_id(alike)[0]


def test_symmetric_modules() -> None:
    # m identical two-node modules, m identical chains: exchangeable groups of several nodes
    m = 16
    pairs = {f"a{i}": TANH for i in range(m)} | {f"b{i}": {"op": "activation_sigm", "input": [f"a{i}"]} for i in range(m)}
    pairs["h_new_0"] = {"op": "linear", "input": [f"b{i}" for i in range(m)]}
    crossed = dict(pairs, b0={"op": "activation_sigm", "input": ["a1"]})  # a0 unused, a1 read twice
    chains = {f"c{i}_{j}": {"op": "activation_tanh", "input": [f"c{i}_{j - 1}" if j else "x"]} for i in range(8) for j in range(4)}
    chains["h_new_0"] = {"op": "linear", "input": [f"c{i}_3" for i in range(8)]}
    for recipe in (pairs, crossed, chains):
        assert _timed_canonical_id(recipe)[1] < 1
    assert _timed_canonical_id(pairs)[0] != _timed_canonical_id(crossed)[0]


# -- data directories ---------------------------------------------------------------------------


def _data_dir_with(tmp_path: Path, data_dir: Path, relative: str, content: bytes | None) -> Path:
    """A copy of the nb201 table files of ``data_dir`` with ``relative`` replaced (``None``: a directory)."""
    root = tmp_path / "data"
    shutil.copytree(data_dir / "nb201", root / "nb201")
    target = root / relative
    target.unlink()
    if content is None:
        target.mkdir()
    else:
        target.write_bytes(content)
    return root


@pytest.mark.parametrize(
    "content, fragment",
    [
        (bytes(range(128, 256)) * 100, "not UTF-8"),
        (b"\x00" * 1000, "missing column"),
        (b"a" * 200_000, "not valid CSV"),
        (None, "missing data file"),
    ],
)
def test_garbage_nb201_table_file(tmp_path: Path, data_dir: Path, content: bytes | None, fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    root = _data_dir_with(tmp_path, data_dir, "nb201/nats_tss_test_acc_200ep.csv", content)
    assert fragment in one_line_error(["info", "--arch", ARCH, "--data-dir", str(root)], capsys)


def test_garbage_own_nb201_table(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _data_dir_with(tmp_path, data_dir, "nb201/nats_tss_test_acc_200ep.csv", b"x")
    (root / "nb201" / "nas_nb201_table.csv").write_bytes(b"index,arch\n\xff\xfe\x00garbage")
    assert "nas_nb201_table.csv" in one_line_error(["info", "--arch", ARCH, "--data-dir", str(root)], capsys)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="running as root: chmod 000 does not stop root from reading (the directory case covers an unreadable path)")
def test_unreadable_nb201_table_file(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _data_dir_with(tmp_path, data_dir, "nb201/nats_tss_test_acc_200ep.csv", b"x")
    path = root / "nb201" / "nats_tss_test_acc_200ep.csv"
    shutil.copy(data_dir / "nb201" / "nats_tss_test_acc_200ep.csv", path)
    path.chmod(0)
    try:
        assert "Permission denied" in one_line_error(["info", "--arch", ARCH, "--data-dir", str(root)], capsys)
    finally:
        path.chmod(0o644)


def test_unreadable_files_of_other_tables_and_data(tmp_path: Path) -> None:
    (tmp_path / "nb101").mkdir()
    (tmp_path / "nb101" / "zc_nasbench101_500.json").write_bytes(b"\xff\xfe" + b"[" * 100_000)
    with pytest.raises(NasError, match="NAS-Bench-101 table .* not UTF-8"):
        open_table("nb101", tmp_path)
    (tmp_path / "nb101" / "zc_nasbench101_500.json").write_text("[" * 100_000)
    with pytest.raises(NasError, match="NAS-Bench-101 table"):
        open_table("nb101", tmp_path)
    (tmp_path / "nlp").mkdir()
    logs = tmp_path / "nlp" / "train_logs_ptb.zip"
    logs.write_bytes(os.urandom(1000))
    with pytest.raises(NasError, match="cannot read NAS-Bench-NLP logs"):
        open_table("nlp", tmp_path).architectures("ptb")
    with zipfile.ZipFile(logs, "w") as archive:
        archive.writestr("deep.json", "[" * 100_000)
    with pytest.raises(NasError, match="cannot read NAS-Bench-NLP logs .*RecursionError"):
        open_table("nlp", tmp_path).architectures("ptb")
    with zipfile.ZipFile(logs, "w") as archive:
        archive.writestr("op.json", json.dumps({"recepie": json.dumps({"h_new_0": {"op": ["linear"], "input": ["x"]}})}))
    with pytest.raises(NasError, match="unknown op a JSON array"):
        open_table("nlp", tmp_path).architectures("ptb")
    (tmp_path / "ptb").mkdir()
    (tmp_path / "ptb" / "ptb.train.txt").write_bytes(b"\xff\xfe garbage")
    with pytest.raises(NasError, match="not UTF-8"):
        load_ptb(tmp_path, "train")
    (tmp_path / "ptb" / "ptb.train.txt").unlink()
    (tmp_path / "ptb" / "ptb.train.txt").mkdir()
    with pytest.raises(NasError, match="ptb.train.txt"):
        load_ptb(tmp_path, "train")


# -- batches: size and labels -------------------------------------------------------------------


def test_synthetic_batch_size_is_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    message = one_line_error(["score", "--space", "nb201", "--proxy", "params", "--arch", ARCH, "--data", "normal", "--batch-size", "100000"], capsys)
    assert f"exceeds the limit of {MAX_BATCH_SIZE}" in message and "NAS_MAX_BATCH_SIZE" in message


def test_batch_size_limit_can_be_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAS_MAX_BATCH_SIZE", "8")
    with pytest.raises(NasError, match="exceeds the limit of 8"):
        load_batch("cifar10", "normal", size=9)
    assert len(load_batch("cifar10", "normal", size=8)) == 8
    monkeypatch.setenv("NAS_MAX_BATCH_SIZE", "lots")
    with pytest.raises(NasError, match="NAS_MAX_BATCH_SIZE must be a positive integer"):
        load_batch("cifar10", "normal", size=8)


def _cifar10_dir(tmp_path: Path, labels: list[int]) -> Path:
    """A CIFAR-10 folder in the official layout: 5 training files of the same 20 images, given labels."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    images = np.random.default_rng(0).integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as handle:
            pickle.dump({b"data": images, b"labels": labels}, handle, protocol=2)
    return tmp_path


def test_labels_out_of_range_are_a_data_error_before_scoring(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _cifar10_dir(tmp_path / "bad", [3] * 19 + [99])
    with pytest.raises(NasError, match="label 99 of example 19 is outside the dataset's classes 0..9"):
        load_cifar10(root)
    message = one_line_error(
        ["score", "--space", "nb201", "--proxy", "snip", "--arch", ARCH, "--batch-size", "8", "--data-dir", str(root)], capsys, seconds=30
    )
    assert "label 99" in message and "data_batch_1" in message
