"""Numba CPU mask kernels: ``prange``-parallel, each with a serial twin for small inputs.

The backend interface (shared with ``cython_masks``) is the plain functions at
the bottom; every one takes a final ``parallel`` flag.  Masks arrive as
C-contiguous ``uint8`` arrays holding only 0 and 1 (:func:`fastiou._validate.as_masks`);
kernels contain no validation.

Two representations of a set of masks:

* dense, packed: each row of a mask in ``ceil(W / 64)`` ``uint64`` words (one
  bit per pixel).  The intersection of two masks is the popcount of the AND of
  their words, taken only over the rows and words of their common bounding box:
  no ``N x M x H x W`` temporary, and about ``N * H * W / 8`` bytes per set.
* RLE: COCO's column-major runs (``counts[0]`` background, then alternating).
  ``runs`` is ``(2, T)`` int64 (row 0 the counts, row 1 each run's end, the
  cumulative sum), ``index`` is ``(K, 2)`` (first run, number of runs).  The
  intersection of two masks walks their foreground runs inside the span both
  masks occupy, starting from a binary search.  Counts come from files: the two
  kernels that read them (``rle_from_strings``, ``rle_info``) check each one
  before using it and report faults in ``status`` (the RLE_* codes), never
  writing outside their buffers; the later kernels take checked counts.

Both carry a per-mask summary ``info (K, 9)`` int64 (:mod:`fastiou._mask_formulas`):
area, inclusive bounding box ``y0, y1, x0, x1``, the span ``[first, last)`` of
flat pixel indices holding the foreground, the total pixel count and whether the
mask is "simple" (RLE only: at most one foreground segment per column, the
usual case for object masks).  A simple mask also has ``segments (2, K, W)``
int32, each column's foreground rows ``[start, end)``, and two simple masks
intersect column by column without walking runs.
"""

from __future__ import annotations

import sys

from typing import Any

import numpy as np
from numba import prange, types
from numpy.typing import NDArray
from numba.extending import intrinsic

from .. import _mask_formulas
from .._config import njit, serial_and_parallel
from .._mask_formulas import AREA, FIRST, LAST, SIMPLE, TOTAL, X0, X1, Y0, Y1
from .numba_cpu import claim, new_counter, workers

overlap = _mask_formulas.build(njit(inline="always")).overlap

# Reductions in ``_chunk_sums`` may be reordered (vectorised partial sums); the
# NaN/inf semantics stay (no nnan/ninf).
_REASSOC = {"reassoc", "contract"}
_INT32_MAX = 2**31 - 1


