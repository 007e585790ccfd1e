# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython mask kernels: the second implementation of fastiou/backends/numba_cpu_masks.py.

Same representations (packed rows of 64-pixel words, COCO column-major runs with
their ends, the per-mask summary ``info``; see that module), same functions and
arguments, with ``num_threads`` in place of ``parallel``.  The ``prange`` bodies
call one inline function per mask (or pair), so nothing in them is a reduction.
With ``num_threads`` 1 each kernel runs a plain loop and makes no OpenMP call: a
forked child must not enter libgomp, and even a one-thread region costs about a
microsecond.
"""

import numpy as np

cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport INT32_MAX, int32_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc

cnp.import_array()

cdef extern from *:
    """
    #include <stdint.h>
    #if defined(__POPCNT__) && (defined(__GNUC__) || defined(__clang__))
    static inline int64_t fi_popcount(uint64_t x) { return (int64_t)__builtin_popcountll(x); }
    #else
    /* SWAR popcount: portable, and vectorisable where the target has no popcnt. */
    static inline int64_t fi_popcount(uint64_t x) {
        x = x - ((x >> 1) & 0x5555555555555555ULL);
        x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
        x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
        return (int64_t)((x * 0x0101010101010101ULL) >> 56);
    }
    #endif

    #include <string.h>
    /* 64 bytes of 0/1 -> one word, bit b = byte b.  On little-endian targets eight
       bytes read as a uint64 become eight bits with one multiply: byte b lands on
       bit 56 + b and no two partial products collide. */
    static inline uint64_t fi_pack64(const unsigned char* src) {
        uint64_t word = 0;
    #if (defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) || defined(_MSC_VER)
        uint64_t x;
        int q;
        for (q = 0; q < 8; q++) {
            memcpy(&x, src + 8 * q, 8);
            word |= ((x * 0x0102040810204080ULL) >> 56) << (8 * q);
        }
    #else
        int b;
        for (b = 0; b < 64; b++) word |= (uint64_t)src[b] << b;
    #endif
        return word;
    }

    /* Dice sums of one chunk, in float64: (sum p t, sum p or p^2, sum t or t^2).
       An OpenMP SIMD reduction may reorder the additions (vector partial sums)
       without -ffast-math; one loop per combination of flags. */
    #if defined(_OPENMP) && _OPENMP >= 201307
    #define FI_SIMD_SUMS _Pragma("omp simd reduction(+:s_pt,s_p,s_t)")
    #else
    #define FI_SIMD_SUMS
    #endif
    #define FI_DICE_SUMS(NAME, PT, TT) \
    static void NAME(const PT* p, const TT* t, Py_ssize_t n, double thr, int binarize, int squared, \
                     double* out) { \
        double s_pt = 0.0, s_p = 0.0, s_t = 0.0; \
        Py_ssize_t i; \
        if (binarize) { \
            FI_SIMD_SUMS \
            for (i = 0; i < n; i++) { \
                double a = p[i] > thr ? 1.0 : 0.0, b = (double)t[i]; \
                s_pt += a * b; s_p += a; s_t += squared ? b * b : b; } \
        } else if (squared) { \
            FI_SIMD_SUMS \
            for (i = 0; i < n; i++) { \
                double a = (double)p[i], b = (double)t[i]; \
                s_pt += a * b; s_p += a * a; s_t += b * b; } \
        } else { \
            FI_SIMD_SUMS \
            for (i = 0; i < n; i++) { \
                double a = (double)p[i], b = (double)t[i]; \
                s_pt += a * b; s_p += a; s_t += b; } \
        } \
        out[0] = s_pt; out[1] = s_p; out[2] = s_t; \
    }
    FI_DICE_SUMS(fi_sums_b_b, unsigned char, unsigned char)
    FI_DICE_SUMS(fi_sums_b_f, unsigned char, float)
    FI_DICE_SUMS(fi_sums_b_d, unsigned char, double)
    FI_DICE_SUMS(fi_sums_f_b, float, unsigned char)
    FI_DICE_SUMS(fi_sums_f_f, float, float)
    FI_DICE_SUMS(fi_sums_f_d, float, double)
    FI_DICE_SUMS(fi_sums_d_b, double, unsigned char)
    FI_DICE_SUMS(fi_sums_d_f, double, float)
    FI_DICE_SUMS(fi_sums_d_d, double, double)
    """
    int64_t fi_popcount(uint64_t x) noexcept nogil
    uint64_t fi_pack64(const unsigned char* src) noexcept nogil
    void fi_sums_b_b(const unsigned char*, const unsigned char*, Py_ssize_t, double, int, int, double*) noexcept nogil
    void fi_sums_b_f(const unsigned char*, const float*, Py_ssize_t, double, int, int, double*) noexcept nogil
    void fi_sums_b_d(const unsigned char*, const double*, Py_ssize_t, double, int, int, double*) noexcept nogil
    void fi_sums_f_b(const float*, const unsigned char*, Py_ssize_t, double, int, int, double*) noexcept nogil
    void fi_sums_f_f(const float*, const float*, Py_ssize_t, double, int, int, double*) noexcept nogil
    void fi_sums_f_d(const float*, const double*, Py_ssize_t, double, int, int, double*) noexcept nogil
    void fi_sums_d_b(const double*, const unsigned char*, Py_ssize_t, double, int, int, double*) noexcept nogil
    void fi_sums_d_f(const double*, const float*, Py_ssize_t, double, int, int, double*) noexcept nogil
    void fi_sums_d_d(const double*, const double*, Py_ssize_t, double, int, int, double*) noexcept nogil

ctypedef fused pred_t:
    unsigned char
    float
    double

ctypedef fused target_t:
    unsigned char
    float
    double

# Metric codes and info columns: the values of fastiou/_mask_formulas.py.
cdef enum:
    IOU = 0
    DICE = 1

# Work per chunk of a dynamic schedule (numba_cpu_masks has the same): pixels, for the
# loops that scan whole masks; masks, for the loops over runs; pairs of masks.
cdef enum:
    PIXEL_CHUNK = 65536
    MASK_CHUNK = 16
    MASK_PAIR_CHUNK = 128

cdef enum:
    AREA = 0
    Y0 = 1
    Y1 = 2
    X0 = 3
    X1 = 4
    FIRST = 5
    LAST = 6
    TOTAL = 7
    SIMPLE = 8
    N_INFO = 9


cdef inline double overlap(int code, int64_t inter, int64_t area_a, int64_t area_b, bint crowd) noexcept nogil:
    """IoU, Dice or (crowd) intersection over ``area_a``; 0 where the denominator is 0."""
    cdef int64_t num, den
    if code == DICE:
        num = inter + inter
        den = area_a + area_b
    elif crowd:
        num = inter
        den = area_a
    else:
        num = inter
        den = area_a + area_b - inter
    return <double>num / <double>den if den > 0 else 0.0


cdef inline bint boxes_meet(const int64_t* ia, const int64_t* ib) noexcept nogil:
    return not (ia[X1] < ib[X0] or ib[X1] < ia[X0] or ia[Y1] < ib[Y0] or ib[Y1] < ia[Y0])


# --- dense masks -----------------------------------------------------------------


cdef inline uint64_t pack_word(const unsigned char* src, Py_ssize_t count) noexcept nogil:
    cdef uint64_t word = 0
    cdef Py_ssize_t b
    for b in range(count):
        word |= (<uint64_t>src[b]) << b
    return word


cdef void pack_one(const unsigned char* mask, Py_ssize_t height, Py_ssize_t width, uint64_t* bits,
                   Py_ssize_t per_row, uint64_t* cols, int64_t* info) noexcept nogil:
    """Packed rows, area and bounding box of one mask; ``cols`` is zeroed scratch of ``per_row`` words."""
    cdef Py_ssize_t full = width // 64, y, w, w0, w1, b
    cdef uint64_t word, any_set
    cdef int64_t area = 0, y0 = -1, y1 = -1
    for y in range(height):
        any_set = 0
        for w in range(full):
            word = fi_pack64(mask + y * width + w * 64)
            bits[y * per_row + w] = word
            cols[w] |= word
            any_set |= word
            area += fi_popcount(word)
        if full < per_row:
            word = pack_word(mask + y * width + full * 64, width - full * 64)
            bits[y * per_row + full] = word
            cols[full] |= word
            any_set |= word
            area += fi_popcount(word)
        if any_set:
            if y0 < 0:
                y0 = y
            y1 = y
    for w in range(N_INFO):
        info[w] = 0
    info[TOTAL] = height * width
    if area:
        w0 = 0
        while cols[w0] == 0:
            w0 += 1
        w1 = per_row - 1
        while cols[w1] == 0:
            w1 -= 1
        b = 0
        while not ((cols[w0] >> b) & 1):
            b += 1
        info[X0] = w0 * 64 + b
        b = 63
        while not ((cols[w1] >> b) & 1):
            b -= 1
        info[X1] = w1 * 64 + b
        info[AREA] = area
        info[Y0] = y0
        info[Y1] = y1
        info[FIRST] = y0 * width
        info[LAST] = (y1 + 1) * width


def pack_dense(const unsigned char[:, :, ::1] masks, uint64_t[:, :, ::1] bits, int64_t[:, ::1] info,
               int num_threads):
    """Pack masks ``(K, H, W)`` 0/1 into ``bits (K, H, ceil(W / 64))`` and fill ``info (K, 9)``."""
    cdef Py_ssize_t n = masks.shape[0], height = masks.shape[1], width = masks.shape[2]
    cdef Py_ssize_t per_row = bits.shape[2], k
    if n == 0:
        return
    cdef uint64_t[:, ::1] cols = np.zeros((n, max(per_row, 1)), dtype=np.uint64)
    if num_threads <= 1:  # one thread: a plain loop, no OpenMP call (see the module docstring)
        with nogil:
            for k in range(n):
                pack_one(&masks[0, 0, 0] + k * height * width, height, width,
                         &bits[0, 0, 0] + k * height * per_row, per_row, &cols[k, 0], &info[k, 0])
        return
    for k in prange(n, nogil=True, schedule="dynamic",
                    chunksize=max(1, PIXEL_CHUNK // max(1, height * width)), num_threads=num_threads):
        pack_one(&masks[0, 0, 0] + k * height * width, height, width,
                 &bits[0, 0, 0] + k * height * per_row, per_row, &cols[k, 0], &info[k, 0])


cdef inline int64_t dense_inter(const uint64_t* a, const int64_t* ia, const uint64_t* b, const int64_t* ib,
                                Py_ssize_t per_row) noexcept nogil:
    """Pixels shared by two packed masks, over the words of their common box."""
    if ia[AREA] == 0 or ib[AREA] == 0 or not boxes_meet(ia, ib):
        return 0
    cdef Py_ssize_t w0 = max(ia[X0], ib[X0]) // 64, w1 = min(ia[X1], ib[X1]) // 64 + 1, y, w
    cdef int64_t total = 0
    cdef const uint64_t* ra
    cdef const uint64_t* rb
    for y in range(max(ia[Y0], ib[Y0]), min(ia[Y1], ib[Y1]) + 1):
        ra = a + y * per_row
        rb = b + y * per_row
        for w in range(w0, w1):
            total += fi_popcount(ra[w] & rb[w])
    return total


def dense_pairwise(int code, const uint64_t[:, :, ::1] bits1, const int64_t[:, ::1] info1,
                   const uint64_t[:, :, ::1] bits2, const int64_t[:, ::1] info2,
                   const unsigned char[::1] crowd, floating[:, :] out, int num_threads):
    """``out[i, j] = overlap(code, ...)`` of packed masks; ``crowd (M,)``."""
    cdef Py_ssize_t n = bits1.shape[0], m = bits2.shape[0], i, j
    cdef Py_ssize_t per_row = bits1.shape[2], stride = bits1.shape[1] * bits1.shape[2]
    if n == 0 or m == 0:
        return
    cdef const uint64_t* b1 = &bits1[0, 0, 0]
    cdef const uint64_t* b2 = &bits2[0, 0, 0]
    if num_threads <= 1:  # a plain loop, no OpenMP call (see the module docstring)
        with nogil:
            for i in range(n):
                for j in range(m):
                    out[i, j] = <floating>overlap(
                        code, dense_inter(b1 + i * stride, &info1[i, 0], b2 + j * stride, &info2[j, 0], per_row),
                        info1[i, AREA], info2[j, AREA], crowd[j])
        return
    for i in prange(n, nogil=True, schedule="dynamic",
                    chunksize=max(1, MASK_PAIR_CHUNK // m), num_threads=num_threads):
        for j in range(m):
            out[i, j] = <floating>overlap(
                code, dense_inter(b1 + i * stride, &info1[i, 0], b2 + j * stride, &info2[j, 0], per_row),
                info1[i, AREA], info2[j, AREA], crowd[j])


def dense_aligned(int code, const uint64_t[:, :, ::1] bits1, const int64_t[:, ::1] info1,
                  const uint64_t[:, :, ::1] bits2, const int64_t[:, ::1] info2,
                  const unsigned char[::1] crowd, floating[:] out, int num_threads):
    """``out[i] = overlap(code, ...)`` of packed masks ``i`` and ``i``."""
    cdef Py_ssize_t n = bits1.shape[0], i
    cdef Py_ssize_t per_row = bits1.shape[2], stride = bits1.shape[1] * bits1.shape[2]
    if n == 0:
        return
    cdef const uint64_t* b1 = &bits1[0, 0, 0]
    cdef const uint64_t* b2 = &bits2[0, 0, 0]
    if num_threads <= 1:  # a plain loop, no OpenMP call (see the module docstring)
        with nogil:
            for i in range(n):
                out[i] = <floating>overlap(
                    code, dense_inter(b1 + i * stride, &info1[i, 0], b2 + i * stride, &info2[i, 0], per_row),
                    info1[i, AREA], info2[i, AREA], crowd[i])
        return
    for i in prange(n, nogil=True, schedule="dynamic", chunksize=MASK_PAIR_CHUNK, num_threads=num_threads):
        out[i] = <floating>overlap(
            code, dense_inter(b1 + i * stride, &info1[i, 0], b2 + i * stride, &info2[i, 0], per_row),
            info1[i, AREA], info2[i, AREA], crowd[i])


# --- RLE -------------------------------------------------------------------------
# Counts come from annotation files: decode_one and info_one check each count
# before using it and report the first fault of a mask in its status row
# (code, count index, value, extra), with the codes of numba_cpu_masks.RLE_*.

cdef enum:
    RLE_OK = 0
    RLE_NEGATIVE = 1
    RLE_PAST_END = 2
    RLE_SHORT = 3
    RLE_TOO_MANY = 4
    RLE_CUT = 5
    RLE_TOO_LONG = 6
    RLE_BAD_CHAR = 7
    N_STATUS = 4

#: The status codes, in the order above (a test compares them with the Numba backend's).
STATUS_CODES = (RLE_OK, RLE_NEGATIVE, RLE_PAST_END, RLE_SHORT, RLE_TOO_MANY, RLE_CUT, RLE_TOO_LONG,
                RLE_BAD_CHAR, N_STATUS)


cdef inline void report(int64_t* status, int64_t code, int64_t index, int64_t value,
                        int64_t extra) noexcept nogil:
    status[0] = code
    status[1] = index
    status[2] = value
    status[3] = extra


cdef void number_fault(const unsigned char* s, Py_ssize_t length, Py_ssize_t start, int64_t max_chars,
                       int64_t m, int64_t* status) noexcept nogil:
    """Report why the number of count ``m`` from character ``start`` is malformed:
    the first of a character outside 48-111, more than ``max_chars`` characters,
    or the end of the string inside it (read one character at a time)."""
    cdef Py_ssize_t p
    for p in range(start, length):
        if s[p] < 48 or s[p] > 111:
            report(status, RLE_BAD_CHAR, m, s[p], p)
            return
        if p - start == max_chars:
            report(status, RLE_TOO_LONG, m, 0, start)
            return
    report(status, RLE_CUT, m, 0, start)


cdef int64_t decode_one(const unsigned char* s, Py_ssize_t length, int64_t total, int64_t max_chars,
                        int64_t* counts, int64_t* status) noexcept nogil:
    """pycocotools' rleFrString, checked; returns the number of counts written.

    ``counts`` has one slot per character and count ``m`` takes at least one
    character, so ``m < length``: every write is in ``counts``.  A number of at
    most ``max_chars <= 12`` valid characters (60 bits; others are faults, and
    ``shift < 64`` keeps their shifts defined) is in ``[-2**59, 2**59)``;
    ``back2`` (count ``m - 2``) is a checked count in ``[0, total]`` with
    ``total < 2**59``: the delta sum cannot overflow, nor can ``pos <= total``.
    The checks run once per number, on values the character loop gathers (one
    OR per character): checks in that loop measured 1.5x slower.
    """
    cdef Py_ssize_t p = 0, start
    cdef int64_t m = 0, c = 0, v, pos = 0, back1 = 0, back2 = 0, chars
    cdef uint64_t x
    cdef int shift
    cdef bint more
    report(status, RLE_OK, 0, 0, 0)
    while p < length:
        if m > total:
            report(status, RLE_TOO_MANY, m, 0, p)
            return m
        start = p
        x = 0
        shift = 0
        more = True
        chars = 0  # the OR of the characters - 48: above 63 (unsigned) if one is outside 48-111
        while more and p < length:
            c = <int64_t>s[p] - 48
            chars |= c
            if shift < 64:
                x |= (<uint64_t>(c & 0x1F)) << shift
            more = (c & 0x20) != 0
            p += 1
            shift += 5
            if not more and (c & 0x10) and shift < 64:  # the sign bit of the last character
                x |= (~(<uint64_t>0)) << shift
        if (p - start > max_chars) | more | (<uint64_t>chars > 63):
            number_fault(s, length, start, max_chars, m, status)
            return m
        if m > 2:  # from the fourth count on, a difference to the count two back
            x += <uint64_t>back2
        v = <int64_t>x
        if <uint64_t>v > <uint64_t>(total - pos):  # negative, or past the end of the mask
            report(status, RLE_NEGATIVE if v < 0 else RLE_PAST_END, m, v, pos)
            return m
        counts[m] = v
        back2 = back1
        back1 = v
        pos += v
        m += 1
    if pos != total:
        report(status, RLE_SHORT, m, pos, pos)
    return m


def rle_from_strings(const unsigned char[::1] buf, const int64_t[::1] offsets, int64_t total,
                     int64_t max_chars, int64_t[::1] counts, int64_t[::1] nruns, int64_t[:, ::1] status,
                     int num_threads):
    """Decode and check compressed counts of masks of ``total < 2**59`` pixels; string k writes
    ``nruns[k]`` counts from ``counts[offsets[k]]`` and its ``status[k]``."""
    cdef Py_ssize_t n = offsets.shape[0] - 1, k
    if n <= 0:
        return
    cdef unsigned char no_chars[1]
    cdef int64_t no_counts[1]
    # Empty strings (all of them, or the last ones) read and write nothing of these.
    cdef const unsigned char* s = &buf[0] if buf.shape[0] else no_chars
    cdef int64_t* c = &counts[0] if counts.shape[0] else no_counts
    if num_threads <= 1:  # a plain loop, no OpenMP call (see the module docstring)
        with nogil:
            for k in range(n):
                nruns[k] = decode_one(s + offsets[k], offsets[k + 1] - offsets[k], total, max_chars,
                                      c + offsets[k], &status[k, 0])
        return
    for k in prange(n, nogil=True, schedule="dynamic", chunksize=MASK_CHUNK, num_threads=num_threads):
        nruns[k] = decode_one(s + offsets[k], offsets[k + 1] - offsets[k], total, max_chars,
                              c + offsets[k], &status[k, 0])


cdef void info_one(const int64_t* counts, int64_t* ends, int64_t n, int64_t height, int64_t total,
                   int64_t* info, int32_t* seg_start, int32_t* seg_end, int64_t* status) noexcept nogil:
    """Check one mask's runs; their ends, the summary and (simple masks) the column segments.

    Columns are followed by addition (``col`` starts at pixel ``col_start``): a
    division per run measured slower than the rest of the loop.  Each count is
    checked against the pixels left before it is added, so
    ``0 <= pos <= total = height * width`` throughout: a foreground run's pixels
    lie in ``[0, total)``, its columns in ``[0, width)`` (the segment writes), and
    the column walks take O(width + runs) steps (``total < 2**59``: no overflow).
    """
    cdef int64_t pos = 0, area = 0, first = -1, last = 0, y0 = height, y1 = -1, x0 = -1, x1 = -1
    cdef int64_t r, c, begin, col = 0, col_start = 0, end_col, end_start, x, z, last_col = -1
    cdef int64_t code = RLE_OK, bad_run = 0, bad_count = 0
    cdef bint simple = height <= INT32_MAX
    for r in range(n):
        c = counts[r]
        if <uint64_t>c > <uint64_t>(total - pos):  # negative, or past the end of the mask
            code = RLE_NEGATIVE if c < 0 else RLE_PAST_END
            bad_run = r
            bad_count = c
            break
        begin = pos
        pos += c
        ends[r] = pos
        if r % 2 == 1 and c > 0:
            while begin >= col_start + height:
                col_start += height
                col += 1
            end_col = col
            end_start = col_start
            while pos - 1 >= end_start + height:
                end_start += height
                end_col += 1
            area += c
            if first < 0:
                first = begin
                x0 = col
            last = pos
            x1 = end_col
            if end_col != col:  # the run wraps a column: every row is covered
                y0 = 0
                y1 = height - 1
            else:
                y0 = min(y0, begin - col_start)
                y1 = max(y1, pos - 1 - col_start)
            if simple:
                for x in range(col, end_col + 1):
                    if x == last_col:  # a second segment in this column
                        simple = False
                        break
                    for z in range(last_col + 1 if last_col >= 0 else x, x):
                        seg_start[z] = 0
                        seg_end[z] = 0
                    seg_start[x] = <int32_t>(begin - col_start if x == col else 0)
                    seg_end[x] = <int32_t>(pos - end_start if x == end_col else height)
                    last_col = x
    if code == RLE_OK and pos != total:
        code = RLE_SHORT
        bad_run = n
        bad_count = pos
    report(status, code, bad_run, bad_count, pos)
    for r in range(N_INFO):
        info[r] = 0
    info[TOTAL] = pos
    if area > 0 and code == RLE_OK:
        info[AREA] = area
        info[Y0] = y0
        info[Y1] = y1
        info[X0] = x0
        info[X1] = x1
        info[FIRST] = first
        info[LAST] = last
        info[SIMPLE] = simple


def rle_info(int64_t[:, ::1] runs, const int64_t[:, ::1] index, int64_t height, int64_t[:, ::1] info,
             int32_t[:, :, ::1] segments, int64_t[:, ::1] status, int num_threads):
    """Check the counts ``runs[0]`` (masks of ``height * W < 2**59`` pixels) into ``status (K, 4)``;
    fill ``runs[1]`` (run ends), ``info (K, 9)`` and the column ``segments (2, K, W)`` of simple masks."""
    cdef Py_ssize_t n = index.shape[0], k, nruns = runs.shape[1], width = segments.shape[2]
    cdef int64_t total = height * width
    if n == 0:
        return
    cdef int64_t dummy[1]
    cdef int32_t seg_dummy[1]
    cdef int64_t* counts = &runs[0, 0] if nruns else dummy
    cdef int64_t* ends = &runs[1, 0] if nruns else dummy
    # With width 0, total is 0: any positive count is a fault, so no segment is written.
    cdef int32_t* starts = &segments[0, 0, 0] if width else seg_dummy
    cdef int32_t* stops = &segments[1, 0, 0] if width else seg_dummy
    if num_threads <= 1:  # a plain loop, no OpenMP call (see the module docstring)
        with nogil:
            for k in range(n):
                info_one(counts + index[k, 0], ends + index[k, 0], index[k, 1], height, total, &info[k, 0],
                         starts + k * width, stops + k * width, &status[k, 0])
        return
    for k in prange(n, nogil=True, schedule="dynamic", chunksize=MASK_CHUNK, num_threads=num_threads):
        info_one(counts + index[k, 0], ends + index[k, 0], index[k, 1], height, total, &info[k, 0],
                 starts + k * width, stops + k * width, &status[k, 0])


cdef inline int64_t first_foreground_run(const int64_t* ends, int64_t n, int64_t pos) noexcept nogil:
    """Index of the first foreground run ending after ``pos``."""
    cdef int64_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) // 2
        if ends[mid] > pos:
            hi = mid
        else:
            lo = mid + 1
    if lo % 2 == 0:  # a background run: the next one is foreground
        lo += 1
    return lo


cdef inline int64_t simple_inter(const int32_t* sa, const int32_t* ea, const int32_t* sb, const int32_t* eb,
                                 int64_t lo, int64_t hi) noexcept nogil:
    """Overlap of two simple masks' column segments over columns ``[lo, hi)``."""
    cdef int64_t total = 0, x
    cdef int32_t shared
    for x in range(lo, hi):
        shared = min(ea[x], eb[x]) - max(sa[x], sb[x])
        total += shared if shared > 0 else 0
    return total


