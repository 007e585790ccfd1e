# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython COCO kernels: the second implementation of pycocotools' greedy matching and
accumulation and of the grouping (group_by, group_order; fastiou/backends/numba_cpu_coco.py
describes the layouts), and the one-pass reader of result records (record_columns).

Groups (and, when accumulating, categories) are handed out by a dynamic schedule;
each writes only its own outputs, so one thread and many give identical results.
The kernels contain no validation.
"""

from cython.parallel cimport prange
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

cimport numpy as cnp
import numpy as np

cnp.import_array()

# pycocotools caps every IoU threshold at 1 - 1e-10.
cdef double THRESHOLD_CAP = 1 - 1e-10
# np.spacing(1.0)
cdef double EPS = 2.220446049250313e-16
# what greedy matching makes of a detection (numba_cpu_coco's IGNORED, TRUE_POSITIVE, FALSE_POSITIVE)
cdef enum:
    IGNORED = 0
    TRUE_POSITIVE = 1
    FALSE_POSITIVE = 2


cdef enum:
    SMALL_GROUP = 32  # ground truth per group that greedy matching keeps on the stack


include "_sort.pxi"


cdef inline bint _less(double x, double v) noexcept nogil:
    # NumPy's searchsorted order: NaN after every number
    return x < v or (v != v and x == x)


cdef void _match_group(Py_ssize_t k, const double[::1] ious, const cnp.int64_t[::1] offsets,
                       const cnp.int64_t[::1] d_start, const cnp.int64_t[::1] n_d,
                       const cnp.int64_t[::1] g_start, const cnp.int64_t[::1] n_g,
                       const cnp.uint8_t[::1] has_overlaps, const cnp.uint8_t[::1] gt_ignore,
                       const cnp.uint8_t[::1] gt_crowd, const double[::1] gt_area,
                       const cnp.int64_t[::1] gt_id, const cnp.int64_t[::1] dt_id,
                       const double[::1] dt_area, const double[::1] area_lo, const double[::1] area_hi,
                       const double[::1] thresholds, cnp.uint8_t[:, ::1] gt_ignore_out,
                       cnp.uint8_t[:, :, ::1] status, bint detail, cnp.int32_t[:, :, ::1] dt_match,
                       cnp.int32_t[:, :, ::1] gt_match, cnp.uint8_t[:, :, ::1] dt_ignore) noexcept nogil:
    cdef Py_ssize_t nd = n_d[k], ng = n_g[k], d0 = d_start[k], g0 = g_start[k], o = offsets[k]
    cdef Py_ssize_t ng_match = ng if has_overlaps[k] else 0
    cdef Py_ssize_t a, t, i, j, jj, pos, m, d
    cdef double alo, ahi, area, best, v
    cdef int matched
    cdef bint ignored
    cdef cnp.uint8_t st
    # a group's scratch: on the stack for the usual few ground truth (a malloc and
    # free per group would cost more than most groups' matching)
    cdef char ig_few[SMALL_GROUP]
    cdef Py_ssize_t order_few[SMALL_GROUP]
    cdef cnp.int64_t taken_few[SMALL_GROUP]
    cdef bint few = ng <= SMALL_GROUP
    cdef char* ig = &ig_few[0]
    cdef Py_ssize_t* order = &order_few[0]
    cdef cnp.int64_t* taken = &taken_few[0]
    if not few:
        ig = <char*>malloc(ng * sizeof(char))
        order = <Py_ssize_t*>malloc(ng * sizeof(Py_ssize_t))
        taken = <cnp.int64_t*>malloc(ng * sizeof(cnp.int64_t))
    for a in range(area_lo.shape[0]):
        alo = area_lo[a]
        ahi = area_hi[a]
        for j in range(ng):
            area = gt_area[g0 + j]
            ig[j] = gt_ignore[g0 + j] or area < alo or area > ahi
            gt_ignore_out[a, g0 + j] = ig[j]
        pos = 0
        for j in range(ng):  # a stable sort by the ignore flag: regular ground truth first
            if not ig[j]:
                order[pos] = j
                pos += 1
        for j in range(ng):
            if ig[j]:
                order[pos] = j
                pos += 1
        if ng_match == 0:  # nothing to match (numba_cpu_coco._greedy_match)
            for i in range(nd):
                d = d0 + i
                st = IGNORED if dt_area[d] < alo or dt_area[d] > ahi else FALSE_POSITIVE
                for t in range(thresholds.shape[0]):
                    status[d, a, t] = st
            if detail:
                for t in range(thresholds.shape[0]):
                    for i in range(nd):
                        dt_match[a, t, d0 + i] = -1
                        dt_ignore[a, t, d0 + i] = status[d0 + i, a, t] == IGNORED
                    for j in range(ng):
                        gt_match[a, t, g0 + j] = -1
            continue
        for t in range(thresholds.shape[0]):
            for j in range(ng):
                taken[j] = 0
                if detail:
                    gt_match[a, t, g0 + j] = -1
            for i in range(nd):
                best = min(thresholds[t], THRESHOLD_CAP)
                m = -1
                for jj in range(ng_match):
                    j = order[jj]
                    if taken[j] > 0 and not gt_crowd[g0 + j]:
                        continue
                    if m > -1 and not ig[m] and ig[j]:
                        break
                    v = ious[o + i * ng + j]
                    if v < best:
                        continue
                    best = v
                    m = j
                d = d0 + i
                matched = -1
                ignored = False
                if m > -1:
                    ignored = ig[m]
                    if gt_id[g0 + m] != 0:
                        matched = <int>(g0 + m)
                    taken[m] = dt_id[d]
                    if detail and dt_id[d] > 0:
                        gt_match[a, t, g0 + m] = <int>d
                if matched < 0 and (dt_area[d] < alo or dt_area[d] > ahi):
                    ignored = True
                if detail:
                    dt_match[a, t, d] = matched
                    dt_ignore[a, t, d] = ignored
                status[d, a, t] = IGNORED if ignored else (TRUE_POSITIVE if matched >= 0 else FALSE_POSITIVE)
    if not few:
        free(ig)
        free(order)
        free(taken)


def greedy_match(const double[::1] ious, const cnp.int64_t[::1] offsets, const cnp.int64_t[::1] d_start,
                 const cnp.int64_t[::1] n_d, const cnp.int64_t[::1] g_start, const cnp.int64_t[::1] n_g,
                 const cnp.uint8_t[::1] has_overlaps, const cnp.uint8_t[::1] gt_ignore,
                 const cnp.uint8_t[::1] gt_crowd, const double[::1] gt_area, const cnp.int64_t[::1] gt_id,
                 const cnp.int64_t[::1] dt_id, const double[::1] dt_area, const double[::1] area_lo,
                 const double[::1] area_hi, const double[::1] thresholds, cnp.uint8_t[:, ::1] gt_ignore_out,
                 cnp.uint8_t[:, :, ::1] status, bint detail, cnp.int32_t[:, :, ::1] dt_match,
                 cnp.int32_t[:, :, ::1] gt_match, cnp.uint8_t[:, :, ::1] dt_ignore, int num_threads):
    cdef Py_ssize_t k, n = n_d.shape[0]
    if num_threads <= 1:  # a plain loop, no OpenMP call
        with nogil:
            for k in range(n):
                _match_group(k, ious, offsets, d_start, n_d, g_start, n_g, has_overlaps, gt_ignore, gt_crowd,
                             gt_area, gt_id, dt_id, dt_area, area_lo, area_hi, thresholds, gt_ignore_out, status,
                             detail, dt_match, gt_match, dt_ignore)
        return
    for k in prange(n, nogil=True, schedule="dynamic", chunksize=8, num_threads=num_threads):
        _match_group(k, ious, offsets, d_start, n_d, g_start, n_g, has_overlaps, gt_ignore, gt_crowd,
                     gt_area, gt_id, dt_id, dt_area, area_lo, area_hi, thresholds, gt_ignore_out, status,
                     detail, dt_match, gt_match, dt_ignore)


cdef inline double _pairwise_sum(const double* x, Py_ssize_t n) noexcept nogil:
    # numba_cpu_coco._pairwise_sum: NumPy's pairwise summation of one block (n <= 128)
    cdef double res, r0, r1, r2, r3, r4, r5, r6, r7
    cdef Py_ssize_t i
    if n < 8:
        res = 0.0
        for i in range(n):
            res += x[i]
        return res
    r0, r1, r2, r3, r4, r5, r6, r7 = x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]
    i = 8
    while i < n - (n % 8):
        r0 += x[i]
        r1 += x[i + 1]
        r2 += x[i + 2]
        r3 += x[i + 3]
        r4 += x[i + 4]
        r5 += x[i + 5]
        r6 += x[i + 6]
        r7 += x[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += x[i]
        i += 1
    return res


cdef void _oks_group(Py_ssize_t k, const double[:, ::1] dkp, const double[:, ::1] gkp,
                     const cnp.int64_t[::1] gvis_count, const double[:, ::1] gbox, const double[::1] garea,
                     const double[::1] variances, const cnp.int64_t[::1] d_start, const cnp.int64_t[::1] n_d,
                     const cnp.int64_t[::1] g_start, const cnp.int64_t[::1] n_g, const cnp.int64_t[::1] offsets,
                     double[:, ::1] out) noexcept nogil:
    # numba_cpu_coco._oks_exponents for group k
    cdef Py_ssize_t nd = n_d[k], ng = n_g[k], d0 = d_start[k], g0 = g_start[k], o = offsets[k]
    cdef Py_ssize_t nk = variances.shape[0], i, j, q, g, d, row, pos
    cdef double x0, x1, y0, y1, scale, xd, yd, dx, dy
    for j in range(ng):
        g = g0 + j
        x0 = gbox[g, 0] - gbox[g, 2]
        x1 = gbox[g, 0] + gbox[g, 2] * 2
        y0 = gbox[g, 1] - gbox[g, 3]
        y1 = gbox[g, 1] + gbox[g, 3] * 2
        scale = garea[g] + EPS
        for i in range(nd):
            d = d0 + i
            row = o + i * ng + j
            pos = 0
            for q in range(nk):
                xd = dkp[d, 3 * q]
                yd = dkp[d, 3 * q + 1]
                if gvis_count[g] > 0:
                    if not gkp[g, 3 * q + 2] > 0:
                        continue
                    dx = xd - gkp[g, 3 * q]
                    dy = yd - gkp[g, 3 * q + 1]
                else:
                    dx = (x0 - xd if x0 - xd > 0.0 else 0.0) + (xd - x1 if xd - x1 > 0.0 else 0.0)
                    dy = (y0 - yd if y0 - yd > 0.0 else 0.0) + (yd - y1 if yd - y1 > 0.0 else 0.0)
                out[row, pos] = -((dx * dx + dy * dy) / variances[q] / scale / 2)
                pos += 1


def oks_exponents(const double[:, ::1] dkp, const double[:, ::1] gkp, const cnp.int64_t[::1] gvis_count,
                  const double[:, ::1] gbox, const double[::1] garea, const double[::1] variances,
                  const cnp.int64_t[::1] d_start, const cnp.int64_t[::1] n_d, const cnp.int64_t[::1] g_start,
                  const cnp.int64_t[::1] n_g, const cnp.int64_t[::1] offsets, double[:, ::1] out,
                  int num_threads):
    """numba_cpu_coco.oks_exponents: ``out[pair, :count]``, minus the OKS exponents."""
    cdef Py_ssize_t k, n = n_d.shape[0]
    if num_threads <= 1:
        with nogil:
            for k in range(n):
                _oks_group(k, dkp, gkp, gvis_count, gbox, garea, variances, d_start, n_d, g_start, n_g,
                           offsets, out)
        return
    for k in prange(n, nogil=True, schedule="dynamic", chunksize=8, num_threads=num_threads):
        _oks_group(k, dkp, gkp, gvis_count, gbox, garea, variances, d_start, n_d, g_start, n_g, offsets, out)


def oks_sums(const double[:, ::1] exps, const cnp.int64_t[::1] counts, double[::1] out, int num_threads):
    """numba_cpu_coco.oks_sums: ``out[pair]``, the mean of ``exps[pair, :counts[pair]]``
    summed in NumPy's order."""
    cdef Py_ssize_t p, n = out.shape[0]
    if n == 0:
        return
    if num_threads <= 1:
        with nogil:
            for p in range(n):
                out[p] = _pairwise_sum(&exps[p, 0], counts[p]) / counts[p]
        return
    for p in prange(n, nogil=True, schedule="dynamic", chunksize=4096, num_threads=num_threads):
        out[p] = _pairwise_sum(&exps[p, 0], counts[p]) / counts[p]


