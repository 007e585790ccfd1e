"""Numba CPU kernels of the sparse family: thresholded joins, best matches, greedy matching.

The backend interface is the plain functions at the bottom: ``sparse_join``,
``best_match`` and ``greedy_match``.  They take the per-box columns ``(8, N)`` of
:mod:`fastiou._columns` and contain no validation.  There is no Cython or CUDA twin
of this family: the public functions accept ``backend='numba'`` (or ``'auto'``) only.

How a join avoids the N x M matrix
----------------------------------
A box b is a point ``(x1, y1, x2, y2)`` in 4-D.  Along x, the IoU of two boxes is at
most their 1-D IoU ``IoU_x`` (the intersection's height is at most either height),
and ``IoU_x > t`` confines b's corners to intervals set by a alone:

* ``x1_b < x2_a - t w_a`` and ``x2_b > x1_a + t w_a`` (the 1-D overlap is over ``t w_a``),
* ``x1_b > x1_a - w_a (1 - t) / t`` and ``x2_b < x2_a + w_a (1 - t) / t`` (the union of the
  x-extents is under ``w_a / t``: the width ratio),

and the same along y.  So the boxes b with ``IoU(a, b) > t`` lie in an axis-aligned box
of the 4-D space.  The kernels build a k-d tree over the M points of ``boxes2``
(median splits on the coordinate of largest spread, ``LEAF_SIZE`` points per leaf,
every node keeping the 4-D bounding box of its points), then run one range query
per box of ``boxes1`` and evaluate the exact metric, by the shared formulas, only on
the points of the query box.  GIoU, DIoU and CIoU are at most the IoU (GIoU up to
rounding), so the same query serves them for ``t >= 0``; IoA (intersection over
a's area) keeps only the overlap bounds.  With ``t <= 0`` the query is "overlaps
a".  The query box is widened far beyond the rounding error of the computed
metric (``WINDOW_MARGIN``, ``ABS_MARGIN``, ``COORD_SLACK``), so the pairs found are
exactly those of the dense matrix thresholded.

A join runs twice over the rows, in parallel over chunks: a pass that counts each
row's pairs, then a pass that writes them at their CSR offsets (so the memory is
O(N + M + K), never a per-thread buffer that might overflow), each row's columns
sorted.  Rows are visited in Morton order of their centres, so that consecutive
queries of a chunk touch the same part of the tree.  Each kernel is compiled per
metric and per pass, with both as constants (see ``_per_metric``).

GIoU, DIoU and CIoU exceed a negative threshold for disjoint boxes, far apart
ones included; ``sparse_join`` then scans every pair, a row at a time
(``_dense_join``): O(N M) work, still O(N + M + K) memory.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import get_num_threads, prange

from .._config import njit, serial_and_parallel
from .._formulas import CIOU, DIOU, GIOU, IOA, IOU
from .numba_cpu import _metric_row, claim, metric, new_counter, workers

#: Points per k-d tree leaf.
LEAF_SIZE = 16  # below 63: a leaf's hits are marked in an int64 bit mask
#: Rows per parallel chunk of a join.
ROW_CHUNK = 64
#: Columns are packed with a hit number into int64 sort keys (``column << 32``).
MAX_COLUMNS = 2**31 - 1
#: Relative widening of the threshold of a query: the computed metric is within a
#: few ulp (float32: ~1e-6 relative) of the exact metric of the stored coordinates.
WINDOW_MARGIN = 1e-5
#: Absolute widening of the threshold: the computed GIoU may exceed its IoU by a few
#: ulp (where the enclosing area rounds below the union).
ABS_MARGIN = 1e-6
#: Relative float64 rounding allowance of the query bounds (of the coordinates).
COORD_SLACK = 1e-14
#: Two disjoint boxes have GIoU <= 0, but it may round to a tiny positive value when
#: their gap is under a few ulp of their widths: at thresholds near 0, GIoU queries
#: reach this fraction of the widest box beyond the overlap.
GIOU_GAP = 1e-5

COUNT, FILL = 0, 1
_STACK = 128  # k-d tree depth is log2(M / LEAF_SIZE) < 64


# ------------------------------------------------------------------------------ k-d tree


@njit(inline="always")
def _swap(pts, perm, i, j):
    for k in range(4):
        pts[k, i], pts[k, j] = pts[k, j], pts[k, i]
    perm[i], perm[j] = perm[j], perm[i]


@njit
def _select(pts, perm, lo, hi, k, dim):
    """Reorder ``[lo, hi)`` along ``dim`` so that position k holds its rank-k value
    (Hoare quickselect, median-of-three pivot: duplicates cost no extra passes)."""
    while hi - lo > 2:
        a, b, c = pts[dim, lo], pts[dim, (lo + hi) >> 1], pts[dim, hi - 1]
        if a > b:
            a, b = b, a
        if b > c:
            b = c
        pivot = a if a > b else b
        i, j = lo, hi - 1
        while i <= j:
            while i < hi and pts[dim, i] < pivot:
                i += 1
            while j >= lo and pts[dim, j] > pivot:
                j -= 1
            if i <= j:
                _swap(pts, perm, i, j)
                i += 1
                j -= 1
        if k <= j:
            hi = j + 1
        elif k >= i:
            lo = i
        else:
            return
    if hi - lo == 2 and pts[dim, lo] > pts[dim, lo + 1]:
        _swap(pts, perm, lo, lo + 1)


@njit(inline="always")
def _split_dim(pts, lo, hi):
    """The coordinate of largest spread over ``[lo, hi)``, estimated from at most 256 points."""
    step = max(1, (hi - lo) // 256)
    dim, spread = 0, -1.0
    for k in range(4):
        low, high = np.inf, -np.inf
        for p in range(lo, hi, step):
            v = np.float64(pts[k, p])
            low = min(low, v)
            high = max(high, v)
        if high - low > spread:
            dim, spread = k, high - low
    return dim


@njit(inline="always")
def _split_node(pts, perm, node, seg):
    """Split node's points at their median along the coordinate of largest spread."""
    lo, hi = seg[node, 0], seg[node, 1]
    mid = (lo + hi) >> 1
    _select(pts, perm, lo, hi, mid, _split_dim(pts, lo, hi))
    seg[2 * node + 1, 0], seg[2 * node + 1, 1] = lo, mid
    seg[2 * node + 2, 0], seg[2 * node + 2, 1] = mid, hi


