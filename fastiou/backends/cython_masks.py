"""Cython mask kernels (``fastiou._cy_masks``, compiled at install): the second backend.

The same interface as :mod:`fastiou.backends.numba_cpu_masks`, whose docstring
describes the layouts; ``parallel`` becomes an OpenMP thread count
(``fastiou.get_num_threads()``; 1 runs a plain loop, see :func:`fastiou.backends.threads`).
"""

from __future__ import annotations

from .. import _cy_masks as _cy
from . import threads as _threads


def pack_dense(masks, bits, info, parallel):
    _cy.pack_dense(masks, bits, info, _threads(parallel))


def dense_pairwise(code, bits1, info1, bits2, info2, crowd, out, parallel):
    _cy.dense_pairwise(code, bits1, info1, bits2, info2, crowd, out, _threads(parallel))


def dense_aligned(code, bits1, info1, bits2, info2, crowd, out, parallel):
    _cy.dense_aligned(code, bits1, info1, bits2, info2, crowd, out, _threads(parallel))


def rle_from_strings(buf, offsets, total, max_chars, counts, nruns, status, parallel):
    _cy.rle_from_strings(buf, offsets, total, max_chars, counts, nruns, status, _threads(parallel))


def rle_info(runs, index, height, info, segments, status, parallel):
    _cy.rle_info(runs, index, height, info, segments, status, _threads(parallel))


def rle_pairwise(code, runs1, index1, info1, segments1, runs2, index2, info2, segments2, crowd, out,
                 parallel):
    _cy.rle_pairwise(code, runs1, index1, info1, segments1, runs2, index2, info2, segments2, crowd, out,
                     _threads(parallel))


def rle_aligned(code, runs1, index1, info1, segments1, runs2, index2, info2, segments2, crowd, out, parallel):
    _cy.rle_aligned(code, runs1, index1, info1, segments1, runs2, index2, info2, segments2, crowd, out,
                    _threads(parallel))


def count_runs(masks, nruns, parallel):
    _cy.count_runs(masks, nruns, _threads(parallel))


def write_runs(masks, index, counts, parallel):
    _cy.write_runs(masks, index, counts, _threads(parallel))


def rle_to_strings(counts, index, stride, buf, lengths, parallel):
    _cy.rle_to_strings(counts, index, stride, buf, lengths, _threads(parallel))


def rle_to_dense(counts, index, out, parallel):
    _cy.rle_to_dense(counts, index, out, _threads(parallel))


def row_sums(pred, target, threshold, binarize, squared, chunk, partial, parallel):
    _cy.row_sums(pred, target, threshold, binarize, squared, chunk, partial, _threads(parallel))
