"""Parallel loops hand out their work in chunks, on demand (Numba: ``numba_cpu.claim``;
Cython: dynamic OpenMP schedules), so that a thread another process deschedules does
not hold the whole region back.  Which thread runs a chunk must not change a result:
every kernel family gives bit-identical results serially and on 1, 2 or more threads,
on inputs of many chunks (the sizes below follow the chunk constants)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastiou
from fastiou import backends, losses, masks, sparse, synthetic
from fastiou.backends import _cost, numba_cpu, numba_cpu_losses, numba_cpu_masks
from fastiou.backends.numba_cpu import claim, new_counter, workers

numba = pytest.importorskip("numba")
nms_module = importlib.import_module("fastiou.nms")

#: Thread counts of the parallel runs: the Cython kernels take any count (more
#: threads than CPUs here); Numba's stop at NUMBA_NUM_THREADS (see the subprocess test).
THREADS = (1, 2, 3)


@pytest.fixture
def restore_threads():
    saved, numba_saved = backends._num_threads, numba.get_num_threads()
    yield
    backends.set_num_threads(saved)
    numba.set_num_threads(numba_saved)


def _runs(fn, backend, monkeypatch):
    """``fn(backend)`` on the serial twins, serially (some kernels: the parallel one on one
    thread, ``_cost.on_one_thread``), then in parallel on each count of THREADS."""
    monkeypatch.setattr(backends, "FORCE_PARALLEL", False)
    with monkeypatch.context() as twins:
        twins.setattr(_cost, "on_one_thread", lambda work, kind: False)
        results = [fn(backend)]
    results.append(fn(backend))
    monkeypatch.setattr(backends, "FORCE_PARALLEL", True)
    for n in THREADS:
        if backend == "numba" and n > numba.config.NUMBA_NUM_THREADS:
            continue
        backends.set_num_threads(n)  # not fastiou's: it caps the count at NUMBA_NUM_THREADS
        results.append(fn(backend))
    return results


def _assert_identical(results):
    first = results[0]
    for other in results[1:]:
        flat_a, flat_b = _flatten(first), _flatten(other)
        assert len(flat_a) == len(flat_b)
        for a, b in zip(flat_a, flat_b):
            a, b = np.asarray(a), np.asarray(b)
            assert a.dtype == b.dtype and a.shape == b.shape
            # bitwise: NaN patterns and signed zeros included
            assert a.tobytes() == b.tobytes()


def _flatten(value):
    if isinstance(value, (tuple, list)):
        return [x for v in value for x in _flatten(v)]
    if isinstance(value, dict):
        return [x for k in sorted(value) for x in _flatten(value[k])]
    if hasattr(value, "indptr"):  # scipy sparse
        return [value.indptr, value.indices, value.data]
    return [value]


# --- inputs: many chunks each -----------------------------------------------------------

N_ROWS = 300
N_COLS = 4 * numba_cpu.PAIR_CHUNK // N_ROWS  # 8 claims of row pairs (Numba), ~10 row chunks (Cython)
N_ALIGNED = 10 * numba_cpu.PAIR_CHUNK + 123


@pytest.fixture(scope="module")
def boxes():
    b1 = synthetic.clustered_boxes(N_ROWS, seed=1)[0]
    b2 = synthetic.clustered_boxes(N_COLS, seed=2)[0]
    aligned = synthetic.clustered_boxes(N_ALIGNED, seed=3)[0]
    return b1, b2, aligned


@pytest.fixture(scope="module")
def mask_sets():
    # 32 x 32: 64 masks per pixel chunk, so 1000 masks make 16 chunks (63 of MASK_CHUNK runs)
    dense = synthetic.clustered_masks(1000, height=32, width=32, seed=3)
    assert dense.shape[0] > 8 * numba_cpu_masks.PIXEL_CHUNK // (32 * 32)
    return dense, masks.rle_encode(dense)


@pytest.mark.parametrize("fn", [fastiou.box_iou, fastiou.box_ioa, fastiou.generalized_box_iou,
                                fastiou.distance_box_iou, fastiou.complete_box_iou])
def test_boxes_pairwise_and_aligned(fn, boxes, backend, monkeypatch, restore_threads):
    b1, b2, aligned = boxes

    def run(name):
        out = np.full((N_ROWS, N_COLS), -7, np.float32)  # every chunk must be written
        fn(b1, b2, out=out, backend=name)
        return out, fn(aligned, aligned[::-1], aligned=True, backend=name)

    results = _runs(run, backend, monkeypatch)
    assert not (results[0][0] == -7).any()
    _assert_identical(results)


def test_nms_family(backend, monkeypatch, restore_threads):
    b, s, labels = synthetic.clustered_boxes(4000, seed=5)
    labels = labels % 37  # classes of very different sizes: chunks of one class each

    def run(name):
        return (nms_module.batched_nms(b, s, labels, 0.5, backend=name),
                nms_module.batched_nms(b, s, labels, 0.5, metric="diou", backend=name),
                nms_module.soft_nms(b, s, 0.3, idxs=labels, method="gaussian", backend=name),
                nms_module.weighted_boxes_fusion([b / 1100, b[::-1] / 1100], [s, s[::-1]],
                                                 [labels, labels[::-1]], backend=name))

    _assert_identical(_runs(run, backend, monkeypatch))


def test_masks_dense_and_rle(mask_sets, backend, monkeypatch, restore_threads):
    dense, rle = mask_sets
    a, b = dense[:40], dense[40:80]  # 40 x 40 pairs: rows in ~13 chunks of MASK_PAIR_CHUNK

    def run(name):
        return (masks.mask_iou(a, b, backend=name), masks.mask_iou(rle[:40], rle[40:80], backend=name),
                masks.mask_iou(dense, dense[::-1], aligned=True, backend=name),
                masks.mask_iou(rle, rle[::-1], aligned=True, backend=name),
                masks.mask_dice(rle[:40], rle[40:80], backend=name),
                masks.rle_encode(dense, backend=name), masks.rle_decode(rle, backend=name),
                fastiou.masks_to_boxes(dense, backend=name))

    _assert_identical(_runs(run, backend, monkeypatch))


def test_dice_partial_sums(backend, monkeypatch, restore_threads):
    rng = np.random.default_rng(0)
    pred = rng.random((3, 2, 300, 300)).astype(np.float32)  # rows of several dice chunks
    target = (rng.random((3, 2, 300, 300)) > 0.5).astype(np.float32)

    def run(name):
        return (masks.dice(pred, target, reduction="none", backend=name),
                masks.dice(pred, target, threshold=0.5, reduction="none", backend=name))

    _assert_identical(_runs(run, backend, monkeypatch))


def test_losses(monkeypatch, restore_threads):
    rng = np.random.default_rng(1)
    n = 13 * numba_cpu_losses.CLAIM + 77  # pointwise: chunks with their own partial sums
    x, t = rng.normal(size=n), rng.normal(size=n)
    logits = rng.normal(size=(5000, 7)).astype(np.float32)
    classes = rng.integers(0, 7, 5000)
    spatial = rng.normal(size=(2, 5, 3000)).astype(np.float32)
    spatial_target = rng.integers(0, 5, (2, 3000))
    sims = rng.normal(size=(600, 600))
    b1 = synthetic.clustered_boxes(3 * numba_cpu_losses.CHUNK + 5, seed=6)[0]
    b2 = b1 + rng.uniform(-3, 3, b1.shape).astype(np.float32)

    def run(_):
        return (losses.mse_loss(x, t, reduction="sum", return_grad=True),
                losses.smooth_l1_loss(x.astype(np.float32), t.astype(np.float32), reduction="mean",
                                      return_grad=True),
                losses.cross_entropy(logits, classes, return_grad=True),
                losses.cross_entropy(spatial, spatial_target, label_smoothing=0.1, return_grad=True),
                losses.contrastive_hinge_loss(sims[:, :300], sims[:, 300:], return_grad=True),
                losses.complete_box_iou_loss(b1, b2, reduction="sum", return_grad=True))

    _assert_identical(_runs(run, "numba", monkeypatch))


def test_sparse(monkeypatch, restore_threads):
    b1 = synthetic.clustered_boxes(3000, seed=7)[0]
    b2 = synthetic.clustered_boxes(2500, seed=8)[0]

    def run(_):
        return (sparse.sparse_box_iou(b1, b2, 0.3), sparse.sparse_box_iou(b1, b2, 0.3, metric="ciou"),
                sparse.sparse_box_iou(b1[:400], b2[:300], -0.5, metric="giou"),
                sparse.max_box_iou(b1, b2), sparse.max_box_iou(b1, b2, metric="diou"))

    _assert_identical(_runs(run, "numba", monkeypatch))


def _visit(visits, step, counter):
    n = visits.shape[0]
    for _ in numba.prange(workers(n, step)):
        lo = claim(counter, step)
        while lo < n:
            for i in range(lo, min(lo + step, n)):
                visits[i] += 1
            lo = claim(counter, step)


def test_numba_claims_hand_out_every_chunk_once():
    """The claim loop of numba_cpu visits each iteration once, serially and in parallel."""
    visits = np.zeros(10_007, np.int64)
    for kernel in (numba.njit(_visit), numba.njit(parallel=True)(_visit)):
        for step in (1, 3, 64, 20_000):
            visits[:] = 0
            kernel(visits, step, new_counter())
            assert (visits == 1).all()


SCRIPT = textwrap.dedent("""
    import numpy as np, fastiou
    from fastiou import backends, losses, synthetic
    b = synthetic.clustered_boxes(600, seed=1)[0]
    x = np.random.default_rng(2).normal(size=300_001)
    def run():
        return (fastiou.box_iou(b, b[::-1], backend="numba"),
                fastiou.box_iou(b, b[::-1], aligned=True, backend="numba"),
                np.float64(losses.mse_loss(x, -x, reduction="sum")))
    backends.FORCE_PARALLEL = False
    want = run()
    backends.FORCE_PARALLEL = True
    for n in (2, 3, 5):
        fastiou.set_num_threads(n)
        assert all(a.tobytes() == b.tobytes() for a, b in zip(want, run())), n
    print("ok")
""")


def test_numba_more_threads_than_cpus():
    """Numba with NUMBA_NUM_THREADS above the CPU count (threads preempt each other)."""
    env = dict(os.environ, NUMBA_NUM_THREADS="5")
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
