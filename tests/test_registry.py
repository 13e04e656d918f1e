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


# --- built-in tables: listing without importing ------------------------------------------------


@pytest.mark.parametrize("where", ["nas.proxies:PROXIES", "nas.spaces:SPACES", "nas.search:STRATEGIES", "nas.benchmarks:TABLES"])
def test_the_builtin_table_matches_the_registered_classes(where: str) -> None:
    """Every ``_BUILTIN`` line names the module that registers it and the summary its class gives.

    ``nas list`` prints these lines without importing the modules, so they must not drift from the
    classes; on a mismatch the message shows the exact lines to put in ``_BUILTIN``.
    """
    import importlib
    import json

    package_name, attribute = where.split(":")
    package = importlib.import_module(package_name)
    registry: Registry[type] = getattr(package, attribute)
    table = package._BUILTIN
    registry.names()  # imports every built-in module
    modules = set(registry.builtin_modules)
    registered = {name: cls for name, cls in registry._entries.items() if cls.__module__ in modules}
    expected = {name: (cls.__module__, registry.describe(cls)) for name, cls in registered.items()}
    if table != expected:
        lines = "\n".join(
            f"    {json.dumps(name)}: ({json.dumps(module)}, {json.dumps(summary, ensure_ascii=False)}),"
            for name, (module, summary) in expected.items()
        )
        pytest.fail(f"{package_name}._BUILTIN is out of date; it should read:\n{{\n{lines}\n}}")


def test_summaries_import_no_builtin_module_without_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    import nas.registry

    monkeypatch.setattr(nas.registry, "entry_points", lambda group: [])
    registry: Registry[object] = Registry(
        "widget", {"alpha": ("nas_test_module_that_does_not_exist", "Alpha widget.")}, entry_point_group="nas.widgets"
    )

    @registry.register("beta")
    class Beta:
        """Beta widget, registered by hand.

        More text.
        """

    assert registry.summaries() == {"alpha": "Alpha widget.", "beta": "Beta widget, registered by hand."}
    with pytest.raises(ModuleNotFoundError, match="nas_test_module_that_does_not_exist"):
        registry.names()  # only now is the built-in module imported


def test_summaries_describe_plugins_and_warn_once_about_a_broken_one(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from importlib.metadata import EntryPoint

    import nas.registry

    (tmp_path / "nas_test_widget_plugin.py").write_text('class Good:\n    """A good widget.\n\n    Details."""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [
        EntryPoint(name="good", value="nas_test_widget_plugin:Good", group="nas.widgets"),
        EntryPoint(name="broken", value="nas_test_widget_plugin_gone:Broken", group="nas.widgets"),
    ]
    monkeypatch.setattr(nas.registry, "entry_points", lambda group: eps if group == "nas.widgets" else [])
    monkeypatch.setattr(nas.registry, "_WARNED", set())
    registry: Registry[object] = Registry(
        "widget", {"alpha": ("nas.errors", "Alpha widget.")}, entry_point_group="nas.widgets"
    )

    assert registry.summaries() == {"alpha": "Alpha widget.", "good": "A good widget."}
    assert registry.summaries() == {"alpha": "Alpha widget.", "good": "A good widget."}
    err = capsys.readouterr().err
    assert err.count("nas: warning:") == 1 and "widget plugin 'broken' (nas_test_widget_plugin_gone:Broken)" in err
    with pytest.raises(NasError, match="widget plugin 'broken'"):
        registry.get("broken")
