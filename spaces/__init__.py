"""Search spaces: name, sample, mutate and build architectures.

Create one by name with :func:`create_space`; add one by writing a module with a class
decorated ``@register_space`` and listing it in ``_BUILTIN`` below (or shipping it as a plugin
under the entry-point group ``nas.spaces``).

Importing this package does not import torch: the space modules are imported on first use,
and ``nas list spaces`` reads the summaries from ``_BUILTIN``.
"""

from __future__ import annotations

from nas.registry import Registry
from nas.spaces.base import Architecture, SearchSpace

#: The built-in spaces: ``name: (module, summary)``; the summary is the first line of the class's
#: docstring, printed by ``nas list spaces`` without importing the module (tests/test_registry.py
#: checks it against the class).
_BUILTIN: dict[str, tuple[str, str]] = {
    "nb201": ("nas.spaces.nb201", "NAS-Bench-201: 5 operations on the 6 edges of a 4-node cell, 15,625 architectures."),
    "nb101": ("nas.spaces.nb101", "The NAS-Bench-101 space (423,624 unique cells; not enumerated here)."),
    "nlp": ("nas.spaces.nlp", "The NAS-Bench-NLP recurrent-cell space (not enumerable)."),
}

SPACES: Registry[SearchSpace] = Registry("space", _BUILTIN, entry_point_group="nas.spaces")
register_space = SPACES.register


def create_space(name: str) -> SearchSpace:
    """The search space registered as ``name`` (e.g. ``"nb201"``)."""
    return SPACES.create(name)


__all__ = ["Architecture", "SearchSpace", "SPACES", "create_space", "register_space"]
