"""Sphinx extension: the API reference, generated from fastiou's public names at build time.

On ``builder-inited`` it writes ``api/generated/``: one page per public module (``fastiou``
and each of ``fastiou._SUBMODULES``) with a table of its names and their one-line summaries,
and one page per public object with its ``autofunction`` / ``autoclass`` / ``autodata``. The
names come from ``check_docstrings.public_api`` (``__all__``, or the public functions and
classes a module defines), so a name added to the package appears on the site without
editing the docs, and a public name without a docstring fails the build (a warning, an error
under ``-W``). ``fastiou-api-toctree`` in ``api/index.rst`` lists the module pages.
"""

from __future__ import annotations

import inspect
import os

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

import check_docstrings

logger = logging.getLogger(__name__)

OUT = os.path.join("api", "generated")

#: Titles of the module pages (a module not listed gets its own docstring's first line).
TITLES = {
    "fastiou": "fastiou (the top-level namespace)",
}


def _summary(obj: object) -> str:
    if not (inspect.isclass(obj) or callable(obj) or inspect.ismodule(obj)):
        # a constant: its value (its docstring would be its type's, e.g. dict's)
        text = repr(obj)
        return f"constant ``{text if len(text) <= 70 else text[:67] + '...'}``"
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def _kind(obj: object) -> str:
    if inspect.isclass(obj):
        return "autoclass"
    if callable(obj):
        return "autofunction"
    return "autodata"


