"""Where the project reads data and keeps its cache.

Data directory: ``--data-dir``, else ``NAS_DATA_DIR``, else ``../shared/data`` if that exists
(the layout of this project's development checkouts). Only `nas import-table` writes
there (the imported table); everything else only reads it, and the cache never lives there.

Cache directory (score store): ``--cache-dir``, else ``NAS_CACHE_DIR``, else
``$XDG_CACHE_HOME/nas`` or ``~/.cache/nas``.
"""

from __future__ import annotations

import os
from pathlib import Path

from nas.errors import NasError


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data directory, checked to exist."""
    if explicit is not None:
        path, source = Path(explicit), "--data-dir"
    elif os.environ.get("NAS_DATA_DIR"):
        path, source = Path(os.environ["NAS_DATA_DIR"]), "NAS_DATA_DIR"
    elif Path("../shared/data").is_dir():
        path, source = Path("../shared/data"), "default ../shared/data"
    else:
        raise NasError("no data directory: pass --data-dir DIR or set NAS_DATA_DIR")
    if not path.is_dir():
        raise NasError(f"data directory {str(path)!r} (from {source}) does not exist")
    return path.resolve()


def data_file(relative: str, explicit_dir: str | os.PathLike[str] | None = None) -> Path:
    """A file inside the data directory, checked to exist."""
    root = data_dir(explicit_dir)
    path = root / relative
    if not path.exists():
        raise NasError(f"missing data file {relative!r} in data directory {str(root)!r}")
    return path


def cache_dir(explicit: str | os.PathLike[str] | None = None, create: bool = True) -> Path:
    """The cache directory, created if needed (unless ``create`` is false: only where it would be)."""
    if explicit is not None:
        path = Path(explicit)
    elif os.environ.get("NAS_CACHE_DIR"):
        path = Path(os.environ["NAS_CACHE_DIR"])
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "nas"
    if not create:
        return path.resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NasError(f"cannot create cache directory {str(path)!r}: {exc.strerror}") from None
    return path.resolve()
