"""pytest-benchmark suites over the same comparison table as ``fastiou bench``.

Run: ``pytest benchmarks --benchmark-only`` (quick sizes; ``--full`` for the full table).
Each implementation of each case is one benchmark, grouped by case, so that
pytest-benchmark's table shows the implementations side by side.
"""

from __future__ import annotations

import pytest

from fastiou import bench


def pytest_generate_tests(metafunc):
    if "impl" in metafunc.fixturenames:
        full = metafunc.config.getoption("--full")
        params = []
        for case in bench.all_cases(quick=not full):
            impls = case.setup()
            for name, fn in impls.items():
                params.append(pytest.param(case, name, fn, id=f"{case.op}-{case.label}-{name}"))
        metafunc.parametrize("case,impl_name,impl", params)


def test_case(benchmark, case, impl_name, impl):
    benchmark.group = f"{case.op} {case.label}"
    benchmark.extra_info.update(work=case.work, unit=case.unit)
    benchmark(impl)
