"""Check that every public name of fastiou has a docstring that numpydoc reads as written.

``python docs/check_docstrings.py`` exits 1 and lists the names that fail. The public names
are the ones the API reference documents (``docs/_ext/fastiou_api.py`` uses
:func:`public_api` below): ``fastiou.__all__`` and, for every public submodule
(``fastiou._SUBMODULES``), its ``__all__`` or else the functions and classes defined in it
whose names do not start with an underscore. Every function or class needs a docstring, and
every function of ``fastiou.__all__`` an ``Examples`` section (the doctests run in pytest);
a numpydoc section header (``Returns``, ``Examples``, ...) must follow a blank line, or
numpydoc renders it as part of the section before.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # document this checkout's fastiou, not an installed copy
    sys.path.insert(0, str(ROOT))


@dataclass
class Entry:
    """One public object: the name it is documented under, and where it is reachable."""

    name: str          # canonical dotted name, e.g. 'fastiou.box_iou' or 'fastiou.viz.draw_boxes'
    obj: object
    module: str        # the public module it is listed under ('fastiou', 'fastiou.losses', ...)
    aliases: list[str]  # other public modules that expose the same object


def _module_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return [
        name for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and getattr(value, "__module__", None) == module.__name__
    ]


def public_modules() -> list[str]:
    """``'fastiou'`` and its public submodules, in the order of ``fastiou._SUBMODULES``."""
    import fastiou

    return ["fastiou"] + [f"fastiou.{name}" for name in fastiou._SUBMODULES]


def public_api() -> dict[str, list[Entry]]:
    """Public module name -> its entries (each object documented once, under its first name)."""
    import fastiou

    seen: dict[int, Entry] = {}
    result: dict[str, list[Entry]] = {}
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        entries = result.setdefault(module_name, [])
        for name in _module_names(module):
            obj = getattr(module, name)
            key = id(obj)
            if key in seen and (callable(obj) or inspect.ismodule(obj)):
                seen[key].aliases.append(f"{module_name}.{name}")
                continue
            entry = Entry(f"{module_name}.{name}", obj, module_name, [])
            seen[key] = entry
            entries.append(entry)
    del fastiou
    return result


SECTIONS = ("Parameters", "Returns", "Yields", "Receives", "Other Parameters", "Raises", "Warns",
            "Warnings", "See Also", "Notes", "References", "Examples", "Attributes", "Methods")


def section_problems(doc: str) -> list[str]:
    """numpydoc sections that numpydoc would not see: a header not preceded by a blank line.

    (Such a header, e.g. ``Returns`` glued to the last parameter, is read as part of the
    previous section and rendered as a parameter named 'Returns'.)
    """
    lines = doc.splitlines()
    out = []
    for i in range(1, len(lines) - 1):
        header, rule = lines[i].strip(), lines[i + 1].strip()
        if header in SECTIONS and rule and set(rule) == {"-"} and lines[i - 1].strip():
            out.append(f"section {header!r} does not follow a blank line")
    return out


def problems() -> list[str]:
    """One line per public name that lacks a docstring (or, in ``fastiou.__all__``, an example)."""
    out = []
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        if not inspect.getdoc(module):
            out.append(f"{module_name}: the module has no docstring")
    for module_name, entries in public_api().items():
        for entry in entries:
            if not (inspect.isfunction(entry.obj) or inspect.isclass(entry.obj) or callable(entry.obj)):
                continue  # data (constants, tables): documented by the module
            doc = entry.obj.__doc__
            if not doc or not doc.strip():
                out.append(f"{entry.name}: no docstring")
                continue
            example = "Examples\n" in inspect.getdoc(entry.obj)
            if module_name == "fastiou" and inspect.isfunction(entry.obj) and not example:
                out.append(f"{entry.name}: the docstring has no Examples section")
            out += [f"{entry.name}: {problem}" for problem in section_problems(inspect.getdoc(entry.obj))]
    return out


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    total = sum(len(entries) for entries in public_api().values())
    if found:
        print(f"{len(found)} of {total} public names fail the docstring check")
        return 1
    print(f"docstrings: all {total} public names documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
