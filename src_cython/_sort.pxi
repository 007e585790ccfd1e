# The stable sort by decreasing score of the Cython extensions (COCO matching, the small
# NMS fast path): NumPy's mergesort of -score.  Needs ``memcpy`` and ``int32_t``.

cdef struct Keyed:  # an item (a detection, a box) and its sort key
    double neg_score
    Py_ssize_t pos


cdef struct Keyed32:  # the same for float32 scores: half the bytes to move
    float neg_score
    int32_t pos


ctypedef fused AnyKeyed:
    Keyed
    Keyed32


cdef void _sort_by_score(AnyKeyed* a, AnyKeyed* tmp, Py_ssize_t n) noexcept nogil:
    """A stable sort by ``neg_score``: decreasing score, ties in input order, as
    NumPy's mergesort of -score (insertion-sorted blocks of 16, then bottom-up
    merges between ``a`` and ``tmp``, n entries each)."""
    cdef Py_ssize_t lo, hi, mid, i, j, k, width = 16
    cdef AnyKeyed item
    cdef AnyKeyed* src = a
    cdef AnyKeyed* dst = tmp
    cdef AnyKeyed* swap
    for lo in range(0, n, 16):
        hi = min(lo + 16, n)
        for i in range(lo + 1, hi):
            item = a[i]
            j = i
            while j > lo and a[j - 1].neg_score > item.neg_score:
                a[j] = a[j - 1]
                j -= 1
            a[j] = item
    while width < n:
        lo = 0
        while lo < n:
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if src[j].neg_score < src[i].neg_score:  # ties from the left: stable
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < hi:
                dst[k] = src[j]
                j += 1
                k += 1
            lo += 2 * width
        swap = src
        src = dst
        dst = swap
        width *= 2
    if src != a:
        memcpy(a, src, n * sizeof(AnyKeyed))
