"""Cython COCO kernels (``fastiou._cy_coco``, compiled at install): the second backend.

The same interface as :mod:`fastiou.backends.numba_cpu_coco`.  ``greedy_match``
and ``accumulate`` are Cython; the overlap kernels (``box_overlaps``,
``oks_exponents``, ``oks_sums``) are Numba's, because the box formula they share
with every box metric is compiled from ``fastiou._formulas`` by Numba, and OKS
must sum in NumPy's order, which only that module reproduces.  The grouping
(``group_by``, ``group_order``: counting sorts) is Numba's for every backend.
``parallel`` becomes an OpenMP thread count (see :func:`fastiou.backends.threads`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .. import _cy_coco as _cy
from . import numba_cpu_coco as _numba
from . import threads as _threads

def _u8(flags: NDArray[np.bool_]) -> NDArray[np.uint8]:
    """A bool array as uint8, without a copy (writes go through)."""
    return flags.view(np.uint8)


box_overlaps = _numba.box_overlaps
oks_exponents = _numba.oks_exponents
oks_sums = _numba.oks_sums


def greedy_match(ious: NDArray[np.float64], offsets: NDArray[np.int64], d_start: NDArray[np.intp],
                 n_d: NDArray[np.intp], g_start: NDArray[np.intp], n_g: NDArray[np.intp],
                 has_overlaps: NDArray[np.bool_], gt_ignore: NDArray[np.bool_], gt_crowd: NDArray[np.bool_],
                 gt_area: NDArray[np.float64], gt_id: NDArray[np.int64], dt_id: NDArray[np.int64],
                 dt_area: NDArray[np.float64], area_lo: NDArray[np.float64], area_hi: NDArray[np.float64],
                 thresholds: NDArray[np.float64], gt_ignore_out: NDArray[np.bool_], status: NDArray[np.uint8],
                 matches: tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.bool_]] | None,
                 parallel: bool) -> None:
    detail, (dt_match, gt_match, dt_ignore) = _numba._detail(matches)
    _cy.greedy_match(ious, offsets, d_start, n_d, g_start, n_g, _u8(has_overlaps), _u8(gt_ignore),
                     _u8(gt_crowd), gt_area, gt_id, dt_id, dt_area, area_lo, area_hi, thresholds,
                     _u8(gt_ignore_out), status, detail, dt_match, gt_match, _u8(dt_ignore), _threads(parallel))


def accumulate(status: NDArray[np.uint8], kidx: NDArray[np.intp], n_cats: int, rank: NDArray[np.intp],
               score: NDArray[np.float64], npig: NDArray[np.intp], max_dets: NDArray[np.intp],
               rec_thrs: NDArray[np.float64], precision: NDArray[np.float64], scores: NDArray[np.float64],
               recall: NDArray[np.float64], parallel: bool) -> None:
    by_cat, cat_start, cat_len = _numba.group_by(kidx, n_cats)
    _cy.accumulate(status, by_cat, cat_start, cat_len, rank, score, npig, max_dets, rec_thrs, precision, scores,
                   recall, _threads(parallel))
