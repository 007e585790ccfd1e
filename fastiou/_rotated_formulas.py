"""The scalar formulas of rotated boxes, written once: exact convex-polygon intersection.

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
  their inverses (infinite for a zero side).

The corners ``c - u - v, c + u - v, c + u + v, c - u + v`` are in counter-clockwise
order (``cross(u, v) = w h / 4 >= 0``).  The intersection of two boxes:

1. pairs whose axis-aligned bounding boxes do not meet exit early with exactly 0;
2. two boxes with the same columns intersect in exactly their area (so an IoU of
   exactly 1);
3. pairs that a side of either box separates (the separating axis test on the four
   axes of the boxes' sides: in clustered scenes about 40% of the pairs whose
   bounding boxes meet) exit with exactly 0;
4. otherwise box a's corners, taken relative to the pair's midpoint (so centres
   at 1e6 lose no digits), are clipped by the four half-planes of box b
   (Sutherland-Hodgman; each clip adds at most one vertex: at most 8) and the
   area follows from the shoelace formula.  The edge of b from its corner ``p``
   along ``2d`` keeps the points with ``cross(d, x - c_b) * sign + cross(u, v) >= 0``;
   a crossing is placed at ``t = s_i / (s_i - s_j)`` between vertices of opposite
   signs, which lies in [0, 1] in floating point too.

The clipped polygons live in 32 numbers of a scratch array (two polygons of up to
8 points), ``buf[base:base + 32]``, that the kernel owns: one flat array with a
slice per worker on the CPU (a view made inside a Numba kernel measured 15x
slower), a local array on CUDA.
The result is clamped to ``[0, min(area_a, area_b)]``, so that an IoU is never
negative nor above 1.  Inputs are finite; sizes may be 0 (giving 0, not NaN).

Numba's cache tracks only the kernel's own file: after editing this file delete
the cached kernels (``find fastiou -name '*.nb[ic]' -delete``).
"""

from __future__ import annotations

from types import SimpleNamespace

from . import _formulas
from ._formulas import GIOU, IOA, IOU

# Rows of the per-box column array built by fastiou._rotated_columns.
CX, CY, UX, UY, VX, VY, AREA, EX, EY, HW, HH, IHW, IHH = range(13)
N_COLUMNS = 13
#: The rounding margin of :func:`build`'s ``may_exceed``, in units of the dtype's epsilon
#: times the squared reach of the pair's corners from its midpoint (the clipping's
#: absolute error is a few tens of those units; see there).
MARGIN_EPS = 1024
#: Numbers of the scratch array one intersection needs.
SCRATCH = 32
#: Metrics of rotated boxes.
ROTATED_METRICS = (IOU, IOA, GIOU)


