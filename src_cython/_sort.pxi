# The stable sort by decreasing score of the Cython extensions (COCO matching, the small
# NMS fast path's float64 scores): NumPy's mergesort of -score.  Needs ``memcpy``.

cdef struct Keyed:  # an item (a detection, a box) and its sort key
    double neg_score
    Py_ssize_t pos


cdef void _sort_by_score(Keyed* a, Keyed* tmp, Py_ssize_t n) noexcept nogil:
    """A stable sort by ``neg_score``: decreasing score, ties in input order, as
    NumPy's mergesort of -score (insertion-sorted blocks of 16, then bottom-up
    merges between ``a`` and ``tmp``, n entries each)."""
    cdef Py_ssize_t lo, hi, mid, i, j, k, width = 16
    cdef Keyed item
    cdef Keyed* src = a
    cdef Keyed* dst = tmp
    cdef Keyed* swap
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
        memcpy(a, src, n * sizeof(Keyed))
