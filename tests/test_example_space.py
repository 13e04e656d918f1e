"""The example search-space plugin ``examples/macro_space`` works end to end once pip-installed.

The package is installed with pip into a throw-away directory (no dependencies, no network, no
build isolation: ``nas`` and torch come from the running environment, as in
``tests/test_plugin.py``), and the ``nas`` commands run in subprocesses with that directory on
``PYTHONPATH``, where :mod:`importlib.metadata` finds its ``nas.spaces`` entry point. This
process never sees the entry point, so the other tests' registries are unchanged. The unit tests
load the installed module by its file path.

The search is cut to the bone (three models of a quarter of the widths, one epoch on 128
images): the claims are that every command runs on a plugin space, not about accuracy.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
import yaml

from nas.datasets import DatasetSpec, dataset_spec
from nas.errors import NasError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "macro_space"
ARCH = "d2-w32-k3|d1-w64-k5|d3-w64-k3"
#: the training recipe of the search: its ``network`` builds every stage at a quarter of its width
RECIPE = {"epochs": 1, "train_examples": 128, "valid_examples": 64, "batch_size": 32, "network": {"width_divisor": 4}}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the installed example space (built from a copy: the source stays clean)."""
    work = tmp_path_factory.mktemp("macro")
    source = shutil.copytree(EXAMPLE, work / "source")
    target = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(source)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (entry_points,) = target.glob("nas_macro_space-*.dist-info/entry_points.txt")
    assert "[nas.spaces]\nmacro = nas_macro_space:MacroSpace" in entry_points.read_text()
    return target


@pytest.fixture(scope="module")
def macro(site: Path) -> ModuleType:
    """The installed ``nas_macro_space`` module, loaded by path (not put on ``sys.path``)."""
    spec = importlib.util.spec_from_file_location("nas_macro_space", site / "nas_macro_space" / "__init__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nas(site: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "nas", *arguments], env=env, capture_output=True, text=True, timeout=300)


# --- the space's interface ------------------------------------------------------------------


def test_every_architecture_round_trips_through_its_string(macro: ModuleType):
    space = macro.MacroSpace()
    archs = list(space.enumerate())
    assert space.size() == len(archs) == len(set(archs)) == 18**3 == 5832
    strings = [space.format(arch) for arch in archs]
    assert len(set(strings)) == len(strings)
    assert all(space.parse(text) == arch for text, arch in zip(strings, archs))
    assert all(space.canonical_id(arch) == space.live_id(arch) == text for text, arch in zip(strings, archs))
    arch = space.parse(f"  {ARCH}\n")  # surrounding blanks are ignored
    assert space.format(arch) == ARCH
    assert arch == ((2, 32, 3), (1, 64, 5), (3, 64, 3)) and arch[1].kernel == 5


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r"has 1 stage\(s\) separated by '\|', needs 3: expected 'dD-wW-kK\|"),
        ("d2-w32-k3|d1-w64-k5", r"has 2 stage\(s\)"),
        ("d2-w32-k3|d1-w64-k5|d3-w64-k3|d1-w16-k3", r"has 4 stage\(s\)"),
        ("d2-w32-k3|d1-w64-k5|d3-w64", r"stage 3 of macro architecture .* is 'd3-w64', not 'dD-wW-kK'"),
        ("d2-w32-k3|D1-W64-K5|d3-w64-k3", r"stage 2 .* is 'D1-W64-K5', not 'dD-wW-kK'"),
        ("d2-w32-k3 | d1-w64-k5|d3-w64-k3", r"stage 1 .* is 'd2-w32-k3 ', not"),
        ("d4-w32-k3|d1-w64-k5|d3-w64-k3", r"stage 1 .* has depth d4; choices: d1, d2, d3$"),
        ("d2-w32-k3|d1-w48-k5|d3-w64-k3", r"stage 2 .* has width w48; choices: w16, w32, w64$"),
        ("d2-w32-k3|d1-w64-k5|d3-w64-k7", r"stage 3 .* has kernel k7; choices: k3, k5$"),
        ("d02-w32-k3|d1-w64-k5|d3-w64-k3", r"has depth d02; choices"),
        ("nor_conv_3x3|none|skip_connect", r"stage 1 .* is 'nor_conv_3x3', not"),
        ("d1-w16-k3|" * 5000 + "d1", r"\(50002 characters\) has 5001 stage\(s\)"),
    ],
)
def test_a_bad_string_is_a_one_line_error_naming_the_problem(macro: ModuleType, text: str, message: str):
    with pytest.raises(NasError, match=message) as caught:
        macro.MacroSpace().parse(text)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


