# The column split of boxes (N, 4) into columns (8, N): the twin of fastiou/_columns.py's
# split (see there), included by the extensions whose small-input fast paths run with no
# Numba at all (no JIT start-up in a new process, no dispatcher overhead).  Needs
# ``floating``, ``int64_t``, ``atan2`` and ``fastiou._formulas`` as ``_formulas``.

# The fast formulas' safe range of |coordinate| (see fastiou/_formulas.py).
cdef double SAFE_LO32 = _formulas.SAFE_LO32, SAFE_HI32 = _formulas.SAFE_HI32
cdef double SAFE_LO64 = _formulas.SAFE_LO64, SAFE_HI64 = _formulas.SAFE_HI64
cdef Py_ssize_t EXTREME = _formulas.EXTREME


cdef inline bint in_safe_range(floating c, floating lo, floating hi) noexcept nogil:
    """``c`` is 0 or of a magnitude the fast formulas handle (False for NaN and inf)."""
    cdef floating m = c if c >= 0 else -c
    return (m <= hi) & ((m >= lo) | (c == 0))  # bitwise: no branch


cdef inline void _corners(const char* row, Py_ssize_t s1, int fmt, floating offset, floating* x1,
                          floating* y1, floating* x2, floating* y2) noexcept nogil:
    """The corners of the box at ``row`` (coordinates ``s1`` bytes apart) in format ``fmt``."""
    cdef floating half = <floating>0.5
    cdef floating a0 = (<const floating*>row)[0], a1 = (<const floating*>(row + s1))[0]
    cdef floating a2 = (<const floating*>(row + 2 * s1))[0], a3 = (<const floating*>(row + 3 * s1))[0]
    if fmt == 0:
        x1[0], y1[0], x2[0], y2[0] = a0, a1, a2, a3
    elif fmt == 1:
        x1[0], y1[0], x2[0], y2[0] = a0, a1, a0 + a2, a1 + a3
    else:
        x1[0], y1[0], x2[0], y2[0] = a0 - half * a2, a1 - half * a3, a0 + half * a2, a1 + half * a3
    x2[0] = x2[0] + offset
    y2[0] = y2[0] + offset


cdef Py_ssize_t _fill_columns(const char* boxes, Py_ssize_t n, Py_ssize_t s0, Py_ssize_t s1,
                              int fmt, floating offset, bint check, bint angle,
                              floating* cols, const int64_t* order=NULL) noexcept nogil:
    """Split ``n`` boxes (rows ``s0`` bytes apart, coordinates ``s1``) into ``cols`` (8, n):
    column i from row ``order[i]`` (``order`` NULL: row i).

    Returns the first invalid row, or ``EXTREME`` when every row is valid but one lies
    outside the safe range, or -1.
    """
    cdef Py_ssize_t i
    cdef floating x1, y1, x2, y2, w, h, a0, a1, a2, a3
    cdef const char* row
    cdef floating lo = <floating>(SAFE_LO32 if floating is float else SAFE_LO64)
    cdef floating hi = <floating>(SAFE_HI32 if floating is float else SAFE_HI64)
    cdef const floating* c = cols
    cdef floating unusual = 0
    for i in range(n):
        _corners(boxes + (order[i] if order != NULL else i) * s0, s1, fmt, offset, &x1, &y1, &x2, &y2)
        w = x2 - x1
        h = y2 - y1
        cols[i] = x1
        cols[n + i] = y1
        cols[2 * n + i] = x2
        cols[3 * n + i] = y2
        cols[4 * n + i] = w * h
        cols[5 * n + i] = x1 + x2
        cols[6 * n + i] = y1 + y2
        cols[7 * n + i] = <floating>atan2(w, h) if angle else <floating>0
    # The usual case checked on the columns, a branch-free loop the C compiler vectorises:
    # corners in the safe range (so finite: so are the row's four numbers) and ordered.
    # Counted in a floating (an int count of double compares is not vectorised).
    for i in range(n):
        unusual += <floating>0 if (
            in_safe_range(c[i], lo, hi) & in_safe_range(c[n + i], lo, hi)
            & in_safe_range(c[2 * n + i], lo, hi) & in_safe_range(c[3 * n + i], lo, hi)
            & ((c[i] <= c[2 * n + i]) & (c[n + i] <= c[3 * n + i]) | (not check))) else <floating>1
    if unusual == 0:
        return -1
    # Else the rows again, in full: the first with a non-finite number or unordered corners
    # (a finite row may overflow to infinite corners: valid, outside the safe range)
    if check:
        for i in range(n):
            row = boxes + (order[i] if order != NULL else i) * s0
            a0 = (<const floating*>row)[0]
            a1 = (<const floating*>(row + s1))[0]
            a2 = (<const floating*>(row + 2 * s1))[0]
            a3 = (<const floating*>(row + 3 * s1))[0]
            if not ((a0 - a0 == 0) and (a1 - a1 == 0) and (a2 - a2 == 0) and (a3 - a3 == 0)
                    and c[i] <= c[2 * n + i] and c[n + i] <= c[3 * n + i]):
                return i
    return EXTREME
