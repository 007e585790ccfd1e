"""Cython kernels of the NMS family (``src_cython/_cy_nms.pyx``, compiled at install).

The same backend interface as :mod:`fastiou.backends.numba_cpu_nms`, on the same
orders (:mod:`._nms_order`); ``parallel`` runs the classes on
``fastiou.get_num_threads()`` OpenMP threads, otherwise on the calling thread alone.
"""

from __future__ import annotations

import numpy as np

from .. import _cy_nms
from . import _nms_order as order
from . import threads as _threads


def nms(code, cols, scores, score_threshold, threshold, max_output, one, parallel):
    """Indices kept by greedy NMS, best first (see ``numba_cpu_nms.nms``)."""
    return batched_nms(code, cols, scores, None, score_threshold, threshold, max_output, one, False)


def batched_nms(code, cols, scores, labels, score_threshold, threshold, max_output, one, parallel):
    """Greedy NMS within each class of ``labels`` (int64, or None for one class)."""
    lay = order.layout(cols[0], scores, labels, order.candidates(scores, score_threshold))
    kept = np.zeros(cols.shape[1], np.bool_)
    _cy_nms.greedy_classes(code, np.take(cols, lay.by_x, axis=1), lay.by_x, lay.seg, lay.pos_of_rank,
                           threshold, max_output, kept.view(np.uint8), _threads(parallel))
    return order.kept_by_score(lay.by_score, kept, max_output)


def soft_nms(method, cols, scores, labels, threshold, sigma, score_threshold, max_output, one, parallel):
    """(indices, decayed scores) of soft-NMS within each class (see ``numba_cpu_nms.soft_nms``)."""
    lay = order.layout(cols[0], scores, labels, np.flatnonzero(scores >= score_threshold))
    s = scores[lay.by_x]
    picked = np.zeros(s.shape[0], np.bool_)
    _cy_nms.soft_classes(method, np.take(cols, lay.by_x, axis=1), lay.by_x, lay.seg, s, threshold, sigma,
                         score_threshold, max_output, picked.view(np.uint8), _threads(parallel))
    return order.picks_by_score(lay.by_x[picked], s[picked], max_output)


def wbf(cols, scores, labels, iou_threshold, one, parallel):
    """(cluster of each box, fused boxes (K, 4), score sum of each cluster); see ``numba_cpu_nms.wbf``."""
    lay = order.layout(cols[0], scores, labels, None, with_x=False)
    return _cy_nms.wbf_classes(cols, scores, lay.by_class, lay.seg, iou_threshold, _threads(parallel))