cdef void _accumulate_category(Py_ssize_t c, const cnp.uint8_t[:, ::1] lanes,
                               const cnp.int64_t[::1] by_cat, const cnp.int64_t[::1] cat_start,
                               const cnp.int64_t[::1] cat_len, const cnp.int64_t[::1] rank,
                               const double[::1] score, const cnp.int64_t[:, ::1] npig,
                               const cnp.int64_t[::1] max_dets, const double[::1] rec_thrs, Py_ssize_t n_thr,
                               double[:, :, :, :, ::1] precision, double[:, :, :, :, ::1] scores,
                               double[:, :, :, ::1] recall) noexcept nogil:
    # numba_cpu_coco._accumulate for category c (lanes: status as (detection, lane))
    cdef Py_ssize_t n_lane = lanes.shape[1], n_area = n_lane // n_thr, n_rec = rec_thrs.shape[0]
    cdef Py_ssize_t nd_all = cat_len[c], cap = max(nd_all, 1), tp_cap
    cdef Py_ssize_t i, j, d, a, t, m, k, r, lo, hi, mid, nd, first, n_tp, lane, any_tp
    cdef bint wanted = False, first_tp
    cdef double count, tpf, v
    cdef Keyed* keyed
    cdef const cnp.int64_t* mine = &by_cat[cat_start[c]] if nd_all else NULL  # the category's detections
    cdef cnp.uint8_t* local
    cdef cnp.uint8_t* rows
    cdef cnp.int64_t* ranks
    cdef cnp.int64_t* fp
    cdef cnp.int64_t* ntp
    cdef cnp.int64_t* fp_at
    cdef Py_ssize_t* tp_at
    cdef double* pr
    cdef cnp.uint8_t st
    for a in range(n_area):
        wanted = wanted or npig[a, c] > 0
    if not wanted:
        return
    keyed = <Keyed*>malloc(2 * cap * sizeof(Keyed))  # and the sort's scratch
    for i in range(nd_all):  # pos: the place in the category (by_cat keeps memory order)
        keyed[i].pos = i
        keyed[i].neg_score = -score[mine[i]]
    _sort_by_score(keyed, keyed + cap, nd_all)
    # status and rank in score order, gathered in memory order first (random rows of
    # the whole status array would each miss the cache)
    local = <cnp.uint8_t*>malloc(cap * n_lane * sizeof(cnp.uint8_t))
    for j in range(nd_all):
        d = mine[j]
        for lane in range(n_lane):
            local[j * n_lane + lane] = lanes[d, lane]
    rows = <cnp.uint8_t*>malloc(cap * n_lane * sizeof(cnp.uint8_t))
    ranks = <cnp.int64_t*>malloc(cap * sizeof(cnp.int64_t))
    for i in range(nd_all):
        j = keyed[i].pos
        ranks[i] = rank[mine[j]]
        for lane in range(n_lane):
            rows[i * n_lane + lane] = local[j * n_lane + lane]
    free(local)
    fp = <cnp.int64_t*>malloc(n_lane * sizeof(cnp.int64_t))
    ntp = <cnp.int64_t*>malloc(n_lane * sizeof(cnp.int64_t))
    for lane in range(n_lane):  # true positives per lane: the scratch's size, not nd_all
        ntp[lane] = 0
    for i in range(nd_all):
        for lane in range(n_lane):
            ntp[lane] += rows[i * n_lane + lane] == TRUE_POSITIVE
    tp_cap = 1
    for lane in range(n_lane):
        tp_cap = max(tp_cap, ntp[lane])
    fp_at = <cnp.int64_t*>malloc(n_lane * tp_cap * sizeof(cnp.int64_t))
    tp_at = <Py_ssize_t*>malloc(n_lane * tp_cap * sizeof(Py_ssize_t))
    pr = <double*>malloc(tp_cap * sizeof(double))
    for m in range(max_dets.shape[0]):
        for lane in range(n_lane):
            fp[lane] = 0
            ntp[lane] = 0
        nd = 0
        first = -1
        for i in range(nd_all):
            if ranks[i] >= max_dets[m]:
                continue
            if nd == 0:
                first = i
            nd += 1
            any_tp = 0
            for lane in range(n_lane):
                st = rows[i * n_lane + lane]
                fp[lane] += st == FALSE_POSITIVE
                any_tp += st == TRUE_POSITIVE
            if any_tp:
                for lane in range(n_lane):
                    if rows[i * n_lane + lane] == TRUE_POSITIVE:
                        k = ntp[lane]
                        fp_at[lane * tp_cap + k] = fp[lane]
                        tp_at[lane * tp_cap + k] = i
                        ntp[lane] = k + 1
        for a in range(n_area):
            count = <double>npig[a, c]
            if count == 0:
                continue
            for t in range(n_thr):
                lane = a * n_thr + t
                n_tp = ntp[lane]
                for k in range(n_tp):
                    tpf = <double>(k + 1)
                    pr[k] = tpf / ((<double>fp_at[lane * tp_cap + k] + tpf) + EPS)
                for k in range(n_tp - 1, 0, -1):
                    if pr[k] > pr[k - 1]:
                        pr[k - 1] = pr[k]
                recall[t, c, a, m] = n_tp / count if nd else 0.0
                for r in range(n_rec):
                    precision[t, r, c, a, m] = 0.0
                    scores[t, r, c, a, m] = 0.0
                lo = 0
                for r in range(n_rec):
                    v = rec_thrs[r]
                    if nd == 0:
                        break
                    first_tp = rows[first * n_lane + lane] == TRUE_POSITIVE
                    if not _less((1.0 if first_tp else 0.0) / count, v):
                        precision[t, r, c, a, m] = pr[0] if n_tp else 0.0
                        scores[t, r, c, a, m] = score[mine[keyed[first].pos]]
                        continue
                    # the first true positive k with rc >= v: walked on from the last one
                    # while rec_thrs ascend (the usual), else a binary search
                    if r > 0 and not _less(v, rec_thrs[r - 1]):
                        while lo < n_tp and _less(<double>(lo + 1) / count, v):
                            lo += 1
                    else:
                        lo = 0
                        hi = n_tp
                        while lo < hi:
                            mid = (lo + hi) >> 1
                            if _less(<double>(mid + 1) / count, v):
                                lo = mid + 1
                            else:
                                hi = mid
                    if lo == n_tp:
                        break
                    precision[t, r, c, a, m] = pr[lo]
                    scores[t, r, c, a, m] = score[mine[keyed[tp_at[lane * tp_cap + lo]].pos]]
    free(keyed)
    free(rows)
    free(ranks)
    free(fp)
    free(ntp)
    free(fp_at)
    free(tp_at)
    free(pr)


