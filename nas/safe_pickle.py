"""A restricted unpickler for the official data files, which are pickles: reading one never runs code.

Python's :mod:`pickle` can call any importable function while it loads (that is how objects
rebuild themselves), so a crafted file could run code merely by being read. The official files
this project reads hold plain data only:

* CIFAR-10 / CIFAR-100 (``cifar-10-batches-py/*``, ``cifar-100-python/*``) and ImageNet16
  (``train_data_batch_*``, ``val_data``): dicts of lists, numbers, byte strings and NumPy arrays;
* NATS-Bench (``*.pickle.pbz2``: the single benchmark file, an archive directory's
  ``meta.pickle.pbz2`` and per-architecture files): nested dicts and lists of numbers and strings.

:func:`load` unpickles such a file allowing only builtin containers and scalars, NumPy arrays,
dtypes and scalars (and the few NumPy and codec functions their pickles use to rebuild them,
:data:`ALLOWED`); anything else is refused with one :class:`~nas.errors.NasError` naming the file
before it can run. NAS-Bench-201's ``.pth`` files are read with ``torch.load(weights_only=True)``,
PyTorch's own restricted unpickler, instead.
"""

from __future__ import annotations

import codecs
import collections
import os
import pickle
from typing import IO, Any, Callable

import numpy as np

from nas.errors import NasError

PathLike = str | os.PathLike[str]


def _encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` restricted to text encodings (protocol-2 pickles spell bytes with latin-1)."""
    if not isinstance(text, str) or codecs.lookup(encoding).name not in _TEXT_CODECS:
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, encoding, errors)


_TEXT_CODECS = {"latin-1", "iso8859-1", "utf-8", "ascii"}


def _bytes(*args: Any) -> bytes:
    """``bytes()`` of pickles (``bytes()``, ``bytes(list_of_ints)``, ``bytes(str, encoding)``), never of a size."""
    if args and isinstance(args[0], int):
        raise pickle.UnpicklingError("refusing bytes(<size>)")
    return bytes(*args)


def _bytearray(*args: Any) -> bytearray:
    if args and isinstance(args[0], int):
        raise pickle.UnpicklingError("refusing bytearray(<size>)")
    return bytearray(*args)


def _numpy_globals() -> dict[tuple[str, str], Callable[..., Any]]:
    multiarray = getattr(np, "_core", None) or np.core  # NumPy 2 moved numpy.core to numpy._core
    found: dict[tuple[str, str], Callable[..., Any]] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    # files written by NumPy 1 name numpy.core, by NumPy 2 numpy._core: accept both spellings
    for package in ("numpy.core", "numpy._core"):
        found[(f"{package}.multiarray", "_reconstruct")] = multiarray.multiarray._reconstruct
        found[(f"{package}.multiarray", "scalar")] = multiarray.multiarray.scalar
        found[(f"{package}.numeric", "_frombuffer")] = multiarray.numeric._frombuffer  # protocol 5
    return found


#: (module, name) -> what the unpickler may call; nothing else is resolved
ALLOWED: dict[tuple[str, str], Callable[..., Any]] = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("builtins", "bytes"): _bytes,
    ("builtins", "bytearray"): _bytearray,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _encode,
    **_numpy_globals(),
}
_PYTHON2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class _Refused(Exception):
    """A global the file asked for that is not in :data:`ALLOWED`."""

    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module = _PYTHON2_MODULES.get(module, module)
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(module, name) from None

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("<persistent id>", _short(repr(pid)))


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def load(
    handle_or_path: PathLike | IO[bytes], *, encoding: str = "ASCII", what: str = "data file", name: str | None = None
) -> Any:
    """The object pickled in a file (a path or a binary file object), allowing only plain data.

    ``encoding`` is as for :func:`pickle.load` (``"bytes"`` for the Python 2 CIFAR files,
    ``"latin1"`` for ImageNet16). ``what`` names the kind of file in messages, ``name`` the file
    (default: the path, or the handle's ``name``). A file that asks
    to call anything outside :data:`ALLOWED`, and any file that is not a readable pickle, raises
    one :class:`NasError` naming the file; no code of the file runs.
    """
    if isinstance(handle_or_path, (str, os.PathLike)):
        name = str(handle_or_path) if name is None else name
        try:
            with open(handle_or_path, "rb") as handle:
                return _load(handle, encoding, what, name)
        except OSError as exc:
            raise NasError(f"cannot read {what} {name!r}: {exc.strerror or exc}") from None
    if name is None:
        name = str(getattr(handle_or_path, "name", "<stream>"))
    return _load(handle_or_path, encoding, what, name)


def _load(handle: IO[bytes], encoding: str, what: str, name: str) -> Any:
    try:
        return _RestrictedUnpickler(handle, encoding=encoding).load()
    except _Refused as refused:
        raise NasError(
            f"refusing to load {what} {name!r}: it asks to run {_short(refused.module)}.{_short(refused.name)}, "
            "which no official file contains (only plain data and NumPy arrays are allowed); it may be crafted"
        ) from None
    except NasError:
        raise
    except OSError as exc:
        raise NasError(f"cannot read {what} {name!r}: {exc.strerror or exc}") from None
    except MemoryError:
        raise NasError(f"cannot read {what} {name!r}: it does not fit in memory") from None
    except RecursionError:
        raise NasError(f"cannot read {what} {name!r}: its data is nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - any failure of a corrupt pickle is a bad file, said in one line
        detail = _short(str(exc).splitlines()[0] if str(exc) else "", 120)
        raise NasError(f"cannot read {what} {name!r}: not a valid pickle ({type(exc).__name__}{': ' + detail if detail else ''})") from None



def numpy_globals() -> list[Any]:
    """The NumPy functions and classes plain-data pickles use, for ``torch.serialization.safe_globals``.

    ``torch.load(weights_only=True)`` refuses NumPy arrays and scalars by default; these (and
    the dtype classes of numbers, booleans and strings, never the object dtype) let a
    ``torch.save`` of plain data with NumPy values load, still without running foreign code.
    """
    functions = {id(v): v for (module, _), v in ALLOWED.items() if module.startswith("numpy")}
    dtypes = {type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDGSUV"}
    return [*functions.values(), *sorted(dtypes, key=lambda t: t.__name__)]
