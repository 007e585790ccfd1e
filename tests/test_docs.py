"""The documentation site's checks that need no Sphinx: docstrings and the pages' examples.

The site itself is built in .ci/run with warnings as errors (``python -m sphinx -W
--keep-going -b html docs docs/_build/html``), which runs the same docstring check.
"""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
sys.path.insert(0, str(DOCS))
import check_docstrings  # noqa: E402

PAGES = sorted(p for p in DOCS.glob("*.md") if p.name != "README.md" and ">>> " in p.read_text("utf-8"))


def test_every_public_name_has_a_docstring():
    assert check_docstrings.problems() == []


def test_pages_with_examples_are_found():
    assert {"boxes.md", "nms.md", "masks.md", "losses.md", "sparse.md"} <= {p.name for p in PAGES}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_examples(page):
    """Every ``>>>`` example of a page runs and prints what the page says (as pytest runs the README's)."""
    if "import dask" in page.read_text("utf-8"):
        pytest.importorskip("dask.array", reason="the page's Dask examples need the dask extra")
    result = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS,
                              encoding="utf-8", verbose=False)
    assert result.failed == 0, (
        f"{result.failed} of {result.attempted} examples of {page.name} failed (output above)")
