"""``fastiou.set_num_threads`` is process-global: a ThreadPoolExecutor (or Dask) worker's
parallel kernels use it too, on both CPU backends (``numba.set_num_threads`` alone is per thread)."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import fastiou
from fastiou import backends, synthetic
from fastiou.backends import cython as cython_backend
from fastiou.backends import numba_cpu

numba = pytest.importorskip("numba")

TIMEOUT = 60


@pytest.fixture
def restore_threads():
    """Put back fastiou's count and the main thread's Numba count after the test."""
    saved, numba_saved = backends._num_threads, numba.get_num_threads()
    yield
    backends.set_num_threads(saved)
    numba.set_num_threads(numba_saved)


def _in_worker(fn):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=TIMEOUT)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs NUMBA_NUM_THREADS >= 2 to tell 1 apart")
def test_worker_thread_kernels_use_the_count(monkeypatch, restore_threads):
    boxes = synthetic.clustered_boxes(300, seed=2, dtype=np.float64)[0]
    want = fastiou.box_iou(boxes, boxes[::-1])
    seen = []

    def numba_pairwise(*args, **kwargs):  # Numba's kernels run on the calling thread's Numba count
        seen.append(("numba", args[6], numba.get_num_threads()))  # args[6]: parallel
        return real_numba(*args, **kwargs)

    def cython_pairwise(*args):
        seen.append(("cython", True, args[6]))  # args[6]: the thread count
        return real_cython(*args)

    real_numba, real_cython = numba_cpu.pairwise, cython_backend._cy_boxes.pairwise
    monkeypatch.setattr(numba_cpu, "pairwise", numba_pairwise)
    monkeypatch.setattr(cython_backend, "_cy_boxes", types.SimpleNamespace(pairwise=cython_pairwise))
    monkeypatch.setattr(backends, "FORCE_PARALLEL", True)  # every call parallel

    fastiou.set_num_threads(1)

    def work():
        fresh = numba.get_num_threads()  # a new thread starts with Numba's default
        got = [fastiou.box_iou(boxes, boxes[::-1], backend=name) for name in ("numba", "cython")]
        return fresh, fastiou.get_num_threads(), got

    fresh, reported, got = _in_worker(work)
    assert fresh == numba.config.NUMBA_NUM_THREADS  # so the 1 below is fastiou's doing
    assert reported == 1
    assert seen == [("numba", True, 1), ("cython", True, 1)]
    for result in got:
        np.testing.assert_array_equal(result, want)


def test_count_is_shared_by_threads(restore_threads):
    limit = numba.config.NUMBA_NUM_THREADS
    for n in sorted({1, limit}):
        fastiou.set_num_threads(n)
        assert fastiou.get_num_threads() == n
        assert _in_worker(fastiou.get_num_threads) == n
        assert _in_worker(lambda: backends.threads(True)) == n
        assert _in_worker(lambda: backends.threads(False)) == 1


@pytest.mark.parametrize("bad, error", [(0, ValueError), (10**6, ValueError), (True, TypeError),
                                        (2.0, TypeError), ("2", TypeError)])
def test_bad_counts_are_refused(bad, error, restore_threads):
    before = fastiou.get_num_threads()
    with pytest.raises(error, match="n must be"):
        fastiou.set_num_threads(bad)
    assert fastiou.get_num_threads() == before


@pytest.mark.parametrize("env, expected", [({}, "10000"), ({"GOMP_SPINCOUNT": "5"}, "5"),
                                           ({"OMP_WAIT_POLICY": "active"}, "None")])
def test_the_openmp_spin_is_shortened_unless_the_user_chose(env, expected):
    # read by libgomp when it loads: set at import, before any parallel call
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    code = "import os, fastiou; print(os.environ.get('GOMP_SPINCOUNT'))"
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == expected
