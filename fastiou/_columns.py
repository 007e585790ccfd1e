"""Split ``(N, 4)`` boxes into per-box columns, once per call.

The kernels read contiguous rows ``(8, N)``: x1, y1, x2, y2 (xyxy, with
``offset`` added to x2 and y2), area, doubled centre x and y, and the aspect
angle ``atan2(w, h)`` used by CIoU (``pi/2`` for a zero height; 0 when the caller
needs no angle: the ``atan2`` is a third of the split's time).  Reading the
interleaved ``(N, 4)`` rows in the hot loop measured over 4x slower.  The same
pass finds the first invalid row for the validation boundary, and whether every
coordinate lies in the formulas' safe range (``fastiou._formulas.SAFE_*``).

The split is compiled twice: ``fill_columns`` in the Cython extension (used when
it is built: calling it needs no JIT, so a new process pays no Numba start-up)
and in :mod:`fastiou.backends.numba_cpu` (the fallback).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from . import backends

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import NDArray

_FloatT = TypeVar("_FloatT", bound="np.floating[Any]")

FORMATS = {"xyxy": 0, "xywh": 1, "cxcywh": 2}


def box_columns(boxes: NDArray[_FloatT], fmt: str, offset: float, check: bool,
                angle: bool = True) -> tuple[NDArray[_FloatT], int]:
    """Columns ``(8, N)`` of ``boxes`` (already of the compute dtype) and the first bad row:
    -1 when there is none, ``EXTREME`` (-2) when a coordinate lies outside the fast
    formulas' safe range (:mod:`fastiou._extreme` then computes the call).

    ``angle=False`` leaves the angle row 0 (for every metric but CIoU).
    """
    cols = np.empty((8, boxes.shape[0]), dtype=boxes.dtype)
    bad: int = backends.serial_entry("fill_columns")(boxes, FORMATS[fmt], float(offset), check, angle,
                                                cols)
    return cols, bad