def accumulate(const cnp.uint8_t[:, :, ::1] status, const cnp.int64_t[::1] by_cat,
               const cnp.int64_t[::1] cat_start, const cnp.int64_t[::1] cat_len, const cnp.int64_t[::1] rank,
               const double[::1] score, const cnp.int64_t[:, ::1] npig, const cnp.int64_t[::1] max_dets,
               const double[::1] rec_thrs, double[:, :, :, :, ::1] precision, double[:, :, :, :, ::1] scores,
               double[:, :, :, ::1] recall, int num_threads):
    cdef Py_ssize_t c, n = cat_start.shape[0], n_thr = status.shape[2]
    cdef const cnp.uint8_t[:, ::1] lanes = np.asarray(status).reshape(status.shape[0], status.shape[1] * n_thr)
    if num_threads <= 1:
        with nogil:
            for c in range(n):
                _accumulate_category(c, lanes, by_cat, cat_start, cat_len, rank, score, npig, max_dets,
                                     rec_thrs, n_thr, precision, scores, recall)
        return
    for c in prange(n, nogil=True, schedule="dynamic", chunksize=1, num_threads=num_threads):
        _accumulate_category(c, lanes, by_cat, cat_start, cat_len, rank, score, npig, max_dets, rec_thrs, n_thr,
                             precision, scores, recall)


