"""Sphinx configuration of fastiou's documentation site.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` (warnings are errors:
a broken cross-reference or a public name without a docstring fails the build).
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)                         # this checkout's fastiou
sys.path.insert(0, os.path.join(HERE, "_ext"))  # fastiou_api (the generated API reference)
sys.path.insert(0, HERE)                         # check_docstrings (shared with the API generator)

import fastiou  # noqa: E402

project = "fastiou"
author = "fastiou developers"
copyright = "fastiou developers, MIT licence"
version = release = fastiou.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "fastiou_api",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# README.md describes this folder to its developers; it is not a page of the site
exclude_patterns = ["_build", "README.md", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# Every cross-reference must resolve: fastiou's own names are checked; names of other
# projects (there is no network at build time, hence no intersphinx) are let through.
nitpicky = True
_OTHER_PACKAGES = ("numpy", "np", "scipy", "dask", "da", "distributed", "matplotlib", "torch", "torchvision",
                   "typing", "collections", "argparse", "os", "pathlib", "numba", "cupy")
_OTHER_NAMES = ("ndarray", "array_like", "array-like", "ArrayLike", "NDArray", "DTypeLike", "Any", "Iterable",
                "Iterator", "Sequence", "Mapping", "Callable", "Literal", "Union", "Optional", "TypeAlias",
                "Self",
                "Axes", "Figure", "csr_array", "optional", "default")
_BUILTINS = ("int", "float", "str", "bool", "bytes", "dict", "list", "tuple", "object", "None", "type",
             "callable", "complex", "slice", "Ellipsis")
nitpick_ignore_regex = [
    (r"py:.*", rf"({'|'.join(_OTHER_PACKAGES)})(\..*)?"),
    (r"py:.*", rf"({'|'.join(_OTHER_NAMES + _BUILTINS)})"),
]

# autodoc imports fastiou (and Numba, SciPy: what fastiou itself imports); the optional
# libraries are mocked, so that building the site needs neither them nor a GPU
autodoc_mock_imports = ["torch", "torchvision", "cupy", "dask", "distributed", "matplotlib", "PIL"]
autodoc_typehints = "signature"
# show numpy.typing's aliases by name, not expanded into their long unions
autodoc_type_aliases = {
    alias: f"numpy.typing.{name}"
    for name in ("ArrayLike", "NDArray", "DTypeLike")
    for alias in (name, f"npt.{name}", f"numpy.typing.{name}")
}
autodoc_member_order = "bysource"
autodoc_default_options = {"members": False}
autosummary_generate = False  # fastiou_api writes the pages itself, from the public names

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# GL08: a documented object without a docstring is a warning, so an error under -W
numpydoc_validation_checks = {"GL08"}

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = f"fastiou {release}"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"
# a valid default mode: without one the theme logs "Got invalid theme mode" as a console error
html_context = {"default_mode": "auto"}
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_css_files = ["fastiou.css"]
# the guide pages are the top level of the navigation: no left sidebar; the API pages keep theirs
html_sidebars = {"*": []}
html_show_sourcelink = False
html_copy_source = False
