# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython kernels of rotated boxes: the second implementation of fastiou/backends/numba_cpu_rotated.py.

The formulas are those of fastiou/_rotated_formulas.py written again, branch-free
as there: 0 when the axis-aligned bounding boxes do not meet or a side of either box
separates them, exactly the area for equal boxes, otherwise Green's theorem along
box a's sides in box b's frame, clamped to ``[0, min(area_a, area_b)]``; GIoU with
powerboxes' axis-aligned enclosing box.  Columns ``(15, N)`` of
fastiou/_rotated_columns.py.
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
    # (the division made unconditional, on a safe denominator: gcc does not turn a division
    # that may trap into a select, and the loops over pairs would not vectorise)
    cdef floating q = num / (den if den > 0 else 1)
    return q if den > 0 else 0


cdef enum:  # rows of the columns (fastiou/_rotated_formulas.py)
    CX = 0
    CY = 1
    UX = 2
    UY = 3
    VX = 4
    VY = 5
    AREA = 6
    EX = 7
    EY = 8
    HW = 9
    HH = 10
    COS = 13
    SIN = 14
    N_COLUMNS = 15
    BLOCK = 2000  # columns of a row gathered at a time (as the Numba kernel's BLOCK)


cdef inline floating clamp(floating x, floating lo, floating hi) noexcept nogil:
    return min(max(x, lo), hi)


cdef inline floating edge_integral(floating px, floating py, floating dx, floating dy, floating hw,
                                   floating hh) noexcept nogil:
    cdef floating ddy = dy if dy != 0 else 1
    cdef floating t0 = (-hh - py) / ddy, t1 = (hh - py) / ddy
    cdef floating ta = clamp(min(t0, t1), <floating>0, <floating>1)
    cdef floating tb = clamp(max(t0, t1), ta, <floating>1)
    cdef floating ddx = dx if dx != 0 else 1
    cdef floating s0 = (-hw - px) / ddx, s1 = (hw - px) / ddx
    cdef floating sa = clamp(min(s0, s1), ta, tb)
    cdef floating sb = clamp(max(s0, s1), ta, tb)
    cdef floating xa = clamp(px + ta * dx, -hw, hw)
    cdef floating xs = clamp(px + sa * dx, -hw, hw)
    cdef floating xz = clamp(px + sb * dx, -hw, hw)
    cdef floating xb = clamp(px + tb * dx, -hw, hw)
    return dy * (xa * (sa - ta) + (xs + xz) * <floating>0.5 * (sb - sa) + xb * (tb - sb) + hw * (tb - ta))


cdef inline floating intersection(floating dcx, floating dcy, floating aux, floating auy,
                                  floating avx, floating avy, floating bcos, floating bsin,
                                  floating bhw, floating bhh) noexcept nogil:
    cdef floating cx = dcx * bcos - dcy * bsin, cy = dcx * bsin + dcy * bcos
    cdef floating ux = aux * bcos - auy * bsin, uy = aux * bsin + auy * bcos
    cdef floating vx = avx * bcos - avy * bsin, vy = avx * bsin + avy * bcos
    cdef floating p0x = cx - ux - vx, p0y = cy - uy - vy
    cdef floating p1x = cx + ux - vx, p1y = cy + uy - vy
    cdef floating p2x = cx + ux + vx, p2y = cy + uy + vy
    cdef floating p3x = cx - ux + vx, p3y = cy - uy + vy
    return (edge_integral(p0x, p0y, p1x - p0x, p1y - p0y, bhw, bhh)
            + edge_integral(p1x, p1y, p2x - p1x, p2y - p1y, bhw, bhh)
            + edge_integral(p2x, p2y, p3x - p2x, p3y - p2y, bhw, bhh)
            + edge_integral(p3x, p3y, p0x - p3x, p0y - p3y, bhw, bhh))


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


cdef inline floating metric(int code, floating acx, floating acy, floating aux, floating auy, floating avx,
                            floating avy, floating aarea, floating aex, floating aey,
                            floating bcx, floating bcy, floating bux, floating buy, floating bvx,
                            floating bvy, floating barea, floating bex, floating bey, floating bcos,
                            floating bsin, floating bhw, floating bhh) noexcept nogil:
    cdef floating dcx = acx - bcx, dcy = acy - bcy
    cdef floating inter = intersection(dcx, dcy, aux, auy, avx, avy, bcos, bsin, bhw, bhh)
    cdef floating smaller = min(aarea, barea), union, iou, hx, hy, cw, ch
    cdef bint same, meets
    inter = inter if inter > 0 else 0  # (NaN-safe: a NaN gives 0)
    inter = smaller if inter > smaller else inter
    same = (dcx == 0) & (dcy == 0) & (aux == bux) & (auy == buy) & (avx == bvx) & (avy == bvy)
    inter = smaller if same else inter
    meets = ((fabs(dcx) <= aex + bex) & (fabs(dcy) <= aey + bey)
             & (not separated(dcx, dcy, aux, auy, avx, avy, bux, buy, bvx, bvy)))
    inter = inter if meets else 0
    if code == IOA:
        return guarded_div(inter, aarea)
    union = (aarea + barea) - inter
    iou = guarded_div(inter, union)
    if code == IOU:
        return iou
    hx = dcx * <floating>0.5
    hy = dcy * <floating>0.5
    cw = max(hx + aex, bex - hx) - min(hx - aex, -hx - bex)
    ch = max(hy + aey, bey - hy) - min(hy - aey, -hy - bey)
    return iou - guarded_div(cw * ch - union, cw * ch)