@njit(inline="always")
def _merge_bounds(bounds, node):
    for k in range(4):
        bounds[node, k] = min(bounds[2 * node + 1, k], bounds[2 * node + 2, k])
        bounds[node, 4 + k] = max(bounds[2 * node + 1, 4 + k], bounds[2 * node + 2, 4 + k])


@njit
def _build_subtree(pts, perm, root, level, depth, seg, bounds):
    """Build the subtree of node ``root`` (at ``level``) down to the leaves at ``depth``.

    Its descendants ``k`` levels down are nodes ``(root + 1) 2^k - 1`` onwards, ``2^k`` of them.
    """
    for k in range(depth - level):
        first = ((root + 1) << k) - 1
        for node in range(first, first + (1 << k)):
            _split_node(pts, perm, node, seg)
    first = ((root + 1) << (depth - level)) - 1
    for node in range(first, first + (1 << (depth - level))):
        for k in range(4):
            low, high = np.inf, -np.inf
            for p in range(seg[node, 0], seg[node, 1]):
                v = np.float64(pts[k, p])
                low = min(low, v)
                high = max(high, v)
            bounds[node, k] = low
            bounds[node, 4 + k] = high
    for k in range(depth - level - 1, -1, -1):
        first = ((root + 1) << k) - 1
        for node in range(first, first + (1 << k)):
            _merge_bounds(bounds, node)


