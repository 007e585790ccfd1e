"""Mask metrics: pairwise mask IoU and Dice, COCO RLE, the Dice coefficient and the Dice loss.

Binary masks are ``(N, H, W)`` arrays (one mask may be ``(H, W)``) of bool, or of
numbers that are exactly 0 or 1; other values raise ``ValueError`` unless
``threshold=`` is given, and then the foreground is ``value > threshold``.  COCO
RLE is pycocotools' form: ``{'size': [h, w], 'counts': bytes}`` with column-major
runs (``str`` counts and uncompressed integer counts are read too).

Pairwise metrics never build an ``N x M x H x W`` temporary: dense masks are
packed to bits (one pass) and each pair counts the shared pixels with popcounts
over the rows and words of the two masks' common bounding box; RLE input is
intersected run by run, without decoding.  Memory stays
``O(N * H * W / 8 + M * H * W / 8 + N * M)``.
"""

from __future__ import annotations

import numbers
import warnings
from types import ModuleType
from typing import Any, Literal, Mapping, Sequence, Tuple, TypeVar, Union, cast, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import _validate, backends
from ._config import SERIAL_NS_PER_UNIT
from ._mask_formulas import DICE, IOU, N_INFO
from .backends._cost import MIN_SERIAL_S

#: Pixels per chunk of the Dice sums (a long row is split so that every thread works).
DICE_CHUNK = 1 << 16
DICE_REDUCTIONS = ("none", "mean", "sum", "mean_batch")

#: RLE masks have fewer pixels than this: a count then takes at most 12 characters
#: (60 bits), and no sum of two counts overflows int64.
MAX_RLE_PIXELS = 1 << 59
#: Columns of the kernels' RLE status rows: code, count index, value, extra
#: (the codes are ``fastiou.backends.numba_cpu_masks.RLE_*``).
_N_STATUS = 4
_UINT8 = np.dtype(np.uint8)  # the dtype of RLE masks

_ScalarT = TypeVar("_ScalarT", bound=np.generic)
_Shape = Union[int, Tuple[int, ...]]
#: Dense masks (array_like) or COCO RLE: one dict or a sequence of them.
_MaskInput = Union[ArrayLike, Mapping[str, Any], Sequence[Mapping[str, Any]]]
#: ``(runs, index, info, segments)``: masks as COCO runs (see backends.numba_cpu_masks).
_Runs = Tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int32]]
#: A score or loss: a scalar, or an array of them (``reduction='none'``, ``'mean_batch'``).
_Score = Union[np.floating[Any], NDArray[np.floating[Any]]]
_DiceReduction = Literal["mean", "none", "sum", "mean_batch"]
_LossReduction = Literal["mean", "none", "sum"]


def _empty(shape: _Shape, dtype: type[_ScalarT]) -> NDArray[_ScalarT]:
    """Every buffer that the RLE kernels write is allocated here or in :func:`_zeros`
    (the memory-safety tests replace both to put guard bytes after each buffer)."""
    return np.empty(shape, dtype=dtype)


def _zeros(shape: _Shape, dtype: type[_ScalarT]) -> NDArray[_ScalarT]:
    return np.zeros(shape, dtype=dtype)


# --- preparing inputs ------------------------------------------------------------


class _MaskSet:
    """One validated argument: dense 0/1 masks, or COCO RLEs (not yet decoded)."""

    dense: NDArray[np.uint8] | None  # None for RLE
    counts: list[bytes | NDArray[np.int64]]  # RLE only
    shape: tuple[int, int | None, int | None]  # (N, H, W); H and W are None for no RLE masks

    def __init__(self, x: _MaskInput, name: str, threshold: float | None) -> None:
        self.name = name
        self.rle = _validate.is_rle(x)
        if self.rle:
            h, w, self.counts, self.single = _validate.as_rles(x, name)
            self.dtype = _UINT8
            self.dense = None
            self.shape = (len(self.counts), h, w)
            self.work = sum(map(len, self.counts))  # characters ~ runs
        else:
            self.dense, self.single, self.dtype = _validate.as_masks(x, name, threshold)
            self.shape = self.dense.shape
            self.work = self.dense.size
        # What one pair may have to read of each mask: its runs, or a word per 64 pixels.
        self.per_mask = self.work // max(self.shape[0], 1) // (1 if self.rle else 64)

    def __len__(self) -> int:
        return self.shape[0]

    def runs(self, module: ModuleType, parallel: bool) -> _Runs:
        """``(runs, index, info, segments)``: the masks as COCO runs (see backends.numba_cpu_masks)."""
        if self.rle:
            # asked of a set that has masks, so it has a size (as_rles: None only for no masks)
            return _decode_rles(module, self.counts, cast(int, self.shape[1]), cast(int, self.shape[2]),
                                self.name, self.single, parallel)
        return _encode_runs(module, cast("NDArray[np.uint8]", self.dense), parallel, self.name)  # not RLE


def _pair(masks1: _MaskInput, masks2: _MaskInput, threshold: float | None,
          aligned: bool) -> tuple[_MaskSet, _MaskSet]:
    threshold = _validate.check_threshold(threshold)
    a = _MaskSet(masks1, "masks1", threshold)
    b = _MaskSet(masks2, "masks2", threshold)
    _validate.check_mask_sizes(a.shape, b.shape, ("masks1", "masks2"), aligned)
    return a, b


