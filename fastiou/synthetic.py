"""Reproducible synthetic data for benchmarks, demos and tests.

* :func:`clustered_boxes` - what a detector emits before NMS: many jittered
  proposals around a few objects, with scores that peak near each object.
* :func:`scattered_boxes` - independent boxes spread uniformly over an image.
* :func:`degenerate_boxes` - a mix heavy in zero-width, zero-height, point,
  duplicate and touching boxes.
* :func:`clustered_masks` - an ellipse inside each of a detector's clustered boxes.

Every function takes a ``seed``; the box functions return ``xyxy`` boxes of the
given dtype, :func:`clustered_masks` returns ``(N, H, W)`` bool masks.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import DTypeLike, NDArray


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def clustered_boxes(
    n: int,
    *,
    n_objects: int | None = None,
    image_size: float = 1024.0,
    jitter: float = 0.15,
    seed: int = 0,
    dtype: DTypeLike = np.float32,
) -> tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]], NDArray[np.int64]]:
    """``n`` detector-like proposals around ``n_objects`` objects (default ``max(1, n // 50)``).

    Returns
    -------
    boxes : ndarray (n, 4), scores : ndarray (n,), labels : ndarray (n,) int64
        Scores are higher for proposals closer to their object; labels are the
        object's class among 80.

    Examples
    --------
    >>> boxes, scores, labels = clustered_boxes(1000, seed=1)
    >>> boxes.shape, scores.dtype, bool(labels.max() < 80)
    ((1000, 4), dtype('float32'), True)
    """
    rng = _rng(seed)
    n_objects = max(1, n // 50) if n_objects is None else n_objects
    size = rng.uniform(0.02, 0.25, (n_objects, 2)) * image_size
    centre = rng.uniform(0, 1, (n_objects, 2)) * (image_size - size) + size / 2
    classes = rng.integers(0, 80, n_objects)
    owner = rng.integers(0, n_objects, n)
    noise = rng.normal(0, jitter, (n, 4))
    c = centre[owner] + noise[:, :2] * size[owner]
    wh = size[owner] * np.exp(noise[:, 2:])
    boxes = np.concatenate([c - wh / 2, c + wh / 2], axis=1)
    boxes = np.clip(boxes, 0, image_size)
    distance = np.sqrt((noise**2).sum(axis=1))
    scores = np.exp(-distance) * rng.uniform(0.5, 1.0, n)
    return boxes.astype(dtype), scores.astype(dtype), classes[owner].astype(np.int64)


def scattered_boxes(
    n: int,
    *,
    image_size: float = 1024.0,
    min_size: float = 4.0,
    max_size: float = 64.0,
    seed: int = 0,
    dtype: DTypeLike = np.float32,
) -> tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]], NDArray[np.int64]]:
    """``n`` independent boxes uniformly over a square image; returns (boxes, scores, labels).

    Examples
    --------
    >>> boxes, scores, labels = scattered_boxes(10, seed=1)
    >>> bool((boxes[:, 2:] >= boxes[:, :2]).all())
    True
    """
    rng = _rng(seed)
    wh = rng.uniform(min_size, max_size, (n, 2))
    xy = rng.uniform(0, 1, (n, 2)) * (image_size - wh)
    boxes = np.concatenate([xy, xy + wh], axis=1)
    return boxes.astype(dtype), rng.uniform(0, 1, n).astype(dtype), rng.integers(0, 80, n).astype(np.int64)


def degenerate_boxes(
    n: int, *, image_size: float = 64.0, seed: int = 0, dtype: DTypeLike = np.float32
) -> tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]], NDArray[np.int64]]:
    """``n`` boxes, most of them degenerate; returns (boxes, scores, labels).

    A fifth each: zero width, zero height, points, exact duplicates of earlier
    boxes, and ordinary boxes on an integer grid (so many pairs touch exactly).

    Examples
    --------
    >>> boxes, _, _ = degenerate_boxes(100, seed=1)
    >>> int(((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) == 0).sum()) >= 40
    True
    """
    rng = _rng(seed)
    xy = rng.integers(0, int(image_size) - 8, (n, 2)).astype(np.float64)
    wh = rng.integers(1, 8, (n, 2)).astype(np.float64)
    kind = np.arange(n) % 5
    wh[kind == 0, 0] = 0
    wh[kind == 1, 1] = 0
    wh[kind == 2] = 0
    boxes = np.concatenate([xy, xy + wh], axis=1)
    dup = np.flatnonzero(kind == 3)
    if len(dup):
        boxes[dup] = boxes[rng.integers(0, n, len(dup))]
    scores = rng.uniform(0, 1, n)
    return boxes.astype(dtype), scores.astype(dtype), rng.integers(0, 80, n).astype(np.int64)


def clustered_masks(n: int, *, height: int = 512, width: int = 512, n_objects: int | None = None,
                    seed: int = 0) -> NDArray[np.bool_]:
    """``n`` detector-like masks: an ellipse inside each of ``n`` clustered boxes.

    Like :func:`clustered_boxes`, many masks overlap around a few objects; the
    rest of the image is empty.

    Parameters
    ----------
    n : int
        Number of masks.
    height, width : int, default 512
        Image size in pixels.
    n_objects : int, optional
        Objects the masks cluster around (default ``max(1, n // 5)``).
    seed : int, default 0
        Seed of :func:`clustered_boxes`, which places the boxes.

    Returns
    -------
    masks : ndarray (n, height, width) bool
        Mask ``k`` is the ellipse inscribed in box ``k`` (at least one pixel
        across).

    Examples
    --------
    >>> m = clustered_masks(4, height=32, width=48, seed=1)
    >>> m.shape, m.dtype, bool(m.any(axis=(1, 2)).all())
    ((4, 32, 48), dtype('bool'), True)
    """
    n_objects = max(1, n // 5) if n_objects is None else n_objects
    boxes = clustered_boxes(n, n_objects=n_objects, image_size=1.0, seed=seed, dtype=np.float64)[0]
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


#: COCO val2017's share of small / medium / large objects, roughly (41% / 34% / 25%).
_COCO_SIZE_MIX = (0.41, 0.34, 0.25)


def _coco_sides(
    rng: np.random.Generator, n: int, image_h: int, image_w: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Box sides (n, 2) whose areas fall small / medium / large in COCO's proportions."""
    kind = rng.choice(3, size=n, p=_COCO_SIZE_MIX)
    lo = np.array([4.0, 32.0, 96.0])[kind]
    hi = np.array([32.0, 96.0, 0.8 * min(image_h, image_w)])[kind]
    hi = np.maximum(hi, lo + 1)
    side = np.exp(rng.uniform(np.log(lo), np.log(hi)))  # sqrt of the area
    aspect = np.exp(rng.normal(0, 0.4, n))
    w = np.clip(side * np.sqrt(aspect), 1, image_w - 1)
    h = np.clip(side / np.sqrt(aspect), 1, image_h - 1)
    return w, h


def _place(
    rng: np.random.Generator, w: NDArray[np.float64], h: NDArray[np.float64], image_h: int, image_w: int
) -> NDArray[np.float64]:
    x = rng.uniform(0, 1, len(w)) * (image_w - w)
    y = rng.uniform(0, 1, len(h)) * (image_h - h)
    xywh: NDArray[np.float64] = np.stack([x, y, w, h], axis=1)
    return np.round(xywh, 2)


def _ellipse_masks(boxes: NDArray[np.float64], image_h: int, image_w: int) -> NDArray[np.bool_]:
    """(n, H, W) bool: the ellipse inscribed in each xywh box (at least its centre pixel)."""
    out = np.zeros((len(boxes), image_h, image_w), dtype=bool)
    yy = np.arange(image_h)[:, None] + 0.5
    xx = np.arange(image_w)[None, :] + 0.5
    for k, (x, y, w, h) in enumerate(boxes):
        cx, cy, rx, ry = x + w / 2, y + h / 2, max(w / 2, 0.5), max(h / 2, 0.5)
        out[k] = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
        out[k, min(int(cy), image_h - 1), min(int(cx), image_w - 1)] = True
    return out


def coco_like(
    n_images: int = 100,
    *,
    n_categories: int = 80,
    gt_per_image: float = 7.3,
    dets_per_image: int = 100,
    crowd_fraction: float = 0.01,
    iou_type: Literal["bbox", "segm", "keypoints"] = "bbox",
    image_size: tuple[int, int] | None = None,
    n_keypoints: int = 17,
    seed: int = 0,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A COCO-val-like ground truth and detector results, for :mod:`fastiou.coco`.

    Ground truth: ``n_images`` images with a Poisson number of objects (mean
    ``gt_per_image``), boxes whose areas mix small / medium / large about as COCO
    val2017 does, about ``crowd_fraction`` crowd regions, and an ``area`` field
    below the box area (as a mask's is).  Detections: one to three jittered copies
    of each object (sometimes of another category) and false positives up to
    ``dets_per_image`` per image, with scores rounded to two decimals, so that many
    tie.  ``iou_type='segm'`` makes every object and detection an ellipse mask in
    COCO RLE (``counts`` as ``str``, so the data is JSON-ready); ``'keypoints'``
    makes a person-only set with ``n_keypoints`` keypoints per object (some not
    visible, some objects with none).

    Returns
    -------
    gt : dict
        A COCO dataset: ``images``, ``categories``, ``annotations``.
    dets : list of dict
        Results as ``COCO.loadRes`` takes them (``image_id``, ``category_id``,
        ``score`` and ``bbox`` / ``segmentation`` / ``keypoints``).

    Examples
    --------
    >>> gt, dets = coco_like(10, seed=1)
    >>> len(gt['images']), len(gt['categories']), sorted(dets[0])
    (10, 80, ['bbox', 'category_id', 'image_id', 'score'])
    """
    if iou_type not in ("bbox", "segm", "keypoints"):
        raise ValueError(f"iou_type must be 'bbox', 'segm' or 'keypoints', got {iou_type!r}")
    rng = _rng(seed)
    if iou_type == "keypoints":
        n_categories = 1
    if image_size is None:
        image_size = (120, 160) if iou_type == "segm" else (480, 640)
    image_h, image_w = image_size
    images = [{"id": i + 1, "height": image_h, "width": image_w, "file_name": f"{i + 1:012d}.jpg"}
              for i in range(n_images)]
    names = ["person"] if iou_type == "keypoints" else [f"class_{c}" for c in range(n_categories)]
    categories = [{"id": c + 1, "name": names[c], "supercategory": "thing"} for c in range(n_categories)]
    if iou_type == "keypoints":
        categories[0]["keypoints"] = [f"kp_{k}" for k in range(n_keypoints)]
    annotations: list[dict[str, Any]]
    dets: list[dict[str, Any]]
    annotations, dets = [], []
    encode: Any = None  # masks.rle_encode, imported for 'segm' only
    if iou_type == "segm":
        from .masks import rle_encode as encode
    for image in images:
        n_gt = rng.poisson(gt_per_image)
        w, h = _coco_sides(rng, n_gt, image_h, image_w)
        boxes = _place(rng, w, h, image_h, image_w)
        cats = rng.integers(1, n_categories + 1, n_gt)
        crowd = rng.uniform(0, 1, n_gt) < crowd_fraction
        # detections: jittered copies of the objects, then false positives
        owner = np.repeat(np.arange(n_gt), rng.integers(1, 4, n_gt))
        jitter = rng.normal(0, 0.1, (len(owner), 4)) * np.repeat(boxes[owner, 2:], 2, axis=1)
        dboxes = boxes[owner] + jitter
        dcats = np.where(rng.uniform(0, 1, len(owner)) < 0.1, rng.integers(1, n_categories + 1, len(owner)),
                         cats[owner])
        n_fp = max(0, dets_per_image - len(owner))
        fw, fh = _coco_sides(rng, n_fp, image_h, image_w)
        dboxes = np.concatenate([dboxes, _place(rng, fw, fh, image_h, image_w)])
        dcats = np.concatenate([dcats, rng.integers(1, n_categories + 1, n_fp)])
        dboxes[:, 2:] = np.maximum(dboxes[:, 2:], 1)
        dboxes[:, 0] = np.clip(dboxes[:, 0], 0, image_w - dboxes[:, 2])
        dboxes[:, 1] = np.clip(dboxes[:, 1], 0, image_h - dboxes[:, 3])
        dboxes = np.round(dboxes, 2)[:dets_per_image]
        dcats = dcats[:dets_per_image]
        quality = np.concatenate([np.exp(-np.abs(jitter).sum(axis=1) / np.maximum(
            boxes[owner, 2:].sum(axis=1), 1)), rng.uniform(0, 0.6, n_fp)])[:dets_per_image]
        dscores = np.round(np.clip(quality * rng.uniform(0.6, 1.0, len(dboxes)), 0.01, 1), 2)
        base = len(annotations)
        if iou_type == "segm":
            gmasks = _ellipse_masks(boxes, image_h, image_w)
            grles: list[dict[str, Any]] = encode(gmasks)
            drles: list[dict[str, Any]] = encode(_ellipse_masks(dboxes, image_h, image_w))
        for k in range(n_gt):
            ann: dict[str, Any] = {"id": base + k + 1, "image_id": image["id"], "category_id": int(cats[k]),
                   "bbox": boxes[k].tolist(), "iscrowd": int(crowd[k])}
            if iou_type == "segm":
                rle = grles[k]
                ann["segmentation"] = {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}
                ann["area"] = float(gmasks[k].sum())
            else:
                ann["area"] = float(np.round(boxes[k, 2] * boxes[k, 3] * rng.uniform(0.5, 0.9), 2))
            if iou_type == "keypoints":
                x, y, bw, bh = boxes[k]
                kx = np.round(x + rng.uniform(0, 1, n_keypoints) * bw, 1)
                ky = np.round(y + rng.uniform(0, 1, n_keypoints) * bh, 1)
                v = rng.choice(3, n_keypoints, p=(0.3, 0.2, 0.5)) * (rng.uniform() > 0.1)
                kx[v == 0], ky[v == 0] = 0, 0
                ann["keypoints"] = np.stack([kx, ky, v], axis=1).ravel().tolist()
                ann["num_keypoints"] = int(np.count_nonzero(v))
                ann["_kp"] = (kx, ky, v)
            annotations.append(ann)
        for d in range(len(dboxes)):
            det: dict[str, Any] = {"image_id": image["id"], "category_id": int(dcats[d]),
                                   "score": float(dscores[d])}
            if iou_type == "bbox":
                det["bbox"] = dboxes[d].tolist()
            elif iou_type == "segm":
                rle = drles[d]
                det["segmentation"] = {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}
            else:
                x, y, bw, bh = dboxes[d]
                if d < len(owner) and annotations[base + owner[d]]["num_keypoints"] > 0:
                    kx, ky, _ = annotations[base + owner[d]]["_kp"]
                    kx = kx + rng.normal(0, 0.05 * bw, n_keypoints)
                    ky = ky + rng.normal(0, 0.05 * bh, n_keypoints)
                else:
                    kx = x + rng.uniform(0, 1, n_keypoints) * bw
                    ky = y + rng.uniform(0, 1, n_keypoints) * bh
                det["keypoints"] = np.stack([np.round(kx, 1), np.round(ky, 1),
                                             np.ones(n_keypoints)], axis=1).ravel().tolist()
            dets.append(det)
    for ann in annotations:
        ann.pop("_kp", None)
    return {"images": images, "categories": categories, "annotations": annotations}, dets