def _build(pts, perm, depth, top, seg, bounds, counter):
    """Median-split k-d tree over the points ``pts`` (4, M).

    Node k (children 2k+1, 2k+2) covers positions ``seg[k, 0]:seg[k, 1]`` of the
    reordered points; ``bounds[k]`` is its bounding box (4 lows, then 4 highs).
    Nodes of the last level are the leaves.  The ``top`` levels are split
    serially, then their subtrees in one parallel loop: one parallel region (each
    costs a thread wake-up, milliseconds on a busy machine).
    """
    seg[0, 0] = 0
    seg[0, 1] = pts.shape[1]
    for d in range(top):
        for node in range((1 << d) - 1, (1 << (d + 1)) - 1):
            _split_node(pts, perm, node, seg)
    first = (1 << top) - 1
    n_sub = 1 << top
    for _ in prange(workers(n_sub, 1)):  # a subtree per claim
        s = claim(counter, 1)
        while s < n_sub:
            _build_subtree(pts, perm, first + s, top, depth, seg, bounds)
            s = claim(counter, 1)
    for node in range(first - 1, -1, -1):
        _merge_bounds(bounds, node)


_build_kernels = serial_and_parallel(_build)


def build_tree(c2, parallel):
    """The k-d tree of the boxes of columns ``c2``: ``(cs, perm, seg, bounds, first_leaf)``.

    ``cs`` are the columns in tree order and ``perm[p]`` the input index of position p.
    """
    m = c2.shape[1]
    depth = 0
    while (m >> depth) > LEAF_SIZE:
        depth += 1
    n_nodes = (1 << (depth + 1)) - 1
    pts = c2[:4].copy()  # reordered in place
    perm = np.arange(m, dtype=np.int64)
    seg = np.empty((n_nodes, 2), np.int64)
    bounds = np.empty((n_nodes, 8), np.float64)
    top = min(depth, 3 + math.ceil(math.log2(get_num_threads())))  # 8 subtrees per thread
    _build_kernels[parallel](pts, perm, depth, top, seg, bounds, new_counter())
    cs = np.take(c2, perm, axis=1)
    return cs, perm, seg, bounds, (1 << depth) - 1


# ------------------------------------------------------------------------------ queries


@njit(inline="always")
def query_box(code, ax1, ay1, ax2, ay2, tp, gx, gy):
    """The 4-D box (lows of x1, y1, x2, y2, then highs) holding every b with metric > t.

    ``tp`` is the threshold already lowered by the margins; ``tp <= 0`` asks for the
    boxes that overlap a (touching included), reached ``gx``, ``gy`` further.
    """
    x1, y1, x2, y2 = np.float64(ax1), np.float64(ay1), np.float64(ax2), np.float64(ay2)
    w, h = x2 - x1, y2 - y1
    sx = COORD_SLACK * (abs(x1) + abs(x2))
    sy = COORD_SLACK * (abs(y1) + abs(y2))
    if tp > 0.0:
        ex1, ey1, ex2, ey2 = x1 + tp * w - sx, y1 + tp * h - sy, x2 - tp * w + sx, y2 - tp * h + sy
        if code == IOA:
            return -np.inf, -np.inf, ex1, ey1, ex2, ey2, np.inf, np.inf
        r = (1.0 - tp) / tp
        return (x1 - r * w - sx, y1 - r * h - sy, ex1, ey1,
                ex2, ey2, x2 + r * w + sx, y2 + r * h + sy)
    return -np.inf, -np.inf, x1 - sx - gx, y1 - sy - gy, x2 + sx + gx, y2 + sy + gy, np.inf, np.inf


@njit(inline="always")
def lowered(threshold):
    """The threshold a query box is built for: lower than ``threshold`` by the margins."""
    return threshold - (WINDOW_MARGIN * abs(threshold) + ABS_MARGIN)


