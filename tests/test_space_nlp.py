"""NAS-Bench-NLP space and table, checked against the 345 raw WikiText-2 training logs."""

from __future__ import annotations

import json
import math
import random
import zipfile
from pathlib import Path

import pytest
import torch

from nas.benchmarks import open_table
from nas.datasets import dataset_spec
from nas.errors import NasError
from nas.spaces import create_space
from nas.spaces.nlp import OP_ARITY, NlpCell

PTB = dataset_spec("ptb")
#: the logs' vocabulary: WikiText-2 has 33,278 word types
WIKITEXT2 = dataset_spec("wikitext2")


@pytest.fixture(scope="module")
def space():
    return create_space("nlp")


@pytest.fixture(scope="module")
def logs(data_dir: Path) -> list[dict]:
    with zipfile.ZipFile(data_dir / "nlp" / "train_logs_wikitext-2.zip") as archive:
        return [json.loads(archive.read(name)) for name in sorted(archive.namelist())]


def _find(logs: list[dict], predicate) -> dict:
    return next(log for log in logs if predicate(json.loads(log["recepie"])))


def test_every_recipe_parses_and_round_trips(space, logs):
    assert len(logs) == 345
    for log in logs:
        cell = space.parse(log["recepie"])
        assert cell.recipe() == json.loads(log["recepie"])
        text = space.format(cell)
        assert space.parse(text) == cell and space.format(space.parse(text)) == text


def test_every_recipe_builds_with_the_logged_parameter_count(space, logs):
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        for log in logs:
            assert space.count_parameters(space.parse(log["recepie"]), WIKITEXT2) == log["num_params"]


def test_forward_on_token_ids(space, logs):
    lstm_like = _find(logs, lambda r: "h_new_1" in r and "h_new_2" not in r)
    three_states = _find(logs, lambda r: "h_new_2" in r)
    with_blend = _find(logs, lambda r: any(n["op"] == "blend" for n in r.values()))
    torch.manual_seed(0)
    tokens = torch.randint(0, PTB.num_classes, (2, 5))
    for log in (lstm_like, three_states, with_blend):
        model = space.build(space.parse(log["recepie"]), PTB)
        assert isinstance(model.embedding, torch.nn.Embedding)
        with torch.no_grad():
            logits = model(tokens)
        assert logits.shape == (2, 5, PTB.num_classes)
        assert torch.isfinite(logits).all()
        assert model.decoder.weight is model.embedding.weight  # tied, as trained


def _rename(recipe: dict, rng: random.Random) -> dict:
    """The same recipe with fresh names for intermediate nodes and shuffled commutative inputs."""
    inner = [name for name in recipe if not name.startswith("h_new_") or not name[6:].isdigit()]
    fresh = [f"v{i}" for i in range(len(inner))]
    rng.shuffle(fresh)
    names = dict(zip(inner, fresh))
    renamed = {}
    for name, node in recipe.items():
        inputs = [names.get(i, i) for i in node["input"]]
        if node["op"] != "blend":
            rng.shuffle(inputs)
        renamed[names.get(name, name)] = {"op": node["op"], "input": inputs}
    return renamed


def test_canonical_id_is_stable_under_renaming(space, logs):
    rng = random.Random(0)
    for log in logs[::15]:
        recipe = json.loads(log["recepie"])
        cell = space.parse(log["recepie"])
        renamed = space.parse(json.dumps(_rename(recipe, rng)))
        assert space.canonical_id(renamed) == space.canonical_id(cell)
        for neighbour in space.neighbours(cell)[:3]:
            assert space.canonical_id(neighbour) != space.canonical_id(cell)


def test_canonical_id_renumbers_states_but_keeps_real_differences(space):
    def cell(recipe: dict) -> NlpCell:
        return space.parse(json.dumps(recipe))

    base = {
        "a": {"op": "linear", "input": ["x", "h_prev_1"]},
        "b": {"op": "linear", "input": ["x", "h_prev_2"]},
        "h_new_1": {"op": "activation_tanh", "input": ["a"]},
        "h_new_2": {"op": "activation_sigm", "input": ["b"]},
        "h_new_0": {"op": "elementwise_sum", "input": ["h_new_1", "h_new_2"]},
    }
    states_swapped = {
        "a": {"op": "linear", "input": ["x", "h_prev_2"]},
        "b": {"op": "linear", "input": ["x", "h_prev_1"]},
        "h_new_2": {"op": "activation_tanh", "input": ["a"]},
        "h_new_1": {"op": "activation_sigm", "input": ["b"]},
        "h_new_0": {"op": "elementwise_sum", "input": ["h_new_1", "h_new_2"]},
    }
    assert space.canonical_id(cell(base)) == space.canonical_id(cell(states_swapped))
    shared = {"l": {"op": "linear", "input": ["x", "h_prev_0"]}, "h_new_0": {"op": "elementwise_prod", "input": ["l", "l"]}}
    separate = {
        "l": {"op": "linear", "input": ["x", "h_prev_0"]},
        "m": {"op": "linear", "input": ["x", "h_prev_0"]},
        "h_new_0": {"op": "elementwise_prod", "input": ["l", "m"]},
    }
    assert space.canonical_id(cell(shared)) != space.canonical_id(cell(separate))
    blend = {
        "z": {"op": "activation_sigm", "input": ["x"]},
        "t": {"op": "activation_tanh", "input": ["h_prev_0"]},
        "h_new_0": {"op": "blend", "input": ["z", "t", "h_prev_0"]},
    }
    blend_swapped = dict(blend, h_new_0={"op": "blend", "input": ["z", "h_prev_0", "t"]})
    assert space.canonical_id(cell(blend)) != space.canonical_id(cell(blend_swapped))


