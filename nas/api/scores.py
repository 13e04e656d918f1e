"""``nas.score``: proxy scores of a space's architectures as a DataFrame, through the score store."""

from __future__ import annotations

import math
import os
import random
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from nas.errors import NasError

if TYPE_CHECKING:
    import pandas as pd

    from nas.proxies.base import Proxy
    from nas.scoring import ScoredArchitectures
    from nas.spaces.base import Architecture, SearchSpace

#: the precisions of the proxies that have a ``precision`` setting
PRECISIONS = ("float32", "float64")


def score(
    archs: Sequence[str] | None = None,
    *,
    proxies: str | Sequence[str | Proxy],
    space: str = "nb201",
    dataset: str | None = None,
    sample: int | None = None,
    all: bool = False,  # noqa: A002 - the name users expect, as ``nas score --all``
    seed: int = 0,
    data: str = "real",
    batch_size: int | None = None,
    batch_sizes: Mapping[str, int] | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    precision: str | None = None,
    metrics: bool | None = None,
    executor: str = "auto",
    workers: int | None = None,
    ray_address: str | None = None,
    progress: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    retry_failed: bool = False,
) -> pd.DataFrame:
    """Score architectures of ``space`` with zero-cost proxies; one row per architecture.

    Choose the architectures with exactly one of ``archs`` (strings of the space), ``sample=N``
    (N distinct ones drawn with ``seed``) and ``all=True``. ``proxies`` are names (a list or one
    comma-separated string) or :class:`~nas.proxies.base.Proxy` objects (``nas.proxy(name,
    **settings)``). ``dataset`` defaults to the space's first. Each proxy is scored on a batch of
    ``data`` (``"real"`` training images, or a synthetic kind such as ``"grey"``) of its paper's
    size (:attr:`~nas.proxies.base.Proxy.batch_size`) unless ``batch_size`` or
    ``batch_sizes={proxy: size}`` say otherwise; ``seed`` also draws the batch and initialises
    the networks. ``settings={proxy: {key: value}}`` and ``precision`` configure named proxies.

    Scores come from the score store in ``cache_dir`` when it has them; the rest are computed
    (``executor`` ``"auto"``, ``"serial"``, ``"local"`` with ``workers`` processes, or ``"ray"``)
    and stored as they arrive, so an interrupted call keeps its work. Stored failures are
    recomputed with ``retry_failed``.

    Columns: ``arch``, ``canonical_id``, one column per proxy (NaN where it could not score),
    ``<proxy>_reason`` (why, else None), and, when the space's benchmark table is available
    (``metrics=None``; ``True`` requires it, ``False`` skips it), the trained metrics of
    ``dataset`` (``test_acc``, ``valid_acc``, ...; NaN for architectures the table lacks).
    ``frame.attrs`` holds ``inputs`` (the batches) and ``stats`` (per proxy: store hits,
    computations, seconds per architecture).

    >>> frame = nas.score(sample=20, proxies=["epsilon", "synflow"])  # doctest: +SKIP
    >>> frame[["epsilon", "test_acc"]].corr("spearman")  # doctest: +SKIP
    """
    frame, _ = score_frame(
        archs,
        proxies=proxies,
        space=space,
        dataset=dataset,
        sample=sample,
        every=all,
        seed=seed,
        data=data,
        batch_size=batch_size,
        batch_sizes=batch_sizes,
        settings=settings,
        precision=precision,
        metrics=metrics,
        executor=executor,
        workers=workers,
        ray_address=ray_address,
        progress=progress,
        data_dir=data_dir,
        cache_dir=cache_dir,
        retry_failed=retry_failed,
    )
    return frame


def score_frame(
    archs: Sequence[str] | None,
    *,
    proxies: str | Sequence[str | Proxy],
    space: str,
    dataset: str | None,
    sample: int | None,
    every: bool,
    seed: int,
    data: str,
    batch_size: int | None,
    batch_sizes: Mapping[str, int] | None,
    settings: Mapping[str, Mapping[str, Any]] | None,
    precision: str | None,
    metrics: bool | None,
    executor: str,
    workers: int | None,
    ray_address: str | None,
    progress: bool,
    data_dir: str | os.PathLike[str] | None,
    cache_dir: str | os.PathLike[str] | None,
    retry_failed: bool,
) -> tuple[pd.DataFrame, ScoredArchitectures]:
    """:func:`score` and how the scoring went (what ``nas score`` prints on stderr)."""
    import pandas as pd

    from nas.api.catalog import space as create_space
    from nas.scoring import batch_size_of, score_architectures
    from nas.store import ScoreStore

    the_space = create_space(space)
    spec = the_space.dataset_spec(dataset or the_space.datasets[0])
    chosen = select(the_space, archs, sample, every, seed)
    created = make_proxies(proxies, settings or {}, precision)
    unknown = sorted(set(batch_sizes or {}) - set(created))
    if unknown:
        raise NasError(f"batch_sizes names proxy {unknown[0]!r}, which is not among the proxies scored")
    sizes = {name: batch_size_of(proxy, batch_size, batch_sizes) for name, proxy in created.items()}
    data_path = None if data_dir is None else os.fspath(data_dir)
    with ScoreStore.open(None if cache_dir is None else os.fspath(cache_dir)) as store:
        scored = score_architectures(
            the_space,
            spec.name,
            chosen,
            created,
            sizes,
            data=data,
            seed=seed,
            store=store,
            executor=executor,
            workers=workers,
            progress=progress,
            ray_address=ray_address,
            data_dir=data_path,
            retry_failed=retry_failed,
        )
    names = [the_space.format(arch) for arch in chosen]
    columns: dict[str, list[Any]] = {
        "arch": names,
        "canonical_id": [the_space.canonical_id(arch) for arch in chosen],
    }
    for name in created:
        columns[name] = [result.value for result in scored.results[name]]
    for name in created:
        columns[f"{name}_reason"] = [result.reason for result in scored.results[name]]
    for metric, values in trained_metrics(the_space.name, spec.name, names, metrics, data_path).items():
        columns[metric if metric not in columns else f"table_{metric}"] = values
    frame = pd.DataFrame(columns)
    frame.attrs["space"] = the_space.name
    frame.attrs["dataset"] = spec.name
    frame.attrs["inputs"] = list(scored.inputs)
    frame.attrs["stats"] = {
        name: {
            "archs": stats.archs,
            "distinct": stats.unique,
            "from_store": stats.from_store,
            "computed": stats.computed,
            "nans": stats.nans,
            "seconds_per_arch": stats.seconds_per_arch,
            "batch_size": scored.batch_sizes[name],
        }
        for name, stats in scored.stats.items()
    }
    return frame, scored


