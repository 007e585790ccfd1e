"""Reproducible synthetic data for benchmarks, demos and tests.

* :func:`clustered_boxes` - what a detector emits before NMS: many jittered
  proposals around a few objects, with scores that peak near each object.
* :func:`scattered_boxes` - independent boxes spread uniformly over an image.
* :func:`degenerate_boxes` - a mix heavy in zero-width, zero-height, point,
  duplicate and touching boxes.

Every function takes a ``seed`` and returns ``xyxy`` boxes of the given dtype.
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