def group_by(const cnp.int64_t[::1] keys, Py_ssize_t n_keys):
    """``(order, start, length)``: numba_cpu_coco.group_by, a stable counting sort of
    ``keys`` in ``[0, n_keys)``; key ``k``'s positions are ``order[start[k]:][:length[k]]``."""
    cdef Py_ssize_t i, k, n = keys.shape[0]
    order_a = np.empty(n, np.intp)
    start_a = np.zeros(n_keys, np.intp)
    length_a = np.zeros(n_keys, np.intp)
    fill_a = np.empty(n_keys, np.intp)
    cdef cnp.int64_t[::1] order = order_a, start = start_a, length = length_a, fill = fill_a
    with nogil:
        for i in range(n):
            length[keys[i]] += 1
        for k in range(1, n_keys):
            start[k] = start[k - 1] + length[k - 1]
        for k in range(n_keys):
            fill[k] = start[k]
        for i in range(n):
            k = keys[i]
            order[fill[k]] = i
            fill[k] += 1
    return order_a, start_a, length_a


def group_order(const cnp.int64_t[::1] key, Py_ssize_t n_keys, Py_ssize_t per_group,
                const double[::1] score, Py_ssize_t max_per_group):
    """``(order, rank, count)``: numba_cpu_coco.group_order (pycocotools' order of each
    group of ``per_group`` keys, by decreasing ``score`` when given, stably; cut at
    ``max_per_group``)."""
    order_a, start_a, length_a = group_by(key, n_keys)
    cdef cnp.int64_t[::1] order = order_a, start = start_a, length = length_a
    cdef Py_ssize_t n_groups = n_keys // per_group, g, lo, hi, last, i, j, r, pos, item, widest = 0
    cdef bint by_score = score.shape[0] > 0
    count_a = np.empty(n_groups, np.intp)
    cdef cnp.int64_t[::1] count = count_a
    cdef Keyed* keyed
    for g in range(n_groups):
        last = (g + 1) * per_group - 1
        widest = max(widest, start[last] + length[last] - start[g * per_group])
    widest = max(widest, 1)
    keyed = <Keyed*>malloc(2 * widest * sizeof(Keyed))  # and the sort's scratch
    if keyed == NULL:
        raise MemoryError()
    with nogil:
        for g in range(n_groups):
            lo = start[g * per_group]
            last = (g + 1) * per_group - 1
            hi = start[last] + length[last]
            if by_score and hi - lo > 1:
                if hi - lo <= 16:  # most groups: an insertion sort in place (stable)
                    for i in range(lo + 1, hi):
                        item = order[i]
                        j = i
                        while j > lo and score[order[j - 1]] < score[item]:
                            order[j] = order[j - 1]
                            j -= 1
                        order[j] = item
                else:  # ties by place in the group (key, then input order): a stable sort
                    for i in range(hi - lo):
                        keyed[i].pos = i
                        keyed[i].neg_score = -score[order[lo + i]]
                    _sort_by_score(keyed, keyed + widest, hi - lo)
                    for i in range(hi - lo):
                        keyed[i].pos = order[lo + keyed[i].pos]
                    for i in range(hi - lo):
                        order[lo + i] = keyed[i].pos
            count[g] = min(hi - lo, max_per_group)
    free(keyed)
    kept_a = np.empty(count_a.sum(), np.intp)
    rank_a = np.empty(kept_a.shape[0], np.intp)
    cdef cnp.int64_t[::1] kept = kept_a, rank = rank_a
    pos = 0
    with nogil:
        for g in range(n_groups):
            lo = start[g * per_group]
            for r in range(count[g]):
                kept[pos] = order[lo + r]
                rank[pos] = r
                pos += 1
    return kept_a, rank_a, count_a


