"""Name -> class registries for spaces, proxies, strategies and benchmark tables.

Modelled on timm's ``@register_model``: a module registers its class with a decorator, and
the rest of the code creates instances by name. Third-party packages can add entries through
a Python entry point group (for proxies: ``nas.proxies``) without editing this repository.

A plugin that fails to load (its import raises, or its class cannot be registered) does not
break the registry: it is reported once per process as a one-line warning on stderr, the
built-ins and the other plugins keep working, and only asking for the broken plugin by name
is an error (a :class:`NasError` naming the plugin and its error).

Built-ins are given as a table ``{name: (module, one-line summary)}``, so that listing them
(:meth:`Registry.summaries`, used by ``nas list``) imports none of their modules, and with them
not torch; ``tests/test_registry.py`` checks every summary against its class. The modules are
imported on the first :meth:`Registry.get`, :meth:`Registry.names` or ``in``.
"""

from __future__ import annotations

import difflib
import sys
from importlib import import_module
from importlib.metadata import entry_points
from typing import Callable, Generic, Iterable, Mapping, TypeVar

from nas.errors import NasError

T = TypeVar("T")

#: (group, entry point name, value) of the broken plugins already reported in this process
_WARNED: set[tuple[str, str, str]] = set()


class Registry(Generic[T]):
    """A registry of named classes of one kind.

    ``builtins`` are the built-in entries as ``{name: (module, summary)}`` (or just the module
    names, when no summaries are known without importing them); their modules are imported
    lazily on first use, so importing :mod:`nas` stays cheap. ``entry_point_group`` names the
    entry points of plugins, each pointing at a registered class (or at a module that registers
    classes when imported). ``describe`` turns a class into its one-line summary (default: the
    first line of its docstring); a built-in's summary in ``builtins`` must equal it.
    """

    def __init__(
        self,
        kind: str,
        builtins: Mapping[str, tuple[str, str]] | Iterable[str] = (),
        entry_point_group: str | None = None,
        describe: Callable[[type[T]], str] | None = None,
    ):
        self.kind = kind
        if isinstance(builtins, Mapping):
            self._builtin_summaries: dict[str, str] | None = {name: summary for name, (_, summary) in builtins.items()}
            self._builtin_modules = tuple(dict.fromkeys(module for module, _ in builtins.values()))
        else:
            self._builtin_summaries = None
            self._builtin_modules = tuple(dict.fromkeys(builtins))
        self._entry_point_group = entry_point_group
        self._describe = describe or first_doc_line
        self._entries: dict[str, type[T]] = {}
        self._broken: dict[str, str] = {}  # entry point name -> why it failed, for plugins that failed to load
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
                    if isinstance(loaded, type) and ep.name not in self._entries:
                        self.register(ep.name)(loaded)
                except Exception as exc:  # a broken plugin must not break the built-ins or other plugins
                    self._plugin_failed(ep.name, ep.value, exc)

    def _plugin_failed(self, name: str, value: str, exc: BaseException) -> None:
        """Remember why plugin ``name`` (entry point ``value``) failed, and warn once per process."""
        error = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line
        message = f"{self.kind} plugin {name!r} ({value}) failed to load: {error}"
        self._broken[name] = message
        seen = (self._entry_point_group or self.kind, name, value)
        if seen not in _WARNED:
            _WARNED.add(seen)
            sys.stderr.write(f"nas: warning: {message}; it is skipped\n")

    @property
    def builtin_modules(self) -> tuple[str, ...]:
        """The modules of the built-in entries, in the order they are imported."""
        return self._builtin_modules

    def describe(self, cls: type[T]) -> str:
        """The one-line summary of ``cls`` that :meth:`summaries` shows."""
        return self._describe(cls)

    def summaries(self) -> dict[str, str]:
        """``{name: one-line summary}`` of every entry, sorted by name.

        Without plugins this imports nothing: built-ins come from their table (registries built
        from bare module names import them). When the entry-point group has plugins, everything
        is loaded as by :meth:`names` (a broken plugin is warned about once and left out) and
        the plugins are described from their classes.
        """
        if self._builtin_summaries is None or self._has_plugins():
            self._load()
        rows = dict(self._builtin_summaries or {})
        for name, cls in self._entries.items():
            if name not in rows:
                rows[name] = self.describe(cls)
        return dict(sorted(rows.items()))

    def _has_plugins(self) -> bool:
        if self._loaded or not self._entry_point_group:
            return False
        return any(True for _ in entry_points(group=self._entry_point_group))

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
            if name in self._broken:
                raise NasError(self._broken[name]) from None
            close = difflib.get_close_matches(name, self._entries, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            broken = f"; plugins that failed to load: {', '.join(sorted(self._broken))}" if self._broken else ""
            raise NasError(
                f"unknown {self.kind} {name!r}{hint}; known: {', '.join(sorted(self._entries))}{broken}"
            ) from None

    def create(self, name: str, **settings: object) -> T:
        """Instantiate the class registered as ``name`` with ``settings``."""
        return self.get(name)(**settings)  # type: ignore[call-arg]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries


def first_doc_line(cls: type) -> str:
    """The first line of ``cls``'s docstring ("" without one)."""
    doc = (cls.__doc__ or "").strip()
    return doc.splitlines()[0].strip() if doc else ""
