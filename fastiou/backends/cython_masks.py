"""Cython mask kernels (``fastiou._cy_masks``, compiled at install): the second backend.

The same interface as :mod:`fastiou.backends.numba_cpu_masks`, whose docstring
describes the layouts; ``parallel`` becomes an OpenMP thread count
(``fastiou.get_num_threads()``; 1 runs a plain loop, see :func:`fastiou.backends.threads`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import _cy_masks as _cy
from . import threads as _threads


def pack_dense(
    masks: NDArray[np.uint8],
    bits: NDArray[np.uint64],
    info: NDArray[np.int64],
    parallel: bool,
) -> None:
    _cy.pack_dense(masks, bits, info, _threads(parallel))


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
    _cy.dense_pairwise(code, bits1, info1, bits2, info2, crowd, out, _threads(parallel))


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
    _cy.dense_aligned(code, bits1, info1, bits2, info2, crowd, out, _threads(parallel))


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
    _cy.rle_from_strings(buf, offsets, total, max_chars, counts, nruns, status, _threads(parallel))


def rle_info(
    runs: NDArray[np.int64],
    index: NDArray[np.int64],
    height: int,
    info: NDArray[np.int64],
    segments: NDArray[np.int32],
    status: NDArray[np.int64],
    parallel: bool,
) -> None:
    _cy.rle_info(runs, index, height, info, segments, status, _threads(parallel))


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
    _cy.rle_pairwise(code, runs1, index1, info1, segments1, runs2, index2, info2, segments2, crowd, out,
                     _threads(parallel))


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
    _cy.rle_aligned(code, runs1, index1, info1, segments1, runs2, index2, info2, segments2, crowd, out,
                    _threads(parallel))


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
    _cy.rle_groups(code, runs1, index1, info1, segments1, runs2, index2, info2, segments2, crowd, first1, first2,
                   n1, n2, crowd_first, offsets, out, _threads(parallel))


def count_runs(masks: NDArray[np.uint8], nruns: NDArray[np.int64], parallel: bool) -> None:
    _cy.count_runs(masks, nruns, _threads(parallel))


def write_runs(
    masks: NDArray[np.uint8],
    index: NDArray[np.int64],
    counts: NDArray[np.int64],
    parallel: bool,
) -> None:
    _cy.write_runs(masks, index, counts, _threads(parallel))


def rle_to_strings(
    counts: NDArray[np.int64],
    index: NDArray[np.int64],
    stride: int,
    buf: NDArray[np.uint8],
    lengths: NDArray[np.int64],
    parallel: bool,
) -> None:
    _cy.rle_to_strings(counts, index, stride, buf, lengths, _threads(parallel))


def rle_to_dense(
    counts: NDArray[np.int64],
    index: NDArray[np.int64],
    out: NDArray[np.uint8],
    parallel: bool,
) -> None:
    _cy.rle_to_dense(counts, index, out, _threads(parallel))


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
    _cy.row_sums(pred, target, threshold, binarize, squared, chunk, partial, _threads(parallel))
