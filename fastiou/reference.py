"""Naive, obviously correct, slow implementations: the test oracle and the benchmarks' baseline.

Plain Python loops in float64, one pair at a time, written from the definitions
and not from the kernels.  Boxes are ``xyxy`` (with the legacy ``offset`` added
to widths and heights).  Nothing here is fast and nothing here is validated.
"""

from __future__ import annotations

import math
from typing import (Any, Iterable, Literal, Mapping, Optional, Sequence, SupportsFloat, SupportsInt, Tuple,
                    Union)

import numpy as np
from numpy.typing import ArrayLike, NDArray

# One box's four numbers (a row of an array, a tuple, a list), read with float().
_Box = Iterable[SupportsFloat]
_BoxTuple = Tuple[float, float, float, float]
_Metric = Literal["iou", "ioa", "giou", "diou", "ciou"]


def _box(b: _Box, offset: float = 0) -> _BoxTuple:
    x1, y1, x2, y2 = (float(v) for v in b)
    return x1, y1, x2 + offset, y2 + offset


def _div(num: float, den: float) -> float:
    return num / den if den > 0 else 0.0


def pair_metric(a: _Box, b: _Box, metric: _Metric = "iou", offset: float = 0) -> float:
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


def pairwise(
    boxes1: ArrayLike, boxes2: ArrayLike, metric: _Metric = "iou", offset: float = 0
) -> NDArray[np.float64]:
    """``(N, M)`` float64 matrix of ``pair_metric`` over every pair."""
    boxes1 = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    boxes2 = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    out = np.zeros((len(boxes1), len(boxes2)))
    for i, a in enumerate(boxes1):
        for j, b in enumerate(boxes2):
            out[i, j] = pair_metric(a, b, metric, offset)
    return out


def aligned(
    boxes1: ArrayLike, boxes2: ArrayLike, metric: _Metric = "iou", offset: float = 0
) -> NDArray[np.float64]:
    """``(N,)`` float64 vector of ``pair_metric(boxes1[i], boxes2[i])``."""
    boxes1 = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    boxes2 = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    return np.array([pair_metric(a, b, metric, offset) for a, b in zip(boxes1, boxes2)], dtype=np.float64)


def box_convert(
    boxes: ArrayLike,
    in_fmt: Literal["xyxy", "xywh", "cxcywh"],
    out_fmt: Literal["xyxy", "xywh", "cxcywh"],
) -> NDArray[np.float64]:
    """Convert between 'xyxy', 'xywh' and 'cxcywh', one box at a time, in float64."""
    rows: list[_BoxTuple] = []
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


# --- masks -------------------------------------------------------------------


def mask_overlap(
    masks1: ArrayLike,
    masks2: ArrayLike,
    metric: Literal["iou", "dice"] = "iou",
    iscrowd: Optional[Union[Sequence[object], NDArray[Any]]] = None,
) -> NDArray[np.float64]:
    """``(N, M)`` float64 'iou' or 'dice' of every pair of binary masks, pixel by pixel.

    ``iscrowd[j]`` (pycocotools) makes pair ``(i, j)`` an intersection over the
    area of ``masks1[i]``.  A zero denominator gives 0.
    """
    masks1 = np.asarray(masks1).astype(bool)
    masks2 = np.asarray(masks2).astype(bool)
    out = np.zeros((len(masks1), len(masks2)))
    for i, a in enumerate(masks1):
        for j, b in enumerate(masks2):
            inter = area_a = area_b = 0
            for pa, pb in zip(a.ravel().tolist(), b.ravel().tolist()):
                inter += pa and pb
                area_a += pa
                area_b += pb
            if metric == "dice":
                num, den = 2 * inter, area_a + area_b
            elif iscrowd is not None and iscrowd[j]:
                num, den = inter, area_a
            else:
                num, den = inter, area_a + area_b - inter
            out[i, j] = num / den if den > 0 else 0.0
    return out