def _write(path: str, text: str) -> None:
    """Write only when changed, so that incremental builds stay incremental."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _title(text: str) -> list[str]:
    return [text, "=" * len(text), ""]


def _object_page(entry: check_docstrings.Entry) -> str:
    module, _, name = entry.name.rpartition(".")
    lines = _title(entry.name)
    lines += [f".. currentmodule:: {module}", "", f".. {_kind(entry.obj)}:: {name}"]
    if inspect.isclass(entry.obj):
        lines += ["   :members:", "   :undoc-members:"]
    lines.append("")
    if entry.aliases:
        also = ", ".join(f"``{alias}``" for alias in entry.aliases)
        lines += [f"Also reachable as {also}.", ""]
    return "\n".join(lines)


def _table(rows: list[tuple[str, str, object]]) -> list[str]:
    """A two-column table: each name links to its page, with its one-line summary."""
    lines = [".. list-table::", "   :widths: 35 65", "   :header-rows: 1", "",
             "   * - name", "     - summary"]
    for short, target, obj in rows:
        lines += [f"   * - :py:obj:`{short} <{target}>`", f"     - {_summary(obj) or '(data)'}"]
    return lines + [""]


def _group_title(module_name: str) -> str:
    import importlib

    doc = inspect.getdoc(importlib.import_module(module_name)) or module_name
    return doc.split("\n\n")[0].replace("\n", " ").rstrip(".")


def _module_page(module_name: str, entries: list[check_docstrings.Entry],
                 canonical_of: dict[str, str]) -> str:
    import importlib

    module = importlib.import_module(module_name)
    lines = _title(TITLES.get(module_name, module_name))
    lines += [f".. automodule:: {module_name}", "   :no-members:", ""]
    rows = []
    for name in check_docstrings._module_names(module):
        full = f"{module_name}.{name}"
        rows.append((name, canonical_of.get(full, full), getattr(module, name)))
    if module_name == "fastiou":
        # the top-level namespace, grouped by the public module each name comes from
        groups: dict[str, list] = {}
        for row in rows:
            home = getattr(row[2], "__module__", None) or "fastiou"
            public = [m for m in check_docstrings.public_modules()[1:]
                      if home == m or home.startswith(m + ".")]
            groups.setdefault(public[0] if public else home, []).append(row)
        for home, group in groups.items():
            lines += [f".. rubric:: {_group_title(home)}", ""]
            if home in check_docstrings.public_modules():
                lines += [f"From :py:mod:`{home}`:", ""]
            lines += _table(group)
    elif rows:
        lines += _table(rows)
    if entries:
        lines += [".. toctree::", "   :hidden:", ""]
        lines += [f"   {entry.name}" for entry in entries]
        lines.append("")
    return "\n".join(lines)


def generate(app) -> None:
    out = os.path.join(app.srcdir, OUT)
    os.makedirs(out, exist_ok=True)
    from sphinx.ext.autodoc.mock import mock

    with mock(app.config.autodoc_mock_imports):  # fastiou.dask imports Dask: mocked, as for autodoc
        api = check_docstrings.public_api()
        found = check_docstrings.problems()
    for problem in found:
        logger.warning("public name without documentation: %s", problem, type="fastiou", subtype="docstring")
    wanted = set()
    canonical_of = {}
    for entries in api.values():
        for entry in entries:
            for alias in entry.aliases:
                canonical_of[alias] = entry.name
    for module_name, entries in api.items():
        name = f"module-{module_name}.rst"
        wanted.add(name)
        _write(os.path.join(out, name), _module_page(module_name, entries, canonical_of))
        for entry in entries:
            page = f"{entry.name}.rst"
            wanted.add(page)
            _write(os.path.join(out, page), _object_page(entry))
    for stale in set(os.listdir(out)) - wanted:
        os.remove(os.path.join(out, stale))
    app.env.fastiou_api_aliases = canonical_of


_MISSING = object()


def _object(dotted: str) -> object:
    """The module or object of the fastiou package that ``dotted`` names, or ``_MISSING``."""
    import importlib

    if dotted != "fastiou" and not dotted.startswith("fastiou."):
        return _MISSING
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return _MISSING
        return obj
    return _MISSING


def _lookup(dotted: str) -> bool:
    """Whether ``dotted`` names an existing module or object of the fastiou package."""
    return _object(dotted) is not _MISSING


def resolve_missing(app, env, node, contnode):
    """Resolve what the Python domain could not, or leave it to fail the build.

    A name reachable under several public names (``fastiou.runtime.show_config`` is
    ``fastiou.show_config``) links to the page of its canonical name; a reference to an
    existing private module or helper (``fastiou.backends.numba_cpu``) is shown as code,
    without a link, as the reference has no page.  Anything else (a name that does not
    exist) stays unresolved: a warning, so an error under ``-W``.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    module = node.get("py:module") or ""
    klass = node.get("py:class") or ""
    candidates = [target]
    if module:
        candidates += [f"{module}.{target}"]
        if klass:
            candidates += [f"{module}.{klass}.{target}"]
        parent = module.rpartition(".")[0]
        while parent:  # a short name used in a module docstring, relative to the package
            candidates.append(f"{parent}.{target}")
            parent = parent.rpartition(".")[0]
    documented = node["refdoc"].rpartition("/")[2]
    if node["refdoc"].startswith("api/generated/") and _lookup(documented):
        # a docstring's short name, relative to the module that defines the documented object
        defining = getattr(_object(documented), "__module__", None)
        if defining:
            candidates.append(f"{defining}.{target}")
    aliases = getattr(env, "fastiou_api_aliases", {})
    domain = env.get_domain("py")
    for name in candidates:
        canonical = aliases.get(name)
        if canonical is not None:
            for role in ("func", "class", "obj", "data"):
                ref = domain.resolve_xref(env, node["refdoc"], app.builder, role, canonical, node, contnode)
                if ref is not None:
                    return ref
    for name in candidates:
        if _lookup(name):
            return contnode
    return None


class ApiToctree(SphinxDirective):
    """``{fastiou-api-toctree}``: a toctree of the generated module pages, in package order."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        modules = check_docstrings.public_modules()
        text = [".. toctree::", "   :maxdepth: 1", ""]
        text += [f"   generated/module-{name}" for name in modules]
        container = nodes.container()
        content = StringList(text, source="fastiou-api-toctree")
        self.state.nested_parse(content, self.content_offset, container)
        return container.children


def setup(app):
    app.connect("builder-inited", generate)
    app.connect("missing-reference", resolve_missing)
    app.add_directive("fastiou-api-toctree", ApiToctree)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
