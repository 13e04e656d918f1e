"""Search spaces: name, sample, mutate and build architectures.

Create one by name with :func:`create_space`; add one by writing a module with a class
decorated ``@register_space`` and listing the module in ``_BUILTIN`` below (or shipping it as
a plugin under the entry-point group ``nas.spaces``).
"""

from __future__ import annotations

from nas.registry import Registry
from nas.spaces.base import Architecture, SearchSpace

_BUILTIN = ("nas.spaces.nb201", "nas.spaces.nb101", "nas.spaces.nlp")

SPACES: Registry[SearchSpace] = Registry("space", _BUILTIN, entry_point_group="nas.spaces")
register_space = SPACES.register


def create_space(name: str) -> SearchSpace:
    """The search space registered as ``name`` (e.g. ``"nb201"``)."""
    return SPACES.create(name)


__all__ = ["Architecture", "SearchSpace", "SPACES", "create_space", "register_space"]
