"""``nas perf``: how many architectures per second each proxy scores (computation only).

Models are built from a fixed seeded sample and scored on one batch; the score store is not
used. Building a model is timed separately from scoring it. Epsilon is measured twice, on the
full networks (``collapse=off``) and on the width-collapsed ones where exact (``collapse=auto``).
"""

from __future__ import annotations

import argparse
import random
import time

from nas.errors import NasError


def _variants(names: list[str]) -> list[tuple[str, dict[str, str]]]:
    variants: list[tuple[str, dict[str, str]]] = []
    for name in names:
        if name == "epsilon":
            variants += [("epsilon", {"collapse": "off"}), ("epsilon", {"collapse": "auto"})]
        else:
            variants.append((name, {}))
    return variants


def run(args: argparse.Namespace) -> int:
    """Time every proxy on the same sample and print architectures per second."""
    import torch

    from nas.data import load_batch
    from nas.proxies import create_proxy
    from nas.proxies.base import ProxyContext
    from nas.spaces import create_space

    names = [name.strip() for name in args.proxies.split(",") if name.strip()]
    if not names:
        raise NasError("--proxies needs at least one proxy name")
    if args.sample < 1 or args.threads < 1:
        raise NasError("--sample and --threads must be positive")
    torch.set_num_threads(args.threads)
    space = create_space(args.space)
    spec = space.dataset_spec(args.dataset or space.datasets[0])
    batch = load_batch(spec.name, data=args.data, size=args.batch_size, seed=args.seed, data_dir=args.data_dir)
    rng = random.Random(args.seed)
    archs = [space.sample(rng) for _ in range(args.sample)]
    context = ProxyContext(space=args.space, dataset=spec.name, num_classes=spec.num_classes, seed=args.seed)
    print(f"{args.space} on {spec.name}: {args.sample} architectures (seed {args.seed}), batch {len(batch)}, "
          f"{args.threads} thread(s)")
    start = time.perf_counter()
    for arch in archs:
        space.build(arch, spec)
    build = (time.perf_counter() - start) / len(archs)
    print(f"{'build':<24} {build * 1e3:9.1f} ms/arch")
    per_arch: dict[str, float] = {}
    scores: dict[str, list[float]] = {}
    for name, settings in _variants(names):
        proxy = create_proxy(name, **settings)
        label = name + "".join(f" {k}={v}" for k, v in settings.items())
        elapsed, nans, values = 0.0, 0, []
        for arch in archs:
            model = proxy.prepare(space.build(arch, spec))
            start = time.perf_counter()
            result = proxy.score(model, batch, context)
            elapsed += time.perf_counter() - start
            nans += result.is_nan
            values.append(result.value)
        per_arch[label], scores[label] = elapsed / len(archs), values
        print(f"{label:<24} {per_arch[label] * 1e3:9.1f} ms/arch {1 / per_arch[label]:8.2f} arch/s  ({nans} NaN)")
    if "epsilon collapse=off" in per_arch:
        ratio = per_arch["epsilon collapse=off"] / per_arch["epsilon collapse=auto"]
        print(f"epsilon speed-up of the collapsed path: {ratio:.1f}x")
        print(_agreement(scores["epsilon collapse=off"], scores["epsilon collapse=auto"]))
    return 0


def _agreement(direct: list[float], collapsed: list[float]) -> str:
    """One line: do the direct and collapsed epsilon scores agree, NaN for NaN and in value?"""
    import numpy as np

    a, b = np.array(direct), np.array(collapsed)
    same_nan = np.isnan(a) == np.isnan(b)
    both = ~np.isnan(a) & ~np.isnan(b)
    rel = np.abs(a[both] - b[both]) / np.maximum(np.abs(a[both]), 1e-12)
    worst = f"{rel.max():.2e}" if rel.size else "n/a"
    return (f"epsilon direct vs collapsed: NaN for NaN on {int(same_nan.sum())}/{len(a)} architectures, "
            f"largest relative difference of the {int(both.sum())} finite pairs {worst}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``perf`` sub-command."""
    from nas.cli import add_common_options

    parser = subparsers.add_parser(
        "perf",
        help="measure proxy throughput (architectures/second)",
        description="Time the zero-cost proxies on a seeded sample of architectures and one batch, without the "
        "score store: milliseconds to build a network and to score it, architectures per second, NaN counts. "
        "Epsilon is timed on the full and on the width-collapsed networks, and the two are checked to agree.",
    )
    parser.add_argument("--space", default="nb201", help="search space (default: nb201)")
    parser.add_argument("--dataset", help="dataset (default: the space's first, cifar10 for nb201)")
    parser.add_argument("--proxies", default="epsilon", help="comma-separated proxy names (default epsilon)")
    parser.add_argument("--sample", type=int, default=20, help="architectures in the seeded sample (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and the batch (default 0)")
    parser.add_argument("--batch-size", type=int, default=256, help="examples in the batch (default 256)")
    parser.add_argument("--data", default="real", help="input data: real or a synthetic kind (default real)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    add_common_options(parser)
    parser.set_defaults(func=run)
