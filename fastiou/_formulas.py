"""The scalar box formulas, written once.

Each function is plain Python arithmetic, compiled by :func:`build` for the CPU
(``numba.njit(inline='always')``) and as CUDA device functions.  They take the
per-box columns of :mod:`fastiou._columns` (corners, area, doubled centre, aspect
angle), so that pairwise, aligned, NMS and sparse kernels share one definition.

Numba's on-disk cache tracks only the kernel's own file: after editing this file,
delete the cached kernels (``find fastiou -name '*.nb[ic]' -delete``).  An install
or upgrade renews every file, so users are not affected.

The functions never mix Python number literals into arithmetic: in a float32
kernel a literal would promote the result to float64.  Zero is written ``x - x``
and constants arrive as arguments of the caller's dtype.  Inputs are finite.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable

import math

FOUR_OVER_PI2 = 4.0 / math.pi**2  # CIoU's v = 4 / pi^2 * (atan(w1/h1) - atan(w2/h2))^2

# Metric codes shared by every backend.
IOU, IOA, GIOU, DIOU, CIOU = 0, 1, 2, 3, 4
METRICS = {"iou": IOU, "ioa": IOA, "iof": IOA, "giou": GIOU, "diou": DIOU, "ciou": CIOU}

# The range of |coordinate| in which the formulas above are accurate to the dtype's
# rounding: no area, squared diagonal or CIoU product overflows (sides up to HI) or
# falls into the subnormals (nonzero coordinates down to LO).  The column split
# flags a call with a coordinate outside it, and fastiou._extreme computes that
# call exactly instead (see there).
SAFE_LO32, SAFE_HI32 = 2.0**-32, 2.0**56
SAFE_LO64, SAFE_HI64 = 2.0**-400, 2.0**500
#: What the split returns for a valid call with a coordinate outside that range.
EXTREME = -2

# Rows of the per-box column array built by fastiou._columns.
X1, Y1, X2, Y2, AREA, CX2, CY2, ANGLE = range(8)
N_COLUMNS = 8


def build(jit: Callable[[Callable[..., Any]], Any]) -> SimpleNamespace:
    """Compile the formulas with ``jit`` and return them as a namespace."""

    @jit
    def positive_part(x):
        return x if x > 0 else x - x

    @jit
    def in_safe_range(c, lo, hi):
        # c is 0 or of a magnitude the formulas handle (False for NaN and inf)
        m = abs(c)
        return m <= hi and (m >= lo or c == 0)

    @jit
    def guarded_div(num, den):
        # 0 (not NaN) when the denominator is 0: a zero union, enclosing area, ...
        return num / den if den > 0 else num - num

    @jit
    def intersection(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2):
        iw = positive_part(min(ax2, bx2) - max(ax1, bx1))
        ih = positive_part(min(ay2, by2) - max(ay1, by1))
        return iw * ih

    @jit
    def enclosing_sides(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2):
        return max(ax2, bx2) - min(ax1, bx1), max(ay2, by2) - min(ay1, by1)

    @jit
    def giou_term(iou, union, cw, ch, eps):
        # eps: mmdet's floor on the enclosing area (0: none)
        enclosing = max(cw * ch, eps)
        return iou - guarded_div(enclosing - union, enclosing)

    @jit
    def centre_terms(acx2, acy2, bcx2, bcy2, cw, ch):
        # rho^2 and c^2 times 4, from doubled centres: no literal needed.
        dx = acx2 - bcx2
        dy = acy2 - bcy2
        cw2 = cw + cw
        ch2 = ch + ch
        return dx * dx + dy * dy, cw2 * cw2 + ch2 * ch2

    @jit
    def ciou_penalty(rho2, c2, iou, angle_a, angle_b, four_over_pi2, one, eps):
        # rho^2 / (c^2 + eps) + alpha v with alpha = v / (S + eps), S = 1 - IoU + v, as ONE
        # division (rho^2 S' + v^2 c^2') / (c^2' S') with c^2' = c^2 + 4 eps (c2 is 4 c^2)
        # and S' = S + eps (the kernel is division-bound).  eps = 0 is fastiou's guarded
        # form: where c^2 S is 0 both terms are 0 (c^2 = 0 only for two equal points, rho = 0,
        # v = 0; S = 0 only for IoU = 1 and v = 0), and guarded_div gives that 0.  eps > 0 is
        # torchvision's formula (its CIoU's eps).
        d = angle_a - angle_b
        v = four_over_pi2 * (d * d)
        s = ((one - iou) + v) + eps
        e2 = eps + eps
        c2e = c2 + (e2 + e2)
        return guarded_div(rho2 * s + (v * v) * c2e, c2e * s)

    @jit
    def metric_eps(code, ax1, ay1, ax2, ay2, aarea, acx2, acy2, aangle,
                   bx1, by1, bx2, by2, barea, bcx2, bcy2, bangle, four_over_pi2, one, eps):
        """Metric ``code`` between boxes a and b, given their columns as scalars.

        ``eps`` >= 0; 0 is fastiou's guarded division, and gives :func:`metric`.  A
        positive ``eps`` is the eps of the library that defines the metric with one:
        for DIoU and CIoU torchvision's, ``rho^2 / (c^2 + eps)`` and
        ``alpha = v / (1 - IoU + v + eps)``; for IoU, IoA and GIoU mmdet's
        (``bbox_overlaps``), a floor on the denominators: ``I / max(U, eps)``,
        ``I / max(area1, eps)`` and ``(C' - U') / C'`` with ``U' = max(U, eps)``,
        ``C' = max(C, eps)``.  Kernels call it with a constant ``code`` so that the
        branches fold away.
        """
        inter = intersection(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2)
        if code == IOA:
            return guarded_div(inter, max(aarea, eps))
        union = (aarea + barea) - inter
        if code == IOU or code == GIOU:
            union = max(union, eps)
        iou = guarded_div(inter, union)
        if code == IOU:
            return iou
        cw, ch = enclosing_sides(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2)
        if code == GIOU:
            return giou_term(iou, union, cw, ch, eps)
        rho2, c2 = centre_terms(acx2, acy2, bcx2, bcy2, cw, ch)
        if code == DIOU:
            e2 = eps + eps
            return iou - guarded_div(rho2, c2 + (e2 + e2))  # c2 is 4 c^2: 4 eps
        return iou - ciou_penalty(rho2, c2, iou, aangle, bangle, four_over_pi2, one, eps)

    @jit
    def metric(code, ax1, ay1, ax2, ay2, aarea, acx2, acy2, aangle,
               bx1, by1, bx2, by2, barea, bcx2, bcy2, bangle, four_over_pi2, one):
        """:func:`metric_eps` with eps 0 (the guarded division)."""
        return metric_eps(code, ax1, ay1, ax2, ay2, aarea, acx2, acy2, aangle,
                          bx1, by1, bx2, by2, barea, bcx2, bcy2, bangle, four_over_pi2, one,
                          one - one)

    return SimpleNamespace(
        in_safe_range=in_safe_range,
        positive_part=positive_part,
        guarded_div=guarded_div,
        intersection=intersection,
        enclosing_sides=enclosing_sides,
        giou_term=giou_term,
        centre_terms=centre_terms,
        ciou_penalty=ciou_penalty,
        metric=metric,
        metric_eps=metric_eps,
    )