@njit(inline="always")
def _meets(bounds, node, q):
    """Whether node's bounding box meets the query box ``q``."""
    return not (bounds[node, 0] > q[4] or bounds[node, 1] > q[5] or bounds[node, 2] > q[6]
                or bounds[node, 3] > q[7] or bounds[node, 4] < q[0] or bounds[node, 5] < q[1]
                or bounds[node, 6] < q[2] or bounds[node, 7] < q[3])


@njit(inline="always")
def _leaves(bounds, first_leaf, q, stack, leaves):
    """Write the leaves whose bounding box meets the query box ``q`` to ``leaves``; return their number.

    Depth first, testing both children before descending (fewer stack moves).
    """
    found = 0
    top = -1
    node = 0 if _meets(bounds, 0, q) else -1
    while node >= 0:
        if node < first_leaf:
            left = 2 * node + 1
            in_left, in_right = _meets(bounds, left, q), _meets(bounds, left + 1, q)
            if in_left or in_right:
                if in_left and in_right:
                    top += 1
                    stack[top] = left + 1
                node = left if in_left else left + 1
                continue
        else:
            leaves[found] = node
            found += 1
        if top < 0:
            break
        node = stack[top]
        top -= 1
    return found


@njit(inline="always")
def _leaf_pair(code, a, cs, p, q, four_over_pi2, one):
    """``(in query, metric)`` of box ``a`` (its 8 column values) and the point at tree position p.

    The metric is only meaningful where the point is in the query box ``q``.
    Callers hoist ``a`` out of their loops: reading it from the columns per pair
    measured 2x slower.
    """
    bx1, by1, bx2, by2 = cs[0, p], cs[1, p], cs[2, p], cs[3, p]
    inside = (bx1 >= q[0] and by1 >= q[1] and bx2 >= q[2] and by2 >= q[3]
              and bx1 <= q[4] and by1 <= q[5] and bx2 <= q[6] and by2 <= q[7])
    if not inside:
        return False, one - one
    return True, metric(code, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
                        bx1, by1, bx2, by2, cs[4, p], cs[5, p], cs[6, p], cs[7, p], four_over_pi2, one)


@njit(inline="always")
def _sort_short(keys, count):
    """Sort ``keys[:count]`` ascending (insertion sort for the usual tens of pairs)."""
    if count > 64:
        keys[:count].sort()
        return
    for h in range(1, count):
        key = keys[h]
        g = h - 1
        while g >= 0 and keys[g] > key:
            keys[g + 1] = keys[g]
            g -= 1
        keys[g + 1] = key


def _per_metric(make, *options):
    """``{code: (serial, parallel)}`` kernels of ``make(code, *options)``, each with constants.

    A constant metric code folds the metric's branches away, and a constant mode
    keeps a counting pass free of the filling pass's stores (which would make every
    load in the loop a possible alias): each measured 2x faster than the same
    value read at run time.  Each metric compiles only when first used.  The names
    differ per kernel: Numba's cache tells functions apart by name.
    """
    kernels = {}
    for name, code in METRIC_NAMES.items():
        py_func = make(code, *options)
        suffix = "_".join([name] + [str(o) for o in options])
        py_func.__name__ = py_func.__qualname__ = f"{py_func.__name__}_{suffix}"
        kernels[code] = serial_and_parallel(py_func)
    return kernels


METRIC_NAMES = {"iou": IOU, "ioa": IOA, "giou": GIOU, "diou": DIOU, "ciou": CIOU}


