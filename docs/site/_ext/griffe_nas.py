"""Griffe extension for the API reference (loaded by mkdocs.yml; not a page of the site).

It does three things mkdocstrings' Python handler does not do by itself for this project:

1. **Sub-packages mapped from other folders.** ``nas.proxies``, ``nas.spaces``, ``nas.search``
   and ``nas.benchmarks`` live in top-level folders that the installer maps into ``nas``
   (``[tool.setuptools.package-dir]`` in pyproject.toml). Static analysis of an editable
   install or a source checkout only sees ``nas/``, so they are loaded here from their folders
   as sub-packages of ``nas`` (a regular install already has them, and is left alone).
2. **reST in docstrings.** The docstrings use Sphinx roles (``:func:`nas.api.searching.search```,
   ``:class:`~nas.errors.NasError```), ``>>>`` examples and ``::`` literal blocks. Roles become
   cross-references (a link when the target is on the site, plain code otherwise: internals
   such as :mod:`nas.comparing` have no page); examples and literal blocks become code blocks.
   A role whose target does not exist at all (a typo, a renamed object) is logged as a
   warning, so ``mkdocs build --strict`` fails on it.
3. **``#:`` comments** above an attribute (the Sphinx convention) become its docstring.
"""

from __future__ import annotations

import ast
import builtins
import html
import importlib.util
import logging
import re
import sys
from pathlib import Path
from typing import Any, Iterator

import griffe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = None

_log = logging.getLogger("mkdocs.plugins.griffe_nas")

#: the sub-packages mapped into ``nas`` when pyproject.toml cannot be read
_FALLBACK_MAPPING = {"proxies": "proxies", "spaces": "spaces", "search": "search", "benchmarks": "benchmarks"}

_ROLE = re.compile(r":(?:py:)?(func|class|meth|attr|data|mod|exc|obj|const):`(~?)([^`<>]+?)`")
_DOCTEST_DIRECTIVE = re.compile(r"\s*#\s*doctest:.*$")
_LITERAL_INTRO = re.compile(r"(\s?)::$")


class NasDocs(griffe.Extension):
    """Load the mapped sub-packages of ``nas``, translate reST to Markdown, read ``#:`` comments."""

    def __init__(self, root: str = ".", checked: list[str] | None = None) -> None:
        """``checked``: modules whose unresolvable cross-references are warnings (the pages' modules).

        Elsewhere (internal modules that have no page) they are only logged at debug level.
        """
        super().__init__()
        self.root = Path(root).resolve()
        self.checked = tuple(checked or ())

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.name != "nas":
            return
        root = self._root_of(pkg)
        for name, folder in self._mapping(root).items():
            if name not in pkg.members and (folder / "__init__.py").is_file():
                self._attach(pkg, name, folder, loader)
        objects = list(_walk(pkg))
        for obj in objects:
            if obj.is_attribute and obj.docstring is None:
                _comment_docstring(obj, loader)
        public = _public_names(pkg)
        for obj in objects:
            if obj.docstring is not None:
                checked = any(obj.path == name or obj.path.startswith(name + ".") for name in self.checked)
                obj.docstring.value = _markdown(obj.docstring.value, obj, public, checked)

    def _root_of(self, pkg: griffe.Module) -> Path:
        """The project root: the folder above ``nas/`` (else the configured ``root``)."""
        filepath = pkg.filepath
        if isinstance(filepath, Path) and (filepath.parent.parent / "pyproject.toml").is_file():
            return filepath.parent.parent
        return self.root

    @staticmethod
    def _mapping(root: Path) -> dict[str, Path]:
        """``{sub-package name: folder}`` from pyproject.toml's ``[tool.setuptools.package-dir]``."""
        mapping = {name: root / folder for name, folder in _FALLBACK_MAPPING.items()}
        pyproject = root / "pyproject.toml"
        if tomllib is not None and pyproject.is_file():
            package_dir = tomllib.loads(pyproject.read_text("utf-8")).get("tool", {}).get("setuptools", {})
            package_dir = package_dir.get("package-dir", {})
            mapping = {
                key.split(".", 1)[1]: root / value
                for key, value in package_dir.items()
                if key.startswith("nas.") and key.count(".") == 1
            } or mapping
        return mapping

    @staticmethod
    def _attach(pkg: griffe.Module, name: str, folder: Path, loader: griffe.GriffeLoader) -> None:
        """Visit ``folder`` (a flat package) as the sub-package ``nas.<name>``."""

        def visit(module_name: str, path: Path, parent: griffe.Module) -> griffe.Module:
            code = path.read_text(encoding="utf-8-sig")
            loader.lines_collection[path] = code.splitlines(keepends=False)
            module = griffe.visit(
                module_name,
                filepath=path,
                code=code,
                extensions=loader.extensions,
                parent=parent,
                docstring_parser=loader.docstring_parser,
                docstring_options=loader.docstring_options,
                lines_collection=loader.lines_collection,
                modules_collection=loader.modules_collection,
            )
            parent.set_member(module_name, module)
            return module

        package = visit(name, folder / "__init__.py", pkg)
        for path in sorted(folder.glob("*.py")):
            if path.name != "__init__.py" and "." not in path.stem:
                visit(path.stem, path, package)


