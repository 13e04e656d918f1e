"""Export an architecture as a self-contained model: TorchScript, ONNX and a ``state_dict``.

:func:`export_model` writes to one directory:

* ``model.torchscript.pt``: the network traced with TorchScript; ``torch.jit.load`` runs it
  without this package (``torch`` is the only requirement);
* ``model.onnx``: the same network in ONNX (opset :data:`OPSET`, a dynamic batch axis), for
  ``onnxruntime`` or any ONNX runtime; written when the ``onnx`` package is installed (the
  ``export`` extra), else skipped with the reason in ``export.json``;
* ``state_dict.pt``: the weights, for ``space.build(arch, dataset, **network)`` of this package;
* ``export.json``: what was exported (space, architecture, dataset, input shape, classes, the
  per-channel normalisation, network options, weights' origin, files);
* ``README.md``: the input the model expects and how to load each file.

The weights are the trained ones when the training oracle trained the architecture (a
``weights`` file from :class:`nas.training.TrainingResult`), else the network's initial weights
(seeded), and the README says which. The model is exported in evaluation mode: batch
normalisation uses its running statistics.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from nas.errors import NasError

#: the ONNX opset the models are written with
OPSET = 17


@dataclass(frozen=True)
class ExportedModel:
    """Where an export went and what it holds."""

    out_dir: Path
    files: Mapping[str, str]
    #: ``"trained"`` or ``"initial"``
    weights: str
    input_shape: tuple[int, ...]
    num_classes: int


def export_model(
    space_name: str,
    arch: str,
    dataset: str,
    out_dir: str | os.PathLike[str],
    *,
    weights: str | os.PathLike[str] | None = None,
    network: Mapping[str, Any] | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike[str] | None = None,
) -> ExportedModel:
    """Write the network of ``arch`` for ``dataset`` to ``out_dir`` (see the module docstring).

    ``weights`` is a ``state_dict`` file of the same network (the training oracle's trained
    weights); without it the network keeps its initial weights drawn with ``seed``. ``network``
    holds the space's build options (the training recipe's ``network``). Image datasets only.
    """
    import torch

    from nas.spaces import create_space
    from nas.userdata import normalisation

    space = create_space(space_name)
    parsed = space.parse(arch)
    spec = space.dataset_spec(dataset)
    if spec.kind != "image":
        raise NasError(f"nas export writes image classifiers; dataset {dataset!r} is {spec.kind}")
    options = dict(network or {})
    try:
        model = space.build(parsed, spec, **options)
    except TypeError as exc:
        raise NasError(f"space {space_name!r} cannot build with network options {options}: {exc}") from None
    origin = "initial"
    if weights is None:
        from nas.initialisation import initialise_by_position

        initialise_by_position(model, seed)  # the initial weights proxies score (as nas.build)
    else:
        path = Path(weights)
        if not path.is_file():
            raise NasError(f"no weights file {str(path)!r}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as exc:  # a file of another network or not a state_dict: one line
            raise NasError(f"weights {str(path)!r} do not fit this network: {str(exc).splitlines()[0][:200]}") from None
        origin = "trained"
    model.eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(2, *spec.input_shape)
    files: dict[str, str] = {}
    torch.save(model.state_dict(), out / "state_dict.pt")
    files["state_dict"] = "state_dict.pt"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated upstream, still the portable format
        traced = torch.jit.trace(model, example)
    traced.save(str(out / "model.torchscript.pt"))
    files["torchscript"] = "model.torchscript.pt"
    onnx_note = _export_onnx(model, example, out / "model.onnx")
    if onnx_note is None:
        files["onnx"] = "model.onnx"
    mean, std = normalisation(dataset, data_dir)
    meta = {
        "space": space_name,
        "arch": arch,
        "dataset": spec.name,
        "input_shape": list(spec.input_shape),
        "num_classes": spec.num_classes,
        "normalisation": {"mean": list(mean), "std": list(std)},
        "network": options,
        "weights": origin,
        "seed": seed,
        "files": files,
        **({"onnx_skipped": onnx_note} if onnx_note else {}),
    }
    (out / "export.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (out / "README.md").write_text(_readme(meta), encoding="utf-8")
    return ExportedModel(out, files, origin, tuple(spec.input_shape), spec.num_classes)


def _export_onnx(model: Any, example: Any, path: Path) -> str | None:
    """Write ``model`` as ONNX; the reason when it cannot (no ``onnx`` package)."""
    import importlib.util

    import torch

    if importlib.util.find_spec("onnx") is None:
        return "the onnx package is not installed (pip install 'nas-zero-cost[export]')"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice
        torch.onnx.export(
            model, (example,), str(path), dynamo=False, opset_version=OPSET,
            input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
    return None


def _readme(meta: Mapping[str, Any]) -> str:
    shape = "x".join(str(v) for v in meta["input_shape"])
    mean = ", ".join(f"{v:.4f}" for v in meta["normalisation"]["mean"])
    std = ", ".join(f"{v:.4f}" for v in meta["normalisation"]["std"])
    weights = (
        "trained by the training oracle (see the search report for the recipe)"
        if meta["weights"] == "trained"
        else f"the network's initial weights (seed {meta['seed']}): train it before use"
    )
    lines = [
        f"# {meta['space']} architecture for {meta['dataset']}",
        "",
        f"Architecture: `{meta['arch']}`",
        "",
        f"- Input: float32 tensor `(batch, {', '.join(str(v) for v in meta['input_shape'])})` ({shape} per example), "
        f"pixels scaled to [0, 1], then per channel `(x - mean) / std` with mean ({mean}) and std ({std}).",
        f"- Output: logits `(batch, {meta['num_classes']})`, one per class (classes numbered as in the dataset).",
        f"- Weights: {weights}.",
        f"- Network options: {json.dumps(meta['network']) if meta['network'] else 'the space default (full size)'}; "
        "evaluation mode (batch norm uses its running statistics).",
        "",
        "## Loading",
        "",
        "```python",
        "import torch",
        "model = torch.jit.load('model.torchscript.pt')        # TorchScript: needs only torch",
        "logits = model(torch.zeros(1, " + ", ".join(str(v) for v in meta["input_shape"]) + "))",
        "",
    ]
    if "onnx" in meta["files"]:
        lines += [
            "import numpy as np, onnxruntime                      # ONNX: needs only onnxruntime",
            "session = onnxruntime.InferenceSession('model.onnx')",
            "logits = session.run(None, {'input': np.zeros((1, " + ", ".join(str(v) for v in meta["input_shape"]) + "), np.float32)})[0]",
            "",
        ]
    lines += [
        "# state_dict: with this package, for the same network",
        "from nas.spaces import create_space",
        f"space = create_space({meta['space']!r})",
        f"model = space.build(space.parse({meta['arch']!r}), space.dataset_spec({meta['dataset']!r}), **{meta['network']!r})",
        "model.load_state_dict(torch.load('state_dict.pt'))",
        "```",
    ]
    if "onnx_skipped" in meta:
        lines += ["", f"ONNX was not written: {meta['onnx_skipped']}."]
    return "\n".join(lines) + "\n"


def export_run(
    run_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> ExportedModel:
    """Export the best final choice of the search run in ``run_dir`` (``nas search --out``).

    The best is the final choice with the best oracle metric over all strategies and rounds.
    When the search trained with the training oracle and its trained weights are in the cache
    directory, they are exported with the recipe's network options; otherwise the initial ones.
    """
    from nas import paths
    from nas.experiment.resume import _read_runs
    from nas.training import TRAINING_METRICS, Recipe, weights_name

    run = Path(run_dir)
    header = run / "experiment.json"
    if not header.is_file():
        raise NasError(f"{str(run)!r} holds no search run (no experiment.json): pass the --out directory of nas search")
    try:
        config = json.loads(header.read_text(encoding="utf-8"))["config"]
        space, dataset, metric, seed = config["space"], config["dataset"], config["metric"], int(config["seed"])
    except (ValueError, KeyError, TypeError) as exc:
        raise NasError(f"{str(header)!r} is not an experiment record: {exc}") from None
    runs = [r for r in _read_runs(run / "runs.jsonl") if r.final_arch is not None] if (run / "runs.jsonl").is_file() else []
    if not runs:
        raise NasError(f"the search in {str(run)!r} has no finished run with a trained model")
    maximise = TRAINING_METRICS.get(metric, True) if "oracle" in config else not any(w in metric for w in ("loss", "perplexity"))
    sign = 1.0 if maximise else -1.0
    best = max(runs, key=lambda r: float("-inf") if r.final_value != r.final_value else sign * r.final_value)
    assert best.final_arch is not None
    network: dict[str, Any] = {}
    weights = None
    oracle = config.get("oracle")
    if oracle and oracle.get("kind") == "train":
        recipe = Recipe.from_mapping(oracle["recipe"])
        network = dict(recipe.network)
        candidate = paths.cache_dir(cache_dir) / "trained" / f"{weights_name(space, best.final_arch, recipe, seed)}.pt"
        weights = candidate if candidate.is_file() else None
    return export_model(space, best.final_arch, dataset, out_dir, weights=weights, network=network, seed=seed, data_dir=data_dir)
