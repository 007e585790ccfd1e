# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython kernels of rotated boxes: the second implementation of fastiou/backends/numba_cpu_rotated.py.

The formulas are those of fastiou/_rotated_formulas.py written again: early exit
when the axis-aligned bounding boxes do not meet, exactly the area for equal
boxes, 0 when a side of either box separates them, Sutherland-Hodgman clipping of box a by the half-planes of box b relative
to the pair's midpoint, the shoelace area clamped to ``[0, min(area_a, area_b)]``;
GIoU with powerboxes' axis-aligned enclosing box.  Columns ``(9, N)`` of
fastiou/_rotated_columns.py.  The scratch is a stack array per call.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport fabs
from libc.stdlib cimport free, malloc

cdef extern from *:
    """
    #if defined(__clang__)
    #pragma STDC FP_CONTRACT OFF
    #elif defined(__GNUC__)
    #pragma GCC optimize ("fp-contract=off")
    #endif
    """

cdef enum:
    IOU = 0
    IOA = 1
    GIOU = 2


cdef inline floating guarded_div(floating num, floating den) noexcept nogil:
    return num / den if den > 0 else <floating>0


cdef inline int clip(floating* src, floating* dst, int n, floating dx, floating dy, floating sign,
                     floating px, floating py, floating k) noexcept nogil:
    cdef int m = 0, i
    cdef floating qx, qy, sq, rx, ry, sr, t
    if n == 0:
        return 0
    qx = src[2 * (n - 1)]
    qy = src[2 * (n - 1) + 1]
    sq = sign * (dx * (qy + py) - dy * (qx + px)) + k
    for i in range(n):
        rx = src[2 * i]
        ry = src[2 * i + 1]
        sr = sign * (dx * (ry + py) - dy * (rx + px)) + k
        if (sq >= 0) != (sr >= 0):
            t = sq / (sq - sr)
            dst[2 * m] = qx + (rx - qx) * t
            dst[2 * m + 1] = qy + (ry - qy) * t
            m += 1
        if sr >= 0:
            dst[2 * m] = rx
            dst[2 * m + 1] = ry
            m += 1
        qx = rx
        qy = ry
        sq = sr
    return m


cdef inline floating intersection(floating dcx, floating dcy, floating aux, floating auy,
                                  floating avx, floating avy, floating bux, floating buy,
                                  floating bvx, floating bvy, floating half) noexcept nogil:
    cdef floating buf[32]
    cdef floating hx = dcx * half, hy = dcy * half
    cdef floating k = bux * bvy - buy * bvx
    cdef floating one = half + half
    cdef floating twice = 0, qx, qy, rx, ry
    cdef int n, i
    buf[0] = hx - aux - avx
    buf[1] = hy - auy - avy
    buf[2] = hx + aux - avx
    buf[3] = hy + auy - avy
    buf[4] = hx + aux + avx
    buf[5] = hy + auy + avy
    buf[6] = hx - aux + avx
    buf[7] = hy - auy + avy
    n = clip(&buf[0], &buf[16], 4, bux, buy, one, hx, hy, k)
    n = clip(&buf[16], &buf[0], n, bvx, bvy, one, hx, hy, k)
    n = clip(&buf[0], &buf[16], n, bux, buy, -one, hx, hy, k)
    n = clip(&buf[16], &buf[0], n, bvx, bvy, -one, hx, hy, k)
    if n > 2:
        qx = buf[2 * (n - 1)]
        qy = buf[2 * (n - 1) + 1]
        for i in range(n):
            rx = buf[2 * i]
            ry = buf[2 * i + 1]
            twice += qx * ry - qy * rx
            qx = rx
            qy = ry
    return twice * half


cdef inline bint separated(floating dcx, floating dcy, floating aux, floating auy, floating avx,
                           floating avy, floating bux, floating buy, floating bvx,
                           floating bvy) noexcept nogil:
    cdef floating uu = aux * aux + auy * auy, vv = avx * avx + avy * avy
    cdef floating uu2 = bux * bux + buy * buy, vv2 = bvx * bvx + bvy * bvy
    cdef floating u_u2 = fabs(aux * bux + auy * buy), u_v2 = fabs(aux * bvx + auy * bvy)
    cdef floating v_u2 = fabs(avx * bux + avy * buy), v_v2 = fabs(avx * bvx + avy * bvy)
    return ((fabs(dcx * aux + dcy * auy) > uu + u_u2 + u_v2)  # (|: branch-free, vectorises)
            | (fabs(dcx * avx + dcy * avy) > vv + v_u2 + v_v2)
            | (fabs(dcx * bux + dcy * buy) > uu2 + u_u2 + v_u2)
            | (fabs(dcx * bvx + dcy * bvy) > vv2 + u_v2 + v_v2))


