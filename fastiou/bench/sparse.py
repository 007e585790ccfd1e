"""Benchmark cases for sparse joins and best matches (see fastiou.bench.runner).

The data keep a detector's density at any size: ``n`` boxes are images of 1000
proposals (:func:`fastiou.synthetic.clustered_boxes`, 20 objects each in a
1024-pixel image) laid side by side on a square grid, so that 1M boxes cover a
32768-pixel square with the density of one image everywhere.  Each image draws
2000 proposals, split alternately into ``boxes1`` and ``boxes2``: two sets of
proposals around the same objects, as a detector's output and another's.
(Scaling ``image_size`` alone would not do: the objects' sizes scale with it.)

The comparison is shapely 2: ``STRtree.query`` of every box of ``boxes1`` against
a tree of ``boxes2`` (the candidate pairs whose bounding boxes intersect), then
the IoU of the candidates with NumPy and the same threshold.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from .. import pairwise, sparse, synthetic
from .runner import Case, modes, optional

PER_IMAGE = 1000
IMAGE_SIZE = 1024.0


def tiled_clustered_boxes(n: int, *, seed: int = 0, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Two sets of ``n`` detector-like boxes at a constant density (see the module)."""
    images = -(-n // PER_IMAGE)
    side = int(np.ceil(np.sqrt(images)))
    parts = []
    for k in range(images):
        boxes = synthetic.clustered_boxes(2 * PER_IMAGE, n_objects=PER_IMAGE // 50, image_size=IMAGE_SIZE,
                                          seed=seed * 1_000_003 + k, dtype=np.float64)[0]
        parts.append(boxes + IMAGE_SIZE * np.array([k % side, k // side, k % side, k // side]))
    boxes = np.concatenate(parts).astype(dtype)
    return np.ascontiguousarray(boxes[0::2][:n]), np.ascontiguousarray(boxes[1::2][:n])


def shapely_join(boxes1: np.ndarray, boxes2: np.ndarray, min_iou: float, shapely,
                 block: int = 100_000) -> scipy.sparse.csr_array:
    """The same join with shapely 2: STRtree candidates, then their IoU with NumPy.

    ``boxes1`` goes through the tree ``block`` boxes at a time, so that the
    candidate pairs (all the bounding-box overlaps) fit in memory.
    """
    tree = shapely.STRtree(shapely.box(*boxes2.T))
    rows, cols, values = [], [], []
    for lo in range(0, len(boxes1), block):
        i, j = tree.query(shapely.box(*boxes1[lo:lo + block].T))
        a, b = boxes1[lo + i].astype(np.float64), boxes2[j].astype(np.float64)
        iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
        ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
        inter = iw * ih
        union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        keep = iou > min_iou
        rows.append(lo + i[keep])
        cols.append(j[keep])
        values.append(iou[keep])
    return scipy.sparse.csr_array((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                                  shape=(len(boxes1), len(boxes2)))


def tiled_max(boxes1: np.ndarray, boxes2: np.ndarray, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Best matches from the dense kernel, ``block`` rows at a time (bounded memory, every pair)."""
    values = np.empty(len(boxes1), np.float32)
    indices = np.empty(len(boxes1), np.int64)
    out = np.empty((block, len(boxes2)), np.float32)
    for lo in range(0, len(boxes1), block):
        tile = pairwise.box_iou(boxes1[lo:lo + block], boxes2, out=out[:len(boxes1[lo:lo + block])])
        values[lo:lo + block] = tile.max(axis=1)
        indices[lo:lo + block] = tile.argmax(axis=1)
    return values, indices


def _join_case(n: int, min_iou: float = 0.5) -> Case:
    def setup():
        b1, b2 = tiled_clustered_boxes(n, seed=1)
        impls = modes(lambda backend: sparse.sparse_box_iou(b1, b2, min_iou))  # Numba only
        shapely = optional("shapely")
        if shapely is not None:
            impls["shapely 2 (STRtree.query + NumPy IoU)"] = lambda: shapely_join(b1, b2, min_iou, shapely)
        if n <= 10_000:
            def dense():
                iou = pairwise.box_iou(b1, b2)
                iou[iou <= min_iou] = 0
                return scipy.sparse.csr_array(iou)

            impls["dense box_iou, then threshold"] = dense
        return impls

    return Case("sparse_box_iou", f"{n}x{n} tiled clustered float32, min_iou {min_iou}", n, 2 * n, "boxes",
                setup, repeat=3 if n > 10_000 else 7)


def _best_case(n: int) -> Case:
    def setup():
        b1, b2 = tiled_clustered_boxes(n, seed=2)
        impls = modes(lambda backend: sparse.max_box_iou(b1, b2))
        if n <= 100_000:
            impls["fastiou box_iou in 2048-row tiles, then max/argmax"] = lambda: tiled_max(b1, b2)
        if n <= 10_000:
            torch, ops = optional("torch"), optional("torchvision.ops")
            if torch is not None and ops is not None:
                t1, t2 = torch.from_numpy(b1), torch.from_numpy(b2)
                impls["torchvision box_iou, then max"] = lambda: ops.box_iou(t1, t2).max(dim=1)
        return impls

    return Case("max_box_iou", f"{n}x{n} tiled clustered float32", n, 2 * n, "boxes", setup,
                repeat=3 if n > 10_000 else 7)


def cases(quick: bool, sizes: list[int] | None):
    if sizes is None:
        sizes = [4_000] if quick else [10_000, 100_000]
    out = []
    for n in sizes:
        out.append(_join_case(n))
        out.append(_best_case(n))
    return out
