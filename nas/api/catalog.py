"""What the library has, by name: spaces, proxies, strategies, datasets, benchmark tables, models.

The ``list_*`` functions read the registries' tables of names: without plugins installed they
import neither PyTorch nor the modules they list.

Each function takes and returns plain values, validates its arguments with one clear
:class:`~nas.errors.NasError`, and is what the command line's ``nas list`` and ``nas info`` use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import torch.nn as nn

    from nas.proxies.base import Proxy
    from nas.search.base import Strategy
    from nas.spaces.base import Architecture, SearchSpace


def list_spaces() -> list[str]:
    """Names of the registered search spaces (built-in and plugins), e.g. ``["nb101", "nb201", "nlp"]``.

    >>> "nb201" in nas.list_spaces()
    True
    """
    from nas.spaces import SPACES

    return list(SPACES.summaries())


def list_proxies() -> list[str]:
    """Names of the registered zero-cost proxies (built-in and plugins).

    >>> "epsilon" in nas.list_proxies()
    True
    """
    from nas.proxies import PROXIES

    return list(PROXIES.summaries())


def list_strategies() -> list[str]:
    """Names of the registered search strategies, e.g. ``"random"`` and ``"evolution"``."""
    from nas.search import STRATEGIES

    return list(STRATEGIES.summaries())


def list_datasets(space_name: str | None = None) -> list[str]:
    """Names of the datasets ``space_name`` builds networks for (its default first), or of every known dataset.

    >>> nas.list_datasets("nb201")
    ['cifar10', 'cifar100', 'imagenet16-120']
    """
    from nas.datasets import DATASETS

    if space_name is None:
        return list(DATASETS)
    return list(space(space_name).datasets)


def space(name: str) -> SearchSpace:
    """The search space registered as ``name``: it parses, formats, samples, mutates and builds architectures.

    >>> s = nas.space("nb201")
    >>> arch = s.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|")
    >>> s.canonical_id(arch) == s.canonical_id(arch)
    True
    """
    from nas.spaces import create_space

    return create_space(name)


def default_dataset(space_name: str) -> str:
    """The dataset a space uses when none is named: the first of its datasets (``cifar10``, ``ptb``, ...)."""
    return space(space_name).datasets[0]


def proxy(name: str, **settings: Any) -> Proxy:
    """The proxy registered as ``name`` with ``settings`` validated, e.g. ``nas.proxy("epsilon", precision="float64")``.

    An unknown name or setting, or a setting of the wrong type, is a :class:`~nas.errors.NasError`.
    """
    from nas.proxies import create_proxy

    return create_proxy(name, **settings)


def strategy(name: str, **settings: Any) -> Strategy:
    """The search strategy registered as ``name`` with ``settings``, e.g. ``nas.strategy("evolution", population=10)``."""
    from nas.search import create_strategy

    return create_strategy(name, **settings)


def table(space_name: str, dataset: str | None = None, data_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The benchmark table of ``space_name`` for ``dataset`` as a DataFrame: one row per architecture, one column per metric.

    The index is the architecture string (named ``arch``); ``dataset`` defaults to the space's
    first dataset. Looking values up here does not count as training: searches go through an
    :class:`~nas.benchmarks.base.Oracle`, which counts each look-up against the budget.

    >>> t = nas.table("nb201", "cifar10")
    >>> t["test_acc"].max()  # doctest: +SKIP
    94.37333333333333
    """
    import pandas as pd

    from nas.benchmarks import open_table

    name = dataset or default_dataset(space_name)
    benchmark = open_table(space_name, data_dir)
    if name not in benchmark.datasets:
        benchmark.check(name, "")
    metrics = benchmark.metrics(name)
    archs = list(benchmark)
    columns = {metric: [benchmark.lookup(arch, name, metric) for arch in archs] for metric in metrics}
    return pd.DataFrame(columns, index=pd.Index(archs, name="arch"))


def build(space_name: str, arch: str | Architecture, dataset: str | None = None, seed: int | None = 0) -> nn.Module:
    """An untrained ``torch.nn.Module`` of architecture ``arch`` (a string or a parsed one) for ``dataset``.

    ``dataset`` defaults to the space's first dataset. With ``seed`` (the default 0), every
    module is initialised by position as the scorer does
    (:func:`nas.initialisation.build_initialised`), so the model equals the one proxies
    score; ``seed=None`` keeps PyTorch's default initialisation.
    """
    from nas.initialisation import build_initialised

    the_space = space(space_name)
    parsed = the_space.parse(arch) if isinstance(arch, str) else arch
    spec = the_space.dataset_spec(dataset or the_space.datasets[0])
    return the_space.build(parsed, spec) if seed is None else build_initialised(the_space, parsed, spec, seed)
