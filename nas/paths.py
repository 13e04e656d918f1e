"""Where the project reads data and keeps its cache.

Data directory, the first of:

1. ``--data-dir`` (an error if it does not exist);
2. ``$NAS_DATA_DIR`` (an error if it does not exist);
3. ``../shared/data`` next to the working directory, if it exists;
4. ``../shared/data`` next to the source checkout this package runs from (a checkout or an
   editable install; the layout of this project's development checkouts), if it exists, so
   that ``cd docs && nas info ...`` finds the same data as the repository root.

When none is found, the error is one line naming every place tried. Only `nas import-table`
writes there (the imported table); everything else only reads it, and the cache never lives there.

Cache directory (score store): ``--cache-dir``, else ``NAS_CACHE_DIR``, else
``$XDG_CACHE_HOME/nas`` or ``~/.cache/nas``.
"""

from __future__ import annotations

import os
from pathlib import Path

from nas.errors import NasError

#: the default data directory, relative to the working directory and to the source checkout
DEFAULT_DATA = Path("..") / "shared" / "data"
#: how to choose another data directory, the end of every "no data" message
_HOW = "pass --data-dir DIR or set NAS_DATA_DIR"

#: resolved data directory -> how it was found (places tried, the chosen one last), for messages
_FOUND: dict[Path, str] = {}


def repository() -> Path | None:
    """The source checkout this package runs from (checkout or editable install), else ``None``."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "proxies" / "__init__.py").is_file():
        return root
    return None


def _shown(path: Path) -> str:
    """``path`` absolute and normalised (``..`` folded), as messages show it."""
    return os.path.normpath(os.path.abspath(path))


def _default_candidates() -> list[tuple[str, Path]]:
    """``(label, path)`` of the default places, without duplicates."""
    candidates = []
    try:
        candidates.append(("../shared/data next to the working directory", Path.cwd() / DEFAULT_DATA))
    except OSError:  # the working directory was deleted
        pass
    root = repository()
    if root is not None:
        candidates.append((f"../shared/data next to the checkout {root}", root / DEFAULT_DATA))
    unique: dict[str, tuple[str, Path]] = {}
    for label, path in candidates:  # cwd and the checkout are real paths, so folding ".." is safe
        unique.setdefault(_shown(path), (label, Path(_shown(path))))
    return list(unique.values())


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data directory (see the module docstring), checked to exist."""
    tried = []
    if explicit is not None:
        path = Path(explicit)
        if not path.is_dir():
            raise NasError(f"data directory {str(path)!r} (from --data-dir) does not exist")
        return _found(path, "--data-dir")
    tried.append("--data-dir (not given)")
    env = os.environ.get("NAS_DATA_DIR")
    if env:
        path = Path(env)
        if not path.is_dir():
            raise NasError(
                f"data directory {env!r} (from $NAS_DATA_DIR) does not exist; fix or unset NAS_DATA_DIR "
                "(then ../shared/data is tried), or pass --data-dir DIR"
            )
        return _found(path, f"{', '.join(tried)}, $NAS_DATA_DIR")
    tried.append("$NAS_DATA_DIR (not set)" if env is None else "$NAS_DATA_DIR (empty)")
    for label, path in _default_candidates():
        if path.is_dir():
            return _found(path, f"{', '.join(tried)}, {label} ({_shown(path)})")
        tried.append(f"{label} ({_shown(path)}: missing)")
    raise NasError(f"no data directory: tried {', '.join(tried)}; {_HOW}")


def _found(path: Path, how: str) -> Path:
    resolved = path.resolve()
    _FOUND[resolved] = how
    return resolved


def how_found(root: str | os.PathLike[str]) -> str:
    """How data directory ``root`` was chosen (the places tried, the chosen one last), for messages."""
    return _FOUND.get(Path(root).resolve(), "the caller")


def missing_data_file(relative: str | os.PathLike[str], root: str | os.PathLike[str], needed: str = "") -> NasError:
    """The one-line error for data file ``relative`` missing from data directory ``root``.

    It names the file, the directory and how that directory was chosen; ``needed`` says what
    needs the file (e.g. ``"the nb201 table needs ..."``).
    """
    why = f" ({needed})" if needed else ""
    return NasError(
        f"missing data file {str(relative)!r} in data directory {str(root)!r}{why}; data directory from "
        f"{how_found(root)}; {_HOW} to use one that has it"
    )


def data_file(relative: str, explicit_dir: str | os.PathLike[str] | None = None) -> Path:
    """A file inside the data directory, checked to exist."""
    root = data_dir(explicit_dir)
    path = root / relative
    if not path.exists():
        raise missing_data_file(relative, root)
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
