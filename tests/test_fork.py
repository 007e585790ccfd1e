"""Fork safety: a child made by ``os.fork()`` after parallel work in the parent gets the
parent's results from every family on every CPU backend, serially, never a hang or a kill.

Before the fix, the child of a parent whose OpenMP pool had run was killed ("fork() called
from a process already using GNU OpenMP") on the numba backend and hung on the cython one.
Every wait has a time limit, so that a hang fails the test instead of blocking the run.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastiou
from fastiou import backends, runtime, synthetic

pytestmark = [
    pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs os.fork()"),
    # Python 3.12+ warns when a process with threads (the OpenMP pools) forks: that is the point here
    pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning"),
]

TIMEOUT = 60  # seconds a child may take (they take well under one)


def _data():
    boxes, scores, labels = synthetic.clustered_boxes(400, seed=3, n_objects=12, image_size=256,
                                                      dtype=np.float64)
    others = synthetic.clustered_boxes(300, seed=4, n_objects=12, image_size=256, dtype=np.float64)[0]
    masks = synthetic.clustered_masks(12, height=48, width=40, seed=5)
    return boxes, scores, labels, others, masks


def _results(backend: str) -> dict:
    """One call of each family (box metrics, NMS, masks, RLE, losses, sparse joins)."""
    boxes, scores, labels, others, masks = _data()
    rles = fastiou.rle_encode(masks, backend=backend)
    out = {
        "box_iou": fastiou.box_iou(boxes, others, backend=backend),
        "ciou_aligned": fastiou.complete_box_iou(boxes[:300], others, aligned=True, backend=backend),
        "batched_nms": fastiou.batched_nms(boxes, scores, labels, 0.5, backend=backend),
        "soft_nms": fastiou.soft_nms(boxes, scores, 0.5, idxs=labels, backend=backend),
        "wbf": fastiou.weighted_boxes_fusion([boxes / 256], [scores], [labels], backend=backend),
        "mask_iou": fastiou.mask_iou(masks, masks[::-1], backend=backend),
        "rle_iou": fastiou.mask_iou(rles, rles, backend=backend),
        "rle_decode": fastiou.rle_decode(rles, backend=backend),
        "dice": fastiou.dice(masks, masks[::-1], reduction="none", backend=backend),
    }
    if backend == "numba":  # the families that have the Numba backend only
        out["giou_loss"] = fastiou.generalized_box_iou_loss(boxes[:300], others, reduction="none")
        join = fastiou.sparse_box_iou(boxes, others, 0.3)
        out["sparse"] = (join.indptr, join.indices, join.data)
        out["max_iou"] = fastiou.max_box_iou(boxes, others)
        out["match"] = fastiou.match_boxes(boxes, scores, others, 0.5)
    return out


def _child(backend: str) -> tuple[dict, dict]:
    return _results(backend), dict(backends.fork_serial)


def _assert_same(got, want, where=""):
    if isinstance(want, dict):
        assert got.keys() == want.keys()
        for key in want:
            _assert_same(got[key], want[key], f"{where}{key}")
    elif isinstance(want, tuple):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_same(g, w, f"{where}[{i}]")
    else:
        np.testing.assert_array_equal(got, want, err_msg=where)


@pytest.fixture
def parallel_parent(monkeypatch, backend):
    """The parent runs every family in parallel (its thread pool is then live) and gives the
    results the children must match.  It runs them serially first, so that the children
    find the serial kernels compiled."""
    monkeypatch.setattr(backends, "FORCE_PARALLEL", False)
    serial = _results(backend)
    monkeypatch.setattr(backends, "FORCE_PARALLEL", True)  # every call parallel (the child's too)
    assert backends.select(backend, 1)[1], "the parent must run the parallel kernels"
    parallel = _results(backend)
    _assert_same(serial, parallel)
    return parallel


def test_multiprocessing_fork_pool(parallel_parent, backend):
    pool = multiprocessing.get_context("fork").Pool(2)
    try:
        outcomes = [pool.apply_async(_child, (backend,)) for _ in range(2)]
        for outcome in outcomes:
            results, serial = outcome.get(timeout=TIMEOUT)
            _assert_same(results, parallel_parent)
            assert "cython" in serial
    finally:
        pool.terminate()  # also ends a hung worker
        pool.join()


def test_process_pool_executor(parallel_parent, backend):
    executor = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    try:
        results, serial = executor.submit(_child, backend).result(timeout=TIMEOUT)
        _assert_same(results, parallel_parent)
        assert set(serial) <= {"cython", "numba"} and "cython" in serial
    finally:
        processes = list((executor._processes or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # a hung worker would otherwise block the run
            process.kill()


def test_fork_status_is_shown(monkeypatch):
    assert runtime._fork_status() == "no"
    monkeypatch.setattr(backends, "FORCE_PARALLEL", True)
    boxes = _data()[0]
    fastiou.box_iou(boxes, boxes, backend="cython")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child writes what it reports, and runs serially
        try:
            status = runtime._fork_status()
            parallel = backends.select("cython", 10**9)[1]
            os.write(write, f"{parallel}|{status}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        parallel, status = pipe.read().split("|", 1)
    os.waitpid(pid, 0)
    assert parallel == "False"
    assert status.startswith("yes, serial: cython (OpenMP")


_WORKQUEUE_SCRIPT = textwrap.dedent("""
    import multiprocessing, numpy as np, fastiou
    from fastiou import backends
    backends.FORCE_PARALLEL = True
    b = fastiou.synthetic.clustered_boxes(300, seed=1, dtype=np.float64)[0]
    want = fastiou.box_iou(b, b, backend="numba")

    def child(_):
        return fastiou.box_iou(b, b, backend="numba"), sorted(backends.fork_serial)

    with multiprocessing.get_context("fork").Pool(1) as pool:
        got, serial = pool.apply_async(child, (0,)).get(timeout=60)
    assert np.array_equal(got, want)
    print(serial)
""")


def test_fork_safe_numba_layer_stays_parallel():
    """With NUMBA_THREADING_LAYER=workqueue, a forked child keeps Numba's parallel kernels."""
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue")
    run = subprocess.run([sys.executable, "-c", _WORKQUEUE_SCRIPT], check=False, env=env,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['cython']"
