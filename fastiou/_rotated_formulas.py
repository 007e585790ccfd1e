"""The scalar formulas of rotated boxes, written once: the exact intersection of two boxes.

Like :mod:`fastiou._formulas`, :func:`build` compiles plain Python arithmetic with
``jit`` (``numba.njit(inline='always')`` for the CPU, ``cuda.jit(device=True)``
for CUDA), and the Cython kernels mirror it.  The functions read the per-box
columns of :mod:`fastiou._rotated_columns`:

- ``CX, CY``: the centre;
- ``UX, UY``: half the width vector, ``(w/2 cos r, -w/2 sin r)``;
- ``VX, VY``: half the height vector, ``(h/2 sin r, h/2 cos r)``
  (torchvision's convention: degrees, counter-clockwise in image axes, y down);
- ``AREA = w h``; ``EX, EY``: half the sides of the axis-aligned bounding box;
- ``HW, HH``: ``w / 2`` and ``h / 2`` (the lengths of ``u`` and ``v``); ``IHW, IHH``:
  their inverses (infinite for a zero side);
- ``COS, SIN``: ``cos r`` and ``sin r``, so that ``u = HW (COS, -SIN)`` and
  ``v = HH (SIN, COS)``.

The corners ``c - u - v, c + u - v, c + u + v, c - u + v`` are in counter-clockwise
order (``cross(u, v) = w h / 4 >= 0``).  The intersection of two boxes is exactly 0
for pairs whose axis-aligned bounding boxes do not meet or that a side of either box
separates (the separating axis test on the boxes' own axes), exactly their area for
two boxes with the same columns (so an IoU of exactly 1), and otherwise the integral
of Green's theorem along box a's four sides in box b's frame (:func:`build`'s
``intersection``): exact for convex polygons, relative to b's centre (so centres
at 1e6 lose no digits), and branch-free, so that loops over pairs vectorise (3 to 7
times faster than clipping a polygon, whose data-dependent branches and vertex
counts do not).  The result is clamped to ``[0, min(area_a, area_b)]``, so that an
IoU is never negative nor above 1.  Inputs are finite; sizes may be 0 (giving 0,
not NaN).

Numba's cache tracks only the kernel's own file: after editing this file delete
the cached kernels (``find fastiou -name '*.nb[ic]' -delete``).
"""

from __future__ import annotations

from types import SimpleNamespace

from . import _formulas
from ._formulas import GIOU, IOA, IOU

# Rows of the per-box column array built by fastiou._rotated_columns.
CX, CY, UX, UY, VX, VY, AREA, EX, EY, HW, HH, IHW, IHH, COS, SIN = range(15)
N_COLUMNS = 15
#: The rounding margin of :func:`build`'s ``may_exceed``, in units of the dtype's epsilon
#: times the squared reach ``R`` of the pair (the intersection's absolute error is a few
#: tens of those units: its terms are products of sides and of coordinates within ``R``).
MARGIN_EPS = 1024
#: Metrics of rotated boxes.
ROTATED_METRICS = (IOU, IOA, GIOU)


