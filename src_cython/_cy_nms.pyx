# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython kernels of the NMS family: the second implementation of fastiou/backends/numba_cpu_nms.py.

Same algorithms, same arithmetic, same layouts (per-box columns ``(8, N)``
sorted by x1 within each class, see fastiou/backends/_nms_order.py): windowed
greedy NMS with compaction of the decided boxes, soft-NMS with block-bounded selection,
and weighted-boxes-fusion clustering, each class an OpenMP ``prange`` item.

The IoU and DIoU below are the formulas of fastiou/_formulas.py (guarded
division, doubled centres), written here again for the two metrics NMS uses.
Float32 stays float32: no literal takes part in the arithmetic.
"""

import numpy as np

cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY, atan2, exp, expf, fabs, nextafter, nextafterf, sqrt
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from fastiou import _formulas

cnp.import_array()

# FMA contraction would fuse ``(aarea + barea) - iw * ih`` and change the IoU's last bit.
# GCC's default -ftrapping-math keeps the float32 IoU loops branchy (not vectorised);
# nothing here reads floating-point exception flags, and results are unchanged.
cdef extern from *:
    """
    #if defined(__clang__)
    #pragma STDC FP_CONTRACT OFF
    #elif defined(__GNUC__)
    #pragma GCC optimize ("fp-contract=off", "no-trapping-math")
    #endif
    """

# The codes of fastiou/_formulas.py and fastiou/backends/numba_cpu_nms.py.
cdef enum:
    IOU = 0
    DIOU = 3
    SOFT_LINEAR = 0
    SOFT_GAUSSIAN = 1
    SOFT_HARD = 2

# One empty struct per metric and a fused type over them: each metric gets its own
# compiled loops (a run-time code left the IoU loop branchy and unvectorised).
cdef struct IoU:
    char unused
cdef struct DIoU:
    char unused

ctypedef fused Metric:
    IoU
    DIoU

cdef double WINDOW_MARGIN = 1e-5
cdef Py_ssize_t COMPACT_MIN = 256


# ------------------------------------------------------------------------ formulas


cdef inline floating positive_part(floating x) noexcept nogil:
    return x if x > <floating>0 else <floating>0


cdef inline floating guarded_div(floating num, floating den) noexcept nogil:
    # 0 (not NaN) when the denominator is 0; the division runs on selected
    # operands so that the loop stays branch-free.
    cdef bint ok = den > <floating>0
    return (num if ok else <floating>0) / (den if ok else <floating>1)


cdef inline floating metric(Metric tag, floating ax1, floating ay1, floating ax2, floating ay2,
                            floating aarea, floating acx2, floating acy2,
                            floating bx1, floating by1, floating bx2, floating by2,
                            floating barea, floating bcx2, floating bcy2) noexcept nogil:
    """IoU or DIoU (``tag``) of boxes a and b from their columns."""
    cdef floating iw = positive_part(min(ax2, bx2) - max(ax1, bx1))
    cdef floating ih = positive_part(min(ay2, by2) - max(ay1, by1))
    cdef floating inter = iw * ih
    cdef floating iou = guarded_div(inter, (aarea + barea) - inter)
    cdef floating cw, ch, dx, dy
    if Metric is DIoU:
        # rho^2 / c^2 with doubled centres: (2 rho)^2 / (2 c)^2, no literal needed.
        cw = max(ax2, bx2) - min(ax1, bx1)
        ch = max(ay2, by2) - min(ay1, by1)
        dx = acx2 - bcx2
        dy = acy2 - bcy2
        cw = cw + cw
        ch = ch + ch
        iou = iou - guarded_div(dx * dx + dy * dy, cw * cw + ch * ch)
    return iou


cdef inline floating pair(Metric tag, const floating* c, Py_ssize_t m, Py_ssize_t p,
                          Py_ssize_t q) noexcept nogil:
    """The metric between the boxes at positions p and q of columns ``c`` (rows ``m`` apart)."""
    return metric(tag, c[p], c[m + p], c[2 * m + p], c[3 * m + p], c[4 * m + p], c[5 * m + p],
                  c[6 * m + p], c[q], c[m + q], c[2 * m + q], c[3 * m + q], c[4 * m + q],
                  c[5 * m + q], c[6 * m + q])


# ------------------------------------------------------------------------- windows


cdef inline void window(double x1, double x2, double threshold, double wmax,
                        double* left, double* right) noexcept nogil:
    """The x1 bounds of the boxes whose IoU with [x1, x2] can exceed ``threshold``."""
    if not threshold > 0:
        left[0] = -INFINITY
        right[0] = INFINITY
        return
    cdef double t = threshold * (1.0 - WINDOW_MARGIN)
    cdef double w = x2 - x1
    cdef double slack = 1e-14 * (fabs(x1) + fabs(x2) + wmax)
    left[0] = x1 - (1.0 - t) * min(wmax, w / t) - slack
    right[0] = x2 - t * w + slack


cdef inline void overlap_window(double x1, double x2, double wmax,
                                double* left, double* right) noexcept nogil:
    cdef double slack = 1e-14 * (fabs(x1) + fabs(x2) + wmax)
    left[0] = x1 - wmax - slack
    right[0] = x2 + slack


cdef inline double widest(const floating* c, Py_ssize_t m, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef double wmax = 0
    cdef Py_ssize_t p
    for p in range(lo, hi):
        wmax = max(wmax, <double>c[2 * m + p] - <double>c[p])
    return wmax


cdef inline Py_ssize_t first_above(const floating* x, Py_ssize_t lo, Py_ssize_t hi,
                                   double bound) noexcept nogil:
    cdef Py_ssize_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if x[mid] > bound:
            hi = mid
        else:
            lo = mid + 1
    return lo


cdef inline Py_ssize_t first_at_least(const floating* x, Py_ssize_t lo, Py_ssize_t hi,
                                      double bound) noexcept nogil:
    cdef Py_ssize_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if x[mid] >= bound:
            hi = mid
        else:
            lo = mid + 1
    return lo


# ------------------------------------------------------------------------- greedy


cdef inline Py_ssize_t suppress(Metric tag, const floating* c, Py_ssize_t m, Py_ssize_t p,
                                Py_ssize_t q0, Py_ssize_t q1, floating threshold,
                                uint8_t* dead, floating* vals) noexcept nogil:
    """Mark dead the boxes in ``[q0, q1)`` whose metric with p exceeds the threshold; count the live ones.

    Two branch-free loops from 0 over offset pointers, box p's columns in locals:
    the shape the C compiler vectorises.
    """
    cdef floating ax1 = c[p], ay1 = c[m + p], ax2 = c[2 * m + p], ay2 = c[3 * m + p]
    cdef floating aarea = c[4 * m + p], acx2 = c[5 * m + p], acy2 = c[6 * m + p]
    cdef const floating* b = c + q0
    cdef floating* out = vals + q0
    cdef uint8_t* d = dead + q0
    cdef Py_ssize_t j, count = q1 - q0, newly = 0
    cdef uint8_t h
    for j in range(count):
        out[j] = metric(tag, ax1, ay1, ax2, ay2, aarea, acx2, acy2,
                        b[j], b[m + j], b[2 * m + j], b[3 * m + j], b[4 * m + j], b[5 * m + j],
                        b[6 * m + j])
    for j in range(count):
        h = out[j] > threshold
        newly += h > d[j]
        d[j] = d[j] | h
    return newly


cdef inline Py_ssize_t compact(floating* c, Py_ssize_t m, int64_t* orig, int64_t* rank_at,
                               int64_t* pos_of_rank, uint8_t* dead, Py_ssize_t lo,
                               Py_ssize_t end) noexcept nogil:
    """Drop the dead boxes from ``[lo, end)`` (x order kept); returns the new end."""
    cdef Py_ssize_t k = lo, p, row
    cdef int64_t r
    for p in range(lo, end):
        r = rank_at[p]
        if dead[p]:
            pos_of_rank[r] = -1
            continue
        if k != p:
            for row in range(8):
                c[row * m + k] = c[row * m + p]
            orig[k] = orig[p]
            rank_at[k] = r
            dead[k] = 0
        pos_of_rank[r] = k
        k += 1
    return k


cdef void greedy(Metric tag, floating* c, Py_ssize_t m, int64_t* orig, int64_t* rank_at,
                        Py_ssize_t lo, Py_ssize_t hi, int64_t* pos_of_rank, uint8_t* dead,
                        floating* vals, floating threshold, int64_t max_output, uint8_t* kept) noexcept nogil:
    """Greedy NMS of one class: the algorithm of numba_cpu_nms._greedy."""
    cdef double wmax = widest(c, m, lo, hi), left, right
    cdef Py_ssize_t r, p, end = hi, n_dead = 0
    cdef int64_t count = 0
    for r in range(lo, hi):
        rank_at[pos_of_rank[r]] = r
    for r in range(lo, hi):
        if count == max_output:
            break
        p = pos_of_rank[r]
        if p < 0 or dead[p]:
            continue
        dead[p] = 1
        kept[orig[p]] = 1
        count += 1
        window(c[p], c[2 * m + p], threshold, wmax, &left, &right)
        n_dead += 1 + suppress(tag, c, m, p, p + 1, first_above(c, p + 1, end, right), threshold, dead, vals)
        n_dead += suppress(tag, c, m, p, first_at_least(c, lo, p, left), p, threshold, dead, vals)
        if n_dead + n_dead > end - lo and end - lo >= COMPACT_MIN:
            end = compact(c, m, orig, rank_at, pos_of_rank, dead, lo, end)
            n_dead = 0


cdef void greedy_groups(Metric tag, floating* c, Py_ssize_t m, int64_t* orig, int64_t* rank_at,
                        const int64_t* seg, Py_ssize_t n_groups, int64_t* pos_of_rank, uint8_t* dead,
                        floating* vals, floating threshold, int64_t max_output, uint8_t* kept,
                        int num_threads) noexcept nogil:
    cdef Py_ssize_t g
    # One thread: a plain loop, no OpenMP call (a forked child must not enter libgomp,
    # and even a one-thread region costs about a microsecond).
    if num_threads <= 1:
        for g in range(n_groups):
            greedy(tag, c, m, orig, rank_at, seg[g], seg[g + 1], pos_of_rank, dead, vals, threshold,
                   max_output, kept)
        return
    for g in prange(n_groups, schedule="dynamic", num_threads=num_threads):
        greedy(tag, c, m, orig, rank_at, seg[g], seg[g + 1], pos_of_rank, dead, vals, threshold,
               max_output, kept)


def greedy_classes(int code, floating[:, ::1] c, int64_t[::1] orig, const int64_t[::1] seg,
                   int64_t[::1] pos_of_rank, floating threshold, int64_t max_output,
                   uint8_t[::1] kept, int num_threads):
    """Greedy NMS of each class of the x-sorted columns ``c``; marks ``kept`` (input indices).

    ``c``, ``orig`` and ``pos_of_rank`` are scratch (reordered).
    """
    cdef Py_ssize_t m = c.shape[1], n_groups = seg.shape[0] - 1
    if m == 0:
        return
    cdef uint8_t[::1] dead = np.zeros(m, np.uint8)
    cdef floating[::1] vals = np.empty(m, np.float32 if floating is float else np.float64)
    cdef int64_t[::1] rank_at = np.empty(m, np.int64)
    cdef floating* cp = &c[0, 0]
    cdef IoU iou = IoU(0)
    cdef DIoU diou = DIoU(0)
    with nogil:
        if code == IOU:
            greedy_groups(iou, cp, m, &orig[0], &rank_at[0], &seg[0], n_groups, &pos_of_rank[0], &dead[0],
                          &vals[0], threshold, max_output, &kept[0], num_threads)
        else:
            greedy_groups(diou, cp, m, &orig[0], &rank_at[0], &seg[0], n_groups, &pos_of_rank[0], &dead[0],
                          &vals[0], threshold, max_output, &kept[0], num_threads)


# ----------------------------------------------------------------------- soft-NMS
# The best live box is found through blocks of about sqrt(n) x-sorted positions whose
# ``bound`` is at least the score of each of their live boxes (numba_cpu_nms).


cdef inline Py_ssize_t block_best(const floating* s, const uint8_t* live, const int64_t* orig,
                                  Py_ssize_t a, Py_ssize_t b, floating* best) noexcept nogil:
    """The best live position of ``[a, b)`` (ties: lower input index) and its score; -1, -inf if none."""
    cdef Py_ssize_t q, pos = -1
    best[0] = -INFINITY
    for q in range(a, b):
        if live[q] and (s[q] > best[0] or (s[q] == best[0] and (pos < 0 or orig[q] < orig[pos]))):
            best[0] = s[q]
            pos = q
    return pos


cdef Py_ssize_t pick(const floating* s, const uint8_t* live, const int64_t* orig, floating* bound,
                     Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t size) noexcept nogil:
    """The live box of highest score in ``[lo, hi)`` (ties: lower input index), or -1."""
    cdef Py_ssize_t n_blocks = (hi - lo + size - 1) // size, j, k, a, p, q
    cdef floating v, best, other
    if n_blocks == 0:
        return -1  # an empty class: bound[lo] is the next class's
    while True:
        j = lo
        for k in range(lo + 1, lo + n_blocks):
            if bound[k] > bound[j]:
                j = k
        v = bound[j]
        if v == -INFINITY:
            return -1
        a = lo + (j - lo) * size
        p = block_best(s, live, orig, a, min(hi, a + size), &best)
        bound[j] = best
        if best == v:
            for k in range(lo, lo + n_blocks):
                if k != j and bound[k] == v:
                    a = lo + (k - lo) * size
                    q = block_best(s, live, orig, a, min(hi, a + size), &other)
                    bound[k] = other
                    if other == v and orig[q] < orig[p]:
                        p = q
            return p


cdef inline floating soft_weight(int method, floating iou, floating threshold, floating sigma) noexcept nogil:
    """mmcv's decay: linear ``1 - iou`` and hard ``0`` where iou >= threshold; gaussian always."""
    if method == SOFT_GAUSSIAN:
        if not iou > 0:
            return <floating>1  # exp(-0) is exactly 1
        if floating is float:
            return expf(-(iou * iou) / sigma)
        else:
            return exp(-(iou * iou) / sigma)
    if iou >= threshold:
        return <floating>1 - iou if method == SOFT_LINEAR else <floating>0
    return <floating>1


