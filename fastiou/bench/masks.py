"""Benchmark cases for the mask metrics (see fastiou._bench), and their data.

``mask_iou`` of 100 x 100 masks of 512 x 512 (ellipses in clustered detector
boxes) is timed twice: on dense masks against a NumPy implementation of
supervision's ``mask_iou_batch`` (one broadcast ``N x M x H x W`` logical-and;
supervision itself is used when installed), and on COCO RLE against
``pycocotools.mask.iou`` (the same RLE dicts for both).
``dice`` over ``(16, 4, 512, 512)`` float32 reports the fraction of the
memory-read bandwidth measured in the same run.
"""

from __future__ import annotations

import numpy as np

from . import masks, synthetic
from ._bench import Case, optional

#: Largest ``N * M * H * W`` (bytes of the boolean temporary) for the broadcast baseline.
BROADCAST_LIMIT = 3 * 2**30


def clustered_masks(n: int, *, height: int = 512, width: int = 512, n_objects: int | None = None,
                    seed: int = 0) -> np.ndarray:
    """``(n, height, width)`` bool: an ellipse inside each of ``n`` clustered detector boxes.

    Like :func:`fastiou.synthetic.clustered_boxes`, many masks overlap around a
    few objects (default ``max(1, n // 5)`` objects), the rest of the image is
    empty.

    Examples
    --------
    >>> m = clustered_masks(4, height=32, width=48, seed=1)
    >>> m.shape, m.dtype, bool(m.any(axis=(1, 2)).all())
    ((4, 32, 48), dtype('bool'), True)
    """
    n_objects = max(1, n // 5) if n_objects is None else n_objects
    boxes = synthetic.clustered_boxes(n, n_objects=n_objects, image_size=1.0, seed=seed, dtype=np.float64)[0]
    boxes = boxes * [width, height, width, height]
    out = np.zeros((n, height, width), dtype=bool)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        rx, ry = max((x2 - x1) / 2, 0.5), max((y2 - y1) / 2, 0.5)
        ys = slice(int(max(0, np.floor(cy - ry))), int(min(height, np.ceil(cy + ry))))
        xs = slice(int(max(0, np.floor(cx - rx))), int(min(width, np.ceil(cx + rx))))
        yy = np.arange(ys.start, ys.stop)[:, None] + 0.5
        xx = np.arange(xs.start, xs.stop)[None, :] + 0.5
        out[k, ys, xs] = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    return out


def numpy_mask_iou(masks_true: np.ndarray, masks_detection: np.ndarray) -> np.ndarray:
    """supervision's documented ``mask_iou_batch`` algorithm in NumPy: one broadcast logical-and.

    Allocates the ``N x M x H x W`` boolean intersection (supervision splits it in
    chunks only above 5 GiB).
    """
    intersection = np.logical_and(masks_true[:, None], masks_detection).sum(axis=(2, 3))
    area_true = masks_true.sum(axis=(1, 2))
    area_detection = masks_detection.sum(axis=(1, 2))
    union = area_true[:, None] + area_detection - intersection
    return np.divide(intersection, union, out=np.zeros(intersection.shape), where=union != 0)


def _mask_iou_cases(n: int, size: int) -> list[Case]:
    """Two cases on the same masks: dense input (vs NumPy / supervision) and RLE input (vs pycocotools)."""
    label = f"{n}x{n} masks {size}x{size} clustered"
    data = {}

    def masks_pair():
        if not data:
            both = clustered_masks(2 * n, height=size, width=size, seed=3)
            data["dense"] = both[:n], both[n:]
            data["rle"] = masks.rle_encode(both[:n]), masks.rle_encode(both[n:])
        return data

    def dense_setup():
        dt, gt = masks_pair()["dense"]
        impls = {
            "fastiou[numba]": lambda: masks.mask_iou(dt, gt, backend="numba"),
            "fastiou[cython]": lambda: masks.mask_iou(dt, gt, backend="cython"),
        }
        sv = optional("supervision")
        if n * n * size * size > BROADCAST_LIMIT:
            pass  # the broadcast temporary would not fit: no NumPy / supervision row
        elif sv is not None:
            impls["supervision mask_iou_batch"] = lambda: sv.mask_iou_batch(gt, dt)
        else:
            impls["supervision-style NumPy (broadcast)"] = lambda: numpy_mask_iou(gt, dt)
        return impls

    def rle_setup():
        dt, gt = masks_pair()["rle"]
        impls = {
            "fastiou[numba]": lambda: masks.mask_iou(dt, gt, backend="numba"),
            "fastiou[cython]": lambda: masks.mask_iou(dt, gt, backend="cython"),
        }
        cocomask = optional("pycocotools.mask")
        if cocomask is not None:
            crowd = [0] * n
            impls["pycocotools.mask.iou"] = lambda: cocomask.iou(dt, gt, crowd)
        return impls

    return [Case("mask_iou", label + " dense", n, n * n, "pairs", dense_setup, repeat=5),
            Case("mask_iou", label + " RLE", n, n * n, "pairs", rle_setup, repeat=51)]


def _dice_case(shape: tuple) -> Case:
    elements = int(np.prod(shape))
    label = "x".join(map(str, shape)) + " float32 probabilities vs float32 one-hot"

    def setup():
        rng = np.random.default_rng(4)
        pred = rng.random(shape, dtype=np.float32)
        target = (rng.random(shape, dtype=np.float32) < 0.3).astype(np.float32)
        impls = {
            "fastiou[numba]": lambda: masks.dice(pred, target, reduction="none", backend="numba"),
            "fastiou[cython]": lambda: masks.dice(pred, target, reduction="none", backend="cython"),
            "numpy (sums over H, W)": lambda: _numpy_dice(pred, target),
        }
        torch = optional("torch")
        if torch is not None:
            tp, tt = torch.from_numpy(pred), torch.from_numpy(target)
            impls["torch (sums over H, W)"] = lambda: _torch_dice(torch, tp, tt)
        return impls

    return Case("dice", label, elements, elements, "elements", setup, bytes_read=2 * 4 * elements)


def _numpy_dice(pred, target):
    inter = (pred * target).sum(axis=(-2, -1))
    return 2 * inter / (pred.sum(axis=(-2, -1)) + target.sum(axis=(-2, -1)))


def _torch_dice(torch, pred, target):
    inter = (pred * target).sum(dim=(-2, -1))
    return 2 * inter / (pred.sum(dim=(-2, -1)) + target.sum(dim=(-2, -1)))


def cases(quick: bool, sizes: list[int] | None):
    """The mask cases; ``sizes`` (box counts of the other families) does not apply to masks."""
    out = [case for n in ([50] if quick else [100, 300]) for case in _mask_iou_cases(n, 512)]
    out.append(_dice_case((16, 4, 512, 512)))
    return out
