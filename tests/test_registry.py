"""Registries and proxy settings validate their input with one clear message."""

from __future__ import annotations

import pytest

from nas.errors import NasError
from nas.proxies import PROXIES, create_proxy
from nas.registry import Registry


def test_unknown_name_names_the_known_ones_and_suggests() -> None:
    registry: Registry[object] = Registry("widget")

    @registry.register("alpha")
    class Alpha:
        pass

    assert registry.get("alpha") is Alpha
    with pytest.raises(NasError, match=r"unknown widget 'alpah' \(did you mean 'alpha'\?\); known: alpha"):
        registry.get("alpah")


def test_registering_two_classes_under_one_name_is_an_error() -> None:
    registry: Registry[object] = Registry("widget")
    registry.register("a")(type("First", (), {}))
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("a")(type("Second", (), {}))


def test_builtin_proxies_are_registered() -> None:
    for name in ("epsilon", "synflow", "snip", "grad_norm", "naswot", "fisher", "grasp", "jacob_cov", "params", "flops"):
        assert name in PROXIES.names()


def test_proxy_settings_are_validated_and_converted() -> None:
    proxy = create_proxy("epsilon", precision="float64", weights="1e-5:1")
    assert proxy.settings["precision"] == "float64"
    assert list(proxy.settings["weights"]) == [1e-5, 1.0]
    with pytest.raises(NasError, match="proxy 'epsilon' has no setting 'colour'"):
        create_proxy("epsilon", colour="red")
    with pytest.raises(NasError, match="unknown proxy 'epsilonn'"):
        create_proxy("epsilonn")


def test_register_works_bare_and_called() -> None:
    registry: Registry[object] = Registry("widget")

    @registry.register
    class Bare:
        name = "bare"

    @registry.register()
    class Called:
        name = "called"

    assert registry.names() == ["bare", "called"]
