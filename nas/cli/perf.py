"""``nas perf``: how many architectures per second each proxy scores (computation only).

Models are built from a fixed seeded sample, initialised by position as the scorer initialises
them, and scored on one batch; the score store is not used. Building a model is timed separately from scoring it. Epsilon is measured twice, on the
full networks (``collapse=off``) and on the width-collapsed ones where exact (``collapse=auto``).
Each proxy is scored on its standard batch (its class attribute ``batch_size``) unless
``--batch-size`` gives one for all. Times are CPU seconds of the process (``time.process_time``;
wall time is shown too). ``--reference`` also times the plain implementation of each proxy that
has one (:mod:`nas.perf`) on the same models, architecture by architecture, and reports the
ratio, the achieved GFLOP/s against one core's measured matrix-multiply peak, and how far the
scores differ. Proxies of one shared pass (:attr:`nas.proxies.base.Proxy.shared_pass`: SNIP,
grad_norm, Fisher and jacob_cov) are also timed together, as :func:`nas.scoring.score_architectures`
scores them, and their values checked bit for bit against their own lines. ``--json`` prints one
JSON document instead of the table.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import time
from typing import Any

from nas.errors import NasError


def _variants(names: list[str]) -> list[tuple[str, dict[str, str]]]:
    variants: list[tuple[str, dict[str, str]]] = []
    for name in names:
        if name == "epsilon":
            variants += [("epsilon", {"collapse": "off"}), ("epsilon", {"collapse": "auto"})]
        else:
            variants.append((name, {}))
    return variants


def _json_float(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def run(args: argparse.Namespace) -> int:
    """Time every proxy on the same sample and print architectures per second (or JSON)."""
    import torch

    from nas.data import load_batch
    from nas.initialisation import build_initialised
    from nas.perf import PASSES, REFERENCES, cpu_time, peak_gflops, relative_difference
    from nas.proxies import create_proxy
    from nas.proxies.base import ProxyContext
    from nas.spaces import create_space

    names = [name.strip() for name in args.proxies.split(",") if name.strip()]
    if not names:
        raise NasError("--proxies needs at least one proxy name")
    if args.sample < 1 or args.threads < 1:
        raise NasError("--sample and --threads must be positive")
    if args.batch_size is not None and args.batch_size < 1:
        raise NasError("--batch-size must be positive")
    torch.set_num_threads(args.threads)
    space = create_space(args.space)
    spec = space.dataset_spec(args.dataset or space.datasets[0])
    batches: dict[int, Any] = {}

    def batch_of(size: int) -> Any:
        if size not in batches:
            batches[size] = load_batch(spec.name, data=args.data, size=size, seed=args.seed, data_dir=args.data_dir)
        return batches[size]

    proxies = [(name, settings, create_proxy(name, **settings)) for name, settings in _variants(names)]
    sizes = [args.batch_size or type(proxy).batch_size for _, _, proxy in proxies]
    for size in sorted(set(sizes)):
        batch_of(size)
    rng = random.Random(args.seed)
    archs = [space.sample(rng) for _ in range(args.sample)]
    context = ProxyContext(space=args.space, dataset=spec.name, num_classes=spec.num_classes, seed=args.seed)
    report: dict[str, Any] = {
        "space": args.space, "dataset": spec.name, "sample": args.sample, "seed": args.seed,
        "threads": args.threads, "data": args.data, "timing": "process CPU time (time.process_time)",
        "batch_size": args.batch_size, "proxies": [],
    }
    say = (lambda *a, **k: None) if args.json else print
    batch_text = f"batch {args.batch_size}" if args.batch_size else "each proxy's standard batch"
    say(f"{args.space} on {spec.name}: {args.sample} architectures (seed {args.seed}), {batch_text}, "
        f"{args.threads} thread(s), CPU time of the process")
    if args.reference:
        report["peak_gflops"] = peak_gflops()
        say(f"{'peak (float32 matmul)':<24} {report['peak_gflops']:9.1f} GFLOP/s on {args.threads} thread(s)")
    flops = [space.count_flops(arch, spec) for arch in archs]
    report["mean_forward_macs"] = sum(flops) / len(flops)
    start = time.process_time()
    for arch in archs:
        space.build(arch, spec)
    build = (time.process_time() - start) / len(archs)
    report["build_ms"] = build * 1e3
    say(f"{'build':<24} {build * 1e3:9.1f} ms/arch")
    per_arch: dict[str, float] = {}
    scores: dict[str, list[float]] = {}
    for (name, settings, proxy), size in zip(proxies, sizes):
        label = name + "".join(f" {k}={v}" for k, v in settings.items())
        batch = batch_of(size)
        reference = REFERENCES.get(name) if args.reference and not settings else None
        elapsed = wall = ref_elapsed = 0.0
        nans, values, ref_values = 0, [], []
        for arch in archs:
            model = proxy.prepare(build_initialised(space, arch, spec, context.seed))
            if reference is not None:
                ref_model = copy.deepcopy(model)
                with torch.enable_grad():
                    value, seconds = cpu_time(lambda: reference(ref_model, batch))
                ref_elapsed += seconds
                ref_values.append(value)
            start_wall = time.perf_counter()
            result, seconds = cpu_time(lambda: proxy.score(model, batch, context))
            wall += time.perf_counter() - start_wall
            elapsed += seconds
            nans += result.is_nan
            values.append(result.value)
        per_arch[label], scores[label] = elapsed / len(archs), values
        entry: dict[str, Any] = {
            "proxy": label, "batch_size": len(batch), "ms_per_arch": per_arch[label] * 1e3,
            "wall_ms_per_arch": wall / len(archs) * 1e3, "arch_per_s": 1 / max(per_arch[label], 1e-12), "nans": nans,
        }
        line = (f"{label:<24} {per_arch[label] * 1e3:9.1f} ms/arch {entry['arch_per_s']:8.2f} arch/s  "
                f"batch {len(batch):>4}  ({nans} NaN)")
        if reference is not None:
            ref_ms = ref_elapsed / len(archs) * 1e3
            passes = PASSES[name]
            work = sum(flops) / len(flops) * 2 * passes * (1 if name == "synflow" else len(batch))
            differences = [relative_difference(a, b) for a, b in zip(values, ref_values)]
            entry.update({
                "reference_ms_per_arch": ref_ms, "speedup": ref_ms / max(entry["ms_per_arch"], 1e-12),
                "nominal_gflop_per_arch": work / 1e9, "passes": passes,
                "gflops": work / 1e9 / max(per_arch[label], 1e-12),
                "reference_gflops": work / 1e9 / max(ref_ms / 1e3, 1e-12),
                "peak_fraction": work / 1e9 / max(per_arch[label], 1e-12) / report["peak_gflops"],
                "max_relative_difference": _json_float(max(differences)),
                "nan_for_nan": all(math.isnan(a) == math.isnan(b) for a, b in zip(values, ref_values)),
            })
            line += (f"  reference {ref_ms:9.1f} ms ({entry['speedup']:.2f}x)  {entry['gflops']:5.1f} GFLOP/s "
                     f"({entry['peak_fraction']:.0%} of peak)  max rel diff {max(differences):.1e}")
        report["proxies"].append(entry)
        say(line)
    for entry in _shared_passes(proxies, sizes, archs, space, spec, batch_of, context, per_arch, scores):
        report.setdefault("shared_passes", []).append(entry)
        say(f"{entry['proxies']:<24} {entry['ms_per_arch']:9.1f} ms/arch in one shared pass ({entry['pass']}); "
            f"separately {entry['separate_ms_per_arch']:.1f} ms: {entry['speedup']:.2f}x; "
            f"bit-equal to their own scores on {entry['equal']}/{entry['compared']}")
    if "epsilon collapse=off" in per_arch:
        ratio = per_arch["epsilon collapse=off"] / per_arch["epsilon collapse=auto"]
        report["epsilon_collapse_speedup"] = ratio
        say(f"epsilon speed-up of the collapsed path: {ratio:.1f}x")
        say(_agreement(scores["epsilon collapse=off"], scores["epsilon collapse=auto"]))
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    return 0


def _shared_passes(
    proxies: list[tuple[str, dict[str, str], Any]], sizes: list[int], archs: list[Any], space: Any, spec: Any,
    batch_of: Any, context: Any, per_arch: dict[str, float], scores: dict[str, list[float]],
) -> list[dict[str, Any]]:
    """Time each shared pass on the proxies of the list it scores (two or more on one batch size).

    The pass runs once per architecture for all of them, on the models and batch their own lines
    used; its values are compared bit for bit with theirs.
    """
    from nas.initialisation import build_initialised
    from nas.perf import cpu_time

    groups: dict[tuple[int, int], list[int]] = {}
    for index, ((_, settings, proxy), size) in enumerate(zip(proxies, sizes)):
        if proxy.shared_pass is not None and not settings:
            groups.setdefault((id(proxy.shared_pass), size), []).append(index)
    entries: list[dict[str, Any]] = []
    for (_, size), members in groups.items():
        if len(members) < 2:
            continue
        shared = [proxies[i][2] for i in members]
        labels = [proxies[i][0] for i in members]
        batch = batch_of(size)
        elapsed, equal = 0.0, 0
        for position, arch in enumerate(archs):
            model = shared[0].prepare(build_initialised(space, arch, spec, context.seed))
            results, seconds = cpu_time(lambda: shared[0].shared_pass.score(model, batch, context, shared))
            elapsed += seconds
            for label, result in zip(labels, results):
                own = scores[label][position]
                equal += result.value == own or (math.isnan(result.value) and math.isnan(own))
        separate = sum(per_arch[label] for label in labels)
        entries.append({
            "proxies": "+".join(labels), "pass": shared[0].shared_pass.name, "batch_size": len(batch),
            "ms_per_arch": elapsed / len(archs) * 1e3, "separate_ms_per_arch": separate * 1e3,
            "speedup": separate / max(elapsed / len(archs), 1e-12), "equal": equal, "compared": len(archs) * len(labels),
        })
    return entries


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
        description="Time the zero-cost proxies on a seeded sample of architectures, without the score store: "
        "CPU milliseconds of the process to build a network and to score it, architectures per second, NaN "
        "counts. Each proxy is scored on its standard batch unless --batch-size says otherwise. Epsilon is "
        "timed on the full and on the width-collapsed networks, and the two are checked to agree. --reference "
        "times plain reference implementations beside the proxies.",
    )
    parser.add_argument("--space", default="nb201", help="search space (default: nb201)")
    parser.add_argument("--dataset", help="dataset (default: the space's first, cifar10 for nb201)")
    parser.add_argument("--proxies", default="epsilon", help="comma-separated proxy names (default epsilon)")
    parser.add_argument("--sample", type=int, default=20, help="architectures in the seeded sample (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and the batch (default 0)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="examples in the batch of every proxy (default: each proxy's standard batch, "
                        "its batch_size: 256 for epsilon, 128 for naswot, 64 for most)")
    parser.add_argument("--data", default="real", help="input data: real or a synthetic kind (default real)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--reference", action="store_true",
                        help="also time each proxy's plain reference implementation (nas.perf) on the same models "
                        "and report the ratio, achieved GFLOP/s against a measured matrix-multiply peak and the "
                        "largest relative score difference")
    parser.add_argument("--json", action="store_true", help="print the measurements as one JSON document")
    add_common_options(parser)
    parser.set_defaults(func=run)
