"""Shared fixtures: the CPU backends (skipped with the reason when not installed)."""

from __future__ import annotations

import os

import pytest

from fastiou import backends
from fastiou.backends import _cost

CPU_BACKENDS = ("numba", "cython")

# tests/cuda runs in its own pytest run, with NUMBA_ENABLE_CUDASIM=1 set before numba is
# imported (or FASTIOU_TEST_GPU=1 on a machine with a GPU).
if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and os.environ.get("FASTIOU_TEST_GPU") != "1":
    collect_ignore = ["cuda"]


def _backend_param(name):
    try:
        backends.load(name)
        marks = ()
    except ImportError as exc:
        marks = pytest.mark.skip(reason=f"backend {name!r} not installed: {exc}")
    return pytest.param(name, marks=marks, id=name)


@pytest.fixture(params=[_backend_param(name) for name in CPU_BACKENDS])
def backend(request):
    """Each installed CPU backend by name."""
    return request.param


@pytest.fixture(params=["serial", "twin", "parallel"])
def force_parallel(request, monkeypatch):
    """Run the kernels serially (as a serial choice runs them: some on the parallel kernel,
    on one thread), on their serial twins alone (as a forked child runs them), and in
    parallel, whatever the input size."""
    monkeypatch.setattr(backends, "FORCE_PARALLEL", request.param == "parallel")
    if request.param == "twin":
        monkeypatch.setattr(_cost, "on_one_thread", lambda work, kind: False)
    return request.param
