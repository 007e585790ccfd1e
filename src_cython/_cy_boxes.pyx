# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython box metrics: the second implementation of fastiou/_formulas.py.

Same small functions, same guarded division, same per-box columns ``(8, N)``
(rows x1, y1, x2, y2, area, doubled centre x and y, aspect angle; see
fastiou/_columns.py).  Float32 stays float32: no literal takes part in the
arithmetic (zero is ``<floating>0``, constants arrive in the caller's dtype).

``pairwise`` and ``aligned`` dispatch on the metric code once per call, to a
kernel compiled for that metric alone (the fused type ``Metric``): the code is a
compile-time constant in every inner loop, so the C compiler folds the metric's
branches and vectorises the loop.  The kernels contain no validation.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy
from libc.math cimport INFINITY, atan2
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

cimport numpy as cnp
import numpy as np

cnp.import_array()

from fastiou import _formulas

# CIoU's 4 / pi^2: the very double the Python wrappers pass to every kernel.
cdef double FOUR_OVER_PI2 = _formulas.FOUR_OVER_PI2

# One empty struct per metric, and a fused type over them: each metric gets its own
# compiled copy of ``metric`` and of the loops.  (A plain ``int code`` argument made
# constant by inlining is not enough: GCC's inlining budget, largely spent on
# Cython's own helpers, left some loops with a run-time code, unvectorised.)
cdef struct IoU:
    char unused
cdef struct IoA:
    char unused
cdef struct GIoU:
    char unused
cdef struct DIoU:
    char unused
cdef struct CIoU:
    char unused

ctypedef fused Metric:
    IoU
    IoA
    GIoU
    DIoU
    CIoU

# The metric codes of fastiou/_formulas.py (checked by the tests).
cdef enum:
    IOU = 0
    IOA = 1
    GIOU = 2
    DIOU = 3
    CIOU = 4
CODES = {"iou": IOU, "ioa": IOA, "giou": GIOU, "diou": DIOU, "ciou": CIOU}

# Results per chunk: the loops fill a private buffer of this many values, then copy it out.
# Parallel loops hand out about PAIR_CHUNK pairs at a time (dynamic schedule, about
# 30 us of IoU): a thread that another process deschedules then holds back at most
# its chunk, not a static share of the loop.  numba_cpu.PAIR_CHUNK is the same.
cdef enum:
    CHUNK = 1024
    PAIR_CHUNK = 32768


# Zero is a constant, not ``x - x`` as in the Numba formulas: an arithmetic
# operation inside a branch may trap (-ftrapping-math) and would stop the C
# compiler from turning the branch into a vector select.

cdef inline floating positive_part(floating x) noexcept nogil:
    return x if x > <floating>0 else <floating>0


cdef inline floating guarded_div(floating num, floating den) noexcept nogil:
    # 0 (not NaN) when the denominator is 0: num / inf, which like the Numba
    # formulas' ``num - num`` is 0 for finite num.  The one division runs
    # unconditionally: GCC (-ftrapping-math) never turns a division under a
    # branch into a vector select, and would not vectorise the loop.
    return num / (den if den > <floating>0 else <floating>INFINITY)


cdef inline floating intersection(floating ax1, floating ay1, floating ax2, floating ay2,
                                  floating bx1, floating by1, floating bx2, floating by2) noexcept nogil:
    cdef floating iw = positive_part(min(ax2, bx2) - max(ax1, bx1))
    cdef floating ih = positive_part(min(ay2, by2) - max(ay1, by1))
    return iw * ih


cdef inline void enclosing_sides(floating ax1, floating ay1, floating ax2, floating ay2,
                                 floating bx1, floating by1, floating bx2, floating by2,
                                 floating* cw, floating* ch) noexcept nogil:
    cw[0] = max(ax2, bx2) - min(ax1, bx1)
    ch[0] = max(ay2, by2) - min(ay1, by1)


cdef inline floating giou_term(floating iou, floating union, floating cw, floating ch,
                               floating eps) noexcept nogil:
    # eps: mmdet's floor on the enclosing area (0: none)
    cdef floating enclosing = max(cw * ch, eps)
    return iou - guarded_div(enclosing - union, enclosing)


cdef inline void centre_terms(floating acx2, floating acy2, floating bcx2, floating bcy2,
                              floating cw, floating ch, floating* rho2, floating* c2) noexcept nogil:
    # rho^2 and c^2 times 4, from doubled centres: no literal needed.
    cdef floating dx = acx2 - bcx2
    cdef floating dy = acy2 - bcy2
    cdef floating cw2 = cw + cw
    cdef floating ch2 = ch + ch
    rho2[0] = dx * dx + dy * dy
    c2[0] = cw2 * cw2 + ch2 * ch2


cdef inline floating ciou_penalty(floating rho2, floating c2, floating iou, floating angle_a,
                                  floating angle_b, floating four_over_pi2, floating one,
                                  floating eps) noexcept nogil:
    # rho^2 / (c^2 + eps) + alpha v as one division (rho^2 S' + v^2 c^2') / (c^2' S'),
    # S' = 1 - IoU + v + eps, c^2' = c^2 + 4 eps (c2 is 4 c^2); with eps 0, 0 where c^2 S
    # is 0 (see fastiou/_formulas.py).
    cdef floating d = angle_a - angle_b
    cdef floating v = four_over_pi2 * (d * d)
    cdef floating s = ((one - iou) + v) + eps
    cdef floating e2 = eps + eps
    cdef floating c2e = c2 + (e2 + e2)
    return guarded_div(rho2 * s + (v * v) * c2e, c2e * s)


cdef inline int code_of(Metric tag) noexcept nogil:
    if Metric is IoU:
        return IOU
    elif Metric is IoA:
        return IOA
    elif Metric is GIoU:
        return GIOU
    elif Metric is DIoU:
        return DIOU
    else:
        return CIOU


cdef inline floating metric(Metric tag,
                            floating ax1, floating ay1, floating ax2, floating ay2,
                            floating aarea, floating acx2, floating acy2, floating aangle,
                            floating bx1, floating by1, floating bx2, floating by2,
                            floating barea, floating bcx2, floating bcy2, floating bangle,
                            floating four_over_pi2, floating one, floating eps) noexcept nogil:
    """The metric ``tag`` between boxes a and b, given their columns as scalars; ``eps``
    (0: guarded) is torchvision's eps of DIoU and CIoU and mmdet's floor on the
    denominators of IoU, IoA and GIoU (see fastiou/_formulas.py)."""
    cdef int code = code_of(tag)  # a constant in each compiled copy: the branches fold
    cdef floating inter = intersection(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2)
    cdef floating union, iou, cw, ch, rho2, c2, e2
    if code == IOA:
        return guarded_div(inter, max(aarea, eps))
    union = (aarea + barea) - inter
    if code == IOU or code == GIOU:
        union = max(union, eps)
    iou = guarded_div(inter, union)
    if code == IOU:
        return iou
    enclosing_sides(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2, &cw, &ch)
    if code == GIOU:
        return giou_term(iou, union, cw, ch, eps)
    centre_terms(acx2, acy2, bcx2, bcy2, cw, ch, &rho2, &c2)
    if code == DIOU:
        e2 = eps + eps
        return iou - guarded_div(rho2, c2 + (e2 + e2))
    return iou - ciou_penalty(rho2, c2, iou, aangle, bangle, four_over_pi2, one, eps)


cdef inline void _metric_row(Metric tag, const floating* a, Py_ssize_t lda,
                             const floating* b, Py_ssize_t ldb, Py_ssize_t count,
                             floating four_over_pi2, floating one, floating eps,
                             floating* out) noexcept nogil:
    """``out[j] = metric(box a, box j of b)`` for ``count`` boxes; columns ``lda`` / ``ldb`` apart."""
    cdef floating ax1 = a[0], ay1 = a[lda], ax2 = a[2 * lda], ay2 = a[3 * lda]
    cdef floating aarea = a[4 * lda], acx2 = a[5 * lda], acy2 = a[6 * lda], aangle = a[7 * lda]
    cdef Py_ssize_t j
    for j in range(count):
        out[j] = metric(tag, ax1, ay1, ax2, ay2, aarea, acx2, acy2, aangle,
                        b[j], b[ldb + j], b[2 * ldb + j], b[3 * ldb + j],
                        b[4 * ldb + j], b[5 * ldb + j], b[6 * ldb + j], b[7 * ldb + j],
                        four_over_pi2, one, eps)


cdef inline void _metric_span(Metric tag, const floating* a, const floating* b, Py_ssize_t ld,
                              Py_ssize_t count, floating four_over_pi2, floating one,
                              floating eps, floating* out) noexcept nogil:
    """``out[j] = metric(box j of a, box j of b)`` for ``count`` boxes; columns ``ld`` apart."""
    cdef Py_ssize_t j
    for j in range(count):
        out[j] = metric(tag, a[j], a[ld + j], a[2 * ld + j], a[3 * ld + j],
                        a[4 * ld + j], a[5 * ld + j], a[6 * ld + j], a[7 * ld + j],
                        b[j], b[ld + j], b[2 * ld + j], b[3 * ld + j],
                        b[4 * ld + j], b[5 * ld + j], b[6 * ld + j], b[7 * ld + j],
                        four_over_pi2, one, eps)


cdef inline void _copy_out(const floating* src, Py_ssize_t count, char* dest,
                           Py_ssize_t stride) noexcept nogil:
    """``dest[j] = src[j]``, ``dest`` advancing by ``stride`` bytes (``out`` may be strided)."""
    cdef Py_ssize_t j
    if stride == sizeof(floating):
        memcpy(dest, src, count * sizeof(floating))
    else:
        for j in range(count):
            (<floating*>(dest + j * stride))[0] = src[j]


# A row goes straight into a contiguous ``out``; otherwise, and always for the
# aligned loop, values go through a private stack buffer and are copied out.  The
# compiler then knows that the aligned loop's stores alias none of its 16 column
# reads (more than it checks at run time), so that the loop vectorises.

cdef inline void _pairwise_row(Metric tag, const floating* a, Py_ssize_t lda,
                               const floating* b, Py_ssize_t ldb, Py_ssize_t m,
                               floating four_over_pi2, floating one, floating eps,
                               char* row, Py_ssize_t stride) noexcept nogil:
    cdef floating buf[CHUNK]
    cdef floating* dest
    cdef bint direct = stride == sizeof(floating)
    cdef Py_ssize_t k, start, count
    for k in range((m + CHUNK - 1) // CHUNK):
        start = k * CHUNK
        count = min(<Py_ssize_t>CHUNK, m - start)
        dest = <floating*>(row + start * stride) if direct else buf
        _metric_row(tag, a, lda, b + start, ldb, count, four_over_pi2, one, eps, dest)
        if not direct:
            _copy_out(buf, count, row + start * stride, stride)


cdef inline void _aligned_chunk(Metric tag, const floating* a, const floating* b, Py_ssize_t n,
                                Py_ssize_t count, floating four_over_pi2, floating one,
                                floating eps, char* dest, Py_ssize_t stride) noexcept nogil:
    cdef floating buf[CHUNK]
    _metric_span(tag, a, b, n, count, four_over_pi2, one, eps, buf)
    _copy_out(buf, count, dest, stride)


cdef void _pairwise(Metric tag, const floating[:, ::1] c1, const floating[:, ::1] c2,
                    floating four_over_pi2, floating one, floating eps, Py_ssize_t rows,
                    floating[:, :] out, int num_threads) noexcept nogil:
    # Batched boxes are one flat problem: out is (B * rows, M), and row i meets the
    # boxes (i // rows) * M ... of c2 (columns c2.shape[1] = B * M apart).
    cdef Py_ssize_t n = c1.shape[1], m = out.shape[1], ldb = c2.shape[1], i
    cdef char* base = <char*>&out[0, 0]
    # One thread: a plain loop, no OpenMP call (a forked child must not enter libgomp,
    # and even a one-thread region costs about a microsecond).
    if num_threads <= 1:
        for i in range(n):
            _pairwise_row(tag, &c1[0, i], n, &c2[0, (i // rows) * m], ldb, m, four_over_pi2, one,
                          eps, base + i * out.strides[0], out.strides[1])
        return
    for i in prange(n, schedule="dynamic", chunksize=max(1, PAIR_CHUNK // m), num_threads=num_threads):
        _pairwise_row(tag, &c1[0, i], n, &c2[0, (i // rows) * m], ldb, m, four_over_pi2, one,
                      eps, base + i * out.strides[0], out.strides[1])


cdef void _aligned(Metric tag, const floating[:, ::1] c1, const floating[:, ::1] c2,
                   floating four_over_pi2, floating one, floating eps, floating[:] out,
                   int num_threads) noexcept nogil:
    cdef Py_ssize_t n = c1.shape[1], chunks = (n + CHUNK - 1) // CHUNK, k, start
    cdef char* base = <char*>&out[0]
    if num_threads <= 1:  # a plain loop, as in _pairwise
        for k in range(chunks):
            start = k * CHUNK
            _aligned_chunk(tag, &c1[0, start], &c2[0, start], n, min(<Py_ssize_t>CHUNK, n - start),
                           four_over_pi2, one, eps, base + start * out.strides[0], out.strides[0])
        return
    for k in prange(chunks, schedule="dynamic", chunksize=PAIR_CHUNK // CHUNK, num_threads=num_threads):
        start = k * CHUNK
        _aligned_chunk(tag, &c1[0, start], &c2[0, start], n, min(<Py_ssize_t>CHUNK, n - start),
                       four_over_pi2, one, eps, base + start * out.strides[0], out.strides[0])


cdef void _pairwise_code(int code, const floating[:, ::1] c1, const floating[:, ::1] c2,
                         floating four_over_pi2, floating one, floating eps, Py_ssize_t rows,
                         floating[:, :] out, int num_threads) noexcept nogil:
    cdef IoU iou
    cdef IoA ioa
    cdef GIoU giou
    cdef DIoU diou
    cdef CIoU ciou
    if c1.shape[1] == 0 or c2.shape[1] == 0 or out.shape[1] == 0:
        return
    if code == IOU:
        _pairwise(iou, c1, c2, four_over_pi2, one, eps, rows, out, num_threads)
    elif code == IOA:
        _pairwise(ioa, c1, c2, four_over_pi2, one, eps, rows, out, num_threads)
    elif code == GIOU:
        _pairwise(giou, c1, c2, four_over_pi2, one, eps, rows, out, num_threads)
    elif code == DIOU:
        _pairwise(diou, c1, c2, four_over_pi2, one, eps, rows, out, num_threads)
    else:
        _pairwise(ciou, c1, c2, four_over_pi2, one, eps, rows, out, num_threads)


def pairwise(int code, const floating[:, ::1] c1, const floating[:, ::1] c2,
             floating four_over_pi2, floating one, floating[:, :] out, int num_threads,
             Py_ssize_t rows=0, floating eps=0):
    """``out[i, j] = metric code(box i of c1, box j of c2)`` on ``num_threads`` threads.

    Batched with ``rows`` (boxes of c1 per batch; 0: all of them): ``out`` is
    ``(B * rows, M)`` and row i meets boxes ``(i // rows) * M + j`` of c2.  ``eps``:
    DIoU's and CIoU's (0: the guarded division).
    """
    if rows <= 0:
        rows = max(1, out.shape[0])
    if out.shape[0] % rows or c1.shape[1] != out.shape[0] or c2.shape[1] != (out.shape[0] // rows) * out.shape[1]:
        raise ValueError("pairwise: columns and out do not match")
    with nogil:
        _pairwise_code(code, c1, c2, four_over_pi2, one, eps, rows, out, num_threads)


def aligned(int code, const floating[:, ::1] c1, const floating[:, ::1] c2,
            floating four_over_pi2, floating one, floating[:] out, int num_threads,
            floating eps=0):
    """``out[i] = metric code(box i of c1, box i of c2)`` on ``num_threads`` threads."""
    if c1.shape[1] == 0:
        return
    cdef IoU iou = IoU(0)
    cdef IoA ioa = IoA(0)
    cdef GIoU giou = GIoU(0)
    cdef DIoU diou = DIoU(0)
    cdef CIoU ciou = CIoU(0)
    with nogil:
        if code == IOU:
            _aligned(iou, c1, c2, four_over_pi2, one, eps, out, num_threads)
        elif code == IOA:
            _aligned(ioa, c1, c2, four_over_pi2, one, eps, out, num_threads)
        elif code == GIOU:
            _aligned(giou, c1, c2, four_over_pi2, one, eps, out, num_threads)
        elif code == DIOU:
            _aligned(diou, c1, c2, four_over_pi2, one, eps, out, num_threads)
        else:
            _aligned(ciou, c1, c2, four_over_pi2, one, eps, out, num_threads)


# --- COCO evaluation's box overlaps ----------------------------------------------------

cdef void _coco_group(Py_ssize_t k, const double[:, ::1] dcols, const double[:, ::1] gcols,
                      const cnp.uint8_t[::1] gcrowd, const cnp.int64_t[::1] d_start,
                      const cnp.int64_t[::1] n_d, const cnp.int64_t[::1] g_start,
                      const cnp.int64_t[::1] n_g, const cnp.int64_t[::1] offsets,
                      double* out) noexcept nogil:
    # numba_cpu_coco._box_overlaps for group k: pair_metric(code, ..., 0.0, 1.0) is
    # metric(code, ..., four_over_pi2=0, one=1, eps=0)
    cdef Py_ssize_t nd = n_d[k], ng = n_g[k], g0 = g_start[k], i, j
    cdef double* row
    cdef IoU iou
    cdef IoA ioa
    if nd == 0 or ng == 0:  # (a group without ground truth has no columns in dcols)
        return
    for i in range(nd):
        row = out + offsets[k] + i * ng
        _metric_row(iou, &dcols[0, d_start[k] + i], dcols.shape[1], &gcols[0, g0], gcols.shape[1], ng,
                    0.0, 1.0, 0.0, row)
        for j in range(ng):  # a crowd: the intersection over the detection's area
            if gcrowd[g0 + j]:
                _metric_row(ioa, &dcols[0, d_start[k] + i], dcols.shape[1], &gcols[0, g0 + j],
                            gcols.shape[1], 1, 0.0, 1.0, 0.0, row + j)


def coco_overlaps(const double[:, ::1] dcols, const double[:, ::1] gcols, const cnp.uint8_t[::1] gcrowd,
                  const cnp.int64_t[::1] d_start, const cnp.int64_t[::1] n_d, const cnp.int64_t[::1] g_start,
                  const cnp.int64_t[::1] n_g, const cnp.int64_t[::1] offsets, double[::1] out,
                  int num_threads):
    """numba_cpu_coco.box_overlaps: each group's detection x ground-truth overlaps, IoU
    (IoA for a crowd ground truth), row-major at ``out[offsets[group]]``; groups handed
    out 8 at a time (its GROUP_CHUNK)."""
    cdef Py_ssize_t k, n = n_d.shape[0]
    cdef double* o = &out[0] if out.shape[0] else NULL
    if num_threads <= 1:  # a plain loop, no OpenMP call
        with nogil:
            for k in range(n):
                _coco_group(k, dcols, gcols, gcrowd, d_start, n_d, g_start, n_g, offsets, o)
        return
    for k in prange(n, nogil=True, schedule="dynamic", chunksize=8, num_threads=num_threads):
        _coco_group(k, dcols, gcols, gcrowd, d_start, n_d, g_start, n_g, offsets, o)


# --- the column split and the small-input fast path --------------------------------------
# The twin of fastiou/_columns.py's split (see there): with it, a small call runs with no
# Numba at all (no JIT start-up in a new process, no dispatcher overhead).  Raw pointers
# and strides rather than memoryviews: acquiring a memoryview costs more than a 10 x 10 job.

include "_columns.pxi"


cdef Py_ssize_t _fill(floating kind, cnp.ndarray boxes, int fmt, double offset, bint check,
                      bint angle, cnp.ndarray cols):
    return _fill_columns(<const char*>cnp.PyArray_DATA(boxes), boxes.shape[0], boxes.strides[0],
                         boxes.strides[1], fmt, <floating>offset, check, angle,
                         <floating*>cnp.PyArray_DATA(cols))


def fill_columns(cnp.ndarray boxes, int fmt, double offset, bint check, bint angle,
                 cnp.ndarray cols):
    """Fill C-contiguous ``cols`` (8, N) from ``boxes`` (N, 4) of the same float dtype.

    ``angle=False`` leaves the angle row 0.  Returns the first invalid row, or
    ``EXTREME`` (-2) when a valid row lies outside the safe range, or -1.
    """
    if cnp.PyArray_TYPE(cols) == cnp.NPY_FLOAT32:
        return _fill(<float>0, boxes, fmt, offset, check, angle, cols)
    return _fill(<double>0, boxes, fmt, offset, check, angle, cols)


cdef void _rows(Metric tag, const floating* c1, Py_ssize_t n, const floating* c2, Py_ssize_t m,
                char* out, Py_ssize_t s0, Py_ssize_t s1) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        _pairwise_row(tag, c1 + i, n, c2, m, m, <floating>FOUR_OVER_PI2, <floating>1, <floating>0,
                      out + i * s0, s1)


cdef int _small(floating kind, int code, cnp.ndarray b1, cnp.ndarray b2, int fmt, int offset,
                bint check, cnp.ndarray out):
    cdef Py_ssize_t n = b1.shape[0], m = b2.shape[0]
    cdef floating* c1 = <floating*>malloc(8 * (n + m) * sizeof(floating))
    cdef floating* c2 = c1 + 8 * n
    cdef char* o = <char*>cnp.PyArray_DATA(out)
    cdef Py_ssize_t s0 = out.strides[0], s1 = out.strides[1]
    cdef IoU iou
    cdef IoA ioa
    cdef GIoU giou
    cdef DIoU diou
    cdef CIoU ciou
    if c1 == NULL:
        raise MemoryError()
    try:
        if (_fill_columns(<const char*>cnp.PyArray_DATA(b1), n, b1.strides[0], b1.strides[1], fmt,
                          <floating>offset, check, code == CIOU, c1) != -1
                or _fill_columns(<const char*>cnp.PyArray_DATA(b2), m, b2.strides[0], b2.strides[1],
                                 fmt, <floating>offset, check, code == CIOU, c2) != -1):
            return 0  # an invalid row, or one outside the safe range: the general path
        if m == 0:
            return -1
        if code == IOU:
            _rows(iou, c1, n, c2, m, o, s0, s1)
        elif code == IOA:
            _rows(ioa, c1, n, c2, m, o, s0, s1)
        elif code == GIOU:
            _rows(giou, c1, n, c2, m, o, s0, s1)
        elif code == DIOU:
            _rows(diou, c1, n, c2, m, o, s0, s1)
        else:
            _rows(ciou, c1, n, c2, m, o, s0, s1)
        return -1
    finally:
        free(c1)


cdef bint _fast_boxes(object boxes, int dtype):
    """An ndarray (not a subclass) (N, 4) of native, aligned ``dtype`` (float32/float64)."""
    if type(boxes) is not np.ndarray:
        return False
    cdef cnp.ndarray b = boxes
    return (b.ndim == 2 and b.shape[1] == 4 and cnp.PyArray_TYPE(b) == dtype
            and (dtype == cnp.NPY_FLOAT32 or dtype == cnp.NPY_FLOAT64)
            and cnp.PyArray_ISNOTSWAPPED(b) and cnp.PyArray_ISALIGNED(b))


def small_metric(int code, object boxes1, object boxes2, int fmt, object offset, bint check,
                 Py_ssize_t limit):
    """The small-input fast path, whole: metric ``code`` of every pair, as a new (N, M) array.

    Takes two float32 or float64 ndarrays of one dtype, ``N * M < limit``, ``fmt`` a
    format code (-1: not one) and ``offset`` 0 or 1; checks (``check``), splits and
    computes in one compiled call, with no thread pool.  Returns None for anything
    else, for an invalid box and for a coordinate outside the safe range: the general
    path then runs (and names the box, or computes the extreme call exactly).
    """
    if type(boxes1) is not np.ndarray or fmt < 0 or type(offset) is not int:
        return None
    cdef int dtype = cnp.PyArray_TYPE(<cnp.ndarray>boxes1)
    if not (_fast_boxes(boxes1, dtype) and _fast_boxes(boxes2, dtype)) or not (offset == 0 or offset == 1):
        return None
    cdef cnp.npy_intp dims[2]
    dims[0] = (<cnp.ndarray>boxes1).shape[0]
    dims[1] = (<cnp.ndarray>boxes2).shape[0]
    if dims[0] * dims[1] >= limit:
        return None
    cdef cnp.ndarray b1 = boxes1, b2 = boxes2
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(2, dims, dtype, 0)
    cdef int off = offset, done
    if dtype == cnp.NPY_FLOAT32:
        done = _small(<float>0, code, b1, b2, fmt, off, check, out)
    else:
        done = _small(<double>0, code, b1, b2, fmt, off, check, out)
    return out if done < 0 else None


def empty_region(int num_threads):
    """One parallel region with nothing to do (the cost model measures what it costs)."""
    cdef Py_ssize_t i
    cdef int sink = 0
    for i in prange(num_threads, nogil=True, schedule="static", num_threads=num_threads):
        sink += 1
    return sink