cdef void decay_span(int method, const floating* c, Py_ssize_t m, Py_ssize_t p,
                     Py_ssize_t q0, Py_ssize_t q1, floating* s, uint8_t* live, floating* bound,
                     Py_ssize_t lo, Py_ssize_t size, floating threshold, floating sigma,
                     floating score_threshold, floating* ious, int64_t* near) noexcept nogil:
    """Decay the live boxes of ``[q0, q1)`` by the picked box p (numba_cpu_nms._decay_span)."""
    cdef double floor = threshold if method == SOFT_HARD else INFINITY
    cdef Py_ssize_t q, j, blk, k = q0
    cdef floating w
    cdef IoU tag
    for q in range(q0, q1):
        ious[q] = pair(tag, c, m, p, q)
    for q in range(q0, q1):
        near[k] = q
        k += ((ious[q] > 0) | (ious[q] >= floor)) & live[q]
    for j in range(q0, k):
        q = near[j]
        w = soft_weight(method, ious[q], threshold, sigma)
        if w != <floating>1:
            s[q] = s[q] * w
            if s[q] < score_threshold:
                live[q] = 0
            else:  # a negative score rises when decayed: raise its block's bound
                blk = lo + (q - lo) // size
                bound[blk] = max(bound[blk], s[q])


cdef void soft_group(int method, const floating* c, Py_ssize_t m, const int64_t* orig,
                     Py_ssize_t lo, Py_ssize_t hi, floating* s, uint8_t* live, floating* bound,
                     floating* ious, int64_t* near, floating threshold, floating sigma,
                     floating score_threshold, int64_t max_output, uint8_t* picked) noexcept nogil:
    """Soft-NMS of one class (numba_cpu_nms._soft_group)."""
    cdef double wmax = widest(c, m, lo, hi), left, right
    cdef Py_ssize_t size = max(16, <Py_ssize_t>sqrt(<double>(hi - lo))), j, a, p
    cdef int64_t count = 0
    for j in range((hi - lo + size - 1) // size):
        a = lo + j * size
        block_best(s, live, orig, a, min(hi, a + size), &bound[lo + j])
    while count != max_output:
        p = pick(s, live, orig, bound, lo, hi, size)
        if p < 0:
            break
        live[p] = 0
        picked[p] = 1
        count += 1
        if method != SOFT_GAUSSIAN and threshold > 0:
            window(c[p], c[2 * m + p], threshold, wmax, &left, &right)
        elif method == SOFT_HARD:
            left, right = -INFINITY, INFINITY
        else:
            overlap_window(c[p], c[2 * m + p], wmax, &left, &right)
        decay_span(method, c, m, p, p + 1, first_above(c, p + 1, hi, right), s, live, bound, lo, size,
                   threshold, sigma, score_threshold, ious, near)
        decay_span(method, c, m, p, first_at_least(c, lo, p, left), p, s, live, bound, lo, size,
                   threshold, sigma, score_threshold, ious, near)


def soft_classes(int method, const floating[:, ::1] c, const int64_t[::1] orig, const int64_t[::1] seg,
                 floating[::1] s, floating threshold, floating sigma, floating score_threshold,
                 int64_t max_output, uint8_t[::1] picked, int num_threads):
    """Soft-NMS of each class of the x-sorted columns ``c``, decaying ``s``; marks ``picked`` (positions)."""
    cdef Py_ssize_t m = c.shape[1], g, n_groups = seg.shape[0] - 1
    if m == 0:
        return
    dtype = np.float32 if floating is float else np.float64
    cdef uint8_t[::1] live = np.ones(m, np.uint8)
    cdef floating[::1] bound = np.empty(m, dtype)
    cdef floating[::1] ious = np.empty(m, dtype)
    cdef int64_t[::1] near = np.empty(m, np.int64)
    if num_threads <= 1:  # a plain loop, as in greedy_groups
        with nogil:
            for g in range(n_groups):
                soft_group(method, &c[0, 0], m, &orig[0], seg[g], seg[g + 1], &s[0], &live[0], &bound[0],
                           &ious[0], &near[0], threshold, sigma, score_threshold, max_output, &picked[0])
        return
    for g in prange(n_groups, nogil=True, schedule="dynamic", num_threads=num_threads):
        soft_group(method, &c[0, 0], m, &orig[0], seg[g], seg[g + 1], &s[0], &live[0], &bound[0],
                   &ious[0], &near[0], threshold, sigma, score_threshold, max_output, &picked[0])


# -------------------------------------------------------------- weighted boxes fusion


cdef inline Py_ssize_t wbf_group(const floating* cols, Py_ssize_t n, const floating* scores,
                                 const int64_t* by_class, Py_ssize_t lo, Py_ssize_t hi,
                                 floating iou_threshold, int64_t* local, floating* fused,
                                 floating* sums) noexcept nogil:
    """Cluster one class (numba_cpu_nms._wbf_classes); returns its cluster count."""
    cdef Py_ssize_t i, k, r, best, end = lo
    cdef int64_t b
    cdef floating iou, best_iou, sc
    cdef IoU tag
    for i in range(lo, hi):
        b = by_class[i]
        best = -1
        best_iou = iou_threshold
        for k in range(lo, end):
            iou = metric(tag, cols[b], cols[n + b], cols[2 * n + b], cols[3 * n + b], cols[4 * n + b],
                         cols[b], cols[b], fused[k], fused[n + k], fused[2 * n + k], fused[3 * n + k],
                         fused[4 * n + k], fused[k], fused[k])
            if iou > best_iou:
                best_iou = iou
                best = k
        sc = scores[b]
        if best < 0:  # a new cluster: its fused box is the box itself
            best = end
            end += 1
            for r in range(5):
                fused[r * n + best] = cols[r * n + b]
            for r in range(4):
                sums[r * n + best] = sc * cols[r * n + b]
            sums[4 * n + best] = sc
        else:
            for r in range(4):
                sums[r * n + best] += sc * cols[r * n + b]
            sums[4 * n + best] += sc
            for r in range(4):
                fused[r * n + best] = sums[r * n + best] / sums[4 * n + best]
            fused[4 * n + best] = ((fused[2 * n + best] - fused[best])
                                   * (fused[3 * n + best] - fused[n + best]))
        local[b] = best
    return end - lo


def wbf_classes(const floating[:, ::1] cols, const floating[::1] scores, const int64_t[::1] by_class,
                const int64_t[::1] seg, floating iou_threshold, int num_threads):
    """(cluster of each box, fused boxes (K, 4), score sum of each cluster); see numba_cpu_nms."""
    cdef Py_ssize_t n = cols.shape[1], n_groups = seg.shape[0] - 1, g, i, k, r, lo
    dtype = np.float32 if floating is float else np.float64
    cdef int64_t[::1] local = np.empty(n, np.int64)
    cdef int64_t[::1] n_clusters = np.zeros(n_groups, np.int64)
    cdef floating[:, ::1] fused = np.empty((5, n), dtype)
    cdef floating[:, ::1] sums = np.empty((5, n), dtype)
    if n and num_threads <= 1:  # a plain loop, as in greedy_groups
        with nogil:
            for g in range(n_groups):
                n_clusters[g] = wbf_group(&cols[0, 0], n, &scores[0], &by_class[0], seg[g], seg[g + 1],
                                          iou_threshold, &local[0], &fused[0, 0], &sums[0, 0])
    elif n:
        for g in prange(n_groups, nogil=True, schedule="dynamic", num_threads=num_threads):
            n_clusters[g] = wbf_group(&cols[0, 0], n, &scores[0], &by_class[0], seg[g], seg[g + 1],
                                      iou_threshold, &local[0], &fused[0, 0], &sums[0, 0])
    first = np.zeros(n_groups + 1, np.int64)
    np.cumsum(n_clusters, out=first[1:])
    cdef int64_t[::1] first_v = first
    cdef int64_t[::1] cluster = np.empty(n, np.int64)
    boxes = np.empty((first[n_groups], 4), dtype)
    conf = np.empty(first[n_groups], dtype)
    cdef floating[:, ::1] boxes_v = boxes
    cdef floating[::1] conf_v = conf
    with nogil:
        for g in range(n_groups):
            lo = seg[g]
            for i in range(lo, seg[g + 1]):
                cluster[by_class[i]] = first_v[g] + local[by_class[i]] - lo
            for k in range(n_clusters[g]):
                for r in range(4):
                    boxes_v[first_v[g] + k, r] = fused[r, lo + k]
                conf_v[first_v[g] + k] = sums[4, lo + k]
    return np.asarray(cluster), boxes, conf


# ------------------------------------------------------------- the small-input fast path
# numba_cpu_nms._small's algorithm for one class, with the checks and the column split, in
# one call: a small nms() pays neither Python validation nor a Numba dispatch (about 10 us
# of a 100-box call).  Raw pointers: acquiring memoryviews costs more than such a job.

include "_columns.pxi"
include "_sort.pxi"


cdef bint _fast_vector(object x, Py_ssize_t n):
    """An ndarray (not a subclass) ``(n,)`` of native, aligned float32 or float64."""
    if type(x) is not np.ndarray:
        return False
    cdef cnp.ndarray a = x
    cdef int t = cnp.PyArray_TYPE(a)
    return (a.ndim == 1 and a.shape[0] == n and (t == cnp.NPY_FLOAT32 or t == cnp.NPY_FLOAT64)
            and cnp.PyArray_ISNOTSWAPPED(a) and cnp.PyArray_ISALIGNED(a))


cdef bint sort_by_score(Keyed* keyed, const char* s, Py_ssize_t stride, int64_t* order,
                        Py_ssize_t n) noexcept nogil:
    """``order`` = 0..n-1 by decreasing score, equal scores by index, as
    ``argsort(-s, kind='mergesort')``, of float64 scores; ``keyed`` is scratch of ``2 * n``.
    False for a NaN score."""
    cdef Py_ssize_t i
    cdef bint nan = False
    for i in range(n):
        keyed[i].neg_score = -(<const double*>(s + i * stride))[0]
        nan |= keyed[i].neg_score != keyed[i].neg_score
        keyed[i].pos = i
    if nan:
        return False
    _sort_by_score(keyed, keyed + n, n)
    for i in range(n):
        order[i] = keyed[i].pos
    return True


cdef bint sort_by_score32(uint64_t* keys, const char* s, Py_ssize_t stride, int64_t* order,
                          Py_ssize_t n) noexcept nogil:
    """:func:`sort_by_score` of float32 scores (``n < 2**32``; ``keys`` scratch of ``n``).

    Each item is one integer, the score's bits made monotonic above its index: the
    keys are distinct and their order is the stable one, so a quicksort (fewer
    mispredicted branches than the merges) gives the same order.
    """
    cdef Py_ssize_t i
    cdef float neg
    cdef uint32_t bits
    cdef bint nan = False
    for i in range(n):
        neg = -(<const float*>(s + i * stride))[0] + <float>0  # -0 as +0: an equal score
        nan |= neg != neg
        memcpy(&bits, &neg, sizeof(float))
        bits = ~bits if bits >> 31 else bits | 0x80000000u  # IEEE order as unsigned order
        keys[i] = (<uint64_t>bits << 32) | <uint64_t>i
    if nan:
        return False
    _quicksort(keys, n)
    for i in range(n):
        order[i] = <int64_t>(keys[i] & 0xFFFFFFFFu)
    return True


cdef void _quicksort(uint64_t* a, Py_ssize_t n) noexcept nogil:
    """Ascending sort of distinct keys: median-of-three Hoare partitions, the smaller part
    by recursion (depth below log2 n), insertion sort below 16."""
    cdef Py_ssize_t i, j
    cdef uint64_t x, y, z, pivot, item
    while n > 16:
        x, y, z = a[0], a[n >> 1], a[n - 1]
        pivot = max(min(x, y), min(max(x, y), z))  # not the largest key: both parts non-empty
        i, j = -1, n
        while True:
            i += 1
            while a[i] < pivot:
                i += 1
            j -= 1
            while a[j] > pivot:
                j -= 1
            if i >= j:
                break
            item = a[i]
            a[i] = a[j]
            a[j] = item
        if j + 1 < n - j - 1:  # [0, j] <= pivot <= [j + 1, n)
            _quicksort(a, j + 1)
            a += j + 1
            n -= j + 1
        else:
            _quicksort(a + j + 1, n - j - 1)
            n = j + 1
    for i in range(1, n):
        item = a[i]
        j = i
        while j > 0 and a[j - 1] > item:
            a[j] = a[j - 1]
            j -= 1
        a[j] = item


cdef Py_ssize_t _small_greedy(Metric tag, const floating* c, Py_ssize_t n, const int64_t* order,
                              double threshold, uint8_t* dead, floating* vals, int64_t* keep) noexcept nogil:
    """Greedy NMS of the columns ``c`` in score order (``order``: their input indices), every
    later box compared: ``keep`` gets the kept input indices, best first."""
    cdef Py_ssize_t p, count = 0
    cdef floating t = <floating>threshold
    if <double>t > threshold:  # rounded down: ``x > t`` in floating is ``x > threshold``
        t = <floating>(nextafterf(t, -INFINITY) if floating is float else nextafter(t, -INFINITY))
    for p in range(n):
        dead[p] = 0
    for p in range(n):
        if dead[p]:
            continue
        keep[count] = order[p]
        count += 1
        suppress(tag, c, n, p, p + 1, n, t, dead, vals)
    return count


cdef Py_ssize_t _small(floating kind, int code, const char* boxes, Py_ssize_t n, Py_ssize_t s0,
                       Py_ssize_t s1, int fmt, int offset, bint check, const char* s, Py_ssize_t stride,
                       bint single, double threshold, int64_t* keep) noexcept nogil:
    """The kept count into ``keep`` (which has room for 2n Keyed, n int64, 9n floating and n
    bytes after its n entries: the scratch); -1 for a NaN score, an invalid box or one
    outside the safe range (the general path's cases)."""
    cdef Keyed* keyed = <Keyed*>(keep + n)
    cdef int64_t* order = <int64_t*>(keyed + 2 * n)
    cdef floating* c = <floating*>(order + n)
    cdef floating* vals = c + 8 * n
    cdef uint8_t* dead = <uint8_t*>(vals + n)
    cdef IoU iou
    cdef DIoU diou
    if not (sort_by_score32(<uint64_t*>keyed, s, stride, order, n) if single
            else sort_by_score(keyed, s, stride, order, n)):
        return -1
    if _fill_columns(boxes, n, s0, s1, fmt, <floating>offset, check, False, c, order) != -1:
        return -1
    if code == IOU:
        return _small_greedy(iou, c, n, order, threshold, dead, vals, keep)
    return _small_greedy(diou, c, n, order, threshold, dead, vals, keep)


def small_nms(int code, object boxes, object scores, int fmt, object offset, bint check,
              double threshold, Py_ssize_t limit):
    """The small-input fast path of ``nms``, whole: the kept indices (int64), best first.

    Takes ``code`` IOU or DIOU, ``boxes`` (N, 4) and ``scores`` (N,) ndarrays of native
    float32 or float64, ``0 < N <= limit``, ``fmt`` a format code (-1: not one),
    ``offset`` 0 or 1 and a finite ``threshold``; checks (``check``), splits, sorts and
    suppresses in one call, with no thread pool.  Returns None for anything else, for a
    NaN score, an invalid box and a coordinate outside the safe range: the general path
    then runs (and names the problem, or computes the extreme call in float64).
    """
    if (not (code == IOU or code == DIOU) or type(boxes) is not np.ndarray or fmt < 0
            or type(offset) is not int or not (offset == 0 or offset == 1)):
        return None
    cdef cnp.ndarray b = boxes
    cdef int dtype = cnp.PyArray_TYPE(b)
    if not (b.ndim == 2 and b.shape[1] == 4 and (dtype == cnp.NPY_FLOAT32 or dtype == cnp.NPY_FLOAT64)
            and cnp.PyArray_ISNOTSWAPPED(b) and cnp.PyArray_ISALIGNED(b)):
        return None
    cdef Py_ssize_t n = b.shape[0]
    if n == 0 or n > limit or not _fast_vector(scores, n) or not (threshold - threshold == 0):
        return None
    cdef cnp.ndarray sc = scores
    cdef const char* s = <const char*>cnp.PyArray_DATA(sc)
    cdef Py_ssize_t stride = sc.strides[0]
    cdef bint single = cnp.PyArray_TYPE(sc) == cnp.NPY_FLOAT32
    cdef int64_t* keep = <int64_t*>malloc(  # and _small's scratch, for float32 or float64 boxes
        n * (2 * sizeof(int64_t) + 2 * sizeof(Keyed) + 9 * sizeof(double) + 1))
    if keep == NULL:
        raise MemoryError()
    cdef cnp.npy_intp count
    cdef const char* data = <const char*>cnp.PyArray_DATA(b)
    cdef int off = offset
    cdef cnp.ndarray result
    try:
        with nogil:
            if dtype == cnp.NPY_FLOAT32:
                count = _small(<float>0, code, data, n, b.strides[0], b.strides[1], fmt, off, check,
                               s, stride, single, threshold, keep)
            else:
                count = _small(<double>0, code, data, n, b.strides[0], b.strides[1], fmt, off, check,
                               s, stride, single, threshold, keep)
        if count < 0:
            return None  # the general path names the problem
        result = cnp.PyArray_EMPTY(1, &count, cnp.NPY_INT64, 0)
        memcpy(cnp.PyArray_DATA(result), keep, count * sizeof(int64_t))
        return result
    finally:
        free(keep)
