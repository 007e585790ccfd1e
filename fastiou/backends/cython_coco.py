"""Cython COCO kernels (``fastiou._cy_coco``, ``_cy_boxes``, compiled at install): the second backend.

The same interface as :mod:`fastiou.backends.numba_cpu_coco`.  The grouping
(``group_by``, ``group_order``), ``greedy_match``, ``accumulate`` and the OKS
kernels (``oks_exponents``, ``oks_sums``: NumPy's pairwise summation order, with
NumPy's own ``exp`` called between them) are in ``_cy_coco``; ``box_overlaps`` is
in ``_cy_boxes``, beside the Cython box formula it shares with every box metric.
So an evaluation with this backend imports no Numba (polygon masks aside).
``parallel`` becomes an OpenMP thread count (see :func:`fastiou.backends.threads`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .. import _cy_boxes
from .. import _cy_coco as _cy
from . import threads as _threads

group_by = _cy.group_by
group_order = _cy.group_order

#: greedy_match's matches when none are asked for (empty: never written).
_NO_MATCHES = (np.empty((0, 0, 0), np.int32), np.empty((0, 0, 0), np.int32), np.empty((0, 0, 0), np.bool_))


def _u8(flags: NDArray[np.bool_]) -> NDArray[np.uint8]:
    """A bool array as uint8, without a copy (writes go through)."""
    return flags.view(np.uint8)


def oks_exponents(dkp: NDArray[np.float64], gkp: NDArray[np.float64], gvis_count: NDArray[np.intp],
                  gbox: NDArray[np.float64], garea: NDArray[np.float64], variances: NDArray[np.float64],
                  d_start: NDArray[np.intp], n_d: NDArray[np.intp], g_start: NDArray[np.intp],
                  n_g: NDArray[np.intp], offsets: NDArray[np.int64], out: NDArray[np.float64],
                  parallel: bool) -> None:
    _cy.oks_exponents(dkp, gkp, gvis_count, gbox, garea, variances, d_start, n_d, g_start, n_g, offsets, out,
                      _threads(parallel))


def oks_sums(exps: NDArray[np.float64], counts: NDArray[np.intp], out: NDArray[np.float64],
             parallel: bool) -> None:
    _cy.oks_sums(exps, counts, out, _threads(parallel))


def box_overlaps(dcols: NDArray[np.float64], gcols: NDArray[np.float64], gcrowd: NDArray[np.uint8],
                 d_start: NDArray[np.intp], n_d: NDArray[np.intp], g_start: NDArray[np.intp],
                 n_g: NDArray[np.intp], offsets: NDArray[np.int64], out: NDArray[np.float64],
                 parallel: bool) -> None:
    _cy_boxes.coco_overlaps(dcols, gcols, gcrowd, d_start, n_d, g_start, n_g, offsets, out,
                            _threads(parallel))


def greedy_match(ious: NDArray[np.float64], offsets: NDArray[np.int64], d_start: NDArray[np.intp],
                 n_d: NDArray[np.intp], g_start: NDArray[np.intp], n_g: NDArray[np.intp],
                 has_overlaps: NDArray[np.bool_], gt_ignore: NDArray[np.bool_], gt_crowd: NDArray[np.bool_],
                 gt_area: NDArray[np.float64], gt_id: NDArray[np.int64], dt_id: NDArray[np.int64],
                 dt_area: NDArray[np.float64], area_lo: NDArray[np.float64], area_hi: NDArray[np.float64],
                 thresholds: NDArray[np.float64], gt_ignore_out: NDArray[np.bool_], status: NDArray[np.uint8],
                 matches: tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.bool_]] | None,
                 parallel: bool) -> None:
    dt_match, gt_match, dt_ignore = _NO_MATCHES if matches is None else matches
    _cy.greedy_match(ious, offsets, d_start, n_d, g_start, n_g, _u8(has_overlaps), _u8(gt_ignore),
                     _u8(gt_crowd), gt_area, gt_id, dt_id, dt_area, area_lo, area_hi, thresholds,
                     _u8(gt_ignore_out), status, matches is not None, dt_match, gt_match, _u8(dt_ignore),
                     _threads(parallel))


def accumulate(status: NDArray[np.uint8], kidx: NDArray[np.intp], n_cats: int, rank: NDArray[np.intp],
               score: NDArray[np.float64], npig: NDArray[np.intp], max_dets: NDArray[np.intp],
               rec_thrs: NDArray[np.float64], precision: NDArray[np.float64], scores: NDArray[np.float64],
               recall: NDArray[np.float64], parallel: bool) -> None:
    by_cat, cat_start, cat_len = group_by(kidx, n_cats)
    _cy.accumulate(status, by_cat, cat_start, cat_len, rank, score, npig, max_dets, rec_thrs, precision, scores,
                   recall, _threads(parallel))
