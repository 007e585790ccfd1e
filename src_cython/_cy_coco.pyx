# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython COCO kernels: the second implementation of pycocotools' greedy matching and
accumulation (fastiou/backends/numba_cpu_coco.py describes the layouts).

Groups (and, when accumulating, (threshold, category) items) are handed out one
at a time by a dynamic schedule; each writes only its own outputs, so one thread
and many give identical results.  The kernels contain no validation.
"""

from cython.parallel cimport prange
from libc.stdlib cimport free, malloc

cimport numpy as cnp

cnp.import_array()

# pycocotools caps every IoU threshold at 1 - 1e-10.
cdef double THRESHOLD_CAP = 1 - 1e-10
# np.spacing(1.0)
cdef double EPS = 2.220446049250313e-16


cdef void _match_group(Py_ssize_t k, const double[::1] ious, const cnp.int64_t[::1] offsets,
                       const cnp.int64_t[::1] d_start, const cnp.int64_t[::1] n_d,
                       const cnp.int64_t[::1] g_start, const cnp.int64_t[::1] n_g,
                       const cnp.uint8_t[::1] has_overlaps, const cnp.uint8_t[::1] gt_ignore,
                       const cnp.uint8_t[::1] gt_crowd, const double[::1] gt_area,
                       const cnp.int64_t[::1] gt_id, const cnp.int64_t[::1] dt_id,
                       const double[::1] dt_area, const double[::1] area_lo, const double[::1] area_hi,
                       const double[::1] thresholds, cnp.int32_t[:, :, ::1] dt_match,
                       cnp.int32_t[:, :, ::1] gt_match, cnp.uint8_t[:, :, ::1] dt_ignore,
                       cnp.uint8_t[:, ::1] gt_ignore_out) noexcept nogil:
    cdef Py_ssize_t nd = n_d[k], ng = n_g[k], d0 = d_start[k], g0 = g_start[k], o = offsets[k]
    cdef Py_ssize_t ng_match = ng if has_overlaps[k] else 0
    cdef Py_ssize_t a, t, i, j, jj, pos, m, d
    cdef double alo, ahi, area, best, v
    cdef int matched
    cdef bint ignored
    cdef char* ig = <char*>malloc(max(ng, 1) * sizeof(char))
    cdef Py_ssize_t* order = <Py_ssize_t*>malloc(max(ng, 1) * sizeof(Py_ssize_t))
    cdef cnp.int64_t* taken = <cnp.int64_t*>malloc(max(ng, 1) * sizeof(cnp.int64_t))
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
        for t in range(thresholds.shape[0]):
            for j in range(ng):
                taken[j] = 0
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
                    if dt_id[d] > 0:
                        gt_match[a, t, g0 + m] = <int>d
                if matched < 0 and (dt_area[d] < alo or dt_area[d] > ahi):
                    ignored = True
                dt_match[a, t, d] = matched
                dt_ignore[a, t, d] = ignored
    free(ig)
    free(order)
    free(taken)


def greedy_match(const double[::1] ious, const cnp.int64_t[::1] offsets, const cnp.int64_t[::1] d_start,
                 const cnp.int64_t[::1] n_d, const cnp.int64_t[::1] g_start, const cnp.int64_t[::1] n_g,
                 const cnp.uint8_t[::1] has_overlaps, const cnp.uint8_t[::1] gt_ignore,
                 const cnp.uint8_t[::1] gt_crowd, const double[::1] gt_area, const cnp.int64_t[::1] gt_id,
                 const cnp.int64_t[::1] dt_id, const double[::1] dt_area, const double[::1] area_lo,
                 const double[::1] area_hi, const double[::1] thresholds, cnp.int32_t[:, :, ::1] dt_match,
                 cnp.int32_t[:, :, ::1] gt_match, cnp.uint8_t[:, :, ::1] dt_ignore,
                 cnp.uint8_t[:, ::1] gt_ignore_out, int num_threads):
    cdef Py_ssize_t k, n = n_d.shape[0]
    if num_threads <= 1:  # a plain loop, no OpenMP call
        with nogil:
            for k in range(n):
                _match_group(k, ious, offsets, d_start, n_d, g_start, n_g, has_overlaps, gt_ignore, gt_crowd,
                             gt_area, gt_id, dt_id, dt_area, area_lo, area_hi, thresholds, dt_match, gt_match,
                             dt_ignore, gt_ignore_out)
        return
    for k in prange(n, nogil=True, schedule="dynamic", chunksize=8, num_threads=num_threads):
        _match_group(k, ious, offsets, d_start, n_d, g_start, n_g, has_overlaps, gt_ignore, gt_crowd,
                     gt_area, gt_id, dt_id, dt_area, area_lo, area_hi, thresholds, dt_match, gt_match,
                     dt_ignore, gt_ignore_out)


cdef void _accumulate_item(Py_ssize_t w, const cnp.int32_t[:, :, ::1] matched,
                           const cnp.uint8_t[:, :, ::1] ignored, Py_ssize_t a, const cnp.int64_t[::1] sel,
                           const cnp.int64_t[::1] seg_start, const cnp.int64_t[::1] seg_len,
                           const cnp.int64_t[::1] npig, const double[::1] score, const double[::1] rec_thrs,
                           double[:, :, ::1] q, double[:, :, ::1] s, double[:, ::1] rc_last) noexcept nogil:
    cdef Py_ssize_t n_cat = seg_start.shape[0]
    cdef Py_ssize_t t = w // n_cat, c = w % n_cat
    cdef Py_ssize_t start = seg_start[c], nd = seg_len[c], i, d, r, lo, hi, mid
    cdef double count = <double>npig[c], tpf, v
    cdef cnp.int64_t tp = 0, fp = 0
    cdef double* rc = <double*>malloc(max(nd, 1) * sizeof(double))
    cdef double* pr = <double*>malloc(max(nd, 1) * sizeof(double))
    for i in range(nd):
        d = sel[start + i]
        if not ignored[a, t, d]:
            if matched[a, t, d] >= 0:
                tp += 1
            else:
                fp += 1
        tpf = <double>tp
        rc[i] = tpf / count
        pr[i] = tpf / ((<double>fp + tpf) + EPS)
    if nd:
        rc_last[t, c] = rc[nd - 1]
    for i in range(nd - 1, 0, -1):  # precision made monotone from the right
        if pr[i] > pr[i - 1]:
            pr[i - 1] = pr[i]
    for r in range(rec_thrs.shape[0]):  # np.searchsorted(rc, rec_thrs, side='left')
        lo = 0
        hi = nd
        v = rec_thrs[r]
        while lo < hi:
            mid = (lo + hi) >> 1
            if rc[mid] < v:
                lo = mid + 1
            else:
                hi = mid
        if lo < nd:
            q[t, r, c] = pr[lo]
            s[t, r, c] = score[sel[start + lo]]
    free(rc)
    free(pr)


def accumulate(const cnp.int32_t[:, :, ::1] matched, const cnp.uint8_t[:, :, ::1] ignored, Py_ssize_t a,
               const cnp.int64_t[::1] sel, const cnp.int64_t[::1] seg_start, const cnp.int64_t[::1] seg_len,
               const cnp.int64_t[::1] npig, const double[::1] score, const double[::1] rec_thrs,
               double[:, :, ::1] q, double[:, :, ::1] s, double[:, ::1] rc_last, int num_threads):
    cdef Py_ssize_t w, n = q.shape[0] * seg_start.shape[0]
    if num_threads <= 1:
        with nogil:
            for w in range(n):
                _accumulate_item(w, matched, ignored, a, sel, seg_start, seg_len, npig, score, rec_thrs, q, s,
                                 rc_last)
        return
    for w in prange(n, nogil=True, schedule="dynamic", chunksize=1, num_threads=num_threads):
        _accumulate_item(w, matched, ignored, a, sel, seg_start, seg_len, npig, score, rec_thrs, q, s,
                         rc_last)
