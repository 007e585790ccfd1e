"""The Dask example of docs/sparse.md: a sparse IoU join of two sets of boxes on a ``distributed.LocalCluster``.

Run: ``python benchmarks/dask_join.py --images 10000`` joins 10M x 10M boxes (the
figure of docs/sparse.md); the default, 1000 images, joins 1M x 1M in minutes on a laptop.
Each image holds 1000 detector-like proposals per set around 20 objects
(``fastiou.synthetic.clustered_boxes``); the images lie on a square grid of
1024-pixel tiles, and the boxes are chunked by 1000 images, so every chunk spans
the whole x range and the join must redistribute them into x-slabs.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def images(first: int, count: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """The two sets of boxes of images ``first`` to ``first + count - 1``, in place on the grid."""
    from fastiou.synthetic import clustered_boxes

    sets = ([], [])
    for k in range(first, first + count):
        boxes = clustered_boxes(2000, n_objects=20, image_size=1024, seed=k, dtype=np.float64)[0]
        boxes += 1024 * np.array([k % side, k // side, k % side, k // side])
        sets[0].append(boxes[0::2])
        sets[1].append(boxes[1::2])
    return tuple(np.concatenate(s).astype(np.float32) for s in sets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000, help="images of 1000 boxes per set")
    parser.add_argument("--per-chunk", type=int, default=100, help="images per chunk")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--check", action="store_true", help="compare with the in-memory join")
    args = parser.parse_args()
    os.environ["NUMBA_NUM_THREADS"] = "1"  # one thread per worker process: Dask runs the tasks in parallel

    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    import fastiou.dask

    side = int(np.ceil(np.sqrt(args.images)))
    chunks = [dask.delayed(images)(first, min(args.per_chunk, args.images - first), side)
              for first in range(0, args.images, args.per_chunk)]
    sizes = [1000 * min(args.per_chunk, args.images - first) for first in range(0, args.images, args.per_chunk)]
    boxes1 = da.concatenate([da.from_delayed(c[0], (s, 4), np.float32) for c, s in zip(chunks, sizes)])
    boxes2 = da.concatenate([da.from_delayed(c[1], (s, 4), np.float32) for c, s in zip(chunks, sizes)])

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster):
        t0 = time.perf_counter()
        boxes1, boxes2 = dask.persist(boxes1, boxes2)  # generate once: the join reads the boxes twice
        dask.compute(boxes1.sum(), boxes2.sum())
        t1 = time.perf_counter()
        pairs = fastiou.dask.sparse_box_iou(boxes1, boxes2, 0.5)
        per_box = pairs.map_blocks(lambda block: np.diff(block.indptr), drop_axis=1, dtype=np.int64,
                                   meta=np.empty(0, np.int64))
        total = int(per_box.sum().compute())
        t2 = time.perf_counter()
        print(f"{boxes1.shape[0]} x {boxes2.shape[0]} boxes, {boxes1.numblocks[0]} chunks each, "
              f"{args.workers} workers: {total} pairs with IoU > 0.5; "
              f"data {t1 - t0:.1f} s, join {t2 - t1:.1f} s")
        if args.check:
            b1, b2 = dask.compute(boxes1, boxes2)
            expected = fastiou.sparse_box_iou(b1, b2, 0.5)
            same = (pairs.compute() != expected).nnz == 0
            print(f"equal to the in-memory join: {same}")


if __name__ == "__main__":
    main()