@intrinsic
def popcount(typingctx, x):
    """Number of set bits of an unsigned 64-bit integer (LLVM's ``ctpop``)."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


@intrinsic
def trailing_zeros(typingctx, x):
    """Number of trailing zero bits of a nonzero ``uint64`` (LLVM's ``cttz``)."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], context.get_constant(types.boolean, True))

    return types.uint64(types.uint64), codegen


@intrinsic
def leading_zeros(typingctx, x):
    """Number of leading zero bits of a nonzero ``uint64`` (LLVM's ``ctlz``)."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.ctlz(args[0], context.get_constant(types.boolean, True))

    return types.uint64(types.uint64), codegen


# --- dense masks -----------------------------------------------------------------
# Hot loops index the 2-D/3-D arrays directly: a row view per pair or per image row
# costs a reference-count update, which measured slower than the work itself.


#: Work per claim of a parallel loop (see numba_cpu.claim): pixels, for the loops
#: that scan whole masks; masks, for the loops over runs; pairs of masks (a pair
#: costs from a few ns, boxes apart, to a walk over their common span).
PIXEL_CHUNK = 65536
MASK_CHUNK = 16
MASK_PAIR_CHUNK = 128
GROUP_CHUNK = 8  # groups of masks per claim (rle_groups)

# Eight 0/1 bytes, read as one little-endian uint64, become eight bits with one
# multiply: byte b lands on bit 56 + b, and no two partial products collide.
_GATHER = np.uint64(0x0102040810204080)
_LITTLE_ENDIAN = sys.byteorder == "little"


@njit(inline="always")
def _pack_word(row, row64, w):
    """Word ``w`` of a zero-padded row: bit ``b`` is ``row[64 w + b]`` (0 or 1)."""
    word = np.uint64(0)
    if _LITTLE_ENDIAN:
        for q in range(8):
            word |= ((row64[8 * w + q] * _GATHER) >> np.uint64(56)) << np.uint64(8 * q)
    else:
        for b in range(64):
            word |= np.uint64(row[64 * w + b]) << np.uint64(b)
    return word


def _pack_dense(masks, bits, info, counter):
    # One pass over each mask: the packed rows, the area and the bounding box.
    # Each row is first copied into a zero-padded scratch row (in cache), so that
    # every word, the last one included, is packed from eight uint64 loads.
    height, width = masks.shape[1], masks.shape[2]
    per_row = bits.shape[2]
    n_masks = masks.shape[0]
    step = max(1, PIXEL_CHUNK // max(1, height * width))  # masks per claim
    for _ in prange(workers(n_masks, step)):
        lo = claim(counter, step)
        while lo < n_masks:
            for k in range(lo, min(lo + step, n_masks)):
                cols = np.zeros(per_row, dtype=np.uint64)
                row = np.zeros(per_row * 64, dtype=np.uint8)
                row64 = row.view(np.uint64)
                area = 0
                y0 = -1
                y1 = -1
                for y in range(height):
                    for x in range(width):
                        row[x] = masks[k, y, x]
                    any_set = np.uint64(0)
                    for w in range(per_row):
                        word = _pack_word(row, row64, w)
                        bits[k, y, w] = word
                        cols[w] |= word
                        any_set |= word
                        area += popcount(word)
                    if any_set:
                        if y0 < 0:
                            y0 = y
                        y1 = y
                info[k, :] = 0
                info[k, TOTAL] = height * width
                if area:
                    w0 = 0
                    while cols[w0] == 0:
                        w0 += 1
                    w1 = per_row - 1
                    while cols[w1] == 0:
                        w1 -= 1
                    info[k, AREA] = area
                    info[k, Y0] = y0
                    info[k, Y1] = y1
                    info[k, X0] = w0 * 64 + trailing_zeros(cols[w0])
                    info[k, X1] = w1 * 64 + 63 - leading_zeros(cols[w1])
                    info[k, FIRST] = y0 * width
                    info[k, LAST] = (y1 + 1) * width
            lo = claim(counter, step)


@njit(inline="always")
def _boxes_meet(info1, i, info2, j):
    """Both masks non-empty and their bounding boxes share a pixel."""
    return (info1[i, AREA] > 0 and info2[j, AREA] > 0
            and info1[i, X1] >= info2[j, X0] and info2[j, X1] >= info1[i, X0]
            and info1[i, Y1] >= info2[j, Y0] and info2[j, Y1] >= info1[i, Y0])


@njit(inline="always")
def _dense_inter(bits1, info1, i, bits2, info2, j):
    """Pixels shared by packed masks ``i`` and ``j``, over the words of their common box."""
    if not _boxes_meet(info1, i, info2, j):
        return 0
    # Unsigned row and word indices: no negative-index wraparound in the loop.
    w0 = np.uint64(max(info1[i, X0], info2[j, X0]) >> 6)
    w1 = np.uint64((min(info1[i, X1], info2[j, X1]) >> 6) + 1)
    y0 = np.uint64(max(info1[i, Y0], info2[j, Y0]))
    y1 = np.uint64(min(info1[i, Y1], info2[j, Y1]) + 1)
    total = np.uint64(0)
    for y in range(y0, y1):
        for w in range(w0, w1):
            total += popcount(bits1[i, y, w] & bits2[j, y, w])
    return np.int64(total)


def _dense_pairwise(code, bits1, info1, bits2, info2, crowd, out, counter):
    n_rows = bits1.shape[0]
    step = max(1, MASK_PAIR_CHUNK // max(1, bits2.shape[0]))  # rows per claim
    for _ in prange(workers(n_rows, step)):
        lo = claim(counter, step)
        while lo < n_rows:
            for i in range(lo, min(lo + step, n_rows)):
                for j in range(bits2.shape[0]):
                    inter = _dense_inter(bits1, info1, i, bits2, info2, j)
                    out[i, j] = overlap(code, inter, info1[i, AREA], info2[j, AREA], crowd[j])
            lo = claim(counter, step)


def _dense_aligned(code, bits1, info1, bits2, info2, crowd, out, counter):
    n_pairs = bits1.shape[0]
    for _ in prange(workers(n_pairs, MASK_PAIR_CHUNK)):
        lo = claim(counter, MASK_PAIR_CHUNK)
        while lo < n_pairs:
            for i in range(lo, min(lo + MASK_PAIR_CHUNK, n_pairs)):
                inter = _dense_inter(bits1, info1, i, bits2, info2, i)
                out[i] = overlap(code, inter, info1[i, AREA], info2[i, AREA], crowd[i])
            lo = claim(counter, MASK_PAIR_CHUNK)


# --- RLE -------------------------------------------------------------------------
# COCO RLE comes from annotation files, so its counts are untrusted.  The kernels
# that read counts check every count before they use it and report the first
# bad one per mask in ``status (K, 4)`` int64: (code, count index, value, extra),
# code RLE_OK (0) for a valid mask; the wrapper turns a code into a ValueError.

RLE_OK = 0
RLE_NEGATIVE = 1  # count ``index`` is ``value`` < 0
RLE_PAST_END = 2  # count ``index`` is ``value``, more than the pixels left after the ``extra`` before it
RLE_SHORT = 3  # the ``index`` counts sum to ``value`` < H * W
RLE_TOO_MANY = 4  # count ``index`` = H * W + 1 exists: more runs than H * W pixels can have
RLE_CUT = 5  # the string ends inside count ``index`` (which starts at character ``extra``)
RLE_TOO_LONG = 6  # count ``index`` (from character ``extra``) has more than ``max_chars`` characters
RLE_BAD_CHAR = 7  # character ``extra`` (of count ``index``) is byte ``value``, outside 48-111
N_STATUS = 4


@njit(inline="always")
def _report(status, code, index, value, extra):
    status[0] = code
    status[1] = index
    status[2] = value
    status[3] = extra


@njit(inline="always")
def _number_fault(text, start, max_chars, m, status):
    """Report why the number of count ``m`` from character ``start`` is malformed:
    the first of a character outside 48-111, more than ``max_chars`` characters,
    or the end of the string inside it (read one character at a time)."""
    for p in range(start, text.shape[0]):
        c = np.int64(text[p])
        if c < 48 or c > 111:
            _report(status, RLE_BAD_CHAR, m, c, p)
            return
        if p - start == max_chars:
            _report(status, RLE_TOO_LONG, m, 0, start)
            return
    _report(status, RLE_CUT, m, 0, start)


@njit(inline="always")
def _decode_string(text, total, max_chars, out, status):
    """Counts of one compressed string into ``out``; returns how many (all valid, or the status says).

    ``out`` has one slot per character of ``text`` and count ``m`` takes at least
    one character, so ``m < len(text)``: every write is in ``out``.  A number of
    at most ``max_chars <= 12`` valid characters (60 bits; others are faults, and
    ``shift < 64`` keeps their shifts defined) is in ``[-2**59, 2**59)``;
    ``back2`` (count ``m - 2``) is a checked count in ``[0, total]`` with
    ``total < 2**59``: the delta sum cannot overflow, nor can ``pos <= total``.
    The checks run once per number, on values the character loop gathers (one
    OR per character): checks in that loop measured 1.5x slower.
    """
    _report(status, RLE_OK, 0, 0, 0)
    end = text.shape[0]
    p = 0
    m = 0
    pos: int | np.int64 = 0
    back1: int | np.int64 = 0  # the counts one and two back
    back2: int | np.int64 = 0
    while p < end:
        if m > total:
            _report(status, RLE_TOO_MANY, m, 0, p)
            return m
        start = p
        x = np.int64(0)
        shift = 0
        more = True
        # the OR of the characters - 48: above 63 (unsigned) if one is outside 48-111
        chars: int | np.int64 = 0
        while more and p < end:
            c = np.int64(text[p]) - 48
            chars |= c
            if shift < 64:
                x |= (c & 0x1F) << shift
            more = (c & 0x20) != 0
            p += 1
            shift += 5
            if not more and (c & 0x10) != 0 and shift < 64:  # the sign bit of the last character
                x |= np.int64(-1) << shift
        if (p - start > max_chars) | more | (np.uint64(chars) > np.uint64(63)):
            _number_fault(text, start, max_chars, m, status)
            return m
        if m > 2:  # from the fourth count on, a difference to the count two back
            x += back2
        if np.uint64(x) > np.uint64(total - pos):  # negative, or past the end of the mask
            _report(status, RLE_NEGATIVE if x < 0 else RLE_PAST_END, m, x, pos)
            return m
        out[m] = x
        back2 = back1
        back1 = x
        pos += x
        m += 1
    if pos != total:
        _report(status, RLE_SHORT, m, pos, pos)
    return m


def _rle_from_strings(buf, offsets, total, max_chars, counts, nruns, status, counter):
    # COCO's compressed counts (pycocotools' rleFrString): 5 bits per character
    # (+48), 0x20 continues a number, 0x10 in the last character is the sign;
    # from the fourth count on, each is stored as a difference to the one two back.
    # Mask k writes counts[offsets[k]:offsets[k + 1]], one slot per character.
    n_masks = offsets.shape[0] - 1
    for _ in prange(workers(n_masks, MASK_CHUNK)):
        lo = claim(counter, MASK_CHUNK)
        while lo < n_masks:
            for k in range(lo, min(lo + MASK_CHUNK, n_masks)):
                text = buf[offsets[k]:offsets[k + 1]]
                out = counts[offsets[k]:offsets[k + 1]]
                nruns[k] = _decode_string(text, total, max_chars, out, status[k])
            lo = claim(counter, MASK_CHUNK)


def _rle_info(runs, index, height, info, segments, status, counter):
    # Fills runs[1] (run ends), the summary, and for "simple" masks (at most one
    # foreground segment per column) each column's rows [start, end) into
    # segments[:, k, x0:x1 + 1] (empty columns: 0, 0).  Columns are followed by
    # addition (a division per run measured slower than the rest of the loop):
    # ``col`` starts at pixel ``col_start``.
    # Each count is checked against the pixels left before it is added, so
    # 0 <= pos <= total = height * width throughout: a foreground run's pixels
    # lie in [0, total), its columns in [0, width), and the column walks take
    # O(width + runs) steps per mask (total < 2**59: nothing overflows).
    total = height * segments.shape[2]
    n_masks = index.shape[0]
    for _ in prange(workers(n_masks, MASK_CHUNK)):
        lo = claim(counter, MASK_CHUNK)
        while lo < n_masks:
            for k in range(lo, min(lo + MASK_CHUNK, n_masks)):
                counts = runs[0, index[k, 0]:index[k, 0] + index[k, 1]]
                ends = runs[1, index[k, 0]:index[k, 0] + index[k, 1]]
                pos = 0
                area = 0
                first = -1
                last = 0
                y0 = height
                y1 = -1
                x0 = -1
                x1 = -1
                col = 0
                col_start = 0
                code = RLE_OK
                bad_run = 0
                bad_count = 0
                simple = height <= _INT32_MAX
                last_col = -1
                for r in range(counts.shape[0]):
                    c = counts[r]
                    if np.uint64(c) > np.uint64(total - pos):  # negative, or past the end of the mask
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
                                    segments[0, k, z] = 0
                                    segments[1, k, z] = 0
                                segments[0, k, x] = begin - col_start if x == col else 0
                                segments[1, k, x] = pos - end_start if x == end_col else height
                                last_col = x
                if code == RLE_OK and pos != total:
                    code = RLE_SHORT
                    bad_run = counts.shape[0]
                    bad_count = pos
                status[k, 0] = code
                status[k, 1] = bad_run
                status[k, 2] = bad_count
                status[k, 3] = pos
                info[k, :] = 0
                info[k, TOTAL] = pos
                if area > 0 and code == RLE_OK:
                    info[k, AREA] = area
                    info[k, Y0] = y0
                    info[k, Y1] = y1
                    info[k, X0] = x0
                    info[k, X1] = x1
                    info[k, FIRST] = first
                    info[k, LAST] = last
                    info[k, SIMPLE] = simple
            lo = claim(counter, MASK_CHUNK)


# The run walk indexes with unsigned integers: a signed index costs a select
# (negative-index wraparound) on every load, which measured 2x slower.
_U1 = np.uint64(1)
_U2 = np.uint64(2)


@njit(inline="always")
def _first_foreground_run(runs, start, n, pos):
    """Index of the first foreground run of ``runs[:, start:start + n]`` ending after ``pos``."""
    lo = np.uint64(start)
    hi = np.uint64(start + n)
    while lo < hi:
        mid = (lo + hi) >> _U1
        if runs[1, mid] > pos:
            hi = mid
        else:
            lo = mid + _U1
    if ((lo - np.uint64(start)) & _U1) == 0:  # a background run: the next one is foreground
        lo += _U1
    return lo


@njit(inline="always")
def _rle_inter(runs1, index1, info1, segments1, i, runs2, index2, info2, segments2, j):
    """Pixels shared by RLE masks ``i`` and ``j``.

    Two simple masks (one segment per column) add up, column by column over
    their common columns, the overlap of their segments (a loop that
    vectorises); other pairs merge their foreground runs inside the shared span.
    """
    if not _boxes_meet(info1, i, info2, j):
        return 0
    if info1[i, SIMPLE] and info2[j, SIMPLE]:
        total = 0
        x0 = np.uint64(max(info1[i, X0], info2[j, X0]))
        x1 = np.uint64(min(info1[i, X1], info2[j, X1]) + 1)
        for x in range(x0, x1):
            shared = min(segments1[1, i, x], segments2[1, j, x]) - max(segments1[0, i, x], segments2[0, j, x])
            total += max(shared, 0)
        return total
    lo = max(info1[i, FIRST], info2[j, FIRST])
    hi = min(info1[i, LAST], info2[j, LAST])
    if lo >= hi:
        return 0
    ra = _first_foreground_run(runs1, index1[i, 0], index1[i, 1], lo)
    rb = _first_foreground_run(runs2, index2[j, 0], index2[j, 1], lo)
    a_stop = np.uint64(index1[i, 0] + index1[i, 1])
    b_stop = np.uint64(index2[j, 0] + index2[j, 1])
    inter = 0
    # A foreground run r (odd) is [ends[r - 1], ends[r]): both bounds on one cache line.
    while ra < a_stop and rb < b_stop:
        a_end = runs1[1, ra]
        b_end = runs2[1, rb]
        a_begin = runs1[1, ra - _U1]
        b_begin = runs2[1, rb - _U1]
        if a_begin >= hi or b_begin >= hi:
            break
        shared = min(a_end, b_end) - max(a_begin, b_begin)
        if shared > 0:
            inter += shared
        if a_end <= b_end:
            ra += _U2
        else:
            rb += _U2
    return inter


def _rle_pairwise(code, runs1, index1, info1, segments1, runs2, index2, info2, segments2, crowd, out,
                  counter):
    n_rows = index1.shape[0]
    step = max(1, MASK_PAIR_CHUNK // max(1, index2.shape[0]))  # rows per claim
    for _ in prange(workers(n_rows, step)):
        lo = claim(counter, step)
        while lo < n_rows:
            for i in range(lo, min(lo + step, n_rows)):
                for j in range(index2.shape[0]):
                    inter = _rle_inter(runs1, index1, info1, segments1, i, runs2, index2, info2, segments2, j)
                    out[i, j] = overlap(code, inter, info1[i, AREA], info2[j, AREA], crowd[j])
            lo = claim(counter, step)


def _rle_groups(code, runs1, index1, info1, segments1, runs2, index2, info2, segments2, crowd, first1, first2,
                n1, n2, crowd_first, offsets, out, counter):
    # group k: masks first1[k] + i of set 1 against first2[k] + j of set 2 (crowd flag
    # crowd[crowd_first[k] + j]) into out[offsets[k] + i * n2[k] + j]
    n_groups = n1.shape[0]
    for _ in prange(workers(n_groups, GROUP_CHUNK)):
        lo = claim(counter, GROUP_CHUNK)
        while lo < n_groups:
            for k in range(lo, min(lo + GROUP_CHUNK, n_groups)):
                for i in range(n1[k]):
                    a = first1[k] + i
                    for j in range(n2[k]):
                        b = first2[k] + j
                        inter = _rle_inter(runs1, index1, info1, segments1, a, runs2, index2, info2, segments2, b)
                        out[offsets[k] + i * n2[k] + j] = overlap(code, inter, info1[a, AREA], info2[b, AREA],
                                                                  crowd[crowd_first[k] + j])
            lo = claim(counter, GROUP_CHUNK)


def _rle_aligned(code, runs1, index1, info1, segments1, runs2, index2, info2, segments2, crowd, out, counter):
    n_pairs = index1.shape[0]
    for _ in prange(workers(n_pairs, MASK_PAIR_CHUNK)):
        lo = claim(counter, MASK_PAIR_CHUNK)
        while lo < n_pairs:
            for i in range(lo, min(lo + MASK_PAIR_CHUNK, n_pairs)):
                inter = _rle_inter(runs1, index1, info1, segments1, i, runs2, index2, info2, segments2, i)
                out[i] = overlap(code, inter, info1[i, AREA], info2[i, AREA], crowd[i])
            lo = claim(counter, MASK_PAIR_CHUNK)


def _count_runs(masks, nruns, counter):
    # pycocotools' rleEncode: column-major, the first run is background (maybe empty).
    height, width = masks.shape[1], masks.shape[2]
    n_masks = masks.shape[0]
    step = max(1, PIXEL_CHUNK // max(1, height * width))  # masks per claim
    for _ in prange(workers(n_masks, step)):
        lo = claim(counter, step)
        while lo < n_masks:
            for k in range(lo, min(lo + step, n_masks)):
                prev = np.uint8(0)
                n = 1
                for x in range(width):
                    for y in range(height):
                        v = masks[k, y, x]
                        if v != prev:
                            n += 1
                            prev = v
                nruns[k] = n
            lo = claim(counter, step)


def _write_runs(masks, index, counts, counter):
    height, width = masks.shape[1], masks.shape[2]
    n_masks = masks.shape[0]
    step = max(1, PIXEL_CHUNK // max(1, height * width))  # masks per claim
    for _ in prange(workers(n_masks, step)):
        lo = claim(counter, step)
        while lo < n_masks:
            for k in range(lo, min(lo + step, n_masks)):
                prev = np.uint8(0)
                r = index[k, 0]
                c = 0
                for x in range(width):
                    for y in range(height):
                        v = masks[k, y, x]
                        if v != prev:
                            counts[r] = c
                            r += 1
                            c = 0
                            prev = v
                        c += 1
                counts[r] = c
            lo = claim(counter, step)


def _rle_to_strings(counts, index, stride, buf, lengths, counter):
    # pycocotools' rleToString; mask k writes at most ``stride`` characters per count
    # (each value is in [-H * W, H * W]) from stride * index[k, 0].
    n_masks = index.shape[0]
    for _ in prange(workers(n_masks, MASK_CHUNK)):
        lo = claim(counter, MASK_CHUNK)
        while lo < n_masks:
            for k in range(lo, min(lo + MASK_CHUNK, n_masks)):
                start = index[k, 0]
                p = stride * start
                for i in range(index[k, 1]):
                    x = counts[start + i]
                    if i > 2:
                        x -= counts[start + i - 2]
                    more = True
                    while more:
                        c = x & 0x1F
                        x >>= 5
                        more = (x != -1) if (c & 0x10) != 0 else (x != 0)
                        if more:
                            c |= 0x20
                        buf[p] = c + 48
                        p += 1
                lengths[k] = p - stride * start
            lo = claim(counter, MASK_CHUNK)


def _rle_to_dense(counts, index, out, counter):
    # out (K, H, W) is zero; foreground runs are written column by column.
    # The counts passed rle_info's checks (none negative, sum H * W), so every
    # pixel written is below H * W: x < W.
    height = out.shape[1]
    n_masks = index.shape[0]
    step = max(1, PIXEL_CHUNK // max(1, height * out.shape[2]))  # masks per claim
    for _ in prange(workers(n_masks, step)):
        lo = claim(counter, step)
        while lo < n_masks:
            for k in range(lo, min(lo + step, n_masks)):
                start = index[k, 0]
                pos = 0
                for r in range(index[k, 1]):
                    c = counts[start + r]
                    if r % 2 == 1 and c > 0:
                        x = pos // height
                        y = pos - x * height
                        left = c
                        while left > 0:
                            take = min(height - y, left)
                            for yy in range(y, y + take):
                                out[k, yy, x] = 1
                            left -= take
                            y = 0
                            x += 1
                    pos += c
            lo = claim(counter, step)


# --- Dice sums -------------------------------------------------------------------


@njit(inline="always")
def _sums_loop(p, t, lo, hi, threshold, binarize, squared, out):
    # Slices, indexed from 0: a loop index known to be >= 0 needs no wraparound
    # select, so the loads stay contiguous vector loads (not gathers).
    p = p[lo:hi]
    t = t[lo:hi]
    s_pt = 0.0
    s_p = 0.0
    s_t = 0.0
    for i in range(p.shape[0]):
        a: float = np.float64(p[i])
        if binarize:
            a = 1.0 if a > threshold else 0.0
        b = np.float64(t[i])
        s_pt += a * b
        if squared:
            s_p += a * a
            s_t += b * b
        else:
            s_p += a
            s_t += b
    out[0] = s_pt
    out[1] = s_p
    out[2] = s_t


@njit(fastmath=_REASSOC)
def _chunk_sums(p, t, lo, hi, threshold, binarize, squared, out):
    """``out[:] = (sum p t, sum p (or p^2), sum t (or t^2))`` over ``[lo, hi)`` in float64.

    One inlined loop per combination of flags, each with literal flags: their
    branches fold away and the loop vectorises (a runtime flag in the loop
    measured half the speed).
    """
    if binarize:
        if squared:
            _sums_loop(p, t, lo, hi, threshold, True, True, out)
        else:
            _sums_loop(p, t, lo, hi, threshold, True, False, out)
    elif squared:
        _sums_loop(p, t, lo, hi, threshold, False, True, out)
    else:
        _sums_loop(p, t, lo, hi, threshold, False, False, out)


def _row_sums(pred, target, threshold, binarize, squared, chunk, partial, counter):
    # partial (R, nchunks, 3): rows are split in chunks so that a few long rows
    # still use every thread.
    nchunks = partial.shape[1]
    size = pred.shape[1]
    n_tasks = pred.shape[0] * nchunks
    for _ in prange(workers(n_tasks, 1)):  # a task is a chunk of a row, with its own partial sums
        task = claim(counter, 1)
        while task < n_tasks:
            r = task // nchunks
            c = task - r * nchunks
            lo = c * chunk
            hi = min(size, lo + chunk)
            _chunk_sums(pred[r], target[r], lo, hi, threshold, binarize, squared, partial[r, c])
            task = claim(counter, 1)


_pack_dense_k = serial_and_parallel(_pack_dense)
_dense_pairwise_k = serial_and_parallel(_dense_pairwise)
_dense_aligned_k = serial_and_parallel(_dense_aligned)
_rle_from_strings_k = serial_and_parallel(_rle_from_strings)
_rle_info_k = serial_and_parallel(_rle_info)
_rle_pairwise_k = serial_and_parallel(_rle_pairwise)
_rle_aligned_k = serial_and_parallel(_rle_aligned)
_rle_groups_k = serial_and_parallel(_rle_groups)
_count_runs_k = serial_and_parallel(_count_runs)
_write_runs_k = serial_and_parallel(_write_runs)
_rle_to_strings_k = serial_and_parallel(_rle_to_strings)
_rle_to_dense_k = serial_and_parallel(_rle_to_dense)
_row_sums_k = serial_and_parallel(_row_sums)


# --- the backend interface ---------------------------------------------------------


def pack_dense(
    masks: NDArray[np.uint8],
    bits: NDArray[np.uint64],
    info: NDArray[np.int64],
    parallel: bool,
) -> None:
    """Pack dense masks ``(K, H, W)`` uint8 0/1 into ``bits (K, H, ceil(W / 64))``
    uint64 (pixel x of a row is bit x % 64 of word x // 64) and fill ``info (K, 9)``."""
    _pack_dense_k[parallel](masks, bits, info, new_counter())


def dense_pairwise(
    code: int,
    bits1: NDArray[np.uint64],
    info1: NDArray[np.int64],
    bits2: NDArray[np.uint64],
    info2: NDArray[np.int64],
    crowd: NDArray[np.uint8],
    out: NDArray[np.floating[Any]],
    parallel: bool,
) -> None:
    """``out[i, j] = overlap(code, ...)`` of packed masks; ``crowd (M,)`` uint8."""
    _dense_pairwise_k[parallel](code, bits1, info1, bits2, info2, crowd, out, new_counter())


def dense_aligned(
    code: int,
    bits1: NDArray[np.uint64],
    info1: NDArray[np.int64],
    bits2: NDArray[np.uint64],
    info2: NDArray[np.int64],
    crowd: NDArray[np.uint8],
    out: NDArray[np.floating[Any]],
    parallel: bool,
) -> None:
    """``out[i] = overlap(code, ...)`` of packed masks ``i`` and ``i``."""
    _dense_aligned_k[parallel](code, bits1, info1, bits2, info2, crowd, out, new_counter())


def rle_from_strings(
    buf: NDArray[np.uint8],
    offsets: NDArray[np.int64],
    total: int,
    max_chars: int,
    counts: NDArray[np.int64],
    nruns: NDArray[np.int64],
    status: NDArray[np.int64],
    parallel: bool,
) -> None:
    """Decode and check compressed COCO counts of masks of ``total`` pixels; string k
    (``buf[offsets[k]:offsets[k + 1]]``) gives ``nruns[k]`` counts written from
    ``counts[offsets[k]]`` and ``status[k]`` (RLE_OK, or the first fault); a count
    may take at most ``max_chars <= 12`` characters and ``total < 2**59``."""
    _rle_from_strings_k[parallel](buf, offsets, total, max_chars, counts, nruns, status, new_counter())


def rle_info(
    runs: NDArray[np.int64],
    index: NDArray[np.int64],
    height: int,
    info: NDArray[np.int64],
    segments: NDArray[np.int32],
    status: NDArray[np.int64],
    parallel: bool,
) -> None:
    """Check the counts ``runs[0]`` (masks of ``height * W < 2**59`` pixels) into
    ``status (K, 4)`` and fill ``runs[1]`` (run ends), ``info (K, 9)`` (FIRST/LAST
    column-major) and, for simple masks, ``segments (2, K, W)`` int32 (each column's
    rows [start, end)); ``info`` and ``segments`` mean nothing for a faulty mask."""
    _rle_info_k[parallel](runs, index, height, info, segments, status, new_counter())


def rle_pairwise(
    code: int,
    runs1: NDArray[np.int64],
    index1: NDArray[np.int64],
    info1: NDArray[np.int64],
    segments1: NDArray[np.int32],
    runs2: NDArray[np.int64],
    index2: NDArray[np.int64],
    info2: NDArray[np.int64],
    segments2: NDArray[np.int32],
    crowd: NDArray[np.uint8],
    out: NDArray[np.floating[Any]],
    parallel: bool,
) -> None:
    """``out[i, j] = overlap(code, ...)`` of RLE masks; ``crowd (M,)`` uint8."""
    _rle_pairwise_k[parallel](code, runs1, index1, info1, segments1, runs2, index2, info2, segments2,
                              crowd, out, new_counter())


def rle_groups(
    code: int,
    runs1: NDArray[np.int64],
    index1: NDArray[np.int64],
    info1: NDArray[np.int64],
    segments1: NDArray[np.int32],
    runs2: NDArray[np.int64],
    index2: NDArray[np.int64],
    info2: NDArray[np.int64],
    segments2: NDArray[np.int32],
    crowd: NDArray[np.uint8],
    first1: NDArray[np.intp],
    first2: NDArray[np.intp],
    n1: NDArray[np.intp],
    n2: NDArray[np.intp],
    crowd_first: NDArray[np.intp],
    offsets: NDArray[np.int64],
    out: NDArray[np.float64],
    parallel: bool,
) -> None:
    """Many small pairwise blocks in one call: block ``k`` is masks ``first1[k]:][:n1[k]]``
    of set 1 against ``first2[k]:][:n2[k]]`` of set 2 (crowd flags
    ``crowd[crowd_first[k]:][:n2[k]]``), row-major at ``out[offsets[k]:]``."""
    _rle_groups_k[parallel](code, runs1, index1, info1, segments1, runs2, index2, info2, segments2, crowd,
                            first1, first2, n1, n2, crowd_first, offsets, out, new_counter())


def rle_aligned(
    code: int,
    runs1: NDArray[np.int64],
    index1: NDArray[np.int64],
    info1: NDArray[np.int64],
    segments1: NDArray[np.int32],
    runs2: NDArray[np.int64],
    index2: NDArray[np.int64],
    info2: NDArray[np.int64],
    segments2: NDArray[np.int32],
    crowd: NDArray[np.uint8],
    out: NDArray[np.floating[Any]],
    parallel: bool,
) -> None:
    """``out[i] = overlap(code, ...)`` of RLE masks ``i`` and ``i``."""
    _rle_aligned_k[parallel](code, runs1, index1, info1, segments1, runs2, index2, info2, segments2,
                             crowd, out, new_counter())


def count_runs(masks: NDArray[np.uint8], nruns: NDArray[np.int64], parallel: bool) -> None:
    """Number of COCO runs of each dense mask ``(K, H, W)`` uint8."""
    _count_runs_k[parallel](masks, nruns, new_counter())


def write_runs(
    masks: NDArray[np.uint8],
    index: NDArray[np.int64],
    counts: NDArray[np.int64],
    parallel: bool,
) -> None:
    """Write each mask's runs into ``counts`` from ``index[k, 0]``."""
    _write_runs_k[parallel](masks, index, counts, new_counter())


def rle_to_strings(
    counts: NDArray[np.int64],
    index: NDArray[np.int64],
    stride: int,
    buf: NDArray[np.uint8],
    lengths: NDArray[np.int64],
    parallel: bool,
) -> None:
    """Compress counts; mask k's ``lengths[k]`` characters start at ``buf[stride * index[k, 0]]``
    (``stride``: the most characters a count of these masks takes)."""
    _rle_to_strings_k[parallel](counts, index, stride, buf, lengths, new_counter())


def rle_to_dense(
    counts: NDArray[np.int64],
    index: NDArray[np.int64],
    out: NDArray[np.uint8],
    parallel: bool,
) -> None:
    """Paint the foreground runs into ``out (K, H, W)`` uint8, zero on entry; the
    counts must have passed :func:`rle_info`."""
    _rle_to_dense_k[parallel](counts, index, out, new_counter())


def row_sums(
    pred: NDArray[np.uint8] | NDArray[np.float32] | NDArray[np.float64],
    target: NDArray[np.uint8] | NDArray[np.float32] | NDArray[np.float64],
    threshold: float,
    binarize: bool,
    squared: bool,
    chunk: int,
    partial: NDArray[np.float64],
    parallel: bool,
) -> None:
    """Per-chunk float64 sums ``(sum p t, sum p, sum t)`` (squares with ``squared``)
    of rows ``pred (R, S)``, ``target (R, S)``, into ``partial (R, ceil(S / chunk), 3)``."""
    _row_sums_k[parallel](pred, target, threshold, binarize, squared, chunk, partial, new_counter())


# --- polygons (pycocotools' rleFrPoly) ------------------------------------------------------------

#: pycocotools rasterises polygons on a grid this many times finer than the pixels.
POLY_SCALE = 5.0


@njit(inline="always")
def _poly_corner(xy: NDArray[np.float64], p0: int, k: int, j: int) -> tuple[int, int]:
    """Corner ``j`` (mod ``k``) of the polygon at ``xy[p0:]`` on the fine grid, as C's ``(int)(5 * v + .5)``."""
    j = j if j < k else 0
    return int(POLY_SCALE * xy[p0 + 2 * j] + 0.5), int(POLY_SCALE * xy[p0 + 2 * j + 1] + 0.5)


@njit
def polygon_points(xy: NDArray[np.float64], poly_start: NDArray[np.int64]) -> NDArray[np.int64]:
    """Points each polygon's boundary walk visits (rleFrPoly's ``m``): the scratch it needs."""
    n = poly_start.shape[0] - 1
    out = np.zeros(n, np.int64)
    for p in range(n):
        p0, k = poly_start[p], (poly_start[p + 1] - poly_start[p]) // 2
        for j in range(k):
            xs, ys = _poly_corner(xy, p0, k, j)
            xe, ye = _poly_corner(xy, p0, k, j + 1)
            out[p] += max(abs(xe - xs), abs(ye - ys)) + 1
    return out


@njit
def _poly_intervals(xy: NDArray[np.float64], p0: int, k: int, h: int, w: int, u: NDArray[np.int64],
                    v: NDArray[np.int64], a: NDArray[np.int64], starts: NDArray[np.int64],
                    ends: NDArray[np.int64], n_iv: int) -> int:
    """pycocotools' rleFrPoly of one polygon (``k`` corners at ``xy[p0:]``), exactly: its
    foreground runs appended to ``starts``/``ends`` (column-major pixel intervals) from
    ``n_iv``; returns the new count.  ``u``, ``v``, ``a`` hold polygon_points' count."""
    m = 0
    for j in range(k):  # the boundary, densely, on the fine grid
        xs, ys = _poly_corner(xy, p0, k, j)
        xe, ye = _poly_corner(xy, p0, k, j + 1)
        dx, dy = abs(xe - xs), abs(ys - ye)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            xs, xe, ys, ye = xe, xs, ye, ys
        if dx == 0 and dy == 0:  # a repeated corner: one point (C divides 0 by 0 here; the
            u[m], v[m] = xs, ys  # row is never read: both neighbours share its column)
            m += 1
        elif dx >= dy:
            s = (ye - ys) / dx
            for d in range(dx + 1):
                t = dx - d if flip else d
                u[m], v[m] = t + xs, int(ys + s * t + 0.5)
                m += 1
        else:
            s = (xe - xs) / dy
            for d in range(dy + 1):
                t = dy - d if flip else d
                v[m], u[m] = t + ys, int(xs + s * t + 0.5)
                m += 1
    n = 0
    for j in range(1, m):  # where the column changes, back on the pixel grid
        if u[j] != u[j - 1]:
            xd = float(u[j] if u[j] < u[j - 1] else u[j] - 1)
            xd = (xd + 0.5) / POLY_SCALE - 0.5
            if np.floor(xd) != xd or xd < 0 or xd > w - 1:
                continue
            yd = float(v[j] if v[j] < v[j - 1] else v[j - 1])
            yd = (yd + 0.5) / POLY_SCALE - 0.5
            if yd < 0:
                yd = 0.0
            elif yd > h:
                yd = float(h)
            a[n] = int(xd) * h + int(np.ceil(yd))
            n += 1
    a[n] = h * w
    n += 1
    a[:n].sort()
    # the runs are the gaps between the sorted positions; an empty run joins the runs
    # on either side of it (rleFrPoly's compression); u now holds the runs
    prev, nb, j = 0, 0, 0
    while j < n:
        run = a[j] - prev
        prev = a[j]
        j += 1
        if j == 1 or run > 0:
            u[nb] = run
            nb += 1
        elif j < n:
            u[nb - 1] += a[j] - prev
            prev = a[j]
            j += 1
    pos = 0
    for r in range(nb):  # runs alternate background, foreground
        if r % 2 == 1 and u[r] > 0:
            starts[n_iv], ends[n_iv] = pos, pos + u[r]
            n_iv += 1
        pos += u[r]
    return n_iv


@njit
def polygons_to_runs(xy: NDArray[np.float64], poly_start: NDArray[np.int64], ann_poly: NDArray[np.int64],
                     height: NDArray[np.int64], width: NDArray[np.int64], points: NDArray[np.int64],
                     out_start: NDArray[np.int64], counts: NDArray[np.int64]) -> NDArray[np.int64]:
    """pycocotools' ``merge(frPyObjects(polygons, h, w))`` for each annotation (its polygons
    ``ann_poly[i]:ann_poly[i + 1]``, corners ``xy[poly_start[p]:poly_start[p + 1]]``): the
    union's COCO runs written into ``counts`` from ``out_start[i]``; returns their numbers.
    ``points``: polygon_points; ``out_start`` leaves room for ``sum(points + 2) + 1`` runs."""
    n_ann = ann_poly.shape[0] - 1
    widest = 1
    for p in range(points.shape[0]):
        widest = max(widest, points[p] + 1)
    u = np.empty(widest, np.int64)
    v = np.empty(widest, np.int64)
    a = np.empty(widest, np.int64)
    n_runs = np.zeros(n_ann, np.int64)
    for i in range(n_ann):
        h, w = height[i], width[i]
        room = 0
        for p in range(ann_poly[i], ann_poly[i + 1]):
            room += points[p] + 2
        starts = np.empty(room, np.int64)
        ends = np.empty(room, np.int64)
        n_iv = 0
        for p in range(ann_poly[i], ann_poly[i + 1]):
            n_iv = _poly_intervals(xy, poly_start[p], (poly_start[p + 1] - poly_start[p]) // 2, h, w, u, v, a,
                                   starts, ends, n_iv)
        order = np.argsort(starts[:n_iv], kind="mergesort")
        o, nr, end = out_start[i], 0, 0  # the union, as runs: background, foreground, ...
        q = 0
        while q < n_iv:
            lo, hi = starts[order[q]], ends[order[q]]
            q += 1
            while q < n_iv and starts[order[q]] <= hi:
                hi = max(hi, ends[order[q]])
                q += 1
            counts[o + nr] = lo - end
            counts[o + nr + 1] = hi - lo
            nr += 2
            end = hi
        if end < h * w or nr == 0:  # no trailing empty run, as rleFrPoly
            counts[o + nr] = h * w - end
            nr += 1
        n_runs[i] = nr
    return n_runs
