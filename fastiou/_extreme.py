"""Box metrics and losses at coordinates outside the fast formulas' safe range, exactly.

The kernels square lengths (areas, squared diagonals, CIoU's products): float32
overflows for sides beyond about 2^62 and loses accuracy in the subnormals for
sides below about 2^-39 (float64: 2^510 and 2^-458).  The column split flags any
call with a coordinate outside ``fastiou._formulas.SAFE_*``, and such a call is
computed here, with the same split and kernels:

- in float64 (a float32 box is always inside float64's safe range), the result
  rounded once to the output dtype;
- every metric is invariant to scaling both boxes by a power of two, which is
  exact in floating point: each box gets the binary exponent of its largest
  coordinate, in bins of ``BIN`` exponents; the pairs of a bin of ``boxes1`` and
  a bin of ``boxes2`` are scaled together so that their largest coordinate lies
  in [2^-65, 2^-1].  What then underflows is below 2^-400 of the pair's size,
  far below the result's rounding.
- IoA divides by the area of the box of ``boxes1`` alone, so its pairs take the
  scale of that box, and the boxes of ``boxes2`` are clipped to [-1, 1]^2 in
  that scale (which holds the box of ``boxes1``: the intersection is unchanged).
- CIoU's aspect angle is computed per box, scaled by its own power of two (a
  side that underflows in its pair's scale still has its true aspect).

Format conversion (``xywh``, ``cxcywh``) and ``offset`` are applied after the
scaling, so a conversion that would overflow the dtype still gives the exact
metric.  The losses scale their area-like ``eps`` with the boxes and their
gradients by the inverse power of two; a gradient that is not representable in
the output dtype raises ``ValueError`` naming its row.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from . import _formulas
from ._columns import FORMATS, box_columns

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import NDArray

    F64Array = NDArray[np.float64]
    #: ``kernel(c1, c2, block)``: a backend's pairwise or aligned kernel of one metric.
    MetricKernel = Callable[[F64Array, F64Array, F64Array], object]
    #: ``kernel(c1, c2, eps_area, loss, grad)``: a backend's box loss kernel.
    LossKernel = Callable[[F64Array, F64Array, float, F64Array, F64Array], object]

#: Binary exponents per bin of box scales (a call spans at most 2100 / BIN bins).
BIN = 64
_F64 = np.dtype(np.float64)


def _bins(boxes: NDArray[np.float64], offset: float) -> NDArray[np.intc]:
    """The scale bin of each box: the binary exponent of its largest |coordinate| // BIN."""
    big = np.maximum(np.abs(boxes).max(axis=1), abs(offset)) if boxes.shape[0] else np.zeros(0)
    return np.frexp(big)[1] // BIN


def _angles(boxes: NDArray[np.float64], fmt: str, offset: float) -> NDArray[np.float64]:
    """``atan2(w, h)`` of each box, scaled by its own power of two (CIoU's aspect)."""
    shift = -(_bins(boxes, offset) + 1) * BIN
    scaled = np.ldexp(boxes, shift[:, None])
    off = np.ldexp(float(offset), shift)
    if FORMATS[fmt] == 0:
        w, h = scaled[:, 2] - scaled[:, 0], scaled[:, 3] - scaled[:, 1]
    else:
        w, h = scaled[:, 2], scaled[:, 3]
    return np.arctan2(w + off, h + off)


def _corners(boxes: NDArray[np.float64], fmt: str, offset: float) -> NDArray[np.float64]:
    """xyxy corners (offset added) of each box, converted in its own scale: exact, or
    infinite where a corner lies beyond the dtype's range."""
    shift = -(_bins(boxes, 0) + 1) * BIN
    cols, _ = box_columns(np.ldexp(boxes, shift[:, None]), fmt, 0.0, False, angle=False)
    with np.errstate(over="ignore"):
        corners = np.ldexp(cols[:4].T, -shift[:, None])
    corners[:, 2:] += offset
    return corners