def _make_tree_join(code, mode):
    def _tree_join(c1, order, tree, threshold, gx, gy, four_over_pi2, one, indptr, cols, vals, counter):
        """COUNT: ``indptr[i + 1]`` = row i's number of pairs; FILL: write row i at ``indptr[i]``.

        A leaf's hits are first marked in a bit mask: a loop without stores runs
        2x faster (a store might alias every array the loop reads).  FILL then
        gathers the row as keys ``column << 32 | hit`` in a small local buffer,
        sorts them there (rows are short) and writes the row once.
        """
        cs, perm, seg, bounds, first_leaf = tree
        tp = lowered(threshold)
        n = order.shape[0]
        n_chunks = (n + ROW_CHUNK - 1) // ROW_CHUNK
        for _ in prange(workers(n_chunks, 1)):  # ROW_CHUNK rows per claim
            chunk = claim(counter, 1)
            while chunk < n_chunks:
                stack = np.empty(_STACK, np.int64)
                leaves = np.empty(first_leaf + 1, np.int64)
                keys = np.empty(64 if mode == FILL else 0, np.int64)
                hits = np.empty(keys.shape[0], vals.dtype)
                for k in range(chunk * ROW_CHUNK, min(n, (chunk + 1) * ROW_CHUNK)):
                    i = order[k]
                    a = (c1[0, i], c1[1, i], c1[2, i], c1[3, i], c1[4, i], c1[5, i], c1[6, i], c1[7, i])
                    q = query_box(code, a[0], a[1], a[2], a[3], tp, gx, gy)
                    if mode == FILL and indptr[i + 1] - indptr[i] > keys.shape[0]:
                        keys = np.empty(2 * (indptr[i + 1] - indptr[i]), np.int64)
                        hits = np.empty(keys.shape[0], vals.dtype)
                    count = 0
                    for f in range(_leaves(bounds, first_leaf, q, stack, leaves)):
                        lo, hi = seg[leaves[f], 0], seg[leaves[f], 1]
                        mask = 0  # the leaf's hits (at most LEAF_SIZE + 1 points): no store in this loop
                        for p in range(lo, hi):
                            inside, v = _leaf_pair(code, a, cs, p, q, four_over_pi2, one)
                            if inside and v > threshold:
                                mask |= 1 << (p - lo)
                        if mode == COUNT:
                            while mask:
                                mask &= mask - 1
                                count += 1
                        else:
                            for p in range(lo, hi):
                                if (mask >> (p - lo)) & 1:
                                    keys[count] = (perm[p] << 32) | count
                                    hits[count] = _leaf_pair(code, a, cs, p, q, four_over_pi2, one)[1]
                                    count += 1
                    if mode == FILL:
                        _sort_short(keys, count)
                        start = indptr[i]
                        for h in range(count):
                            cols[start + h] = keys[h] >> 32
                            vals[start + h] = hits[keys[h] & 0xFFFFFFFF]
                    else:
                        indptr[i + 1] = count
                chunk = claim(counter, 1)

    return _tree_join


def _make_dense_join(code, mode):
    def _dense_join(c1, c2, threshold, four_over_pi2, one, indptr, cols, vals, counter):
        """Like ``_tree_join`` but over every pair, a row at a time (negative thresholds)."""
        n, m = c1.shape[1], c2.shape[1]
        n_chunks = (n + ROW_CHUNK - 1) // ROW_CHUNK
        for _ in prange(workers(n_chunks, 1)):  # ROW_CHUNK rows per claim
            chunk = claim(counter, 1)
            while chunk < n_chunks:
                buf = np.empty(m, c1.dtype)
                for i in range(chunk * ROW_CHUNK, min(n, (chunk + 1) * ROW_CHUNK)):
                    _metric_row(code, c1, i, c2, four_over_pi2, one, buf)
                    if mode == COUNT:
                        count = 0
                        for j in range(m):
                            count += buf[j] > threshold
                        indptr[i + 1] = count
                    else:
                        k = indptr[i]
                        for j in range(m):
                            if buf[j] > threshold:
                                cols[k] = j
                                vals[k] = buf[j]
                                k += 1
                chunk = claim(counter, 1)

    return _dense_join


