"""Cython mask kernels (``fastiou._cy_masks``, compiled at install): the second backend.

The same interface as :mod:`fastiou.backends.numba_cpu_masks`, whose docstring
describes the layouts; ``parallel`` becomes an OpenMP thread count (Numba's, so
that ``fastiou.set_num_threads`` governs both backends).
"""

from __future__ import annotations

import numba

from .. import _cy_masks as _cy


def _threads(parallel: bool) -> int:
    return numba.get_num_threads() if parallel else 1


def pack_dense(masks, bits, info, parallel):
    _cy.pack_dense(masks, bits, info, _threads(parallel))


def dense_pairwise(code, bits1, info1, bits2, info2, crowd, out, parallel):
    _cy.dense_pairwise(code, bits1, info1, bits2, info2, crowd, out, _threads(parallel))


def dense_aligned(code, bits1, info1, bits2, info2, crowd, out, parallel):
    _cy.dense_aligned(code, bits1, info1, bits2, info2, crowd, out, _threads(parallel))


def rle_from_strings(buf, offsets, counts, nruns, parallel):
    _cy.rle_from_strings(buf, offsets, counts, nruns, _threads(parallel))


def rle_info(runs, index, height, info, segments, parallel):
    _cy.rle_info(runs, index, height, info, segments, _threads(parallel))


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


def rle_to_strings(counts, index, buf, lengths, parallel):
    _cy.rle_to_strings(counts, index, buf, lengths, _threads(parallel))


def rle_to_dense(counts, index, out, parallel):
    _cy.rle_to_dense(counts, index, out, _threads(parallel))


def row_sums(pred, target, threshold, binarize, squared, chunk, partial, parallel):
    _cy.row_sums(pred, target, threshold, binarize, squared, chunk, partial, _threads(parallel))