cdef inline floating metric(int code, const floating[:, ::1] a, Py_ssize_t i,
                            const floating[:, ::1] b, Py_ssize_t j, floating half) noexcept nogil:
    cdef floating dcx = a[0, i] - b[0, j], dcy = a[1, i] - b[1, j]
    cdef floating aarea = a[6, i], barea = b[6, j]
    cdef floating aex = a[7, i], aey = a[8, i], bex = b[7, j], bey = b[8, j]
    cdef floating inter = 0, smaller, union, iou, hx, hy, cw, ch
    cdef floating adx = dcx if dcx >= 0 else -dcx
    cdef floating ady = dcy if dcy >= 0 else -dcy
    if adx <= aex + bex and ady <= aey + bey:
        smaller = aarea if aarea < barea else barea
        if (dcx == 0 and dcy == 0 and a[2, i] == b[2, j] and a[3, i] == b[3, j]
                and a[4, i] == b[4, j] and a[5, i] == b[5, j]):
            inter = smaller
        elif not separated(dcx, dcy, a[2, i], a[3, i], a[4, i], a[5, i], b[2, j], b[3, j], b[4, j], b[5, j]):
            inter = intersection(dcx, dcy, a[2, i], a[3, i], a[4, i], a[5, i],
                                 b[2, j], b[3, j], b[4, j], b[5, j], half)
            if inter > smaller:
                inter = smaller
            elif not inter > 0:
                inter = 0
    if code == IOA:
        return guarded_div(inter, aarea)
    union = (aarea + barea) - inter
    iou = guarded_div(inter, union)
    if code == IOU:
        return iou
    hx = dcx * half
    hy = dcy * half
    cw = max(hx + aex, bex - hx) - min(hx - aex, -hx - bex)
    ch = max(hy + aey, bey - hy) - min(hy - aey, -hy - bey)
    return iou - guarded_div(cw * ch - union, cw * ch)


cdef void metric_row(int code, const floating[:, ::1] a, Py_ssize_t i, const floating[:, ::1] b,
                     Py_ssize_t first, floating half, floating[:, :] out) noexcept nogil:
    # Row i of out: box i of a against boxes first, first + 1, ... of b.  IoU and IoA are 0
    # where the bounding boxes do not meet: a first pass marks the pairs that meet (the
    # metric's own test) and only those take the metric (as the Numba kernel); where many
    # meet, a second pass unmarks those a side separates (the metric's next test).
    cdef Py_ssize_t m = out.shape[1], j, n_meet = 0
    cdef floating acx = a[0, i], acy = a[1, i], aex = a[7, i], aey = a[8, i]
    cdef floating aux = a[2, i], auy = a[3, i], avx = a[4, i], avy = a[5, i]
    cdef int* meets
    if code == GIOU:
        for j in range(m):
            out[i, j] = metric(code, a, i, b, first + j, half)
        return
    meets = <int*>malloc(max(m, 1) * sizeof(int))
    for j in range(m):
        meets[j] = ((fabs(acx - b[0, first + j]) <= aex + b[7, first + j])
                    & (fabs(acy - b[1, first + j]) <= aey + b[8, first + j]))
        n_meet += meets[j]
    if 8 * n_meet > m:  # many meet (clustered boxes): unmark those a side separates too
        for j in range(m):
            meets[j] = meets[j] & (not separated(acx - b[0, first + j], acy - b[1, first + j], aux, auy,
                                                 avx, avy, b[2, first + j], b[3, first + j], b[4, first + j],
                                                 b[5, first + j]))
    for j in range(m):
        out[i, j] = metric(code, a, i, b, first + j, half) if meets[j] else 0
    free(meets)


def pairwise(int code, const floating[:, ::1] c1, const floating[:, ::1] c2, floating half,
             Py_ssize_t rows, floating[:, :] out, int threads):
    # Batches: out is (B * rows, M), and row i meets the boxes (i // rows) * M ... of c2.
    cdef Py_ssize_t n = out.shape[0], m = out.shape[1], i
    if threads <= 1:
        for i in range(n):
            metric_row(code, c1, i, c2, (i // rows) * m, half, out)
        return
    for i in prange(n, nogil=True, schedule="dynamic", chunksize=4, num_threads=threads):
        metric_row(code, c1, i, c2, (i // rows) * m, half, out)


def aligned(int code, const floating[:, ::1] c1, const floating[:, ::1] c2, floating half,
            floating[:] out, int threads):
    cdef Py_ssize_t n = c1.shape[1], i
    if threads <= 1:
        for i in range(n):
            out[i] = metric(code, c1, i, c2, i, half)
        return
    for i in prange(n, nogil=True, schedule="dynamic", chunksize=1024, num_threads=threads):
        out[i] = metric(code, c1, i, c2, i, half)