@pytest.mark.parametrize("arch", ["d2-w32-k3|d1-w64-k5", ((2, 32, 3), (1, 64, 5), (3, 64, 4)), ((2, 32, 3), (1, 64, 5), (True, 64, 3))])
def test_format_refuses_what_is_not_an_architecture(macro: ModuleType, arch: object):
    with pytest.raises(NasError):
        macro.MacroSpace().format(arch)


def test_neighbours_differ_in_exactly_one_choice(macro: ModuleType):
    space = macro.MacroSpace()
    rng = random.Random(7)
    for _ in range(50):
        arch = space.sample(rng)
        neighbours = space.neighbours(arch)
        assert len(neighbours) == len(set(neighbours)) == 15  # per stage: 2 depths + 2 widths + 1 kernel
        assert arch not in neighbours
        for other in neighbours:
            changes = [(a, b) for stage, changed in zip(arch, other) for a, b in zip(stage, changed) if a != b]
            assert len(changes) == 1
            assert space.parse(space.format(other)) == other
        assert space.mutate(arch, rng) in neighbours


def test_sampling_is_seeded_and_reaches_every_choice(macro: ModuleType):
    space = macro.MacroSpace()
    first = [space.sample(random.Random(3)) for _ in range(2)]
    assert first[0] == first[1]
    rng = random.Random(0)
    drawn = [space.sample(rng) for _ in range(300)]
    assert all(space.parse(space.format(arch)) == arch for arch in drawn)
    for position, choices in enumerate((macro.DEPTHS, macro.WIDTHS, macro.KERNELS)):
        assert {stage[position] for arch in drawn for stage in arch} == set(choices)


def test_the_network_is_built_for_the_dataset_input_and_classes(macro: ModuleType):
    space = macro.MacroSpace()
    arch = space.parse(ARCH)
    model = space.build(arch, dataset_spec("cifar10"))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [3, 3, 5, 3, 3, 3]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64, 64, 64]
    assert [c.stride[0] for c in convs] == [1, 1, 2, 2, 1, 1]  # each later stage starts by halving the resolution
    grey = DatasetSpec("grey28", "image", (1, 28, 28), 7, "1-channel 28x28 images, 7 classes")
    model = space.build(arch, grey)
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 7)
    reduced = space.build(arch, grey, width_divisor=4)
    assert [m.out_channels for m in reduced.modules() if isinstance(m, torch.nn.Conv2d)] == [8, 8, 16, 16, 16, 16]
    assert reduced(torch.randn(3, 1, 28, 28)).shape == (3, 7)
    assert space.count_parameters(arch, dataset_spec("cifar10")) == sum(p.numel() for p in space.build(arch, dataset_spec("cifar10")).parameters())


@pytest.mark.parametrize("divisor", [0, -1, 2.0, True])
def test_a_bad_build_option_is_an_error(macro: ModuleType, divisor: object):
    space = macro.MacroSpace()
    with pytest.raises(NasError, match="width_divisor must be a positive integer"):
        space.build(space.parse(ARCH), dataset_spec("cifar10"), width_divisor=divisor)


def test_an_unknown_build_option_is_a_type_error(macro: ModuleType):
    space = macro.MacroSpace()
    with pytest.raises(TypeError):  # what the training oracle and nas export report as a bad network option
        space.build(space.parse(ARCH), dataset_spec("cifar10"), channels=8)


def test_text_datasets_are_refused(macro: ModuleType):
    space = macro.MacroSpace()
    with pytest.raises(NasError, match="macro networks take images"):
        space.build(space.parse(ARCH), dataset_spec("ptb"))
    with pytest.raises(NasError, match="space 'macro' has no dataset 'ptb'"):
        space.dataset_spec("ptb")


# --- end to end through the command line ----------------------------------------------------


def test_nas_list_spaces_shows_the_plugin(site: Path):
    done = _nas(site, "list", "spaces")
    assert done.returncode == 0, done.stderr
    rows = dict(line.split(None, 1) for line in done.stdout.splitlines())
    assert {"nb201", "nb101", "nlp", "macro"} <= set(rows)
    assert rows["macro"].startswith("Macro space of plain CNNs: depth, width and kernel of 3 stages, 5,832 architectures")
    assert "warning" not in done.stderr