cdef inline int64_t rle_inter(const int64_t* ea, int64_t na, const int64_t* ia,
                              const int32_t* sa, const int32_t* ta,
                              const int64_t* eb, int64_t nb, const int64_t* ib,
                              const int32_t* sb, const int32_t* tb) noexcept nogil:
    """Pixels shared by two RLE masks.

    Two simple masks (one segment per column, rows ``[s[x], t[x])``) add up the
    overlap of their column segments over their common columns; other pairs
    merge their foreground runs inside the shared span.
    """
    if ia[AREA] == 0 or ib[AREA] == 0 or not boxes_meet(ia, ib):
        return 0
    if ia[SIMPLE] and ib[SIMPLE]:
        return simple_inter(sa, ta, sb, tb, max(ia[X0], ib[X0]), min(ia[X1], ib[X1]) + 1)
    cdef int64_t lo = max(ia[FIRST], ib[FIRST]), hi = min(ia[LAST], ib[LAST])
    if lo >= hi:
        return 0
    cdef int64_t ra = first_foreground_run(ea, na, lo), rb = first_foreground_run(eb, nb, lo)
    cdef int64_t inter = 0, shared
    # A foreground run r (odd) is [ends[r - 1], ends[r]): both bounds on one cache line.
    while ra < na and rb < nb:
        if ea[ra - 1] >= hi or eb[rb - 1] >= hi:
            break
        shared = min(ea[ra], eb[rb]) - max(ea[ra - 1], eb[rb - 1])
        if shared > 0:
            inter += shared
        if ea[ra] <= eb[rb]:
            ra += 2
        else:
            rb += 2
    return inter