def build(jit):
    """Compile the rotated formulas with ``jit`` and return them as a namespace."""
    F = _formulas.build(jit)
    guarded_div = F.guarded_div
    giou_term = F.giou_term

    @jit
    def clip(buf, src, dst, n, dx, dy, sign, px, py, k):
        """Clip the polygon of ``n`` points at ``buf[src:]`` by the half-plane
        ``sign * cross(d, x + p) + k >= 0``; write it at ``buf[dst:]``, return its size."""
        m = 0
        if n == 0:
            return m
        # the last vertex first: edges (n-1, 0), (0, 1), ...
        qx = buf[src + 2 * (n - 1)]
        qy = buf[src + 2 * (n - 1) + 1]
        sq = sign * (dx * (qy + py) - dy * (qx + px)) + k
        for i in range(n):
            rx = buf[src + 2 * i]
            ry = buf[src + 2 * i + 1]
            sr = sign * (dx * (ry + py) - dy * (rx + px)) + k
            if (sq >= 0) != (sr >= 0):  # the edge crosses the line: add the crossing
                t = sq / (sq - sr)
                buf[dst + 2 * m] = qx + (rx - qx) * t
                buf[dst + 2 * m + 1] = qy + (ry - qy) * t
                m += 1
            if sr >= 0:
                buf[dst + 2 * m] = rx
                buf[dst + 2 * m + 1] = ry
                m += 1
            qx, qy, sq = rx, ry, sr
        return m

    @jit
    def intersection(dcx, dcy, aux, auy, avx, avy, bux, buy, bvx, bvy, half, buf, base):
        """Area of the intersection of boxes a and b, given the centre difference
        ``dc = c_a - c_b`` and their half side vectors (bounds already checked);
        ``buf[base:base + SCRATCH]`` is the scratch."""
        hx = dcx * half  # a's centre relative to the midpoint; b's is -h
        hy = dcy * half
        buf[base] = hx - aux - avx
        buf[base + 1] = hy - auy - avy
        buf[base + 2] = hx + aux - avx
        buf[base + 3] = hy + auy - avy
        buf[base + 4] = hx + aux + avx
        buf[base + 5] = hy + auy + avy
        buf[base + 6] = hx - aux + avx
        buf[base + 7] = hy - auy + avy
        k = bux * bvy - buy * bvx  # cross(u, v) = area / 4 of b
        one = half + half
        other = base + 16
        n = clip(buf, base, other, 4, bux, buy, one, hx, hy, k)
        n = clip(buf, other, base, n, bvx, bvy, one, hx, hy, k)
        n = clip(buf, base, other, n, bux, buy, -one, hx, hy, k)
        n = clip(buf, other, base, n, bvx, bvy, -one, hx, hy, k)
        twice = hx - hx
        if n > 2:
            qx = buf[base + 2 * (n - 1)]
            qy = buf[base + 2 * (n - 1) + 1]
            for i in range(n):
                rx = buf[base + 2 * i]
                ry = buf[base + 2 * i + 1]
                twice += qx * ry - qy * rx
                qx, qy = rx, ry
        return twice * half

    @jit
    def overlap(dcx, dcy, aex, aey, bex, bey):
        """Whether the axis-aligned bounding boxes meet (closed: touching counts)."""
        return abs(dcx) <= aex + bex and abs(dcy) <= aey + bey

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
        certainly ``<= threshold`` (>= 0): a test without clipping for NMS.

        IoU > t needs ``inter (1 + t) > t (area_a + area_b)``.  ``inter`` is at most each
        box's :func:`frame_bound`; the clipping's rounding error is below ``margin * R^2``
        (``margin``: ``MARGIN_EPS`` times the dtype's epsilon; ``R``: the reach of the
        corners from the pair's midpoint, whose products the clipping rounds).  A box of
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
                             bcx, bcy, bux, buy, bvx, bvy, barea, bex, bey, half, buf, base):
        """The intersection area in ``[0, min(area_a, area_b)]``; exactly 0 for pairs whose
        bounding boxes do not meet, exactly ``area_a`` for two equal boxes."""
        dcx = acx - bcx
        dcy = acy - bcy
        zero = dcx - dcx
        if not overlap(dcx, dcy, aex, aey, bex, bey):
            return zero
        if (dcx == 0 and dcy == 0 and aux == bux and auy == buy and avx == bvx and avy == bvy):
            return min(aarea, barea)
        if separated(dcx, dcy, aux, auy, avx, avy, bux, buy, bvx, bvy):
            return zero
        inter = intersection(dcx, dcy, aux, auy, avx, avy, bux, buy, bvx, bvy, half, buf, base)
        smaller = min(aarea, barea)
        if inter > smaller:
            return smaller
        return inter if inter > 0 else zero

    @jit
    def metric(code, acx, acy, aux, auy, avx, avy, aarea, aex, aey,
               bcx, bcy, bux, buy, bvx, bvy, barea, bex, bey, half, buf, base):
        """IoU, IoA or GIoU (``code``) of rotated boxes a and b.

        GIoU follows powerboxes' ``rotated_giou_distance``: the enclosing shape is the
        axis-aligned box around both boxes' axis-aligned bounding boxes.
        """
        inter = clamped_intersection(acx, acy, aux, auy, avx, avy, aarea, aex, aey,
                                     bcx, bcy, bux, buy, bvx, bvy, barea, bex, bey, half, buf, base)
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
    def suppresses(threshold, margin, a, i, b, j, half, buf, base):
        """Whether box ``i`` of the columns ``a`` suppresses box ``j`` of the columns ``b`` in
        NMS: their IoU, as :func:`metric` computes it, is above ``threshold`` (>= 0).  Pairs
        whose bounding boxes do not meet, then pairs that :func:`coarse_may_exceed` and
        :func:`may_exceed` rule out, are
        answered without clipping.  (Columns, not scalars: a call of 30 or more arguments
        compiles to one Numba cannot inline.)"""
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
        return metric(IOU, a[CX, i], a[CY, i], a[UX, i], a[UY, i], a[VX, i], a[VY, i], a[AREA, i],
                      a[EX, i], a[EY, i], b[CX, j], b[CY, j], b[UX, j], b[UY, j], b[VX, j], b[VY, j],
                      b[AREA, j], b[EX, j], b[EY, j], half, buf, base) > threshold

    return SimpleNamespace(
        clip=clip,
        intersection=intersection,
        overlap=overlap,
        separated=separated,
        may_exceed=may_exceed,
        coarse_may_exceed=coarse_may_exceed,
        suppresses=suppresses,
        clamped_intersection=clamped_intersection,
        metric=metric,
        guarded_div=guarded_div,
    )
