"""Cython CPU kernels (``src_cython/_cy_boxes.pyx``, compiled at install): OpenMP ``prange``.

The same backend interface as :mod:`fastiou.backends.numba_cpu`: ``pairwise`` and
``aligned`` take the per-box columns of :mod:`fastiou._columns` and write into a
caller-given ``out`` (any strides).  ``parallel`` runs on ``fastiou.get_num_threads()``
OpenMP threads, otherwise on the calling thread alone, with no OpenMP call (see
:func:`fastiou.backends.threads`).
"""

from __future__ import annotations

from .. import _cy_boxes
from . import threads as _threads


def pairwise(code, c1, c2, four_over_pi2, one, out, parallel, rows=None, eps=None):
    _cy_boxes.pairwise(code, c1, c2, four_over_pi2, one, out, _threads(parallel),
                       0 if rows is None else rows, 0 if eps is None else eps)


def aligned(code, c1, c2, four_over_pi2, one, out, parallel, eps=None):
    _cy_boxes.aligned(code, c1, c2, four_over_pi2, one, out, _threads(parallel),
                      0 if eps is None else eps)
