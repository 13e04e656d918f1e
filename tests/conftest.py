"""Shared test set-up: real data from ../shared/data and a throw-away cache directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent
_DEFAULT_DATA = REPO.parent / "shared" / "data"

if not os.environ.get("NAS_DATA_DIR") and _DEFAULT_DATA.is_dir():
    os.environ["NAS_DATA_DIR"] = str(_DEFAULT_DATA)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data directory; tests that need it fail loudly when it is missing."""
    path = os.environ.get("NAS_DATA_DIR")
    if not path or not Path(path).is_dir():
        pytest.fail("real data not found: set NAS_DATA_DIR or put the data at ../shared/data")
    return Path(path)


@pytest.fixture(autouse=True, scope="session")
def _single_threaded_torch() -> Iterator[None]:
    """Score in one thread, as the executors' workers do; extra threads only contend for 2 cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own score-store cache directory."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("NAS_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="session")
def build() -> Callable[..., object]:
    """Build an NB201 network for CIFAR-10 from its string, initialised from ``seed``."""
    import torch

    from nas.datasets import dataset_spec
    from nas.spaces import create_space

    space = create_space("nb201")
    spec = dataset_spec("cifar10")

    def make(arch: str, seed: int = 0) -> object:
        torch.manual_seed(seed)
        return space.build(space.parse(arch), spec)

    return make