def trained_metrics(
    space: str, dataset: str, archs: Sequence[str], wanted: bool | None, data_dir: str | None
) -> dict[str, list[float]]:
    """The benchmark table's metrics of ``dataset`` for ``archs`` (NaN where the table lacks one).

    ``wanted=None``: when the space has a table that opens; ``True``: its absence is an error;
    ``False``: none.
    """
    from nas.benchmarks import TABLES, open_table

    if wanted is False or (wanted is None and space not in TABLES.names()):
        return {}
    try:
        table = open_table(space, data_dir)
    except NasError:
        if wanted:
            raise
        return {}
    if dataset not in table.datasets:
        if wanted:
            table.check(dataset, "")
        return {}
    return {metric: [_lookup(table, arch, dataset, metric) for arch in archs] for metric in table.metrics(dataset)}


def _lookup(table: Any, arch: str, dataset: str, metric: str) -> float:
    try:
        return table.lookup(arch, dataset, metric)
    except NasError:  # an architecture outside a partial table (e.g. the 500-cell NAS-Bench-101 one)
        return math.nan


def make_proxies(
    proxies: str | Sequence[str | Proxy], settings: Mapping[str, Mapping[str, Any]], precision: str | None
) -> dict[str, Proxy]:
    """The proxies by name: names created with their ``settings`` and ``precision``, objects kept as they are."""
    from nas.proxies import PROXIES, create_proxy
    from nas.proxies.base import Proxy

    items: list[str | Proxy] = (
        [name.strip() for name in proxies.split(",") if name.strip()] if isinstance(proxies, str) else list(proxies)
    )
    if not items:
        raise NasError("proxies: name at least one proxy")
    names = [item.name if isinstance(item, Proxy) else item for item in items]
    bad = [item for item in items if not isinstance(item, (str, Proxy))]
    if bad:
        raise NasError(f"proxies must be names or Proxy objects, got {type(bad[0]).__name__}")
    if len(set(names)) != len(names):
        raise NasError(f"a proxy is named twice: {', '.join(names)}")
    stray = sorted(set(settings) - {item for item in items if isinstance(item, str)})
    if stray:
        raise NasError(f"settings name proxy {stray[0]!r}, which is not among the proxies named")
    per_proxy = {name: dict(values) for name, values in settings.items()}
    if precision is not None:
        if precision not in PRECISIONS:
            raise NasError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        with_precision = [n for n in items if isinstance(n, str) and "precision" in PROXIES.get(n).defaults]
        if not with_precision:
            raise NasError(f"precision: none of {', '.join(names)} has a precision setting")
        for name in with_precision:
            per_proxy.setdefault(name, {}).setdefault("precision", precision)
    return {
        (item.name if isinstance(item, Proxy) else item): (
            item if isinstance(item, Proxy) else create_proxy(item, **per_proxy.get(item, {}))
        )
        for item in items
    }


def select(
    space: SearchSpace, arch_strings: Sequence[str] | None, sample: int | None, every: bool, seed: int
) -> list[Architecture]:
    """The architectures named (``arch_strings``), ``sample`` distinct ones drawn with ``seed``, or ``every`` one."""
    if isinstance(arch_strings, str):
        arch_strings = [arch_strings]
    chosen = sum(bool(x) for x in (arch_strings, sample is not None, every))
    if chosen != 1:
        raise NasError("choose the architectures with exactly one of archs, sample=N and all=True")
    if arch_strings:
        return [space.parse(text) for text in arch_strings]
    size = space.size()
    if every:
        if size is None:
            raise NasError(f"space {space.name!r} cannot be enumerated; draw a sample instead")
        return list(space.enumerate())
    assert sample is not None
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1 or (size is not None and sample > size):
        raise NasError(f"sample must be from 1 to {size if size is not None else 'any number'}, got {sample!r}")
    rng = random.Random(seed)
    drawn: dict[str, Architecture] = {}
    for _ in range(100 * sample):
        arch = space.sample(rng)
        drawn.setdefault(space.format(arch), arch)
        if len(drawn) == sample:
            return list(drawn.values())
    raise NasError(f"could not draw {sample} distinct architectures from space {space.name!r}")