cdef inline floating column_metric(int code, const floating[:, ::1] a, Py_ssize_t i,
                                   const floating[:, ::1] b, Py_ssize_t j) noexcept nogil:
    return metric(code, a[CX, i], a[CY, i], a[UX, i], a[UY, i], a[VX, i], a[VY, i], a[AREA, i], a[EX, i],
                  a[EY, i], b[CX, j], b[CY, j], b[UX, j], b[UY, j], b[VX, j], b[VY, j], b[AREA, j], b[EX, j],
                  b[EY, j], b[COS, j], b[SIN, j], b[HW, j], b[HH, j])


cdef inline void gathered_metric(int code, const floating[:, ::1] a, Py_ssize_t i, const floating* g,
                                 floating* value, Py_ssize_t n_hits) noexcept nogil:
    # value[h]: box i of a against the box of the gathered columns g[r * BLOCK + h] (value a
    # malloc of its own, so that gcc needs no aliasing checks against a dozen loads, and
    # vectorises the loop)
    cdef floating acx = a[CX, i], acy = a[CY, i], aux = a[UX, i], auy = a[UY, i], avx = a[VX, i]
    cdef floating avy = a[VY, i], aarea = a[AREA, i], aex = a[EX, i], aey = a[EY, i]
    cdef Py_ssize_t h
    for h in range(n_hits):
        value[h] = metric(code, acx, acy, aux, auy, avx, avy, aarea, aex, aey,
                          g[CX * BLOCK + h], g[CY * BLOCK + h], g[UX * BLOCK + h], g[UY * BLOCK + h],
                          g[VX * BLOCK + h], g[VY * BLOCK + h], g[AREA * BLOCK + h], g[EX * BLOCK + h],
                          g[EY * BLOCK + h], g[COS * BLOCK + h], g[SIN * BLOCK + h], g[HW * BLOCK + h],
                          g[HH * BLOCK + h])


cdef void metric_row(int code, const floating[:, ::1] a, Py_ssize_t i, const floating[:, ::1] b,
                     Py_ssize_t first, floating[:, :] out) noexcept nogil:
    # Row i of out: box i of a against boxes first, first + 1, ... of b.  IoU and IoA are 0
    # where the bounding boxes do not meet: as the Numba kernel, a block of BLOCK columns at
    # a time, the pairs that meet (the metric's own test) are collected, their columns
    # gathered, and only those take the metric, in a loop over contiguous arrays.
    cdef Py_ssize_t m = out.shape[1], j, h, r, start, stop, n_hits
    cdef floating acx = a[CX, i], acy = a[CY, i], aex = a[EX, i], aey = a[EY, i]
    cdef Py_ssize_t* hits
    cdef floating* g
    cdef floating* value
    if code == GIOU:
        for j in range(m):
            out[i, j] = column_metric(code, a, i, b, first + j)
        return
    hits = <Py_ssize_t*>malloc(BLOCK * sizeof(Py_ssize_t))
    g = <floating*>malloc(N_COLUMNS * BLOCK * sizeof(floating))
    value = <floating*>malloc(BLOCK * sizeof(floating))
    start = 0
    while start < m:
        stop = min(start + BLOCK, m)
        n_hits = 0
        for j in range(start, stop):
            hits[n_hits] = j
            n_hits += ((fabs(acx - b[CX, first + j]) <= aex + b[EX, first + j])
                       & (fabs(acy - b[CY, first + j]) <= aey + b[EY, first + j]))
            out[i, j] = 0
        for h in range(n_hits):
            for r in range(N_COLUMNS):
                g[r * BLOCK + h] = b[r, first + hits[h]]
        if code == IOU:  # (the code a constant in each loop, so that the loop has no branch)
            gathered_metric(IOU, a, i, g, value, n_hits)
        else:
            gathered_metric(IOA, a, i, g, value, n_hits)
        for h in range(n_hits):
            out[i, hits[h]] = value[h]
        start = stop
    free(hits)
    free(g)
    free(value)


def pairwise(int code, const floating[:, ::1] c1, const floating[:, ::1] c2,
             Py_ssize_t rows, floating[:, :] out, int threads):
    # Batches: out is (B * rows, M), and row i meets the boxes (i // rows) * M ... of c2.
    cdef Py_ssize_t n = out.shape[0], m = out.shape[1], i
    if threads <= 1:
        for i in range(n):
            metric_row(code, c1, i, c2, (i // rows) * m, out)
        return
    for i in prange(n, nogil=True, schedule="dynamic", chunksize=4, num_threads=threads):
        metric_row(code, c1, i, c2, (i // rows) * m, out)


def aligned(int code, const floating[:, ::1] c1, const floating[:, ::1] c2,
            floating[:] out, int threads):
    cdef Py_ssize_t n = c1.shape[1], i
    if threads <= 1:
        for i in range(n):
            out[i] = column_metric(code, c1, i, c2, i)
        return
    for i in prange(n, nogil=True, schedule="dynamic", chunksize=1024, num_threads=threads):
        out[i] = column_metric(code, c1, i, c2, i)
