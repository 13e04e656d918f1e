"""Name -> class registries for spaces, proxies, strategies and benchmark tables.

Modelled on timm's ``@register_model``: a module registers its class with a decorator, and
the rest of the code creates instances by name. Third-party packages can add entries through
a Python entry point group (for proxies: ``nas.proxies``) without editing this repository.
"""

from __future__ import annotations

import difflib
from importlib import import_module
from importlib.metadata import entry_points
from typing import Callable, Generic, Iterable, TypeVar

from nas.errors import NasError

T = TypeVar("T")


class Registry(Generic[T]):
    """A registry of named classes of one kind.

    ``builtin_modules`` are imported lazily on first use, so importing :mod:`nas` stays cheap;
    ``entry_point_group`` names the entry points of plugins, each pointing at a registered class
    (or at a module that registers classes when imported).
    """

    def __init__(self, kind: str, builtin_modules: Iterable[str] = (), entry_point_group: str | None = None):
        self.kind = kind
        self._builtin_modules = tuple(builtin_modules)
        self._entry_point_group = entry_point_group
        self._entries: dict[str, type[T]] = {}
        self._loaded = False

    def register(self, name: str | type[T] | None = None) -> Callable[[type[T]], type[T]] | type[T]:
        """Class decorator: register ``cls`` under ``name`` (default: ``cls.name``).

        Works bare (``@register_proxy``) and called (``@register_proxy()`` or ``@register_proxy("x")``).
        """
        if isinstance(name, type):
            return self.register(None)(name)  # type: ignore[operator]

        def decorator(cls: type[T]) -> type[T]:
            key = name or getattr(cls, "name", None)
            if not key:
                raise ValueError(f"{cls.__qualname__} has no name to register as a {self.kind}")
            existing = self._entries.get(key)
            if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
                raise ValueError(f"{self.kind} {key!r} is registered twice: {existing} and {cls}")
            self._entries[key] = cls
            return cls

        return decorator

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self._builtin_modules:
            import_module(module)
        if self._entry_point_group:
            for ep in entry_points(group=self._entry_point_group):
                try:
                    loaded = ep.load()
                except Exception as exc:  # a broken plugin must not break the library
                    raise NasError(f"{self.kind} plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
                if isinstance(loaded, type) and ep.name not in self._entries:
                    self.register(ep.name)(loaded)

    def names(self) -> list[str]:
        """All registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def get(self, name: str) -> type[T]:
        """The class registered as ``name``; a :class:`NasError` naming the known ones otherwise."""
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._entries, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise NasError(
                f"unknown {self.kind} {name!r}{hint}; known: {', '.join(sorted(self._entries))}"
            ) from None

    def create(self, name: str, **settings: object) -> T:
        """Instantiate the class registered as ``name`` with ``settings``."""
        return self.get(name)(**settings)  # type: ignore[call-arg]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries
