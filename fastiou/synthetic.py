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

import numpy as np


def _rng(seed):
    return np.random.default_rng(seed)


def clustered_boxes(n, *, n_objects=None, image_size=1024.0, jitter=0.15, seed=0, dtype=np.float32):
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


def scattered_boxes(n, *, image_size=1024.0, min_size=4.0, max_size=64.0, seed=0, dtype=np.float32):
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


def degenerate_boxes(n, *, image_size=64.0, seed=0, dtype=np.float32):
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
                    seed: int = 0) -> np.ndarray:
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
