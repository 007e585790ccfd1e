"""Rotated boxes: format conversion and the per-box columns of the rotated kernels.

Formats follow torchvision 0.29 (``torchvision.ops.box_convert``):

- ``'cxcywhr'``: centre, width, height, angle ``r`` in degrees, counter-clockwise
  in image axes (y down): the width vector is ``w (cos r, -sin r)`` and the height
  vector ``h (sin r, cos r)``;
- ``'xywhr'``: the same with the first corner ``(x1, y1)`` (top-left at ``r = 0``)
  instead of the centre;
- ``'xyxyxyxy'``: the corners top-left, top-right, bottom-right, bottom-left (at
  ``r = 0``).  Read as torchvision reads it: the angle is that of the edge from
  corner 1 to corner 2, the width its length and the height the length of the edge
  from corner 2 to corner 3 (exact for rectangles).

Everything is computed in float64 and rounded once to the compute dtype.  Angles
are reduced exactly to a quarter turn and a remainder in [-45, 45] degrees, so
that multiples of 90 degrees give exact cosines and sines and 720 or -1e3
degrees give the boxes of their equivalents in [0, 360).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ._rotated_formulas import AREA, COS, CX, CY, EX, EY, HH, HW, IHH, IHW, N_COLUMNS, SIN, UX, UY, VX, VY
from ._validate import ROTATED_FORMATS

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import NDArray

    from ._validate import AnyFormat

_FloatT = TypeVar("_FloatT", bound="np.floating[Any]")

AXIS_ALIGNED = ("xyxy", "xywh", "cxcywh")


def cos_sin_degrees(r: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``cos`` and ``sin`` of angles ``r`` in degrees, exact at multiples of 90."""
    r = np.fmod(r, 360.0)  # exact
    quarter = np.round(r / 90.0)
    rest = np.deg2rad(r - 90.0 * quarter)  # r - 90 q is exact
    c0, s0 = np.cos(rest), np.sin(rest)
    q = quarter.astype(np.int64) % 4  # (c, s) = (c0, s0), (-s0, c0), (-c0, -s0), (s0, -c0)
    odd = (q & 1) == 1
    c, s = np.where(odd, s0, c0), np.where(odd, c0, s0)
    c = np.where(((q + 1) & 2) != 0, -c, c)  # q 1 or 2
    s = np.where((q & 2) != 0, -s, s)  # q 2 or 3
    return c, s


def canonical(arr: NDArray[np.floating[Any]], fmt: str) -> dict[str, NDArray[np.float64]]:
    """Rotated boxes ``arr`` (float64, of rotated ``fmt``) as centre, sizes, angle and its cos/sin."""
    a = arr.astype(np.float64, copy=False)
    if fmt == "xyxyxyxy":
        ex, ey = a[:, 2] - a[:, 0], a[:, 1] - a[:, 3]
        w = np.hypot(ex, ey)
        h = np.hypot(a[:, 4] - a[:, 2], a[:, 5] - a[:, 3])
        r = np.degrees(np.arctan2(ey, ex))
        safe = np.where(w > 0, w, 1.0)
        c = np.where(w > 0, ex / safe, 1.0)
        s = np.where(w > 0, ey / safe, 0.0)
        x1, y1 = a[:, 0], a[:, 1]
    else:
        w, h, r = a[:, 2], a[:, 3], a[:, 4]
        c, s = cos_sin_degrees(r)
        x1, y1 = a[:, 0], a[:, 1]
    if fmt == "cxcywhr":
        cx, cy = a[:, 0], a[:, 1]
    else:  # from the first corner: c = p1 + u + v
        cx = x1 + 0.5 * w * c + 0.5 * h * s
        cy = y1 - 0.5 * w * s + 0.5 * h * c
    return {"cx": cx, "cy": cy, "w": w, "h": h, "r": r, "cos": c, "sin": s}


