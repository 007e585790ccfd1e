"""The package layout: a light ``import fastiou``, lazy public submodules, and the bench harness apart."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fastiou

PACKAGE = Path(fastiou.__file__).parent


def _run(code: str) -> str:
    """Run ``code`` in a fresh interpreter and return its stdout."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _imports(names, prefix):
    return sorted(m for m in names if m == prefix or m.startswith(prefix + "."))


def test_import_fastiou_is_light():
    modules = json.loads(_run("import json, sys, fastiou; print(json.dumps(sorted(sys.modules)))"))
    for heavy in ("numba", "llvmlite", "scipy", "fastiou.bench", "matplotlib", "dask", "torch"):
        assert _imports(modules, heavy) == [], f"import fastiou imported {heavy}"


def test_public_submodules_are_attributes_imported_on_first_access():
    out = _run("""
        import sys, types
        import numpy as np
        import fastiou

        lazy = ("losses", "masks", "sparse", "matching", "reference", "synthetic", "viz", "bench", "cli",
                "dask")
        assert not [m for m in lazy if f"fastiou.{m}" in sys.modules]
        x = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        y = np.array([0, 2])
        value = fastiou.losses.cross_entropy(x, y)
        assert np.isclose(value, np.mean(fastiou.reference.cross_entropy_loss(x, y))), value
        assert fastiou.losses.smooth_l1_loss(np.zeros(3), np.ones(3)) == 0.5
        assert fastiou.losses.cross_entropy is fastiou.cross_entropy
        assert fastiou.synthetic.clustered_masks(2, height=8, width=8).shape == (2, 8, 8)
        assert callable(fastiou.bench.all_cases) and callable(fastiou.viz.draw_box_pair)
        for name in fastiou._SUBMODULES:
            try:
                module = getattr(fastiou, name)
            except ImportError:
                assert name == "dask"
                continue
            assert isinstance(module, types.ModuleType) and module is sys.modules[f"fastiou.{name}"], name
        assert callable(fastiou.nms)  # the function, not its module
        print("ok")
    """)
    assert out.strip() == "ok"


def test_fastiou_dask_without_dask_names_the_extra():
    out = _run("""
        import sys
        sys.modules["dask"] = None  # as if Dask were not installed
        import fastiou

        try:
            fastiou.dask
        except ImportError as exc:
            print(exc)
    """)
    assert "pip install 'fastiou[dask]'" in out


def test_dir_lists_the_submodules_and_unknown_names_raise_attribute_error():
    assert set(fastiou._SUBMODULES) <= set(dir(fastiou))
    assert not hasattr(fastiou, "no_such_module")
    with pytest.raises(AttributeError, match="no_such_module"):
        fastiou.no_such_module  # noqa: B018


def test_every_public_submodule_is_listed():
    public = {m.name for m in pkgutil.iter_modules([str(PACKAGE)]) if not m.name.startswith("_")}
    assert public == set(fastiou._SUBMODULES) | {"nms"}  # fastiou.nms is the function


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of the fastiou modules that ``path`` imports (statically)."""
    package = ".".join(path.relative_to(PACKAGE.parent).parts[:-1])  # where its relative imports start
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_nothing_but_the_cli_imports_the_bench_harness():
    assert not list(PACKAGE.glob("_bench*.py"))
    outside = [path for path in PACKAGE.rglob("*.py") if path.relative_to(PACKAGE).parts[0] != "bench"]
    importers = [str(p.relative_to(PACKAGE)) for p in outside
                 if _imports(_imported_modules(p), "fastiou.bench")]
    assert importers == ["cli.py"]


def test_every_bench_family_registers_cases():
    from fastiou import bench

    ops = {case.op for case in bench.all_cases(quick=True)}
    for op in ("box_iou", "nms", "mask_iou", "cross_entropy", "sparse_box_iou", "COCOeval"):  # one per family
        assert op in ops
