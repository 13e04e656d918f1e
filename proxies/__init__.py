"""Zero-cost proxies: score a built, untrained model on one batch.

Create one by name with :func:`create_proxy`. A new proxy is one module with a class
decorated ``@register_proxy``; a third-party package registers its own through the entry-point
group ``nas.proxies`` (see the README).
"""

from __future__ import annotations

from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult
from nas.registry import Registry

_BUILTIN = (
    "nas.proxies.epsilon",
    "nas.proxies.synflow",
    "nas.proxies.pruning",
    "nas.proxies.naswot",
    "nas.proxies.jacob_cov",
    "nas.proxies.counts",
    "nas.proxies.das",
    "nas.proxies.meco",
    "nas.proxies.zico",
)

PROXIES: Registry[Proxy] = Registry("proxy", _BUILTIN, entry_point_group="nas.proxies")
register_proxy = PROXIES.register


def create_proxy(name: str, **settings: object) -> Proxy:
    """The proxy registered as ``name`` with ``settings`` overriding its defaults."""
    return PROXIES.create(name, **settings)


__all__ = ["Batch", "Proxy", "ProxyContext", "ProxyResult", "PROXIES", "create_proxy", "register_proxy"]
