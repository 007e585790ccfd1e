"""Benchmark cases for the mask metrics (see fastiou.bench.runner).

``mask_iou`` of 100 x 100 masks of 512 x 512 (ellipses in clustered detector
boxes: :func:`fastiou.synthetic.clustered_masks`) is timed twice: on dense masks
against a NumPy implementation of supervision's ``mask_iou_batch`` (one broadcast
``N x M x H x W`` logical-and; supervision itself is used when installed), and on
COCO RLE against ``pycocotools.mask.iou`` (the same RLE dicts for both).
``dice`` over ``(16, 4, 512, 512)`` float32 reports the fraction of the
memory-read bandwidth measured in the same run.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

from .. import masks, synthetic
from .runner import Case, has_backend, modes, optional

#: Largest ``N * M * H * W`` (bytes of the boolean temporary) for the broadcast baseline.
BROADCAST_LIMIT = 3 * 2**30


def numpy_mask_iou(masks_true: NDArray[np.bool_], masks_detection: NDArray[np.bool_]) -> NDArray[np.float64]:
    """supervision's documented ``mask_iou_batch`` algorithm in NumPy: one broadcast logical-and.

    Allocates the ``N x M x H x W`` boolean intersection (supervision splits it in
    chunks only above 5 GiB).
    """
    intersection = np.logical_and(masks_true[:, None], masks_detection).sum(axis=(2, 3))
    area_true = masks_true.sum(axis=(1, 2))
    area_detection = masks_detection.sum(axis=(1, 2))
    union = area_true[:, None] + area_detection - intersection
    return np.divide(intersection, union, out=np.zeros(intersection.shape), where=union != 0)


def _fastiou_impls(call: Callable[[Any], Any]) -> dict[str, Callable[[], Any]]:
    """fastiou per CPU backend, and auto with its forced serial and parallel twins.

    ``call(backend)`` takes a backend name (typed Any: ``runner.modes`` passes them as ``str``).
    """
    impls: dict[str, Callable[..., Any]] = {
        f"fastiou[{b}]": (lambda b=b: call(b)) for b in ("numba", "cython") if has_backend(b)
    }
    impls.update(modes(call))
    return impls


def _mask_iou_cases(n: int, size: int) -> list[Case]:
    """Two cases on the same masks: dense input (vs NumPy / supervision) and RLE input (vs pycocotools)."""
    label = f"{n}x{n} masks {size}x{size} clustered"
    data: dict[str, tuple[Any, Any]] = {}  # 'dense': bool arrays, 'rle': lists of RLE dicts

    def masks_pair() -> dict[str, tuple[Any, Any]]:
        if not data:
            both = synthetic.clustered_masks(2 * n, height=size, width=size, seed=3)
            data["dense"] = both[:n], both[n:]
            data["rle"] = masks.rle_encode(both[:n]), masks.rle_encode(both[n:])
        return data

    def dense_setup() -> dict[str, Callable[[], Any]]:
        dt, gt = masks_pair()["dense"]
        impls = _fastiou_impls(lambda backend: masks.mask_iou(dt, gt, backend=backend))
        sv = optional("supervision")
        if n * n * size * size > BROADCAST_LIMIT:
            pass  # the broadcast temporary would not fit: no NumPy / supervision row
        elif sv is not None:
            impls["supervision mask_iou_batch"] = lambda: sv.mask_iou_batch(gt, dt)
        else:
            impls["supervision-style NumPy (broadcast)"] = lambda: numpy_mask_iou(gt, dt)
        return impls

    def rle_setup() -> dict[str, Callable[[], Any]]:
        dt, gt = masks_pair()["rle"]
        impls = _fastiou_impls(lambda backend: masks.mask_iou(dt, gt, backend=backend))
        cocomask = optional("pycocotools.mask")
        if cocomask is not None:
            crowd = [0] * n
            impls["pycocotools.mask.iou"] = lambda: cocomask.iou(dt, gt, crowd)
        return impls

    return [Case("mask_iou", label + " dense", n, n * n, "pairs", dense_setup, repeat=5),
            Case("mask_iou", label + " RLE", n, n * n, "pairs", rle_setup, repeat=51)]


def _dice_case(shape: tuple[int, ...]) -> Case:
    elements = int(np.prod(shape))
    label = "x".join(map(str, shape)) + " float32 probabilities vs float32 one-hot"

    def setup() -> dict[str, Callable[[], Any]]:
        rng = np.random.default_rng(4)
        pred = rng.random(shape, dtype=np.float32)
        target = (rng.random(shape, dtype=np.float32) < 0.3).astype(np.float32)
        impls = _fastiou_impls(lambda backend: masks.dice(pred, target, reduction="none", backend=backend))
        impls["numpy (sums over H, W)"] = lambda: _numpy_dice(pred, target)
        torch = optional("torch")
        if torch is not None:
            tp, tt = torch.from_numpy(pred), torch.from_numpy(target)
            impls["torch (sums over H, W)"] = lambda: _torch_dice(torch, tp, tt)
        return impls

    return Case("dice", label, elements, elements, "elements", setup, bytes_read=2 * 4 * elements)


def _numpy_dice(pred: NDArray[np.float32], target: NDArray[np.float32]) -> NDArray[np.floating[Any]]:
    inter = (pred * target).sum(axis=(-2, -1))
    return 2 * inter / (pred.sum(axis=(-2, -1)) + target.sum(axis=(-2, -1)))


def _torch_dice(torch: Any, pred: Any, target: Any) -> Any:  # torch (optional, untyped here) and tensors
    inter = (pred * target).sum(dim=(-2, -1))
    return 2 * inter / (pred.sum(dim=(-2, -1)) + target.sum(dim=(-2, -1)))


def cases(quick: bool, sizes: list[int] | None) -> list[Case]:
    """The mask cases; ``sizes`` (box counts of the other families) does not apply to masks."""
    out = [case for n in ([50] if quick else [100, 300]) for case in _mask_iou_cases(n, 512)]
    out.append(_dice_case((16, 4, 512, 512)))
    return out
