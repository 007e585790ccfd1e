"""Box metrics on Dask arrays: more boxes than one machine's memory, on a cluster.

``import fastiou.dask`` (needs ``pip install 'fastiou[dask]'``; ``import fastiou``
alone never imports Dask).  Each function takes ``(N, 4)`` and ``(M, 4)`` boxes as
Dask arrays chunked along their first axis (NumPy arrays are taken as one chunk)
and returns Dask arrays; every task calls fastiou's in-memory function on its
chunks, so the values equal the in-memory results exactly, on Dask's local
schedulers and on a ``distributed`` cluster alike.

* :func:`box_iou`: the dense ``(N, M)`` matrix of any metric, one block per chunk pair.
* :func:`max_box_iou`: each box's best match; each task runs :func:`fastiou.max_box_iou`
  on a chunk of each input (no matrix at all), reduced over the chunks of ``boxes2``
  in a tree.
* :func:`sparse_box_iou`: the thresholded join.  The boxes of both inputs are
  redistributed into slabs of x1 (bounded by quantiles of x1, computed eagerly like
  ``dask.dataframe``'s ``set_index``), and only the slab pairs whose x-ranges can
  overlap are joined: a pair of slabs that cannot hold an overlapping pair is
  never a task.  The pairs are then gathered back by the row chunks of ``boxes1``.

Invalid boxes raise ``ValueError`` naming the global row, when the chunk holding
them is computed (for :func:`sparse_box_iou`, possibly during the call, whose
quantile pass reads every chunk).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal

import dask
import dask.array as da
import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import _validate, pairwise
from . import sparse as _sparse
from ._columns import FORMATS, box_columns

if TYPE_CHECKING:
    #: A join's pairs: global rows, global columns and values.
    _Pairs = tuple[NDArray[np.signedinteger[Any]], NDArray[np.signedinteger[Any]], NDArray[np.floating[Any]]]

#: x1 values sampled per chunk to place the slab boundaries.
QUANTILE_SAMPLES = 512

_METRIC_FUNCTIONS = {
    "iou": pairwise.box_iou,
    "ioa": pairwise.box_ioa,
    "giou": pairwise.generalized_box_iou,
    "diou": pairwise.distance_box_iou,
    "ciou": pairwise.complete_box_iou,
}

_KEYWORDS_DOC = """\
    metric : {'iou', 'ioa', 'giou', 'diou', 'ciou'}, default 'iou'
    fmt : {'xyxy', 'xywh', 'cxcywh'}, default 'xyxy'
    offset : {0, 1}, default 0
    dtype : float32 or float64, optional
        Compute and output dtype (default: fastiou's dtype policy).
    validate : bool, default True
        Check every box when its chunk is computed (``ValueError`` naming the row).
"""


# ------------------------------------------------------------------------------ inputs


def _as_boxes(x: da.Array | ArrayLike, name: str) -> da.Array:
    """``(N, 4)`` boxes as a Dask array chunked along N only (a NumPy array: one chunk)."""
    if not isinstance(x, da.Array):
        x = da.from_array(_validate.as_array(x, name), chunks=-1)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if x.ndim != 2 or x.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {x.shape}")
    if any(np.isnan(c) for c in x.chunks[0]):
        raise ValueError(f"{name} has unknown chunk sizes: call {name}.compute_chunk_sizes() first")
    return x.rechunk({1: 4}) if x.numblocks[1] != 1 else x


def _check_block(block: NDArray[Any], name: str, dt: np.dtype, fmt: str, offset: float,
                 block_info: dict[Any, dict[str, Any]] | None = None) -> NDArray[Any]:
    """The block itself, after the box check of the validation boundary (global row in the error)."""
    start = block_info[0]["array-location"][0][0] if block_info else 0
    _, bad = box_columns(np.asarray(block).astype(dt, copy=False), fmt, offset, True, angle=False)
    if bad >= 0:
        raise ValueError(
            f"{name} has an invalid box at row {start + bad}: {block[bad].tolist()} "
            f"(coordinates must be finite with x2 >= x1 and y2 >= y1 in {fmt!r} format)"
        )
    return block


def _prepare(boxes1: da.Array | ArrayLike, boxes2: da.Array | ArrayLike, metric: str, fmt: str, offset: float,
             dtype: DTypeLike, validate: bool) -> tuple[da.Array, da.Array, np.dtype, dict[str, Any]]:
    """Checked options, the two box arrays (validated lazily, per chunk) and the compute dtype."""
    _validate.check_choice(metric, "metric", _sparse.SPARSE_METRICS)
    _validate.check_choice(fmt, "fmt", FORMATS)
    _validate.check_offset(offset)
    b1, b2 = _as_boxes(boxes1, "boxes1"), _as_boxes(boxes2, "boxes2")
    dt = _validate.compute_dtype(np.empty(0, b1.dtype), np.empty(0, b2.dtype), dtype=dtype)
    if validate:
        b1, b2 = (b.map_blocks(_check_block, name, dt, fmt, offset, dtype=b.dtype)
                  for b, name in ((b1, "boxes1"), (b2, "boxes2")))
    options = dict(fmt=fmt, offset=offset, dtype=dt, validate=False)
    return b1, b2, dt, options


def _starts(chunks: tuple[int, ...]) -> NDArray[np.int64]:
    return np.concatenate([[0], np.cumsum(chunks)]).astype(np.int64)


# ------------------------------------------------------------------------------ dense


def _pairwise_block(block1: NDArray[Any], block2: NDArray[Any], metric: str,
                    options: dict[str, Any]) -> NDArray[np.floating[Any]]:
    return _METRIC_FUNCTIONS[metric](block1, block2, **options)


def box_iou(boxes1: ArrayLike, boxes2: ArrayLike, *,
            metric: Literal["iou", "ioa", "giou", "diou", "ciou"] = "iou",
            fmt: Literal["xyxy", "xywh", "cxcywh"] = "xyxy", offset: float = 0, dtype: DTypeLike = None,
            validate: bool = True) -> da.Array:
    """The dense ``(N, M)`` metric matrix, one block per pair of chunks.

    Parameters
    ----------
    boxes1 : dask.array.Array or array_like, shape (N, 4)
    boxes2 : dask.array.Array or array_like, shape (M, 4)
{keywords}
    Returns
    -------
    dask.array.Array, shape (N, M)
        Chunked like ``boxes1`` along N and like ``boxes2`` along M.

    Examples
    --------
    >>> import dask.array as da
    >>> import fastiou.dask
    >>> boxes = da.from_array([[0, 0, 2, 2], [1, 1, 3, 3], [0, 0, 2, 2.0]], chunks=2)
    >>> fastiou.dask.box_iou(boxes, boxes).compute().round(3)
    array([[1.   , 0.143, 1.   ],
           [0.143, 1.   , 0.143],
           [1.   , 0.143, 1.   ]])
    """
    b1, b2, dt, options = _prepare(boxes1, boxes2, metric, fmt, offset, dtype, validate)
    return da.blockwise(_pairwise_block, "ij", b1, "ik", b2, "jk", concatenate=True, dtype=dt,
                        metric=metric, options=options)


# ------------------------------------------------------------------------------ best match


def _best_block(block1: NDArray[Any], block2: NDArray[Any], start: int, metric: Literal["iou", "ioa", "giou", "diou", "ciou"],
                options: dict[str, Any]) -> tuple[NDArray[np.floating[Any]], NDArray[np.int64]]:
    values, indices = _sparse.max_box_iou(block1, block2, metric=metric, **options)
    return values, np.where(indices >= 0, indices + start, -1)


def _better(left: tuple[NDArray[np.floating[Any]], NDArray[np.int64]],
            right: tuple[NDArray[np.floating[Any]], NDArray[np.int64]]
            ) -> tuple[NDArray[np.floating[Any]], NDArray[np.int64]]:
    """Merge the best matches over two column ranges, ``left`` first (it wins ties, as argmax)."""
    take = right[0] > left[0]
    return np.where(take, right[0], left[0]), np.where(take, right[1], left[1])


def _tree_reduce(parts: list[Any], combine: Callable[[Any, Any], Any]) -> Any:
    while len(parts) > 1:
        merged = [dask.delayed(combine, pure=True)(a, b) for a, b in zip(parts[::2], parts[1::2])]
        parts = merged + parts[len(merged) * 2:]
    return parts[0]


def max_box_iou(boxes1: ArrayLike, boxes2: ArrayLike, *,
                metric: Literal["iou", "ioa", "giou", "diou", "ciou"] = "iou",
                fmt: Literal["xyxy", "xywh", "cxcywh"] = "xyxy", offset: float = 0, dtype: DTypeLike = None,
                validate: bool = True) -> tuple[da.Array, da.Array]:
    """Each box's best match (max and first argmax of the metric row), over chunked inputs.

    Each task runs :func:`fastiou.max_box_iou` on a chunk of each input; the
    results are reduced over the chunks of ``boxes2`` in a tree, ties going to the
    lower column, so the result equals the in-memory one.

    Parameters
    ----------
    boxes1 : dask.array.Array or array_like, shape (N, 4)
    boxes2 : dask.array.Array or array_like, shape (M, 4)
{keywords}
    Returns
    -------
    values : dask.array.Array, shape (N,)
        Chunked like ``boxes1``; 0 when M = 0.
    indices : dask.array.Array of int64, shape (N,)
        The column of each best value; -1 when M = 0.

    Examples
    --------
    >>> import dask.array as da
    >>> import fastiou.dask
    >>> b1 = da.from_array([[0, 0, 10, 10], [100, 100, 110, 110.0]], chunks=1)
    >>> b2 = da.from_array([[50, 50, 60, 60], [0, 0, 10, 20.0]], chunks=1)
    >>> values, indices = fastiou.dask.max_box_iou(b1, b2)
    >>> values.compute(), indices.compute()
    (array([0.5, 0. ]), array([1, 0]))
    """
    b1, b2, dt, options = _prepare(boxes1, boxes2, metric, fmt, offset, dtype, validate)
    starts2 = _starts(b2.chunks[0])
    blocks2 = list(b2.to_delayed().ravel())
    if not blocks2 or b2.shape[0] == 0:
        blocks2, starts2 = [np.empty((0, 4), b2.dtype)], np.zeros(1, np.int64)
    values: list[da.Array]
    indices: list[da.Array]
    values, indices = [], []
    for n_i, block1 in zip(b1.chunks[0], b1.to_delayed().ravel()):
        parts = [dask.delayed(_best_block, pure=True)(block1, block2, int(start), metric, options)
                 for block2, start in zip(blocks2, starts2)]
        best = _tree_reduce(parts, _better)
        values.append(da.from_delayed(best[0], (n_i,), dtype=dt))
        indices.append(da.from_delayed(best[1], (n_i,), dtype=np.int64))
    return da.concatenate(values), da.concatenate(indices)


# ------------------------------------------------------------------------------ sparse join


def _x_extent(block: ArrayLike, fmt: str, offset: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Float64 left and right edges of the boxes (xyxy with the legacy offset)."""
    b = np.asarray(block, dtype=np.float64)
    if fmt == "xyxy":
        return b[:, 0], b[:, 2] + offset
    if fmt == "xywh":
        return b[:, 0], b[:, 0] + b[:, 2] + offset
    return b[:, 0] - b[:, 2] / 2, b[:, 0] + b[:, 2] / 2 + offset


def _x_summary(block: ArrayLike, fmt: str, offset: float) -> tuple[NDArray[np.float64], float, float, float]:
    """A sorted sample of x1 and the widest box of a chunk (the eager quantile pass)."""
    x1, x2 = _x_extent(block, fmt, offset)
    if x1.size == 0:
        return np.empty(0), 0.0, np.inf, -np.inf
    sample = np.sort(x1)[np.linspace(0, x1.size - 1, min(x1.size, QUANTILE_SAMPLES)).astype(np.int64)]
    return sample, float(np.max(x2 - x1)), float(np.min(x1)), float(np.max(x1))


def _split(block: ArrayLike, start: int, cuts: NDArray[np.float64], fmt: str, offset: float
           ) -> tuple[tuple[NDArray[np.intp], NDArray[Any]], ...]:
    """The boxes of a chunk by slab of x1: a tuple of ``(global indices, boxes)`` per slab."""
    x1, _ = _x_extent(block, fmt, offset)
    slab = np.searchsorted(cuts, x1, side="right")  # NaN (validate=False) goes to the last slab
    order = np.argsort(slab, kind="stable")
    edges = np.searchsorted(slab[order], np.arange(len(cuts) + 2))
    block = np.asarray(block)
    return tuple((order[a:b] + start, block[order[a:b]]) for a, b in zip(edges[:-1], edges[1:]))


def _gather(*parts: tuple[NDArray[np.intp], NDArray[Any]]) -> tuple[NDArray[np.intp], NDArray[Any]]:
    """One slab from its parts in every chunk."""
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _join(slab1: tuple[NDArray[np.intp], NDArray[Any]], slab2: tuple[NDArray[np.intp], NDArray[Any]],
          min_iou: float, metric: Literal["iou", "ioa", "giou", "diou", "ciou"],
          options: dict[str, Any], index_dtype: type[np.int32] | type[np.int64]
          ) -> _Pairs:
    """The pairs of two slabs above the threshold, as global ``(rows, cols, values)``."""
    (rows, boxes1), (cols, boxes2) = slab1, slab2
    pairs = _sparse.sparse_box_iou(boxes1, boxes2, min_iou, metric=metric, **options).tocoo()
    return rows[pairs.row].astype(index_dtype), cols[pairs.col].astype(index_dtype), pairs.data


def _by_row_chunk(pairs: _Pairs, starts: NDArray[np.int64]) -> tuple[_Pairs, ...]:
    """A join's pairs split by the row chunk of ``boxes1`` they fall in."""
    rows, cols, vals = pairs
    chunk = np.searchsorted(starts, rows, side="right") - 1
    order = np.argsort(chunk, kind="stable")
    edges = np.searchsorted(chunk[order], np.arange(len(starts)))
    return tuple((rows[order[a:b]], cols[order[a:b]], vals[order[a:b]]) for a, b in zip(edges[:-1], edges[1:]))


def _assemble(start: int, n_rows: int, m: int, dt: np.dtype, *parts: _Pairs) -> scipy.sparse.csr_array:
    """The CSR block of rows ``start:start + n_rows`` from its pairs (sorted columns)."""
    rows = np.concatenate([p[0] for p in parts] + [np.empty(0, np.int64)]) - start
    cols = np.concatenate([p[1] for p in parts] + [np.empty(0, np.int32)])
    vals = np.concatenate([p[2] for p in parts] + [np.empty(0, dt)]).astype(dt, copy=False)
    block = scipy.sparse.coo_array((vals, (rows, cols)), shape=(n_rows, m)).tocsr()
    block.sort_indices()
    return block


def _slab_pairs(cuts: NDArray[np.float64], lo1: float, hi1: float, lo2: float, hi2: float, w1: float,
                w2: float, min_iou: float) -> list[tuple[int, int]]:
    """The slab pairs ``(p, q)`` whose x-ranges can overlap (all of them for a negative threshold).

    A box of slab p has ``x1`` in ``[cut[p-1], cut[p]]`` (the set's extremes at the
    ends) and ``x2 <= x1 + widest``.  Touching counts (GIoU of touching boxes can
    round above 0); the slack covers the float64 and compute-dtype rounding.
    """
    n_slabs = len(cuts) + 1
    edges1 = np.concatenate([[lo1], cuts, [hi1]])
    edges2 = np.concatenate([[lo2], cuts, [hi2]])
    if min_iou < 0:
        return [(p, q) for p in range(n_slabs) for q in range(n_slabs)]
    slack = 1e-5 * (max(w1, w2) + np.nanmax(np.abs([lo1, hi1, lo2, hi2, 1.0])))
    pairs: list[tuple[int, int]] = []
    for p in range(n_slabs):
        for q in range(n_slabs):
            if edges1[p] <= edges2[q + 1] + w2 + slack and edges2[q] <= edges1[p + 1] + w1 + slack:
                pairs.append((p, q))
    return pairs


def sparse_box_iou(boxes1: ArrayLike, boxes2: ArrayLike, min_iou: float, *,
                   metric: Literal["iou", "ioa", "giou", "diou", "ciou"] = "iou",
                   fmt: Literal["xyxy", "xywh", "cxcywh"] = "xyxy", offset: float = 0,
                   dtype: DTypeLike = None, validate: bool = True) -> da.Array:
    """The pairs with metric ``> min_iou``, as a Dask array of ``scipy.sparse`` blocks.

    Equal to :func:`fastiou.sparse_box_iou` on the whole inputs.  The call reads
    the x1 coordinates of every chunk once, eagerly (a sample for the slab
    boundaries: persist inputs that are expensive to compute); the join itself is
    lazy.  The boxes are redistributed into x1-slabs, as many as the larger input
    has chunks, each slab of ``boxes1`` joined with the slabs of ``boxes2`` it can
    overlap, and the pairs gathered by the row chunks of ``boxes1``.

    Parameters
    ----------
    boxes1 : dask.array.Array or array_like, shape (N, 4)
    boxes2 : dask.array.Array or array_like, shape (M, 4)
    min_iou : float
        As for :func:`fastiou.sparse_box_iou`: in [0, 1] for 'iou' and 'ioa', in
        [-1, 1] for the others (a negative threshold joins every slab pair).
{keywords}
    Returns
    -------
    dask.array.Array, shape (N, M)
        Chunked like ``boxes1`` along N, in one chunk along M; each block is a
        ``scipy.sparse.csr_array`` with sorted column indices, and ``compute()``
        stacks them into one.

    Examples
    --------
    >>> import dask.array as da
    >>> import fastiou.dask
    >>> b1 = da.from_array([[0, 0, 10, 10], [20, 20, 30, 30.0]], chunks=1)
    >>> b2 = da.from_array([[1, 1, 11, 11], [50, 50, 60, 60], [20, 20, 30, 31.0]], chunks=2)
    >>> pairs = fastiou.dask.sparse_box_iou(b1, b2, 0.5)
    >>> pairs.compute().toarray().round(3)
    array([[0.681, 0.   , 0.   ],
           [0.   , 0.   , 0.909]])
    """
    _validate.check_choice(metric, "metric", _sparse.SPARSE_METRICS)
    low = 0.0 if metric in ("iou", "ioa") else -1.0
    threshold = _validate.check_real(min_iou, "min_iou", low, 1.0)
    b1, b2, dt, options = _prepare(boxes1, boxes2, metric, fmt, offset, dtype, validate)
    n, m = b1.shape[0], b2.shape[0]
    blocks1, blocks2 = list(b1.to_delayed().ravel()), list(b2.to_delayed().ravel())
    starts1, starts2 = _starts(b1.chunks[0]), _starts(b2.chunks[0])
    meta = scipy.sparse.csr_array((0, m), dtype=dt)
    if n == 0 or m == 0:
        blocks = [da.from_delayed(dask.delayed(_assemble, pure=True)(int(s), n_i, m, dt), (n_i, m),
                                  dtype=dt, meta=meta) for s, n_i in zip(starts1, b1.chunks[0])]
        return da.concatenate(blocks)
    # Eager: x1 quantiles (slab boundaries), widest box and x1 range of each input.
    summaries = dask.compute([dask.delayed(_x_summary, pure=True)(b, fmt, offset) for b in blocks1],
                             [dask.delayed(_x_summary, pure=True)(b, fmt, offset) for b in blocks2])
    (s1, s2) = summaries
    sample = np.sort(np.concatenate([s[0] for s in s1 + s2]))
    n_slabs = max(len(blocks1), len(blocks2))
    cuts = np.unique(sample[np.linspace(0, sample.size - 1, n_slabs + 1).astype(np.int64)[1:-1]])
    cuts = cuts[np.isfinite(cuts)]
    w1, w2 = (max(s[1] for s in ss) for ss in (s1, s2))
    lo1, hi1 = min(s[2] for s in s1), max(s[3] for s in s1)
    lo2, hi2 = min(s[2] for s in s2), max(s[3] for s in s2)
    n_slabs = len(cuts) + 1
    index_dtype = np.int32 if max(n, m) < 2**31 else np.int64  # global indices of the pairs in flight
    # Lazy: redistribute by slab, join the slab pairs that can overlap, gather by row chunk.
    split1 = [dask.delayed(_split, pure=True, nout=n_slabs)(b, int(s), cuts, fmt, offset)
              for b, s in zip(blocks1, starts1)]
    split2 = [dask.delayed(_split, pure=True, nout=n_slabs)(b, int(s), cuts, fmt, offset)
              for b, s in zip(blocks2, starts2)]
    slabs1 = [dask.delayed(_gather, pure=True)(*[parts[p] for parts in split1]) for p in range(n_slabs)]
    slabs2 = [dask.delayed(_gather, pure=True)(*[parts[p] for parts in split2]) for p in range(n_slabs)]
    by_chunk = [dask.delayed(_by_row_chunk, pure=True, nout=len(blocks1))(
                    dask.delayed(_join, pure=True)(slabs1[p], slabs2[q], threshold, metric, options, index_dtype),
                    starts1)
                for p, q in _slab_pairs(cuts, lo1, hi1, lo2, hi2, w1, w2, threshold)]
    blocks = [da.from_delayed(dask.delayed(_assemble, pure=True)(int(s), n_i, m, dt, *[j[i] for j in by_chunk]),
                              (n_i, m), dtype=dt, meta=meta)
              for i, (s, n_i) in enumerate(zip(starts1, b1.chunks[0]))]
    return da.concatenate(blocks)


for _f in (box_iou, max_box_iou, sparse_box_iou):
    assert _f.__doc__ is not None  # written above (python -OO, which strips it, fails here either way)
    _f.__doc__ = _f.__doc__.replace("{keywords}\n", _KEYWORDS_DOC + "\n")  # blank line: next section
del _f