cdef struct Rles:
    const int64_t* ends  # the run ends (runs row 1)
    const int32_t* starts  # the segment starts and stops (segments[0], segments[1])
    const int32_t* stops

# what an empty set's pointers point at (never read: its loops have no iteration)
cdef int64_t NO_RUNS[1]
cdef int32_t NO_SEGMENTS[1]


cdef Rles rles(const int64_t[:, ::1] runs, const int32_t[:, :, ::1] segments):
    """The raw pointers of a set of RLE masks that the overlap kernels read."""
    cdef Rles r
    r.ends = &runs[1, 0] if runs.shape[1] else NO_RUNS
    r.starts = &segments[0, 0, 0] if segments.shape[2] else NO_SEGMENTS
    r.stops = &segments[1, 0, 0] if segments.shape[2] else NO_SEGMENTS
    return r


def rle_pairwise(int code, const int64_t[:, ::1] runs1, const int64_t[:, ::1] index1,
                 const int64_t[:, ::1] info1, const int32_t[:, :, ::1] segments1,
                 const int64_t[:, ::1] runs2, const int64_t[:, ::1] index2, const int64_t[:, ::1] info2,
                 const int32_t[:, :, ::1] segments2, const unsigned char[::1] crowd, floating[:, :] out,
                 int num_threads):
    """``out[i, j] = overlap(code, ...)`` of RLE masks; ``crowd (M,)``."""
    cdef Py_ssize_t n = index1.shape[0], m = index2.shape[0], i, j, width = segments1.shape[2]
    if n == 0 or m == 0:
        return
    cdef Rles a = rles(runs1, segments1), b = rles(runs2, segments2)
    cdef const int64_t* e1 = a.ends
    cdef const int64_t* e2 = b.ends
    cdef const int32_t* s1 = a.starts
    cdef const int32_t* t1 = a.stops
    cdef const int32_t* s2 = b.starts
    cdef const int32_t* t2 = b.stops
    if num_threads <= 1:  # a plain loop, no OpenMP call (see the module docstring)
        with nogil:
            for i in range(n):
                for j in range(m):
                    out[i, j] = <floating>overlap(
                        code,
                        rle_inter(e1 + index1[i, 0], index1[i, 1], &info1[i, 0], s1 + i * width, t1 + i * width,
                                  e2 + index2[j, 0], index2[j, 1], &info2[j, 0], s2 + j * width, t2 + j * width),
                        info1[i, AREA], info2[j, AREA], crowd[j])
        return
    for i in prange(n, nogil=True, schedule="dynamic",
                    chunksize=max(1, MASK_PAIR_CHUNK // m), num_threads=num_threads):
        for j in range(m):
            out[i, j] = <floating>overlap(
                code,
                rle_inter(e1 + index1[i, 0], index1[i, 1], &info1[i, 0], s1 + i * width, t1 + i * width,
                          e2 + index2[j, 0], index2[j, 1], &info2[j, 0], s2 + j * width, t2 + j * width),
                info1[i, AREA], info2[j, AREA], crowd[j])


def rle_aligned(int code, const int64_t[:, ::1] runs1, const int64_t[:, ::1] index1,
                const int64_t[:, ::1] info1, const int32_t[:, :, ::1] segments1,
                const int64_t[:, ::1] runs2, const int64_t[:, ::1] index2, const int64_t[:, ::1] info2,
                const int32_t[:, :, ::1] segments2, const unsigned char[::1] crowd, floating[:] out,
                int num_threads):
    """``out[i] = overlap(code, ...)`` of RLE masks ``i`` and ``i``."""
    cdef Py_ssize_t n = index1.shape[0], i, width = segments1.shape[2]
    if n == 0:
        return
    cdef Rles a = rles(runs1, segments1), b = rles(runs2, segments2)
    cdef const int64_t* e1 = a.ends
    cdef const int64_t* e2 = b.ends
    cdef const int32_t* s1 = a.starts
    cdef const int32_t* t1 = a.stops
    cdef const int32_t* s2 = b.starts
    cdef const int32_t* t2 = b.stops
    if num_threads <= 1:  # a plain loop, no OpenMP call (see the module docstring)
        with nogil:
            for i in range(n):
                out[i] = <floating>overlap(
                    code,
                    rle_inter(e1 + index1[i, 0], index1[i, 1], &info1[i, 0], s1 + i * width, t1 + i * width,
                              e2 + index2[i, 0], index2[i, 1], &info2[i, 0], s2 + i * width, t2 + i * width),
                    info1[i, AREA], info2[i, AREA], crowd[i])
        return
    for i in prange(n, nogil=True, schedule="dynamic", chunksize=MASK_PAIR_CHUNK, num_threads=num_threads):
        out[i] = <floating>overlap(
            code,
            rle_inter(e1 + index1[i, 0], index1[i, 1], &info1[i, 0], s1 + i * width, t1 + i * width,
                      e2 + index2[i, 0], index2[i, 1], &info2[i, 0], s2 + i * width, t2 + i * width),
            info1[i, AREA], info2[i, AREA], crowd[i])


cdef void groups_block(Py_ssize_t k, int code, const int64_t* e1, const int64_t[:, ::1] index1,
                       const int64_t[:, ::1] info1, const int32_t* s1, const int32_t* t1,
                       const int64_t* e2, const int64_t[:, ::1] index2, const int64_t[:, ::1] info2,
                       const int32_t* s2, const int32_t* t2, Py_ssize_t width, const unsigned char[::1] crowd,
                       const int64_t[::1] first1, const int64_t[::1] first2, const int64_t[::1] n1,
                       const int64_t[::1] n2, const int64_t[::1] crowd_first, const int64_t[::1] offsets,
                       double[::1] out) noexcept nogil:
    cdef Py_ssize_t i, j, a, b
    for i in range(n1[k]):
        a = first1[k] + i
        for j in range(n2[k]):
            b = first2[k] + j
            out[offsets[k] + i * n2[k] + j] = overlap(
                code,
                rle_inter(e1 + index1[a, 0], index1[a, 1], &info1[a, 0], s1 + a * width, t1 + a * width,
                          e2 + index2[b, 0], index2[b, 1], &info2[b, 0], s2 + b * width, t2 + b * width),
                info1[a, AREA], info2[b, AREA], crowd[crowd_first[k] + j])


def rle_groups(int code, const int64_t[:, ::1] runs1, const int64_t[:, ::1] index1,
               const int64_t[:, ::1] info1, const int32_t[:, :, ::1] segments1,
               const int64_t[:, ::1] runs2, const int64_t[:, ::1] index2, const int64_t[:, ::1] info2,
               const int32_t[:, :, ::1] segments2, const unsigned char[::1] crowd,
               const int64_t[::1] first1, const int64_t[::1] first2, const int64_t[::1] n1,
               const int64_t[::1] n2, const int64_t[::1] crowd_first, const int64_t[::1] offsets,
               double[::1] out, int num_threads):
    """Many small pairwise blocks in one call (numba_cpu_masks.rle_groups): block ``k``
    is masks ``first1[k]:][:n1[k]]`` of set 1 against ``first2[k]:][:n2[k]]`` of set 2,
    row-major at ``out[offsets[k]:]``; blocks handed out 8 at a time."""
    cdef Py_ssize_t k, n = n1.shape[0], width = segments1.shape[2]
    if n == 0 or index1.shape[0] == 0 or index2.shape[0] == 0:
        return
    cdef Rles a = rles(runs1, segments1), b = rles(runs2, segments2)
    cdef const int64_t* e1 = a.ends
    cdef const int64_t* e2 = b.ends
    cdef const int32_t* s1 = a.starts
    cdef const int32_t* t1 = a.stops
    cdef const int32_t* s2 = b.starts
    cdef const int32_t* t2 = b.stops
    if num_threads <= 1:  # a plain loop, no OpenMP call (see the module docstring)
        with nogil:
            for k in range(n):
                groups_block(k, code, e1, index1, info1, s1, t1, e2, index2, info2, s2, t2, width, crowd,
                             first1, first2, n1, n2, crowd_first, offsets, out)
        return
    for k in prange(n, nogil=True, schedule="dynamic", chunksize=8, num_threads=num_threads):
        groups_block(k, code, e1, index1, info1, s1, t1, e2, index2, info2, s2, t2, width, crowd,
                     first1, first2, n1, n2, crowd_first, offsets, out)


cdef int64_t runs_one(const unsigned char* mask, Py_ssize_t height, Py_ssize_t width,
                      int64_t* counts) noexcept nogil:
    """pycocotools' rleEncode of one mask (column-major); counts may be NULL (count only)."""
    cdef Py_ssize_t x, y
    cdef unsigned char prev = 0, v
    cdef int64_t r = 0, c = 0
    for x in range(width):
        for y in range(height):
            v = mask[y * width + x]
            if v != prev:
                if counts != NULL:
                    counts[r] = c
                r += 1
                c = 0
                prev = v
            c += 1
    if counts != NULL:
        counts[r] = c
    return r + 1


def count_runs(const unsigned char[:, :, ::1] masks, int64_t[::1] nruns, int num_threads):
    """Number of COCO runs of each mask ``(K, H, W)``."""
    cdef Py_ssize_t n = masks.shape[0], height = masks.shape[1], width = masks.shape[2], k
    if n == 0:
        return
    cdef const unsigned char* base = &masks[0, 0, 0]
    if num_threads <= 1:  # a plain loop, no OpenMP call (see the module docstring)
        with nogil:
            for k in range(n):
                nruns[k] = runs_one(base + k * height * width, height, width, NULL)
        return
    for k in prange(n, nogil=True, schedule="dynamic",
                    chunksize=max(1, PIXEL_CHUNK // max(1, height * width)), num_threads=num_threads):
        nruns[k] = runs_one(base + k * height * width, height, width, NULL)


def write_runs(const unsigned char[:, :, ::1] masks, const int64_t[:, ::1] index, int64_t[::1] counts,
               int num_threads):
    """Write each mask's runs into ``counts`` from ``index[k, 0]``."""
    cdef Py_ssize_t n = masks.shape[0], height = masks.shape[1], width = masks.shape[2], k
    if n == 0:
        return
    cdef const unsigned char* base = &masks[0, 0, 0]
    cdef int64_t* c = &counts[0]
    if num_threads <= 1:  # a plain loop, no OpenMP call (see the module docstring)
        with nogil:
            for k in range(n):
                runs_one(base + k * height * width, height, width, c + index[k, 0])
        return
    for k in prange(n, nogil=True, schedule="dynamic",
                    chunksize=max(1, PIXEL_CHUNK // max(1, height * width)), num_threads=num_threads):
        runs_one(base + k * height * width, height, width, c + index[k, 0])


cdef int64_t string_one(const int64_t* counts, int64_t n, unsigned char* out) noexcept nogil:
    """pycocotools' rleToString of one mask's counts; returns the number of characters."""
    cdef int64_t i, x, c, p = 0
    cdef bint more
    for i in range(n):
        x = counts[i]
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out[p] = <unsigned char>(c + 48)
            p += 1
    return p


def rle_to_strings(const int64_t[::1] counts, const int64_t[:, ::1] index, int64_t stride,
                   unsigned char[::1] buf, int64_t[::1] lengths, int num_threads):
    """Compress counts; mask k's ``lengths[k]`` characters start at ``buf[stride * index[k, 0]]``
    (``stride``: the most characters a count of these masks takes)."""
    cdef Py_ssize_t n = index.shape[0], k
    if n == 0:
        return
    cdef const int64_t* c = &counts[0]
    cdef unsigned char* out = &buf[0]
    if num_threads <= 1:  # a plain loop, no OpenMP call (see the module docstring)
        with nogil:
            for k in range(n):
                lengths[k] = string_one(c + index[k, 0], index[k, 1], out + stride * index[k, 0])
        return
    for k in prange(n, nogil=True, schedule="dynamic", chunksize=MASK_CHUNK, num_threads=num_threads):
        lengths[k] = string_one(c + index[k, 0], index[k, 1], out + stride * index[k, 0])


cdef void dense_one(const int64_t* counts, int64_t n, Py_ssize_t height, Py_ssize_t width,
                    unsigned char* out) noexcept nogil:
    """Paint one mask's foreground runs, column by column, into ``out`` (zero).

    The counts passed rle_info's checks (none negative, sum ``height * width``),
    so every pixel written is below ``height * width``: ``x < width``.
    """
    cdef int64_t pos = 0, r, c, x, y, left, take, yy
    for r in range(n):
        c = counts[r]
        if r % 2 == 1 and c > 0:
            x = pos // height
            y = pos - x * height
            left = c
            while left > 0:
                take = min(height - y, left)
                for yy in range(y, y + take):
                    out[yy * width + x] = 1
                left -= take
                y = 0
                x += 1
        pos += c


def rle_to_dense(const int64_t[::1] counts, const int64_t[:, ::1] index, unsigned char[:, :, ::1] out,
                 int num_threads):
    """Paint the foreground runs into ``out (K, H, W)``, zero on entry."""
    cdef Py_ssize_t n = index.shape[0], height = out.shape[1], width = out.shape[2], k
    if n == 0 or height * width == 0:
        return
    cdef const int64_t* c = &counts[0]
    cdef unsigned char* base = &out[0, 0, 0]
    if num_threads <= 1:  # a plain loop, no OpenMP call (see the module docstring)
        with nogil:
            for k in range(n):
                dense_one(c + index[k, 0], index[k, 1], height, width, base + k * height * width)
        return
    for k in prange(n, nogil=True, schedule="dynamic",
                    chunksize=max(1, PIXEL_CHUNK // max(1, height * width)), num_threads=num_threads):
        dense_one(c + index[k, 0], index[k, 1], height, width, base + k * height * width)


# --- Dice sums -------------------------------------------------------------------


cdef void chunk_sums(const pred_t* p, const target_t* t, Py_ssize_t n, double threshold, bint binarize,
                     bint squared, double* out) noexcept nogil:
    """``out[:] = (sum p t, sum p (or p^2), sum t (or t^2))``: the C loop of these two types."""
    if pred_t is float:
        if target_t is float:
            fi_sums_f_f(p, t, n, threshold, binarize, squared, out)
        elif target_t is double:
            fi_sums_f_d(p, t, n, threshold, binarize, squared, out)
        else:
            fi_sums_f_b(p, t, n, threshold, binarize, squared, out)
    elif pred_t is double:
        if target_t is float:
            fi_sums_d_f(p, t, n, threshold, binarize, squared, out)
        elif target_t is double:
            fi_sums_d_d(p, t, n, threshold, binarize, squared, out)
        else:
            fi_sums_d_b(p, t, n, threshold, binarize, squared, out)
    else:
        if target_t is float:
            fi_sums_b_f(p, t, n, threshold, binarize, squared, out)
        elif target_t is double:
            fi_sums_b_d(p, t, n, threshold, binarize, squared, out)
        else:
            fi_sums_b_b(p, t, n, threshold, binarize, squared, out)


def row_sums(const pred_t[:, ::1] pred, const target_t[:, ::1] target, double threshold, bint binarize,
             bint squared, Py_ssize_t chunk, double[:, :, ::1] partial, int num_threads):
    """Per-chunk sums of rows ``pred (R, S)``, ``target (R, S)`` into ``partial (R, ceil(S / chunk), 3)``."""
    cdef Py_ssize_t rows = pred.shape[0], size = pred.shape[1], nchunks = partial.shape[1]
    cdef Py_ssize_t task, r, c, lo, hi
    if rows == 0 or size == 0:
        return
    if num_threads <= 1:  # a plain loop, no OpenMP call (see the module docstring)
        with nogil:
            for task in range(rows * nchunks):
                r = task // nchunks
                c = task - r * nchunks
                lo = c * chunk
                hi = min(size, lo + chunk)
                chunk_sums(&pred[r, lo], &target[r, lo], hi - lo, threshold, binarize, squared, &partial[r, c, 0])
        return
    for task in prange(rows * nchunks, nogil=True, schedule="dynamic", num_threads=num_threads):
        r = task // nchunks
        c = task - r * nchunks
        lo = c * chunk
        hi = min(size, lo + chunk)
        chunk_sums(&pred[r, lo], &target[r, lo], hi - lo, threshold, binarize, squared, &partial[r, c, 0])


# --- the small-input fast path -----------------------------------------------------------
# One call for a small mask_iou / mask_dice of two lists of compressed RLE strings: the checks
# and kernels above (decode_one and info_one check every count before it is used), with
# scratch from one allocation instead of a dozen NumPy arrays and two Python-level passes per
# argument (about 45 us of a 10 x 10 call).


cdef struct RleSet:
    int64_t* counts  # decoded counts, one slot per character (decode_one's bound)
    int64_t* ends  # run ends, at the same offsets
    int64_t* index  # (offset, number of counts) of each mask
    int64_t* info  # N_INFO per mask
    int32_t* starts  # the column segments of simple masks, width per mask
    int32_t* stops


cdef bint _decode_set(list strings, Py_ssize_t k, int64_t height, int64_t width, int64_t max_chars,
                      RleSet* r, int64_t* status):
    """Decode and check the ``k`` strings into ``r``; False at the first fault."""
    cdef Py_ssize_t i
    cdef int64_t offset = 0, length, total = height * width
    cdef bytes s
    for i in range(k):
        s = <bytes>strings[i]
        length = len(s)
        r.index[2 * i] = offset
        r.index[2 * i + 1] = decode_one(<const unsigned char*>(<char*>s), length, total, max_chars,
                                        r.counts + offset, status)
        if status[0] != RLE_OK:
            return False
        info_one(r.counts + offset, r.ends + offset, r.index[2 * i + 1], height, total, r.info + i * N_INFO,
                 r.starts + i * width, r.stops + i * width, status)
        if status[0] != RLE_OK:
            return False
        offset += length
    return True


cdef int64_t _chars(list strings, int64_t most):
    """The characters of ``strings`` (all bytes, each of at most ``most``), or -1."""
    cdef int64_t chars = 0, length
    cdef object s
    for s in strings:
        if type(s) is not bytes:
            return -1
        length = len(<bytes>s)
        if length > most:
            return -1
        chars += length
    return chars


def small_rle_overlap(int code, list counts1, list counts2, int64_t height, int64_t width,
                      int64_t max_chars, int64_t most, int64_t limit):
    """The small-input fast path of ``mask_iou`` / ``mask_dice`` (``code``) on compressed RLE:
    the (N, M) float64 matrix, or None for the general path.

    Takes the ``counts`` strings of both arguments (lists of bytes; masks of one size,
    ``height * width < 2**59`` pixels), the most characters a count and a string take
    (``max_chars``, ``most``: fastiou.masks' bounds), no crowd.  None when an item is not
    bytes or is longer than ``most``, a set is empty, the work (characters plus pairs times
    characters per mask) reaches ``limit``, or a count is faulty: the general path then
    raises naming the mask and the count.
    """
    cdef Py_ssize_t n = len(counts1), m = len(counts2), i, j
    if (n == 0 or m == 0 or height < 0 or width < 0 or height > (1 << 30) or width > (1 << 30)
            or height * width >= (<int64_t>1 << 59)):
        return None  # (fastiou.masks passes none of these: memory safety does not rely on it)
    cdef int64_t chars1 = _chars(counts1, most), chars2 = _chars(counts2, most)
    if (chars1 < 0 or chars2 < 0 or chars1 >= limit or chars2 >= limit
            or chars1 + chars2 + <double>n * m * (chars1 // n + chars2 // m) >= limit):
        return None
    # one allocation: counts and ends of both sets, their index and info, the segments, a status
    cdef size_t words = 2 * (chars1 + chars2) + (2 + N_INFO) * (n + m) + N_STATUS
    cdef char* scratch = <char*>malloc(words * sizeof(int64_t) + 2 * (n + m) * width * sizeof(int32_t))
    if scratch == NULL:
        raise MemoryError()
    cdef int64_t* w = <int64_t*>scratch
    cdef RleSet a, b
    a.counts = w
    a.ends = a.counts + chars1
    b.counts = a.ends + chars1
    b.ends = b.counts + chars2
    a.index = b.ends + chars2
    b.index = a.index + 2 * n
    a.info = b.index + 2 * m
    b.info = a.info + N_INFO * n
    cdef int64_t* status = b.info + N_INFO * m
    a.starts = <int32_t*>(status + N_STATUS)
    a.stops = a.starts + n * width
    b.starts = a.stops + n * width
    b.stops = b.starts + m * width
    cdef cnp.npy_intp dims[2]
    cdef cnp.ndarray out
    cdef double* o
    try:
        if not (_decode_set(counts1, n, height, width, max_chars, &a, status)
                and _decode_set(counts2, m, height, width, max_chars, &b, status)):
            return None
        dims[0] = n
        dims[1] = m
        out = cnp.PyArray_EMPTY(2, dims, cnp.NPY_FLOAT64, 0)
        o = <double*>cnp.PyArray_DATA(out)
        with nogil:
            for i in range(n):
                for j in range(m):
                    o[i * m + j] = overlap(
                        code,
                        rle_inter(a.ends + a.index[2 * i], a.index[2 * i + 1], a.info + i * N_INFO,
                                  a.starts + i * width, a.stops + i * width,
                                  b.ends + b.index[2 * j], b.index[2 * j + 1], b.info + j * N_INFO,
                                  b.starts + j * width, b.stops + j * width),
                        a.info[i * N_INFO + AREA], b.info[j * N_INFO + AREA], False)
        return out
    finally:
        free(scratch)