def _walk(obj: griffe.Object) -> Iterator[griffe.Object]:
    """``obj`` and every object under it, aliases (re-exports) excluded."""
    yield obj
    for member in list(obj.members.values()):
        if not member.is_alias:
            yield from _walk(member)


def _comment_docstring(attr: griffe.Object, loader: griffe.GriffeLoader) -> None:
    """The ``#:`` lines right above ``attr`` become its docstring."""
    path = attr.filepath
    if not isinstance(path, Path) or not attr.lineno:
        return
    if path not in loader.lines_collection:
        loader.lines_collection[path] = path.read_text(encoding="utf-8-sig").splitlines(keepends=False)
    lines = loader.lines_collection[path]
    found: list[str] = []
    index = attr.lineno - 2
    while index >= 0 and lines[index].strip().startswith("#:"):
        found.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    if found:
        text = " ".join(found)
        attr.docstring = griffe.Docstring(
            text[:1].upper() + text[1:],
            lineno=index + 2,
            endlineno=attr.lineno - 1,
            parent=attr,
            parser=loader.docstring_parser,
            parser_options=loader.docstring_options,
        )


def _public_names(pkg: griffe.Module) -> dict[str, str]:
    """``{"nas.score": "nas.api.scores.score", ...}`` from ``nas._API`` (the lazily imported API)."""
    attribute = pkg.members.get("_API")
    if attribute is None or attribute.is_alias or attribute.value is None:
        return {}
    try:
        table = ast.literal_eval(str(attribute.value))
    except (ValueError, SyntaxError):
        return {}
    return {f"nas.{name}": f"{module}.{name}" for name, module in table.items()}


def _markdown(text: str, obj: griffe.Object, public: dict[str, str], checked: bool) -> str:
    """``text`` with its reST (roles, ``>>>`` examples, ``::`` blocks) turned into Markdown."""
    text = _code_blocks(text)
    # roles: only outside code blocks
    parts = re.split(r"(^```.*?^```$)", text, flags=re.MULTILINE | re.DOTALL)
    for index in range(0, len(parts), 2):
        parts[index] = _ROLE.sub(lambda match: _crossref(match, obj, public, checked), parts[index])
    return "".join(parts)


