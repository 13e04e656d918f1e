"""Zero-cost proxies: score a built, untrained model on one batch.

Create one by name with :func:`create_proxy`. A new proxy is one module with a class
decorated ``@register_proxy``, listed in ``_BUILTIN`` below; a third-party package registers
its own through the entry-point group ``nas.proxies`` (see the README).

Importing this package does not import torch: the proxy modules are imported on first use,
and ``nas list proxies`` reads the summaries from ``_BUILTIN``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nas.registry import Registry, first_doc_line

if TYPE_CHECKING:
    from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult

#: The built-in proxies: ``name: (module, summary)``, one line each. The summary is what
#: ``nas list proxies`` prints without importing the module: the class's ``summary`` (else the
#: first line of its docstring), then ``[higher is better|lower is better; needs <sorted needs
#: joined by ", ", or nothing>]``. tests/test_registry.py checks every line against its class and
#: prints the exact line to use when one differs.
_BUILTIN: dict[str, tuple[str, str]] = {
    "epsilon": ("nas.proxies.epsilon", "output difference between two constant shared-weight initialisations (Gracheva) [higher is better; needs data]"),
    "epsilon_auto": ("nas.proxies.epsilon_auto", "epsilon with an identity shortcut around cells lacking a parameter-free path (scores all NB201 cells) [higher is better; needs data]"),
    "epsilon_init": ("nas.proxies.epsilon_init", "epsilon's statistic from two random initialisations of one scheme (the epsilon paper's ablation) [higher is better; needs data]"),
    "synflow": ("nas.proxies.synflow", "SynFlow (Tanaka 2020; Abdelfattah 2021): sum |w * dR/dw| of the |w| network on all-ones input, float64 [higher is better; needs gradients]"),
    "fisher": ("nas.proxies.pruning", "Fisher (Turner 2020; Abdelfattah 2021): 0.5*mean(sum a*dL/da)^2 per conv/linear channel (paper: 64) [higher is better; needs data, gradients, labels]"),
    "grad_norm": ("nas.proxies.pruning", "grad_norm (Abdelfattah 2021): sum over layers of ||dL/dW||_2, cross-entropy on a real batch (paper: 64) [higher is better; needs data, gradients, labels]"),
    "grasp": ("nas.proxies.pruning", "GraSP (Wang 2020; Abdelfattah 2021): sum -w * (Hg), Hessian-gradient product, real batch (paper: 64) [higher is better; needs data, gradients, labels]"),
    "snip": ("nas.proxies.pruning", "SNIP (Lee 2019; Abdelfattah 2021): sum |w * dL/dw|, cross-entropy on a real batch (paper: 64) [higher is better; needs data, gradients, labels]"),
    "naswot": ("nas.proxies.naswot", "NASWOT (Mellor 2021): log|det| of the Hamming kernel of binary ReLU codes (paper batch: 128) [higher is better; needs data]"),
    "jacob_cov": ("nas.proxies.jacob_cov", "jacob_cov (Mellor 2020 v1; Abdelfattah 2021): score of the input-Jacobian correlation (batch 64/128) [higher is better; needs data, gradients]"),
    "flops": ("nas.proxies.counts", "multiply-accumulates of one example's forward pass (baseline) [higher is better; needs nothing]"),
    "params": ("nas.proxies.counts", "number of trainable parameters (baseline) [higher is better; needs nothing]"),
    "das": ("nas.proxies.das", "DAS (Liu 2022, as read here): distinguishing ability + units_weight * N log N_A (1.0 = NASWOT) [higher is better; needs data]"),
    "das_da": ("nas.proxies.das", "DAS distinguishing ability (Liu 2022, as read here): log|det(K/N_A)| of the normalised NASWOT kernel [higher is better; needs data]"),
    "das_units": ("nas.proxies.das", "DAS activation units (Liu 2022): number of ReLU units per example (N_A of NASWOT) [higher is better; needs nothing]"),
    "meco": ("nas.proxies.meco", "MeCo (Jiang 2023): sum over layers of min eigenvalue of the channel correlation of one example (paper: 1) [higher is better; needs data]"),
    "zico": ("nas.proxies.zico", "ZiCo (Li 2023): sum over layers of log sum mean|dL/dw|/std(dL/dw) over batch parts (paper: 2 x 128) [higher is better; needs data, gradients, labels]"),
    "az_expressivity": ("nas.proxies.aznas", "AZ-NAS (Lee 2024) expressivity: sum over stages of the entropy of the channel-covariance spectrum (paper: 64) [higher is better; needs data]"),
    "az_progressivity": ("nas.proxies.aznas", "AZ-NAS (Lee 2024) progressivity: min over consecutive stages of the increase of the spectral entropy (paper: 64) [higher is better; needs data]"),
    "az_trainability": ("nas.proxies.aznas", "AZ-NAS (Lee 2024) trainability: mean over stages of 2 - s - 1/s, s the stage Jacobian's spectral norm (paper: 64) [higher is better; needs data, gradients]"),
    "swap": ("nas.proxies.swap", "SWAP (Peng 2024): distinct sample-wise ReLU patterns x exp(-(params-mu)^2/sigma) (paper: 16 images, 32 inits) [higher is better; needs data]"),
    "vkdnw": ("nas.proxies.vkdnw", "VKDNW (Tybl 2025): tensor count + entropy of the Fisher spectrum's deciles on 128 sampled weights (paper: 64) [higher is better; needs data, gradients]"),
}


def describe_proxy(cls: type) -> str:
    """The line ``nas list proxies`` prints for proxy class ``cls``: its summary, direction and needs."""
    direction = "higher is better" if cls.higher_is_better else "lower is better"
    needs = ", ".join(sorted(cls.needs)) or "nothing"
    return f"{cls.summary or first_doc_line(cls)} [{direction}; needs {needs}]"


PROXIES: Registry[Proxy] = Registry("proxy", _BUILTIN, entry_point_group="nas.proxies", describe=describe_proxy)
register_proxy = PROXIES.register


def create_proxy(name: str, **settings: object) -> Proxy:
    """The proxy registered as ``name`` with ``settings`` overriding its defaults."""
    return PROXIES.create(name, **settings)


_LAZY = ("Batch", "Proxy", "ProxyContext", "ProxyResult")


def __getattr__(name: str) -> Any:
    """``Batch``, ``Proxy``, ``ProxyContext``, ``ProxyResult`` from :mod:`nas.proxies.base`, imported on first use."""
    if name in _LAZY:
        from nas.proxies import base

        value = globals()[name] = getattr(base, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Batch", "Proxy", "ProxyContext", "ProxyResult", "PROXIES", "create_proxy", "describe_proxy", "register_proxy"]