def rle_runs(mask: ArrayLike) -> list[int]:
    """COCO's runs of one ``(H, W)`` mask: column-major, starting with a (maybe empty) background run."""
    runs: list[int] = []
    current, length = 0, 0
    for value in np.asarray(mask).astype(bool).T.ravel().tolist():
        if value != current:
            runs.append(length)
            current, length = value, 0
        length += 1
    runs.append(length)
    return runs


def rle_string(runs: Sequence[int]) -> bytes:
    """COCO's compressed counts (pycocotools' ``rleToString``), one character at a time."""
    chars = []
    for i, x in enumerate(runs):
        if i > 2:
            x -= runs[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            chars.append(c + 48)
    return bytes(chars)


def rle_string_runs(counts: bytes) -> list[int]:
    """Inverse of :func:`rle_string` (pycocotools' ``rleFrString``)."""
    runs: list[int] = []
    p = 0
    while p < len(counts):
        more: int  # a flag bit, tested for truth
        x, k, more = 0, 0, True
        while more:
            c = counts[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = c & 0x20
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs


def rle_decode(rle: Mapping[str, Any]) -> NDArray[np.bool_]:
    """One ``(H, W)`` bool mask from a COCO RLE dict (compressed or uncompressed)."""
    h, w = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    runs = rle_string_runs(counts) if isinstance(counts, bytes) else list(counts)
    flat: list[bool] = []
    for i, n in enumerate(runs):
        flat.extend([i % 2 == 1] * n)
    return np.array(flat, dtype=bool).reshape(w, h).T


def masks_to_boxes(masks: Union[NDArray[Any], Sequence[ArrayLike]]) -> NDArray[np.float64]:
    """``(N, 4)`` float64 xyxy boxes of binary masks (inclusive last row/column); empty -> zeros."""
    boxes = np.zeros((len(masks), 4))
    for k, mask in enumerate(np.asarray(masks).astype(bool)):
        ys = [y for y in range(mask.shape[0]) if mask[y].any()]
        xs = [x for x in range(mask.shape[1]) if mask[:, x].any()]
        if ys:
            boxes[k] = (xs[0], ys[0], xs[-1], ys[-1])
    return boxes


def dice(pred: ArrayLike, target: ArrayLike, smooth: float = 0.0, empty_score: float = 1.0) -> float:
    """The Dice coefficient of two arrays of the same shape: ``(2 sum(p t) + s) / (sum(p) + sum(t) + s)``."""
    inter = psum = tsum = 0.0
    for p, t in zip(np.asarray(pred, dtype=np.float64).ravel().tolist(),
                    np.asarray(target, dtype=np.float64).ravel().tolist()):
        inter += p * t
        psum += p
        tsum += t
    den = psum + tsum + smooth
    return (2 * inter + smooth) / den if den != 0 else empty_score


# --- losses (per-sample loops in float64) ------------------------------------------


def _log_softmax_row(row: Sequence[float]) -> list[float]:
    m = max(row)
    lse = m + math.log(sum(math.exp(v - m) for v in row))
    return [v - lse for v in row]


def cross_entropy_loss(
    logits: ArrayLike,
    target: Iterable[SupportsInt],
    weight: Optional[Iterable[SupportsFloat]] = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
) -> NDArray[np.float64]:
    """Per-sample cross-entropy of ``(N, C)`` logits and class indices (PyTorch's formula)."""
    logits = np.asarray(logits, dtype=np.float64)
    n_classes = logits.shape[1]
    w = [1.0] * n_classes if weight is None else [float(v) for v in weight]
    out = []
    for row, y in zip(logits, target):
        y = int(y)
        if y == ignore_index:
            out.append(0.0)
            continue
        logp = _log_softmax_row(list(row))
        smooth = sum(-w[c] * logp[c] for c in range(n_classes))
        out.append((1 - label_smoothing) * -w[y] * logp[y] + label_smoothing / n_classes * smooth)
    return np.array(out, dtype=np.float64)


def softmax_focal_loss(
    logits: ArrayLike,
    target: Iterable[SupportsInt],
    alpha: Optional[ArrayLike] = None,
    gamma: float = 2.0,
    ignore_index: int = -100,
) -> NDArray[np.float64]:
    """Per-sample ``-alpha_y (1 - p_y)^gamma log p_y`` of ``(N, C)`` logits."""
    logits = np.asarray(logits, dtype=np.float64)
    out = []
    for row, y in zip(logits, target):
        y = int(y)
        if y == ignore_index:
            out.append(0.0)
            continue
        logp = _log_softmax_row(list(row))[y]
        a = 1.0 if alpha is None else float(np.broadcast_to(alpha, (len(row),))[y])
        out.append(-a * (1 - math.exp(logp)) ** gamma * logp)
    return np.array(out, dtype=np.float64)


def sigmoid_focal_loss(
    inputs: ArrayLike, targets: ArrayLike, alpha: float = 0.25, gamma: float = 2.0
) -> NDArray[np.float64]:
    """Elementwise RetinaNet focal loss, torchvision's formula written out."""
    out = []
    for x, t in zip(np.asarray(inputs, dtype=np.float64).ravel(), np.asarray(targets, dtype=np.float64).ravel()):
        p = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
        ce = max(x, 0) - x * t + math.log1p(math.exp(-abs(x)))
        p_t = p * t + (1 - p) * (1 - t)
        loss = ce * (1 - p_t) ** gamma
        if alpha >= 0:
            loss *= alpha * t + (1 - alpha) * (1 - t)
        out.append(loss)
    return np.array(out, dtype=np.float64).reshape(np.shape(inputs))


def crammer_singer_hinge(
    scores: ArrayLike, labels: Iterable[SupportsInt], margin: float = 1.0
) -> NDArray[np.float64]:
    """Per-sample ``max(0, margin + max_{j != y} f_j - f_y)``."""
    out = []
    for row, y in zip(np.asarray(scores, dtype=np.float64), labels):
        others = max(v for j, v in enumerate(row) if j != int(y))
        out.append(max(0.0, margin + others - row[int(y)]))
    return np.array(out, dtype=np.float64)


def contrastive_hinge(
    im: ArrayLike, s: ArrayLike, margin: float = 0.2, max_violation: bool = False
) -> NDArray[np.float64]:
    """Per-pair VSE / VSE++ hinge: row ``i`` and column ``i`` of ``im @ s.T`` against ``S[i, i]``."""
    sim = np.asarray(im, dtype=np.float64) @ np.asarray(s, dtype=np.float64).T
    n = sim.shape[0]
    out = []
    for i in range(n):
        rows = [max(0.0, margin + sim[i, j] - sim[i, i]) for j in range(n) if j != i]
        cols = [max(0.0, margin + sim[j, i] - sim[i, i]) for j in range(n) if j != i]
        if max_violation:
            out.append(max(rows, default=0.0) + max(cols, default=0.0))
        else:
            out.append(sum(rows) + sum(cols))
    return np.array(out, dtype=np.float64)


def box_loss(
    a: _Box, b: _Box, kind: Literal["iou", "giou", "diou", "ciou"] = "giou", eps: float = 1e-7
) -> float:
    """torchvision's IoU-family loss of one box pair, with ``eps`` in every denominator."""
    ax1, ay1, ax2, ay2 = (float(v) for v in a)
    bx1, by1, bx2, by2 = (float(v) for v in b)
    iw = min(ax2, bx2) - max(ax1, bx1)
    ih = min(ay2, by2) - max(ay1, by1)
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    iou = _div(inter, union + eps)
    loss = 1 - iou
    if kind == "iou":
        return loss
    cw = max(ax2, bx2) - min(ax1, bx1)
    ch = max(ay2, by2) - min(ay1, by1)
    if kind == "giou":
        return loss + _div(cw * ch - union, cw * ch + eps)
    rho2 = ((ax1 + ax2) / 2 - (bx1 + bx2) / 2) ** 2 + ((ay1 + ay2) / 2 - (by1 + by2) / 2) ** 2
    loss += _div(rho2, cw**2 + ch**2 + eps)
    if kind == "diou":
        return loss
    v = 4 / math.pi**2 * (math.atan2(bx2 - bx1, by2 - by1) - math.atan2(ax2 - ax1, ay2 - ay1)) ** 2
    return loss + _div(v, 1 - iou + v + eps) * v


# --- NMS family ---------------------------------------------------------------------


def _rank(scores: ArrayLike) -> tuple[list[int], list[float]]:
    """Indices by decreasing score, ties by lower index."""
    scores = [float(s) for s in np.asarray(scores).reshape(-1)]
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i)), scores