def _code_blocks(text: str) -> str:
    """Fence ``>>>`` examples (up to the next blank line) and the indented block after ``::``."""
    lines = text.split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.lstrip().startswith(">>>"):
            indent = len(line) - len(line.lstrip())
            block = []
            while index < len(lines) and lines[index].strip():
                block.append(_DOCTEST_DIRECTIVE.sub("", lines[index][indent:]))
                index += 1
            if out and out[-1].strip():
                out.append("")
            out += ["```pycon", *block, "```"]
            continue
        intro = _LITERAL_INTRO.search(line)
        if intro and index + 1 < len(lines) and not lines[index + 1].strip():
            base = len(line) - len(line.lstrip())
            end = index + 1
            while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base):
                end += 1
            block_lines = lines[index + 1 : end]
            while block_lines and not block_lines[-1].strip():
                block_lines.pop()
            while block_lines and not block_lines[0].strip():
                block_lines.pop(0)
            body = block_lines
            if body:
                strip = min(_indent(item) for item in body if item.strip())
                prefix = line[: intro.start()]
                out.append(prefix + (":" if intro.group(1) == "" else ""))
                out += ["", "```python", *(item[strip:] for item in body), "```"]
                if end < len(lines):
                    out.append("")
                index = end
                continue
        out.append(line)
        index += 1
    return "\n".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _crossref(match: re.Match[str], obj: griffe.Object, public: dict[str, str], checked: bool) -> str:
    """One role as an optional autoref: a link if the target has a page, plain code otherwise."""
    role, short, target = match.group(1), match.group(2), match.group(3).strip()
    title = target.rsplit(".", 1)[-1] if short else target
    if role in ("func", "meth"):
        title += "()"
    identifier = _resolve(public.get(target, target), obj)
    if identifier is None:
        where = f"{obj.filepath}:{obj.docstring.lineno if obj.docstring else obj.lineno}"
        message = f"griffe_nas: {where}: in {obj.path}: cross-reference target {target!r} not found"
        if checked and not _external(target):
            _log.warning(message)
        else:
            _log.debug(message)
        identifier = target
    return f'<autoref identifier="{html.escape(identifier)}" optional><code>{html.escape(title)}</code></autoref>'


def _resolve(target: str, obj: griffe.Object) -> str | None:
    """The full path of ``target`` as seen from ``obj`` (its scope, then the whole package), or None."""
    collection = obj.modules_collection
    if _exists(target, collection):
        return target
    head, _, rest = target.partition(".")
    try:
        base = obj.resolve(head)
    except griffe.NameResolutionError:
        base = None
    if base is not None:
        full = f"{base}.{rest}" if rest else base
        if _exists(full, collection):
            return full
    # a member a class inherits (e.g. ``open`` in the docstring of a BenchmarkTable subclass)
    scope: griffe.Object | None = obj
    while scope is not None:
        if scope.is_class:
            try:
                member = scope.all_members.get(head)
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                member = None
            if member is not None:
                path = member.target_path if member.is_alias else member.path
                full = f"{path}.{rest}" if rest else path
                if _exists(full, collection):
                    return full
        scope = scope.parent
    # a name of another module (e.g. ``SearchSpace.live_id`` in proxies/base.py): unique in the package
    top = collection.get_member(obj.path.split(".", 1)[0])
    candidates = {
        f"{item.path}.{rest}" if rest else item.path
        for item in _walk(top)
        if item.name == head and (item.is_class or item.is_function or item.is_attribute)
        and item.parent is not None and (item.parent.is_module or item.parent.is_class)
    }
    candidates = {path for path in candidates if _exists(path, collection)}
    return candidates.pop() if len(candidates) == 1 else None


def _external(target: str) -> bool:
    """Whether ``target`` names something outside ``nas`` (``multiprocessing``, ``torch.nn``, a builtin)."""
    head = target.split(".", 1)[0]
    if head == "nas":
        return False
    if hasattr(builtins, head):
        return True
    try:
        return importlib.util.find_spec(head) is not None
    except (ImportError, ValueError):
        return False


def _exists(path: str, collection: griffe.ModulesCollection) -> bool:
    try:
        collection.get_member(path)
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return False
    return True