def half_vectors(b: dict[str, NDArray[np.float64]]) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                                            NDArray[np.float64], NDArray[np.float64]]:
    """``(ux, uy, vx, vy)``: half the width and height vectors."""
    hw, hh = 0.5 * b["w"], 0.5 * b["h"]
    return hw * b["cos"], -hw * b["sin"], hh * b["sin"], hh * b["cos"]


def columns(arr: NDArray[np.float64], fmt: str, dt: np.dtype[_FloatT]) -> NDArray[_FloatT]:
    """The ``(15, N)`` columns (:mod:`fastiou._rotated_formulas`) of validated boxes, in ``dt``."""
    b = canonical(arr, fmt)
    ux, uy, vx, vy = half_vectors(b)
    hw, hh = 0.5 * b["w"], 0.5 * b["h"]
    cols = np.empty((N_COLUMNS, arr.shape[0]), dt)  # each row computed in float64, rounded as stored
    cols[CX], cols[CY] = b["cx"], b["cy"]
    cols[UX], cols[UY], cols[VX], cols[VY] = ux, uy, vx, vy
    cols[AREA] = b["w"] * b["h"]
    cols[EX] = np.abs(ux) + np.abs(vx)
    cols[EY] = np.abs(uy) + np.abs(vy)
    cols[HW], cols[HH] = hw, hh
    with np.errstate(divide="ignore"):
        cols[IHW], cols[IHH] = 1 / hw, 1 / hh
    cols[COS], cols[SIN] = b["cos"], b["sin"]
    return cols


def convert(
    arr: NDArray[np.floating[Any]],
    in_fmt: AnyFormat,
    out_fmt: AnyFormat,
) -> NDArray[np.floating[Any]]:
    """Boxes ``arr`` (float64) from ``in_fmt`` to ``out_fmt``, one of them rotated.

    Axis-aligned input becomes a rotated box of angle 0; rotated input converted to
    ``'xyxy'`` (``'xywh'``, ``'cxcywh'``) gives its axis-aligned bounding box.
    """
    if in_fmt in AXIS_ALIGNED:
        from .formats import box_convert

        xywh = box_convert(arr, in_fmt, "xywh")
        arr = np.concatenate([xywh, np.zeros((xywh.shape[0], 1))], axis=1)
        in_fmt = "xywhr"
        if out_fmt == "xywhr":
            return arr
    if out_fmt in AXIS_ALIGNED:
        if in_fmt == "xyxyxyxy":  # the corners as given
            xs, ys = arr[:, 0::2], arr[:, 1::2]
            xyxy = np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], axis=1)
        else:
            b = canonical(arr, in_fmt)
            ux, uy, vx, vy = half_vectors(b)
            ex, ey = np.abs(ux) + np.abs(vx), np.abs(uy) + np.abs(vy)
            xyxy = np.stack([b["cx"] - ex, b["cy"] - ey, b["cx"] + ex, b["cy"] + ey], axis=1)
        from .formats import box_convert

        return box_convert(xyxy, "xyxy", out_fmt)
    b = canonical(arr, in_fmt)
    if out_fmt == "cxcywhr":
        return np.stack([b["cx"], b["cy"], b["w"], b["h"], b["r"]], axis=1)
    ux, uy, vx, vy = half_vectors(b)
    x1, y1 = b["cx"] - ux - vx, b["cy"] - uy - vy
    if out_fmt == "xywhr":
        return np.stack([x1, y1, b["w"], b["h"], b["r"]], axis=1)
    x2, y2 = b["cx"] + ux - vx, b["cy"] + uy - vy
    x3, y3 = b["cx"] + ux + vx, b["cy"] + uy + vy
    x4, y4 = b["cx"] - ux + vx, b["cy"] - uy + vy
    return np.stack([x1, y1, x2, y2, x3, y3, x4, y4], axis=1)


def area(arr: NDArray[np.floating[Any]], fmt: str) -> NDArray[np.float64]:
    """``w * h`` of rotated boxes (float64)."""
    b = canonical(arr, fmt)
    return b["w"] * b["h"]


__all__ = ["ROTATED_FORMATS", "columns", "convert", "area", "cos_sin_degrees"]