def _make_best(code):
    def _best(c1, c2, order, tree, settled, four_over_pi2, one, best, best_j, counter):
        """Row-wise max and first argmax of the metric, without the N x M matrix.

        The tree gives each row's best over the boxes that overlap it (ties: the
        lower column, as ``np.argmax``).  For IoU and IoA every other box scores
        exactly 0, the lowest value, so that is the row's result (0 at column 0
        when nothing overlaps).  For GIoU, DIoU and CIoU a best above ``settled``
        beats every disjoint box (they score <= 0, GIoU up to rounding); other rows
        scan every column.
        """
        cs, perm, seg, bounds, first_leaf = tree
        n, m = c1.shape[1], c2.shape[1]
        zero_floor = code == IOU or code == IOA
        n_chunks = (n + ROW_CHUNK - 1) // ROW_CHUNK
        for _ in prange(workers(n_chunks, 1)):  # ROW_CHUNK rows per claim
            chunk = claim(counter, 1)
            while chunk < n_chunks:
                stack = np.empty(_STACK, np.int64)
                leaves = np.empty(first_leaf + 1, np.int64)
                buf = np.empty(0 if zero_floor else m, c1.dtype)
                for k in range(chunk * ROW_CHUNK, min(n, (chunk + 1) * ROW_CHUNK)):
                    i = order[k]
                    a = (c1[0, i], c1[1, i], c1[2, i], c1[3, i], c1[4, i], c1[5, i], c1[6, i], c1[7, i])
                    q = query_box(code, a[0], a[1], a[2], a[3], 0.0, 0.0, 0.0)
                    v, j = (0.0 if zero_floor else -np.inf), 0
                    for f in range(_leaves(bounds, first_leaf, q, stack, leaves)):
                        for p in range(seg[leaves[f], 0], seg[leaves[f], 1]):
                            inside, w = _leaf_pair(code, a, cs, p, q, four_over_pi2, one)
                            if inside and (w > v or (w == v and perm[p] < j)):
                                v, j = w, perm[p]
                    if not zero_floor and not v > settled:
                        _metric_row(code, c1, i, c2, four_over_pi2, one, buf)
                        v, j = -np.inf, 0
                        for col in range(m):
                            if buf[col] > v:
                                v, j = buf[col], col
                    best[i] = v
                    best_j[i] = j
                chunk = claim(counter, 1)

    return _best


_tree_join_kernels = {mode: _per_metric(_make_tree_join, mode) for mode in (COUNT, FILL)}
_dense_join_kernels = {mode: _per_metric(_make_dense_join, mode) for mode in (COUNT, FILL)}
_best_kernels = _per_metric(_make_best)


# ------------------------------------------------------------------------------ matching


@njit
def _greedy_match(indptr, cols, vals, order, ignore):
    """COCO's greedy matching over the CSR pairs at or above the threshold.

    Predictions in ``order`` take the best free, not ignored ground truth (ties: the
    lower index); failing that, the best ignored one, which stays free.
    """
    taken = np.zeros(ignore.shape[0], np.bool_)
    pred = np.empty(order.shape[0], np.int64)
    gt = np.empty(order.shape[0], np.int64)
    k = 0
    for p in order:
        best, best_v, best_ign, best_ign_v = -1, -np.inf, -1, -np.inf
        for e in range(indptr[p], indptr[p + 1]):
            g, v = cols[e], vals[e]
            if ignore[g]:
                if v > best_ign_v:
                    best_ign, best_ign_v = g, v
            elif not taken[g] and v > best_v:
                best, best_v = g, v
        if best >= 0:
            taken[best] = True
        else:
            best = best_ign
        if best >= 0:
            pred[k] = p
            gt[k] = best
            k += 1
    return pred[:k], gt[:k]


