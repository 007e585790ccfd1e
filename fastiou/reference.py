"""Naive, obviously correct, slow implementations: the test oracle and the benchmarks' baseline.

Plain Python loops in float64, one pair at a time, written from the definitions
and not from the kernels.  Boxes are ``xyxy`` (with the legacy ``offset`` added
to widths and heights).  Nothing here is fast and nothing here is validated.
"""

from __future__ import annotations

import math

import numpy as np


def _box(b, offset=0):
    x1, y1, x2, y2 = (float(v) for v in b)
    return x1, y1, x2 + offset, y2 + offset


def _div(num, den):
    return num / den if den > 0 else 0.0


def pair_metric(a, b, metric="iou", offset=0):
    """One metric between two xyxy boxes: 'iou', 'ioa', 'giou', 'diou' or 'ciou'."""
    ax1, ay1, ax2, ay2 = _box(a, offset)
    bx1, by1, bx2, by2 = _box(b, offset)
    area_a = (ax2 - ax1) * (ay2 - ay1)
    area_b = (bx2 - bx1) * (by2 - by1)
    iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    ih = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    if metric == "ioa":
        return _div(inter, area_a)
    union = area_a + area_b - inter
    iou = _div(inter, union)
    if metric == "iou":
        return iou
    cw = max(ax2, bx2) - min(ax1, bx1)
    ch = max(ay2, by2) - min(ay1, by1)
    if metric == "giou":
        enclosing = cw * ch
        return iou - _div(enclosing - union, enclosing)
    # signed centre differences (the seed notes' max(0, ...) is wrong)
    rho2 = ((ax1 + ax2) / 2 - (bx1 + bx2) / 2) ** 2 + ((ay1 + ay2) / 2 - (by1 + by2) / 2) ** 2
    diou = iou - _div(rho2, cw**2 + ch**2)
    if metric == "diou":
        return diou
    if metric != "ciou":
        raise ValueError(f"unknown metric {metric!r}")
    v = 4 / math.pi**2 * (math.atan2(ax2 - ax1, ay2 - ay1) - math.atan2(bx2 - bx1, by2 - by1)) ** 2
    alpha = _div(v, 1 - iou + v)
    return diou - alpha * v


def pairwise(boxes1, boxes2, metric="iou", offset=0):
    """``(N, M)`` float64 matrix of ``pair_metric`` over every pair."""
    boxes1 = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    boxes2 = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    out = np.zeros((len(boxes1), len(boxes2)))
    for i, a in enumerate(boxes1):
        for j, b in enumerate(boxes2):
            out[i, j] = pair_metric(a, b, metric, offset)
    return out


def aligned(boxes1, boxes2, metric="iou", offset=0):
    """``(N,)`` float64 vector of ``pair_metric(boxes1[i], boxes2[i])``."""
    boxes1 = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    boxes2 = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    return np.array([pair_metric(a, b, metric, offset) for a, b in zip(boxes1, boxes2)], dtype=np.float64)


def box_convert(boxes, in_fmt, out_fmt):
    """Convert between 'xyxy', 'xywh' and 'cxcywh', one box at a time, in float64."""
    rows = []
    for b in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        if in_fmt == "xyxy":
            x1, y1, x2, y2 = b
        elif in_fmt == "xywh":
            x1, y1, x2, y2 = b[0], b[1], b[0] + b[2], b[1] + b[3]
        else:
            x1, y1, x2, y2 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
        if out_fmt == "xyxy":
            rows.append((x1, y1, x2, y2))
        elif out_fmt == "xywh":
            rows.append((x1, y1, x2 - x1, y2 - y1))
        else:
            rows.append(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1))
    return np.array(rows, dtype=np.float64).reshape(-1, 4)
