"""fastiou.dask against the in-memory functions, on Dask's local schedulers and a distributed cluster."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="fastiou.dask needs dask[array] (pip install 'fastiou[dask]')")
dask = pytest.importorskip("dask")

import fastiou  # noqa: E402
import fastiou.dask as fdask  # noqa: E402
from fastiou import synthetic  # noqa: E402

METRICS = ("iou", "ioa", "giou", "diou", "ciou")
DENSE = {"iou": fastiou.box_iou, "giou": fastiou.generalized_box_iou}


def _boxes():
    """Two sets over the same objects, in chunks of uneven sizes (x unsorted within a chunk)."""
    b = synthetic.clustered_boxes(1400, seed=11, n_objects=30, image_size=512)[0]
    b1, b2 = b[0::2], b[1::2]
    return b1, b2, da.from_array(b1, chunks=(150, 4)), da.from_array(b2, chunks=((100, 250, 0, 300, 50), (4,)))


def _assert_same_csr(got, want):
    assert got.shape == want.shape and got.dtype == want.dtype
    got = got.tocsr()
    assert np.array_equal(got.indptr, want.indptr)
    assert np.array_equal(got.indices, want.indices)
    assert np.array_equal(got.data, want.data)


def _check_all(scheduler_kwargs):
    b1, b2, d1, d2 = _boxes()
    with dask.config.set(**scheduler_kwargs):
        for metric in ("iou", "giou"):
            dense = fdask.box_iou(d1, d2, metric=metric)
            assert dense.chunks == (d1.chunks[0], d2.chunks[0])
            assert np.array_equal(dense.compute(), DENSE[metric](b1, b2))
            values, indices = fdask.max_box_iou(d1, d2, metric=metric)
            want_v, want_i = fastiou.max_box_iou(b1, b2, metric=metric)
            got_v, got_i = dask.compute(values, indices)
            assert np.array_equal(got_v, want_v) and np.array_equal(got_i, want_i)
        for metric, t in (("iou", 0.5), ("ioa", 0.0), ("ciou", 0.3), ("giou", -0.2)):
            got = fdask.sparse_box_iou(d1, d2, t, metric=metric).compute()
            _assert_same_csr(got, fastiou.sparse_box_iou(b1, b2, t, metric=metric))


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_local_schedulers(scheduler):
    _check_all({"scheduler": scheduler})


def test_distributed_cluster():
    distributed = pytest.importorskip("distributed", reason="needs distributed (pip install 'fastiou[dask]')")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        _check_all({"scheduler": client})


@pytest.mark.parametrize("metric", METRICS)
def test_every_metric_and_format(metric):
    b1, b2, d1, d2 = _boxes()
    xywh1, xywh2 = fastiou.box_convert(b1, "xyxy", "xywh"), fastiou.box_convert(b2, "xyxy", "xywh")
    dx1, dx2 = da.from_array(xywh1, chunks=(300, 4)), da.from_array(xywh2, chunks=(200, 4))
    kw = dict(metric=metric, fmt="xywh", offset=1)
    with dask.config.set(scheduler="sync"):
        _assert_same_csr(fdask.sparse_box_iou(dx1, dx2, 0.4, **kw).compute(),
                         fastiou.sparse_box_iou(xywh1, xywh2, 0.4, **kw))
        got_v, got_i = dask.compute(*fdask.max_box_iou(dx1, dx2, **kw))
        want_v, want_i = fastiou.max_box_iou(xywh1, xywh2, **kw)
        assert np.array_equal(got_v, want_v) and np.array_equal(got_i, want_i)


def test_numpy_input_and_blocks_are_sparse():
    b1, b2, _, _ = _boxes()
    pairs = fdask.sparse_box_iou(b1, b2, 0.5)
    assert pairs.chunks == ((len(b1),), (len(b2),))
    block = pairs.blocks[0].compute(scheduler="sync")
    _assert_same_csr(block, fastiou.sparse_box_iou(b1, b2, 0.5))
    counts = pairs.map_blocks(lambda s: np.diff(s.tocsr().indptr), drop_axis=1, dtype=np.int64,
                              meta=np.empty(0, np.int64)).compute(scheduler="sync")
    assert np.array_equal(counts, np.diff(fastiou.sparse_box_iou(b1, b2, 0.5).indptr))


def test_x_slabs_skip_chunk_pairs_that_cannot_overlap():
    # 30 small images side by side along x, in 6 chunks each: only neighbouring slabs are joined
    b = np.concatenate([synthetic.clustered_boxes(100, seed=t, image_size=64)[0] + np.float32([64 * t, 0, 64 * t, 0])
                        for t in range(30)])
    b = b[np.random.default_rng(0).permutation(len(b))]  # chunks span every x
    b1, b2 = b[0::2], b[1::2]
    pairs = fdask.sparse_box_iou(da.from_array(b1, chunks=(250, 4)), da.from_array(b2, chunks=(250, 4)), 0.5)
    joins = [k for k in dict(pairs.__dask_graph__()) if isinstance(k, str) and k.startswith("_join-")]
    assert 0 < len(joins) < 6 * 6 // 2
    _assert_same_csr(pairs.compute(scheduler="sync"), fastiou.sparse_box_iou(b1, b2, 0.5))


def test_empty_inputs():
    b = np.zeros((0, 4), np.float32)
    full = synthetic.scattered_boxes(10, seed=1)[0]
    with dask.config.set(scheduler="sync"):
        for x, y in ((b, full), (full, b), (b, b)):
            got = fdask.sparse_box_iou(x, y, 0.5).compute()
            assert got.shape == (len(x), len(y)) and got.nnz == 0
            values, indices = dask.compute(*fdask.max_box_iou(x, y))
            want_v, want_i = fastiou.max_box_iou(x, y)
            assert np.array_equal(values, want_v) and np.array_equal(indices, want_i)
            assert fdask.box_iou(x, y).compute().shape == (len(x), len(y))


def test_validation():
    b = da.from_array(np.array([[0, 0, 1, 1]] * 5, np.float32), chunks=2)
    bad = da.from_array(np.array([[0, 0, 1, 1]] * 4 + [[3, 0, 1, 1]], np.float32), chunks=2)
    with pytest.raises(ValueError, match="min_iou"):
        fdask.sparse_box_iou(b, b, 1.5)
    with pytest.raises(ValueError, match="metric"):
        fdask.max_box_iou(b, b, metric="dice")
    with pytest.raises(ValueError, match=r"boxes1 must have shape \(N, 4\)"):
        fdask.box_iou(da.zeros((3, 5), chunks=2), b)
    with pytest.raises(TypeError, match="boxes2"):
        fdask.box_iou(b, da.zeros((3, 4), dtype=complex))
    with pytest.raises(ValueError, match="boxes2 has an invalid box at row 4"):
        fdask.box_iou(b, bad).compute(scheduler="sync")
    with pytest.raises(ValueError, match="boxes1 has an invalid box at row 4"):
        fdask.sparse_box_iou(bad, b, 0.5).compute(scheduler="sync")
    fdask.box_iou(b, bad, validate=False).compute(scheduler="sync")  # unspecified values, no error


def test_import_fastiou_does_not_import_dask():
    code = "import sys, fastiou; assert 'dask' not in sys.modules, 'dask imported'; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