@njit
def _morton_order(c1):
    """Row order along a Z-curve of the box centres (16 bits per axis)."""
    n = c1.shape[1]
    if n == 0:
        return np.empty(0, np.int64)
    cx = np.empty(n, np.float64)
    cy = np.empty(n, np.float64)
    for i in range(n):
        cx[i] = np.float64(c1[5, i])
        cy[i] = np.float64(c1[6, i])
    lox, hix, loy, hiy = cx.min(), cx.max(), cy.min(), cy.max()
    sx = 65535.0 / (hix - lox) if hix > lox else 0.0
    sy = 65535.0 / (hiy - loy) if hiy > loy else 0.0
    keys = np.empty(n, np.uint64)
    for i in range(n):
        fx, fy = (cx[i] - lox) * sx, (cy[i] - loy) * sy
        # not finite only with validate=False: any order is correct, this one is defined
        qx = np.uint64(fx) if 0.0 <= fx <= 65535.0 else np.uint64(0)
        qy = np.uint64(fy) if 0.0 <= fy <= 65535.0 else np.uint64(0)
        keys[i] = _spread(qx) | (_spread(qy) << np.uint64(1))
    return np.argsort(keys)


@njit(inline="always")
def _spread(v):
    """The 16 bits of v moved to the even bit positions."""
    v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
    v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
    v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
    return (v | (v << np.uint64(1))) & np.uint64(0x55555555)


# ------------------------------------------------------------------------------ interface


def _index_dtype(*maxima):
    return np.int32 if max(maxima) < np.iinfo(np.int32).max else np.int64


def sparse_join(code, c1, c2, threshold, four_over_pi2, one, parallel):
    """CSR arrays ``(data, indices, indptr)`` of the pairs with metric > ``threshold``.

    ``threshold`` is a float64; a negative one scans every pair (see the module).
    Each row's column indices are sorted.
    """
    n, m = c1.shape[1], c2.shape[1]
    dt = c1.dtype
    indptr = np.zeros(n + 1, np.int64)
    cols64 = np.empty(0, np.int64)
    vals = np.empty(0, dt)
    threshold = float(threshold)
    if n and m:
        if threshold < 0.0:
            kernels = _dense_join_kernels
            args: tuple[Any, ...] = (c1, c2, threshold, four_over_pi2, one)
        else:
            tree = build_tree(c2, parallel)
            gx = gy = 0.0
            if code == GIOU and lowered(threshold) <= 0.0:  # reach GIOU_GAP of the widest box further
                gx = GIOU_GAP * float(np.max(c2[2] - c2[0]))
                gy = GIOU_GAP * float(np.max(c2[3] - c2[1]))
            kernels = _tree_join_kernels
            args = (c1, _morton_order(c1), tree, threshold, gx, gy, four_over_pi2, one)
        kernels[COUNT][code][parallel](*args, indptr, cols64, vals, new_counter())
        np.cumsum(indptr, out=indptr)
        nnz = int(indptr[-1])
        idx = _index_dtype(nnz, m)
        cols = np.empty(nnz, idx)
        vals = np.empty(nnz, dt)
        kernels[FILL][code][parallel](*args, indptr, cols, vals, new_counter())
        return vals, cols, indptr.astype(idx, copy=False)
    idx = _index_dtype(0, m)
    return vals, cols64.astype(idx), indptr.astype(idx)


def best_match(code, c1, c2, four_over_pi2, one, parallel):
    """Per row of ``c1``: the best metric over ``c2`` and its first column (``-1`` when M = 0)."""
    n, m = c1.shape[1], c2.shape[1]
    best = np.zeros(n, c1.dtype)
    best_j = np.full(n, -1, np.int64)
    if n and m:
        tree = build_tree(c2, parallel)
        settled = ABS_MARGIN if code == GIOU else 0.0
        _best_kernels[code][parallel](c1, c2, _morton_order(c1), tree, settled, four_over_pi2, one,
                                      best, best_j, new_counter())
    return best, best_j


def greedy_match(indptr, indices, data, order, ignore):
    """Greedy matching over a CSR matrix of the eligible pairs: ``(pred, gt)`` int64 indices."""
    return _greedy_match(indptr, indices, data, order, ignore)
