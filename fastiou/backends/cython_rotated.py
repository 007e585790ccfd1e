"""Cython kernels of rotated boxes (``src_cython/_cy_rotated.pyx``): the backend interface of
:mod:`fastiou.backends.numba_cpu_rotated` (``pairwise``, ``aligned``, ``nms``).

Rotated NMS is sequential greedy work whose cost is the IoU: it runs the Numba
kernel (one implementation of the window logic).
"""

from __future__ import annotations

from .. import _cy_rotated
from . import threads as _threads


def pairwise(code, c1, c2, half, out, parallel, rows=None):
    """As :func:`fastiou.backends.numba_cpu_rotated.pairwise` (``rows``: boxes per batch)."""
    rows = out.shape[0] if rows is None else rows
    _cy_rotated.pairwise(code, c1, c2, max(rows, 1), out, _threads(parallel))


def aligned(code, c1, c2, half, out, parallel):
    _cy_rotated.aligned(code, c1, c2, out, _threads(parallel))


def nms(cols, by_score, labels, threshold, max_output):
    from .numba_cpu_rotated import nms as numba_nms

    return numba_nms(cols, by_score, labels, threshold, max_output)
