"""The scalar mask-overlap formula, written once.

Pairwise mask kernels count, for each pair, the pixels the two masks share and
then call :func:`overlap` with the integer counts.  Like :mod:`fastiou._formulas`
it is plain Python compiled by :func:`build` for the CPU kernels (and as a CUDA
device function), so every backend divides the same way.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable

# Metric codes shared by every mask backend.
IOU, DICE = 0, 1

# Columns of the per-mask summary computed by the kernels (dense and RLE): the
# area, the inclusive bounding box, the span [FIRST, LAST) of flat pixel indices
# that holds the foreground (zeros for an empty mask), the total pixel count, and
# SIMPLE (RLE: at most one foreground segment per column).
AREA, Y0, Y1, X0, X1, FIRST, LAST, TOTAL, SIMPLE = range(9)
N_INFO = 9


def build(jit: Callable[[Any], Any]) -> SimpleNamespace:
    """Compile the formula with ``jit`` and return it as a namespace."""

    @jit
    def overlap(code: int, inter: int, area_a: int, area_b: int, crowd: int) -> float:
        """IoU (``inter / union``), Dice (``2 inter / (|a| + |b|)``) or, for a crowd
        ``b``, pycocotools' ``inter / |a|``.  0 where the denominator is 0."""
        if code == DICE:
            num = inter + inter
            den = area_a + area_b
        elif crowd:
            num = inter
            den = area_a
        else:
            num = inter
            den = area_a + area_b - inter
        return num / den if den > 0 else 0.0

    return SimpleNamespace(overlap=overlap)