cdef extern from "Python.h":
    ctypedef struct PyObject
    PyObject* PyDict_GetItem(object d, object key)  # borrowed, NULL when absent
    bint PyFloat_Check(PyObject* o)
    double PyFloat_AS_DOUBLE(PyObject* o)
    bint PyLong_CheckExact(PyObject* o)
    long long PyLong_AsLongLongAndOverflow(PyObject* o, int* overflow) except? -1
    double PyLong_AsDouble(PyObject* o) except? -1.0
    bint PyList_CheckExact(PyObject* o)
    bint PyTuple_CheckExact(PyObject* o)
    Py_ssize_t PyList_GET_SIZE(PyObject* o)
    Py_ssize_t PyTuple_GET_SIZE(PyObject* o)
    PyObject* PyList_GET_ITEM(PyObject* o, Py_ssize_t i)
    PyObject* PyTuple_GET_ITEM(PyObject* o, Py_ssize_t i)


cdef inline bint _as_double(PyObject* v, double* out):
    # a Python float (or subclass) or int, as NumPy converts it; False for anything else
    if PyFloat_Check(v):
        out[0] = PyFloat_AS_DOUBLE(v)
        return True
    if PyLong_CheckExact(v):
        try:
            out[0] = PyLong_AsDouble(v)
        except OverflowError:
            return False
        return True
    return False