def build(jit):
    """Compile the rotated formulas with ``jit`` and return them as a namespace."""
    F = _formulas.build(jit)
    guarded_div = F.guarded_div
    giou_term = F.giou_term

    @jit
    def clamp(x, lo, hi):
        return min(max(x, lo), hi)

    @jit
    def edge_integral(px, py, dx, dy, hw, hh, half):
        """The segment ``p + t d`` (``t`` in [0, 1]) of box a's boundary, in box b's frame
        (b centred and axis-aligned, half sides ``hw``, ``hh``): ``dy`` times the integral,
        over the ``t`` where ``|y(t)| <= hh``, of ``clamp(x(t), -hw, hw) + hw``.  Branch-free:
        the ``t`` range of the slab in y, split where ``x(t)`` enters and leaves ``[-hw, hw]``;
        a zero ``dy`` gives 0 whatever the range, a zero ``dx`` a constant ``x``."""
        zero = half - half
        one = half + half
        ddy = dy if dy != 0 else one
        t0, t1 = (-hh - py) / ddy, (hh - py) / ddy  # (divisions: a tiny d gives +-inf, never NaN)
        ta = clamp(min(t0, t1), zero, one)
        tb = clamp(max(t0, t1), ta, one)
        ddx = dx if dx != 0 else one
        s0, s1 = (-hw - px) / ddx, (hw - px) / ddx
        sa = clamp(min(s0, s1), ta, tb)  # x(t) is within [-hw, hw] for t in [sa, sb]
        sb = clamp(max(s0, s1), ta, tb)
        xa = clamp(px + ta * dx, -hw, hw)  # constant on [ta, sa]
        xs = clamp(px + sa * dx, -hw, hw)  # linear on [sa, sb]
        xz = clamp(px + sb * dx, -hw, hw)
        xb = clamp(px + tb * dx, -hw, hw)  # constant on [sb, tb]
        return dy * (xa * (sa - ta) + (xs + xz) * half * (sb - sa) + xb * (tb - sb) + hw * (tb - ta))

    @jit
    def intersection(dcx, dcy, aux, auy, avx, avy, bcos, bsin, bhw, bhh, half):
        """Area of the intersection of boxes a and b, given the centre difference
        ``dc = c_a - c_b``, a's half side vectors and b's angle and half sides.

        Green's theorem with the field ``(G, 0)``, ``G(x, y) = clamp(x, -hw, hw) + hw`` for
        ``|y| <= hh`` (0 elsewhere), whose divergence is b's indicator: the area is the
        integral of ``G dy`` along a's boundary alone (:func:`edge_integral` for its four
        sides), in b's frame, where b is ``[-hw, hw] x [-hh, hh]``.  No polygon is built,
        nothing branches, so loops over pairs vectorise; each side costs two slabs."""
        cx = dcx * bcos - dcy * bsin  # a's centre and half vectors in b's frame
        cy = dcx * bsin + dcy * bcos
        ux = aux * bcos - auy * bsin
        uy = aux * bsin + auy * bcos
        vx = avx * bcos - avy * bsin
        vy = avx * bsin + avy * bcos
        p0x, p0y = cx - ux - vx, cy - uy - vy  # a's corners, counter-clockwise
        p1x, p1y = cx + ux - vx, cy + uy - vy
        p2x, p2y = cx + ux + vx, cy + uy + vy
        p3x, p3y = cx - ux + vx, cy - uy + vy
        return (edge_integral(p0x, p0y, p1x - p0x, p1y - p0y, bhw, bhh, half)
                + edge_integral(p1x, p1y, p2x - p1x, p2y - p1y, bhw, bhh, half)
                + edge_integral(p2x, p2y, p3x - p2x, p3y - p2y, bhw, bhh, half)
                + edge_integral(p3x, p3y, p0x - p3x, p0y - p3y, bhw, bhh, half))

    @jit
    def overlap(dcx, dcy, aex, aey, bex, bey):
        """Whether the axis-aligned bounding boxes meet (closed: touching counts)."""
        return (abs(dcx) <= aex + bex) & (abs(dcy) <= aey + bey)

    @jit
    def separated(dcx, dcy, aux, auy, avx, avy, bux, buy, bvx, bvy):
        """Whether a side of either box separates them (the separating axis test on the
        boxes' own axes, beyond the bounding boxes'): their projections on the axis of
        ``u`` (unnormalised: lengths times ``|u|``) are ``|u|^2`` and ``|u.u'| + |u.v'|``
        of the other box's half vectors, ``|dc.u|`` apart."""
        uu = aux * aux + auy * auy
        vv = avx * avx + avy * avy
        uu2 = bux * bux + buy * buy
        vv2 = bvx * bvx + bvy * bvy
        u_u2 = abs(aux * bux + auy * buy)
        u_v2 = abs(aux * bvx + auy * bvy)
        v_u2 = abs(avx * bux + avy * buy)
        v_v2 = abs(avx * bvx + avy * bvy)
        return ((abs(dcx * aux + dcy * auy) > uu + u_u2 + u_v2)  # (|: branch-free, vectorises)
                | (abs(dcx * avx + dcy * avy) > vv + v_u2 + v_v2)
                | (abs(dcx * bux + dcy * buy) > uu2 + u_u2 + v_u2)
                | (abs(dcx * bvx + dcy * bvy) > vv2 + u_v2 + v_v2))

    @jit
    def slab(offset, half_a, half_b):
        """The overlap of ``[-half_a, half_a]`` and ``[offset - half_b, offset + half_b]``."""
        return min(half_a, offset + half_b) - max(-half_a, offset - half_b)

    @jit
    def frame_bound(dcx, dcy, ux, uy, vx, vy, hw, hh, ihw, ihh, oux, ouy, ovx, ovy):
        """An upper bound of the intersection area: the box (half vectors ``u``, ``v`` of
        lengths ``hw``, ``hh``, their inverses ``ihw``, ``ihh``) meets the other box (half
        vectors ``ou``, ``ov``, its centre at ``dc`` from this one's) within its own
        rectangle cut to the other's extent along ``u`` and ``v`` (both boxes of positive
        area, so that the inverses are finite)."""
        reach_u = (abs(oux * ux + ouy * uy) + abs(ovx * ux + ovy * uy)) * ihw  # the other's half extent
        reach_v = (abs(oux * vx + ouy * vy) + abs(ovx * vx + ovy * vy)) * ihh
        lu = slab((dcx * ux + dcy * uy) * ihw, hw, reach_u)
        lv = slab((dcx * vx + dcy * vy) * ihh, hh, reach_v)
        return max(lu, lu - lu) * max(lv, lv - lv)

    @jit
    def coarse_may_exceed(threshold, margin, half, dcx, dcy, aex, aey, aarea, areach, bex, bey, barea, breach):
        """False only where the IoU of boxes a and b (centres ``dc`` apart, bounding boxes of
        half sides ``e``, ``reach = hw + hh``) is certainly ``<= threshold``, from their bounding
        boxes and areas alone: the intersection is at most the overlap of the bounding boxes
        and at most the smaller area (the clamp of :func:`clamped_intersection`), with
        :func:`may_exceed`'s rounding margin.  Branch-free and in the dtype of its arguments
        (``half``: 0.5 in that dtype), so that NMS's scan over the candidates vectorises; in
        clustered scenes it rules out four in five of the pairs whose bounding boxes meet
        before :func:`may_exceed` is asked."""
        ox = min(aex + bex - abs(dcx), min(aex, bex) + min(aex, bex))
        oy = min(aey + bey - abs(dcy), min(aey, bey) + min(aey, bey))
        bound = min(ox * oy, min(aarea, barea))
        reach = (abs(dcx) + abs(dcy)) * half + areach + breach
        return (bound + margin * reach * reach) * (threshold + half + half) >= threshold * (aarea + barea)

    @jit
    def may_exceed(threshold, margin, acx, acy, aux, auy, avx, avy, aarea, ahw, ahh, aihw, aihh,
                   bcx, bcy, bux, buy, bvx, bvy, barea, bhw, bhh, bihw, bihh):
        """False only where the IoU of boxes a and b, as :func:`metric` computes it, is
        certainly ``<= threshold`` (>= 0): a cheaper test for NMS.

        IoU > t needs ``inter (1 + t) > t (area_a + area_b)``.  ``inter`` is at most each
        box's :func:`frame_bound`; the intersection's rounding error is below ``margin * R^2``
        (``margin``: ``MARGIN_EPS`` times the dtype's epsilon; ``R``: half the centres'
        distance plus both boxes' ``hw + hh``: a's corners lie within ``2 R`` of b's centre,
        and the intersection rounds products of those coordinates and of sides).  A box of
        zero area has IoU 0 with every box: False.  Any NaN answers True: the exact path
        decides.
        """
        dcx = acx - bcx
        dcy = acy - bcy
        bound = min(frame_bound(dcx, dcy, aux, auy, avx, avy, ahw, ahh, aihw, aihh, bux, buy, bvx, bvy),
                    frame_bound(-dcx, -dcy, bux, buy, bvx, bvy, bhw, bhh, bihw, bihh, aux, auy, avx, avy))
        reach = (abs(dcx) + abs(dcy)) * 0.5 + (ahw + ahh) + (bhw + bhh)
        # branch-free (& of comparisons), so that a loop over candidates vectorises; a zero
        # area makes an inverse infinite and the bound NaN, so it is tested on its own
        return ((aarea > 0) & (barea > 0)
                & (not ((bound + margin * reach * reach) * (1 + threshold) < threshold * (aarea + barea))))

    @jit
    def clamped_intersection(acx, acy, aux, auy, avx, avy, aarea, aex, aey,
                             bcx, bcy, bux, buy, bvx, bvy, barea, bex, bey, bcos, bsin, bhw, bhh, half):
        """The intersection area in ``[0, min(area_a, area_b)]``; exactly 0 for pairs whose
        bounding boxes do not meet or that a side separates, exactly ``area_a`` for two equal
        boxes.  Branch-free (selects, not early exits), so that loops over pairs vectorise."""
        dcx = acx - bcx
        dcy = acy - bcy
        zero = dcx - dcx
        inter = intersection(dcx, dcy, aux, auy, avx, avy, bcos, bsin, bhw, bhh, half)
        smaller = min(aarea, barea)
        inter = inter if inter > zero else zero  # (NaN-safe: a NaN gives 0)
        inter = smaller if inter > smaller else inter
        same = (dcx == 0) & (dcy == 0) & (aux == bux) & (auy == buy) & (avx == bvx) & (avy == bvy)
        inter = smaller if same else inter
        meets = overlap(dcx, dcy, aex, aey, bex, bey) & (not separated(dcx, dcy, aux, auy, avx, avy,
                                                                       bux, buy, bvx, bvy))
        return inter if meets else zero

    @jit
    def metric(code, acx, acy, aux, auy, avx, avy, aarea, aex, aey,
               bcx, bcy, bux, buy, bvx, bvy, barea, bex, bey, bcos, bsin, bhw, bhh, half):
        """IoU, IoA or GIoU (``code``) of rotated boxes a and b.

        GIoU follows powerboxes' ``rotated_giou_distance``: the enclosing shape is the
        axis-aligned box around both boxes' axis-aligned bounding boxes.
        """
        inter = clamped_intersection(acx, acy, aux, auy, avx, avy, aarea, aex, aey,
                                     bcx, bcy, bux, buy, bvx, bvy, barea, bex, bey, bcos, bsin, bhw, bhh, half)
        if code == IOA:
            return guarded_div(inter, aarea)
        union = (aarea + barea) - inter
        iou = guarded_div(inter, union)
        if code == IOU:
            return iou
        hx = (acx - bcx) * half  # a's centre relative to the midpoint; b's is -h
        hy = (acy - bcy) * half
        cw = max(hx + aex, bex - hx) - min(hx - aex, -hx - bex)
        ch = max(hy + aey, bey - hy) - min(hy - aey, -hy - bey)
        return giou_term(iou, union, cw, ch, half - half)  # no eps floor: a zero of the dtype

    @jit
    def column_metric(code, a, i, b, j, half):
        """:func:`metric` between box ``i`` of the columns ``a`` and box ``j`` of the columns
        ``b``.  (Columns, not scalars: a call of 30 or more arguments compiles to one Numba
        cannot inline.)"""
        return metric(code, a[CX, i], a[CY, i], a[UX, i], a[UY, i], a[VX, i], a[VY, i], a[AREA, i],
                      a[EX, i], a[EY, i], b[CX, j], b[CY, j], b[UX, j], b[UY, j], b[VX, j], b[VY, j],
                      b[AREA, j], b[EX, j], b[EY, j], b[COS, j], b[SIN, j], b[HW, j], b[HH, j], half)

    @jit
    def suppresses(threshold, margin, a, i, b, j, half):
        """Whether box ``i`` of the columns ``a`` suppresses box ``j`` of the columns ``b`` in
        NMS: their IoU, as :func:`metric` computes it, is above ``threshold`` (>= 0).  Pairs
        whose bounding boxes do not meet, then pairs that :func:`coarse_may_exceed` and
        :func:`may_exceed` rule out, are answered without the intersection."""
        dcx = a[CX, i] - b[CX, j]
        dcy = a[CY, i] - b[CY, j]
        if not overlap(dcx, dcy, a[EX, i], a[EY, i], b[EX, j], b[EY, j]):
            return False
        if not coarse_may_exceed(threshold, margin, half, dcx, dcy, a[EX, i], a[EY, i], a[AREA, i],
                                 a[HW, i] + a[HH, i], b[EX, j], b[EY, j], b[AREA, j], b[HW, j] + b[HH, j]):
            return False
        if not may_exceed(threshold, margin, a[CX, i], a[CY, i], a[UX, i], a[UY, i], a[VX, i], a[VY, i],
                          a[AREA, i], a[HW, i], a[HH, i], a[IHW, i], a[IHH, i],
                          b[CX, j], b[CY, j], b[UX, j], b[UY, j], b[VX, j], b[VY, j],
                          b[AREA, j], b[HW, j], b[HH, j], b[IHW, j], b[IHH, j]):
            return False
        return column_metric(IOU, a, i, b, j, half) > threshold

    return SimpleNamespace(
        edge_integral=edge_integral,
        intersection=intersection,
        overlap=overlap,
        separated=separated,
        may_exceed=may_exceed,
        coarse_may_exceed=coarse_may_exceed,
        suppresses=suppresses,
        clamped_intersection=clamped_intersection,
        metric=metric,
        column_metric=column_metric,
        guarded_div=guarded_div,
    )
