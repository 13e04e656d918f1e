"""``nas export``: write an architecture (or a search run's best) as TorchScript, ONNX and a ``state_dict``."""

from __future__ import annotations

import argparse
import sys

from nas.cli import add_common_options


def _network(text: str | None) -> dict[str, int]:
    """``channels=8,cells_per_stage=1`` as build options."""
    from nas.errors import NasError

    options: dict[str, int] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        try:
            options[key.strip()] = int(value)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise NasError(f"--network expects key=integer pairs such as channels=8,cells_per_stage=1, got {item.strip()!r}")
    return options


def run(args: argparse.Namespace) -> int:
    """Export one architecture, or the best final choice of a search run, and say where the files are."""
    from nas.errors import NasError
    from nas.export import export_model, export_run

    if args.run is not None:
        if args.arch is not None or args.weights is not None or args.network is not None:
            raise NasError("--run exports a search's best architecture: drop --arch, --weights and --network")
        exported = export_run(args.run, args.out, cache_dir=args.cache_dir, data_dir=args.data_dir)
    else:
        if args.arch is None:
            raise NasError("nas export needs --arch A (with --space and --dataset) or --run DIR")
        exported = export_model(
            args.space, args.arch, args.dataset, args.out,
            weights=args.weights, network=_network(args.network), seed=args.seed, data_dir=args.data_dir,
        )
    files = ", ".join(f"{exported.out_dir / name}" for name in exported.files.values())
    sys.stderr.write(f"nas: exported ({exported.weights} weights): {files}; see {exported.out_dir / 'README.md'}\n")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``export`` command."""
    parser = subparsers.add_parser(
        "export",
        help="write an architecture or a search's best as TorchScript, ONNX and a state_dict",
        description="Write the network of an architecture (or of the best final choice of a search run) as "
        "model.torchscript.pt, model.onnx and state_dict.pt with a README of its input and classes. "
        "Trained weights when the training oracle trained it, else the initial ones.",
    )
    parser.add_argument("--space", default="nb201", help="search space (default: nb201)")
    parser.add_argument("--dataset", default="cifar10", help="dataset the network is built for (default: cifar10)")
    parser.add_argument("--arch", help="the architecture string")
    parser.add_argument("--run", help="a nas search output directory: export its best final choice")
    parser.add_argument("--weights", help="a state_dict file of the same network (default: initial weights)")
    parser.add_argument("--network", help="the space's build options, e.g. channels=8,cells_per_stage=1 (default: full size)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights (default 0)")
    parser.add_argument("--out", required=True, help="output directory")
    add_common_options(parser)
    parser.set_defaults(func=run)