def record_columns(list records, tuple keys, tuple widths):
    """The fields ``keys`` of every record, one pass over the records, or None.

    ``widths[k]`` is 0 for an int64 id (a Python int, not a bool), 1 for a float64
    number (a Python float or int) and ``w >= 2`` for ``w`` float64 numbers (a list or
    tuple of ``w``: a box, keypoints).  Any record that is not a dict holding such values gives None: the
    caller then reads the records field by field, which names the bad record.
    """
    cdef Py_ssize_t n = len(records), nk = len(keys), i, k, j
    cdef int overflow
    cdef long long x
    cdef double value
    cdef PyObject* v
    cdef object record
    cdef void* data[8]
    cdef int width[8]
    if nk > 8:
        raise ValueError("record_columns reads at most 8 keys")
    out = [np.empty((n, w) if w >= 2 else (n,), np.int64 if w == 0 else np.float64) for w in widths]
    for k in range(nk):
        width[k] = widths[k]
        data[k] = cnp.PyArray_DATA(out[k])
    for i in range(n):  # each record once: its dict is read while in cache
        record = records[i]
        if type(record) is not dict:
            return None
        for k in range(nk):
            v = PyDict_GetItem(record, keys[k])
            if v == NULL:
                return None
            if width[k] == 0:
                if not PyLong_CheckExact(v):
                    return None
                x = PyLong_AsLongLongAndOverflow(v, &overflow)
                if overflow:
                    return None
                (<cnp.int64_t*>data[k])[i] = x
            elif width[k] == 1:
                if not _as_double(v, &value):
                    return None
                (<double*>data[k])[i] = value
            elif PyList_CheckExact(v) and PyList_GET_SIZE(v) == width[k]:
                for j in range(width[k]):
                    if not _as_double(PyList_GET_ITEM(v, j), &value):
                        return None
                    (<double*>data[k])[width[k] * i + j] = value
            elif PyTuple_CheckExact(v) and PyTuple_GET_SIZE(v) == width[k]:
                for j in range(width[k]):
                    if not _as_double(PyTuple_GET_ITEM(v, j), &value):
                        return None
                    (<double*>data[k])[width[k] * i + j] = value
            else:
                return None
    return out