def nms(
    boxes: ArrayLike, scores: ArrayLike, iou_threshold: float, metric: _Metric = "iou", offset: float = 0
) -> NDArray[np.int64]:
    """Greedy NMS over every pair: keep the best box, drop those with metric > threshold, repeat."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order, _ = _rank(scores)
    suppressed = [False] * len(order)
    keep = []
    for a, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        for j in order[a + 1:]:
            if not suppressed[j] and pair_metric(boxes[i], boxes[j], metric, offset) > iou_threshold:
                suppressed[j] = True
    return np.array(keep, dtype=np.int64)


def batched_nms(
    boxes: ArrayLike,
    scores: ArrayLike,
    idxs: ArrayLike,
    iou_threshold: float,
    metric: _Metric = "iou",
    offset: float = 0,
) -> NDArray[np.int64]:
    """:func:`nms` on each class separately, merged by decreasing score (ties: lower index)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    idxs = np.asarray(idxs).reshape(-1)
    kept: list[np.intp] = []
    for c in np.unique(idxs):
        members = np.flatnonzero(idxs == c)
        kept.extend(members[nms(boxes[members], scores[members], iou_threshold, metric, offset)])
    return np.array(sorted(kept, key=lambda i: (-scores[i], i)), dtype=np.int64)


def soft_nms(
    boxes: ArrayLike,
    scores: ArrayLike,
    iou_threshold: float = 0.3,
    sigma: float = 0.5,
    score_threshold: float = 1e-3,
    method: Literal["linear", "gaussian", "hard"] = "linear",
    idxs: Optional[ArrayLike] = None,
    offset: float = 0,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Soft-NMS per class: pick the best, decay the others by their IoU with it, drop low scores.

    Returns (indices, decayed scores) by decreasing decayed score (ties: lower index).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    s = [float(v) for v in np.asarray(scores).reshape(-1)]
    idxs = np.zeros(len(s), dtype=np.int64) if idxs is None else np.asarray(idxs).reshape(-1)
    picks = []
    for c in np.unique(idxs):
        alive = [i for i in np.flatnonzero(idxs == c) if s[i] >= score_threshold]
        while alive:
            best = min(alive, key=lambda i: (-s[i], i))
            alive.remove(best)
            picks.append(best)
            for j in list(alive):
                iou = pair_metric(boxes[best], boxes[j], "iou", offset)
                if method == "gaussian":
                    s[j] *= math.exp(-(iou * iou) / sigma)
                elif iou >= iou_threshold:
                    s[j] *= (1.0 - iou) if method == "linear" else 0.0
                if s[j] < score_threshold:
                    alive.remove(j)
    picks.sort(key=lambda i: (-s[i], i))
    return np.array(picks, dtype=np.int64), np.array([s[i] for i in picks], dtype=np.float64)


def weighted_boxes_fusion(
    boxes_list: Sequence[Iterable[_Box]],
    scores_list: Sequence[Iterable[SupportsFloat]],
    labels_list: Sequence[Iterable[SupportsInt]],
    weights: Optional[Iterable[float]] = None,
    iou_thr: float = 0.55,
    skip_box_thr: float = 0.0,
    conf_type: Literal["avg", "max", "box_and_model_avg", "absent_model_aware_avg"] = "avg",
    allows_overflow: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """ensemble-boxes' weighted boxes fusion, in float64 loops (normalised xyxy boxes).

    Returns (boxes, scores, labels) by decreasing score (ties: in label order, then
    cluster order).
    """
    n_models = len(boxes_list)
    weights = [1.0] * n_models if weights is None else [float(w) for w in weights]
    entries = []  # (label, weighted score, model, box)
    for t in range(n_models):
        for box, score, label in zip(boxes_list[t], scores_list[t], labels_list[t]):
            x1, y1, x2, y2 = (min(max(float(v), 0.0), 1.0) for v in box)
            if float(score) < skip_box_thr or (x2 - x1) * (y2 - y1) == 0.0:
                continue
            entries.append((int(label), float(score) * weights[t], t, (x1, y1, x2, y2)))
    fused_all = []  # (score, label, box)
    for label in sorted({e[0] for e in entries}):
        members = [e for e in entries if e[0] == label]
        members = [members[i] for i in sorted(range(len(members)), key=lambda i: -members[i][1])]
        clusters: list[list[tuple[int, float, int, _BoxTuple]]]
        fused: list[tuple[float, ...]]
        clusters, fused = [], []
        for e in members:
            best, best_iou = -1, iou_thr
            for k, f in enumerate(fused):
                iou = pair_metric(e[3], f, "iou")
                if iou > best_iou:
                    best, best_iou = k, iou
            if best < 0:
                clusters.append([e])
                fused.append(e[3])
            else:
                clusters[best].append(e)
                conf = sum(m[1] for m in clusters[best])
                fused[best] = tuple(sum(m[1] * m[3][r] for m in clusters[best]) / conf for r in range(4))
        for members_k, box in zip(clusters, fused):
            count = len(members_k)
            mean = sum(m[1] for m in members_k) / count
            model_weight = sum(weights[t] for t in {m[2] for m in members_k})
            weight_sum = sum(weights[m[2]] for m in members_k)
            if conf_type == "max":
                score = max(m[1] for m in members_k) / max(weights)
            elif conf_type == "box_and_model_avg":
                score = mean * count / weight_sum * model_weight / sum(weights)
            elif conf_type == "absent_model_aware_avg":
                score = mean * count / (weight_sum + sum(weights) - model_weight)
            elif allows_overflow:
                score = mean * count / sum(weights)
            else:
                score = mean * min(n_models, count) / sum(weights)
            fused_all.append((score, label, box))
    order = sorted(range(len(fused_all)), key=lambda i: -fused_all[i][0])
    return (np.array([fused_all[i][2] for i in order], dtype=np.float64).reshape(-1, 4),
            np.array([fused_all[i][0] for i in order], dtype=np.float64),
            np.array([fused_all[i][1] for i in order], dtype=np.int64))


def greedy_match(
    pred_boxes: ArrayLike,
    pred_scores: Union[Sequence[SupportsFloat], NDArray[Any]],
    gt_boxes: ArrayLike,
    iou_threshold: float,
    gt_ignore: Optional[Iterable[object]] = None,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """COCO's greedy matching, one prediction at a time: ``(pred indices, gt indices)``.

    Predictions by decreasing score (ties: lower index) each take the free, not
    ignored ground truth of highest IoU ``>= iou_threshold`` (ties: lower index);
    failing that, the ignored one of highest IoU, which stays free.
    """
    iou = pairwise(pred_boxes, gt_boxes)
    m = iou.shape[1]
    ignore = [False] * m if gt_ignore is None else [bool(v) for v in gt_ignore]
    order = sorted(range(iou.shape[0]), key=lambda i: (-float(pred_scores[i]), i))
    taken = [False] * m
    pairs = []
    for p in order:
        best: Optional[int] = None
        for wanted in (False, True):  # not ignored first
            for g in range(m):
                if ignore[g] != wanted or taken[g] or iou[p, g] < iou_threshold:
                    continue
                if best is None or iou[p, g] > iou[p, best]:
                    best = g
            if best is not None:
                break
        if best is not None:
            taken[best] = not ignore[best]
            pairs.append((p, best))
    pred = np.array([p for p, _ in pairs], dtype=np.int64)
    gt = np.array([g for _, g in pairs], dtype=np.int64)
    return pred, gt