def _scaled_columns(boxes: NDArray[np.float64], shift: int, fmt: str, offset: float,
                    angles: NDArray[np.float64] | None, clip: bool = False) -> NDArray[np.float64]:
    """Columns of ``boxes * 2**shift`` (converted after scaling), with the given angles;
    ``clip``: xyxy ``boxes`` clipped to [-1, 1]^2 after scaling (IoA's boxes2)."""
    with np.errstate(over="ignore"):
        scaled = np.ldexp(boxes, shift)
    if clip:
        np.clip(scaled, -1.0, 1.0, out=scaled)
    cols, _ = box_columns(scaled, fmt, math.ldexp(float(offset), shift), False, angle=False)
    if angles is not None:
        cols[7] = angles
    return cols


def _as_f64(boxes: NDArray[Any]) -> NDArray[np.float64]:
    return np.ascontiguousarray(boxes, dtype=_F64)


def metric(kernel: MetricKernel, boxes1: NDArray[Any], boxes2: NDArray[Any], fmt: str, offset: float,
           aligned: bool, angle: bool, first_scale: bool, out: NDArray[np.floating[Any]]) -> None:
    """``out`` = the metric of every pair (or aligned pair) of valid boxes, exactly.

    ``kernel(c1, c2, block)`` is the backend's pairwise (or aligned) kernel of the
    metric, called with float64 columns and a float64 ``block``.  ``first_scale``:
    the metric's denominator is the area of the box of ``boxes1`` alone (IoA).
    """
    a1, a2 = _as_f64(boxes1), _as_f64(boxes2)
    bins1, bins2 = _bins(a1, offset), _bins(a2, offset)
    angles1 = _angles(a1, fmt, offset) if angle else None
    angles2 = _angles(a2, fmt, offset) if angle else None
    fmt2, offset2 = fmt, offset
    if first_scale:
        bins2 = np.full_like(bins2, np.iinfo(bins2.dtype).min)
        a2, fmt2, offset2 = _corners(a2, fmt, offset), "xyxy", 0.0

    def columns1(rows: NDArray[np.intp], shift: int) -> NDArray[np.float64]:
        return _scaled_columns(a1[rows], shift, fmt, offset, None if angles1 is None else angles1[rows])

    def columns2(rows: NDArray[np.intp], shift: int) -> NDArray[np.float64]:
        return _scaled_columns(a2[rows], shift, fmt2, offset2, None if angles2 is None else angles2[rows],
                               clip=first_scale)

    def block(rows: NDArray[np.intp], cols: NDArray[np.intp], shift: int, result: NDArray[np.float64]) -> None:
        kernel(columns1(rows, shift), columns2(cols, shift), result)

    by_scale(block, bins1, bins2, aligned, out)


def scale_bins(lengths: NDArray[np.float64]) -> NDArray[np.intc]:
    """The scale bin of each row of ``lengths``: the binary exponent of its largest
    |value| // BIN (boxes whose pairs :func:`by_scale` scales together)."""
    return _bins(lengths, 0)


def by_scale(block: Callable[[NDArray[np.intp], NDArray[np.intp], int, NDArray[np.float64]], None],
             bins1: NDArray[np.intc], bins2: NDArray[np.intc], aligned: bool, out: NDArray[Any]) -> None:
    """Fill ``out`` (``(N, M)``, or ``(N,)`` when ``aligned``) block by block, one block
    per pair of scale bins, each computed in float64 at the pair's scale.

    ``block(rows, cols, shift, result)`` writes the metric of the boxes ``rows`` of the
    first set against ``cols`` of the second (aligned: ``rows`` against ``rows``), both
    scaled by ``2**shift``, into the float64 array ``result``; ``shift`` brings the
    larger bin's values into [2^-65, 2^-1].  ``out`` gets each block rounded once.
    """
    if aligned:
        pair_bins = np.maximum(bins1, bins2)
        for b in np.unique(pair_bins):
            rows = np.flatnonzero(pair_bins == b)
            result = np.empty(rows.size, _F64)
            block(rows, rows, -(int(b) + 1) * BIN, result)
            out[rows] = result
        return
    for b1 in np.unique(bins1):
        rows = np.flatnonzero(bins1 == b1)
        for b2 in np.unique(bins2):
            cols = np.flatnonzero(bins2 == b2)
            result = np.empty((rows.size, cols.size), _F64)
            block(rows, cols, -(max(int(b1), int(b2)) + 1) * BIN, result)
            out[np.ix_(rows, cols)] = result