def test_nas_score_scores_a_sample_of_the_plugin_space(site: Path, macro: ModuleType, tmp_path: Path):
    out = tmp_path / "scores.csv"
    done = _nas(site, "score", "--space", "macro", "--dataset", "cifar10", "--proxy", "synflow,params", "--sample", "3",
                "--batch-size", "8", "--executor", "serial", "--no-progress", "--out", str(out))
    assert done.returncode == 0, done.stderr
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    space = macro.MacroSpace()
    assert len(rows) == len({row["arch"] for row in rows}) == 3
    for row in rows:
        arch = space.parse(row["arch"])
        assert row["canonical_id"] == row["arch"]
        assert float(row["params"]) == space.count_parameters(arch, dataset_spec("cifar10"))
        assert math.isfinite(float(row["synflow"])) and float(row["synflow"]) > 0 and row["synflow_reason"] == ""
    assert "test_acc" not in rows[0]  # no benchmark table: scores only


@pytest.fixture(scope="module")
def search_run(site: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    """``nas search`` of three trained models (one strategy with a synflow warm-up of 6): (output, cache, process)."""
    work = tmp_path_factory.mktemp("search")
    config = {
        "name": "macro-train",
        "space": "macro",
        "dataset": "cifar10",
        "metric": "valid_acc",
        "oracle": {"kind": "train", "recipe": RECIPE},
        "proxy": {"name": "synflow", "batch": {"data": "real", "size": 8, "seed": 0}},
        "budget": 3,
        "rounds": 1,
        "seed": 0,
        "strategies": [
            {"name": "evolution+warm-up", "strategy": "evolution",
             "settings": {"population": 2, "tournament": 1, "warmup": True, "pool": 6}},
        ],
    }
    path = work / "macro.yaml"
    path.write_text(yaml.safe_dump(config))
    out, cache = work / "out", work / "cache"
    done = _nas(site, "search", str(path), "--out", str(out), "--cache-dir", str(cache), "--executor", "serial")
    return out, cache, done


def test_nas_search_trains_plugin_architectures(search_run: tuple[Path, Path, subprocess.CompletedProcess[str]], macro: ModuleType):
    out, cache, done = search_run
    assert done.returncode == 0, done.stderr
    summary = (out / "summary.md").read_text()
    assert "Oracle: real training on `cifar10`" in summary and "width_divisor=4" in summary
    (run,) = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    space = macro.MacroSpace()
    assert len(run["archs"]) == 3 and run["final_arch"] in run["archs"]
    assert all(space.format(space.parse(arch)) == arch for arch in run["archs"])
    assert all(0 <= value <= 100 for value in run["values"])
    assert len(list((cache / "trained").glob("*.pt"))) == len(set(run["archs"]))  # one weights file per trained model


@pytest.fixture(scope="module")
def exported(site: Path, search_run: tuple[Path, Path, subprocess.CompletedProcess[str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory ``nas export --run`` wrote the search's best to."""
    out, cache, searched = search_run
    assert searched.returncode == 0, searched.stderr
    model_dir = tmp_path_factory.mktemp("export") / "model"
    done = _nas(site, "export", "--run", str(out), "--out", str(model_dir), "--cache-dir", str(cache))
    assert done.returncode == 0, done.stderr
    return model_dir


def _trained_model(macro: ModuleType, model_dir: Path) -> torch.nn.Module:
    """The exported architecture rebuilt in this process with the exported weights, in evaluation mode."""
    meta = json.loads((model_dir / "export.json").read_text())
    space = macro.MacroSpace()
    model = space.build(space.parse(meta["arch"]), dataset_spec(meta["dataset"]), **meta["network"])
    model.load_state_dict(torch.load(model_dir / "state_dict.pt", weights_only=True))
    return model.eval()


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_nas_export_writes_the_best_with_its_trained_weights(
    exported: Path, search_run: tuple[Path, Path, subprocess.CompletedProcess[str]], macro: ModuleType
):
    meta = json.loads((exported / "export.json").read_text())
    (run,) = [json.loads(line) for line in (search_run[0] / "runs.jsonl").read_text().splitlines()]
    assert meta["space"] == "macro" and meta["arch"] == run["final_arch"]
    assert meta["weights"] == "trained" and meta["network"] == {"width_divisor": 4}
    assert (exported / "model.onnx").is_file() == (importlib.util.find_spec("onnx") is not None)
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected = _trained_model(macro, exported)(images)
        scripted = torch.jit.load(str(exported / "model.torchscript.pt"))(images)
    assert scripted.shape == (4, 10) and torch.allclose(scripted, expected, atol=1e-5)


def test_the_exported_onnx_model_computes_the_trained_network(exported: Path, macro: ModuleType):
    onnxruntime = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install '.[export]')")
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected = _trained_model(macro, exported)(images)
    (logits,) = onnxruntime.InferenceSession(str(exported / "model.onnx")).run(None, {"input": images.numpy()})
    assert torch.allclose(torch.from_numpy(logits), expected, atol=1e-4)
