"""``nas info``: everything known about one architecture."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from nas.cli import add_common_options


def describe(space_name: str, arch_text: str, dataset: str, data_dir: str | None = None) -> dict[str, Any]:
    """The architecture's canonical and live ids, parameter and FLOP counts, and its benchmark metrics."""
    from nas.benchmarks import TABLES, open_table
    from nas.spaces import create_space

    space = create_space(space_name)
    spec = space.dataset_spec(dataset)
    arch = space.parse(arch_text)
    info: dict[str, Any] = {
        "space": space_name,
        "arch": space.format(arch),
        "canonical_id": space.canonical_id(arch),
        "live_id": space.live_id(arch),
        "dataset": spec.name,
        "parameters": space.count_parameters(arch, spec),
        "flops": space.count_flops(arch, spec),
    }
    if space_name in TABLES:
        table = open_table(space_name, data_dir)
        if spec.name in table.datasets and info["arch"] in table:
            info["benchmark"] = {
                metric: table.lookup(info["arch"], spec.name, metric) for metric in table.metrics(spec.name)
            }
        else:
            info["benchmark"] = None
    return info


def run(args: argparse.Namespace) -> int:
    """Print the description as text or JSON."""
    info = describe(args.space, args.arch, args.dataset, args.data_dir)
    if args.json:
        print(json.dumps(_finite(info), indent=2))
        return 0
    rows = [(key, str(info[key])) for key in ("space", "arch", "canonical_id", "live_id", "dataset")]
    rows.append(("parameters", f"{info['parameters']:,} ({info['parameters'] / 1e6:.6f} M)"))
    rows.append(("flops", f"{info['flops']:,} ({info['flops'] / 1e6:.2f} M multiply-adds)"))
    if info.get("benchmark", {}) is None:
        rows.append(("benchmark", f"not in the {args.space} table for {info['dataset']}"))
    for metric, value in (info.get("benchmark") or {}).items():
        rows.append((metric, "n/a" if math.isnan(value) else f"{value:.4f}"))
    width = max(len(key) for key, _ in rows) + 2
    for key, text in rows:
        print(f"{key:<{width}}{text}")
    return 0


def _finite(value: Any) -> Any:
    """``value`` with NaN floats replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``info`` sub-command."""
    parser = subparsers.add_parser(
        "info",
        help="canonical form, size and benchmark metrics of one architecture",
        description="Describe one architecture: its canonical form and id (shared by architectures that compute "
        "the same function), its parameters and FLOPs on the dataset, and its trained metrics from the "
        "space's benchmark table.",
    )
    parser.add_argument("--space", default="nb201", help="search space (default: nb201)")
    parser.add_argument("--arch", required=True, help="architecture string in the space's format")
    parser.add_argument("--dataset", default="cifar10", help="dataset (default: cifar10)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_common_options(parser)
    parser.set_defaults(func=run)