def test_neighbours_change_one_op_of_the_same_arity(space, logs):
    for log in logs[::40]:
        cell = space.parse(log["recepie"])
        neighbours = space.neighbours(cell)
        assert neighbours and neighbours == space.neighbours(cell)
        ids = {space.canonical_id(n) for n in neighbours}
        assert len(ids) == len(neighbours) and space.canonical_id(cell) not in ids
        for n in neighbours:
            changed = [(a, b) for a, b in zip(cell.nodes, n.nodes) if a != b]
            assert len(changed) == 1
            old, new = changed[0]
            assert old.name == new.name and old.inputs == new.inputs and old.op != new.op
            arity = OP_ARITY[new.op]
            assert arity is None or arity == len(new.inputs)
            assert space.parse(space.format(n)) == n
        assert space.mutate(cell, random.Random(1)) in neighbours


def test_samples_come_from_the_logs_and_are_seeded(space, logs):
    known = {space.canonical_id(space.parse(log["recepie"])) for log in logs}
    first = [space.sample(random.Random(seed)) for seed in range(10)]
    assert first == [space.sample(random.Random(seed)) for seed in range(10)]
    assert all(space.canonical_id(cell) in known for cell in first)
    assert len({space.canonical_id(cell) for cell in first}) > 5


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        "{}",
        '{"h_new_0": {"op": "conv", "input": ["x"]}}',
        '{"h_new_0": {"op": "blend", "input": ["x", "h_prev_0"]}}',
        '{"h_new_0": {"op": "linear", "input": ["y"]}}',
        '{"h_new_0": {"op": "linear", "input": ["x", "h_prev_1"]}}',
        '{"h_new_1": {"op": "linear", "input": ["x"]}}',
        '{"h_new_0": {"op": "linear", "input": ["a"]}, "a": {"op": "activation_tanh", "input": ["h_new_0"]}}',
        '{"h_new_0": {"op": "linear"}}',
        '{"h_new_0": {"op": "linear", "input": []}}',
        '{"x": {"op": "linear", "input": ["h_prev_0"]}, "h_new_0": {"op": "linear", "input": ["x"]}}',
    ],
)
def test_malformed_recipes_raise_nas_error(space, text):
    with pytest.raises(NasError):
        space.parse(text)


def test_table_lookups_equal_the_raw_logs(space, logs):
    table = open_table("nlp")
    assert table.datasets == ("ptb", "wikitext2")
    runs: dict[str, list[dict]] = {}
    for log in logs:
        runs.setdefault(space.format(space.parse(log["recepie"])), []).append(log)
    assert set(table.architectures("wikitext2")) == set(runs)
    single = [log for log in logs if len(runs[space.format(space.parse(log["recepie"]))]) == 1 and log["status"] == "OK"]
    for log in single[:5]:
        arch = log["recepie"]  # the log's own spelling is accepted
        assert table.lookup(arch, "wikitext2", "val_loss") == log["val_losses"][-1]
        assert table.lookup(arch, "wikitext2", "test_loss") == log["test_losses"][-1]
        assert table.lookup(arch, "wikitext2", "val_perplexity") == pytest.approx(math.exp(log["val_losses"][-1]))
        assert table.lookup(arch, "wikitext2", "num_params") == log["num_params"]
        assert table.lookup(arch, "wikitext2", "train_seconds") == pytest.approx(sum(log["wall_times"]))
    repeated = next(arch for arch, group in runs.items() if len(group) == 3)
    expected = sum(log["test_losses"][-1] for log in runs[repeated]) / 3
    assert table.lookup(repeated, "wikitext2", "test_loss") == pytest.approx(expected)
    diverged = [arch for arch, group in runs.items() if all(log["status"] != "OK" for log in group)]
    assert diverged
    for arch in diverged:
        assert math.isnan(table.lookup(arch, "wikitext2", "val_loss"))
        assert math.isnan(table.lookup(arch, "wikitext2", "test_perplexity"))
        assert table.lookup(arch, "wikitext2", "num_params") == runs[arch][0]["num_params"]


def test_table_rejects_unknown_cells_and_metrics(space, logs):
    table = open_table("nlp")
    cell = space.parse(logs[0]["recepie"])
    known = set(table.architectures("wikitext2"))
    unknown = next(n for n in space.neighbours(cell) if space.format(n) not in known)
    with pytest.raises(NasError, match="not among the 291 trained cells of wikitext2"):
        table.lookup(space.format(unknown), "wikitext2", "val_loss")
    with pytest.raises(NasError):
        table.lookup(space.format(cell), "wikitext103", "val_loss")
    with pytest.raises(NasError):
        table.lookup(space.format(cell), "wikitext2", "valid_acc")
    with pytest.raises(NasError):
        table.lookup("{", "wikitext2", "val_loss")


def test_flops_count_every_linear_per_token(space):
    cell = space.parse('{"h_new_0":{"input":["l"],"op":"activation_tanh"},"l":{"input":["x","h_prev_0"],"op":"linear"}}')
    per_token = (
        (400 + 600) * 600 + 600  # layer 1: embedding and state -> 600
        + (600 + 600) * 600 + 600  # layer 2
        + (600 + 400) * 400 + 400  # layer 3: state of 400 (tied decoder)
        + 400 * PTB.num_classes + PTB.num_classes  # decoder
    )
    assert space.count_flops(cell, PTB) == PTB.input_shape[0] * per_token