def box_losses(kernel: LossKernel, boxes1: NDArray[Any], boxes2: NDArray[Any], eps: float, angle: bool,
               loss: NDArray[np.floating[Any]], grad: NDArray[np.floating[Any]]) -> None:
    """``loss`` (and ``grad``, unless empty) of aligned xyxy box pairs, exactly.

    ``kernel(c1, c2, eps_area, loss_block, grad_block)`` is the backend's loss kernel
    with float64 columns; ``eps_area`` is the ``eps`` of the area-like denominators
    in the block's scale (CIoU's alpha keeps ``eps`` itself: it is dimensionless).
    """
    a1, a2 = _as_f64(boxes1), _as_f64(boxes2)
    pair_bins = np.maximum(_bins(a1, 0), _bins(a2, 0))
    angles1 = _angles(a1, "xyxy", 0) if angle else None
    angles2 = _angles(a2, "xyxy", 0) if angle else None
    want_grad = grad.shape[0] > 0
    for b in np.unique(pair_bins):
        rows = np.flatnonzero(pair_bins == b)
        shift = -(int(b) + 1) * BIN
        c1 = _scaled_columns(a1[rows], shift, "xyxy", 0, None if angles1 is None else angles1[rows])
        c2 = _scaled_columns(a2[rows], shift, "xyxy", 0, None if angles2 is None else angles2[rows])
        block_loss = np.empty(rows.size, _F64)
        block_grad = np.empty((rows.size, 4) if want_grad else (0, 4), _F64)
        with np.errstate(over="ignore", under="ignore"):
            # may round to 0 or inf: the right limits of the terms it is added to
            eps_area = float(np.ldexp(float(eps), 2 * shift))
        kernel(c1, c2, eps_area, block_loss, block_grad)
        loss[rows] = block_loss
        if want_grad:
            with np.errstate(over="ignore"):
                # L(x) = L_block(x * 2**shift): d/dx gains the factor 2**shift
                scaled = np.ldexp(block_grad, shift).astype(grad.dtype)
            bad = np.flatnonzero(~np.isfinite(scaled).all(axis=1))
            if bad.size:
                raise ValueError(
                    f"the gradient at row {int(rows[bad[0]])} of boxes1 is not representable in "
                    f"{grad.dtype} (the boxes are too small for its scale)"
                )
            grad[rows] = scaled


def one_scale_columns(
    arrays: Sequence[NDArray[Any]], names: Sequence[str], dt: np.dtype[np.floating[Any]], fmt: str,
    offset: float, angle: bool,
) -> tuple[list[NDArray[np.float64]], np.dtype[np.float64]]:
    """``(columns, compute dtype)`` of box sets that a kernel compares at one scale (NMS,
    sparse joins, best matches), for a call whose coordinates leave the safe range.

    float32 boxes are computed in float64 (always inside its safe range); float64 boxes
    are all scaled by one power of two (their largest coordinate to [1/4, 1/2)).  A box
    that is then still outside (the call spans more than 2^900 of scale) raises
    ``ValueError`` naming it: such kernels have no per-pair scale.
    """
    from ._validate import checked_box_columns

    if dt.itemsize == 4:
        return [checked_box_columns(_as_f64(a), name, _F64, fmt, offset, False, angle)[0]
                for a, name in zip(arrays, names)], _F64
    big = max([float(np.abs(a).max()) for a in arrays if a.size] + [abs(float(offset))])
    shift = -int(np.frexp(big)[1]) - 1
    scaled_offset = math.ldexp(float(offset), shift)
    result = []
    for a, name in zip(arrays, names):
        raw = _as_f64(a)
        scaled = np.ldexp(raw, shift)
        cols, _ = checked_box_columns(scaled, name, _F64, fmt, scaled_offset, False, angle)
        # a coordinate that the scaling took below the safe range, or to 0 (underflow)
        lost = ((raw != 0) & (np.abs(scaled) < _formulas.SAFE_LO64)).any(axis=1)
        corners = np.abs(cols[:4])
        lost |= ((corners > 0) & (corners < _formulas.SAFE_LO64)).any(axis=0)
        if lost.any():
            row = int(np.flatnonzero(lost)[0])
            raise ValueError(
                f"{name} row {row} ({a[row].tolist()}) is below 2^-400 of the largest coordinate of "
                "the call, which this function compares at one scale: call it separately for boxes "
                "of very different scales"
            )
        result.append(cols)
    return result, _F64