def _pack(module: ModuleType, masks: NDArray[np.uint8],
          parallel: bool) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
    k, h, w = masks.shape
    bits = _empty((k, h, (w + 63) // 64), np.uint64)
    info = _empty((k, N_INFO), np.int64)
    module.pack_dense(masks, bits, info, parallel)
    return bits, info


def _encode_runs(module: ModuleType, masks: NDArray[np.uint8], parallel: bool, name: str) -> _Runs:
    k, h, _ = masks.shape
    nruns = _empty(k, np.int64)
    module.count_runs(masks, nruns, parallel)
    index = _empty((k, 2), np.int64)
    index[:, 1] = nruns
    index[:, 0] = np.cumsum(nruns) - nruns
    runs = _empty((2, int(nruns.sum())), np.int64)
    module.write_runs(masks, index, runs[0], parallel)
    return _runs_info(module, runs, index, h, masks.shape[2], parallel, name, False)


def _runs_info(module: ModuleType, runs: NDArray[np.int64], index: NDArray[np.int64], height: int, width: int,
               parallel: bool, name: str, single: bool) -> _Runs:
    """``(runs, index, info, segments)``: run ends, summaries and the column segments of simple masks.

    The kernel checks every count before it uses it (``ValueError`` for a mask
    whose counts are negative or do not sum to ``height * width``).
    """
    info = _empty((len(index), N_INFO), np.int64)
    segments = _empty((2, len(index), width), np.int32)
    status = _empty((len(index), _N_STATUS), np.int64)
    module.rle_info(runs, index, height, info, segments, status, parallel)
    _raise_rle_fault(status, None, height, width, name, single, 0)
    return runs, index, info, segments


def _where(name: str, single: bool, k: int) -> str:
    return name if single else f"{name}[{k}]"


def _max_chars(total: int) -> int:
    """The most characters a count of a ``total``-pixel mask takes: its value (or its
    difference to the count two back) is in ``[-total, total]``, 5 bits per character."""
    return (total.bit_length() + 5) // 5


def _longest(total: int, max_chars: int) -> int:
    """The most characters an RLE string of a ``total``-pixel mask takes: at most total + 1
    runs (only the first may be empty), each of at most ``max_chars`` characters."""
    return min((total + 1) * max_chars, np.iinfo(np.int64).max)


def _raise_rle_fault(status: NDArray[np.int64], mask_of_row: Sequence[int] | None, height: int, width: int,
                     name: str, single: bool, max_chars: int) -> None:
    """``ValueError`` for the first mask whose status row reports a fault (``mask_of_row[j]``:
    the mask of status row ``j``; None when row ``j`` is mask ``j``)."""
    if not status[:, 0].any():
        return
    from .backends import numba_cpu_masks as codes  # the status codes (imported on this error path only)

    j = int(np.flatnonzero(status[:, 0])[0])
    code, r, value, extra = (int(v) for v in status[j])
    where = _where(name, single, j if mask_of_row is None else mask_of_row[j])
    total = height * width
    head = f"{where}['counts'] is not a valid RLE of a {height} x {width} mask"
    if code == codes.RLE_SHORT:
        raise ValueError(f"{head} (its runs cover {value} pixels): expected its {r} counts to sum to "
                         f"{total}")
    detail = {
        codes.RLE_NEGATIVE: f"count {r} is {value}, expected a run length >= 0",
        codes.RLE_PAST_END: f"count {r} is {value}, expected at most {total - extra} (the counts before "
                            f"it cover {extra} of the {total} pixels)",
        codes.RLE_TOO_MANY: f"count {r} is one run too many, expected at most {total + 1} runs",
        codes.RLE_CUT: f"the string ends inside count {r} (from character {extra}): expected a last "
                       f"character without the continuation bit 0x20",
        codes.RLE_TOO_LONG: f"count {r} (from character {extra}) is longer than {max_chars} characters, "
                            f"expected at most {max_chars} for a count of this size",
        codes.RLE_BAD_CHAR: f"character {extra} (in count {r}) is byte {value}, expected characters "
                            f"48-111 ('0' to 'o') of COCO compressed RLE",
    }.get(code, f"status {code} at count {r}")
    raise ValueError(f"{head}: {detail}")


def _decode_rles(module: ModuleType, counts: Sequence[bytes | NDArray[np.int64]], height: int, width: int,
                 name: str, single: bool, parallel: bool) -> _Runs:
    """Runs of RLE ``counts`` (compressed bytes or int64 arrays), checked to cover ``h * w``.

    Counts are untrusted: the sizes and string lengths are checked here before
    anything is allocated, every count in the kernels before it is used; faults
    raise ``ValueError`` naming the mask, the count and what was expected.
    """
    k = len(counts)
    total = height * width
    if total >= MAX_RLE_PIXELS:
        raise ValueError(f"{_where(name, single, 0)}['size'] is {height} x {width}: RLE masks must have "
                         f"fewer than 2**59 pixels")
    max_chars = _max_chars(total)
    strings: Sequence[bytes]
    raw: list[tuple[int, bytes | NDArray[np.int64]]]  # the array items, by index
    where: list[int] | None  # the indices of the strings (None: all of them)
    if set(map(type, counts)) <= {bytes}:
        strings, raw = cast("Sequence[bytes]", counts), []  # all bytes
        where = None
    else:
        where = [i for i, c in enumerate(counts) if isinstance(c, bytes)]
        strings = cast("list[bytes]", [counts[i] for i in where])  # the bytes items
        raw = [(i, counts[i]) for i in range(k) if not isinstance(counts[i], bytes)]
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    limit = _longest(total, max_chars)
    if lengths.size and lengths.max() > limit:
        j = int(np.flatnonzero(lengths > limit)[0])
        raise ValueError(f"{_where(name, single, j if where is None else where[j])}['counts'] has "
                         f"{lengths[j]} characters, more than a {height} x {width} mask allows: expected "
                         f"at most {total + 1} counts of at most {max_chars} characters each")
    for i, c in raw:
        if len(c) > total + 1:
            raise ValueError(f"{_where(name, single, i)}['counts'] is not a valid RLE of a {height} x "
                             f"{width} mask: count {total + 1} is one run too many, expected at most "
                             f"{total + 1} runs")
    # A compressed string of c characters holds at most c counts: decode in place of its characters.
    offsets = _empty(len(strings) + 1, np.int64)
    offsets[0] = 0
    np.cumsum(lengths, out=offsets[1:])
    n_chars = int(offsets[-1])
    runs = _empty((2, n_chars + sum(len(c) for _, c in raw)), np.int64)
    index = _empty((k, 2), np.int64)
    if strings:
        buf = np.frombuffer(b"".join(strings), dtype=np.uint8)
        nruns = _empty(len(strings), np.int64)
        status = _empty((len(strings), _N_STATUS), np.int64)
        module.rle_from_strings(buf, offsets, total, max_chars, runs[0], nruns, status, parallel)
        _raise_rle_fault(status, where, height, width, name, single, max_chars)
        rows = slice(None) if where is None else where
        index[rows, 0] = offsets[:-1]
        index[rows, 1] = nruns
    pos = n_chars
    for i, c in raw:
        runs[0, pos:pos + len(c)] = c
        index[i] = (pos, len(c))
        pos += len(c)
    return _runs_info(module, runs, index, height, width, parallel, name, single)


# --- pairwise metrics --------------------------------------------------------------


#: Below this much work (characters, plus pairs times characters per mask), a small RLE call
#: takes the fast path: twice what the cost model ever sends parallel, as the fast path
#: saves the general path's 45-90 us of preparation (on 2 threads, 50 x 50 masks of 512 x
#: 512: 95 us against 165 us serial and 185 us parallel).
_SMALL_RLE_WORK = int(2 * MIN_SERIAL_S / (SERIAL_NS_PER_UNIT["masks"] * 1e-9))


def _small_rle_overlap(code: int, a: _MaskSet, b: _MaskSet) -> NDArray[np.float64] | None:
    """The small-input fast path of two non-empty sets of RLE masks (checked: :func:`_pair`):
    decoding and overlaps in one call into the Cython extension; None for the general path
    where the extension is not built, the masks are too large, a count is not a compressed
    string, or a count is faulty (which the general path then names)."""
    entry = backends.serial_entry("small_rle_overlap")  # None: the extension is not built
    if entry is None:
        return None
    height, width = cast(int, a.shape[1]), cast(int, a.shape[2])  # RLE masks have a size
    total = height * width
    max_chars = _max_chars(total)
    # (the extension checks the sizes, and the work against the limit, again: it returns None
    # for masks of 2**59 pixels or more, which the general path names; memory safety does not
    # rely on its callers)
    result: NDArray[np.float64] | None = entry(code, a.counts, b.counts, height, width, max_chars,
                                               _longest(total, max_chars), _SMALL_RLE_WORK)
    return result


def _overlap(code: int, masks1: _MaskInput, masks2: _MaskInput, iscrowd: ArrayLike | None, aligned: bool,
             threshold: float | None, dtype: DTypeLike, out: NDArray[np.floating[Any]] | None,
             backend: str) -> NDArray[np.floating[Any]]:
    _validate.check_backend(backend)  # before any early return
    if _validate.is_cuda_array(masks1) or _validate.is_cuda_array(masks2):  # on the GPU, zero copy
        module, _ = backends.select(backend, 0, on_device=True, family="masks")
        # an array of the CUDA input's kind (typed as the host result)
        on_device: NDArray[np.floating[Any]] = module.overlap_on_device(
            code, masks1, masks2, iscrowd=iscrowd, aligned=aligned, threshold=threshold, dtype=dtype, out=out)
        return on_device
    aligned = _validate.check_bool(aligned, "aligned")
    a, b = _pair(masks1, masks2, threshold, aligned)
    n, m = len(a), len(b)
    # what the general path reads: the masks, and each pair's share of both
    work = a.work + b.work + (n if aligned else n * m) * (a.per_mask + b.per_mask)
    if (work < _SMALL_RLE_WORK and a.rle and b.rle and n and m and not (a.single or b.single or aligned)
            and iscrowd is None and dtype is None and out is None and backend == "auto"
            and backends.DEFAULT == "auto"):
        small = _small_rle_overlap(code, a, b)
        if small is not None:
            return small
    crowd = _validate.as_crowd(iscrowd, n if aligned else m)
    dt = _validate.compute_dtype(np.empty(0, a.dtype), np.empty(0, b.dtype), dtype=dtype)
    out = _validate.as_out(out, (n,) if aligned else (n, m), dt)
    if out.size == 0:
        for arg in (a, b):  # RLE is checked even when the other argument has no masks
            if arg.rle and len(arg):
                arg.runs(*backends.select(backend, arg.work, family="masks"))
        return out
    module, parallel = backends.select(backend, work, family="masks")
    if a.rle or b.rle:
        r1, r2 = a.runs(module, parallel), b.runs(module, parallel)
        kernel = module.rle_aligned if aligned else module.rle_pairwise
        kernel(code, *r1, *r2, crowd, out, parallel)
    else:
        dense1, dense2 = cast("NDArray[np.uint8]", a.dense), cast("NDArray[np.uint8]", b.dense)  # not RLE
        p1, p2 = _pack(module, dense1, parallel), _pack(module, dense2, parallel)
        kernel = module.dense_aligned if aligned else module.dense_pairwise
        kernel(code, *p1, *p2, crowd, out, parallel)
    return out


def mask_iou(
    masks1: ArrayLike | Mapping[str, Any] | Sequence[Mapping[str, Any]],
    masks2: ArrayLike | Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    iscrowd: ArrayLike | None = None,
    aligned: bool = False,
    threshold: float | None = None,
    dtype: DTypeLike = None,
    out: NDArray[np.floating[Any]] | None = None,
    backend: Literal["auto", "numba", "cython", "cuda"] = "auto",
) -> NDArray[np.floating[Any]]:
    """Intersection over union of every pair of binary masks (pycocotools' ``iou`` for masks).

    Parameters
    ----------
    masks1 : array_like (N, H, W) or (H, W), or COCO RLE dict(s)
        The detections, in pycocotools' terms.
    masks2 : array_like (M, H, W) or (H, W), or COCO RLE dict(s)
        The ground truth; same ``H`` and ``W``.
    iscrowd : array_like of M bools, optional
        pycocotools' crowd flags of ``masks2``: for a crowd mask the score is the
        intersection over the area of ``masks1[i]`` (not over the union).
    aligned : bool, default False
        Compare ``masks1[i]`` with ``masks2[i]`` only (``N == M``), giving ``(N,)``;
        ``iscrowd`` then has ``N`` flags.
    threshold : float, optional
        Foreground is ``value > threshold``.  Without it, masks must hold only 0
        and 1 (or bools).
    dtype : float32 or float64, optional
        Output dtype; default float64 (float32 for float32 masks).
    out : ndarray, optional
        Preallocated output of the result's shape and dtype.
    backend : {'auto', 'numba', 'cython', 'cuda'}, default 'auto'

    Returns
    -------
    ndarray, shape (N, M), or (N,) with ``aligned=True``
        In [0, 1]; 0 where the union is 0 (two empty masks), as pycocotools.

    Notes
    -----
    Either argument may be dense or RLE; RLE input is intersected run by run
    without being decoded (a dense argument facing RLE is run-length encoded
    first).  Mismatched sizes raise ``ValueError`` (pycocotools returns -1), and
    so does malformed RLE (see :func:`rle_decode`), even when the other argument
    has no masks.

    Examples
    --------
    >>> import numpy as np, fastiou
    >>> a = np.zeros((1, 4, 4), bool); a[0, :2, :2] = True
    >>> b = np.zeros((2, 4, 4), bool); b[0, :2, :] = True; b[1, 2:, 2:] = True
    >>> fastiou.mask_iou(a, b)
    array([[0.5, 0. ]])
    >>> fastiou.mask_iou(a, b, iscrowd=[True, False])
    array([[1., 0.]])
    >>> fastiou.mask_iou(fastiou.rle_encode(a), b)
    array([[0.5, 0. ]])
    """
    return _overlap(IOU, masks1, masks2, iscrowd, aligned, threshold, dtype, out, backend)


def mask_dice(
    masks1: ArrayLike | Mapping[str, Any] | Sequence[Mapping[str, Any]],
    masks2: ArrayLike | Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    aligned: bool = False,
    threshold: float | None = None,
    dtype: DTypeLike = None,
    out: NDArray[np.floating[Any]] | None = None,
    backend: Literal["auto", "numba", "cython", "cuda"] = "auto",
) -> NDArray[np.floating[Any]]:
    """Dice coefficient ``2 |a & b| / (|a| + |b|)`` of every pair of binary masks.

    Parameters
    ----------
    masks1 : array_like (N, H, W) or (H, W), or COCO RLE dict(s)
    masks2 : array_like (M, H, W) or (H, W), or COCO RLE dict(s)
    aligned, threshold, dtype, out, backend
        As :func:`mask_iou`.

    Returns
    -------
    ndarray, shape (N, M), or (N,) with ``aligned=True``
        In [0, 1]; 0 for two empty masks, like :func:`mask_iou` (:func:`dice`
        scores two empty masks ``empty_score``, 1 by default).

    Examples
    --------
    >>> import numpy as np, fastiou
    >>> a = np.zeros((4, 4), bool); a[:2, :2] = True
    >>> b = np.zeros((4, 4), bool); b[:2, :] = True
    >>> fastiou.mask_dice(a, b)
    array([[0.66666667]])
    """
    return _overlap(DICE, masks1, masks2, None, aligned, threshold, dtype, out, backend)


# --- COCO RLE ----------------------------------------------------------------------


def rle_encode(
    masks: ArrayLike,
    *,
    threshold: float | None = None,
    backend: Literal["auto", "numba", "cython", "cuda"] = "auto",
) -> dict[str, Any] | list[dict[str, Any]]:
    """COCO RLE of binary masks, byte-identical to ``pycocotools.mask.encode``.

    Parameters
    ----------
    masks : array_like (N, H, W) or (H, W)
        Binary masks (see the module notes; ``threshold`` binarises others).
        Unlike pycocotools, no Fortran-ordered ``(H, W, N)`` uint8 copy is needed.
    threshold : float, optional
    backend : {'auto', 'numba', 'cython', 'cuda'}, default 'auto'

    Returns
    -------
    dict or list of dict
        ``{'size': [h, w], 'counts': bytes}`` (compressed column-major runs); one
        dict for an ``(H, W)`` mask, a list for ``(N, H, W)``.

    Examples
    --------
    >>> import numpy as np, fastiou
    >>> m = np.zeros((4, 4), bool); m[1:3, 1:3] = True
    >>> fastiou.rle_encode(m)
    {'size': [4, 4], 'counts': b'52203'}
    """
    threshold = _validate.check_threshold(threshold)
    dense, single, _ = _validate.as_masks(masks, "masks", threshold)
    k, h, w = dense.shape
    module, parallel = backends.select(backend, dense.size, family="masks", kind="mask_encode")
    nruns = _empty(k, np.int64)
    if k:
        module.count_runs(dense, nruns, parallel)
    index = _empty((k, 2), np.int64)
    index[:, 1] = nruns
    index[:, 0] = np.cumsum(nruns) - nruns
    counts = _empty(int(nruns.sum()), np.int64)
    stride = _max_chars(h * w)  # the most characters a count takes
    buf = _empty(stride * counts.size, np.uint8)
    lengths = _empty(k, np.int64)
    if k:
        module.write_runs(dense, index, counts, parallel)
        module.rle_to_strings(counts, index, stride, buf, lengths, parallel)
    starts = stride * index[:, 0]
    rles = [{"size": [h, w], "counts": buf[s:s + n].tobytes()}
            for s, n in zip(starts.tolist(), lengths.tolist())]
    return rles[0] if single else rles


def rle_decode(
    rles: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    backend: Literal["auto", "numba", "cython", "cuda"] = "auto",
) -> NDArray[np.bool_]:
    """Binary masks from COCO RLE (pycocotools' ``decode``, as ``(N, H, W)`` bool).

    Parameters
    ----------
    rles : dict or list of dict
        ``{'size': [h, w], 'counts': ...}``: compressed bytes or str, or
        uncompressed integer counts.  Every mask must have the same size.
    backend : {'auto', 'numba', 'cython', 'cuda'}, default 'auto'

    Returns
    -------
    ndarray of bool
        ``(H, W)`` for one dict, ``(N, H, W)`` for a list (``(0, 0, 0)`` for an
        empty list).  pycocotools returns ``(H, W, N)`` uint8 in Fortran order.

    Raises
    ------
    ValueError
        For malformed RLE (annotation files are untrusted input), naming the
        mask, the count and what was expected: a negative count, counts that
        pass ``H * W`` pixels or stop short of it, more than ``H * W + 1`` runs,
        a compressed string with characters outside 48-111, cut inside a number
        or with a number longer than any count of the mask needs, or masks of
        ``2**59`` pixels or more.  The counts are checked before the output is
        allocated.  An empty mask (``H * W == 0``) may have no counts.

    Examples
    --------
    >>> import fastiou
    >>> fastiou.rle_decode({'size': [2, 3], 'counts': [1, 2, 3]}).astype(int)
    array([[0, 1, 0],
           [1, 0, 0]])
    """
    _validate.check_backend(backend)
    if not _validate.is_rle(rles):
        raise TypeError(f"rles must be a COCO RLE dict or a list of them, got {type(rles).__name__}")
    h, w, counts, single = _validate.as_rles(rles, "rles")
    h, w = (0, 0) if h is None else (h, cast(int, w))  # h and w are None together (no masks)
    if len(counts):
        module, parallel = backends.select(backend, len(counts) * h * w, family="masks", kind="mask_pixels")
        # Checked before the output is allocated: a bad size or count costs no memory.
        runs, index, _, _ = _decode_rles(module, counts, h, w, "rles", single, parallel)
        out = _zeros((len(counts), h, w), np.uint8)
        if out.size:
            module.rle_to_dense(runs[0], index, out, parallel)
    else:
        out = _zeros((0, h, w), np.uint8)
    decoded: NDArray[np.bool_] = out.view(bool)
    return decoded[0] if single else decoded


# --- Dice ----------------------------------------------------------------------------


def _dice_operand(arr: NDArray[Any]) -> NDArray[np.uint8] | NDArray[np.float32] | NDArray[np.float64]:
    """``arr`` as uint8 (bools), float32 or float64, C-contiguous: what the sum kernels read."""
    if arr.dtype.kind == "b" or arr.dtype == np.uint8:
        return np.ascontiguousarray(arr).view(np.uint8)
    if arr.dtype.kind == "f" and arr.dtype.itemsize <= 4:
        return np.ascontiguousarray(arr, dtype=np.float32)
    return np.ascontiguousarray(arr, dtype=np.float64)


def _row_sums(pred: NDArray[Any], target: NDArray[Any], threshold: float | None, squared: bool,
              backend: str) -> NDArray[np.float64]:
    """``(R, 3)`` float64: per row, ``sum p t``, ``sum p`` and ``sum t`` (squares with ``squared``)."""
    rows = pred.shape[0]
    size = pred.size // rows if rows else 0
    p = _dice_operand(pred).reshape(rows, size)
    t = _dice_operand(target).reshape(rows, size)
    nchunks = max(1, -(-size // DICE_CHUNK))
    partial = np.zeros((rows, nchunks, 3), dtype=np.float64)
    if rows and size:
        module, parallel = backends.select(backend, rows * size, family="masks", kind="mask_pixels")
        binarize = threshold is not None
        module.row_sums(p, t, float(threshold) if threshold is not None else 0.0, binarize, squared,
                        DICE_CHUNK, partial, parallel)
    sums: NDArray[np.float64] = partial.sum(axis=1)
    return sums


def _one_hot(labels: NDArray[Any], num_classes: int, name: str) -> NDArray[np.uint8]:
    """``(N, H, W)`` (or ``(N, 1, ...)``) class indices -> ``(N, num_classes, ...)`` uint8."""
    if labels.dtype.kind == "f":
        if labels.size and not np.all(np.floor(labels) == labels):
            raise ValueError(f"{name} must hold integer class indices in [0, {num_classes})")
        labels = labels.astype(np.int64)
    labels = _validate.as_class_indices(labels, name, num_classes)
    classes = np.arange(num_classes).reshape((1, num_classes) + (1,) * (labels.ndim - 1))
    one_hot: NDArray[np.uint8] = (labels[:, None] == classes).view(np.uint8)
    return one_hot


def _check_empty_score(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"empty_score must be a real number (or nan), got {type(value).__name__}")
    return float(value)


def _reduce_scores(scores: NDArray[np.float64], keep: NDArray[np.bool_], reduction: str,
                   dt: np.dtype[np.floating[Any]]) -> _Score:
    """Mean / sum of ``scores`` over the entries ``keep`` (``'mean_batch'``: over axis 0)."""
    if reduction == "none":
        return scores.astype(dt) if scores.ndim else dt.type(scores)
    kept = np.where(keep, scores, 0.0)
    if reduction == "sum":
        return dt.type(kept.sum())
    axis = 0 if reduction == "mean_batch" and scores.ndim == 2 else None
    total = kept.sum(axis=axis)
    count = keep.sum(axis=axis)
    mean = np.divide(total, count, out=np.zeros_like(total, dtype=np.float64), where=count > 0)
    return mean.astype(dt) if axis is not None else dt.type(mean)


def dice(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    smooth: float = 0.0,
    threshold: float | None = None,
    reduction: _DiceReduction = "mean",
    num_classes: int | None = None,
    include_background: bool = True,
    empty_score: float = 1.0,
    dtype: DTypeLike = None,
    backend: Literal["auto", "numba", "cython", "cuda"] = "auto",
) -> np.floating[Any] | NDArray[np.floating[Any]]:
    """Dice coefficient ``(2 sum(p t) + smooth) / (sum(p) + sum(t) + smooth)`` of masks or probabilities.

    Parameters
    ----------
    pred, target : array_like
        Same shape: one mask ``(H, W)``, a batch ``(N, H, W)`` (one score per
        mask) or ``(N, C, H, W)`` (one score per sample and class).  Values are
        used as they are (soft Dice of probabilities in [0, 1]; binary masks give
        the usual Dice); ``threshold`` binarises ``pred``.  With ``num_classes``,
        either may instead be a label map ``(N, H, W)`` or ``(N, 1, H, W)`` of
        class indices, one-hot encoded to ``(N, num_classes, H, W)``.
    smooth : float, default 0.0
        Added to numerator and denominator (MONAI's ``smooth_nr = smooth_dr``).
    threshold : float, optional
        ``pred > threshold`` is the predicted foreground.
    reduction : {'mean', 'none', 'sum', 'mean_batch'}, default 'mean'
        ``'none'`` keeps the scores (shape ``()``, ``(N,)`` or ``(N, C)``);
        ``'mean_batch'`` averages over the batch, giving one score per class
        (MONAI's ``DiceMetric`` reductions).
    num_classes : int, optional
        Number of classes of label-map inputs.
    include_background : bool, default True
        False drops class 0 (``(N, C, H, W)`` input; ignored with a warning for
        one class, as MONAI).
    empty_score : float, default 1.0
        The score where ``pred`` and ``target`` are both empty and ``smooth`` is 0
        (0 / 0).  ``nan`` marks such entries and leaves them out of ``'mean'``,
        ``'sum'`` and ``'mean_batch'`` (like MONAI's ``ignore_empty``); the mean
        of no entries is 0.
    dtype : float32 or float64, optional
        Output dtype; default float64, float32 when ``pred`` is float32 (integer
        or bool targets do not promote it).  Sums accumulate in float64.
    backend : {'auto', 'numba', 'cython', 'cuda'}, default 'auto'

    Returns
    -------
    scalar or ndarray

    Examples
    --------
    >>> import fastiou
    >>> float(fastiou.dice([[1, 0], [0, 1]], [[1, 0], [1, 1]]))
    0.8
    >>> fastiou.dice([[[0, 1], [2, 2]]], [[[0, 1], [2, 1]]], num_classes=3, reduction="none")
    array([[1.        , 0.66666667, 0.66666667]])
    """
    _validate.check_backend(backend)
    reduction = cast(_DiceReduction, _validate.check_reduction(reduction, DICE_REDUCTIONS))  # one of them
    smooth = _validate.check_real(smooth, "smooth", 0.0)
    threshold = _validate.check_threshold(threshold)
    empty_score = _check_empty_score(empty_score)
    include_background = _validate.check_bool(include_background, "include_background")
    p = _validate.as_array(pred, "pred")
    t = _validate.as_array(target, "target")
    dt = _validate.compute_dtype(p, *[a for a in (t,) if a.dtype.kind == "f"], dtype=dtype)
    if num_classes is not None:
        k = _validate.check_int(num_classes, "num_classes")
        if k < 1:
            raise ValueError(f"num_classes must be at least 1, got {k}")
        p, t = (_class_axis(a, k, name) for a, name in ((p, "pred"), (t, "target")))
    elif p.ndim not in (2, 3, 4):
        raise ValueError(f"pred must have shape (H, W), (N, H, W) or (N, C, H, W), got {p.shape}")
    if p.shape != t.shape:
        raise ValueError(f"pred and target must have the same shape, got {p.shape} and {t.shape}")
    if not include_background:
        if p.ndim != 4:
            raise ValueError(f"include_background=False needs a class axis (N, C, H, W), got shape {p.shape}")
        if p.shape[1] == 1:
            warnings.warn("single channel prediction, include_background=False ignored", stacklevel=2)
        else:
            p, t = p[:, 1:], t[:, 1:]
    lead = p.shape[:-2]
    rows = int(np.prod(lead))
    sums = _row_sums(p.reshape((rows,) + p.shape[-2:]), t.reshape((rows,) + t.shape[-2:]),
                     threshold, False, backend)
    inter, psum, tsum = sums[:, 0], sums[:, 1], sums[:, 2]
    num = 2.0 * inter + smooth
    den = psum + tsum + smooth
    empty = den == 0
    scores = np.divide(num, den, out=np.full(rows, empty_score), where=~empty).reshape(lead)
    keep = ~(empty & np.isnan(empty_score)).reshape(lead)
    return _reduce_scores(scores, keep, reduction, dt)


def _class_axis(arr: NDArray[Any], num_classes: int, name: str) -> NDArray[Any]:
    """With ``num_classes``: ``(N, C, H, W)`` as it is, label maps one-hot encoded."""
    if arr.ndim == 4 and arr.shape[1] == num_classes:
        return arr
    if arr.ndim == 3 or (arr.ndim == 4 and arr.shape[1] == 1):
        return _one_hot(arr.reshape(arr.shape[0], *arr.shape[-2:]), num_classes, name)
    raise ValueError(
        f"with num_classes={num_classes}, {name} must be (N, {num_classes}, H, W) or a label map "
        f"(N, H, W) or (N, 1, H, W), got {arr.shape}"
    )


@overload
def dice_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    sigmoid: bool = ...,
    softmax: bool = ...,
    to_onehot_y: bool = ...,
    include_background: bool = ...,
    squared_pred: bool = ...,
    jaccard: bool = ...,
    smooth_nr: float = ...,
    smooth_dr: float = ...,
    batch: bool = ...,
    weight: ArrayLike | None = ...,
    reduction: _LossReduction = ...,
    return_grad: Literal[False] = ...,
) -> np.floating[Any] | NDArray[np.floating[Any]]: ...


@overload
def dice_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    sigmoid: bool = ...,
    softmax: bool = ...,
    to_onehot_y: bool = ...,
    include_background: bool = ...,
    squared_pred: bool = ...,
    jaccard: bool = ...,
    smooth_nr: float = ...,
    smooth_dr: float = ...,
    batch: bool = ...,
    weight: ArrayLike | None = ...,
    reduction: _LossReduction = ...,
    return_grad: Literal[True],
) -> tuple[np.floating[Any] | NDArray[np.floating[Any]], NDArray[np.floating[Any]]]: ...


@overload
def dice_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    sigmoid: bool = ...,
    softmax: bool = ...,
    to_onehot_y: bool = ...,
    include_background: bool = ...,
    squared_pred: bool = ...,
    jaccard: bool = ...,
    smooth_nr: float = ...,
    smooth_dr: float = ...,
    batch: bool = ...,
    weight: ArrayLike | None = ...,
    reduction: _LossReduction = ...,
    return_grad: bool = ...,
) -> (np.floating[Any] | NDArray[np.floating[Any]]
      | tuple[np.floating[Any] | NDArray[np.floating[Any]], NDArray[np.floating[Any]]]): ...


def dice_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    sigmoid: bool = False,
    softmax: bool = False,
    to_onehot_y: bool = False,
    include_background: bool = True,
    squared_pred: bool = False,
    jaccard: bool = False,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    weight: ArrayLike | None = None,
    reduction: _LossReduction = "mean",
    return_grad: bool = False,
) -> (np.floating[Any] | NDArray[np.floating[Any]]
      | tuple[np.floating[Any] | NDArray[np.floating[Any]], NDArray[np.floating[Any]]]):
    """Dice loss ``1 - (2 sum(p t) + smooth_nr) / (sum(p) + sum(t) + smooth_dr)`` (MONAI's ``DiceLoss``).

    Parameters
    ----------
    input : array_like (N, C, ...)
        Probabilities, or logits with ``sigmoid`` / ``softmax``; any number of
        spatial axes after the class axis.
    target : array_like (N, C, ...)
        One-hot or soft labels; with ``to_onehot_y``, class indices ``(N, 1, ...)``
        or ``(N, ...)``.
    sigmoid, softmax : bool, default False
        Apply a sigmoid, or a softmax over the class axis, to ``input`` first
        (not both).  ``softmax`` with one class is ignored with a warning (MONAI).
    to_onehot_y : bool, default False
        One-hot encode ``target`` to ``C`` classes (ignored with a warning for C = 1).
    include_background : bool, default True
        False leaves class 0 out of the loss (ignored with a warning for C = 1).
    squared_pred : bool, default False
        Denominator ``sum(p^2) + sum(t^2)``.
    jaccard : bool, default False
        Soft Jaccard: denominator ``2 (sum(p) + sum(t) - sum(p t))``.
    smooth_nr, smooth_dr : float, default 1e-5
        Added to the numerator and the denominator.
    batch : bool, default False
        Sum over the batch before dividing: one loss per class.
    weight : array_like (C',), optional
        Non-negative weight of each class kept (MONAI's ``weight``), multiplying
        its loss before the reduction.
    reduction : {'mean', 'none', 'sum'}, default 'mean'
        ``'none'`` gives shape ``(N, C')`` (``(C',)`` with ``batch``); MONAI keeps
        trailing unit axes ``(N, C', 1, ...)``.
    return_grad : bool, default False
        Also return the gradient with respect to ``input`` (of ``value.sum()`` for
        ``'none'``), through the sigmoid / softmax.

    Returns
    -------
    value : scalar or ndarray
    grad : ndarray like ``input``, only with ``return_grad=True``

    Notes
    -----
    Where the denominator plus ``smooth_dr`` is 0 (both empty, ``smooth_dr=0``)
    the ratio is taken as 1 (loss 0, gradient 0) instead of MONAI's NaN.

    Examples
    --------
    >>> import fastiou
    >>> x = [[[[1.0, -1.0], [-1.0, 1.0]]]]
    >>> y = [[[[1.0, 0.0], [1.0, 1.0]]]]
    >>> round(float(fastiou.dice_loss(x, y, sigmoid=True, smooth_nr=1e-6, smooth_dr=1e-6)), 4)
    0.3076
    >>> value, grad = fastiou.dice_loss(x, y, sigmoid=True, return_grad=True)
    >>> grad.shape
    (1, 1, 2, 2)
    """
    flags: dict[str, object] = dict(sigmoid=sigmoid, softmax=softmax, to_onehot_y=to_onehot_y,
                 include_background=include_background, squared_pred=squared_pred, jaccard=jaccard,
                 batch=batch, return_grad=return_grad)
    for name, value in flags.items():
        _validate.check_bool(value, name)
    reduction = cast(_LossReduction, _validate.check_reduction(reduction))  # one of them
    smooth_nr = _validate.check_real(smooth_nr, "smooth_nr", 0.0)
    smooth_dr = _validate.check_real(smooth_dr, "smooth_dr", 0.0)
    if sigmoid and softmax:
        raise ValueError("sigmoid=True and softmax=True are incompatible: choose one")
    x = _validate.as_array(input, "input")
    if x.ndim < 3:
        raise ValueError(f"input must have shape (N, C, ...) with at least one spatial axis, got {x.shape}")
    t = _validate.as_array(target, "target")
    dt = _validate.loss_dtype(x, t)
    channels = x.shape[1]
    p = x.astype(dt)
    if sigmoid or softmax:
        from scipy import special  # here, not at the top: importing it takes ~0.5 s
    if sigmoid:
        p = special.expit(p)
    if softmax:
        if channels == 1:
            warnings.warn("single channel prediction, softmax=True ignored", stacklevel=2)
            softmax = False
        else:
            p = special.softmax(p, axis=1).astype(dt, copy=False)
    if to_onehot_y:
        if channels == 1:
            warnings.warn("single channel prediction, to_onehot_y=True ignored", stacklevel=2)
        else:
            labels = t[:, 0] if t.ndim == x.ndim and t.shape[1] == 1 else t
            if labels.shape != (x.shape[0],) + x.shape[2:]:
                raise ValueError(f"with to_onehot_y, target must be (N, 1, ...) or (N, ...) class indices "
                                 f"matching input {x.shape}, got {t.shape}")
            t = _one_hot(labels, channels, "target")
    first = 0
    if not include_background:
        if channels == 1:
            warnings.warn("single channel prediction, include_background=False ignored", stacklevel=2)
        else:
            first = 1
    ps, ts = p[:, first:], t[:, first:] if t.ndim == x.ndim else t
    if ps.shape != ts.shape:
        raise ValueError(f"target must have the shape of input {p.shape} (after one-hot encoding "
                         f"and dropping the background), got {t.shape}")
    n, c = ps.shape[:2]
    size = int(np.prod(ps.shape[2:]))
    sums = _row_sums(ps.reshape(n * c, size), ts.reshape(n * c, size), None, squared_pred,
                     "auto").reshape(n, c, 3)
    if batch:
        sums = sums.sum(axis=0)
    inter, psum, tsum = sums[..., 0], sums[..., 1], sums[..., 2]
    den = psum + tsum
    if jaccard:
        den = 2.0 * (den - inter)
    den = den + smooth_dr
    zero = den == 0
    safe = np.where(zero, 1.0, den)
    ratio = np.where(zero, 1.0, (2.0 * inter + smooth_nr) / safe)
    loss = 1.0 - ratio
    w = None
    if weight is not None:
        w = _validate.as_array(weight, "weight").astype(np.float64).reshape(-1)
        if w.size == 1:
            w = np.full(c, w[0])
        if w.shape != (c,):
            raise ValueError(f"weight must have one value per class kept ({c}), got shape {w.shape}")
        if w.size and w.min() < 0:
            raise ValueError("weight must be non-negative")
        loss = loss * w
    value = _reduce_losses(loss, reduction, dt)
    if not return_grad:
        return value
    # d loss / d sums, per row; then d sums / d p = (t, 1 or 2 p).
    scale = np.ones_like(loss) if w is None else np.broadcast_to(w, loss.shape)
    if reduction == "mean" and loss.size:
        scale = scale / loss.size
    d_den_d_inter, d_den_d_p = (-2.0, 2.0) if jaccard else (0.0, 1.0)
    d_inter = np.where(zero, 0.0, -(2.0 - ratio * d_den_d_inter) / safe) * scale
    d_psum = np.where(zero, 0.0, ratio * d_den_d_p / safe) * scale
    if batch:
        d_inter, d_psum = np.broadcast_to(d_inter, (n, c)), np.broadcast_to(d_psum, (n, c))
    spatial = (1,) * (x.ndim - 2)
    d_inter = d_inter.reshape((n, c) + spatial)
    d_psum = d_psum.reshape((n, c) + spatial)
    grad_p = np.zeros(p.shape, dtype=np.float64)
    dp_sum = 2.0 * ps if squared_pred else 1.0
    grad_p[:, first:] = d_inter * ts + d_psum * dp_sum
    if sigmoid:
        grad_p *= p * (1.0 - p)
    elif softmax:
        grad_p = p * (grad_p - (grad_p * p).sum(axis=1, keepdims=True))
    return value, grad_p.astype(dt)


def _reduce_losses(loss: NDArray[np.float64], reduction: str, dt: np.dtype[np.floating[Any]]) -> _Score:
    if reduction == "none":
        return loss.astype(dt)
    total = float(loss.sum())
    if reduction == "sum":
        return dt.type(total)
    return dt.type(total / loss.size if loss.size else 0.0)
